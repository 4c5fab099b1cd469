//! `GET /api/items/{id}/still.jpg[?at=MS]`: a preview frame of an item (made by
//! `library::thumbnail`; `at` picks the frame, as the break editor does for each candidate),
//! one at a time so a phone scrolling the library cannot load the box, and kept in a small
//! in-memory cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::parse_id;
use crate::library::store as library_store;
use crate::library::{MediaId, secret, thumbnail};
use crate::web::WebState;
use crate::web::error::{Error, Flatten, ResultExt};

/// Stills kept in memory at most.
const CACHE_LIMIT: usize = 128;
/// Width of a still in pixels.
const WIDTH: u32 = 480;

/// The cache and the one-at-a-time permit.
#[derive(Debug)]
pub struct Stills {
    // std Mutex: map look-ups and inserts only, never across an await.
    cache: Mutex<HashMap<(MediaId, Option<i64>), Bytes>>,
    permit: tokio::sync::Semaphore,
}

impl Default for Stills {
    fn default() -> Self {
        Self { cache: Mutex::default(), permit: tokio::sync::Semaphore::new(1) }
    }
}

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new().route("/items/{id}/still.jpg", get(still))
}

fn jpeg(bytes: Bytes) -> Response {
    let mut res = bytes.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    res
}

/// Query of a still.
#[derive(Debug, serde::Deserialize)]
pub struct StillQuery {
    /// The frame at this many ms from the start (default: about a tenth into the media).
    pub at: Option<i64>,
}

/// `GET /api/items/{id}/still.jpg`
pub async fn still(
    State(state): State<WebState>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<StillQuery>,
) -> Result<Response, Error> {
    let id = MediaId(parse_id(&id, "item")?);
    let at = q.at.map(|ms| ms.max(0));
    if let Some(b) = state.stills.cache.lock().expect("stills lock").get(&(id, at)) {
        return Ok(jpeg(b.clone()));
    }
    let (item, credentials) = state
        .db
        .call(move |c| {
            Ok::<_, library_store::StoreError>((library_store::get_item(c, id)?, library_store::credentials(c)?))
        })
        .await
        .flat("reading an item")?;
    let item = item.ok_or_else(|| Error::NotFound(format!("item {id}")))?;
    let _permit = state.stills.permit.acquire().await.ctx("waiting for the thumbnailer")?;
    let uri = credentials.openable(&item.uri);
    let width = if at.is_some() { WIDTH / 2 } else { WIDTH };
    let at = at.map(|ms| Duration::from_millis(ms as u64));
    let made = tokio::task::spawn_blocking(move || thumbnail::still_at(&uri, width, at, Duration::from_secs(15)))
        .await
        .ctx("making a still")?;
    let bytes = match made {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            tracing::debug!(item = %id, error = %secret::redact(&e.to_string()), "web: no still");
            return Err(Error::NotFound(format!("a still of item {id}")));
        }
    };
    let mut cache = state.stills.cache.lock().expect("stills lock");
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert((id, q.at.map(|ms| ms.max(0))), bytes.clone());
    Ok(jpeg(bytes))
}
