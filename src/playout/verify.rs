//! Probe-and-verify: a codec element found in the registry is trusted only after it worked.
//!
//! * Encoders: each candidate of [`encoder::PROBE_ORDER`] (or the configured one) is created,
//!   given the channel settings through [`encoder::configure`], and made to encode
//!   [`TRIAL_FRAMES`] frames of the channel's raw caps in a tiny pipeline. A VA or V4L2
//!   element is registered whenever its plugin saw a device node, but it can still fail to open
//!   the device, refuse a setting or the format, or hang; such an encoder is skipped with a
//!   log line saying why.
//! * Hardware decoders ([`HW_DECODERS`]): each one present decodes a few frames of a stream the
//!   software encoder makes. One that works is ranked above `avdec_h264` so `uridecodebin`
//!   picks it; one that fails is ranked NONE so it is never picked. A decoder that later fails
//!   on one item makes that item fail (the channel goes on); the item's media is remembered
//!   and decoded in software from then on ([`remember_decoder_failure`]).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::encoder::{self, EncoderError, EncoderKind, PROBE_ORDER};
use crate::config::EncoderChoice;
use crate::elements::{
    CAPSFILTER, Factory, H264PARSE, OPENH264ENC, V4L2H264DEC, V4L2SLH264DEC, VAH264DEC, VIDEOTESTSRC, X264ENC,
};
use crate::lineup::OutputProfile;

/// Frames a trial encode or decode must produce.
pub const TRIAL_FRAMES: u32 = 8;
/// How long a trial may take before the element counts as hung.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(20);
/// The hardware H.264 decoders, Pi first.
pub const HW_DECODERS: [&str; 3] = [V4L2H264DEC.name(), V4L2SLH264DEC.name(), VAH264DEC.name()];

/// The encoder for `choice`, verified with a trial encode of `profile`.
pub fn choose_encoder(choice: &EncoderChoice, profile: &OutputProfile) -> Result<EncoderKind, EncoderError> {
    let candidates: Vec<EncoderKind> = match choice {
        EncoderChoice::Named(name) => {
            vec![EncoderKind::from_element(name).ok_or_else(|| EncoderError::Unavailable(name.clone()))?]
        }
        EncoderChoice::Auto => PROBE_ORDER.to_vec(),
    };
    let named = matches!(choice, EncoderChoice::Named(_));
    for kind in candidates {
        if !kind.factory().is_available() {
            if named {
                return Err(EncoderError::NotInstalled(kind));
            }
            continue;
        }
        match trial_encode(kind, profile) {
            Ok(bytes) => {
                tracing::info!(
                    encoder = kind.element(),
                    frames = TRIAL_FRAMES,
                    bytes,
                    "encoder verified by a trial encode"
                );
                return Ok(kind);
            }
            Err(reason) => {
                tracing::warn!(encoder = kind.element(), %reason, "skipping encoder: its trial encode failed");
                if named {
                    return Err(EncoderError::Failed { name: kind.element().to_owned(), reason });
                }
            }
        }
    }
    Err(EncoderError::NoneFound)
}

/// Whether `kind` may take over a channel whose encoder failed on air: its trial encode of
/// `profile` worked (logged either way).
pub fn verify_fallback(kind: EncoderKind, profile: &OutputProfile) -> bool {
    match trial_encode(kind, profile) {
        Ok(bytes) => {
            tracing::info!(
                encoder = kind.element(),
                frames = TRIAL_FRAMES,
                bytes,
                "fallback encoder verified by a trial encode"
            );
            true
        }
        Err(reason) => {
            tracing::warn!(encoder = kind.element(), %reason, "not a fallback encoder: its trial encode failed");
            false
        }
    }
}

/// Encode [`TRIAL_FRAMES`] frames of `profile`'s caps; the H.264 bytes produced.
pub fn trial_encode(kind: EncoderKind, profile: &OutputProfile) -> Result<usize, String> {
    let pipeline = gst::Pipeline::with_name(&format!("trial-{}", kind.element()));
    let make = |f: Factory| f.make().map_err(|e| format!("cannot create {f}: {e}"));
    let src = make(VIDEOTESTSRC)?;
    src.set_property("num-buffers", TRIAL_FRAMES as i32);
    src.set_property_from_str("pattern", "smpte");
    let caps = make(CAPSFILTER)?;
    caps.set_property("caps", super::pipeline::video_caps(profile, kind.input_format()));
    let enc = make(kind.factory())?;
    let rate = super::pipeline::rate_of(profile);
    encoder::configure(&enc, kind, rate.gop_frames(2), profile.video_kbps.get()).map_err(|e| e.to_string())?;
    let mut chain = vec![src, caps, enc];
    if let Some(c) = kind.output_caps() {
        let f = make(CAPSFILTER)?;
        f.set_property("caps", c.parse::<gst::Caps>().map_err(|e| e.to_string())?);
        chain.push(f);
    }
    chain.push(make(H264PARSE)?);
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline.add_many(&chain).map_err(|e| e.to_string())?;
    pipeline.add(&sink).map_err(|e| e.to_string())?;
    gst::Element::link_many(&chain).map_err(|e| format!("cannot link the trial pipeline: {e}"))?;
    chain.last().expect("chain").link(&sink).map_err(|e| e.to_string())?;
    let outcome = run_trial(&pipeline, &sink);
    let _ = pipeline.set_state(gst::State::Null);
    let (frames, bytes, keyframe) = outcome?;
    if frames < TRIAL_FRAMES as usize {
        return Err(format!("only {frames} of {TRIAL_FRAMES} frames came out"));
    }
    if !keyframe {
        return Err("the output has no keyframe".into());
    }
    Ok(bytes)
}

/// Run to EOS; (buffers, bytes, whether one was a keyframe) or why not.
fn run_trial(pipeline: &gst::Pipeline, sink: &gst_app::AppSink) -> Result<(usize, usize, bool), String> {
    let bus = pipeline.bus().expect("pipeline bus");
    if pipeline.set_state(gst::State::Playing).is_err() {
        return Err(bus_error(&bus).unwrap_or_else(|| "the element would not start".into()));
    }
    let deadline = Instant::now() + TRIAL_TIMEOUT;
    let (mut frames, mut bytes, mut keyframe) = (0, 0, false);
    loop {
        if let Some(e) = bus_error(&bus) {
            return Err(e);
        }
        if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            if let Some(b) = s.buffer() {
                frames += 1;
                bytes += b.size();
                keyframe |= !b.flags().contains(gst::BufferFlags::DELTA_UNIT);
            }
            continue;
        }
        if sink.is_eos() {
            return Ok((frames, bytes, keyframe));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no end of stream within {} s ({frames} frames out): the device hangs",
                TRIAL_TIMEOUT.as_secs()
            ));
        }
    }
}

fn bus_error(bus: &gst::Bus) -> Option<String> {
    let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
    let gst::MessageView::Error(e) = msg.view() else { return None };
    let element = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
    let detail = e.debug().and_then(|d| d.lines().last().map(str::to_owned)).unwrap_or_default();
    Some(format!("{element}: {} {detail}", e.error()).trim().to_owned())
}

/// Decode [`TRIAL_FRAMES`] frames of a stream the software encoder makes with `decoder`.
pub fn trial_decode(decoder: &str) -> Result<(), String> {
    let soft = [X264ENC, OPENH264ENC]
        .into_iter()
        .find(|f| f.is_available())
        .ok_or("no software H.264 encoder to make a test stream")?;
    let desc = format!(
        "videotestsrc num-buffers={TRIAL_FRAMES} pattern=smpte ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
         ! {soft} ! h264parse ! {decoder} name=dec ! appsink name=out sync=false"
    );
    let pipeline = crate::elements::launch(&desc)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_owned())?;
    let sink = pipeline.by_name("out").and_then(|e| e.downcast::<gst_app::AppSink>().ok()).ok_or("no appsink")?;
    let outcome = run_trial(&pipeline, &sink);
    let _ = pipeline.set_state(gst::State::Null);
    let (frames, _, _) = outcome?;
    if frames < TRIAL_FRAMES as usize {
        return Err(format!("only {frames} of {TRIAL_FRAMES} frames came out"));
    }
    Ok(())
}

/// What the decoder verification found: (element, Ok or why not), for the log and selftest.
pub type DecoderReport = Vec<(&'static str, Result<(), String>)>;

/// Verify the hardware decoders present (once per process) and rank them: PRIMARY+1 (above
/// `avdec_h264`) when they work, NONE when they do not.
pub fn rank_decoders() -> &'static DecoderReport {
    static REPORT: OnceLock<DecoderReport> = OnceLock::new();
    REPORT.get_or_init(|| {
        let mut report = Vec::new();
        for name in HW_DECODERS {
            let Some(factory) = Factory::listed(name).and_then(Factory::registered) else { continue };
            let result = trial_decode(name);
            match &result {
                Ok(()) => {
                    factory.set_rank(gst::Rank::PRIMARY + 1);
                    tracing::info!(decoder = name, "hardware decoder verified; preferred for H.264 items");
                }
                Err(reason) => {
                    factory.set_rank(gst::Rank::NONE);
                    tracing::warn!(decoder = name, %reason, "hardware decoder skipped: its trial decode failed");
                }
            }
            report.push((name, result));
        }
        report
    })
}

fn failed_media() -> &'static Mutex<HashSet<String>> {
    static FAILED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    FAILED.get_or_init(Mutex::default)
}

/// Whether `factory` is one of the hardware decoders.
pub fn is_hardware_decoder(factory: &str) -> bool {
    HW_DECODERS.contains(&factory)
}

/// A hardware decoder failed on `uri`: decode it in software from now on.
pub fn remember_decoder_failure(uri: &str) {
    tracing::warn!(%uri, "hardware decoder failed on this media; it will be decoded in software");
    failed_media().lock().expect("failed media").insert(uri.to_owned());
}

/// Whether `uri` must be decoded in software.
pub fn software_only(uri: &str) -> bool {
    failed_media().lock().expect("failed media").contains(uri)
}

/// Make `uridecodebin` skip hardware decoders for media they failed on.
pub fn avoid_failed_hardware(decode: &gst::Element, uri: &str) {
    if !software_only(uri) {
        return;
    }
    decode.connect("autoplug-select", false, |args| {
        let factory = args.get(3).and_then(|v| v.get::<gst::ElementFactory>().ok());
        let hw = factory.is_some_and(|f| is_hardware_decoder(f.name().as_str()));
        // GstAutoplugSelectResult (gstautoplugenums.h): "try" or "skip".
        glib::Type::from_name("GstAutoplugSelectResult")
            .and_then(glib::EnumClass::with_type)
            .and_then(|c| c.to_value_by_nick(if hw { "skip" } else { "try" }))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_encoders_pass_their_trial_and_a_bogus_choice_is_refused() {
        gst::init().unwrap();
        let profile = OutputProfile::default();
        assert!(trial_encode(EncoderKind::OpenH264, &profile).unwrap() > 0);
        let named = choose_encoder(&EncoderChoice::Named("openh264enc".into()), &profile).unwrap();
        assert_eq!(named, EncoderKind::OpenH264);
        assert!(matches!(
            choose_encoder(&EncoderChoice::Named("nvh264enc".into()), &profile),
            Err(EncoderError::Unavailable(_))
        ));
    }

    #[test]
    fn media_a_hardware_decoder_failed_on_goes_to_software() {
        assert!(!software_only("file:///x/never.mkv"));
        remember_decoder_failure("file:///x/failed.mkv");
        assert!(software_only("file:///x/failed.mkv"));
        assert!(is_hardware_decoder("v4l2h264dec") && !is_hardware_decoder("avdec_h264"));
    }
}
