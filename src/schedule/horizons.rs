//! Each channel's published horizon as a watched value: [`Horizons`] hands out, per channel,
//! a [`Horizon`] snapshot (the airings from a little before now to the end of what is
//! published, their media openable) and refreshes the snapshots it handed out when the
//! schedule, the library items they play or the sources' credentials change — by this
//! process or another ([`crate::db::changes`]). Playout and the graphics follow their
//! channel's horizon; nothing re-reads the schedule on a timer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Airing;
use super::store::{self, ScheduleStoreError};
use crate::clock::SharedClock;
use crate::db::Db;
use crate::db::changes::TableWatch;
use crate::lineup::ChannelId;

/// The tables a horizon is read from: the published rows, and the items and sources that make
/// their media openable (a URI moved, a token changed, a loudness measured).
pub const TABLES: &[&str] = &["schedule_items", "schedule_publications", "content_items", "sources"];

/// Changes that come in a burst (a scan or a loudness pass writing item after item, a build
/// publishing channel after channel) are read once: the re-read waits this long after the
/// first, so the database's one connection stays free for requests in between.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(500);

/// Airings that ended this long ago are left out of a snapshot.
const KEEP_PAST: chrono::Duration = chrono::Duration::minutes(10);

/// One channel's published airings, in start order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Horizon {
    /// The airings, from a little before the snapshot was taken to the end of the horizon.
    pub airings: Vec<Airing>,
}

impl Horizon {
    /// A horizon of exactly these airings (tests, tools).
    pub fn of(mut airings: Vec<Airing>) -> Self {
        airings.sort_by_key(|a| a.start);
        Self { airings }
    }

    /// The airings overlapping `[from, to)`.
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> impl Iterator<Item = &Airing> {
        let first = self.airings.partition_point(|a| a.end <= from);
        self.airings[first..].iter().take_while(move |a| a.start < to).filter(move |a| a.end > from)
    }
}

/// A snapshot that never changes (tests, `selftest`).
pub fn fixed(horizon: Horizon) -> watch::Receiver<Arc<Horizon>> {
    let (tx, rx) = watch::channel(Arc::new(horizon));
    // Keep the sender alive for ever: a closed channel would read as "no more schedule".
    std::mem::forget(tx);
    rx
}

/// The published horizons; clonable.
#[derive(Clone)]
pub struct Horizons {
    db: Db,
    clock: SharedClock,
    // std Mutex: map look-ups and inserts only, never across an await.
    channels: Arc<Mutex<HashMap<ChannelId, watch::Sender<Arc<Horizon>>>>>,
}

impl Horizons {
    /// Horizons read from `db`.
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self { db, clock, channels: Arc::default() }
    }

    /// Follow `channel`'s horizon (read now if nobody follows it yet).
    pub async fn subscribe(&self, channel: ChannelId) -> Result<watch::Receiver<Arc<Horizon>>, ScheduleStoreError> {
        if let Some(tx) = self.channels.lock().expect("horizons lock").get(&channel) {
            return Ok(tx.subscribe());
        }
        let horizon = self.read(channel).await?;
        let mut map = self.channels.lock().expect("horizons lock");
        let tx = map.entry(channel).or_insert_with(|| watch::Sender::new(Arc::new(horizon)));
        Ok(tx.subscribe())
    }

    async fn read(&self, channel: ChannelId) -> Result<Horizon, ScheduleStoreError> {
        let from = (self.clock.now() - KEEP_PAST).timestamp_millis();
        let airings = self.db.call(move |c| store::airings_to_play(c, channel, from, i64::MAX)).await??;
        Ok(Horizon::of(airings))
    }

    /// Refresh the followed horizons whenever their tables change, until `shutdown`. A
    /// horizon nobody follows any more is forgotten. The watch is made when this is called,
    /// not when the task first runs, so no write in between goes unseen.
    pub fn follow(self, shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
        let changes = self.db.changes().watch(TABLES);
        self.refresh_on(changes, shutdown)
    }

    async fn refresh_on(self, mut changes: TableWatch, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = changes.changed() => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(COALESCE) => {}
            }
            changes.has_changed();
            let followed: Vec<ChannelId> = {
                let mut map = self.channels.lock().expect("horizons lock");
                map.retain(|_, tx| tx.receiver_count() > 0);
                map.keys().copied().collect()
            };
            for channel in followed {
                match self.read(channel).await {
                    Ok(horizon) => {
                        if let Some(tx) = self.channels.lock().expect("horizons lock").get(&channel) {
                            tx.send_if_modified(|cur| {
                                let changed = **cur != horizon;
                                if changed {
                                    *cur = Arc::new(horizon);
                                }
                                changed
                            });
                        }
                    }
                    Err(e) => tracing::warn!(%channel, error = %e, "cannot read the schedule; keeping the last one"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::AiringKind;

    fn airing(id: i64, start_s: i64, secs: i64) -> Airing {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        Airing {
            id,
            channel_id: ChannelId(1),
            program_id: None,
            media_id: None,
            kind: AiringKind::Program,
            title: format!("a{id}"),
            uri: None,
            start: t(start_s),
            end: t(start_s + secs),
            offset_in_ms: 0,
            offset_out_ms: secs * 1000,
            loudness_lufs: None,
            card: None,
        }
    }

    #[test]
    fn between_finds_the_overlapping_airings() {
        let h = Horizon::of(vec![airing(2, 10, 10), airing(1, 0, 10), airing(3, 20, 10)]);
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let ids = |from, to| h.between(t(from), t(to)).map(|a| a.id).collect::<Vec<_>>();
        assert_eq!(ids(5, 15), [1, 2]);
        assert_eq!(ids(10, 20), [2]);
        assert_eq!(ids(29, 100), [3]);
        assert!(ids(30, 40).is_empty());
    }
}
