//! The wall clock jumps forward an hour while a channel is on air (NTP answering after boot
//! on a box without an RTC): the real daemon, run under libfaketime with a timestamp file the
//! test rewrites (the monotonic clock, which GStreamer and tokio time with, is left alone),
//! re-aligns the channel to the schedule for the new time while the viewer stays connected
//! and its timestamps stay continuous.

mod util;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use util::Home;

/// libfaketime's multithreaded library (installed by `scripts/deps.sh --test`).
fn libfaketime() -> PathBuf {
    ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib"]
        .iter()
        .map(|d| PathBuf::from(d).join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists())
        .expect("libfaketime is not installed (apt install libfaketime; scripts/deps.sh --test)")
}

/// What one viewer of /stream/2.ts saw.
struct Viewing {
    ts: util::ts::TsFollower,
    longest_wait: Duration,
    bytes: usize,
    disconnected: bool,
}

async fn watch(url: String, stop: Arc<AtomicBool>) -> Viewing {
    let mut v = Viewing { ts: Default::default(), longest_wait: Duration::ZERO, bytes: 0, disconnected: false };
    let mut resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut last: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        let chunk = match tokio::time::timeout(Duration::from_secs(5), resp.chunk()).await {
            Ok(Ok(Some(c))) => c,
            _ => {
                v.disconnected = true;
                break;
            }
        };
        if let Some(t) = last {
            v.longest_wait = v.longest_wait.max(t.elapsed());
        }
        last = Some(Instant::now());
        v.ts.feed(&chunk);
        v.bytes += chunk.len();
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wall_clock_jump_re_aligns_the_channel_to_the_schedule_and_viewers_stay() {
    let home = Home::new();
    util::echo_channel(&home, 5.0, 2, 2.0, &["scan"]);
    let rc = home.path().join("faketime.rc");
    std::fs::write(&rc, "+0\n").unwrap();
    let lib = libfaketime();
    let daemon = home.serve_with_env(
        &[],
        &[
            ("LD_PRELOAD", lib.to_str().unwrap()),
            ("FAKETIME_TIMESTAMP_FILE", rc.to_str().unwrap()),
            ("FAKETIME_CACHE_DURATION", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ("DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let viewer = tokio::spawn(watch(daemon.url("/stream/2.ts"), stop.clone()));
    tokio::time::sleep(Duration::from_secs(5)).await;

    // NTP steps the clock forward an hour.
    std::fs::write(&rc, "+3600\n").unwrap();
    let jumped = chrono::Utc::now() + chrono::Duration::hours(1);
    let noticed = Instant::now() + Duration::from_secs(10);
    while !daemon.stderr().contains("clock jump") {
        assert!(Instant::now() < noticed, "the jump was not noticed:\n{}", daemon.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, Ordering::SeqCst);
    let v = viewer.await.unwrap();

    // The viewer stayed connected and never waited a second; one continuous timeline.
    assert!(!v.disconnected, "the viewer was disconnected");
    assert!(v.bytes > 200_000, "only {} bytes", v.bytes);
    assert!(v.longest_wait < Duration::from_secs(1), "the stream stalled for {:?}", v.longest_wait);
    assert_eq!(v.ts.sync_errors, 0);
    assert!(v.ts.video_frames > 300, "{} frames", v.ts.video_frames);
    assert!(v.ts.discontinuities.is_empty(), "PTS discontinuities: {:?}", v.ts.discontinuities);

    // What aired after the jump is what the schedule has on at the new time, and the item
    // cut by the jump is in the as-run log with the reason.
    let db = retrovue::db::Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let since = jumped.timestamp_millis() - 2_000;
    let (aired, aired_at, planned) = util::first_aired_since(&db, since);
    let cut: Option<String> = db.call_blocking(|c| {
        c.query_row("SELECT error FROM playout_log WHERE error LIKE '%clock jumped%' LIMIT 1", [], |r| r.get(0)).ok()
    });
    println!("re-aligned: first airing after the jump started {} ms after it", aired_at - jumped.timestamp_millis());
    assert!(planned.is_some(), "nothing scheduled at {aired_at}");
    assert_eq!(aired, planned, "after the jump the channel did not air the scheduled item");
    assert!(aired_at < jumped.timestamp_millis() + 5_000, "re-aligned only at {aired_at}");
    assert!(cut.is_some_and(|e| e.contains("+3600")), "the cut item is not logged");
}
