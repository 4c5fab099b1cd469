//! The library's tables: `sources`, `content_items`, `content_scheduling_metadata`,
//! `content_breakpoints`. Nothing else runs SQL on them.
//!
//! Scans write through [`upsert_item`] (imported facts) and [`set_metadata`] /
//! [`set_breakpoints`] with origin `import`; user edits use origin `user` and are never
//! overwritten by scans. The loudness pass stores the break points it finds in the media
//! ([`set_break_candidates`], `content_break_candidates`). Readers get effective values
//! through [`get_item`] / [`list_items`]: breakpoints are the user's (hand-set, and accepted
//! candidates) if any, else the imported ones (chapters, `.nfo`, Plex), else the undecided
//! candidates found in the media.

mod breaks;
mod index;
mod items;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

pub use breaks::*;
pub use index::*;
pub use items::*;

/// Errors of the library's tables (what SQLite said); callers outside the store name it so.
pub type StoreError = rusqlite::Error;

use super::art::Art;
use super::{ContentKind, MediaId, SchedulingMetadata, SourceId};

/// Where a metadata value or breakpoint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Read from the source (`.nfo`, Plex, chapters); rewritten by every scan.
    Import,
    /// Set by the user; wins over imported values and survives scans.
    User,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::User => "user",
        }
    }
}

/// What kind of source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceSpec {
    /// A folder on this box.
    Folder {
        /// The folder.
        path: std::path::PathBuf,
        /// What it holds, as given on the CLI (shows, movies, commercials, ...).
        content_kind: String,
    },
    /// A Plex server.
    Plex {
        /// Base URL.
        url: String,
        /// X-Plex-Token (never shown in full).
        token: String,
        /// Libraries to import ([] = all).
        libraries: Vec<String>,
        /// Path prefix as Plex sees files, and as this box sees them.
        path_map: Option<(String, String)>,
    },
    /// A Jellyfin or Emby server.
    MediaServer {
        /// Which API it speaks (Emby's lives under `/emby`).
        server: ServerFlavor,
        /// Base URL (without `/emby`).
        url: String,
        /// API key (never shown in full).
        api_key: String,
        /// Libraries to import ([] = all).
        libraries: Vec<String>,
        /// Path prefix as the server sees files, and as this box sees them.
        path_map: Option<(String, String)>,
    },
}

/// Jellyfin or Emby: the same API, Emby's under `/emby` (`sources.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerFlavor {
    /// Jellyfin.
    Jellyfin,
    /// Emby.
    Emby,
}

impl ServerFlavor {
    /// `jellyfin` or `emby` (`sources.kind`, breakpoint origin, CLI/API type).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jellyfin => "jellyfin",
            Self::Emby => "emby",
        }
    }

    /// `Jellyfin` or `Emby`, for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Jellyfin => "Jellyfin",
            Self::Emby => "Emby",
        }
    }

    /// The API's base under the server URL: `url` itself (Jellyfin) or `url/emby` (Emby).
    pub fn api_base(self, url: &str) -> String {
        let url = url.trim_end_matches('/');
        match self {
            Self::Jellyfin => url.to_owned(),
            Self::Emby => format!("{url}/emby"),
        }
    }
}

/// A media source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Id.
    pub id: SourceId,
    /// Display name.
    pub name: String,
    /// Folder, Plex, Jellyfin or Emby.
    pub spec: SourceSpec,
    /// Included in scans and schedules.
    pub enabled: bool,
    /// Last completed sync (UTC ms).
    pub last_sync_at: Option<i64>,
    /// Last sync error.
    pub last_error: Option<String>,
}

/// A transaction that takes the write lock at once: one that reads before it writes would,
/// in WAL mode, fail with "database is locked" when another process (the daemon) committed
/// in between, instead of waiting its turn.
pub fn write_transaction(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// Add a source.
pub fn insert_source(conn: &Connection, name: &str, spec: &SourceSpec, now_ms: i64) -> rusqlite::Result<SourceId> {
    match spec {
        SourceSpec::Folder { path, content_kind } => conn.execute(
            "INSERT INTO sources (kind, name, content_kind, path, created_at) VALUES ('folder', ?1, ?2, ?3, ?4)",
            params![name, content_kind, path.display().to_string(), now_ms],
        )?,
        SourceSpec::Plex { url, token, libraries, path_map } => conn.execute(
            "INSERT INTO sources (kind, name, url, token, libraries, path_map_from, path_map_to, created_at)
             VALUES ('plex', ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                name,
                url,
                token,
                serde_json::to_string(libraries).expect("json"),
                path_map.as_ref().map(|p| &p.0),
                path_map.as_ref().map(|p| &p.1),
                now_ms
            ],
        )?,
        SourceSpec::MediaServer { server, url, api_key, libraries, path_map } => conn.execute(
            "INSERT INTO sources (kind, name, url, token, libraries, path_map_from, path_map_to, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                server.as_str(),
                name,
                url,
                api_key,
                serde_json::to_string(libraries).expect("json"),
                path_map.as_ref().map(|p| &p.0),
                path_map.as_ref().map(|p| &p.1),
                now_ms
            ],
        )?,
    };
    Ok(SourceId(conn.last_insert_rowid()))
}

fn source_from_row(r: &Row<'_>) -> rusqlite::Result<Source> {
    let kind: String = r.get(1)?;
    let server = |r: &Row<'_>| -> rusqlite::Result<_> {
        let libs: String = r.get(6)?;
        let from: Option<String> = r.get(7)?;
        let to: Option<String> = r.get(8)?;
        Ok((
            r.get::<_, Option<String>>(4)?.unwrap_or_default(),
            r.get::<_, Option<String>>(5)?.unwrap_or_default(),
            serde_json::from_str(&libs).unwrap_or_default(),
            from.zip(to),
        ))
    };
    let spec = if kind == "plex" {
        let (url, token, libraries, path_map) = server(r)?;
        SourceSpec::Plex { url, token, libraries, path_map }
    } else if kind == "jellyfin" || kind == "emby" {
        let (url, api_key, libraries, path_map) = server(r)?;
        let server = if kind == "emby" { ServerFlavor::Emby } else { ServerFlavor::Jellyfin };
        SourceSpec::MediaServer { server, url, api_key, libraries, path_map }
    } else {
        SourceSpec::Folder {
            path: r.get::<_, Option<String>>(3)?.unwrap_or_default().into(),
            content_kind: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
        }
    };
    Ok(Source {
        id: SourceId(r.get(0)?),
        name: r.get(2)?,
        spec,
        enabled: r.get(10)?,
        last_sync_at: r.get(11)?,
        last_error: r.get(12)?,
    })
}

const SOURCE_COLUMNS: &str = "id, kind, name, path, url, token, libraries, path_map_from, path_map_to, content_kind, enabled, last_sync_at, last_error";

/// Every source, by id.
pub fn list_sources(conn: &Connection) -> rusqlite::Result<Vec<Source>> {
    let mut st = conn.prepare(&format!("SELECT {SOURCE_COLUMNS} FROM sources ORDER BY id"))?;
    st.query_map([], source_from_row)?.collect()
}

/// One source.
pub fn get_source(conn: &Connection, id: SourceId) -> rusqlite::Result<Option<Source>> {
    conn.query_row(&format!("SELECT {SOURCE_COLUMNS} FROM sources WHERE id = ?1"), [id.0], source_from_row).optional()
}

/// What opening items needs beyond their URIs (the tokens and API keys of the server sources).
pub fn credentials(conn: &Connection) -> rusqlite::Result<crate::library::secret::Credentials> {
    Ok(crate::library::secret::Credentials::from_sources(&list_sources(conn)?))
}

/// The source that is `spec` already: the same folder and kind, or the same server URL and
/// libraries.
pub fn same_source(conn: &Connection, spec: &SourceSpec) -> rusqlite::Result<Option<Source>> {
    let same = |s: &Source| match (&s.spec, spec) {
        (SourceSpec::Folder { path: a, content_kind: k }, SourceSpec::Folder { path: b, content_kind: l }) => {
            a == b && k == l
        }
        (SourceSpec::Plex { url: a, libraries: l, .. }, SourceSpec::Plex { url: b, libraries: m, .. }) => {
            a == b && l == m
        }
        (
            SourceSpec::MediaServer { server: f, url: a, libraries: l, .. },
            SourceSpec::MediaServer { server: g, url: b, libraries: m, .. },
        ) => f == g && a == b && l == m,
        _ => false,
    };
    Ok(list_sources(conn)?.into_iter().find(same))
}

/// Remove a source and every item it brought (returns false if there was none).
pub fn remove_source(conn: &Connection, id: SourceId) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM sources WHERE id = ?1", [id.0])? > 0)
}

/// Rewrite a source in place (its id, and so its items and their user edits, stay).
pub fn update_source(conn: &Connection, source: &Source) -> rusqlite::Result<bool> {
    let n = match &source.spec {
        SourceSpec::Folder { path, content_kind } => conn.execute(
            "UPDATE sources SET name = ?2, path = ?3, content_kind = ?4, enabled = ?5 WHERE id = ?1 AND kind = 'folder'",
            params![source.id.0, source.name, path.display().to_string(), content_kind, source.enabled],
        )?,
        SourceSpec::Plex { url, token, libraries, path_map } => conn.execute(
            "UPDATE sources SET name = ?2, url = ?3, token = ?4, libraries = ?5, path_map_from = ?6, path_map_to = ?7,
                enabled = ?8
             WHERE id = ?1 AND kind = 'plex'",
            params![
                source.id.0,
                source.name,
                url,
                token,
                serde_json::to_string(libraries).expect("json"),
                path_map.as_ref().map(|p| &p.0),
                path_map.as_ref().map(|p| &p.1),
                source.enabled
            ],
        )?,
        SourceSpec::MediaServer { server, url, api_key, libraries, path_map } => conn.execute(
            "UPDATE sources SET name = ?2, url = ?3, token = ?4, libraries = ?5, path_map_from = ?6, path_map_to = ?7,
                enabled = ?8
             WHERE id = ?1 AND kind = ?9",
            params![
                source.id.0,
                source.name,
                url,
                api_key,
                serde_json::to_string(libraries).expect("json"),
                path_map.as_ref().map(|p| &p.0),
                path_map.as_ref().map(|p| &p.1),
                source.enabled,
                server.as_str()
            ],
        )?,
    };
    Ok(n > 0)
}

/// The source's items moved: URIs starting with `old_uri` now start with `new_uri`, and local
/// paths starting with `old_path` (if given) with `new_path`. Returns the items changed.
pub fn move_items(
    conn: &Connection,
    source: SourceId,
    (old_uri, new_uri): (&str, &str),
    paths: Option<(&str, &str)>,
) -> rusqlite::Result<usize> {
    let n = conn.execute(
        "UPDATE content_items SET uri = ?3 || substr(uri, length(?2) + 1)
         WHERE source_id = ?1 AND substr(uri, 1, length(?2)) = ?2",
        params![source.0, old_uri, new_uri],
    )?;
    if let Some((old, new)) = paths {
        conn.execute(
            "UPDATE content_items SET path = ?3 || substr(path, length(?2) + 1)
             WHERE source_id = ?1 AND substr(path, 1, length(?2)) = ?2",
            params![source.0, old, new],
        )?;
    }
    Ok(n)
}

/// Forget what the last sync saw of a remote source's items, so the next sync reads each one
/// again (after its path mapping changed).
pub fn forget_remote_state(conn: &Connection, source: SourceId) -> rusqlite::Result<()> {
    conn.execute("UPDATE content_items SET remote_updated_at = NULL WHERE source_id = ?1", [source.0])?;
    Ok(())
}

/// Record the outcome of a sync.
pub fn mark_source_synced(conn: &Connection, id: SourceId, now_ms: i64, error: Option<&str>) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sources SET last_sync_at = CASE WHEN ?2 IS NULL THEN ?3 ELSE last_sync_at END, last_error = ?2
         WHERE id = ?1",
        params![id.0, error, now_ms],
    )?;
    Ok(())
}

/// Imported facts about an item (what a scan or sync knows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemRecord {
    /// Source-local id (relative path, Plex ratingKey).
    pub external_id: String,
    /// Kind.
    pub kind: Option<ContentKind>,
    /// URI to play.
    pub uri: String,
    /// Local path when a file.
    pub path: Option<String>,
    /// Title.
    pub title: String,
    /// Series.
    pub series: Option<String>,
    /// Season.
    pub season: Option<u32>,
    /// Episode.
    pub episode: Option<u32>,
    /// Year.
    pub year: Option<i32>,
    /// Plot.
    pub plot: Option<String>,
    /// Normalised rating.
    pub rating: Option<String>,
    /// Genres.
    pub genres: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// File size (change detection).
    pub file_size: Option<i64>,
    /// File mtime, ms (change detection).
    pub file_mtime: Option<i64>,
    /// Plex updatedAt (change detection).
    pub remote_updated_at: Option<i64>,
    /// Duration known without probing (Plex), ms.
    pub duration_ms: Option<i64>,
    /// Original air (episodes) or release (movies) date.
    pub aired: Option<chrono::NaiveDate>,
    /// Where the item's pictures are.
    pub art: Art,
    /// Parts and versions when the item is not one file ([`MediaItem::versions`]).
    pub versions: Vec<crate::library::MediaVersion>,
}

/// Probe facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeFacts {
    /// Duration, ms.
    pub duration_ms: Option<i64>,
    /// Video codec.
    pub video_codec: Option<String>,
    /// Width.
    pub width: Option<u32>,
    /// Height.
    pub height: Option<u32>,
    /// Frame rate "num/den".
    pub frame_rate: Option<String>,
    /// Interlaced.
    pub interlaced: Option<bool>,
    /// Display aspect "4:3".
    pub display_aspect: Option<String>,
    /// Audio codec.
    pub audio_codec: Option<String>,
    /// Audio channels.
    pub audio_channels: Option<u32>,
}

/// Insert or update an item by (source, external id); returns its id and whether this call
/// created it (told by `created_at`: a row created earlier in the same millisecond `now_ms`
/// also reads as new). Probe results, loudness and user edits are kept.
pub fn upsert_item(
    conn: &Connection,
    source: SourceId,
    rec: &ItemRecord,
    now_ms: i64,
) -> rusqlite::Result<(MediaId, bool)> {
    let kind = rec.kind.unwrap_or(ContentKind::Episode).as_str();
    let genres = serde_json::to_string(&rec.genres).expect("json");
    let tags = serde_json::to_string(&rec.tags).expect("json");
    let art = serde_json::to_string(&rec.art).expect("json");
    let aired = rec.aired.map(|d| d.format("%Y-%m-%d").to_string());
    let versions = (!rec.versions.is_empty()).then(|| serde_json::to_string(&rec.versions).expect("json"));
    let mut st = conn.prepare_cached(
        "INSERT INTO content_items (source_id, external_id, kind, uri, path, title, series, season, episode,
            year, plot, rating, genres, tags, file_size, file_mtime, remote_updated_at, duration_ms,
            created_at, updated_at, aired, art, versions)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?19, ?20, ?21, ?22)
         ON CONFLICT(source_id, external_id) DO UPDATE SET kind = excluded.kind, uri = excluded.uri,
            path = excluded.path, title = excluded.title, series = excluded.series, season = excluded.season,
            episode = excluded.episode, year = excluded.year, plot = excluded.plot, rating = excluded.rating,
            genres = excluded.genres, tags = excluded.tags, file_size = excluded.file_size,
            file_mtime = excluded.file_mtime, remote_updated_at = excluded.remote_updated_at,
            duration_ms = COALESCE(excluded.duration_ms, duration_ms), versions = excluded.versions, gone = 0,
            updated_at = excluded.updated_at, aired = excluded.aired, art = excluded.art
         RETURNING id, created_at = ?19",
    )?;
    st.query_row(
        params![
            source.0,
            rec.external_id,
            kind,
            rec.uri,
            rec.path,
            rec.title,
            rec.series,
            rec.season,
            rec.episode,
            rec.year,
            rec.plot,
            rec.rating,
            genres,
            tags,
            rec.file_size,
            rec.file_mtime,
            rec.remote_updated_at,
            rec.duration_ms,
            now_ms,
            aired,
            art,
            versions
        ],
        |r| Ok((MediaId(r.get(0)?), r.get(1)?)),
    )
}

/// The pictures of an item and the source they come from (Plex pictures are fetched with its
/// token); `None` when there is no such item.
pub fn item_art(conn: &Connection, id: MediaId) -> rusqlite::Result<Option<(SourceSpec, Art)>> {
    let row = conn
        .query_row(
            &format!(
                "SELECT {}, i.art FROM content_items i JOIN sources s ON s.id = i.source_id WHERE i.id = ?1",
                SOURCE_COLUMNS.split(", ").map(|c| format!("s.{c}")).collect::<Vec<_>>().join(", ")
            ),
            [id.0],
            |r| Ok((source_from_row(r)?, r.get::<_, String>(13)?)),
        )
        .optional()?;
    Ok(row.map(|(src, art)| (src.spec, serde_json::from_str(&art).unwrap_or_default())))
}

/// The pictures of each of `ids` that has any.
pub fn art_of(conn: &Connection, ids: &[MediaId]) -> rusqlite::Result<std::collections::HashMap<MediaId, Art>> {
    let mut out = std::collections::HashMap::new();
    let mut st = conn.prepare_cached("SELECT art FROM content_items WHERE id = ?1 AND art != '{}'")?;
    for id in ids {
        if let Some(art) = st.query_row([id.0], |r| r.get::<_, String>(0)).optional()? {
            let art: Art = serde_json::from_str(&art).unwrap_or_default();
            if !art.is_empty() {
                out.insert(*id, art);
            }
        }
    }
    Ok(out)
}

/// The URI of each of `ids` still in the library.
pub fn uris_of(conn: &Connection, ids: &[MediaId]) -> rusqlite::Result<Vec<(MediaId, String)>> {
    let mut out = Vec::new();
    let mut st = conn.prepare_cached("SELECT uri FROM content_items WHERE id = ?1")?;
    for id in ids {
        if let Some(uri) = st.query_row([id.0], |r| r.get::<_, String>(0)).optional()? {
            out.push((*id, uri));
        }
    }
    Ok(out)
}

/// Store a probe result: playable with facts, or unplayable with the reason.
pub fn set_probe(
    conn: &Connection,
    id: MediaId,
    result: Result<&ProbeFacts, &str>,
    now_ms: i64,
) -> rusqlite::Result<()> {
    match result {
        Ok(f) => conn.execute(
            "UPDATE content_items SET duration_ms = ?2, video_codec = ?3, width = ?4, height = ?5, frame_rate = ?6,
                interlaced = ?7, display_aspect = ?8, audio_codec = ?9, audio_channels = ?10, playable = 1,
                probe_error = NULL, probed_at = ?11
             WHERE id = ?1",
            params![
                id.0,
                f.duration_ms,
                f.video_codec,
                f.width,
                f.height,
                f.frame_rate,
                f.interlaced,
                f.display_aspect,
                f.audio_codec,
                f.audio_channels,
                now_ms
            ],
        )?,
        Err(reason) => conn.execute(
            "UPDATE content_items SET playable = 0, probe_error = ?2, probed_at = ?3 WHERE id = ?1",
            params![id.0, reason, now_ms],
        )?,
    };
    Ok(())
}

/// Store a loudness measurement (or the reason it failed).
pub fn set_loudness(conn: &Connection, id: MediaId, result: Result<f64, &str>, now_ms: i64) -> rusqlite::Result<()> {
    match result {
        Ok(lufs) => conn.execute(
            "UPDATE content_items SET loudness_lufs = ?2, loudness_error = NULL, loudness_at = ?3 WHERE id = ?1",
            params![id.0, lufs, now_ms],
        )?,
        Err(e) => conn.execute(
            "UPDATE content_items SET loudness_error = ?2, loudness_at = ?3 WHERE id = ?1",
            params![id.0, e, now_ms],
        )?,
    };
    Ok(())
}

/// Store what playout measured while the item aired (LUFS, aired layout). It stands in for
/// the full measurement until the background job makes one.
pub fn set_on_air_loudness(conn: &Connection, id: MediaId, lufs: f64, now_ms: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE content_items SET loudness_on_air_lufs = ?2, loudness_on_air_at = ?3 WHERE id = ?1",
        params![id.0, lufs, now_ms],
    )?;
    Ok(())
}

/// The item's latest loudness (LUFS, aired layout): the full measurement, else what playout
/// measured on the air; `None` when neither exists yet.
pub fn current_loudness(conn: &Connection, id: MediaId) -> rusqlite::Result<Option<f64>> {
    conn.query_row(
        "SELECT COALESCE(loudness_lufs, loudness_on_air_lufs) FROM content_items WHERE id = ?1",
        [id.0],
        |r| r.get::<_, Option<f64>>(0),
    )
    .optional()
    .map(Option::flatten)
}

/// Write one origin's metadata row (replacing it).
pub fn set_metadata(
    conn: &Connection,
    id: MediaId,
    origin: Origin,
    m: &SchedulingMetadata,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let list = |v: &[String]| if v.is_empty() { None } else { Some(v.join(",")) };
    conn.execute(
        "INSERT INTO content_scheduling_metadata (item_id, origin, daypart, season, content_rating, demographic,
            commercial_company, commercial_category, era, warnings, notes, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT(item_id, origin) DO UPDATE SET daypart = excluded.daypart, season = excluded.season,
            content_rating = excluded.content_rating, demographic = excluded.demographic,
            commercial_company = excluded.commercial_company, commercial_category = excluded.commercial_category,
            era = excluded.era, warnings = excluded.warnings, notes = excluded.notes, updated_at = excluded.updated_at",
        params![
            id.0,
            origin.as_str(),
            list(&m.daypart),
            list(&m.season),
            m.content_rating,
            m.demographic,
            m.commercial_company,
            m.commercial_category,
            m.era,
            m.warnings,
            m.notes,
            now_ms
        ],
    )?;
    Ok(())
}

/// Replace the breakpoints of one origin.
pub fn set_breakpoints(conn: &Connection, id: MediaId, origin: &str, offsets_ms: &[i64]) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM content_breakpoints WHERE item_id = ?1 AND origin = ?2", params![id.0, origin])?;
    let mut st =
        conn.prepare("INSERT OR IGNORE INTO content_breakpoints (item_id, offset_ms, origin) VALUES (?1, ?2, ?3)")?;
    for ms in offsets_ms {
        st.execute(params![id.0, ms, origin])?;
    }
    Ok(())
}

/// When each item last aired (UTC ms); items that never aired are absent.
pub fn last_aired(conn: &Connection) -> rusqlite::Result<std::collections::HashMap<MediaId, i64>> {
    let mut st = conn.prepare("SELECT id, last_aired_at FROM content_items WHERE last_aired_at IS NOT NULL")?;
    st.query_map([], |r| Ok((MediaId(r.get(0)?), r.get(1)?)))?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[test]
    fn user_edits_survive_a_rescan_and_win() {
        let db = Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            let src = insert_source(
                c,
                "Shows",
                &SourceSpec::Folder { path: "/media/shows".into(), content_kind: "shows".into() },
                1,
            )
            .unwrap();
            let rec = ItemRecord {
                external_id: "Show/Season 01/Show - S01E01.mkv".into(),
                kind: Some(ContentKind::Episode),
                uri: "file:///media/shows/Show/Season%2001/Show%20-%20S01E01.mkv".into(),
                title: "Pilot".into(),
                series: Some("Show".into()),
                season: Some(1),
                episode: Some(1),
                ..Default::default()
            };
            let (id, new) = upsert_item(c, src, &rec, 1).unwrap();
            assert!(new);
            set_probe(c, id, Ok(&ProbeFacts { duration_ms: Some(1_320_000), ..Default::default() }), 1).unwrap();
            let imported = SchedulingMetadata {
                daypart: vec!["primetime".into()],
                era: Some("1980s".into()),
                ..Default::default()
            };
            set_metadata(c, id, Origin::Import, &imported, 1).unwrap();
            set_breakpoints(c, id, "chapter", &[420_000, 840_000]).unwrap();
            let user = SchedulingMetadata { daypart: vec!["late_night".into()], ..Default::default() };
            set_metadata(c, id, Origin::User, &user, 2).unwrap();
            set_breakpoints(c, id, "user", &[600_000]).unwrap();
            // A rescan rewrites imported values only.
            let (again, new) =
                upsert_item(c, src, &ItemRecord { title: "Pilot (HD)".into(), ..rec.clone() }, 3).unwrap();
            assert_eq!((again, new), (id, false));
            set_metadata(c, id, Origin::Import, &imported, 3).unwrap();
            let item = get_item(c, id).unwrap().unwrap();
            assert_eq!(item.title, "Pilot (HD)");
            assert!(item.playable);
            assert_eq!(item.duration_ms, Some(1_320_000));
            assert_eq!(item.meta.daypart, ["late_night"]);
            assert_eq!(item.meta.era.as_deref(), Some("1980s"));
            assert_eq!(item.breakpoints, [600_000]);
            let found =
                list_items(c, &ItemFilter { search: Some("pilot".into()), playable_only: true, ..Default::default() })
                    .unwrap();
            assert_eq!(found.len(), 1);
            let none =
                list_items(c, &ItemFilter { kind: Some(ContentKind::Commercial), ..Default::default() }).unwrap();
            assert!(none.is_empty());
        });
    }

    #[test]
    fn the_latest_loudness_is_the_full_measurement_else_the_on_air_one() {
        let db = Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            let spec = SourceSpec::Folder { path: "/media/spots".into(), content_kind: "commercials".into() };
            let src = insert_source(c, "Spots", &spec, 1).unwrap();
            let rec = ItemRecord {
                external_id: "a.mp4".into(),
                uri: "file:///media/spots/a.mp4".into(),
                ..Default::default()
            };
            let (id, _) = upsert_item(c, src, &rec, 1).unwrap();
            assert_eq!(current_loudness(c, id).unwrap(), None);
            set_on_air_loudness(c, id, -31.5, 2).unwrap();
            assert_eq!(current_loudness(c, id).unwrap(), Some(-31.5));
            // Still to do for the background job: the on-air value covers part of the item.
            set_probe(c, id, Ok(&ProbeFacts { duration_ms: Some(30_000), ..Default::default() }), 2).unwrap();
            assert_eq!(loudness_todo(c, None, 10).unwrap().len(), 1);
            set_loudness(c, id, Ok(-30.0), 3).unwrap();
            assert_eq!(current_loudness(c, id).unwrap(), Some(-30.0));
            invalidate_probe(c, id).unwrap();
            assert_eq!(current_loudness(c, id).unwrap(), None);
            assert_eq!(current_loudness(c, MediaId(9999)).unwrap(), None);
        });
    }
}
