//! The alert's sound: an element in the channel's audio path (after the mixer, before the
//! encoder) that silences the program under a slate and replaces it with the EAS attention
//! signal (853 Hz + 960 Hz together, [`TONE`] long) when an alert asks for it. The same
//! element plays the 1 kHz line-up tone ([`LINEUP_HZ`], −20 dBFS) under a test card.
//!
//! It is an `identity` with a pad probe that rewrites samples in place: no extra sources or
//! mixer pads to add and remove at run time, the tone is sample-accurate on the program's
//! own timeline, and its phase comes from the running time so buffers join without clicks.
//! `audiotestsrc` cannot sum two sines, which is the other reason to generate them here.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_audio as gst_audio;

use super::overlay::{AudioState, OverlayError};
use crate::clock::SharedClock;
use crate::elements::IDENTITY;

/// How long the attention tone plays.
pub const TONE: chrono::Duration = chrono::Duration::seconds(4);
/// The two EAS attention frequencies (Hz).
pub const TONE_HZ: [f64; 2] = [853.0, 960.0];
/// Peak level of each sine (their sum peaks at 0.5 full scale).
const TONE_LEVEL: f64 = 0.25;
/// The line-up tone of a test card (Hz).
pub const LINEUP_HZ: f64 = 1000.0;
/// Its peak level: −20 dBFS, the usual line-up level.
const LINEUP_LEVEL: f64 = 0.1;

#[derive(Default)]
struct Track {
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    info: Option<gst_audio::AudioInfo>,
}

/// Build the element; `state` says, for a buffer's wall-clock instant, what to do.
pub(crate) fn element(
    clock: SharedClock,
    state: impl Fn(DateTime<Utc>) -> AudioState + Send + Sync + 'static,
) -> Result<gst::Element, OverlayError> {
    gst::init().map_err(OverlayError::Init)?;
    let identity = IDENTITY.make_with(|b| b.name("alert-audio"))?;
    let pad = identity.static_pad("src").expect("identity has a src pad");
    // std Mutex: touched only by this pad's streaming thread, one buffer at a time.
    let track = Arc::new(Mutex::new(Track::default()));
    let weak = identity.downgrade();
    pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |_pad, info| {
        let mut track = track.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(gst::PadProbeData::Event(ev)) = &info.data {
            match ev.view() {
                gst::EventView::Segment(s) => track.segment = s.segment().downcast_ref::<gst::ClockTime>().cloned(),
                gst::EventView::Caps(c) => track.info = gst_audio::AudioInfo::from_caps(c.caps()).ok(),
                _ => {}
            }
            return gst::PadProbeReturn::Ok;
        }
        let (Some(segment), Some(audio)) = (track.segment.clone(), track.info.clone()) else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(element) = weak.upgrade() else { return gst::PadProbeReturn::Ok };
        let Some(buffer) = info.buffer_mut() else { return gst::PadProbeReturn::Ok };
        let at = super::overlay::buffer_instant(&clock, &element, &segment, buffer.pts());
        // A panic must not cross into C (it would abort the daemon): play the program.
        let what = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state(at))).unwrap_or_default();
        let signal = if what.tone {
            Signal::Attention
        } else if what.mute {
            Signal::Silence
        } else if what.lineup {
            Signal::LineUp
        } else {
            return gst::PadProbeReturn::Ok;
        };
        let start_rt = segment.to_running_time(buffer.pts()).map_or(0.0, |t| t.nseconds() as f64 / 1e9);
        let buffer = buffer.make_mut();
        if let Ok(mut map) = buffer.map_writable() {
            rewrite(map.as_mut_slice(), &audio, start_rt, signal);
        }
        gst::PadProbeReturn::Ok
    });
    Ok(identity)
}

/// What replaces the program's sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Silence,
    Attention,
    LineUp,
}

/// Fill `data` with `signal` starting at `start_secs` (the phase follows the running time).
fn rewrite(data: &mut [u8], info: &gst_audio::AudioInfo, start_secs: f64, signal: Signal) {
    let channels = info.channels() as usize;
    let rate = f64::from(info.rate());
    let tau = 2.0 * std::f64::consts::PI;
    let sample = |i: usize| -> f64 {
        let t = start_secs + i as f64 / rate;
        match signal {
            Signal::Silence => 0.0,
            Signal::Attention => TONE_HZ.iter().map(|f| TONE_LEVEL * (tau * f * t).sin()).sum(),
            // Phase from whole periods first: `t` grows for the life of the pipeline.
            Signal::LineUp => LINEUP_LEVEL * (tau * (LINEUP_HZ * t).fract()).sin(),
        }
    };
    match info.format() {
        gst_audio::AudioFormat::S16le => {
            for (i, frame) in data.chunks_exact_mut(2 * channels).enumerate() {
                let v = ((sample(i) * 32767.0).round() as i16).to_le_bytes();
                for ch in frame.chunks_exact_mut(2) {
                    ch.copy_from_slice(&v);
                }
            }
        }
        gst_audio::AudioFormat::F32le => {
            for (i, frame) in data.chunks_exact_mut(4 * channels).enumerate() {
                let v = (sample(i) as f32).to_le_bytes();
                for ch in frame.chunks_exact_mut(4) {
                    ch.copy_from_slice(&v);
                }
            }
        }
        _ => data.fill(0),
    }
}
