//! Playout: one long-lived GStreamer pipeline per running channel, fed by the channel's
//! airings, producing continuous MPEG-TS into the channel's [`crate::stream::Feed`] (and HLS).
//! Knows nothing of SQLite: each channel follows its published horizon (a watched
//! [`crate::schedule::horizons::Horizon`]) and the as-run log goes to [`AsRunSink`].
//! (Design: `reference/gstreamer.md` §9.)
//!
//! - [`player`]: [`ChannelPlayer`] handle and its [`Command`]s.
//! - [`actor`]: the task that owns a channel's pipeline, drains its bus, places items and
//!   rebuilds the pipeline after a fatal error.
//! - [`pipeline`]: background, mixers, encoder, mux, appsink; the graphics seam.
//! - [`item`]: item bins (build, offset, cut, retire).
//! - [`tracks`]: which of an item's audio streams feeds each of the channel's audio tracks.
//! - [`leveller`]: an item's gain (static, or the on-air loudness control); [`limiter`]:
//!   the true-peak limiter of each audio track. Loudness facts come and go through
//!   [`ItemLoudness`].
//! - [`captions`]: subtitle cues as CEA-608 pop-on bytes per frame (pure).
//! - [`timeline`]: wall clock ↔ running time.
//! - [`encoder`]: encoder kinds, probe order and settings; [`verify`]: trial encodes and
//!   decodes that decide which hardware elements are trusted; [`budget`]: how many channels
//!   the chosen encoder carries.
//! - [`tsscan`]: keyframe detection in the muxed TS.
//! - [`watchdog`]: stall detection and restart back-off.
//! - [`graphics`]: overlay rendering (bug, lower thirds, alerts; issue 6), pure.
//! - [`overlay`], [`alert_audio`]: the graphics and alert elements for the pipeline's seam.
//! - [`graphics_feed`]: keeps the graphics fed with schedule cues (and a guide channel with
//!   every channel's programmes).
//! - [`station`]: the stand-by cover over failed airings and a guide channel's preview window.
//! - [`supervisor`]: which channels run (lineup watch, viewer demand), restarts and
//!   replacements; [`reaper`]: elements brought to NULL off the actor's thread.

pub mod actor;
pub mod alert_audio;
pub mod budget;
pub mod captions;
pub mod colours;
pub mod encoder;
pub mod graphics;
pub mod graphics_feed;
pub mod item;
mod landing;
pub mod leveller;
pub mod limiter;
pub mod overlay;
pub mod pipeline;
pub mod player;
pub mod reaper;
pub mod station;
pub mod supervisor;
pub mod timeline;
pub mod tracks;
pub mod tsscan;
pub mod verify;
pub mod watchdog;

use gstreamer as gst;
use gstreamer::prelude::*;

pub use player::{ChannelPlayer, Command, PlayerConfig, PlayerError, PlayerStatus};

pub use crate::library::loudness::ItemLoudness;
pub use crate::library::subtitles::ItemSubtitles;
pub use crate::schedule::asrun::{AsRunEvent, AsRunSink, AsRunStatus};

use crate::clock::SharedClock;

/// The wall clock and `element`'s running time read together: the running time is read
/// between two wall-clock readings and paired with their midpoint; with it, how far apart the
/// two readings were. A thread preempted in between (on a busy machine, hundreds of
/// milliseconds) makes the pair off by up to that much, so callers retry or skip a wide one.
/// `None` while the element has no running time (no clock yet).
pub(crate) fn read_clocks(clock: &SharedClock, element: &gst::Element) -> Option<(timeline::Anchor, chrono::Duration)> {
    let before = clock.now();
    let running_ns = element.current_running_time()?.nseconds();
    let spread = clock.now() - before;
    Some((timeline::Anchor { wall: before + spread / 2, running_ns }, spread))
}
