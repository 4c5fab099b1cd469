//! The "Add to Plex / Jellyfin / Emby" panel end to end: the JSON API behind the admin session
//! (no token ever in an answer), then headless Chromium clicking "Link" on the Plex server
//! known from a source, seeing it linked, and unlinking it; a fake Plex
//! (tests/mediaservers/plex.rs) takes the calls. Screenshots under
//! `$CARGO_TARGET_TMPDIR/web-screenshots/`.

mod mediaservers;
mod util;
mod webclient;
mod webdriver;

use std::path::PathBuf;

use mediaservers::jellyfin::{FakeJellyfin, Flavor};
use mediaservers::plex::FakePlex;
use reqwest::Method;
use serde_json::json;
use util::{Daemon, Home};
use webclient::Api;
use webdriver::Browser;

const PASSWORD: &str = "correct horse battery";
const TOKEN: &str = "plex-t0ken-from-the-source";
const KEY: &str = "feedfacefeedfacefeedfacefeedface";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_links_and_unlinks_servers() {
    let fake = FakePlex::start(TOKEN).await;
    let jelly = FakeJellyfin::start(Flavor::Jellyfin, KEY).await;
    let home = Home::new();
    let port = free_port();
    home.write_config(&format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[links]\nlink_wait_secs = 0\ntimeout_secs = 2\n"
    ));
    home.ok(&["channel", "add", "5", "--name", "Sitcom Gold"]);
    home.ok(&["source", "add", "--plex", &fake.url(), "--token", TOKEN, "--name", "Den Plex"]);
    let daemon = Daemon::start_in(
        &home,
        &["serve", "--listen", &format!("127.0.0.1:{port}"), "--no-announce", "--no-discovery"],
    );
    // A check of a healthy link must change nothing: not while the daemon's first schedule lands.
    tokio::task::block_in_place(|| util::wait_for_first_publication(&home));

    // The API: behind the session, lists the source's server, links a Jellyfin by URL + key.
    let mut api = Api::new(daemon.url(""));
    assert_eq!(api.get("/api/links").await.status, 403, "nothing before the admin password is set");
    api.setup(PASSWORD).await;
    assert_eq!(Api::new(daemon.url("")).get("/api/links").await.status, 401, "behind the session");
    let list = api.get("/api/links").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json["plex_servers"][0]["name"], "Den Plex");
    assert_eq!(list.json["plex_servers"][0]["link_id"], serde_json::Value::Null);
    let linked =
        api.change(Method::POST, "/api/links", &json!({"type": "jellyfin", "url": jelly.url(), "token": KEY})).await;
    assert_eq!(linked.status, 200, "{}", linked.text());
    assert_eq!(linked.json["link"]["state"], "linked");
    assert_eq!(jelly.state.lock().unwrap().tuner_hosts.len(), 1);
    let bad =
        api.change(Method::POST, "/api/links", &json!({"type": "emby", "url": jelly.url(), "token": "wrong"})).await;
    assert_eq!(bad.status, 502, "a refused key is the server's failure: {}", bad.text());
    let list = api.get("/api/links").await;
    let text = list.text();
    assert!(!text.contains(TOKEN) && !text.contains(KEY), "a secret in the answer: {text}");
    let jid = list.json["links"][0]["id"].as_i64().unwrap();
    let checked = api.change(Method::POST, &format!("/api/links/{jid}/check"), &json!({})).await;
    assert_eq!(checked.json["changed"], "", "a check of a healthy link changes nothing");
    let gone = api.change(Method::DELETE, &format!("/api/links/{jid}"), &json!({})).await;
    assert_eq!(gone.status, 200);
    assert!(jelly.state.lock().unwrap().tuner_hosts.is_empty());

    // The page: one click links the Plex server from the source.
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    let b = Browser::start(&shots).await;
    b.goto(&daemon.url("/")).await;
    b.wait_text("Log in to manage", 10).await;
    b.fill("#login-form [name=password]", PASSWORD).await;
    b.click("#login-form button[type=submit]").await;
    b.wait_text("The box", 10).await;
    b.goto(&daemon.url("/#/settings")).await;
    b.wait_text("Add to Plex / Jellyfin / Emby", 10).await;
    b.wait_text("Link Den Plex", 10).await;
    b.screenshot("10-links-before").await;
    b.click("#links-known button[data-source]").await;
    b.wait_text("linked", 20).await;
    b.find("#links-list tr[data-link] .badge.on").await;
    assert_eq!(fake.dvrs().len(), 1, "the click made the DVR");
    assert_eq!(fake.dvrs()[0].mappings.len(), 1);
    let text = b.text().await;
    assert!(text.contains("Den Plex") && text.contains(&fake.url()), "{text}");
    b.screenshot("11-links-linked").await;
    println!("screenshots: {}", shots.display());

    // Unlink, confirmed in the dialog.
    b.click("#links-list button.danger").await;
    b.click("#dialog-ok").await;
    b.wait_text("No media server linked yet", 20).await;
    assert!(fake.dvrs().is_empty() && fake.devices().is_empty());
    b.screenshot("12-links-unlinked").await;
    assert!(!daemon.stderr().contains(TOKEN) && !daemon.stderr().contains(KEY));
}
