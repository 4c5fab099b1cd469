//! One test per reported bug, named `issue_<N>_<what>` (ripgrep's `tests/regression.rs`):
//! each failed on the code the issue was reported against, and keeps the bug from coming back.
//!
//! Issue 16, "Defects to fix on the way": https://github.com/retrovue/retrovue/issues/16

mod plex_support;
mod util;
mod webclient;

use std::time::Duration;

use plex_support::{Plex, episode, movie};
use retrovue::db::Db;
use retrovue::library::MediaItem;
use retrovue::library::store::{ItemFilter, list_items};
use retrovue::lineup::store as lineup_store;
use retrovue::schedule::planner::{ChannelPlan, PlannedProgram};
use retrovue::schedule::{Airing, AiringKind, ProgramInfo, store as schedule_store};
use serde_json::json;
use util::{Home, wait_for};
use webclient::Api;

const PASSWORD: &str = "correct horse battery";

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

fn items(db: &Db) -> Vec<MediaItem> {
    db.call_blocking(|c| list_items(c, &ItemFilter { include_gone: true, ..Default::default() })).unwrap()
}

/// Issue 16: the Plex token was baked into item URIs, so the item API, `library show`,
/// schedule rows and as-run errors carried it in full. It must show nowhere but masked:
/// not in any CLI output, API answer, daemon log line, or row outside `sources`, while
/// playout still opens Plex media with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_plex_token_never_leaks() {
    const CANARY: &str = "LeakCanary7f3a9c2e51d4b8";
    let home = Home::new();
    home.write_config("[schedule]\nhorizon_days = 1\nfrozen_hours = 1\n");
    let mut plex = Plex::new(
        CANARY,
        &[("1", "Movies", "movie"), ("2", "TV Shows", "show")],
        vec![
            ("1", vec![movie("101", "Canary Movie", "PG", 1000), movie("102", "Broken Movie", "PG", 1000)]),
            ("2", vec![episode("201", 1, "TV-G", 1000), episode("202", 2, "TV-G", 1000)]),
        ],
        plex_support::clip_bytes(home.path(), 2.0, "smpte"),
    );
    plex.broken_parts.insert("102".into());
    let (fake, addr, _server) = plex_support::start(plex).await;
    let url = format!("http://{addr}");
    let mut seen = Seen::default();

    seen.cli(&home, &["source", "add", "--plex", &url, "--token", CANARY, "--name", "Den Plex"]);
    seen.cli(&home, &["source", "list"]);
    seen.cli(&home, &["source", "list", "--json"]);
    seen.cli(&home, &["scan"]);
    seen.cli(&home, &["scan", "--json"]);
    seen.cli(&home, &["library", "list"]);
    seen.cli(&home, &["library", "list", "--json"]);
    let db = Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let all = items(&db);
    assert_eq!(all.len(), 4, "the fake server's four items were imported");
    for i in &all {
        seen.cli(&home, &["library", "show", &i.id.to_string()]);
        seen.cli(&home, &["library", "show", &i.id.to_string(), "--json"]);
    }
    let channels = home.path().join("channels.toml");
    std::fs::write(
        &channels,
        "[[channel]]\nnumber = \"2\"\nname = \"Plex TV\"\nmode = \"always_on\"\nbreak_style = \"none\"\n\
         default_fill = \"Retro Robots\"\n[[channel.slot]]\nstart = \"00:00\"\nlength = 30\nmovies = true\n",
    )
    .unwrap();
    seen.cli(&home, &["channel", "import", channels.to_str().unwrap()]);
    seen.cli(&home, &["schedule", "build", "--days", "1"]);
    seen.cli(&home, &["schedule", "build", "--days", "1", "--json"]);
    seen.cli(&home, &["schedule", "show", "--channel", "2", "--hours", "24"]);
    seen.cli(&home, &["schedule", "show", "--channel", "2", "--hours", "24", "--json"]);
    seen.cli(&home, &["schedule", "now", "--json"]);
    seen.cli(&home, &["guide", "xmltv"]);
    seen.cli(&home, &["guide", "m3u", "--base-url", "http://127.0.0.1:1"]);

    // What airs next, from now on: the four Plex items back to back, 2 s each (one answers 404).
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
    let order = ["Canary Movie", "Broken Movie", "Episode 1", "Episode 2"];
    for (n, title) in order.iter().enumerate() {
        let i = all.iter().find(|i| i.title == *title).unwrap();
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
            loudness_lufs: i.loudness_lufs,
            card: None,
        });
    }
    let end = t0 + 8000;
    let plan = ChannelPlan {
        programs: vec![PlannedProgram {
            start_ms: now - 1000,
            end_ms: end,
            media_id: None,
            info: ProgramInfo::filler("Plex test", None),
            airings,
        }],
        ..Default::default()
    };
    db.call_blocking(|c| schedule_store::publish(c, channel.id, 0, &plan, now, 86_400_000)).unwrap();

    // The scan measured loudness through the same parts: what playout fetches counts from here.
    let scanned: Vec<usize> = ["101", "201", "202"].iter().map(|p| fake.part_hits(p)).collect();
    let daemon = home.serve(&[]);
    // Wait until the last one has aired.
    let finished = wait_for(Duration::from_secs(60), || {
        let n: i64 = db
            .call_blocking(|c| {
                c.query_row(
                    "SELECT COUNT(*) FROM playout_log WHERE planned_start_ms >= ?1 AND actual_end_ms IS NOT NULL",
                    [t0],
                    |r| r.get(0),
                )
            })
            .unwrap();
        (n >= 4).then_some(n)
    });
    assert!(finished.is_some(), "the four Plex items did not air; daemon log:\n{}", daemon.stderr());
    // Playout opened the good parts with the token, which no stored URI carries.
    for (part, before) in ["101", "201", "202"].into_iter().zip(scanned) {
        assert!(fake.part_hits(part) > before, "playout never fetched part {part} with the token");
    }
    let broken: (String, Option<String>) = db
        .call_blocking(|c| {
            c.query_row(
                "SELECT status, error FROM playout_log WHERE title = 'Broken Movie' AND planned_start_ms >= ?1",
                [t0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .unwrap();
    assert_eq!(broken.0, "failed", "{broken:?}");
    for title in ["Canary Movie", "Episode 1", "Episode 2"] {
        let status: String = db
            .call_blocking(|c| {
                c.query_row(
                    "SELECT status FROM playout_log WHERE title = ?1 AND planned_start_ms >= ?2",
                    rusqlite::params![title, t0],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(status, "aired", "{title}");
    }

    let mut api = Api::new(daemon.url(""));
    api.setup(PASSWORD).await;
    let mut paths: Vec<String> = [
        "/api/items",
        "/api/items?search=canary",
        "/api/sources",
        "/api/status",
        "/api/logs?hours=1",
        "/api/logs.csv?hours=1",
        "/api/channels",
        "/api/settings",
        "/api/guide",
        "/api/scan",
        "/xmltv.xml",
        "/playlist.m3u",
        "/lineup.json",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for i in &all {
        paths.push(format!("/api/items/{}", i.id));
        paths.push(format!("/api/items/{}/still.jpg", i.id));
    }
    // A scan by the daemon, and what it reports.
    let started = api.change(reqwest::Method::POST, "/api/scan", &json!({})).await;
    seen.add("POST /api/scan", started.text());
    for _ in 0..100 {
        if api.get("/api/scan").await.json["running"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for p in &paths {
        let a = api.get(p).await;
        assert!(a.status.is_success() || p.ends_with("still.jpg"), "{p}: {}", a.status);
        seen.add(format!("GET {p}"), a.text());
    }
    seen.add("daemon stderr", daemon.stderr());
    // Every row outside `sources`, every column.
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
    let leaks = seen.leaks(CANARY);
    assert!(leaks.is_empty(), "the Plex token leaked in {} places:\n{}", leaks.len(), leaks.join("\n\n"));
    // The token is still shown masked where it is configured.
    assert!(
        seen.0.iter().any(|(w, t)| w.starts_with("retrovue source list") && t.contains("••••d4b8")),
        "source list shows the masked token"
    );
}

/// A database file at an older schema: only the migrations up to `version` applied, as a
/// Retrovue of that version left it.
fn old_database(path: &std::path::Path, version: i64) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .unwrap();
    for m in retrovue::db::MIGRATIONS.iter().filter(|m| m.version <= version) {
        conn.execute_batch(m.sql).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, 0)",
            rusqlite::params![m.version, m.name],
        )
        .unwrap();
    }
    conn
}

/// Issue 16: databases written before the token left the URIs hold it in item URIs, schedule
/// rows and as-run errors; opening one with this version takes it out of all of them.
#[test]
fn issue_16_an_upgraded_database_keeps_the_plex_token_only_with_its_source() {
    const TOKEN: &str = "OldToken-0123456789ab";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("retrovue.db");
    let part = "http://10.0.0.2:32400/library/parts/7/1/file.mkv";
    {
        let c = old_database(&path, 25);
        c.execute_batch(&format!(
            "INSERT INTO sources (id, kind, name, url, token, created_at) VALUES (1, 'plex', 'Plex', 'http://10.0.0.2:32400', '{TOKEN}', 0);
             INSERT INTO content_items (id, source_id, external_id, kind, uri, title, playable, loudness_error, created_at, updated_at)
                 VALUES (1, 1, '7', 'movie', '{part}?X-Plex-Token={TOKEN}', 'Movie', 1, 'decoding failed: 404 ({part}?X-Plex-Token={TOKEN})', 0, 0);
             INSERT INTO channels (id, number, name, xmltv_id, created_at, updated_at) VALUES (1, '2', 'Two', 'two', 0, 0);
             INSERT INTO schedule_items (channel_id, start_ms, end_ms, kind, item_id, uri, title, built_at)
                 VALUES (1, 0, 1000, 'program', 1, '{part}?X-Plex-Token={TOKEN}', 'Movie', 0);
             INSERT INTO playout_log (channel_id, kind, title, actual_start_ms, status, error)
                 VALUES (1, 'program', 'Movie', 0, 'failed', 'souphttpsrc: Not Found (URL: {part}?X-Plex-Token={TOKEN}, Redirect to: (NULL))');"
        ))
        .unwrap();
    }
    let db = Db::open(&path).unwrap();
    let (uri, loudness_error, row_uri, error, token): (String, String, String, String, String) =
        db.call_blocking(|c| {
            c.query_row(
                "SELECT i.uri, i.loudness_error, s.uri, l.error, src.token FROM content_items i, schedule_items s,
                 playout_log l, sources src",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap()
        });
    assert_eq!((uri.as_str(), row_uri.as_str()), (part, part));
    assert!(
        !loudness_error.contains(TOKEN) && loudness_error.contains("file.mkv?X-Plex-Token=••••"),
        "{loudness_error}"
    );
    assert!(!error.contains(TOKEN) && error.contains("(URL: http://"), "{error}");
    assert_eq!(token, TOKEN, "the source keeps its token");
}

/// Issue 16: one unreadable `<breakpoint>` made the whole `.nfo` count as broken, so the
/// item lost its title, season and rating. The rest is kept and the bad value reported.
#[test]
fn issue_16_one_bad_nfo_breakpoint_keeps_the_rest_of_the_file() {
    let home = Home::new();
    let shows = home.path().join("media/shows");
    let file = shows.join("Robots/Season 02/Robots - S02E03.mkv");
    util::Clip::new(320, 240, 1.0).write(&file);
    std::fs::write(
        file.with_extension("nfo"),
        "<episodedetails><title>The Real Title</title><showtitle>Retro Robots</showtitle><season>2</season>\
         <episode>3</episode><mpaa>TV-PG</mpaa><retrovue><breakpoint>soon</breakpoint>\
         <breakpoint>0:00.5</breakpoint><daypart>morning</daypart></retrovue></episodedetails>",
    )
    .unwrap();
    home.ok(&["source", "add", "--folder", shows.to_str().unwrap(), "--kind", "shows"]);
    let report = home.json(&["scan", "--json", "--no-loudness"]);
    let problems = report["sources"][0]["errors"].to_string();
    assert!(problems.contains("soon") && problems.contains("Robots - S02E03.nfo"), "{report:#}");
    let items = home.json(&["library", "list", "--json"]);
    let item = &items[0];
    assert_eq!(item["title"], "The Real Title", "{item:#}");
    assert_eq!((item["series"].as_str(), item["season"].as_u64()), (Some("Retro Robots"), Some(2)));
    assert_eq!(item["rating"], "TV-PG");
    assert_eq!(item["meta"]["daypart"], json!(["morning"]));
    assert_eq!(item["breakpoints"], json!([500]));
}

fn stderr_of(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Issue 16: `source add` for a server (or folder) that is a source already printed that
/// source, exited 0 and dropped the new token and name; a token the server refuses was only
/// found out at the next scan. Both are said at once, with a non-zero exit, and a scan in
/// which a source failed exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_source_add_says_what_is_wrong_at_once() {
    const TOKEN: &str = "Right-Token-0123456789";
    let home = Home::new();
    let plex =
        Plex::new(TOKEN, &[("1", "Movies", "movie")], vec![("1", vec![movie("101", "Movie", "PG", 1000)])], Vec::new());
    let (fake, addr, _server) = plex_support::start(plex).await;
    let url = format!("http://{addr}");
    let sources = |home: &Home| home.json(&["source", "list", "--json"]).as_array().unwrap().len();

    let refused = home.run(&["source", "add", "--plex", &url, "--token", "Wrong-Token-987654321"]);
    assert!(!refused.status.success(), "a refused token is an error at once: {}", stderr_of(&refused));
    assert!(stderr_of(&refused).contains("refused the token"), "{}", stderr_of(&refused));
    assert_eq!(sources(&home), 0, "nothing was added");
    let unknown = home.run(&["source", "add", "--plex", &url, "--token", TOKEN, "--library", "Cartoons"]);
    assert!(!unknown.status.success() && stderr_of(&unknown).contains("Cartoons"), "{}", stderr_of(&unknown));

    home.ok(&["source", "add", "--plex", &url, "--token", TOKEN, "--name", "Den"]);
    let again = home.run(&["source", "add", "--plex", &url, "--token", "Fresh-Token-0000000000", "--name", "New"]);
    let said = stderr_of(&again);
    assert!(!again.status.success(), "a second add of the same server is refused: {said}");
    assert!(said.contains("already source 1") && said.contains("retrovue source edit 1"), "{said}");
    assert_eq!(sources(&home), 1);

    let shows = home.path().join("shows");
    std::fs::create_dir_all(&shows).unwrap();
    home.ok(&["source", "add", "--folder", shows.to_str().unwrap(), "--kind", "shows"]);
    let twice = home.run(&["source", "add", "--folder", shows.to_str().unwrap(), "--kind", "shows"]);
    assert!(!twice.status.success() && stderr_of(&twice).contains("retrovue source edit 2"), "{}", stderr_of(&twice));

    fake.plex.lock().unwrap().mode = plex_support::Mode::Unauthorized;
    let scan = home.run(&["scan", "--no-loudness"]);
    assert!(!scan.status.success(), "a scan in which a source failed exits non-zero: {}", stderr_of(&scan));
    assert!(stderr_of(&scan).contains("FAILED"), "{}", stderr_of(&scan));
}

/// Issue 16: sources could not be edited. Token, URL, libraries and path map of a Plex source
/// and the folder of a folder source now change in place (CLI and web): items keep their ids
/// and the user's edits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_sources_are_edited_in_place() {
    const OLD: &str = "Old-Token-0123456789ab";
    const NEW: &str = "New-Token-ba9876543210";
    let home = Home::new();
    let clip = plex_support::clip_bytes(home.path(), 1.0, "smpte");
    let catalogue = || {
        vec![
            ("1", vec![movie("101", "Local Movie", "PG", 1000), movie("102", "Remote Movie", "PG", 1000)]),
            ("2", vec![episode("201", 1, "TV-G", 1000)]),
        ]
    };
    let sections = [("1", "Movies", "movie"), ("2", "TV Shows", "show")];
    let (fake, addr, _server) = plex_support::start(Plex::new(OLD, &sections, catalogue(), clip.clone())).await;
    let url = format!("http://{addr}");
    home.ok(&["source", "add", "--plex", &url, "--token", OLD, "--name", "Den"]);
    home.ok(&["scan", "--no-loudness"]);
    let db = Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let before = items(&db);
    let id_of = |items: &[MediaItem], title: &str| items.iter().find(|i| i.title == title).unwrap().id;
    let local = id_of(&before, "Local Movie");
    home.ok(&["library", "edit", &local.to_string(), "--daypart", "morning", "--breakpoints", "0:01"]);

    // The server's token changed: the scan fails until the source has the new one.
    fake.plex.lock().unwrap().token = NEW.into();
    assert!(!home.run(&["scan", "--no-loudness"]).status.success());
    let bad = home.run(&["source", "edit", "1", "--token", "Typo-Token-000000000000"]);
    assert!(!bad.status.success() && stderr_of(&bad).contains("refused the token"), "{}", stderr_of(&bad));
    home.ok(&["source", "edit", "1", "--token", NEW]);
    home.ok(&["scan", "--no-loudness"]);

    // The server moved.
    let (_fake2, addr2, _server2) = plex_support::start(Plex::new(NEW, &sections, catalogue(), clip.clone())).await;
    let url2 = format!("http://{addr2}");
    home.ok(&["source", "edit", "1", "--url", &url2, "--name", "Den Plex"]);
    let moved = items(&db);
    assert!(moved.iter().all(|i| i.uri.starts_with(&format!("{url2}/library/parts/"))), "{moved:#?}");
    home.ok(&["scan", "--no-loudness"]);

    // Only the movies, and one of them played from this box through a path mapping.
    let mirror = home.path().join("mirror");
    std::fs::create_dir_all(mirror.join("Movies")).unwrap();
    std::fs::write(mirror.join("Movies/Local Movie.mkv"), &clip).unwrap();
    let map = format!("/plexmedia={}", mirror.display());
    home.ok(&["source", "edit", "1", "--library", "Movies", "--path-map", &map]);
    home.ok(&["scan", "--no-loudness"]);
    let after = items(&db);
    for i in &before {
        let now = after.iter().find(|a| a.title == i.title).unwrap();
        assert_eq!(now.id, i.id, "{} kept its id", i.title);
    }
    let kept = after.iter().find(|i| i.id == local).unwrap();
    assert_eq!(kept.meta.daypart, ["morning"], "the user's metadata survived");
    assert_eq!(kept.breakpoints, [1000], "the user's breakpoints survived");
    assert!(kept.uri.starts_with("file:///") && kept.uri.ends_with("/mirror/Movies/Local%20Movie.mkv"), "{}", kept.uri);
    let gone = db.call_blocking(|c| retrovue::library::store::get_item_details(c, id_of(&after, "Episode 1")));
    assert!(gone.unwrap().unwrap().gone, "the TV library is no longer imported");
    let list = home.json(&["source", "list", "--json"]);
    assert_eq!((list[0]["name"].as_str(), list[0]["url"].as_str()), (Some("Den Plex"), Some(url2.as_str())));

    // A folder that moved on disk: its items follow, ids and edits kept.
    let first = home.path().join("disk1/shows");
    util::Clip::new(320, 240, 1.0).write(&first.join("Echo/Season 01/Echo - S01E01.mkv"));
    home.ok(&["source", "add", "--folder", first.to_str().unwrap(), "--kind", "shows"]);
    home.ok(&["scan", "--no-loudness", "--source", "2"]);
    let echo =
        items(&db).into_iter().find(|i| i.title.contains("S01E01") || i.series.as_deref() == Some("Echo")).unwrap();
    home.ok(&["library", "edit", &echo.id.to_string(), "--era", "1980s"]);
    let second = home.path().join("disk2/shows");
    std::fs::create_dir_all(second.parent().unwrap()).unwrap();
    std::fs::rename(&first, &second).unwrap();
    home.ok(&["source", "edit", "2", "--path", second.to_str().unwrap()]);
    let report = home.json(&["scan", "--json", "--no-loudness", "--source", "2"]);
    assert_eq!((report["added"].as_u64(), report["removed"].as_u64()), (Some(0), Some(0)), "{report:#}");
    let echo2 = items(&db).into_iter().find(|i| i.id == echo.id).unwrap();
    assert!(echo2.uri.contains("/disk2/shows/Echo/"), "{}", echo2.uri);
    assert_eq!(echo2.meta.era.as_deref(), Some("1980s"));
    assert!(!home.run(&["source", "edit", "2", "--token", "x"]).status.success(), "no token on a folder");

    // The web page edits in place too.
    let daemon = home.serve(&[]);
    let mut api = Api::new(daemon.url(""));
    api.setup(PASSWORD).await;
    let a = api.change(reqwest::Method::PUT, "/api/sources/2", &json!({ "name": "Cartoon disk" })).await;
    assert!(a.status.is_success(), "{}", a.text());
    let a = api.change(reqwest::Method::PUT, "/api/sources/1", &json!({ "token": "Typo-Token-000000000000" })).await;
    assert_eq!(a.status, reqwest::StatusCode::BAD_REQUEST, "{}", a.text());
    let a = api
        .change(reqwest::Method::PUT, "/api/sources/1", &json!({ "libraries": [], "path_map": null, "token": NEW }))
        .await;
    assert!(a.status.is_success(), "{}", a.text());
    assert_eq!((a.json["libraries"].as_array().map(Vec::len), &a.json["path_map"]), (Some(0), &json!(null)));
    let list = api.get("/api/sources").await;
    assert_eq!(list.json[1]["name"], "Cartoon disk");
    assert_eq!(items(&db).len(), after.len() + 1, "no item was lost or duplicated");
}

/// Issue 16: a backup taken by an older Retrovue (an older schema) could not be restored
/// ("the backup has schema version 1; this box runs version 25"). Restore migrates it
/// forward first; a backup from a newer Retrovue is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_a_backup_from_an_older_version_is_restored() {
    let home = Home::new();
    let backup = home.path().join("oldest.db");
    {
        let c = old_database(&backup, 1);
        c.execute_batch(
            "INSERT INTO system_config (key, value, updated_at) VALUES ('device.friendly_name', 'Grandpa TV', 0);
             INSERT INTO sources (id, kind, name, content_kind, path, created_at)
                 VALUES (1, 'folder', 'Old shows', 'shows', '/media/shows', 0);
             INSERT INTO content_items (id, source_id, external_id, kind, uri, title, series, season, episode,
                     duration_ms, playable, created_at, updated_at)
                 VALUES (1, 1, 'Echo/e1.mkv', 'episode', 'file:///media/shows/Echo/e1.mkv', 'Pilot', 'Echo', 1, 1,
                     1320000, 1, 0, 0);
             INSERT INTO content_scheduling_metadata (item_id, origin, daypart, updated_at)
                 VALUES (1, 'user', 'primetime', 0);
             INSERT INTO channels (id, number, name, xmltv_id, created_at, updated_at)
                 VALUES (1, '3', 'Oldies', 'oldies.retrovue', 0, 0);
             INSERT INTO programming_slots (channel_id, days, start_minute, length_min, fill, created_at)
                 VALUES (1, 127, 1200, 30, '{\"series\":\"Echo\"}', 0);
             INSERT INTO schedule_programs (id, channel_id, start_ms, end_ms, item_id, info, built_at)
                 VALUES (1, 1, 0, 1800000, 1, '{\"kind\":\"episode\",\"title\":\"Echo\"}', 0);
             INSERT INTO schedule_items (channel_id, program_id, start_ms, end_ms, kind, item_id, uri, title, built_at)
                 VALUES (1, 1, 0, 1800000, 'program', 1, 'file:///media/shows/Echo/e1.mkv', 'Pilot', 0);",
        )
        .unwrap();
    }
    let daemon = home.serve(&[]);
    let mut api = Api::new(daemon.url(""));
    api.setup(PASSWORD).await;
    let upload = |bytes: Vec<u8>| {
        api.http
            .post(daemon.url("/api/restore"))
            .header("Cookie", format!("rv_session={}", api.cookie.clone().unwrap()))
            .header("X-CSRF-Token", api.csrf.clone().unwrap())
            .body(bytes)
            .send()
    };
    // A backup from a newer Retrovue is refused (and changes nothing).
    let newer = home.path().join("newer.db");
    {
        let c = old_database(&newer, retrovue::db::latest_version());
        c.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)", [])
            .unwrap();
    }
    let r = upload(std::fs::read(&newer).unwrap()).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("9999"));
    let r = upload(std::fs::read(&backup).unwrap()).await.unwrap();
    let status = r.status();
    assert_eq!(status, reqwest::StatusCode::OK, "{}\n{}", r.text().await.unwrap(), daemon.stderr());

    let db = Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let all = items(&db);
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].title.as_str(), all[0].meta.daypart.as_slice()), ("Pilot", &["primetime".to_owned()][..]));
    let channel = db.call_blocking(|c| lineup_store::by_number(c, "3")).unwrap().unwrap();
    assert_eq!(channel.name, "Oldies");
    let slots = db.call_blocking(|c| schedule_store::list_slots(c, channel.id)).unwrap();
    assert_eq!(slots.len(), 1);
    let airings = db.call_blocking(|c| schedule_store::airings_between(c, channel.id, 0, 1_800_000)).unwrap();
    assert_eq!(airings.len(), 1, "the schedule came through the 0025 rewrite of its tables");
    let name: String = db
        .call_blocking(|c| {
            c.query_row("SELECT value FROM system_config WHERE key = 'device.friendly_name'", [], |r| r.get(0))
        })
        .unwrap();
    assert_eq!(name, "Grandpa TV");
    assert!(
        std::fs::read_dir(home.data_dir()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".restore")),
        "no scratch file left"
    );
}

/// An airing as the schedule tests compare them: (id, start ms, kind, item).
type Row = (i64, i64, AiringKind, Option<i64>);

/// Airings of channel `number` starting in `[from, to)` (ms).
fn airings(db: &Db, number: &str, from: i64, to: i64) -> Vec<Row> {
    db.call_blocking(|c| {
        let ch = lineup_store::by_number(c, number).unwrap().unwrap();
        schedule_store::airings_between(c, ch.id, from, to).unwrap()
    })
    .into_iter()
    .filter(|a| a.start.timestamp_millis() >= from)
    .map(|a| (a.id, a.start.timestamp_millis(), a.kind, a.media_id.map(|m| m.0)))
    .collect()
}

/// Issue 16: changing a channel's settings, an item's metadata or breakpoints, or adding
/// media did nothing until the horizon rolled (or a `schedule build --force`). Each edit now
/// reaches the schedule after the frozen window within seconds, from the CLI and from the
/// web page (which also has "rebuild now"), and leaves the frozen window alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_edits_reach_the_schedule_after_the_frozen_window() {
    let home = Home::new();
    home.write_config("[schedule]\nhorizon_days = 1\nfrozen_hours = 1\n");
    let media = home.path().join("media");
    let episode = |n: u32| media.join(format!("shows/Echo/Season 01/Echo - S01E0{n}.mp4"));
    for n in 1..=3 {
        util::Clip::new(160, 120, 2.0).write(&episode(n));
    }
    for i in 0..3 {
        util::Clip::new(160, 120, 1.0).write(&media.join(format!("ads/Spot {i}.mp4")));
    }
    home.ok(&["source", "add", "--folder", media.join("shows").to_str().unwrap(), "--kind", "shows"]);
    home.ok(&["source", "add", "--folder", media.join("ads").to_str().unwrap(), "--kind", "commercials"]);
    home.ok(&["scan", "--no-loudness"]);
    let file = home.path().join("channels.toml");
    std::fs::write(
        &file,
        "[[channel]]\nnumber = \"2\"\nname = \"Echo TV\"\nrating_limit = \"TV-PG\"\ndefault_fill = \"Echo\"\n\
         [[channel.slot]]\nstart = \"00:00\"\nlength = 30\nseries = \"Echo\"\n",
    )
    .unwrap();
    home.ok(&["channel", "import", file.to_str().unwrap()]);
    home.ok(&["schedule", "build", "--days", "1"]);
    let db = Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let id_of = |title: &str| items(&db).into_iter().find(|i| i.title.contains(title)).unwrap().id.0;
    let ep2 = id_of("S01E02");
    let now = chrono::Utc::now().timestamp_millis();
    let (frozen_end, later, day) = (now + 3_600_000, now + 2 * 3_600_000, now + 20 * 3_600_000);
    let frozen = airings(&db, "2", now, frozen_end - 1_800_000);
    assert!(!frozen.is_empty());
    let after = |db: &Db| airings(db, "2", later, day);
    let has_spots = |a: &[Row]| a.iter().any(|x| x.2 == AiringKind::Commercial);
    let airs = |a: &[Row], id: i64| a.iter().any(|x| x.3 == Some(id));
    assert!(has_spots(&after(&db)) && airs(&after(&db), ep2));
    let until = |what: &str, ok: &dyn Fn(&[Row]) -> bool| {
        let done = wait_for(Duration::from_secs(30), || ok(&after(&db)).then_some(()));
        assert!(done.is_some(), "{what}: the schedule after the frozen window never changed");
        assert_eq!(airings(&db, "2", now, frozen_end - 1_800_000), frozen, "{what}: the frozen window changed");
    };

    let daemon = home.serve(&[]);
    // A channel's settings, from the CLI.
    home.ok(&["channel", "edit", "2", "--break-style", "none"]);
    until("channel edit --break-style none", &|a| !has_spots(a));
    // An item's metadata, from the CLI: episode 2 now exceeds the channel's rating limit.
    home.ok(&["library", "edit", &ep2.to_string(), "--rating", "TV-MA"]);
    until("library edit --rating", &|a| !airs(a, ep2));
    // Media added.
    util::Clip::new(160, 120, 2.0).write(&episode(4));
    home.ok(&["scan", "--no-loudness"]);
    let ep4 = id_of("S01E04");
    until("scan that added an episode", &|a| airs(a, ep4));

    // The web page: a channel's settings, an item's metadata, and "rebuild now".
    let mut api = Api::new(daemon.url(""));
    api.setup(PASSWORD).await;
    let ch = api.get("/api/channels").await.json[0].clone();
    let mut settings = ch["settings"].clone();
    settings["break_style"] = json!("us");
    let a = api
        .change(
            reqwest::Method::PUT,
            &format!("/api/channels/{}", ch["id"]),
            &json!({ "number": "2", "name": "Echo TV", "settings": settings }),
        )
        .await;
    assert!(a.status.is_success(), "{}", a.text());
    until("PUT /api/channels/{id} break_style us", &|a| has_spots(a));
    let a = api
        .change(
            reqwest::Method::PUT,
            &format!("/api/items/{ep2}/metadata"),
            &json!({ "daypart": [], "season": [], "content_rating": null }),
        )
        .await;
    assert!(a.status.is_success(), "{}", a.text());
    let a = api.change(reqwest::Method::POST, "/api/schedule/rebuild", &json!({})).await;
    assert!(a.status.is_success(), "{}", a.text());
    assert!(airs(&after(&db), ep2), "rebuild now: episode 2 is back right away");
    assert_eq!(airings(&db, "2", now, frozen_end - 1_800_000), frozen, "rebuild now keeps the frozen window");
}

/// Issue 16: a Plex item in several parts (one `Media` with several `Part`s) played only its
/// first part while the schedule used the whole duration, and an item in several versions
/// (several `Media`) played the first version whatever the channel. The schedule now airs
/// every part in order (one airing per part, back to back) and the version that best fits
/// the channel's profile, and playout plays them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_plex_multi_part_and_multi_version_items_play_whole_and_fitting() {
    const TOKEN: &str = "Parts-Token-0123456789";
    let home = Home::new();
    // No background loudness: it reads the item's default version, and this test counts
    // which versions playout fetched.
    home.write_config("[schedule]\nhorizon_days = 1\nfrozen_hours = 1\n[library]\nloudness = false\n");
    let mut two_parts = movie("301", "Two Parts", "PG", 1000);
    two_parts["duration"] = json!(4000);
    two_parts["Media"] = json!([plex_support::version(640, 480, "NTSC", "h264", &[(3011, 2000), (3012, 2000)])]);
    let mut two_versions = movie("302", "Two Versions", "PG", 1000);
    two_versions["Media"] = json!([
        plex_support::version(1920, 1080, "24p", "hevc", &[(3021, 2000)]),
        plex_support::version(640, 480, "NTSC", "h264", &[(3022, 2000)]),
    ]);
    let mut plex = Plex::new(
        TOKEN,
        &[("1", "Movies", "movie")],
        vec![("1", vec![two_parts, two_versions])],
        plex_support::clip_bytes(home.path(), 2.0, "smpte"),
    );
    // Each part and version its own picture, to tell from the output what aired in which order
    // (the smpte bars' centre is green).
    plex.part_clips.insert("3012".into(), plex_support::clip_bytes(home.path(), 2.0, "red"));
    plex.part_clips.insert("3022".into(), plex_support::clip_bytes(home.path(), 2.0, "blue"));
    let (fake, addr, _server) = plex_support::start(plex).await;
    home.ok(&["source", "add", "--plex", &format!("http://{addr}"), "--token", TOKEN]);
    home.ok(&["scan", "--no-loudness"]);
    let file = home.path().join("channels.toml");
    std::fs::write(
        &file,
        "[[channel]]\nnumber = \"2\"\nname = \"Movies\"\nmode = \"always_on\"\nbreak_style = \"none\"\n\
         default_fill = \"movies\"\n",
    )
    .unwrap();
    home.ok(&["channel", "import", file.to_str().unwrap()]);
    home.ok(&["schedule", "build", "--days", "1"]);
    let db = Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let id_of = |title: &str| items(&db).into_iter().find(|i| i.title == title).unwrap().id;
    let (parts_id, versions_id) = (id_of("Two Parts"), id_of("Two Versions"));
    let channel = db.call_blocking(|c| lineup_store::by_number(c, "2")).unwrap().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let planned = db.call_blocking(|c| schedule_store::airings_between(c, channel.id, now, now + 86_400_000)).unwrap();
    let of = |id| planned.iter().filter(move |a| a.media_id == Some(id) && a.kind == AiringKind::Program);
    // Every showing of the two-part movie is two airings: part 1 whole, then part 2 whole.
    let first = of(parts_id).next().expect("the two-part movie is scheduled");
    let pair: Vec<&Airing> = of(parts_id).filter(|a| a.program_id == first.program_id).collect();
    let shape: Vec<(String, i64, i64, i64)> = pair
        .iter()
        .map(|a| {
            let part = a.uri.as_deref().unwrap().split("/library/parts/").nth(1).unwrap().split('/').next().unwrap();
            (
                part.to_owned(),
                a.start.timestamp_millis() - first.start.timestamp_millis(),
                a.offset_in_ms,
                a.offset_out_ms,
            )
        })
        .collect();
    // (The program's runtime is floored to whole frames: part 2 may end up to a frame early.)
    assert_eq!(shape.len(), 2, "{pair:#?}");
    assert_eq!(shape[0], ("3011".into(), 0, 0, 2000), "{pair:#?}");
    assert_eq!((shape[1].0.as_str(), shape[1].1, shape[1].2), ("3012", 2000, 0), "{pair:#?}");
    assert!((1966..=2000).contains(&shape[1].3), "{pair:#?}");
    // The version that fits a 640x480, 29.97 fps channel.
    let v = of(versions_id).next().expect("the two-version movie is scheduled");
    assert!(v.uri.as_deref().unwrap().contains("/library/parts/3022/"), "{v:#?}");

    // Air both right now, as planned, and watch the daemon fetch every part it needs.
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
    let mut at = t0;
    for a in pair.iter().copied().chain([v]) {
        let len = a.duration_ms();
        airings.push(Airing {
            start: retrovue::clock::from_ms(at),
            end: retrovue::clock::from_ms(at + len),
            program_id: None,
            ..a.clone()
        });
        at += len;
    }
    let plan = ChannelPlan {
        programs: vec![PlannedProgram {
            start_ms: now - 1000,
            end_ms: at,
            media_id: None,
            info: ProgramInfo::filler("Parts test", None),
            airings,
        }],
        ..Default::default()
    };
    db.call_blocking(|c| schedule_store::publish(c, channel.id, 0, &plan, now, 86_400_000)).unwrap();
    let daemon = home.serve(&[]);
    // A viewer tunes in before the parts and records until after them.
    let capture = home.path().join("v2.ts");
    let record_s = (at - chrono::Utc::now().timestamp_millis()) as f64 / 1000.0 + 3.0;
    let recorder = std::process::Command::new("curl")
        .args(["-s", "--max-time", &format!("{record_s:.1}"), "-o"])
        .arg(&capture)
        .arg(daemon.url("/auto/v2"))
        .spawn()
        .unwrap();
    let aired = wait_for(Duration::from_secs(60), || {
        let rows: Vec<(String, String)> = db.call_blocking(|c| {
            c.prepare(
                "SELECT title, status FROM playout_log WHERE planned_start_ms >= ?1 AND actual_end_ms IS NOT NULL
                 ORDER BY planned_start_ms",
            )
            .unwrap()
            .query_map([t0], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        });
        (rows.len() >= 3).then_some(rows)
    });
    let aired = aired.unwrap_or_else(|| panic!("the parts did not air; daemon log:\n{}", daemon.stderr()));
    assert!(aired.iter().all(|(_, s)| s == "aired"), "{aired:?}");
    for part in ["3011", "3012", "3022"] {
        assert!(fake.part_hits(part) > 0, "part {part} was never played");
    }
    assert_eq!(fake.part_hits("3021"), 0, "the 1080p HEVC version does not fit this channel");
    // What the viewer saw: part 1 (the bars' green centre) whole, then part 2 (red) whole, then
    // the fitting version (blue), each about its 2 s.
    recorder.wait_with_output().unwrap();
    let runs = colour_runs(&capture);
    println!("the viewer's pictures (colour, frames): {runs:?}");
    let long: Vec<(char, usize)> = runs.iter().copied().filter(|&(_, n)| n >= 10).collect();
    let at_g = long.iter().position(|&(c, _)| c == 'g').unwrap_or_else(|| panic!("part 1 never showed: {runs:?}"));
    let shown: Vec<char> = long[at_g..].iter().map(|&(c, _)| c).take(3).collect();
    assert_eq!(shown, ['g', 'r', 'b'], "the parts in order, then the version: {runs:?}");
    for &(c, frames) in &long[at_g..at_g + 3] {
        assert!((50..=66).contains(&frames), "{c}: {frames} frames, not about 2 s at 29.97: {runs:?}");
    }
}

/// The capture's pictures as runs of their centre's colour: 'k' black, 'r' red, 'g' green,
/// 'b' blue, '?' anything else, with each run's length in frames.
fn colour_runs(ts: &std::path::Path) -> Vec<(char, usize)> {
    let centres = util::media::decoded(
        ts,
        &["-vf", "crop=16:16:iw/2-8:ih/2-8,scale=1:1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
    );
    let mut runs: Vec<(char, usize)> = Vec::new();
    for px in centres.chunks_exact(3) {
        let (r, g, b) = (px[0], px[1], px[2]);
        let c = match (r > 140, g > 140, b > 140, r < 60, g < 60, b < 60) {
            (_, _, _, true, true, true) => 'k',
            (true, _, _, _, true, true) => 'r',
            (_, true, _, true, _, true) => 'g',
            (_, _, true, true, true, _) => 'b',
            _ => '?',
        };
        match runs.last_mut() {
            Some((last, n)) if *last == c => *n += 1,
            _ => runs.push((c, 1)),
        }
    }
    runs
}

/// Issue 16: tests that cannot run here (no `unshare`: not root, no user namespaces) printed
/// "SKIP" and returned, so cargo reported them passed. Every test that needs a namespace must
/// be `#[ignore]`d (cargo then reports it ignored; `scripts/test.sh` runs it with `--ignored`
/// where namespaces work), and the namespace helpers must fail, not pass, when they cannot
/// make one.
#[test]
fn issue_16_tests_that_cannot_run_here_are_never_reported_passed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for e in walk(&dir) {
        if e.extension().is_some_and(|x| x == "rs") {
            files.push(e);
        }
    }
    let mut wrong = Vec::new();
    // (Spelled in two pieces so this file does not match itself.)
    let helpers = [concat!("in_private_", "netns("), concat!("in_private_", "mountns(")];
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.strip_prefix(&dir).unwrap().display().to_string();
        // A helper that "skips" returns false after a message: the caller then passes.
        for (i, line) in text.lines().enumerate() {
            if line.contains("eprintln!(\"SKIP") || line.contains("println!(\"SKIP") {
                wrong.push(format!("{name}:{}: prints SKIP and lets the test pass", i + 1));
            }
        }
        // Each #[test] whose body calls a namespace helper carries #[ignore].
        let tests: Vec<&str> = text.split("#[test]").skip(1).collect();
        for t in tests {
            let body = t.split("\n}\n").next().unwrap_or(t);
            let head: String = t.lines().take_while(|l| !l.trim_start().starts_with("fn ")).collect();
            let func = t.lines().find(|l| l.trim_start().starts_with("fn ")).unwrap_or("").trim().to_owned();
            if helpers.iter().any(|h| body.contains(h)) && !head.contains("#[ignore") {
                wrong.push(format!("{name}: `{func}` needs a namespace but is not #[ignore]d"));
            }
        }
    }
    assert!(wrong.is_empty(), "tests that would pass without running:\n{}", wrong.join("\n"));
    let script = std::fs::read_to_string(dir.join("../scripts/test.sh")).unwrap();
    assert!(script.contains("--ignored") && script.contains("unshare"), "scripts/test.sh runs the namespace tests");
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// Mean brightness (luma) of the top-left and top-right quarters of the last video frame of
/// `ts` (640x480); `None` when it holds no decodable frame (the channel is still starting).
fn top_corners(ts: &std::path::Path) -> Option<(f64, f64)> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(ts)
        .args(["-map", "0:v", "-vf", "format=gray", "-f", "rawvideo", "-"])
        .output()
        .unwrap();
    let (w, h) = (640, 480);
    let frame = out.stdout.chunks_exact(w * h).last()?;
    let mean = |x0: usize| {
        let sum: u64 = (0..h / 4)
            .flat_map(|y| (x0..x0 + w / 4).map(move |x| (y, x)))
            .map(|(y, x)| u64::from(frame[y * w + x]))
            .sum();
        sum as f64 / (w / 4 * h / 4) as f64
    };
    Some((mean(0), mean(w - w / 4)))
}

/// Issue 16: a channel's bug, clock, graphics and lower-third settings were read when its
/// pipeline started, so an edit showed only after a restart. They now apply on air within
/// seconds, and the channel keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_graphics_settings_apply_on_air_without_a_restart() {
    let home = Home::new();
    // No media: the channel airs its black station-break background, with the bug always on.
    let file = home.path().join("channels.toml");
    std::fs::write(
        &file,
        "[[channel]]\nnumber = \"2\"\nname = \"Bug TV\"\ncall_sign = \"BUG\"\nmode = \"always_on\"\n\
         lower_thirds = false\nclock = false\n",
    )
    .unwrap();
    home.ok(&["channel", "import", file.to_str().unwrap()]);
    home.ok(&["channel", "edit", "2", "--bug-rule", "always", "--bug-corner", "top_right", "--bug-opacity", "1.0"]);
    home.ok(&["schedule", "build", "--days", "1"]);
    let daemon = home.serve(&[]);
    let http = reqwest::Client::new();
    let capture = |n: u32| {
        let (http, url, path) =
            (http.clone(), daemon.url("/auto/v2?duration=3"), home.path().join(format!("cap{n}.ts")));
        async move {
            let body = http.get(url).send().await.unwrap().bytes().await.unwrap();
            std::fs::write(&path, &body).unwrap();
            top_corners(&path)
        }
    };
    let mut n = 0;
    let mut corners = (0.0, 0.0);
    for _ in 0..10 {
        n += 1;
        corners = capture(n).await.unwrap_or_default();
        if corners.1 > corners.0 + 2.0 {
            break;
        }
    }
    assert!(corners.1 > corners.0 + 2.0, "the bug shows top right first: {corners:?}\n{}", daemon.stderr());
    home.ok(&["channel", "edit", "2", "--bug-corner", "top_left"]);
    let started = std::time::Instant::now();
    let moved = loop {
        n += 1;
        let c = capture(n).await.unwrap_or_default();
        if c.0 > c.1 + 2.0 {
            break Some(c);
        }
        if started.elapsed() > Duration::from_secs(25) {
            break None;
        }
    };
    assert!(moved.is_some(), "the bug never moved to the top left on air");
    let log = daemon.stderr();
    assert_eq!(log.matches("channel started").count(), 1, "the channel was restarted:\n{log}");
    assert!(!log.contains("rebuilding channel pipeline"), "the channel's pipeline was rebuilt:\n{log}");
}
