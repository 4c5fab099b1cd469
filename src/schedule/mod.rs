//! Scheduling: a channel's coarse grid (slots filled by series, tags or movie pools) becomes a
//! break-level log of [`Airing`]s materialised over a horizon, frozen inside a window. The
//! guide and playout both read these rows, so the guide is what airs. Also owns the as-run
//! log. Owns `programming_slots`, `series_progress`, `schedule_programs`, `schedule_items`,
//! `playout_log` ([`store`]).

pub mod store;

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
}

impl Airing {
    /// Scheduled length in ms.
    pub fn duration_ms(&self) -> i64 {
        (self.end - self.start).num_milliseconds()
    }
}
