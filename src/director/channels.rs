//! Channel lifecycle: which channels have a running playout actor. Always-on channels run
//! from start; on-demand ones start on their first viewer (the stream hub's demand watch) and
//! stop after `playout.idle_grace` without viewers. A channel whose actor died (a panic) is
//! started again with back-off ([`Backoff`]); its viewers stay subscribed to the same feed
//! and continue at the new pipeline's first keyframe. Also the playout adapters over the
//! schedule store: [`StoreAirings`] (the [`AiringSource`]) and [`AsRunLog`] (the
//! [`AsRunSink`], written in order by one task), and the number → channel resolver for the
//! stream routes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::director::graphics::{ChannelOverlay, ChannelOverlays};
use crate::lineup::{Channel, ChannelId, ChannelMode, OutputProfile};
use crate::playout::encoder::{self, EncoderKind};
use crate::playout::pipeline::Output;
use crate::playout::watchdog::Backoff;
use crate::playout::{AiringSource, AsRun, AsRunSink, AsRunStatus, ChannelPlayer, PlayerConfig, SourceError};
use crate::schedule::{Airing, store as schedule_store};
use crate::stream::StreamHub;
use crate::stream::hls::HlsWriter;
use crate::stream::http::{Resolver, hls_dir_of};

/// Airings from the schedule store.
pub struct StoreAirings {
    /// The database.
    pub db: Db,
}

impl AiringSource for StoreAirings {
    fn airings(
        &self,
        channel: ChannelId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxFuture<'static, Result<Vec<Airing>, SourceError>> {
        let db = self.db.clone();
        let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
        Box::pin(async move {
            db.call(move |c| schedule_store::airings_between(c, channel, from_ms, to_ms))
                .await
                .map_err(|e| SourceError(e.to_string()))?
                .map_err(|e| SourceError(e.to_string()))
        })
    }
}

/// How often as-run events the database refused are tried again.
const AS_RUN_RETRY: Duration = Duration::from_secs(2);
/// Most as-run events kept while the database refuses writes (a day of 10-second items on a
/// few channels); older ones are dropped and counted beyond that.
const AS_RUN_BACKLOG: usize = 50_000;

/// The as-run log in the schedule store. `record` only queues; one task writes in order.
/// Events the database refuses (the data disk is full) are kept, in order, and written when
/// it accepts writes again: playout never waits for the log. At start it closes what a
/// previous run left open (a crash, a power cut): every entry ends with a time and a status.
pub struct AsRunLog {
    tx: mpsc::UnboundedSender<LogEvent>,
}

#[derive(Clone)]
enum LogEvent {
    Record(AsRun),
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
            let mut retry = tokio::time::interval(AS_RUN_RETRY);
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
                    let written = match ev.clone() {
                        LogEvent::Record(e) => {
                            let key = (e.channel, e.airing.id, e.airing.start.timestamp_millis());
                            write_as_run(&db, e, open.get(&key).copied()).await.map(|row| {
                                match row {
                                    Some(id) => open.insert(key, id),
                                    None => open.remove(&key),
                                };
                            })
                        }
                        LogEvent::Interrupted { channel: which, at, reason } => {
                            let at_ms = at.timestamp_millis();
                            let closed = db
                                .call(move |c| schedule_store::close_open_as_run(c, which, at_ms, &reason))
                                .await
                                .map_err(|e| e.to_string())
                                .and_then(|r| r.map_err(|e| e.to_string()));
                            if let Ok(n) = closed {
                                open.retain(|k, _| which.is_some_and(|c| k.0 != c));
                                if n > 0 {
                                    tracing::info!(channel = ?which.map(|c| c.0), closed = n, "as-run entries closed that playout had left open");
                                }
                            }
                            closed.map(|_| ())
                        }
                    };
                    match written {
                        Ok(()) => {
                            backlog.pop_front();
                        }
                        Err(err) => {
                            if failed_writes == 0 {
                                tracing::warn!(error = %err, "cannot write the as-run log; events are kept and retried");
                            }
                            failed_writes += 1;
                            while backlog.len() > AS_RUN_BACKLOG {
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
    fn record(&self, entry: AsRun) {
        let _ = self.tx.send(LogEvent::Record(entry));
    }

    fn interrupted(&self, channel: ChannelId, at: DateTime<Utc>, reason: &str) {
        let _ = self.tx.send(LogEvent::Interrupted { channel: Some(channel), at, reason: reason.to_owned() });
    }
}

/// Write one as-run event (on the database thread); returns the row id when an entry was
/// opened ("started"), to be closed by the final event.
async fn write_as_run(db: &Db, e: AsRun, open_row: Option<i64>) -> Result<Option<i64>, String> {
    let status = match e.status {
        AsRunStatus::Started | AsRunStatus::Aired => schedule_store::AsRunStatus::Aired,
        AsRunStatus::Partial => schedule_store::AsRunStatus::Partial,
        AsRunStatus::Failed => schedule_store::AsRunStatus::Failed,
    };
    let start_ms = e.actual_start.timestamp_millis();
    let end_ms = e.actual_end.map(|t| t.timestamp_millis());
    db.call(move |c| match (e.status, open_row) {
        (AsRunStatus::Started, Some(row)) => {
            // Started again while its entry is open: the actor that aired it died (a panic
            // skips the as-run of shutdown) and its replacement rejoined the airing. Close the
            // old entry where the new one begins.
            schedule_store::finish_as_run(
                c,
                row,
                start_ms,
                schedule_store::AsRunStatus::Partial,
                Some("interrupted: channel playout restarted"),
            )?;
            schedule_store::record_as_run(c, &schedule_store::AsRun::started(&e.airing, start_ms)).map(Some)
        }
        (AsRunStatus::Started, None) => {
            schedule_store::record_as_run(c, &schedule_store::AsRun::started(&e.airing, start_ms)).map(Some)
        }
        (_, Some(row)) => {
            schedule_store::finish_as_run(c, row, end_ms.unwrap_or(start_ms), status, e.reason.as_deref())
                .map(|()| None)
        }
        (_, None) => {
            let mut entry = schedule_store::AsRun::started(&e.airing, start_ms);
            entry.actual_end_ms = end_ms;
            entry.status = status;
            entry.error = e.reason.clone();
            schedule_store::record_as_run(c, &entry).map(|_| None)
        }
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

/// Guide number → channel id, through the lineup store.
pub fn resolver(db: Db) -> Resolver {
    Arc::new(move |number: String| {
        let db = db.clone();
        Box::pin(async move {
            db.call(move |c| crate::lineup::store::by_number(c, &number))
                .await
                .ok()?
                .ok()?
                .filter(|ch| ch.enabled)
                .map(|ch| ch.id)
        })
    })
}

/// What the channel manager needs.
pub struct ChannelsDeps {
    /// Configuration.
    pub config: Arc<Config>,
    /// Database (lineup).
    pub db: Db,
    /// Clock.
    pub clock: SharedClock,
    /// Fan-out and demand.
    pub hub: StreamHub,
    /// Airings.
    pub source: Arc<dyn AiringSource>,
    /// As-run log.
    pub as_run: Arc<dyn AsRunSink>,
    /// Graphics and alert display per channel (issue 6), if any.
    pub graphics: Option<ChannelOverlays>,
    /// Shutdown.
    pub shutdown: CancellationToken,
}

struct Running {
    player: ChannelPlayer,
    // Keeps the channel's graphics tasks alive; dropped with the channel.
    _graphics: Option<ChannelOverlay>,
    profile: OutputProfile,
    idle_since: Option<Instant>,
    started: Instant,
}

/// Restart state of a channel whose actor died.
struct Crashes {
    backoff: Backoff,
    not_before: Instant,
}

/// Run channels until shutdown.
pub async fn run(deps: ChannelsDeps) {
    if let Err(e) = gstreamer::init() {
        tracing::error!(error = %e, "GStreamer did not start: no channels will play");
        return;
    }
    // Probing creates elements (a hardware encoder may take its time to open): off the
    // async workers.
    let choice = deps.config.playout.encoder.clone();
    let encoder = match tokio::task::spawn_blocking(move || encoder::probe(&choice)).await {
        Ok(Ok(k)) => k,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "no H.264 encoder: no channels will play");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "encoder probe failed: no channels will play");
            return;
        }
    };
    tracing::info!(encoder = encoder.element(), "playout encoder");
    let mut demand = deps.hub.demand();
    let mut running: HashMap<ChannelId, Running> = HashMap::new();
    let mut crashes: HashMap<ChannelId, Crashes> = HashMap::new();
    // Channels whose stuck actor was replaced: started again at once, viewers or not.
    let mut replaced: Vec<ChannelId> = Vec::new();
    let mut lineup: Vec<Channel> = Vec::new();
    let mut last_lineup: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    // Stops run beside the loop (each bounded by `STOP_TIMEOUT`), so one slow channel never
    // holds up the others.
    let stopping = tokio_util::task::TaskTracker::new();
    let mut last_round = Instant::now();
    loop {
        tokio::select! {
            _ = deps.shutdown.cancelled() => break,
            r = demand.changed() => if r.is_err() { break },
            _ = tick.tick() => {}
        }
        // A round that came late (the whole process starved or stopped) cannot judge how
        // long an actor has been silent.
        let steady = last_round.elapsed() < Duration::from_secs(2);
        last_round = Instant::now();
        if last_lineup.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            match deps.db.call(|c| crate::lineup::store::list(c)).await {
                Ok(Ok(list)) => {
                    lineup = list.into_iter().filter(|c| c.enabled).collect();
                    last_lineup = Some(Instant::now());
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the lineup"),
                Err(e) => tracing::warn!(error = %e, "cannot read the lineup"),
            }
        }
        let dead: Vec<ChannelId> = running.iter().filter(|(_, r)| r.player.has_ended()).map(|(id, _)| *id).collect();
        for id in dead {
            let r = running.remove(&id).expect("present");
            let c =
                crashes.entry(id).or_insert_with(|| Crashes { backoff: Backoff::new(), not_before: Instant::now() });
            let delay = c.backoff.failed(r.started.elapsed());
            c.not_before = Instant::now() + delay;
            tracing::error!(channel = %id, delay_ms = delay.as_millis() as u64, "channel playout died: restarting");
            // The dead pipeline's GOP would not continue into the new one.
            deps.hub.feed(id).close();
            deps.as_run.interrupted(id, deps.clock.now(), "interrupted: channel playout died");
            stopping.spawn(r.player.stop());
        }
        // An actor stuck in a call that never returns is replaced: its pipeline can no longer
        // publish (the feed is opened for the new one) nor record, and its viewers stay.
        let stuck: Vec<ChannelId> =
            running.iter().filter(|(_, r)| steady && r.player.silent_for() >= STUCK_AFTER).map(|(id, _)| *id).collect();
        for id in stuck {
            let r = running.remove(&id).expect("present");
            let reason = format!("channel playout stuck for {} s", r.player.silent_for().as_secs());
            tracing::error!(channel = %id, action = "replace", %reason, "content watchdog: recovered");
            deps.hub.feed(id).close();
            deps.as_run.interrupted(id, deps.clock.now(), &format!("interrupted: {reason}"));
            let c =
                crashes.entry(id).or_insert_with(|| Crashes { backoff: Backoff::new(), not_before: Instant::now() });
            c.backoff.failed(r.started.elapsed());
            c.not_before = Instant::now();
            replaced.push(id);
            r.player.abandon();
        }
        let viewers = demand.borrow_and_update().clone();
        let grace = deps.config.playout.idle_grace;
        for ch in &lineup {
            let watched = viewers.get(&ch.id).copied().unwrap_or(0) > 0;
            let always = ch.settings.mode == ChannelMode::AlwaysOn;
            match running.get_mut(&ch.id) {
                Some(r) if r.profile != ch.settings.profile => {
                    let r = running.remove(&ch.id).expect("present");
                    stopping.spawn(r.player.stop());
                }
                Some(r) => {
                    r.idle_since = if watched || always { None } else { r.idle_since.or(Some(Instant::now())) };
                    if r.idle_since.is_some_and(|t| t.elapsed() >= grace) {
                        tracing::info!(channel = %ch.number, "no viewers: stopping channel");
                        let r = running.remove(&ch.id).expect("present");
                        stopping.spawn(r.player.stop());
                    }
                    continue;
                }
                None => {}
            }
            if crashes.get(&ch.id).is_some_and(|c| Instant::now() < c.not_before) {
                continue;
            }
            if (watched || always || replaced.contains(&ch.id)) && !running.contains_key(&ch.id) {
                match start(&deps, ch, encoder) {
                    Ok((player, graphics)) => {
                        tracing::info!(channel = %ch.number, "channel started");
                        replaced.retain(|id| *id != ch.id);
                        running.insert(
                            ch.id,
                            Running {
                                player,
                                _graphics: graphics,
                                profile: ch.settings.profile,
                                idle_since: None,
                                started: Instant::now(),
                            },
                        );
                    }
                    Err(e) => tracing::warn!(channel = %ch.number, error = %e, "cannot start channel"),
                }
            }
        }
        let gone: Vec<ChannelId> = running.keys().filter(|id| !lineup.iter().any(|c| c.id == **id)).copied().collect();
        for id in gone {
            if let Some(r) = running.remove(&id) {
                stopping.spawn(r.player.stop());
            }
        }
    }
    for (_, r) in running.drain() {
        stopping.spawn(r.player.stop());
    }
    stopping.close();
    stopping.wait().await;
}

/// An actor that has not gone round its loop for this long is stuck in a call.
const STUCK_AFTER: Duration = Duration::from_secs(15);

fn start(
    deps: &ChannelsDeps,
    ch: &Channel,
    encoder: EncoderKind,
) -> anyhow::Result<(ChannelPlayer, Option<ChannelOverlay>)> {
    let now = deps.clock.now().timestamp().max(0) as u64;
    let hls = HlsWriter::start(&hls_dir_of(&deps.config.playout.hls_dir, ch.id), deps.config.playout.hls_window, now)?;
    let feed = deps.hub.feed(ch.id);
    let graphics = deps.graphics.as_ref().map(|g| g.for_channel(ch, deps.source.clone()));
    let config = PlayerConfig {
        channel: ch.id,
        profile: ch.settings.profile,
        encoder,
        target_lufs: deps.config.playout.target_lufs,
        overlay: graphics.as_ref().map(|g| g.video.clone()),
        audio_overlay: graphics.as_ref().map(|g| g.audio.clone()),
        presentation: graphics.as_ref().map(|g| g.presentation.clone()).unwrap_or_default(),
    };
    let player = ChannelPlayer::spawn(
        config,
        deps.source.clone(),
        deps.as_run.clone(),
        deps.clock.clone(),
        Output { feed, hls: Some(hls) },
    )?;
    Ok((player, graphics))
}
