//! H.264 encoder choice and settings. The registry is probed in order `v4l2h264enc` (Pi),
//! `vah264enc`, `vah264lpenc` (x86 VA-API; Intel chips with only the low-power entry point
//! have just the latter), `vaapih264enc` (legacy VA-API), `x264enc`, `openh264enc`, unless the
//! config names one. A registered encoder is trusted only after it encoded a few frames of the
//! channel's caps with these settings ([`super::verify`]); one that cannot open its device is
//! skipped with a log line saying why. Every encoder gets a fixed 2 s GOP, CBR at the channel
//! bitrate, no B-frames, and no scene-cut keyframes, so keyframes (and HLS segments) fall
//! exactly every 2 s.

use gstreamer::prelude::*;

use crate::config::EncoderChoice;
use crate::elements::{self, Factory, OPENH264ENC, System, V4L2H264ENC, VAAPIH264ENC, VAH264ENC, VAH264LPENC, X264ENC};

/// An H.264 encoder we know how to configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderKind {
    /// Raspberry Pi 3/4 hardware encoder (V4L2 M2M).
    V4l2,
    /// VA-API (new `va` plugin).
    Va,
    /// VA-API low-power entry point (`VAEntrypointEncSliceLP`, new `va` plugin).
    VaLp,
    /// VA-API (legacy gstreamer-vaapi).
    Vaapi,
    /// Software x264 (GPL).
    X264,
    /// Software OpenH264 (BSD).
    OpenH264,
}

/// Probe order for [`EncoderChoice::Auto`].
pub const PROBE_ORDER: [EncoderKind; 6] = [
    EncoderKind::V4l2,
    EncoderKind::Va,
    EncoderKind::VaLp,
    EncoderKind::Vaapi,
    EncoderKind::X264,
    EncoderKind::OpenH264,
];

/// No usable encoder.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// The configured element is not one playout knows.
    #[error(
        "encoder {0:?} is not available (known: v4l2h264enc, vah264enc, vah264lpenc, vaapih264enc, x264enc, openh264enc)"
    )]
    Unavailable(String),
    /// The configured encoder is not in the registry; the message says what to install.
    #[error("{}", .0.factory().missing())]
    NotInstalled(EncoderKind),
    /// The configured element exists but failed its trial encode.
    #[error("encoder {name} failed its trial encode: {reason}")]
    Failed {
        /// Element name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A setting could not be applied to the element.
    #[error("encoder {element} refused {property}={value}: {reason}")]
    Setting {
        /// Element name.
        element: &'static str,
        /// Property.
        property: &'static str,
        /// Value as text.
        value: String,
        /// Why (no such property, or a value of the wrong type or range).
        reason: String,
    },
    /// Auto probing found nothing.
    #[error(
        "no H.264 encoder found in the GStreamer registry ({})",
        elements::missing_line(X264ENC, System::detect(), false)
    )]
    NoneFound,
}

impl EncoderKind {
    /// The GStreamer element.
    pub fn factory(self) -> Factory {
        match self {
            Self::V4l2 => V4L2H264ENC,
            Self::Va => VAH264ENC,
            Self::VaLp => VAH264LPENC,
            Self::Vaapi => VAAPIH264ENC,
            Self::X264 => X264ENC,
            Self::OpenH264 => OPENH264ENC,
        }
    }

    /// The GStreamer element name.
    pub fn element(self) -> &'static str {
        self.factory().name()
    }

    /// The kind for an element name.
    pub fn from_element(name: &str) -> Option<Self> {
        PROBE_ORDER.into_iter().find(|k| k.element() == name)
    }

    /// Raw video format the encoder takes without a conversion.
    pub fn input_format(self) -> &'static str {
        match self {
            Self::V4l2 | Self::Va | Self::VaLp | Self::Vaapi => "NV12",
            Self::X264 | Self::OpenH264 => "I420",
        }
    }

    /// Whether the output width must be a multiple of 64 (Pi stride rule).
    pub fn needs_width_multiple_of_64(self) -> bool {
        matches!(self, Self::V4l2)
    }

    /// Properties to set, as (name, value-as-string) pairs, for a GOP of `gop` frames at
    /// `kbps` kbit/s CBR.
    pub fn settings(self, gop: u64, kbps: u32) -> Vec<(&'static str, String)> {
        match self {
            Self::V4l2 => vec![(
                "extra-controls",
                format!(
                    "controls,h264_i_frame_period={gop},video_bitrate={},video_bitrate_mode=1,repeat_sequence_header=1",
                    kbps * 1000
                ),
            )],
            Self::Va | Self::VaLp => vec![
                ("key-int-max", gop.to_string()),
                ("rate-control", "cbr".into()),
                ("bitrate", kbps.to_string()),
                ("b-frames", "0".into()),
            ],
            Self::Vaapi => vec![
                ("keyframe-period", gop.to_string()),
                ("rate-control", "cbr".into()),
                ("bitrate", kbps.to_string()),
                ("max-bframes", "0".into()),
            ],
            Self::X264 => vec![
                ("tune", "zerolatency".into()),
                ("speed-preset", "veryfast".into()),
                ("key-int-max", gop.to_string()),
                ("bitrate", kbps.to_string()),
                ("vbv-buf-capacity", "1000".into()),
                ("option-string", format!("scenecut=0:min-keyint={gop}")),
            ],
            Self::OpenH264 => vec![
                ("gop-size", gop.to_string()),
                ("rate-control", "bitrate".into()),
                ("bitrate", (kbps * 1000).to_string()),
                ("scene-change-detection", "false".into()),
            ],
        }
    }

    /// Caps to put right after the encoder (`None` = no capsfilter). The Pi encoder takes its
    /// level and profile from downstream caps and may refuse to start without them.
    pub fn output_caps(self) -> Option<&'static str> {
        match self {
            Self::V4l2 => Some("video/x-h264,level=(string)4,profile=(string)high"),
            _ => None,
        }
    }
}

/// Choose the encoder: the configured one if it exists, else the first of [`PROBE_ORDER`]
/// that `available` says the registry has.
pub fn choose(choice: &EncoderChoice, available: impl Fn(&str) -> bool) -> Result<EncoderKind, EncoderError> {
    match choice {
        EncoderChoice::Named(name) => match EncoderKind::from_element(name) {
            Some(kind) if available(name) => Ok(kind),
            Some(kind) => Err(EncoderError::NotInstalled(kind)),
            None => Err(EncoderError::Unavailable(name.clone())),
        },
        EncoderChoice::Auto => PROBE_ORDER.into_iter().find(|k| available(k.element())).ok_or(EncoderError::NoneFound),
    }
}

/// Whether this is a hardware encoder.
impl EncoderKind {
    /// Hardware (V4L2 or VA) rather than software.
    pub fn is_hardware(self) -> bool {
        matches!(self, Self::V4l2 | Self::Va | Self::VaLp | Self::Vaapi)
    }
}

/// Apply `settings` to `element` without trusting them: each property must exist and its value
/// must parse for the property's type and range (what `set_property_from_str` would panic on).
pub fn configure(element: &gstreamer::Element, kind: EncoderKind, gop: u64, kbps: u32) -> Result<(), EncoderError> {
    for (property, value) in kind.settings(gop, kbps) {
        let refuse =
            |reason: String| EncoderError::Setting { element: kind.element(), property, value: value.clone(), reason };
        let pspec = element.find_property(property).ok_or_else(|| refuse("no such property".into()))?;
        let v = <gstreamer::glib::Value as GstValueExt>::deserialize_with_pspec(&value, &pspec)
            .map_err(|e| refuse(format!("not a valid {}: {e}", pspec.value_type())))?;
        if !in_range(&pspec, &v) {
            return Err(refuse(format!("out of range for {}", pspec.value_type())));
        }
        element.set_property_from_value(property, &v);
    }
    Ok(())
}

/// Whether a numeric value lies in the property's range (what GObject would clamp or refuse).
fn in_range(pspec: &gstreamer::glib::ParamSpec, v: &gstreamer::glib::Value) -> bool {
    use gstreamer::glib::{ParamSpecInt, ParamSpecInt64, ParamSpecUInt, ParamSpecUInt64};
    if let Some(p) = pspec.downcast_ref::<ParamSpecUInt>() {
        return v.get::<u32>().is_ok_and(|x| (p.minimum()..=p.maximum()).contains(&x));
    }
    if let Some(p) = pspec.downcast_ref::<ParamSpecInt>() {
        return v.get::<i32>().is_ok_and(|x| (p.minimum()..=p.maximum()).contains(&x));
    }
    if let Some(p) = pspec.downcast_ref::<ParamSpecUInt64>() {
        return v.get::<u64>().is_ok_and(|x| (p.minimum()..=p.maximum()).contains(&x));
    }
    if let Some(p) = pspec.downcast_ref::<ParamSpecInt64>() {
        return v.get::<i64>().is_ok_and(|x| (p.minimum()..=p.maximum()).contains(&x));
    }
    true
}

/// Probe (with a trial encode of the default profile) and remember the answer for the life of
/// the process: the director, the web page and the channels all see the same choice.
pub fn probe(choice: &EncoderChoice) -> Result<EncoderKind, EncoderError> {
    probe_with(choice, &crate::lineup::OutputProfile::default())
}

/// [`probe`], trying the encoders on `profile`'s caps if this choice was not probed yet.
pub fn probe_with(choice: &EncoderChoice, profile: &crate::lineup::OutputProfile) -> Result<EncoderKind, EncoderError> {
    type Cache = Vec<(EncoderChoice, Result<EncoderKind, String>)>;
    static CHOSEN: std::sync::Mutex<Cache> = std::sync::Mutex::new(Vec::new());
    let mut chosen = CHOSEN.lock().expect("encoder cache");
    if let Some((_, r)) = chosen.iter().find(|(c, _)| c == choice) {
        return r.clone().map_err(|reason| EncoderError::Failed { name: format!("{choice:?}"), reason });
    }
    let result = super::verify::choose_encoder(choice, profile);
    chosen.push((choice.clone(), result.as_ref().map(|k| *k).map_err(|e| e.to_string())));
    result
}

/// The encoders a channel falls back to when `chosen` fails on air: for
/// [`EncoderChoice::Auto`], the ones after it in [`PROBE_ORDER`] that the registry has and that
/// pass a trial encode of `profile` (each verified once for the life of the process); none
/// for a configured encoder (the channel is rebuilt on it).
pub fn fallbacks(
    choice: &EncoderChoice,
    chosen: EncoderKind,
    profile: &crate::lineup::OutputProfile,
) -> Vec<EncoderKind> {
    if !matches!(choice, EncoderChoice::Auto) {
        return Vec::new();
    }
    static VERIFIED: std::sync::Mutex<Vec<(EncoderKind, bool)>> = std::sync::Mutex::new(Vec::new());
    let after = PROBE_ORDER.iter().position(|k| *k == chosen).map_or(PROBE_ORDER.len(), |i| i + 1);
    let mut verified = VERIFIED.lock().expect("fallback cache");
    let mut out = Vec::new();
    for kind in PROBE_ORDER[after..].iter().copied().filter(|k| k.factory().is_available()) {
        let ok = match verified.iter().find(|(k, _)| *k == kind) {
            Some((_, ok)) => *ok,
            None => {
                let ok = super::verify::verify_fallback(kind, profile);
                verified.push((kind, ok));
                ok
            }
        };
        if ok {
            out.push(kind);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_hardware_then_x264_then_openh264() {
        let only = |names: &'static [&'static str]| move |n: &str| names.contains(&n);
        assert_eq!(choose(&EncoderChoice::Auto, only(&["x264enc", "v4l2h264enc"])).unwrap(), EncoderKind::V4l2);
        assert_eq!(choose(&EncoderChoice::Auto, only(&["openh264enc", "vaapih264enc"])).unwrap(), EncoderKind::Vaapi);
        assert_eq!(choose(&EncoderChoice::Auto, only(&["openh264enc", "x264enc"])).unwrap(), EncoderKind::X264);
        assert_eq!(choose(&EncoderChoice::Auto, only(&["openh264enc"])).unwrap(), EncoderKind::OpenH264);
        assert!(matches!(choose(&EncoderChoice::Auto, only(&[])), Err(EncoderError::NoneFound)));
    }

    #[test]
    fn a_named_encoder_must_exist_and_be_known() {
        let all = |_: &str| true;
        assert_eq!(choose(&EncoderChoice::Named("openh264enc".into()), all).unwrap(), EncoderKind::OpenH264);
        assert!(choose(&EncoderChoice::Named("nvh264enc".into()), all).is_err());
        assert!(choose(&EncoderChoice::Named("x264enc".into()), |n: &str| n != "x264enc").is_err());
    }

    #[test]
    fn settings_fix_the_gop_and_bitrate() {
        let x = EncoderKind::X264.settings(60, 2000);
        assert!(x.contains(&("key-int-max", "60".into())));
        assert!(x.iter().any(|(k, v)| *k == "option-string" && v.contains("scenecut=0")));
        let pi = EncoderKind::V4l2.settings(50, 3000);
        assert!(pi[0].1.contains("h264_i_frame_period=50") && pi[0].1.contains("video_bitrate=3000000"));
        assert!(EncoderKind::V4l2.output_caps().unwrap().contains("level=(string)4"));
        assert!(EncoderKind::V4l2.needs_width_multiple_of_64());
        assert_eq!(EncoderKind::OpenH264.settings(60, 1500)[2], ("bitrate", "1500000".into()));
    }

    #[test]
    fn this_machine_has_a_software_encoder() {
        gstreamer::init().unwrap();
        let kind = probe(&EncoderChoice::Auto).unwrap();
        assert!(matches!(
            kind,
            EncoderKind::X264 | EncoderKind::OpenH264 | EncoderKind::Va | EncoderKind::VaLp | EncoderKind::Vaapi
        ));
        assert_eq!(probe(&EncoderChoice::Named("openh264enc".into())).unwrap(), EncoderKind::OpenH264);
    }
}
