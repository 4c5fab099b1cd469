//! The web API against the real daemon on loopback: first-run gating, login, sessions,
//! CSRF on every change, login rate limiting, masked secrets, settings that survive a
//! restart and take effect, sources with checked paths, channels, backup and restore.

mod util;
mod webclient;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use util::Home;
use webclient::Api;

const PASSWORD: &str = "correct horse battery";

/// Every state-changing endpoint, with a body that would be valid.
fn change_endpoints() -> Vec<(Method, &'static str, Value)> {
    vec![
        (Method::POST, "/api/logout", json!({})),
        (Method::POST, "/api/password", json!({ "current": PASSWORD, "new": "another password" })),
        (Method::PUT, "/api/settings", json!({ "device_name": "Hacked" })),
        (Method::POST, "/api/sources", json!({ "type": "folder", "path": "/tmp", "content_kind": "shows" })),
        (Method::POST, "/api/sources/test", json!({ "type": "folder", "path": "/tmp", "content_kind": "shows" })),
        (Method::PUT, "/api/sources/1", json!({ "name": "Renamed" })),
        (Method::DELETE, "/api/sources/1", json!({})),
        (Method::PUT, "/api/items/1/metadata", json!({ "daypart": [], "season": [] })),
        (Method::PUT, "/api/items/1/breakpoints", json!({ "breakpoints": [] })),
        (Method::PUT, "/api/items/1/candidates/1000", json!({ "state": "rejected" })),
        (Method::POST, "/api/items/bulk", json!({ "ids": [1], "set": { "era": "1980s" } })),
        (Method::POST, "/api/channels", json!({ "number": "9", "name": "Nine" })),
        (Method::PUT, "/api/channels/1", json!({ "number": "9", "name": "Nine" })),
        (Method::DELETE, "/api/channels/1", json!({})),
        (Method::POST, "/api/restore", json!({})),
        (Method::POST, "/api/emergency/alerts", json!({ "message": "Test", "channels": "all" })),
        (Method::POST, "/api/emergency/alerts/1/clear", json!({})),
        (Method::POST, "/api/emergency/clear", json!({})),
        (Method::PUT, "/api/channels/1/slots", json!([])),
        (Method::POST, "/api/channels/auto", json!({})),
        (Method::POST, "/api/scan", json!({})),
        (Method::POST, "/api/schedule/rebuild", json!({})),
    ]
}

/// Every read endpoint that needs a session (secrets or configuration).
const PROTECTED_READS: [&str; 8] = [
    "/api/settings",
    "/api/sources",
    "/api/items",
    "/api/channels",
    "/api/status",
    "/api/backup",
    "/api/items/1",
    "/api/timezones",
];

#[tokio::test]
async fn first_run_gates_everything_until_the_password_is_set() {
    let home = Home::new();
    let daemon = home.serve(&[]);
    let mut api = Api::new(daemon.url(""));
    let s = api.get("/api/session").await;
    assert_eq!(s.json["setup_required"], true);
    let page = api.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    // Assets are open. Ours revalidate; the vendored HLS player, whose name carries its
    // version, is cached for a year, and its licence is served beside it.
    let app = reqwest::get(daemon.url("/assets/app.js")).await.unwrap();
    assert_eq!(app.headers()["cache-control"], "no-cache");
    let app = app.text().await.unwrap();
    let player = app
        .split('\'')
        .find(|s| s.starts_with("/assets/hls-") && s.ends_with(".light.min.js"))
        .expect("app.js names the player script");
    let res = reqwest::get(daemon.url(player)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{player}");
    assert_eq!(res.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let js = res.text().await.unwrap();
    assert!(js.len() > 100_000 && js.contains("MediaSource"), "{player}: {} bytes", js.len());
    let licence = reqwest::get(daemon.url("/assets/hls.js-LICENSE.txt")).await.unwrap().text().await.unwrap();
    assert!(licence.contains("Apache License"), "{licence}");
    assert_eq!(reqwest::get(daemon.url("/assets/hls.light.min.js.map")).await.unwrap().status(), StatusCode::NOT_FOUND);
    for path in PROTECTED_READS {
        let a = api.get(path).await;
        assert_eq!((a.status, a.code()), (StatusCode::FORBIDDEN, "setup_required"), "{path}");
    }
    for (m, path, body) in change_endpoints() {
        let a = api.send(m.clone(), path, Some(&body), true).await;
        assert_eq!((a.status, a.code()), (StatusCode::FORBIDDEN, "setup_required"), "{m} {path}");
    }
    let login = api.login(PASSWORD).await;
    assert_eq!(login.code(), "setup_required");
    // The tuner side stays open.
    assert_eq!(api.get("/health").await.status, StatusCode::OK);

    let short = api.send(Method::POST, "/api/setup", Some(&json!({ "password": "short" })), false).await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    // A cross-site form cannot post: the body must be JSON.
    let form = reqwest::Client::new()
        .post(daemon.url("/api/setup"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("password=aaaaaaaaaaaa")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let res = api.send(Method::POST, "/api/setup", Some(&json!({ "password": PASSWORD })), false).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let cookie = res.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let again = api.send(Method::POST, "/api/setup", Some(&json!({ "password": "another password" })), false).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let s = api.get("/api/session").await;
    assert_eq!((s.json["setup_required"].clone(), s.json["logged_in"].clone()), (json!(false), json!(true)));
    assert_eq!(api.get("/api/settings").await.status, StatusCode::OK);
    // The session token is stored hashed: the cookie value is not in the database.
    let db = std::fs::read(home.data_dir().join("retrovue.db")).unwrap();
    let token = api.cookie.clone().unwrap();
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));
}

#[tokio::test]
async fn every_change_needs_a_session_and_the_csrf_token() {
    let home = Home::new();
    let daemon = home.serve(&[]);
    let mut admin = Api::new(daemon.url(""));
    admin.setup(PASSWORD).await;
    let mut stranger = Api::new(daemon.url(""));
    for path in PROTECTED_READS {
        let a = stranger.get(path).await;
        assert_eq!((a.status, a.code()), (StatusCode::UNAUTHORIZED, "unauthorized"), "{path}");
    }
    for (m, path, body) in change_endpoints() {
        let a = stranger.send(m.clone(), path, Some(&body), false).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{m} {path} without a session");
        let a = admin.send(m.clone(), path, Some(&body), false).await;
        assert_eq!((a.status, a.code()), (StatusCode::FORBIDDEN, "csrf"), "{m} {path} without the CSRF token");
        let good = admin.csrf.replace("0".repeat(64));
        let a = admin.send(m.clone(), path, Some(&body), true).await;
        admin.csrf = good;
        assert_eq!((a.status, a.code()), (StatusCode::FORBIDDEN, "csrf"), "{m} {path} with a wrong CSRF token");
    }
    // Nothing changed.
    let s = admin.get("/api/settings").await;
    assert_eq!(s.json["values"]["device_name"], "Retrovue");
    assert_eq!(admin.get("/api/sources").await.json, json!([]));
    // With both, it works; logout ends the session.
    let a = admin.change(Method::PUT, "/api/settings", &json!({ "device_name": "Den TV" })).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let a = admin.change(Method::POST, "/api/logout", &json!({})).await;
    assert_eq!(a.status, StatusCode::OK);
    let old_cookie = a.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(old_cookie.contains("Max-Age=0"));
    assert_eq!(admin.get("/api/settings").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_address() {
    let home = Home::new();
    let daemon = home.serve(&[]);
    let mut api = Api::new(daemon.url(""));
    api.setup(PASSWORD).await;
    let mut other = Api::new(daemon.url(""));
    for _ in 0..5 {
        assert_eq!(other.login("wrong password").await.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = other.login(PASSWORD).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    let wait: u64 = blocked.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
}

#[tokio::test]
async fn password_change_ends_other_sessions_and_login_works() {
    let home = Home::new();
    let daemon = home.serve(&[]);
    let mut a = Api::new(daemon.url(""));
    a.setup(PASSWORD).await;
    let mut b = Api::new(daemon.url(""));
    assert_eq!(b.login(PASSWORD).await.status, StatusCode::OK);
    assert_eq!(b.get("/api/status").await.status, StatusCode::OK);
    let wrong =
        a.change(Method::POST, "/api/password", &json!({ "current": "nope nope", "new": "new password 1" })).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let ok = a.change(Method::POST, "/api/password", &json!({ "current": PASSWORD, "new": "new password 1" })).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(a.get("/api/status").await.status, StatusCode::OK, "this session stays");
    assert_eq!(b.get("/api/status").await.status, StatusCode::UNAUTHORIZED, "the other one ended");
    assert_eq!(b.login(PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(b.login("new password 1").await.status, StatusCode::OK);
}

#[tokio::test]
async fn secrets_are_masked_and_settings_apply_after_a_restart() {
    let home = Home::new();
    let mut daemon = home.serve(&[]);
    let mut api = Api::new(daemon.url(""));
    api.setup(PASSWORD).await;
    let token = "SeCrEtPlExToKeN-98765";
    let a = api
        .change(
            Method::PUT,
            "/api/settings",
            &json!({ "device_name": "Den TV", "timezone": "Europe/Paris", "tuner_count": 3, "plex_token": token,
                     "output": { "format": "hd720", "frame_rate": "25", "video_kbps": 3000, "audio_kbps": 160 } }),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert!(!a.text().contains(token) && !a.text().contains("SeCrEt"));
    assert_eq!(a.json["plex_token"], "••••8765");
    let mut pending: Vec<&str> =
        a.json["restart_needed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    pending.sort();
    assert_eq!(pending, ["device_name", "timezone", "tuner_count"]);
    assert_eq!(a.json["running"]["device_name"], "Retrovue");
    assert!(a.json["urls"]["xmltv"].as_str().unwrap().ends_with("/xmltv.xml"));
    // A Plex source added without a token uses the stored one, and shows it masked.
    let s = api.change(Method::POST, "/api/sources", &json!({ "type": "plex", "url": "http://127.0.0.1:9/" })).await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.text());
    let list = api.get("/api/sources").await;
    assert!(!list.text().contains(token), "{}", list.text());
    assert_eq!(list.json[0]["token"], "••••8765");
    // Bad values are refused by name.
    for bad in
        [json!({ "timezone": "Mars/Base" }), json!({ "tuner_count": 99 }), json!({ "encoder": "nonexistentenc" })]
    {
        let a = api.change(Method::PUT, "/api/settings", &bad).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.text());
    }
    // New channels take the output default.
    let ch = api.change(Method::POST, "/api/channels", &json!({ "number": "3", "name": "Three" })).await;
    assert_eq!(ch.json["settings"]["profile"]["format"], "hd720", "{}", ch.text());
    // After a restart the stored values run.
    assert!(daemon.terminate(std::time::Duration::from_secs(10)));
    let daemon = home.serve(&[]);
    let mut api = Api::new(daemon.url(""));
    assert_eq!(api.login(PASSWORD).await.status, StatusCode::OK);
    let s = api.get("/api/settings").await;
    assert_eq!(s.json["running"]["device_name"], "Den TV");
    assert_eq!(s.json["running"]["timezone"], "Europe/Paris");
    assert_eq!(s.json["restart_needed"], json!([]));
    assert_eq!(api.get("/api/session").await.json["device_name"], "Den TV");
}

#[tokio::test]
async fn sources_paths_are_checked_and_channels_validated() {
    let home = Home::new();
    let daemon = home.serve(&[]);
    let mut api = Api::new(daemon.url(""));
    api.setup(PASSWORD).await;
    let media = home.path().join("media");
    std::fs::create_dir_all(media.join("Show")).unwrap();
    std::fs::write(media.join("Show/a.mkv"), b"x").unwrap();
    for bad in ["relative/path", "/nonexistent/folder", &format!("{}/Show/../../..", media.display())] {
        let a = api
            .change(Method::POST, "/api/sources", &json!({ "type": "folder", "path": bad, "content_kind": "shows" }))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.text());
    }
    let t = api
        .change(Method::POST, "/api/sources/test", &json!({ "type": "folder", "path": media, "content_kind": "shows" }))
        .await;
    assert_eq!(
        (t.json["ok"].clone(), t.json["message"].as_str().unwrap().contains("1 media file")),
        (json!(true), true),
        "{}",
        t.text()
    );
    let a = api
        .change(Method::POST, "/api/sources", &json!({ "type": "folder", "path": media, "content_kind": "shows" }))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.json["name"], "media");
    let id = a.json["id"].as_i64().unwrap();
    assert_eq!(api.change(Method::DELETE, &format!("/api/sources/{id}"), &json!({})).await.status, StatusCode::OK);
    assert_eq!(
        api.change(Method::DELETE, &format!("/api/sources/{id}"), &json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.change(Method::DELETE, "/api/sources/..%2Fx", &json!({})).await.status, StatusCode::BAD_REQUEST);

    let c = api
        .change(Method::POST, "/api/channels", &json!({ "number": "5", "name": "Sitcom Gold", "call_sign": "SITG" }))
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text());
    let dup = api.change(Method::POST, "/api/channels", &json!({ "number": "5", "name": "Other" })).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let bad = api.change(Method::POST, "/api/channels", &json!({ "number": "5.x", "name": "Bad" })).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let mut body =
        json!({ "number": "6", "name": "Sitcom Gold", "call_sign": "SITG", "settings": c.json["settings"].clone() });
    body["settings"]["bug"]["image"] = json!("/etc/passwd");
    let a = api.change(Method::PUT, &format!("/api/channels/{}", c.json["id"]), &body).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "non-PNG bug refused: {}", a.text());
    body["settings"]["bug"]["image"] = Value::Null;
    body["settings"]["break_style"] = json!("uk");
    let a = api.change(Method::PUT, &format!("/api/channels/{}", c.json["id"]), &body).await;
    assert_eq!(
        (a.status, a.json["number"].clone(), a.json["settings"]["break_style"].clone()),
        (StatusCode::OK, json!("6"), json!("uk"))
    );
    let st = api.get("/api/status").await;
    assert_eq!(st.json["channels"][0]["viewers"], 0);
    assert_eq!(st.json["tuners_in_use"], 0);
    assert!(st.json["tuners"].as_u64().unwrap() >= 1, "{}", st.text());
    assert!(st.json["encoder_in_use"].is_string(), "{}", st.text());
}

#[tokio::test]
async fn backup_and_restore_round_trip() {
    let home = Home::new();
    let daemon = home.serve(&[]);
    let mut api = Api::new(daemon.url(""));
    api.setup(PASSWORD).await;
    api.change(Method::POST, "/api/channels", &json!({ "number": "7", "name": "Seven" })).await;
    let b = api.get("/api/backup").await;
    assert_eq!(b.status, StatusCode::OK);
    assert!(b.bytes.starts_with(b"SQLite format 3\0"));
    assert!(b.headers["content-disposition"].to_str().unwrap().contains("retrovue-backup-"));
    api.change(Method::POST, "/api/channels", &json!({ "number": "8", "name": "Eight" })).await;
    assert_eq!(api.get("/api/channels").await.json.as_array().unwrap().len(), 2);
    let junk = api
        .http
        .post(daemon.url("/api/restore"))
        .header("Cookie", format!("rv_session={}", api.cookie.clone().unwrap()))
        .header("X-CSRF-Token", api.csrf.clone().unwrap())
        .body("not a database")
        .send()
        .await
        .unwrap();
    assert_eq!(junk.status(), StatusCode::BAD_REQUEST);
    let r = api
        .http
        .post(daemon.url("/api/restore"))
        .header("Cookie", format!("rv_session={}", api.cookie.clone().unwrap()))
        .header("X-CSRF-Token", api.csrf.clone().unwrap())
        .body(b.bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}\n{}", r.text().await.unwrap(), daemon.stderr());
    let names: Vec<String> = api
        .get("/api/channels")
        .await
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Seven"]);
}

#[tokio::test]
async fn scan_with_one_progress_then_browse_and_edit_the_library() {
    let home = Home::new();
    let media = home.path().join("media");
    util::Clip::new(320, 240, 2.0).write(&media.join("Test Show/Season 01/Test Show - S01E01 - Pilot.mp4"));
    util::Clip::new(320, 240, 1.0).write(&media.join("Test Show/Season 01/Test Show - S01E02 - Second.mp4"));
    let daemon = home.serve(&[]);
    let mut api = Api::new(daemon.url(""));
    api.setup(PASSWORD).await;
    let a = api
        .change(Method::POST, "/api/sources", &json!({ "type": "folder", "path": media, "content_kind": "shows" }))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let s = api.change(Method::POST, "/api/scan", &json!({})).await;
    assert_eq!((s.status, s.json["running"].clone()), (StatusCode::OK, json!(true)), "{}", s.text());
    let busy = api.change(Method::POST, "/api/scan", &json!({})).await;
    assert!(busy.status == StatusCode::CONFLICT || !api.get("/api/scan").await.json["running"].as_bool().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let done = loop {
        let p = api.get("/api/scan").await;
        if p.json["running"] == false {
            break p.json;
        }
        assert!(p.json["done"].as_u64().unwrap() <= p.json["found"].as_u64().unwrap());
        assert!(std::time::Instant::now() < deadline, "scan did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(done["report"]["added"], 2, "{done}");
    assert_eq!((done["done"].clone(), done["found"].clone()), (json!(2), json!(2)), "{done}");

    let page = api.get("/api/items?search=test%20show&sort=duration&order=desc").await;
    assert_eq!(page.json["total"], 2, "{}", page.text());
    let first = &page.json["items"][0];
    assert_eq!(first["title"], "Pilot", "longest first");
    let id = first["id"].as_i64().unwrap();
    let bad = api
        .change(Method::PUT, &format!("/api/items/{id}/metadata"), &json!({ "daypart": ["teatime"], "season": [] }))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let ok = api
        .change(
            Method::PUT,
            &format!("/api/items/{id}/metadata"),
            &json!({ "daypart": ["primetime"], "season": ["Christmas"], "era": "1980s" }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.json["meta"]["season"], json!(["christmas"]));
    let bp = api.change(Method::PUT, &format!("/api/items/{id}/breakpoints"), &json!({ "breakpoints": [1000] })).await;
    assert_eq!(bp.json["breakpoints"], json!([1000]), "{}", bp.text());
    let outside =
        api.change(Method::PUT, &format!("/api/items/{id}/breakpoints"), &json!({ "breakpoints": [999999] })).await;
    assert_eq!(outside.status, StatusCode::BAD_REQUEST);
    let ids: Vec<i64> = page.json["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
    let b =
        api.change(Method::POST, "/api/items/bulk", &json!({ "ids": ids, "set": { "demographic": "family" } })).await;
    assert_eq!(b.json["changed"], 2, "{}", b.text());
    let f = api.get("/api/items?daypart=primetime").await;
    assert_eq!(f.json["total"], 1);
    assert_eq!(f.json["items"][0]["meta"]["demographic"], "family");
    assert_eq!(f.json["items"][0]["meta"]["daypart"], json!(["primetime"]), "bulk edit kept other fields");
    assert!(f.json["facets"]["seasons"].as_array().unwrap().contains(&json!("christmas")));
    let one = api.get(&format!("/api/items/{id}")).await;
    assert_eq!(one.json["source_name"], "media");
    // A preview still: a JPEG 480 pixels wide, 4:3 like the clip.
    let still = api.get(&format!("/api/items/{id}/still.jpg")).await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.text());
    assert_eq!(still.headers["content-type"], "image/jpeg");
    assert_eq!(jpeg_size(&still.bytes), Some((480, 360)));
    assert_eq!(api.get("/api/items/999999/still.jpg").await.status, StatusCode::NOT_FOUND);
}

/// Width and height from a baseline or progressive JPEG's SOF marker.
fn jpeg_size(b: &[u8]) -> Option<(u16, u16)> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2;
    while i + 9 < b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        if matches!(marker, 0xC0..=0xC2) {
            return Some((u16::from_be_bytes([b[i + 7], b[i + 8]]), u16::from_be_bytes([b[i + 5], b[i + 6]])));
        }
        i += 2 + len;
    }
    None
}

#[tokio::test]
async fn the_grid_replans_and_the_guide_shows_what_airs() {
    let home = Home::new();
    let media = home.path().join("media");
    for n in 1..=3 {
        util::Clip::new(160, 120, 2.0)
            .write(&media.join(format!("Test Show/Season 01/Test Show - S01E0{n} - Part {n}.mp4")));
    }
    let daemon = home.serve(&[]);
    let mut api = Api::new(daemon.url(""));
    api.setup(PASSWORD).await;
    api.change(Method::POST, "/api/sources", &json!({ "type": "folder", "path": media, "content_kind": "shows" }))
        .await;
    api.change(Method::POST, "/api/scan", &json!({})).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while api.get("/api/scan").await.json["running"] == true {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ch = api.change(Method::POST, "/api/channels", &json!({ "number": "5", "name": "Sitcom Gold" })).await;
    let id = ch.json["id"].as_i64().unwrap();
    let overlap = json!([
        { "days": [0], "start_minute": 0, "length_min": 60, "fill": { "kind": "series", "value": "Test Show" } },
        { "days": [0], "start_minute": 30, "length_min": 30, "fill": { "kind": "anything", "value": null } }
    ]);
    let bad = api.change(Method::PUT, &format!("/api/channels/{id}/slots"), &overlap).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
    let grid = json!([{ "days": [0, 1, 2, 3, 4, 5, 6], "start_minute": 0, "length_min": 1440,
                        "fill": { "kind": "series", "value": "Test Show" } }]);
    let ok = api.change(Method::PUT, &format!("/api/channels/{id}/slots"), &grid).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.json[0]["fill"], json!({ "kind": "series", "value": "Test Show" }));
    assert_eq!(api.get(&format!("/api/channels/{id}/slots")).await.json, ok.json);

    let g = api.get("/api/guide?hours=6").await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.text());
    let row = &g.json["channels"][0];
    assert_eq!((row["number"].clone(), row["hls"].clone()), (json!("5"), json!("/hls/5/index.m3u8")));
    let programs = row["programs"].as_array().unwrap();
    assert!(!programs.is_empty(), "{}", g.text());
    let now = g.json["now"].as_i64().unwrap();
    assert!(programs[0]["start"].as_i64().unwrap() <= now && now < programs[0]["end"].as_i64().unwrap());
    for w in programs.windows(2) {
        assert_eq!(w[0]["end"], w[1]["start"], "back to back");
    }
    // The guide is the schedule that airs: the same programs as XMLTV.
    let xmltv = reqwest::get(daemon.url("/xmltv.xml")).await.unwrap().text().await.unwrap();
    assert!(xmltv.contains(programs[0]["title"].as_str().unwrap()), "{xmltv}");
    let st = api.get("/api/status").await;
    assert_eq!(st.json["channels"][0]["now"]["title"], programs[0]["title"]);

    let logs = api.get(&format!("/api/logs?channel={id}&hours=6")).await;
    assert_eq!(logs.status, StatusCode::OK, "{}", logs.text());
    let csv = api.get("/api/logs.csv?hours=6").await;
    assert!(csv.text().starts_with("channel,planned_start,actual_start"), "{}", csv.text());
    assert_eq!(api.get("/api/logs?status=nonsense").await.status, StatusCode::BAD_REQUEST);
    let auto = api.get("/api/channels/auto").await;
    assert_eq!(auto.status, StatusCode::OK, "{}", auto.text());
}

/// Regression (issue #16): the web API took any rating limit and refused a bitrate or opacity
/// with its own words; each bad value is now a 400 with the message the CLI and `channel
/// import` give (the lineup's checked values), on create and on edit, and nothing changes.
#[tokio::test]
async fn channel_settings_out_of_range_are_refused_with_the_shared_message() {
    use retrovue::lineup::{AudioKbps, Opacity, RatingLimit, VideoKbps};
    let home = Home::new();
    let daemon = home.serve(&[]);
    let mut api = Api::new(daemon.url(""));
    api.setup(PASSWORD).await;
    let c = api.change(Method::POST, "/api/channels", &json!({ "number": "5", "name": "Five" })).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text());
    let bad = [
        ("/profile/video_kbps", json!(50), VideoKbps::try_from(50).unwrap_err().to_string()),
        ("/profile/audio_kbps", json!(8), AudioKbps::try_from(8).unwrap_err().to_string()),
        ("/bug/opacity", json!(1.5), Opacity::try_from(1.5).unwrap_err().to_string()),
        ("/rating_limit", json!("nonsense"), "nonsense".parse::<RatingLimit>().unwrap_err().to_string()),
    ];
    for (pointer, value, message) in bad {
        let mut settings = c.json["settings"].clone();
        *settings.pointer_mut(pointer).unwrap() = value;
        let create = json!({ "number": "6", "name": "Six", "settings": settings });
        let edit = json!({ "number": "5", "name": "Five", "settings": settings });
        for (method, path, body) in [
            (Method::POST, "/api/channels".to_owned(), create),
            (Method::PUT, format!("/api/channels/{}", c.json["id"]), edit),
        ] {
            let a = api.change(method.clone(), &path, &body).await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{method} {pointer}: {}", a.text());
            assert_eq!(a.json["error"], json!(message), "{method} {pointer}");
        }
    }
    let list = api.get("/api/channels").await;
    assert_eq!(list.json.as_array().unwrap().len(), 1, "{}", list.text());
    assert_eq!(list.json[0]["settings"], c.json["settings"], "nothing changed");
}
