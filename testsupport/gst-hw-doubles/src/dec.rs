//! The decoder doubles: `GstVideoDecoder` subclasses (the real `v4l2h264dec` is a
//! `GstV4l2VideoDec`, `v4l2slh264dec` and `vah264dec` are `GstH264Decoder`s, all
//! `GstVideoDecoder`s), decoding through a private `h264parse ! avdec_h264` pipeline and
//! giving out the first raw format of their src template that downstream accepts.

use std::sync::Mutex;
use std::time::Duration;

use glib::ParamSpec;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use crate::core::{Failure, Props, Verdict};
use crate::fail::Mode;
use crate::soft::Engine;

/// One decoder element's identity.
pub struct DecSpec {
    /// Factory name.
    pub element: &'static str,
    /// Element metadata.
    pub long_name: &'static str,
    /// Sink pad template caps.
    pub sink: &'static str,
    /// Src pad template caps.
    pub src: &'static str,
    /// Output formats in the order the element prefers them.
    pub formats: &'static [&'static str],
    /// Properties beyond `GstVideoDecoder`'s.
    pub props: fn() -> Vec<ParamSpec>,
    /// Read-only property values.
    pub fixed: fn(&str) -> Option<glib::Value>,
    /// What `start()` says when the device cannot be opened.
    pub open_error: &'static str,
}

struct Running {
    engine: Engine,
    format: &'static str,
    output: Option<(u32, u32)>,
}

/// Per-instance state.
pub struct DecCore {
    /// Identity.
    pub spec: &'static DecSpec,
    /// Property store.
    pub props: Props,
    /// Scripted failure.
    pub failure: Failure,
    running: Mutex<Option<Running>>,
    input: Mutex<Option<gst::Caps>>,
    input_state: Mutex<Option<gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>>>,
}

impl DecCore {
    /// A fresh instance.
    pub fn new(spec: &'static DecSpec) -> Self {
        Self {
            spec,
            props: Props::new(spec.fixed),
            failure: Failure::for_element(spec.element),
            running: Mutex::default(),
            input: Mutex::default(),
            input_state: Mutex::default(),
        }
    }

    /// `GstVideoDecoder::start`.
    pub fn start(&self) -> Result<(), gst::ErrorMessage> {
        self.failure.reset();
        if self.failure.fails_at_open() {
            return Err(gst::error_msg!(gst::ResourceError::OpenReadWrite, ["{}", self.spec.open_error]));
        }
        Ok(())
    }

    /// `GstVideoDecoder::stop`.
    pub fn stop(&self) {
        self.failure.release();
        *self.running.lock().expect("running") = None;
    }

    /// `GstVideoDecoder::set_format`.
    pub fn set_format(
        &self,
        dec: &gst_video::VideoDecoder,
        state: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
    ) -> Result<(), gst::LoggableError> {
        let caps = state.caps_owned().ok_or_else(|| gst::loggable_error!(gst::CAT_RUST, "no input caps"))?;
        let s = caps.structure(0).expect("caps");
        let (w, h) = (s.get::<i32>("width").unwrap_or(0), s.get::<i32>("height").unwrap_or(0));
        match self.failure.on_caps(w, h) {
            Some(Mode::NotNegotiated) => return Err(gst::loggable_error!(gst::CAT_RUST, "driver refused the stream")),
            Some(_) => {
                gst::element_error!(dec, gst::StreamError::Decode, ["{}", self.spec.open_error]);
                return Err(gst::loggable_error!(gst::CAT_RUST, "device failed"));
            }
            None => {}
        }
        *self.input.lock().expect("input") = Some(caps);
        *self.input_state.lock().expect("input state") = Some(state.clone());
        *self.running.lock().expect("running") = None;
        Ok(())
    }

    fn ensure_running(&self, dec: &gst_video::VideoDecoder) -> Result<(), gst::FlowError> {
        let mut running = self.running.lock().expect("running");
        if running.is_some() {
            return Ok(());
        }
        let input = self.input.lock().expect("input").clone().ok_or(gst::FlowError::NotNegotiated)?;
        let template = dec.src_pad().pad_template_caps();
        let allowed = dec.src_pad().peer_query_caps(Some(&template));
        let format = self
            .spec
            .formats
            .iter()
            .copied()
            .find(|f| {
                let probe = gst::Caps::builder("video/x-raw").field("format", *f).build();
                allowed.can_intersect(&probe)
            })
            .ok_or(gst::FlowError::NotNegotiated)?;
        let out = gst::Caps::builder("video/x-raw").field("format", format).build();
        let engine = Engine::decoder(&input, &out).map_err(|_| gst::FlowError::Error)?;
        *running = Some(Running { engine, format, output: None });
        Ok(())
    }

    /// `GstVideoDecoder::handle_frame`.
    pub fn handle_frame(
        &self,
        dec: &gst_video::VideoDecoder,
        frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        match self.failure.on_frame() {
            Verdict::Go => {}
            Verdict::Fail(Mode::Error) => {
                // gstv4l2videodec.c / gstvabasedec.c post a decode error and stop the stream.
                gst::element_error!(dec, gst::StreamError::Decode, ["Failed to decode frame."]);
                return Err(gst::FlowError::Error);
            }
            Verdict::Fail(Mode::NotNegotiated) => return Err(gst::FlowError::NotNegotiated),
            Verdict::Fail(Mode::Stall) => {
                drop(frame);
                self.failure.stall();
                return Err(gst::FlowError::Flushing);
            }
        }
        self.ensure_running(dec)?;
        let mut input = frame.input_buffer_owned().ok_or(gst::FlowError::Error)?;
        if input.pts().is_none() {
            input.make_mut().set_pts(frame.dts());
        }
        drop(frame);
        let samples = {
            let guard = self.running.lock().expect("running");
            let r = guard.as_ref().expect("running");
            r.engine.push(input)?;
            let mut out = Vec::new();
            let mut wait = Duration::from_millis(50);
            while let Some(s) = r.engine.pull(wait) {
                out.push(s);
                wait = Duration::ZERO;
            }
            if let Some(e) = r.engine.error() {
                gst::element_error!(dec, gst::StreamError::Decode, ["Failed to decode frame: {e}"]);
                return Err(gst::FlowError::Error);
            }
            out
        };
        self.output(dec, samples)
    }

    fn output(
        &self,
        dec: &gst_video::VideoDecoder,
        samples: Vec<gst::Sample>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        for sample in samples {
            let caps = sample.caps().ok_or(gst::FlowError::Error)?;
            let info = gst_video::VideoInfo::from_caps(caps).map_err(|_| gst::FlowError::NotNegotiated)?;
            let size = (info.width(), info.height());
            let format = {
                let mut guard = self.running.lock().expect("running");
                let r = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
                let new = r.output != Some(size);
                r.output = Some(size);
                new.then_some(r.format)
            };
            if let Some(format) = format {
                let input = self.input_state.lock().expect("input state").clone();
                let fmt = gst_video::VideoFormat::from_string(format);
                let state = dec
                    .set_output_state(fmt, size.0, size.1, input.as_ref())
                    .map_err(|_| gst::FlowError::NotNegotiated)?;
                dec.negotiate(state).map_err(|_| gst::FlowError::NotNegotiated)?;
            }
            let buffer = sample.buffer().ok_or(gst::FlowError::Error)?.copy();
            let pts = buffer.pts();
            // Frames come out in presentation order: any pending frame before this one was
            // dropped by the decoder.
            let mut target = None;
            for f in dec.frames() {
                if f.pts() == pts && target.is_none() {
                    target = Some(f.system_frame_number());
                }
            }
            let target = target.or_else(|| dec.oldest_frame().map(|f| f.system_frame_number()));
            let Some(number) = target else { continue };
            for f in dec.frames() {
                if f.system_frame_number() != number && f.pts().is_some() && pts.is_some() && f.pts() < pts {
                    let _ = dec.drop_frame(f);
                }
            }
            let Some(mut frame) = dec.frame(number as i32) else { continue };
            frame.set_output_buffer(buffer);
            dec.finish_frame(frame)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// `GstVideoDecoder::drain` / `finish`: EOS into the engine, everything out.
    pub fn drain(&self, dec: &gst_video::VideoDecoder) -> Result<gst::FlowSuccess, gst::FlowError> {
        let samples = match self.running.lock().expect("running").take() {
            Some(r) => r.engine.drain(),
            None => return Ok(gst::FlowSuccess::Ok),
        };
        // `output` needs a running entry for its size bookkeeping; the engine is spent, so
        // hand the samples over with a placeholder that the next frame replaces.
        self.output_spent(dec, samples)
    }

    fn output_spent(
        &self,
        dec: &gst_video::VideoDecoder,
        samples: Vec<gst::Sample>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        for sample in samples {
            let buffer = sample.buffer().ok_or(gst::FlowError::Error)?.copy();
            let pts = buffer.pts();
            let target = dec.frames().into_iter().find(|f| f.pts() == pts).or_else(|| dec.oldest_frame());
            let Some(mut frame) = target else { continue };
            if dec.output_state().is_none() {
                continue;
            }
            frame.set_output_buffer(buffer);
            dec.finish_frame(frame)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// `GstVideoDecoder::flush`.
    pub fn flush(&self) -> bool {
        *self.running.lock().expect("running") = None;
        true
    }
}

/// Define one decoder element type.
macro_rules! decoder_element {
    ($module:ident, $wrapper:ident, $type_name:literal, $spec:expr) => {
        pub mod $module {
            use std::sync::LazyLock;

            use glib::subclass::prelude::*;
            use gstreamer as gst;
            use gstreamer::prelude::*;
            use gstreamer::subclass::prelude::*;
            use gstreamer_video as gst_video;
            use gstreamer_video::subclass::prelude::*;

            use crate::dec::{DecCore, DecSpec};

            /// The spec.
            pub static SPEC: DecSpec = $spec;

            /// Instance state.
            pub struct Imp {
                core: DecCore,
            }

            #[glib::object_subclass]
            impl ObjectSubclass for Imp {
                const NAME: &'static str = $type_name;
                type Type = super::$wrapper;
                type ParentType = gst_video::VideoDecoder;

                fn new() -> Self {
                    Self { core: DecCore::new(&SPEC) }
                }
            }

            impl ObjectImpl for Imp {
                fn properties() -> &'static [glib::ParamSpec] {
                    static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| (SPEC.props)());
                    PROPS.as_ref()
                }
                fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
                    self.core.props.set(pspec, value);
                }
                fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
                    self.core.props.get(pspec)
                }
            }

            impl GstObjectImpl for Imp {}

            impl ElementImpl for Imp {
                fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
                    static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                        gst::subclass::ElementMetadata::new(
                            SPEC.long_name,
                            "Codec/Decoder/Video/Hardware",
                            SPEC.long_name,
                            "Retrovue test double",
                        )
                    });
                    Some(&*META)
                }
                fn pad_templates() -> &'static [gst::PadTemplate] {
                    static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                        let sink = SPEC.sink.parse::<gst::Caps>().expect("sink caps");
                        let src = SPEC.src.parse::<gst::Caps>().expect("src caps");
                        vec![
                            gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &sink)
                                .expect("sink template"),
                            gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &src)
                                .expect("src template"),
                        ]
                    });
                    TEMPLATES.as_ref()
                }
                fn change_state(&self, t: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
                    if t == gst::StateChange::PausedToReady {
                        self.core.failure.release();
                    }
                    self.parent_change_state(t)
                }
            }

            impl VideoDecoderImpl for Imp {
                fn start(&self) -> Result<(), gst::ErrorMessage> {
                    self.core.start()
                }
                fn stop(&self) -> Result<(), gst::ErrorMessage> {
                    self.core.stop();
                    Ok(())
                }
                fn set_format(
                    &self,
                    state: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
                ) -> Result<(), gst::LoggableError> {
                    self.core.set_format(self.obj().upcast_ref(), state)
                }
                fn handle_frame(&self, frame: gst_video::VideoCodecFrame) -> Result<gst::FlowSuccess, gst::FlowError> {
                    self.core.handle_frame(self.obj().upcast_ref(), frame)
                }
                fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
                    self.core.drain(self.obj().upcast_ref())
                }
                fn finish(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
                    self.core.drain(self.obj().upcast_ref())
                }
                fn flush(&self) -> bool {
                    self.core.flush()
                }
            }
        }

        glib::wrapper! {
            /// The element.
            pub struct $wrapper(ObjectSubclass<$module::Imp>)
                @extends gstreamer_video::VideoDecoder, gstreamer::Element, gstreamer::Object;
        }
    };
}

pub(crate) use decoder_element;
