//! Break points found in the media (issue #20): episodes generated with black-and-silent gaps
//! at known frames (after fades to black and at hard cuts) and decoys that are not breaks (a
//! dip to black under sound, a silence over the picture, a fade to a dim picture with the
//! sound gone). The loudness pass must find every gap within one frame and nothing else,
//! `library show` must list them, and until the user sets breakpoints, the item's breakpoints are the candidates.

mod util;

use std::time::Duration;

use retrovue::library::loudness;
use util::Home;
use util::episode::{Episode, Event, FRAME_S};

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
fn the_scan_lists_candidates_and_the_schedule_breaks_there_until_the_user_decides() {
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
