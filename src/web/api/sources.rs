//! `/api/sources`: list, add (folder, Plex, Jellyfin or Emby), edit in place, remove, and test
//! a source before adding it.
//! Folder paths are checked before they touch the filesystem (absolute, no `..`, an existing
//! directory); Plex tokens and Jellyfin/Emby API keys are stored but only ever sent back masked.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::parse_id;
use super::schedule::ask_replan;
use super::settings::PLEX_TOKEN;
use crate::config::store as config_store;
use crate::library::jellyfin::JellyfinError;
use crate::library::plex::PlexError;
use crate::library::secret::mask;
use crate::library::store::{self as library_store, ServerFlavor, Source, SourceSpec};
use crate::library::{Library, LibraryError, SourceEdit, SourceId};
use crate::schedule::store as schedule_store;
use crate::web::WebState;
use crate::web::error::{Error, Flatten, ResultExt};

/// What a folder may hold (as the CLI's `--kind`).
pub const FOLDER_KINDS: [&str; 11] = [
    "shows",
    "movies",
    "commercials",
    "bumpers",
    "promos",
    "station_ids",
    "intros",
    "outros",
    "slates",
    "signoffs",
    "signons",
];

/// A source as the page sees it (token masked).
#[derive(Debug, Serialize)]
pub struct SourceView {
    /// Id.
    pub id: SourceId,
    /// Name.
    pub name: String,
    /// `folder`, `plex`, `jellyfin` or `emby`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Folder path or Plex URL.
    pub location: String,
    /// Folder content kind.
    pub content_kind: Option<String>,
    /// Plex libraries.
    pub libraries: Vec<String>,
    /// Plex path mapping (prefix as Plex sees files, as this box does).
    pub path_map: Option<(String, String)>,
    /// Masked Plex token or Jellyfin/Emby API key.
    pub token: Option<String>,
    /// Enabled.
    pub enabled: bool,
    /// Last sync (UTC ms).
    pub last_sync_at: Option<i64>,
    /// Last sync error.
    pub last_error: Option<String>,
}

impl From<Source> for SourceView {
    fn from(s: Source) -> Self {
        let (kind, location, content_kind, libraries, path_map, token) = match s.spec {
            SourceSpec::Folder { path, content_kind } => {
                ("folder", path.display().to_string(), Some(content_kind), Vec::new(), None, None)
            }
            SourceSpec::Plex { url, token, libraries, path_map } => {
                ("plex", url, None, libraries, path_map, Some(mask(&token)))
            }
            SourceSpec::MediaServer { server, url, api_key, libraries, path_map } => {
                (server.as_str(), url, None, libraries, path_map, Some(mask(&api_key)))
            }
        };
        Self {
            id: s.id,
            name: s.name,
            kind,
            location,
            content_kind,
            libraries,
            path_map,
            token,
            enabled: s.enabled,
            last_sync_at: s.last_sync_at,
            last_error: s.last_error,
        }
    }
}

/// Body of `POST /api/sources` and `POST /api/sources/test`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum NewSource {
    /// A folder on this box.
    Folder {
        /// Absolute path.
        path: String,
        /// What it holds.
        content_kind: String,
        /// Display name (default: the folder's name).
        #[serde(default)]
        name: Option<String>,
    },
    /// A Plex server.
    Plex {
        /// Base URL.
        url: String,
        /// Token (default: the one in settings).
        #[serde(default)]
        token: Option<String>,
        /// Libraries to import ([] = all).
        #[serde(default)]
        libraries: Vec<String>,
        /// Display name.
        #[serde(default)]
        name: Option<String>,
    },
    /// A Jellyfin server.
    Jellyfin {
        /// Base URL.
        url: String,
        /// API key.
        api_key: String,
        /// Libraries to import ([] = all).
        #[serde(default)]
        libraries: Vec<String>,
        /// Display name.
        #[serde(default)]
        name: Option<String>,
    },
    /// An Emby server.
    Emby {
        /// Base URL.
        url: String,
        /// API key.
        api_key: String,
        /// Libraries to import ([] = all).
        #[serde(default)]
        libraries: Vec<String>,
        /// Display name.
        #[serde(default)]
        name: Option<String>,
    },
}

/// A new Jellyfin or Emby source as the page sends it.
struct NewServer {
    server: ServerFlavor,
    url: String,
    api_key: String,
    libraries: Vec<String>,
    name: Option<String>,
}

impl NewSource {
    /// A Jellyfin or Emby server, or the body as it was.
    fn media_server(self) -> Result<NewServer, Self> {
        match self {
            Self::Jellyfin { url, api_key, libraries, name } => {
                Ok(NewServer { server: ServerFlavor::Jellyfin, url, api_key, libraries, name })
            }
            Self::Emby { url, api_key, libraries, name } => {
                Ok(NewServer { server: ServerFlavor::Emby, url, api_key, libraries, name })
            }
            other => Err(other),
        }
    }
}

/// Body of `PUT /api/sources/{id}`: the fields present change, the source keeps its id
/// (and its items theirs, with every edit).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceChange {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Included in scans and schedules.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Folder: its absolute path now.
    #[serde(default)]
    pub path: Option<String>,
    /// Plex: the server URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Plex: a new token, Jellyfin/Emby: a new API key (empty: keep the stored one).
    #[serde(default)]
    pub token: Option<String>,
    /// Plex: libraries to import ([] = all).
    #[serde(default)]
    pub libraries: Option<Vec<String>>,
    /// Plex: `{"from": …, "to": …}`, or `null` to remove the mapping.
    #[serde(default, deserialize_with = "present")]
    pub path_map: Option<Option<PathMap>>,
}

/// A Plex path mapping as the page sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathMap {
    /// Prefix as Plex sees the files.
    pub from: String,
    /// The same place on this box.
    pub to: String,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new()
        .route("/sources", get(list).post(add))
        .route("/sources/test", post(test))
        .route("/sources/{id}", delete(remove).put(update))
}

/// A library failure as the page should see it: a duplicate is a conflict, the rest a bad
/// request naming what to fix.
fn library_error(e: LibraryError) -> Error {
    match e {
        LibraryError::AlreadyASource { .. } => Error::Conflict(e.to_string()),
        LibraryError::NoSource(id) => Error::NotFound(format!("source {id}")),
        LibraryError::Sql(_) | LibraryError::Db(_) | LibraryError::Join(_) => Error::internal("sources", e),
        other => Error::BadRequest(other.to_string()),
    }
}

/// Check a folder path given by the user: absolute, no `..`, an existing directory.
pub fn checked_folder(text: &str) -> Result<PathBuf, Error> {
    let p = Path::new(text.trim());
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) || text.contains('\0') {
        return Err(Error::BadRequest(format!("{text:?}: give an absolute folder path without \"..\"")));
    }
    let canon = p.canonicalize().map_err(|e| Error::BadRequest(format!("{text}: {e}")))?;
    if !canon.is_dir() {
        return Err(Error::BadRequest(format!("{text} is not a folder")));
    }
    Ok(canon)
}

fn checked_url(url: &str) -> Result<String, Error> {
    let u = url.trim().trim_end_matches('/');
    let ok = (u.starts_with("http://") || u.starts_with("https://"))
        && u.len() < 300
        && !u.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(Error::BadRequest(format!("{url:?}: give the server URL, such as http://192.168.1.20:32400")));
    }
    Ok(u.to_owned())
}

async fn default_token(state: &WebState) -> Result<Option<String>, Error> {
    state.db.call(|c| config_store::get(c, PLEX_TOKEN)).await.flat("reading the Plex token")
}

/// `GET /api/sources`
pub async fn list(State(state): State<WebState>) -> Result<Json<Vec<SourceView>>, Error> {
    let sources = state.db.call(|c| library_store::list_sources(c)).await.flat("listing sources")?;
    Ok(Json(sources.into_iter().map(SourceView::from).collect()))
}

/// `POST /api/sources`
pub async fn add(State(state): State<WebState>, Json(body): Json<NewSource>) -> Result<Json<SourceView>, Error> {
    let body = match body.media_server() {
        Ok(NewServer { server, url, api_key, libraries, name }) => {
            let url = checked_url(&url)?;
            let api_key = api_key.trim().to_owned();
            if api_key.is_empty() || api_key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::BadRequest(format!("give the {} API key", server.label())));
            }
            let name = name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| server.label().into());
            if name.chars().count() > 100 {
                return Err(Error::BadRequest("the name is too long".into()));
            }
            let library = Library::new(state.db.clone(), state.clock.clone(), state.config.library.clone())
                .with_plex_timeout(Duration::from_secs(6));
            let (source, unreachable) = library
                .add_media_server_checked(server, &url, &api_key, libraries, Some(&name), None)
                .await
                .map_err(library_error)?;
            if let Some(e) = unreachable {
                tracing::warn!(source = %source.id, error = %e, "web: source added while its server is unreachable");
            }
            tracing::info!(source = %source.id, name = %source.name, "web: source added");
            return Ok(Json(source.into()));
        }
        Err(other) => other,
    };
    let (name, spec) = match body {
        NewSource::Folder { path, content_kind, name } => {
            if !FOLDER_KINDS.contains(&content_kind.as_str()) {
                return Err(Error::BadRequest(format!(
                    "unknown content kind {content_kind:?}: expected one of {}",
                    FOLDER_KINDS.join(", ")
                )));
            }
            let path = checked_folder(&path)?;
            let name = name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| {
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "Folder".into())
            });
            (name, SourceSpec::Folder { path, content_kind })
        }
        NewSource::Plex { url, token, libraries, name } => {
            let url = checked_url(&url)?;
            let token = match token.filter(|t| !t.trim().is_empty()) {
                Some(t) => t.trim().to_owned(),
                None => default_token(&state)
                    .await?
                    .ok_or_else(|| Error::BadRequest("give a Plex token (or store one in Settings)".into()))?,
            };
            (
                name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "Plex".into()),
                SourceSpec::Plex { url, token, libraries, path_map: None },
            )
        }
        NewSource::Jellyfin { .. } | NewSource::Emby { .. } => unreachable!("handled above"),
    };
    if name.chars().count() > 100 {
        return Err(Error::BadRequest("the name is too long".into()));
    }
    let library = Library::new(state.db.clone(), state.clock.clone(), state.config.library.clone())
        .with_plex_timeout(Duration::from_secs(6));
    let source = match spec {
        SourceSpec::Folder { path, content_kind } => {
            tokio::task::spawn_blocking(move || library.add_folder(&path, &content_kind, Some(&name)))
                .await
                .ctx("adding a source")?
                .map_err(library_error)?
        }
        SourceSpec::Plex { url, token, libraries, path_map } => {
            let (source, unreachable) = library
                .add_plex_checked(&url, &token, libraries, Some(&name), path_map)
                .await
                .map_err(library_error)?;
            if let Some(e) = unreachable {
                tracing::warn!(source = %source.id, error = %e, "web: Plex source added while its server is unreachable");
            }
            source
        }
        SourceSpec::MediaServer { .. } => unreachable!("handled above"),
    };
    tracing::info!(source = %source.id, name = %source.name, "web: source added");
    Ok(Json(source.into()))
}

/// `PUT /api/sources/{id}`: change a source in place. A new token or URL is tried on the
/// server first (a refused token changes nothing); moved media is followed by the schedule.
pub async fn update(
    State(state): State<WebState>,
    UrlPath(id): UrlPath<String>,
    Json(body): Json<SourceChange>,
) -> Result<Json<SourceView>, Error> {
    let id = SourceId(parse_id(&id, "source")?);
    if body.name.as_deref().is_some_and(|n| n.chars().count() > 100) {
        return Err(Error::BadRequest("the name is too long".into()));
    }
    let edit = SourceEdit {
        name: body.name,
        enabled: body.enabled,
        path: body.path.as_deref().map(checked_folder).transpose()?,
        url: body.url.as_deref().map(checked_url).transpose()?,
        token: body.token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
        libraries: body.libraries,
        path_map: body.path_map.map(|m| m.map(|m| (m.from, m.to))),
    };
    let library = Library::new(state.db.clone(), state.clock.clone(), state.config.library.clone())
        .with_plex_timeout(Duration::from_secs(6));
    let current = state.db.call(move |c| library_store::get_source(c, id)).await.flat("reading a source")?;
    let current = current.ok_or_else(|| Error::NotFound(format!("source {id}")))?;
    if let SourceSpec::Plex { url, token, .. } = &current.spec
        && (edit.url.is_some() || edit.token.is_some())
    {
        let (url, token) = (edit.url.as_deref().unwrap_or(url), edit.token.as_deref().unwrap_or(token));
        match library.check_plex(url, token).await {
            Ok(_) => {}
            Err(e @ LibraryError::Plex(PlexError::Unauthorized { .. } | PlexError::Garbage { .. })) => {
                return Err(Error::BadRequest(format!("{e}; nothing was changed")));
            }
            Err(e) => tracing::warn!(source = %id, error = %e, "web: source changed while its server is unreachable"),
        }
    }
    if let SourceSpec::MediaServer { server, url, api_key, .. } = &current.spec
        && (edit.url.is_some() || edit.token.is_some())
    {
        let (url, key) = (edit.url.as_deref().unwrap_or(url), edit.token.as_deref().unwrap_or(api_key));
        match library.check_media_server(*server, url, key).await {
            Ok(_) => {}
            Err(e @ LibraryError::MediaServer(JellyfinError::Unauthorized { .. } | JellyfinError::Garbage { .. })) => {
                return Err(Error::BadRequest(format!("{e}; nothing was changed")));
            }
            Err(e) => tracing::warn!(source = %id, error = %e, "web: source changed while its server is unreachable"),
        }
    }
    let done = tokio::task::spawn_blocking(move || library.edit_source(id, &edit))
        .await
        .ctx("editing a source")?
        .map_err(library_error)?;
    if let Some((from, to)) = done.moved.clone() {
        state.db.call(move |c| schedule_store::move_uris(c, &from, &to)).await.flat("moving scheduled media")?;
    }
    tracing::info!(source = %id, moved = done.items_moved, rescan = done.rescan, "web: source edited");
    ask_replan(&state, None, format!("source {id} edited")).await?;
    Ok(Json(done.source.into()))
}

/// `DELETE /api/sources/{id}`
pub async fn remove(
    State(state): State<WebState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<serde_json::Value>, Error> {
    let id = SourceId(parse_id(&id, "source")?);
    let removed = state.db.call(move |c| library_store::remove_source(c, id)).await.flat("removing a source")?;
    if !removed {
        return Err(Error::NotFound(format!("source {id}")));
    }
    ask_replan(&state, None, format!("source {id} removed")).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

/// Result of `POST /api/sources/test`.
#[derive(Debug, Serialize)]
pub struct TestResult {
    /// Reachable and usable.
    pub ok: bool,
    /// What was found, or what went wrong.
    pub message: String,
    /// Plex/Jellyfin/Emby: the server's libraries.
    pub libraries: Vec<String>,
}

/// `POST /api/sources/test`: can this source be read?
pub async fn test(State(state): State<WebState>, Json(body): Json<NewSource>) -> Result<Json<TestResult>, Error> {
    let body = match body.media_server() {
        Ok(NewServer { server, url, api_key, .. }) => {
            let url = checked_url(&url)?;
            return Ok(Json(test_media_server(&state, server, &url, api_key.trim()).await));
        }
        Err(other) => other,
    };
    match body {
        NewSource::Folder { path, .. } => {
            let path = match checked_folder(&path) {
                Ok(p) => p,
                Err(e) => return Ok(Json(TestResult { ok: false, message: e.to_string(), libraries: vec![] })),
            };
            let count = tokio::task::spawn_blocking(move || count_media(&path))
                .await
                .map_err(|e| Error::internal("counting files", e))?;
            Ok(Json(TestResult {
                ok: true,
                message: format!("folder readable: {count} media file{} found", if count == 1 { "" } else { "s" }),
                libraries: vec![],
            }))
        }
        NewSource::Plex { url, token, .. } => {
            let url = checked_url(&url)?;
            let token = match token.filter(|t| !t.trim().is_empty()) {
                Some(t) => Some(t),
                None => default_token(&state).await?,
            };
            Ok(Json(test_plex(&url, token.as_deref()).await))
        }
        NewSource::Jellyfin { .. } | NewSource::Emby { .. } => unreachable!("handled above"),
    }
}

/// Ask a Jellyfin/Emby server for its libraries with `api_key`.
async fn test_media_server(state: &WebState, server: ServerFlavor, url: &str, api_key: &str) -> TestResult {
    let library = Library::new(state.db.clone(), state.clock.clone(), state.config.library.clone())
        .with_plex_timeout(Duration::from_secs(6));
    match library.check_media_server(server, url, api_key).await {
        Ok(found) => {
            let libraries: Vec<String> = found.into_iter().map(|l| l.name).collect();
            TestResult { ok: true, message: format!("connected: {} libraries", libraries.len()), libraries }
        }
        Err(e) => TestResult { ok: false, message: e.to_string(), libraries: vec![] },
    }
}

const MEDIA_EXTENSIONS: [&str; 12] =
    ["mkv", "mp4", "m4v", "avi", "mov", "ts", "mpg", "mpeg", "wmv", "webm", "flv", "ogv"];

fn count_media(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .max_depth(6)
        .into_iter()
        .filter_map(Result::ok)
        .take(100_000)
        .filter(|e| {
            e.file_type().is_file()
                && e.path()
                    .extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| MEDIA_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
        })
        .count()
}

async fn test_plex(url: &str, token: Option<&str>) -> TestResult {
    let fail = |message: String| TestResult { ok: false, message, libraries: vec![] };
    let Some(token) = token else { return fail("no Plex token: give one or store it in Settings".into()) };
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(6)).build() {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot make an HTTP client: {e}")),
    };
    let res = client
        .get(format!("{url}/library/sections"))
        .header("X-Plex-Token", token)
        .header("Accept", "application/json")
        .send()
        .await;
    match res {
        Err(e) => fail(format!("cannot reach {url}: {e}")),
        Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => fail("Plex refused the token (401)".into()),
        Ok(r) if !r.status().is_success() => fail(format!("Plex answered {}", r.status())),
        Ok(r) => match r.json::<serde_json::Value>().await {
            Err(e) => fail(format!("unexpected answer from {url}: {e}")),
            Ok(v) => {
                let libraries: Vec<String> = v["MediaContainer"]["Directory"]
                    .as_array()
                    .map(|d| d.iter().filter_map(|x| x["title"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                TestResult { ok: true, message: format!("connected: {} libraries", libraries.len()), libraries }
            }
        },
    }
}
