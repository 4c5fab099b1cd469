//! Import from a Plex Media Server over its HTTP API (JSON: `Accept: application/json`,
//! `X-Plex-Token`).
//!
//! Lists the libraries (`/library/sections`), then every movie (`type=1`) and every episode
//! (`type=4`) of the selected ones, page by page (`X-Plex-Container-Start/Size`). Items are
//! keyed by `ratingKey`, so an item that moves between libraries keeps its id. Smart sync: an
//! item whose `updatedAt` did not change is not touched; a new or changed one is fetched in
//! full (`/library/metadata/{key}?includeChapters=1&includeMarkers=1`) for chapters and
//! commercial markers (breakpoints, origin `plex`) and the subtitle file Plex offers beside
//! the media, if any (a subtitle stream with a key of its own, SubRip or WebVTT: kept for
//! captions, [`offered_subtitles`]); what disappeared is marked gone. Plex's
//! own media facts (duration, codecs, size) stand in for a probe: nothing is downloaded.
//! An item's URI is its part URL on the server *without* the token, which stays with the
//! source and is added only when the item is opened ([`super::secret::Credentials`]). An item
//! in several parts (one `Media`, several `Part`s) or versions (several `Media`) keeps them
//! all ([`super::MediaVersion`]): the schedule airs every part and picks the version that
//! fits each channel; its length is never more than its shortest version's.
//!
//! The whole listing is read before anything is written: a server that is down, slow, says
//! 401, sends garbage or a short page fails the source with a clear error and changes
//! nothing.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::art::{Art, ArtRef};
use super::progress::Progress;
use super::report::{ItemError, SourceReport};
use super::store::{self, ItemRecord, ProbeFacts, Source, SourceSpec};
use super::{ContentKind, MediaId, MediaPart, MediaVersion, nfo, scan, subtitles};
use crate::clock::{self, Clock};
use crate::db::Db;

/// Items per page when listing a library.
const PAGE: usize = 500;

/// Why a Plex source could not be synced (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum PlexError {
    /// Not a Plex source.
    #[error("source {0} is not a Plex source")]
    NotPlex(String),
    /// Cannot connect.
    #[error("cannot reach Plex at {url}: {source}")]
    Unreachable {
        /// The request.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// No answer in time.
    #[error("Plex at {url} did not answer within {timeout:?}")]
    Timeout {
        /// The request.
        url: String,
        /// The limit.
        timeout: Duration,
    },
    /// The token was refused.
    #[error("Plex refused the token ({status}) for {url}: check the X-Plex-Token")]
    Unauthorized {
        /// The request.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// Another HTTP error.
    #[error("Plex answered {status} for {url}")]
    Status {
        /// The request.
        url: String,
        /// The status.
        status: u16,
    },
    /// Not the JSON Plex sends.
    #[error("Plex sent an unexpected answer for {url}: {reason}")]
    Garbage {
        /// The request.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A page was short: the listing is incomplete.
    #[error("Plex library {library:?} listed {got} of {total} items (incomplete page); nothing was changed")]
    Partial {
        /// The library.
        library: String,
        /// Items received.
        got: usize,
        /// Items announced.
        total: usize,
    },
    /// A library named in the source does not exist.
    #[error("Plex has no library named {0:?}")]
    NoLibrary(String),
    /// The database refused a write.
    #[error("database: {0}")]
    Db(#[from] store::StoreError),
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    #[serde(rename = "MediaContainer")]
    container: T,
}

#[derive(Debug, Deserialize)]
struct Sections {
    #[serde(rename = "Directory", default)]
    directories: Vec<Section>,
}

#[derive(Debug, Deserialize)]
struct Section {
    #[serde(deserialize_with = "string_or_number")]
    key: String,
    #[serde(rename = "type")]
    kind: String,
    title: String,
}

#[derive(Debug, Deserialize)]
struct Listing {
    #[serde(rename = "totalSize")]
    total_size: Option<usize>,
    #[serde(rename = "Metadata", default)]
    metadata: Vec<Metadata>,
}

#[derive(Debug, Clone, Deserialize)]
struct Tag {
    tag: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    #[serde(rename = "ratingKey", deserialize_with = "string_or_number")]
    rating_key: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    title: String,
    #[serde(rename = "grandparentTitle")]
    grandparent_title: Option<String>,
    #[serde(rename = "parentIndex")]
    parent_index: Option<u32>,
    index: Option<u32>,
    year: Option<i32>,
    #[serde(rename = "originallyAvailableAt")]
    originally_available_at: Option<String>,
    /// Episode still, or a movie's poster.
    thumb: Option<String>,
    /// Backdrop.
    art: Option<String>,
    /// The show's poster (episodes).
    #[serde(rename = "grandparentThumb")]
    grandparent_thumb: Option<String>,
    /// The show's backdrop (episodes).
    #[serde(rename = "grandparentArt")]
    grandparent_art: Option<String>,
    #[serde(rename = "contentRating")]
    content_rating: Option<String>,
    summary: Option<String>,
    duration: Option<i64>,
    #[serde(rename = "updatedAt")]
    updated_at: Option<i64>,
    #[serde(rename = "Genre", default)]
    genres: Vec<Tag>,
    #[serde(rename = "Media", default)]
    media: Vec<Media>,
    #[serde(rename = "Chapter", default)]
    chapters: Vec<Span>,
    #[serde(rename = "Marker", default)]
    markers: Vec<Marker>,
}

#[derive(Debug, Clone, Deserialize)]
struct Media {
    duration: Option<i64>,
    width: Option<u32>,
    height: Option<u32>,
    #[serde(rename = "videoCodec")]
    video_codec: Option<String>,
    #[serde(rename = "audioCodec")]
    audio_codec: Option<String>,
    #[serde(rename = "audioChannels")]
    audio_channels: Option<u32>,
    #[serde(rename = "videoFrameRate", default, deserialize_with = "opt_string_or_number")]
    video_frame_rate: Option<String>,
    #[serde(rename = "Part", default)]
    parts: Vec<Part>,
}

#[derive(Debug, Clone, Deserialize)]
struct Part {
    key: String,
    file: Option<String>,
    duration: Option<i64>,
    #[serde(rename = "Stream", default)]
    streams: Vec<Stream>,
}

/// A stream of a part (the full fetch lists them); only subtitle streams are read.
#[derive(Debug, Clone, Deserialize)]
struct Stream {
    #[serde(rename = "streamType", default, deserialize_with = "opt_string_or_number")]
    stream_type: Option<String>,
    /// A subtitle file of its own beside the media (`/library/streams/{id}`); a track inside
    /// the media has none (the analysis pass reads those from the part).
    key: Option<String>,
    codec: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    forced: bool,
    #[serde(default, deserialize_with = "flag")]
    selected: bool,
}

/// The subtitle file Plex offers beside an item's media, to air as captions when the media
/// has no text track of its own: among the text subtitle streams with a key of the first
/// version, when that is one part (a part's subtitles are timed to the part), and not forced
/// (forced subtitles carry only the foreign-language lines), the one Plex has selected, else
/// the first.
fn offered_subtitles(m: &Metadata) -> Option<(String, subtitles::FileFormat)> {
    let media = m.media.iter().find(|md| !md.parts.is_empty())?;
    let [part] = media.parts.as_slice() else { return None };
    let candidates: Vec<(&str, subtitles::FileFormat, bool)> = part
        .streams
        .iter()
        .filter(|st| st.stream_type.as_deref() == Some("3") && !st.forced)
        .filter_map(|st| {
            let key = st.key.as_deref().filter(|k| safe_key(k))?;
            Some((key, subtitles::FileFormat::named(st.codec.as_deref()?)?, st.selected))
        })
        .collect();
    let (key, format, _) = candidates.iter().find(|c| c.2).or(candidates.first())?;
    Some(((*key).to_owned(), *format))
}

#[derive(Debug, Clone, Deserialize)]
struct Span {
    #[serde(rename = "startTimeOffset")]
    start: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
struct Marker {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(rename = "startTimeOffset")]
    start: Option<i64>,
}

/// A Plex answer that is not the JSON Plex sends (for the shape asked for).
#[derive(Debug, thiserror::Error)]
#[error("not the JSON Plex sends: {0}")]
pub struct ParseError(#[source] pub serde_json::Error);

/// One library of a Plex server, as `/library/sections` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlexLibrary {
    /// Section key (used in `/library/sections/{key}/all`).
    pub key: String,
    /// `movie`, `show`, `artist`, ...
    pub kind: String,
    /// Name shown in Plex.
    pub title: String,
}

/// One Plex item decoded and described exactly as [`sync`] stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlexItem {
    /// The library record.
    pub record: ItemRecord,
    /// Plex's media facts, or why the item is unplayable.
    pub facts: Result<ProbeFacts, String>,
    /// Breakpoints (ms): chapter starts and commercial markers inside the item, sorted.
    pub breakpoints: Vec<i64>,
}

/// Decode Plex's `{"MediaContainer": ...}` envelope around `T`: the one parser every answer
/// goes through.
fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ParseError> {
    serde_json::from_slice::<Envelope<T>>(body).map(|e| e.container).map_err(ParseError)
}

/// Decode the answer to `/library/sections`: the server's libraries.
pub fn parse_sections(body: &[u8]) -> Result<Vec<PlexLibrary>, ParseError> {
    let s: Sections = decode(body)?;
    Ok(s.directories.into_iter().map(|d| PlexLibrary { key: d.key, kind: d.kind, title: d.title }).collect())
}

/// Decode the answer to a library listing (`/library/sections/{key}/all`) or an item's
/// detail (`/library/metadata/{key}`): the `totalSize` announced (if any) and each item as a
/// sync against the server at `base` stores it (with complete details, no path mapping).
/// Part URLs carry no token: it is added when the item is opened ([`super::secret`]).
pub fn parse_items(body: &[u8], base: &str) -> Result<(Option<usize>, Vec<PlexItem>), ParseError> {
    let listing: Listing = decode(body)?;
    let items = listing
        .metadata
        .iter()
        .map(|m| {
            let (record, facts, breakpoints) = describe(m, m, base, None, true);
            PlexItem { record, facts, breakpoints }
        })
        .collect();
    Ok((listing.total_size, items))
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected a string or number, got {other}"))),
    }
}

fn opt_string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!("expected a string or number, got {other}"))),
    }
}

/// `true`/`false`, `1`/`0` or `"1"`/`"0"` (Plex's JSON carries booleans, its XML digits).
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::Number(n) => Ok(n.as_i64() != Some(0)),
        serde_json::Value::String(s) => Ok(s == "1" || s.eq_ignore_ascii_case("true")),
        _ => Ok(false),
    }
}

/// A Plex server client.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    timeout: Duration,
}

impl Client {
    fn new(base: &str, token: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .expect("reqwest client with rustls");
        Self { http, base: base.trim_end_matches('/').to_owned(), token: token.to_owned(), timeout }
    }

    /// GET `path` (with query) and decode Plex's JSON envelope.
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, PlexError> {
        let (url, body) = self.fetch(path, usize::MAX).await?;
        decode::<T>(&body).map_err(|e| PlexError::Garbage { url, reason: e.0.to_string() })
    }

    /// GET `path` as text (a subtitle stream: Plex says `text/html` for it), of at most `max`
    /// bytes.
    async fn text(&self, path: &str, max: usize) -> Result<String, PlexError> {
        let (_, body) = self.fetch(path, max).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// GET `path`: its URL (without the token, which goes in a header) and body, of at most
    /// `max` bytes.
    async fn fetch(&self, path: &str, max: usize) -> Result<(String, bytes::Bytes), PlexError> {
        let url = format!("{}{path}", self.base);
        let fail = |source: reqwest::Error| {
            if source.is_timeout() {
                PlexError::Timeout { url: url.clone(), timeout: self.timeout }
            } else {
                PlexError::Unreachable { url: url.clone(), source }
            }
        };
        let resp = self
            .http
            .get(&url)
            .header("Accept", "application/json")
            .header("X-Plex-Token", &self.token)
            .header("X-Plex-Product", "Retrovue")
            .header("X-Plex-Client-Identifier", "retrovue")
            .send()
            .await
            .map_err(fail)?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(PlexError::Unauthorized { url, status });
        }
        if !resp.status().is_success() {
            return Err(PlexError::Status { url, status });
        }
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(PlexError::Garbage { url, reason: format!("over {max} bytes") });
        }
        let body = resp.bytes().await.map_err(fail)?;
        if body.len() > max {
            return Err(PlexError::Garbage { url, reason: format!("over {max} bytes") });
        }
        Ok((url, body))
    }

    /// Every item of one library, all pages; a short page is an error.
    async fn list(&self, section: &Section) -> Result<Vec<Metadata>, PlexError> {
        let kind = if section.kind == "show" { 4 } else { 1 };
        let mut out = Vec::new();
        loop {
            let path = format!(
                "/library/sections/{}/all?type={kind}&X-Plex-Container-Start={}&X-Plex-Container-Size={PAGE}",
                section.key,
                out.len()
            );
            let page: Listing = self.get(&path).await?;
            let n = page.metadata.len();
            out.extend(page.metadata);
            match page.total_size {
                Some(total) if out.len() >= total => break,
                Some(total) if n == 0 => {
                    return Err(PlexError::Partial { library: section.title.clone(), got: out.len(), total });
                }
                Some(_) => {}
                None if n < PAGE => break,
                None => {}
            }
        }
        Ok(out)
    }
}

/// The movie and show libraries of the server at `url`, asked with `token`.
pub async fn libraries(url: &str, token: &str, timeout: Duration) -> Result<Vec<PlexLibrary>, PlexError> {
    let sections: Sections = Client::new(url, token, timeout).get("/library/sections").await?;
    Ok(sections
        .directories
        .into_iter()
        .filter(|s| s.kind == "movie" || s.kind == "show")
        .map(|d| PlexLibrary { key: d.key, kind: d.kind, title: d.title })
        .collect())
}

/// Sync a Plex source into the library.
pub async fn sync(
    db: &Db,
    source: &Source,
    clock: &dyn Clock,
    progress: &Progress,
    timeout: Duration,
) -> Result<SourceReport, PlexError> {
    let SourceSpec::Plex { url, token, libraries, path_map } = &source.spec else {
        return Err(PlexError::NotPlex(source.name.clone()));
    };
    let client = Client::new(url, token, timeout);
    let sections: Sections = client.get("/library/sections").await?;
    let wanted: Vec<&Section> = sections
        .directories
        .iter()
        .filter(|s| s.kind == "movie" || s.kind == "show")
        .filter(|s| libraries.is_empty() || libraries.iter().any(|l| l.eq_ignore_ascii_case(&s.title)))
        .collect();
    for l in libraries {
        if !wanted.iter().any(|s| s.title.eq_ignore_ascii_case(l)) {
            return Err(PlexError::NoLibrary(l.clone()));
        }
    }
    // Read everything first: a failure here changes nothing.
    let mut listed = Vec::new();
    for s in &wanted {
        listed.extend(client.list(s).await?);
    }
    progress.found(listed.len() as u64, &source.name);

    let mut report = SourceReport { source_id: source.id, name: source.name.clone(), ..Default::default() };
    let index = db.call_blocking(|c| store::source_index(c, source.id))?;
    let mut seen = HashSet::new();
    for item in listed {
        if !seen.insert(item.rating_key.clone()) {
            progress.done_one(&item.title);
            continue;
        }
        let old = index.get(&item.rating_key);
        if let Some(o) = old
            && !o.gone
            && o.remote_updated_at.is_some()
            && o.remote_updated_at == item.updated_at
        {
            report.unchanged += 1;
            progress.done_one(&item.title);
            continue;
        }
        let detail = match client
            .get::<Listing>(&format!("/library/metadata/{}?includeChapters=1&includeMarkers=1", item.rating_key))
            .await
        {
            Ok(mut l) if !l.metadata.is_empty() => Some(l.metadata.swap_remove(0)),
            Ok(_) => None,
            Err(e) => {
                report.errors.push(ItemError { item: item.title.clone(), reason: e.to_string() });
                None
            }
        };
        // The subtitles Plex offers beside the media: read with the full fetch (none now
        // clears what an earlier sync kept); left as they are when that failed.
        let offered = match detail.as_ref().map(offered_subtitles) {
            None => None,
            Some(None) => Some(Vec::new()),
            Some(Some((key, format))) => match client.text(&key, subtitles::MAX_FILE_BYTES).await {
                Ok(text) => Some(format.cues(&text)),
                Err(e) => {
                    tracing::warn!(item = %item.title, error = %e, "Plex subtitle stream not read");
                    None
                }
            },
        };
        let complete = detail.is_some();
        let full = detail.unwrap_or_else(|| item.clone());
        let (rec, facts, breakpoints) = describe(&full, &item, url, path_map.as_ref(), complete);
        let now = clock::to_ms(clock.now());
        db.call_blocking(|c| -> Result<MediaId, store::StoreError> {
            let tx = c.transaction()?;
            let (id, _) = store::upsert_item(&tx, source.id, &rec, now)?;
            match &facts {
                Ok(f) => store::set_probe(&tx, id, Ok(f), now)?,
                Err(reason) => store::set_probe(&tx, id, Err(reason), now)?,
            }
            store::set_breakpoints(&tx, id, "plex", &breakpoints)?;
            if let Some(cues) = &offered {
                store::set_offered_subtitle_cues(&tx, id, cues)?;
            }
            tx.commit()?;
            Ok(id)
        })?;
        if old.is_some() {
            report.updated += 1
        } else {
            report.added += 1
        }
        progress.done_one(&item.title);
    }
    let vanished: Vec<MediaId> =
        index.iter().filter(|(k, e)| !e.gone && !seen.contains(*k)).map(|(_, e)| e.id).collect();
    let now = clock::to_ms(clock.now());
    report.removed = db.call_blocking(|c| store::mark_gone(c, &vanished, now))? as u64;
    report.unplayable = db.call_blocking(|c| store::source_counts(c, source.id))?.1;
    Ok(report)
}

/// The record, probe facts (or why unplayable) and breakpoints of one Plex item. `listed`
/// is the listing entry (its `updatedAt` is recorded only when the detail was read, so a
/// failed detail fetch is retried next time).
fn describe(
    m: &Metadata,
    listed: &Metadata,
    base: &str,
    path_map: Option<&(String, String)>,
    complete: bool,
) -> (ItemRecord, Result<ProbeFacts, String>, Vec<i64>) {
    // Each version (a `Media`) with its parts in order; a part is played from this box when the
    // path mapping finds its file here. A version in several parts is cut at its parts'
    // lengths, so it is usable only when Plex gives them.
    let versions: Vec<(&Media, MediaVersion, Option<PathBuf>)> = m
        .media
        .iter()
        .filter_map(|md| {
            if md.parts.is_empty() || md.parts.iter().any(|p| !safe_key(&p.key)) {
                return None;
            }
            let single = md.parts.len() == 1;
            let lengths: Vec<Option<i64>> = md
                .parts
                .iter()
                .map(|p| p.duration.or(if single { md.duration } else { None }).filter(|d| *d > 0))
                .collect();
            if !single && lengths.iter().any(Option::is_none) {
                return None;
            }
            let locals: Vec<Option<PathBuf>> = md.parts.iter().map(|p| local_file(p, path_map)).collect();
            let parts = md
                .parts
                .iter()
                .zip(&lengths)
                .zip(&locals)
                .map(|((p, ms), local)| MediaPart {
                    uri: local
                        .as_deref()
                        .map_or_else(|| format!("{}{}", base.trim_end_matches('/'), p.key), scan::file_uri),
                    duration_ms: ms.unwrap_or(0),
                })
                .collect();
            let version = MediaVersion {
                width: md.width,
                height: md.height,
                frame_rate: md.video_frame_rate.clone(),
                video_codec: md.video_codec.clone(),
                audio_codec: md.audio_codec.clone(),
                parts,
            };
            Some((md, version, locals.into_iter().next().flatten()))
        })
        .collect();
    let media = versions.first().map(|(md, _, _)| *md);
    let local = versions.first().and_then(|(_, _, l)| l.clone());
    let uri = versions.first().map(|(_, v, _)| v.parts[0].uri.clone()).unwrap_or_default();
    let several = versions.len() > 1 || versions.iter().any(|(_, v, _)| v.parts.len() > 1);
    // What the schedule counts on: Plex's length, but never longer than any version.
    let shortest = versions.iter().map(|(_, v, _)| v.duration_ms()).filter(|d| *d > 0).min().filter(|_| several);
    let duration = match (m.duration.or(media.and_then(|md| md.duration)).filter(|d| *d > 0), shortest) {
        (Some(d), Some(s)) => Some(d.min(s)),
        (d, s) => d.or(s),
    };
    let kind = if m.kind == "episode" { ContentKind::Episode } else { ContentKind::Movie };
    let year = m.year.or_else(|| m.originally_available_at.as_deref().and_then(|d| d.get(..4)?.parse().ok()));
    let aired = m
        .originally_available_at
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d").ok());
    let pic = |v: &Option<String>| v.as_deref().and_then(ArtRef::from_plex);
    let art = if kind == ContentKind::Episode {
        Art {
            poster: pic(&m.grandparent_thumb),
            thumb: pic(&m.thumb),
            fanart: pic(&m.grandparent_art).or_else(|| pic(&m.art)),
        }
    } else {
        Art { poster: pic(&m.thumb), thumb: None, fanart: pic(&m.art) }
    };
    let rec = ItemRecord {
        external_id: m.rating_key.clone(),
        kind: Some(kind),
        uri,
        path: local.as_ref().map(|p| p.to_string_lossy().into_owned()),
        title: if m.title.is_empty() { listed.title.clone() } else { m.title.clone() },
        series: m.grandparent_title.clone(),
        season: m.parent_index.filter(|_| kind == ContentKind::Episode),
        episode: m.index.filter(|_| kind == ContentKind::Episode),
        year,
        plot: m.summary.clone().filter(|s| !s.is_empty()),
        rating: m.content_rating.as_deref().and_then(nfo::normalise_rating),
        genres: m.genres.iter().map(|g| g.tag.clone()).collect(),
        tags: Vec::new(),
        file_size: None,
        file_mtime: None,
        remote_updated_at: if complete { listed.updated_at } else { None },
        duration_ms: duration,
        aired,
        art,
        versions: if several { versions.iter().map(|(_, v, _)| v.clone()).collect() } else { Vec::new() },
    };
    let facts = match (media, duration) {
        (None, _) => Err("Plex lists no playable part for this item".to_owned()),
        (_, None) => Err("Plex reports no duration for this item".to_owned()),
        (Some(_), Some(d)) => Ok(ProbeFacts {
            duration_ms: Some(d),
            video_codec: media.and_then(|md| md.video_codec.clone()),
            width: media.and_then(|md| md.width),
            height: media.and_then(|md| md.height),
            audio_codec: media.and_then(|md| md.audio_codec.clone()),
            audio_channels: media.and_then(|md| md.audio_channels),
            ..Default::default()
        }),
    };
    let mut breakpoints: Vec<i64> = m
        .chapters
        .iter()
        .filter_map(|c| c.start)
        .chain(m.markers.iter().filter(|k| k.kind == "commercial").filter_map(|k| k.start))
        .filter(|ms| *ms > 0 && duration.is_none_or(|d| *ms < d))
        .collect();
    breakpoints.sort_unstable();
    breakpoints.dedup();
    (rec, facts, breakpoints)
}

/// The file of `part` on this box, through the source's path mapping, if it is there.
fn local_file(part: &Part, path_map: Option<&(String, String)>) -> Option<PathBuf> {
    let (from, to) = path_map?;
    let rest = part.file.as_deref()?.strip_prefix(from.as_str())?;
    let p = PathBuf::from(format!("{}{}", to.trim_end_matches('/'), rest));
    p.is_file().then_some(p)
}

/// A part key that stays a path on the server: it starts with `/`, has no fragment, no
/// whitespace, and names no token of its own.
fn safe_key(key: &str) -> bool {
    key.starts_with('/')
        && !key.contains(|c: char| c == '#' || c.is_whitespace() || c.is_control())
        && !key.to_ascii_lowercase().contains("x-plex-token")
}
