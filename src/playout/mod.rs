//! Playout: one long-lived GStreamer pipeline per running channel, fed by the channel's
//! airings, producing continuous MPEG-TS into the channel's [`crate::stream::Feed`] (and HLS).
//! Knows nothing of SQLite: airings come through [`AiringSource`] and the as-run log goes to
//! [`AsRunSink`]; the director implements both over the schedule store.
//! (Design: `reference/gstreamer.md` §9.)
//!
//! - [`player`]: [`ChannelPlayer`] handle and its [`Command`]s.
//! - [`actor`]: the task that owns a channel's pipeline, drains its bus, places items and
//!   rebuilds the pipeline after a fatal error.
//! - [`pipeline`]: background, mixers, encoder, mux, appsink; the graphics seam.
//! - [`item`]: item bins (build, offset, cut, retire).
//! - [`timeline`]: wall clock ↔ running time.
//! - [`encoder`]: encoder probing and settings.
//! - [`tsscan`]: keyframe detection in the muxed TS.
//! - [`watchdog`]: stall detection and restart back-off.
//! - [`graphics`]: overlay rendering (bug, lower thirds, alerts; issue 6), pure.
//! - [`overlay`], [`alert_audio`]: the graphics and alert elements for the pipeline's seam.
//! - [`graphics_feed`]: keeps the graphics fed with schedule cues (and a guide channel with
//!   every channel's programmes, through [`GuideSource`]).
//! - [`station`]: the stand-by cover over failed airings and a guide channel's preview window.

pub mod actor;
pub mod alert_audio;
pub mod encoder;
pub mod graphics;
pub mod graphics_feed;
pub mod item;
pub mod overlay;
pub mod pipeline;
pub mod player;
mod probe;
pub mod reaper;
pub mod station;
pub mod timeline;
pub mod tsscan;
pub mod watchdog;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use gstreamer as gst;
use gstreamer::prelude::*;

pub use player::{ChannelPlayer, Command, PlayerConfig, PlayerError, PlayerStatus};

use crate::clock::SharedClock;
use crate::lineup::ChannelId;
use crate::schedule::Airing;

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

/// The airings source could not answer.
#[derive(Debug, thiserror::Error)]
#[error("cannot read airings: {0}")]
pub struct SourceError(pub String);

/// Where a channel's airings come from (the director implements it over the schedule store).
pub trait AiringSource: Send + Sync + 'static {
    /// Airings of `channel` that overlap `[from, to)`, in start order.
    fn airings(
        &self,
        channel: ChannelId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxFuture<'static, Result<Vec<Airing>, SourceError>>;
}

/// Where a guide channel's listing comes from (the director implements it over the lineup
/// and the published schedule): every channel but guides, in number order, with their
/// programmes overlapping `[from, to)`.
pub trait GuideSource: Send + Sync + 'static {
    /// The listing.
    fn guide(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxFuture<'static, Result<graphics::guide::GuideData, SourceError>>;
}

/// Outcome of an airing in the as-run log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsRunStatus {
    /// It went on air (`actual_end` is `None`).
    Started,
    /// It played to its scheduled end.
    Aired,
    /// It played, but its media ended before the slot did (the gap showed black/silence).
    Partial,
    /// It could not play (the gap showed black/silence); `reason` says why.
    Failed,
}

impl AsRunStatus {
    /// The name stored in the as-run log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Aired => "aired",
            Self::Partial => "partial",
            Self::Failed => "failed",
        }
    }
}

/// One as-run record.
#[derive(Debug, Clone, PartialEq)]
pub struct AsRun {
    /// Channel.
    pub channel: ChannelId,
    /// The airing as scheduled.
    pub airing: Airing,
    /// When it actually went on air (for failures: when the failure was noticed, or the
    /// scheduled start).
    pub actual_start: DateTime<Utc>,
    /// When it actually left the air (`None` for [`AsRunStatus::Started`]).
    pub actual_end: Option<DateTime<Utc>>,
    /// Outcome.
    pub status: AsRunStatus,
    /// Why it failed or ended early.
    pub reason: Option<String>,
}

/// Where as-run records go. Must not block (the director queues them for the database).
pub trait AsRunSink: Send + Sync + 'static {
    /// Record one event.
    fn record(&self, entry: AsRun);
    /// The channel's playout was replaced at `at` without closing what it had on the air
    /// (stuck, or died): close its open entries with `reason`.
    fn interrupted(&self, channel: ChannelId, at: DateTime<Utc>, reason: &str);
}
