//! Targeted regressions of issue #21 (a channel that went black for good on a busy box), each
//! reproducing one root cause on loopback in about two minutes:
//!
//! - **Overload is not a source failure.** The daemon is held by a CPU quota well below what it
//!   needs (0.6x its quiet use) for 40 s: the pipeline cannot keep real time. Its items must stay
//!   on air (frames dropped, not the item), the daemon must say so (`realtime: false` in
//!   `/api/status`), HTTP must keep answering, nothing may fail "stalled", GStreamer must not
//!   complain, and SIGTERM must still stop it. The channel airs 10 s episodes and 5 s spots, so
//!   the starved output crosses several item changes: an item taken off by the clock rather
//!   than the (late) output aired black, and a spot whose source had delivered it all looked
//!   stalled.
//! - **A source that stalls comes back.** One airing is served over HTTP by a server that stops
//!   sending for 5 s at 40% of the file. After the stall the item must be back on air (a
//!   recovery, not black for the rest of its slot), and its as-run row must not say failed.

mod util;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use util::load::{self, CpuQuota};
use util::slow_http::{Behaviour, SlowServer};
use util::{Home, gst_complaints};

/// The two tests measure a daemon's CPU and starve it to a fraction of that: run side by side
/// (cargo's default), each would take the other's CPU and starve it further than asked. One at
/// a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const STOP_TIMEOUT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "overload test password";

/// `/api/status` once a second until `stop`: (polls with some channel `realtime: false`,
/// whether the field was reported, slow or failed answers).
fn poll_status(
    addr: String,
    cookie: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u64, bool, Vec<String>)> {
    std::thread::spawn(move || {
        let (mut not_realtime, mut reported, mut slow) = (0, false, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let t0 = Instant::now();
            for path in ["/discover.json", "/api/status"] {
                let t = Instant::now();
                match load::http_get(&addr, path, Some(&cookie), Duration::from_secs(5)) {
                    Some((200, body, _)) => {
                        if t.elapsed() > Duration::from_secs(1) {
                            slow.push(format!("{} {path} took {:?}", Utc::now().format("%H:%M:%S"), t.elapsed()));
                        }
                        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
                            && let Some(chans) = v["channels"].as_array()
                        {
                            reported |= chans.iter().any(|c| c.get("realtime").is_some());
                            if chans.iter().any(|c| c["realtime"] == serde_json::json!(false)) {
                                not_realtime += 1;
                            }
                        }
                    }
                    other => slow.push(format!(
                        "{} {path}: {:?}",
                        Utc::now().format("%H:%M:%S"),
                        other.map(|(s, _, t)| (s, t))
                    )),
                }
            }
            std::thread::sleep(Duration::from_secs(1).saturating_sub(t0.elapsed()));
        }
        (not_realtime, reported, slow)
    })
}

fn stalls_and_failures(log: &str) -> (Vec<String>, Vec<String>) {
    let failed: Vec<String> = log
        .lines()
        .filter(|l| l.contains("item failed") || l.contains("item cannot play"))
        .map(str::to_owned)
        .collect();
    let stalled =
        failed.iter().filter(|l| l.contains("stalled") || l.contains("did not open in time")).cloned().collect();
    (stalled, failed)
}

#[test]
#[ignore = "holds the daemon under a CPU quota, alone: scripts/test.sh runs it in its loaded-box step"]
fn a_starved_channel_keeps_its_items_on_air_and_says_it_is_late() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let home = Home::new();
    // Spots may repeat at once: the breaks are filled with them, not with the slate.
    home.write_config("[schedule]\ncommercial_repeat_window_min = 0\n");
    util::echo_channel(&home, 10.0, 3, 5.0, &["scan"]);
    let mut daemon = home.serve_with_env(&[], &[("MALLOC_ARENA_MAX", "2")]);
    let (addr, pid) = (daemon.addr.clone(), daemon.child.id());
    let cookie = load::admin_cookie(&addr, PASSWORD);
    let capture = home.path().join("starved.ts");
    let (calm, starve, after) = (15.0, 40.0, 15.0);
    let recorder = {
        let (addr, capture) = (addr.clone(), capture.clone());
        std::thread::spawn(move || load::record(&addr, "/stream/2.ts", calm + starve + after, &capture))
    };
    let stop = Arc::new(AtomicBool::new(false));
    let poller = poll_status(addr.clone(), cookie, stop.clone());

    // Quiet use with one viewer (in the group already, unlimited: on a busy box the group's
    // weight gets it what it needs), then a quota well below it.
    let quota = CpuQuota::apply(pid, load::cores_online() as f64);
    std::thread::sleep(Duration::from_secs(3));
    let (c0, t0) = (load::cpu_seconds(pid), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(calm - 3.0));
    let quiet = (load::cpu_seconds(pid) - c0) / t0.elapsed().as_secs_f64();
    quota.set(quiet * 0.6);
    println!(
        "quiet use {quiet:.2} cores; starving at {:.2} cores for {starve} s ({})",
        quota.cores(),
        quota.describe()
    );
    std::thread::sleep(Duration::from_secs_f64(starve));
    quota.set(quiet * 1.5);
    std::thread::sleep(Duration::from_secs_f64(after));
    let first = recorder.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let (not_realtime, reported, slow) = poller.join().unwrap();

    let t_term = Instant::now();
    let exited = daemon.terminate(STOP_TIMEOUT);
    let took = t_term.elapsed();
    let still_running = daemon.child.try_wait().ok().flatten().is_none();
    drop(quota);
    let log = load::strip_ansi(&daemon.stderr());

    let mut problems = Vec::new();
    let (stalled, failed) = stalls_and_failures(&log);
    if !stalled.is_empty() {
        problems.push(format!("{} items failed because the box was slow:\n  {}", stalled.len(), stalled.join("\n  ")));
    }
    let complaints = gst_complaints(&log);
    if !complaints.is_empty() {
        problems.push(format!("GLib/GStreamer complaints:\n  {}", complaints.join("\n  ")));
    }
    if let Some(first) = first {
        let (all, dur) = load::black_and_silence(&capture, 1.0);
        // What the schedule asked for (a slate where the half hour's last break could not be
        // filled with spots) is no fault; a capture's time maps to wall time through its first
        // byte, here within the starved output's lag.
        let db = retrovue::db::Db::open(&home.data_dir().join("retrovue.db")).unwrap();
        let from = first.timestamp_millis();
        let asked = load::asked_for_gaps(&db, from - 60_000, from + 200_000);
        let channel = load::channel_id(&db, "2");
        let at = |t: f64| from + (t * 1000.0) as i64;
        let (gaps, excused): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|g| !load::asked_for(&asked, channel, at(g.start), at(g.end), 3_000));
        let black = load::gap_secs_within(&gaps, "black", 2.0, dur);
        let silent = load::gap_secs_within(&gaps, "silence", 2.0, dur);
        println!(
            "captured {dur:.1} s: {black:.1} s black, {silent:.1} s silent in spans over 1 s; gaps {gaps:?}; \
             asked for by the schedule {excused:?}"
        );
        if black > 0.0 || silent > 0.0 {
            problems.push(format!("{black:.1} s of black and {silent:.1} s of silence in spans over 1 s: {gaps:?}"));
        }
        // The viewer stayed to the end: a stream that stopped early leaves a short capture
        // with nothing in it to find (the output may lag the wall clock by what it dropped).
        let watched = calm + starve + after;
        if dur < watched - 10.0 {
            problems.push(format!("the capture holds {dur:.1} s of a {watched:.0} s watch"));
        }
    } else {
        problems.push("the viewer received nothing".into());
    }
    if !reported {
        problems.push("/api/status does not report `realtime` per channel".into());
    } else if not_realtime == 0 {
        problems.push("the daemon never said it could not keep real time (`realtime: false`)".into());
    }
    if !slow.is_empty() {
        problems.push(format!("HTTP slow or silent {} times: {:?}", slow.len(), &slow[..slow.len().min(8)]));
    }
    if still_running {
        problems.push(format!("SIGTERM did not stop the daemon within {STOP_TIMEOUT:?}"));
    } else if !exited {
        problems.push("the daemon exited with an error after SIGTERM".into());
    }
    let (late_items, moved_ms, skipped_ms) = load::late_sound(&log);
    println!(
        "starved: {} items failed ({} for being late), {} complaints, realtime=false in {not_realtime} polls, \
         {} slow HTTP answers, SIGTERM took {took:?}{}; sound late for its mixer in {late_items} items \
         ({moved_ms} ms aired moved, {skipped_ms} ms skipped)",
        failed.len(),
        stalled.len(),
        complaints.len(),
        slow.len(),
        if still_running { " (still running)" } else { "" }
    );
    if !problems.is_empty() {
        // Kept for a look: the home (and the capture in it) goes with the test.
        let kept = std::env::temp_dir().join(format!("retrovue-starved-{pid}"));
        if std::fs::copy(&capture, kept.with_extension("ts")).is_ok()
            && std::fs::write(kept.with_extension("log"), &log).is_ok()
        {
            problems.push(format!("capture and daemon log kept at {}.{{ts,log}}", kept.display()));
        }
    }
    assert!(problems.is_empty(), "starved channel:\n- {}\n--- log tail:\n{}", problems.join("\n- "), tail(&log, 30));
}

#[test]
fn a_source_that_stalls_mid_item_comes_back_on_air() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let home = Home::new();
    // Spots may repeat at once: the breaks are filled with them, not with the slate.
    home.write_config("[schedule]\ncommercial_repeat_window_min = 0\n");
    util::echo_channel(&home, 30.0, 3, 30.0, &["scan"]);
    let root = home.path().join("served");
    std::fs::create_dir_all(&root).unwrap();
    let server = SlowServer::start(root.clone(), Behaviour { rate: 0, stall_at: None });
    let mut daemon = home.serve_with_env(&[], &[("MALLOC_ARENA_MAX", "2")]);
    let addr = daemon.addr.clone();

    // The first airing of 20 s or more that starts 25 s from now goes over HTTP.
    let db = retrovue::db::Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let from = Utc::now().timestamp_millis() + 25_000;
    let (id, path, start_ms, end_ms): (i64, String, i64, i64) = db.call_blocking(move |c| {
        c.query_row(
            "SELECT s.id, s.uri, s.start_ms, s.end_ms FROM schedule_items s JOIN channels ch ON ch.id = s.channel_id
             WHERE ch.number = '2' AND s.start_ms >= ?1 AND s.end_ms - s.start_ms >= 20000 AND s.uri IS NOT NULL
               AND s.offset_in_ms = 0
             ORDER BY s.start_ms LIMIT 1",
            [from],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    });
    let path = file_path(&path);
    let ts = root.join("stall.ts");
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i", &path, "-c", "copy", "-f", "mpegts"])
        .arg(&ts)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg remux: {}", String::from_utf8_lossy(&out.stderr));
    let media_secs = (end_ms - start_ms) as f64 / 1000.0;
    let size = std::fs::metadata(&ts).unwrap().len();
    // A little faster than real time, so little is buffered when the stall comes.
    server.set(Behaviour {
        rate: (size as f64 / media_secs * 1.1) as u64,
        stall_at: Some((0.4, Duration::from_secs(5))),
    });
    let url = server.url("stall.ts");
    let set_url = url.clone();
    db.call_blocking(move |c| c.execute("UPDATE schedule_items SET uri = ?1 WHERE id = ?2", (set_url, id)).unwrap());

    // Record from 5 s before the airing to 5 s after it.
    let wait_ms = start_ms - 5_000 - Utc::now().timestamp_millis();
    std::thread::sleep(Duration::from_millis(wait_ms.max(0) as u64));
    let capture = home.path().join("stall-capture.ts");
    let first = load::record(&addr, "/stream/2.ts", media_secs + 10.0, &capture).expect("the channel sent nothing");
    std::thread::sleep(Duration::from_secs(2));
    let exited = daemon.terminate(STOP_TIMEOUT);
    let log = load::strip_ansi(&daemon.stderr());

    // The airing's span in the capture (its first byte maps to wall time within ~2 s).
    let (a, b) = (
        (start_ms - first.timestamp_millis()) as f64 / 1000.0 + 1.0,
        (end_ms - first.timestamp_millis()) as f64 / 1000.0 - 1.0,
    );
    let (gaps, dur) = load::black_and_silence(&capture, 1.0);
    let black = load::gap_secs_within(&gaps, "black", a, b);
    let silent = load::gap_secs_within(&gaps, "silence", a, b);
    let (row_status, row_error): (String, Option<String>) = db.call_blocking(move |c| {
        c.query_row(
            "SELECT status, error FROM playout_log WHERE schedule_item_id = ?1 ORDER BY id DESC LIMIT 1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap_or(("no row".into(), None))
    });
    let recovered: Vec<&str> = log.lines().filter(|l| l.contains("content watchdog: recovered")).collect();
    println!(
        "stalling source ({} requests, {} stalls of 5 s): {media_secs:.0} s item aired {a:.1}-{b:.1} s into a {dur:.1} s \
         capture; black within it: {black:.1} s, silence {silent:.1} s ({gaps:?}); as-run {row_status} {row_error:?}; \
         recoveries logged: {recovered:?}",
        server.requests.load(Ordering::SeqCst),
        server.stalls.load(Ordering::SeqCst)
    );
    assert!(
        server.stalls.load(Ordering::SeqCst) >= 1,
        "the server never stalled (was {url} played?):\n{}",
        tail(&log, 30)
    );
    let mut problems = Vec::new();
    // The source sends nothing for 5 s (less what was buffered); allow 3 s more to recover.
    // The held picture of the stall is silent. The watchdog's retry joins this TS item in
    // progress over HTTP: its first seek lands seconds past the offset (tsdemux's push-mode
    // byte estimate; before `playout::landing`, the slot's last ~5 s aired black and silent).
    // Measured since: black 1.4-1.6 s, silence 5.2-5.5 s, none at the slot's end.
    if black > 8.0 {
        problems
            .push(format!("{black:.1} s of black in the {media_secs:.0} s airing after a 5 s source stall: {gaps:?}"));
    }
    if silent > 8.0 {
        problems.push(format!(
            "{silent:.1} s of silence in the {media_secs:.0} s airing after a 5 s source stall: {gaps:?}"
        ));
    }
    // After the rejoin the item plays to its slot's end: nothing black or silent from 4 s to 1 s
    // before it ends (`b` is a second before the end).
    let (black_end, silent_end) =
        (load::gap_secs_within(&gaps, "black", b - 3.0, b), load::gap_secs_within(&gaps, "silence", b - 3.0, b));
    if black_end > 0.0 || silent_end > 0.0 {
        problems.push(format!(
            "the airing's end ({:.1}-{b:.1} s) has {black_end:.1} s of black and {silent_end:.1} s of silence: {gaps:?}",
            b - 3.0
        ));
    }
    if dur < b + 1.0 {
        problems.push(format!("the capture ends at {dur:.1} s, before the airing does ({b:.1} s)"));
    }
    if row_status == "failed" || row_status == "no row" {
        problems.push(format!("the airing's as-run row: {row_status} {row_error:?}"));
    }
    let complaints = gst_complaints(&log);
    if !complaints.is_empty() {
        problems.push(format!("GLib/GStreamer complaints: {complaints:?}"));
    }
    if !exited {
        problems.push("SIGTERM did not stop the daemon cleanly".into());
    }
    assert!(problems.is_empty(), "stalling source:\n- {}\n--- log tail:\n{}", problems.join("\n- "), tail(&log, 30));
}

/// A local path from a schedule URI (`file:///…` percent-encoded, or a plain path).
fn file_path(uri: &str) -> String {
    let Some(rest) = uri.strip_prefix("file://") else { return uri.to_owned() };
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = rest.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8 path")
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
