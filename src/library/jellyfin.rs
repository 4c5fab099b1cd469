//! Import from a Jellyfin or Emby server over its HTTP API (JSON, the API key in the
//! `X-Emby-Token` header; Emby's API is the same under `/emby`).
//!
//! Asks `/Users` for a user to list as (the first administrator), `/Library/VirtualFolders`
//! for the libraries (movies, shows and mixed ones), then every movie and episode of the
//! selected ones, page by page (`/Items?UserId=…&ParentId=…&Recursive=true&
//! IncludeItemTypes=Movie,Episode&Fields=…&StartIndex=…&Limit=…`). The listing carries all
//! an item needs (path, genres, rating, chapters, media sources, pictures), so nothing is
//! fetched per item. Items are keyed by their `Id`, so an item that moves between libraries
//! keeps its id. Smart sync: the server gives no modification time for an item, so a sync
//! records a fingerprint of the item as the server describes it (its JSON without the
//! per-user `UserData`); an item whose fingerprint did not change is not touched, a new or
//! changed one is written, what disappeared is marked gone. Chapters become breakpoints
//! (origin `jellyfin` / `emby`). The server's media facts (run time, codecs, size) stand in
//! for a probe: nothing is downloaded.
//!
//! An item's URI is a file on this box when the source's path mapping finds its file here,
//! else its stream URL on the server (`/Videos/{id}/stream?static=true&MediaSourceId=…`)
//! *without* the key, which stays with the source and is added (`api_key=`) only when the
//! item is opened ([`super::secret::Credentials`]). An item with several media sources keeps
//! them all as versions ([`super::MediaVersion`]).
//!
//! The whole listing is read before anything is written: a server that is down, slow, says
//! 401, sends garbage or a short page fails the source with a clear error and changes
//! nothing.
//!
//! Shapes: Jellyfin's OpenAPI (`BaseItemDto`, `BaseItemDtoQueryResult`, `MediaSourceInfo`,
//! `MediaStream`, `ChapterInfo`, `VirtualFolderInfo`, `UserDto`; jellyfin/jellyfin-sdk-typescript
//! `generated-client`), which Emby shares for these fields.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::art::{Art, ArtRef};
use super::progress::Progress;
use super::report::{ItemError, SourceReport};
use super::store::{self, ItemRecord, ProbeFacts, ServerFlavor, Source, SourceSpec};
use super::{ContentKind, MediaId, MediaPart, MediaVersion, nfo, scan};
use crate::clock::{self, Clock};
use crate::db::Db;

/// Items per page when listing a library.
const PAGE: usize = 500;

/// `Fields` asked for in a listing (`ItemFields`). Name, type, series, numbers, year, premiere
/// date, official rating, run time and image tags come without asking.
const FIELDS: &str = "Path,Genres,Overview,Chapters,MediaSources,ProviderIds";

/// Why a Jellyfin/Emby source could not be synced (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum JellyfinError {
    /// Not a Jellyfin or Emby source.
    #[error("source {0} is not a Jellyfin or Emby source")]
    NotMediaServer(String),
    /// Cannot connect.
    #[error("cannot reach {server} at {url}: {source}")]
    Unreachable {
        /// Jellyfin or Emby.
        server: &'static str,
        /// The request (no key: it travels in a header).
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// No answer in time.
    #[error("{server} at {url} did not answer within {timeout:?}")]
    Timeout {
        /// Jellyfin or Emby.
        server: &'static str,
        /// The request.
        url: String,
        /// The limit.
        timeout: Duration,
    },
    /// The key was refused.
    #[error("{server} refused the API key ({status}) for {url}: check the key")]
    Unauthorized {
        /// Jellyfin or Emby.
        server: &'static str,
        /// The request.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// Another HTTP error.
    #[error("{server} answered {status} for {url}")]
    Status {
        /// Jellyfin or Emby.
        server: &'static str,
        /// The request.
        url: String,
        /// The status.
        status: u16,
    },
    /// Not the JSON the server sends.
    #[error("{server} sent an unexpected answer for {url}: {reason}")]
    Garbage {
        /// Jellyfin or Emby.
        server: &'static str,
        /// The request.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A page was short: the listing is incomplete.
    #[error("{server} library {library:?} listed {got} of {total} items (incomplete page); nothing was changed")]
    Partial {
        /// Jellyfin or Emby.
        server: &'static str,
        /// The library.
        library: String,
        /// Items received.
        got: usize,
        /// Items announced.
        total: usize,
    },
    /// A library named in the source does not exist.
    #[error("{server} has no library named {library:?}")]
    NoLibrary {
        /// Jellyfin or Emby.
        server: &'static str,
        /// The name asked for.
        library: String,
    },
    /// The server lists no user to list items as.
    #[error("{0} lists no user (/Users is empty)")]
    NoUser(&'static str),
    /// The database refused a write.
    #[error("database: {0}")]
    Db(#[from] store::StoreError),
}

/// `UserDto` (the fields used).
#[derive(Debug, Deserialize)]
struct User {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Policy")]
    policy: Option<UserPolicy>,
}

#[derive(Debug, Deserialize)]
struct UserPolicy {
    #[serde(rename = "IsAdministrator", default)]
    is_administrator: bool,
}

/// `VirtualFolderInfo` (the fields used).
#[derive(Debug, Clone, Deserialize)]
struct VirtualFolder {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "ItemId")]
    item_id: String,
    #[serde(rename = "CollectionType")]
    collection_type: Option<String>,
}

/// `BaseItemDtoQueryResult`: items kept as JSON (their fingerprint is taken from it).
#[derive(Debug, Deserialize)]
struct QueryResult {
    #[serde(rename = "Items", default)]
    items: Vec<serde_json::Value>,
    #[serde(rename = "TotalRecordCount")]
    total: Option<usize>,
}

/// `BaseItemDto` (the fields used).
#[derive(Debug, Clone, Deserialize)]
struct Item {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "SeriesName")]
    series_name: Option<String>,
    #[serde(rename = "SeriesId")]
    series_id: Option<String>,
    #[serde(rename = "SeriesPrimaryImageTag")]
    series_primary_image_tag: Option<String>,
    #[serde(rename = "ParentIndexNumber")]
    season: Option<u32>,
    #[serde(rename = "IndexNumber")]
    episode: Option<u32>,
    #[serde(rename = "ProductionYear")]
    year: Option<i32>,
    #[serde(rename = "PremiereDate")]
    premiere_date: Option<String>,
    #[serde(rename = "OfficialRating")]
    official_rating: Option<String>,
    #[serde(rename = "Overview")]
    overview: Option<String>,
    #[serde(rename = "RunTimeTicks")]
    run_time_ticks: Option<i64>,
    #[serde(rename = "Genres", default)]
    genres: Vec<String>,
    #[serde(rename = "Chapters", default)]
    chapters: Vec<Chapter>,
    #[serde(rename = "MediaSources", default)]
    media_sources: Vec<MediaSource>,
    #[serde(rename = "ImageTags", default)]
    image_tags: BTreeMap<String, String>,
    #[serde(rename = "BackdropImageTags", default)]
    backdrop_image_tags: Vec<String>,
    #[serde(rename = "ParentBackdropItemId")]
    parent_backdrop_item_id: Option<String>,
    #[serde(rename = "ParentBackdropImageTags", default)]
    parent_backdrop_image_tags: Vec<String>,
}

/// `ChapterInfo`.
#[derive(Debug, Clone, Deserialize)]
struct Chapter {
    #[serde(rename = "StartPositionTicks")]
    start_ticks: Option<i64>,
}

/// `MediaSourceInfo` (the fields used).
#[derive(Debug, Clone, Deserialize)]
struct MediaSource {
    #[serde(rename = "Id")]
    id: Option<String>,
    #[serde(rename = "Path")]
    path: Option<String>,
    #[serde(rename = "RunTimeTicks")]
    run_time_ticks: Option<i64>,
    #[serde(rename = "MediaStreams", default)]
    streams: Vec<MediaStream>,
}

/// `MediaStream` (the fields used).
#[derive(Debug, Clone, Deserialize)]
struct MediaStream {
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "Codec")]
    codec: Option<String>,
    #[serde(rename = "Width")]
    width: Option<u32>,
    #[serde(rename = "Height")]
    height: Option<u32>,
    #[serde(rename = "RealFrameRate")]
    real_frame_rate: Option<f64>,
    #[serde(rename = "AverageFrameRate")]
    average_frame_rate: Option<f64>,
    #[serde(rename = "Channels")]
    channels: Option<u32>,
}

/// One library of a Jellyfin/Emby server, as `/Library/VirtualFolders` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerLibrary {
    /// Its item id (the `ParentId` of a listing).
    pub id: String,
    /// `movies`, `tvshows`, or `None` (mixed).
    pub kind: Option<String>,
    /// Name shown in the server.
    pub name: String,
}

/// A Jellyfin/Emby server client.
struct Client {
    http: reqwest::Client,
    server: ServerFlavor,
    api: String,
    key: String,
    timeout: Duration,
}

impl Client {
    fn new(server: ServerFlavor, url: &str, key: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .expect("reqwest client with rustls");
        Self { http, server, api: server.api_base(url), key: key.to_owned(), timeout }
    }

    /// GET `path` (with query) under the API base and decode its JSON.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, JellyfinError> {
        let server = self.server.label();
        let url = format!("{}{path}", self.api);
        let fail = |source: reqwest::Error| {
            if source.is_timeout() {
                JellyfinError::Timeout { server, url: url.clone(), timeout: self.timeout }
            } else {
                JellyfinError::Unreachable { server, url: url.clone(), source }
            }
        };
        let resp = self
            .http
            .get(&url)
            .header("Accept", "application/json")
            .header("X-Emby-Token", &self.key)
            .send()
            .await
            .map_err(fail)?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(JellyfinError::Unauthorized { server, url, status });
        }
        if !resp.status().is_success() {
            return Err(JellyfinError::Status { server, url, status });
        }
        let body = resp.bytes().await.map_err(fail)?;
        serde_json::from_slice(&body).map_err(|e| JellyfinError::Garbage { server, url, reason: e.to_string() })
    }

    /// The movie, show and mixed libraries.
    async fn libraries(&self) -> Result<Vec<VirtualFolder>, JellyfinError> {
        let all: Vec<VirtualFolder> = self.get("/Library/VirtualFolders").await?;
        Ok(all
            .into_iter()
            .filter(|f| matches!(f.collection_type.as_deref(), None | Some("movies" | "tvshows" | "mixed")))
            .collect())
    }

    /// The user to list items as: the first administrator, else the first user.
    async fn user(&self) -> Result<String, JellyfinError> {
        let users: Vec<User> = self.get("/Users").await?;
        let admin = users.iter().position(|u| u.policy.as_ref().is_some_and(|p| p.is_administrator));
        users.into_iter().nth(admin.unwrap_or(0)).map(|u| u.id).ok_or(JellyfinError::NoUser(self.server.label()))
    }

    /// Every movie and episode of one library, all pages; a short page is an error.
    async fn list(&self, user: &str, library: &VirtualFolder) -> Result<Vec<serde_json::Value>, JellyfinError> {
        let mut out = Vec::new();
        loop {
            let path = format!(
                "/Items?UserId={}&ParentId={}&Recursive=true&IncludeItemTypes=Movie,Episode&Fields={FIELDS}\
                 &EnableUserData=false&SortBy=SortName&SortOrder=Ascending&StartIndex={}&Limit={PAGE}",
                enc(user),
                enc(&library.item_id),
                out.len()
            );
            let page: QueryResult = self.get(&path).await?;
            let n = page.items.len();
            out.extend(page.items);
            match page.total {
                Some(total) if out.len() >= total => break,
                Some(total) if n == 0 => {
                    return Err(JellyfinError::Partial {
                        server: self.server.label(),
                        library: library.name.clone(),
                        got: out.len(),
                        total,
                    });
                }
                Some(_) => {}
                None if n < PAGE => break,
                None => {}
            }
        }
        Ok(out)
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The movie, show and mixed libraries of the server at `url`, asked with `api_key`.
pub async fn libraries(
    server: ServerFlavor,
    url: &str,
    api_key: &str,
    timeout: Duration,
) -> Result<Vec<ServerLibrary>, JellyfinError> {
    let folders = Client::new(server, url, api_key, timeout).libraries().await?;
    Ok(folders.into_iter().map(|f| ServerLibrary { id: f.item_id, kind: f.collection_type, name: f.name }).collect())
}

/// Sync a Jellyfin or Emby source into the library.
pub async fn sync(
    db: &Db,
    source: &Source,
    clock: &dyn Clock,
    progress: &Progress,
    timeout: Duration,
) -> Result<SourceReport, JellyfinError> {
    let SourceSpec::MediaServer { server, url, api_key, libraries, path_map } = &source.spec else {
        return Err(JellyfinError::NotMediaServer(source.name.clone()));
    };
    let client = Client::new(*server, url, api_key, timeout);
    let user = client.user().await?;
    let all = client.libraries().await?;
    let wanted: Vec<&VirtualFolder> = all
        .iter()
        .filter(|f| libraries.is_empty() || libraries.iter().any(|l| l.eq_ignore_ascii_case(&f.name)))
        .collect();
    for l in libraries {
        if !wanted.iter().any(|f| f.name.eq_ignore_ascii_case(l)) {
            return Err(JellyfinError::NoLibrary { server: server.label(), library: l.clone() });
        }
    }
    // Read everything first: a failure here changes nothing.
    let mut listed = Vec::new();
    for f in &wanted {
        listed.extend(client.list(&user, f).await?);
    }
    progress.found(listed.len() as u64, &source.name);

    let api = server.api_base(url);
    let mut report = SourceReport { source_id: source.id, name: source.name.clone(), ..Default::default() };
    let index = db.call_blocking(|c| store::source_index(c, source.id))?;
    let mut seen = HashSet::new();
    for raw in listed {
        let item: Item = match serde_json::from_value(raw.clone()) {
            Ok(i) => i,
            Err(e) => {
                let name = raw.get("Name").and_then(|n| n.as_str()).unwrap_or("?").to_owned();
                report.errors.push(ItemError { item: name, reason: format!("unexpected item: {e}") });
                continue;
            }
        };
        if !seen.insert(item.id.clone()) {
            progress.done_one(&item.name);
            continue;
        }
        let fingerprint = fingerprint(&raw);
        let old = index.get(&item.id);
        if let Some(o) = old
            && !o.gone
            && o.remote_updated_at == Some(fingerprint)
        {
            report.unchanged += 1;
            progress.done_one(&item.name);
            continue;
        }
        let (mut rec, facts, breakpoints) = describe(&item, &api, path_map.as_ref());
        rec.remote_updated_at = Some(fingerprint);
        let now = clock::to_ms(clock.now());
        let origin = server.as_str();
        db.call_blocking(|c| -> Result<MediaId, store::StoreError> {
            let tx = c.transaction()?;
            let (id, _) = store::upsert_item(&tx, source.id, &rec, now)?;
            match &facts {
                Ok(f) => store::set_probe(&tx, id, Ok(f), now)?,
                Err(reason) => store::set_probe(&tx, id, Err(reason), now)?,
            }
            store::set_breakpoints(&tx, id, origin, &breakpoints)?;
            tx.commit()?;
            Ok(id)
        })?;
        if old.is_some() {
            report.updated += 1
        } else {
            report.added += 1
        }
        progress.done_one(&item.name);
    }
    let vanished: Vec<MediaId> =
        index.iter().filter(|(k, e)| !e.gone && !seen.contains(*k)).map(|(_, e)| e.id).collect();
    let now = clock::to_ms(clock.now());
    report.removed = db.call_blocking(|c| store::mark_gone(c, &vanished, now))? as u64;
    report.unplayable = db.call_blocking(|c| store::source_counts(c, source.id))?.1;
    Ok(report)
}

/// What a sync compares to tell a changed item: FNV-1a (64 bits) of the item's JSON without
/// the per-user `UserData` (play counts change it, not the item). serde_json keeps object
/// keys sorted, so the same item always gives the same number.
fn fingerprint(raw: &serde_json::Value) -> i64 {
    let mut v = raw.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("UserData");
    }
    let bytes = serde_json::to_vec(&v).expect("JSON value serialises");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// Ticks (100 ns) to ms.
fn ticks_ms(ticks: i64) -> i64 {
    ticks / 10_000
}

/// An id that can go into a URL path as it is (Jellyfin's are hex GUIDs, Emby's numbers).
fn safe_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The record, media facts (or why unplayable) and breakpoints of one item, its stream URLs
/// under `api` (no key).
fn describe(
    m: &Item,
    api: &str,
    path_map: Option<&(String, String)>,
) -> (ItemRecord, Result<ProbeFacts, String>, Vec<i64>) {
    let item_ok = safe_id(&m.id);
    let run_time = m.run_time_ticks.map(ticks_ms).filter(|d| *d > 0);
    // Each media source is a version in one part: a file here when the mapping finds it, else
    // the server's stream of that source.
    let versions: Vec<(&MediaSource, MediaVersion, Option<PathBuf>)> = m
        .media_sources
        .iter()
        .filter(|ms| item_ok && ms.id.as_deref().is_none_or(safe_id))
        .map(|ms| {
            let local = local_file(ms.path.as_deref(), path_map);
            let uri = local.as_deref().map_or_else(
                || {
                    let source = ms.id.as_deref().map(|id| format!("&MediaSourceId={id}")).unwrap_or_default();
                    format!("{api}/Videos/{}/stream?static=true{source}", m.id)
                },
                scan::file_uri,
            );
            let video = ms.streams.iter().find(|s| s.kind == "Video");
            let audio = ms.streams.iter().find(|s| s.kind == "Audio");
            let version = MediaVersion {
                width: video.and_then(|v| v.width),
                height: video.and_then(|v| v.height),
                frame_rate: video
                    .and_then(|v| v.real_frame_rate.or(v.average_frame_rate))
                    .filter(|f| *f > 0.0)
                    .map(|f| format!("{}", (f * 1000.0).round() / 1000.0)),
                video_codec: video.and_then(|v| v.codec.clone()),
                audio_codec: audio.and_then(|a| a.codec.clone()),
                parts: vec![MediaPart {
                    uri,
                    duration_ms: ms.run_time_ticks.map(ticks_ms).filter(|d| *d > 0).or(run_time).unwrap_or(0),
                }],
            };
            (ms, version, local)
        })
        .collect();
    let first = versions.first();
    let local = first.and_then(|(_, _, l)| l.clone());
    let uri = first.map(|(_, v, _)| v.parts[0].uri.clone()).unwrap_or_default();
    let several = versions.len() > 1;
    // What the schedule counts on: the server's run time, but never longer than any version.
    let shortest = versions.iter().map(|(_, v, _)| v.duration_ms()).filter(|d| *d > 0).min().filter(|_| several);
    let duration = match (run_time.or(first.map(|(_, v, _)| v.duration_ms()).filter(|d| *d > 0)), shortest) {
        (Some(d), Some(s)) => Some(d.min(s)),
        (d, s) => d.or(s),
    };
    let kind = if m.kind == "Episode" { ContentKind::Episode } else { ContentKind::Movie };
    let date =
        m.premiere_date.as_deref().and_then(|d| chrono::NaiveDate::parse_from_str(d.get(..10)?, "%Y-%m-%d").ok());
    let year = m.year.or_else(|| m.premiere_date.as_deref().and_then(|d| d.get(..4)?.parse().ok()));
    let image = |id: Option<&str>, which: &str| {
        id.filter(|i| safe_id(i)).map(|i| ArtRef::Server(format!("/Items/{i}/Images/{which}")))
    };
    let own_primary = m.image_tags.contains_key("Primary").then_some(m.id.as_str());
    let own_backdrop = (!m.backdrop_image_tags.is_empty()).then(|| image(Some(&m.id), "Backdrop/0")).flatten();
    let art = if kind == ContentKind::Episode {
        let series_poster = m.series_primary_image_tag.as_ref().and(m.series_id.as_deref());
        let parent_backdrop = (!m.parent_backdrop_image_tags.is_empty())
            .then(|| image(m.parent_backdrop_item_id.as_deref(), "Backdrop/0"))
            .flatten();
        Art {
            poster: image(series_poster, "Primary"),
            thumb: image(own_primary, "Primary"),
            fanart: parent_backdrop.or(own_backdrop),
        }
    } else {
        Art { poster: image(own_primary, "Primary"), thumb: None, fanart: own_backdrop }
    };
    let media = first.map(|(ms, _, _)| *ms);
    let rec = ItemRecord {
        external_id: m.id.clone(),
        kind: Some(kind),
        uri,
        path: local.as_ref().map(|p| p.to_string_lossy().into_owned()),
        title: m.name.clone(),
        series: m.series_name.clone().filter(|_| kind == ContentKind::Episode),
        season: m.season.filter(|_| kind == ContentKind::Episode),
        episode: m.episode.filter(|_| kind == ContentKind::Episode),
        year,
        plot: m.overview.clone().filter(|s| !s.is_empty()),
        rating: m.official_rating.as_deref().and_then(nfo::normalise_rating),
        genres: m.genres.clone(),
        tags: Vec::new(),
        file_size: None,
        file_mtime: None,
        remote_updated_at: None,
        duration_ms: duration,
        aired: date,
        art,
        versions: if several { versions.iter().map(|(_, v, _)| v.clone()).collect() } else { Vec::new() },
    };
    let label = "the server lists";
    let facts = match (media, duration) {
        (None, _) => Err(format!("{label} no playable media source for this item")),
        (_, None) => Err(format!("{label} no run time for this item")),
        (Some(ms), Some(d)) => {
            let video = ms.streams.iter().find(|s| s.kind == "Video");
            let audio = ms.streams.iter().find(|s| s.kind == "Audio");
            Ok(ProbeFacts {
                duration_ms: Some(d),
                video_codec: video.and_then(|v| v.codec.clone()),
                width: video.and_then(|v| v.width),
                height: video.and_then(|v| v.height),
                audio_codec: audio.and_then(|a| a.codec.clone()),
                audio_channels: audio.and_then(|a| a.channels),
                ..Default::default()
            })
        }
    };
    let mut breakpoints: Vec<i64> = m
        .chapters
        .iter()
        .filter_map(|c| c.start_ticks.map(ticks_ms))
        .filter(|ms| *ms > 0 && duration.is_none_or(|d| *ms < d))
        .collect();
    breakpoints.sort_unstable();
    breakpoints.dedup();
    (rec, facts, breakpoints)
}

/// The file at `server_path` on this box, through the source's path mapping, if it is there.
fn local_file(server_path: Option<&str>, path_map: Option<&(String, String)>) -> Option<PathBuf> {
    let (from, to) = path_map?;
    let rest = server_path?.strip_prefix(from.as_str())?;
    let p = PathBuf::from(format!("{}{}", to.trim_end_matches('/'), rest));
    p.is_file().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An episode as `/Items?...&Fields=Path,Genres,Overview,Chapters,MediaSources` returns it
    /// (field names from Jellyfin's OpenAPI `BaseItemDto` / `MediaSourceInfo` / `ChapterInfo`).
    fn episode() -> serde_json::Value {
        serde_json::json!({
            "Name": "Pilot", "Id": "a1b2c3", "Type": "Episode", "SeriesName": "Retro Robots",
            "SeriesId": "5e7", "SeriesPrimaryImageTag": "t1", "ParentIndexNumber": 1, "IndexNumber": 2,
            "ProductionYear": 1986, "PremiereDate": "1986-09-01T00:00:00.0000000Z", "OfficialRating": "TV-Y7",
            "Overview": "It begins.", "RunTimeTicks": 20_000_000i64, "Genres": ["Animation"],
            "ImageTags": {"Primary": "t2"}, "BackdropImageTags": [],
            "ParentBackdropItemId": "5e7", "ParentBackdropImageTags": ["t3"],
            "Chapters": [{"StartPositionTicks": 0, "Name": "Start"}, {"StartPositionTicks": 6_000_000i64},
                         {"StartPositionTicks": 90_000_000i64}],
            "MediaSources": [{"Id": "a1b2c3", "Path": "/srv/tv/pilot.mkv", "Protocol": "File",
                "RunTimeTicks": 20_000_000i64, "MediaStreams": [
                    {"Type": "Video", "Codec": "h264", "Width": 640, "Height": 360, "RealFrameRate": 29.97003},
                    {"Type": "Audio", "Codec": "aac", "Channels": 2}]}],
            "UserData": {"PlayCount": 0}
        })
    }

    #[test]
    fn an_episode_is_described_with_its_stream_url_without_the_key() {
        let item: Item = serde_json::from_value(episode()).unwrap();
        let (rec, facts, bps) = describe(&item, "http://j:8096/emby", None);
        assert_eq!(rec.uri, "http://j:8096/emby/Videos/a1b2c3/stream?static=true&MediaSourceId=a1b2c3");
        assert_eq!((rec.series.as_deref(), rec.season, rec.episode), (Some("Retro Robots"), Some(1), Some(2)));
        assert_eq!((rec.year, rec.rating.as_deref(), rec.duration_ms), (Some(1986), Some("TV-Y7"), Some(2000)));
        assert_eq!(rec.aired, chrono::NaiveDate::from_ymd_opt(1986, 9, 1));
        assert_eq!(bps, [600], "chapters at 0 and past the end are no breaks");
        assert_eq!(rec.art.poster, Some(ArtRef::Server("/Items/5e7/Images/Primary".into())));
        assert_eq!(rec.art.thumb, Some(ArtRef::Server("/Items/a1b2c3/Images/Primary".into())));
        assert_eq!(rec.art.fanart, Some(ArtRef::Server("/Items/5e7/Images/Backdrop/0".into())));
        let f = facts.unwrap();
        assert_eq!((f.video_codec.as_deref(), f.width, f.audio_channels), (Some("h264"), Some(640), Some(2)));
    }

    #[test]
    fn the_fingerprint_follows_the_item_not_its_user_data() {
        let a = episode();
        let mut b = a.clone();
        b["UserData"]["PlayCount"] = serde_json::json!(3);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b["Name"] = serde_json::json!("Pilot (Remastered)");
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn unsafe_ids_give_no_url() {
        let mut v = episode();
        v["Id"] = serde_json::json!("../x?api_key=1");
        let item: Item = serde_json::from_value(v).unwrap();
        let (rec, facts, _) = describe(&item, "http://j", None);
        assert_eq!(rec.uri, "");
        assert!(facts.is_err());
    }
}
