//! Stall detection for items and restart back-off for pipelines (pure).

use std::time::Duration;

/// An item whose output has not advanced for this long while on air is stalled (an HTTP
/// source that stopped sending, a decoder that hangs). Until then the mixer repeats its last
/// frame; after it the item is cut and the background covers the rest of its slot.
pub const STALL_NS: u64 = 2_000_000_000;
/// An item that is not ready this long after its air time never will be.
pub const NOT_READY_NS: u64 = 6_000_000_000;

/// Whether an on-air item stalled: it went on air at `air_ns`, has delivered media up to
/// `air_ns + played_ns`, and the pipeline is at `now_ns`. Items that finished are not stalled.
pub fn is_stalled(now_ns: u64, air_ns: u64, played_ns: u64, finished: bool) -> bool {
    !finished && now_ns > air_ns + played_ns + STALL_NS
}

/// Exponential back-off between pipeline rebuilds: 0.5 s, 1 s, 2 s … up to 30 s; back to the
/// start once a pipeline has run cleanly for a minute.
#[derive(Debug, Clone)]
pub struct Backoff {
    failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// No failures yet.
    pub fn new() -> Self {
        Self { failures: 0 }
    }

    /// Record a failure after a pipeline ran for `ran`; the delay before the next build.
    pub fn failed(&mut self, ran: Duration) -> Duration {
        if ran >= Duration::from_secs(60) {
            self.failures = 0;
        }
        let delay = Duration::from_millis(500) * 2u32.saturating_pow(self.failures.min(6));
        self.failures += 1;
        delay.min(Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalled_only_when_on_air_without_progress() {
        let s = 1_000_000_000;
        let stall = STALL_NS;
        assert!(!is_stalled(5 * s + stall, 5 * s, 0, false));
        assert!(is_stalled(5 * s + stall + 1, 5 * s, 0, false));
        assert!(is_stalled(15 * s + stall + 1, 5 * s, 10 * s, false));
        assert!(!is_stalled(15 * s + stall, 5 * s, 10 * s, false));
        assert!(!is_stalled(100 * s, 5 * s, 10 * s, true));
    }

    #[test]
    fn backoff_grows_caps_and_resets_after_a_good_run() {
        let mut b = Backoff::new();
        let short = Duration::from_secs(1);
        let d: Vec<_> = (0..9).map(|_| b.failed(short).as_millis()).collect();
        assert_eq!(d, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        assert_eq!(b.failed(Duration::from_secs(120)).as_millis(), 500);
    }
}
