//! Whether the wall clock can be trusted yet.
//!
//! A Raspberry Pi has no real-time clock: it boots at 1970 (or the image's build date) and
//! learns the time when systemd-timesyncd reaches an NTP server, which can take a while or
//! never happen without a network. Until then the daemon still starts (web page, tuner), but
//! schedules must not air 1970. The director runs [`monitor`], which publishes a
//! [`ClockSync`] on a `watch` channel; everything that plans by the wall clock reads it:
//!
//! - schedule / playout: `sync::wait_until_trusted(&mut rx).await` before building or airing
//!   anything from "now"; while [`ClockSync::NotSynced`], show the slate instead.
//! - web / status: [`ClockSync::label`] ("clock not synced" until NTP has answered).
//!
//! Detection: NTP synchronised when `/run/systemd/timesync/synchronized` exists (timesyncd
//! creates it on first sync, see systemd-time-wait-sync.service(8)); otherwise the clock is
//! trusted when [`crate::clock::plausible`] (timesyncd restores the last saved time at boot,
//! and a development machine without timesyncd keeps a correct clock).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::SharedClock;

/// The flag file systemd-timesyncd creates once it has synchronised the clock.
pub const TIMESYNC_FLAG: &str = "/run/systemd/timesync/synchronized";

/// How far the wall clock can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockSync {
    /// NTP has synchronised the clock.
    Synced,
    /// Not (yet) confirmed by NTP, but plausible: schedules may run.
    Plausible,
    /// Before 2024: not synced, schedules wait.
    NotSynced,
}

impl ClockSync {
    /// Whether schedules may plan and air by this clock.
    pub fn is_trusted(self) -> bool {
        self != ClockSync::NotSynced
    }

    /// A short text for status lines and the web page.
    pub fn label(self) -> &'static str {
        match self {
            ClockSync::Synced => "clock synced",
            ClockSync::Plausible => "clock not confirmed by NTP",
            ClockSync::NotSynced => "clock not synced",
        }
    }
}

/// The receiving side every component holds.
pub type ClockWatch = watch::Receiver<ClockSync>;

/// The state now, given the timesyncd flag file to look at.
pub fn detect(clock: &SharedClock, flag: &Path) -> ClockSync {
    if flag.exists() {
        ClockSync::Synced
    } else if clock.is_plausible() {
        ClockSync::Plausible
    } else {
        ClockSync::NotSynced
    }
}

/// A watch channel holding the state now.
pub fn channel(clock: &SharedClock, flag: &Path) -> (watch::Sender<ClockSync>, ClockWatch) {
    watch::channel(detect(clock, flag))
}

/// Re-check every `every` and publish changes until `cancel`; stops early once synced (it
/// stays synced: timesyncd keeps the flag for the life of the boot).
pub async fn monitor(
    clock: SharedClock,
    flag: PathBuf,
    tx: watch::Sender<ClockSync>,
    every: Duration,
    cancel: CancellationToken,
) {
    loop {
        let now = detect(&clock, &flag);
        tx.send_if_modified(|s| {
            let changed = *s != now;
            if changed {
                tracing::info!(from = s.label(), to = now.label(), "wall clock state changed");
                *s = now;
            }
            changed
        });
        if now == ClockSync::Synced {
            return;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Wait until the clock is trusted ([`ClockSync::is_trusted`]). Returns at once if it is;
/// `Err` if the monitor is gone while it is still not (the daemon is shutting down).
pub async fn wait_until_trusted(rx: &mut ClockWatch) -> Result<ClockSync, watch::error::RecvError> {
    rx.wait_for(|s| s.is_trusted()).await.map(|s| *s)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn flag_file_wins_then_plausibility_decides() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("synchronized");
        let manual = ManualClock::new(Utc.timestamp_opt(0, 0).unwrap());
        let clock: SharedClock = Arc::new(manual.clone());
        assert_eq!(detect(&clock, &flag), ClockSync::NotSynced);
        assert!(!ClockSync::NotSynced.is_trusted());
        manual.set(Utc.with_ymd_and_hms(2026, 11, 23, 22, 0, 0).unwrap());
        assert_eq!(detect(&clock, &flag), ClockSync::Plausible);
        std::fs::write(&flag, b"").unwrap();
        assert_eq!(detect(&clock, &flag), ClockSync::Synced);
        // A synced flag with an implausible clock still counts: NTP said so.
        manual.set(Utc.timestamp_opt(0, 0).unwrap());
        assert_eq!(detect(&clock, &flag), ClockSync::Synced);
    }

    #[tokio::test]
    async fn waiters_wake_when_ntp_answers_and_the_monitor_stops() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("synchronized");
        let manual = ManualClock::new(Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 42).unwrap());
        let clock: SharedClock = Arc::new(manual.clone());
        let (tx, mut rx) = channel(&clock, &flag);
        assert_eq!(*rx.borrow(), ClockSync::NotSynced);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(monitor(clock.clone(), flag.clone(), tx, Duration::from_millis(10), cancel.clone()));
        let waiter = tokio::spawn(async move { wait_until_trusted(&mut rx).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "a 1970 clock must hold schedules back");

        // timesyncd steps the clock and raises its flag.
        manual.set(Utc.with_ymd_and_hms(2026, 11, 23, 22, 0, 0).unwrap());
        std::fs::write(&flag, b"").unwrap();
        let state = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap().unwrap();
        assert!(state.is_trusted());
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("monitor stops once synced").unwrap();
        assert!(!cancel.is_cancelled());
    }

    #[tokio::test]
    async fn waiting_ends_with_an_error_when_the_monitor_is_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("synchronized");
        let clock: SharedClock = Arc::new(ManualClock::new(Utc.timestamp_opt(0, 0).unwrap()));
        let (tx, mut rx) = channel(&clock, &flag);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(monitor(clock, flag, tx, Duration::from_millis(10), cancel.clone()));
        cancel.cancel();
        task.await.unwrap();
        assert!(wait_until_trusted(&mut rx).await.is_err());
    }
}
