//! Reading items back with their effective metadata and breakpoints: one joined query per
//! call (items, both metadata origins, both breakpoint lists), so listing the whole library
//! costs one statement, not three per item.

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::Origin;
use crate::library::{ContentKind, MediaId, MediaItem, SchedulingMetadata, SourceId};

const META_COLUMNS: &str =
    "daypart, season, content_rating, demographic, commercial_company, commercial_category, era, warnings, notes";

/// Nine metadata columns (in [`META_COLUMNS`] order) starting at column `at`.
fn metadata_from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<SchedulingMetadata> {
    let split = |s: Option<String>| -> Vec<String> {
        s.map(|s| s.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect()).unwrap_or_default()
    };
    Ok(SchedulingMetadata {
        daypart: split(r.get(at)?),
        season: split(r.get(at + 1)?),
        content_rating: r.get(at + 2)?,
        demographic: r.get(at + 3)?,
        commercial_company: r.get(at + 4)?,
        commercial_category: r.get(at + 5)?,
        era: r.get(at + 6)?,
        warnings: r.get(at + 7)?,
        notes: r.get(at + 8)?,
    })
}

/// Each user field wins over the imported one.
fn merge_metadata(user: Option<SchedulingMetadata>, import: Option<SchedulingMetadata>) -> SchedulingMetadata {
    let import = import.unwrap_or_default();
    let Some(user) = user else { return import };
    let pick_vec = |u: Vec<String>, i: Vec<String>| if u.is_empty() { i } else { u };
    SchedulingMetadata {
        daypart: pick_vec(user.daypart, import.daypart),
        season: pick_vec(user.season, import.season),
        content_rating: user.content_rating.or(import.content_rating),
        demographic: user.demographic.or(import.demographic),
        commercial_company: user.commercial_company.or(import.commercial_company),
        commercial_category: user.commercial_category.or(import.commercial_category),
        era: user.era.or(import.era),
        warnings: user.warnings.or(import.warnings),
        notes: user.notes.or(import.notes),
    }
}

/// The user's breakpoints (hand-set and accepted candidates) if any, else every imported
/// one, else the undecided candidates found in the media; sorted and unique.
fn merge_breakpoints(user: Vec<i64>, all: Vec<i64>, found: Vec<i64>) -> Vec<i64> {
    let mut out = if !user.is_empty() {
        user
    } else if !all.is_empty() {
        all
    } else {
        found
    };
    out.sort_unstable();
    out.dedup();
    out
}

/// One origin's metadata row, if any.
pub fn get_metadata(conn: &Connection, id: MediaId, origin: Origin) -> rusqlite::Result<Option<SchedulingMetadata>> {
    conn.query_row(
        &format!("SELECT {META_COLUMNS} FROM content_scheduling_metadata WHERE item_id = ?1 AND origin = ?2"),
        params![id.0, origin.as_str()],
        |r| metadata_from_row(r, 0),
    )
    .optional()
}

/// Effective metadata: each user field wins over the imported one.
pub fn effective_metadata(conn: &Connection, id: MediaId) -> rusqlite::Result<SchedulingMetadata> {
    Ok(merge_metadata(get_metadata(conn, id, Origin::User)?, get_metadata(conn, id, Origin::Import)?))
}

/// Effective breakpoints: the user's (and accepted candidates) if any, else everything
/// imported, else the undecided candidates; sorted and unique.
pub fn effective_breakpoints(conn: &Connection, id: MediaId) -> rusqlite::Result<Vec<i64>> {
    let mut st = conn.prepare("SELECT offset_ms, origin FROM content_breakpoints WHERE item_id = ?1")?;
    let rows: Vec<(i64, String)> = st.query_map([id.0], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    let candidates = super::break_candidates(conn, id)?;
    let mut user: Vec<i64> = rows.iter().filter(|(_, o)| o == "user").map(|(ms, _)| *ms).collect();
    user.extend(candidates.iter().filter(|c| c.state == super::CandidateState::Accepted).map(|c| c.offset_ms));
    let found = candidates
        .iter()
        .filter(|c| c.state == super::CandidateState::Candidate && c.confidence >= super::USE_CONFIDENCE)
        .map(|c| c.offset_ms)
        .collect();
    Ok(merge_breakpoints(user, rows.into_iter().map(|(ms, _)| ms).collect(), found))
}

/// Which items to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemFilter {
    /// Only this kind.
    pub kind: Option<ContentKind>,
    /// Only items whose title or series contains this (case-insensitive).
    pub search: Option<String>,
    /// Only this source.
    pub source: Option<SourceId>,
    /// Only playable items (schedulers want this).
    pub playable_only: bool,
    /// Include items that vanished from their source.
    pub include_gone: bool,
}

/// Items with both metadata origins and both breakpoint lists; callers add WHERE/ORDER BY.
fn item_select() -> String {
    let meta = |alias: &str| {
        std::iter::once(format!("{alias}.origin"))
            .chain(META_COLUMNS.split(", ").map(|c| format!("{alias}.{c}")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "SELECT i.id, i.source_id, i.kind, i.uri, i.title, i.series, i.season, i.episode, i.year, i.plot, i.rating,
            i.genres, i.tags, i.duration_ms, i.playable, i.probe_error, i.loudness_lufs, {}, {},
            (SELECT group_concat(offset_ms) FROM (
                SELECT offset_ms FROM content_breakpoints b WHERE b.item_id = i.id AND b.origin = 'user'
                UNION ALL
                SELECT offset_ms FROM content_break_candidates d WHERE d.item_id = i.id AND d.state = 'accepted')),
            (SELECT group_concat(offset_ms) FROM content_breakpoints b WHERE b.item_id = i.id),
            i.aired,
            (SELECT group_concat(offset_ms) FROM content_break_candidates d
             WHERE d.item_id = i.id AND d.state = 'candidate' AND d.confidence >= {}),
            i.versions
         FROM content_items i
         LEFT JOIN content_scheduling_metadata mi ON mi.item_id = i.id AND mi.origin = 'import'
         LEFT JOIN content_scheduling_metadata mu ON mu.item_id = i.id AND mu.origin = 'user'",
        meta("mi"),
        meta("mu"),
        super::USE_CONFIDENCE
    )
}

/// A row of [`item_select`].
fn item_from_row(r: &Row<'_>) -> rusqlite::Result<MediaItem> {
    const IMPORT: usize = 17;
    const USER: usize = IMPORT + 10;
    const BREAKS: usize = USER + 10;
    let kind: String = r.get(2)?;
    let genres: String = r.get(11)?;
    let tags: String = r.get(12)?;
    let origin = |at: usize| -> rusqlite::Result<Option<SchedulingMetadata>> {
        r.get::<_, Option<String>>(at)?.map(|_| metadata_from_row(r, at + 1)).transpose()
    };
    let offsets = |at: usize| -> rusqlite::Result<Vec<i64>> {
        Ok(r.get::<_, Option<String>>(at)?
            .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default())
    };
    Ok(MediaItem {
        id: MediaId(r.get(0)?),
        source_id: SourceId(r.get(1)?),
        kind: kind.parse().unwrap_or(ContentKind::Episode),
        uri: r.get(3)?,
        title: r.get(4)?,
        series: r.get(5)?,
        season: r.get(6)?,
        episode: r.get(7)?,
        year: r.get(8)?,
        plot: r.get(9)?,
        rating: r.get(10)?,
        genres: serde_json::from_str(&genres).unwrap_or_default(),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        duration_ms: r.get(13)?,
        playable: r.get(14)?,
        error: r.get(15)?,
        loudness_lufs: r.get(16)?,
        meta: merge_metadata(origin(USER)?, origin(IMPORT)?),
        breakpoints: merge_breakpoints(offsets(BREAKS)?, offsets(BREAKS + 1)?, offsets(BREAKS + 3)?),
        aired: r
            .get::<_, Option<String>>(BREAKS + 2)?
            .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
        versions: r
            .get::<_, Option<String>>(BREAKS + 4)?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default(),
    })
}

/// One item with effective metadata and breakpoints.
pub fn get_item(conn: &Connection, id: MediaId) -> rusqlite::Result<Option<MediaItem>> {
    conn.query_row(&format!("{} WHERE i.id = ?1", item_select()), [id.0], item_from_row).optional()
}

/// Items matching `filter`, with effective metadata and breakpoints, ordered by series,
/// season, episode, title.
pub fn list_items(conn: &Connection, filter: &ItemFilter) -> rusqlite::Result<Vec<MediaItem>> {
    let mut sql = format!("{} JOIN sources s ON s.id = i.source_id WHERE s.enabled = 1", item_select());
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(k) = filter.kind {
        sql.push_str(" AND i.kind = ?");
        args.push(k.as_str().to_owned().into());
    }
    if let Some(s) = &filter.search {
        sql.push_str(" AND (i.title LIKE ? ESCAPE '\\' OR i.series LIKE ? ESCAPE '\\')");
        let pat = format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        args.push(pat.clone().into());
        args.push(pat.into());
    }
    if let Some(src) = filter.source {
        sql.push_str(" AND i.source_id = ?");
        args.push(src.0.into());
    }
    if filter.playable_only {
        sql.push_str(" AND i.playable = 1");
    }
    if !filter.include_gone {
        sql.push_str(" AND i.gone = 0");
    }
    sql.push_str(" ORDER BY i.series IS NULL, i.series, i.season, i.episode, i.title, i.id");
    let mut st = conn.prepare(&sql)?;
    st.query_map(params_from_iter(args), item_from_row)?.collect()
}
