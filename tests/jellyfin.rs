//! Jellyfin and Emby sources against a local server of that shape ([`jellyfin_support`]):
//! import, smart re-sync (an item renamed, removed, added, moved), a server that says 401,
//! sends garbage, answers too slowly, sends a short page or is down; pictures; and, through
//! the real daemon, a mapped item playing from disk and an unmapped one streaming from the
//! server, with the API key found nowhere but masked.

mod jellyfin_support;
mod util;
mod webclient;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jellyfin_support::{Flavor, Mode, Server, episode, movie, start};
use retrovue::clock::SystemClock;
use retrovue::config::Config;
use retrovue::db::Db;
use retrovue::library::store::{ItemFilter, ServerFlavor, list_items};
use retrovue::library::{Library, MediaItem, Progress, ScanReport, SourceId};
use retrovue::lineup::store as lineup_store;
use retrovue::schedule::planner::{ChannelPlan, PlannedProgram};
use retrovue::schedule::{Airing, AiringKind, ProgramInfo, store as schedule_store};
use serde_json::json;
use util::{Home, wait_for};
use webclient::Api;

const KEY: &str = "0123456789abcdef0123456789abcdef";

async fn scan(lib: &Library, id: SourceId) -> ScanReport {
    lib.scan(Some(id), Arc::new(Progress::silent())).await.unwrap()
}

fn all_items(lib: &Library) -> Vec<MediaItem> {
    let mut v = lib.items(&ItemFilter::default()).unwrap();
    v.sort_by_key(|i| i.id);
    v
}

fn flavors(f: Flavor) -> (ServerFlavor, &'static str) {
    match f {
        Flavor::Jellyfin => (ServerFlavor::Jellyfin, ""),
        Flavor::Emby => (ServerFlavor::Emby, "/emby"),
    }
}

async fn sync_imports_then_changes_only_what_changed(flavor: Flavor) {
    let (server_flavor, prefix) = flavors(flavor);
    let label = server_flavor.label();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::new(
        KEY,
        &[
            ("11aa", "Movies", Some("movies")),
            ("22bb", "TV Shows", Some("tvshows")),
            ("33cc", "Music", Some("music")),
            ("44dd", "Classics", Some("movies")),
        ],
        vec![
            ("11aa", vec![movie("a101", "Back to the Past", "PG"), movie("a102", "Import Export", "gb/15")]),
            ("22bb", vec![episode("e201", 1, "TV-Y7"), episode("e202", 2, "TV-Y7"), episode("e203", 3, "tv-14")]),
        ],
        jellyfin_support::clip_bytes(dir.path(), 2.0, "smpte"),
    );
    let (shared, addr, task) = start(flavor, server).await;
    let db = Db::open(&dir.path().join("retrovue.db")).unwrap();
    let lib = Library::new(db.clone(), Arc::new(SystemClock), Config::default().library)
        .with_plex_timeout(Duration::from_secs(1));
    let url = format!("http://{addr}");
    let api = format!("{url}{prefix}");
    let src = lib.add_media_server(server_flavor, &format!("{url}/"), KEY, vec![], None, None).unwrap();
    assert_eq!(src.name, format!("{label} {url}"));

    let first = scan(&lib, src.id).await;
    assert_eq!((first.added, first.unplayable), (5, 0), "{first:#?}");
    assert!(first.sources[0].errors.is_empty() && first.sources[0].error.is_none(), "{first:#?}");
    let items = all_items(&lib);
    let back = items.iter().find(|i| i.title == "Back to the Past").unwrap();
    assert_eq!(back.kind.as_str(), "movie");
    assert_eq!((back.year, back.rating.as_deref(), back.duration_ms), (Some(1985), Some("PG"), Some(2000)));
    assert_eq!(back.genres, ["Comedy"]);
    assert_eq!(back.breakpoints, [600, 1200], "chapters after the start are breakpoints");
    assert!(back.playable);
    // The key stays with the source; it is added when the item is opened.
    assert_eq!(back.uri, format!("{api}/Videos/a101/stream?static=true&MediaSourceId=a101"));
    assert_eq!(items.iter().find(|i| i.title == "Import Export").unwrap().rating, None);
    let e3 = items.iter().find(|i| i.episode == Some(3)).unwrap();
    assert_eq!(
        (e3.series.as_deref(), e3.season, e3.rating.as_deref(), e3.year, e3.aired),
        (Some("Retro Robots"), Some(1), Some("TV-14"), Some(1986), chrono::NaiveDate::from_ymd_opt(1986, 9, 1))
    );
    assert_eq!(e3.breakpoints, [1000]);
    // The stream URL really plays: probe it over HTTP, opened with the source's credentials.
    let uri = lib.credentials().unwrap().openable(&back.uri);
    assert_eq!(uri, format!("{}&api_key={KEY}", back.uri));
    let probed =
        tokio::task::spawn_blocking(move || retrovue::library::probe::probe(&uri, None, Duration::from_secs(20)))
            .await
            .unwrap()
            .unwrap();
    assert!(probed.facts.duration_ms.unwrap() > 1500);
    assert!(shared.streams("a101") > 0);
    let refused = reqwest::get(&back.uri).await.unwrap().status().as_u16();
    assert_eq!(refused, 401, "the stored URI alone does not open the stream");

    // Pictures: fetched server side with the key, cached, one file each.
    {
        use retrovue::library::art::{ArtKind, ArtStore};
        let ep = items.iter().find(|i| i.episode == Some(1)).unwrap();
        let store = ArtStore::new(db.clone(), dir.path().join("art-cache"), Duration::from_secs(2));
        for (id, kind, owner, server_kind) in [
            (ep.id, ArtKind::Poster, "5e7e5", "Primary"),
            (ep.id, ArtKind::Thumb, "e201", "Primary"),
            (ep.id, ArtKind::Fanart, "5e7e5", "Backdrop"),
            (back.id, ArtKind::Poster, "a101", "Primary"),
            (back.id, ArtKind::Fanart, "a101", "Backdrop"),
        ] {
            let img = store.image(id, kind).await.unwrap().unwrap_or_else(|| panic!("{kind:?} of {id}"));
            assert_eq!(
                (img.mime, img.bytes),
                ("image/png", jellyfin_support::picture_png(owner, server_kind)),
                "{kind:?} of {id}"
            );
        }
        assert_eq!(store.image(back.id, ArtKind::Thumb).await.unwrap(), None, "a movie has no still");
        assert_eq!(shared.art_hits.load(Ordering::SeqCst), 5);
        store.image(ep.id, ArtKind::Thumb).await.unwrap().unwrap();
        assert_eq!(shared.art_hits.load(Ordering::SeqCst), 5, "the cache answers");
    }

    // Unchanged (the per-user data differs on every answer): nothing written.
    let second = scan(&lib, src.id).await;
    assert_eq!((second.unchanged, second.updated, second.added), (5, 0, 0), "{second:#?}");

    // One item renamed, one removed, one added, one moved to another library.
    {
        let mut s = shared.server.lock().unwrap();
        s.item("e202")["Name"] = json!("Episode Two (Remastered)");
        s.items.get_mut("22bb").unwrap().retain(|i| i["Id"] != "e203");
        let moved = s.items.get_mut("11aa").unwrap().remove(0);
        s.items.insert("44dd".into(), vec![moved]);
        s.items.get_mut("11aa").unwrap().push(movie("a103", "Brand New", "PG-13"));
    }
    let third = scan(&lib, src.id).await;
    assert_eq!((third.added, third.updated, third.removed, third.unchanged), (1, 1, 1, 3), "{third:#?}");
    let after = all_items(&lib);
    assert_eq!(after.len(), 5);
    assert_eq!(after.iter().find(|i| i.title == "Back to the Past").unwrap().id, back.id, "a moved item keeps its id");
    let renamed = after.iter().find(|i| i.episode == Some(2)).unwrap();
    assert_eq!(renamed.title, "Episode Two (Remastered)");
    assert_eq!(after.iter().find(|i| i.title == "Brand New").unwrap().rating.as_deref(), Some("PG-13"));
    assert!(lib.details(e3.id).unwrap().gone);

    // A bad server: the source fails with a clear error and nothing is lost.
    for (mode, expect) in [
        (Mode::Unauthorized, "refused the API key"),
        (Mode::Garbage, "unexpected answer"),
        (Mode::Slow, "did not answer within"),
        (Mode::Partial, "incomplete page"),
    ] {
        shared.server.lock().unwrap().mode = mode;
        let r = scan(&lib, src.id).await;
        let err = r.sources[0].error.clone().unwrap_or_default();
        assert!(err.contains(expect) && err.contains(label), "{mode:?}: {err}");
        assert!(!err.contains(KEY), "{err}");
        assert_eq!(all_items(&lib), after, "{mode:?} lost or changed items");
        assert_eq!(lib.sources().unwrap()[0].last_error.as_deref(), Some(err.as_str()));
    }
    shared.server.lock().unwrap().mode = Mode::Ok;
    let wrong =
        lib.add_media_server(server_flavor, &url, "wrong-key-0000000000", vec!["Movies".into()], Some("Wrong"), None);
    let w = scan(&lib, wrong.unwrap().id).await;
    assert!(w.sources[0].error.as_deref().unwrap().contains("refused the API key"));
    let n = lib.sources().unwrap().len();
    let tv = vec!["TV Shows".to_owned()];
    let checked = lib.add_media_server_checked(server_flavor, &url, "wrong-key-1111111111", tv, Some("W"), None).await;
    assert!(checked.unwrap_err().to_string().contains("refused the API key"));
    assert_eq!(lib.sources().unwrap().len(), n, "a refused key adds nothing");
    let again = lib.add_media_server_checked(server_flavor, &url, "another-key-22222222", vec![], None, None).await;
    assert!(again.unwrap_err().to_string().contains("is already source"), "the same server and libraries twice");
    let missing = lib.add_media_server(server_flavor, &url, KEY, vec!["Cartoons".into()], None, None).unwrap();
    let m = scan(&lib, missing.id).await;
    assert!(m.sources[0].error.as_deref().unwrap().contains("no library named \"Cartoons\""), "{m:#?}");
    let only_movies =
        lib.add_media_server(server_flavor, &url, KEY, vec!["movies".into()], Some("Films"), None).unwrap();
    assert_eq!(scan(&lib, only_movies.id).await.added, 2, "only the Movies library");
    task.abort();
    let _ = task.await;
    let down = scan(&lib, src.id).await;
    assert!(down.sources[0].error.as_deref().unwrap().contains(&format!("cannot reach {label}")), "{down:#?}");
    assert_eq!(all_items(&lib).iter().filter(|i| i.source_id == src.id).count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jellyfin_sync_imports_then_changes_only_what_changed_and_survives_a_bad_server() {
    sync_imports_then_changes_only_what_changed(Flavor::Jellyfin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emby_sync_imports_then_changes_only_what_changed_and_survives_a_bad_server() {
    sync_imports_then_changes_only_what_changed(Flavor::Emby).await;
}

/// Everything a run printed, answered or stored, by where it came from.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.0.push((what.into(), text.into()));
    }

    /// Run a CLI command (it must succeed) and keep its stdout and stderr.
    fn cli(&mut self, home: &Home, args: &[&str]) -> String {
        let out = home.run(args);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "retrovue {args:?} failed:\n{stdout}\n{stderr}");
        self.add(format!("retrovue {} (stdout)", args.join(" ")), stdout.clone());
        self.add(format!("retrovue {} (stderr)", args.join(" ")), stderr);
        stdout.into_owned()
    }

    /// Every place `secret`, or any 8 characters of it, shows.
    fn leaks(&self, secret: &str) -> Vec<String> {
        let chars: Vec<char> = secret.chars().collect();
        let pieces: Vec<String> = chars.windows(8).map(|w| w.iter().collect()).collect();
        self.0
            .iter()
            .filter(|(_, text)| pieces.iter().any(|p| text.contains(p.as_str())))
            .map(|(what, text)| {
                let at = pieces.iter().find_map(|p| text.find(p.as_str())).unwrap_or(0);
                let from = text[..at].char_indices().rev().nth(80).map_or(0, |(i, _)| i);
                let context: String = text[from..].chars().take(200).collect();
                format!("{what}: …{context}…")
            })
            .collect()
    }
}

/// Added and scanned with the CLI, aired by the daemon: the mapped movie plays from this
/// box's disk (the server never streams it), the unmapped ones stream from the server with
/// the key; the key shows nowhere (CLI output, API answers, daemon log, any row outside
/// `sources`) but masked.
async fn daemon_plays_mapped_from_disk_and_streams_the_rest(flavor: Flavor) {
    const CANARY: &str = "JellyCanary5d81c0a7e9f2b46";
    let (server_flavor, prefix) = flavors(flavor);
    let home = Home::new();
    // No loudness pass in the daemon either: it would open the streamed items with the key
    // itself, and the server's count of streams would prove nothing of playout.
    home.write_config("[schedule]\nhorizon_days = 1\nfrozen_hours = 1\n[library]\nloudness = false\n");
    let clip = jellyfin_support::clip_bytes(home.path(), 2.0, "smpte");
    let mirror = home.path().join("mirror");
    std::fs::create_dir_all(mirror.join("Movies")).unwrap();
    std::fs::write(mirror.join("Movies/Mapped Movie.mkv"), &clip).unwrap();
    let server = Server::new(
        CANARY,
        &[("11aa", "Movies", Some("movies")), ("22bb", "TV Shows", Some("tvshows"))],
        vec![
            ("11aa", vec![movie("m1", "Mapped Movie", "PG"), movie("m2", "Streamed Movie", "R")]),
            ("22bb", vec![episode("e1", 1, "TV-G")]),
        ],
        clip,
    );
    let (fake, addr, _task) = start(flavor, server).await;
    let url = format!("http://{addr}");
    let map = format!("/srv/media={}", mirror.display());
    let mut seen = Seen::default();

    let kind_flag = format!("--{}", server_flavor.as_str());
    seen.cli(&home, &["source", "add", &kind_flag, &url, "--api-key", CANARY, "--path-map", &map, "--name", "Den"]);
    let listed = seen.cli(&home, &["source", "list"]);
    assert!(listed.contains(&format!("{} {url} api key ••••2b46", server_flavor.as_str())), "{listed}");
    let json = seen.cli(&home, &["source", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!((v[0]["type"].as_str(), v[0]["api_key"].as_str()), (Some(server_flavor.as_str()), Some("••••2b46")));
    seen.cli(&home, &["scan", "--no-loudness"]);
    seen.cli(&home, &["scan", "--json", "--no-loudness"]);
    seen.cli(&home, &["library", "list"]);
    seen.cli(&home, &["library", "list", "--json"]);
    let db = Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let all: Vec<MediaItem> =
        db.call_blocking(|c| list_items(c, &ItemFilter { include_gone: true, ..Default::default() })).unwrap();
    assert_eq!(all.len(), 3, "the fake server's three items were imported");
    for i in &all {
        seen.cli(&home, &["library", "show", &i.id.to_string()]);
        seen.cli(&home, &["library", "show", &i.id.to_string(), "--json"]);
    }
    let by_title = |t: &str| all.iter().find(|i| i.title == t).unwrap();
    let mapped = by_title("Mapped Movie");
    assert!(
        mapped.uri.starts_with("file:///") && mapped.uri.ends_with("/mirror/Movies/Mapped%20Movie.mkv"),
        "{}",
        mapped.uri
    );
    let streamed = by_title("Streamed Movie");
    assert_eq!(streamed.uri, format!("{url}{prefix}/Videos/m2/stream?static=true&MediaSourceId=m2"));
    let ep = by_title("Episode 1");
    assert!(ep.uri.starts_with(&format!("{url}{prefix}/Videos/e1/stream?")), "{}", ep.uri);

    // What airs next, from now on: the three items back to back, 2 s each.
    let channels = home.path().join("channels.toml");
    std::fs::write(
        &channels,
        "[[channel]]\nnumber = \"2\"\nname = \"Den TV\"\nmode = \"always_on\"\nbreak_style = \"none\"\n\
         default_fill = \"Retro Robots\"\n[[channel.slot]]\nstart = \"00:00\"\nlength = 30\nmovies = true\n",
    )
    .unwrap();
    seen.cli(&home, &["channel", "import", channels.to_str().unwrap()]);
    let channel = db.call_blocking(|c| lineup_store::by_number(c, "2")).unwrap().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let t0 = now + 10_000;
    let mut airings = vec![Airing {
        id: 0,
        channel_id: channel.id,
        program_id: None,
        start: retrovue::clock::from_ms(now - 1000),
        end: retrovue::clock::from_ms(t0),
        kind: AiringKind::Slate,
        media_id: None,
        uri: None,
        title: "Slate".into(),
        offset_in_ms: 0,
        offset_out_ms: t0 - now + 1000,
        loudness_lufs: None,
        card: None,
    }];
    for (n, i) in [mapped, streamed, ep].into_iter().enumerate() {
        let start = t0 + n as i64 * 2000;
        airings.push(Airing {
            id: 0,
            channel_id: channel.id,
            program_id: None,
            start: retrovue::clock::from_ms(start),
            end: retrovue::clock::from_ms(start + 2000),
            kind: AiringKind::Program,
            media_id: Some(i.id),
            uri: Some(i.uri.clone()),
            title: i.title.clone(),
            offset_in_ms: 0,
            offset_out_ms: 2000,
            loudness_lufs: None,
            card: None,
        });
    }
    let end = t0 + 6000;
    let plan = ChannelPlan {
        programs: vec![PlannedProgram {
            start_ms: now - 1000,
            end_ms: end,
            media_id: None,
            info: ProgramInfo::filler("Server test", None),
            airings,
        }],
        ..Default::default()
    };
    db.call_blocking(|c| schedule_store::publish(c, channel.id, 0, &plan, now, 86_400_000)).unwrap();

    let daemon = home.serve(&[]);
    let aired = wait_for(Duration::from_secs(60), || {
        let rows: Vec<(String, String)> = db.call_blocking(|c| {
            let mut st = c
                .prepare(
                    "SELECT title, status FROM playout_log WHERE planned_start_ms >= ?1 AND actual_end_ms IS NOT NULL
                     ORDER BY planned_start_ms",
                )
                .unwrap();
            st.query_map([t0], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
        });
        (rows.len() >= 3).then_some(rows)
    });
    let aired = aired.unwrap_or_else(|| panic!("the three items did not air; daemon log:\n{}", daemon.stderr()));
    assert_eq!(
        aired,
        [("Mapped Movie", "aired"), ("Streamed Movie", "aired"), ("Episode 1", "aired")]
            .map(|(t, s)| (t.to_owned(), s.to_owned())),
        "daemon log:\n{}",
        daemon.stderr()
    );
    // The mapped movie came from disk; the others streamed from the server with the key.
    assert_eq!(fake.all_streams("m1"), 0, "the mapped movie was streamed from the server");
    for id in ["m2", "e1"] {
        assert!(fake.streams(id) > 0, "{id} was never streamed with the key");
    }

    let mut api = Api::new(daemon.url(""));
    api.setup("correct horse battery").await;
    let sources = api.get("/api/sources").await;
    assert_eq!(
        (sources.json[0]["type"].as_str(), sources.json[0]["token"].as_str()),
        (Some(server_flavor.as_str()), Some("••••2b46"))
    );
    seen.add("GET /api/sources", sources.text());
    // The web page's way: test, a refused key (nothing added), then a second source.
    let kind = server_flavor.as_str();
    let tested = api
        .change(reqwest::Method::POST, "/api/sources/test", &json!({"type": kind, "url": url, "api_key": CANARY}))
        .await;
    assert_eq!(
        (tested.json["ok"].as_bool(), tested.json["libraries"].clone()),
        (Some(true), json!(["Movies", "TV Shows"]))
    );
    seen.add("POST /api/sources/test", tested.text());
    let body = json!({"type": kind, "url": url, "api_key": "Wrong-Key-000000000000", "libraries": ["Movies"]});
    let refused = api.change(reqwest::Method::POST, "/api/sources", &body).await;
    assert_eq!(refused.status.as_u16(), 400, "{}", refused.text());
    assert!(refused.text().contains("refused the API key"), "{}", refused.text());
    let body = json!({"type": kind, "url": url, "api_key": CANARY, "libraries": ["Movies"], "name": "Films"});
    let added = api.change(reqwest::Method::POST, "/api/sources", &body).await;
    assert_eq!(
        (added.json["type"].as_str(), added.json["token"].as_str(), added.json["libraries"].clone()),
        (Some(kind), Some("••••2b46"), json!(["Movies"])),
        "{}",
        added.text()
    );
    seen.add("POST /api/sources", added.text());
    let started = api.change(reqwest::Method::POST, "/api/scan", &json!({})).await;
    seen.add("POST /api/scan", started.text());
    for _ in 0..100 {
        if api.get("/api/scan").await.json["running"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut paths: Vec<String> =
        ["/api/items", "/api/status", "/api/logs?hours=1", "/api/channels", "/api/guide", "/api/scan", "/xmltv.xml"]
            .into_iter()
            .map(str::to_owned)
            .collect();
    for i in &all {
        paths.push(format!("/api/items/{}", i.id));
    }
    for p in &paths {
        let a = api.get(p).await;
        assert!(a.status.is_success(), "{p}: {}", a.status);
        seen.add(format!("GET {p}"), a.text());
    }
    // The episode's still, fetched by the daemon with the key, served at its own URL.
    let still = reqwest::get(daemon.url(&format!("/art/{}/thumb", ep.id))).await.unwrap();
    assert_eq!(still.status().as_u16(), 200);
    assert_eq!(still.bytes().await.unwrap().to_vec(), jellyfin_support::picture_png("e1", "Primary"));
    seen.add("daemon stderr", daemon.stderr());
    let rows: Vec<(String, String)> = db.call_blocking(|c| {
        let tables: Vec<String> = c
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('sources', 'sqlite_sequence')",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        tables
            .into_iter()
            .map(|t| {
                let mut st = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
                let n = st.column_count();
                let text: Vec<String> = st
                    .query_map([], |r| {
                        Ok((0..n)
                            .map(|i| match r.get_ref(i).unwrap() {
                                rusqlite::types::ValueRef::Text(b) => String::from_utf8_lossy(b).into_owned(),
                                other => format!("{other:?}"),
                            })
                            .collect::<Vec<_>>()
                            .join(" | "))
                    })
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                (format!("table {t}"), text.join("\n"))
            })
            .collect()
    });
    for (t, text) in rows {
        seen.add(t, text);
    }
    assert!(seen.0.len() > 30, "the run produced what is searched");
    let leaks = seen.leaks(CANARY);
    assert!(leaks.is_empty(), "the API key leaked in {} places:\n{}", leaks.len(), leaks.join("\n\n"));
}

/// One after the other (two daemons airing at once on a 2-core machine start items late).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jellyfin_and_emby_through_the_daemon_play_mapped_from_disk_stream_the_rest_and_never_show_the_key() {
    daemon_plays_mapped_from_disk_and_streams_the_rest(Flavor::Jellyfin).await;
    daemon_plays_mapped_from_disk_and_streams_the_rest(Flavor::Emby).await;
}
