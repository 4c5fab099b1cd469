//! Integrated loudness (EBU R128, `ebur128`) of each playable item, measured over audio that
//! GStreamer decodes (`uridecodebin` → `audioconvert` → `audioresample` → `appsink`), as a
//! low-priority background job. For programs the same pass finds break points
//! ([`super::breaks`]): the video is not decoded in the pass but kept compressed, GOP by GOP,
//! until the sound shows whether it lies near a silence; only those GOPs are decoded
//! afterwards ([`analyse`]).
//!
//! Measured in the layout that airs: the appsink takes [`aired_caps`], F32 48 kHz stereo,
//! exactly the caps a channel's item branch converts every item to with the same two
//! elements, so `audioconvert` applies the same mix matrix (a mono item is duplicated to
//! both channels, +3 LU against its one channel; a 5.1 item is downmixed with the default
//! matrix, about 10 LU quieter than its six channels). The gain playout sets from this
//! number then lands the item on the target as it airs.
//!
//! Low priority means: one item at a time, on one blocking thread, with a pause between
//! items ([`run_background`]); the process's OS niceness is left alone (that needs `unsafe`
//! FFI, which the crate forbids). The to-do list is the database itself (`loudness_at IS
//! NULL`), so a restart resumes where the job stopped.
//!
//! Defined values: an item without an audio stream gets `loudness_error = "no audio stream"`
//! and no LUFS value (it is not retried); digital silence, which R128 gates away entirely,
//! is stored as [`SILENCE_LUFS`] (-70 LUFS, the absolute gate). `retrovue scan` measures
//! the items it scanned right after the scan (bounded by `--loudness-limit`); `retrovue
//! serve` runs [`run_background`] for everything else.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ebur128::{EbuR128, Mode};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use tokio_util::sync::CancellationToken;

use super::store;
use super::subtitles::{self, Cue};
use super::{MediaId, SourceId};
use super::{breaks, probe, secret};
use crate::clock::{self, Clock, SharedClock};
use crate::db::{Db, Reader};
use crate::elements::{
    AUDIOCONVERT, AUDIORESAMPLE, DECODEBIN, DISCARD, ElementError, QUEUE, URIDECODEBIN, VIDEOCONVERT,
};

/// The value stored for digital silence.
pub const SILENCE_LUFS: f64 = -70.0;

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum LoudnessError {
    /// GStreamer could not build or run the decoder.
    #[error("cannot decode audio: {0}")]
    Pipeline(String),
    /// An element is missing (the message says what to install).
    #[error(transparent)]
    Element(#[from] ElementError),
    /// Decoding stopped with an error.
    #[error("decoding failed: {0}")]
    Decode(String),
    /// No audio came out.
    #[error("no audio stream")]
    NoAudio,
    /// Took longer than allowed.
    #[error("measurement took longer than {0:?}")]
    Timeout(Duration),
    /// The meter refused the samples.
    #[error("loudness meter: {0}")]
    Meter(#[from] ebur128::Error),
}

/// Items' loudness as playout needs it: the latest measurement when an item is opened, and
/// what playout measured on the air going back. Values are integrated loudness in LUFS in
/// the layout that airs ([`aired_caps`]). Playout holds it (`playout::ItemLoudness`);
/// [`LibraryLoudness`] is the library store's.
pub trait ItemLoudness: Send + Sync + 'static {
    /// The item's latest measurement, asked on the channel's actor thread when the item is
    /// opened (a quick read; `None`: never measured, so it plays with the on-air control).
    fn current(&self, item: MediaId) -> Option<f64>;
    /// What the on-air control measured over `seconds` of the item. Must not block.
    fn measured_on_air(&self, item: MediaId, lufs: f64, seconds: f64);
}

/// [`ItemLoudness`] over the library store: reads are quick blocking reads (the actor's
/// thread is not an async worker) on a connection of their own, so a channel preparing its
/// next item never waits for whatever holds the shared one (a long read, `/api/status`); WAL
/// readers do not wait for writers either. On-air measurements are written on the runtime the
/// value was made on, so a channel's thread never waits for the database's writer.
pub struct LibraryLoudness {
    db: Db,
    reader: Reader,
    clock: SharedClock,
    runtime: tokio::runtime::Handle,
}

impl LibraryLoudness {
    /// Over `db`; must be made on the daemon's runtime.
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self { reader: Reader::new(db.clone()), db, clock, runtime: tokio::runtime::Handle::current() }
    }
}

impl ItemLoudness for LibraryLoudness {
    fn current(&self, item: MediaId) -> Option<f64> {
        let read = self.reader.call(|c| store::current_loudness(c, item));
        match read {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(%item, error = %e, "cannot read the item's loudness; measuring it on the air");
                None
            }
        }
    }

    fn measured_on_air(&self, item: MediaId, lufs: f64, seconds: f64) {
        let (db, now) = (self.db.clone(), clock::to_ms(self.clock.now()));
        self.runtime.spawn(async move {
            match db.call(move |c| store::set_on_air_loudness(c, item, lufs, now)).await {
                Ok(Ok(())) => tracing::info!(%item, lufs, seconds, "loudness measured on the air stored"),
                Ok(Err(e)) => tracing::warn!(%item, error = %e, "cannot store the on-air loudness"),
                Err(e) => tracing::warn!(%item, error = %e, "cannot store the on-air loudness"),
            }
        });
    }
}

/// The raw audio every channel airs (the same as `playout::pipeline::audio_caps`, which
/// `tests/loudness_as_aired.rs` checks): what items are measured in.
pub fn aired_caps() -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("format", "F32LE")
        .field("rate", 48000i32)
        .field("channels", 2i32)
        .field("layout", "interleaved")
        .build()
}

/// Decode `uri`'s first audio stream and return its integrated loudness in LUFS, in the
/// layout that airs ([`aired_caps`]).
pub fn measure(uri: &str, timeout: Duration) -> Result<f64, LoudnessError> {
    analyse(uri, timeout, false)?.lufs
}

/// What one pass over an item found.
#[derive(Debug)]
pub struct Analysis {
    /// Integrated loudness, or why there is none.
    pub lufs: Result<f64, LoudnessError>,
    /// Break points found in the media (`None` when they were not looked for).
    pub breaks: Option<Vec<breaks::Candidate>>,
    /// Video decoded to find them, as a share of the media's length (0 to 1).
    pub video_decoded: f64,
    /// The cues of the first text subtitle track (empty: none).
    pub subtitles: Vec<Cue>,
}

/// Raw video a GOP buffer may hold before the oldest are decided without waiting for the
/// sound (a file whose audio lags its video by minutes).
const PENDING_VIDEO_BYTES: usize = 96 << 20;

/// Compressed video from one keyframe to the next.
struct Gop {
    span: breaks::Span,
    buffers: Vec<gst::Buffer>,
    bytes: usize,
}

/// Compressed video held until the sound says whether it lies near a silence: kept GOPs
/// (in contiguous runs) are decoded after the pass, the rest dropped.
#[derive(Default)]
struct VideoKeep {
    caps: Option<gst::Caps>,
    pending: std::collections::VecDeque<Gop>,
    pending_bytes: usize,
    runs: Vec<Vec<Gop>>,
    /// The last GOP looked at was kept (the next kept one continues its run).
    last_kept: bool,
}

impl VideoKeep {
    fn push(&mut self, buffer: gst::Buffer) {
        let pts = buffer.pts().or(buffer.dts()).map_or(0, gst::ClockTime::nseconds);
        let end = pts + buffer.duration().map_or(0, gst::ClockTime::nseconds);
        let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        if key || self.pending.is_empty() {
            self.pending.push_back(Gop { span: breaks::Span { start: pts, end }, buffers: Vec::new(), bytes: 0 });
        }
        let g = self.pending.back_mut().expect("a GOP");
        g.span.start = g.span.start.min(pts);
        g.span.end = g.span.end.max(end);
        g.bytes += buffer.size();
        self.pending_bytes += buffer.size();
        g.buffers.push(buffer);
    }

    /// Decide the GOPs the sound has passed (all of them at the end of the stream).
    fn settle(&mut self, silence: Option<&breaks::SilenceMeter>, all: bool) {
        let position = silence.map_or(0, breaks::SilenceMeter::position);
        // The last GOP may still be growing: decided only at the end.
        while self.pending.len() > usize::from(!all) {
            let g = self.pending.front().expect("a GOP");
            let passed = position > g.span.end + breaks::LOOKBACK_NS;
            if !all && !passed && self.pending_bytes <= PENDING_VIDEO_BYTES {
                break;
            }
            let g = self.pending.pop_front().expect("a GOP");
            self.pending_bytes -= g.bytes;
            if silence.is_some_and(|s| s.wants(g.span)) {
                if !self.last_kept || self.runs.is_empty() {
                    self.runs.push(Vec::new());
                }
                self.runs.last_mut().expect("a run").push(g);
                self.last_kept = true;
            } else {
                self.last_kept = false;
            }
        }
    }
}

/// Everything the pass's streaming threads feed.
#[derive(Default)]
struct Pass {
    meter: Option<EbuR128>,
    silence: Option<breaks::SilenceMeter>,
    failed: Option<String>,
    video: VideoKeep,
    /// Frames of a stream decoded whole (no parser to stop at): analysed as they come.
    raw_frames: Vec<breaks::FrameStat>,
    /// The first text subtitle track's cues.
    subtitles: Vec<Cue>,
}

fn pipeline_err(e: impl std::fmt::Display) -> LoudnessError {
    LoudnessError::Pipeline(e.to_string())
}

/// One pass over `uri`: its integrated loudness and, when `find_breaks`, its break points.
/// The file is read and demultiplexed once. Audio is decoded whole; video is not decoded in
/// the pass but held compressed, GOP by GOP, and only the GOPs around silent stretches are
/// decoded afterwards ([`super::breaks`]), so looking for breaks costs a small share of a
/// full video decode.
pub fn analyse(uri: &str, timeout: Duration, find_breaks: bool) -> Result<Analysis, LoudnessError> {
    probe::init().map_err(pipeline_err)?;
    let deadline = Instant::now() + timeout;
    let pipeline = gst::Pipeline::new();
    let caps = if find_breaks { "audio/x-raw; video/x-raw; text/x-raw" } else { "audio/x-raw; text/x-raw" };
    let caps = caps.parse::<gst::Caps>().map_err(pipeline_err)?;
    let src = URIDECODEBIN.make_with(|b| b.property("uri", uri).property("caps", caps))?;
    let convert = AUDIOCONVERT.make()?;
    let resample = AUDIORESAMPLE.make()?;
    let asink = gst_app::AppSink::builder().caps(&aired_caps()).sync(false).build();
    // Compressed video as the parser leaves it; raw video when nothing stops before a decoder.
    let vqueue = QUEUE.make()?;
    let vsink = gst_app::AppSink::builder().sync(false).build();
    let rconvert = VIDEOCONVERT.make()?;
    let rsink = gst_app::AppSink::builder().caps(&gray_caps()).sync(false).build();
    let tsink = text_sink();
    // Each branch joins the pipeline when a stream comes for it: a sink no stream reaches
    // would hold the pipeline out of PLAYING (and an EOS pushed into it waits for preroll on
    // the streaming thread that pushed it).
    pipeline.add(&src).map_err(pipeline_err)?;
    let branches: [(&'static str, Vec<gst::Element>); 4] = [
        ("audio", vec![convert.clone(), resample.clone(), asink.clone().upcast()]),
        ("compressed", vec![vqueue.clone(), vsink.clone().upcast()]),
        ("raw", vec![rconvert.clone(), rsink.clone().upcast()]),
        ("text", vec![tsink.clone().upcast()]),
    ];
    if find_breaks {
        // Stop at parsed compressed video: it is exposed as it is, not decoded.
        src.connect("autoplug-continue", false, |args| {
            let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
            let stop = caps.as_ref().and_then(|c| c.structure(0)).is_some_and(|s| {
                s.name().starts_with("video/") && s.name() != "video/x-raw" && s.get::<bool>("parsed").unwrap_or(false)
            });
            Some((!stop).to_value())
        });
    }
    let pass = Arc::new(Mutex::new(Pass::default()));
    let weak = pipeline.downgrade();
    src.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps.structure(0).map(|s| s.name().to_string()).unwrap_or_default();
        let which = if name.starts_with("audio/") {
            "audio"
        } else if name == "video/x-raw" {
            "raw"
        } else if name.starts_with("video/") {
            "compressed"
        } else if name == "text/x-raw" {
            "text"
        } else {
            ""
        };
        let branch = branches.iter().find(|(w, b)| *w == which && b[0].parent().is_none()).map(|(_, b)| b);
        let joined = match (branch, weak.upgrade()) {
            (Some(b), Some(pipeline)) => join(&pipeline, b, pad),
            _ => false,
        };
        if !joined {
            // A second track, a bitmap subtitle track: dropped at the pad (never "not linked").
            pad.add_probe(gst::PadProbeType::DATA_DOWNSTREAM, |_, _| DISCARD);
        }
    });
    {
        let pass = pass.clone();
        asink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    let mut p = pass.lock().unwrap_or_else(|e| e.into_inner());
                    if let Err(e) = p.audio(&sample) {
                        p.failed.get_or_insert(e);
                        return Err(gst::FlowError::Error);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    {
        let pass = pass.clone();
        vsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    let mut p = pass.lock().unwrap_or_else(|e| e.into_inner());
                    if p.video.caps.is_none() {
                        p.video.caps = sample.caps_owned();
                    }
                    if let Some(b) = sample.buffer_owned() {
                        p.video.push(b);
                    }
                    let Pass { video, silence, .. } = &mut *p;
                    video.settle(silence.as_ref(), false);
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    {
        let pass = pass.clone();
        rsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    if let Some(f) = gray_stat(&sample) {
                        pass.lock().unwrap_or_else(|e| e.into_inner()).raw_frames.push(f);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    {
        let pass = pass.clone();
        collect_cues(&tsink, move |cue| pass.lock().unwrap_or_else(|e| e.into_inner()).subtitles.push(cue));
    }
    let ran = run_to_end(&pipeline, deadline, timeout);
    let length_ns = pipeline.query_duration::<gst::ClockTime>().map_or(0, gst::ClockTime::nseconds);
    let _ = pipeline.set_state(gst::State::Null);
    let mut pass = std::mem::take(&mut *pass.lock().unwrap_or_else(|e| e.into_inner()));
    let had_audio = pass.meter.is_some();
    if let Err(e) = ran {
        tracing::debug!(uri, error = %e, had_audio, "analysis pass failed");
        // A decoding error before any sound came out means there is none to measure.
        return Err(match e {
            LoudnessError::Decode(_) if !had_audio => LoudnessError::NoAudio,
            e => e,
        });
    }
    if let Some(f) = pass.failed.take() {
        return Err(LoudnessError::Decode(f));
    }
    let lufs = match pass.meter.as_ref() {
        None => Err(LoudnessError::NoAudio),
        Some(m) => m
            .loudness_global()
            .map(|l| if l.is_finite() && l > SILENCE_LUFS { l } else { SILENCE_LUFS })
            .map_err(LoudnessError::Meter),
    };
    let subtitles = subtitles::in_order(std::mem::take(&mut pass.subtitles).into_iter());
    if !find_breaks {
        return Ok(Analysis { lufs, breaks: None, video_decoded: 0.0, subtitles });
    }
    if let Some(s) = pass.silence.as_mut() {
        s.finish();
    }
    pass.video.settle(pass.silence.as_ref(), true);
    let mut frames = std::mem::take(&mut pass.raw_frames);
    let mut decoded_ns = 0u64;
    if let Some(caps) = pass.video.caps.clone() {
        for run in std::mem::take(&mut pass.video.runs) {
            decoded_ns += run.iter().map(|g| g.span.end.saturating_sub(g.span.start)).sum::<u64>();
            let left = deadline.saturating_duration_since(Instant::now());
            frames.extend(decode_run(&caps, run, left)?);
        }
    }
    let silences = pass.silence.as_ref().map(|s| s.silences().to_vec()).unwrap_or_default();
    let found = breaks::candidates(&silences, &frames, length_ns);
    let video_decoded = if length_ns > 0 { decoded_ns as f64 / length_ns as f64 } else { 0.0 };
    Ok(Analysis { lufs, breaks: Some(found), video_decoded, subtitles })
}

/// An appsink for a text subtitle track (`text/x-raw`, as demuxers and `ssaparse` give it).
fn text_sink() -> gst_app::AppSink {
    gst_app::AppSink::builder().caps(&gst::Caps::builder("text/x-raw").build()).sync(false).build()
}

/// Hand each buffer `sink` gets to `cue` as a [`Cue`] ([`subtitles::track_cue`]).
fn collect_cues(sink: &gst_app::AppSink, cue: impl Fn(Cue) + Send + Sync + 'static) {
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                let markup = sample
                    .caps()
                    .and_then(|c| {
                        c.structure(0).and_then(|s| s.get::<&str>("format").ok().map(|f| f == "pango-markup"))
                    })
                    .unwrap_or(false);
                let Some(buffer) = sample.buffer() else { return Ok(gst::FlowSuccess::Ok) };
                let (Some(pts), Some(duration)) = (buffer.pts(), buffer.duration()) else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let Ok(map) = buffer.map_readable() else { return Ok(gst::FlowSuccess::Ok) };
                let text = String::from_utf8_lossy(map.as_slice());
                let (start, end) =
                    (Duration::from_nanos(pts.nseconds()), Duration::from_nanos((pts + duration).nseconds()));
                if let Some(c) = subtitles::track_cue(start, end, text.trim_end_matches('\0'), markup) {
                    cue(c);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}

/// Caps of the containers a stream may be inside: decodebin goes on into these, and stops at
/// any other sound or picture (left undecoded).
fn is_container(caps: &gst::StructureRef) -> bool {
    const CONTAINERS: [&str; 11] = [
        "video/x-matroska",
        "video/webm",
        "video/quicktime",
        "video/mj2",
        "application/x-3gp",
        "audio/x-m4a",
        "video/x-msvideo",
        "video/x-flv",
        "video/mpegts",
        "video/x-ms-asf",
        "application/ogg",
    ];
    CONTAINERS.contains(&caps.name().as_str())
        || (caps.name() == "video/mpeg" && caps.get::<bool>("systemstream").unwrap_or(false))
}

/// The cues of `uri`'s first text subtitle track (SubRip, ASS or mov_text inside MKV/MP4);
/// empty when it has none. Its headers say whether it has one (read first); only then is the
/// file read through, demultiplexed but nothing decoded. For items whose loudness is known
/// already ([`analyse`] reads the track in its pass).
pub fn read_subtitles(uri: &str, timeout: Duration) -> Result<Vec<Cue>, LoudnessError> {
    let deadline = Instant::now() + timeout;
    if probe::text_subtitle_tracks(uri, timeout).map_err(pipeline_err)? == 0 {
        return Ok(Vec::new());
    }
    let pipeline = gst::Pipeline::new();
    let caps = gst::Caps::builder("text/x-raw").build();
    let src = URIDECODEBIN.make_with(|b| b.property("uri", uri).property("caps", caps))?;
    src.connect("autoplug-continue", false, |args| {
        let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
        let stop = caps
            .as_ref()
            .and_then(|c| c.structure(0))
            .is_some_and(|s| (s.name().starts_with("audio/") || s.name().starts_with("video/")) && !is_container(s));
        Some((!stop).to_value())
    });
    let sink = text_sink();
    pipeline.add(&src).map_err(pipeline_err)?;
    let weak = pipeline.downgrade();
    let branch = [sink.clone().upcast::<gst::Element>()];
    src.connect_pad_added(move |_, pad| {
        let text = pad
            .current_caps()
            .unwrap_or_else(|| pad.query_caps(None))
            .structure(0)
            .is_some_and(|s| s.name() == "text/x-raw");
        let joined = text && branch[0].parent().is_none() && weak.upgrade().is_some_and(|p| join(&p, &branch, pad));
        if !joined {
            // Sound, pictures (compressed: nothing is decoded) and other tracks.
            pad.add_probe(gst::PadProbeType::DATA_DOWNSTREAM, |_, _| DISCARD);
        }
    });
    let cues = Arc::new(Mutex::new(Vec::new()));
    {
        let cues = cues.clone();
        collect_cues(&sink, move |c| cues.lock().unwrap_or_else(|e| e.into_inner()).push(c));
    }
    let ran = run_to_end(&pipeline, deadline, timeout);
    let _ = pipeline.set_state(gst::State::Null);
    ran?;
    Ok(subtitles::in_order(std::mem::take(&mut *cues.lock().unwrap_or_else(|e| e.into_inner())).into_iter()))
}

/// Add `branch` to `pipeline`, link it and `pad` to its head, and start it.
fn join(pipeline: &gst::Pipeline, branch: &[gst::Element], pad: &gst::Pad) -> bool {
    let ok = pipeline.add_many(branch).is_ok()
        && gst::Element::link_many(branch).is_ok()
        && branch.iter().all(|e| e.sync_state_with_parent().is_ok());
    ok && branch[0].static_pad("sink").is_some_and(|sink| pad.link(&sink).is_ok())
}

impl Pass {
    fn audio(&mut self, sample: &gst::Sample) -> Result<(), String> {
        let (channels, rate) = sample
            .caps()
            .and_then(|c| c.structure(0).map(|s| (s.get::<i32>("channels").ok(), s.get::<i32>("rate").ok())))
            .and_then(|(c, r)| Some((c? as u32, r? as u32)))
            .ok_or_else(|| "audio without channels/rate".to_owned())?;
        if self.meter.is_none() {
            self.meter = Some(EbuR128::new(channels, rate, Mode::I).map_err(|e| e.to_string())?);
            self.silence = Some(breaks::SilenceMeter::new(rate, channels));
        }
        let Some(buf) = sample.buffer() else { return Ok(()) };
        let map = buf.map_readable().map_err(|e| e.to_string())?;
        let frames: Vec<f32> = map.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if let Some(m) = self.meter.as_mut() {
            m.add_frames_f32(&frames).map_err(|e| e.to_string())?;
        }
        if let Some(s) = self.silence.as_mut() {
            s.push(buf.pts().map_or(s.position(), gst::ClockTime::nseconds), &frames);
        }
        let Pass { video, silence, .. } = self;
        video.settle(silence.as_ref(), false);
        Ok(())
    }
}

fn gray_caps() -> gst::Caps {
    gst::Caps::builder("video/x-raw").field("format", "GRAY8").build()
}

/// Statistics of a GRAY8 frame.
fn gray_stat(sample: &gst::Sample) -> Option<breaks::FrameStat> {
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    let buffer = sample.buffer()?;
    let map = buffer.map_readable().ok()?;
    let (black_share, mean) =
        breaks::frame_stat(map.as_slice(), info.width() as usize, info.height() as usize, info.stride()[0] as usize);
    let fallback = gst::ClockTime::from_nseconds(
        1_000_000_000 * u64::from(info.fps().denom().unsigned_abs())
            / u64::from(info.fps().numer().unsigned_abs().max(1)),
    );
    Some(breaks::FrameStat {
        pts: buffer.pts()?.nseconds(),
        duration: buffer.duration().unwrap_or(fallback).nseconds(),
        black_share,
        mean,
    })
}

/// Play `pipeline` to its end (or its first error, or `deadline`).
fn run_to_end(pipeline: &gst::Pipeline, deadline: Instant, timeout: Duration) -> Result<(), LoudnessError> {
    pipeline.set_state(gst::State::Playing).map_err(pipeline_err)?;
    let bus = pipeline.bus().expect("pipeline bus");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LoudnessError::Timeout(timeout));
        }
        let wait = gst::ClockTime::from_mseconds(left.as_millis().min(200) as u64);
        let Some(msg) = bus.timed_pop_filtered(wait, &[gst::MessageType::Eos, gst::MessageType::Error]) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(e) => return Err(LoudnessError::Decode(e.error().to_string())),
            _ => {}
        }
    }
}

/// Decode one run of kept GOPs to frame statistics.
fn decode_run(caps: &gst::Caps, run: Vec<Gop>, left: Duration) -> Result<Vec<breaks::FrameStat>, LoudnessError> {
    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder().caps(caps).format(gst::Format::Time).build();
    let decode = DECODEBIN.make()?;
    let convert = VIDEOCONVERT.make()?;
    let sink = gst_app::AppSink::builder().caps(&gray_caps()).sync(false).build();
    pipeline.add_many([src.upcast_ref(), &decode, &convert, sink.upcast_ref()]).map_err(pipeline_err)?;
    src.link(&decode).map_err(pipeline_err)?;
    convert.link(&sink).map_err(pipeline_err)?;
    let convert_pad = convert.static_pad("sink").expect("sink pad");
    decode.connect_pad_added(move |_, pad| {
        if !convert_pad.is_linked() {
            let _ = pad.link(&convert_pad);
        }
    });
    let frames = Arc::new(Mutex::new(Vec::new()));
    {
        let frames = frames.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    if let Some(f) = gray_stat(&sample) {
                        frames.lock().unwrap_or_else(|e| e.into_inner()).push(f);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    let started = pipeline.set_state(gst::State::Playing).map_err(pipeline_err);
    let result = started.and_then(|_| {
        for buffer in run.into_iter().flat_map(|g| g.buffers) {
            src.push_buffer(buffer).map_err(pipeline_err)?;
        }
        src.end_of_stream().map_err(pipeline_err)?;
        let bus = pipeline.bus().expect("pipeline bus");
        let wait = gst::ClockTime::from_mseconds(left.as_millis() as u64);
        match bus.timed_pop_filtered(wait, &[gst::MessageType::Eos, gst::MessageType::Error]) {
            Some(m) => match m.view() {
                gst::MessageView::Error(e) => Err(LoudnessError::Decode(e.error().to_string())),
                _ => Ok(()),
            },
            None => Err(LoudnessError::Timeout(left)),
        }
    });
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    Ok(std::mem::take(&mut *frames.lock().unwrap_or_else(|e| e.into_inner())))
}

/// Measure up to `limit` pending items (all sources, or one), one at a time; returns how many
/// got a value or a definite error stored. Programs are searched for break points in the
/// same pass.
pub fn measure_pending(
    db: &Db,
    clock: &dyn Clock,
    source: Option<SourceId>,
    limit: usize,
) -> Result<u64, store::StoreError> {
    let (todo, credentials) = db.call_blocking(|c| {
        Ok::<_, store::StoreError>((store::loudness_todo(c, source, limit)?, store::credentials(c)?))
    })?;
    let mut n = 0;
    for item in todo {
        measure_one(db, clock, &item, &credentials.openable(&item.uri))?;
        n += 1;
    }
    Ok(n)
}

/// How long one item may take (a feature film over a network share).
const ITEM_TIMEOUT: Duration = Duration::from_secs(900);

fn measure_one(db: &Db, clock: &dyn Clock, item: &store::LoudnessTodo, uri: &str) -> Result<(), store::StoreError> {
    let id = item.id;
    let started = Instant::now();
    // Only the text subtitle track is new to look for: read it alone (headers first).
    if !item.measure && !item.find_breaks {
        let cues = read_subtitles(uri, ITEM_TIMEOUT).unwrap_or_else(|e| {
            tracing::info!(item = %id, error = %secret::redact(&e.to_string()), "subtitle track not read");
            Vec::new()
        });
        tracing::debug!(item = %id, cues = cues.len(), secs = started.elapsed().as_secs_f64(), "subtitle track read");
        let now = clock::to_ms(clock.now());
        return db.call_blocking(|c| store::set_subtitle_cues(c, id, &cues, now));
    }
    let (lufs, found, cues) = if item.has_audio {
        match analyse(uri, ITEM_TIMEOUT, item.find_breaks) {
            Ok(a) => {
                if let Some(b) = &a.breaks {
                    tracing::info!(item = %id, found = b.len(), video_decoded_pct = a.video_decoded * 100.0,
                        secs = started.elapsed().as_secs_f64(), "break points searched");
                }
                (a.lufs, a.breaks, Some(a.subtitles))
            }
            // The pass failed: nothing found either (a later change of the file tries again).
            Err(e) => (Err(e), item.find_breaks.then(Vec::new), None),
        }
    } else {
        // No sound, so no silence: nothing to find.
        (Err(LoudnessError::NoAudio), item.find_breaks.then(Vec::new), None)
    };
    // A pass that did not get through the file: the subtitle track on its own.
    let cues = cues.unwrap_or_else(|| read_subtitles(uri, ITEM_TIMEOUT).unwrap_or_default());
    if !cues.is_empty() {
        tracing::info!(item = %id, cues = cues.len(), "text subtitle track read");
    }
    // GStreamer's messages may quote the URL opened, token included.
    let error = lufs.as_ref().err().map(|e| secret::redact(&e.to_string()).into_owned());
    if let Some(e) = &error {
        tracing::info!(item = %id, error = %e, "loudness not measured");
    }
    let now = clock::to_ms(clock.now());
    db.call_blocking(|c| {
        match (&lufs, &error) {
            (Ok(v), _) => store::set_loudness(c, id, Ok(*v), now)?,
            (Err(_), e) => store::set_loudness(c, id, Err(e.as_deref().unwrap_or_default()), now)?,
        }
        if let Some(found) = &found {
            store::set_break_candidates(c, id, found, now)?;
        }
        store::set_subtitle_cues(c, id, &cues, now)
    })
}

/// The background job `retrovue serve` spawns: measure pending items one at a time, with a
/// pause between them, until `cancel`; look for new work every `idle` when there is none.
pub async fn run_background(db: Db, clock: SharedClock, cancel: CancellationToken, idle: Duration) {
    loop {
        let (db2, clock2) = (db.clone(), clock.clone());
        let job = tokio::task::spawn_blocking(move || measure_pending(&db2, &*clock2, None, 1));
        // At shutdown, do not wait for a long measurement: it is simply redone after restart.
        let measured = tokio::select! {
            _ = cancel.cancelled() => return,
            r = job => r,
        };
        let wait = match measured {
            Ok(Ok(1..)) => Duration::from_millis(250),
            Ok(Ok(_)) => idle,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "loudness job: database error");
                idle
            }
            Err(e) => {
                tracing::warn!(error = %e, "loudness job: task failed");
                idle
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_items_loudness_is_read_while_the_shared_connection_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("retrovue.db")).unwrap();
        let book = Arc::new(LibraryLoudness::new(db.clone(), Arc::new(crate::clock::SystemClock)));
        let release = db.hold_shared_connection();
        // As a channel's actor reads it, on a thread of its own. A deadlock detector, not a
        // speed goal: on the shared connection the read waits until the release below.
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = book.clone();
        std::thread::spawn(move || tx.send(reader.current(MediaId(1))));
        let read = rx.recv_timeout(Duration::from_secs(60));
        drop(release);
        assert_eq!(read.expect("the loudness was read on the shared connection"), None);
    }
}
