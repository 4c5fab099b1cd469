//! `content_break_candidates`: break points the loudness pass found in the media, with the
//! user's decision on each (accept, reject, move). A new pass over a changed file replaces
//! the undecided ones and keeps the decisions.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::library::MediaId;
use crate::library::breaks::Candidate;

/// Undecided candidates at least this confident are used where an item has no other
/// breakpoints.
pub const USE_CONFIDENCE: f64 = 0.5;
/// A new candidate this close to a decided one is the same gap (ms).
const SAME_GAP_MS: i64 = 1_000;

/// What the user made of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateState {
    /// As found: used only where the item has no chapter, `.nfo`, Plex or hand-set breakpoints.
    Candidate,
    /// Accepted (maybe moved): counts as hand-set.
    Accepted,
    /// Rejected: never used.
    Rejected,
}

impl CandidateState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Candidate => "candidate",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "accepted" => Self::Accepted,
            "rejected" => Self::Rejected,
            _ => Self::Candidate,
        }
    }
}

/// A stored candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakCandidate {
    /// The black-and-silent gap as found, ms (its identity).
    pub start_ms: i64,
    /// Its end, ms.
    pub end_ms: i64,
    /// Where a break goes, ms (the gap's middle, or where the user moved it).
    pub offset_ms: i64,
    /// Fade to black before the gap, ms.
    pub fade_ms: i64,
    /// 0 to 1.
    pub confidence: f64,
    /// The user's decision.
    pub state: CandidateState,
}

/// Store what a pass over item `id` found, at `now_ms`: undecided candidates are replaced;
/// found gaps that a decided one already stands for are left out.
pub fn set_break_candidates(conn: &Connection, id: MediaId, found: &[Candidate], now_ms: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM content_break_candidates WHERE item_id = ?1 AND state = 'candidate'", [id.0])?;
    let decided: Vec<i64> = conn
        .prepare("SELECT start_ms FROM content_break_candidates WHERE item_id = ?1")?
        .query_map([id.0], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut st = conn.prepare(
        "INSERT OR IGNORE INTO content_break_candidates (item_id, start_ms, end_ms, offset_ms, fade_ms, confidence)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for c in found.iter().filter(|c| !decided.iter().any(|d| (d - c.start_ms).abs() < SAME_GAP_MS)) {
        st.execute(params![id.0, c.start_ms, c.end_ms, c.offset_ms, c.fade_ms, c.confidence])?;
    }
    conn.execute("UPDATE content_items SET breaks_at = ?2 WHERE id = ?1", params![id.0, now_ms])?;
    Ok(())
}

/// The candidates of an item, by position.
pub fn break_candidates(conn: &Connection, id: MediaId) -> rusqlite::Result<Vec<BreakCandidate>> {
    let mut st = conn.prepare_cached(
        "SELECT start_ms, end_ms, offset_ms, fade_ms, confidence, state FROM content_break_candidates
         WHERE item_id = ?1 ORDER BY start_ms",
    )?;
    st.query_map([id.0], |r| {
        Ok(BreakCandidate {
            start_ms: r.get(0)?,
            end_ms: r.get(1)?,
            offset_ms: r.get(2)?,
            fade_ms: r.get(3)?,
            confidence: r.get(4)?,
            state: CandidateState::parse(&r.get::<_, String>(5)?),
        })
    })?
    .collect()
}

/// The user's decision on the candidate of item `id` found at `start_ms`; `offset_ms` moves
/// it. False when there is no such candidate.
pub fn decide_break(
    conn: &Connection,
    id: MediaId,
    start_ms: i64,
    state: CandidateState,
    offset_ms: Option<i64>,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE content_break_candidates SET state = ?3, offset_ms = COALESCE(?4, offset_ms)
         WHERE item_id = ?1 AND start_ms = ?2",
        params![id.0, start_ms, state.as_str(), offset_ms],
    )?;
    Ok(n > 0)
}
