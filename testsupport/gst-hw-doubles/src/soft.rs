//! The software engines inside the doubles: a tiny private pipeline
//! `appsrc ! videoconvert ! x264enc ! capsfilter ! appsink` (encoders) or
//! `appsrc ! h264parse ! avdec_h264 ! videoconvert ! capsfilter ! appsink` (decoders), fed one
//! buffer at a time from the double's `handle_frame`.

use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

/// How long to wait for x264 (zerolatency: one frame out per frame in) to give a frame back.
const ENCODE_WAIT: Duration = Duration::from_secs(5);

/// A private pipeline with an appsrc in and an appsink out.
pub struct Engine {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
}

/// x264 settings taken from the double's own properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X264 {
    /// Keyframe interval (0 = x264's default).
    pub key_int_max: u32,
    /// kbit/s (0 = x264's default).
    pub kbps: u32,
    /// `pass`: "cbr" or "qual"/"quant".
    pub pass: &'static str,
    /// Constant quantiser for CQP modes.
    pub quantizer: u32,
}

fn make(name: &str) -> Result<gst::Element, glib::BoolError> {
    gst::ElementFactory::make(name).build()
}

impl Engine {
    fn new(chain: Vec<gst::Element>, in_caps: &gst::Caps) -> Result<Self, glib::BoolError> {
        let pipeline = gst::Pipeline::new();
        let src =
            gst_app::AppSrc::builder().caps(in_caps).format(gst::Format::Time).is_live(false).block(false).build();
        let sink = gst_app::AppSink::builder().sync(false).max_buffers(0).build();
        pipeline.add(&src)?;
        pipeline.add_many(&chain)?;
        pipeline.add(&sink)?;
        let mut all: Vec<&gst::Element> = vec![src.upcast_ref()];
        all.extend(chain.iter());
        all.push(sink.upcast_ref());
        gst::Element::link_many(all)?;
        pipeline.set_state(gst::State::Playing).map_err(|_| glib::bool_error!("engine does not start"))?;
        Ok(Self { pipeline, src, sink })
    }

    /// `appsrc ! videoconvert ! x264enc ! capsfilter(out) ! appsink`.
    pub fn encoder(in_caps: &gst::Caps, out_caps: &gst::Caps, x: &X264) -> Result<Self, glib::BoolError> {
        let convert = make("videoconvert")?;
        let enc = make("x264enc")?;
        enc.set_property_from_str("tune", "zerolatency");
        enc.set_property_from_str("speed-preset", "superfast");
        enc.set_property_from_str("pass", x.pass);
        if x.pass == "quant" {
            enc.set_property("quantizer", x.quantizer);
        }
        if x.key_int_max > 0 {
            enc.set_property("key-int-max", x.key_int_max);
        }
        if x.kbps > 0 {
            enc.set_property("bitrate", x.kbps.min(2_048_000));
        }
        enc.set_property("option-string", "scenecut=0");
        let filter = make("capsfilter")?;
        filter.set_property("caps", out_caps);
        Self::new(vec![convert, enc, filter], in_caps)
    }

    /// `appsrc ! h264parse ! avdec_h264 ! videoconvert ! capsfilter(out) ! appsink`.
    pub fn decoder(in_caps: &gst::Caps, out_caps: &gst::Caps) -> Result<Self, glib::BoolError> {
        let parse = make("h264parse")?;
        let dec = make("avdec_h264")?;
        // One thread: frames come out as soon as reordering allows, not a thread-count later.
        dec.set_property("max-threads", 1i32);
        let convert = make("videoconvert")?;
        let filter = make("capsfilter")?;
        filter.set_property("caps", out_caps);
        Self::new(vec![parse, dec, convert, filter], in_caps)
    }

    /// Push one buffer in.
    pub fn push(&self, buffer: gst::Buffer) -> Result<(), gst::FlowError> {
        self.src.push_buffer(buffer).map(|_| ())
    }

    /// The next output, waiting at most `wait`.
    pub fn pull(&self, wait: Duration) -> Option<gst::Sample> {
        self.sink.try_pull_sample(gst::ClockTime::from_nseconds(wait.as_nanos() as u64))
    }

    /// One encoded frame for the frame just pushed.
    pub fn pull_encoded(&self) -> Option<gst::Sample> {
        self.pull(ENCODE_WAIT)
    }

    /// Signal end of stream and collect everything still inside.
    pub fn drain(&self) -> Vec<gst::Sample> {
        let _ = self.src.end_of_stream();
        let mut out = Vec::new();
        while let Some(s) = self.pull(ENCODE_WAIT) {
            out.push(s);
        }
        out
    }

    /// An error the private pipeline posted, if any.
    pub fn error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                return Some(format!("{} ({:?})", e.error(), e.debug()));
            }
        }
        None
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
