//! Which alert is on which channel at an instant: pure functions of the stored alerts and
//! "now", so the rules are tested with plain values and a `ManualClock`.
//!
//! Rules: an alert is live from `starts_at` until the earlier of `ends_at` and `cleared_at`.
//! On each channel the live alert with the highest priority wins; equal priorities go first
//! come, first served (earlier start, then lower id), so a second alert queues behind the
//! first and shows when it ends, if it is still live then. Nothing is refused for
//! overlapping: alerts from different people and automations must all reach the screen.
//!
//! A channel decides each frame by that frame's own air instant ([`AlertTimeline`]), not by
//! when its pipeline happens to process it, so the slate starts and stops where the alert
//! does on the channel's timeline.

use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::model::Alert;
use crate::lineup::GuideNumber;

/// The live alerts at one instant, best first. Shared with every channel through a watch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActiveAlerts {
    /// Live alerts in precedence order (highest priority, then earliest start, then id).
    pub alerts: Vec<Alert>,
}

impl ActiveAlerts {
    /// The live alerts among `all` at `now`, best first.
    pub fn at(all: &[Alert], now: DateTime<Utc>) -> Self {
        let mut alerts: Vec<Alert> = all.iter().filter(|a| a.is_live(now)).cloned().collect();
        alerts.sort_by(precedence);
        Self { alerts }
    }

    /// The alert a channel shows: the first live alert that covers it.
    pub fn for_channel(&self, number: &GuideNumber) -> Option<&Alert> {
        self.alerts.iter().find(|a| a.channels.covers(number))
    }

    /// Alerts waiting behind the one a channel shows.
    pub fn queued_for(&self, number: &GuideNumber) -> Vec<&Alert> {
        self.alerts.iter().filter(|a| a.channels.covers(number)).skip(1).collect()
    }

    /// Whether nothing is live.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

/// Which of two alerts goes first: higher priority, then the earlier start, then the lower id.
fn precedence(a: &Alert, b: &Alert) -> Ordering {
    b.priority.cmp(&a.priority).then(a.starts_at.cmp(&b.starts_at)).then(a.id.cmp(&b.id))
}

/// How long a stopped alert is remembered: longer than any pipeline holds a frame.
const REMEMBER: chrono::Duration = chrono::Duration::seconds(10);

/// The live sets one channel has followed, with the instant each alert stopped, so a picture
/// or sound buffer is decided by its own air instant. A pipeline processes a frame a little
/// after that instant (the mixers wait for live input): decided by the processing time, the
/// frames airing in the last moments before a clear would lose the slate and those airing
/// just before a raise would gain it. Here the slate covers exactly the frames that air from
/// the alert's start until its stop; an alert cleared by hand stops, for this channel, when
/// the channel learned of the clear (a few milliseconds after it), never before.
#[derive(Debug, Default)]
pub struct AlertTimeline {
    /// The live set last followed.
    last: Option<Arc<ActiveAlerts>>,
    /// Alerts live in it, or stopped within [`REMEMBER`] (with their stop instant set).
    known: Vec<Arc<Alert>>,
}

impl AlertTimeline {
    /// Follow the live set as published at `now`.
    pub fn observe(&mut self, live: &Arc<ActiveAlerts>, now: DateTime<Utc>) {
        if self.last.as_ref().is_some_and(|l| Arc::ptr_eq(l, live)) {
            return;
        }
        for a in &mut self.known {
            let gone = !live.alerts.iter().any(|l| l.id == a.id);
            if gone && a.stops_at().is_none_or(|s| s > now) {
                Arc::make_mut(a).cleared_at = Some(now);
            }
        }
        for l in &live.alerts {
            match self.known.iter_mut().find(|a| a.id == l.id) {
                Some(a) if **a != *l => *a = Arc::new(l.clone()),
                Some(_) => {}
                None => self.known.push(Arc::new(l.clone())),
            }
        }
        self.known.retain(|a| a.stops_at().is_none_or(|s| s + REMEMBER > now));
        self.last = Some(live.clone());
    }

    /// The alert `number` shows at `at` (the air instant of a frame or buffer).
    pub fn for_channel_at(&self, number: &GuideNumber, at: DateTime<Utc>) -> Option<Arc<Alert>> {
        self.known
            .iter()
            .filter(|a| a.is_live(at) && a.channels.covers(number))
            .min_by(|a, b| precedence(a, b))
            .cloned()
    }
}

/// The next instant after `now` at which the live set can change (a start or a stop).
pub fn next_change(all: &[Alert], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    all.iter().flat_map(|a| [Some(a.starts_at), a.stops_at()]).flatten().filter(|t| *t > now).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::emergency::model::{AlertChannels, AlertId, AlertMode, AlertOrigin};
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 21, 0, 0).unwrap()
    }

    fn alert(id: i64, priority: u8, start_min: i64, end_min: Option<i64>, channels: &str) -> Alert {
        Alert {
            id: AlertId(id),
            message: format!("alert {id}"),
            priority,
            channels: channels.parse().unwrap(),
            mode: AlertMode::Crawl,
            tone: false,
            starts_at: t0() + Duration::minutes(start_min),
            ends_at: end_min.map(|m| t0() + Duration::minutes(m)),
            cleared_at: None,
            origin: AlertOrigin::Cli,
            created_at: t0(),
        }
    }

    fn shown(set: &ActiveAlerts, ch: &str) -> Option<i64> {
        set.for_channel(&ch.parse().unwrap()).map(|a| a.id.0)
    }

    #[test]
    fn alerts_start_and_expire_with_the_clock() {
        let clock = ManualClock::new(t0());
        let all = vec![alert(1, 0, 1, Some(3), "all")];
        assert!(ActiveAlerts::at(&all, clock.now()).is_empty());
        assert_eq!(next_change(&all, clock.now()), Some(t0() + Duration::minutes(1)));
        clock.advance(Duration::minutes(1));
        assert_eq!(shown(&ActiveAlerts::at(&all, clock.now()), "5"), Some(1));
        assert_eq!(next_change(&all, clock.now()), Some(t0() + Duration::minutes(3)));
        clock.advance(Duration::seconds(119));
        assert_eq!(shown(&ActiveAlerts::at(&all, clock.now()), "5"), Some(1));
        clock.advance(Duration::seconds(1));
        assert!(ActiveAlerts::at(&all, clock.now()).is_empty());
        assert_eq!(next_change(&all, clock.now()), None);
    }

    #[test]
    fn highest_priority_wins_and_others_queue() {
        let clock = ManualClock::new(t0());
        let all = vec![alert(1, 1, 0, Some(10), "all"), alert(2, 5, 2, Some(4), "5"), alert(3, 1, 1, Some(20), "all")];
        let at = |m| ActiveAlerts::at(&all, t0() + Duration::minutes(m));
        clock.advance(Duration::minutes(1));
        let set = ActiveAlerts::at(&all, clock.now());
        assert_eq!(shown(&set, "5"), Some(1));
        assert_eq!(set.queued_for(&"5".parse().unwrap()).iter().map(|a| a.id.0).collect::<Vec<_>>(), [3]);
        // The priority-5 alert pre-empts channel 5 only.
        assert_eq!((shown(&at(2), "5"), shown(&at(2), "7")), (Some(2), Some(1)));
        // When it ends, channel 5 goes back to the first alert.
        assert_eq!(shown(&at(4), "5"), Some(1));
        // When the first ends, the queued one shows.
        assert_eq!((shown(&at(10), "5"), shown(&at(10), "7")), (Some(3), Some(3)));
        assert!(at(20).is_empty());
    }

    #[test]
    fn clearing_stops_an_open_ended_alert() {
        let mut a = alert(1, 0, 0, None, "all");
        assert!(a.is_live(t0() + Duration::days(3)));
        a.cleared_at = Some(t0() + Duration::minutes(5));
        assert!(a.is_live(t0() + Duration::minutes(4)));
        assert!(!a.is_live(t0() + Duration::minutes(5)));
        assert!(a.is_over(t0() + Duration::minutes(5)));
        // A clear before the end wins; an end before the clear too.
        a.ends_at = Some(t0() + Duration::minutes(2));
        assert_eq!(a.stops_at(), Some(t0() + Duration::minutes(2)));
        assert_eq!(AlertChannels::All.to_string(), "all");
    }

    #[test]
    fn a_channel_decides_by_the_air_instant_of_each_frame() {
        let ms = |n: i64| t0() + Duration::milliseconds(n);
        let five: GuideNumber = "5".parse().unwrap();
        let mut a = alert(1, 0, 0, None, "all");
        a.starts_at = ms(1000);
        let mut tl = AlertTimeline::default();
        let shown = |tl: &AlertTimeline, at| tl.for_channel_at(&five, at).map(|a| a.id.0);
        tl.observe(&Arc::new(ActiveAlerts::default()), ms(900));
        assert_eq!(shown(&tl, ms(950)), None);
        // Raised at 1000, published and first seen at 1010: a frame airing at 990 that is
        // processed now has no slate; one airing at 1000 has.
        tl.observe(&Arc::new(ActiveAlerts::at(std::slice::from_ref(&a), ms(1010))), ms(1010));
        assert_eq!((shown(&tl, ms(990)), shown(&tl, ms(1000))), (None, Some(1)));
        // Cleared at 5000, seen gone at 5012: frames airing until then keep the slate.
        tl.observe(&Arc::new(ActiveAlerts::default()), ms(5012));
        assert_eq!((shown(&tl, ms(4990)), shown(&tl, ms(5011)), shown(&tl, ms(5012))), (Some(1), Some(1), None));
        // The same set again changes nothing; a later set forgets the alert after a while.
        let empty = Arc::new(ActiveAlerts::default());
        tl.observe(&empty, ms(6000));
        tl.observe(&empty, ms(7000));
        assert_eq!(shown(&tl, ms(5000)), Some(1));
        tl.observe(&Arc::new(ActiveAlerts::default()), ms(16_000));
        assert_eq!(shown(&tl, ms(5000)), None);
    }

    #[test]
    fn an_expired_alert_keeps_its_end_and_precedence_holds_across_a_change() {
        let ms = |n: i64| t0() + Duration::milliseconds(n);
        let five: GuideNumber = "5".parse().unwrap();
        // Alert 1 (priority 1) runs 0..3 min by itself; alert 2 (priority 5) from 1 min, open.
        let low = alert(1, 1, 0, Some(3), "all");
        let high = alert(2, 5, 1, None, "5");
        let all = vec![low.clone(), high.clone()];
        let mut tl = AlertTimeline::default();
        tl.observe(&Arc::new(ActiveAlerts::at(&all, ms(10))), ms(10));
        assert_eq!(tl.for_channel_at(&five, ms(30_000)).map(|a| a.id.0), Some(1));
        // Alert 2 published 40 ms late: frames airing before its start still show alert 1.
        let later = t0() + Duration::minutes(1) + Duration::milliseconds(40);
        tl.observe(&Arc::new(ActiveAlerts::at(&all, later)), later);
        assert_eq!(tl.for_channel_at(&five, later - Duration::milliseconds(50)).map(|a| a.id.0), Some(1));
        assert_eq!(tl.for_channel_at(&five, later).map(|a| a.id.0), Some(2));
        assert_eq!(tl.for_channel_at(&"7".parse().unwrap(), later).map(|a| a.id.0), Some(1));
        // Alert 1 expires at 3 min and is seen gone 2 s later: its end stays 3 min.
        let seen = t0() + Duration::minutes(3) + Duration::seconds(2);
        tl.observe(&Arc::new(ActiveAlerts::at(&all, seen)), seen);
        let seven: GuideNumber = "7".parse().unwrap();
        assert_eq!(tl.for_channel_at(&seven, t0() + Duration::minutes(3)).map(|a| a.id.0), None);
        assert_eq!(
            tl.for_channel_at(&seven, t0() + Duration::minutes(3) - Duration::milliseconds(1)).map(|a| a.id.0),
            Some(1)
        );
    }
}
