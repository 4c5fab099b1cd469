//! The actor's side of wall-clock re-anchoring ([`super::timeline::Realigner`] decides): slew
//! the anchor for drift, or, on a jump, take every item off and rejoin the timeline in progress
//! on the same pipeline.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use gstreamer as gst;
use gstreamer::prelude::*;

use super::Session;
use crate::clock::SharedClock;
use crate::playout::timeline::{Anchor, Realign};
use crate::playout::{AsRunEvent, AsRunStatus, read_clocks};

/// Readings of the wall clock further apart than this bracket a preempted thread.
const CLEAN_SAMPLE: chrono::Duration = chrono::Duration::milliseconds(5);

/// A clean [`read_clocks`] of the pipeline: `None` when the readings bracket a preemption.
pub(super) fn sample(clock: &SharedClock, pipeline: &gst::Pipeline) -> Option<Anchor> {
    read_clocks(clock, pipeline.upcast_ref()).filter(|(_, spread)| spread.abs() <= CLEAN_SAMPLE).map(|(a, _)| a)
}

/// A clean [`sample`] for a new pipeline's anchor: a few tries, then the last reading.
pub(super) fn initial_anchor(clock: &SharedClock, pipeline: &gst::Pipeline) -> Anchor {
    let mut last = None;
    for _ in 0..20 {
        match read_clocks(clock, pipeline.upcast_ref()) {
            Some((a, spread)) if spread.abs() <= CLEAN_SAMPLE => return a,
            reading => last = reading.map(|(a, _)| a).or(last),
        }
        std::thread::yield_now();
    }
    last.unwrap_or_else(|| Anchor { wall: clock.now(), running_ns: 0 })
}

impl Session<'_> {
    /// Compare the anchor with the wall clock and re-anchor on a jump or drift (see
    /// [`timeline::Realigner`]). True when the anchor changed.
    pub(super) fn check_clock(&mut self) -> bool {
        let Some(Anchor { wall, running_ns: now_rt }) = sample(&self.deps.clock, &self.cp.pipeline) else {
            return false; // preempted between the readings: not a clean sample
        };
        match self.realigner.check(self.anchor.divergence(now_rt, wall)) {
            Realign::Keep => false,
            Realign::Slew(ns) => {
                self.anchor.wall += chrono::Duration::nanoseconds(ns);
                true
            }
            Realign::Jump(ns) => {
                self.rejoin(now_rt, wall, ns);
                true
            }
        }
    }

    /// The wall clock jumped by `jump_ns`: take every item off (the background covers until
    /// the rejoined item is ready), anchor at the current instant and read the airings again,
    /// so the next tick joins whatever the schedule has on now, in progress. The pipeline,
    /// and so the viewers' stream and its timestamps, carry on.
    fn rejoin(&mut self, now_rt: u64, wall: DateTime<Utc>, jump_ns: i64) {
        let reason = format!("wall clock jumped {:+.1} s: re-aligned to the schedule", jump_ns as f64 / 1e9);
        tracing::warn!(channel = %self.deps.config.channel, %reason, "clock jump");
        // As-run times stay in the clock domain the items aired in.
        let old_now = self.anchor.wall_at(now_rt);
        let serials: Vec<u64> = self.items.keys().copied().collect();
        for serial in serials {
            let a = self.items.remove(&serial).expect("present");
            let played = a.bin.as_ref().map(|b| b.progress.played_ns.load(Ordering::SeqCst));
            if let Some(bin) = a.bin {
                bin.retire(&self.cp, &self.deps.reaper);
            }
            let (status, actual_end) = if a.started {
                let end = match played {
                    Some(p) => self.anchor.wall_at(a.placement.air_ns + p),
                    None => old_now.min(a.airing.end),
                };
                (AsRunStatus::Partial, end)
            } else {
                (AsRunStatus::Failed, old_now)
            };
            self.deps.record(AsRunEvent {
                channel: self.deps.config.channel,
                actual_start: if a.started { self.anchor.wall_at(a.placement.air_ns) } else { old_now },
                actual_end: Some(actual_end),
                airing: a.airing,
                status,
                reason: Some(reason.clone()),
            });
        }
        self.anchor = Anchor { wall, running_ns: now_rt };
        self.handled.clear();
        self.failed.clear();
    }
}
