//! Which H.264 encoders this box has, and which one playout uses (shown and chosen on the
//! web page's Settings and Dashboard). Registry look-ups through `playout::encoder` only:
//! nothing is started.

use crate::config::EncoderChoice;
use crate::playout::encoder::{self, PROBE_ORDER};

/// The encoders playout can drive that the registry has, in playout's probe order (empty
/// if GStreamer cannot start).
pub fn detect() -> Vec<String> {
    if let Err(e) = gstreamer::init() {
        tracing::warn!(error = %e, "GStreamer did not start; no encoders listed");
        return Vec::new();
    }
    PROBE_ORDER.iter().filter(|k| k.factory().is_available()).map(|k| k.element().to_owned()).collect()
}

/// The encoder playout picks for `choice`, if any.
pub fn in_use(choice: &EncoderChoice) -> Option<String> {
    gstreamer::init().ok()?;
    encoder::probe(choice).ok().map(|k| k.element().to_owned())
}
