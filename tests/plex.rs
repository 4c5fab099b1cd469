//! Plex sources against a local Plex-shaped server (JSON as Plex's API documents it:
//! `/library/sections`, `/library/sections/{id}/all?type=…` paged with
//! `X-Plex-Container-Start/Size`, `/library/metadata/{ratingKey}` with chapters and markers,
//! and `/library/parts/…` serving real clip bytes), including a server that says 401, sends
//! garbage, answers too slowly, sends a short page, or is down.

mod util;

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
use retrovue::clock::SystemClock;
use retrovue::config::Config;
use retrovue::db::Db;
use retrovue::library::store::ItemFilter;
use retrovue::library::{Library, MediaItem, Progress, ScanReport, SourceId};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    Unauthorized,
    Garbage,
    Slow,
    Partial,
}

/// What the fake server holds: sections (key → (title, type)) and items per section.
struct Plex {
    mode: Mode,
    sections: Vec<(String, String, String)>,
    items: HashMap<String, Vec<Value>>,
    clip: Vec<u8>,
}

#[derive(Clone)]
struct Shared {
    plex: Arc<Mutex<Plex>>,
    detail_hits: Arc<AtomicUsize>,
    art_hits: Arc<AtomicUsize>,
}

const TOKEN: &str = "s3cr3t-t0ken-value";

fn envelope(inner: Value) -> Response {
    ([("content-type", "application/json")], json!({ "MediaContainer": inner }).to_string()).into_response()
}

async fn gate(s: &Shared, headers: &HeaderMap) -> Option<Response> {
    let mode = s.plex.lock().unwrap().mode;
    if headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return Some((StatusCode::NOT_ACCEPTABLE, "<MediaContainer/>").into_response());
    }
    match mode {
        Mode::Unauthorized => Some((StatusCode::UNAUTHORIZED, "<html>401 Unauthorized</html>").into_response()),
        _ if headers.get("x-plex-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) => {
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
    envelope(json!({"size": 1, "Metadata": [full]}))
}

async fn part(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("X-Plex-Token").map(String::as_str) != Some(TOKEN) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let bytes = s.plex.lock().unwrap().clip.clone();
    ([("content-type", "video/x-matroska")], bytes).into_response()
}

/// The picture Plex would serve for `/library/metadata/{key}/{kind}/{ts}`: a real PNG whose
/// colour encodes the item, only with the token in the request header (how Retrovue asks).
fn picture_png(key: &str, kind: &str) -> Vec<u8> {
    let shade = key.parse::<u8>().unwrap_or(0).wrapping_mul(37);
    retrovue::lineup::logo::render_card(kind, retrovue::lineup::logo::Rgb(shade, 40, 90), 64)
}

async fn picture(
    State(s): State<Shared>,
    Path((key, kind, _)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if headers.get("x-plex-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    s.art_hits.fetch_add(1, Ordering::SeqCst);
    ([("content-type", "image/png")], picture_png(&key, &kind)).into_response()
}

fn media(part_id: u32, file: &str) -> Value {
    json!([{"duration": 2000, "videoCodec": "h264", "audioCodec": "aac", "audioChannels": 2, "width": 320, "height": 240,
            "Part": [{"id": part_id, "key": format!("/library/parts/{part_id}/1000/file.mkv"), "file": file, "duration": 2000}]}])
}

fn movie(key: &str, title: &str, rating: &str, updated: i64) -> Value {
    json!({"ratingKey": key, "key": format!("/library/metadata/{key}"), "type": "movie", "title": title, "year": 1985,
           "contentRating": rating, "duration": 2000, "updatedAt": updated, "summary": "A movie.",
           "Genre": [{"tag": "Comedy"}], "Media": media(key.parse().unwrap(), &format!("/plexmedia/Movies/{title}.mkv"))})
}

fn episode(key: &str, n: u32, rating: &str, updated: i64) -> Value {
    json!({"ratingKey": key, "type": "episode", "title": format!("Episode {n}"), "grandparentTitle": "Retro Robots",
           "parentIndex": 1, "index": n, "originallyAvailableAt": "1986-09-01", "contentRating": rating,
           "duration": 2000, "updatedAt": updated, "Media": media(key.parse().unwrap(), "/plexmedia/TV/ep.mkv")})
}

async fn start(plex: Plex) -> (Shared, SocketAddr, tokio::task::JoinHandle<()>) {
    let shared = Shared {
        plex: Arc::new(Mutex::new(plex)),
        detail_hits: Arc::new(AtomicUsize::new(0)),
        art_hits: Arc::new(AtomicUsize::new(0)),
    };
    let app = Router::new()
        .route("/library/sections", get(sections))
        .route("/library/sections/{key}/all", get(all))
        .route("/library/metadata/{key}", get(metadata))
        .route("/library/parts/{id}/{ts}/{file}", get(part))
        .route("/library/metadata/{key}/{kind}/{ts}", get(picture))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (shared, addr, task)
}

fn clip_bytes(dir: &std::path::Path) -> Vec<u8> {
    let p = dir.join("clip.mkv");
    util::Clip::new(320, 240, 2.0).write(&p);
    std::fs::read(p).unwrap()
}

fn library(dir: &std::path::Path) -> Library {
    let db = Db::open(&dir.join("retrovue.db")).unwrap();
    Library::new(db, Arc::new(SystemClock), Config::default().library).with_plex_timeout(Duration::from_secs(1))
}

async fn scan(lib: &Library, id: SourceId) -> ScanReport {
    lib.scan(Some(id), Arc::new(Progress::silent())).await.unwrap()
}

fn all_items(lib: &Library) -> Vec<MediaItem> {
    let mut v = lib.items(&ItemFilter::default()).unwrap();
    v.sort_by_key(|i| i.id);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plex_sync_imports_then_changes_only_what_changed_and_survives_a_bad_server() {
    let dir = tempfile::tempdir().unwrap();
    let plex = Plex {
        mode: Mode::Ok,
        sections: vec![
            ("1".into(), "Movies".into(), "movie".into()),
            ("2".into(), "TV Shows".into(), "show".into()),
            ("3".into(), "Music".into(), "artist".into()),
            ("4".into(), "Classics".into(), "movie".into()),
        ],
        items: HashMap::from([
            (
                "1".to_owned(),
                vec![movie("101", "Back to the Past", "PG", 1000), movie("102", "Import Export", "gb/15", 1000)],
            ),
            (
                "2".to_owned(),
                vec![
                    episode("201", 1, "TV-Y7", 1000),
                    episode("202", 2, "TV-Y7", 1000),
                    episode("203", 3, "tv-14", 1000),
                ],
            ),
        ]),
        clip: clip_bytes(dir.path()),
    };
    let (shared, addr, server) = start(plex).await;
    let lib = library(dir.path());
    let url = format!("http://{addr}");
    let src = lib.add_plex(&url, TOKEN, vec![], None, None).unwrap();

    let first = scan(&lib, src.id).await;
    assert_eq!((first.added, first.unplayable), (5, 0), "{first:#?}");
    assert!(first.sources[0].errors.is_empty() && first.sources[0].error.is_none(), "{first:#?}");
    assert_eq!(shared.detail_hits.load(Ordering::SeqCst), 5);
    let items = all_items(&lib);
    let back = items.iter().find(|i| i.title == "Back to the Past").unwrap();
    assert_eq!(back.kind.as_str(), "movie");
    assert_eq!((back.year, back.rating.as_deref(), back.duration_ms), (Some(1985), Some("PG"), Some(2000)));
    assert_eq!(back.genres, ["Comedy"]);
    assert_eq!(back.breakpoints, [600, 1200]);
    assert!(back.playable);
    assert_eq!(back.uri, format!("{url}/library/parts/101/1000/file.mkv?X-Plex-Token={TOKEN}"));
    assert_eq!(items.iter().find(|i| i.title == "Import Export").unwrap().rating, None);
    let e3 = items.iter().find(|i| i.episode == Some(3)).unwrap();
    assert_eq!(
        (e3.series.as_deref(), e3.season, e3.rating.as_deref(), e3.year),
        (Some("Retro Robots"), Some(1), Some("TV-14"), Some(1986))
    );
    // The part URL really plays: probe it over HTTP.
    let uri = back.uri.clone();
    let probed =
        tokio::task::spawn_blocking(move || retrovue::library::probe::probe(&uri, None, Duration::from_secs(20)))
            .await
            .unwrap()
            .unwrap();
    assert!(probed.facts.duration_ms.unwrap() > 1500);

    // Unchanged: nothing fetched again.
    let second = scan(&lib, src.id).await;
    assert_eq!((second.unchanged, second.updated, second.added), (5, 0, 0));
    assert_eq!(shared.detail_hits.load(Ordering::SeqCst), 5);

    // One item changes, one moves to another library, one disappears.
    {
        let mut p = shared.plex.lock().unwrap();
        let tv = p.items.get_mut("2").unwrap();
        tv[1]["title"] = json!("Episode Two (Remastered)");
        tv[1]["updatedAt"] = json!(2000);
        tv.remove(2);
        let moved = p.items.get_mut("1").unwrap().remove(0);
        p.items.insert("4".into(), vec![moved]);
    }
    let third = scan(&lib, src.id).await;
    assert_eq!((third.updated, third.removed, third.unchanged), (1, 1, 3), "{third:#?}");
    let after = all_items(&lib);
    assert_eq!(after.len(), 4);
    assert_eq!(after.iter().find(|i| i.title == "Back to the Past").unwrap().id, back.id);
    assert!(after.iter().any(|i| i.title == "Episode Two (Remastered)"));
    let gone = lib.details(e3.id).unwrap();
    assert!(gone.gone);

    // A bad server: the source fails with a clear error and nothing is lost.
    for (mode, expect) in [
        (Mode::Unauthorized, "refused the token"),
        (Mode::Garbage, "unexpected answer"),
        (Mode::Slow, "did not answer within"),
        (Mode::Partial, "incomplete page"),
    ] {
        shared.plex.lock().unwrap().mode = mode;
        let r = scan(&lib, src.id).await;
        let err = r.sources[0].error.clone().unwrap_or_default();
        assert!(err.contains(expect), "{mode:?}: {err}");
        assert_eq!(all_items(&lib), after, "{mode:?} lost or changed items");
        assert_eq!(lib.sources().unwrap()[0].last_error.as_deref(), Some(err.as_str()));
    }
    shared.plex.lock().unwrap().mode = Mode::Ok;
    let wrong = lib.add_plex(&url, "wrong-token", vec!["Movies".into()], Some("Wrong"), None).unwrap();
    assert_ne!(wrong.id, src.id);
    let w = scan(&lib, wrong.id).await;
    assert!(w.sources[0].error.as_deref().unwrap().contains("refused the token"));
    let missing = lib.add_plex(&url, TOKEN, vec!["Cartoons".into()], None, None).unwrap();
    let m = scan(&lib, missing.id).await;
    assert!(m.sources[0].error.as_deref().unwrap().contains("no library named \"Cartoons\""));
    server.abort();
    let _ = server.await;
    let down = scan(&lib, src.id).await;
    assert!(down.sources[0].error.as_deref().unwrap().contains("cannot reach Plex"), "{down:#?}");
    assert_eq!(all_items(&lib), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plex_libraries_and_path_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    std::fs::create_dir_all(local.join("Movies")).unwrap();
    let clip = clip_bytes(dir.path());
    std::fs::write(local.join("Movies/Back to the Past.mkv"), &clip).unwrap();
    let plex = Plex {
        mode: Mode::Ok,
        sections: vec![("1".into(), "Movies".into(), "movie".into()), ("2".into(), "TV Shows".into(), "show".into())],
        items: HashMap::from([
            (
                "1".to_owned(),
                vec![movie("101", "Back to the Past", "Rated R", 1000), movie("102", "Elsewhere", "NC-17", 1000)],
            ),
            ("2".to_owned(), vec![episode("201", 1, "TV-MA", 1000)]),
        ]),
        clip,
    };
    let (_shared, addr, _server) = start(plex).await;
    let lib = library(dir.path());
    let map = Some(("/plexmedia".to_owned(), local.to_string_lossy().into_owned()));
    let src = lib.add_plex(&format!("http://{addr}/"), TOKEN, vec!["movies".into()], Some("Films"), map).unwrap();
    let r = scan(&lib, src.id).await;
    assert_eq!(r.added, 2, "only the Movies library: {r:#?}");
    let items = all_items(&lib);
    let mapped = items.iter().find(|i| i.title == "Back to the Past").unwrap();
    assert!(
        mapped.uri.starts_with("file:///") && mapped.uri.ends_with("/local/Movies/Back%20to%20the%20Past.mkv"),
        "{}",
        mapped.uri
    );
    assert_eq!(mapped.rating.as_deref(), Some("R"));
    let unmapped = items.iter().find(|i| i.title == "Elsewhere").unwrap();
    assert!(unmapped.uri.starts_with(&format!("http://{addr}/library/parts/102/")), "{}", unmapped.uri);
    assert_eq!(unmapped.rating.as_deref(), Some("NC-17"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plex_artwork_is_fetched_server_side_with_the_token_cached_and_served_without_it() {
    use retrovue::library::art::{ArtKind, ArtStore};
    let home = util::Home::new();
    std::fs::create_dir_all(home.data_dir()).unwrap();
    let mut film = movie("101", "Back to the Past", "PG", 1000);
    film["thumb"] = json!("/library/metadata/101/thumb/1700000000");
    film["art"] = json!("/library/metadata/101/art/1700000000");
    let mut ep = episode("201", 1, "TV-Y7", 1000);
    ep["thumb"] = json!("/library/metadata/201/thumb/1700000001");
    ep["grandparentThumb"] = json!("/library/metadata/200/thumb/1700000002");
    ep["grandparentArt"] = json!("/library/metadata/200/art/1700000002");
    let plex = Plex {
        mode: Mode::Ok,
        sections: vec![("1".into(), "Movies".into(), "movie".into()), ("2".into(), "TV Shows".into(), "show".into())],
        items: HashMap::from([("1".to_owned(), vec![film]), ("2".to_owned(), vec![ep])]),
        clip: b"not needed".to_vec(),
    };
    let (shared, addr, server) = start(plex).await;
    let db = Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let lib = Library::new(db.clone(), Arc::new(SystemClock), Config::default().library);
    let src = lib.add_plex(&format!("http://{addr}"), TOKEN, vec![], None, None).unwrap();
    assert_eq!(scan(&lib, src.id).await.added, 2);
    let items = all_items(&lib);
    let (film, ep) = (&items[0], &items[1]);
    assert_eq!(ep.aired, chrono::NaiveDate::from_ymd_opt(1986, 9, 1), "originallyAvailableAt is the air date");

    // The library's pictures: the show's poster for an episode, its still, the movie poster.
    let cache = home.data_dir().join("art-cache");
    let store = ArtStore::new(db.clone(), cache.clone(), Duration::from_secs(2));
    for (id, kind, key, plex_kind) in [
        (ep.id, ArtKind::Poster, "200", "thumb"),
        (ep.id, ArtKind::Thumb, "201", "thumb"),
        (film.id, ArtKind::Poster, "101", "thumb"),
        (film.id, ArtKind::Fanart, "101", "art"),
    ] {
        let img = store.image(id, kind).await.unwrap().unwrap_or_else(|| panic!("{kind:?} of {id}"));
        assert_eq!((img.mime, img.bytes), ("image/png", picture_png(key, plex_kind)), "{kind:?} of {id}");
    }
    assert_eq!(store.image(film.id, ArtKind::Thumb).await.unwrap(), None, "a movie has no still");
    assert_eq!(shared.art_hits.load(Ordering::SeqCst), 4);
    // Fetched once: the cache answers from now on.
    store.image(ep.id, ArtKind::Thumb).await.unwrap().unwrap();
    assert_eq!(shared.art_hits.load(Ordering::SeqCst), 4);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 4, "one cached file per picture");

    // The daemon serves them at its own URL: no token, no Plex address, even with Plex down.
    let d = home.serve(&[]);
    server.abort();
    let _ = server.await;
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        let url = d.url(&path);
        async move {
            let r = client.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            (status, ctype, r.bytes().await.unwrap().to_vec())
        }
    };
    let (status, ctype, body) = get(format!("/art/{}/thumb", ep.id)).await;
    assert_eq!((status, ctype.as_deref()), (200, Some("image/png")));
    assert_eq!(body, picture_png("201", "thumb"));
    // Not cached and Plex gone: a missing picture, and the token appears in no log line.
    let (status, _, _) = get(format!("/art/{}/fanart", ep.id)).await;
    assert_eq!(status, 404);
    for bad in [format!("/art/{}/thumb", film.id), "/art/x/poster".into(), format!("/art/{}/banner", ep.id)] {
        assert_eq!(get(bad.clone()).await.0, 404, "{bad}");
    }
    assert!(!d.stderr().contains(TOKEN), "token in the daemon log:\n{}", d.stderr());
}
