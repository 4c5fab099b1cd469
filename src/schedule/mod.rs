//! Scheduling: a channel's coarse grid (slots filled by series, tags or movie pools) becomes a
//! break-level log of [`Airing`]s materialised over a horizon, frozen inside a window. The
//! guide and playout both read these rows, so the guide is what airs. Also owns the as-run
//! log. Owns `programming_slots`, `series_progress`, `schedule_programs`, `schedule_items`,
//! `playout_log` ([`store`]).

pub mod asrun;
pub mod auto;
pub mod card;
pub mod filler;
pub mod horizon;
pub mod horizons;
pub mod import;
pub mod order;
pub mod parts;
pub mod planner;
pub mod pool;
pub mod rotation;
pub mod rules;
pub mod station;
pub mod store;
pub mod timeline;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::library::MediaId;
use crate::lineup::ChannelId;

/// What an airing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AiringKind {
    /// A segment of the program (episode or movie) between breaks.
    Program,
    /// A commercial.
    Commercial,
    /// A bumper.
    Bumper,
    /// A promo.
    Promo,
    /// A station ID.
    StationId,
    /// A series intro.
    Intro,
    /// A series outro.
    Outro,
    /// A filler clip that pads a break to the frame.
    Filler,
    /// A slate (no media): the channel shows its slate card / black for the span.
    Slate,
    /// A generated card (no media): the graphics layer draws [`Airing::card`] full screen.
    Card,
}

impl AiringKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Program => "program",
            Self::Commercial => "commercial",
            Self::Bumper => "bumper",
            Self::Promo => "promo",
            Self::StationId => "station_id",
            Self::Intro => "intro",
            Self::Outro => "outro",
            Self::Filler => "filler",
            Self::Slate => "slate",
            Self::Card => "card",
        }
    }

    /// Whether it belongs to a break (graphics hide the bug there).
    pub fn is_interstitial(self) -> bool {
        !matches!(self, Self::Program)
    }
}

/// One entry of the fine log: play `uri` from `offset_in_ms` for `end - start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Airing {
    /// Row id in `schedule_items`.
    pub id: i64,
    /// Channel.
    pub channel_id: ChannelId,
    /// Guide entry this airing belongs to (breaks sit inside their program).
    pub program_id: Option<i64>,
    /// Exact start (ms precision).
    pub start: DateTime<Utc>,
    /// Exact end (exclusive).
    pub end: DateTime<Utc>,
    /// What it is.
    pub kind: AiringKind,
    /// Library item, if any (`None` for slates).
    pub media_id: Option<MediaId>,
    /// Where to read it (`None` for slates).
    pub uri: Option<String>,
    /// Title for logs and graphics.
    pub title: String,
    /// Where in the media to start, ms.
    pub offset_in_ms: i64,
    /// Where in the media to stop, ms (`offset_in_ms + (end - start)`).
    pub offset_out_ms: i64,
    /// Measured loudness, for the static gain toward the channel target.
    pub loudness_lufs: Option<f64>,
    /// What a generated card shows (kind [`AiringKind::Card`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<card::CardSpec>,
}

impl Airing {
    /// Scheduled length in ms.
    pub fn duration_ms(&self) -> i64 {
        (self.end - self.start).num_milliseconds()
    }
}

/// What a guide entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgramKind {
    /// An episode of a series.
    Episode,
    /// A movie.
    Movie,
    /// Time no program could fill (breaks, filler, slate only).
    Filler,
}

/// The guide facts of a program, snapshotted when it was planned (stored as JSON in
/// `schedule_programs.info`), so the guide stays true even if the library changes later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramInfo {
    /// Episode, movie or filler.
    pub kind: ProgramKind,
    /// Guide title (the series name for episodes).
    pub title: String,
    /// Episode title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_title: Option<String>,
    /// Synopsis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Series name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// Season number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub season: Option<u32>,
    /// Episode number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<u32>,
    /// Year first aired / released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    /// Date first aired / released, when the library knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aired: Option<chrono::NaiveDate>,
    /// Intended audience (the item's demographic: kids, family, teens, adults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Content rating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<String>,
    /// Guide categories (genres; "Movie" for movies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Progress cursors as they stood before this program was planned; a replan that removes
    /// this program puts them back, so series resume exactly where published airings stop.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub rewind: std::collections::BTreeMap<String, u64>,
}

impl ProgramInfo {
    /// The facts of an entry no library item stands behind (a station break, "To Be
    /// Announced", an unreadable stored row): a filler with a title and maybe a description.
    pub fn filler(title: impl Into<String>, description: Option<String>) -> Self {
        Self {
            kind: ProgramKind::Filler,
            title: title.into(),
            sub_title: None,
            description,
            series: None,
            season: None,
            episode: None,
            year: None,
            aired: None,
            audience: None,
            rating: None,
            categories: Vec::new(),
            rewind: std::collections::BTreeMap::new(),
        }
    }
}

/// A guide entry: one program with its breaks inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// Row id in `schedule_programs`.
    pub id: i64,
    /// Channel.
    pub channel_id: ChannelId,
    /// Start (on a slot boundary).
    pub start: DateTime<Utc>,
    /// End (exclusive; the next program's start).
    pub end: DateTime<Utc>,
    /// The library item, if any.
    pub media_id: Option<MediaId>,
    /// Guide facts.
    pub info: ProgramInfo,
}

#[cfg(test)]
mod build_tests;
#[cfg(test)]
mod tests;
