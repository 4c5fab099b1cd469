//! Test-only GStreamer plugin `retrovuehwdoubles`: elements registered under the real names of
//! the hardware H.264 encoders and decoders (`v4l2h264enc`, `vah264enc`, `vah264lpenc`,
//! `vaapih264enc`, `v4l2h264dec`, `v4l2slh264dec`, `vah264dec`) with their properties, pad
//! templates and ranks, doing the work with x264enc / avdec_h264 inside, so the daemon's
//! hardware paths run on a machine without the hardware. Failures are scripted with
//! `RETROVUE_DOUBLE_FAIL` (see [`fail`]).
//!
//! Layout: [`props`] property tables, [`elements`] the seven elements (templates, ranks,
//! sources), [`enc`] / [`dec`] the shared `GstVideoEncoder` / `GstVideoDecoder` logic,
//! [`soft`] the private x264/avdec pipelines, [`core`] property store and failure script.
//!
//! Nothing in Retrovue's production code refers to this crate: tests put the built plugin on
//! `GST_PLUGIN_PATH` (tests/util `hw_doubles_plugin_path`).

pub mod core;
pub mod dec;
pub mod elements;
pub mod enc;
pub mod fail;
pub mod props;
pub mod soft;

use gstreamer as gst;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    elements::register(plugin)
}

gst::plugin_define!(
    retrovuehwdoubles,
    "Retrovue test doubles of hardware H.264 encoders and decoders",
    plugin_init,
    "0.1.0",
    "GPL",
    "gst-retrovue-hw-doubles",
    "gst-retrovue-hw-doubles",
    "https://example.invalid/retrovue"
);
