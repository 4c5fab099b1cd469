//! Which alert is on which channel at an instant: pure functions of the stored alerts and
//! "now", so the rules are tested with plain values and a `ManualClock`.
//!
//! Rules: an alert is live from `starts_at` until the earlier of `ends_at` and `cleared_at`.
//! On each channel the live alert with the highest priority wins; equal priorities go first
//! come, first served (earlier start, then lower id), so a second alert queues behind the
//! first and shows when it ends, if it is still live then. Nothing is refused for
//! overlapping: alerts from different people and automations must all reach the screen.

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
        alerts.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.starts_at.cmp(&b.starts_at)).then(a.id.cmp(&b.id)));
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
}
