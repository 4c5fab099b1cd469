//! The data disk fills up while a channel plays: the daemon keeps streaming to its viewers,
//! says so (a warning in its log, the free space and a "full" flag in `/api/status`), keeps
//! the as-run events it could not write and writes them once space is back, and HLS
//! segments resume. An admin who was not logged in can still log in while the disk is full
//! and the dashboard (headless Chromium) shows the full disk. The data directory (database +
//! HLS) is a small tmpfs mounted inside a private mount namespace (`unshare -m`), so nothing
//! outside the test is touched.

mod util;
mod webclient;
mod webdriver;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use util::Home;
use util::ts::TsFollower;
use webclient::Api;
use webdriver::Browser;

const PASSWORD: &str = "correct horse battery";

/// Set inside the re-executed test process that runs in a private mount namespace.
const MOUNTNS_ENV: &str = "RETROVUE_TEST_IN_MOUNTNS";

/// Run the calling test inside a private mount namespace (`unshare -m`, mounts private).
/// Returns `true` in the namespaced child, which runs the test body; `false` in the parent
/// once the child passed. The caller is `#[ignore]`d (see `tests/util`): run on purpose
/// where `unshare -m` is not permitted, it fails saying why.
fn in_private_mountns(test_name: &str) -> bool {
    if std::env::var_os(MOUNTNS_ENV).is_some() {
        return true;
    }
    let probe = Command::new("unshare").args(["-m", "--propagation", "private", "true"]).output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "{test_name}: `unshare -m` is not permitted here (needs root or user namespaces): run it where \
         namespaces work (scripts/test.sh does, with --ignored)"
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1", "--include-ignored"])
        .env(MOUNTNS_ENV, "1")
        .output()
        .expect("run the test inside unshare -m");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{test_name} failed inside the namespace:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{test_name} did not run inside the namespace:\n{stdout}\n{stderr}");
    println!("{stdout}");
    false
}

/// Mount a tmpfs of `mb` MiB on `dir` (inside the private namespace).
fn mount_tmpfs(dir: &Path, mb: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={mb}m,mode=0755"), "tmpfs"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs on {}", dir.display());
}

/// Append to `f` until the filesystem refuses a write; returns the bytes written.
fn fill(f: &mut std::fs::File, chunk: usize) -> u64 {
    let chunk = vec![0x55u8; chunk];
    let mut total = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => return total,
            Ok(n) => total += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => return total, // ENOSPC
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
}

/// Fill the disk holding `path` (a new file), then keep it full (taking back whatever space
/// the daemon frees, as old HLS segments roll out) until `stop`; returns the first fill's size.
fn keep_full(path: &Path, stop: Arc<AtomicBool>) -> (u64, std::thread::JoinHandle<()>) {
    let mut f = std::fs::File::create(path).unwrap();
    let first = fill(&mut f, 256 * 1024);
    let topper = std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            fill(&mut f, 4096);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    (first, topper)
}

/// One channel of short items (many transitions, so as-run writes happen while full).
fn short_item_channel(home: &Home) {
    // Spots may repeat at once, so long breaks are filled with them: an item change every
    // few seconds.
    home.write_config("[schedule]\ncommercial_repeat_window_min = 0\n[library]\nloudness = false\n");
    util::echo_channel(home, 5.0, 4, 2.0, &["scan", "--no-loudness"]);
}

/// What the TS viewer saw.
#[derive(Debug, Default)]
struct Watched {
    bytes: u64,
    worst_gap: Duration,
    /// When the worst gap ended.
    worst_gap_at: Option<Instant>,
    /// How long the first bytes took after the response headers.
    first_bytes_after: Option<Duration>,
    ts: TsFollower,
    ended: Option<String>,
}

/// A viewer of `/stream/2.ts` (HTTP/1.0: raw TS), reading until `stop`.
fn watch(addr: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Watched>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET /stream/2.ts HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut byte).unwrap(), 1, "no response headers");
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.0 200") || head.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        let mut buf = vec![0u8; 64 * 1024];
        // Gaps count from the first bytes: the wait for them is the tune (the channel was
        // starting with the daemon), which other tests measure; this one is about the stream
        // going on while the disk is full.
        let tuned = Instant::now();
        let mut last: Option<Instant> = None;
        while !stop.load(Ordering::Relaxed) {
            let r = s.read(&mut buf);
            let mut w = seen.lock().unwrap();
            match r {
                Ok(0) => return w.ended = Some("the stream ended".into()),
                Ok(n) => {
                    match last {
                        Some(last) if last.elapsed() > w.worst_gap => {
                            w.worst_gap = last.elapsed();
                            w.worst_gap_at = Some(Instant::now());
                        }
                        Some(_) => {}
                        None => w.first_bytes_after = Some(tuned.elapsed()),
                    }
                    last = Some(Instant::now());
                    w.bytes += n as u64;
                    w.ts.feed(&buf[..n]);
                }
                Err(e) => return w.ended = Some(format!("read: {e}")),
            }
        }
    })
}

/// The HLS playlist's media sequence + segment count, if there is a playlist.
fn hls_last_segment(addr: &str) -> Option<u64> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET /hls/2/index.m3u8 HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    if !text.starts_with("HTTP/1.1 200") && !text.starts_with("HTTP/1.0 200") {
        return None;
    }
    let first: u64 = text.lines().find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))?.trim().parse().ok()?;
    let n = text.lines().filter(|l| l.starts_with("seg-")).count() as u64;
    (n > 0).then(|| first + n - 1)
}

#[test]
#[ignore = "needs a private mount namespace (unshare -m: root or user namespaces); scripts/test.sh runs it with --ignored"]
fn a_full_data_disk_keeps_the_channel_streaming_is_reported_and_recovers() {
    if !in_private_mountns("a_full_data_disk_keeps_the_channel_streaming_is_reported_and_recovers") {
        return;
    }
    let home = Home::new();
    mount_tmpfs(&home.data_dir(), 48);
    short_item_channel(&home);
    let mut daemon = home.serve(&[]);
    let addr = daemon.addr.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut api = Api::new(daemon.url(""));
    rt.block_on(api.setup(PASSWORD));

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Watched::default()));
    let viewer = watch(addr.clone(), stop.clone(), seen.clone());
    let t0 = Instant::now();
    let mut phases = vec![("viewer tuned", t0)];
    let before = util::wait_for(Duration::from_secs(30), || hls_last_segment(&addr))
        .unwrap_or_else(|| panic!("no HLS playlist:\n{}", daemon.stderr()));
    let status = rt.block_on(api.get("/api/status")).json;
    assert_eq!(status["disk"]["full"], false, "{status}");
    assert!(status["disk"]["free_bytes"].as_u64().unwrap() > 1 << 20, "{status}");

    // Fill the data disk, right after the database's write-ahead log was emptied (as a
    // checkpoint does), so the next database write needs new space.
    let db_path = home.data_dir().join("retrovue.db");
    let busy: (i64, i64, i64) = retrovue::db::Db::open(&db_path)
        .unwrap()
        .call_blocking(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        })
        .unwrap();
    assert_eq!(busy.0, 0, "checkpoint blocked: {busy:?}");
    let filler = home.data_dir().join("filler");
    let full_at = chrono::Utc::now().timestamp_millis();
    let stop_filling = Arc::new(AtomicBool::new(false));
    phases.push(("filling the disk", Instant::now()));
    let (filled, topper) = keep_full(&filler, stop_filling.clone());
    println!("filled the data disk with {} MiB", filled >> 20);
    let reported = util::wait_for(Duration::from_secs(20), || {
        let s = rt.block_on(api.get("/api/status")).json;
        (s["disk"]["full"] == true).then_some(s)
    })
    .unwrap_or_else(|| panic!("/api/status never said the disk is full:\n{}", daemon.stderr()));
    assert!(reported["disk"]["free_bytes"].as_u64().unwrap() < 1 << 20, "{reported}");
    assert!(
        reported["errors"].as_array().unwrap().iter().any(|e| e["what"] == "data disk"),
        "the dashboard's errors do not name the full disk: {reported}"
    );
    // Logging in needs a new session the database cannot store now: it is kept in memory, so
    // the admin is not locked out of the page that says what is wrong.
    let mut fresh = Api::new(daemon.url(""));
    let login = rt.block_on(fresh.login(PASSWORD));
    assert_eq!(login.status, 200, "login while the disk is full: {}\n{}", login.text(), daemon.stderr());
    let seen_by_fresh = rt.block_on(fresh.get("/api/status"));
    assert_eq!(seen_by_fresh.json["disk"]["full"], true, "{}", seen_by_fresh.text());
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    phases.push(("browser", Instant::now()));
    let banner = rt.block_on(async {
        let b = Browser::start(&shots).await;
        b.goto(&daemon.url("/")).await;
        b.wait_text("Log in to manage", 15).await;
        b.fill("#login-form [name=password]", PASSWORD).await;
        b.click("#login-form button[type=submit]").await;
        b.wait_text("Disk full", 15).await;
        b.screenshot("disk-full-dashboard").await;
        b.find("#dash-disk-full").await;
        b.text().await
    });
    assert!(banner.contains("Channels keep playing"), "dashboard: {banner}");
    assert!(daemon.stderr().contains("session kept in memory only"), "the logins did not need the fallback");
    phases.push(("full, browser done", Instant::now()));
    // Full for a while: items change (as-run writes fail), HLS writes fail.
    std::thread::sleep(Duration::from_secs(8));
    assert!(daemon.child.try_wait().unwrap().is_none(), "daemon exited:\n{}", daemon.stderr());
    let log = daemon.stderr();
    assert!(
        log.lines().any(|l| (l.contains("WARN") || l.contains("ERROR")) && l.contains("data disk full")),
        "no warning about the full disk:\n{log}"
    );
    let during = seen.lock().unwrap().bytes;

    // Free the space: HLS resumes, the as-run events of the full period are written.
    stop_filling.store(true, Ordering::Relaxed);
    topper.join().unwrap();
    std::fs::remove_file(&filler).unwrap();
    let freed_at = chrono::Utc::now().timestamp_millis();
    phases.push(("freed", Instant::now()));
    assert!(log.contains("cannot write the as-run log"), "as-run writes did not fail while full:\n{log}");
    let stuck = hls_last_segment(&addr).unwrap_or(before);
    util::wait_for(Duration::from_secs(20), || hls_last_segment(&addr).filter(|s| *s > stuck + 1))
        .unwrap_or_else(|| panic!("HLS did not resume after space was freed:\n{}", daemon.stderr()));
    util::wait_for(Duration::from_secs(20), || {
        (rt.block_on(api.get("/api/status")).json["disk"]["full"] == false).then_some(())
    })
    .expect("/api/status still says the disk is full");
    let aired_while_full = util::wait_for(Duration::from_secs(20), || {
        let n: i64 = retrovue::db::Db::open(&db_path).unwrap().call_blocking(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM playout_log WHERE actual_start_ms BETWEEN ?1 AND ?2
                   AND status != 'failed' AND kind != 'slate'",
                [full_at, freed_at],
                |r| r.get(0),
            )
            .unwrap()
        });
        (n > 0).then_some(n)
    })
    .unwrap_or_else(|| {
        let rows: Vec<(i64, Option<i64>, String)> = retrovue::db::Db::open(&db_path).unwrap().call_blocking(|c| {
            let mut q =
                c.prepare("SELECT actual_start_ms, actual_end_ms, status FROM playout_log ORDER BY id").unwrap();
            q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
        });
        panic!("the as-run events of the full period ({full_at}..{freed_at}) were lost: {rows:?}\n{}", daemon.stderr())
    });
    println!("as-run rows written after recovery for the full period: {aired_while_full}");
    let log = daemon.stderr();
    for line in log.lines().filter(|l| l.contains("as-run") || l.contains("HLS w")) {
        println!("{line}");
    }
    std::thread::sleep(Duration::from_secs(2));

    stop.store(true, Ordering::Relaxed);
    viewer.join().unwrap();
    let w = seen.lock().unwrap();
    println!(
        "viewer: {} bytes, first after {:?}, then worst gap {:?}, {} frames",
        w.bytes, w.first_bytes_after, w.worst_gap, w.ts.video_frames
    );
    for (what, at) in &phases {
        println!("  {:>6.2} s  {what}", (*at - t0).as_secs_f64());
    }
    if let Some(at) = w.worst_gap_at {
        println!("  {:>6.2} s  the worst gap ended", (at - t0).as_secs_f64());
    }
    assert!(w.ended.is_none(), "the viewer's stream stopped: {:?}", w.ended);
    assert!(w.bytes > during, "no bytes after the disk was freed");
    assert!(w.worst_gap < Duration::from_secs(2), "the viewer stalled for {:?}", w.worst_gap);
    assert_eq!(w.ts.sync_errors, 0);
    // Pictures all along (30 fps): the timestamp checks below are about a stream with video.
    let watched = (Instant::now() - t0).as_secs_f64();
    assert!(w.ts.video_frames as f64 > watched * 20.0, "{} frames in {watched:.0} s", w.ts.video_frames);
    assert!(
        w.ts.discontinuities.is_empty(),
        "PTS discontinuities: {:?}",
        &w.ts.discontinuities[..w.ts.discontinuities.len().min(5)]
    );

    let log = daemon.stderr();
    assert!(!log.contains("panicked"), "a task panicked:\n{log}");
    assert!(log.contains("data disk has space again"), "recovery not logged:\n{log}");
    assert!(daemon.terminate(Duration::from_secs(20)), "no clean exit:\n{}", daemon.stderr());
    let check: String = retrovue::db::Db::open(&db_path)
        .unwrap()
        .call_blocking(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap());
    assert_eq!(check, "ok");
    let _ = Command::new("umount").arg(home.data_dir()).status();
}
