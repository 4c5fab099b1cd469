//! Integrated loudness (EBU R128, `ebur128`) of each playable item, measured over audio that
//! GStreamer decodes (`uridecodebin caps=audio/x-raw` → `audioconvert` → `audioresample` →
//! `appsink`; video is never decoded), as a low-priority background job.
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

use std::time::{Duration, Instant};

use ebur128::{EbuR128, Mode};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use tokio_util::sync::CancellationToken;

use super::store;
use super::{MediaId, SourceId};
use super::{probe, secret};
use crate::clock::{self, Clock, SharedClock};
use crate::db::Db;
use crate::elements::{AUDIOCONVERT, AUDIORESAMPLE, ElementError, URIDECODEBIN};

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
/// thread is not an async worker), on-air measurements are written on the runtime the value
/// was made on, so a channel's thread never waits for the database's writer.
pub struct LibraryLoudness {
    db: Db,
    clock: SharedClock,
    runtime: tokio::runtime::Handle,
}

impl LibraryLoudness {
    /// Over `db`; must be made on the daemon's runtime.
    pub fn new(db: Db, clock: SharedClock) -> Self {
        Self { db, clock, runtime: tokio::runtime::Handle::current() }
    }
}

impl ItemLoudness for LibraryLoudness {
    fn current(&self, item: MediaId) -> Option<f64> {
        match self.db.call_blocking(|c| store::current_loudness(c, item)) {
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
    probe::init().map_err(|e| LoudnessError::Pipeline(e.to_string()))?;
    let pipeline = gst::Pipeline::new();
    let src = URIDECODEBIN
        .make_with(|b| b.property("uri", uri).property("caps", gst::Caps::builder("audio/x-raw").build()))?;
    let convert = AUDIOCONVERT.make()?;
    let resample = AUDIORESAMPLE.make()?;
    let sink = gst_app::AppSink::builder().caps(&aired_caps()).sync(false).max_buffers(8).build();
    pipeline
        .add_many([&src, &convert, &resample, sink.upcast_ref()])
        .map_err(|e| LoudnessError::Pipeline(e.to_string()))?;
    gst::Element::link_many([&convert, &resample, sink.upcast_ref()])
        .map_err(|e| LoudnessError::Pipeline(e.to_string()))?;
    let convert_weak = convert.downgrade();
    src.connect_pad_added(move |_, pad| {
        let Some(convert) = convert_weak.upgrade() else { return };
        let Some(sinkpad) = convert.static_pad("sink") else { return };
        let is_audio = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("audio/x-raw")))
            .unwrap_or(false);
        if is_audio && !sinkpad.is_linked() {
            let _ = pad.link(&sinkpad);
        }
    });
    let result = run(&pipeline, &sink, timeout);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn run(pipeline: &gst::Pipeline, sink: &gst_app::AppSink, timeout: Duration) -> Result<f64, LoudnessError> {
    pipeline.set_state(gst::State::Playing).map_err(|e| LoudnessError::Pipeline(e.to_string()))?;
    let bus = pipeline.bus().expect("pipeline bus");
    let deadline = Instant::now() + timeout;
    let mut meter: Option<EbuR128> = None;
    loop {
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            let (channels, rate) = sample
                .caps()
                .and_then(|c| c.structure(0).map(|s| (s.get::<i32>("channels").ok(), s.get::<i32>("rate").ok())))
                .and_then(|(c, r)| Some((c? as u32, r? as u32)))
                .ok_or_else(|| LoudnessError::Decode("audio without channels/rate".into()))?;
            if meter.is_none() {
                meter = Some(EbuR128::new(channels, rate, Mode::I)?);
            }
            if let (Some(m), Some(buf)) = (meter.as_mut(), sample.buffer()) {
                let map = buf.map_readable().map_err(|e| LoudnessError::Decode(e.to_string()))?;
                let frames: Vec<f32> =
                    map.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                m.add_frames_f32(&frames)?;
            }
        } else if sink.is_eos() {
            break;
        }
        while let Some(msg) = bus.pop() {
            if let gst::MessageView::Error(e) = msg.view() {
                return Err(if meter.is_none() {
                    LoudnessError::NoAudio
                } else {
                    LoudnessError::Decode(e.error().to_string())
                });
            }
        }
        if Instant::now() > deadline {
            return Err(LoudnessError::Timeout(timeout));
        }
    }
    let meter = meter.ok_or(LoudnessError::NoAudio)?;
    let lufs = meter.loudness_global()?;
    Ok(if lufs.is_finite() && lufs > SILENCE_LUFS { lufs } else { SILENCE_LUFS })
}

/// Measure up to `limit` pending items (all sources, or one), one at a time; returns how many
/// got a value or a definite error stored.
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
    for (id, uri, has_audio) in todo {
        measure_one(db, clock, id, &credentials.openable(&uri), has_audio)?;
        n += 1;
    }
    Ok(n)
}

fn measure_one(db: &Db, clock: &dyn Clock, id: MediaId, uri: &str, has_audio: bool) -> Result<(), store::StoreError> {
    let result = if has_audio { measure(uri, Duration::from_secs(600)) } else { Err(LoudnessError::NoAudio) };
    // GStreamer's messages may quote the URL opened, token included.
    let error = result.as_ref().err().map(|e| secret::redact(&e.to_string()).into_owned());
    if let Some(e) = &error {
        tracing::info!(item = %id, error = %e, "loudness not measured");
    }
    let now = clock::to_ms(clock.now());
    db.call_blocking(|c| match (&result, &error) {
        (Ok(v), _) => store::set_loudness(c, id, Ok(*v), now),
        (Err(_), e) => store::set_loudness(c, id, Err(e.as_deref().unwrap_or_default()), now),
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
