//! Store functions for scans and syncs: the per-source change index, probe invalidation,
//! `gone` marking, the loudness to-do list, and the full detail of one item.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{ProbeFacts, get_item};
use crate::library::{MediaId, MediaItem, SourceId};

/// What a scan needs to know about an item it already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Item id.
    pub id: MediaId,
    /// Size at the last scan.
    pub file_size: Option<i64>,
    /// Mtime (ms) at the last scan.
    pub file_mtime: Option<i64>,
    /// Plex `updatedAt` at the last sync.
    pub remote_updated_at: Option<i64>,
    /// Side-file signature at the last scan.
    pub sidecar_sig: Option<String>,
    /// A probe result is stored.
    pub probed: bool,
    /// Vanished from the source.
    pub gone: bool,
}

/// Every item of `source`, keyed by external id.
pub fn source_index(conn: &Connection, source: SourceId) -> rusqlite::Result<HashMap<String, IndexEntry>> {
    let mut st = conn.prepare(
        "SELECT external_id, id, file_size, file_mtime, remote_updated_at, sidecar_sig, probed_at IS NOT NULL, gone
         FROM content_items WHERE source_id = ?1",
    )?;
    let rows = st.query_map([source.0], |r| {
        Ok((
            r.get::<_, String>(0)?,
            IndexEntry {
                id: MediaId(r.get(1)?),
                file_size: r.get(2)?,
                file_mtime: r.get(3)?,
                remote_updated_at: r.get(4)?,
                sidecar_sig: r.get(5)?,
                probed: r.get(6)?,
                gone: r.get(7)?,
            },
        ))
    })?;
    rows.collect()
}

/// Remember the side-file signature an item was read with.
pub fn set_sidecar_sig(conn: &Connection, id: MediaId, sig: Option<&str>) -> rusqlite::Result<()> {
    conn.execute("UPDATE content_items SET sidecar_sig = ?2 WHERE id = ?1", params![id.0, sig])?;
    Ok(())
}

/// The file changed: forget the probe and loudness (the item is not schedulable until probed
/// again).
pub fn invalidate_probe(conn: &Connection, id: MediaId) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE content_items SET probed_at = NULL, playable = 0, probe_error = NULL, loudness_lufs = NULL,
            loudness_error = NULL, loudness_at = NULL, loudness_on_air_lufs = NULL, loudness_on_air_at = NULL,
            breaks_at = NULL, subtitles_at = NULL
         WHERE id = ?1",
        [id.0],
    )?;
    conn.execute("DELETE FROM content_subtitle_cues WHERE item_id = ?1 AND origin = 'track'", [id.0])?;
    conn.execute("DELETE FROM content_breakpoints WHERE item_id = ?1 AND origin = 'chapter'", [id.0])?;
    conn.execute("DELETE FROM content_break_candidates WHERE item_id = ?1 AND state = 'candidate'", [id.0])?;
    Ok(())
}

/// Mark items as vanished from their source (kept for history, never scheduled).
pub fn mark_gone(conn: &Connection, ids: &[MediaId], now_ms: i64) -> rusqlite::Result<usize> {
    let mut st = conn.prepare("UPDATE content_items SET gone = 1, updated_at = ?2 WHERE id = ?1 AND gone = 0")?;
    let mut n = 0;
    for id in ids {
        n += st.execute(params![id.0, now_ms])?;
    }
    Ok(n)
}

/// An item the loudness pass has to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoudnessTodo {
    /// Item.
    pub id: MediaId,
    /// Where to read it.
    pub uri: String,
    /// The probe found an audio stream.
    pub has_audio: bool,
    /// A program whose media was never searched for break points.
    pub find_breaks: bool,
    /// Its loudness was never measured. (An item with neither this nor `find_breaks` is here
    /// because its text subtitle track was never looked for.)
    pub measure: bool,
}

/// Playable items whose loudness was never measured, programs never searched for break
/// points, or items never looked at for a text subtitle track (oldest first), up to `limit`.
pub fn loudness_todo(conn: &Connection, source: Option<SourceId>, limit: usize) -> rusqlite::Result<Vec<LoudnessTodo>> {
    let mut st = conn.prepare(
        "SELECT id, uri, audio_codec IS NOT NULL, breaks_at IS NULL AND kind IN ('episode', 'movie'),
                loudness_at IS NULL
         FROM content_items
         WHERE (loudness_at IS NULL OR (breaks_at IS NULL AND kind IN ('episode', 'movie')) OR subtitles_at IS NULL)
           AND playable = 1 AND gone = 0 AND (?1 IS NULL OR source_id = ?1)
         ORDER BY id LIMIT ?2",
    )?;
    let rows = st.query_map(params![source.map(|s| s.0), limit as i64], |r| {
        Ok(LoudnessTodo {
            id: MediaId(r.get(0)?),
            uri: r.get(1)?,
            has_audio: r.get(2)?,
            find_breaks: r.get(3)?,
            measure: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// Store the cues of an item's text subtitle track (none: it has no such track), replacing
/// what was there, and note that it was looked at.
pub fn set_subtitle_cues(
    conn: &Connection,
    id: MediaId,
    cues: &[crate::library::subtitles::Cue],
    now_ms: i64,
) -> rusqlite::Result<()> {
    put_cues(conn, id, "track", cues)?;
    conn.execute("UPDATE content_items SET subtitles_at = ?2 WHERE id = ?1", params![id.0, now_ms])?;
    Ok(())
}

/// Store the cues of the subtitle file an item's source offers beside its media (none: it
/// offers none), replacing what was there.
pub fn set_offered_subtitle_cues(
    conn: &Connection,
    id: MediaId,
    cues: &[crate::library::subtitles::Cue],
) -> rusqlite::Result<()> {
    put_cues(conn, id, "offered", cues)
}

fn put_cues(
    conn: &Connection,
    id: MediaId,
    origin: &str,
    cues: &[crate::library::subtitles::Cue],
) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM content_subtitle_cues WHERE item_id = ?1 AND origin = ?2", params![id.0, origin])?;
    let mut st = conn.prepare_cached(
        "INSERT INTO content_subtitle_cues (item_id, start_ms, end_ms, text, origin) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for c in cues {
        st.execute(params![id.0, c.start.as_millis() as i64, c.end.as_millis() as i64, c.lines.join("\n"), origin])?;
    }
    Ok(())
}

/// The subtitle cues kept for an item, in start order (empty: none, or not read yet).
pub fn subtitle_cues(conn: &Connection, id: MediaId) -> rusqlite::Result<crate::library::subtitles::StoredCues> {
    let mut st = conn.prepare_cached(
        "SELECT start_ms, end_ms, text, origin FROM content_subtitle_cues WHERE item_id = ?1 ORDER BY start_ms, rowid",
    )?;
    let mut out = crate::library::subtitles::StoredCues::default();
    let rows = st.query_map([id.0], |r| {
        let (start, end, text, origin): (i64, i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let cue = crate::library::subtitles::Cue {
            start: std::time::Duration::from_millis(start.max(0) as u64),
            end: std::time::Duration::from_millis(end.max(0) as u64),
            lines: text.lines().map(str::to_owned).collect(),
        };
        Ok((origin == "offered", cue))
    })?;
    for row in rows {
        let (offered, cue) = row?;
        if offered { &mut out.offered } else { &mut out.track }.push(cue);
    }
    Ok(out)
}

/// Counts over a source's present items: (total, unplayable).
pub fn source_counts(conn: &Connection, source: SourceId) -> rusqlite::Result<(u64, u64)> {
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(playable = 0), 0) FROM content_items WHERE source_id = ?1 AND gone = 0",
        [source.0],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// One breakpoint with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OriginBreakpoint {
    /// Offset from the start, ms.
    pub offset_ms: i64,
    /// chapter, nfo, plex or user.
    pub origin: String,
}

/// Everything known about one item (`library show`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemDetails {
    /// The item as the rest of the system sees it.
    #[serde(flatten)]
    pub item: MediaItem,
    /// Source-local id (relative path, Plex ratingKey).
    pub external_id: String,
    /// Local path (lossy for names that are not UTF-8; the URI is exact).
    pub path: Option<String>,
    /// Probe facts.
    pub probe: ProbeFacts,
    /// When it was probed (UTC ms).
    pub probed_at: Option<i64>,
    /// Why loudness could not be measured.
    pub loudness_error: Option<String>,
    /// Vanished from its source.
    pub gone: bool,
    /// Every breakpoint with its origin.
    pub all_breakpoints: Vec<OriginBreakpoint>,
    /// Break points found in the media, with the user's decisions.
    pub break_candidates: Vec<super::BreakCandidate>,
    /// When the media was last searched for break points (UTC ms).
    pub breaks_at: Option<i64>,
}

/// Full detail of one item.
pub fn get_item_details(conn: &Connection, id: MediaId) -> rusqlite::Result<Option<ItemDetails>> {
    let Some(item) = get_item(conn, id)? else { return Ok(None) };
    let row = conn
        .query_row(
            "SELECT external_id, path, duration_ms, video_codec, width, height, frame_rate, interlaced,
                display_aspect, audio_codec, audio_channels, probed_at, loudness_error, gone, breaks_at
             FROM content_items WHERE id = ?1",
            [id.0],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    ProbeFacts {
                        duration_ms: r.get(2)?,
                        video_codec: r.get(3)?,
                        width: r.get(4)?,
                        height: r.get(5)?,
                        frame_rate: r.get(6)?,
                        interlaced: r.get(7)?,
                        display_aspect: r.get(8)?,
                        audio_codec: r.get(9)?,
                        audio_channels: r.get(10)?,
                    },
                    r.get::<_, Option<i64>>(11)?,
                    r.get::<_, Option<String>>(12)?,
                    r.get::<_, bool>(13)?,
                    r.get::<_, Option<i64>>(14)?,
                ))
            },
        )
        .optional()?;
    let Some((external_id, path, probe, probed_at, loudness_error, gone, breaks_at)) = row else { return Ok(None) };
    let mut st = conn
        .prepare("SELECT offset_ms, origin FROM content_breakpoints WHERE item_id = ?1 ORDER BY offset_ms, origin")?;
    let all_breakpoints = st
        .query_map([id.0], |r| Ok(OriginBreakpoint { offset_ms: r.get(0)?, origin: r.get(1)? }))?
        .collect::<Result<_, _>>()?;
    let break_candidates = super::break_candidates(conn, id)?;
    Ok(Some(ItemDetails {
        item,
        external_id,
        path,
        probe,
        probed_at,
        loudness_error,
        gone,
        all_breakpoints,
        break_candidates,
        breaks_at,
    }))
}
