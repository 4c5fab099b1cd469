//! The channels that exist: [`Channel`] with its [`GuideNumber`], name, output profile and
//! presentation settings. Owns the `channels` table ([`store`]), the channel's face to
//! clients — its logo ([`logo`]) and the one M3U playlist renderer ([`m3u`]) that the
//! guide's `/playlist.m3u` and the tuner's `/lineup.m3u` share — and its audio tracks
//! ([`language`]). Knows nothing of schedules or playout; those read a [`Lineup`] snapshot. A
//! setting with a range is a checked value ([`setting`]): one rule for the CLI, the web API,
//! `channel import` and what is stored.

pub mod language;
pub mod logo;
pub mod m3u;
pub mod setting;
pub mod store;
pub mod watch;

pub use setting::{AudioKbps, InvalidSetting, Opacity, RatingLimit, VideoKbps};
pub use watch::Lineups;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use language::{AudioTracks, Language, MissingLanguage};

/// Database id of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelId(pub i64);

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A channel number as clients see it: `5` or `5.1` (digits, at most one dot).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GuideNumber(String);

/// A string that is not a valid channel number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid channel number {0:?}: expected digits with at most one dot, such as 5 or 5.1")]
pub struct InvalidGuideNumber(pub String);

impl GuideNumber {
    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// (major, minor) for sorting: 5 < 5.1 < 5.2 < 12.
    pub fn sort_key(&self) -> (u32, u32) {
        let mut parts = self.0.splitn(2, '.');
        let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(u32::MAX);
        let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (major, minor)
    }
}

impl FromStr for GuideNumber {
    type Err = InvalidGuideNumber;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidGuideNumber(s.to_owned());
        let mut parts = s.split('.');
        let major = parts.next().ok_or_else(bad)?;
        let minor = parts.next();
        let digits = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
        if parts.next().is_some() || !digits(major) || minor.is_some_and(|m| !digits(m)) {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for GuideNumber {
    type Error = InvalidGuideNumber;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<GuideNumber> for String {
    fn from(n: GuideNumber) -> Self {
        n.0
    }
}

impl fmt::Display for GuideNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Output picture format of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum VideoFormat {
    /// 640x480, 4:3 square pixels (default: cheap and retro).
    #[default]
    Sd640x480,
    /// 704x480, 4:3.
    Sd704x480,
    /// 1280x720, 16:9.
    Hd720,
}

impl VideoFormat {
    /// (width, height) in pixels.
    pub fn size(self) -> (u32, u32) {
        match self {
            Self::Sd640x480 => (640, 480),
            Self::Sd704x480 => (704, 480),
            Self::Hd720 => (1280, 720),
        }
    }

    /// Whether the picture is 4:3 (so 16:9 sources are letterboxed).
    pub fn is_4x3(self) -> bool {
        !matches!(self, Self::Hd720)
    }
}

/// Output frame rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum FrameRate {
    /// 30000/1001 (NTSC).
    #[default]
    #[serde(rename = "29.97")]
    Ntsc,
    /// 25/1 (PAL).
    #[serde(rename = "25")]
    Pal,
}

impl FrameRate {
    /// (numerator, denominator).
    pub fn fraction(self) -> (i32, i32) {
        match self {
            Self::Ntsc => (30000, 1001),
            Self::Pal => (25, 1),
        }
    }
}

/// What the channel's encoder produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutputProfile {
    /// Picture size and shape.
    pub format: VideoFormat,
    /// Frame rate.
    pub frame_rate: FrameRate,
    /// Video bitrate in kbit/s (CBR).
    pub video_kbps: VideoKbps,
    /// Audio bitrate in kbit/s (AAC).
    pub audio_kbps: AudioKbps,
}

impl OutputProfile {
    /// 16x16 macroblocks the encoder codes per second for this profile: the unit every
    /// encoder budget is counted in (a partial macroblock at an edge counts whole).
    pub fn macroblocks_per_second(&self) -> u64 {
        let (w, h) = self.format.size();
        let (n, d) = self.frame_rate.fraction();
        let per_frame = u64::from(w.div_ceil(16)) * u64::from(h.div_ceil(16));
        (per_frame * n as u64).div_ceil(d as u64)
    }
}

impl Default for OutputProfile {
    fn default() -> Self {
        Self {
            format: VideoFormat::Sd640x480,
            frame_rate: FrameRate::Ntsc,
            video_kbps: VideoKbps::of(2000),
            audio_kbps: AudioKbps::of(128),
        }
    }
}

/// When the channel's pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChannelMode {
    /// Starts on the first viewer, stops after the idle grace period.
    #[default]
    OnDemand,
    /// Runs from daemon start.
    AlwaysOn,
}

/// How commercial breaks are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BreakStyle {
    /// About 8 minutes of breaks per half hour, several short breaks.
    #[default]
    Us,
    /// Fewer, longer breaks.
    Uk,
    /// No commercials: programs back to back, gaps filled.
    None,
}

/// Corner of the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Corner {
    /// Top left.
    TopLeft,
    /// Top right.
    TopRight,
    /// Bottom left.
    BottomLeft,
    /// Bottom right (the usual place for a bug).
    #[default]
    BottomRight,
}

/// When the channel bug shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BugRule {
    /// During programs only: hidden in breaks (default).
    #[default]
    ProgramsOnly,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The channel's on-screen logo ("bug").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BugSettings {
    /// PNG with alpha; when absent the bug is the channel's call sign or name as text.
    pub image: Option<std::path::PathBuf>,
    /// Text used when there is no image (default: call sign, else name).
    pub text: Option<String>,
    /// Corner.
    pub corner: Corner,
    /// Margin from the picture edge, as a fraction of the picture height.
    pub margin: f64,
    /// Height as a fraction of the picture height.
    pub size: f64,
    /// 0.0 (invisible) to 1.0 (opaque).
    pub opacity: Opacity,
    /// When it shows.
    pub rule: BugRule,
}

impl Default for BugSettings {
    fn default() -> Self {
        Self {
            image: None,
            text: None,
            corner: Corner::BottomRight,
            margin: 0.05,
            size: 0.12,
            opacity: Opacity::of(0.7),
            rule: BugRule::ProgramsOnly,
        }
    }
}

/// What a channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Programs from its grid, with breaks.
    #[default]
    Regular,
    /// A programme guide: a scrolling grid of every channel over a preview window (see
    /// [`GuideSettings`]); listed as "Program Guide".
    Guide,
}

/// The look of a channel's generated cards (bumpers, sign-off, test card): fonts, colours
/// and layout of a decade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum CardEra {
    /// Warm browns and oranges, a serif face, centred with rules.
    #[serde(rename = "1970s")]
    Seventies,
    /// Neon on a dark grid, a slanted sans, a perspective band (default).
    #[default]
    #[serde(rename = "1980s")]
    Eighties,
    /// Teal and purple, a monospaced face, boxes off to the left.
    #[serde(rename = "1990s")]
    Nineties,
}

/// The test card a channel shows while off the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TestCard {
    /// SMPTE colour bars with the call sign.
    #[default]
    Bars,
    /// A classic card: circle, grey scale, the call sign and the time.
    Classic,
}

/// Hours a channel is off the air: it signs off at `start`, shows its test card with a
/// 1 kHz tone, and signs on at `end` (local times on the hour or half hour; an `end` before
/// `start` is the next morning). Checked when set (`schedule::rules::OffAirRule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffAirHours {
    /// Days the window starts on: `daily`, `weekdays`, `mon-fri`, `sat,sun` ... (default daily).
    #[serde(default = "daily")]
    pub days: String,
    /// Sign-off, `HH:MM` local.
    pub start: String,
    /// Sign-on, `HH:MM` local.
    pub end: String,
    /// The card in between.
    #[serde(default)]
    pub test_card: TestCard,
}

fn daily() -> String {
    "daily".into()
}

/// What a guide channel shows besides the grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuideSettings {
    /// The library kind that plays in the preview window (default `promo`).
    pub preview: String,
    /// The library kind whose clips play while no preview clip fits (music beds); none:
    /// the grid alone.
    pub music: Option<String>,
}

impl Default for GuideSettings {
    fn default() -> Self {
        Self { preview: "promo".into(), music: None }
    }
}

/// Everything about a channel besides its identity, stored as JSON in `channels.settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelSettings {
    /// Encoder output.
    pub profile: OutputProfile,
    /// Highest content rating allowed (e.g. "TV-PG", "PG-13"); `None` = no limit.
    pub rating_limit: Option<RatingLimit>,
    /// Target demographic (kids, family, teens, adults).
    pub demographic: Option<String>,
    /// When the pipeline runs.
    pub mode: ChannelMode,
    /// What fills time no slot covers: a tag/genre/series name, or `None` for the whole
    /// library of programs.
    pub default_fill: Option<String>,
    /// Break layout.
    pub break_style: BreakStyle,
    /// Channel bug.
    pub bug: BugSettings,
    /// Show "Now/Next" lower thirds after breaks and the rating at program start.
    pub lower_thirds: bool,
    /// Show a clock in the corner.
    pub clock: bool,
    /// Guide group (M3U `group-title`).
    pub group: Option<String>,
    /// The channel's colour, `#rrggbb`: the background of its generated logo (see
    /// [`logo`]); `None` picks one from a palette by channel id.
    pub colour: Option<String>,
    /// Regular or guide channel.
    pub kind: ChannelKind,
    /// The look of its generated cards.
    pub era: CardEra,
    /// Generate "We'll be right back" / "Now back to …" / "Coming up next" cards where the
    /// library has no bumper that fits (default on; the graphics draw each card ahead, off the
    /// streaming thread).
    pub generated_bumpers: bool,
    /// When it is off the air.
    pub off_air: Vec<OffAirHours>,
    /// Guide channels: preview and music.
    pub guide: GuideSettings,
    /// The audio tracks it carries (languages, and what fills a missing one).
    pub audio: AudioTracks,
    /// Closed captions in the video (CEA-608 in the H.264, announced in the PMT), from the
    /// items' subtitles (default on).
    pub captions: bool,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        Self {
            profile: OutputProfile::default(),
            rating_limit: None,
            demographic: None,
            mode: ChannelMode::OnDemand,
            default_fill: None,
            break_style: BreakStyle::Us,
            bug: BugSettings::default(),
            lower_thirds: true,
            clock: false,
            group: None,
            colour: None,
            kind: ChannelKind::Regular,
            era: CardEra::Eighties,
            generated_bumpers: true,
            off_air: Vec::new(),
            guide: GuideSettings::default(),
            audio: AudioTracks::default(),
            captions: true,
        }
    }
}

/// A channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Database id.
    pub id: ChannelId,
    /// Number clients tune.
    pub number: GuideNumber,
    /// Name ("Sitcom Gold").
    pub name: String,
    /// Call sign ("SITG").
    pub call_sign: String,
    /// Stable XMLTV id: never changes when the number or name does.
    pub xmltv_id: String,
    /// Logo image for guides and M3U.
    pub logo: Option<std::path::PathBuf>,
    /// Everything else.
    pub settings: ChannelSettings,
    /// Disabled channels are neither scheduled nor listed.
    pub enabled: bool,
}

/// An immutable snapshot of every enabled channel, sorted by number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lineup {
    /// The channels, sorted by [`GuideNumber::sort_key`].
    pub channels: Vec<Channel>,
}

impl Lineup {
    /// The channel with this number.
    pub fn by_number(&self, number: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.number.as_str() == number)
    }

    /// The channel with this id.
    pub fn by_id(&self, id: ChannelId) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guide_numbers_are_digits_with_one_optional_dot() {
        for ok in ["5", "5.1", "123", "0.99"] {
            assert!(ok.parse::<GuideNumber>().is_ok(), "{ok}");
        }
        for bad in ["", "5.", ".1", "5.1.2", "five", "5_1", "-3", " 5", "123456"] {
            assert!(bad.parse::<GuideNumber>().is_err(), "{bad}");
        }
        let mut v: Vec<GuideNumber> = ["12", "5.2", "5", "5.1"].iter().map(|s| s.parse().unwrap()).collect();
        v.sort_by_key(GuideNumber::sort_key);
        let s: Vec<&str> = v.iter().map(GuideNumber::as_str).collect();
        assert_eq!(s, ["5", "5.1", "5.2", "12"]);
    }

    #[test]
    fn settings_json_round_trips_and_fills_defaults() {
        let s: ChannelSettings = serde_json::from_str(r#"{"profile":{"format":"hd720"}}"#).unwrap();
        assert_eq!(s.profile.format, VideoFormat::Hd720);
        assert_eq!(s.profile.frame_rate, FrameRate::Ntsc);
        let back: ChannelSettings = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
