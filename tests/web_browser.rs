//! The web page end to end in headless Chromium (WebDriver) against the real daemon on
//! loopback: first-run password, login, a folder source, a channel, an emergency alert,
//! a setting; a screenshot of every page is saved under
//! `$CARGO_TARGET_TMPDIR/web-screenshots/` (the path is printed).

mod util;
mod webdriver;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use util::{Clip, Home};
use webdriver::Browser;

const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_sets_up_logs_in_and_manages_the_box() {
    let home = Home::new();
    let media = home.path().join("media/Test Show/Season 01");
    Clip::new(320, 240, 2.0).write(&media.join("Test Show - S01E01 - Pilot.mp4"));
    // Two spots that may follow each other fill the breaks of the 2 s episode's half hours,
    // so whenever the test runs the preview shows a programme (colour bars), not the slate.
    home.write_config("[schedule]\ncommercial_repeat_window_min = 0\n");
    let ads = home.path().join("ads");
    for spot in ["A", "B"] {
        Clip::new(1280, 720, 4.0).write(&ads.join(format!("Spot {spot}.mp4")));
    }
    let daemon = home.serve(&[]);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    let b = Browser::start(&shots).await;
    println!("screenshots: {}", shots.display());

    // First run: the page asks for the admin password; nothing else is reachable.
    b.goto(&daemon.url("/")).await;
    b.wait_text("First run", 10).await;
    b.screenshot("01-first-run").await;
    b.fill("#setup-form [name=password]", PASSWORD).await;
    b.fill("#setup-form [name=password2]", PASSWORD).await;
    b.click("#setup-form button[type=submit]").await;
    b.wait_text("The box", 10).await;
    b.wait_text("CPU", 10).await;

    // Log out and back in.
    b.goto(&daemon.url("/#/settings")).await;
    b.click("#logout").await;
    b.wait_text("Log in to manage", 10).await;
    b.screenshot("02-login").await;
    b.fill("#login-form [name=password]", "wrong password").await;
    b.click("#login-form button[type=submit]").await;
    b.wait_text("wrong user name or password", 10).await;
    b.fill("#login-form [name=password]", PASSWORD).await;
    b.click("#login-form button[type=submit]").await;
    b.wait_text("The box", 10).await;

    // Sources: test, then add the folder.
    b.goto(&daemon.url("/#/sources")).await;
    b.wait_text("Add a source", 10).await;
    let folder = home.path().join("media");
    b.fill("#source-form [name=path]", &folder.display().to_string()).await;
    b.click("#source-test").await;
    b.wait_text("1 media file found", 10).await;
    b.click("#source-add").await;
    b.wait_text("Remove", 10).await;
    assert!(b.text().await.contains(&folder.display().to_string()));
    // A second folder, of commercials.
    b.fill("#source-form [name=path]", &ads.display().to_string()).await;
    b.choose("#source-form [name=content_kind]", "commercials").await;
    b.click("#source-add").await;
    b.wait_text(&ads.display().to_string(), 10).await;
    b.click("#scan-start").await;
    b.find("#scan-report").await;
    b.wait_text("Last scan finished", 30).await;
    let added = b.js("return document.querySelector('#scan-report .bigstat').textContent", json!([])).await;
    assert_eq!(added, "3", "one episode and two spots added");
    // Edit the source in place (issue 16): rename it through the dialog.
    b.click("#source-edit-1").await;
    b.fill("#source-edit-form [name=name]", "Den shows").await;
    b.click("#dialog-ok").await;
    b.wait_text("Saved Den shows", 10).await;
    b.wait_text("Den shows", 10).await;
    b.screenshot("03-sources").await;

    // Channels: create one, edit it.
    b.goto(&daemon.url("/#/channels")).await;
    b.wait_text("New channel", 10).await;
    b.click("#rebuild-now").await;
    b.wait_text("Rebuilt 0 channel schedules", 10).await;
    b.fill("#channel-form [name=number]", "5").await;
    b.fill("#channel-form [name=name]", "Sitcom Gold").await;
    b.fill("#channel-form [name=call_sign]", "SITG").await;
    b.click("#channel-form button[type=submit]").await;
    b.wait_text("5 Sitcom Gold", 10).await;
    b.choose("#channel-edit [name=break_style]", "uk").await;
    b.click("#channel-edit button[type=submit]").await;
    b.wait_text("Channel saved", 10).await;
    // The week grid: make a block and drop it on every day at midnight (tap, then tap).
    b.choose("#week-editor [name=kind]", "series").await;
    b.fill("#week-editor [name=value]", "Test Show").await;
    b.choose("#week-editor [name=len]", "180").await;
    b.click("#palette-add").await;
    b.click(".palette .block").await;
    for day in 0..7 {
        b.js(
            "const col = document.querySelector(`.week .day[data-day='${arguments[0]}']`); const r = col.getBoundingClientRect(); \
             col.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: r.left + 5, clientY: r.top + 2}));",
            json!([day]),
        )
        .await;
    }
    // Drag and drop, with the drag events a mouse makes: Sunday's block moves to 06:00, and a
    // palette block lands on Wednesday at 12:00.
    let drag = "const [from, day, hour] = arguments; const col = document.querySelector(`.week .day[data-day='${day}']`); \
                const dt = new DataTransfer(); document.querySelector(from).dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: dt})); \
                const r = col.getBoundingClientRect(); \
                const at = {bubbles: true, cancelable: true, dataTransfer: dt, clientX: r.left + 5, clientY: r.top + hour * 24 + 2}; \
                col.dispatchEvent(new DragEvent('dragover', at)); col.dispatchEvent(new DragEvent('drop', at)); \
                return [...document.querySelectorAll(`.week .day[data-day='${day}'] .block`)].map((b) => b.textContent);";
    let sunday = b.js(drag, json!([".week .day[data-day='6'] .block", 6, 6])).await;
    assert_eq!(sunday, json!(["06:00 Test Show"]));
    let wednesday = b.js(drag, json!([".palette .block", 2, 12])).await;
    assert_eq!(wednesday, json!(["00:00 Test Show", "12:00 Test Show"]));
    b.click("#grid-save").await;
    b.wait_text("Grid saved", 20).await;
    // The grid comes back as saved.
    b.js("location.reload()", json!([])).await;
    b.find(".week .day[data-day='2'] .block + .block").await;
    let week = b
        .js(
            "return [...document.querySelectorAll('.week .day')].map((d) => [...d.querySelectorAll('.block')].map((b) => b.textContent).join(' + '));",
            json!([]),
        )
        .await;
    let mut expected = vec!["00:00 Test Show"; 7];
    expected[2] = "00:00 Test Show + 12:00 Test Show";
    expected[6] = "06:00 Test Show";
    assert_eq!(week, json!(expected));
    b.screenshot("04-channel-editor").await;
    b.goto(&daemon.url("/#/channels")).await;
    b.wait_text("uk", 10).await;
    b.screenshot("05-channels").await;

    // The guide shows the channel from the same schedule; clicking it opens the player.
    b.goto(&daemon.url("/#/guide")).await;
    b.find("#guide .guide-prog.current").await;
    b.wait_text("Test Show", 10).await;
    b.screenshot("05b-guide").await;
    // The player script loads on first use only.
    assert_eq!(b.js("return typeof window.Hls", json!([])).await, "undefined");
    b.click("#guide .guide-ch").await;
    b.find("#player video").await;
    let play = watch_preview(&b, 60).await;
    println!(
        "preview: {}, readyState >= 2 {:.1} s after the click, currentTime {:.2} -> {:.2} s in {:.1} s, {} frames decoded",
        play.player, play.ready_after_s, play.t0, play.t1, play.wall_s, play.frames
    );
    b.screenshot("05c-guide-preview").await;
    // What the preview shows is the programme: the clips' colour bars, read from its frames.
    let bars = watch_bars(&b, 8, 30).await;
    println!("preview pictures: {bars}");
    // The player has polled the playlist every 2 s since the click: still one viewer.
    let viewers = b
        .js(
            "const x = new XMLHttpRequest(); x.open('GET', '/api/status', false); x.send(); \
             return JSON.parse(x.responseText).channels.map((c) => [c.number, c.viewers]);",
            json!([]),
        )
        .await;
    assert_eq!(viewers, json!([["5", 1]]), "one preview is one viewer");
    b.click("#preview-close").await;
    assert_eq!(b.js("return [document.querySelector('#player video'), S.hls]", json!([])).await, json!([null, null]));
    b.click("#guide .guide-prog.current").await;
    b.wait_text("Close", 10).await;
    b.screenshot("05d-guide-program").await;
    b.click("#dialog-ok").await;

    // Logs.
    b.goto(&daemon.url("/#/logs")).await;
    b.find("#log-filters").await;
    b.find("#main table tbody tr").await; // the preview's airing
    // The CSV link downloads what the filters show, with the session's cookie.
    b.choose("#log-filters [name=hours]", "6").await;
    let csv = b
        .js(
            "const a = document.querySelector('#logs-csv'); const x = new XMLHttpRequest(); x.open('GET', a.href, false); x.send(); \
             return [a.href, x.status, x.getResponseHeader('content-disposition'), x.responseText];",
            json!([]),
        )
        .await;
    assert!(csv[0].as_str().unwrap().ends_with("/api/logs.csv?hours=6"), "{csv}");
    assert_eq!(csv[1], 200, "{csv}");
    assert!(csv[2].as_str().unwrap().starts_with("attachment; filename=\"retrovue-as-run-"), "{csv}");
    let text = csv[3].as_str().unwrap();
    assert!(text.starts_with("channel,planned_start,actual_start,actual_end,kind,title,status,error\r\n"), "{text}");
    assert!(text.lines().count() >= 2, "{text}");
    b.screenshot("05e-logs").await;

    // Library (filters and table).
    b.goto(&daemon.url("/#/library")).await;
    b.find("#lib-filters [name=search]").await;
    b.wait_text("Pilot", 10).await;
    b.fill("#lib-filters [name=search]", "no such title").await;
    b.wait_text("Nothing matches", 10).await;
    b.fill("#lib-filters [name=search]", "pilot").await;
    b.find("#lib-table tbody tr").await;
    b.choose("#lib-filters [name=sort]", "last_aired").await;
    b.choose("#lib-filters [name=order]", "desc").await;
    b.find("#lib-table tbody tr").await;
    b.screenshot("06-library").await;
    b.click("#lib-table tbody tr").await;
    b.find("#meta-form").await;
    b.click("#meta-form input[value=primetime]").await;
    b.click("#meta-form button[type=submit]").await;
    b.wait_text("Saved", 10).await;
    b.screenshot("06b-library-item").await;
    // The new daypart is a filter now.
    b.goto(&daemon.url("/#/library")).await;
    b.find("#lib-table tbody tr").await;
    b.choose("#lib-filters [name=daypart]", "primetime").await;
    b.wait_text("primetime", 10).await;
    b.find("#lib-table tbody tr").await;

    // Emergency: raise with confirmation, see it on the air, clear it.
    b.goto(&daemon.url("/#/emergency")).await;
    b.fill("#alert-form [name=message]", "Test of the Retrovue alert system").await;
    b.click("#alert-raise").await;
    b.wait_text("Put this alert on the air?", 10).await;
    b.click("#dialog-ok").await;
    b.wait_text("on air", 10).await;
    b.screenshot("07-emergency").await;
    b.goto(&daemon.url("/#/dashboard")).await;
    b.wait_text("Emergency alert on the air", 10).await;
    b.screenshot("08-dashboard").await;
    // The dashboard refreshes by itself.
    let clock = "return document.querySelector('#dash-clock').textContent";
    let first = b.js(clock, json!([])).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.js(clock, json!([])).await == first {
        assert!(Instant::now() < deadline, "the dashboard did not refresh: still {first}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The box panel: the daemon's resident memory and what the box has left, from /proc.
    let memory = b
        .js(
            "return [...document.querySelectorAll('.panel h3')].filter((e) => e.textContent === 'Memory') \
             .map((e) => e.nextElementSibling.textContent)",
            json!([]),
        )
        .await;
    let shown = memory.as_array().and_then(|m| m.first()).and_then(|m| m.as_str()).unwrap_or_default().to_owned();
    let parts: Vec<&str> = shown.split([' ', '·']).filter(|w| !w.is_empty()).collect();
    assert!(
        matches!(parts.as_slice(), [rss, "MiB", _, "MiB" | "GiB", "free", "of", _, "MiB" | "GiB"] if rss.parse::<u32>().is_ok_and(|r| r > 5)),
        "the dashboard's memory: {memory}"
    );
    b.goto(&daemon.url("/#/emergency")).await;
    b.wait_text("on air", 10).await;
    b.click("#alert-list button.primary").await;
    b.wait_text("cleared", 10).await;

    // Settings: change the device name; the page says a restart applies it.
    b.goto(&daemon.url("/#/settings")).await;
    b.fill("#settings-form [name=device_name]", "Den TV").await;
    b.click("#settings-form button[type=submit]").await;
    b.wait_text("Restart needed", 10).await;
    b.screenshot("09-settings").await;
    b.goto(&daemon.url("/#/settings/plex")).await;
    b.wait_text("Add this box to Plex", 10).await;
    assert!(b.text().await.contains("XMLTV"));
    b.screenshot("10-add-to-plex").await;
    let dev = b.js("return document.querySelector('#url-xmltv').value", json!([])).await;
    assert_eq!(dev.as_str().unwrap(), daemon.url("/xmltv.xml"));

    // On a phone the menu folds behind a button.
    b.resize(390, 844).await;
    b.goto(&daemon.url("/#/dashboard")).await;
    b.wait_text("Sitcom Gold", 10).await;
    b.click("#menu-toggle").await;
    b.find("#nav.open").await;
    b.screenshot("11-phone-dashboard").await;

    // The setting is stored: a fresh API look confirms it.
    let out = std::process::Command::new("curl").args(["-s", &daemon.url("/api/session")]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("setup_required\":false"));
}

/// The item view's break editor (issue #20): an episode with three black-and-silent gaps
/// shows them on its timeline strip with a still of each; the user rejects one and moves
/// another through the page, and the daemon's API then has those decisions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_break_editor_shows_candidates_with_stills_and_takes_decisions() {
    use util::episode::{Episode, Event};
    let home = Home::new();
    let shows = home.path().join("shows");
    let ep = Episode {
        seconds: 40.0,
        size: (320, 240),
        gop: 60,
        events: vec![Event::gap(300, 30, 15), Event::gap(600, 9, 0), Event::gap(900, 30, 10)],
    };
    ep.write(&shows.join("Gap Show/Season 01/Gap Show - S01E01 - Pilot.mp4"));
    home.ok(&["source", "add", "--folder", shows.to_str().unwrap(), "--kind", "shows"]);
    home.ok(&["scan"]);
    let id = home.json(&["library", "list", "--json"])[0]["id"].as_i64().unwrap();
    let daemon = home.serve(&[]);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    let b = Browser::start(&shots).await;
    b.goto(&daemon.url("/")).await;
    b.wait_text("First run", 10).await;
    b.fill("#setup-form [name=password]", PASSWORD).await;
    b.fill("#setup-form [name=password2]", PASSWORD).await;
    b.click("#setup-form button[type=submit]").await;
    b.wait_text("The box", 10).await;

    b.goto(&daemon.url(&format!("/#/library/{id}"))).await;
    b.find(".break-strip .cand").await;
    b.find(".cand-card").await;
    // Three markers on the strip, three ticks (undecided candidates are the breaks), and a
    // still of each gap's frame that loads: black.
    let seen = b
        .js(
            "return [document.querySelectorAll('.break-strip .cand').length, document.querySelectorAll('.break-strip .tick').length, \
             [...document.querySelectorAll('.cand-card')].map((c) => Number(c.dataset.start))];",
            json!([]),
        )
        .await;
    assert_eq!(seen[0], 3, "{seen}");
    assert_eq!(seen[1], 3, "{seen}");
    let starts: Vec<i64> = seen[2].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let stills = "const imgs = [...document.querySelectorAll('.cand-still')]; \
                  if (!imgs.every((i) => i.complete && i.naturalWidth > 0)) return null; \
                  return imgs.map((i) => { const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight; \
                    const g = c.getContext('2d'); g.drawImage(i, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data; \
                    let sum = 0; for (let k = 0; k < d.length; k += 4) sum += (d[k] + d[k + 1] + d[k + 2]) / 3; \
                    return [i.naturalWidth, sum / (d.length / 4)]; });";
    let deadline = Instant::now() + Duration::from_secs(60);
    let stills = loop {
        let v = b.js(stills, json!([])).await;
        if !v.is_null() {
            break v;
        }
        assert!(Instant::now() < deadline, "the candidates' stills did not load");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for s in stills.as_array().unwrap() {
        assert_eq!(s[0], 240, "a still half the preview's width: {stills}");
        assert!(s[1].as_f64().unwrap() < 20.0, "the still shows the black gap: {stills}");
    }
    b.screenshot("12-break-editor").await;

    // Reject the first, move the second to 0:19.0.
    b.click(&format!(".cand-card[data-start='{}'] .cand-reject", starts[0])).await;
    b.find(&format!(".cand-card.rejected[data-start='{}']", starts[0])).await;
    let at = format!(".cand-card[data-start='{}'] input", starts[1]);
    b.js("const i = document.querySelector(arguments[0]); i.value = '0:19.0';", json!([at])).await;
    b.click(&format!(".cand-card[data-start='{}'] .cand-move", starts[1])).await;
    b.find(&format!(".cand-card.accepted[data-start='{}']", starts[1])).await;
    b.wait_text("0:19.0", 10).await;
    b.screenshot("13-break-editor-decided").await;
    // The daemon has the decisions: the moved break is the item's only break.
    let item = b
        .js(
            "const x = new XMLHttpRequest(); x.open('GET', arguments[0], false); x.send(); return JSON.parse(x.responseText);",
            json!([format!("/api/items/{id}")]),
        )
        .await;
    let states: Vec<&str> =
        item["break_candidates"].as_array().unwrap().iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["rejected", "accepted", "candidate"], "{item:#}");
    assert_eq!(item["break_candidates"][1]["offset_ms"], 19_000);
    assert_eq!(item["breakpoints"], json!([19_000]), "{item:#}");
    assert_eq!(b.js("return document.querySelectorAll('.break-strip .tick').length", json!([])).await, 1);
}

/// The top colour bars of `videotestsrc pattern=smpte` (100 %; `smpte75` is the 75 % one), left
/// to right, in RGB.
const BARS: [[i64; 3]; 7] =
    [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255]];

/// Draw the preview's current frame to a canvas every 250 ms until `want` frames showed the
/// colour bars (each bar's centre, 40 % down the picture where letterboxed spots have picture
/// too, within 60 levels of its colour), at most `secs`; the counts seen, for the log.
async fn watch_bars(b: &Browser, want: usize, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut bars, mut other, mut seen) = (0, 0, Vec::new());
    while bars < want {
        let px = b
            .js(
                "const v = document.querySelector('#player video'); \
                 if (!v.videoWidth) return []; \
                 const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight; \
                 const g = c.getContext('2d'); g.drawImage(v, 0, 0); \
                 return [0, 1, 2, 3, 4, 5, 6].map((i) => [...g.getImageData(Math.round((i + 0.5) * c.width / 7), Math.round(c.height * 0.4), 1, 1).data.slice(0, 3)]);",
                json!([]),
            )
            .await;
        let px: Vec<[i64; 3]> = serde_json::from_value(px).unwrap_or_default();
        if px.len() == BARS.len() && px.iter().zip(BARS).all(|(p, w)| p.iter().zip(w).all(|(a, b)| (a - b).abs() <= 60))
        {
            bars += 1;
        } else {
            other += 1;
            if seen.len() < 5 {
                seen.push(px);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the preview showed the programme's colour bars in {bars} of {} frames in {secs} s; others: {seen:?}",
            bars + other
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    format!("{bars} with the colour bars, {other} without ({seen:?})")
}

/// What [`watch_preview`] saw.
struct Playback {
    /// `hls.js <version>` or `native`.
    player: String,
    /// Seconds from the click until the video had a frame to show (readyState >= 2).
    ready_after_s: f64,
    /// `currentTime` then.
    t0: f64,
    /// `currentTime` once it had moved on by a second.
    t1: f64,
    /// Wall-clock seconds between the two.
    wall_s: f64,
    /// Video frames decoded between the two.
    frames: u64,
}

/// Poll the guide's `<video>` until it has a frame to show and its `currentTime` then moves on
/// by at least 1 s, with no media error and no player error shown; at most `secs`.
async fn watch_preview(b: &Browser, secs: u64) -> Playback {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut first: Option<(f64, u64, Instant, f64)> = None;
    loop {
        let v = b
            .js(
                "const v = document.querySelector('#player video'); \
                 return { ready: v.readyState, t: v.currentTime, paused: v.paused, \
                          frames: v.getVideoPlaybackQuality().totalVideoFrames, \
                          failed: v.error ? `${v.error.code} ${v.error.message}` : null, \
                          status: document.querySelector('#preview-status').textContent, \
                          hls: window.Hls ? `hls.js ${window.Hls.version}` : 'native', \
                          script: performance.getEntriesByType('resource').some((e) => /\\/assets\\/hls-[0-9.]+\\.light\\.min\\.js$/.test(e.name)) };",
                json!([]),
            )
            .await;
        assert!(v["failed"].is_null(), "the preview failed: {v}");
        assert!(!v["status"].as_str().unwrap_or("").contains("stopped"), "the preview gave up: {v}");
        let (ready, t, frames) =
            (v["ready"].as_u64().unwrap_or(0), v["t"].as_f64().unwrap_or(0.0), v["frames"].as_u64().unwrap_or(0));
        if ready >= 2 {
            let (t0, frames0, at, ready_after_s) =
                *first.get_or_insert((t, frames, Instant::now(), start.elapsed().as_secs_f64()));
            if t >= t0 + 1.0 {
                // About 30 frames a second of play were decoded and presented.
                assert!(frames >= frames0 + 15, "{} frames decoded in {:.2} s of play: {v}", frames - frames0, t - t0);
                let player = v["hls"].as_str().unwrap().to_owned();
                // Chromium has Media Source Extensions: the vendored hls.js plays, loaded lazily.
                assert!(player.starts_with("hls.js 1."), "{v}");
                assert_eq!(v["script"], true, "hls.js did not come from /assets/: {v}");
                assert_eq!(v["paused"], false, "{v}");
                let wall_s = at.elapsed().as_secs_f64();
                return Playback { player, ready_after_s, t0, t1: t, wall_s, frames: frames - frames0 };
            }
        }
        assert!(Instant::now() < deadline, "the preview did not play within {secs} s: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
