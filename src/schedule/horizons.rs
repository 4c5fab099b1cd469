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
use crate::db::changes::TableWatch;
use crate::db::{Db, Reader};
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
///
/// Horizons are read on a connection of their own, on the blocking pool: a re-read of every
/// followed channel reads days of airings (64,540 per channel in the loaded soak's schedule
/// of 3-5 s commercials; 0.63 s for four channels in a debug build on a quiet core). On the
/// shared connection it held up everything else that waits for it, `/api/status` and each
/// channel's actor (which read an item's loudness there as it prepared the item): the likely
/// cause of the squeezed loaded soak's one event, 4 s after a mid-run horizon extension, when
/// no channel prepared an item for 3.6 s and every channel aired black and silence (#21).
#[derive(Clone)]
pub struct Horizons {
    db: Db,
    clock: SharedClock,
    // std Mutex: map look-ups and inserts only, never across an await.
    channels: Arc<Mutex<HashMap<ChannelId, watch::Sender<Arc<Horizon>>>>>,
    reader: Arc<Reader>,
}

impl Horizons {
    /// Horizons read from `db`.
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self { reader: Arc::new(Reader::new(db.clone())), db, clock, channels: Arc::default() }
    }

    /// Follow `channel`'s horizon (read now if nobody follows it yet).
    pub async fn subscribe(&self, channel: ChannelId) -> Result<watch::Receiver<Arc<Horizon>>, ScheduleStoreError> {
        if let Some(tx) = self.channels.lock().expect("horizons lock").get(&channel) {
            return Ok(tx.subscribe());
        }
        let horizon = self.read(vec![channel]).await?.pop().expect("one channel").1?;
        let mut map = self.channels.lock().expect("horizons lock");
        let tx = map.entry(channel).or_insert_with(|| watch::Sender::new(Arc::new(horizon)));
        Ok(tx.subscribe())
    }

    /// Read `channels`' horizons, each with its own outcome, on the horizons' connection.
    #[allow(clippy::type_complexity)]
    async fn read(
        &self,
        channels: Vec<ChannelId>,
    ) -> Result<Vec<(ChannelId, Result<Horizon, ScheduleStoreError>)>, ScheduleStoreError> {
        let from = (self.clock.now() - KEEP_PAST).timestamp_millis();
        let reader = self.reader.clone();
        let read = tokio::task::spawn_blocking(move || {
            channels
                .into_iter()
                .map(|channel| {
                    let airings = reader.call(|c| store::airings_to_play(c, channel, from, i64::MAX));
                    (channel, airings.map(Horizon::of))
                })
                .collect()
        });
        Ok(read.await.map_err(crate::db::DbError::from)?)
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
            let read = match self.read(followed).await {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the schedule; keeping the last one");
                    continue;
                }
            };
            for (channel, horizon) in read {
                match horizon {
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn horizons_are_read_while_the_shared_connection_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("retrovue.db")).unwrap();
        let horizons = Horizons::new(db.clone(), Arc::new(crate::clock::SystemClock));
        let release = db.hold_shared_connection();
        // A deadlock detector, not a speed goal: on the shared connection this waits until
        // the release below, which it never reaches.
        let read = tokio::time::timeout(std::time::Duration::from_secs(60), horizons.subscribe(ChannelId(7))).await;
        drop(release);
        let horizon = read.expect("the horizon was read on the shared connection").unwrap();
        assert!(horizon.borrow().airings.is_empty());
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
