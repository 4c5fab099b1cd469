//! Playout under faults and odd sources, through the library API with a real channel pipeline
//! (x264) and real generated media, read back with ffprobe/ffmpeg:
//! - an HTTP source (a tiny server on 127.0.0.1 standing in for a Plex part URL) that stalls,
//!   and one that drops the connection and goes away, mid-item; a local file truncated and
//!   one deleted while on air: the stream never stops, the gap is black, the next item starts
//!   on time, the as-run log says why;
//! - slow drift of the wall clock is slewed into the anchor, gently;
//! - a playout actor that dies (panics) is restarted by the director with back-off while the
//!   viewer stays subscribed.

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use retrovue::clock::{Clock, SystemClock};
use retrovue::lineup::Channel;
use retrovue::lineup::{ChannelId, FrameRate, OutputProfile, VideoFormat};
use retrovue::playout::overlay::ChannelGraphics;
use retrovue::playout::pipeline::Output;
use retrovue::playout::supervisor::{self, ChannelOverlay, Overlays};
use retrovue::playout::timeline::Anchor;
use retrovue::playout::{AsRunStatus, ChannelPlayer};
use retrovue::schedule::horizons::{self, Horizon, Horizons};
use retrovue::schedule::{Airing, AiringKind};
use retrovue::stream::StreamHub;
use tokio::sync::watch;
use util::Clip;
use util::media::{Frame, assert_continuous, dump, frames, off_schedule, wall_of};
use util::player::{self, Log};

fn airing(id: i64, title: &str, uri: &str, start: DateTime<Utc>, ms: i64) -> Airing {
    Airing {
        id,
        channel_id: ChannelId(1),
        program_id: None,
        start,
        end: start + chrono::Duration::milliseconds(ms),
        kind: AiringKind::Program,
        media_id: None,
        uri: Some(uri.to_owned()),
        title: title.into(),
        offset_in_ms: 0,
        offset_out_ms: ms,
        loudness_lufs: Some(-24.0),
        card: None,
    }
}

/// Read the channel's TS until `until` into `path`; the longest wait between two chunks.
async fn capture(hub: &StreamHub, path: &Path, until: DateTime<Utc>) -> Duration {
    let mut sub = hub.subscribe(ChannelId(1));
    let mut out = Vec::new();
    let secs = (until - SystemClock.now()).num_milliseconds().max(0) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(secs);
    let (mut last, mut longest) = (None::<Instant>, Duration::ZERO);
    while let Ok(Some(bytes)) = tokio::time::timeout_at(deadline, sub.next()).await {
        if let Some(t) = last {
            longest = longest.max(t.elapsed());
        }
        last = Some(Instant::now());
        out.extend_from_slice(&bytes);
    }
    std::fs::write(path, &out).unwrap();
    assert!(out.len() > 100_000, "only {} bytes", out.len());
    longest
}

/// Channel 1 in SD at 1000 kb/s playing `airings`, running: the player and its anchor.
async fn start_sd(airings: Vec<Airing>, hub: &StreamHub, log: &Arc<Log>) -> (ChannelPlayer, Anchor) {
    let profile = OutputProfile {
        format: VideoFormat::Sd640x480,
        frame_rate: FrameRate::Ntsc,
        video_kbps: retrovue::lineup::VideoKbps::of(1000),
        audio_kbps: retrovue::lineup::AudioKbps::of(96),
    };
    let player = player::spawn(profile, airings, hub, log.clone(), None);
    assert!(player.wait_running(Duration::from_secs(10)).await, "pipeline did not start");
    let anchor = player.status().anchor.unwrap();
    (player, anchor)
}

fn coloured(secs: f64, pattern: &'static str) -> Clip {
    let mut c = Clip::new(640, 480, secs);
    c.pattern = pattern;
    c
}

// ---- A tiny HTTP server standing in for a Plex part URL ----

#[derive(Clone, Copy)]
enum Fault {
    /// Send `n` bytes, then keep the connection open without sending anything.
    StallAt(usize),
    /// Send `n` bytes, then close the connection; every later request is closed unanswered.
    DropAt(usize),
}

/// Serve `data` over HTTP/1.1 on 127.0.0.1 (Range requests honoured) with `fault`, paced at
/// `bytes_per_sec` (a remote server is not infinitely fast; without the pacing the whole clip
/// would be read ahead before it airs and a fault would never show on air).
fn http_source(data: Vec<u8>, fault: Fault, bytes_per_sec: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/library/parts/1/file.ts", listener.local_addr().unwrap());
    let data = Arc::new(data);
    let gone = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (data, gone) = (data.clone(), gone.clone());
            std::thread::spawn(move || serve_conn(conn, &data, fault, bytes_per_sec, &gone));
        }
    });
    url
}

fn serve_conn(mut conn: TcpStream, data: &[u8], fault: Fault, bytes_per_sec: usize, gone: &AtomicBool) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    if gone.load(Ordering::SeqCst) {
        return; // the server went away: the connection closes unanswered
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let from = head
        .lines()
        .find_map(|l| l.strip_prefix("range: bytes="))
        .and_then(|r| r.split('-').next()?.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(data.len());
    let mut resp = format!(
        "HTTP/1.1 {}\r\nContent-Type: video/mp2t\r\nAccept-Ranges: bytes\r\nContent-Length: {}\r\nConnection: close\r\n",
        if from > 0 { "206 Partial Content" } else { "200 OK" },
        data.len() - from
    );
    if from > 0 {
        resp.push_str(&format!("Content-Range: bytes {from}-{}/{}\r\n", data.len() - 1, data.len()));
    }
    resp.push_str("\r\n");
    if conn.write_all(resp.as_bytes()).is_err() {
        return;
    }
    let (Fault::StallAt(limit) | Fault::DropAt(limit)) = fault;
    let started = Instant::now();
    let mut sent = 0usize;
    for chunk in data[from..limit.max(from).min(data.len())].chunks(8 * 1024) {
        let due = Duration::from_secs_f64(sent as f64 / bytes_per_sec as f64);
        std::thread::sleep(due.saturating_sub(started.elapsed()));
        if conn.write_all(chunk).is_err() {
            return;
        }
        sent += chunk.len();
    }
    match fault {
        Fault::StallAt(_) => std::thread::sleep(Duration::from_secs(300)),
        Fault::DropAt(_) => {
            gone.store(true, Ordering::SeqCst);
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_stalls_and_drops_and_vanishing_files_are_covered_logged_and_the_next_item_is_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |name: &str, c: Clip| {
        let p = d.join(name);
        c.write(&p);
        p
    };
    let red_ts = std::fs::read(write("red.ts", coloured(4.0, "red"))).unwrap();
    let blue_ts = std::fs::read(write("blue.ts", coloured(4.0, "blue"))).unwrap();
    let green = write("green.mp4", coloured(2.0, "green"));
    let mut wide = coloured(2.0, "green");
    (wide.width, wide.height) = (1280, 720);
    let wide = write("wide.mp4", wide);
    let doomed = write("doomed.mp4", coloured(4.0, "red"));
    let deleted = write("deleted.mp4", coloured(1.5, "blue"));
    let gone = write("gone.mp4", coloured(1.5, "red"));
    // Plex-like part URLs sent at the media's own rate (the item is opened 1.5 s before air):
    // one stalls after a fifth of the file (0.8 s of media), one drops after three quarters
    // (3 s of media, 1.5 s after air) and the server is gone.
    let stall_url = http_source(red_ts.clone(), Fault::StallAt(red_ts.len() / 5), red_ts.len() / 4);
    let drop_url = http_source(blue_ts.clone(), Fault::DropAt(blue_ts.len() * 3 / 4), blue_ts.len() / 4);

    let t0 = SystemClock.now() + chrono::Duration::milliseconds(2500);
    let at = move |ms: i64| t0 + chrono::Duration::milliseconds(ms);
    let g = green.display().to_string();
    let airings = vec![
        airing(1, "http stall", &stall_url, at(0), 4000),
        airing(2, "after stall", &wide.display().to_string(), at(4000), 2000),
        airing(3, "http drop", &drop_url, at(6000), 4000),
        airing(4, "after drop", &g, at(10_000), 2000),
        airing(5, "truncated", &doomed.display().to_string(), at(12_000), 4000),
        airing(6, "after truncation", &g, at(16_000), 2000),
        airing(7, "deleted on air", &deleted.display().to_string(), at(18_000), 1500),
        airing(8, "deleted", &gone.display().to_string(), at(19_500), 1500),
        airing(9, "last", &g, at(21_000), 1500),
    ];
    let hub = StreamHub::new();
    let log = Arc::new(Log::default());
    let (player, anchor) = start_sd(airings, &hub, &log).await;

    // Truncate one file and delete another while they are on air; delete a third after it
    // was scheduled, before it is opened (1.5 s before its air time).
    let vandal = {
        let (doomed, deleted, gone) = (doomed.clone(), deleted.clone(), gone.clone());
        tokio::spawn(async move {
            let sleep_until =
                |t: DateTime<Utc>| tokio::time::sleep((t - SystemClock.now()).to_std().unwrap_or_default());
            sleep_until(at(12_500)).await;
            let len = std::fs::metadata(&doomed).unwrap().len();
            std::fs::OpenOptions::new().write(true).open(&doomed).unwrap().set_len(len * 35 / 100).unwrap();
            sleep_until(at(17_200)).await;
            std::fs::remove_file(&gone).unwrap();
            sleep_until(at(18_500)).await;
            std::fs::remove_file(&deleted).unwrap();
        })
    };
    let ts = d.join("out.ts");
    let longest_wait = capture(&hub, &ts, at(22_800)).await;
    vandal.await.unwrap();
    player.stop().await;

    // The viewer never waited more than a second, and the timestamps never broke.
    assert!(longest_wait < Duration::from_secs(1), "the stream stalled for {longest_wait:?}");
    assert_continuous(&ts);
    let f = frames(&ts);
    assert!(f.iter().all(|x| (x.width, x.height) == (640, 480)), "output size changed");
    let off_ms = |x: &Frame, t: DateTime<Utc>| (wall_of(&anchor, x.pts) - t).num_milliseconds();
    // Colours seen between two instants (relative to t0, in ms).
    let seen = |from: i64, to: i64| -> String {
        let mut s: Vec<char> =
            f.iter().filter(|x| off_ms(x, t0) >= from && off_ms(x, t0) < to).map(Frame::colour).collect();
        s.dedup();
        s.into_iter().collect()
    };
    dump(&f, &anchor, t0, &log);
    // Each failing item went on air, then the gap was covered with black before its slot ended.
    assert_eq!(seen(100, 900), "r", "the HTTP item did not start");
    assert_eq!(seen(3400, 3950), "k", "the stalled HTTP item was not cut and covered");
    assert!(seen(6100, 6300).starts_with('b'), "the second HTTP item did not start: {}", seen(6000, 10_000));
    assert_eq!(seen(9500, 9950), "k", "the dropped HTTP item was not covered");
    assert_eq!(seen(12_100, 12_450), "r", "the file to truncate did not play");
    assert_eq!(seen(15_000, 15_950), "k", "the truncated file was not covered");
    assert_eq!(seen(18_100, 19_400), "b", "the file deleted on air did not play on");
    assert_eq!(seen(19_600, 20_950), "k", "the deleted file was not covered");
    // 16:9 into this 4:3 channel is letterboxed.
    for x in f.iter().filter(|x| (4100..5900).contains(&off_ms(x, t0))) {
        assert_eq!((x.rows[0], x.rows[3], x.rows[7]), ('k', 'g', 'k'), "not letterboxed: {:?}", x.rows);
        assert!(x.cols.iter().all(|c| *c == 'g'), "{:?}", x.cols);
    }
    // The next item starts on time, to the frame.
    for start in [4000, 10_000, 16_000, 21_000] {
        let first = f.iter().find(|x| x.colour() == 'g' && off_ms(x, t0) >= start - 500).expect("green");
        assert_eq!(
            off_schedule(&anchor, first.pts, at(start), 1),
            None,
            "item at {start} ms started this many ms off schedule"
        );
    }

    // The as-run log says what happened and why.
    let status = |t: &str| {
        let (s, why) = log.final_status(t).unwrap_or_else(|| panic!("{t} not in the as-run log"));
        (s, why.unwrap_or_default())
    };
    let (s, why) = status("http stall");
    assert_eq!(s, AsRunStatus::Failed, "{why}");
    assert!(why.contains("stalled"), "{why}");
    for t in ["http drop", "truncated"] {
        let (s, why) = status(t);
        assert!(matches!(s, AsRunStatus::Failed | AsRunStatus::Partial), "{t}: {s:?}");
        assert!(!why.is_empty(), "{t} has no reason");
        println!("{t}: {s:?}: {why}");
    }
    assert!(status("truncated").1.contains("truncated or replaced"), "{:?}", status("truncated"));
    let (s, why) = status("deleted");
    assert_eq!(s, AsRunStatus::Failed);
    assert!(why.contains("cannot read"), "{why}");
    for t in ["after stall", "after drop", "after truncation", "deleted on air"] {
        assert_eq!(status(t).0, AsRunStatus::Aired, "{t}");
    }
}

// ---- A TS item over HTTP joined in progress ----

/// The media second a tone of the joined item's clip stands for
/// ([`util::audio::second_tone_hz`]).
fn tone_second(hz: f64) -> Option<i64> {
    (0..30).find(|&k| (hz - util::audio::second_tone_hz(k)).abs() < 1.0)
}

/// A TS item served over HTTP (a Plex DVR recording, say) joined 10 s into its slot must air
/// from 10 s in, and to its end. tsdemux reads an HTTP source in push mode and finds a time by
/// extrapolating the bytes per second it has seen: a joined item has seen its first second or
/// so, and a busy opening (here 4 s of noise, several times the clip's average rate) sent it
/// past the end of the file: the whole slot aired silent (before 2026-12-07; the overload
/// test's retry of a TS item landed 7 s late, its slot's last 5 s black and silent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ts_item_over_http_joined_in_progress_airs_from_its_offset_to_its_end() {
    joined_ts_airs_from_its_offset(true).await;
}

/// The same TS item read from a file: tsdemux finds the offset itself, but in the stream's
/// own time, which starts at the first timestamp past the first PCR (0.7 s in files ffmpeg
/// writes): the join aired 0.7 s of media early, the content late by as much to the slot's
/// end (before 2026-12-07).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ts_file_joined_in_progress_airs_from_its_offset_to_its_end() {
    joined_ts_airs_from_its_offset(false).await;
}

/// A TS item joined 10 s in, served over HTTP at three times its rate or read from a file,
/// with x264's default keyframe distance (250 frames: 8.3 s). The clip says where it is: media
/// second k sounds at 700 + 40 k Hz. The capture's sound, read in quarter seconds and placed
/// on the wall clock by the channel's anchor, must sound the second the schedule has on air,
/// from the channel's start until the slot ends; its pictures must be whole (the colour bars
/// of `testsrc2`, not a decoder's smears from a join that landed between keyframes).
async fn joined_ts_airs_from_its_offset(over_http: bool) {
    const SECS: i64 = 24;
    const JOIN_MS: i64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clip = d.join("joined.ts");
    util::audio::second_tones_clip(
        &clip,
        &format!("testsrc2=s=640x480:r=30000/1001:d={SECS},noise=alls=100:allf=t+u:enable='lt(t,4)'"),
        SECS,
        250,
    );
    let data = std::fs::read(&clip).unwrap();
    // All of it, served at three times the media's rate.
    let len = data.len();
    let url = http_source(data, Fault::StallAt(len), len * 3 / SECS as usize);
    let after = d.join("after.mp4");
    coloured(4.0, "green").write(&after);

    let now = SystemClock.now();
    let start = now - chrono::Duration::milliseconds(JOIN_MS);
    let end = start + chrono::Duration::seconds(SECS);
    let airings = vec![
        airing(1, "joined", if over_http { &url } else { clip.to_str().unwrap() }, start, SECS * 1000),
        airing(2, "after", &after.display().to_string(), end, 4000),
    ];
    let hub = StreamHub::new();
    let log = Arc::new(Log::default());
    let (player, anchor) = start_sd(airings, &hub, &log).await;
    let ts = d.join("out.ts");
    capture(&hub, &ts, end + chrono::Duration::milliseconds(2500)).await;
    player.stop().await;

    let wav = d.join("out.wav");
    util::audio::decode_track(&ts, "0:a:0", &wav);
    let samples = util::audio::wav_samples(&wav);
    let first_pts: i64 = util::media::probe(&ts, "a", "-show_packets", "packet=pts")
        .first()
        .and_then(|p| p["pts"].parse().ok())
        .expect("no audio packet");
    // Each quarter second: its middle on the wall clock, as media time of the joined item (s),
    // and the media second its tone says (None: silence or another tone).
    let quarter = 2 * 12_000;
    let heard: Vec<(f64, Option<i64>)> = samples
        .chunks(quarter)
        .enumerate()
        .filter(|(_, c)| c.len() == quarter)
        .map(|(i, c)| {
            let mid = first_pts + (i as i64 * 12_000 + 6_000) * 90 / 48;
            let media = (wall_of(&anchor, mid) - start).num_milliseconds() as f64 / 1000.0;
            let loud = util::audio::rms_db(c) > -40.0;
            (media, loud.then(|| tone_second(util::audio::dominant_hz(c))).flatten())
        })
        .collect();
    let summary: Vec<String> =
        heard.iter().map(|(m, k)| format!("{m:.2}:{}", k.map_or("-".into(), |k| k.to_string()))).collect();
    println!("media time : second heard\n{}", summary.join(" "));
    for e in log.0.lock().unwrap().iter() {
        println!("as-run: {} {:?} {:?}", e.airing.title, e.status, e.reason);
    }
    // The slot from the join to its end, with 3 s of grace at the join (a channel's cold
    // start: 1.2-2.3 s to its first sound here, idle and beside four busy loops) and a quarter
    // at the end.
    let (from, to) = ((JOIN_MS as f64) / 1000.0 + 3.0, SECS as f64 - 0.5);
    let within: Vec<&(f64, Option<i64>)> = heard.iter().filter(|(m, _)| (from..to).contains(m)).collect();
    assert!(within.len() as f64 >= (to - from) * 4.0 - 2.0, "the capture does not cover the slot: {summary:?}");
    let wrong: Vec<String> = within
        .iter()
        .filter(|(m, k)| k.is_none_or(|k| (*m - (k as f64 + 0.5)).abs() > 0.8))
        .map(|(m, k)| format!("{m:.2} s: {k:?}"))
        .collect();
    assert!(
        wrong.len() <= 2,
        "{} of {} quarter seconds of the joined slot did not sound the scheduled second (media s: heard second): {wrong:?}",
        wrong.len(),
        within.len()
    );
    // testsrc2's bars across the middle of the picture, on the 8-cell grid: red in the first
    // cell or blue in the fifth (the others straddle two bars; its moving lines cross one of
    // the two now and then).
    let pictures: Vec<(f64, String)> = frames(&ts)
        .iter()
        .map(|f| ((wall_of(&anchor, f.pts) - start).num_milliseconds() as f64 / 1000.0, f.cols.iter().collect()))
        .filter(|(m, _)| (from..to).contains(m))
        .collect();
    let smeared: Vec<&(f64, String)> =
        pictures.iter().filter(|(_, c)| !(c.starts_with('r') || c.chars().nth(4) == Some('b'))).collect();
    println!("{} of {} pictures of the joined slot are not the colour bars", smeared.len(), pictures.len());
    assert!(pictures.len() > 280, "too few pictures of the joined slot: {}", pictures.len());
    assert!(
        smeared.len() <= 3,
        "{} of {} pictures of the joined slot are not the colour bars (media s, colours across): {:?}",
        smeared.len(),
        pictures.len(),
        &smeared[..smeared.len().min(20)]
    );
}

// ---- Slow drift of the wall clock against the pipeline clock ----

/// The system clock plus an offset the test changes (an NTP slew, sped up).
#[derive(Default)]
struct OffsetClock(std::sync::atomic::AtomicI64);

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + chrono::Duration::milliseconds(self.0.load(Ordering::SeqCst))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_drift_is_absorbed_gently_by_moving_the_anchor() {
    gstreamer::init().unwrap();
    let hub = StreamHub::new();
    let clock = Arc::new(OffsetClock::default());
    let config = player::x264_config(OutputProfile {
        format: VideoFormat::Sd640x480,
        frame_rate: FrameRate::Ntsc,
        video_kbps: retrovue::lineup::VideoKbps::of(500),
        audio_kbps: retrovue::lineup::AudioKbps::of(64),
    });
    let output = Output { feed: hub.feed(ChannelId(1)), hls: None };
    let log = Arc::new(Log::default());
    let player = ChannelPlayer::spawn(config, horizons::fixed(Horizon::default()), log, clock.clone(), output).unwrap();
    assert!(player.wait_running(Duration::from_secs(10)).await);
    let (a0, r0) = (player.status().anchor.unwrap(), player.status().restarts);
    // The wall clock is found 120 ms ahead of the pipeline's idea of it.
    clock.0.store(120, Ordering::SeqCst);
    let moved = |a: Anchor| (a.wall - a0.wall).num_milliseconds() - (a.running_ns - a0.running_ns) as i64 / 1_000_000;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = player.status();
    assert_eq!(status.restarts, r0, "the pipeline was rebuilt: {status:?}");
    let early = moved(status.anchor.unwrap());
    tokio::time::sleep(Duration::from_millis(6000)).await;
    let late = player.status().anchor.unwrap();
    let status = player.status();
    player.stop().await;
    // Gently: at most ~20 ms per second, no rebuild, no jump; and it converges.
    assert!((5..=45).contains(&early), "after 1.5 s the anchor moved {early} ms");
    assert!((110..=125).contains(&moved(late)), "after 7.5 s the anchor moved {} ms", moved(late));
    assert_eq!(status.restarts, r0, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backward_clock_step_rejoins_the_schedule_on_the_same_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let red = dir.path().join("red.mp4");
    coloured(6.0, "red").write(&red);
    let blue = dir.path().join("blue.mp4");
    coloured(3.5, "blue").write(&blue);
    gstreamer::init().unwrap();
    let hub = StreamHub::new();
    let clock = Arc::new(OffsetClock::default());
    let t0 = SystemClock.now() + chrono::Duration::milliseconds(5000);
    let real = move |ms: i64| t0 + chrono::Duration::milliseconds(ms);
    // Blue first, so the channel is warm when red starts (a cold start opens with the first
    // item once its picture and sound are both there: on a busy box its first second may
    // never air, and red's first start would not be where the schedule has it). Blue is on
    // when the channel starts and is joined, with well over the 2 s a join needs left; it ends
    // more than the step before red starts, so the step does not bring it back.
    let airings = vec![
        airing(2, "blue", &blue.display().to_string(), real(-4900), 3400),
        airing(1, "red", &red.display().to_string(), t0, 6000),
    ];
    let config = player::x264_config(OutputProfile {
        format: VideoFormat::Sd640x480,
        frame_rate: FrameRate::Ntsc,
        video_kbps: retrovue::lineup::VideoKbps::of(500),
        audio_kbps: retrovue::lineup::AudioKbps::of(64),
    });
    let log = Arc::new(Log::default());
    let output = Output { feed: hub.feed(ChannelId(1)), hls: None };
    let player =
        ChannelPlayer::spawn(config, horizons::fixed(Horizon::of(airings)), log.clone(), clock.clone(), output)
            .unwrap();
    assert!(player.wait_running(Duration::from_secs(10)).await);
    let r0 = player.status().restarts;
    // Two seconds into the airing the clock is stepped back three seconds: by the new clock
    // the airing has not begun; it starts (again, from the top) a second later.
    let step = {
        let clock = clock.clone();
        tokio::spawn(async move {
            tokio::time::sleep((real(2000) - SystemClock.now()).to_std().unwrap()).await;
            clock.0.store(-3000, Ordering::SeqCst);
        })
    };
    let ts = dir.path().join("out.ts");
    let longest = capture(&hub, &ts, real(7000)).await;
    step.await.unwrap();
    let status = player.status();
    player.stop().await;

    assert!(longest < Duration::from_secs(1), "the stream stalled for {longest:?}");
    assert_continuous(&ts);
    assert_eq!(status.restarts, r0, "the pipeline was rebuilt: {status:?}");
    let f = frames(&ts);
    let mut runs: Vec<char> = f.iter().map(Frame::colour).collect();
    runs.dedup();
    // The output starts with the programme (a cold channel sends nothing before it): blue,
    // the gap before red, red until the step, the second before red by the new clock, red.
    assert_eq!(runs.iter().collect::<String>(), "bkrkr", "what aired: {runs:?}");
    // The first run was cut by the step; the second starts at the airing's start by the new
    // clock, which is 3 s after the first did (to the frame).
    let starts: Vec<i64> = f
        .iter()
        .enumerate()
        .filter(|(i, x)| x.colour() == 'r' && (*i == 0 || f[i - 1].colour() != 'r'))
        .map(|(_, x)| x.pts)
        .collect();
    let gap_ms = (starts[1] - starts[0]) / 90;
    assert!((2960..=3040).contains(&gap_ms), "the airing restarted {gap_ms} ms after it first started");
    let entries = log.0.lock().unwrap().clone();
    let cut = entries.iter().find(|e| e.status == AsRunStatus::Partial).expect("the cut is not in the as-run log");
    assert!(cut.reason.as_deref().is_some_and(|r| r.contains("jumped -3.0 s")), "{:?}", cut.reason);
    assert_eq!(entries.iter().filter(|e| e.status == AsRunStatus::Started && e.airing.title == "red").count(), 2);
}

// ---- The supervisor restarts a channel whose actor died ----

/// Graphics whose overlay factory (called by the actor at every pipeline build) panics while
/// `panics` is above 0. The overlay is an `identity`; [`PanickyOverlays::fail`] makes the one
/// on air post an error, so the actor rebuilds, and the rebuild is where it dies.
#[derive(Default)]
struct PanickyOverlays {
    panics: AtomicU32,
    on_air: Mutex<Option<gstreamer::Element>>,
    /// Every build: when, and whether it panicked.
    calls: Mutex<Vec<(Instant, bool)>>,
}

impl Overlays for PanickyOverlays {
    fn for_channel(&self, channel: &Channel, _: watch::Receiver<Arc<Horizon>>) -> ChannelOverlay {
        let me = PANICKY.get().expect("overlays set").clone();
        let video: retrovue::playout::pipeline::OverlayFactory = Arc::new(move || {
            let panic = me.panics.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
            me.calls.lock().unwrap().push((Instant::now(), panic));
            assert!(!panic, "test: the pipeline build blew up");
            let identity = gstreamer::ElementFactory::make("identity").build().unwrap();
            *me.on_air.lock().unwrap() = Some(identity.clone());
            Some(identity)
        });
        let (_alerts, rx) = watch::channel(Arc::default());
        ChannelOverlay {
            video,
            audio: Arc::new(|| None),
            graphics: ChannelGraphics::new(channel, rx, Arc::new(SystemClock), chrono_tz::UTC),
            presentation: Default::default(),
            keep: Box::new(()),
        }
    }
}

impl PanickyOverlays {
    /// The pipeline on air fails: its overlay element posts an error on the bus.
    fn fail(&self) {
        let on_air = self.on_air.lock().unwrap().clone().expect("no pipeline built yet");
        gstreamer::element_error!(on_air, gstreamer::StreamError::Failed, ["test: the pipeline fails"]);
    }
}

static PANICKY: std::sync::OnceLock<Arc<PanickyOverlays>> = std::sync::OnceLock::new();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_playout_actor_is_restarted_by_the_supervisor_with_backoff_and_the_viewer_stays() {
    let home = util::Home::new();
    home.ok(&["channel", "add", "5", "--name", "Test"]);
    home.ok(&["schedule", "build", "--days", "1"]);
    let db = retrovue::db::Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let channel = db.call_blocking(|c| retrovue::lineup::store::by_number(c, "5")).unwrap().unwrap().id;
    let hls = home.path().join("hls");
    let config = retrovue::config::Config::from_toml(&format!(
        "[playout]\nencoder = \"x264enc\"\nhls_dir = \"{}\"\n",
        hls.display()
    ))
    .unwrap();
    let source = PANICKY.get_or_init(|| Arc::new(PanickyOverlays::default())).clone();
    let hub = StreamHub::new();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let clock: retrovue::clock::SharedClock = Arc::new(SystemClock);
    let as_run = Arc::new(retrovue::schedule::asrun::AsRunLog::start(db.clone(), clock.clone(), &tracker));
    let lineups = retrovue::lineup::Lineups::load(&db).await.unwrap();
    let horizons = Horizons::new(db.clone(), clock.clone());
    tracker.spawn(horizons.clone().follow(shutdown.clone()));
    // The viewer arrives first: its demand starts the on-demand channel.
    let mut sub = hub.subscribe(channel);
    let director = tokio::spawn(supervisor::run(supervisor::SupervisorDeps {
        settings: config.playout.clone(),
        lineup: lineups.subscribe(),
        horizons,
        hub: hub.clone(),
        as_run: as_run.clone(),
        loudness: None,
        subtitles: None,
        clock,
        overlays: Some(source.clone()),
        shutdown: shutdown.clone(),
    }));
    let first = tokio::time::timeout(Duration::from_secs(20), sub.next()).await;
    assert!(matches!(first, Ok(Some(_))), "the channel did not start");

    // Two deaths in a row once the first airing is on air: the running actor's rebuild after
    // a pipeline error, then the first build of the actor that replaces it.
    while source.calls.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    source.panics.store(2, Ordering::SeqCst);
    source.fail();
    let armed = Instant::now();
    let mut follower = util::ts::TsFollower::default();
    let mut after = util::ts::TsFollower::default();
    let (mut longest, mut last) = (Duration::ZERO, Instant::now());
    let mut recovered_at = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(35);
    while tokio::time::Instant::now() < deadline {
        let chunk = match tokio::time::timeout_at(deadline, sub.next()).await {
            Ok(Some(c)) => c,
            Ok(None) => panic!("the viewer was disconnected"),
            Err(_) => break,
        };
        longest = longest.max(last.elapsed());
        last = Instant::now();
        follower.feed(&chunk);
        let calls = source.calls.lock().unwrap().clone();
        let restarted = calls.iter().filter(|c| c.1).count() == 2 && calls.last().is_some_and(|c| !c.1);
        if restarted {
            let at = *recovered_at.get_or_insert(Instant::now());
            if at.elapsed() > Duration::from_secs(1) {
                after.feed(&chunk); // the third pipeline, once it is well under way
                if after.video_frames > 90 {
                    break;
                }
            }
        }
    }
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(20), director).await;
    drop(as_run);
    tracker.close();
    tokio::time::timeout(Duration::from_secs(10), tracker.wait()).await.expect("as-run writer did not finish");

    let calls = source.calls.lock().unwrap().clone();
    let deaths: Vec<Instant> = calls.iter().filter(|c| c.1).map(|c| c.0).collect();
    assert_eq!(deaths.len(), 2, "the actor did not die twice ({:?} since armed)", armed.elapsed());
    let revived =
        calls.iter().find(|c| c.0 > deaths[1]).expect("the channel was not restarted after the second death").0;
    // Back-off: at least 0.5 s before the first restart, then at least 1 s.
    assert!(deaths[1] - deaths[0] >= Duration::from_millis(500), "{:?}", deaths[1] - deaths[0]);
    assert!(revived - deaths[1] >= Duration::from_secs(1), "{:?}", revived - deaths[1]);
    assert!(revived - deaths[1] < Duration::from_secs(10), "{:?}", revived - deaths[1]);
    // The viewer stayed subscribed and got a clean stream from the restarted pipeline: one
    // encoder only (a leaked old pipeline would interleave its timestamps).
    assert!(after.video_frames > 90, "only {} frames after the restart", after.video_frames);
    assert!(after.discontinuities.is_empty(), "{:?}", after.discontinuities);
    assert_eq!(follower.sync_errors, 0);
    println!("longest wait across two restarts: {longest:?}");
    // The as-run log has no entry left open by the dead actors: each was closed at the
    // rebuild or when the airing was rejoined, and the last one when the channel stopped.
    let (open, interrupted, rows): (i64, i64, i64) = db.call_blocking(|c| {
        c.query_row(
            "SELECT SUM(actual_end_ms IS NULL), SUM(error LIKE 'interrupted%'), COUNT(*) FROM playout_log",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    });
    assert!(rows >= 2, "{rows} as-run rows");
    assert_eq!(open, 0, "as-run entries left open");
    // (The actor closes its entries before a rebuild, so deaths during the rebuild leave
    // nothing for the supervisor to close as interrupted; a death mid-airing would.)
    println!("{interrupted} entries closed as interrupted");
}
