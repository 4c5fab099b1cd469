//! The seven doubles: element names, pad templates, ranks and the mapping of each element's
//! own properties onto x264. Sources (GStreamer monorepo, tags 1.22.0 and 1.24.13):
//!
//! * `v4l2h264enc`: subprojects/gst-plugins-good/sys/v4l2/gstv4l2h264enc.c (src template
//!   `video/x-h264, stream-format=byte-stream, alignment=au`, profile and level from the
//!   device's controls), gstv4l2videoenc.c, gstv4l2object.c; registered at PRIMARY+1 by
//!   gstv4l2.c. Sink formats and the 32..1920 size range are the Raspberry Pi's
//!   bcm2835-codec encoder's OUTPUT queue formats (drivers/staging/vc04_services/
//!   bcm2835-codec/bcm2835-v4l2-codec.c, as gstv4l2object.c maps V4L2 fourccs).
//! * `v4l2h264dec`: gstv4l2videodec.c (stateful M2M; sink `byte-stream`/`au`), the Pi's
//!   bcm2835-codec decoder CAPTURE formats; PRIMARY+1.
//! * `v4l2slh264dec`: subprojects/gst-plugins-bad/sys/v4l2codecs/gstv4l2codech264dec.c
//!   (templates, `GST_V4L2_DEFAULT_VIDEO_FORMATS` of gstv4l2format.h at 1.22.0); PRIMARY+1.
//! * `vah264enc`, `vah264lpenc`: subprojects/gst-plugins-bad/sys/va/gstvah264enc.c (sink
//!   `NV12` in `memory:VAMemory` and system memory; src completed with `alignment=au,
//!   stream-format=byte-stream` by `_complete_src_caps`); rank NONE (sys/va/plugin.c).
//! * `vah264dec`: sys/va/gstvah264dec.c (src `NV12, P010_10LE` in VAMemory and system memory,
//!   sink completed with `alignment=au, stream-format={avc, avc3, byte-stream}`); rank NONE in
//!   1.22 and `GST_VA_RANK_PRIMARY` (PRIMARY+1) from 1.24 (sys/va/plugin.c), chosen here by
//!   the runtime version.
//! * `vaapih264enc`: subprojects/gstreamer-vaapi/gst/vaapi/gstvaapiencode_h264.c (src
//!   `stream-format={avc, byte-stream}, alignment=au`), gstvaapiencode.h (sink
//!   `memory:VASurface`, system memory, `memory:DMABuf`); the formats are those an Intel iHD
//!   driver's surfaces take (the real element narrows `GST_VAAPI_FORMATS_ALL` to them at run
//!   time); rank PRIMARY (gstvaapi.c).

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::dec::decoder_element;
use crate::enc::encoder_element;
use crate::props;
use crate::soft::X264;

const V4L2_ENC_SINK: &str = "video/x-raw, format=(string){ I420, YV12, NV12, NV21, RGB16, YUY2, YVYU, UYVY, VYUY, RGB, BGR, BGRx }, width=(int)[ 32, 1920 ], height=(int)[ 32, 1920 ], framerate=(fraction)[ 0/1, 2147483647/1 ]";
const V4L2_ENC_SRC: &str = "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au, profile=(string){ baseline, constrained-baseline, main, high }, level=(string){ 1, 1b, 1.1, 1.2, 1.3, 2, 2.1, 2.2, 3, 3.1, 3.2, 4, 4.1, 4.2 }";
/// Levels the bcm2835-codec `h264_level` control accepts, default (4) first.
const V4L2_LEVELS: &[&str] = &["4", "4.1", "4.2", "3.2", "3.1", "3", "2.2", "2.1", "2", "1.3", "1.2", "1.1", "1b", "1"];
/// Controls the bcm2835-codec encoder has (bcm2835-v4l2-codec.c), by the names gstv4l2object.c
/// gives them (lower case, non-alphanumerics as `_`).
const V4L2_ENC_CONTROLS: &[&str] = &[
    "video_bitrate_mode",
    "video_bitrate",
    "sequence_header_mode",
    "repeat_sequence_header",
    "force_key_frame",
    "h264_minimum_qp_value",
    "h264_maximum_qp_value",
    "h264_i_frame_period",
    "h264_level",
    "h264_profile",
    "video_b_frames",
];

const VA_ENC_SINK: &str = "video/x-raw(memory:VAMemory), format=(string)NV12, width=(int)[ 16, 4096 ], height=(int)[ 16, 4096 ], framerate=(fraction)[ 0/1, 2147483647/1 ]; video/x-raw, format=(string)NV12, width=(int)[ 16, 4096 ], height=(int)[ 16, 4096 ], framerate=(fraction)[ 0/1, 2147483647/1 ]";
const VA_ENC_SRC: &str = "video/x-h264, profile=(string){ main, constrained-baseline, high }, width=(int)[ 16, 4096 ], height=(int)[ 16, 4096 ], alignment=(string)au, stream-format=(string)byte-stream";

const VAAPI_ENC_SINK: &str = "video/x-raw(memory:VASurface), format=(string){ NV12, I420, YV12 }, width=(int)[ 1, 2147483647 ], height=(int)[ 1, 2147483647 ], framerate=(fraction)[ 0/1, 2147483647/1 ], interlace-mode=(string)progressive; video/x-raw, format=(string){ NV12, I420, YV12 }, width=(int)[ 1, 2147483647 ], height=(int)[ 1, 2147483647 ], framerate=(fraction)[ 0/1, 2147483647/1 ], interlace-mode=(string)progressive; video/x-raw(memory:DMABuf), format=(string){ I420, YV12 }, width=(int)[ 1, 2147483647 ], height=(int)[ 1, 2147483647 ], framerate=(fraction)[ 0/1, 2147483647/1 ]";
const VAAPI_ENC_SRC: &str = "video/x-h264, stream-format=(string){ avc, byte-stream }, alignment=(string)au, profile=(string){ constrained-baseline, baseline, main, high }";

const V4L2_DEC_SINK: &str = "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au, width=(int)[ 32, 1920 ], height=(int)[ 32, 1920 ]";
const V4L2_DEC_SRC: &str = "video/x-raw, format=(string){ NV12, I420, YV12, NV21, RGB16 }, width=(int)[ 32, 1920 ], height=(int)[ 32, 1920 ], framerate=(fraction)[ 0/1, 2147483647/1 ]";
const V4L2SL_DEC_SINK: &str = "video/x-h264, stream-format=(string){ avc, avc3, byte-stream }, alignment=(string)au";
const V4L2SL_DEC_SRC: &str = "video/x-raw, format=(string){ NV12, YUY2, NV12_4L4, NV12_32L32, NV12_16L32S, I420, P010_10LE }, width=(int)[ 1, 2147483647 ], height=(int)[ 1, 2147483647 ], framerate=(fraction)[ 0/1, 2147483647/1 ]";
const VA_DEC_SINK: &str = "video/x-h264, profile=(string){ main, baseline, high, progressive-high, constrained-high, constrained-baseline }, width=(int)[ 1, 4096 ], height=(int)[ 1, 4096 ], alignment=(string)au, stream-format=(string){ avc, avc3, byte-stream }";
const VA_DEC_SRC: &str = "video/x-raw(memory:VAMemory), format=(string){ NV12, P010_10LE }, width=(int)[ 1, 4096 ], height=(int)[ 1, 4096 ], framerate=(fraction)[ 0/1, 2147483647/1 ]; video/x-raw, format=(string){ NV12, P010_10LE }, width=(int)[ 1, 4096 ], height=(int)[ 1, 4096 ], framerate=(fraction)[ 0/1, 2147483647/1 ]";

fn v4l2_enc_fixed(name: &str) -> Option<glib::Value> {
    match name {
        "device" => Some("/dev/video11".to_value()),
        "device-name" => Some("bcm2835-codec-encode".to_value()),
        _ => None,
    }
}

fn v4l2_dec_fixed(name: &str) -> Option<glib::Value> {
    match name {
        "device" => Some("/dev/video10".to_value()),
        "device-name" => Some("bcm2835-codec-decode".to_value()),
        _ => None,
    }
}

fn va_fixed(name: &str) -> Option<glib::Value> {
    (name == "device-path").then(|| "/dev/dri/renderD128".to_value())
}

fn no_fixed(_: &str) -> Option<glib::Value> {
    None
}

fn no_props() -> Vec<glib::ParamSpec> {
    Vec::new()
}

/// `extra-controls`: `h264_i_frame_period` (driver default 60), `video_bitrate` in bit/s
/// (default 10 Mbit/s), `video_bitrate_mode` 0 = VBR, 1 = CBR.
fn v4l2_x264(e: &gst::Element) -> X264 {
    let extra = e.property::<Option<gst::Structure>>("extra-controls");
    let get = |f: &str| extra.as_ref().and_then(|s| props::control_int(s, f));
    X264 {
        key_int_max: get("h264_i_frame_period").unwrap_or(60).clamp(0, i64::from(u32::MAX)) as u32,
        kbps: (get("video_bitrate").unwrap_or(10_000_000) / 1000).clamp(1, 25_000) as u32,
        pass: if get("video_bitrate_mode") == Some(1) { "cbr" } else { "qual" },
        quantizer: 21,
    }
}

fn rc_pass(nick: &str) -> &'static str {
    match nick {
        "cqp" | "icq" => "quant",
        "vbr" | "vbr_constrained" | "qvbr" => "qual",
        _ => "cbr",
    }
}

fn enum_nick(e: &gst::Element, name: &str) -> String {
    let v = e.property_value(name);
    glib::EnumValue::from_value(&v).map(|(_, ev)| ev.nick().to_owned()).unwrap_or_default()
}

fn va_x264(e: &gst::Element) -> X264 {
    X264 {
        key_int_max: e.property::<u32>("key-int-max"),
        kbps: e.property::<u32>("bitrate"),
        pass: rc_pass(&enum_nick(e, "rate-control")),
        quantizer: e.property::<u32>("qpi"),
    }
}

fn vaapi_x264(e: &gst::Element) -> X264 {
    X264 {
        key_int_max: e.property::<u32>("keyframe-period"),
        kbps: e.property::<u32>("bitrate"),
        pass: rc_pass(&enum_nick(e, "rate-control")),
        quantizer: e.property::<u32>("init-qp"),
    }
}

encoder_element!(
    v4l2h264enc,
    V4l2H264Enc,
    "RetrovueDoubleV4l2H264Enc",
    crate::enc::EncSpec {
        element: "v4l2h264enc",
        long_name: "V4L2 H.264 Encoder",
        description: "Encode H.264 video streams via V4L2 API",
        props: crate::props::v4l2_m2m,
        sink: super::V4L2_ENC_SINK,
        src: super::V4L2_ENC_SRC,
        profiles: &["high", "main", "constrained-baseline", "baseline"],
        levels: super::V4L2_LEVELS,
        x264: super::v4l2_x264,
        fixed: super::v4l2_enc_fixed,
        open_error: "Could not open device '/dev/video11' for reading and writing.",
        controls: super::V4L2_ENC_CONTROLS,
    }
);

encoder_element!(
    vah264enc,
    VaH264Enc,
    "RetrovueDoubleGstVaH264Enc",
    crate::enc::EncSpec {
        element: "vah264enc",
        long_name: "VA-API H.264 Encoder",
        description: "VA-API based H.264 video encoder",
        props: crate::props::va_h264_enc,
        sink: super::VA_ENC_SINK,
        src: super::VA_ENC_SRC,
        profiles: &["high", "main", "constrained-baseline"],
        levels: &[],
        x264: super::va_x264,
        fixed: super::va_fixed,
        open_error: "Failed to open VA display on /dev/dri/renderD128",
        controls: &[],
    }
);

encoder_element!(
    vah264lpenc,
    VaH264LpEnc,
    "RetrovueDoubleGstVaH264LPEnc",
    crate::enc::EncSpec {
        element: "vah264lpenc",
        long_name: "VA-API H.264 Low Power Encoder",
        description: "VA-API based H.264 low power video encoder",
        props: crate::props::va_h264_enc,
        sink: super::VA_ENC_SINK,
        src: super::VA_ENC_SRC,
        profiles: &["high", "main", "constrained-baseline"],
        levels: &[],
        x264: super::va_x264,
        fixed: super::va_fixed,
        open_error: "Failed to open VA display on /dev/dri/renderD128",
        controls: &[],
    }
);

encoder_element!(
    vaapih264enc,
    VaapiH264Enc,
    "RetrovueDoubleGstVaapiEncodeH264",
    crate::enc::EncSpec {
        element: "vaapih264enc",
        long_name: "VA-API H264 encoder",
        description: "A VA-API based H264 video encoder",
        props: crate::props::vaapi_h264_enc,
        sink: super::VAAPI_ENC_SINK,
        src: super::VAAPI_ENC_SRC,
        profiles: &["high", "main", "constrained-baseline", "baseline"],
        levels: &[],
        x264: super::vaapi_x264,
        fixed: super::no_fixed,
        open_error: "Could not initialize the VA display",
        controls: &[],
    }
);

decoder_element!(
    v4l2h264dec,
    V4l2H264Dec,
    "RetrovueDoubleV4l2H264Dec",
    crate::dec::DecSpec {
        element: "v4l2h264dec",
        long_name: "V4L2 H264 Decoder",
        sink: super::V4L2_DEC_SINK,
        src: super::V4L2_DEC_SRC,
        formats: &["NV12", "I420", "YV12", "NV21"],
        props: crate::props::v4l2_m2m,
        fixed: super::v4l2_dec_fixed,
        open_error: "Could not open device '/dev/video10' for reading and writing.",
    }
);

decoder_element!(
    v4l2slh264dec,
    V4l2SlH264Dec,
    "RetrovueDoubleV4l2CodecH264Dec",
    crate::dec::DecSpec {
        element: "v4l2slh264dec",
        long_name: "V4L2 Stateless H.264 Video Decoder",
        sink: super::V4L2SL_DEC_SINK,
        src: super::V4L2SL_DEC_SRC,
        formats: &["NV12", "I420"],
        props: super::no_props,
        fixed: super::no_fixed,
        open_error: "Could not open the media device",
    }
);

decoder_element!(
    vah264dec,
    VaH264Dec,
    "RetrovueDoubleGstVaH264Dec",
    crate::dec::DecSpec {
        element: "vah264dec",
        long_name: "VA-API H.264 Decoder",
        sink: super::VA_DEC_SINK,
        src: super::VA_DEC_SRC,
        formats: &["NV12"],
        props: crate::props::va_dec,
        fixed: super::va_fixed,
        open_error: "Failed to open VA display on /dev/dri/renderD128",
    }
);

fn primary_plus(n: i32) -> gst::Rank {
    gst::Rank::from(i32::from(gst::Rank::PRIMARY) + n)
}

/// Register every double with its real rank.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    let (_, minor, _, _) = gst::version();
    let va_dec_rank = if minor >= 24 { primary_plus(1) } else { gst::Rank::NONE };
    gst::Element::register(Some(plugin), "v4l2h264enc", primary_plus(1), V4l2H264Enc::static_type())?;
    gst::Element::register(Some(plugin), "vah264enc", gst::Rank::NONE, VaH264Enc::static_type())?;
    gst::Element::register(Some(plugin), "vah264lpenc", gst::Rank::NONE, VaH264LpEnc::static_type())?;
    gst::Element::register(Some(plugin), "vaapih264enc", gst::Rank::PRIMARY, VaapiH264Enc::static_type())?;
    gst::Element::register(Some(plugin), "v4l2h264dec", primary_plus(1), V4l2H264Dec::static_type())?;
    gst::Element::register(Some(plugin), "v4l2slh264dec", primary_plus(1), V4l2SlH264Dec::static_type())?;
    gst::Element::register(Some(plugin), "vah264dec", va_dec_rank, VaH264Dec::static_type())?;
    Ok(())
}
