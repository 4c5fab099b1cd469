//! Channels, schedules and guides through the real binary: import a channel file, build, show,
//! "what is on now", XMLTV checked by `tv_validate_file`, M3U, and the daemon's guide routes.
//! The library is seeded through `retrovue::library::store` (the scanner is tested elsewhere).

mod util;

use std::process::Command;

use retrovue::db::Db;
use retrovue::library::store as ls;
use retrovue::library::{ContentKind, SchedulingMetadata};
use util::Home;

const CHANNELS: &str = r#"
[[channel]]
number = "5"
name = "Sitcom & Gold"
call_sign = "SITG"
logo = "LOGO"
rating_limit = "TV-PG"
default_fill = "Comedy"
break_style = "us"
group = "Comedy"

[[channel.slot]]
days = "daily"
start = "19:00"
length = 60
series = "Cheers"

[[channel.slot]]
days = "daily"
start = "20:00"
length = 120
movies = true

[[channel]]
number = "12.1"
name = "Drama Nights"
break_style = "uk"
default_fill = "Drama"
"#;

struct Seed {
    name: &'static str,
    kind: ContentKind,
    series: Option<&'static str>,
    n: u32,
    ms: i64,
    genre: &'static str,
    rating: Option<&'static str>,
}

/// A realistic small library: sitcoms, a drama, movies, commercials with companies, promos,
/// bumpers, a station ID and a filler card. Returns the source ids (shows, everything else).
fn seed(home: &Home) -> (ls::SourceSpec, i64) {
    std::fs::create_dir_all(home.data_dir()).unwrap();
    let db = Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let seeds = [
        Seed {
            name: "Cheers",
            kind: ContentKind::Episode,
            series: Some("Cheers"),
            n: 10,
            ms: 1_342_342,
            genre: "Comedy",
            rating: Some("TV-PG"),
        },
        Seed {
            name: "Taxi",
            kind: ContentKind::Episode,
            series: Some("Taxi"),
            n: 6,
            ms: 1_450_000,
            genre: "Comedy",
            rating: Some("TV-PG"),
        },
        Seed {
            name: "Miami Vice",
            kind: ContentKind::Episode,
            series: Some("Miami Vice"),
            n: 6,
            ms: 2_880_000,
            genre: "Drama",
            rating: Some("TV-14"),
        },
        Seed {
            name: "Movie",
            kind: ContentKind::Movie,
            series: None,
            n: 4,
            ms: 5_700_000,
            genre: "Comedy",
            rating: Some("PG"),
        },
        Seed { name: "Spot", kind: ContentKind::Commercial, series: None, n: 30, ms: 30_030, genre: "", rating: None },
        Seed {
            name: "Promo",
            kind: ContentKind::Promo,
            series: Some("Cheers"),
            n: 2,
            ms: 20_020,
            genre: "",
            rating: None,
        },
        Seed { name: "Bumper", kind: ContentKind::Bumper, series: None, n: 2, ms: 5_005, genre: "", rating: None },
        Seed { name: "Ident", kind: ContentKind::StationId, series: None, n: 1, ms: 10_010, genre: "", rating: None },
        Seed { name: "Test card", kind: ContentKind::Slate, series: None, n: 1, ms: 60_000, genre: "", rating: None },
    ];
    let spec = ls::SourceSpec::Folder { path: "/media/shows".into(), content_kind: "shows".into() };
    db.call_blocking(|c| {
        let shows = ls::insert_source(c, "Shows", &spec, 0).unwrap();
        let other = ls::insert_source(
            c,
            "Interstitials",
            &ls::SourceSpec::Folder { path: "/media/other".into(), content_kind: "commercials".into() },
            0,
        )
        .unwrap();
        for s in &seeds {
            for i in 1..=s.n {
                let src = if s.kind.is_program() && s.series != Some("Taxi") {
                    other
                } else if s.series == Some("Taxi") {
                    shows
                } else {
                    other
                };
                let rec = ls::ItemRecord {
                    external_id: format!("{}/{i}", s.name),
                    kind: Some(s.kind),
                    uri: format!("file:///media/{}/{i}.mkv", s.name.replace(' ', "_")),
                    title: if s.series.is_some() { format!("{} {i}", s.name) } else { format!("{} #{i}", s.name) },
                    series: s.series.map(Into::into),
                    season: s.series.map(|_| 1),
                    episode: s.series.map(|_| i),
                    year: Some(1984),
                    plot: Some(format!("Plot of {} {i} <with> \"markup\" & more", s.name)),
                    rating: s.rating.map(Into::into),
                    genres: if s.genre.is_empty() { vec![] } else { vec![s.genre.into()] },
                    ..Default::default()
                };
                let (id, _) = ls::upsert_item(c, src, &rec, 0).unwrap();
                let facts = ls::ProbeFacts { duration_ms: Some(s.ms + i64::from(i) * 1001), ..Default::default() };
                ls::set_probe(c, id, Ok(&facts), 0).unwrap();
                if s.kind == ContentKind::Commercial {
                    let meta = SchedulingMetadata {
                        commercial_company: Some(format!("Company {}", i % 7)),
                        commercial_category: Some(format!("Category {}", i % 4)),
                        era: Some("1980s".into()),
                        ..Default::default()
                    };
                    ls::set_metadata(c, id, ls::Origin::Import, &meta, 0).unwrap();
                }
            }
        }
        (spec.clone(), shows.0)
    })
}

fn ms(v: &serde_json::Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().timestamp_millis()
}

#[test]
fn import_build_show_now_and_guides() {
    let home = Home::new();
    let (_, taxi_source) = seed(&home);
    let logo = home.path().join("logo.png");
    std::fs::write(&logo, b"\x89PNG\r\n\x1a\nfake").unwrap();
    let file = home.path().join("channels.toml");
    std::fs::write(&file, CHANNELS.replace("LOGO", &logo.display().to_string())).unwrap();
    let out = home.ok(&["channel", "import", file.to_str().unwrap()]);
    assert!(out.contains("added channel 5 Sitcom & Gold (2 slots)"), "{out}");
    let list = home.json(&["channel", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["xmltv_id"], "retrovue.ch1");

    // An overlapping grid is refused and changes nothing.
    let bad = home.path().join("bad.toml");
    std::fs::write(&bad, CHANNELS.replace("start = \"20:00\"", "start = \"19:30\"").replace("LOGO", "x.png")).unwrap();
    let r = home.run(&["channel", "import", bad.to_str().unwrap()]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("overlaps"), "{}", String::from_utf8_lossy(&r.stderr));

    home.ok(&["schedule", "build", "--days", "2"]);
    let now = chrono::Utc::now().timestamp_millis();
    let show = home.json(&["schedule", "show", "--channel", "5", "--hours", "30", "--json"]);
    let rows = show.as_array().unwrap();
    assert!(rows.len() > 100, "a day of airings: {}", rows.len());
    assert!(ms(&rows[0]["start"]) <= now && ms(&rows[0]["end"]) > now, "the first row is on now");
    for w in rows.windows(2) {
        assert_eq!(ms(&w[0]["end"]), ms(&w[1]["start"]), "no hole, no overlap: {:?} {:?}", w[0], w[1]);
    }
    for r in rows {
        let len = ms(&r["end"]) - ms(&r["start"]);
        assert_eq!(r["offset_out_ms"].as_i64().unwrap() - r["offset_in_ms"].as_i64().unwrap(), len, "{r}");
        assert!(
            !(r["kind"] == "program" && r["title"].as_str().unwrap().starts_with("Miami")),
            "TV-14 on a TV-PG channel"
        );
    }
    let kinds: std::collections::HashSet<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    for k in ["program", "commercial", "promo", "bumper", "station_id"] {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }
    // Programs start exactly on half hours: the first airing after each break that is a program's first act.
    let starts: Vec<i64> =
        rows.iter().filter(|r| r["kind"] == "program" && r["offset_in_ms"] == 0).map(|r| ms(&r["start"])).collect();
    assert!(starts.iter().all(|s| s % 1_800_000 == 0), "program starts on the boundary");

    let now_rows = home.json(&["schedule", "now", "--json"]);
    assert_eq!(now_rows.as_array().unwrap().len(), 2);
    for r in now_rows.as_array().unwrap() {
        assert!(r["title"].is_string() && r["offset_ms"].as_i64().unwrap() >= 0, "{r}");
    }

    // XMLTV validates against the DTD (offline, with the Debian supplement).
    let xml = home.ok(&["guide", "xmltv", "--days", "1", "--base-url", "http://192.0.2.7:8080"]);
    let path = home.path().join("guide.xml");
    std::fs::write(&path, &xml).unwrap();
    let v = Command::new("tv_validate_file").arg(&path).env("XMLTV_SUPPLEMENT", "/usr/share/xmltv").output().unwrap();
    assert!(
        v.status.success(),
        "tv_validate_file: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    for needle in [
        "<display-name>5 Sitcom &amp; Gold</display-name>",
        "<display-name>5</display-name>",
        "<display-name>Sitcom &amp; Gold</display-name>",
        "<display-name>12.1 Drama Nights</display-name>",
        "<icon src=\"http://192.0.2.7:8080/logos/1.png\"/>",
        " +0000\" channel=\"retrovue.ch1\"",
        "<episode-num system=\"xmltv_ns\">0.",
        "<episode-num system=\"onscreen\">S01E",
        "<rating system=\"VCHIP\">",
        "&lt;with&gt; &quot;markup&quot; &amp; more",
    ] {
        assert!(xml.contains(needle), "{needle} missing from XMLTV");
    }

    // M3U.
    let m3u = home.ok(&["guide", "m3u", "--base-url", "http://192.0.2.7:8080"]);
    assert!(m3u.starts_with("#EXTM3U x-tvg-url=\"http://192.0.2.7:8080/xmltv.xml\""), "{m3u}");
    assert!(m3u.contains("tvg-id=\"retrovue.ch2\" tvg-chno=\"12.1\" tvg-name=\"Drama Nights\""), "{m3u}");
    // The display name is the name alone: Kodi shows tvg-chno next to it (issue #19).
    assert!(m3u.contains("group-title=\"Comedy\",Sitcom & Gold\nhttp://192.0.2.7:8080/stream/5.ts\n"), "{m3u}");
    assert!(m3u.contains("tvg-logo=\"http://192.0.2.7:8080/logos/2.png\""), "a generated logo: {m3u}");

    // Items removed from the library after scheduling read back without media (slate).
    let db = Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    db.call_blocking(|c| ls::remove_source(c, retrovue::library::SourceId(taxi_source))).unwrap();
    drop(db);
    let show = home.json(&["schedule", "show", "--channel", "5", "--hours", "48", "--json"]);
    let taxi: Vec<&serde_json::Value> =
        show.as_array().unwrap().iter().filter(|r| r["title"].as_str().unwrap().starts_with("Taxi ")).collect();
    assert!(!taxi.is_empty(), "Taxi was scheduled by the default fill");
    assert!(taxi.iter().all(|r| r["uri"].is_null() && r["content_id"].is_null()), "{:?}", taxi[0]);
    // A forced rebuild no longer picks them.
    home.ok(&["schedule", "build", "--days", "2", "--force"]);
    let show = home.json(&[
        "schedule",
        "show",
        "--channel",
        "5",
        "--from",
        &chrono::DateTime::from_timestamp_millis(now + 4 * 3_600_000).unwrap().to_rfc3339(),
        "--hours",
        "20",
        "--json",
    ]);
    assert!(show.as_array().unwrap().iter().all(|r| !r["title"].as_str().unwrap().starts_with("Taxi ")));

    // The daemon serves the same guide, the playlist with the request's Host, and logos.
    let d = home.serve(&[]);
    let get = |path: &str, host: Option<&str>| {
        let mut c = Command::new("curl");
        c.args(["-s", "-o", "-", "-w", "\n%{http_code}"]);
        if let Some(h) = host {
            c.args(["-H", &format!("Host: {h}")]);
        }
        let out = c.arg(d.url(path)).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (body.to_owned(), code.to_owned())
    };
    let (xml, code) = get("/xmltv.xml", None);
    assert_eq!(code, "200");
    std::fs::write(&path, &xml).unwrap();
    let v = Command::new("tv_validate_file").arg(&path).env("XMLTV_SUPPLEMENT", "/usr/share/xmltv").output().unwrap();
    assert!(v.status.success(), "served XMLTV: {}", String::from_utf8_lossy(&v.stdout));
    let (m3u, code) = get("/playlist.m3u", Some("tv.example:8080"));
    assert_eq!(code, "200");
    assert!(m3u.contains("http://tv.example:8080/stream/5.ts"), "{m3u}");
    let (png, code) = get("/logos/1.png", None);
    assert!(code == "200" && png.ends_with("PNG\r\n\u{1a}\nfake"), "{code} {png:?}");
    // Channel 2 has no logo of its own: the generated one (a PNG).
    let (png, code) = get("/logos/2.png", None);
    assert!(code == "200" && png.starts_with("\u{fffd}PNG\r\n"), "{code} {:?}", &png[..png.len().min(16)]);
    for bad in ["/logos/99.png", "/logos/..%2F..%2Fetc%2Fpasswd", "/logos/abc.png"] {
        assert_eq!(get(bad, None).1, "404", "{bad}");
    }
}

#[test]
fn an_empty_library_still_gets_a_valid_guide_and_auto_proposes_nothing() {
    let home = Home::new();
    home.ok(&["channel", "add", "3", "--name", "Empty", "--break-style", "none"]);
    let out = home.run(&["schedule", "build", "--days", "1"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no playable episodes or movies"));
    let show = home.json(&["schedule", "show", "--channel", "3", "--hours", "2", "--json"]);
    assert!(show.as_array().unwrap().iter().all(|r| r["kind"] == "slate"));
    let xml = home.ok(&["guide", "xmltv", "--days", "1"]);
    let path = home.path().join("g.xml");
    std::fs::write(&path, xml).unwrap();
    let v = Command::new("tv_validate_file").arg(&path).env("XMLTV_SUPPLEMENT", "/usr/share/xmltv").output().unwrap();
    assert!(v.status.success());
    assert!(home.ok(&["channel", "auto"]).contains("nothing to propose"));
    let r = home.run(&["channel", "add", "4", "--name", "X", "--rating-limit", "PG-14"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("rating limit \"PG-14\": expected one of"), "{err}");
}

#[test]
fn auto_proposes_channels_from_the_library_and_applies_them() {
    let home = Home::new();
    seed(&home);
    let out = home.ok(&["channel", "auto"]);
    assert!(out.contains("Comedy Channel") && out.contains("Movie Channel"), "{out}");
    assert!(home.json(&["channel", "list", "--json"]).as_array().unwrap().is_empty());
    home.ok(&["channel", "auto", "--apply"]);
    let list = home.json(&["channel", "list", "--json"]);
    assert!(list.as_array().unwrap().len() >= 3, "{list}");
    home.ok(&["schedule", "build", "--days", "1"]);
}
