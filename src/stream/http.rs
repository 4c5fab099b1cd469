//! HTTP outputs of the channels: `GET /stream/<number>.ts` (endless MPEG-TS from the channel's
//! feed: the GOP cache first so a decoder starts at once, then the live tail) and
//! `GET /hls/<number>/index.m3u8` + segments from the channel's HLS directory. Any request
//! counts as demand for the channel, so an on-demand channel starts for it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;

use super::StreamHub;
use super::hls::{PLAYLIST, is_served_name};
use crate::lineup::ChannelId;

/// Looks up the channel with a guide number (the director implements it over the lineup).
pub type Resolver = Arc<dyn Fn(String) -> BoxFuture<'static, Option<ChannelId>> + Send + Sync>;

/// How long an HLS request keeps an on-demand channel wanted.
const HLS_DEMAND: Duration = Duration::from_secs(20);
/// How long a playlist request waits for a starting channel's first segments.
const PLAYLIST_WAIT: Duration = Duration::from_secs(10);

/// What the routes need.
#[derive(Clone)]
pub struct StreamRoutes {
    /// The fan-out.
    pub hub: StreamHub,
    /// Number → channel.
    pub resolve: Resolver,
    /// Root of the HLS directories (one per channel id).
    pub hls_dir: PathBuf,
}

/// The HLS directory of a channel under `root`.
pub fn hls_dir_of(root: &std::path::Path, channel: ChannelId) -> PathBuf {
    root.join(channel.0.to_string())
}

/// `/stream/{file}` and `/hls/{number}/{file}`.
pub fn router(routes: StreamRoutes) -> Router {
    Router::new()
        .route("/stream/{file}", axum::routing::get(ts))
        .route("/hls/{number}/{file}", axum::routing::get(hls))
        .with_state(routes)
}

async fn ts(State(r): State<StreamRoutes>, Path(file): Path<String>) -> Response {
    let Some(number) = file.strip_suffix(".ts") else { return StatusCode::NOT_FOUND.into_response() };
    let Some(channel) = (r.resolve)(number.to_owned()).await else {
        return (StatusCode::NOT_FOUND, "no such channel").into_response();
    };
    let sub = r.hub.subscribe(channel);
    let body = Body::from_stream(futures::stream::unfold(sub, |mut sub| async move {
        sub.next().await.map(|b| (Ok::<_, std::convert::Infallible>(b), sub))
    }));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    resp
}

async fn hls(State(r): State<StreamRoutes>, Path((number, file)): Path<(String, String)>) -> Response {
    if !is_served_name(&file) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(channel) = (r.resolve)(number).await else {
        return (StatusCode::NOT_FOUND, "no such channel").into_response();
    };
    let path = hls_dir_of(&r.hls_dir, channel).join(&file);
    let playlist = file == PLAYLIST;
    if playlist {
        // Keep the channel wanted while an HLS client polls it.
        let sub = r.hub.subscribe(channel);
        tokio::spawn(async move {
            tokio::time::sleep(HLS_DEMAND).await;
            drop(sub);
        });
    }
    let deadline = tokio::time::Instant::now() + if playlist { PLAYLIST_WAIT } else { Duration::ZERO };
    let data = loop {
        match tokio::fs::read(&path).await {
            Ok(d) => break d,
            Err(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(_) => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    let ctype = if playlist { "application/vnd.apple.mpegurl" } else { "video/mp2t" };
    let cache = if playlist { "no-cache" } else { "max-age=60" };
    ([(header::CONTENT_TYPE, ctype), (header::CACHE_CONTROL, cache)], data).into_response()
}
