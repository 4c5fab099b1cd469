//! The content watchdog on the actor's side (the rules are in [`crate::playout::watchdog`]):
//! every tick, is the output moving, and is whatever the schedule has on now being fed? A
//! failed item is tried again at its current offset; an output that stopped, or fell too far
//! behind the clock to catch up, rebuilds the pipeline. Each recovery is logged (`content
//! watchdog: recovered`), counted in the channel's status and health, and noted in the as-run
//! log. Also the tick's report of what
//! is on the air and whether the channel keeps real time.

use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::watch;

use super::{End, Session, key};
use crate::playout::player::PlayerStatus;
use crate::playout::watchdog::{self, Failure};
use crate::schedule::AiringKind;

impl Session<'_> {
    /// Run the content watchdog; `Some` when the pipeline must be rebuilt.
    pub(super) fn guard(&mut self, status: &watch::Sender<PlayerStatus>) -> Option<End> {
        let position = self.cp.meter().position_ns.load(Ordering::Relaxed);
        if position != self.position.0 {
            self.position = (position, Instant::now());
        } else if self.position.1.elapsed() >= watchdog::OUTPUT_STALL {
            let reason = format!("the output stopped for {} s", self.position.1.elapsed().as_secs());
            self.recovered(status, "rebuild", &reason, None);
            return Some(End::Restart { reason, deliberate: false });
        }
        let (output, now_rt) = (self.cp.mixed_position(), self.now_rt());
        if position > 0 && watchdog::too_far_behind(output, now_rt) {
            let reason = format!(
                "the output fell {:.1} s behind the clock: restarting at the clock",
                (now_rt - output) as f64 / 1e9
            );
            self.recovered(status, "rebuild", &reason, None);
            return Some(End::Restart { reason, deliberate: false });
        }

        let now = self.deps.clock.now();
        let now_ms = now.timestamp_millis();
        let horizon = self.horizon();
        let due: Vec<_> = horizon
            .between(now, now + chrono::Duration::milliseconds(1))
            .filter(|a| a.uri.is_some() && a.kind != AiringKind::Slate)
            .filter(|a| {
                let left_ns = (a.end.timestamp_millis() - now_ms).max(0) as u64 * 1_000_000;
                self.failed.get(&key(a)).is_some_and(|r| r.due(Instant::now(), left_ns))
            })
            .filter(|a| !self.items.values().any(|i| key(&i.airing) == key(a)))
            .cloned()
            .collect();
        for airing in due {
            let retry = self.failed.get_mut(&key(&airing)).expect("failed airing");
            retry.tries += 1;
            let why = match &retry.failure {
                Failure::Transient(r) | Failure::Permanent(r) => r.clone(),
            };
            let offset_s = (now - airing.start).num_milliseconds() as f64 / 1e3;
            let note = format!("rejoined at {offset_s:.1} s by the content watchdog after: {why}");
            self.recovered(status, "retry", &why, Some(&airing.title));
            self.place_and_prepare(airing, now, Some(note));
        }
        None
    }

    /// Say that the watchdog acted: log, status, health.
    fn recovered(&self, status: &watch::Sender<PlayerStatus>, action: &str, reason: &str, title: Option<&str>) {
        let channel = self.deps.config.channel;
        tracing::warn!(%channel, action, reason, title = title.unwrap_or(""), "content watchdog: recovered");
        let what = match title {
            Some(t) => format!("{action} \"{t}\": {reason}"),
            None => format!("{action}: {reason}"),
        };
        let at = self.deps.clock.now();
        self.deps.report(status, |s| {
            s.watchdog_recoveries += 1;
            s.last_recovery = Some((at, what));
        });
    }

    /// Publish what is on and how well the channel keeps real time.
    pub(super) fn report_progress(&mut self, status: &watch::Sender<PlayerStatus>) {
        let on_air = self.on_air_title();
        let meter = self.cp.meter();
        let (frames, dropped) = (meter.frames.load(Ordering::Relaxed), meter.dropped_frames.load(Ordering::Relaxed));
        let late_dropped: u64 = self
            .items
            .values()
            .filter_map(|a| a.bin.as_ref())
            .map(|b| b.progress.late_dropped.load(Ordering::Relaxed))
            .sum();
        let verdict = self.realtime.sample(Instant::now(), frames, dropped, meter.late_ns.load(Ordering::Relaxed));
        let reaping = self.deps.reaper.in_flight();
        let channel = self.deps.config.channel;
        let (was_ok, now_ok) = (status.borrow().realtime, verdict.ok);
        if was_ok && !now_ok {
            tracing::warn!(%channel, late_ms = verdict.late_ms, dropped_pct = verdict.dropped_share * 100.0, "channel cannot keep real time: dropping frames");
        } else if !was_ok && now_ok {
            tracing::info!(%channel, "channel keeps real time again");
        }
        let changed = {
            let s = status.borrow();
            s.on_air != on_air
                || s.realtime != verdict.ok
                || s.late_ms / 100 != verdict.late_ms / 100
                || s.dropped_frames != dropped
                || s.late_dropped_frames != late_dropped
                || s.reaping != reaping
        };
        if changed {
            self.deps.report(status, |s| {
                s.on_air = on_air;
                s.realtime = verdict.ok;
                s.late_ms = verdict.late_ms;
                s.dropped_frames = dropped;
                s.late_dropped_frames = late_dropped;
                s.reaping = reaping;
            });
        }
    }
}
