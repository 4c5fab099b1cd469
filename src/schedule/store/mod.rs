//! The schedule's tables: `programming_slots`, `series_progress`, `schedule_programs`,
//! `schedule_items`, `playout_log`, `schedule_publications`, `schedule_replans`. Nothing else
//! runs SQL on them.
//!
//! Readers: playout reads [`airings_to_play`] / [`airing_at`], guides read
//! [`programs_between`], everyone may watch [`generation`] (bumped by every [`publish`]).
//! Writers: the planner publishes; edits ask for a replan with [`request_replan`], which the
//! daemon serves ([`pending_replans`]); playout appends to the as-run log with
//! [`record_as_run`] / [`finish_as_run`]; the web page lists it with [`as_run`].
//!
//! An airing's loudness is the item's as measured now (a gain only, so a new measurement
//! applies at once, inside the frozen window too); the row's copy stands in for items gone.
//!
//! An item removed from the library after it was scheduled keeps its row (title, times) but
//! reads back with `uri: None` and `media_id: None`: playout shows its slate for that span
//! and records the gap in the as-run log; the next replan after the frozen window no longer
//! picks it.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::card::CardSpec;
use super::rules::{Days, Fill, Slot};
use super::{Airing, AiringKind, Program, ProgramInfo};
use crate::clock::from_ms;
use crate::library::MediaId;
use crate::library::secret::redact;
use crate::lineup::ChannelId;

mod publish;

pub use publish::{PublishStats, ScheduleMark, mark, publish, publish_unless_changed};

/// Errors reading or writing the schedule.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleStoreError {
    /// SQLite failed.
    #[error("schedule tables: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database task failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// A stored slot's fill could not be decoded.
    #[error("programming slot {id}: stored fill is invalid: {source}")]
    BadFill {
        /// Slot id.
        id: i64,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// No such slot on this channel.
    #[error("channel {channel} has no slot {id}")]
    NoSlot {
        /// Channel.
        channel: ChannelId,
        /// Slot id.
        id: i64,
    },
    /// The lineup could not be read.
    #[error(transparent)]
    Lineup(#[from] crate::lineup::store::LineupStoreError),
}

type Result<T> = std::result::Result<T, ScheduleStoreError>;

/// A channel's grid, by start.
pub fn list_slots(conn: &Connection, channel: ChannelId) -> Result<Vec<Slot>> {
    let mut st = conn.prepare(
        "SELECT id, days, start_minute, length_min, fill FROM programming_slots WHERE channel_id = ?1
         ORDER BY start_minute, days, id",
    )?;
    let rows: Vec<(i64, i64, i64, i64, String)> = st
        .query_map([channel.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(|(id, days, start, len, fill)| {
            let fill: Fill =
                serde_json::from_str(&fill).map_err(|source| ScheduleStoreError::BadFill { id, source })?;
            Ok(Slot { id, days: Days(days as u8), start_minute: start as u32, length_min: len as u32, fill })
        })
        .collect()
}

/// Add a slot (the caller has validated the grid with it); returns its id.
pub fn add_slot(conn: &Connection, channel: ChannelId, slot: &Slot, now_ms: i64) -> Result<i64> {
    conn.execute(
        "INSERT INTO programming_slots (channel_id, days, start_minute, length_min, fill, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            channel.0,
            slot.days.0,
            slot.start_minute,
            slot.length_min,
            serde_json::to_string(&slot.fill).expect("fill serialises"),
            now_ms
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Remove one slot.
pub fn remove_slot(conn: &Connection, channel: ChannelId, id: i64) -> Result<()> {
    if conn.execute("DELETE FROM programming_slots WHERE channel_id = ?1 AND id = ?2", params![channel.0, id])? == 0 {
        return Err(ScheduleStoreError::NoSlot { channel, id });
    }
    Ok(())
}

/// Replace a channel's whole grid.
pub fn replace_slots(conn: &Connection, channel: ChannelId, slots: &[Slot], now_ms: i64) -> Result<()> {
    conn.execute("DELETE FROM programming_slots WHERE channel_id = ?1", [channel.0])?;
    for s in slots {
        add_slot(conn, channel, s, now_ms)?;
    }
    Ok(())
}

/// Progress cursors of a channel as they stand at `at_ms`: the stored values, put back by
/// every published program starting at or after `at_ms` (those are about to be replaced).
pub fn progress_at(conn: &Connection, channel: ChannelId, at_ms: i64) -> Result<BTreeMap<String, u64>> {
    let mut st = conn.prepare("SELECT series, next_index FROM series_progress WHERE channel_id = ?1")?;
    let mut progress: BTreeMap<String, u64> = st
        .query_map([channel.0], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = conn.prepare(
        "SELECT info FROM schedule_programs WHERE channel_id = ?1 AND start_ms >= ?2 ORDER BY start_ms DESC",
    )?;
    // Latest first, so the earliest removed program's values win.
    for info in st.query_map(params![channel.0, at_ms], |r| r.get::<_, String>(0))? {
        if let Ok(info) = serde_json::from_str::<ProgramInfo>(&info?) {
            progress.extend(info.rewind);
        }
    }
    Ok(progress)
}

/// The end of the last published program of a channel.
pub fn planned_until(conn: &Connection, channel: ChannelId) -> Result<Option<i64>> {
    Ok(conn.query_row("SELECT MAX(end_ms) FROM schedule_programs WHERE channel_id = ?1", [channel.0], |r| r.get(0))?)
}

/// The program airing at `at_ms` on a channel, as (start, end) ms.
pub fn program_span_at(conn: &Connection, channel: ChannelId, at_ms: i64) -> Result<Option<(i64, i64)>> {
    Ok(conn
        .query_row(
            "SELECT start_ms, end_ms FROM schedule_programs WHERE channel_id = ?1 AND start_ms <= ?2 AND end_ms > ?2
             ORDER BY start_ms DESC LIMIT 1",
            params![channel.0, at_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Commercials, promos and other spots planned in `[from - window, from)`: (item, start).
pub fn spot_history(
    conn: &Connection,
    channel: ChannelId,
    from_ms: i64,
    window_ms: i64,
) -> Result<Vec<(MediaId, i64)>> {
    let mut st = conn.prepare(
        "SELECT item_id, start_ms FROM schedule_items WHERE channel_id = ?1 AND start_ms >= ?2 AND start_ms < ?3
         AND item_id IS NOT NULL AND kind IN ('commercial', 'promo', 'bumper', 'station_id')
         ORDER BY start_ms",
    )?;
    let rows =
        st.query_map(params![channel.0, from_ms - window_ms, from_ms], |r| Ok((MediaId(r.get(0)?), r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Replans asked for and not yet made ([`request_replan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReplans {
    /// The newest request included (clear up to it once served).
    pub up_to: i64,
    /// The channels to replan; `None` for every channel.
    pub channels: Option<Vec<ChannelId>>,
    /// Why, oldest first (at most a few).
    pub reasons: Vec<String>,
}

/// Ask for a replan after the frozen window, of one channel or of every one (`None`): an
/// edit that changes what should air. The daemon serves it within seconds ([`pending_replans`]).
pub fn request_replan(conn: &Connection, channel: Option<ChannelId>, reason: &str, now_ms: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO schedule_replans (channel_id, reason, requested_at) VALUES (?1, ?2, ?3)",
        params![channel.map(|c| c.0), reason, now_ms],
    )?;
    Ok(())
}

/// The replans asked for so far, if any.
pub fn pending_replans(conn: &Connection) -> Result<Option<PendingReplans>> {
    let mut st = conn.prepare("SELECT id, channel_id, reason FROM schedule_replans ORDER BY id")?;
    let rows: Vec<(i64, Option<i64>, String)> =
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?;
    let Some(up_to) = rows.last().map(|r| r.0) else { return Ok(None) };
    let channels = if rows.iter().any(|r| r.1.is_none()) {
        None
    } else {
        let mut ids: Vec<ChannelId> = rows.iter().filter_map(|r| r.1.map(ChannelId)).collect();
        ids.sort_unstable_by_key(|c| c.0);
        ids.dedup();
        Some(ids)
    };
    let mut reasons: Vec<String> = Vec::new();
    for (_, _, r) in rows {
        if reasons.len() < 5 && !reasons.contains(&r) {
            reasons.push(r);
        }
    }
    Ok(Some(PendingReplans { up_to, channels, reasons }))
}

/// Forget the requests up to `up_to` (they were served).
pub fn clear_replans(conn: &Connection, up_to: i64) -> Result<()> {
    conn.execute("DELETE FROM schedule_replans WHERE id <= ?1", [up_to])?;
    Ok(())
}

/// The publication counter: changes whenever any channel's schedule was (re)published.
pub fn generation(conn: &Connection) -> Result<i64> {
    Ok(conn
        .query_row("SELECT generation FROM schedule_publications WHERE id = 1", [], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

const AIRING_COLUMNS: &str = "s.id, s.channel_id, s.program_id, s.start_ms, s.end_ms, s.kind,
    CASE WHEN c.id IS NULL OR c.gone = 1 THEN NULL ELSE s.item_id END,
    CASE WHEN c.id IS NULL OR c.gone = 1 THEN NULL ELSE s.uri END,
    s.title, s.offset_in_ms, s.offset_out_ms, COALESCE(c.loudness_lufs, s.loudness_lufs), s.card";

fn kind_of(s: &str) -> AiringKind {
    match s {
        "program" => AiringKind::Program,
        "commercial" => AiringKind::Commercial,
        "bumper" => AiringKind::Bumper,
        "promo" => AiringKind::Promo,
        "station_id" => AiringKind::StationId,
        "intro" => AiringKind::Intro,
        "outro" => AiringKind::Outro,
        "filler" => AiringKind::Filler,
        "card" => AiringKind::Card,
        _ => AiringKind::Slate,
    }
}

fn airing_from_row(r: &Row<'_>) -> rusqlite::Result<Airing> {
    Ok(Airing {
        id: r.get(0)?,
        channel_id: ChannelId(r.get(1)?),
        program_id: r.get(2)?,
        start: from_ms(r.get(3)?),
        end: from_ms(r.get(4)?),
        kind: kind_of(&r.get::<_, String>(5)?),
        media_id: r.get::<_, Option<i64>>(6)?.map(MediaId),
        uri: r.get(7)?,
        title: r.get(8)?,
        offset_in_ms: r.get(9)?,
        offset_out_ms: r.get(10)?,
        loudness_lufs: r.get(11)?,
        card: card_from(r.get::<_, Option<String>>(12)?.as_deref()),
    })
}

/// A stored card payload; one that does not read back (a newer format) shows as none (the
/// graphics then leave the background, as for a slate).
fn card_from(json: Option<&str>) -> Option<CardSpec> {
    let json = json?;
    match serde_json::from_str(json) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "stored card is invalid; airing it as a slate");
            None
        }
    }
}

/// The airings of a channel overlapping `[from, to)`, by start.
pub fn airings_between(conn: &Connection, channel: ChannelId, from_ms: i64, to_ms: i64) -> Result<Vec<Airing>> {
    // Airings are at most 24 h long, which bounds the index range scanned.
    let mut st = conn.prepare_cached(&format!(
        "SELECT {AIRING_COLUMNS} FROM schedule_items s LEFT JOIN content_items c ON c.id = s.item_id
         WHERE s.channel_id = ?1 AND s.start_ms >= ?2 AND s.start_ms < ?3 AND s.end_ms > ?4 ORDER BY s.start_ms"
    ))?;
    let rows = st.query_map(params![channel.0, from_ms - 86_400_000, to_ms, from_ms], airing_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// [`airings_between`] as playout opens them: each stored URI (which never carries a source's
/// secret) with its source's credentials added ([`crate::library::secret::Credentials`]).
pub fn airings_to_play(conn: &Connection, channel: ChannelId, from_ms: i64, to_ms: i64) -> Result<Vec<Airing>> {
    let credentials = crate::library::store::credentials(conn)?;
    let mut airings = airings_between(conn, channel, from_ms, to_ms)?;
    for a in &mut airings {
        if let Some(uri) = &a.uri {
            a.uri = Some(credentials.openable(uri));
        }
    }
    Ok(airings)
}

/// Media moved (a source's folder or server URL changed): airings whose URI starts with
/// `old_prefix` now start with `new_prefix`. Returns the airings changed.
pub fn move_uris(conn: &Connection, old_prefix: &str, new_prefix: &str) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE schedule_items SET uri = ?2 || substr(uri, length(?1) + 1) WHERE substr(uri, 1, length(?1)) = ?1",
        params![old_prefix, new_prefix],
    )?)
}

/// The airing of a channel at `at_ms` (index seek on `(channel_id, start_ms)`).
pub fn airing_at(conn: &Connection, channel: ChannelId, at_ms: i64) -> Result<Option<Airing>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {AIRING_COLUMNS} FROM schedule_items s LEFT JOIN content_items c ON c.id = s.item_id
         WHERE s.channel_id = ?1 AND s.start_ms <= ?2 ORDER BY s.start_ms DESC LIMIT 1"
    ))?;
    let a = st.query_row(params![channel.0, at_ms], airing_from_row).optional()?;
    Ok(a.filter(|a| a.end.timestamp_millis() > at_ms))
}

/// What is on now (if anything) and next on a channel.
pub type NowNext = (Option<Program>, Option<Program>);

/// What is on at `now_ms` and next (within 12 hours) on each of `ids`.
pub fn now_next(conn: &Connection, ids: &[ChannelId], now_ms: i64) -> Result<HashMap<ChannelId, NowNext>> {
    let mut out = HashMap::new();
    for &id in ids {
        let mut progs = programs_between(conn, id, now_ms, now_ms + 12 * 3_600_000)?.into_iter();
        let on = match progs.next() {
            Some(p) if p.start.timestamp_millis() <= now_ms => (Some(p), progs.next()),
            other => (None, other),
        };
        out.insert(id, on);
    }
    Ok(out)
}

/// The guide entries of a channel overlapping `[from, to)`, by start.
pub fn programs_between(conn: &Connection, channel: ChannelId, from_ms: i64, to_ms: i64) -> Result<Vec<Program>> {
    let mut st = conn.prepare_cached(
        "SELECT id, channel_id, start_ms, end_ms, item_id, info FROM schedule_programs
         WHERE channel_id = ?1 AND start_ms < ?2 AND end_ms > ?3 ORDER BY start_ms",
    )?;
    let rows = st.query_map(params![channel.0, to_ms, from_ms], |r| {
        Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, Option<i64>>(4)?, r.get::<_, String>(5)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, ch, start, end, item, info) = row?;
        let info: ProgramInfo = match serde_json::from_str(&info) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(program = id, error = %e, "stored program info is invalid; listing it untitled");
                ProgramInfo::filler("Programming", None)
            }
        };
        out.push(Program {
            id,
            channel_id: ChannelId(ch),
            start: crate::clock::from_ms(start),
            end: crate::clock::from_ms(end),
            media_id: item.map(MediaId),
            info,
        });
    }
    Ok(out)
}

/// Every channel of the lineup (in number order) with its published programmes ending
/// after `from_ms` (what a guide lists).
pub fn listing(conn: &Connection, from_ms: i64) -> Result<Vec<(crate::lineup::Channel, Vec<Program>)>> {
    let channels = crate::lineup::store::lineup(conn)?.channels;
    channels
        .into_iter()
        .map(|ch| {
            let programs = programs_between(conn, ch.id, from_ms, i64::MAX)?;
            Ok((ch, programs))
        })
        .collect()
}

/// How an airing went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AsRunStatus {
    /// On the air now: the entry is open (no end yet).
    #[serde(rename = "on_air")]
    Started,
    /// Played as planned.
    Aired,
    /// Could not play (slate shown instead).
    Failed,
    /// Played, but cut short or started late.
    Partial,
    /// An emergency alert interrupted it.
    Alert,
}

impl AsRunStatus {
    /// The name stored in the as-run log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "on_air",
            Self::Aired => "aired",
            Self::Failed => "failed",
            Self::Partial => "partial",
            Self::Alert => "alert",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "on_air" => Self::Started,
            "aired" => Self::Aired,
            "partial" => Self::Partial,
            "alert" => Self::Alert,
            _ => Self::Failed,
        }
    }
}

/// One as-run entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsRun {
    /// Row id (0 before it is stored).
    pub id: i64,
    /// Channel.
    pub channel_id: ChannelId,
    /// The planned airing, if it came from the schedule.
    pub schedule_item_id: Option<i64>,
    /// The library item, if any.
    pub media_id: Option<MediaId>,
    /// What it was.
    pub kind: AiringKind,
    /// Title.
    pub title: String,
    /// Planned start, ms.
    pub planned_start_ms: Option<i64>,
    /// Planned end, ms.
    pub planned_end_ms: Option<i64>,
    /// Actual start, ms.
    pub actual_start_ms: i64,
    /// Actual end, ms (None while on air).
    pub actual_end_ms: Option<i64>,
    /// Outcome.
    pub status: AsRunStatus,
    /// What went wrong.
    pub error: Option<String>,
}

impl AsRun {
    /// An entry for an airing that started at `actual_start_ms`.
    pub fn started(airing: &Airing, actual_start_ms: i64) -> Self {
        Self {
            id: 0,
            channel_id: airing.channel_id,
            schedule_item_id: (airing.id > 0).then_some(airing.id),
            media_id: airing.media_id,
            kind: airing.kind,
            title: airing.title.clone(),
            planned_start_ms: Some(airing.start.timestamp_millis()),
            planned_end_ms: Some(airing.end.timestamp_millis()),
            actual_start_ms,
            actual_end_ms: None,
            status: AsRunStatus::Started,
            error: None,
        }
    }
}

/// Append an as-run entry; returns its id. A source secret quoted in the error (GStreamer
/// quotes the URL it opened) is stored masked.
pub fn record_as_run(conn: &Connection, e: &AsRun) -> Result<i64> {
    conn.execute(
        "INSERT INTO playout_log (channel_id, schedule_item_id, item_id, kind, title, planned_start_ms, planned_end_ms,
            actual_start_ms, actual_end_ms, status, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            e.channel_id.0,
            e.schedule_item_id,
            e.media_id.map(|m| m.0),
            e.kind.as_str(),
            e.title,
            e.planned_start_ms,
            e.planned_end_ms,
            e.actual_start_ms,
            e.actual_end_ms,
            e.status.as_str(),
            e.error.as_deref().map(redact)
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Close an as-run entry (a secret quoted in `error` is stored masked).
pub fn finish_as_run(
    conn: &Connection,
    id: i64,
    actual_end_ms: i64,
    status: AsRunStatus,
    error: Option<&str>,
) -> Result<()> {
    conn.execute(
        "UPDATE playout_log SET actual_end_ms = ?2, status = ?3, error = ?4 WHERE id = ?1",
        params![id, actual_end_ms, status.as_str(), error.map(redact)],
    )?;
    Ok(())
}

/// Close every as-run entry still open (on one channel, or all) at `at_ms` (not before it
/// started, nor after it was planned to end) as partial, with `reason`: what the channel or
/// the daemon did not live to close. Returns how many were closed.
pub fn close_open_as_run(conn: &Connection, channel: Option<ChannelId>, at_ms: i64, reason: &str) -> Result<usize> {
    let n = conn.execute(
        "UPDATE playout_log
            SET actual_end_ms = MAX(actual_start_ms, MIN(?2, COALESCE(planned_end_ms, ?2))),
                status = 'partial',
                error = CASE WHEN error IS NULL THEN ?3 ELSE error || '; ' || ?3 END
          WHERE actual_end_ms IS NULL AND (?1 IS NULL OR channel_id = ?1)",
        params![channel.map(|c| c.0), at_ms, reason],
    )?;
    Ok(n)
}

/// The as-run log, newest first: one channel or all, started in `[from, to)`, at most `limit`.
pub fn as_run(
    conn: &Connection,
    channel: Option<ChannelId>,
    from_ms: i64,
    to_ms: i64,
    limit: usize,
) -> Result<Vec<AsRun>> {
    let mut st = conn.prepare(
        "SELECT id, channel_id, schedule_item_id, item_id, kind, title, planned_start_ms, planned_end_ms,
                actual_start_ms, actual_end_ms, status, error
         FROM playout_log WHERE (?1 IS NULL OR channel_id = ?1) AND actual_start_ms >= ?2 AND actual_start_ms < ?3
         ORDER BY actual_start_ms DESC, id DESC LIMIT ?4",
    )?;
    let rows = st.query_map(params![channel.map(|c| c.0), from_ms, to_ms, limit as i64], |r| {
        Ok(AsRun {
            id: r.get(0)?,
            channel_id: ChannelId(r.get(1)?),
            schedule_item_id: r.get(2)?,
            media_id: r.get::<_, Option<i64>>(3)?.map(MediaId),
            kind: kind_of(&r.get::<_, String>(4)?),
            title: r.get(5)?,
            planned_start_ms: r.get(6)?,
            planned_end_ms: r.get(7)?,
            actual_start_ms: r.get(8)?,
            actual_end_ms: r.get(9)?,
            status: AsRunStatus::parse(&r.get::<_, String>(10)?),
            error: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The first known airing of an item on this box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstAiring {
    /// When it started (the slot it was planned for, UTC ms).
    pub start_ms: i64,
    /// On which channel.
    pub channel: ChannelId,
}

/// When each of `items` first aired on this box, or is first published to air: the earliest
/// of its as-run entries that aired (fully or partly) and its published programs, on any
/// channel. Items never aired nor published are absent. The guide tells reruns from
/// premieres with it.
pub fn first_airings(conn: &Connection, items: &[MediaId]) -> Result<std::collections::HashMap<MediaId, FirstAiring>> {
    use std::collections::HashMap;
    let wanted: std::collections::HashSet<MediaId> = items.iter().copied().collect();
    let mut out: HashMap<MediaId, FirstAiring> = HashMap::new();
    let mut keep = |id: MediaId, start_ms: i64, channel: i64| {
        let f = FirstAiring { start_ms, channel: ChannelId(channel) };
        out.entry(id)
            .and_modify(|e| {
                if start_ms < e.start_ms {
                    *e = f
                }
            })
            .or_insert(f);
    };
    // Published programs: a few thousand rows (programs, not breaks); SQLite returns the
    // channel of the row holding the MIN.
    let mut st = conn.prepare_cached(
        "SELECT item_id, MIN(start_ms), channel_id FROM schedule_programs WHERE item_id IS NOT NULL GROUP BY item_id",
    )?;
    let rows = st.query_map([], |r| Ok((MediaId(r.get(0)?), r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
    for row in rows {
        let (id, start, channel) = row?;
        if wanted.contains(&id) {
            keep(id, start, channel);
        }
    }
    // The as-run log only grows: one index lookup per item (`playout_log_item`).
    let mut st = conn.prepare_cached(
        "SELECT planned_start_ms, channel_id FROM playout_log
         WHERE item_id = ?1 AND planned_start_ms IS NOT NULL AND status IN ('aired', 'partial')
         ORDER BY planned_start_ms LIMIT 1",
    )?;
    for id in &wanted {
        if let Some((start, channel)) =
            st.query_row([id.0], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))).optional()?
        {
            keep(*id, start, channel);
        }
    }
    Ok(out)
}
