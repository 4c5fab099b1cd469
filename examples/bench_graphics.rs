//! CPU cost of broadcast graphics per channel: the same real channel pipeline (x264, AAC,
//! TS) playing the same clip, without graphics, with bug + lower third, and with bug +
//! clock + emergency crawl, each for the same wall time, on two programs (a ball on black,
//! the cheapest picture; ffmpeg's moving, detailed testsrc2). Prints CPU seconds per run and
//! the ratio against the plain channel (goal: under 1.15x).
//!
//! `cargo run --release --example bench_graphics -- [SECONDS] [ROUNDS]` (scripts/bench-graphics.sh):
//! ROUNDS (default 3) rounds of the three variants in turn, SECONDS (default 20) each; the
//! ratios compare each variant's median run.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use retrovue::clock::{SharedClock, SystemClock};
use retrovue::config::EncoderChoice;
use retrovue::emergency::{ActiveAlerts, Alert, AlertChannels, AlertId, AlertMode, AlertOrigin};
use retrovue::lineup::{Channel, ChannelId, ChannelSettings, FrameRate, OutputProfile, VideoFormat};
use retrovue::playout::graphics::cues::Cue;
use retrovue::playout::overlay::ChannelGraphics;
use retrovue::playout::pipeline::Output;
use retrovue::playout::{ChannelPlayer, PlayerConfig, encoder};
use retrovue::schedule::horizons::{self, Horizon};
use retrovue::schedule::{Airing, AiringKind};
use retrovue::stream::StreamHub;
use tokio::sync::watch;

#[path = "common/mod.rs"]
mod common;
use common::{NoLog, cpu_seconds, median};

#[derive(Clone, Copy, Debug)]
enum Variant {
    Plain,
    BugLowerThird,
    BugClockCrawl,
}

/// The variants in the order they are run and reported (ratios index into it).
const VARIANTS: [Variant; 3] = [Variant::Plain, Variant::BugLowerThird, Variant::BugClockCrawl];

async fn run(variant: Variant, clip: &std::path::Path, secs: u64) -> f64 {
    let clock: SharedClock = Arc::new(SystemClock);
    let profile = OutputProfile {
        format: VideoFormat::Sd640x480,
        frame_rate: FrameRate::Ntsc,
        video_kbps: retrovue::lineup::VideoKbps::of(2000),
        audio_kbps: retrovue::lineup::AudioKbps::of(128),
    };
    let start = clock.now() + chrono::Duration::seconds(2);
    let end = start + chrono::Duration::seconds(secs as i64 + 10);
    let airing = Airing {
        id: 1,
        channel_id: ChannelId(1),
        program_id: Some(1),
        start,
        end,
        kind: AiringKind::Program,
        media_id: None,
        uri: Some(clip.display().to_string()),
        title: "Benchmark Theatre".into(),
        offset_in_ms: 0,
        offset_out_ms: (end - start).num_milliseconds(),
        loudness_lufs: None,
        card: None,
    };
    let channel = Channel {
        id: ChannelId(1),
        number: "5".parse().unwrap(),
        name: "Bench".into(),
        call_sign: "BNCH".into(),
        xmltv_id: "bench".into(),
        logo: None,
        settings: ChannelSettings { profile, clock: matches!(variant, Variant::BugClockCrawl), ..Default::default() },
        enabled: true,
    };
    let alerts = match variant {
        Variant::BugClockCrawl => vec![Alert {
            id: AlertId(1),
            message: "This is a test of the emergency alert system. Severe thunderstorm warning for the county until 9 PM; move indoors.".into(),
            priority: 0,
            channels: AlertChannels::All,
            mode: AlertMode::Crawl,
            tone: false,
            starts_at: start,
            ends_at: None,
            cleared_at: None,
            origin: AlertOrigin::Cli,
            created_at: start,
        }],
        _ => vec![],
    };
    let (_tx, rx) = watch::channel(Arc::new(ActiveAlerts { alerts }));
    let gfx = ChannelGraphics::new(&channel, rx, clock.clone(), chrono_tz::UTC);
    // A program segment that began after a break 3 s before "now", and stays: the lower third
    // is re-triggered by moving the cue so that one is always on screen.
    let hub = StreamHub::new();
    let config = PlayerConfig {
        channel: ChannelId(1),
        profile,
        encoder: encoder::probe(&EncoderChoice::Named("x264enc".into())).unwrap(),
        fallback: Default::default(),
        target_lufs: -24.0,
        overlay: (!matches!(variant, Variant::Plain)).then(|| gfx.video_factory()),
        audio_overlay: (!matches!(variant, Variant::Plain)).then(|| gfx.audio_factory()),
        presentation: Default::default(),
        captions: true,
        loudness: None,
        subtitles: None,
        audio_tracks: Default::default(),
    };
    let output = Output { feed: hub.feed(ChannelId(1)), hls: None };
    let player = ChannelPlayer::spawn(
        config,
        horizons::fixed(Horizon::of(vec![airing])),
        Arc::new(NoLog),
        clock.clone(),
        output,
    )
    .unwrap();
    let mut sub = hub.subscribe(ChannelId(1));
    tokio::spawn(async move { while sub.next().await.is_some() {} });
    assert!(player.wait_running(Duration::from_secs(10)).await);
    tokio::time::sleep(Duration::from_secs(3)).await; // past preroll and item start
    let c0 = cpu_seconds();
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        if matches!(variant, Variant::BugLowerThird) {
            // Keep a Now/Next lower third on screen: a return from a break 4 s ago.
            let now = clock.now();
            let back = now - chrono::Duration::seconds(4);
            let cue = |s: DateTime<Utc>, e: DateTime<Utc>, kind, title: &str| Cue {
                start: s,
                end: e,
                kind,
                program_id: Some(1),
                title: title.into(),
                rating: None,
                aspect: Some(4.0 / 3.0),
                card: None,
            };
            gfx.set_cues(vec![
                cue(back - chrono::Duration::seconds(60), back, AiringKind::Commercial, "Ad"),
                cue(back, now + chrono::Duration::seconds(600), AiringKind::Program, "Benchmark Theatre"),
                cue(
                    now + chrono::Duration::seconds(600),
                    now + chrono::Duration::seconds(1800),
                    AiringKind::Program,
                    "Next Show",
                ),
            ]);
        } else {
            gfx.set_cues(vec![Cue {
                start: start - chrono::Duration::seconds(60),
                end,
                kind: AiringKind::Program,
                program_id: Some(1),
                title: "Benchmark Theatre".into(),
                rating: None,
                aspect: Some(4.0 / 3.0),
                card: None,
            }]);
        }
        tokio::time::sleep(Duration::from_millis(4000)).await;
    }
    let cpu = cpu_seconds() - c0;
    player.stop().await;
    cpu
}

/// CPU seconds to push `frames` SD frames (not live, as fast as possible) through the
/// graphics element alone: isolates the per-frame cost from encoder noise.
fn element_only(variant: Variant, frames: u32) -> f64 {
    use gstreamer::prelude::*;
    let clock: SharedClock = Arc::new(SystemClock);
    let now = clock.now();
    let channel = Channel {
        id: ChannelId(1),
        number: "5".parse().unwrap(),
        name: "Bench".into(),
        call_sign: "BNCH".into(),
        xmltv_id: "bench".into(),
        logo: None,
        settings: ChannelSettings { clock: matches!(variant, Variant::BugClockCrawl), ..Default::default() },
        enabled: true,
    };
    let alerts = match variant {
        Variant::BugClockCrawl => vec![Alert {
            id: AlertId(1),
            message: "This is a test of the emergency alert system. Severe thunderstorm warning until 9 PM.".into(),
            priority: 0,
            channels: AlertChannels::All,
            mode: AlertMode::Crawl,
            tone: false,
            starts_at: now,
            ends_at: None,
            cleared_at: None,
            origin: AlertOrigin::Cli,
            created_at: now,
        }],
        _ => vec![],
    };
    let (_tx, rx) = watch::channel(Arc::new(ActiveAlerts { alerts }));
    let gfx = ChannelGraphics::new(&channel, rx, clock, chrono_tz::UTC);
    let back = now - chrono::Duration::seconds(4);
    let cue = |s: DateTime<Utc>, e: DateTime<Utc>, kind, title: &str| Cue {
        start: s,
        end: e,
        kind,
        program_id: Some(1),
        title: title.into(),
        rating: None,
        aspect: Some(4.0 / 3.0),
        card: None,
    };
    gfx.set_cues(vec![
        cue(back - chrono::Duration::seconds(60), back, AiringKind::Commercial, "Ad"),
        cue(back, now + chrono::Duration::seconds(600), AiringKind::Program, "Benchmark Theatre"),
        cue(now + chrono::Duration::seconds(600), now + chrono::Duration::seconds(1800), AiringKind::Program, "Next"),
    ]);
    let p = gstreamer::Pipeline::new();
    let src = gstreamer::parse::bin_from_description(
        &format!("videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,format=I420,width=640,height=480,framerate=30000/1001 ! queue"),
        true,
    )
    .unwrap();
    let sink = gstreamer::ElementFactory::make("fakesink").property("sync", false).build().unwrap();
    p.add_many([src.upcast_ref(), &sink]).unwrap();
    match variant {
        Variant::Plain => src.link(&sink).unwrap(),
        _ => {
            let o = gfx.video_element().unwrap();
            p.add(&o).unwrap();
            gstreamer::Element::link_many([src.upcast_ref(), &o, &sink]).unwrap();
        }
    }
    let c0 = cpu_seconds();
    p.set_state(gstreamer::State::Playing).unwrap();
    let bus = p.bus().unwrap();
    let _ = bus.timed_pop_filtered(
        gstreamer::ClockTime::from_seconds(120),
        &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
    );
    let cpu = cpu_seconds() - c0;
    p.set_state(gstreamer::State::Null).unwrap();
    cpu
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    gstreamer::init().unwrap();
    let secs: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20);
    let rounds: u32 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let frames = 900;
    let mut per_frame = Vec::new();
    for v in VARIANTS {
        let cpu = element_only(v, frames);
        per_frame.push(cpu);
        println!("element only, {v:?}: {:.3} ms CPU per 640x480 frame", cpu * 1000.0 / f64::from(frames));
    }
    let dir = tempfile::tempdir().unwrap();
    let clip_frames = (secs + 20) * 30;
    // Two programs: a ball on black (the cheapest picture x264 can get, so the graphics' share
    // of the encoder's work is as large as it gets) and ffmpeg's testsrc2 (a moving, detailed
    // test picture, closer to what a channel airs).
    let ball = dir.path().join("ball.mp4");
    let status = std::process::Command::new("gst-launch-1.0")
        .args(["-q", "-e", "videotestsrc", &format!("num-buffers={clip_frames}"), "pattern=ball", "!"])
        .args(["video/x-raw,width=640,height=480,framerate=30000/1001", "!", "x264enc", "speed-preset=ultrafast", "!"])
        .args(["h264parse", "!", "mp4mux", "!", "filesink", &format!("location={}", ball.display())])
        .status()
        .unwrap();
    assert!(status.success());
    let detailed = dir.path().join("testsrc2.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=s=640x480:r=30000/1001:d={}", secs + 20))
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        .arg(&detailed)
        .status()
        .unwrap();
    assert!(status.success());
    for (program, clip) in [("ball", &ball), ("testsrc2", &detailed)] {
        // Rounds of the three variants in turn, so a slow spell of the machine hits all of
        // them alike; each variant's median run is compared.
        let mut runs: [Vec<f64>; 3] = Default::default();
        for round in 1..=rounds {
            for (i, v) in VARIANTS.into_iter().enumerate() {
                let cpu = run(v, clip, secs).await;
                println!(
                    "program {program}, round {round}, {v:?}: {cpu:.2} CPU s over {secs} s ({:.1} % of one core)",
                    cpu * 100.0 / secs as f64
                );
                runs[i].push(cpu);
            }
        }
        let results: Vec<f64> = runs.iter_mut().map(|r| median(r)).collect();
        for (v, m) in VARIANTS.iter().zip(&results) {
            println!("program {program}, median {v:?}: {m:.2} CPU s over {secs} s");
        }
        println!("ratio bug + lower third vs plain ({program}):  {:.3}x", results[1] / results[0]);
        println!("ratio bug + clock + crawl vs plain ({program}): {:.3}x", results[2] / results[0]);
        let fps = 30000.0 / 1001.0;
        for (name, i) in [("bug + lower third", 1), ("bug + clock + crawl", 2)] {
            let extra = (per_frame[i] - per_frame[0]) / f64::from(frames) * fps * secs as f64;
            println!("ratio {name} from the element cost alone ({program}): {:.3}x", (results[0] + extra) / results[0]);
        }
    }
}
