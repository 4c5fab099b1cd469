//! HTTP routes of the guides: `GET /xmltv.xml`, `GET /playlist.m3u` and the channel logos
//! `GET /logos/<channel id>.<ext>`. A logo path parameter is only ever parsed as a channel
//! id; the file served is the one configured for that channel, never a path from the URL.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::lineup::ChannelId;

/// What the guide routes need.
#[derive(Clone)]
pub struct GuideState {
    /// Configuration (horizon, base URL).
    pub config: Arc<Config>,
    /// The database.
    pub db: Db,
    /// The clock.
    pub clock: SharedClock,
}

/// The guide routes.
pub fn router(state: GuideState) -> Router {
    Router::new()
        .route("/xmltv.xml", get(xmltv))
        .route("/playlist.m3u", get(playlist))
        .route("/logos/{file}", get(logo))
        .with_state(state)
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}

fn internal(what: &str, e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "{what} failed");
    (StatusCode::INTERNAL_SERVER_ERROR, format!("{what} failed; see the daemon log\n")).into_response()
}

async fn xmltv(State(s): State<GuideState>, headers: HeaderMap) -> Response {
    let base = super::base_url(&s.config, host(&headers));
    let now = s.clock.now().timestamp_millis();
    let (from, to) = (now - 2 * 3_600_000, now + i64::from(s.config.schedule.horizon_days) * 86_400_000);
    let db = s.db.clone();
    let render = move || super::gather(&db, from, to).map(|g| super::xmltv::render(&g, Some(&base)));
    match tokio::task::spawn_blocking(render).await {
        Ok(Ok(xml)) => ([(header::CONTENT_TYPE, "application/xml; charset=utf-8")], xml).into_response(),
        Ok(Err(e)) => internal("XMLTV", e),
        Err(e) => internal("XMLTV", e),
    }
}

async fn playlist(State(s): State<GuideState>, headers: HeaderMap) -> Response {
    let base = super::base_url(&s.config, host(&headers));
    match s.db.call(|c| crate::lineup::store::lineup(c)).await {
        Ok(Ok(l)) => {
            ([(header::CONTENT_TYPE, "audio/x-mpegurl; charset=utf-8")], super::m3u::render(&l.channels, &base))
                .into_response()
        }
        Ok(Err(e)) => internal("M3U", e),
        Err(e) => internal("M3U", e),
    }
}

async fn logo(State(s): State<GuideState>, Path(file): Path<String>) -> Response {
    let id = file.split_once('.').map_or(file.as_str(), |(id, _)| id);
    let Ok(id) = id.parse::<i64>() else { return StatusCode::NOT_FOUND.into_response() };
    let channel = match s.db.call(move |c| crate::lineup::store::get(c, ChannelId(id))).await {
        Ok(Ok(Some(c))) => c,
        Ok(Ok(None)) => return StatusCode::NOT_FOUND.into_response(),
        Ok(Err(e)) => return internal("logo", e),
        Err(e) => return internal("logo", e),
    };
    let Some(path) = channel.logo else { return StatusCode::NOT_FOUND.into_response() };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        _ => "application/octet-stream",
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "max-age=3600")], bytes).into_response(),
        Err(e) => {
            tracing::warn!(channel = id, path = %path.display(), error = %e, "channel logo unreadable");
            StatusCode::NOT_FOUND.into_response()
        }
    }
}
