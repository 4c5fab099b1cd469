//! The doubles behave like the real elements: unknown properties and wrong types refused,
//! formats outside the pad template not negotiated, valid H.264 out, decodable by the
//! decoder doubles in the element's preferred format.

use gstreamer as gst;
use gstreamer::prelude::*;

fn init() {
    gst::init().unwrap();
    let _ = gstretrovuehwdoubles::plugin_register_static();
}

/// Run `desc` to EOS; Ok(()) or the first error's text.
fn run(desc: &str) -> Result<gst::Pipeline, String> {
    let pipeline = gst::parse::launch(desc).map_err(|e| e.to_string())?.downcast::<gst::Pipeline>().unwrap();
    pipeline.set_state(gst::State::Playing).map_err(|e| e.to_string())?;
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error])
        .expect("pipeline finished in 60 s");
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.view() {
        gst::MessageView::Error(e) => Err(format!("{} {:?}", e.error(), e.debug())),
        _ => Ok(pipeline),
    }
}

#[test]
fn unknown_properties_are_refused_and_types_checked() {
    init();
    for name in ["v4l2h264enc", "vah264enc", "vah264lpenc", "vaapih264enc", "v4l2h264dec", "v4l2slh264dec", "vah264dec"]
    {
        let e = gst::ElementFactory::make(name).build().unwrap_or_else(|_| panic!("{name} is registered"));
        assert!(e.find_property("speed-preset").is_none(), "{name} has no x264 properties");
        let build = || gst::ElementFactory::make(name).property("no-such-property", 1u32).build().is_err();
        assert!(std::panic::catch_unwind(build).unwrap_or(true), "{name} refuses an unknown property");
    }
    let va = gst::ElementFactory::make("vah264enc").build().unwrap();
    assert_eq!(va.find_property("bitrate").unwrap().value_type(), u32::static_type());
    let refused = |f: &dyn Fn()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err();
    assert!(refused(&|| va.set_property("bitrate", "fast")), "a string is not a uint");
    assert!(refused(&|| va.set_property("bitrate", 5000i32)), "an int is not a uint");
    va.set_property("bitrate", 5000u32);
    assert_eq!(va.property::<u32>("bitrate"), 5000);
    assert_eq!(va.property::<u32>("target-usage"), 4, "real default");
    va.set_property_from_str("rate-control", "cbr");
    assert!(gst::glib::Value::deserialize_with_pspec("abr", &va.find_property("rate-control").unwrap()).is_err());
    assert!(refused(&|| va.set_property("key-int-max", 5000u32)), "above MAX_GOP_SIZE 1024");
    let pi = gst::ElementFactory::make("v4l2h264enc").build().unwrap();
    assert!(pi.find_property("bitrate").is_none(), "the Pi encoder takes its bitrate through extra-controls");
    assert_eq!(pi.property::<Option<String>>("device").as_deref(), Some("/dev/video11"));
    pi.set_property_from_str("extra-controls", "controls,video_bitrate=3000000");
    let vaapi = gst::ElementFactory::make("vaapih264enc").build().unwrap();
    assert_eq!(vaapi.property::<u32>("keyframe-period"), 30);
    assert!(vaapi.find_property("key-int-max").is_none());
}

#[test]
fn pad_templates_are_the_real_ones() {
    init();
    let caps = |name: &str, pad: &str| {
        gst::ElementFactory::find(name)
            .unwrap()
            .static_pad_templates()
            .into_iter()
            .find(|t| t.name_template() == pad)
            .unwrap()
            .caps()
    };
    let va_sink = caps("vah264enc", "sink");
    assert!(va_sink.iter_with_features().any(|(_, f)| f.contains("memory:VAMemory")));
    assert!(!va_sink.can_intersect(&"video/x-raw,format=I420".parse::<gst::Caps>().unwrap()));
    let pi_src = caps("v4l2h264enc", "src");
    assert!(pi_src.is_subset(&"video/x-h264,stream-format=byte-stream,alignment=au".parse::<gst::Caps>().unwrap()));
    assert!(caps("vaapih264enc", "sink").can_intersect(&"video/x-raw,format=YV12".parse::<gst::Caps>().unwrap()));
    assert_eq!(gst::ElementFactory::find("v4l2h264enc").unwrap().rank(), gst::Rank::PRIMARY + 1);
    assert_eq!(gst::ElementFactory::find("vah264enc").unwrap().rank(), gst::Rank::NONE);
}

#[test]
fn an_input_format_the_hardware_takes_no_copy_of_is_not_negotiated() {
    init();
    // parse-launch refuses the link outright, or the stream ends not-negotiated.
    let e = run(
        "videotestsrc num-buffers=5 ! video/x-raw,format=I420,width=320,height=240 ! identity ! vah264enc ! fakesink",
    );
    let e = e.expect_err("I420 into vah264enc fails");
    assert!(e.contains("not-negotiated") || e.contains("could not link"), "{e}");
    let e = run(
        "videotestsrc num-buffers=5 ! video/x-raw,format=AYUV,width=320,height=240 ! identity ! v4l2h264enc ! fakesink",
    );
    let e = e.expect_err("AYUV is not a bcm2835-codec input format");
    assert!(e.contains("not-negotiated") || e.contains("could not link"), "{e}");
    let e = run(
        "videotestsrc num-buffers=5 ! video/x-raw,format=NV12,width=320,height=240 ! v4l2h264enc ! video/x-h264,profile=high-4:4:4 ! fakesink",
    );
    assert!(e.is_err(), "the Pi encodes no High 4:4:4");
}

#[test]
fn encodes_valid_h264_that_the_decoder_doubles_decode_to_nv12() {
    init();
    for (enc, dec) in [
        (
            "v4l2h264enc extra-controls=\"controls,h264_i_frame_period=30,video_bitrate=1000000,video_bitrate_mode=1\" ! video/x-h264,level=(string)4,profile=(string)high",
            "v4l2h264dec",
        ),
        ("vah264enc key-int-max=30 bitrate=1000 rate-control=cbr", "vah264dec"),
        ("vah264lpenc key-int-max=30 bitrate=1000", "v4l2slh264dec"),
        ("vaapih264enc keyframe-period=30 rate-control=cbr bitrate=1000", "vah264dec"),
    ] {
        let desc = format!(
            "videotestsrc num-buffers=60 ! video/x-raw,format=NV12,width=320,height=240,framerate=30/1 ! {enc} ! h264parse ! {dec} ! video/x-raw,format=NV12 ! appsink name=out sync=false emit-signals=false max-buffers=0"
        );
        let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
        let sink = pipeline.by_name("out").unwrap().downcast::<gstreamer_app::AppSink>().unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let mut frames = 0;
        while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_seconds(30)) {
            let caps = s.caps().unwrap().structure(0).unwrap().to_owned();
            assert_eq!(caps.get::<&str>("format").unwrap(), "NV12");
            frames += 1;
        }
        pipeline.set_state(gst::State::Null).unwrap();
        assert_eq!(frames, 60, "{enc} -> {dec}: every frame encoded and decoded");
    }
}
