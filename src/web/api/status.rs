//! `/api/status`: what the dashboard shows: every channel with its viewers, the box's CPU
//! use (from `/proc/stat`) and temperature (from `/sys/class/thermal`, where present), the
//! daemon's memory and the box's (`/proc`), tuner use, the encoder, the free space of the data
//! disk (a full one tops the errors), and recent errors. The page polls it every few seconds.

use std::sync::Mutex;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::guide::GuideProgram;
use crate::config::EncoderChoice;
use crate::db::space;
use crate::library::store as library_store;
use crate::lineup::store as lineup_store;
use crate::lineup::{ChannelId, GuideNumber};
use crate::schedule::store::{self as schedule_store, AsRunStatus};
use crate::web::WebState;
use crate::web::error::{Error, ResultExt};

/// CPU use between two polls, from `/proc/stat`.
#[derive(Debug, Default)]
pub struct CpuMeter {
    // std Mutex: one read-modify-write per poll, never across an await.
    last: Mutex<Option<(u64, u64)>>,
}

/// `(total, idle)` jiffies of the `cpu` line of `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    if v.len() < 4 {
        return None;
    }
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((v.iter().take(8).sum(), idle))
}

impl CpuMeter {
    /// Percent busy since the previous call (`None` on the first call or off Linux).
    pub fn sample(&self) -> Option<f64> {
        let now = parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let prev = self.last.lock().expect("cpu lock").replace(now)?;
        let (dt, di) = (now.0.checked_sub(prev.0)?, now.1.checked_sub(prev.1)?);
        (dt > 0).then(|| 100.0 * (dt - di.min(dt)) as f64 / dt as f64)
    }
}

/// Highest temperature of the thermal zones, in °C.
pub fn temperature_c() -> Option<f64> {
    let dir = std::fs::read_dir("/sys/class/thermal").ok()?;
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter_map(|e| std::fs::read_to_string(e.path().join("temp")).ok())
        .filter_map(|t| t.trim().parse::<f64>().ok())
        .map(|milli| milli / 1000.0)
        .filter(|c| (-40.0..150.0).contains(c))
        .reduce(f64::max)
}

/// The daemon's memory and the box's, in bytes (`None`: not known on this system).
#[derive(Debug, Default, Serialize)]
pub struct MemoryStatus {
    /// The daemon's resident memory (`VmRSS`).
    pub rss_bytes: Option<u64>,
    /// Its allocator's live blocks. An RSS that rises while this stays level is holes in the
    /// allocator's heaps, not a leak.
    pub heap_in_use_bytes: Option<u64>,
    /// Free space inside its allocator's heaps.
    pub heap_free_bytes: Option<u64>,
    /// The box's memory (`MemTotal`).
    pub box_total_bytes: Option<u64>,
    /// What the box can still give without swapping (`MemAvailable`).
    pub box_available_bytes: Option<u64>,
}

/// The value of a `key:` line given in kB (`/proc/self/status`, `/proc/meminfo`), in bytes.
pub fn proc_kb(text: &str, key: &str) -> Option<u64> {
    let rest = text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?;
    let kb: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kb * 1024)
}

/// The daemon's and the box's memory now; `heap` reads the allocator (see [`crate::web::HeapUse`]).
pub fn memory(heap: crate::web::HeapUse) -> MemoryStatus {
    let own = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let heap = heap();
    MemoryStatus {
        rss_bytes: proc_kb(&own, "VmRSS"),
        heap_in_use_bytes: heap.map(|h| h.0),
        heap_free_bytes: heap.map(|h| h.1),
        box_total_bytes: proc_kb(&meminfo, "MemTotal"),
        box_available_bytes: proc_kb(&meminfo, "MemAvailable"),
    }
}

/// One channel on the dashboard.
#[derive(Debug, Serialize)]
pub struct ChannelStatus {
    /// Id.
    pub id: ChannelId,
    /// Number.
    pub number: GuideNumber,
    /// Name.
    pub name: String,
    /// Enabled.
    pub enabled: bool,
    /// Viewers watching now.
    pub viewers: usize,
    /// Output is flowing (a keyframe is cached).
    pub running: bool,
    /// The channel keeps real time (a starved box drops frames and says so here).
    pub realtime: bool,
    /// How late its output is against the clock (ms, the mixers' latency included).
    pub late_ms: i64,
    /// Frames dropped before the encoder because the box was behind.
    pub dropped_frames: u64,
    /// The encoder element running it.
    pub encoder: Option<String>,
    /// Its last change of encoder (a failure and the fallback, or the preferred one tried
    /// again): when (UTC ms) and why.
    pub encoder_change: Option<Recovery>,
    /// Pipeline rebuilds since the channel started.
    pub restarts: u32,
    /// Times the content watchdog recovered the channel (item retried, pipeline rebuilt,
    /// playout replaced).
    pub watchdog_recoveries: u32,
    /// The last recovery: when (UTC ms) and what it did why.
    pub last_recovery: Option<Recovery>,
    /// On the air now.
    pub now: Option<GuideProgram>,
    /// Next.
    pub next: Option<GuideProgram>,
}

/// What the content watchdog (or the encoder fallback) did last on a channel.
#[derive(Debug, Serialize)]
pub struct Recovery {
    /// When (UTC ms).
    pub at: i64,
    /// What it did, why.
    pub what: String,
}

/// A recent problem.
#[derive(Debug, Serialize)]
pub struct RecentError {
    /// When (UTC ms), if known.
    pub at: Option<i64>,
    /// Where.
    pub what: String,
    /// The message.
    pub message: String,
}

/// The data disk (database, and HLS segments unless they have their own disk).
#[derive(Debug, Clone, Serialize)]
pub struct DiskStatus {
    /// The directory measured.
    pub path: String,
    /// Bytes free.
    pub free_bytes: u64,
    /// Size of the disk.
    pub total_bytes: u64,
    /// Too full to write: channels keep playing, but HLS, the as-run log and settings wait.
    pub full: bool,
}

/// The disks of the data directory and of the HLS directory (when it is on another one).
fn disks(state: &WebState) -> Vec<DiskStatus> {
    let mut found: Vec<(&std::path::Path, space::DiskSpace, u64)> = Vec::new();
    for dir in [&state.config.data_dir, &state.config.playout.hls_dir] {
        let (Ok(s), Ok(meta)) = (space::disk_space(dir), std::fs::metadata(dir)) else { continue };
        // The same filesystem twice (HLS under the data dir) is shown once.
        let device = std::os::unix::fs::MetadataExt::dev(&meta);
        if !found.iter().any(|(_, _, d)| *d == device) {
            found.push((dir, s, device));
        }
    }
    found
        .into_iter()
        .map(|(dir, s, _)| DiskStatus {
            path: dir.display().to_string(),
            free_bytes: s.free_bytes,
            total_bytes: s.total_bytes,
            full: s.is_full(),
        })
        .collect()
}

/// `GET /api/status`
#[derive(Debug, Serialize)]
pub struct Status {
    /// Device name.
    pub device_name: String,
    /// Server time (UTC ms).
    pub now: i64,
    /// Channels.
    pub channels: Vec<ChannelStatus>,
    /// Tuners offered.
    pub tuners: usize,
    /// Tuners leased now.
    pub tuners_in_use: usize,
    /// Viewers over every channel (HLS and TS).
    pub viewers: usize,
    /// Configured encoder (`auto` or an element).
    pub encoder: String,
    /// The encoder playout uses.
    pub encoder_in_use: Option<String>,
    /// Encoders found.
    pub encoders: Vec<String>,
    /// CPU busy, percent.
    pub cpu_percent: Option<f64>,
    /// Temperature, °C.
    pub temperature_c: Option<f64>,
    /// The daemon's memory and the box's.
    pub memory: MemoryStatus,
    /// The data disk (database; HLS too unless [`Status::disks`] lists another).
    pub disk: Option<DiskStatus>,
    /// Every disk written to, the data disk first.
    pub disks: Vec<DiskStatus>,
    /// Recent problems.
    pub errors: Vec<RecentError>,
}

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new().route("/status", get(show))
}

/// `GET /api/status`
pub async fn show(State(state): State<WebState>) -> Result<Json<Status>, Error> {
    // One trip to the database for everything it holds (each call waits its turn on the shared
    // connection, and a busy box made four of them take seconds).
    let now_ms = state.now_ms();
    let (since, until) = (now_ms - 24 * 3_600_000, now_ms + 60_000);
    let (channels, sources, on, aired) = state
        .db
        .call(move |c| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
            let mut channels = lineup_store::list(c)?;
            channels.sort_by_key(|ch| ch.number.sort_key());
            let sources = library_store::list_sources(c)?;
            let ids: Vec<ChannelId> = channels.iter().map(|ch| ch.id).collect();
            let on = schedule_store::now_next(c, &ids, now_ms)?;
            let aired = schedule_store::as_run(c, None, since, until, 500)?;
            Ok((channels, sources, on, aired))
        })
        .await
        .ctx("reading the status")?
        .map_err(|e| Error::internal("reading the status", e))?;
    let mut on = super::guide::now_next(on);
    let channels: Vec<ChannelStatus> = channels
        .into_iter()
        .map(|c| {
            let (now, next) = on.remove(&c.id).unwrap_or_default();
            let feed = state.hub.feed(c.id);
            let health = feed.health();
            ChannelStatus {
                now,
                next,
                viewers: state.hub.viewers(c.id),
                running: feed.cached_bytes() > 0,
                realtime: health.realtime,
                late_ms: health.late_ms,
                dropped_frames: health.dropped_frames,
                encoder: health.encoder,
                encoder_change: health.encoder_change.map(|(at, what)| Recovery { at: at.timestamp_millis(), what }),
                restarts: health.restarts,
                watchdog_recoveries: health.watchdog_recoveries,
                last_recovery: health.last_recovery.map(|(at, what)| Recovery { at: at.timestamp_millis(), what }),
                id: c.id,
                number: c.number,
                name: c.name,
                enabled: c.enabled,
            }
        })
        .collect();
    let numbers: std::collections::HashMap<ChannelId, String> =
        channels.iter().map(|c| (c.id, c.number.to_string())).collect();
    let mut errors: Vec<RecentError> = aired
        .into_iter()
        .filter(|e| e.status == AsRunStatus::Failed)
        .take(20)
        .map(|e| RecentError {
            at: Some(e.actual_start_ms),
            what: format!("channel {}", numbers.get(&e.channel_id).cloned().unwrap_or_default()),
            message: format!("{}: {}", e.title, e.error.unwrap_or_else(|| "failed".into())),
        })
        .collect();
    errors.extend(sources.into_iter().filter_map(|s| {
        s.last_error.map(|e| RecentError { at: s.last_sync_at, what: format!("source {}", s.name), message: e })
    }));
    let disks = disks(&state);
    for d in disks.iter().filter(|d| d.full) {
        errors.insert(
            0,
            RecentError {
                at: Some(state.now_ms()),
                what: "data disk".into(),
                message: format!(
                    "full: {} MiB free of {} MiB on {}; channels keep playing, but HLS, the as-run log and \
                     settings are not saved until space is freed",
                    d.free_bytes >> 20,
                    d.total_bytes >> 20,
                    d.path
                ),
            },
        );
    }
    Ok(Json(Status {
        device_name: state.config.device.friendly_name.clone(),
        now: state.now_ms(),
        viewers: channels.iter().map(|c| c.viewers).sum(),
        channels,
        tuners_in_use: (state.tuner_use)().0,
        tuners: (state.tuner_use)().1,
        encoder_in_use: state.encoder_in_use.clone(),
        encoder: match &state.config.playout.encoder {
            EncoderChoice::Auto => "auto".into(),
            EncoderChoice::Named(n) => n.clone(),
        },
        encoders: state.encoders.clone(),
        cpu_percent: state.cpu.sample(),
        temperature_c: temperature_c(),
        memory: memory(state.heap_use),
        disk: disks.first().cloned(),
        disks,
        errors,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_parses() {
        let t = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_proc_stat(t), Some((1000, 850)));
        assert_eq!(parse_proc_stat("intr 1 2"), None);
    }

    #[test]
    fn proc_kb_reads_a_line_in_kilobytes() {
        let status = "Name:\tretrovue\nVmPeak:\t  312000 kB\nVmRSS:\t  245760 kB\nThreads:\t99\n";
        assert_eq!(proc_kb(status, "VmRSS"), Some(245760 * 1024));
        assert_eq!(proc_kb(status, "Threads"), None, "not in kB");
        assert_eq!(proc_kb(status, "VmRS"), None, "a key is the whole name");
        let meminfo = "MemTotal:        3884008 kB\nMemFree:          120000 kB\nMemAvailable:    2500000 kB\n";
        assert_eq!(proc_kb(meminfo, "MemAvailable"), Some(2500000 * 1024));
        assert_eq!(proc_kb(meminfo, "SwapTotal"), None);
    }

    #[test]
    fn memory_reads_this_process_and_the_box() {
        let m = memory(|| Some((7, 3)));
        assert!(m.rss_bytes.is_some_and(|r| r > 1 << 20), "{m:?}");
        assert!(m.box_total_bytes.is_some_and(|t| t > m.rss_bytes.unwrap()), "{m:?}");
        assert!(m.box_available_bytes.is_some_and(|a| a <= m.box_total_bytes.unwrap()), "{m:?}");
        assert_eq!((m.heap_in_use_bytes, m.heap_free_bytes), (Some(7), Some(3)));
        assert_eq!(memory(|| None).heap_in_use_bytes, None);
    }
}
