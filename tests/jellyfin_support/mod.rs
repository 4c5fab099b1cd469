//! A Jellyfin- or Emby-shaped server on 127.0.0.1. It answers the endpoints a source sync
//! uses, with the response shapes of Jellyfin's OpenAPI (jellyfin/jellyfin
//! `Jellyfin.Api` controllers; the field names as jellyfin/jellyfin-sdk-typescript's
//! generated client documents them): `GET /Users` (`UserDto[]`), `GET /Library/VirtualFolders`
//! (`VirtualFolderInfo[]`), `GET /Items?UserId&ParentId&Recursive&IncludeItemTypes&Fields&
//! StartIndex&Limit` (`BaseItemDtoQueryResult`: `Items`, `TotalRecordCount`, `StartIndex`),
//! `GET /Items/{id}/Images/{type}[/{index}]` (the picture) and
//! `GET /Videos/{id}/stream?static=true&MediaSourceId=…&api_key=…` (the file). Emby serves the
//! same API under `/emby/` (its own server answers 404 at the root). JSON and pictures need the
//! key in `X-Emby-Token`; a stream needs it as `api_key` (how players open it). Modes make
//! it say 401, send garbage, answer too slowly or send a short page. Stream requests are
//! counted, with whether they carried the right key.
#![allow(dead_code)]

use std::collections::HashMap;
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

/// What the fake server holds: libraries (id, name, collection type) and items per library id.
pub struct Server {
    pub mode: Mode,
    pub key: String,
    pub libraries: Vec<(String, String, Option<String>)>,
    pub items: HashMap<String, Vec<Value>>,
    /// Bytes served for any stream.
    pub clip: Vec<u8>,
}

impl Server {
    /// A server holding `libraries` and `items`, answering with `key` only.
    pub fn new(
        key: &str,
        libraries: &[(&str, &str, Option<&str>)],
        items: Vec<(&str, Vec<Value>)>,
        clip: Vec<u8>,
    ) -> Self {
        Self {
            mode: Mode::Ok,
            key: key.to_owned(),
            libraries: libraries.iter().map(|(i, n, t)| ((*i).into(), (*n).into(), t.map(str::to_owned))).collect(),
            items: items.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            clip,
        }
    }

    /// The item with `id`, to change it.
    pub fn item(&mut self, id: &str) -> &mut Value {
        self.items.values_mut().flatten().find(|i| i["Id"] == id).unwrap()
    }
}

/// The running server's shared state.
#[derive(Clone)]
pub struct Shared {
    pub server: Arc<Mutex<Server>>,
    /// `/Items` listing requests.
    pub listings: Arc<AtomicUsize>,
    /// Picture requests with the right key.
    pub art_hits: Arc<AtomicUsize>,
    /// Item id → (stream requests with the right key, requests without).
    pub stream_hits: Arc<Mutex<HashMap<String, (usize, usize)>>>,
}

impl Shared {
    /// Stream requests for item `id` that carried the right key.
    pub fn streams(&self, id: &str) -> usize {
        self.stream_hits.lock().unwrap().get(id).map_or(0, |h| h.0)
    }

    /// Stream requests for item `id` in all.
    pub fn all_streams(&self, id: &str) -> usize {
        self.stream_hits.lock().unwrap().get(id).map_or(0, |h| h.0 + h.1)
    }
}

fn json_response(v: Value) -> Response {
    ([("content-type", "application/json; charset=utf-8")], v.to_string()).into_response()
}

async fn gate(s: &Shared, headers: &HeaderMap) -> Option<Response> {
    let (mode, key) = {
        let p = s.server.lock().unwrap();
        (p.mode, p.key.clone())
    };
    match mode {
        Mode::Unauthorized => Some(StatusCode::UNAUTHORIZED.into_response()),
        _ if headers.get("x-emby-token").and_then(|v| v.to_str().ok()) != Some(key.as_str()) => {
            Some(StatusCode::UNAUTHORIZED.into_response())
        }
        Mode::Garbage => Some(([("content-type", "application/json")], "{\"Items\": [1, 2").into_response()),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            None
        }
        _ => None,
    }
}

async fn users(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &headers).await {
        return r;
    }
    // UserDto: a plain user first, then the administrator a sync should list as.
    json_response(json!([
        {"Name": "kid", "ServerId": "f0e1d2c3", "Id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "HasPassword": false,
         "Policy": {"IsAdministrator": false, "IsDisabled": false}},
        {"Name": "admin", "ServerId": "f0e1d2c3", "Id": "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6", "HasPassword": true,
         "Policy": {"IsAdministrator": true, "IsDisabled": false}}
    ]))
}

async fn virtual_folders(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &headers).await {
        return r;
    }
    let p = s.server.lock().unwrap();
    let folders: Vec<Value> = p
        .libraries
        .iter()
        .map(|(id, name, kind)| {
            json!({"Name": name, "Locations": [format!("/srv/media/{name}")], "CollectionType": kind,
                   "LibraryOptions": {"EnableRealtimeMonitor": true}, "ItemId": id, "RefreshStatus": "Idle"})
        })
        .collect();
    json_response(Value::Array(folders))
}

async fn items(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &headers).await {
        return r;
    }
    s.listings.fetch_add(1, Ordering::SeqCst);
    // The sync lists as the administrator, recursively, movies and episodes, with its fields.
    if q.get("UserId").map(String::as_str) != Some("d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6")
        || q.get("Recursive").map(String::as_str) != Some("true")
        || q.get("IncludeItemTypes").map(String::as_str) != Some("Movie,Episode")
        || !q.get("Fields").is_some_and(|f| f.contains("MediaSources") && f.contains("Chapters") && f.contains("Path"))
    {
        return (StatusCode::BAD_REQUEST, format!("unexpected query {q:?}")).into_response();
    }
    let p = s.server.lock().unwrap();
    let parent = q.get("ParentId").cloned().unwrap_or_default();
    let list: Vec<Value> = p.items.get(&parent).cloned().unwrap_or_default();
    let start: usize = q.get("StartIndex").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("Limit").and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    // Pages of at most 2, as a server may cap them.
    let page: Vec<Value> = list
        .iter()
        .skip(start)
        .take(limit.min(2))
        .map(|i| {
            let mut i = i.clone();
            // Per-user state, different on every answer: a sync must not take it for a change.
            i["UserData"] = json!({"PlaybackPositionTicks": 0, "PlayCount": s.listings.load(Ordering::SeqCst),
                                   "IsFavorite": false, "Played": false, "Key": i["Id"]});
            i
        })
        .collect();
    let total = if p.mode == Mode::Partial { list.len() + 3 } else { list.len() };
    json_response(json!({"Items": page, "TotalRecordCount": total, "StartIndex": start}))
}

/// The picture the server would serve for `/Items/{id}/Images/{kind}`: a real PNG whose
/// colour encodes the item, only with the key in `X-Emby-Token` (how Retrovue asks).
pub fn picture_png(id: &str, kind: &str) -> Vec<u8> {
    let shade = id.bytes().fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    retrovue::lineup::logo::render_card(kind, retrovue::lineup::logo::Rgb(shade, 40, 90), 64)
}

async fn picture(s: Shared, id: String, kind: String, headers: HeaderMap) -> Response {
    let key = s.server.lock().unwrap().key.clone();
    if headers.get("x-emby-token").and_then(|v| v.to_str().ok()) != Some(key.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    s.art_hits.fetch_add(1, Ordering::SeqCst);
    ([("content-type", "image/png")], picture_png(&id, &kind)).into_response()
}

async fn image(State(s): State<Shared>, Path((id, kind)): Path<(String, String)>, headers: HeaderMap) -> Response {
    picture(s, id, kind, headers).await
}

async fn image_at(
    State(s): State<Shared>,
    Path((id, kind, _index)): Path<(String, String, u32)>,
    headers: HeaderMap,
) -> Response {
    picture(s, id, kind, headers).await
}

async fn stream(State(s): State<Shared>, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    let p = s.server.lock().unwrap();
    let authorised = q.get("api_key") == Some(&p.key);
    {
        let mut hits = s.stream_hits.lock().unwrap();
        let h = hits.entry(id.clone()).or_default();
        if authorised { h.0 += 1 } else { h.1 += 1 }
    }
    if !authorised {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if q.get("static").map(String::as_str) != Some("true") {
        return (StatusCode::BAD_REQUEST, "only static streams here").into_response();
    }
    if !p.items.values().flatten().any(|i| i["Id"] == id.as_str()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    ([("content-type", "video/x-matroska")], p.clip.clone()).into_response()
}

/// Jellyfin (API at the root) or Emby (API under `/emby`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flavor {
    Jellyfin,
    Emby,
}

/// Start the server on 127.0.0.1 (random port).
pub async fn start(flavor: Flavor, server: Server) -> (Shared, SocketAddr, tokio::task::JoinHandle<()>) {
    let shared = Shared {
        server: Arc::new(Mutex::new(server)),
        listings: Arc::new(AtomicUsize::new(0)),
        art_hits: Arc::new(AtomicUsize::new(0)),
        stream_hits: Arc::new(Mutex::new(HashMap::new())),
    };
    let api = Router::new()
        .route("/Users", get(users))
        .route("/Library/VirtualFolders", get(virtual_folders))
        .route("/Items", get(items))
        .route("/Items/{id}/Images/{kind}", get(image))
        .route("/Items/{id}/Images/{kind}/{index}", get(image_at))
        .route("/Videos/{id}/stream", get(stream))
        .with_state(shared.clone());
    let app = match flavor {
        Flavor::Jellyfin => api,
        Flavor::Emby => Router::new().nest("/emby", api),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (shared, addr, task)
}

/// One `MediaSourceInfo` of a 2-second 320x240 H.264/AAC file at `path` on the server.
pub fn media_source(id: &str, path: &str) -> Value {
    json!({"Protocol": "File", "Id": id, "Path": path, "Type": "Default", "Container": "mkv", "Size": 120000,
    "Name": "file", "IsRemote": false, "RunTimeTicks": 20_000_000i64, "SupportsDirectStream": true,
    "MediaStreams": [
        {"Codec": "h264", "Type": "Video", "Index": 0, "Width": 320, "Height": 240, "RealFrameRate": 25.0,
         "AverageFrameRate": 25.0, "IsDefault": true},
        {"Codec": "aac", "Type": "Audio", "Index": 1, "Channels": 2, "SampleRate": 48000, "IsDefault": true}
    ]})
}

/// A movie (`BaseItemDto`), its file at `/srv/media/Movies/{name}.mkv`.
pub fn movie(id: &str, name: &str, rating: &str) -> Value {
    json!({"Name": name, "ServerId": "f0e1d2c3", "Id": id, "Etag": "e1", "Path": format!("/srv/media/Movies/{name}.mkv"),
           "OfficialRating": rating, "Overview": "A movie.", "Genres": ["Comedy"], "ProductionYear": 1985,
           "PremiereDate": "1985-07-03T00:00:00.0000000Z", "RunTimeTicks": 20_000_000i64, "IsFolder": false,
           "Type": "Movie", "MediaType": "Video", "LocationType": "FileSystem", "ProviderIds": {"Imdb": "tt0088763"},
           "ImageTags": {"Primary": format!("p{id}")}, "BackdropImageTags": [format!("b{id}")],
           "Chapters": [{"StartPositionTicks": 0, "Name": "Opening", "ImageDateModified": "0001-01-01T00:00:00.0000000Z"},
                        {"StartPositionTicks": 6_000_000i64, "Name": "Middle"},
                        {"StartPositionTicks": 12_000_000i64, "Name": "End"}],
           "MediaSources": [media_source(id, &format!("/srv/media/Movies/{name}.mkv"))]})
}

/// Episode `n` of "Retro Robots" season 1 (`BaseItemDto`), its file at `/srv/media/TV/ep{n}.mkv`.
pub fn episode(id: &str, n: u32, rating: &str) -> Value {
    json!({"Name": format!("Episode {n}"), "ServerId": "f0e1d2c3", "Id": id, "Path": format!("/srv/media/TV/ep{n}.mkv"),
           "OfficialRating": rating, "Genres": ["Animation"], "ProductionYear": 1986,
           "PremiereDate": "1986-09-01T00:00:00.0000000Z", "RunTimeTicks": 20_000_000i64, "IsFolder": false,
           "Type": "Episode", "MediaType": "Video", "LocationType": "FileSystem",
           "SeriesName": "Retro Robots", "SeriesId": "5e7e5", "SeasonId": "5ea51", "SeasonName": "Season 1",
           "IndexNumber": n, "ParentIndexNumber": 1, "SeriesPrimaryImageTag": "sp",
           "ImageTags": {"Primary": format!("p{id}")}, "BackdropImageTags": [],
           "ParentBackdropItemId": "5e7e5", "ParentBackdropImageTags": ["sb"],
           "Chapters": [{"StartPositionTicks": 0, "Name": "Opening"}, {"StartPositionTicks": 10_000_000i64, "Name": "Part 2"}],
           "MediaSources": [media_source(id, &format!("/srv/media/TV/ep{n}.mkv"))]})
}

/// The bytes of a generated `seconds`-long 320x240 clip (Matroska) with `pattern`.
pub fn clip_bytes(dir: &std::path::Path, seconds: f64, pattern: &'static str) -> Vec<u8> {
    let p = dir.join(format!("clip-{pattern}-{seconds}.mkv"));
    let mut c = crate::util::Clip::new(320, 240, seconds);
    c.pattern = pattern;
    c.write(&p);
    std::fs::read(p).unwrap()
}
