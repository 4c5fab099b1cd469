//! The media catalogue: sources (folders with Kodi/TMM `.nfo`, Plex, Jellyfin and Emby servers), the items they
//! hold ([`MediaItem`]), their probe facts, scheduling metadata, breakpoints and loudness.
//! Owns `sources`, `content_items`, `content_scheduling_metadata`, `content_breakpoints`
//! ([`store`]). Knows nothing of channels or schedules.
//!
//! | file | job |
//! |------|-----|
//! | [`catalog`] | the API the CLI and the daemon call: sources, scans, edits ([`Library`]) |
//! | [`art`] | items' pictures: where scans found them, served (servers' fetched and cached) |
//! | [`scan`] | walk a folder source, incremental, crash-safe |
//! | [`nfo`] / [`naming`] | what `.nfo` files and file names say (pure) |
//! | [`probe`] | GStreamer Discoverer: duration, streams, chapters |
//! | [`loudness`] | EBU R128 integrated loudness, a low-priority background job; the same pass finds break points |
//! | [`breaks`] | break points in the media: black-and-silent gaps and fades to black (pure) |
//! | [`subtitles`] | Subtitle cues: SubRip/WebVTT beside an item, its text tracks as the library stored them |
//! | [`plex`] | import from a Plex server |
//! | [`jellyfin`] | import from a Jellyfin or Emby server |
//! | [`demo`] | generate a demo library of test clips |
//! | [`progress`] / [`report`] | one progress indication per scan; its summary |
//! | [`secret`] | source secrets: masked for display, added back when an item is opened |

pub mod art;
pub mod breaks;
pub mod catalog;
pub mod demo;
pub mod jellyfin;
pub mod loudness;
pub mod naming;
pub mod nfo;
pub mod plex;
pub mod probe;
pub mod progress;
pub mod report;
pub mod scan;
pub mod secret;
pub mod store;
pub mod subtitles;
pub mod thumbnail;

pub use catalog::{ItemEdit, Library, LibraryError, SourceEdit, SourceEdited};
pub use progress::{Progress, ProgressUpdate};
pub use report::{ItemError, ScanReport, SourceReport};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Database id of a content item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MediaId(pub i64);

impl fmt::Display for MediaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Database id of a source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SourceId(pub i64);

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a content item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    /// An episode of a series.
    Episode,
    /// A movie.
    Movie,
    /// A commercial.
    Commercial,
    /// A bumper ("we'll be right back", "now back to ...").
    Bumper,
    /// A promo for the channel's programming.
    Promo,
    /// A station identification.
    StationId,
    /// A series intro.
    Intro,
    /// A series outro.
    Outro,
    /// A slate or filler card.
    Slate,
}

impl ContentKind {
    /// Every kind, in display order.
    pub const ALL: [ContentKind; 9] = [
        Self::Episode,
        Self::Movie,
        Self::Commercial,
        Self::Bumper,
        Self::Promo,
        Self::StationId,
        Self::Intro,
        Self::Outro,
        Self::Slate,
    ];

    /// The name stored in the database and used on the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Episode => "episode",
            Self::Movie => "movie",
            Self::Commercial => "commercial",
            Self::Bumper => "bumper",
            Self::Promo => "promo",
            Self::StationId => "station_id",
            Self::Intro => "intro",
            Self::Outro => "outro",
            Self::Slate => "slate",
        }
    }

    /// Programs are what the guide lists; everything else is interstitial.
    pub fn is_program(self) -> bool {
        matches!(self, Self::Episode | Self::Movie)
    }
}

impl fmt::Display for ContentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a content kind.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown content kind {0:?}: expected one of episode, movie, commercial, bumper, promo, station_id, intro, outro, slate"
)]
pub struct UnknownKind(pub String);

impl FromStr for ContentKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// The folder kinds `source add --kind` accepts, and the item kind each holds.
pub const FOLDER_KINDS: [(&str, ContentKind); 11] = [
    ("shows", ContentKind::Episode),
    ("movies", ContentKind::Movie),
    ("commercials", ContentKind::Commercial),
    ("bumpers", ContentKind::Bumper),
    ("promos", ContentKind::Promo),
    ("station_ids", ContentKind::StationId),
    ("intros", ContentKind::Intro),
    ("outros", ContentKind::Outro),
    ("slates", ContentKind::Slate),
    ("signoffs", ContentKind::StationId),
    ("signons", ContentKind::StationId),
];

/// The tag a folder kind gives its items: `signoff` / `signon` for the station closings and
/// openings (anthems, "this concludes our broadcast day") that channels play only when they
/// go off and come back on the air.
pub fn folder_tag(kind: &str) -> Option<&'static str> {
    match kind {
        "signoffs" => Some("signoff"),
        "signons" => Some("signon"),
        _ => None,
    }
}

/// A folder kind that does not exist.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown folder kind {0:?}: expected one of shows, movies, commercials, bumpers, promos, station_ids, intros, outros, slates, signoffs, signons"
)]
pub struct UnknownFolderKind(pub String);

/// The item kind a folder of `kind` holds.
pub fn kind_for_folder(kind: &str) -> Result<ContentKind, UnknownFolderKind> {
    FOLDER_KINDS.iter().find(|(k, _)| *k == kind).map(|(_, c)| *c).ok_or_else(|| UnknownFolderKind(kind.to_owned()))
}

/// Scheduling metadata (effective values: user edits win over imported ones).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulingMetadata {
    /// Dayparts the item suits (morning, daytime, afternoon, primetime, late_night, overnight).
    pub daypart: Vec<String>,
    /// Seasons/holidays it suits (spring, summer, fall, winter, christmas, halloween, ...).
    pub season: Vec<String>,
    /// Content rating override for scheduling.
    pub content_rating: Option<String>,
    /// Audience (kids, family, teens, adults).
    pub demographic: Option<String>,
    /// Advertiser (commercials).
    pub commercial_company: Option<String>,
    /// Product category (commercials): toys, cereal, cars, ...
    pub commercial_category: Option<String>,
    /// Decade, e.g. "1980s".
    pub era: Option<String>,
    /// Content warnings.
    pub warnings: Option<String>,
    /// Free notes.
    pub notes: Option<String>,
}

/// One playable thing, as the rest of the system sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaItem {
    /// Database id.
    pub id: MediaId,
    /// Source it came from.
    pub source_id: SourceId,
    /// What it is.
    pub kind: ContentKind,
    /// Where to read it: `file:///...` or `http(s)://...`.
    pub uri: String,
    /// Title (episode title for episodes).
    pub title: String,
    /// Series name (episodes, intros, outros).
    pub series: Option<String>,
    /// Season number.
    pub season: Option<u32>,
    /// Episode number.
    pub episode: Option<u32>,
    /// Year aired or released.
    pub year: Option<i32>,
    /// Synopsis.
    pub plot: Option<String>,
    /// Normalised rating (TV-PG, PG-13, ...).
    pub rating: Option<String>,
    /// Genres.
    pub genres: Vec<String>,
    /// Tags / collections.
    pub tags: Vec<String>,
    /// Duration in ms (from the probe).
    pub duration_ms: Option<i64>,
    /// Probe succeeded and the item can be scheduled.
    pub playable: bool,
    /// Why it is not playable.
    pub error: Option<String>,
    /// Integrated loudness (EBU R128), when measured.
    pub loudness_lufs: Option<f64>,
    /// Scheduling metadata.
    pub meta: SchedulingMetadata,
    /// Where breaks may go, ms from the start, sorted.
    pub breakpoints: Vec<i64>,
    /// Original air (episodes) or release (movies) date, when the source knows it.
    #[serde(default)]
    pub aired: Option<chrono::NaiveDate>,
    /// The versions of an item that is not simply `uri`: several parts (files played in
    /// order) and/or several versions (copies in other resolutions); empty for one file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<MediaVersion>,
}

/// One version of an item (Plex: one `Media`): its picture and sound, and its parts in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaVersion {
    /// Width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Frame rate as the source names it (Plex: "24p", "NTSC", "PAL", "60p").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<String>,
    /// Video codec ("h264", "hevc", "mpeg2video").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_codec: Option<String>,
    /// Audio codec ("aac", "ac3").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_codec: Option<String>,
    /// The files, played one after the other.
    pub parts: Vec<MediaPart>,
}

impl MediaVersion {
    /// Length of all parts, ms.
    pub fn duration_ms(&self) -> i64 {
        self.parts.iter().map(|p| p.duration_ms).sum()
    }
}

/// One file of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaPart {
    /// Where to read it (as `MediaItem::uri`: no secrets).
    pub uri: String,
    /// Its length, ms.
    pub duration_ms: i64,
}
