//! `retrovue selftest`: report the encoder chosen by probe-and-verify (or the one forced with
//! `--encoder`), the hardware decoders that passed their trial, the encoder budget in
//! channels, and encode a few seconds of
//! test pattern (colour bars + 1 kHz tone, attached through the pipeline's slate seam)
//! through the real channel pipeline, then check the TS that came out: sync bytes, a
//! keyframe every 2 s, video PTS advancing in real time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use gstreamer as gst;
use gstreamer::prelude::*;

use super::Context;
use crate::clock::SystemClock;
use crate::elements;
use crate::lineup::{ChannelId, OutputProfile};
use crate::playout::pipeline::{ChannelPipeline, Output, SLATE_ZORDER};
use crate::playout::tsscan::{KeyframeSplitter, PACKET};
use crate::playout::{AsRunEvent, AsRunSink, ChannelPlayer, PlayerConfig, encoder};
use crate::schedule::horizons::{self, Horizon};
use crate::stream::StreamHub;

/// `retrovue selftest`
#[derive(Debug, clap::Args)]
pub struct SelftestArgs {
    /// Seconds of test pattern to encode.
    #[arg(long, default_value_t = 3)]
    pub seconds: u32,
    /// Use this encoder element (e.g. `v4l2h264enc`) instead of the configured choice.
    #[arg(long)]
    pub encoder: Option<String>,
}

struct NoLog;

impl AsRunSink for NoLog {
    fn record(&self, _: AsRunEvent) {}
    fn interrupted(&self, _: ChannelId, _: DateTime<Utc>, _: &str) {}
}

/// How long the self-test waits for the channel's first output.
const FIRST_OUTPUT_WAIT: Duration = Duration::from_secs(15);

/// Run `retrovue selftest`.
pub fn selftest(ctx: &Context, args: SelftestArgs) -> anyhow::Result<()> {
    gst::init().context("GStreamer did not start")?;
    let (maj, min, micro, _) = gst::version();
    println!("gstreamer: {maj}.{min}.{micro}");
    check_elements()?;
    let choice = match args.encoder {
        Some(name) if name != "auto" => crate::config::EncoderChoice::Named(name),
        Some(_) => crate::config::EncoderChoice::Auto,
        None => ctx.config.playout.encoder.clone(),
    };
    let kind = encoder::probe(&choice)?;
    println!(
        "encoder: {} ({}, verified by a trial encode of {} frames)",
        kind.element(),
        if kind.is_hardware() { "hardware" } else { "software" },
        crate::playout::verify::TRIAL_FRAMES
    );
    let decoders = crate::playout::verify::rank_decoders();
    if decoders.is_empty() {
        println!("decoders: software (no hardware H.264 decoder registered)");
    }
    for (name, result) in decoders {
        match result {
            Ok(()) => println!("decoder: {name} (hardware, verified; preferred for H.264 items)"),
            Err(reason) => println!("decoder: {name} skipped: {reason}"),
        }
    }
    let budget = crate::playout::budget::budget_here(kind);
    let sd = OutputProfile::default();
    let hd = OutputProfile { format: crate::lineup::VideoFormat::Hd720, ..OutputProfile::default() };
    println!(
        "budget: {budget} macroblocks/s = {} channels at 640x480 29.97, {} at 1280x720 29.97",
        crate::playout::budget::tuner_count(budget, &[sd]),
        crate::playout::budget::tuner_count(budget, &[hd])
    );
    let seconds = args.seconds.clamp(2, 60);
    let rt = tokio::runtime::Runtime::new()?;
    let (bytes, elapsed) = rt.block_on(encode(kind, seconds))?;
    let report = check(&bytes, seconds)?;
    println!(
        "encoded: {:.1} s of 640x480 29.97 (from the first keyframe) in {:.1} s, {} bytes ({:.0} kbit/s), {} keyframes 2.002 s apart",
        report.video_secs,
        elapsed.as_secs_f64(),
        bytes.len(),
        bytes.len() as f64 * 8.0 / 1000.0 / report.video_secs.max(0.001),
        report.keyframes
    );
    println!("selftest: ok");
    Ok(())
}

async fn encode(kind: encoder::EncoderKind, seconds: u32) -> anyhow::Result<(Vec<u8>, Duration)> {
    let hub = StreamHub::new();
    let channel = ChannelId(0);
    let config = PlayerConfig {
        channel,
        profile: OutputProfile::default(),
        encoder: kind,
        fallback: Default::default(),
        target_lufs: -24.0,
        overlay: None,
        audio_overlay: None,
        presentation: Default::default(),
        captions: true,
        loudness: None,
        subtitles: None,
        audio_tracks: Default::default(),
    };
    let output = Output { feed: hub.feed(channel), hls: None };
    let mut sub = hub.subscribe(channel);
    let started = Instant::now();
    // Nothing scheduled: the self-test shows its own pattern.
    let nothing = horizons::fixed(Horizon::default());
    let player = ChannelPlayer::spawn(config, nothing, Arc::new(NoLog), Arc::new(SystemClock), output)?;
    anyhow::ensure!(player.wait_running(Duration::from_secs(10)).await, "the channel pipeline did not start");
    player
        .with_pipeline(|cp| {
            if let Err(e) = attach_pattern(cp) {
                tracing::error!(error = %e, "cannot attach the test pattern");
            }
        })
        .await?;
    // `seconds` of output from its first bytes: a busy box may take a few seconds to start
    // (CI's 2 cores, with two channel tests beside it, once gave none in the first 3 s).
    let mut out = Vec::new();
    if let Ok(Some(first)) = tokio::time::timeout(FIRST_OUTPUT_WAIT, sub.next()).await {
        out.extend_from_slice(&first);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds as u64);
        while let Ok(Some(b)) = tokio::time::timeout_at(deadline, sub.next()).await {
            out.extend_from_slice(&b);
        }
    }
    let status = player.status();
    player.stop().await;
    anyhow::ensure!(status.restarts == 0, "the pipeline failed: {}", status.last_error.unwrap_or_default());
    Ok((out, started.elapsed()))
}

/// Every element the list requires is in the registry; otherwise print what to install.
fn check_elements() -> anyhow::Result<()> {
    let missing = elements::missing();
    let required = elements::ELEMENTS.iter().filter(|e| e.used != elements::Use::Encoder).count();
    if let Some(first) = missing.first() {
        for m in &missing[1..] {
            eprintln!("{m}");
        }
        let more = if missing.len() > 1 { format!(" (and {} more above)", missing.len() - 1) } else { String::new() };
        anyhow::bail!("{first}{more}");
    }
    println!("elements: all {required} required GStreamer elements are installed");
    Ok(())
}

/// Colour bars and a tone, live, above everything (the same way a slate is attached).
fn attach_pattern(cp: &ChannelPipeline) -> anyhow::Result<()> {
    let bin = elements::bin_from_description(
        "videotestsrc is-live=true pattern=smpte ! videoconvert ! videoscale ! capsfilter name=vcaps ! queue name=vq \
         audiotestsrc is-live=true freq=1000 volume=0.2 ! audioconvert ! audioresample ! capsfilter name=acaps ! queue name=aq",
        false,
    )?;
    bin.by_name("vcaps").context("vcaps")?.set_property("caps", cp.video_caps());
    bin.by_name("acaps").context("acaps")?.set_property("caps", cp.audio_caps());
    for (q, name) in [("vq", "video"), ("aq", "audio")] {
        let pad = bin.by_name(q).context("queue")?.static_pad("src").context("src")?;
        bin.add_pad(&gst::GhostPad::builder_with_target(&pad)?.name(name).build())?;
    }
    cp.pipeline.add(&bin)?;
    bin.static_pad("video").context("video")?.link(&cp.request_video_pad(SLATE_ZORDER)?)?;
    bin.static_pad("audio").context("audio")?.link(&cp.request_audio_pad()?)?;
    bin.sync_state_with_parent()?;
    Ok(())
}

struct Report {
    video_secs: f64,
    keyframes: usize,
}

/// Check the TS: whole packets with sync bytes, keyframes 2 s apart, enough video.
fn check(ts: &[u8], seconds: u32) -> anyhow::Result<Report> {
    anyhow::ensure!(!ts.is_empty(), "no output at all");
    anyhow::ensure!(ts.len().is_multiple_of(PACKET), "output is not whole TS packets ({} bytes)", ts.len());
    anyhow::ensure!(ts.chunks(PACKET).all(|p| p[0] == 0x47), "TS sync byte missing");
    let mut splitter = KeyframeSplitter::default();
    let keys: Vec<u64> = splitter.split(ts).into_iter().filter_map(|part| part.key_pts).collect();
    anyhow::ensure!(!keys.is_empty(), "no keyframe in the output");
    // The GOP is 2.002 s. A shorter gap is an extra keyframe (seen once, on a starved box,
    // from a hardware encoder's double): harmless to players and HLS, so allowed and said. A
    // longer one means the encoder is not set up as the channel needs.
    let mut forced = 0;
    for w in keys.windows(2) {
        let gap = w[1].saturating_sub(w[0]);
        anyhow::ensure!(gap <= 181_000, "keyframes {:.3} s apart, expected 2.002 s", gap as f64 / 90_000.0);
        if gap < 179_000 {
            forced += 1;
        }
    }
    anyhow::ensure!(
        keys.len() < 3 || forced < keys.len() - 1,
        "no two keyframes 2.002 s apart among {} (every gap shorter)",
        keys.len()
    );
    if forced > 0 {
        println!("note: {forced} keyframe(s) came before the 2.002 s GOP ended");
    }
    // From the first keyframe to the last, plus the GOP that follows it.
    let video_secs = (*keys.last().expect("non-empty") - keys[0]) as f64 / 90_000.0 + 2.002;
    anyhow::ensure!(
        seconds < 4 || keys.len() as u32 >= seconds / 2 - 1,
        "only {} keyframes in {seconds} s",
        keys.len()
    );
    Ok(Report { video_secs, keyframes: keys.len() })
}
