//! Playout: one long-lived GStreamer pipeline per running channel, fed by the channel's
//! airings, producing continuous MPEG-TS into the channel's [`crate::stream::Feed`].
//! Knows nothing of SQLite: airings come through [`AiringSource`]-style interfaces that the
//! director implements. (Design: `reference/gstreamer.md` §9.)
pub mod graphics;
