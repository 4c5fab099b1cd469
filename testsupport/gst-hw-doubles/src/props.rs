//! The real elements' properties: names, types, ranges, defaults and flags, read from the
//! upstream sources at the 1.22.0 and 1.24.13 tags (where the two differ it says so).
//!
//! Enum *values and nicks* are the real ones; the enum GType names carry a `RetrovueDouble`
//! prefix so the doubles can be loaded next to a real plugin without a type-name clash.

use glib::prelude::*;
use glib::{ParamSpec, ParamSpecBoolean, ParamSpecEnum, ParamSpecInt, ParamSpecString, ParamSpecUInt};
use gstreamer as gst;
use gstreamer::prelude::*;

/// `GstV4l2IOMode`: subprojects/gst-plugins-good/sys/v4l2/gstv4l2object.c
/// (`gst_v4l2_io_mode_get_type`, identical in 1.22.0 and 1.24.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[enum_type(name = "RetrovueDoubleGstV4l2IOMode")]
#[repr(i32)]
pub enum V4l2IoMode {
    #[default]
    #[enum_value(name = "GST_V4L2_IO_AUTO", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "GST_V4L2_IO_RW", nick = "rw")]
    Rw = 1,
    #[enum_value(name = "GST_V4L2_IO_MMAP", nick = "mmap")]
    Mmap = 2,
    #[enum_value(name = "GST_V4L2_IO_USERPTR", nick = "userptr")]
    Userptr = 3,
    #[enum_value(name = "GST_V4L2_IO_DMABUF", nick = "dmabuf")]
    Dmabuf = 4,
    #[enum_value(name = "GST_V4L2_IO_DMABUF_IMPORT", nick = "dmabuf-import")]
    DmabufImport = 5,
}

/// The rate controls an Intel iHD driver offers for H.264 (`VA_RC_*` bit values), in the
/// order of `rate_control_map` in subprojects/gst-plugins-bad/sys/va/gstvaencoder.c
/// (1.22.0, 1.24.13); the first is the property's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[enum_type(name = "RetrovueDoubleGstVaEncoderRateControl_H264")]
#[repr(i32)]
pub enum VaRateControl {
    #[default]
    #[enum_value(name = "Constant Bitrate", nick = "cbr")]
    Cbr = 0x2,
    #[enum_value(name = "Variable Bitrate", nick = "vbr")]
    Vbr = 0x4,
    #[enum_value(name = "Constant Quantizer", nick = "cqp")]
    Cqp = 0x10,
}

/// `GstVaFeature`: subprojects/gst-plugins-bad/gst-libs/gst/va/gstva.h (1.24.13; the same
/// values live in sys/va in 1.22.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[enum_type(name = "RetrovueDoubleGstVaFeature")]
#[repr(i32)]
pub enum VaFeature {
    #[enum_value(name = "Disabled", nick = "disabled")]
    Disabled = 0,
    #[enum_value(name = "Enabled", nick = "enabled")]
    Enabled = 1,
    #[default]
    #[enum_value(name = "Auto", nick = "auto")]
    Auto = 2,
}

/// `GstVaapiRateControlH264`: the subset `SUPPORTED_RATECONTROLS` of `GstVaapiRateControl` in
/// subprojects/gstreamer-vaapi/gst-libs/gst/vaapi/gstvaapiencoder_h264.c (1.22.0, 1.24.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[enum_type(name = "RetrovueDoubleGstVaapiRateControlH264")]
#[repr(i32)]
pub enum VaapiRateControl {
    #[default]
    #[enum_value(name = "Constant QP", nick = "cqp")]
    Cqp = 1,
    #[enum_value(name = "Constant bitrate", nick = "cbr")]
    Cbr = 2,
    #[enum_value(name = "Variable bitrate", nick = "vbr")]
    Vbr = 4,
    #[enum_value(name = "Variable bitrate - Constrained", nick = "vbr_constrained")]
    VbrConstrained = 5,
    #[enum_value(name = "Intelligent Constant Quality", nick = "icq")]
    Icq = 7,
    #[enum_value(name = "Quality defined VBR", nick = "qvbr")]
    Qvbr = 8,
}

/// `GstVaapiEncoderTuneH264` (`SUPPORTED_TUNE_OPTIONS`, same file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[enum_type(name = "RetrovueDoubleGstVaapiEncoderTuneH264")]
#[repr(i32)]
pub enum VaapiTune {
    #[default]
    #[enum_value(name = "None", nick = "none")]
    None = 0,
    #[enum_value(name = "High compression", nick = "high-compression")]
    HighCompression = 1,
    #[enum_value(name = "Low power mode", nick = "low-power")]
    LowPower = 3,
}

/// `GstVaapiEncoderMbbrc`: gst-libs/gst/vaapi/gstvaapiencoder.c.
#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[enum_type(name = "RetrovueDoubleGstVaapiEncoderMbbrc")]
#[repr(i32)]
pub enum VaapiMbbrc {
    #[default]
    #[enum_value(name = "Auto", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "On", nick = "on")]
    On = 1,
    #[enum_value(name = "Off", nick = "off")]
    Off = 2,
}

/// `GstVaapiEncoderH264PredictionType`: gstvaapiencoder_h264.c.
#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[enum_type(name = "RetrovueDoubleGstVaapiEncoderH264PredictionType")]
#[repr(i32)]
pub enum VaapiPrediction {
    #[default]
    #[enum_value(name = "Default encode, prev/next frame as ref ", nick = "default")]
    Default = 0,
    #[enum_value(name = "Hierarchical P frame encode", nick = "hierarchical-p")]
    HierarchicalP = 1,
    #[enum_value(name = "Hierarchical B frame encode", nick = "hierarchical-b")]
    HierarchicalB = 2,
}

/// `GstVaapiEncoderH264ComplianceMode`: gstvaapiencoder_h264.c.
#[derive(Debug, Clone, Copy, PartialEq, Eq, glib::Enum, Default)]
#[enum_type(name = "RetrovueDoubleGstVaapiEncoderH264ComplianceMode")]
#[repr(i32)]
pub enum VaapiCompliance {
    #[default]
    #[enum_value(name = "Strict compliance to the H264 Specification ", nick = "strict")]
    Strict = 0,
    #[enum_value(name = "Restrict the allocation size of coded-buffer", nick = "restrict-buf-alloc")]
    RestrictBufAlloc = 1,
}

fn rw() -> glib::ParamFlags {
    glib::ParamFlags::READWRITE
}

/// The four properties every V4L2 M2M element installs, from
/// `gst_v4l2_object_install_m2m_properties_helper` in
/// subprojects/gst-plugins-good/sys/v4l2/gstv4l2object.c (1.22.0 and 1.24.13 identical):
/// `device`, `device-name`, `device-fd` read-only; `output-io-mode`, `capture-io-mode`,
/// `extra-controls` (a `GstStructure`) read-write.
pub fn v4l2_m2m() -> Vec<ParamSpec> {
    vec![
        ParamSpecString::builder("device").nick("Device").blurb("Device location").read_only().build(),
        ParamSpecString::builder("device-name").nick("Device name").blurb("Name of the device").read_only().build(),
        ParamSpecInt::builder("device-fd")
            .nick("File descriptor")
            .blurb("File descriptor of the device")
            .minimum(-1)
            .maximum(i32::MAX)
            .default_value(-1)
            .read_only()
            .build(),
        ParamSpecEnum::builder_with_default("output-io-mode", V4l2IoMode::Auto)
            .nick("Output IO mode")
            .blurb("Output side I/O mode (matches sink pad)")
            .flags(rw())
            .build(),
        ParamSpecEnum::builder_with_default("capture-io-mode", V4l2IoMode::Auto)
            .nick("Capture IO mode")
            .blurb("Capture I/O mode (matches src pad)")
            .flags(rw())
            .build(),
        glib::ParamSpecBoxed::builder::<gst::Structure>("extra-controls")
            .nick("Extra Controls")
            .blurb("Extra v4l2 controls (CIDs) for the device")
            .flags(rw())
            .build(),
    ]
}

/// `vah264enc` / `vah264lpenc`: `device-path` from subprojects/gst-plugins-bad/sys/va/
/// gstvabaseenc.c and the H.264 properties of gstvah264enc.c `gst_va_h264_enc_class_init`
/// (1.22.0 and 1.24.13 have the same names, types, ranges and defaults; `param_flags` is
/// READWRITE | CONSTRUCT).
pub fn va_h264_enc() -> Vec<ParamSpec> {
    let uint = |name: &str, nick: &str, blurb: &str, min: u32, max: u32, def: u32, playing: bool| {
        let b = ParamSpecUInt::builder(name)
            .nick(nick)
            .blurb(blurb)
            .minimum(min)
            .maximum(max)
            .default_value(def)
            .flags(rw())
            .construct();
        if playing { b.mutable_playing().build() } else { b.build() }
    };
    let boolean = |name: &str, nick: &str, blurb: &str, def: bool| {
        ParamSpecBoolean::builder(name).nick(nick).blurb(blurb).default_value(def).flags(rw()).construct().build()
    };
    vec![
        ParamSpecString::builder("device-path").nick("Device Path").blurb("DRM device path").read_only().build(),
        uint(
            "key-int-max",
            "Key frame maximal interval",
            "The maximal distance between two keyframes. It decides the size of GOP (0: auto-calculate)",
            0,
            1024,
            0,
            false,
        ),
        uint("b-frames", "B Frames", "Number of B frames between I and P reference frames", 0, 31, 0, false),
        uint(
            "i-frames",
            "I Frames",
            "Force the number of I frames insertion within one GOP, not including the first IDR frame",
            0,
            1023,
            0,
            false,
        ),
        uint(
            "ref-frames",
            "Number of Reference Frames",
            "Number of reference frames, including both the forward and the backward",
            0,
            16,
            3,
            false,
        ),
        boolean("b-pyramid", "b pyramid", "Enable the b-pyramid reference structure in the GOP", false),
        uint("num-slices", "Number of Slices", "Number of slices per frame", 1, 200, 1, false),
        uint("max-qp", "Maximum QP", "Maximum quantizer value for each frame", 0, 51, 51, false),
        uint("min-qp", "Minimum QP", "Minimum quantizer value for each frame", 0, 51, 1, false),
        uint("qpi", "I Frame QP", "The quantizer value for I frame", 0, 51, 26, true),
        uint("qpp", "The quantizer value for P frame", "Available only in CQP mode", 0, 51, 26, true),
        uint("qpb", "The quantizer value for B frame", "Available only in CQP mode", 0, 51, 26, true),
        boolean("dct8x8", "Enable 8x8 DCT", "Enable adaptive use of 8x8 transforms in I-frames", true),
        boolean("cabac", "Enable CABAC", "Enable CABAC entropy coding mode", true),
        boolean("trellis", "Enable trellis", "Enable the trellis quantization method", false),
        boolean("aud", "Insert AUD", "Insert AU (Access Unit) delimeter for each frame", false),
        boolean("cc-insert", "Insert Closed Captions", "Insert CEA-708 Closed Captions", true),
        ParamSpecEnum::builder_with_default("mbbrc", VaFeature::Auto)
            .nick("Macroblock level Bitrate Control")
            .blurb("Macroblock level Bitrate Control. Not available in CQP mode")
            .flags(rw())
            .construct()
            .build(),
        uint(
            "bitrate",
            "Bitrate (kbps)",
            "The desired bitrate expressed in kbps (0: auto-calculate)",
            0,
            2000 * 1024,
            0,
            true,
        ),
        uint(
            "target-percentage",
            "target bitrate percentage",
            "The percentage for 'target bitrate'/'maximum bitrate' (Only in VBR)",
            50,
            100,
            66,
            true,
        ),
        uint(
            "target-usage",
            "target usage",
            "The target usage to control and balance the encoding speed/quality",
            1,
            7,
            4,
            true,
        ),
        uint(
            "cpb-size",
            "max CPB size in Kb",
            "The desired max CPB size in Kb (0: auto-calculate)",
            0,
            2000 * 1024,
            0,
            true,
        ),
        ParamSpecEnum::builder_with_default("rate-control", VaRateControl::Cbr)
            .nick("rate control mode")
            .blurb("The desired rate control mode for the encoder")
            .flags(rw())
            .construct()
            .mutable_playing()
            .conditionally_available()
            .build(),
    ]
}

/// `vaapih264enc`: the encoder properties exposed from
/// subprojects/gstreamer-vaapi/gst-libs/gst/vaapi/gstvaapiencoder.c (bitrate,
/// target-percentage, keyframe-period, quality-level, default-roi-delta-qp, trellis) and
/// gstvaapiencoder_h264.c (1.22.0 and 1.24.13 identical), all READWRITE | CONSTRUCT.
pub fn vaapi_h264_enc() -> Vec<ParamSpec> {
    let uint = |name: &str, nick: &str, min: u32, max: u32, def: u32| {
        ParamSpecUInt::builder(name)
            .nick(nick)
            .blurb(nick)
            .minimum(min)
            .maximum(max)
            .default_value(def)
            .flags(rw())
            .construct()
            .build()
    };
    let int = |name: &str, nick: &str, min: i32, max: i32, def: i32| {
        ParamSpecInt::builder(name)
            .nick(nick)
            .blurb(nick)
            .minimum(min)
            .maximum(max)
            .default_value(def)
            .flags(rw())
            .construct()
            .build()
    };
    let boolean = |name: &str, nick: &str, def: bool| {
        ParamSpecBoolean::builder(name).nick(nick).blurb(nick).default_value(def).flags(rw()).construct().build()
    };
    let view_id = ParamSpecUInt::builder("view-id-value").nick("View id value").maximum(1023).build();
    vec![
        ParamSpecEnum::builder_with_default("rate-control", VaapiRateControl::Cqp)
            .nick("Rate Control")
            .blurb("Rate control mode")
            .flags(rw())
            .construct()
            .build(),
        ParamSpecEnum::builder_with_default("tune", VaapiTune::None)
            .nick("Encoder Tuning")
            .blurb("Encoder tuning option")
            .flags(rw())
            .construct()
            .build(),
        uint("bitrate", "Bitrate (kbps)", 0, 2000 * 1024, 0),
        uint("target-percentage", "Target Percentage", 1, 100, 70),
        uint("keyframe-period", "Keyframe Period", 0, u32::MAX, 30),
        uint("quality-level", "Quality Level", 1, 7, 4),
        int("default-roi-delta-qp", "Default ROI delta QP", -10, 10, -10),
        boolean("trellis", "Trellis Quantization", false),
        uint("max-bframes", "Max B-Frames", 0, 10, 0),
        uint("refs", "Number of Reference Frames", 1, 8, 1),
        uint("init-qp", "Initial QP", 0, 51, 26),
        uint("min-qp", "Minimum QP", 0, 51, 1),
        uint("max-qp", "Maximum QP", 0, 51, 51),
        int("qp-ip", "Difference of QP between I and P frame", -51, 51, 0),
        int("qp-ib", "Difference of QP between I and B frame", -51, 51, 0),
        uint("num-slices", "Number of Slices", 1, 200, 1),
        boolean("cabac", "Enable CABAC", false),
        boolean("dct8x8", "Enable 8x8 DCT", false),
        ParamSpecEnum::builder_with_default("mbbrc", VaapiMbbrc::Auto)
            .nick("Macroblock level Bitrate Control")
            .flags(rw())
            .construct()
            .build(),
        uint("temporal-levels", "temporal levels", 1, 4, 1),
        ParamSpecEnum::builder_with_default("prediction-type", VaapiPrediction::Default)
            .nick("RefPic Selection")
            .flags(rw())
            .construct()
            .build(),
        uint("cpb-length", "CPB Length", 1, 10000, 1500),
        uint("num-views", "Number of Views", 1, 10, 1),
        gst::ParamSpecArray::builder("view-ids")
            .nick("View IDs")
            .blurb("Set of View Ids used for MVC encoding")
            .element_spec(&view_id)
            .flags(rw())
            .construct()
            .build(),
        boolean("aud", "AU delimiter", false),
        ParamSpecEnum::builder_with_default("compliance-mode", VaapiCompliance::Strict)
            .nick("Spec Compliance Mode")
            .flags(rw())
            .construct()
            .build(),
        uint("quality-factor", "Quality factor for ICQ/QVBR", 1, 51, 26),
    ]
}

/// `vah264dec`: `device-path` from subprojects/gst-plugins-bad/sys/va/gstvabasedec.c
/// (1.22.0, 1.24.13); the rest comes from `GstVideoDecoder`.
pub fn va_dec() -> Vec<ParamSpec> {
    vec![ParamSpecString::builder("device-path").nick("Device Path").blurb("DRM device path").read_only().build()]
}

/// The default of a property, as a value.
pub fn default_of(pspec: &ParamSpec) -> glib::Value {
    pspec.default_value().clone()
}

/// The value of an `extra-controls` field as an integer (V4L2 controls are integers; the
/// v4l2 object accepts ints, booleans and strings that parse as ints).
pub fn control_int(s: &gst::StructureRef, field: &str) -> Option<i64> {
    let v = s.value(field).ok()?;
    if let Ok(i) = v.get::<i32>() {
        return Some(i64::from(i));
    }
    if let Ok(b) = v.get::<bool>() {
        return Some(i64::from(b));
    }
    v.get::<String>().ok()?.parse().ok()
}

/// Whether the value's type is what `pspec` holds (GObject refuses the rest with a warning).
pub fn type_fits(pspec: &ParamSpec, value: &glib::Value) -> bool {
    value.type_().is_a(pspec.value_type())
}
