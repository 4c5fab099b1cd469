//! CPU of a guide channel against an ordinary SD channel (issue #20, goal: at most 1.2x): the
//! same real channel pipeline (x264, AAC, TS, 640x480 at 29.97) playing the same detailed
//! clip (ffmpeg's testsrc2), once as a regular channel with its bug and lower thirds, once as
//! a guide channel whose grid of `CHANNELS` rows scrolls over it with the clip in the preview
//! window. Rounds alternate the two; each one's median run is compared. It also prints the
//! graphics element's own per-frame cost for each (as fast as it goes, no encoder), which is
//! where a guide's extra CPU would show.
//!
//! `cargo run --release --example bench_guide -- [SECONDS] [ROUNDS] [CHANNELS]` (scripts/bench.sh
//! runs it). Prints `regular_cpu_s=… guide_cpu_s=… ratio=… regular_frame_ms=… guide_frame_ms=…`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use retrovue::clock::{SharedClock, SystemClock};
use retrovue::config::EncoderChoice;
use retrovue::emergency::ActiveAlerts;
use retrovue::lineup::{Channel, ChannelId, ChannelKind, ChannelSettings, FrameRate, OutputProfile, VideoFormat};
use retrovue::playout::graphics::cues::Cue;
use retrovue::playout::graphics::guide::{GuideData, GuideRow, GuideSlot};
use retrovue::playout::overlay::ChannelGraphics;
use retrovue::playout::pipeline::Output;
use retrovue::playout::station::Presentation;
use retrovue::playout::{ChannelPlayer, PlayerConfig, encoder};
use retrovue::schedule::horizons::{self, Horizon};
use retrovue::schedule::{Airing, AiringKind};
use retrovue::stream::StreamHub;
use tokio::sync::watch;

#[path = "common/mod.rs"]
mod common;
use common::{NoLog, cpu_seconds, median};

fn profile() -> OutputProfile {
    OutputProfile {
        format: VideoFormat::Sd640x480,
        frame_rate: FrameRate::Ntsc,
        video_kbps: retrovue::lineup::VideoKbps::of(2000),
        audio_kbps: retrovue::lineup::AudioKbps::of(128),
    }
}

fn channel(guide: bool) -> Channel {
    Channel {
        id: ChannelId(1),
        number: "5".parse().unwrap(),
        name: if guide { "Guide" } else { "Bench" }.into(),
        call_sign: "BNCH".into(),
        xmltv_id: "bench".into(),
        logo: None,
        settings: ChannelSettings {
            profile: profile(),
            kind: if guide { ChannelKind::Guide } else { ChannelKind::Regular },
            ..Default::default()
        },
        enabled: true,
    }
}

/// `n` channels of half-hour shows around `now`.
fn listing(n: usize, now: DateTime<Utc>) -> GuideData {
    let from = retrovue::playout::graphics::guide::window_start(now) - chrono::Duration::minutes(30);
    let titles = ["Harbor Lights", "Copper Canyon", "The Late Movie: Return of the Killer Tomatoes", "News at Six"];
    GuideData {
        rows: (0..n)
            .map(|i| GuideRow {
                number: (i + 2).to_string(),
                call_sign: format!("K{:03}", i + 2),
                programs: (0..6)
                    .map(|k| GuideSlot {
                        start: from + chrono::Duration::minutes(30 * k),
                        end: from + chrono::Duration::minutes(30 * (k + 1)),
                        title: titles[(i + k as usize) % titles.len()].into(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn program_cue(start: DateTime<Utc>, end: DateTime<Utc>) -> Cue {
    Cue {
        start,
        end,
        kind: AiringKind::Program,
        program_id: Some(1),
        title: "Benchmark Theatre".into(),
        rating: Some("TV-PG".into()),
        aspect: Some(4.0 / 3.0),
        card: None,
    }
}

fn graphics(guide: bool, rows: usize, clock: &SharedClock) -> ChannelGraphics {
    let (_tx, rx) = watch::channel(Arc::new(ActiveAlerts { alerts: vec![] }));
    let gfx = ChannelGraphics::new(&channel(guide), rx, clock.clone(), chrono_tz::UTC);
    let now = clock.now();
    if guide {
        gfx.set_guide(listing(rows, now));
    }
    // A program that came back from a break 4 s ago: the regular channel's lower third shows.
    gfx.set_cues(vec![program_cue(now - chrono::Duration::seconds(4), now + chrono::Duration::seconds(3600))]);
    gfx
}

async fn run(guide: bool, rows: usize, clip: &std::path::Path, secs: u64) -> f64 {
    let clock: SharedClock = Arc::new(SystemClock);
    let start = clock.now() + chrono::Duration::seconds(2);
    let end = start + chrono::Duration::seconds(secs as i64 + 10);
    let airing = Airing {
        id: 1,
        channel_id: ChannelId(1),
        program_id: Some(1),
        start,
        end,
        kind: if guide { AiringKind::Promo } else { AiringKind::Program },
        media_id: None,
        uri: Some(clip.display().to_string()),
        title: "Benchmark Theatre".into(),
        offset_in_ms: 0,
        offset_out_ms: (end - start).num_milliseconds(),
        loudness_lufs: None,
        card: None,
    };
    let gfx = graphics(guide, rows, &clock);
    let hub = StreamHub::new();
    let config = PlayerConfig {
        channel: ChannelId(1),
        profile: profile(),
        encoder: encoder::probe(&EncoderChoice::Named("x264enc".into())).unwrap(),
        fallback: Default::default(),
        target_lufs: -24.0,
        overlay: Some(gfx.video_factory()),
        audio_overlay: Some(gfx.audio_factory()),
        presentation: Presentation { standby: Some(gfx.standby()), item_window: gfx.item_window() },
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
    tokio::time::sleep(Duration::from_secs(3)).await; // past preroll and the item's start
    let c0 = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let cpu = cpu_seconds() - c0;
    player.stop().await;
    cpu
}

/// CPU ms per 640x480 frame of the graphics element alone (as fast as it goes), less the same
/// pipeline without it.
fn element_ms(guide: Option<bool>, rows: usize, frames: u32) -> f64 {
    use gstreamer::prelude::*;
    let clock: SharedClock = Arc::new(SystemClock);
    let p = gstreamer::Pipeline::new();
    let src = gstreamer::parse::bin_from_description(
        &format!(
            "videotestsrc num-buffers={frames} is-live=false pattern=ball ! video/x-raw,format=I420,width=640,height=480,framerate=30000/1001 ! queue"
        ),
        true,
    )
    .unwrap();
    let sink = gstreamer::ElementFactory::make("fakesink").property("sync", false).build().unwrap();
    p.add_many([src.upcast_ref(), &sink]).unwrap();
    let _gfx = match guide {
        None => {
            src.link(&sink).unwrap();
            None
        }
        Some(guide) => {
            let gfx = graphics(guide, rows, &clock);
            let o = gfx.video_element().unwrap();
            p.add(&o).unwrap();
            gstreamer::Element::link_many([src.upcast_ref(), &o, &sink]).unwrap();
            Some(gfx)
        }
    };
    let c0 = cpu_seconds();
    p.set_state(gstreamer::State::Playing).unwrap();
    let bus = p.bus().unwrap();
    let _ = bus.timed_pop_filtered(
        gstreamer::ClockTime::from_seconds(300),
        &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
    );
    let cpu = cpu_seconds() - c0;
    p.set_state(gstreamer::State::Null).unwrap();
    cpu * 1000.0 / f64::from(frames)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    gstreamer::init().unwrap();
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let rounds: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    let rows: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(12);
    let frames = 600;
    let base = element_ms(None, rows, frames);
    let regular_ms = element_ms(Some(false), rows, frames) - base;
    let guide_ms = element_ms(Some(true), rows, frames) - base;
    println!("graphics element per frame: regular {regular_ms:.3} ms, guide {guide_ms:.3} ms ({rows} rows)");
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("testsrc2.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=s=640x480:r=30000/1001:d={}", secs + 20))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate=48000:duration={}", secs + 20))
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(status.success());
    let (mut regular, mut guide) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        for is_guide in [false, true] {
            let cpu = run(is_guide, rows, &clip, secs).await;
            let what = if is_guide { "guide" } else { "regular" };
            println!(
                "round {round}, {what}: {cpu:.2} CPU s over {secs} s ({:.1} % of one core)",
                cpu * 100.0 / secs as f64
            );
            if is_guide { &mut guide } else { &mut regular }.push(cpu);
        }
    }
    let (r, g) = (median(&mut regular), median(&mut guide));
    println!(
        "regular_cpu_s={r:.2} guide_cpu_s={g:.2} ratio={:.3} regular_frame_ms={regular_ms:.3} guide_frame_ms={guide_ms:.3} rows={rows} secs={secs}",
        g / r
    );
}
