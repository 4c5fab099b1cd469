//! Which H.264 encoders this box has (shown and chosen on the web page's Settings).
//! A registry look-up only: nothing is started.

/// Encoder elements Retrovue can drive, best first (hardware before software).
const CANDIDATES: [&str; 6] = ["v4l2h264enc", "vah264enc", "vaapih264enc", "nvh264enc", "x264enc", "openh264enc"];

/// The candidates present in the GStreamer registry (empty if GStreamer cannot start).
pub fn detect() -> Vec<String> {
    if let Err(e) = gstreamer::init() {
        tracing::warn!(error = %e, "GStreamer did not start; no encoders listed");
        return Vec::new();
    }
    CANDIDATES.iter().filter(|n| gstreamer::ElementFactory::find(n).is_some()).map(|n| (*n).to_owned()).collect()
}
