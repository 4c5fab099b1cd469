//! Soak: 4 always-on channels of short items (a transition every few seconds) and 20 viewers
//! that connect and disconnect at random. Every viewer must see a continuous stream (no stall
//! over 1 s, no PTS discontinuity), the daemon's memory must stay flat after warm-up, and the
//! as-run log must account for what aired.
//!
//! The load is about what a 2-core box carries: on a box that is slower, or busy with other
//! work, the daemon falls behind real time and drops frames by design (issue #21). The test
//! measures the box every second (its CPUs' busy share, its cgroup's throttling) next to what
//! the daemon reports, and holds the daemon to the quiet box's rules (at most one frame in
//! [`SKIPPED_ONE_IN`] dropped, no jump) wherever the box had room. Frames dropped while the
//! box was full must be frames the daemon counts in `/api/status`.
//!
//! Opt-in: `RETROVUE_SOAK_SECS=3600 cargo test --test soak -- --ignored` (CI runs 300 s).

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use util::load::{self, BoxSample};
use util::ts::{NTSC_FRAME_TICKS, SKIPPED_ONE_IN, Step, TsFollower, few_skipped, whole_frames};
use util::{Clip, Home};

const CHANNELS: [&str; 4] = ["2", "3", "4", "5"];
const VIEWERS: usize = 20;

fn library(home: &Home) {
    let media = home.path().join("media");
    // Short programs with act breaks and 3-5 s spots: many item changes per minute.
    for (series, pattern, freq) in [("Alpha", "ball", 330), ("Bravo", "smpte", 440), ("Charlie", "pinwheel", 550)] {
        for e in 1..=3 {
            let mut c = Clip::new(640, 480, 20.0);
            c.pattern = pattern;
            c.freq = freq + e * 10;
            c.write(&media.join(format!("shows/{series}/Season 01/{series} - S01E0{e} - Part {e}.mp4")));
        }
    }
    for (i, (w, h)) in [(640, 480), (1280, 720), (854, 480), (320, 240)].into_iter().cycle().take(12).enumerate() {
        let mut c = Clip::new(w, h, 3.0 + (i % 3) as f64);
        c.pattern = ["snow", "red", "blue", "green", "checkers-8", "circular"][i % 6];
        c.audio = i % 5 != 4;
        c.write(&media.join(format!("commercials/Spot {i:02}.mp4")));
    }
    for name in ["Right Back", "Back To"] {
        Clip::new(640, 480, 2.0).write(&media.join(format!("bumpers/{name}.mp4")));
    }
    for (dir, kind) in [("shows", "shows"), ("commercials", "commercials"), ("bumpers", "bumpers")] {
        home.ok(&["source", "add", "--folder", media.join(dir).to_str().unwrap(), "--kind", kind]);
    }
    home.ok(&["scan"]);
}

fn channels(home: &Home) {
    // Twelve short spots fill long breaks only if they may repeat at once: that is the point
    // here (an item change every few seconds).
    home.write_config("[schedule]\ncommercial_repeat_window_min = 0\n");
    let mut toml = String::new();
    for (n, series) in CHANNELS.iter().zip(["Alpha", "Bravo", "Charlie", "Alpha"]) {
        toml.push_str(&format!(
            "[[channel]]\nnumber = \"{n}\"\nname = \"Soak {n}\"\nmode = \"always_on\"\ndefault_fill = \"{series}\"\n\
             [[channel.slot]]\nstart = \"00:00\"\nlength = 30\nseries = \"{series}\"\n\n"
        ));
    }
    let file = home.path().join("channels.toml");
    std::fs::write(&file, toml).unwrap();
    home.ok(&["channel", "import", file.to_str().unwrap()]);
    home.ok(&["schedule", "build", "--days", "1"]);
}

#[derive(Default)]
struct Tally {
    sessions: u64,
    bytes: u64,
    worst_stall: Duration,
    /// The longest wait from the request to the first bytes (a tune).
    worst_tune: Duration,
    /// Video frames received, and frames missing from them (see [`TsFollower::skipped_frames`]).
    frames: u64,
    skipped: u64,
    /// Runs of dropped frames longer than a skip (the PTS forward by whole frames, up to
    /// [`MAX_DROPPED_RUN_TICKS`]), and the frames in them.
    dropped_runs: u64,
    dropped_run_frames: u64,
    problems: Vec<String>,
}

/// The longest forward step of whole frames counted as a run of frames the daemon dropped on
/// a full box (held on screen, audio on, the timeline intact) rather than a discontinuity.
const MAX_DROPPED_RUN_TICKS: i64 = 5 * 90_000;

/// A second of the box, as the sampler saw it.
#[derive(Debug, Clone, Copy)]
struct Second {
    /// The machine's CPUs' busy share (0-1).
    busy: f64,
    /// Seconds the test's cgroup was held back by a quota.
    throttled: f64,
    /// Frames the daemon reported dropped in this second (all channels).
    dropped: u64,
    /// A channel reported `realtime: false`.
    behind: bool,
}

impl Second {
    /// The box had no room: a CPU share this high leaves none for bursts (four channels
    /// change items at once, decoders start).
    fn full(&self) -> bool {
        self.busy >= 0.85 || self.throttled >= 0.05
    }
}

/// Poll the box and `/api/status` every second until `stop`.
fn sample_box(addr: &str, cookie: &str, stop: &AtomicBool) -> Vec<Second> {
    let mut seconds = Vec::new();
    let mut before = BoxSample::now();
    let mut dropped_before = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_secs(1));
        let now = BoxSample::now();
        let (busy, throttled) = now.since(&before);
        before = now;
        let (mut dropped, mut behind) = (dropped_before.unwrap_or(0), false);
        if let Some((200, body, _)) = load::http_get(addr, "/api/status", Some(cookie), Duration::from_secs(5))
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
        {
            let chans = v["channels"].as_array().cloned().unwrap_or_default();
            dropped = chans.iter().filter_map(|c| c["dropped_frames"].as_u64()).sum();
            behind = chans.iter().any(|c| c["realtime"] == serde_json::json!(false));
        }
        let delta = dropped.saturating_sub(dropped_before.unwrap_or(dropped));
        dropped_before = Some(dropped);
        seconds.push(Second { busy, throttled, dropped: delta, behind });
    }
    seconds
}

/// One viewer session: connect, read for `hold`, check what arrived. The first bytes may take
/// up to `tune_limit`; after them, no gap may be longer than a second.
fn watch(addr: &str, number: &str, hold: Duration, tune_limit: Duration, tally: &Mutex<Tally>) {
    let mut s = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(e) => return tally.lock().unwrap().problems.push(format!("connect: {e}")),
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /stream/{number}.ts HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap_or(0) == 0 {
            return tally.lock().unwrap().problems.push(format!("channel {number}: no response headers"));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    if !head.starts_with("HTTP/1.1 200") {
        return tally.lock().unwrap().problems.push(format!("channel {number}: {}", head.lines().next().unwrap_or("")));
    }
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let mut ts = TsFollower::default();
    let mut raw = Vec::new();
    let (start, mut last) = (Instant::now(), Instant::now());
    let (mut worst, mut tune) = (Duration::ZERO, None);
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    while start.elapsed() < hold {
        match s.read(&mut buf) {
            Ok(0) => {
                // The daemon hung up on a viewer who had not left.
                let after = start.elapsed();
                tally
                    .lock()
                    .unwrap()
                    .problems
                    .push(format!("channel {number}: stream ended after {after:?} of {hold:?}"));
                break;
            }
            Ok(n) => {
                match tune {
                    None => tune = Some(last.elapsed()),
                    Some(_) => worst = worst.max(last.elapsed()),
                }
                last = Instant::now();
                bytes += n as u64;
                if chunked {
                    raw.extend_from_slice(&buf[..n]);
                    dechunk(&mut raw, &mut ts);
                } else {
                    ts.feed(&buf[..n]);
                }
            }
            Err(e) => {
                tally.lock().unwrap().problems.push(format!("channel {number}: read: {e}"));
                break;
            }
        }
    }
    let mut t = tally.lock().unwrap();
    t.sessions += 1;
    t.bytes += bytes;
    t.worst_stall = t.worst_stall.max(worst);
    let tune = tune.unwrap_or_else(|| start.elapsed());
    t.worst_tune = t.worst_tune.max(tune);
    if tune > tune_limit {
        t.problems.push(format!("channel {number}: first bytes after {tune:?}"));
    }
    t.frames += ts.video_frames;
    t.skipped += ts.skipped_frames;
    if worst > Duration::from_secs(1) {
        t.problems.push(format!("channel {number}: stall of {worst:?}"));
    }
    if ts.sync_errors > 0 || ts.video_frames == 0 {
        t.problems.push(format!("channel {number}: {} sync errors, {} frames", ts.sync_errors, ts.video_frames));
    }
    // A forward step of whole frames (two or more) is a run of frames dropped (judged against the box in
    // the test); anything else (backwards, a fraction of a frame, a long jump) is broken.
    let mut odd = Vec::new();
    for &(a, b) in &ts.discontinuities {
        match whole_frames(b - a, NTSC_FRAME_TICKS).filter(|&f| f >= 2 && f * NTSC_FRAME_TICKS <= MAX_DROPPED_RUN_TICKS)
        {
            Some(frames) => {
                t.dropped_runs += 1;
                t.dropped_run_frames += (frames - 1) as u64;
            }
            None => odd.push((a, b)),
        }
    }
    if !odd.is_empty() {
        t.problems.push(format!("channel {number}: PTS discontinuities {:?}", &odd[..odd.len().min(5)]));
    }
}

/// The middle value of `samples` (the upper one of an even count; 0 if none).
/// How much the median RSS may grow from the first half after warm-up to the second, on a
/// soak of `secs`. An hour tells a leak from memory still settling: 10% (measured: +2.9% over
/// the hour, 501 then 515 MB). A few minutes can only catch a gross leak: 25%. Within them the
/// malloc arenas are still reaching their working size and RSS breathes by a quarter within
/// seconds as item bins come and go; with no leak, CI's 180 s runs measured medians from -1% to
/// +12.3% (460 then 517 MB, breathing 324-584 MB). A leaked item bin keeps its decoder's pools
/// and frames (tens of MB: heaptrack, README) and each half sees a dozen item changes or more,
/// which 25% still catches.
fn allowed_growth(secs: u64) -> f64 {
    if secs >= 1800 { 0.10 } else { 0.25 }
}

fn median(samples: &[u64]) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

/// Strip HTTP/1.1 chunk framing from `raw` into the TS follower.
fn dechunk(raw: &mut Vec<u8>, ts: &mut TsFollower) {
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else { return };
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..eol]).trim(), 16).unwrap_or(0);
        if raw.len() < eol + 2 + size + 2 {
            return;
        }
        ts.feed(&raw[eol + 2..eol + 2 + size]);
        raw.drain(..eol + 2 + size + 2);
    }
}

#[test]
#[ignore = "long: run with RETROVUE_SOAK_SECS=<seconds> cargo test --test soak -- --ignored"]
fn four_channels_twenty_viewers_no_stall_no_discontinuity_flat_memory() {
    let secs: u64 = std::env::var("RETROVUE_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let home = Home::new();
    library(&home);
    channels(&home);
    let daemon = home.serve(&[]);
    let addr = daemon.addr.clone();
    let pid = daemon.child.id();

    // Every channel is always on: wait until each answers with bytes.
    for n in CHANNELS {
        let t = Mutex::new(Tally::default());
        // A daemon just started brings up its four channels at once, each held until its
        // programme's first picture (2 s seen on 2 cores).
        watch(&addr, n, Duration::from_secs(5), Duration::from_secs(4), &t);
        let t = t.into_inner().unwrap();
        assert!(
            t.problems.is_empty() && t.bytes > 0,
            "channel {n} did not come up: {:?}\n{}",
            t.problems,
            daemon.stderr()
        );
    }

    // At least a minute: the malloc arenas of the items' streaming threads reach their working
    // size over the first few dozen item changes (CI's 180 s run, warmed up 36 s, saw its
    // halves' peaks 737 then 805 MB, +9.3%, where other runs of the same code saw +0.8%).
    let warmup = Duration::from_secs((secs.min(600) / 5).max(60).min(secs / 2));
    let cookie = load::admin_cookie(&addr, "soak password");
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (addr, stop) = (addr.clone(), stop.clone());
        std::thread::spawn(move || sample_box(&addr, &cookie, &stop))
    };
    let deadline = Instant::now() + Duration::from_secs(secs);
    let soak_from = chrono::Utc::now();
    let viewers: Vec<_> = (0..VIEWERS)
        .map(|v| {
            let (addr, tally, stop) = (addr.clone(), tally.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(v as u64);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let n = CHANNELS[rng.gen_range(0..CHANNELS.len())];
                    let left = deadline.saturating_duration_since(Instant::now());
                    let hold = Duration::from_millis(rng.gen_range(2_000..20_000)).min(left);
                    if hold < Duration::from_millis(500) {
                        break;
                    }
                    watch(&addr, n, hold, Duration::from_secs(1), &tally);
                    std::thread::sleep(Duration::from_millis(rng.gen_range(0..1_000)));
                }
            })
        })
        .collect();
    std::thread::sleep(warmup);
    // RSS breathes as item bins (decoders, queues) come and go, by a quarter of its size within
    // seconds (CI: 602-818 MB in one 2-minute run). A leak lifts the whole curve, breathing only
    // its spikes: compare the medians of the first and second halves after warm-up (comparing
    // their peaks failed CI on breathing alone: 716 then 818 MB around the same 660 MB median).
    let mut samples = vec![util::rss_kb(pid)];
    let mut threads = vec![util::thread_count(pid)];
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
        samples.push(util::rss_kb(pid));
        threads.push(util::thread_count(pid));
    }
    let soak_to = chrono::Utc::now();
    stop.store(true, Ordering::Relaxed);
    for v in viewers {
        v.join().unwrap();
    }
    let seconds = sampler.join().unwrap();
    let (first, second) = samples.split_at(samples.len() / 2);
    let (peak_first, peak_second) =
        (first.iter().copied().max().unwrap_or(0), second.iter().copied().max().unwrap_or(0));
    let (median_first, median_second) = (median(first), median(second));
    let t = tally.lock().unwrap();
    println!(
        "soak: {secs} s, {} sessions, {:.1} MB received, worst stall {:?}, slowest tune {:?}, {} frames of which {} \
         skipped by the encoder, RSS after warm-up {} kB; halves after warm-up: median \
         {median_first} then {median_second} kB, peak {peak_first} then {peak_second} kB",
        t.sessions,
        t.bytes as f64 / 1e6,
        t.worst_stall,
        t.worst_tune,
        t.frames,
        t.skipped,
        samples[0],
    );
    // The curve, to tell a leak from breathing: every 10 s (samples are 2 s apart), in MB.
    let curve: Vec<String> = samples.iter().step_by(5).map(|kb| format!("{}", kb / 1024)).collect();
    println!("soak: RSS after warm-up every 10 s, MB: {}", curve.join(" "));
    let curve: Vec<String> = threads.iter().step_by(5).map(|n| n.to_string()).collect();
    println!("soak: the daemon's threads after warm-up every 10 s: {}", curve.join(" "));
    assert!(
        t.problems.is_empty(),
        "viewer problems:\n{}\n--- daemon log tail:\n{}",
        t.problems.join("\n"),
        tail(&daemon.stderr())
    );
    assert!(t.sessions >= VIEWERS as u64, "too few sessions: {}", t.sessions);
    // Frames dropped: on a quiet box at most one in SKIPPED_ONE_IN and no runs. Where the box
    // was full (that second or the two before: lateness builds up, then drops follow), the
    // daemon drops by design; then it must have said so, and nothing may drop where the box
    // had room.
    let full: Vec<bool> =
        (0..seconds.len()).map(|i| seconds[i.saturating_sub(2)..=i].iter().any(Second::full)).collect();
    let full_secs = seconds.iter().filter(|s| s.full()).count();
    let reported: u64 = seconds.iter().map(|s| s.dropped).sum();
    let dropped_with_room: Vec<String> = seconds
        .iter()
        .enumerate()
        .filter(|&(i, s)| s.dropped > 0 && !full[i])
        .map(|(i, s)| {
            format!(
                "second {i}: {} dropped, box {:.0}% busy, throttled {:.2} s",
                s.dropped,
                s.busy * 100.0,
                s.throttled
            )
        })
        .collect();
    let mut busy: Vec<f64> = seconds.iter().map(|s| s.busy).collect();
    busy.sort_by(f64::total_cmp);
    println!(
        "soak: box {:.0}% busy (median of {} s), full {full_secs} s; the daemon reported {reported} frames dropped, \
         `realtime: false` in {} s; viewers saw {} skipped frames and {} longer runs of {} frames",
        busy.get(busy.len() / 2).copied().unwrap_or(0.0) * 100.0,
        seconds.len(),
        seconds.iter().filter(|s| s.behind).count(),
        t.skipped,
        t.dropped_runs,
        t.dropped_run_frames
    );
    assert!(
        dropped_with_room.is_empty(),
        "the daemon dropped frames while the box had room:\n{}",
        dropped_with_room.join("\n")
    );
    if full_secs == 0 {
        assert!(
            few_skipped(t.skipped, t.frames, 0) && t.dropped_runs == 0,
            "on a quiet box, the encoder dropped {} of {} frames viewers received (more than one in \
             {SKIPPED_ONE_IN}) and {} runs of {} frames",
            t.skipped,
            t.frames,
            t.dropped_runs,
            t.dropped_run_frames
        );
    } else if t.skipped + t.dropped_run_frames > 0 {
        // Each drop reaches every viewer of the channel: viewers count more than the daemon.
        // A few drops keep a channel `realtime` (watchdog::Realtime); the count must show them.
        assert!(
            reported > 0,
            "viewers lost {} frames on a full box, but the daemon reported none dropped",
            t.skipped + t.dropped_run_frames
        );
    }
    // Item bins come and go every few seconds: each must reach NULL before it is dropped.
    let complaints = util::gst_complaints(&daemon.stderr());
    assert!(complaints.is_empty(), "GLib/GStreamer complaints in the daemon's log:\n{}", complaints.join("\n"));
    let allowed = allowed_growth(secs);
    assert!(
        median_second as f64 <= median_first as f64 * (1.0 + allowed),
        "RSS grew more than {:.0}% after warm-up: median {median_first} kB, then {median_second} kB",
        allowed * 100.0
    );
    // The as-run log accounts for every channel, with nothing left open but what is on now.
    let db = retrovue::db::Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let (aired, failed, open): (i64, i64, i64) = db.call_blocking(|c| {
        c.query_row(
            "SELECT SUM(status = 'aired'), SUM(status = 'failed'), SUM(actual_end_ms IS NULL) FROM playout_log",
            [],
            |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?.unwrap_or(0),
                    r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                ))
            },
        )
        .unwrap()
    });
    println!("as-run: {aired} aired, {failed} failed, {open} open");
    // What failed, and why (a failed row once failed CI with nothing more to go on).
    let failures: Vec<String> = db.call_blocking(|c| {
        let mut st = c
            .prepare(
                "SELECT channel_id, title, COALESCE(error, ''),
                   planned_start_ms - (SELECT MIN(actual_start_ms) FROM playout_log)
                 FROM playout_log WHERE status = 'failed'",
            )
            .unwrap();
        st.query_map([], |r| {
            Ok(format!(
                "channel {}: {} (planned {:.1} s after the first item started): {}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(3)?.unwrap_or(0) as f64 / 1e3,
                r.get::<_, String>(2)?
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    });
    for f in &failures {
        println!("as-run failed: {f}");
    }
    let sample: Vec<String> = db.call_blocking(|c| {
        let mut st = c
            .prepare("SELECT channel_id, kind, title, status, actual_start_ms, actual_end_ms, planned_start_ms FROM playout_log ORDER BY id DESC LIMIT 12")
            .unwrap();
        st.query_map([], |r| {
            Ok(format!(
                "{} {} {} {} {:?} {:?} {:?}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<i64>>(6)?
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    });
    println!("as-run sample:\n{}", sample.join("\n"));
    // Complete: every item the schedule had on during the soak (a few seconds' margin at both
    // ends) has an "aired" row of its own.
    let (from_ms, to_ms) = (soak_from.timestamp_millis() + 5_000, soak_to.timestamp_millis() - 5_000);
    let (scheduled, missing): (i64, Vec<String>) = db.call_blocking(move |c| {
        let scheduled = c
            .query_row(
                "SELECT COUNT(*) FROM schedule_items WHERE start_ms >= ?1 AND end_ms <= ?2",
                [from_ms, to_ms],
                |r| r.get(0),
            )
            .unwrap();
        let mut q = c
            .prepare(
                "SELECT s.channel_id, s.kind, s.title, s.start_ms FROM schedule_items s
                 WHERE s.start_ms >= ?1 AND s.end_ms <= ?2 AND NOT EXISTS
                   (SELECT 1 FROM playout_log p WHERE p.schedule_item_id = s.id AND p.status = 'aired')
                 ORDER BY s.start_ms",
            )
            .unwrap();
        let missing = q
            .query_map([from_ms, to_ms], |r| {
                Ok(format!(
                    "ch {} {} {} at {}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        (scheduled, missing)
    });
    println!("as-run: {} of {scheduled} items scheduled during the soak aired", scheduled - missing.len() as i64);
    assert!(
        missing.is_empty(),
        "{} scheduled items have no aired row: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // The library makes an item change every few seconds on every channel (measured: one per
    // ~12 s over an hour); fewer would mean the soak did not exercise transitions.
    let window_secs = (to_ms - from_ms) / 1000;
    let floor = CHANNELS.len() as i64 * window_secs / 20;
    assert!(scheduled >= floor, "only {scheduled} items scheduled in {window_secs} s on {} channels", CHANNELS.len());
    assert_eq!(failed, 0, "items failed during the soak: {failures:?}");
    assert!(open <= 2 * CHANNELS.len() as i64, "{open} as-run rows left open");
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// What the soak counts as a skipped frame and what as a discontinuity.
#[test]
fn pts_steps_are_told_apart() {
    let f = NTSC_FRAME_TICKS;
    assert_eq!(Step::of(f, f), Step::One);
    assert_eq!(Step::of(f + 1, f), Step::One);
    // 339504489 -> 339510494: the step CI saw, one frame dropped.
    assert_eq!(Step::of(339_510_494 - 339_504_489, f), Step::Skipped(1));
    assert_eq!(Step::of(4 * f, f), Step::Skipped(3));
    assert_eq!(Step::of(-f, f), Step::Odd);
    assert_eq!(Step::of(f / 2, f), Step::Odd);
    assert_eq!(Step::of(f + f / 3, f), Step::Odd);
    assert_eq!(Step::of(20 * f, f), Step::Odd);
    // Across the 33-bit wrap.
    assert_eq!(Step::of(f - (1 << 33), f), Step::One);
}
