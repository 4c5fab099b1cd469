//! Playout under faults and odd sources, through the library API with a real channel pipeline
//! (x264) and real generated media, read back with ffprobe/ffmpeg:
//! - an HTTP source (a tiny server on 127.0.0.1 standing in for a Plex part URL) that stalls,
//!   and one that drops the connection and goes away, mid-item; a local file truncated and
//!   one deleted while on air: the stream never stops, the gap is black, the next item starts
//!   on time, the as-run log says why;
//! - sources of every shape into a 16:9 720p channel (interlaced, 5.1, mono, no audio, 4:3
//!   pillarboxed, 25 fps): constant output caps, stereo out, continuous timestamps;
//! - a playout actor that dies (panics) is restarted by the director with back-off while the
//!   viewer stays subscribed.

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use retrovue::clock::{Clock, SystemClock};
use retrovue::config::EncoderChoice;
use retrovue::lineup::{ChannelId, FrameRate, OutputProfile, VideoFormat};
use retrovue::playout::pipeline::Output;
use retrovue::playout::timeline::Anchor;
use retrovue::playout::{
    AiringSource, AsRun, AsRunSink, AsRunStatus, ChannelPlayer, PlayerConfig, SourceError, encoder,
};
use retrovue::schedule::{Airing, AiringKind};
use retrovue::stream::StreamHub;
use util::Clip;

struct FakeSource(Vec<Airing>);

impl AiringSource for FakeSource {
    fn airings(
        &self,
        channel: ChannelId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxFuture<'static, Result<Vec<Airing>, SourceError>> {
        let list = self.0.iter().filter(|a| a.channel_id == channel && a.end > from && a.start < to).cloned().collect();
        Box::pin(async move { Ok(list) })
    }
}

#[derive(Default)]
struct Log(Mutex<Vec<AsRun>>);

impl AsRunSink for Log {
    fn record(&self, entry: AsRun) {
        self.0.lock().unwrap().push(entry);
    }
}

impl Log {
    fn final_status(&self, title: &str) -> Option<(AsRunStatus, String)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e.airing.title == title && e.status != AsRunStatus::Started)
            .map(|e| (e.status, e.reason.clone().unwrap_or_default()))
    }
}

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
    }
}

fn spawn(profile: OutputProfile, airings: Vec<Airing>, hub: &StreamHub, log: Arc<Log>) -> ChannelPlayer {
    gstreamer::init().unwrap();
    let config = PlayerConfig {
        channel: ChannelId(1),
        profile,
        encoder: encoder::probe(&EncoderChoice::Named("x264enc".into())).unwrap(),
        target_lufs: -24.0,
        overlay: None,
        audio_overlay: None,
    };
    let output = Output { feed: hub.feed(ChannelId(1)), hls: None };
    ChannelPlayer::spawn(config, Arc::new(FakeSource(airings)), log, Arc::new(SystemClock), output).unwrap()
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

fn probe(path: &Path, stream: &str, what: &str, entries: &str) -> Vec<std::collections::HashMap<String, String>> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream, what, "-show_entries", entries, "-of", "compact=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('|').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
        .collect()
}

/// One decoded output frame.
#[derive(Debug, Clone)]
struct Frame {
    pts: i64,
    width: u32,
    height: u32,
    /// Colours across the middle of the picture (averaged to an 8x8 grid: row 3).
    cols: Vec<char>,
    /// Colours down the middle of the picture (column 3 of the grid).
    rows: Vec<char>,
}

impl Frame {
    /// Colour of the middle of the picture.
    fn colour(&self) -> char {
        self.cols[3]
    }
}

fn frames(path: &Path) -> Vec<Frame> {
    let meta = probe(path, "v", "-show_frames", "frame=pts,width,height");
    let raw = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-vsync", "passthrough", "-vf", "format=rgb24,scale=8:8:flags=area", "-f", "rawvideo"])
        .args(["-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    let grids: Vec<Vec<char>> =
        raw.stdout.chunks(192).map(|f| f.chunks(3).map(|p| colour(p[0], p[1], p[2])).collect()).collect();
    assert_eq!(grids.len(), meta.len(), "decoded frames vs probed frames");
    meta.iter()
        .zip(grids)
        .map(|(m, g)| Frame {
            pts: m["pts"].parse().unwrap(),
            width: m["width"].parse().unwrap(),
            height: m["height"].parse().unwrap(),
            cols: g[24..32].to_vec(),
            rows: (0..8).map(|r| g[r * 8 + 3]).collect(),
        })
        .collect()
}

fn colour(r: u8, g: u8, b: u8) -> char {
    match (r > 100, g > 100, b > 100) {
        _ if r < 40 && g < 40 && b < 40 => 'k',
        (true, false, false) if g < 60 && b < 60 => 'r',
        (false, true, false) if r < 60 && b < 60 => 'g',
        (false, false, true) if r < 60 && g < 60 => 'b',
        _ => '?',
    }
}

/// Wall-clock instant of a TS PTS (mpegtsmux starts its timestamps at one hour).
fn wall_of(anchor: &Anchor, pts: i64) -> DateTime<Utc> {
    anchor.wall_at((pts * 100_000 / 9 - 3_600_000_000_000).max(0) as u64)
}

/// Print what aired (for a failing test's output).
fn dump(f: &[Frame], anchor: &Anchor, t0: DateTime<Utc>, log: &Log) {
    let runs: Vec<(String, i64)> = f
        .iter()
        .enumerate()
        .filter(|(i, x)| *i == 0 || f[i - 1].cols != x.cols)
        .map(|(_, x)| (x.cols.iter().collect(), (wall_of(anchor, x.pts) - t0).num_milliseconds()))
        .collect();
    println!("pictures (ms from the first item): {runs:?}");
    for e in log.0.lock().unwrap().iter() {
        println!("as-run: {} {:?} {:?}", e.airing.title, e.status, e.reason);
    }
}

const FRAME_TICKS: i64 = 3003; // 29.97 fps in 90 kHz

/// Video PTS steps by exactly one frame and DTS increases; AAC frames follow each other.
fn assert_continuous(path: &Path) {
    let v = probe(path, "v", "-show_packets", "packet=pts,dts");
    assert!(v.len() > 100, "too few video packets: {}", v.len());
    for w in v.windows(2) {
        let (a, b): (i64, i64) = (w[0]["pts"].parse().unwrap(), w[1]["pts"].parse().unwrap());
        let (da, db): (i64, i64) = (w[0]["dts"].parse().unwrap(), w[1]["dts"].parse().unwrap());
        assert!((b - a - FRAME_TICKS).abs() <= 1, "video PTS step {} at {a}", b - a);
        assert!(db > da, "DTS not increasing at {da}");
    }
    let a = probe(path, "a", "-show_packets", "packet=pts");
    assert!(a.len() > 100, "too few audio packets: {}", a.len());
    for w in a.windows(2) {
        let (x, y): (i64, i64) = (w[0]["pts"].parse().unwrap(), w[1]["pts"].parse().unwrap());
        assert!((y - x - 1920).abs() <= 1, "audio PTS step {} at {x}", y - x);
    }
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
    let profile =
        OutputProfile { format: VideoFormat::Sd640x480, frame_rate: FrameRate::Ntsc, video_kbps: 1000, audio_kbps: 96 };
    let player = spawn(profile, airings, &hub, log.clone());
    assert!(player.wait_running(Duration::from_secs(10)).await, "pipeline did not start");
    let anchor = player.status().anchor.unwrap();

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
    let frame_ns = 1_001_000_000 / 30;
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
        let err = (wall_of(&anchor, first.pts) - at(start)).num_nanoseconds().unwrap().abs();
        assert!(err <= frame_ns, "item at {start} ms started {} ms off schedule", err as f64 / 1e6);
    }

    // The as-run log says what happened and why.
    let status = |t: &str| log.final_status(t).unwrap_or_else(|| panic!("{t} not in the as-run log"));
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

/// Write a clip with `gst-launch-1.0` from a pipeline description whose muxer is `m`.
fn gst_clip(path: &Path, desc: &str) {
    let p = format!("{desc} m. ! filesink location={}", path.display());
    let out = Command::new("gst-launch-1.0").args(["-q", "-e"]).args(p.split_whitespace()).output().unwrap();
    assert!(out.status.success(), "clip generation failed: {p}\n{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_of_every_shape_come_out_in_the_channel_format_with_stereo_and_continuous_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 4:3, interlaced (bottom field first), 5.1 audio.
    let interlaced = d.join("interlaced-5.1.mp4");
    gst_clip(
        &interlaced,
        "videotestsrc num-buffers=60 pattern=red ! \
         video/x-raw,width=640,height=480,framerate=30000/1001,interlace-mode=interleaved ! \
         x264enc speed-preset=ultrafast interlaced=true key-int-max=30 ! h264parse ! queue ! m. mp4mux name=m \
         audiotestsrc num-buffers=94 samplesperbuffer=1024 volume=0.3 ! \
         audio/x-raw,rate=48000,channels=6,channel-mask=(bitmask)0x3f ! audioconvert ! avenc_aac ! aacparse ! \
         queue ! m.",
    );
    let streams = probe(&interlaced, "v", "-show_streams", "stream=field_order");
    assert_ne!(streams[0]["field_order"], "progressive", "the source is not interlaced");
    // 16:9 at 25 fps with mono audio.
    let mut wide = coloured(2.0, "green");
    (wide.width, wide.height, wide.fps, wide.channels) = (1280, 720, (25, 1), 1);
    let wide_path = d.join("wide-25-mono.mkv");
    wide.write(&wide_path);
    // 4:3 without an audio track.
    let mut silent = coloured(2.0, "blue");
    silent.audio = false;
    let silent_path = d.join("no-audio.mp4");
    silent.write(&silent_path);

    let t0 = SystemClock.now() + chrono::Duration::milliseconds(2500);
    let at = move |ms: i64| t0 + chrono::Duration::milliseconds(ms);
    let airings = vec![
        airing(1, "interlaced 5.1", &interlaced.display().to_string(), at(0), 2000),
        airing(2, "16:9 25 fps mono", &wide_path.display().to_string(), at(2000), 2000),
        airing(3, "no audio", &silent_path.display().to_string(), at(4000), 2000),
    ];
    let hub = StreamHub::new();
    let log = Arc::new(Log::default());
    let profile =
        OutputProfile { format: VideoFormat::Hd720, frame_rate: FrameRate::Ntsc, video_kbps: 1500, audio_kbps: 96 };
    let player = spawn(profile, airings, &hub, log.clone());
    assert!(player.wait_running(Duration::from_secs(10)).await, "pipeline did not start");
    let anchor = player.status().anchor.unwrap();
    let ts = d.join("out.ts");
    capture(&hub, &ts, at(6600)).await;
    player.stop().await;

    let f = frames(&ts);
    dump(&f, &anchor, t0, &log);
    assert_continuous(&ts);
    // Constant output: 720p video, stereo 48 kHz AAC in every frame.
    assert!(f.iter().all(|x| (x.width, x.height) == (1280, 720)), "output size changed");
    let audio = probe(&ts, "a", "-show_frames", "frame=channels,channel_layout");
    assert!(audio.len() > 100);
    assert!(audio.iter().all(|a| a["channels"] == "2" && a["channel_layout"] == "stereo"), "audio layout changed");
    let stream = &probe(&ts, "a", "-show_streams", "stream=codec_name,sample_rate,channels")[0];
    assert_eq!((stream["codec_name"].as_str(), stream["sample_rate"].as_str()), ("aac", "48000"));
    let streams = probe(&ts, "v", "-show_streams", "stream=field_order");
    assert!(streams[0].get("field_order").is_none_or(|o| o == "progressive" || o == "unknown"), "{streams:?}");

    let off_ms = |x: &Frame| (wall_of(&anchor, x.pts) - t0).num_milliseconds();
    let during = |from: i64, to: i64| f.iter().filter(move |x| off_ms(x) >= from && off_ms(x) < to);
    // 4:3 sources are pillarboxed: black columns left and right, the picture in between.
    for (from, c) in [(100, 'r'), (4100, 'b')] {
        let n = during(from, from + 1800).count();
        assert!(n > 45, "{n} frames of {c}");
        for x in during(from, from + 1800) {
            assert_eq!((x.cols[0], x.cols[3], x.cols[4], x.cols[7]), ('k', c, c, 'k'), "not pillarboxed: {:?}", x.cols);
        }
    }
    // 16:9 fills the picture; 25 fps is converted to the channel's 29.97 for its whole slot.
    let green: Vec<&Frame> = during(2000, 4000).collect();
    assert!(green.iter().all(|x| x.cols.iter().all(|c| *c == 'g')), "16:9 item not full frame");
    assert!((59..=61).contains(&green.len()), "{} frames in the 2 s slot", green.len());
    // Each item is on air at its scheduled instant, to the frame.
    for (start, c) in [(0, 'r'), (2000, 'g'), (4000, 'b')] {
        let first = f.iter().find(|x| x.colour() == c).unwrap();
        let err = (wall_of(&anchor, first.pts) - at(start)).num_nanoseconds().unwrap().abs();
        assert!(err <= 1_001_000_000 / 30, "{c} started {} ms off schedule", err as f64 / 1e6);
    }
    for t in ["interlaced 5.1", "16:9 25 fps mono", "no audio"] {
        assert_eq!(log.final_status(t).map(|s| s.0), Some(AsRunStatus::Aired), "{t}");
    }
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
    let config = PlayerConfig {
        channel: ChannelId(1),
        profile: OutputProfile {
            format: VideoFormat::Sd640x480,
            frame_rate: FrameRate::Ntsc,
            video_kbps: 500,
            audio_kbps: 64,
        },
        encoder: encoder::probe(&EncoderChoice::Named("x264enc".into())).unwrap(),
        target_lufs: -24.0,
        overlay: None,
        audio_overlay: None,
    };
    let output = Output { feed: hub.feed(ChannelId(1)), hls: None };
    let log = Arc::new(Log::default());
    let player = ChannelPlayer::spawn(config, Arc::new(FakeSource(vec![])), log, clock.clone(), output).unwrap();
    assert!(player.wait_running(Duration::from_secs(10)).await);
    let a0 = player.status().anchor.unwrap();
    // The wall clock is found 120 ms ahead of the pipeline's idea of it.
    clock.0.store(120, Ordering::SeqCst);
    let moved = |a: Anchor| (a.wall - a0.wall).num_milliseconds() - (a.running_ns - a0.running_ns) as i64 / 1_000_000;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let early = moved(player.status().anchor.unwrap());
    tokio::time::sleep(Duration::from_millis(6000)).await;
    let late = player.status().anchor.unwrap();
    let status = player.status();
    player.stop().await;
    // Gently: at most ~20 ms per second, no rebuild, no jump; and it converges.
    assert!((5..=45).contains(&early), "after 1.5 s the anchor moved {early} ms");
    assert!((110..=125).contains(&moved(late)), "after 7.5 s the anchor moved {} ms", moved(late));
    assert_eq!(status.restarts, 0);
}

// ---- The director restarts a channel whose actor died ----

/// The store's airings, except that it panics (inside the actor) while `panics` is above 0.
struct PanickySource {
    inner: retrovue::director::channels::StoreAirings,
    panics: AtomicU32,
    calls: Mutex<Vec<(Instant, bool)>>,
}

impl AiringSource for PanickySource {
    fn airings(
        &self,
        channel: ChannelId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxFuture<'static, Result<Vec<Airing>, SourceError>> {
        let panic = self.panics.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        self.calls.lock().unwrap().push((Instant::now(), panic));
        assert!(!panic, "test: the airing source blew up");
        self.inner.airings(channel, from, to)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_playout_actor_is_restarted_by_the_director_with_backoff_and_the_viewer_stays() {
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
    let source = Arc::new(PanickySource {
        inner: retrovue::director::channels::StoreAirings { db: db.clone() },
        panics: AtomicU32::new(0),
        calls: Mutex::default(),
    });
    let hub = StreamHub::new();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let as_run = Arc::new(retrovue::director::channels::AsRunLog::start(db.clone(), &tracker));
    // The viewer arrives first: its demand starts the on-demand channel.
    let mut sub = hub.subscribe(channel);
    let director = tokio::spawn(retrovue::director::channels::run(retrovue::director::channels::ChannelsDeps {
        config: Arc::new(config),
        db: db.clone(),
        clock: Arc::new(SystemClock),
        hub: hub.clone(),
        source: source.clone(),
        as_run: as_run.clone(),
        graphics: None,
        shutdown: shutdown.clone(),
    }));
    let first = tokio::time::timeout(Duration::from_secs(20), sub.next()).await;
    assert!(matches!(first, Ok(Some(_))), "the channel did not start");

    // Two deaths in a row once the first airing is on air: the running actor's next airings
    // read, then the first read of the actor that replaces it.
    while source.calls.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    source.panics.store(2, Ordering::SeqCst);
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
    // The as-run log has no entry left open by the dead actors: each was closed when the
    // airing was rejoined, and the last one when the channel stopped.
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
    assert!(interrupted >= 1, "no entry closed as interrupted");
}
