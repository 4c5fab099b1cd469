//! Plex sources against a local Plex-shaped server ([`plex_support`]), including a server
//! that says 401, sends garbage, answers too slowly, sends a short page, or is down.

mod plex_support;
mod util;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use plex_support::{Mode, Plex, episode, movie, start};
use retrovue::clock::SystemClock;
use retrovue::config::Config;
use retrovue::db::Db;
use retrovue::library::store::ItemFilter;
use retrovue::library::{Library, MediaItem, Progress, ScanReport, SourceId};
use serde_json::json;

const TOKEN: &str = "s3cr3t-t0ken-value";

fn clip_bytes(dir: &std::path::Path) -> Vec<u8> {
    plex_support::clip_bytes(dir, 2.0, "smpte")
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
    let plex = Plex::new(
        TOKEN,
        &[("1", "Movies", "movie"), ("2", "TV Shows", "show"), ("3", "Music", "artist"), ("4", "Classics", "movie")],
        vec![
            ("1", vec![movie("101", "Back to the Past", "PG", 1000), movie("102", "Import Export", "gb/15", 1000)]),
            (
                "2",
                vec![
                    episode("201", 1, "TV-Y7", 1000),
                    episode("202", 2, "TV-Y7", 1000),
                    episode("203", 3, "tv-14", 1000),
                ],
            ),
        ],
        clip_bytes(dir.path()),
    );
    let (shared, addr, server) = start(plex).await;
    let lib = library(dir.path());
    let url = format!("http://{addr}");
    let src = lib.add_plex(&url, TOKEN, vec![], None, None).unwrap();

    let first = scan(&lib, src.id).await;
    assert_eq!((first.added, first.unplayable), (5, 0), "{first:#?}");
    assert!(first.sources[0].errors.is_empty() && first.sources[0].error.is_none(), "{first:#?}");
    assert_eq!(shared.details(), 5);
    let items = all_items(&lib);
    let back = items.iter().find(|i| i.title == "Back to the Past").unwrap();
    assert_eq!(back.kind.as_str(), "movie");
    assert_eq!((back.year, back.rating.as_deref(), back.duration_ms), (Some(1985), Some("PG"), Some(2000)));
    assert_eq!(back.genres, ["Comedy"]);
    assert_eq!(back.breakpoints, [600, 1200]);
    assert!(back.playable);
    // The token stays with the source; it is added when the item is opened.
    assert_eq!(back.uri, format!("{url}/library/parts/101/1000/file.mkv"));
    assert_eq!(items.iter().find(|i| i.title == "Import Export").unwrap().rating, None);
    let e3 = items.iter().find(|i| i.episode == Some(3)).unwrap();
    assert_eq!(
        (e3.series.as_deref(), e3.season, e3.rating.as_deref(), e3.year),
        (Some("Retro Robots"), Some(1), Some("TV-14"), Some(1986))
    );
    // The part URL really plays: probe it over HTTP, opened with the source's credentials.
    let uri = lib.credentials().unwrap().openable(&back.uri);
    assert_eq!(uri, format!("{}?X-Plex-Token={TOKEN}", back.uri));
    let probed =
        tokio::task::spawn_blocking(move || retrovue::library::probe::probe(&uri, None, Duration::from_secs(20)))
            .await
            .unwrap()
            .unwrap();
    assert!(probed.facts.duration_ms.unwrap() > 1500);

    // Unchanged: nothing fetched again.
    let second = scan(&lib, src.id).await;
    assert_eq!((second.unchanged, second.updated, second.added), (5, 0, 0));
    assert_eq!(shared.details(), 5);

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
    let plex = Plex::new(
        TOKEN,
        &[("1", "Movies", "movie"), ("2", "TV Shows", "show")],
        vec![
            ("1", vec![movie("101", "Back to the Past", "Rated R", 1000), movie("102", "Elsewhere", "NC-17", 1000)]),
            ("2", vec![episode("201", 1, "TV-MA", 1000)]),
        ],
        clip,
    );
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
    let plex = Plex::new(
        TOKEN,
        &[("1", "Movies", "movie"), ("2", "TV Shows", "show")],
        vec![("1", vec![film]), ("2", vec![ep])],
        b"not needed".to_vec(),
    );
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
        assert_eq!((img.mime, img.bytes), ("image/png", plex_support::picture_png(key, plex_kind)), "{kind:?} of {id}");
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
    assert_eq!(body, plex_support::picture_png("201", "thumb"));
    // Not cached and Plex gone: a missing picture, and the token appears in no log line.
    let (status, _, _) = get(format!("/art/{}/fanart", ep.id)).await;
    assert_eq!(status, 404);
    for bad in [format!("/art/{}/thumb", film.id), "/art/x/poster".into(), format!("/art/{}/banner", ep.id)] {
        assert_eq!(get(bad.clone()).await.0, 404, "{bad}");
    }
    assert!(!d.stderr().contains(TOKEN), "token in the daemon log:\n{}", d.stderr());
}

/// Issue #18: subtitles a Plex source offers beside an item's media (a subtitle stream with a
/// key of its own) are fetched when the item is synced and kept for playout's captions: the
/// stream Plex selected among the text ones, not a forced or a picture one, nor a track inside
/// the media (which the analysis pass reads from the part); SubRip or WebVTT. A change that
/// drops the stream clears them; the cues of the media's own track are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plex_subtitle_streams_are_kept_for_captions() {
    use retrovue::library::subtitles::{Cue, StoredCues, parse_srt};
    let dir = tempfile::tempdir().unwrap();
    let srt = |text: &str| {
        format!("1\n00:00:00,500 --> 00:00:01,200\n{text}\n\n2\n00:00:01,300 --> 00:00:01,900\nSecond line\n")
    };
    let mut plex = Plex::new(
        TOKEN,
        &[("1", "Movies", "movie")],
        vec![(
            "1",
            vec![
                movie("301", "Subtitled", "PG", 1000),
                movie("302", "Web", "PG", 1000),
                movie("303", "Plain", "PG", 1000),
            ],
        )],
        clip_bytes(dir.path()),
    );
    plex.streams.insert(
        "301".into(),
        vec![
            json!({"id": 1, "streamType": 1, "codec": "h264"}),
            json!({"id": 2, "streamType": 2, "codec": "aac"}),
            json!({"id": 10, "streamType": 3, "codec": "srt", "languageCode": "eng"}),
            json!({"id": 11, "streamType": 3, "codec": "srt", "key": "/library/streams/11", "forced": true}),
            json!({"id": 12, "streamType": 3, "codec": "pgs", "key": "/library/streams/12", "selected": true}),
            json!({"id": 13, "streamType": 3, "codec": "srt", "key": "/library/streams/13", "languageCode": "fre"}),
            json!({"id": 14, "streamType": 3, "codec": "srt", "key": "/library/streams/14", "languageCode": "eng", "selected": true}),
        ],
    );
    plex.streams.insert(
        "302".into(),
        vec![json!({"id": 21, "streamType": "3", "codec": "webvtt", "key": "/library/streams/21"})],
    );
    for (id, text) in [("11", srt("Forced")), ("12", "not text".into()), ("13", srt("Bonjour")), ("14", srt("Hello"))] {
        plex.subtitle_files.insert(id.into(), text);
    }
    plex.subtitle_files.insert("21".into(), "WEBVTT\n\n00:00.500 --> 00:01.200\n<i>Over</i> the web\n".into());
    let (shared, addr, _server) = start(plex).await;
    let lib = library(dir.path());
    let src = lib.add_plex(&format!("http://{addr}"), TOKEN, vec![], None, None).unwrap();
    let db = Db::open(&dir.path().join("retrovue.db")).unwrap();
    let stored = |title: &'static str| -> StoredCues {
        db.call_blocking(move |c| {
            let id: i64 = c.query_row("SELECT id FROM content_items WHERE title = ?1", [title], |r| r.get(0))?;
            retrovue::library::store::subtitle_cues(c, retrovue::library::MediaId(id))
        })
        .unwrap()
    };
    let report = scan(&lib, src.id).await;
    assert!(report.sources[0].errors.is_empty() && report.sources[0].error.is_none(), "{report:#?}");
    assert_eq!(stored("Subtitled").offered, parse_srt(&srt("Hello")));
    let web = vec![Cue {
        start: Duration::from_millis(500),
        end: Duration::from_millis(1200),
        lines: vec!["Over the web".into()],
    }];
    assert_eq!(stored("Web").offered, web);
    assert_eq!(stored("Plain"), StoredCues::default());

    // The item's own track (as the analysis pass stores it) and the offered file are kept
    // apart; a change that drops the stream clears only the offered cues.
    let id: i64 = db
        .call_blocking(|c| c.query_row("SELECT id FROM content_items WHERE title = 'Subtitled'", [], |r| r.get(0)))
        .unwrap();
    let track = parse_srt(&srt("From the track"));
    let t = track.clone();
    db.call_blocking(move |c| retrovue::library::store::set_subtitle_cues(c, retrovue::library::MediaId(id), &t, 5))
        .unwrap();
    assert_eq!(stored("Subtitled"), StoredCues { track: track.clone(), offered: parse_srt(&srt("Hello")) });
    {
        let mut p = shared.plex.lock().unwrap();
        p.items.get_mut("1").unwrap()[0]["updatedAt"] = json!(2000);
        p.streams.remove("301");
    }
    scan(&lib, src.id).await;
    assert_eq!(stored("Subtitled"), StoredCues { track, offered: Vec::new() });
}
