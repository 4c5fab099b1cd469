//! Pieces the playout benchmark examples share (`#[path = "common/mod.rs"] mod common;`).

use chrono::{DateTime, Utc};
use retrovue::lineup::ChannelId;
use retrovue::playout::{AsRunEvent, AsRunSink};

/// An as-run log that keeps nothing.
pub struct NoLog;

impl AsRunSink for NoLog {
    fn record(&self, _: AsRunEvent) {}
    fn interrupted(&self, _: ChannelId, _: DateTime<Utc>, _: &str) {}
}

/// utime + stime of this process, in seconds.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The middle value (mean of the two middle ones for an even count).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}
