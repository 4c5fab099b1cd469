//! The rules of the channel's content watchdog and of restart back-off (pure).
//!
//! A channel must never go black and silent without saying so (issue #21). The actor checks,
//! on every tick, three things against these rules:
//! - **A source that stopped.** An item is stalled when its source delivered nothing while the
//!   channel's output advanced by [`STALL_NS`]: measured against the output, not the clock, so
//!   a starved box (everything late, the item included) is not taken for a dead source.
//! - **The schedule has something on and nothing feeds it.** An item that failed is tried
//!   again at its current offset ([`Retry`]), a few times, joining the timeline in progress.
//! - **The output stopped.** No frame left the compositor for [`OUTPUT_STALL`], or the output
//!   is more than [`MAX_OUTPUT_LAG_NS`] behind the clock: the pipeline is rebuilt. (An actor
//!   whose thread is stuck in a GStreamer call is seen from outside, by its silent heartbeat:
//!   [`crate::playout::supervisor`].)
//!
//! [`RealtimeMeter`] says whether the box keeps real time (frames dropped for a late
//! encoder, output late against the clock): a channel that does not is reported, and new
//! tunes are refused while it lasts.

use std::time::Duration;

/// An on-air item whose source delivered nothing while the output advanced this much is
/// stalled (an HTTP source that stopped sending, a decoder that hangs).
pub const STALL_NS: u64 = 2_000_000_000;
/// An item that is not ready this long after its air time never will be.
pub const NOT_READY_NS: u64 = 6_000_000_000;
/// The compositor produced nothing for this long: the pipeline is rebuilt.
pub const OUTPUT_STALL: Duration = Duration::from_secs(5);
/// How many times one airing is tried again after failing.
pub const MAX_RETRIES: u32 = 3;
/// A failed airing is tried again no sooner than this after it failed.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// ... and only while at least this much of it is left (ns).
pub const RETRY_MIN_LEFT_NS: u64 = 3_000_000_000;

/// Whether an output at `output_ns` is too far behind the clock at `now_ns` to catch up: see
/// [`MAX_OUTPUT_LAG_NS`].
pub fn too_far_behind(output_ns: u64, now_ns: u64) -> bool {
    now_ns > output_ns + MAX_OUTPUT_LAG_NS
}

/// Whether an on-air item stalled: its source last delivered when the output was at
/// `delivered_at_ns`, and the output is now at `output_ns`. Items that are `done` (finished,
/// or their source delivered all their slot needs) are not.
pub fn is_stalled(output_ns: u64, delivered_at_ns: u64, done: bool) -> bool {
    !done && output_ns > delivered_at_ns + STALL_NS
}

/// A channel that starts cold joins an airing already on only with at least this much of it
/// left (ns): an item takes time to open (0.2 s on a quiet box, seconds on a busy one: a
/// channel starting with three others), and one that is not ready before its slot ends never
/// airs. The next airing goes first instead (the cold output waits for it).
pub const MIN_JOIN_LEFT_NS: u64 = 2_000_000_000;
/// An item is taken off this long after the output passed its last frame (the mixers have
/// consumed it by then).
pub const RETIRE_AFTER_NS: u64 = 300_000_000;
/// A channel whose output is this far behind the clock is rebuilt at the clock: it skips what
/// it could not air rather than fall further behind (and hold ever more items open).
///
/// A starved box lags its clock by seconds and catches up when it can. Held at a share of
/// the CPU a channel needs for 40 s (`tests/overload.rs`, a 2-core machine, before the bounded
/// decoder QoS of `item::qos_diff`), the output fell 8.2 s behind at 0.55x and 12-18 s at 0.45x,
/// and kept real time again within 10 s of the CPU coming back.
pub const MAX_OUTPUT_LAG_NS: u64 = 20_000_000_000;
/// An item that should have ended this long ago on the clock is taken off whatever the output
/// did. Past [`MAX_OUTPUT_LAG_NS`]: the pipeline is rebuilt before (as it is for an output
/// that stopped: [`OUTPUT_STALL`]), and an item taken off while the output still airs it
/// leaves black in its place (seen with a 10 s bound on a CI run's starved channel).
pub const RETIRE_OVERDUE_NS: u64 = 30_000_000_000;
// Rebuilt before items are taken off by the clock.
const _: () = assert!(MAX_OUTPUT_LAG_NS < RETIRE_OVERDUE_NS);

/// Whether an item can be taken off: its branches `finished` (cut or ended) with its last
/// frame at `last_ns`, or its slot ended at `slot_end_ns` without them; judged by where the
/// channel's output is (`output_ns`), not the clock (`now_ns`). On a starved box the output
/// runs a second or more behind the clock, and an item taken off by the clock loses its last
/// second, which airs as black (issue #21). The clock has the last word only when the output
/// is far behind ([`RETIRE_OVERDUE_NS`]).
pub fn retire_due(last_ns: u64, finished: bool, slot_end_ns: u64, output_ns: u64, now_ns: u64) -> bool {
    let over = output_ns > slot_end_ns + 2 * RETIRE_AFTER_NS;
    ((finished || over) && output_ns > last_ns + RETIRE_AFTER_NS) || now_ns > slot_end_ns + RETIRE_OVERDUE_NS
}

/// How an item taken off the air ended, for the as-run log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It played to its slot's end (within a frame).
    Whole,
    /// Its source delivered all of it but its last pictures (ns) never aired: its decoder
    /// was behind on a busy box and dropped them as late. Aired; the box was late, not the
    /// media.
    PicturesLate(u64),
    /// Its media ended this much (ns) before the slot's end.
    MediaEnded(u64),
    /// Its media stopped coming this much (ns) before the slot's end.
    MediaStopped(u64),
}

/// How an item ended: it `played_ns` of its `slot_ns` (a `frame_ns` short is whole), a branch
/// ended `early` (EOS before the cut); `decoder_behind` = every decoder took in all the slot
/// needs while its pictures were late for the mixer (dropped, the decoder told so).
pub fn ending(played_ns: u64, slot_ns: u64, frame_ns: u64, early: bool, decoder_behind: bool) -> Ending {
    let missing = slot_ns.saturating_sub(played_ns);
    if missing <= frame_ns {
        Ending::Whole
    } else if early {
        Ending::MediaEnded(missing)
    } else if decoder_behind {
        Ending::PicturesLate(missing)
    } else {
        Ending::MediaStopped(missing)
    }
}

/// Why an airing failed, as far as a retry is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another try at the current offset (a stall, a decoder error, too slow to open).
    Transient(String),
    /// Another try would fail the same way (the file is missing or empty).
    Permanent(String),
}

/// The retry bookkeeping of one failed airing.
#[derive(Debug, Clone)]
pub struct Retry {
    /// Tries so far.
    pub tries: u32,
    /// Why it failed last.
    pub failure: Failure,
    /// When it failed last.
    pub failed_at: std::time::Instant,
}

impl Retry {
    /// Whether to try again now, with `left_ns` of the airing left.
    pub fn due(&self, now: std::time::Instant, left_ns: u64) -> bool {
        matches!(self.failure, Failure::Transient(_))
            && self.tries < MAX_RETRIES
            && now.duration_since(self.failed_at) >= RETRY_AFTER
            && left_ns >= RETRY_MIN_LEFT_NS
    }
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

/// Output later than this against the clock (mixer latency included) is not real time.
pub const LATE_LIMIT_NS: i64 = 1_500_000_000;
/// More than this share of frames dropped before the encoder is not real time.
pub const DROP_LIMIT: f64 = 0.05;
/// The window real time is judged over.
pub const REALTIME_WINDOW: Duration = Duration::from_secs(10);

/// Whether a channel keeps real time, judged over the last [`REALTIME_WINDOW`].
#[derive(Debug, Clone, Default)]
pub struct RealtimeMeter {
    /// (when, frames, dropped) at the start of the window.
    start: Option<(std::time::Instant, u64, u64)>,
    /// The verdict of the last full window.
    verdict: Realtime,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Realtime {
    /// The channel keeps real time.
    pub ok: bool,
    /// How late its output is (ms, mixer latency included).
    pub late_ms: i64,
    /// Share of frames dropped before the encoder over the window.
    pub dropped_share: f64,
}

impl Default for Realtime {
    fn default() -> Self {
        Self { ok: true, late_ms: 0, dropped_share: 0.0 }
    }
}

impl RealtimeMeter {
    /// Take a sample: frames muxed and dropped so far, lateness now. Returns the verdict.
    pub fn sample(&mut self, now: std::time::Instant, frames: u64, dropped: u64, late_ns: i64) -> Realtime {
        let late_ms = late_ns / 1_000_000;
        let (t0, f0, d0) = *self.start.get_or_insert((now, frames, dropped));
        if now.duration_since(t0) >= REALTIME_WINDOW {
            let (f, d) = (frames.saturating_sub(f0), dropped.saturating_sub(d0));
            let share = if f + d == 0 { 1.0 } else { d as f64 / (f + d) as f64 };
            self.verdict =
                Realtime { ok: share <= DROP_LIMIT && late_ns <= LATE_LIMIT_NS, late_ms, dropped_share: share };
            self.start = Some((now, frames, dropped));
        } else {
            // Lateness shows at once; drops are judged per window.
            self.verdict.late_ms = late_ms;
            if late_ns > LATE_LIMIT_NS {
                self.verdict.ok = false;
            }
        }
        self.verdict
    }
}

/// The least time an item is built ahead of its start (ms).
pub const PREPARE_LEAD_MIN_MS: i64 = 1_500;
/// The most: beyond it a box is too slow for any lead to help, and every item in preparation
/// holds its decoder and a half-second of decoded frames.
pub const PREPARE_LEAD_MAX_MS: i64 = 6_000;

/// How long before its start an item is built: long enough for the box as it is now. Opening
/// a file, finding its streams and decoding its first frames takes ~0.2 s on a quiet box and
/// several seconds on a starved one; an item that becomes ready after its air time has its
/// first frames dropped as too late (black and silence on a box that is only busy). The lead
/// is twice the slowest recent preparation plus half a second, between
/// [`PREPARE_LEAD_MIN_MS`] and [`PREPARE_LEAD_MAX_MS`]; a slow preparation counts at once,
/// and is forgotten by a tenth per item that prepares faster.
#[derive(Debug, Clone, Default)]
pub struct PrepareLead {
    slowest_ms: f64,
}

impl PrepareLead {
    /// An item took `took` from being built to ready.
    pub fn observe(&mut self, took: Duration) {
        let ms = took.as_secs_f64() * 1000.0;
        self.slowest_ms = ms.max(self.slowest_ms * 0.9);
    }

    /// Build items starting this soon (ms).
    pub fn lead_ms(&self) -> i64 {
        ((2.0 * self.slowest_ms) as i64 + 500).clamp(PREPARE_LEAD_MIN_MS, PREPARE_LEAD_MAX_MS)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A silent 720p spot on a 98%-busy box: its source delivered it all, its decoder was
    /// behind and dropped its last 5 pictures (167 ms) as late; it aired (issue #21's quiet
    /// soak counted it as "media stopped"). Without the late pictures, the same shortfall is a
    /// source that stopped; an early EOS is media that ended.
    #[test]
    fn an_item_whose_decoder_was_behind_at_its_end_aired() {
        const S: u64 = 1_000_000_000;
        let frame = 33_366_667;
        let (slot, played) = (5 * S, 5 * S - 167_000_000);
        assert_eq!(ending(played, slot, frame, false, true), Ending::PicturesLate(167_000_000));
        assert_eq!(ending(played, slot, frame, false, false), Ending::MediaStopped(167_000_000));
        assert_eq!(ending(played, slot, frame, true, true), Ending::MediaEnded(167_000_000));
        assert_eq!(ending(slot - frame, slot, frame, false, false), Ending::Whole);
        assert_eq!(ending(slot, slot, frame, true, false), Ending::Whole);
    }

    #[test]
    fn stalled_only_when_the_output_moved_on_without_the_source() {
        let s = 1_000_000_000;
        assert!(!is_stalled(5 * s + STALL_NS, 5 * s, false));
        assert!(is_stalled(5 * s + STALL_NS + 1, 5 * s, false));
        assert!(!is_stalled(100 * s, 5 * s, true), "a finished item is not stalled");
    }

    #[test]
    fn items_are_taken_off_when_the_output_has_passed_them_not_the_clock() {
        let s = 1_000_000_000;
        let (end, after) = (60 * s, RETIRE_AFTER_NS);
        // A quiet box: the output follows the clock.
        assert!(!retire_due(end, true, end, end + after, end + after));
        assert!(retire_due(end, true, end, end + after + 1, end + after + 1));
        // A starved box 1.5 s behind: the clock is past the end, the output is not.
        assert!(!retire_due(end, true, end, end - s, end + s / 2));
        assert!(!retire_due(end, false, end, end - s, end + 2 * s));
        // Ended early (media shorter than its slot): off once the output passed its last frame.
        assert!(retire_due(end - 10 * s, true, end, end - 10 * s + after + 1, end - 10 * s + after + 1));
        assert!(!retire_due(end - 10 * s, false, end, end - 10 * s + after + 1, end));
        // Not finished (a branch never reached its cut): off once the output is well past the slot.
        assert!(!retire_due(end, false, end, end + 2 * after, end + 2 * after));
        assert!(retire_due(end, false, end, end + 2 * after + 1, end + 2 * after + 1));
        // 12 s behind (a starved box, still catching up): the output decides.
        assert!(!retire_due(end, true, end, end - 2 * s, end + 10 * s));
        // An output far behind the clock (a rebuild is due well before): the clock decides.
        assert!(!retire_due(end, true, end, end - 5 * s, end + RETIRE_OVERDUE_NS));
        assert!(retire_due(end, true, end, end - 5 * s, end + RETIRE_OVERDUE_NS + 1));
    }

    #[test]
    fn an_output_is_rebuilt_at_the_clock_only_when_it_is_far_behind() {
        let s = 1_000_000_000;
        assert!(!too_far_behind(100 * s, 100 * s + 13 * s), "13 s behind: a starved box catching up");
        assert!(!too_far_behind(100 * s, 100 * s + MAX_OUTPUT_LAG_NS));
        assert!(too_far_behind(100 * s, 100 * s + MAX_OUTPUT_LAG_NS + 1));
        assert!(!too_far_behind(100 * s, 50 * s), "ahead of the clock");
    }

    #[test]
    fn transient_failures_are_retried_a_few_times_with_enough_left() {
        let t = Instant::now();
        let mut r = Retry { tries: 0, failure: Failure::Transient("stalled".into()), failed_at: t };
        assert!(!r.due(t, 60 * 1_000_000_000), "not at once");
        let later = t + RETRY_AFTER;
        assert!(r.due(later, 60 * 1_000_000_000));
        assert!(!r.due(later, RETRY_MIN_LEFT_NS - 1), "not with too little left");
        r.tries = MAX_RETRIES;
        assert!(!r.due(later, 60 * 1_000_000_000));
        let gone = Retry { tries: 0, failure: Failure::Permanent("missing".into()), failed_at: t };
        assert!(!gone.due(later, 60 * 1_000_000_000));
    }

    #[test]
    fn backoff_grows_caps_and_resets_after_a_good_run() {
        let mut b = Backoff::new();
        let short = Duration::from_secs(1);
        let d: Vec<_> = (0..9).map(|_| b.failed(short).as_millis()).collect();
        assert_eq!(d, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        assert_eq!(b.failed(Duration::from_secs(120)).as_millis(), 500);
    }

    #[test]
    fn realtime_is_lost_by_lateness_at_once_and_by_drops_per_window() {
        let t = Instant::now();
        let mut m = RealtimeMeter::default();
        assert!(m.sample(t, 0, 0, 300_000_000).ok);
        assert!(!m.sample(t + Duration::from_secs(1), 30, 0, 2_000_000_000).ok, "late output shows at once");
        let w = t + REALTIME_WINDOW;
        let v = m.sample(w, 300, 0, 300_000_000);
        assert!(v.ok, "a clean window restores it: {v:?}");
        let v = m.sample(w + REALTIME_WINDOW, 500, 100, 300_000_000);
        assert!(!v.ok && (v.dropped_share - 100.0 / 300.0).abs() < 1e-9, "{v:?}");
    }

    #[test]
    fn the_prepare_lead_follows_the_slowest_recent_preparation() {
        let mut lead = PrepareLead::default();
        assert_eq!(lead.lead_ms(), PREPARE_LEAD_MIN_MS, "a quiet box keeps the least lead");
        lead.observe(Duration::from_millis(200));
        assert_eq!(lead.lead_ms(), PREPARE_LEAD_MIN_MS);
        lead.observe(Duration::from_millis(1_800));
        assert_eq!(lead.lead_ms(), 4_100, "a slow preparation counts at once");
        for _ in 0..5 {
            lead.observe(Duration::from_millis(200));
        }
        let after_five = lead.lead_ms();
        assert!(after_five < 4_100 && after_five > PREPARE_LEAD_MIN_MS, "{after_five}");
        for _ in 0..30 {
            lead.observe(Duration::from_millis(200));
        }
        assert_eq!(lead.lead_ms(), PREPARE_LEAD_MIN_MS, "forgotten once the box is quiet again");
        lead.observe(Duration::from_secs(30));
        assert_eq!(lead.lead_ms(), PREPARE_LEAD_MAX_MS, "capped");
    }
}
