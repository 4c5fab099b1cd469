//! A preview still of an item for the web page: one JPEG frame from about a tenth into the
//! media, scaled to a given width with square pixels. GStreamer's `playbin` is prerolled
//! with fake sinks, seeked, and asked for its current frame (`convert-sample`). Blocking:
//! callers run it on a thread of their own.

use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::elements::{ElementError, FAKESINK, PLAYBIN};

/// Why no still could be made.
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    /// GStreamer failed at something.
    #[error("GStreamer: {0}")]
    Gst(#[source] glib::BoolError),
    /// An element is missing (the message says what to install).
    #[error(transparent)]
    Element(#[from] ElementError),
    /// GStreamer could not start.
    #[error("GStreamer is not available: {0}")]
    Init(#[source] glib::Error),
    /// The pipeline refused to change state.
    #[error("cannot open {uri}: {source}")]
    State {
        /// The media.
        uri: String,
        /// The cause.
        #[source]
        source: gst::StateChangeError,
    },
    /// The media could not be decoded.
    #[error("cannot decode {uri}: {message}")]
    Decode {
        /// The media.
        uri: String,
        /// GStreamer's error message.
        message: String,
    },
    /// Preroll or seek did not finish in time.
    #[error("timed out reading {0}")]
    Timeout(String),
    /// The media has no picture.
    #[error("{0} has no video frame")]
    NoFrame(String),
}

/// Stops the pipeline whatever happens.
struct Stopper(gst::Element);

impl Drop for Stopper {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

fn wait_async_done(bin: &gst::Element, uri: &str, timeout: Duration) -> Result<(), ThumbnailError> {
    let bus = bin.bus().expect("playbin has a bus");
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(ThumbnailError::Timeout(uri.to_owned()));
        }
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(left.as_millis() as u64),
            &[gst::MessageType::AsyncDone, gst::MessageType::Error],
        ) else {
            return Err(ThumbnailError::Timeout(uri.to_owned()));
        };
        match msg.view() {
            gst::MessageView::AsyncDone(_) => return Ok(()),
            gst::MessageView::Error(e) => {
                return Err(ThumbnailError::Decode { uri: uri.to_owned(), message: e.error().to_string() });
            }
            _ => {}
        }
    }
}

/// A JPEG of the frame about a tenth into `uri`, `width` pixels wide.
pub fn still(uri: &str, width: u32, timeout: Duration) -> Result<Vec<u8>, ThumbnailError> {
    still_at(uri, width, None, timeout)
}

/// A JPEG of the frame at `at` into `uri` (the exact frame; `None`: about a tenth in, the
/// nearest keyframe), `width` pixels wide.
pub fn still_at(uri: &str, width: u32, at: Option<Duration>, timeout: Duration) -> Result<Vec<u8>, ThumbnailError> {
    gst::init().map_err(ThumbnailError::Init)?;
    let playbin = PLAYBIN.make_with(|b| b.property("uri", uri))?;
    let video = FAKESINK.make()?;
    let audio = FAKESINK.make()?;
    playbin.set_property("video-sink", &video);
    playbin.set_property("audio-sink", &audio);
    let _stop = Stopper(playbin.clone());
    playbin.set_state(gst::State::Paused).map_err(|source| ThumbnailError::State { uri: uri.to_owned(), source })?;
    wait_async_done(&playbin, uri, timeout)?;
    let target = match at {
        Some(at) => Some((gst::ClockTime::from_nseconds(at.as_nanos() as u64), gst::SeekFlags::ACCURATE)),
        None => playbin.query_duration::<gst::ClockTime>().map(|d| (d / 10, gst::SeekFlags::KEY_UNIT)),
    };
    if let Some((at, how)) = target
        && at > gst::ClockTime::ZERO
        && playbin.seek_simple(gst::SeekFlags::FLUSH | how, at).is_ok()
    {
        wait_async_done(&playbin, uri, timeout)?;
    }
    let caps = gst::Caps::builder("image/jpeg")
        .field("width", width as i32)
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build();
    let sample = playbin.emit_by_name::<Option<gst::Sample>>("convert-sample", &[&caps]);
    let buffer = sample.as_ref().and_then(|s| s.buffer()).ok_or_else(|| ThumbnailError::NoFrame(uri.to_owned()))?;
    let map = buffer.map_readable().map_err(ThumbnailError::Gst)?;
    Ok(map.as_slice().to_vec())
}
