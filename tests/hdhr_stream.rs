//! Streams and tuners through `hdhr::http::router`, served on 127.0.0.1:0 in-process, with a
//! publisher pushing a real H.264 + AAC MPEG-TS clip into the hub's feeds (as playout does):
//! ffprobe sees the codecs, tuner exhaustion answers 805/804/801, shared channels share a
//! tuner, and a disconnect frees its tuner within a second.

mod hdhr_support;
mod util;

use std::io::Read;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdhr_support::{open, request};
use retrovue::clock::SystemClock;
use retrovue::db::Db;
use retrovue::hdhr::{Hdhr, Identity};
use retrovue::stream::{Chunk, StreamHub};
use tokio_util::sync::CancellationToken;

/// A served router, a publisher per channel and the runtime running them.
struct Rig {
    addr: String,
    hdhr: Hdhr,
    stop: CancellationToken,
    rt: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

fn ts_clip(dir: &std::path::Path) -> Bytes {
    let path = dir.join("bars_320x240_00-00-02.ts");
    util::Clip::new(320, 240, 2.0).write(&path);
    Bytes::from(std::fs::read(&path).unwrap())
}

fn rig(tuners: u8, channels: &[(&str, &str)]) -> Rig {
    rig_with(tuners, channels, true).0
}

/// A rig whose feeds publish only when `publishing` (else the hub and the clip, for the test
/// to publish itself).
fn rig_with(
    tuners: u8,
    channels: &[(&str, &str)],
    publishing: bool,
) -> (Rig, StreamHub, Vec<retrovue::lineup::ChannelId>) {
    let dir = tempfile::tempdir().unwrap();
    let ids = hdhr_support::add_channels(dir.path(), channels);
    let ts = ts_clip(dir.path());
    assert!(ts.len().is_multiple_of(188));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let stop = CancellationToken::new();
    let (addr, hdhr, hub) = rt.block_on(async {
        let db = Db::open(&dir.path().join("retrovue.db")).unwrap();
        let identity = Identity::load_or_create(&db, "Test", 0).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hub = StreamHub::with_tuners(usize::from(tuners));
        let lineups = retrovue::lineup::Lineups::load(&db).await.unwrap();
        let hdhr = Hdhr::new(
            identity,
            Arc::new(lineups.clone()),
            hub.clone(),
            retrovue::config::BaseUrl::new(None, addr),
            Arc::new(SystemClock),
        );
        // The channel feeds' own route too (`/stream/<number>.ts`), numbers resolved from the lineup.
        let resolve: retrovue::stream::http::Resolver = Arc::new(move |n: String| {
            let found = lineups.current().by_number(&n).map(retrovue::stream::http::Resolved::of);
            Box::pin(async move { found })
        });
        let streams = retrovue::stream::http::router(retrovue::stream::http::StreamRoutes {
            hub: hub.clone(),
            resolve,
            hls_dir: dir.path().join("hls"),
        });
        let app = retrovue::hdhr::http::router(hdhr.clone()).merge(streams);
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(s.cancelled_owned())
                .await
                .unwrap();
        });
        if publishing {
            for id in &ids {
                tokio::spawn(publish(hub.feed(*id), ts.clone(), stop.clone()));
            }
        }
        (addr.to_string(), hdhr, hub)
    });
    (Rig { addr, hdhr, stop, rt: Some(rt), _dir: dir }, hub, ids)
}

/// Push the clip over and over in 64-packet chunks, about 4 Mbit/s, the first chunk of each
/// pass marked as a keyframe (the clip starts with PAT/PMT and an IDR frame).
async fn publish(feed: retrovue::stream::Feed, ts: Bytes, stop: CancellationToken) {
    const CHUNK: usize = 188 * 64;
    let feed = feed.open();
    loop {
        for (i, start) in (0..ts.len()).step_by(CHUNK).enumerate() {
            let data = ts.slice(start..(start + CHUNK).min(ts.len()));
            feed.publish(Chunk { data, keyframe: i == 0 });
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(25)) => {}
            }
        }
    }
}

fn error_header(r: &hdhr_support::Reply) -> (u16, Option<&str>) {
    (r.status, r.header("x-hdhomerun-error"))
}

#[test]
fn ffprobe_sees_h264_and_aac_in_mpeg_ts_from_auto_v() {
    let rig = rig(2, &[("5", "Sitcom Gold")]);
    let url = format!("http://{}/auto/v5?duration=3", rig.addr);
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name:format=format_name", "-of", "json", &url])
        .output()
        .expect("ffprobe");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"]["format_name"], "mpegts", "{v}");
    let codecs: Vec<&str> =
        v["streams"].as_array().unwrap().iter().map(|s| s["codec_name"].as_str().unwrap()).collect();
    assert!(codecs.contains(&"h264") && codecs.contains(&"aac"), "{codecs:?}");
    // Every 188th byte of what a client reads is the TS sync byte.
    let body = request(&rig.addr, "GET", "/auto/v5?duration=1", 188 * 200).body;
    assert!(body.len() >= 188 * 10 && body.len().is_multiple_of(188), "{}", body.len());
    assert!(body.chunks(188).all(|p| p[0] == 0x47));
}

#[test]
fn tuners_are_shared_per_channel_exhausted_with_805_and_freed_within_a_second() {
    let rig = rig(2, &[("1", "One"), ("2", "Two"), ("3", "Three")]);
    let addr = rig.addr.as_str();
    let pool = rig.hdhr.tuners().clone();

    let (st, _, mut a1, _) = open(addr, "/auto/v1");
    assert_eq!(st, 200);
    let (st, _, _a2, _) = open(addr, "/auto/v1");
    assert_eq!(st, 200);
    assert_eq!(pool.in_use(), 1, "two viewers of one channel share a tuner");
    let (st, _, b, _) = open(addr, "/auto/v2");
    assert_eq!((st, pool.in_use()), (200, 2));
    let mut byte = [0u8; 188];
    a1.read_exact(&mut byte).unwrap();

    assert_eq!(error_header(&request(addr, "GET", "/auto/v3", 64)), (503, Some("805 All Tuners In Use")));
    let busy = pool.status(0).unwrap().channel.unwrap().1.to_string();
    assert_eq!(busy, "1", "the first free tuner is tuner 0");
    assert_eq!(error_header(&request(addr, "GET", "/tuner0/v3", 64)), (503, Some("804 Tuner In Use")));
    let (st, _, shared, _) = open(addr, &format!("/tuner0/v{busy}"));
    assert_eq!(st, 200);
    drop(shared);
    assert_eq!(error_header(&request(addr, "GET", "/tuner7/v1", 64)), (404, Some("801 Unknown Channel")));
    assert_eq!(error_header(&request(addr, "GET", "/auto/v42", 64)), (404, Some("801 Unknown Channel")));
    assert_eq!(error_header(&request(addr, "GET", "/auto/5", 64)), (404, Some("801 Unknown Channel")));
    let status = request(addr, "GET", "/status.json", 1 << 16).json();
    assert_eq!(status.as_array().unwrap().len(), 2, "{status}");
    assert_eq!((status[0]["VctNumber"].as_str(), status[0]["VctName"].as_str()), (Some("1"), Some("One")));
    assert_eq!(status[0]["Viewers"], 2);
    let head = request(addr, "HEAD", "/auto/v3", 0);
    assert_eq!((head.status, head.header("content-type")), (200, Some("video/mp2t")));
    assert_eq!(pool.in_use(), 2, "HEAD takes no tuner");

    // The viewer of channel 2 hangs up: its tuner is free within a second.
    let hung_up = Instant::now();
    drop(b);
    let freed = util::wait_for(Duration::from_secs(1), || (pool.in_use() == 1).then(Instant::now));
    let freed = freed.expect("tuner not freed within 1 s of the disconnect");
    eprintln!("tuner freed {:?} after the disconnect", freed - hung_up);
    let (st, _, mut c, _) = open(addr, "/auto/v3");
    assert_eq!(st, 200);
    c.read_exact(&mut byte).unwrap();

    // Kodi: probe, close, reopen at once (tuners full: 1 and 3).
    drop(c);
    let (st, _, mut c2, _) = open(addr, "/auto/v3");
    assert_eq!(st, 200, "Kodi's immediate reopen must succeed");
    c2.read_exact(&mut byte).unwrap();
    let status = pool.status(1).or(pool.status(0)).unwrap();
    assert!(status.status_line().starts_with("ch="), "{status:?}");
}

/// Issue #16: one viewer admission. `/stream/<N>.ts` (the M3U that VLC reads) and HLS
/// (the web preview, Safari) used to bypass the tuners: with both tuners taken they still
/// started a third channel. Now every entrance leases from the same tuners, and is refused
/// the same way (805 on the tuner URLs, a plain 503 elsewhere).
#[test]
fn every_entrance_takes_a_tuner_and_is_refused_alike_when_none_is_free() {
    let rig = rig(2, &[("1", "One"), ("2", "Two"), ("3", "Three")]);
    let addr = rig.addr.as_str();
    let pool = rig.hdhr.tuners().clone();

    // A VLC viewer through the M3U's URL holds a tuner like a Plex one does.
    let (st, _, mut vlc, _) = open(addr, "/stream/1.ts");
    assert_eq!((st, pool.in_use()), (200, 1));
    let mut byte = [0u8; 188];
    vlc.read_exact(&mut byte).unwrap();
    let (st, _, _plex, _) = open(addr, "/auto/v2");
    assert_eq!((st, pool.in_use()), (200, 2));

    // Both taken: the third channel is refused on every entrance.
    assert_eq!(error_header(&request(addr, "GET", "/auto/v3", 64)), (503, Some("805 All Tuners In Use")));
    let ts = request(addr, "GET", "/stream/3.ts", 1024);
    assert_eq!(ts.status, 503, "/stream/3.ts with both tuners taken");
    assert!(String::from_utf8_lossy(&ts.body).contains("all 2 tuners are in use"), "{:?}", ts.body);
    let hls = request(addr, "GET", "/hls/3/index.m3u8", 1024);
    assert_eq!(hls.status, 503, "the HLS playlist of a third channel");
    assert_eq!(pool.in_use(), 2, "a refused viewer holds nothing");
    // A channel already on a tuner is shared by every entrance.
    let (st, _, _vlc2, _) = open(addr, "/stream/2.ts");
    assert_eq!(st, 200);
    let two = (0..pool.count())
        .filter_map(|i| pool.status(i))
        .find(|s| s.channel.as_ref().is_some_and(|c| c.1.as_str() == "2"));
    assert_eq!(two.map(|s| s.viewers), Some(2), "a Plex and a VLC viewer of channel 2 share its tuner");

    // The VLC viewer leaves: its tuner is free for the next channel, through any entrance.
    drop(vlc);
    assert!(util::wait_for(Duration::from_secs(1), || (pool.in_use() == 1).then_some(())).is_some());
    let (st, _, mut three, _) = open(addr, "/stream/3.ts");
    assert_eq!(st, 200);
    three.read_exact(&mut byte).unwrap();
    assert_eq!(pool.in_use(), 2);
}

#[test]
fn duration_ends_the_stream_and_releases_the_tuner() {
    let rig = rig(1, &[("7", "Seven")]);
    let start = Instant::now();
    let r = request(&rig.addr, "GET", "/auto/v7?duration=1", 64 << 20);
    let took = start.elapsed();
    assert_eq!(r.status, 200);
    assert!(took >= Duration::from_millis(950) && took < Duration::from_secs(3), "{took:?}");
    assert!(r.body.len() > 188 * 50, "{} bytes in one second", r.body.len());
    assert!(util::wait_for(Duration::from_secs(1), || (rig.hdhr.tuners().in_use() == 0).then_some(())).is_some());
}

/// What ffmpeg says (warnings and errors) decoding every stream of `ts`.
fn ffmpeg_complaints(dir: &std::path::Path, name: &str, ts: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, ts).unwrap();
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "warning", "-i"])
        .arg(&path)
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The byte offset just after the first packet of the last PES start of the (bounded) audio
/// PID in `ts`: a cut there splits that PES, as a cut at any chunk boundary could.
fn mid_audio_pes(ts: &[u8]) -> usize {
    let pid = |p: &[u8]| (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
    fn payload(p: &[u8]) -> &[u8] {
        let at = if p[3] & 0x20 != 0 { 5 + usize::from(p[4]) } else { 4 };
        &p[at.min(188)..]
    }
    let audio_starts: Vec<usize> = ts
        .chunks(188)
        .enumerate()
        .filter(|(_, p)| p[1] & 0x40 != 0 && payload(p).starts_with(&[0, 0, 1, 0xC0]))
        .map(|(i, p)| {
            assert_ne!(u16::from_be_bytes([payload(p)[4], payload(p)[5]]), 0, "audio PES are bounded (pid {})", pid(p));
            i
        })
        .collect();
    assert!(audio_starts.len() > 10, "audio PES starts: {}", audio_starts.len());
    (audio_starts[audio_starts.len() - 2] + 1) * 188
}

#[test]
fn duration_ends_on_a_packet_boundary_after_the_last_whole_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (rig, hub, ids) = rig_with(1, &[("7", "Seven")], false);
    let clip = dir.path().join("bars_320x240_00-00-06.ts");
    util::Clip::new(320, 240, 6.0).write(&clip);
    let ts = Bytes::from(std::fs::read(&clip).unwrap());
    // A viewer with a two-second limit, then the clip published once in real time (6 s): the
    // limit falls in the middle of the stream, wherever the chunks happen to end.
    // Through a tuner, and straight from the channel's feed.
    let viewers: Vec<_> = ["/auto/v7?duration=2", "/stream/7.ts?duration=2"]
        .into_iter()
        .map(|path| {
            let addr = rig.addr.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                let r = request(&addr, "GET", path, 64 << 20);
                (path, r, t.elapsed())
            })
        })
        .collect();
    assert!(util::wait_for(Duration::from_secs(5), || (hub.viewers(ids[0]) == 2).then_some(())).is_some());
    let feed = hub.feed(ids[0]).open();
    let publisher = std::thread::spawn(move || {
        const CHUNK: usize = 188 * 7; // odd-sized chunks: the limit lands anywhere
        let n = ts.len().div_ceil(CHUNK) as u32;
        let pace = Duration::from_secs(6) / n;
        for (i, start) in (0..ts.len()).step_by(CHUNK).enumerate() {
            feed.publish(Chunk { data: ts.slice(start..(start + CHUNK).min(ts.len())), keyframe: i == 0 });
            std::thread::sleep(pace);
        }
    });
    let captures: Vec<_> = viewers.into_iter().map(|v| v.join().unwrap()).collect();
    publisher.join().unwrap();
    for (i, (path, r, took)) in captures.into_iter().enumerate() {
        assert_eq!(r.status, 200, "{path}");
        assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(4), "{path}: {took:?}");
        let body = r.body;
        assert!(
            body.len().is_multiple_of(188) && body.chunks(188).all(|p| p[0] == 0x47),
            "{path}: {} bytes",
            body.len()
        );
        // ffmpeg decodes every frame without a complaint: no "PES packet size mismatch", no
        // truncated frame.
        let said = ffmpeg_complaints(dir.path(), &format!("limited{i}.ts"), &body);
        assert!(said.trim().is_empty(), "ffmpeg on the limited stream from {path}:\n{said}");
        // The check can fail: cut the same capture inside an audio PES and ffmpeg complains.
        let cut = mid_audio_pes(&body);
        let said = ffmpeg_complaints(dir.path(), &format!("naive{i}.ts"), &body[..cut]);
        assert!(said.contains("PES packet size mismatch"), "ffmpeg on a naive cut:\n{said}");
    }
    assert!(util::wait_for(Duration::from_secs(1), || (rig.hdhr.tuners().in_use() == 0).then_some(())).is_some());
}
