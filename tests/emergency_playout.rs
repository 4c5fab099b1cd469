//! Emergency alerts through real channel pipelines: three running channels (x264, real TS
//! out) follow one `Emergency` handle. A slate alert with the attention tone shows on all
//! three within a second, the TS stays continuous (viewers stay connected), the tone's two
//! frequencies are in the audio and the program is muted, and after the clear each channel
//! is back on its schedule where it would have been anyway (its item's sound says which of its
//! seconds is on air). Real time: about 15 s.

mod util;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use retrovue::clock::{SharedClock, SystemClock};
use retrovue::config::EncoderChoice;
use retrovue::db::Db;
use retrovue::director::graphics::ChannelOverlays;
use retrovue::emergency::{AlertChannels, AlertMode, AlertRequest, Emergency};
use retrovue::lineup::store::{NewChannel, insert};
use retrovue::lineup::{ChannelId, ChannelSettings, FrameRate, OutputProfile, VideoFormat};
use retrovue::playout::pipeline::Output;
use retrovue::playout::supervisor::Overlays;
use retrovue::playout::timeline::Anchor;
use retrovue::playout::{ChannelPlayer, PlayerConfig, encoder};
use retrovue::schedule::Airing;
use retrovue::schedule::horizons::{self, Horizon};
use retrovue::schedule::store as schedule_store;
use retrovue::stream::StreamHub;
use tokio_util::sync::CancellationToken;
use util::Clip;
use util::player::{self, Log};
use util::ts::{NTSC_FRAME_TICKS, Step, few_skipped};

fn airing(id: i64, channel: ChannelId, path: &Path, start: DateTime<Utc>, ms: i64) -> Airing {
    player::airing(id, channel, &format!("item {id}"), path, start, ms)
}

fn profile() -> OutputProfile {
    OutputProfile {
        format: VideoFormat::Sd640x480,
        frame_rate: FrameRate::Ntsc,
        video_kbps: retrovue::lineup::VideoKbps::of(800),
        audio_kbps: retrovue::lineup::AudioKbps::of(96),
    }
}

fn ffprobe_pts(path: &Path, stream: &str) -> Vec<i64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_frames",
            "-show_entries",
            "frame=pts",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().lines().filter_map(|l| l.trim().trim_end_matches(',').parse().ok()).collect()
}

/// Per video frame: (pts, average RGB of a 16x16 patch in the bottom-left corner, outside
/// the title-safe area where the slate has only its background colour).
fn corner_colours(path: &Path) -> Vec<(i64, [u8; 3])> {
    // `showinfo` prints each decoded frame's PTS (90 kHz) from the same decode as the pixels.
    let raw = Command::new("ffmpeg")
        .args(["-copyts", "-v", "info", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-vsync", "passthrough", "-vf", "crop=16:16:4:460,scale=1:1:flags=area,showinfo"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    let log = String::from_utf8_lossy(&raw.stderr);
    let pts: Vec<i64> = log
        .lines()
        .filter(|l| l.contains("Parsed_showinfo") && l.contains(" pts:"))
        .filter_map(|l| l.split(" pts:").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(raw.stdout.len(), pts.len() * 3, "decoded frames vs showinfo lines");
    pts.into_iter().zip(raw.stdout.chunks(3).map(|c| [c[0], c[1], c[2]])).collect()
}

/// The slate's background is RGB (120, 0, 0).
fn is_slate(c: [u8; 3]) -> bool {
    (90..=150).contains(&c[0]) && c[1] < 40 && c[2] < 40
}

fn is_blue(c: [u8; 3]) -> bool {
    c[2] > 150 && c[0] < 60
}

fn is_red(c: [u8; 3]) -> bool {
    c[0] > 200 && c[2] < 60
}

/// Running time (ns) of a TS PTS: mpegtsmux starts at one hour.
fn rt_of_pts(pts: i64) -> u64 {
    (pts * 100_000 / 9 - 3_600_000_000_000).max(0) as u64
}

/// Mono samples (left channel) of the audio, and the PTS of the first one.
fn audio(path: &Path) -> (i64, Vec<f64>) {
    let first = *ffprobe_pts(path, "a").first().expect("audio frames");
    let raw = util::media::decoded(path, &["-map", "0:a", "-f", "s16le", "-ac", "1", "-ar", "48000", "-"]);
    (first, raw.chunks_exact(2).map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect())
}

fn goertzel(x: &[f64], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / 48000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for v in x {
        let s = v + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2).sqrt() / x.len() as f64
}

/// Samples of `audio` between two wall instants.
fn window<'a>(
    anchor: &Anchor,
    (first_pts, samples): &'a (i64, Vec<f64>),
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> &'a [f64] {
    let start_wall = anchor.wall_at(rt_of_pts(*first_pts));
    let idx = |t: DateTime<Utc>| (((t - start_wall).num_milliseconds().max(0) as usize) * 48).min(samples.len());
    &samples[idx(from)..idx(to)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slate_alert_pre_empts_three_running_channels_and_they_rejoin_in_progress() {
    gstreamer::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (red, blue) = (dir.path().join("red.mp4"), dir.path().join("blue.mp4"));
    let mut c = Clip::new(320, 240, 5.0);
    c.pattern = "red";
    c.write(&red);
    // Blue, and each of its media seconds sounds its own tone: where the item is, after the
    // clear, is heard.
    util::audio::second_tones_clip(&blue, "color=c=blue:s=320x240:r=30000/1001:d=8", 8, 30);

    let clock: SharedClock = Arc::new(SystemClock);
    let db = Db::open_in_memory().unwrap();
    let channels = db.call_blocking(|conn| {
        ["5", "7", "9"]
            .iter()
            .map(|n| {
                let new = NewChannel {
                    number: n.parse().unwrap(),
                    name: format!("Channel {n}"),
                    call_sign: String::new(),
                    logo: None,
                    settings: ChannelSettings { profile: profile(), ..Default::default() },
                };
                insert(conn, &new, 0).unwrap()
            })
            .collect::<Vec<_>>()
    });
    let emergency = Emergency::load(db.clone(), clock.clone()).unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(emergency.clone().run(shutdown.clone()));

    // Channel 5: red until S+4.5 s, then blue. Channels 7 and 9: nothing scheduled (black).
    let s = clock.now() + chrono::Duration::seconds(2);
    let ch5 = channels[0].id;
    let source = horizons::fixed(Horizon::of(vec![
        airing(1, ch5, &red, s, 4500),
        airing(2, ch5, &blue, s + chrono::Duration::milliseconds(4500), 7000),
    ]));
    let hub = StreamHub::new();
    let enc = encoder::probe(&EncoderChoice::Named("x264enc".into())).unwrap();
    let overlays = ChannelOverlays {
        db: db.clone(),
        clock: clock.clone(),
        emergency: emergency.clone(),
        tz: chrono_tz::UTC,
        tracker: tokio_util::task::TaskTracker::new(),
        shutdown: shutdown.clone(),
    };
    let mut players = Vec::new();
    let mut keep = Vec::new();
    for ch in &channels {
        let overlay = overlays.for_channel(ch, source.clone());
        let config = PlayerConfig {
            channel: ch.id,
            profile: profile(),
            encoder: enc,
            fallback: Default::default(),
            target_lufs: -24.0,
            overlay: Some(overlay.video.clone()),
            audio_overlay: Some(overlay.audio.clone()),
            presentation: Default::default(),
            captions: true,
            loudness: None,
            subtitles: None,
            audio_tracks: Default::default(),
        };
        keep.push(overlay);
        let output = Output { feed: hub.feed(ch.id), hls: None };
        players.push(
            ChannelPlayer::spawn(config, source.clone(), Arc::new(Log::default()), clock.clone(), output).unwrap(),
        );
    }
    for p in &players {
        assert!(p.wait_running(Duration::from_secs(10)).await, "channel did not start");
    }
    let captures: Vec<_> = channels
        .iter()
        .map(|ch| {
            let hub = hub.clone();
            let id = ch.id;
            tokio::spawn(async move { player::capture(&hub, id, 12.0).await })
        })
        .collect();

    tokio::time::sleep_until(
        tokio::time::Instant::now() + (s + chrono::Duration::milliseconds(1500) - clock.now()).to_std().unwrap(),
    )
    .await;
    let raised_at = clock.now();
    emergency
        .raise(AlertRequest {
            message: "Tornado warning: take shelter now".into(),
            channels: AlertChannels::All,
            mode: AlertMode::Slate,
            tone: true,
            ..Default::default()
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let cleared_at = clock.now();
    emergency.clear(None).await.unwrap();

    for (i, cap) in captures.into_iter().enumerate() {
        let ts = cap.await.unwrap();
        let path = dir.path().join(format!("ch{i}.ts"));
        std::fs::write(&path, &ts).unwrap();
        let anchor = players[i].status().anchor.expect("anchor");
        let frames = corner_colours(&path);
        assert!(frames.len() > 150, "channel {i}: only {} frames", frames.len());
        // Continuous video timestamps across the alert: viewers stayed connected. A step of a
        // few whole frames is frames the encoder dropped while three channels shared two cores
        // (held on screen, not a jump: issue #21's choice); one, or one in 500, at most.
        let mut dropped = 0;
        for w in frames.windows(2) {
            match Step::of(w[1].0 - w[0].0, NTSC_FRAME_TICKS) {
                Step::One => {}
                Step::Skipped(n) => dropped += n,
                Step::Odd => panic!("channel {i}: PTS step {}", w[1].0 - w[0].0),
            }
        }
        assert!(few_skipped(dropped as u64, frames.len() as u64, 1), "channel {i}: {dropped} frames dropped");
        let wall = |pts: i64| anchor.wall_at(rt_of_pts(pts));
        let first_slate = frames.iter().find(|f| is_slate(f.1)).map(|f| wall(f.0)).expect("slate shown");
        let last_slate = frames.iter().rev().find(|f| is_slate(f.1)).map(|f| wall(f.0)).unwrap();
        let on = (first_slate - raised_at).num_milliseconds();
        let off = (last_slate - cleared_at).num_milliseconds();
        eprintln!("channel {i}: slate on air {on} ms after the raise, off {off} ms after the clear");
        assert!(on < 1000, "channel {i}: slate {on} ms after the alert");
        assert!(off < 1000, "channel {i}: slate still on {off} ms after the clear");
        let between =
            |a: DateTime<Utc>, b: DateTime<Utc>| frames.iter().filter(move |f| wall(f.0) >= a && wall(f.0) < b);
        let ms = chrono::Duration::milliseconds;
        let held: Vec<String> = between(raised_at + ms(1000), cleared_at)
            .filter(|f| !is_slate(f.1))
            .map(|f| format!("pts {} at raise {:+} ms: {:?}", f.0, (wall(f.0) - raised_at).num_milliseconds(), f.1))
            .collect();
        assert!(
            held.is_empty(),
            "channel {i}: slate held, but {} frames were not the slate: {:?}",
            held.len(),
            &held[..held.len().min(8)]
        );
        // Every channel plays the attention tone, then is silent under the slate (channel 5's
        // programme muted; 7 and 9 have none).
        let sound = audio(&path);
        let tone = window(&anchor, &sound, raised_at + ms(1000), raised_at + ms(3500));
        let (a, b, p) = (goertzel(tone, 853.0), goertzel(tone, 960.0), goertzel(tone, 440.0));
        eprintln!("channel {i}: tone window: 853 Hz {a:.3}, 960 Hz {b:.3}, program 440 Hz {p:.4}");
        assert!(a > 0.05 && b > 0.05 && p < 0.01, "channel {i}: two-tone attention signal, program muted");
        let silent = window(&anchor, &sound, raised_at + ms(4700), cleared_at);
        let peak = silent.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(!silent.is_empty() && peak < 0.01, "channel {i}: muted under the slate after the tone: {peak}");
        if i == 0 {
            // Red before, and after the clear the blue item that started under the slate, in progress.
            let before: Vec<_> = between(raised_at - ms(1000), raised_at - ms(100)).collect();
            assert!(!before.is_empty() && before.iter().all(|f| is_red(f.1)), "red before the alert");
            let after: Vec<_> = between(cleared_at + ms(1000), cleared_at + ms(2500)).collect();
            assert!(!after.is_empty() && after.iter().all(|f| is_blue(f.1)), "channel 5 rejoined its schedule");
            // In progress: each quarter second after the clear sounds the blue item's second
            // the schedule has on air then (it started under the slate, at S+4.5 s), not its
            // first seconds again.
            let blue_start = s + ms(4500);
            let mut heard = Vec::new();
            for q in 0..6 {
                let from = cleared_at + ms(1000 + 250 * q);
                let at = (from + ms(125) - blue_start).num_milliseconds() as f64 / 1000.0;
                let w = window(&anchor, &sound, from, from + ms(250));
                let (k, level) = (0..8)
                    .map(|k| (k, goertzel(w, util::audio::second_tone_hz(k))))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .unwrap();
                heard.push((at, k, level));
            }
            eprintln!("channel 5 after the clear (item s, second heard, level): {heard:.2?}");
            assert!(
                heard.iter().all(|&(at, k, level)| level > 0.03 && (at - (k as f64 + 0.5)).abs() <= 0.8),
                "channel 5 did not rejoin the blue item in progress (item s, second heard, level): {heard:.2?}"
            );
        }
    }
    // Each channel's as-run log has the alert with its actual start and end on that channel.
    for ch in &channels {
        let id = ch.id;
        let rows = db.call(move |c| schedule_store::as_run(c, Some(id), 0, i64::MAX, 20).unwrap()).await.unwrap();
        let alert: Vec<_> = rows.iter().filter(|r| r.status == schedule_store::AsRunStatus::Alert).collect();
        assert_eq!(alert.len(), 1, "channel {}: {rows:?}", ch.number);
        let (start, end) = (alert[0].actual_start_ms, alert[0].actual_end_ms.expect("closed at the clear"));
        assert!((start - raised_at.timestamp_millis()).abs() < 1000, "as-run start {start} vs raise");
        assert!((end - cleared_at.timestamp_millis()).abs() < 1000, "as-run end {end} vs clear");
        assert!(alert[0].title.contains("Tornado warning"), "{}", alert[0].title);
    }
    for p in players {
        p.stop().await;
    }
    drop(keep);
    shutdown.cancel();
}
