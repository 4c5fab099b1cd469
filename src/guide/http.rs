//! HTTP routes of the guides: `GET /xmltv.xml`, `GET /playlist.m3u`, the channel logos
//! `GET /logos/<channel id>.<ext>` and the programmes' pictures `GET /art/<item id>/<kind>`
//! (`poster`, `thumb`, `fanart`; fetched and cached by [`crate::library::art`], never a
//! redirect to the source, so no Plex address or token reaches a client). A logo path parameter is only ever parsed as a channel
//! id; the file served is the one configured for that channel, never a path from the URL, and
//! a channel without one (or whose file is unreadable) gets its generated logo
//! ([`crate::lineup::logo`]). Absolute URLs come from the box's one rule,
//! [`crate::config::BaseUrl`].

use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::clock::SharedClock;
use crate::config::{BaseUrl, Config};
use crate::library::MediaId;
use crate::library::art::{ArtKind, ArtStore};
use crate::lineup::m3u::StreamUrls;
use crate::lineup::{ChannelId, logo};

/// What the guide routes need.
#[derive(Clone)]
pub struct GuideState {
    /// Configuration (horizon, base URL).
    pub config: Arc<Config>,
    /// The XMLTV guide, kept until what it shows changes.
    pub guide: super::cache::GuideCache,
    /// The channels (the watched lineup).
    pub lineups: crate::lineup::Lineups,
    /// The clock.
    pub clock: SharedClock,
    /// The base-URL rule.
    pub urls: BaseUrl,
    /// The library's pictures.
    pub art: ArtStore,
}

/// The guide routes.
pub fn router(state: GuideState) -> Router {
    Router::new()
        .route("/xmltv.xml", get(xmltv))
        .route("/playlist.m3u", get(playlist))
        .route("/logos/{file}", get(logo))
        .route("/art/{id}/{kind}", get(art))
        .with_state(state)
}

/// The base URL for a request with these headers from `peer`.
fn base(s: &GuideState, headers: &HeaderMap, ext: &Extensions) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let peer = ext.get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
    s.urls.for_request(host, peer)
}

fn internal(what: &str, e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "{what} failed");
    (StatusCode::INTERNAL_SERVER_ERROR, format!("{what} failed; see the daemon log\n")).into_response()
}

async fn xmltv(State(s): State<GuideState>, headers: HeaderMap, ext: Extensions) -> Response {
    let base = base(&s, &headers, &ext);
    let guide = s.guide.clone();
    match tokio::task::spawn_blocking(move || guide.xmltv(&base)).await {
        Ok(Ok(xml)) => ([(header::CONTENT_TYPE, "application/xml; charset=utf-8")], xml.to_string()).into_response(),
        Ok(Err(e)) => internal("XMLTV", e),
        Err(e) => internal("XMLTV", e),
    }
}

async fn playlist(State(s): State<GuideState>, headers: HeaderMap, ext: Extensions) -> Response {
    let base = base(&s, &headers, &ext);
    let m3u = crate::lineup::m3u::render(&s.lineups.current().channels, &base, StreamUrls::Direct);
    ([(header::CONTENT_TYPE, "audio/x-mpegurl; charset=utf-8")], m3u).into_response()
}

async fn logo(State(s): State<GuideState>, Path(file): Path<String>) -> Response {
    let id = file.split_once('.').map_or(file.as_str(), |(id, _)| id);
    let Ok(id) = id.parse::<i64>() else { return StatusCode::NOT_FOUND.into_response() };
    let Some(channel) = s.lineups.current().by_id(ChannelId(id)).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(path) = &channel.logo {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let mime = match ext.as_str() {
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "gif" => "image/gif",
            "svg" => "image/svg+xml",
            "webp" => "image/webp",
            _ => "application/octet-stream",
        };
        match tokio::fs::read(path).await {
            Ok(bytes) => {
                return ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "max-age=3600")], bytes)
                    .into_response();
            }
            Err(e) => {
                tracing::warn!(channel = id, path = %path.display(), error = %e, "channel logo unreadable; serving the generated one");
            }
        }
    }
    let png = match tokio::task::spawn_blocking(move || logo::render(&channel)).await {
        Ok(png) => png,
        Err(e) => return internal("logo", e),
    };
    ([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "max-age=3600")], png).into_response()
}

async fn art(State(s): State<GuideState>, Path((id, kind)): Path<(String, String)>) -> Response {
    let (Ok(id), Some(kind)) = (id.parse::<i64>(), ArtKind::parse(&kind)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match s.art.image(MediaId(id), kind).await {
        Ok(Some(img)) => {
            ([(header::CONTENT_TYPE, img.mime), (header::CACHE_CONTROL, "max-age=86400")], img.bytes).into_response()
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            // A picture that cannot be had is a missing picture to the client; the cause is
            // logged (never with a token: URLs in these errors carry none).
            tracing::warn!(item = id, kind = kind.as_str(), error = %e, "programme picture unavailable");
            StatusCode::NOT_FOUND.into_response()
        }
    }
}
