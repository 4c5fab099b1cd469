//! The virtual tuners: `TunerCount` slots, each carrying at most one channel. A viewer
//! admitted by [`super::StreamHub::tune`] holds a [`Lease`] (an RAII guard), and so does a
//! running always-on channel; viewers of a channel that is already on a tuner
//! share it, so one tuner = one running channel with viewers. Dropping the last lease frees
//! the tuner at once (Kodi probes a URL, closes it and reopens it immediately).
//!
//! Admission: besides the slot count, the encoder has a budget in macroblocks per second
//! ([`TunerPool::set_budget`], from the director's encoder probe). A tune that would start a
//! channel whose cost ([`crate::lineup::OutputProfile::macroblocks_per_second`]) does not fit
//! in what the channels already tuned leave is refused like a full house (805): a viewer waits
//! for a tuner instead of every channel falling behind real time.
//!
//! A small `std::sync::Mutex`-guarded table rather than an actor: the release has to happen
//! synchronously in `Drop` (an actor could only be told asynchronously, leaving a window in
//! which the reopen sees the tuner still busy), and every critical section is a few field
//! updates with nothing awaited while the lock is held.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::lineup::{ChannelId, GuideNumber};

/// Which tuner a stream request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunerChoice {
    /// `/auto/v<N>`: the tuner already carrying the channel, else any free one.
    Auto,
    /// `/tuner<N>/v<N>`: exactly this tuner (0-based).
    Index(usize),
}

/// Why no tuner was leased (the tuner URLs answer `X-HDHomeRun-Error` codes, the other
/// entrances a plain 503 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TuneError {
    /// Every tuner carries another channel (805).
    #[error("all {0} tuners are in use")]
    AllBusy(usize),
    /// The encoder's budget is spent (805 too): (needed, left) in macroblocks/s.
    #[error("the encoder has {1} macroblocks/s left, the channel needs {0}")]
    OverBudget(u64, u64),
    /// The requested tuner carries another channel (804).
    #[error("tuner {0} is in use")]
    TunerBusy(usize),
    /// No tuner with that index.
    #[error("there is no tuner {0}")]
    NoSuchTuner(usize),
    /// A playing channel already cannot keep real time: another would make every picture
    /// worse (805 too).
    #[error("the box cannot keep up with the channels already playing")]
    Overloaded,
}

struct Tuning {
    channel: ChannelId,
    number: GuideNumber,
    leases: usize,
    cost: u64,
    since: Instant,
    bytes: Arc<AtomicU64>,
}

/// The tuner table; clonable handle.
#[derive(Clone)]
pub struct TunerPool {
    slots: Arc<Mutex<Vec<Option<Tuning>>>>,
    /// Encoder budget in macroblocks/s; 0 = none.
    budget: Arc<AtomicU64>,
}

/// What one tuner is doing, for `/tunerN/status` and the web page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunerStatus {
    /// The channel being carried, if any.
    pub channel: Option<(ChannelId, GuideNumber)>,
    /// Viewers sharing this tuner.
    pub viewers: usize,
    /// Average bit rate sent since the tuner was taken (bit/s).
    pub bps: u64,
}

impl TunerStatus {
    /// The `/tunerN/status` line of a real device.
    pub fn status_line(&self) -> String {
        match &self.channel {
            None => "ch=none lock=none ss=0 snq=0 seq=0 bps=0 pps=0".to_owned(),
            Some((_, number)) => format!(
                "ch=virtual:{number} lock=8vsb ss=100 snq=100 seq=100 bps={} pps={}",
                self.bps,
                self.bps / (8 * 188)
            ),
        }
    }
}

impl TunerPool {
    /// A pool of `count` idle tuners.
    pub fn new(count: usize) -> Self {
        Self { slots: Arc::new(Mutex::new((0..count).map(|_| None).collect())), budget: Arc::default() }
    }

    /// Limit the channels tuned at once to what the encoder carries (macroblocks/s; 0 = none).
    pub fn set_budget(&self, macroblocks_per_second: u64) {
        self.budget.store(macroblocks_per_second, Ordering::Relaxed);
    }

    /// The encoder budget (macroblocks/s; 0 = none).
    pub fn budget(&self) -> u64 {
        self.budget.load(Ordering::Relaxed)
    }

    /// Number of tuners (the advertised TunerCount).
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// `channel` is on a tuner (a new viewer of it shares that tuner).
    pub fn carries(&self, channel: ChannelId) -> bool {
        self.lock().iter().flatten().any(|t| t.channel == channel)
    }

    /// A channel not on a tuner, costing `cost`, would get one now (a free slot and enough
    /// of the budget left).
    pub fn would_fit(&self, cost: u64) -> bool {
        let slots = self.lock();
        let budget = self.budget();
        let spent: u64 = slots.iter().flatten().map(|t| t.cost).sum();
        slots.iter().any(Option::is_none) && (budget == 0 || cost <= budget.saturating_sub(spent))
    }

    /// Tuners currently carrying a channel.
    pub fn in_use(&self) -> usize {
        self.lock().iter().filter(|s| s.is_some()).count()
    }

    /// Lease a tuner for `channel`, whose encode costs nothing against the budget.
    pub fn acquire(&self, choice: TunerChoice, channel: ChannelId, number: &GuideNumber) -> Result<Lease, TuneError> {
        self.acquire_costing(choice, channel, number, 0)
    }

    /// Lease a tuner for `channel`, whose encode costs `cost` macroblocks/s of the budget.
    pub fn acquire_costing(
        &self,
        choice: TunerChoice,
        channel: ChannelId,
        number: &GuideNumber,
        cost: u64,
    ) -> Result<Lease, TuneError> {
        let mut slots = self.lock();
        let budget = self.budget();
        let tuned = slots.iter().flatten().any(|t| t.channel == channel);
        if budget > 0 && !tuned {
            let spent: u64 = slots.iter().flatten().map(|t| t.cost).sum();
            let left = budget.saturating_sub(spent);
            if cost > left {
                return Err(TuneError::OverBudget(cost, left));
            }
        }
        let index = match choice {
            TunerChoice::Auto => {
                let sharing = slots.iter().position(|s| s.as_ref().is_some_and(|t| t.channel == channel));
                match sharing.or_else(|| slots.iter().position(Option::is_none)) {
                    Some(i) => i,
                    None => return Err(TuneError::AllBusy(slots.len())),
                }
            }
            TunerChoice::Index(i) => match slots.get(i) {
                None => return Err(TuneError::NoSuchTuner(i)),
                Some(Some(t)) if t.channel != channel => return Err(TuneError::TunerBusy(i)),
                Some(_) => i,
            },
        };
        let slot = &mut slots[index];
        let tuning = slot.get_or_insert_with(|| Tuning {
            channel,
            number: number.clone(),
            leases: 0,
            cost,
            since: Instant::now(),
            bytes: Arc::default(),
        });
        tuning.leases += 1;
        Ok(Lease { pool: self.clone(), index, bytes: tuning.bytes.clone() })
    }

    /// What tuner `index` is doing; `None` if there is no such tuner.
    pub fn status(&self, index: usize) -> Option<TunerStatus> {
        let slots = self.lock();
        let slot = slots.get(index)?;
        Some(match slot {
            None => TunerStatus { channel: None, viewers: 0, bps: 0 },
            Some(t) => {
                let secs = t.since.elapsed().as_secs_f64().max(1.0);
                TunerStatus {
                    channel: Some((t.channel, t.number.clone())),
                    viewers: t.leases,
                    bps: (t.bytes.load(Ordering::Relaxed) as f64 * 8.0 / secs) as u64,
                }
            }
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Tuning>>> {
        // A panic while holding this lock leaves consistent data (plain field updates).
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One viewer's hold on a tuner; the tuner is freed when its last lease drops.
pub struct Lease {
    pool: TunerPool,
    index: usize,
    bytes: Arc<AtomicU64>,
}

impl Lease {
    /// The tuner held (0-based).
    pub fn tuner(&self) -> usize {
        self.index
    }

    /// Count bytes sent through this tuner (for its status line).
    pub fn sent(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut slots = self.pool.lock();
        if let Some(slot) = slots.get_mut(self.index)
            && let Some(t) = slot
        {
            t.leases -= 1;
            if t.leases == 0 {
                *slot = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> GuideNumber {
        s.parse().unwrap()
    }

    #[test]
    fn viewers_of_one_channel_share_a_tuner_and_capacity_is_enforced() {
        let pool = TunerPool::new(2);
        let a1 = pool.acquire(TunerChoice::Auto, ChannelId(1), &n("1")).unwrap();
        let a2 = pool.acquire(TunerChoice::Auto, ChannelId(1), &n("1")).unwrap();
        assert_eq!(a1.tuner(), a2.tuner());
        let b = pool.acquire(TunerChoice::Auto, ChannelId(2), &n("2")).unwrap();
        assert_ne!(b.tuner(), a1.tuner());
        assert_eq!(pool.acquire(TunerChoice::Auto, ChannelId(3), &n("3")).err(), Some(TuneError::AllBusy(2)));
        assert_eq!(pool.status(a1.tuner()).unwrap().viewers, 2);
        drop(a1);
        assert_eq!(pool.in_use(), 2);
        drop(a2);
        assert_eq!(pool.in_use(), 1);
        assert_eq!(pool.status(0).unwrap().status_line(), "ch=none lock=none ss=0 snq=0 seq=0 bps=0 pps=0");
        let c = pool.acquire(TunerChoice::Auto, ChannelId(3), &n("3")).unwrap();
        assert_eq!(c.tuner(), 0);
    }

    #[test]
    fn a_channel_beyond_the_encoder_budget_is_refused() {
        let pool = TunerPool::new(6);
        pool.set_budget(244_800); // the Pi's block
        let hd = 107_892;
        let a = pool.acquire_costing(TunerChoice::Auto, ChannelId(1), &n("1"), hd).unwrap();
        let b = pool.acquire_costing(TunerChoice::Auto, ChannelId(2), &n("2"), hd).unwrap();
        assert_eq!(
            pool.acquire_costing(TunerChoice::Auto, ChannelId(3), &n("3"), hd).err(),
            Some(TuneError::OverBudget(hd, 244_800 - 2 * hd))
        );
        assert!(pool.acquire_costing(TunerChoice::Auto, ChannelId(2), &n("2"), hd).is_ok(), "sharing costs nothing");
        assert!(pool.acquire_costing(TunerChoice::Auto, ChannelId(4), &n("4"), 28_000).is_ok(), "a small one fits");
        drop((a, b));
        assert!(pool.acquire_costing(TunerChoice::Auto, ChannelId(3), &n("3"), hd).is_ok());
    }

    #[test]
    fn a_forced_tuner_is_busy_with_another_channel_or_missing() {
        let pool = TunerPool::new(2);
        let a = pool.acquire(TunerChoice::Index(1), ChannelId(1), &n("5.1")).unwrap();
        assert_eq!(a.tuner(), 1);
        assert_eq!(pool.acquire(TunerChoice::Index(1), ChannelId(2), &n("6")).err(), Some(TuneError::TunerBusy(1)));
        assert!(pool.acquire(TunerChoice::Index(1), ChannelId(1), &n("5.1")).is_ok());
        assert_eq!(pool.acquire(TunerChoice::Index(2), ChannelId(1), &n("5.1")).err(), Some(TuneError::NoSuchTuner(2)));
        a.sent(188 * 100);
        let line = pool.status(1).unwrap().status_line();
        assert!(line.starts_with("ch=virtual:5.1 lock=8vsb"), "{line}");
        assert!(pool.status(2).is_none());
    }
}
