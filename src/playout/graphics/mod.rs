//! Broadcast graphics drawn on one overlay layer of a channel's picture: the channel bug,
//! lower thirds bound to the schedule, an optional clock, and the emergency crawl or slate.
//!
//! Cost on a Pi decides the design: every graphic is rendered once per change (new title,
//! new minute, new alert) into a straight-alpha BGRA [`raster::Raster`], and the pipeline's
//! `overlaycomposition` element only receives positions and global alphas per frame
//! (moving the crawl, fading the bug). Text is rasterised in Rust with `ab_glyph` and an
//! embedded DejaVu Sans Bold, so the box needs no fonts, Pango or Cairo, and the pure parts
//! (layout, cues, rendering) are tested without GStreamer. `cairooverlay` (RGB only) and
//! per-frame `textoverlay` re-layout were rejected for cost (`reference/gstreamer.md` §4).
//! The same machinery draws the station's generated cards ([`card`]) and the guide
//! channel's programme grid ([`guide`]).

pub mod card;
pub mod cues;
pub mod guide;
pub mod image;
pub mod layout;
pub mod plane;
pub mod raster;
pub mod scene;
pub mod text;
