//! The encoder doubles: `GstVideoEncoder` subclasses (as the real `v4l2h264enc`
//! (`GstV4l2VideoEnc`), `vah264enc`/`vah264lpenc` (`GstVaBaseEnc`) and `vaapih264enc`
//! (`GstVaapiEncode`) all are), each with its element's properties and pad templates, encoding
//! through a private x264enc pipeline.
//!
//! Output caps are negotiated the way the real elements do it: profile (and, for V4L2, level)
//! from what downstream allows (gstv4l2videoenc.c `gst_v4l2_video_enc_negotiate`; gstvah264enc.c
//! `_decide_profile`), `stream-format=byte-stream, alignment=au`. A downstream that allows no
//! profile the hardware has, or an input format outside the sink template, is
//! `not-negotiated`.

use std::sync::Mutex;

use glib::ParamSpec;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use crate::core::{Failure, Props, Verdict, pick_string};
use crate::fail::Mode;
use crate::soft::{Engine, X264};

/// One encoder element's identity.
pub struct EncSpec {
    /// Factory name.
    pub element: &'static str,
    /// Element metadata.
    pub long_name: &'static str,
    /// Element metadata.
    pub description: &'static str,
    /// Properties (see `props.rs`).
    pub props: fn() -> Vec<ParamSpec>,
    /// Sink pad template caps.
    pub sink: &'static str,
    /// Src pad template caps.
    pub src: &'static str,
    /// H.264 profiles the hardware encodes, preferred first.
    pub profiles: &'static [&'static str],
    /// Levels it accepts from downstream (V4L2 sets the level control), default first;
    /// empty = the level is the encoder's own business (VA).
    pub levels: &'static [&'static str],
    /// x264 settings from the element's own properties.
    pub x264: fn(&gst::Element) -> X264,
    /// Read-only property values.
    pub fixed: fn(&str) -> Option<glib::Value>,
    /// What `start()` says when the device cannot be opened.
    pub open_error: &'static str,
    /// Controls `extra-controls` may name (V4L2 only); others are ignored with a warning.
    pub controls: &'static [&'static str],
}

/// Per-instance state.
pub struct EncCore {
    /// Identity.
    pub spec: &'static EncSpec,
    /// Property store.
    pub props: Props,
    /// Scripted failure.
    pub failure: Failure,
    engine: Mutex<Option<Engine>>,
    /// (input caps, output caps) the engine runs with.
    formats: Mutex<Option<(gst::Caps, gst::Caps)>>,
}

impl EncCore {
    /// A fresh instance.
    pub fn new(spec: &'static EncSpec) -> Self {
        Self {
            spec,
            props: Props::new(spec.fixed),
            failure: Failure::for_element(spec.element),
            engine: Mutex::default(),
            formats: Mutex::default(),
        }
    }

    /// `GstVideoEncoder::start`.
    pub fn start(&self, enc: &gst_video::VideoEncoder) -> Result<(), gst::ErrorMessage> {
        self.failure.reset();
        if self.failure.fails_at_open() {
            return Err(gst::error_msg!(gst::ResourceError::OpenReadWrite, ["{}", self.spec.open_error]));
        }
        if !self.spec.controls.is_empty()
            && let Some(extra) = enc.property::<Option<gst::Structure>>("extra-controls")
        {
            for (name, _) in extra.iter() {
                if !self.spec.controls.contains(&name.as_str()) {
                    // gstv4l2object.c gst_v4l2_object_set_controls: a warning, then the rest.
                    gst::warning!(
                        gst::CAT_RUST,
                        obj = enc,
                        "Control '{name}' does not exist or has an unsupported type."
                    );
                }
            }
        }
        Ok(())
    }

    /// `GstVideoEncoder::stop`.
    pub fn stop(&self) {
        self.failure.release();
        *self.engine.lock().expect("engine") = None;
        *self.formats.lock().expect("formats") = None;
    }

    /// `GstVideoEncoder::set_format`.
    pub fn set_format(
        &self,
        enc: &gst_video::VideoEncoder,
        state: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
    ) -> Result<(), gst::LoggableError> {
        let info = state.info();
        match self.failure.on_caps(info.width() as i32, info.height() as i32) {
            Some(Mode::NotNegotiated) => return Err(gst::loggable_error!(gst::CAT_RUST, "driver refused the format")),
            Some(_) => {
                gst::element_error!(enc, gst::ResourceError::OpenReadWrite, ["{}", self.spec.open_error]);
                return Err(gst::loggable_error!(gst::CAT_RUST, "device failed"));
            }
            None => {}
        }
        let input = state.caps_owned().ok_or_else(|| gst::loggable_error!(gst::CAT_RUST, "no input caps"))?;
        let template = enc.src_pad().pad_template_caps();
        let allowed = enc.src_pad().peer_query_caps(Some(&template));
        if allowed.is_empty() {
            return Err(gst::loggable_error!(gst::CAT_RUST, "downstream accepts no H.264 this encoder makes"));
        }
        let s = allowed.structure(0).expect("non-empty");
        let profile = pick_string(s, "profile", self.spec.profiles)
            .ok_or_else(|| gst::loggable_error!(gst::CAT_RUST, "no supported profile downstream"))?
            .unwrap_or(self.spec.profiles[0]);
        let level = if self.spec.levels.is_empty() {
            None
        } else {
            Some(
                pick_string(s, "level", self.spec.levels)
                    .ok_or_else(|| gst::loggable_error!(gst::CAT_RUST, "no supported level downstream"))?
                    .unwrap_or(self.spec.levels[0]),
            )
        };
        let mut out = gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .field("profile", profile)
            .build();
        if let Some(l) = level {
            out.make_mut().set("level", l);
        }
        let same = self.formats.lock().expect("formats").as_ref() == Some(&(input.clone(), out.clone()));
        if !same || self.engine.lock().expect("engine").is_none() {
            // A real device is reprogrammed (and restarts with an IDR) only when the format
            // changes.
            let x = (self.spec.x264)(enc.upcast_ref());
            let engine = Engine::encoder(&input, &out, &x)
                .map_err(|e| gst::loggable_error!(gst::CAT_RUST, "x264 engine: {e}"))?;
            *self.engine.lock().expect("engine") = Some(engine);
            *self.formats.lock().expect("formats") = Some((input.clone(), out.clone()));
        }
        let output = enc
            .set_output_state(out, Some(state))
            .map_err(|e| gst::loggable_error!(gst::CAT_RUST, "output state: {e:?}"))?;
        enc.negotiate(output).map_err(|e| gst::loggable_error!(gst::CAT_RUST, "downstream refused: {e:?}"))?;
        Ok(())
    }

    /// Whether the real element writes a frame's `GstVideoCaptionMeta` into an SEI:
    /// `vah264enc`/`vah264lpenc` do when `cc-insert` is on (gstvah264enc.c, its default);
    /// `v4l2h264enc` ignores it (gstv4l2videoenc.c never reads caption meta).
    /// `vaapih264enc` keeps what the double did before (the private x264enc writes it).
    fn writes_caption_meta(&self, enc: &gst_video::VideoEncoder) -> bool {
        match self.spec.element {
            "v4l2h264enc" => false,
            "vah264enc" | "vah264lpenc" => enc.property::<bool>("cc-insert"),
            _ => true,
        }
    }

    /// `GstVideoEncoder::handle_frame`.
    pub fn handle_frame(
        &self,
        enc: &gst_video::VideoEncoder,
        mut frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        match self.failure.on_frame() {
            Verdict::Go => {}
            Verdict::Fail(Mode::Error) => {
                // gstv4l2videoenc.c handle_frame / gstvabaseenc.c: "Failed to encode frame".
                gst::element_error!(enc, gst::StreamError::Encode, ["Failed to process frame."]);
                return Err(gst::FlowError::Error);
            }
            Verdict::Fail(Mode::NotNegotiated) => return Err(gst::FlowError::NotNegotiated),
            Verdict::Fail(Mode::Stall) => {
                self.failure.stall();
                return Err(gst::FlowError::Flushing);
            }
        }
        let mut input = frame.input_buffer_owned().ok_or(gst::FlowError::Error)?;
        if !self.writes_caption_meta(enc) && input.meta::<gst_video::VideoCaptionMeta>().is_some() {
            // The private x264enc would write the meta into an SEI; the hardware does not.
            let buffer = input.make_mut();
            while let Some(meta) = buffer.meta_mut::<gst_video::VideoCaptionMeta>() {
                meta.remove().map_err(|_| gst::FlowError::Error)?;
            }
        }
        let guard = self.engine.lock().expect("engine");
        let engine = guard.as_ref().ok_or(gst::FlowError::NotNegotiated)?;
        engine.push(input)?;
        let Some(sample) = engine.pull_encoded() else {
            let why = engine.error().unwrap_or_else(|| "no output".into());
            gst::element_error!(enc, gst::StreamError::Encode, ["Failed to encode frame: {why}"]);
            return Err(gst::FlowError::Error);
        };
        drop(guard);
        let buffer = sample.buffer().ok_or(gst::FlowError::Error)?.copy();
        if buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
            frame.unset_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
        } else {
            frame.set_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
        }
        frame.set_output_buffer(buffer);
        enc.finish_frame(frame)
    }

    /// `GstVideoEncoder::finish` (EOS): x264 in zerolatency holds nothing back.
    pub fn finish(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        Ok(gst::FlowSuccess::Ok)
    }
}

/// Define one encoder element type.
macro_rules! encoder_element {
    ($module:ident, $wrapper:ident, $type_name:literal, $spec:expr) => {
        pub mod $module {
            use std::sync::LazyLock;

            use glib::subclass::prelude::*;
            use gstreamer as gst;
            use gstreamer::prelude::*;
            use gstreamer::subclass::prelude::*;
            use gstreamer_video as gst_video;
            use gstreamer_video::subclass::prelude::*;

            use crate::enc::{EncCore, EncSpec};

            /// The spec.
            pub static SPEC: EncSpec = $spec;

            /// Instance state.
            pub struct Imp {
                core: EncCore,
            }

            #[glib::object_subclass]
            impl ObjectSubclass for Imp {
                const NAME: &'static str = $type_name;
                type Type = super::$wrapper;
                type ParentType = gst_video::VideoEncoder;

                fn new() -> Self {
                    Self { core: EncCore::new(&SPEC) }
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
                            "Codec/Encoder/Video/Hardware",
                            SPEC.description,
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
                        // A stalled streaming thread holds the stream lock: let it go first.
                        self.core.failure.release();
                    }
                    self.parent_change_state(t)
                }
            }

            impl VideoEncoderImpl for Imp {
                fn start(&self) -> Result<(), gst::ErrorMessage> {
                    self.core.start(self.obj().upcast_ref())
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
                fn finish(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
                    self.core.finish()
                }
            }
        }

        glib::wrapper! {
            /// The element.
            pub struct $wrapper(ObjectSubclass<$module::Imp>)
                @extends gstreamer_video::VideoEncoder, gstreamer::Element, gstreamer::Object;
        }
    };
}

pub(crate) use encoder_element;
