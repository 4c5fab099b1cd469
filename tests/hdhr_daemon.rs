//! The tuner path end to end on the real daemon: a scheduled channel tuned at `/auto/v<N>`
//! (as Plex's transcoder does) is H.264 + AAC in MPEG-TS, and the tuner is free again once
//! the viewer leaves.

mod util;

use std::process::Command;
use std::time::Duration;

use util::{Clip, Home};

#[test]
fn ffprobe_sees_h264_and_aac_in_mpeg_ts_on_auto_v_and_the_tuner_comes_back() {
    let home = Home::new();
    // Spots may repeat at once (two take turns), so breaks are filled with them rather than
    // the schedule's slate: whenever the test runs, an episode or a (scaled) 720p spot is on.
    home.write_config("[schedule]\ncommercial_repeat_window_min = 0\n");
    let media = home.path().join("media");
    for e in 1..=2 {
        Clip::new(640, 480, 8.0).write(&media.join(format!("shows/Foxtrot/Season 01/Foxtrot - S01E0{e} - Go.mp4")));
    }
    for spot in ["A", "B"] {
        Clip::new(1280, 720, 4.0).write(&media.join(format!("ads/Spot {spot}.mp4")));
    }
    home.ok(&["source", "add", "--folder", media.join("shows").to_str().unwrap(), "--kind", "shows"]);
    home.ok(&["source", "add", "--folder", media.join("ads").to_str().unwrap(), "--kind", "commercials"]);
    home.ok(&["scan"]);
    let file = home.path().join("channels.toml");
    std::fs::write(
        &file,
        "[[channel]]\nnumber = \"7\"\nname = \"Foxtrot TV\"\ndefault_fill = \"Foxtrot\"\n\
         [[channel.slot]]\nstart = \"00:00\"\nlength = 30\nseries = \"Foxtrot\"\n",
    )
    .unwrap();
    home.ok(&["channel", "import", file.to_str().unwrap()]);
    home.ok(&["schedule", "build", "--days", "1"]);
    let d = home.serve(&[]);

    // A viewer records the tuned channel while ffprobe probes it; meanwhile a tuner shows it.
    let capture = home.path().join("v7.ts");
    let recorder = {
        let (addr, capture) = (d.addr.clone(), capture.clone());
        std::thread::spawn(move || util::load::record(&addr, "/auto/v7", 6.0, &capture))
    };
    let held = util::wait_for(Duration::from_secs(5), || {
        let s = Command::new("curl").args(["-s", &d.url("/status.json")]).output().ok()?;
        let v: serde_json::Value = serde_json::from_slice(&s.stdout).ok()?;
        v.as_array()?.iter().any(|t| t["VctNumber"] == "7").then_some(())
    });
    assert!(held.is_some(), "no tuner shows channel 7 while it is watched:\n{}", d.stderr());
    let url = d.url("/auto/v7");
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "15000000",
            "-show_entries",
            "stream=codec_name,codec_type:format=format_name",
        ])
        .args(["-of", "default=nw=1", &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ffprobe failed: {}\n{}", String::from_utf8_lossy(&out.stderr), d.stderr());
    assert!(text.contains("format_name=mpegts"), "{text}");
    assert!(text.contains("codec_name=h264") && text.contains("codec_type=video"), "{text}");
    assert!(text.contains("codec_name=aac") && text.contains("codec_type=audio"), "{text}");

    // What the viewer got is the schedule's items: no black or silence over a second that the
    // schedule did not ask for (the card after an episode is silent).
    let first_bytes = recorder.join().unwrap().expect("the viewer of /auto/v7 got nothing");
    let (gaps, decoded) = util::load::black_and_silence(&capture, 1.0);
    // (The channel's start on a busy box takes part of the 6 s.)
    assert!(decoded > 3.5, "only {decoded:.1} s of /auto/v7 decode");
    let db = retrovue::db::Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let unasked = util::load::unasked_gaps(&db, "7", first_bytes, &gaps);
    assert!(unasked.is_empty(), "black or silence on /auto/v7: {unasked:?}");
    let at = |secs: f64| first_bytes.timestamp_millis() + (secs * 1000.0) as i64;
    let (from, to) = (at(0.0), at(decoded));
    let items: i64 = db.call_blocking(move |c| {
        c.query_row(
            "SELECT COUNT(*) FROM playout_log WHERE kind IN ('program', 'commercial') AND status != 'failed'
               AND actual_start_ms < ?2 AND COALESCE(actual_end_ms, ?2) > ?1",
            [from, to],
            |r| r.get(0),
        )
        .unwrap()
    });
    assert!(items > 0, "no episode or spot aired while /auto/v7 was watched");

    // Both have hung up: the tuner is released within a second.
    let free = util::wait_for(Duration::from_secs(1), || {
        let s = Command::new("curl").args(["-s", &d.url("/status.json")]).output().ok()?;
        let v: serde_json::Value = serde_json::from_slice(&s.stdout).ok()?;
        v.as_array()?.iter().all(|t| t.get("VctNumber").is_none_or(|n| n.is_null() || n == "")).then_some(())
    });
    assert!(free.is_some(), "tuner still held after the viewers left");
}

/// Issue #16: an always-on channel encodes all day, so it holds a tuner of its own. With one
/// tuner, a viewer of another channel is refused (805 / 503) instead of a second encode
/// starting beside it, while the always-on channel itself is shared by any number of viewers.
#[test]
fn an_always_on_channel_holds_a_tuner_of_its_own() {
    let home = Home::new();
    let media = home.path().join("media");
    Clip::new(320, 240, 6.0).write(&media.join("shows/Echo/Season 01/Echo - S01E01 - One.mp4"));
    home.ok(&["source", "add", "--folder", media.join("shows").to_str().unwrap(), "--kind", "shows"]);
    home.ok(&["scan"]);
    let file = home.path().join("channels.toml");
    std::fs::write(
        &file,
        "[[channel]]\nnumber = \"2\"\nname = \"Echo TV\"\nmode = \"always_on\"\ndefault_fill = \"Echo\"\n\
         [[channel]]\nnumber = \"3\"\nname = \"Other TV\"\ndefault_fill = \"Echo\"\n",
    )
    .unwrap();
    home.ok(&["channel", "import", file.to_str().unwrap()]);
    home.ok(&["schedule", "build", "--days", "1"]);
    home.write_config("[device]\ntuner_count = 1\n[playout]\nencoder = \"x264enc\"\n");
    let d = home.serve(&[]);

    let busy = util::wait_for(Duration::from_secs(30), || {
        let s = Command::new("curl").args(["-s", &d.url("/status.json")]).output().ok()?;
        let v: serde_json::Value = serde_json::from_slice(&s.stdout).ok()?;
        (v[0]["VctNumber"] == "2").then_some(v)
    });
    assert!(busy.is_some(), "the always-on channel holds no tuner:\n{}", d.stderr());
    let head = |path: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-D", "-", "--max-time", "3", &d.url(path)])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_lowercase()
    };
    let auto = head("/auto/v3");
    assert!(auto.starts_with("http/1.1 503") && auto.contains("x-hdhomerun-error: 805"), "{auto}");
    let m3u = head("/stream/3.ts");
    assert!(m3u.starts_with("http/1.1 503"), "{m3u}");
    // The always-on channel itself is watched through its own tuner.
    let own = head("/auto/v2?duration=1");
    assert!(own.starts_with("http/1.1 200"), "{own}");
}
