//! `/api/links`: the "Add to Plex / Jellyfin / Emby" panel. Lists the linked media servers
//! (linked / needs attention and why / last guide refresh) and the Plex servers known from
//! sources, links one (a Plex source's server with its stored token, or a URL with a token,
//! API key or user + password), checks one now, and unlinks one. Secrets come in, never go
//! out: no answer carries a token or key.
//!
//! The links themselves live behind [`MediaLinks`], an interface this module owns and the
//! director implements with `mediaserver` (the web may not import it).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::parse_id;
use crate::library::store::{self as library_store, SourceSpec};
use crate::web::WebState;
use crate::web::error::{Error, Flatten};

/// A linked server as the page shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkView {
    /// Id.
    pub id: i64,
    /// `plex`, `jellyfin` or `emby`.
    pub kind: String,
    /// Base URL.
    pub url: String,
    /// Display name.
    pub name: String,
    /// `linked` or `attention`.
    pub state: String,
    /// Why it needs attention.
    pub problem: Option<String>,
    /// Last guide refresh requested (UTC ms).
    pub last_refresh_at: Option<i64>,
    /// Last successful check (UTC ms).
    pub last_check_at: Option<i64>,
    /// What the last change did.
    pub last_action: Option<String>,
}

/// How to open the server's API.
#[derive(Debug, Clone)]
pub enum Credential {
    /// Plex token or Jellyfin/Emby API key.
    Key(String),
    /// Jellyfin/Emby user name and password (exchanged for an access token).
    Login {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

/// What a link request names, once the page's form is resolved.
#[derive(Debug, Clone)]
pub struct LinkTarget {
    /// `plex`, `jellyfin` or `emby`.
    pub kind: String,
    /// Base URL.
    pub url: String,
    /// The credential.
    pub credential: Credential,
    /// Display name ("" for the host).
    pub name: String,
}

/// Why a link operation failed.
#[derive(Debug, Clone)]
pub enum LinkFailure {
    /// The request cannot be done as asked (bad URL, missing key, unknown link).
    Invalid(String),
    /// The media server failed or refused (down, slow, 401, …).
    Server(String),
}

impl From<LinkFailure> for Error {
    fn from(f: LinkFailure) -> Self {
        match f {
            LinkFailure::Invalid(m) => Error::BadRequest(m),
            LinkFailure::Server(m) => Error::Upstream(m),
        }
    }
}

/// What an unlink did.
#[derive(Debug, Clone, Serialize)]
pub struct UnlinkView {
    /// What was removed from the server.
    pub removed: Vec<String>,
    /// Why the server could not be cleaned (the link is forgotten all the same).
    pub remote_error: Option<String>,
}

/// The media server links, as the page needs them (implemented by the director).
pub trait MediaLinks: Send + Sync {
    /// Every link.
    fn list(&self) -> BoxFuture<'_, Result<Vec<LinkView>, LinkFailure>>;
    /// Link a server (idempotent); the link and what changed, in words.
    fn link(&self, target: LinkTarget) -> BoxFuture<'_, Result<(LinkView, String), LinkFailure>>;
    /// Check a link now (repairs what is lost or stale).
    fn check(&self, id: i64) -> BoxFuture<'_, Result<(LinkView, String), LinkFailure>>;
    /// Unlink.
    fn unlink(&self, id: i64) -> BoxFuture<'_, Result<UnlinkView, LinkFailure>>;
}

/// The shared handle the director fills in.
pub type SharedLinks = Arc<dyn MediaLinks>;

/// A Plex server known from a source.
#[derive(Debug, Serialize)]
pub struct PlexServer {
    /// The source.
    pub source_id: i64,
    /// Its name.
    pub name: String,
    /// The server's URL.
    pub url: String,
    /// The link with it, if linked.
    pub link_id: Option<i64>,
}

/// `GET /api/links`.
#[derive(Debug, Serialize)]
pub struct LinksView {
    /// Linked servers.
    pub links: Vec<LinkView>,
    /// Plex servers from sources: one "link" button each.
    pub plex_servers: Vec<PlexServer>,
}

/// Body of `POST /api/links`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkForm {
    /// `plex`, `jellyfin` or `emby`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A Plex source whose server and token to use.
    #[serde(default)]
    pub source_id: Option<i64>,
    /// Server URL (when not from a source).
    #[serde(default)]
    pub url: Option<String>,
    /// Plex token, or Jellyfin/Emby API key.
    #[serde(default)]
    pub token: Option<String>,
    /// Jellyfin/Emby user name (with `password`, instead of an API key).
    #[serde(default)]
    pub user: Option<String>,
    /// Jellyfin/Emby password.
    #[serde(default)]
    pub password: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Answer of `POST /api/links` and `POST /api/links/{id}/check`.
#[derive(Debug, Serialize)]
pub struct LinkDone {
    /// The link.
    pub link: LinkView,
    /// What changed on the server, in words ("" for nothing).
    pub changed: String,
}

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new()
        .route("/links", get(list).post(link))
        .route("/links/{id}", delete(unlink))
        .route("/links/{id}/check", post(check))
}

fn links(state: &WebState) -> Result<SharedLinks, Error> {
    state.links.clone().ok_or(Error::Unavailable("linking media servers"))
}

async fn list(State(state): State<WebState>) -> Result<Json<LinksView>, Error> {
    let links = links(&state)?.list().await?;
    let sources = state.db.call(|c| library_store::list_sources(c)).await.flat("reading sources")?;
    let mut plex_servers: Vec<PlexServer> = Vec::new();
    for s in sources {
        if let SourceSpec::Plex { url, .. } = s.spec {
            let url = url.trim_end_matches('/').to_owned();
            if plex_servers.iter().any(|p| p.url.eq_ignore_ascii_case(&url)) {
                continue;
            }
            let link_id = links.iter().find(|l| l.kind == "plex" && l.url.eq_ignore_ascii_case(&url)).map(|l| l.id);
            plex_servers.push(PlexServer { source_id: s.id.0, name: s.name, url, link_id });
        }
    }
    Ok(Json(LinksView { links, plex_servers }))
}

async fn link(State(state): State<WebState>, Json(form): Json<LinkForm>) -> Result<Json<LinkDone>, Error> {
    let links = links(&state)?;
    let kind = form.kind.trim().to_ascii_lowercase();
    if !matches!(kind.as_str(), "plex" | "jellyfin" | "emby") {
        return Err(Error::BadRequest(format!("unknown media server type {:?}", form.kind)));
    }
    let blank = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let target = if let Some(id) = form.source_id {
        let source = state
            .db
            .call(move |c| library_store::get_source(c, crate::library::SourceId(id)))
            .await
            .flat("reading a source")?
            .ok_or_else(|| Error::NotFound(format!("source {id}")))?;
        let SourceSpec::Plex { url, token, .. } = source.spec else {
            return Err(Error::BadRequest(format!("source {id} is not a Plex server")));
        };
        LinkTarget { kind: "plex".to_owned(), url, credential: Credential::Key(token), name: source.name }
    } else {
        let url = blank(&form.url).ok_or_else(|| Error::BadRequest("give the server's URL".to_owned()))?;
        let credential = match (blank(&form.token), blank(&form.user), form.password.clone()) {
            (Some(key), _, _) => Credential::Key(key),
            (None, Some(user), Some(password)) if kind != "plex" => Credential::Login { user, password },
            _ if kind == "plex" => return Err(Error::BadRequest("give the Plex token".to_owned())),
            _ => return Err(Error::BadRequest("give an API key, or a user name and password".to_owned())),
        };
        LinkTarget { kind, url, credential, name: blank(&form.name).unwrap_or_default() }
    };
    let (link, changed) = links.link(target).await?;
    Ok(Json(LinkDone { link, changed }))
}

async fn check(State(state): State<WebState>, Path(id): Path<String>) -> Result<Json<LinkDone>, Error> {
    let id = parse_id(&id, "link")?;
    let (link, changed) = links(&state)?.check(id).await?;
    Ok(Json(LinkDone { link, changed }))
}

async fn unlink(State(state): State<WebState>, Path(id): Path<String>) -> Result<Json<UnlinkView>, Error> {
    let id = parse_id(&id, "link")?;
    Ok(Json(links(&state)?.unlink(id).await?))
}
