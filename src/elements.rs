//! Every GStreamer element Retrovue creates, or relies on GStreamer to create for it, in one
//! list ([`ELEMENTS`]). Each element names its plugin, and each plugin ([`PLUGINS`]) names the
//! Debian package that `scripts/deps.sh` installs and the Buildroot options that every
//! `buildroot/configs/*_defconfig` selects.
//!
//! Code creates elements only through a listed [`Factory`] ([`Factory::make`],
//! [`Factory::make_with`]) or a launch line checked against the list ([`launch`],
//! [`bin_from_description`]). A missing element becomes [`ElementError::Missing`], whose
//! message is the one line that says what to install. `tests/elements.rs` keeps the list true:
//! no creation call outside this file, every name in a launch line listed, every plugin file
//! owned (`dpkg -S`) by the package named here and installed by `deps.sh`, every option in
//! every defconfig. A foundation module: it imports nothing internal.
//!
//! Retrovue's own elements (`playout::colours::ColourMatrix`) are types of this crate, made
//! with their constructors, never looked up by name: they need no plugin, so they are not
//! on the list.

use std::fmt;
use std::sync::OnceLock;

use gstreamer as gst;
use gstreamer::element_factory::ElementBuilder;

/// A GStreamer element factory name that is on the list. Only this module makes them, so
/// holding one proves the name is listed and mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Factory(&'static str);

/// Why the code needs an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Created by name: through a [`Factory`] or in a launch line.
    Direct,
    /// One of the H.264 encoders playout probes (`playout::encoder`); the first present wins,
    /// so none of them alone is required.
    Encoder,
    /// Created by GStreamer on our behalf; the text says by what (uridecodebin, decodebin and
    /// Discoverer for the containers and codecs `library::scan` accepts, playbin's
    /// `convert-sample` for thumbnails).
    Implicit(&'static str),
}

/// One element of the list.
#[derive(Debug, Clone, Copy)]
pub struct Element {
    /// The factory.
    pub factory: Factory,
    /// The plugin that registers it (`gst-inspect-1.0 NAME`, "Plugin Details: Name").
    pub plugin: &'static str,
    /// Why it is needed.
    pub used: Use,
    /// `Some(what)` when the plugin registers the element only if that hardware is present,
    /// so a machine without it lacks the element with the plugin installed.
    pub hardware: Option<&'static str>,
}

/// Where a plugin comes from on Debian 12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Debian {
    /// This package holds the plugin file, and `scripts/deps.sh` installs it.
    Package(&'static str),
    /// This package holds it, but `deps.sh` leaves it out, for the reason given.
    Optional {
        /// The package.
        package: &'static str,
        /// Why it is not installed.
        why: &'static str,
    },
}

impl Debian {
    /// The package name.
    pub fn package(self) -> &'static str {
        match self {
            Self::Package(p) | Self::Optional { package: p, .. } => p,
        }
    }
}

/// What builds a plugin into the appliance image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buildroot {
    /// Every defconfig selects these options (`OPTION=y`).
    All(&'static [&'static str]),
    /// Only the defconfigs whose file name holds one of `boards` select `options`.
    Boards {
        /// Parts of defconfig file names (`x86_64` → `retrovue_x86_64_defconfig`).
        boards: &'static [&'static str],
        /// The options.
        options: &'static [&'static str],
        /// Why the other boards leave it out.
        why: &'static str,
    },
    /// No image has it, for the reason given.
    Absent(&'static str),
}

impl Buildroot {
    /// The options a defconfig named `defconfig` must select.
    pub fn options_for(self, defconfig: &str) -> &'static [&'static str] {
        match self {
            Self::All(o) => o,
            Self::Boards { boards, options, .. } if boards.iter().any(|b| defconfig.contains(b)) => options,
            Self::Boards { .. } | Self::Absent(_) => &[],
        }
    }
}

/// One plugin: its package and its Buildroot options.
#[derive(Debug, Clone, Copy)]
pub struct Plugin {
    /// The plugin name.
    pub name: &'static str,
    /// Debian.
    pub debian: Debian,
    /// Buildroot.
    pub buildroot: Buildroot,
    /// For a plugin none of whose elements is listed: what needs it.
    pub needed_by: Option<&'static str>,
}

// The factories the code names. Elements GStreamer creates for us are in ELEMENTS only.
/// `queue`
pub const QUEUE: Factory = Factory("queue");
/// `capsfilter`
pub const CAPSFILTER: Factory = Factory("capsfilter");
/// `identity`
pub const IDENTITY: Factory = Factory("identity");
/// `tee`
pub const TEE: Factory = Factory("tee");
/// `fakesink`
pub const FAKESINK: Factory = Factory("fakesink");
/// `filesink`
pub const FILESINK: Factory = Factory("filesink");
/// `appsink` (made through `gstreamer_app::AppSink::builder`)
pub const APPSINK: Factory = Factory("appsink");
/// `videotestsrc`
pub const VIDEOTESTSRC: Factory = Factory("videotestsrc");
/// `audiotestsrc`
pub const AUDIOTESTSRC: Factory = Factory("audiotestsrc");
/// `compositor`
pub const COMPOSITOR: Factory = Factory("compositor");
/// `audiomixer`
pub const AUDIOMIXER: Factory = Factory("audiomixer");
/// `audioconvert`
pub const AUDIOCONVERT: Factory = Factory("audioconvert");
/// `audioresample`
pub const AUDIORESAMPLE: Factory = Factory("audioresample");
/// `volume`
pub const VOLUME: Factory = Factory("volume");
/// `videoconvert`
pub const VIDEOCONVERT: Factory = Factory("videoconvert");
/// `videoscale`
pub const VIDEOSCALE: Factory = Factory("videoscale");
/// `videorate`
pub const VIDEORATE: Factory = Factory("videorate");
/// `deinterlace`
pub const DEINTERLACE: Factory = Factory("deinterlace");
/// `h264parse`
pub const H264PARSE: Factory = Factory("h264parse");
/// `aacparse`
pub const AACPARSE: Factory = Factory("aacparse");
/// `avenc_aac`
pub const AVENC_AAC: Factory = Factory("avenc_aac");
/// `mpegtsmux`
pub const MPEGTSMUX: Factory = Factory("mpegtsmux");
/// `uridecodebin`
pub const URIDECODEBIN: Factory = Factory("uridecodebin");
/// `decodebin`
pub const DECODEBIN: Factory = Factory("decodebin");
/// `playbin`
pub const PLAYBIN: Factory = Factory("playbin");
/// `overlaycomposition`
pub const OVERLAYCOMPOSITION: Factory = Factory("overlaycomposition");
/// `textoverlay`
pub const TEXTOVERLAY: Factory = Factory("textoverlay");
/// `mp4mux`
pub const MP4MUX: Factory = Factory("mp4mux");
/// `matroskamux`
pub const MATROSKAMUX: Factory = Factory("matroskamux");
/// `v4l2h264enc`: Raspberry Pi 3/4 hardware H.264 encoder.
pub const V4L2H264ENC: Factory = Factory("v4l2h264enc");
/// `vah264enc`: VA-API (the `va` plugin).
pub const VAH264ENC: Factory = Factory("vah264enc");
/// Intel VA-API low-power H.264 encoder (chips with only `VAEntrypointEncSliceLP`).
pub const VAH264LPENC: Factory = Factory("vah264lpenc");
/// Raspberry Pi 4 hardware H.264 decoder (stateful V4L2).
pub const V4L2H264DEC: Factory = Factory("v4l2h264dec");
/// Stateless V4L2 H.264 decoder (v4l2codecs).
pub const V4L2SLH264DEC: Factory = Factory("v4l2slh264dec");
/// VA-API H.264 decoder.
pub const VAH264DEC: Factory = Factory("vah264dec");
/// `vaapih264enc`: VA-API (legacy gstreamer-vaapi).
pub const VAAPIH264ENC: Factory = Factory("vaapih264enc");
/// `x264enc`: software, GPL.
pub const X264ENC: Factory = Factory("x264enc");
/// `openh264enc`: software, BSD.
pub const OPENH264ENC: Factory = Factory("openh264enc");

const fn direct(factory: Factory, plugin: &'static str) -> Element {
    Element { factory, plugin, used: Use::Direct, hardware: None }
}

const fn encoder(factory: Factory, plugin: &'static str, hardware: Option<&'static str>) -> Element {
    Element { factory, plugin, used: Use::Encoder, hardware }
}

const DECODED_BY: &str = "uridecodebin/decodebin/Discoverer, for the media library::scan accepts";

const fn decoded(name: &'static str, plugin: &'static str) -> Element {
    Element { factory: Factory(name), plugin, used: Use::Implicit(DECODED_BY), hardware: None }
}

const fn thumbnail(name: &'static str, plugin: &'static str) -> Element {
    Element {
        factory: Factory(name),
        plugin,
        used: Use::Implicit("playbin's convert-sample (library::thumbnail)"),
        hardware: None,
    }
}

/// Every element, grouped by why it is needed.
pub const ELEMENTS: &[Element] = &[
    // Created by name: playout's channel and item pipelines, graphics, alert audio, the
    // loudness meter, thumbnails, `retrovue demo` and `retrovue selftest`.
    direct(QUEUE, "coreelements"),
    direct(CAPSFILTER, "coreelements"),
    direct(IDENTITY, "coreelements"),
    direct(TEE, "coreelements"),
    direct(FAKESINK, "coreelements"),
    direct(FILESINK, "coreelements"),
    direct(APPSINK, "app"),
    direct(VIDEOTESTSRC, "videotestsrc"),
    direct(AUDIOTESTSRC, "audiotestsrc"),
    direct(COMPOSITOR, "compositor"),
    direct(AUDIOMIXER, "audiomixer"),
    direct(AUDIOCONVERT, "audioconvert"),
    direct(AUDIORESAMPLE, "audioresample"),
    direct(VOLUME, "volume"),
    direct(VIDEOCONVERT, "videoconvertscale"),
    direct(VIDEOSCALE, "videoconvertscale"),
    direct(VIDEORATE, "videorate"),
    direct(DEINTERLACE, "deinterlace"),
    direct(H264PARSE, "videoparsersbad"),
    direct(AACPARSE, "audioparsers"),
    direct(AVENC_AAC, "libav"),
    direct(MPEGTSMUX, "mpegtsmux"),
    direct(URIDECODEBIN, "playback"),
    direct(DECODEBIN, "playback"),
    direct(PLAYBIN, "playback"),
    direct(OVERLAYCOMPOSITION, "overlaycomposition"),
    direct(TEXTOVERLAY, "pango"),
    direct(MP4MUX, "isomp4"),
    direct(MATROSKAMUX, "matroska"),
    // x264enc is also the encoder playout probes after the hardware ones; the demo clips are
    // encoded with it, so it is required.
    direct(X264ENC, "x264"),
    // The other encoders playout probes, in its order.
    encoder(
        V4L2H264ENC,
        "video4linux2",
        Some("a V4L2 memory-to-memory H.264 encoder (Raspberry Pi 3/4: /dev/video11)"),
    ),
    encoder(VAH264ENC, "va", Some("a VA-API driver with H.264 encode (Intel/AMD GPU: /dev/dri/renderD128)")),
    encoder(
        VAH264LPENC,
        "va",
        Some("a VA-API driver with the low-power H.264 encode entry point (Intel GPU: /dev/dri/renderD128)"),
    ),
    // The hardware decoders playout verifies and prefers for H.264 items (playout::verify).
    encoder(V4L2H264DEC, "video4linux2", Some("a V4L2 memory-to-memory H.264 decoder (Raspberry Pi 4: /dev/video10)")),
    encoder(V4L2SLH264DEC, "v4l2codecs", Some("a stateless V4L2 H.264 decoder (media controller device)")),
    encoder(VAH264DEC, "va", Some("a VA-API driver with H.264 decode (Intel/AMD GPU: /dev/dri/renderD128)")),
    encoder(VAAPIH264ENC, "vaapi", Some("a VA-API driver with H.264 encode (Intel/AMD GPU: /dev/dri/renderD128)")),
    encoder(OPENH264ENC, "openh264", None),
    // Sources, type finding and queues of uridecodebin/decodebin.
    decoded("filesrc", "coreelements"),
    decoded("souphttpsrc", "soup"),
    decoded("typefind", "coreelements"),
    decoded("multiqueue", "coreelements"),
    decoded("queue2", "coreelements"),
    // Demuxers for the extensions library::scan accepts: mkv/webm, mp4/m4v/mov/3gp, avi, flv,
    // ts/m2ts/mts, mpg/mpeg/vob, wmv, ogv.
    decoded("matroskademux", "matroska"),
    decoded("qtdemux", "isomp4"),
    decoded("avidemux", "avi"),
    decoded("flvdemux", "flv"),
    decoded("tsdemux", "mpegtsdemux"),
    decoded("mpegpsdemux", "mpegpsdemux"),
    decoded("asfdemux", "asf"),
    decoded("oggdemux", "ogg"),
    // ASS/SSA subtitle tracks become text for the library's analysis pass (library::loudness
    // reads an item's text subtitle track; Matroska's SubRip and MP4's mov_text come out of the
    // demuxers as text already).
    decoded("ssaparse", "subparse"),
    // Parsers decodebin puts before the decoders.
    decoded("h265parse", "videoparsersbad"),
    decoded("mpegvideoparse", "videoparsersbad"),
    decoded("mpeg4videoparse", "videoparsersbad"),
    decoded("ac3parse", "audioparsers"),
    decoded("mpegaudioparse", "audioparsers"),
    decoded("flacparse", "audioparsers"),
    // Video decoders: H.264, HEVC, MPEG-2, MPEG-4 part 2, VC-1/WMV, VP8, VP9, Theora.
    decoded("avdec_h264", "libav"),
    decoded("avdec_h265", "libav"),
    decoded("avdec_mpeg2video", "libav"),
    decoded("avdec_mpeg4", "libav"),
    decoded("avdec_wmv3", "libav"),
    decoded("avdec_vp8", "libav"),
    decoded("avdec_vp9", "libav"),
    decoded("theoradec", "theora"),
    // Audio decoders: AAC, AC-3, E-AC-3, MPEG-1 layer 2 and 3, WMA, Vorbis, Opus, FLAC.
    decoded("avdec_aac", "libav"),
    decoded("avdec_ac3", "libav"),
    decoded("avdec_eac3", "libav"),
    decoded("avdec_mp2float", "libav"),
    decoded("mpg123audiodec", "mpg123"),
    decoded("avdec_wmav2", "libav"),
    decoded("vorbisdec", "vorbis"),
    decoded("opusdec", "opus"),
    decoded("flacdec", "flac"),
    // playbin's convert-sample: appsrc ! videoconvert ! videoscale ! jpegenc ! appsink.
    thumbnail("appsrc", "app"),
    thumbnail("jpegenc", "jpeg"),
];

const BASE: Debian = Debian::Package("gstreamer1.0-plugins-base");
const GOOD: Debian = Debian::Package("gstreamer1.0-plugins-good");
const BAD: Debian = Debian::Package("gstreamer1.0-plugins-bad");
const UGLY: Debian = Debian::Package("gstreamer1.0-plugins-ugly");

const fn plugin(name: &'static str, debian: Debian, options: &'static [&'static str]) -> Plugin {
    Plugin { name, debian, buildroot: Buildroot::All(options), needed_by: None }
}

/// Every plugin the elements come from. Buildroot names are those of 2026.02.x
/// (`package/gstreamer1/*/Config.in`); a `*_PLUGINS_{BASE,GOOD,BAD,UGLY}_*` option also needs
/// its family's `BR2_PACKAGE_GST1_PLUGINS_*=y`, which `tests/elements.rs` checks too.
pub const PLUGINS: &[Plugin] = &[
    // GStreamer's own elements: built whenever GStreamer is.
    plugin("coreelements", Debian::Package("libgstreamer1.0-0"), &["BR2_PACKAGE_GSTREAMER1"]),
    plugin("app", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_APP"]),
    plugin("audioconvert", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_AUDIOCONVERT"]),
    plugin("audiomixer", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_AUDIOMIXER"]),
    plugin("audioresample", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_AUDIORESAMPLE"]),
    plugin("audiotestsrc", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_AUDIOTESTSRC"]),
    plugin("compositor", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_COMPOSITOR"]),
    plugin("overlaycomposition", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_OVERLAYCOMPOSITION"]),
    plugin("playback", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_PLAYBACK"]),
    plugin("videoconvertscale", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_VIDEOCONVERTSCALE"]),
    plugin("videorate", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_VIDEORATE"]),
    plugin("videotestsrc", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_VIDEOTESTSRC"]),
    plugin("volume", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_VOLUME"]),
    plugin("ogg", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_OGG"]),
    plugin("theora", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_THEORA"]),
    plugin("vorbis", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_VORBIS"]),
    plugin("opus", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_OPUS"]),
    plugin("subparse", BASE, &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_SUBPARSE"]),
    Plugin {
        name: "typefindfunctions",
        debian: BASE,
        buildroot: Buildroot::All(&["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_TYPEFIND"]),
        needed_by: Some("decodebin's type finding (what container a file is)"),
    },
    // Debian puts the pango plugin (textoverlay) in gstreamer1.0-x, a mere Recommends of
    // gstreamer1.0-plugins-base, which deps.sh's --no-install-recommends skips (issue #15).
    plugin("pango", Debian::Package("gstreamer1.0-x"), &["BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_PANGO"]),
    plugin("audioparsers", GOOD, &["BR2_PACKAGE_GST1_PLUGINS_GOOD_PLUGIN_AUDIOPARSERS"]),
    plugin("deinterlace", GOOD, &["BR2_PACKAGE_GST1_PLUGINS_GOOD_PLUGIN_DEINTERLACE"]),
    plugin("isomp4", GOOD, &["BR2_PACKAGE_GST1_PLUGINS_GOOD_PLUGIN_ISOMP4"]),
    plugin("matroska", GOOD, &["BR2_PACKAGE_GST1_PLUGINS_GOOD_PLUGIN_MATROSKA"]),
    plugin("avi", GOOD, &["BR2_PACKAGE_GST1_PLUGINS_GOOD_PLUGIN_AVI"]),
    plugin("flv", GOOD, &["BR2_PACKAGE_GST1_PLUGINS_GOOD_PLUGIN_FLV"]),
    plugin("mpg123", GOOD, &["BR2_PACKAGE_GST1_PLUGINS_GOOD_PLUGIN_MPG123"]),
    plugin("flac", GOOD, &["BR2_PACKAGE_GST1_PLUGINS_GOOD_PLUGIN_FLAC"]),
    plugin("jpeg", GOOD, &["BR2_PACKAGE_GST1_PLUGINS_GOOD_JPEG"]),
    // Plex items without a path map play over HTTP(S): libsoup 3 with TLS.
    plugin("soup", GOOD, &["BR2_PACKAGE_GST1_PLUGINS_GOOD_PLUGIN_SOUPHTTPSRC", "BR2_PACKAGE_LIBSOUP3_SSL"]),
    // v4l2h264enc is registered only when V4L2_PROBE lets the plugin look for M2M devices.
    plugin(
        "video4linux2",
        GOOD,
        &["BR2_PACKAGE_GST1_PLUGINS_GOOD_PLUGIN_V4L2", "BR2_PACKAGE_GST1_PLUGINS_GOOD_PLUGIN_V4L2_PROBE"],
    ),
    plugin("videoparsersbad", BAD, &["BR2_PACKAGE_GST1_PLUGINS_BAD_PLUGIN_VIDEOPARSERS"]),
    plugin("mpegtsmux", BAD, &["BR2_PACKAGE_GST1_PLUGINS_BAD_PLUGIN_MPEGTSMUX"]),
    plugin("mpegtsdemux", BAD, &["BR2_PACKAGE_GST1_PLUGINS_BAD_PLUGIN_MPEGTSDEMUX"]),
    plugin("mpegpsdemux", BAD, &["BR2_PACKAGE_GST1_PLUGINS_BAD_PLUGIN_MPEGDEMUX"]),
    Plugin {
        name: "va",
        debian: BAD,
        buildroot: Buildroot::Boards {
            boards: &["x86_64"],
            options: &["BR2_PACKAGE_GST1_PLUGINS_BAD_PLUGIN_VA"],
            why: "VA-API is the PC's encoder; the Pis encode with v4l2h264enc",
        },
        needed_by: None,
    },
    Plugin {
        name: "v4l2codecs",
        debian: BAD,
        buildroot: Buildroot::Absent("the boards we ship have stateful V4L2 decoders (v4l2h264dec) or none for H.264"),
        needed_by: None,
    },
    Plugin {
        name: "openh264",
        debian: BAD,
        buildroot: Buildroot::Absent("the images encode in software with x264enc"),
        needed_by: None,
    },
    plugin("x264", UGLY, &["BR2_PACKAGE_GST1_PLUGINS_UGLY_PLUGIN_X264"]),
    plugin("asf", UGLY, &["BR2_PACKAGE_GST1_PLUGINS_UGLY_PLUGIN_ASFDEMUX"]),
    // Buildroot's FFmpeg builds every encoder and decoder by default (BR2_PACKAGE_FFMPEG_*).
    plugin("libav", Debian::Package("gstreamer1.0-libav"), &["BR2_PACKAGE_GST1_LIBAV"]),
    Plugin {
        name: "vaapi",
        debian: Debian::Optional {
            package: "gstreamer1.0-vaapi",
            why: "legacy VA-API; vah264enc from gstreamer1.0-plugins-bad is probed first",
        },
        buildroot: Buildroot::Absent("the PC image uses the va plugin (vah264enc)"),
        needed_by: None,
    },
];

impl Factory {
    /// The factory name.
    pub const fn name(self) -> &'static str {
        self.0
    }

    /// The listed factory called `name` (a configured encoder, say).
    pub fn listed(name: &str) -> Option<Factory> {
        ELEMENTS.iter().map(|e| e.factory).find(|f| f.0 == name)
    }

    /// Its entry in [`ELEMENTS`].
    pub fn element(self) -> &'static Element {
        ELEMENTS.iter().find(|e| e.factory == self).expect("every Factory is in ELEMENTS (tests/elements.rs)")
    }

    /// Its plugin's entry in [`PLUGINS`].
    pub fn plugin(self) -> &'static Plugin {
        plugin_named(self.element().plugin).expect("every element's plugin is in PLUGINS (tests/elements.rs)")
    }

    /// Whether the registry has it (call after `gst::init`).
    pub fn is_available(self) -> bool {
        self.registered().is_some()
    }

    /// Its factory in the registry, if present (to read or set its rank).
    pub fn registered(self) -> Option<gst::ElementFactory> {
        gst::ElementFactory::find(self.0)
    }

    /// Create one with default properties.
    pub fn make(self) -> Result<gst::Element, ElementError> {
        self.make_with(|b| b)
    }

    /// Create one, setting construction properties (and a name) through the builder.
    pub fn make_with<'a>(
        self,
        configure: impl FnOnce(ElementBuilder<'a>) -> ElementBuilder<'a>,
    ) -> Result<gst::Element, ElementError> {
        configure(gst::ElementFactory::make(self.0)).build().map_err(|source| self.error(source))
    }

    /// The error for this factory: missing (with the remedy) or failing to construct.
    fn error(self, source: gst::glib::BoolError) -> ElementError {
        if self.is_available() { ElementError::Create { factory: self, source } } else { self.missing() }
    }

    /// [`ElementError::Missing`] for this factory on this system.
    pub fn missing(self) -> ElementError {
        let plugin_present = gst::Registry::get().find_plugin(self.element().plugin).is_some();
        ElementError::Missing { factory: self, remedy: missing_line(self, System::detect(), plugin_present) }
    }
}

impl fmt::Display for Factory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The plugin called `name`, if listed.
pub fn plugin_named(name: &str) -> Option<&'static Plugin> {
    PLUGINS.iter().find(|p| p.name == name)
}

/// An element could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ElementError {
    /// The registry lacks it; the message says what to install.
    #[error("{remedy}")]
    Missing {
        /// The element.
        factory: Factory,
        /// The one line for the user.
        remedy: String,
    },
    /// A listed plugin no listed element comes from is missing (type finding).
    #[error("{remedy}")]
    MissingPlugin {
        /// The plugin.
        plugin: &'static str,
        /// The one line for the user.
        remedy: String,
    },
    /// The registry has it but it would not construct.
    #[error("cannot create GStreamer element {factory}: {source}")]
    Create {
        /// The element.
        factory: Factory,
        /// GStreamer's reason.
        #[source]
        source: gst::glib::BoolError,
    },
    /// A launch line names an element the list lacks (a bug: add it to src/elements.rs).
    #[error("GStreamer element {0:?} is not in the element list (src/elements.rs)")]
    Unlisted(String),
    /// A launch line did not parse or link.
    #[error("GStreamer launch line failed: {0}")]
    Launch(#[source] gst::glib::Error),
}

/// The kind of system, for the remedy's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// Debian, Ubuntu and the like: `apt-get install`.
    Apt,
    /// The appliance image: the defconfig lacks an option.
    Buildroot,
}

impl System {
    /// This machine, from `/etc/os-release` (`ID=buildroot` on the appliance).
    pub fn detect() -> System {
        static SYSTEM: OnceLock<System> = OnceLock::new();
        *SYSTEM.get_or_init(|| {
            let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
            if text.lines().any(|l| l.trim() == "ID=buildroot") { System::Buildroot } else { System::Apt }
        })
    }
}

/// What to do about a missing plugin on `system`.
fn install(plugin: &Plugin, system: System) -> String {
    match system {
        System::Apt => format!("install it with: apt-get install {}", plugin.debian.package()),
        System::Buildroot => match plugin.buildroot {
            Buildroot::All(options) | Buildroot::Boards { options, .. } => {
                let wanted: Vec<String> = options.iter().map(|o| format!("{o}=y")).collect();
                format!("this image was built without {}", wanted.join(" "))
            }
            Buildroot::Absent(why) => format!("the appliance image does not include it ({why})"),
        },
    }
}

/// The one line for a missing element: what it is, where it comes from, what to do.
/// `plugin_present` tells a hardware element's absence (no device) from a missing plugin.
pub fn missing_line(factory: Factory, system: System, plugin_present: bool) -> String {
    let element = factory.element();
    let plugin = factory.plugin();
    let what = format!("missing GStreamer element \"{factory}\" (plugin {})", plugin.name);
    match element.hardware {
        Some(hardware) if plugin_present => {
            format!("{what}: the plugin is installed but registers it only on a machine with {hardware}")
        }
        _ => format!("{what}: {}", install(plugin, system)),
    }
}

/// The factory names in a launch line (`gst-launch-1.0` syntax): every word that is not a
/// property (`k=v`), caps (`video/x-raw,...`), a link (`!`) or a reference (`mux.`).
pub fn launch_factories(desc: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    let mut quote = None;
    for (i, c) in desc.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => {
                quote = Some(c);
                start.get_or_insert(i);
            }
            (None, c) if c.is_whitespace() || c == '!' => {
                if let Some(s) = start.take() {
                    words.push(&desc[s..i]);
                }
            }
            (None, _) => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        words.push(&desc[s..]);
    }
    words.into_iter().filter(|w| !w.contains(['=', '/', '.', '"', '\'', '(', ')', '{', '}', ','])).collect()
}

/// Check every element of a launch line: listed, and present in the registry.
pub fn check_launch(desc: &str) -> Result<(), ElementError> {
    for name in launch_factories(desc) {
        let factory = Factory::listed(name).ok_or_else(|| ElementError::Unlisted(name.to_owned()))?;
        if !factory.is_available() {
            return Err(factory.missing());
        }
    }
    Ok(())
}

/// `gst::parse::launch` for a checked launch line.
pub fn launch(desc: &str) -> Result<gst::Element, ElementError> {
    check_launch(desc)?;
    gst::parse::launch(desc).map_err(ElementError::Launch)
}

/// `gst::parse::bin_from_description` for a checked launch line.
pub fn bin_from_description(desc: &str, ghost_unlinked_pads: bool) -> Result<gst::Bin, ElementError> {
    check_launch(desc)?;
    gst::parse::bin_from_description(desc, ghost_unlinked_pads).map_err(ElementError::Launch)
}

/// Everything the list requires that this machine lacks (call after `gst::init`): each
/// element created by name or by GStreamer for us (encoders are probed, so only their
/// absence as a group matters), and each plugin needed without a listed element.
pub fn missing() -> Vec<ElementError> {
    let system = System::detect();
    let registry = gst::Registry::get();
    let mut out: Vec<ElementError> = ELEMENTS
        .iter()
        .filter(|e| e.used != Use::Encoder && !e.factory.is_available())
        .map(|e| e.factory.missing())
        .collect();
    for p in PLUGINS.iter().filter(|p| p.needed_by.is_some()) {
        if registry.find_plugin(p.name).is_none() {
            let remedy = format!("missing GStreamer plugin \"{}\": {}", p.name, install(p, system));
            out.push(ElementError::MissingPlugin { plugin: p.name, remedy });
        }
    }
    out
}

/// What a probe returns to throw away the buffer or event it was given, without upsetting
/// GStreamer.
///
/// A probe that returns `PadProbeReturn::Drop` from gstreamer-rs 0.24 hands GStreamer back a
/// NULL where the data was (the Rust side already took and dropped it), and GStreamer 1.22
/// then unrefs that NULL: one `gst_mini_object_unref: assertion 'mini_object != NULL' failed`
/// CRITICAL per buffer on a sink pad, and per event on any pad (measured: `discard_tests`).
/// `Handled` drops the data on the Rust side and tells GStreamer it was taken care of: the
/// same effect, and no CRITICAL. Library and playout code alike throw data away with it.
pub const DISCARD: gst::PadProbeReturn = gst::PadProbeReturn::Handled;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_words_are_the_factories() {
        let desc = "videotestsrc num-buffers=30 pattern=smpte ! video/x-raw,width=640,height=480 ! \
                    textoverlay name=caption font-desc=\"Sans 24\" ! x264enc ! queue ! mp4mux name=mux ! filesink \
                    audiotestsrc ! audioconvert ! mux.";
        assert_eq!(
            launch_factories(desc),
            ["videotestsrc", "textoverlay", "x264enc", "queue", "mp4mux", "filesink", "audiotestsrc", "audioconvert"]
        );
        assert_eq!(launch_factories("queue!identity ! mux.src"), ["queue", "identity"]);
    }

    #[test]
    fn the_missing_line_says_what_to_install() {
        assert_eq!(
            missing_line(TEXTOVERLAY, System::Apt, false),
            "missing GStreamer element \"textoverlay\" (plugin pango): install it with: apt-get install gstreamer1.0-x"
        );
        assert_eq!(
            missing_line(TEXTOVERLAY, System::Buildroot, false),
            "missing GStreamer element \"textoverlay\" (plugin pango): this image was built without \
             BR2_PACKAGE_GST1_PLUGINS_BASE_PLUGIN_PANGO=y"
        );
        assert!(missing_line(V4L2H264ENC, System::Apt, true).contains("only on a machine with a V4L2"));
        assert!(missing_line(V4L2H264ENC, System::Apt, false).ends_with("apt-get install gstreamer1.0-plugins-good"));
        assert!(missing_line(VAAPIH264ENC, System::Apt, false).ends_with("apt-get install gstreamer1.0-vaapi"));
        assert!(missing_line(OPENH264ENC, System::Buildroot, false).contains("does not include it"));
    }

    #[test]
    fn every_element_has_one_entry_and_a_plugin() {
        for (i, e) in ELEMENTS.iter().enumerate() {
            assert!(plugin_named(e.plugin).is_some(), "{} names unlisted plugin {}", e.factory, e.plugin);
            assert!(!ELEMENTS[..i].iter().any(|o| o.factory == e.factory), "{} listed twice", e.factory);
        }
        for p in PLUGINS {
            let used = ELEMENTS.iter().any(|e| e.plugin == p.name);
            assert!(
                used != p.needed_by.is_some(),
                "plugin {}: needed_by must be set exactly when no element is",
                p.name
            );
        }
    }
}

#[cfg(test)]
mod discard_tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use gstreamer::prelude::*;

    use super::*;

    static CRITICALS: AtomicUsize = AtomicUsize::new(0);
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    /// Criticals while 20 frames pass a probe on `pad` of a queue that discards `mask` data
    /// (EOS excepted) by returning `ret`.
    fn criticals(ret: gst::PadProbeReturn, pad: &str, mask: gst::PadProbeType) -> usize {
        let _one = ONE_AT_A_TIME.lock().unwrap();
        gst::init().unwrap();
        let handler =
            glib::log_set_handler(Some("GStreamer"), glib::LogLevels::LEVEL_CRITICAL, false, false, |_, _, _| {
                CRITICALS.fetch_add(1, Ordering::SeqCst);
            });
        CRITICALS.store(0, Ordering::SeqCst);
        let p = super::launch("videotestsrc num-buffers=20 ! queue name=q ! fakesink")
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let q = p.by_name("q").unwrap();
        q.static_pad(pad).unwrap().add_probe(mask, move |_, info| {
            if info.event().is_some_and(|e| e.type_() == gst::EventType::Eos) { gst::PadProbeReturn::Ok } else { ret }
        });
        p.set_state(gst::State::Playing).unwrap();
        let bus = p.bus().unwrap();
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Eos, gst::MessageType::Error]);
        p.set_state(gst::State::Null).unwrap();
        glib::log_remove_handler(Some("GStreamer"), handler);
        CRITICALS.load(Ordering::SeqCst)
    }

    #[test]
    fn discarding_buffers_and_events_raises_no_critical() {
        for (pad, mask) in [
            ("sink", gst::PadProbeType::BUFFER),
            ("src", gst::PadProbeType::BUFFER),
            ("src", gst::PadProbeType::EVENT_DOWNSTREAM),
        ] {
            assert_eq!(criticals(DISCARD, pad, mask), 0, "{pad} {mask:?}");
        }
    }

    #[test]
    fn drop_is_what_raised_them() {
        // Why DISCARD is not `Drop`: should a gstreamer-rs upgrade fix this, this test says so.
        assert!(criticals(gst::PadProbeReturn::Drop, "sink", gst::PadProbeType::BUFFER) > 0);
    }
}
