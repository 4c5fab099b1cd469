//! Graphics and alert elements in real GStreamer pipelines (live test sources, real time):
//! the bug changes its region of the picture and nothing else, the slate replaces the
//! picture, the crawl moves, and the alert audio is the two EAS tones or silence.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use retrovue::clock::{SharedClock, SystemClock};
use retrovue::emergency::{ActiveAlerts, Alert, AlertChannels, AlertId, AlertMode, AlertOrigin};
use retrovue::lineup::{Channel, ChannelId, ChannelSettings};
use retrovue::playout::graphics::cues::Cue;
use retrovue::playout::graphics::scene::{Scene, SceneConfig};
use retrovue::playout::overlay::ChannelGraphics;
use retrovue::schedule::AiringKind;
use tokio::sync::watch;

const W: usize = 640;
const H: usize = 480;

fn channel() -> Channel {
    Channel {
        id: ChannelId(1),
        number: "5".parse().unwrap(),
        name: "Retro".into(),
        call_sign: "RTV".into(),
        xmltv_id: "x".into(),
        logo: None,
        settings: ChannelSettings { lower_thirds: false, ..Default::default() },
        enabled: true,
    }
}

fn program_now(aspect: Option<f64>) -> Vec<Cue> {
    let now = Utc::now();
    vec![Cue {
        start: now - chrono::Duration::seconds(30),
        end: now + chrono::Duration::seconds(300),
        kind: AiringKind::Program,
        program_id: Some(1),
        title: "Cheers".into(),
        rating: None,
        aspect,
        card: None,
    }]
}

fn alert(id: i64, mode: AlertMode, tone: bool) -> Alert {
    let now = Utc::now();
    Alert {
        id: AlertId(id),
        message: "Tornado warning for the whole county until nine o'clock tonight".into(),
        priority: 0,
        channels: AlertChannels::All,
        mode,
        tone,
        starts_at: now,
        ends_at: None,
        cleared_at: None,
        origin: AlertOrigin::Cli,
        created_at: now,
    }
}

fn live(alerts: Vec<Alert>) -> Arc<ActiveAlerts> {
    Arc::new(ActiveAlerts { alerts })
}

/// A running test pipeline whose appsink we pull from.
struct Running {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
}

impl Running {
    fn start(desc_before: &str, middle: Option<gst::Element>, caps: &str) -> Self {
        gst::init().unwrap();
        let pipeline = gst::Pipeline::new();
        let src = gst::parse::bin_from_description(&format!("{desc_before} ! queue"), true).unwrap();
        let sink = gst_app::AppSink::builder().caps(&caps.parse().unwrap()).sync(false).max_buffers(400).build();
        pipeline.add(&src).unwrap();
        pipeline.add(&sink).unwrap();
        match middle {
            Some(m) => {
                pipeline.add(&m).unwrap();
                gst::Element::link_many([src.upcast_ref(), &m, sink.upcast_ref()]).unwrap();
            }
            None => src.link(&sink).unwrap(),
        }
        pipeline.set_state(gst::State::Playing).unwrap();
        Self { pipeline, sink }
    }

    /// The next sample's bytes.
    fn pull(&self) -> Vec<u8> {
        let s = self.sink.try_pull_sample(gst::ClockTime::from_seconds(5)).expect("a sample within 5 s");
        s.buffer().unwrap().map_readable().unwrap().as_slice().to_vec()
    }

    /// Skip `d` of samples and return the next one.
    fn after(&self, d: Duration) -> Vec<u8> {
        let until = std::time::Instant::now() + d;
        loop {
            let f = self.pull();
            if std::time::Instant::now() >= until {
                return f;
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

const VIDEO: &str =
    "videotestsrc is-live=true pattern=smpte75 ! video/x-raw,format=I420,width=640,height=480,framerate=30/1";
const I420: &str = "video/x-raw,format=I420,width=640,height=480";

/// The slate card as the scene renders it, as a luma plane.
fn expected_slate(a: &Alert) -> Vec<u8> {
    let ch = channel();
    let mut scene = Scene::new(SceneConfig {
        width: W as u32,
        height: H as u32,
        bug: ch.settings.bug.clone(),
        bug_text: ch.call_sign.clone(),
        lower_thirds: false,
        clock: false,
        tz: chrono_tz::UTC,
        frame_rate: ch.settings.profile.frame_rate,
        call_sign: ch.call_sign.clone(),
        name: ch.name.clone(),
        era: ch.settings.era,
        guide: false,
    });
    let layers = scene.frame(Utc::now(), &[], Some(a));
    let r = &layers[0].raster;
    (0..H * W)
        .map(|i| {
            let p = r.pixel((i % W) as u32, (i / W) as u32);
            let y = 0.2126 * f64::from(p.0) + 0.7152 * f64::from(p.1) + 0.0722 * f64::from(p.2);
            (16.0 + y * 219.0 / 255.0).round() as u8
        })
        .collect()
}

/// Mean absolute difference of the luma plane over a rectangle.
fn luma_diff(a: &[u8], b: &[u8], x0: usize, y0: usize, w: usize, h: usize) -> f64 {
    let mut sum = 0u64;
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            sum += u64::from(a[y * W + x].abs_diff(b[y * W + x]));
        }
    }
    sum as f64 / (w * h) as f64
}

#[test]
fn bug_slate_and_crawl_in_a_live_pipeline() {
    gst::init().unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    let reference = Running::start(VIDEO, None, I420).after(Duration::from_millis(200));

    let (tx, rx) = watch::channel(live(vec![]));
    let gfx = ChannelGraphics::new(&channel(), rx, clock, chrono_tz::UTC);
    gfx.set_cues(program_now(Some(4.0 / 3.0)));
    let run = Running::start(VIDEO, Some(gfx.video_element().unwrap()), I420);
    // Past the bug's fade-in.
    let frame = run.after(Duration::from_millis(700));
    // Default bug: bottom-right, 5 % margin (24 px), 12 % high (58 px).
    let bug = luma_diff(&frame, &reference, W - 24 - 120, H - 24 - 58, 120, 58);
    let elsewhere = luma_diff(&frame, &reference, 0, 0, 320, 240);
    eprintln!("bug region luma difference {bug:.1}, elsewhere {elsewhere:.1}");
    assert!(bug > 8.0, "the bug region must change: {bug}");
    assert!(elsewhere < 0.5, "the rest of the picture must not change: {elsewhere}");

    // Slate: the whole picture becomes the card within a second.
    let raised = std::time::Instant::now();
    let slate_alert = alert(1, AlertMode::Slate, false);
    tx.send_replace(live(vec![slate_alert.clone()]));
    let slate = loop {
        let f = run.pull();
        if luma_diff(&f, &reference, 0, 0, W, H) > 40.0 {
            break f;
        }
        assert!(raised.elapsed() < Duration::from_secs(1), "slate not shown within 1 s");
    };
    eprintln!("slate shown after {:?}", raised.elapsed());
    // The frame is the slate card, pixel for pixel (luma, BT.709 limited range).
    let card = expected_slate(&slate_alert);
    let mismatch = luma_diff(&slate, &card, 0, 0, W, H);
    eprintln!("slate frame vs rendered card: mean luma difference {mismatch:.2}");
    assert!(mismatch < 2.0, "slate frame differs from the card: {mismatch}");
    let next = run.after(Duration::from_millis(300));
    assert!(luma_diff(&slate, &next, 0, 0, W, H) < 0.5, "the slate is a still card");

    // Crawl: the band appears, the text moves, the top of the picture is the program again.
    tx.send_replace(live(vec![alert(2, AlertMode::Crawl, false)]));
    let a = run.after(Duration::from_millis(400));
    let b = run.after(Duration::from_millis(500));
    assert!(luma_diff(&a, &reference, 0, 0, W, 200) < 0.5, "program visible above the crawl");
    let band_y = H - 43 - 24;
    assert!(luma_diff(&a, &reference, 0, band_y, W, 40) > 20.0, "crawl band drawn");
    assert!(luma_diff(&a, &b, 100, band_y, W - 100, 40) > 5.0, "crawl text moves");

    // Clear: back to program + bug.
    tx.send_replace(live(vec![]));
    let c = run.after(Duration::from_millis(300));
    let restored = luma_diff(&c, &frame, 0, 0, W, H);
    assert!(restored < 0.5, "clearing restores the program with its bug: {restored}");
}

/// Energy of `freq` in `x` (Goertzel), normalised by length.
fn goertzel(x: &[f64], rate: f64, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for v in x {
        let s = v + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2).sqrt() / x.len() as f64
}

fn left_channel(bytes: &[u8]) -> Vec<f64> {
    bytes.chunks_exact(4).map(|f| f64::from(i16::from_le_bytes([f[0], f[1]])) / 32768.0).collect()
}

fn collect_audio(run: &Running, d: Duration) -> Vec<f64> {
    let mut out = Vec::new();
    let until = std::time::Instant::now() + d;
    while std::time::Instant::now() < until {
        out.extend(left_channel(&run.pull()));
    }
    out
}

#[test]
fn tone_alerts_play_both_frequencies_and_slates_mute_the_program() {
    gst::init().unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    let (tx, rx) = watch::channel(live(vec![]));
    let gfx = ChannelGraphics::new(&channel(), rx, clock, chrono_tz::UTC);
    let caps = "audio/x-raw,format=S16LE,rate=48000,channels=2,layout=interleaved";
    let src = format!("audiotestsrc is-live=true wave=sine freq=440 volume=0.5 samplesperbuffer=960 ! {caps}");
    let run = Running::start(&src, Some(gfx.audio_element().unwrap()), caps);
    let program = collect_audio(&run, Duration::from_millis(400));
    let g = |x: &[f64], f| goertzel(x, 48000.0, f);
    assert!(g(&program, 440.0) > 0.1 && g(&program, 853.0) < 0.01, "program is a 440 Hz sine");

    tx.send_replace(live(vec![alert(1, AlertMode::Crawl, true)]));
    let _ = collect_audio(&run, Duration::from_millis(300));
    let tone = collect_audio(&run, Duration::from_millis(1000));
    let (t853, t960, t440) = (g(&tone, 853.0), g(&tone, 960.0), g(&tone, 440.0));
    eprintln!("tone energies: 853 Hz {t853:.3}, 960 Hz {t960:.3}, 440 Hz {t440:.4}");
    assert!(t853 > 0.08 && t960 > 0.08, "both attention frequencies present");
    assert!(t440 < 0.005, "program replaced during the tone");

    // A slate without tone: silence, program muted.
    tx.send_replace(live(vec![alert(2, AlertMode::Slate, false)]));
    let _ = collect_audio(&run, Duration::from_millis(300));
    let muted = collect_audio(&run, Duration::from_millis(500));
    let peak = muted.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(peak < 1e-3, "program audio must be muted under a slate (peak {peak})");

    // Cleared: the program sound is back.
    tx.send_replace(live(vec![]));
    let _ = collect_audio(&run, Duration::from_millis(300));
    let back = collect_audio(&run, Duration::from_millis(400));
    assert!(g(&back, 440.0) > 0.1, "program audio back after the alert");
}

#[test]
fn frames_with_nothing_to_draw_pass_through_unchanged() {
    // Regression: the draw signal must return a NULL composition, not nothing (that aborted).
    gst::init().unwrap();
    let reference = Running::start(VIDEO, None, I420).after(Duration::from_millis(100));
    let (_tx, rx) = watch::channel(live(vec![]));
    let gfx = ChannelGraphics::new(&channel(), rx, Arc::new(SystemClock), chrono_tz::UTC);
    let run = Running::start(VIDEO, Some(gfx.video_element().unwrap()), I420);
    let f = run.after(Duration::from_millis(300));
    assert!(luma_diff(&f, &reference, 0, 0, W, H) < 0.5);
}
