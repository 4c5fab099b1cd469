//! Wall clock ↔ pipeline running time (pure). When a channel's pipeline reaches PLAYING the
//! actor records an [`Anchor`]: the wall-clock instant and the running time it read at the same
//! moment. Every airing's start and end are then mapped to running time, which is what pad
//! offsets, cut points and the aggregators work in. Running times are nanoseconds.
//!
//! The pipeline clock is monotonic, the wall clock is not: NTP steps it (a box without an RTC
//! boots with the wrong time) and slews it. [`Realigner`] watches the divergence between the
//! anchor's idea of "now" and the real wall clock: a step beyond [`JUMP_NS`] makes the actor
//! re-anchor at once and rejoin the timeline in progress; a slow drift is absorbed by moving
//! the anchor a little at a time, which only affects items placed afterwards.

use chrono::{DateTime, Utc};

/// One nanosecond-denominated frame rate (numerator, denominator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Frames per `den` seconds.
    pub num: u64,
    /// Denominator.
    pub den: u64,
}

impl Rate {
    /// Duration of one frame in ns (rounded down).
    pub fn frame_ns(self) -> u64 {
        1_000_000_000 * self.den / self.num
    }

    /// Running time of frame `n` (exact, rounded down).
    pub fn frame_start(self, n: u64) -> u64 {
        (n as u128 * 1_000_000_000u128 * self.den as u128 / self.num as u128) as u64
    }

    /// Index of the first frame that starts at or after `rt`.
    pub fn frame_at_or_after(self, rt: u64) -> u64 {
        let n = (rt as u128 * self.num as u128).div_ceil(1_000_000_000u128 * self.den as u128) as u64;
        // frame_start rounds down, so the frame before may already start at `rt`.
        if n > 0 && self.frame_start(n - 1) >= rt { n - 1 } else { n }
    }

    /// `rt` moved forward to the next frame boundary of the output grid.
    pub fn align_up(self, rt: u64) -> u64 {
        self.frame_start(self.frame_at_or_after(rt))
    }

    /// Frames in a GOP of `seconds` (rounded to whole frames): 60 at 29.97, 50 at 25.
    pub fn gop_frames(self, seconds: u64) -> u64 {
        ((seconds * self.num) as f64 / self.den as f64).round() as u64
    }
}

/// The pair (wall clock, running time) read at the same moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// Wall-clock instant.
    pub wall: DateTime<Utc>,
    /// Pipeline running time at that instant, ns.
    pub running_ns: u64,
}

impl Anchor {
    /// Running time (ns) of a wall-clock instant; instants before running time 0 map to 0.
    pub fn running_time_at(&self, wall: DateTime<Utc>) -> u64 {
        self.signed_running_time_at(wall).clamp(0, u64::MAX as i128) as u64
    }

    /// Running time (ns) of a wall-clock instant, negative before the pipeline started.
    pub fn signed_running_time_at(&self, wall: DateTime<Utc>) -> i128 {
        let delta = (wall - self.wall).num_nanoseconds().unwrap_or(if wall > self.wall { i64::MAX } else { i64::MIN });
        self.running_ns as i128 + delta as i128
    }

    /// Wall-clock instant of a running time.
    pub fn wall_at(&self, running_ns: u64) -> DateTime<Utc> {
        let delta = running_ns as i128 - self.running_ns as i128;
        let delta = delta.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        self.wall + chrono::Duration::nanoseconds(delta)
    }
}

/// A divergence at least this large (either way) is a clock jump: re-anchor at once.
pub const JUMP_NS: i64 = 2_000_000_000;
/// Start slewing the anchor when the divergence exceeds this.
pub const SLEW_START_NS: i64 = 50_000_000;
/// Stop slewing once the divergence is back under this.
pub const SLEW_STOP_NS: i64 = 5_000_000;
/// Largest anchor correction per check while slewing (checks run every 100 ms: 20 ms/s).
pub const SLEW_STEP_NS: i64 = 2_000_000;

impl Anchor {
    /// How far the real wall clock `wall` is ahead (positive) or behind of what this anchor
    /// maps running time `running_ns` to, in ns.
    pub fn divergence(&self, running_ns: u64, wall: DateTime<Utc>) -> i64 {
        (wall - self.wall_at(running_ns)).num_nanoseconds().unwrap_or(if wall > self.wall {
            i64::MAX
        } else {
            i64::MIN
        })
    }
}

/// What to do about the divergence between the anchor and the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Realign {
    /// Nothing: within tolerance.
    Keep,
    /// Move the anchor's wall instant by this many ns (a small slew step).
    Slew(i64),
    /// The wall clock jumped by this many ns: re-anchor at the current instant and rejoin.
    Jump(i64),
}

/// Decides [`Realign`] from successive divergence samples. A jump must be seen on two
/// consecutive samples (a single late sample, e.g. a preempted thread, is not a jump); a slew
/// starts beyond [`SLEW_START_NS`] and continues until the divergence is under
/// [`SLEW_STOP_NS`] (hysteresis, so measurement noise does not make the anchor wander).
#[derive(Debug, Clone, Default)]
pub struct Realigner {
    jump_seen: bool,
    slewing: bool,
}

impl Realigner {
    /// Feed one divergence sample (ns, see [`Anchor::divergence`]).
    pub fn check(&mut self, divergence_ns: i64) -> Realign {
        let abs = divergence_ns.saturating_abs();
        if abs >= JUMP_NS {
            if self.jump_seen {
                self.jump_seen = false;
                self.slewing = false;
                return Realign::Jump(divergence_ns);
            }
            self.jump_seen = true;
            return Realign::Keep;
        }
        self.jump_seen = false;
        if abs > SLEW_START_NS {
            self.slewing = true;
        } else if abs < SLEW_STOP_NS {
            self.slewing = false;
        }
        if self.slewing { Realign::Slew(divergence_ns.clamp(-SLEW_STEP_NS, SLEW_STEP_NS)) } else { Realign::Keep }
    }
}

/// Where and how an airing goes on air in running time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Running time of the first frame of the item (pad offset), frame aligned.
    pub air_ns: u64,
    /// Running time at which it is cut, frame aligned.
    pub end_ns: u64,
    /// Media position to start from (seek target), ns: the in-point plus what of the slot
    /// passed before air.
    pub media_ns: u64,
    /// The in-point, ns into the media as the schedule gives it (0: its start).
    pub in_ns: u64,
    /// True when joined in progress (the item started before it could be placed).
    pub joined: bool,
}

impl Placement {
    /// How long the item airs, ns.
    pub fn slot_ns(&self) -> u64 {
        self.end_ns - self.air_ns
    }
}

/// Place an airing `[start, end)` that begins `offset_in_ms` into its media, given `now` and the
/// least time needed to get an item ready (`lead`). An airing already on air (or starting
/// sooner than `lead`) is joined in progress at `now + lead`, at the matching media offset.
/// Returns `None` when nothing of it is left to air.
pub fn place(
    anchor: &Anchor,
    rate: Rate,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    offset_in_ms: i64,
    now: DateTime<Utc>,
    lead: chrono::Duration,
) -> Option<Placement> {
    let start_signed = anchor.signed_running_time_at(start);
    let start_ns = rate.align_up(start_signed.max(0) as u64);
    let end_ns = rate.align_up(anchor.running_time_at(end));
    let earliest = rate.align_up(anchor.running_time_at(now + lead));
    let (air_ns, joined) = if start_signed >= 0 && start_ns >= earliest { (start_ns, false) } else { (earliest, true) };
    if air_ns >= end_ns {
        return None;
    }
    // Media position at air time: the in-point plus however much of the slot has passed.
    let elapsed = if joined { (air_ns as i128 - start_signed).max(0) as u64 } else { 0 };
    let in_ns = offset_in_ms.max(0) as u64 * 1_000_000;
    Some(Placement { air_ns, end_ns, media_ns: in_ns + elapsed, in_ns, joined })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const NTSC: Rate = Rate { num: 30000, den: 1001 };
    const PAL: Rate = Rate { num: 25, den: 1 };

    fn t(h: u32, m: u32, s: u32, ms: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, s).unwrap() + chrono::Duration::milliseconds(ms as i64)
    }

    #[test]
    fn frame_grid_is_exact() {
        assert_eq!(NTSC.frame_ns(), 33_366_666);
        assert_eq!(NTSC.frame_start(30000), 1001 * 1_000_000_000);
        assert_eq!(NTSC.gop_frames(2), 60);
        assert_eq!(PAL.gop_frames(2), 50);
        assert_eq!(PAL.align_up(0), 0);
        assert_eq!(PAL.align_up(1), 40_000_000);
        assert_eq!(PAL.align_up(40_000_000), 40_000_000);
        for rt in [0u64, 1, 33_366_666, 33_366_667, 1_000_000_000, 3_600_000_000_000] {
            let a = NTSC.align_up(rt);
            assert!(a >= rt && a - rt < NTSC.frame_ns() + 1, "{rt} -> {a}");
            assert_eq!(NTSC.align_up(a), a);
        }
    }

    #[test]
    fn running_time_and_wall_clock_round_trip() {
        let a = Anchor { wall: t(20, 0, 0, 0), running_ns: 5_000_000_000 };
        assert_eq!(a.running_time_at(t(20, 0, 1, 500)), 6_500_000_000);
        assert_eq!(a.wall_at(6_500_000_000), t(20, 0, 1, 500));
        // Before running time 0: clamped.
        assert_eq!(a.running_time_at(t(19, 59, 50, 0)), 0);
        assert_eq!(a.wall_at(0), t(19, 59, 55, 0));
    }

    #[test]
    fn a_future_airing_airs_at_its_start_from_its_in_point() {
        let a = Anchor { wall: t(20, 0, 0, 0), running_ns: 0 };
        let p = place(&a, PAL, t(20, 0, 10, 0), t(20, 0, 20, 0), 1500, t(20, 0, 5, 0), chrono::Duration::seconds(1))
            .unwrap();
        assert_eq!(
            p,
            Placement {
                air_ns: 10_000_000_000,
                end_ns: 20_000_000_000,
                media_ns: 1_500_000_000,
                in_ns: 1_500_000_000,
                joined: false
            }
        );
    }

    #[test]
    fn joined_in_progress_starts_at_the_elapsed_offset() {
        // Channel started at 20:13:41.000; the airing began at 20:10:00 with in-point 60 s.
        let a = Anchor { wall: t(20, 13, 41, 0), running_ns: 0 };
        let p = place(
            &a,
            PAL,
            t(20, 10, 0, 0),
            t(20, 30, 0, 0),
            60_000,
            t(20, 13, 41, 0),
            chrono::Duration::milliseconds(1000),
        )
        .unwrap();
        assert!(p.joined);
        assert_eq!(p.air_ns, 1_000_000_000);
        // 60 s in-point + 3 min 42 s elapsed at air time.
        assert_eq!(p.media_ns, 60_000_000_000 + 222_000_000_000);
        assert_eq!(p.end_ns, 979_000_000_000);
    }

    #[test]
    fn divergence_is_how_far_the_wall_clock_left_the_anchor() {
        let a = Anchor { wall: t(20, 0, 0, 0), running_ns: 1_000_000_000 };
        assert_eq!(a.divergence(3_000_000_000, t(20, 0, 2, 0)), 0);
        assert_eq!(a.divergence(3_000_000_000, t(21, 0, 2, 0)), 3_600_000_000_000);
        assert_eq!(a.divergence(3_000_000_000, t(20, 0, 1, 900)), -100_000_000);
    }

    #[test]
    fn a_jump_needs_two_samples_and_drift_is_slewed_with_hysteresis() {
        let mut r = Realigner::default();
        assert_eq!(r.check(0), Realign::Keep);
        assert_eq!(r.check(20_000_000), Realign::Keep);
        // One late sample is not a jump; two are.
        assert_eq!(r.check(3_600_000_000_000), Realign::Keep);
        assert_eq!(r.check(0), Realign::Keep);
        assert_eq!(r.check(3_600_000_000_000), Realign::Keep);
        assert_eq!(r.check(3_600_000_000_000), Realign::Jump(3_600_000_000_000));
        assert_eq!(r.check(-5_000_000_000), Realign::Keep);
        assert_eq!(r.check(-5_000_000_000), Realign::Jump(-5_000_000_000));
        // Drift: slewed in small steps once past the start threshold, until under the stop one.
        assert_eq!(r.check(40_000_000), Realign::Keep);
        assert_eq!(r.check(60_000_000), Realign::Slew(SLEW_STEP_NS));
        assert_eq!(r.check(30_000_000), Realign::Slew(SLEW_STEP_NS));
        assert_eq!(r.check(-1_000_000), Realign::Keep);
        assert_eq!(r.check(-80_000_000), Realign::Slew(-SLEW_STEP_NS));
        assert_eq!(r.check(-1_500_000), Realign::Keep);
        assert_eq!(r.check(30_000_000), Realign::Keep);
    }

    #[test]
    fn an_airing_that_is_over_is_not_placed() {
        let a = Anchor { wall: t(20, 0, 0, 0), running_ns: 0 };
        let lead = chrono::Duration::seconds(1);
        assert!(place(&a, NTSC, t(19, 0, 0, 0), t(20, 0, 0, 500), 0, t(20, 0, 0, 0), lead).is_none());
    }
}
