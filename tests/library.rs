//! The content library through the real `retrovue` binary: folder sources built from
//! generated clips, broken and hostile files, incremental rescans, user edits, and a scan
//! killed with SIGKILL half-way.

mod util;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use util::{Clip, Home};

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn items(home: &Home) -> Vec<Value> {
    home.json(&["library", "list", "--json"]).as_array().unwrap().clone()
}

fn by_title<'a>(items: &'a [Value], title: &str) -> &'a Value {
    items.iter().find(|i| i["title"] == title).unwrap_or_else(|| panic!("no item {title:?} in {items:#?}"))
}

/// A shows folder with good clips, broken files, hostile `.nfo`s and a non-UTF-8 name.
fn build_shows(root: &Path) {
    let show = root.join("Retro Robots");
    write(
        &show.join("tvshow.nfo"),
        "<tvshow><title>Retro Robots</title><mpaa>TV-Y7</mpaa><genre>Animation</genre>\
         <retrovue><era>1986</era><daypart>morning</daypart></retrovue></tvshow>",
    );
    let s1 = show.join("Season 01");
    Clip::new(320, 240, 2.0).write(&s1.join("Retro Robots - S01E01 - Boot Sequence.mp4"));
    write(
        &s1.join("Retro Robots - S01E01 - Boot Sequence.nfo"),
        "<episodedetails><title>Boot Sequence</title><season>1</season><episode>1</episode>\
         <aired>1986-09-01</aired><tag>retrovue:daypart=afternoon</tag>\
         <retrovue><breakpoint>0:00.5</breakpoint><breakpoint>1500</breakpoint></retrovue></episodedetails>",
    );
    let mut wide = Clip::new(426, 240, 2.0);
    wide.freq = 880;
    wide.write(&s1.join("Retro Robots - S01E02 - The Big Beep.mkv"));
    // Hostile .nfo files: the items are still imported from their names.
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY a \"aaaaaaaaaa\">{}]><episodedetails><title>&a9;</title></episodedetails>",
        (1..10).map(|i| format!("<!ENTITY a{i} \"{}\">", format!("&a{};", i - 1).repeat(10))).collect::<String>()
    );
    write(&s1.join("Retro Robots - S01E02 - The Big Beep.nfo"), laughs.replace("&a0;", "&a;"));
    let mut silent = Clip::new(320, 240, 2.0);
    silent.audio = false;
    silent.write(&s1.join("Retro Robots - S01E03 - Silent Night.mp4"));
    write(
        &s1.join("Retro Robots - S01E03 - Silent Night.nfo"),
        format!("<episodedetails>{}</episodedetails>", "<a>".repeat(5000)),
    );
    std::fs::copy(s1.join("Retro Robots - S01E03 - Silent Night.mp4"), s1.join("Retro Robots - S01E04 - Huge.mp4"))
        .unwrap();
    write(&s1.join("Retro Robots - S01E04 - Huge.nfo"), vec![b' '; 2 * 1024 * 1024]);
    // Broken media.
    let junk: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    write(&s1.join("Retro Robots - S01E05 - Random Bytes.mp4"), junk);
    write(&s1.join("Retro Robots - S01E06 - Empty.mkv"), b"");
    let good = std::fs::read(s1.join("Retro Robots - S01E01 - Boot Sequence.mp4")).unwrap();
    write(&s1.join("Retro Robots - S01E07 - Truncated.mp4"), &good[..good.len() / 2]);
    write(
        &s1.join("Retro Robots - S01E08 - Broken Nfo.mkv"),
        std::fs::read(s1.join("Retro Robots - S01E02 - The Big Beep.mkv")).unwrap(),
    );
    write(&s1.join("Retro Robots - S01E08 - Broken Nfo.nfo"), "<episodedetails><title>Never closed");
    // A name that is not UTF-8.
    let latin1 = s1.join(std::ffi::OsStr::from_bytes(b"Retro Robots - S01E09 - Caf\xe9.mp4"));
    std::fs::copy(s1.join("Retro Robots - S01E01 - Boot Sequence.mp4"), &latin1).unwrap();
    // Not media at all.
    write(&s1.join("notes.txt"), "hello");
}

#[test]
fn folder_scan_imports_reports_and_survives_bad_input() {
    let home = Home::new();
    let shows = home.path().join("media/shows");
    build_shows(&shows);
    let out = home.ok(&["source", "add", "--folder", shows.to_str().unwrap(), "--kind", "shows", "--name", "Shows"]);
    assert!(out.contains("source 1 Shows"), "{out}");
    // Adding the same folder again does not duplicate it: it says so and points to the edit.
    let again = home.run(&["source", "add", "--folder", shows.to_str().unwrap(), "--kind", "shows"]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("retrovue source edit 1"));
    assert_eq!(home.json(&["source", "list", "--json"]).as_array().unwrap().len(), 1);
    let bad = home.run(&["source", "add", "--folder", shows.to_str().unwrap(), "--kind", "cartoons"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("unknown folder kind"));

    let summary = home.json(&["scan", "--json"]);
    assert_eq!(summary["added"], 9, "{summary:#}");
    assert_eq!(summary["unplayable"], 3, "{summary:#}");
    assert_eq!(summary["removed"], 0);
    let errors = summary["sources"][0]["errors"].to_string();
    for hostile in ["Silent Night.nfo", "Huge.nfo", "Broken Nfo.nfo"] {
        assert!(errors.contains(hostile), "{hostile} not reported: {errors}");
    }

    let list = items(&home);
    assert_eq!(list.len(), 9);
    let e1 = by_title(&list, "Boot Sequence");
    assert_eq!(e1["series"], "Retro Robots");
    assert_eq!((e1["season"].as_u64(), e1["episode"].as_u64(), e1["year"].as_i64()), (Some(1), Some(1), Some(1986)));
    assert_eq!(e1["rating"], "TV-Y7");
    assert_eq!(e1["kind"], "episode");
    assert!(e1["playable"].as_bool().unwrap());
    let d = e1["duration_ms"].as_i64().unwrap();
    assert!((1900..2200).contains(&d), "duration {d}");
    assert_eq!(e1["meta"]["daypart"], serde_json::json!(["afternoon"]));
    assert_eq!(e1["meta"]["era"], "1980s");
    assert_eq!(e1["breakpoints"], serde_json::json!([500, 1500]));
    assert!(e1["loudness_lufs"].as_f64().unwrap() < -5.0);
    for key in ["id", "source_id", "uri", "error"] {
        assert!(e1.get(key).is_some(), "{key} missing");
    }
    // The billion-laughs .nfo was read without expanding anything.
    let e2 = by_title(&list, "&a9;");
    assert_eq!(e2["episode"], 2);
    // Hostile or broken .nfo: imported from the file name.
    for t in ["Silent Night", "Huge", "Broken Nfo"] {
        let i = by_title(&list, t);
        assert_eq!(i["series"], "Retro Robots");
        assert!(i["playable"].as_bool().unwrap(), "{t}");
    }
    let silent = by_title(&list, "Silent Night");
    assert!(silent["loudness_lufs"].is_null());
    let show = home.json(&["library", "show", &silent["id"].to_string(), "--json"]);
    assert_eq!(show["loudness_error"], "no audio stream");
    assert_eq!(show["probe"]["audio_codec"], Value::Null);
    assert_eq!(show["probe"]["display_aspect"], "4:3");
    let wide = home.json(&["library", "show", &e2["id"].to_string(), "--json"]);
    assert_eq!(wide["probe"]["display_aspect"], "16:9");
    assert_eq!(wide["probe"]["video_codec"], "h264");
    assert_eq!(wide["probe"]["audio_codec"], "aac");
    // Broken media: kept, unplayable, with the reason.
    for (t, why) in [("Random Bytes", ""), ("Empty", "empty file"), ("Truncated", "")] {
        let i = by_title(&list, t);
        assert!(!i["playable"].as_bool().unwrap(), "{t} should be unplayable");
        assert!(i["error"].as_str().unwrap().contains(why), "{t}: {}", i["error"]);
    }
    // The non-UTF-8 name: shown lossily, played through its exact bytes.
    let cafe = list.iter().find(|i| i["episode"] == 9).unwrap();
    assert_eq!(cafe["title"], "Caf\u{fffd}");
    assert!(cafe["uri"].as_str().unwrap().ends_with("Caf%E9.mp4"), "{}", cafe["uri"]);
    assert!(cafe["playable"].as_bool().unwrap());
    // Text view: durations as hh:mm:ss.ff.
    let text = home.ok(&["library", "show", &e1["id"].to_string()]);
    assert!(text.contains("00:00:02."), "{text}");
    assert!(text.contains("00:00:00.50 (nfo)"), "{text}");
    let found = home.json(&["library", "list", "--search", "BOOT", "--json"]);
    assert_eq!(found.as_array().unwrap().len(), 1);
}

#[test]
fn rescans_are_incremental_and_keep_user_edits() {
    let home = Home::new();
    let ads = home.path().join("media/ads");
    Clip::new(320, 240, 1.0).write(&ads.join("Acme Toys 15s.mp4"));
    let mut b = Clip::new(320, 240, 1.0);
    b.volume = 0.9;
    b.write(&ads.join("Fizz Cola.mp4"));
    write(
        &ads.join("Fizz Cola.nfo"),
        "<movie><title>Fizz Cola</title><retrovue><company>Fizz Co</company><category>soda</category>\
         <era>1990s</era></retrovue></movie>",
    );
    home.ok(&["source", "add", "--folder", ads.to_str().unwrap(), "--kind", "commercials"]);
    let first = home.json(&["scan", "--json"]);
    assert_eq!(first["added"], 2);
    let list = items(&home);
    let fizz = by_title(&list, "Fizz Cola");
    let acme = by_title(&list, "Acme Toys 15s");
    assert_eq!(fizz["kind"], "commercial");
    assert_eq!(fizz["meta"]["commercial_company"], "Fizz Co");
    assert!(fizz["loudness_lufs"].as_f64().unwrap() > acme["loudness_lufs"].as_f64().unwrap() + 5.0);
    let (fid, aid) = (fizz["id"].to_string(), acme["id"].to_string());
    let probed = |id: &str| home.json(&["library", "show", id, "--json"])["probed_at"].as_i64().unwrap();
    let (fizz_probed, acme_probed) = (probed(&fid), probed(&aid));

    // User edits.
    let edited = home.json(&[
        "library",
        "edit",
        &fid,
        "--daypart",
        "primetime,late_night",
        "--company",
        "Fizz Beverage",
        "--rating",
        "tv-pg",
        "--breakpoints",
        "0:00.25,0:00.75",
        "--json",
    ]);
    assert_eq!(edited["meta"]["daypart"], serde_json::json!(["primetime", "late_night"]));
    assert_eq!(edited["breakpoints"], serde_json::json!([250, 750]));
    assert!(!home.run(&["library", "edit", &fid, "--breakpoints", "soon"]).status.success());

    // Unchanged: nothing re-probed.
    std::thread::sleep(Duration::from_millis(20));
    let again = home.json(&["scan", "--json"]);
    assert_eq!(
        (again["added"].as_u64(), again["updated"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(0), Some(2))
    );
    assert_eq!((probed(&fid), probed(&aid)), (fizz_probed, acme_probed));

    // The .nfo changes: imported values follow, user values win, no re-probe.
    write(
        &ads.join("Fizz Cola.nfo"),
        "<movie><title>Fizz Cola Classic</title><retrovue><company>Fizz Co</company><category>soft drinks</category>\
         <era>1990s</era><daypart>daytime</daypart></retrovue></movie>",
    );
    let third = home.json(&["scan", "--json"]);
    assert_eq!(third["updated"], 1, "{third:#}");
    let f = home.json(&["library", "show", &fid, "--json"]);
    assert_eq!(f["title"], "Fizz Cola Classic");
    assert_eq!(f["meta"]["commercial_category"], "soft drinks");
    assert_eq!(f["meta"]["commercial_company"], "Fizz Beverage");
    assert_eq!(f["meta"]["daypart"], serde_json::json!(["primetime", "late_night"]));
    assert_eq!(f["meta"]["content_rating"], "TV-PG");
    assert_eq!(f["breakpoints"], serde_json::json!([250, 750]));
    assert_eq!(f["probed_at"].as_i64().unwrap(), fizz_probed);

    // The media file changes: re-probed.
    Clip::new(320, 240, 1.5).write(&ads.join("Acme Toys 15s.mp4"));
    let fourth = home.json(&["scan", "--json"]);
    assert_eq!(fourth["updated"], 1);
    let a = home.json(&["library", "show", &aid, "--json"]);
    assert!(a["probed_at"].as_i64().unwrap() > acme_probed);
    assert!(a["duration_ms"].as_i64().unwrap() > 1300);

    // A vanished file is kept but gone; coming back restores it with the same id.
    let moved = home.path().join("Fizz Cola.mp4");
    std::fs::rename(ads.join("Fizz Cola.mp4"), &moved).unwrap();
    let fifth = home.json(&["scan", "--json"]);
    assert_eq!(fifth["removed"], 1);
    assert!(items(&home).iter().all(|i| i["id"].as_i64() != fid.parse().ok()));
    std::fs::rename(&moved, ads.join("Fizz Cola.mp4")).unwrap();
    let sixth = home.json(&["scan", "--json"]);
    assert_eq!(sixth["updated"], 1);
    let back = home.json(&["library", "show", &fid, "--json"]);
    assert_eq!(back["meta"]["commercial_company"], "Fizz Beverage");
    assert_eq!(back["gone"], false);

    // The folder disappears entirely: the source fails, nothing is lost.
    let away = home.path().join("ads-away");
    std::fs::rename(&ads, &away).unwrap();
    let out = home.run(&["scan", "--json"]);
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["sources"][0]["error"].as_str().unwrap().contains("cannot read folder"), "{report:#}");
    assert_eq!(items(&home).len(), 2);
    let sources = home.json(&["source", "list", "--json"]);
    assert!(sources[0]["last_error"].as_str().unwrap().contains("cannot read folder"));
}

#[test]
fn unreadable_subfolders_lose_nothing() {
    let home = Home::new();
    let root = home.path().join("media/bumpers");
    Clip::new(160, 120, 1.0).write(&root.join("a/Back Soon.mp4"));
    Clip::new(160, 120, 1.0).write(&root.join("b/Now Back.mp4"));
    home.ok(&["source", "add", "--folder", root.to_str().unwrap(), "--kind", "bumpers"]);
    assert_eq!(home.json(&["scan", "--json"])["added"], 2);
    // A symlink loop (reported by the walk) and, where permissions apply, an unreadable folder.
    std::os::unix::fs::symlink(&root, root.join("a/loop")).unwrap();
    let b = root.join("b");
    let status = std::process::Command::new("chmod").arg("000").arg(&b).status().unwrap();
    assert!(status.success());
    let report = home.json(&["scan", "--json"]);
    let _ = std::process::Command::new("chmod").arg("755").arg(&b).status();
    let errors = report["sources"][0]["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e["item"].as_str().unwrap().contains("loop")), "{report:#}");
    assert_eq!(report["removed"], 0, "{report:#}");
    assert_eq!(items(&home).len(), 2);
}

#[test]
fn a_scan_killed_midway_then_rescanned_equals_a_clean_scan() {
    let media = tempfile::tempdir().unwrap();
    let root = media.path().join("shows");
    let seed = root.join("seed/Show - S01E01 - Seed.mp4");
    Clip::new(160, 120, 1.0).write(&seed);
    for e in 2..=100 {
        let p = root.join(format!("Show/Season 01/Show - S01E{e:02} - Part {e}.mp4"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::hard_link(&seed, &p).unwrap();
        if e % 3 == 0 {
            write(
                &p.with_extension("nfo"),
                format!(
                    "<episodedetails><title>Nfo {e}</title><retrovue><breakpoint>{e}</breakpoint></retrovue></episodedetails>"
                ),
            );
        }
    }
    let killed = Home::new();
    killed.ok(&["source", "add", "--folder", root.to_str().unwrap(), "--kind", "shows"]);
    let mut child = std::process::Command::new(util::bin())
        .args(["scan", "--no-loudness"])
        .env("RETROVUE_DATA_DIR", killed.data_dir())
        .current_dir(killed.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a few items are in but not all are probed.
    let partial = util::wait_for(Duration::from_secs(60), || {
        let l = items(&killed);
        let probed = l.iter().filter(|i| i["duration_ms"].is_i64()).count();
        (probed >= 3).then_some(probed)
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(partial.unwrap() < 100, "the scan finished before it could be killed");
    let check: String = retrovue::db::Db::open(&killed.data_dir().join("retrovue.db"))
        .unwrap()
        .call_blocking(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap());
    assert_eq!(check, "ok", "the database is damaged after SIGKILL during a scan");
    killed.ok(&["scan", "--no-loudness"]);

    let clean = Home::new();
    clean.ok(&["source", "add", "--folder", root.to_str().unwrap(), "--kind", "shows"]);
    clean.ok(&["scan", "--no-loudness"]);
    let (a, b) = (items(&killed), items(&clean));
    assert_eq!(a.len(), 100);
    assert_eq!(a, b);
    for i in &a {
        let id = i["id"].to_string();
        let (mut da, mut db) =
            (killed.json(&["library", "show", &id, "--json"]), clean.json(&["library", "show", &id, "--json"]));
        for d in [&mut da, &mut db] {
            d.as_object_mut().unwrap().remove("probed_at");
        }
        assert_eq!(da, db);
    }
}

#[test]
fn plex_tokens_are_never_printed_in_full() {
    let home = Home::new();
    let token = "abcdefghijklmnopqrstuvwxyz";
    home.ok(&["source", "add", "--plex", "http://127.0.0.1:9", "--token", token, "--library", "Movies"]);
    let json = home.ok(&["source", "list", "--json"]);
    let text = home.ok(&["source", "list"]);
    assert!(!json.contains(token) && !text.contains(token), "{json}\n{text}");
    assert!(json.contains("••••wxyz"), "masked the one way: {json}");
    // The server is down: the scan says so per source and fails.
    let out = home.run(&["scan", "--json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("cannot reach Plex"));
    home.ok(&["source", "remove", "1"]);
    assert!(!home.run(&["source", "remove", "1"]).status.success());
}

#[test]
fn demo_library_is_generated_registered_and_idempotent() {
    let home = Home::new();
    let dir = home.path().join("demo");
    let started = std::time::Instant::now();
    home.ok(&["demo", "--dir", dir.to_str().unwrap()]);
    let first_run = started.elapsed();
    let sources = home.json(&["source", "list", "--json"]);
    assert_eq!(sources.as_array().unwrap().len(), 7);
    let list = items(&home);
    assert!(list.iter().all(|i| i["playable"] == true), "{list:#?}");
    let count = |kind: &str| list.iter().filter(|i| i["kind"] == kind).count();
    assert_eq!((count("episode"), count("commercial"), count("bumper"), count("station_id")), (4, 10, 2, 2));
    assert_eq!((count("intro"), count("outro"), count("slate")), (1, 1, 1));
    let robots = list.iter().filter(|i| i["series"] == "Retro Robots" && i["kind"] == "episode").collect::<Vec<_>>();
    assert_eq!(robots.len(), 2);
    assert_eq!(robots[0]["breakpoints"], serde_json::json!([20_000, 40_000]), "chapters become breakpoints");
    assert_eq!(robots[0]["meta"]["era"], "1980s");
    let desk = list.iter().find(|i| i["series"] == "Night Desk").unwrap();
    assert_eq!(desk["breakpoints"], serde_json::json!([20_000, 40_500]), ".nfo breakpoints");
    assert_eq!(desk["rating"], "TV-14");
    let ads: Vec<&Value> = list.iter().filter(|i| i["kind"] == "commercial").collect();
    let distinct = |key: &str| {
        ads.iter().map(|a| a["meta"][key].as_str().unwrap().to_owned()).collect::<std::collections::BTreeSet<_>>().len()
    };
    assert!(distinct("commercial_company") >= 8 && distinct("commercial_category") >= 6 && distinct("era") >= 3);
    let lengths: std::collections::BTreeSet<i64> =
        ads.iter().map(|a| a["duration_ms"].as_i64().unwrap() / 1000).collect();
    assert_eq!(lengths, [15, 30].into_iter().collect());
    let loud = ads.iter().find(|a| a["title"] == "LOUD Mattress Sale").unwrap()["loudness_lufs"].as_f64().unwrap();
    assert!(
        ads.iter()
            .filter(|a| a["title"] != "LOUD Mattress Sale")
            .all(|a| a["loudness_lufs"].as_f64().unwrap() < loud - 6.0)
    );
    let aspects: std::collections::BTreeSet<String> = list
        .iter()
        .map(|i| {
            home.json(&["library", "show", &i["id"].to_string(), "--json"])["probe"]["display_aspect"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(aspects, ["16:9".to_owned(), "4:3".to_owned()].into_iter().collect());
    let silent = list.iter().filter(|i| i["loudness_lufs"].is_null()).collect::<Vec<_>>();
    assert_eq!(silent.len(), 1, "exactly one clip without audio");
    // Again: nothing regenerated, nothing duplicated.
    let started = std::time::Instant::now();
    home.ok(&["demo", "--dir", dir.to_str().unwrap()]);
    assert!(started.elapsed() < first_run / 3, "second run regenerated clips");
    assert_eq!(home.json(&["source", "list", "--json"]).as_array().unwrap().len(), 7);
    assert_eq!(items(&home), list);
}
