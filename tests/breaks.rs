//! Break points found in the media (issue #20): episodes generated with black-and-silent gaps
//! at known frames (after fades to black and at hard cuts) and decoys that are not breaks (a
//! dip to black under sound, a silence over the picture, a fade to a dim picture with the
//! sound gone). The loudness pass must find every gap within one frame and nothing else,
//! `library show` must list them, and until the user sets breakpoints, the item's breakpoints are the candidates.
//! Through the real daemon's web API (the item view's break editor), the user accepts, rejects
//! and moves candidates, sees a still of the frame at each, and a new pass over the changed
//! file keeps every decision.

mod util;
mod webclient;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use retrovue::library::loudness;
use serde_json::{Value, json};
use util::Home;
use util::episode::{Episode, Event, FRAME_S};
use webclient::Api;

/// 80 s: three breaks (a 15-frame fade into 30 black frames; a cut to 9; a 20-frame fade into
/// 60) and three decoys.
fn episode() -> Episode {
    Episode {
        seconds: 80.0,
        size: (640, 480),
        gop: 60,
        events: vec![
            Event::gap(600, 30, 15),
            // A dip to black under continuing sound (a scene transition): no break.
            Event { frame: 960, frames: 15, fade: 10, black: 1.0, silent: false },
            Event::gap(1350, 9, 0),
            // Silence over the picture (a pause in a scene): no break.
            Event { frame: 1650, frames: 30, fade: 0, black: 0.0, silent: true },
            // A fade to a dim picture, sound gone (a night scene): no break.
            Event { frame: 1800, frames: 40, fade: 20, black: 0.6, silent: true },
            Event::gap(2100, 60, 20),
        ],
    }
}

#[test]
fn every_gap_is_found_within_a_frame_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let ep = episode();
    let path = dir.path().join("ep.mp4");
    ep.write(&path);
    let uri = format!("file://{}", path.display());
    let a = loudness::analyse(&uri, Duration::from_secs(120), true).unwrap();
    let found = a.breaks.clone().expect("breaks were looked for");
    let want = ep.breaks();
    eprintln!("found {found:#?}\nwant {want:?}\nvideo decoded: {:.1} %", a.video_decoded * 100.0);
    assert_eq!(found.len(), want.len(), "found {found:?}, want {want:?}");
    let frame_ms = FRAME_S * 1000.0;
    for (c, (start, end)) in found.iter().zip(&want) {
        assert!((c.start_ms as f64 - start).abs() <= frame_ms, "start {} vs {start}", c.start_ms);
        assert!((c.end_ms as f64 - end).abs() <= frame_ms, "end {} vs {end}", c.end_ms);
        assert!(c.offset_ms > c.start_ms && c.offset_ms < c.end_ms);
    }
    // The faded gaps are more certain than the cut, and say how long the fade was.
    assert!(found[0].fade_ms >= 300 && found[2].fade_ms >= 400, "{found:?}");
    assert_eq!(found[1].fade_ms, 0);
    assert!(found[0].confidence > found[1].confidence);
    // The same pass measured the loudness.
    assert!(a.lufs.as_ref().is_ok_and(|l| *l > -40.0 && *l < -10.0), "{:?}", a.lufs);
    // Only the video around silences was decoded: the two 60-frame GOPs around each of the
    // five silences (three gaps, two decoys), 25 % of this short episode.
    assert!(a.video_decoded <= 0.26, "decoded {:.1} % of the video", a.video_decoded * 100.0);
    // Without looking for breaks: the same loudness, nothing decoded.
    let plain = loudness::analyse(&uri, Duration::from_secs(120), false).unwrap();
    assert!(plain.breaks.is_none());
    assert!((plain.lufs.unwrap() - a.lufs.unwrap()).abs() < 0.01);
}

#[test]
fn the_scan_lists_candidates_and_they_are_the_breakpoints_until_the_user_decides() {
    let home = Home::new();
    let shows = home.path().join("shows");
    let ep = episode();
    ep.write(&shows.join("Gap Show/Season 01/Gap Show - S01E01 - Pilot.mp4"));
    home.ok(&["source", "add", "--folder", shows.to_str().unwrap(), "--kind", "shows"]);
    home.ok(&["scan"]);
    let items = home.json(&["library", "list", "--json"]);
    let id = items[0]["id"].as_i64().unwrap().to_string();
    let show = home.json(&["library", "show", &id, "--json"]);
    let candidates = show["break_candidates"].as_array().unwrap().clone();
    assert_eq!(candidates.len(), 3, "{show:#}");
    let offsets: Vec<i64> = candidates.iter().map(|c| c["offset_ms"].as_i64().unwrap()).collect();
    // Without chapters, .nfo or hand-set breakpoints, the candidates are the breakpoints.
    assert_eq!(
        show["breakpoints"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect::<Vec<_>>(),
        offsets
    );
    let text = home.ok(&["library", "show", &id]);
    assert!(text.contains("break candidates") && text.contains("fade"), "{text}");
    // A hand-set breakpoint wins over every candidate.
    home.ok(&["library", "edit", &id, "--breakpoints", "0:50"]);
    let show = home.json(&["library", "show", &id, "--json"]);
    assert_eq!(show["breakpoints"], serde_json::json!([50_000]));
    assert_eq!(show["break_candidates"].as_array().unwrap().len(), 3, "candidates stay listed");
}

/// Mean luma (0-255) of a JPEG, decoded by ffmpeg.
fn mean_luma(jpeg: &[u8], dir: &Path) -> f64 {
    let path = dir.join("still.jpg");
    std::fs::write(&path, jpeg).unwrap();
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success() && !out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout.iter().map(|&v| f64::from(v)).sum::<f64>() / out.stdout.len() as f64
}

fn offsets(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_break_editor_accepts_rejects_and_moves_and_a_new_pass_keeps_the_decisions() {
    let home = Home::new();
    let shows = home.path().join("shows");
    let file = shows.join("Gap Show/Season 01/Gap Show - S01E01 - Pilot.mp4");
    let ep = episode();
    ep.write(&file);
    home.ok(&["source", "add", "--folder", shows.to_str().unwrap(), "--kind", "shows"]);
    home.ok(&["scan"]);
    let id = home.json(&["library", "list", "--json"])[0]["id"].as_i64().unwrap();
    let daemon = home.serve(&[]);
    let mut api = Api::new(daemon.url(""));
    api.setup("correct horse battery").await;
    let item = api.get(&format!("/api/items/{id}")).await;
    assert_eq!(item.status, StatusCode::OK, "{}", item.text());
    let cands = item.json["break_candidates"].as_array().unwrap().clone();
    assert_eq!(cands.len(), 3, "{}", item.text());
    assert!(cands.iter().all(|c| c["state"] == "candidate"), "{cands:?}");
    let starts: Vec<i64> = cands.iter().map(|c| c["start_ms"].as_i64().unwrap()).collect();
    let found: Vec<i64> = cands.iter().map(|c| c["offset_ms"].as_i64().unwrap()).collect();
    assert_eq!(offsets(&item.json["breakpoints"]), found, "undecided candidates are the breakpoints");

    // A still of the frame at each candidate: black (the gap), half the width of the item's
    // preview; the item's preview (a tenth in) is the bright test picture.
    let dir = tempfile::tempdir().unwrap();
    for &at in &found {
        let still = api.get(&format!("/api/items/{id}/still.jpg?at={at}")).await;
        assert_eq!(still.status, StatusCode::OK, "{}", still.text());
        assert_eq!(still.headers["content-type"], "image/jpeg");
        let luma = mean_luma(&still.bytes, dir.path());
        assert!(luma < 20.0, "the still at {at} ms is the black gap: mean luma {luma:.1}");
        // Two seconds before it, the programme: the still is of the frame asked for.
        let before = api.get(&format!("/api/items/{id}/still.jpg?at={}", at - 2000)).await;
        let luma = mean_luma(&before.bytes, dir.path());
        assert!(luma > 60.0, "the still 2 s before {at} ms shows the picture: mean luma {luma:.1}");
    }
    let preview = api.get(&format!("/api/items/{id}/still.jpg")).await;
    let luma = mean_luma(&preview.bytes, dir.path());
    assert!(luma > 60.0, "the preview shows the picture: mean luma {luma:.1}");

    // Reject the first, move the third 2 s earlier (accepted), leave the second undecided.
    let path = |start: i64| format!("/api/items/{id}/candidates/{start}");
    let r = api.change(Method::PUT, &path(starts[0]), &json!({ "state": "rejected" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["break_candidates"][0]["state"], "rejected");
    assert_eq!(offsets(&r.json["breakpoints"]), found[1..], "a rejected candidate is no break");
    let moved = found[2] - 2_000;
    let r = api.change(Method::PUT, &path(starts[2]), &json!({ "state": "accepted", "offset_ms": moved })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json["break_candidates"][2]["state"], "accepted");
    assert_eq!(r.json["break_candidates"][2]["offset_ms"], moved);
    assert_eq!(
        offsets(&r.json["breakpoints"]),
        [moved],
        "an accepted candidate is hand-set: it wins over the undecided"
    );
    // Out of the item, or no such candidate: refused, nothing changed.
    let bad = api.change(Method::PUT, &path(starts[1]), &json!({ "state": "accepted", "offset_ms": 999_999 })).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
    let none = api.change(Method::PUT, &path(1), &json!({ "state": "accepted" })).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.text());
    let nocsrf = api.send(Method::PUT, &path(starts[1]), Some(&json!({ "state": "rejected" })), false).await;
    assert_eq!(nocsrf.status, StatusCode::FORBIDDEN, "{}", nocsrf.text());
    drop(daemon);

    // `library show` lists each candidate with its decision.
    let text = home.ok(&["library", "show", &id.to_string()]);
    eprintln!("{text}");
    for want in ["rejected", "accepted", "candidate"] {
        assert!(text.contains(want), "library show lists a {want} break:\n{text}");
    }

    // The file changes (another keyframe interval): the new pass finds the gaps again and
    // keeps every decision.
    Episode { gop: 45, ..ep }.write(&file);
    home.ok(&["scan"]);
    let show = home.json(&["library", "show", &id.to_string(), "--json"]);
    let again = show["break_candidates"].as_array().unwrap();
    let states: Vec<&str> = again.iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["rejected", "candidate", "accepted"], "{show:#}");
    assert_eq!(again[2]["offset_ms"], moved, "the moved break stays where the user put it");
    assert_eq!(offsets(&show["breakpoints"]), [moved]);
}
