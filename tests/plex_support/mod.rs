//! A Plex-shaped server on 127.0.0.1 (JSON as Plex's API documents it): `/library/sections`,
//! `/library/sections/{id}/all?type=…` paged with `X-Plex-Container-Start/Size`,
//! `/library/metadata/{ratingKey}` with chapters and markers, and `/library/parts/…` serving
//! real clip bytes (a part can be made to fail with 404), and `/library/streams/{id}` serving
//! subtitle files as Plex does (raw SubRip or WebVTT, said to be `text/html`; the detail lists
//! an item's streams, the listing does not). Modes make it say 401, send garbage,
//! answer too slowly or send a short page. Every part request is counted, with whether it
//! carried the right token.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// How the server behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Ok,
    Unauthorized,
    Garbage,
    Slow,
    Partial,
}

/// What the fake server holds: sections (key, title, type) and items per section key.
pub struct Plex {
    pub mode: Mode,
    pub token: String,
    pub sections: Vec<(String, String, String)>,
    pub items: HashMap<String, Vec<Value>>,
    /// Bytes served for any part not in `part_clips`.
    pub clip: Vec<u8>,
    /// Bytes per part id.
    pub part_clips: HashMap<String, Vec<u8>>,
    /// Part ids that answer 404.
    pub broken_parts: HashSet<String>,
    /// `Stream` entries of an item's first part (by ratingKey), listed by its detail only.
    pub streams: HashMap<String, Vec<Value>>,
    /// The body of each subtitle stream (by stream id).
    pub subtitle_files: HashMap<String, String>,
}

impl Plex {
    /// A server holding `sections` and `items`, answering with `token` only.
    pub fn new(token: &str, sections: &[(&str, &str, &str)], items: Vec<(&str, Vec<Value>)>, clip: Vec<u8>) -> Self {
        Self {
            mode: Mode::Ok,
            token: token.to_owned(),
            sections: sections.iter().map(|(k, t, y)| ((*k).into(), (*t).into(), (*y).into())).collect(),
            items: items.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            clip,
            part_clips: HashMap::new(),
            broken_parts: HashSet::new(),
            streams: HashMap::new(),
            subtitle_files: HashMap::new(),
        }
    }
}

/// The running server's shared state.
#[derive(Clone)]
pub struct Shared {
    pub plex: Arc<Mutex<Plex>>,
    pub detail_hits: Arc<AtomicUsize>,
    /// Picture (`/library/metadata/{key}/{kind}/{ts}`) requests with the right token.
    pub art_hits: Arc<AtomicUsize>,
    /// Part id → (requests with the right token, requests without).
    pub part_hits: Arc<Mutex<HashMap<String, (usize, usize)>>>,
}

impl Shared {
    /// Requests for part `id` that carried the right token.
    pub fn part_hits(&self, id: &str) -> usize {
        self.part_hits.lock().unwrap().get(id).map_or(0, |h| h.0)
    }

    /// Detail (`/library/metadata/…`) requests so far.
    pub fn details(&self) -> usize {
        self.detail_hits.load(Ordering::SeqCst)
    }
}

fn envelope(inner: Value) -> Response {
    ([("content-type", "application/json")], json!({ "MediaContainer": inner }).to_string()).into_response()
}

async fn gate(s: &Shared, headers: &HeaderMap) -> Option<Response> {
    let (mode, token) = {
        let p = s.plex.lock().unwrap();
        (p.mode, p.token.clone())
    };
    if headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return Some((StatusCode::NOT_ACCEPTABLE, "<MediaContainer/>").into_response());
    }
    match mode {
        Mode::Unauthorized => Some((StatusCode::UNAUTHORIZED, "<html>401 Unauthorized</html>").into_response()),
        _ if headers.get("x-plex-token").and_then(|v| v.to_str().ok()) != Some(token.as_str()) => {
            Some(StatusCode::UNAUTHORIZED.into_response())
        }
        Mode::Garbage => Some(([("content-type", "application/json")], "{\"MediaContainer\": [1, 2").into_response()),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            None
        }
        _ => None,
    }
}

async fn sections(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &headers).await {
        return r;
    }
    let p = s.plex.lock().unwrap();
    let dirs: Vec<Value> = p
        .sections
        .iter()
        .map(|(key, title, kind)| json!({"key": key, "title": title, "type": kind, "agent": "x"}))
        .collect();
    envelope(json!({"size": dirs.len(), "Directory": dirs}))
}

async fn all(
    State(s): State<Shared>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&s, &headers).await {
        return r;
    }
    let p = s.plex.lock().unwrap();
    let want = if q.get("type").map(String::as_str) == Some("4") { "episode" } else { "movie" };
    let list: Vec<Value> =
        p.items.get(&key).cloned().unwrap_or_default().into_iter().filter(|i| i["type"] == want).collect();
    let start: usize = q.get("X-Plex-Container-Start").and_then(|v| v.parse().ok()).unwrap_or(0);
    let size: usize = q.get("X-Plex-Container-Size").and_then(|v| v.parse().ok()).unwrap_or(50);
    // Pages of at most 2, as a server may cap them.
    let page: Vec<Value> = list.iter().skip(start).take(size.min(2)).cloned().collect();
    let total = if p.mode == Mode::Partial { list.len() + 3 } else { list.len() };
    envelope(json!({"size": page.len(), "totalSize": total, "offset": start, "Metadata": page}))
}

async fn metadata(State(s): State<Shared>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &headers).await {
        return r;
    }
    s.detail_hits.fetch_add(1, Ordering::SeqCst);
    let p = s.plex.lock().unwrap();
    let Some(item) = p.items.values().flatten().find(|i| i["ratingKey"] == key.as_str()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut full = item.clone();
    full["Chapter"] = json!([{"index": 1, "startTimeOffset": 0, "endTimeOffset": 600}, {"index": 2, "startTimeOffset": 600, "endTimeOffset": 2000}]);
    full["Marker"] = json!([{"type": "intro", "startTimeOffset": 0, "endTimeOffset": 300}, {"type": "commercial", "startTimeOffset": 1200, "endTimeOffset": 1300}]);
    if let Some(streams) = p.streams.get(&key) {
        full["Media"][0]["Part"][0]["Stream"] = json!(streams);
    }
    envelope(json!({"size": 1, "Metadata": [full]}))
}

async fn part(
    State(s): State<Shared>,
    Path((id, _ts, _file)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = s.plex.lock().unwrap();
    let authorised = q.get("X-Plex-Token") == Some(&p.token);
    {
        let mut hits = s.part_hits.lock().unwrap();
        let h = hits.entry(id.clone()).or_default();
        if authorised { h.0 += 1 } else { h.1 += 1 }
    }
    if !authorised {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if p.broken_parts.contains(&id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let bytes = p.part_clips.get(&id).unwrap_or(&p.clip).clone();
    ([("content-type", "video/x-matroska")], bytes).into_response()
}

/// A subtitle stream's file, with the token in the header or the query (404 for a stream
/// inside the media, as Plex answers 501 for those: only files beside it are served).
async fn subtitle_stream(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let p = s.plex.lock().unwrap();
    let header = headers.get("x-plex-token").and_then(|v| v.to_str().ok());
    if header != Some(p.token.as_str()) && q.get("X-Plex-Token") != Some(&p.token) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match p.subtitle_files.get(&id) {
        Some(text) => ([("content-type", "text/html")], text.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// One `Media` entry (a version) with `parts` as (part id, duration ms), and its facts.
pub fn version(width: u32, height: u32, frame_rate: &str, codec: &str, parts: &[(u32, i64)]) -> Value {
    let duration: i64 = parts.iter().map(|p| p.1).sum();
    let parts: Vec<Value> = parts
        .iter()
        .map(|(id, ms)| {
            json!({"id": id, "key": format!("/library/parts/{id}/1000/file.mkv"),
                   "file": format!("/plexmedia/part-{id}.mkv"), "duration": ms})
        })
        .collect();
    json!({"duration": duration, "videoCodec": codec, "audioCodec": "aac", "audioChannels": 2, "width": width,
           "height": height, "videoFrameRate": frame_rate, "videoResolution": height.to_string(), "Part": parts})
}

/// The `Media` array of an item with one 2-second, 320x240 part.
pub fn media(part_id: u32, file: &str) -> Value {
    json!([{"duration": 2000, "videoCodec": "h264", "audioCodec": "aac", "audioChannels": 2, "width": 320, "height": 240,
            "Part": [{"id": part_id, "key": format!("/library/parts/{part_id}/1000/file.mkv"), "file": file, "duration": 2000}]}])
}

/// A movie whose one part has the id of its `key`.
pub fn movie(key: &str, title: &str, rating: &str, updated: i64) -> Value {
    json!({"ratingKey": key, "key": format!("/library/metadata/{key}"), "type": "movie", "title": title, "year": 1985,
           "contentRating": rating, "duration": 2000, "updatedAt": updated, "summary": "A movie.",
           "Genre": [{"tag": "Comedy"}], "Media": media(key.parse().unwrap(), &format!("/plexmedia/Movies/{title}.mkv"))})
}

/// Episode `n` of "Retro Robots" season 1, whose one part has the id of its `key`.
pub fn episode(key: &str, n: u32, rating: &str, updated: i64) -> Value {
    json!({"ratingKey": key, "type": "episode", "title": format!("Episode {n}"), "grandparentTitle": "Retro Robots",
           "parentIndex": 1, "index": n, "originallyAvailableAt": "1986-09-01", "contentRating": rating,
           "duration": 2000, "updatedAt": updated, "Media": media(key.parse().unwrap(), "/plexmedia/TV/ep.mkv")})
}

/// The picture Plex would serve for `/library/metadata/{key}/{kind}/{ts}`: a real PNG whose
/// colour encodes the item, only with the token in the request header (how Retrovue asks).
pub fn picture_png(key: &str, kind: &str) -> Vec<u8> {
    let shade = key.parse::<u8>().unwrap_or(0).wrapping_mul(37);
    retrovue::lineup::logo::render_card(kind, retrovue::lineup::logo::Rgb(shade, 40, 90), 64)
}

async fn picture(
    State(s): State<Shared>,
    Path((key, kind, _)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let token = s.plex.lock().unwrap().token.clone();
    if headers.get("x-plex-token").and_then(|v| v.to_str().ok()) != Some(token.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    s.art_hits.fetch_add(1, Ordering::SeqCst);
    ([("content-type", "image/png")], picture_png(&key, &kind)).into_response()
}

/// Start the server on 127.0.0.1 (random port).
pub async fn start(plex: Plex) -> (Shared, SocketAddr, tokio::task::JoinHandle<()>) {
    let shared = Shared {
        plex: Arc::new(Mutex::new(plex)),
        detail_hits: Arc::new(AtomicUsize::new(0)),
        art_hits: Arc::new(AtomicUsize::new(0)),
        part_hits: Arc::new(Mutex::new(HashMap::new())),
    };
    let app = Router::new()
        .route("/library/sections", get(sections))
        .route("/library/sections/{key}/all", get(all))
        .route("/library/metadata/{key}", get(metadata))
        .route("/library/parts/{id}/{ts}/{file}", get(part))
        .route("/library/streams/{id}", get(subtitle_stream))
        .route("/library/metadata/{key}/{kind}/{ts}", get(picture))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (shared, addr, task)
}

/// The bytes of a generated `seconds`-long 320x240 clip (Matroska) with `pattern`.
pub fn clip_bytes(dir: &std::path::Path, seconds: f64, pattern: &'static str) -> Vec<u8> {
    let p = dir.join(format!("clip-{pattern}-{seconds}.mkv"));
    let mut c = crate::util::Clip::new(320, 240, seconds);
    c.pattern = pattern;
    c.write(&p);
    std::fs::read(p).unwrap()
}
