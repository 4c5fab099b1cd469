//! Loading the box for the loaded-box tests (issue #21): a CPU quota on one process (cgroup v2
//! `cpu.max`, cgroup v1 `cpu.cfs_quota_us`, or SIGSTOP/SIGCONT bursts where neither is
//! writable), competing busy-loop hogs, a process's CPU time, and black/silence detection on a
//! viewer's capture with ffmpeg's `blackdetect` and `silencedetect`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Scheduler period of the quota (µs): short, so a throttled daemon is frozen for at most a
/// fraction of it at a time, like a box busy with other work rather than a box that pauses.
const PERIOD_US: u64 = 100_000;

/// How a [`CpuQuota`] holds its process back.
#[derive(Debug, Clone, PartialEq)]
pub enum QuotaKind {
    /// cgroup v2 `cpu.max` in this directory.
    V2(PathBuf),
    /// cgroup v1 `cpu.cfs_quota_us` in this directory.
    V1(PathBuf),
    /// SIGSTOP/SIGCONT in every period (no writable cgroup): coarser, but a quota still.
    Signals,
}

/// A CPU quota on one process (and the threads and children it starts later), in cores
/// (1.0 = one core's worth of CPU time per wall second). Removed on drop.
pub struct CpuQuota {
    pub kind: QuotaKind,
    pid: u32,
    /// Millicores, shared with the signal thread.
    milli: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn cgroup_v2_root() -> Option<PathBuf> {
    // A unified hierarchy at /sys/fs/cgroup (or a hybrid one at /sys/fs/cgroup/unified) with
    // the cpu controller available to children.
    for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let root = PathBuf::from(root);
        let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "cpu") {
            return Some(root);
        }
    }
    None
}

fn cgroup_v1_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.join("cpu.cfs_quota_us").exists())
}

impl CpuQuota {
    /// Hold `pid` to `cores` (e.g. 0.6). Tries cgroup v2, then v1, then signals.
    pub fn apply(pid: u32, cores: f64) -> Self {
        let name = format!("retrovue-load-{}-{pid}", std::process::id());
        let milli = Arc::new(AtomicU64::new((cores * 1000.0).round().max(10.0) as u64));
        let stop = Arc::new(AtomicBool::new(false));
        let mut this = Self { kind: QuotaKind::Signals, pid, milli, stop, thread: None };
        if let Some(root) = cgroup_v2_root() {
            let dir = root.join(&name);
            // The parent must delegate the cpu controller to its children.
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+cpu");
            if std::fs::create_dir_all(&dir).is_ok() && dir.join("cpu.max").exists() {
                this.kind = QuotaKind::V2(dir.clone());
                if this.write_quota().is_ok() && std::fs::write(dir.join("cgroup.procs"), pid.to_string()).is_ok() {
                    return this;
                }
                let _ = std::fs::remove_dir(&dir);
            }
        }
        if let Some(root) = cgroup_v1_root() {
            let dir = root.join(&name);
            if std::fs::create_dir_all(&dir).is_ok() {
                this.kind = QuotaKind::V1(dir.clone());
                if this.write_quota().is_ok() && std::fs::write(dir.join("cgroup.procs"), pid.to_string()).is_ok() {
                    return this;
                }
                let _ = std::fs::remove_dir(&dir);
            }
        }
        this.kind = QuotaKind::Signals;
        let (milli, stop) = (this.milli.clone(), this.stop.clone());
        this.thread = Some(std::thread::spawn(move || {
            // Run for quota/period of each period, stopped for the rest; on 2 cores one core's
            // worth is the whole period running on one of them, so a share above 1 core never
            // stops it (the coarse fallback cannot do better).
            let period = Duration::from_micros(PERIOD_US);
            while !stop.load(Ordering::Relaxed) {
                let share = (milli.load(Ordering::Relaxed) as f64 / 1000.0 / cores_online() as f64).min(1.0);
                let run = period.mul_f64(share);
                std::thread::sleep(run);
                if share < 1.0 {
                    signal(pid, "STOP");
                    std::thread::sleep(period - run);
                    signal(pid, "CONT");
                }
            }
            signal(pid, "CONT");
        }));
        this
    }

    fn write_quota(&self) -> std::io::Result<()> {
        let quota = self.milli.load(Ordering::Relaxed) * PERIOD_US / 1000;
        match &self.kind {
            // A heavy weight as well: a group weighs as much as ONE process by default, so on
            // a box busy with other work it would get far less than its quota (a share of one
            // process among many) and the quota would not be what holds it back.
            QuotaKind::V2(dir) => {
                let _ = std::fs::write(dir.join("cpu.weight"), "10000");
                std::fs::write(dir.join("cpu.max"), format!("{quota} {PERIOD_US}"))
            }
            QuotaKind::V1(dir) => {
                let _ = std::fs::write(dir.join("cpu.shares"), "262144");
                std::fs::write(dir.join("cpu.cfs_period_us"), PERIOD_US.to_string())?;
                std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string())
            }
            QuotaKind::Signals => Ok(()),
        }
    }

    /// Change the quota (cores).
    pub fn set(&self, cores: f64) {
        self.milli.store((cores * 1000.0).round().max(10.0) as u64, Ordering::Relaxed);
        let _ = self.write_quota();
    }

    /// The quota now (cores).
    pub fn cores(&self) -> f64 {
        self.milli.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// How often and how long the group was throttled (cgroups only): (periods, throttled
    /// periods, throttled seconds).
    pub fn throttling(&self) -> Option<(u64, u64, f64)> {
        let dir = match &self.kind {
            QuotaKind::V1(d) | QuotaKind::V2(d) => d,
            QuotaKind::Signals => return None,
        };
        let stat = std::fs::read_to_string(dir.join("cpu.stat")).ok()?;
        let get = |k: &str| cpu_stat_value(&stat, k).unwrap_or(0);
        let secs = throttled_secs(&stat, matches!(self.kind, QuotaKind::V1(_))).unwrap_or(0.0);
        Some((get("nr_periods"), get("nr_throttled"), secs))
    }

    /// Describe the mechanism (for the test's output).
    pub fn describe(&self) -> String {
        match &self.kind {
            QuotaKind::V2(d) => format!("cgroup v2 cpu.max in {}", d.display()),
            QuotaKind::V1(d) => format!("cgroup v1 cpu.cfs_quota_us in {}", d.display()),
            QuotaKind::Signals => "SIGSTOP/SIGCONT bursts (no writable cgroup)".into(),
        }
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let QuotaKind::V1(dir) | QuotaKind::V2(dir) = &self.kind {
            // Move whatever is left back to the parent, then remove the group.
            let parent = dir.parent().expect("cgroup parent").join("cgroup.procs");
            for p in std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default().lines() {
                let _ = std::fs::write(&parent, p);
            }
            let _ = std::fs::remove_dir(dir);
        }
        let _ = self.pid;
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).stderr(Stdio::null()).status();
}

/// CPUs online.
pub fn cores_online() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// CPU time (user + system) a process used so far, in seconds (0 if it is gone). Includes
/// its threads; not its children.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may contain spaces) close with ')'.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the state.
    (ticks(11) + ticks(12)) as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Competing busy loops (separate processes, default priority), killed on drop.
pub struct Hogs(Vec<Child>);

impl Hogs {
    pub fn start(n: usize) -> Self {
        Self(
            (0..n)
                .map(|_| Command::new("sh").args(["-c", "while :; do :; done"]).spawn().expect("start a CPU hog"))
                .collect(),
        )
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A span of black picture or silence in a capture, in seconds from its first frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    /// "black" or "silence".
    pub what: &'static str,
    pub start: f64,
    pub end: f64,
}

impl Gap {
    pub fn secs(&self) -> f64 {
        self.end - self.start
    }
}

/// Black (luma below 10% on 98% of the picture) and silence (below -60 dBFS) of at least
/// `min_secs` in a TS capture, by ffmpeg's `blackdetect` and `silencedetect`. A span still
/// open when the capture ends closes at its duration. Also returns the decoded duration.
pub fn black_and_silence(capture: &Path, min_secs: f64) -> (Vec<Gap>, f64) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-v", "info", "-i"])
        .arg(capture)
        .args([
            "-vf",
            &format!("blackdetect=d={min_secs}:pix_th=0.10"),
            "-af",
            &format!("silencedetect=n=-60dB:d={min_secs}"),
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("run ffmpeg");
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // Nothing decoded: the caller's check of the decoded length catches it.
        eprintln!("ffmpeg could not decode {}: {}", capture.display(), log.lines().last().unwrap_or(""));
        return (Vec::new(), 0.0);
    }
    let (mut gaps, dur) = parse_detect(&log);
    // A stream that is not there is black (no pictures) or silent (no sound) throughout.
    let has = |kind: &str| log.lines().any(|l| l.trim_start().starts_with("Stream #0:") && l.contains(kind));
    for (kind, what) in [(": Video:", "black"), (": Audio:", "silence")] {
        if !has(kind) {
            gaps.push(Gap { what, start: 0.0, end: dur });
        }
    }
    (gaps, dur)
}

/// Parse ffmpeg's `blackdetect`/`silencedetect` lines (split out for a unit test).
pub fn parse_detect(log: &str) -> (Vec<Gap>, f64) {
    let num = |s: &str, key: &str| -> Option<f64> {
        let i = s.find(key)? + key.len();
        s[i..].trim_start().split(|c: char| c.is_whitespace() || c == '|').next()?.parse().ok()
    };
    let mut gaps = Vec::new();
    let mut silence_from: Option<f64> = None;
    let mut duration: f64 = 0.0;
    for line in log.lines() {
        if let (Some(s), Some(e)) = (num(line, "black_start:"), num(line, "black_end:")) {
            gaps.push(Gap { what: "black", start: s, end: e });
        }
        if let Some(s) = num(line, "silence_start:") {
            silence_from = Some(s);
        }
        if let Some(e) = num(line, "silence_end:") {
            let d = num(line, "silence_duration:").unwrap_or(0.0);
            gaps.push(Gap { what: "silence", start: silence_from.take().unwrap_or(e - d), end: e });
        }
        // "size=N time=00:01:02.03 bitrate=…" (the last progress line): decoded duration.
        if let Some(t) = line.find(" time=").map(|i| &line[i + 6..]) {
            let t = t.split_whitespace().next().unwrap_or("");
            let p: Vec<f64> = t.split(':').filter_map(|x| x.parse().ok()).collect();
            if p.len() == 3 {
                duration = duration.max(p[0] * 3600.0 + p[1] * 60.0 + p[2]);
            }
        }
    }
    if let Some(s) = silence_from {
        gaps.push(Gap { what: "silence", start: s, end: duration.max(s) });
    }
    (gaps, duration)
}

/// One blocking HTTP/1.1 GET on loopback with an optional cookie: (status, body, elapsed).
/// `None` when the daemon did not answer within `timeout`.
pub fn http_get(addr: &str, path: &str, cookie: Option<&str>, timeout: Duration) -> Option<(u16, String, Duration)> {
    http(addr, "GET", path, cookie, None, timeout).map(|(s, _, b, t)| (s, b, t))
}

/// One blocking HTTP/1.1 request: (status, headers, body, elapsed).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    json: Option<&str>,
    timeout: Duration,
) -> Option<(u16, String, String, Duration)> {
    use std::io::{Read, Write};
    let t0 = std::time::Instant::now();
    let sock: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&sock, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    if let Some(body) = json {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    if let Some(body) = json {
        req.push_str(body);
    }
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if t0.elapsed() > timeout {
            return None;
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk_text(body)
    } else {
        body.to_owned()
    };
    Some((status, head.to_owned(), body, t0.elapsed()))
}

fn dechunk_text(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Set the admin password of a fresh daemon and return its session cookie (`name=value`).
pub fn admin_cookie(addr: &str, password: &str) -> String {
    let body = format!("{{\"password\":\"{password}\"}}");
    let (status, head, text, _) =
        http(addr, "POST", "/api/setup", None, Some(&body), Duration::from_secs(90)).expect("POST /api/setup answered");
    assert!((200..300).contains(&status), "setup failed: {status} {text}");
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie").then(|| v.trim().split(';').next().unwrap_or("").to_owned())
        })
        .expect("a session cookie")
}

/// Save what `GET path` sends for `secs` into `file`; the wall-clock instant its first bytes
/// arrived (None if nothing came). Handles chunked transfer encoding.
pub fn record(addr: &str, path: &str, secs: f64, file: &Path) -> Option<chrono::DateTime<chrono::Utc>> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") {
        return None;
    }
    let chunked = head.contains("transfer-encoding: chunked");
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).ok()?);
    let (start, mut first) = (std::time::Instant::now(), None);
    let (mut raw, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
    while start.elapsed().as_secs_f64() < secs {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        first.get_or_insert_with(chrono::Utc::now);
        if !chunked {
            out.write_all(&buf[..n]).ok()?;
            continue;
        }
        raw.extend_from_slice(&buf[..n]);
        while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..eol]).trim(), 16).unwrap_or(0);
            if raw.len() < eol + 2 + size + 2 {
                break;
            }
            out.write_all(&raw[eol + 2..eol + 2 + size]).ok()?;
            raw.drain(..eol + 2 + size + 2);
        }
    }
    out.flush().ok()?;
    first
}

/// What the daemon's log (ANSI stripped) says of items whose sound came late for its mixer:
/// (items, ms of sound aired moved later, ms skipped to get back on time).
pub fn late_sound(log: &str) -> (usize, u64, u64) {
    let field = |line: &str, key: &str| -> u64 {
        line.split_whitespace().find_map(|w| w.strip_prefix(key)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    log.lines()
        .filter(|l| l.contains("item's sound came late for the mixer"))
        .fold((0, 0, 0), |(n, moved, skipped), l| {
            (n + 1, moved + field(l, "late_ms="), skipped + field(l, "skipped_ms="))
        })
}

/// A log without its ANSI colour codes.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Seconds of `gaps` that fall inside [from, to) (seconds of the capture).
pub fn gap_secs_within(gaps: &[Gap], what: &str, from: f64, to: f64) -> f64 {
    gaps.iter().filter(|g| g.what == what).map(|g| (g.end.min(to) - g.start.max(from)).max(0.0)).sum()
}

/// Spans (ms, per channel id) in which the schedule asks for black/silence: slates, items
/// without media, and gaps between items.
pub fn asked_for_gaps(db: &retrovue::db::Db, from_ms: i64, to_ms: i64) -> Vec<(i64, i64, i64)> {
    db.call_blocking(move |c| {
        let mut q = c
            .prepare(
                "SELECT channel_id, start_ms, end_ms, kind, uri FROM schedule_items
                 WHERE end_ms >= ?1 AND start_ms <= ?2 ORDER BY channel_id, start_ms",
            )
            .unwrap();
        let rows: Vec<(i64, i64, i64, String, Option<String>)> = q
            .query_map([from_ms, to_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut spans = Vec::new();
        for (i, (ch, s, e, kind, uri)) in rows.iter().enumerate() {
            if kind == "slate" || uri.is_none() {
                spans.push((*ch, *s, *e));
            }
            if let Some((nch, ns, _, _, _)) = rows.get(i + 1)
                && nch == ch
                && *ns > *e
            {
                spans.push((*ch, *e, *ns));
            }
        }
        spans
    })
}

/// The black and silence of a short capture of channel `number` whose first bytes came at
/// `first_bytes` that the schedule did not ask for ([`asked_for_gaps`]; the capture's time
/// maps to wall time through its first byte, give or take a second).
pub fn unasked_gaps(
    db: &retrovue::db::Db,
    number: &str,
    first_bytes: chrono::DateTime<chrono::Utc>,
    gaps: &[Gap],
) -> Vec<Gap> {
    let at = |secs: f64| first_bytes.timestamp_millis() + (secs * 1000.0) as i64;
    let asked = asked_for_gaps(db, at(-60.0), at(60.0));
    let channel = channel_id(db, number);
    gaps.iter().filter(|g| !asked_for(&asked, channel, at(g.start), at(g.end), 1_000)).cloned().collect()
}

/// The database id of the channel numbered `number`.
pub fn channel_id(db: &retrovue::db::Db, number: &str) -> i64 {
    let n = number.to_owned();
    db.call_blocking(move |c| c.query_row("SELECT id FROM channels WHERE number = ?1", [n], |r| r.get(0)).unwrap())
}

/// Whether the wall-time span `[from_ms, to_ms]` on channel `channel` lies within one of the
/// schedule's `asked` spans ([`asked_for_gaps`]), give or take `slack_ms`.
pub fn asked_for(asked: &[(i64, i64, i64)], channel: i64, from_ms: i64, to_ms: i64, slack_ms: i64) -> bool {
    asked.iter().any(|&(c, s, e)| c == channel && from_ms >= s - slack_ms && to_ms <= e + slack_ms)
}

/// What the machine gave over a stretch of time: how busy its CPUs were (whoever used them)
/// and how long this process's cgroup was held back by a quota. A box that is full or
/// throttled cannot be asked to keep real time; tests that want a quiet box measure it.
#[derive(Debug, Clone, Copy)]
pub struct BoxSample {
    busy: u64,
    total: u64,
    throttled_secs: f64,
}

impl BoxSample {
    /// The counters now.
    pub fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let v: Vec<u64> = stat
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("cpu "))
            .map(|l| l.split_whitespace().filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default();
        // user nice system idle iowait irq softirq steal …: idle and iowait are the idle time;
        // steal (a hypervisor's other guests) counts as busy: the box did not have it.
        let total: u64 = v.iter().take(8).sum();
        let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
        Self { busy: total - idle, total, throttled_secs: cgroup_throttled_secs() }
    }

    /// Since `earlier`: the share of the machine's CPU time that was busy (0-1), and the
    /// seconds this process's cgroup was throttled.
    pub fn since(&self, earlier: &Self) -> (f64, f64) {
        let total = self.total.saturating_sub(earlier.total).max(1);
        (
            self.busy.saturating_sub(earlier.busy) as f64 / total as f64,
            (self.throttled_secs - earlier.throttled_secs).max(0.0),
        )
    }
}

/// One `key value` line of a cgroup's `cpu.stat`.
fn cpu_stat_value(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The throttled time in a cgroup's `cpu.stat`, in seconds: v1 `throttled_time` (ns), v2
/// `throttled_usec`.
fn throttled_secs(stat: &str, v1: bool) -> Option<f64> {
    if v1 {
        cpu_stat_value(stat, "throttled_time").map(|ns| ns as f64 / 1e9)
    } else {
        cpu_stat_value(stat, "throttled_usec").map(|us| us as f64 / 1e6)
    }
}

/// Seconds this process's cgroup (v2 `throttled_usec`, v1 `throttled_time`) has been held
/// back by a CPU quota so far; 0 where there is no quota or nothing to read.
pub fn cgroup_throttled_secs() -> f64 {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut candidates = Vec::new();
    for l in own.lines() {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = path.trim_start_matches('/');
        if controllers.is_empty() {
            candidates.push((Path::new("/sys/fs/cgroup").join(path).join("cpu.stat"), false));
        } else if controllers.split(',').any(|c| c == "cpu") {
            candidates.push((Path::new("/sys/fs/cgroup").join(controllers).join(path).join("cpu.stat"), true));
        }
    }
    candidates.iter().find_map(|(file, v1)| throttled_secs(&std::fs::read_to_string(file).ok()?, *v1)).unwrap_or(0.0)
}
