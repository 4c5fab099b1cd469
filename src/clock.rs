//! The only source of "now". Everything that needs the wall clock takes a [`Clock`];
//! production code uses [`SystemClock`], tests drive a [`ManualClock`].
//!
//! Instants are `chrono::DateTime<Utc>`; the database stores them as UTC milliseconds
//! ([`to_ms`] / [`from_ms`]).

pub mod sync;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};

/// A source of the current wall-clock instant.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Whether the clock is plausibly correct (synchronised, not 1970 on a Pi without an RTC).
    fn is_plausible(&self) -> bool {
        plausible(self.now())
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// Earliest instant we accept as a real "now" (a box without an RTC boots in 1970 or at the
/// image build date until NTP answers).
pub fn plausible(now: DateTime<Utc>) -> bool {
    now.timestamp() >= 1_704_067_200 // 2024-01-01T00:00:00Z
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Clone)]
pub struct ManualClock {
    // std Mutex: held for a copy only, never across an await.
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self { now: Arc::new(Mutex::new(now)) }
    }

    /// Set the current instant.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().expect("clock lock") = now;
    }

    /// Move the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().expect("clock lock");
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock")
    }
}

/// Milliseconds since the Unix epoch, as stored in the database.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The instant for a stored millisecond value (saturating at the representable range).
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Format a duration in ms as `hh:mm:ss.ff` (hundredths), the way durations are displayed.
pub fn format_duration_ms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let h = ms / 3_600_000;
    let m = ms / 60_000 % 60;
    let s = ms / 1000 % 60;
    let cs = ms % 1000 / 10;
    format!("{sign}{h:02}:{m:02}:{s:02}.{cs:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2026, 11, 23, 20, 13, 41).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(chrono::Duration::seconds(90));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
        assert!(clock.is_plausible());
        clock.set(Utc.timestamp_opt(0, 0).unwrap());
        assert!(!clock.is_plausible());
    }

    #[test]
    fn ms_round_trip() {
        let t = Utc.with_ymd_and_hms(2028, 2, 29, 23, 59, 59).unwrap() + chrono::Duration::milliseconds(7);
        assert_eq!(from_ms(to_ms(t)), t);
    }

    #[test]
    fn durations_display_as_hh_mm_ss_ff() {
        assert_eq!(format_duration_ms(0), "00:00:00.00");
        assert_eq!(format_duration_ms(1_324_567), "00:22:04.56");
        assert_eq!(format_duration_ms(90_061_990), "25:01:01.99");
    }
}
