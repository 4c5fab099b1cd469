//! The as-run log's writer: what aired, when, and how it went. Playout reports an
//! [`AsRunEvent`] per airing it starts and ends through an [`AsRunSink`] (it must never wait
//! for the database); [`AsRunLog`] is the sink over the `playout_log` table, writing in order
//! on one task. One [`AsRunStatus`] from the report to the row.
//!
//! Events the database refuses (the data disk is full) are kept, in order, and written when
//! it accepts writes again. At start the log closes what a previous run left open (a crash, a
//! power cut), and an actor that died or was replaced has its open entries closed: every
//! entry ends with a time and a status.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::Airing;
pub use super::store::AsRunStatus;
use super::store::{self, AsRun};
use crate::clock::SharedClock;
use crate::db::Db;
use crate::lineup::ChannelId;

/// What playout reports about one airing.
#[derive(Debug, Clone, PartialEq)]
pub struct AsRunEvent {
    /// Channel.
    pub channel: ChannelId,
    /// The airing as scheduled.
    pub airing: Airing,
    /// When it actually went on air (for failures: when the failure was noticed, or the
    /// scheduled start).
    pub actual_start: DateTime<Utc>,
    /// When it actually left the air (`None` for [`AsRunStatus::Started`]).
    pub actual_end: Option<DateTime<Utc>>,
    /// Outcome.
    pub status: AsRunStatus,
    /// Why it failed or ended early.
    pub reason: Option<String>,
}

/// Where as-run events go. Must not block (playout calls it on its actor's thread).
pub trait AsRunSink: Send + Sync + 'static {
    /// Record one event.
    fn record(&self, entry: AsRunEvent);
    /// The channel's playout was replaced at `at` without closing what it had on the air
    /// (stuck, or died): close its open entries with `reason`.
    fn interrupted(&self, channel: ChannelId, at: DateTime<Utc>, reason: &str);
}

/// How often events the database refused are tried again.
const RETRY: Duration = Duration::from_secs(2);
/// Most events kept while the database refuses writes (a day of 10-second items on a few
/// channels); older ones are dropped and counted beyond that.
const BACKLOG: usize = 50_000;

/// The as-run log in the schedule store. `record` only queues; one task writes in order.
pub struct AsRunLog {
    tx: mpsc::UnboundedSender<LogEvent>,
}

#[derive(Clone)]
enum LogEvent {
    Record(Box<AsRunEvent>),
    /// Close the open entries of a channel, or of all (`None`).
    Interrupted {
        channel: Option<ChannelId>,
        at: DateTime<Utc>,
        reason: String,
    },
}

impl AsRunLog {
    /// Start the writer task (it ends when every handle is dropped).
    pub fn start(db: Db, clock: SharedClock, tracker: &tokio_util::task::TaskTracker) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<LogEvent>();
        let _ = tx.send(LogEvent::Interrupted {
            channel: None,
            at: clock.now(),
            reason: "the daemon stopped before it ended (crash or power loss)".into(),
        });
        tracker.spawn(async move {
            // (channel, airing id, planned start) → row of the entry opened at "started".
            let mut open: HashMap<(ChannelId, i64, i64), i64> = HashMap::new();
            let mut backlog: VecDeque<LogEvent> = VecDeque::new();
            let (mut failed_writes, mut dropped) = (0u64, 0u64);
            let mut retry = tokio::time::interval(RETRY);
            retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    e = rx.recv() => match e {
                        Some(e) => backlog.push_back(e),
                        None => break,
                    },
                    _ = retry.tick(), if !backlog.is_empty() => {}
                }
                while let Some(ev) = backlog.front() {
                    match write(&db, ev.clone(), &mut open).await {
                        Ok(()) => {
                            backlog.pop_front();
                        }
                        Err(err) => {
                            if failed_writes == 0 {
                                tracing::warn!(error = %err, "cannot write the as-run log; events are kept and retried");
                            }
                            failed_writes += 1;
                            while backlog.len() > BACKLOG {
                                backlog.pop_front();
                                dropped += 1;
                            }
                            break;
                        }
                    }
                }
                if backlog.is_empty() && failed_writes > 0 {
                    tracing::info!(failed_writes, dropped, "as-run log written again");
                    (failed_writes, dropped) = (0, 0);
                }
            }
        });
        Self { tx }
    }
}

impl AsRunSink for AsRunLog {
    fn record(&self, entry: AsRunEvent) {
        let _ = self.tx.send(LogEvent::Record(Box::new(entry)));
    }

    fn interrupted(&self, channel: ChannelId, at: DateTime<Utc>, reason: &str) {
        let _ = self.tx.send(LogEvent::Interrupted { channel: Some(channel), at, reason: reason.to_owned() });
    }
}

/// Write one event, keeping `open` (the entries opened at "started") up to date.
async fn write(db: &Db, ev: LogEvent, open: &mut HashMap<(ChannelId, i64, i64), i64>) -> Result<(), String> {
    match ev {
        LogEvent::Record(e) => {
            let key = (e.channel, e.airing.id, e.airing.start.timestamp_millis());
            let row = record(db, *e, open.get(&key).copied()).await?;
            match row {
                Some(id) => open.insert(key, id),
                None => open.remove(&key),
            };
            Ok(())
        }
        LogEvent::Interrupted { channel, at, reason } => {
            let at_ms = at.timestamp_millis();
            let n = db
                .call(move |c| store::close_open_as_run(c, channel, at_ms, &reason))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            open.retain(|k, _| channel.is_some_and(|c| k.0 != c));
            if n > 0 {
                tracing::info!(channel = ?channel.map(|c| c.0), closed = n, "as-run entries closed that playout had left open");
            }
            Ok(())
        }
    }
}

/// Write one event (on the database thread); returns the row id when an entry was opened
/// ("started"), to be closed by the final event.
async fn record(db: &Db, e: AsRunEvent, open_row: Option<i64>) -> Result<Option<i64>, String> {
    let start_ms = e.actual_start.timestamp_millis();
    let end_ms = e.actual_end.map(|t| t.timestamp_millis());
    db.call(move |c| match (e.status, open_row) {
        (AsRunStatus::Started, Some(row)) => {
            // Started again while its entry is open: the actor that aired it died (a panic
            // skips the as-run of shutdown) and its replacement rejoined the airing. Close the
            // old entry where the new one begins.
            store::finish_as_run(
                c,
                row,
                start_ms,
                AsRunStatus::Partial,
                Some("interrupted: channel playout restarted"),
            )?;
            store::record_as_run(c, &AsRun::started(&e.airing, start_ms)).map(Some)
        }
        (AsRunStatus::Started, None) => store::record_as_run(c, &AsRun::started(&e.airing, start_ms)).map(Some),
        (status, Some(row)) => {
            store::finish_as_run(c, row, end_ms.unwrap_or(start_ms), status, e.reason.as_deref()).map(|()| None)
        }
        (status, None) => {
            let mut entry = AsRun::started(&e.airing, start_ms);
            entry.actual_end_ms = end_ms;
            entry.status = status;
            entry.error = e.reason.clone();
            store::record_as_run(c, &entry).map(|_| None)
        }
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}
