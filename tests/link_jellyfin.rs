//! `retrovue jellyfin link` and `retrovue emby link` against fake servers
//! (tests/mediaservers/jellyfin.rs) that read the real daemon's discover.json, lineup.json and
//! XMLTV: one tuner host at our address with our DeviceID, one XMLTV listings provider for it,
//! every channel mapped to its XMLTV id, one guide refresh; a second link writes nothing; a
//! login with user and password works; unlink removes both; a 401 is reported.

mod mediaservers;
mod util;

use std::process::Output;

use mediaservers::Mode;
use mediaservers::jellyfin::{FakeJellyfin, Flavor};
use serde_json::Value;
use util::{Daemon, Home};

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn cli(home: &Home, args: &[&str]) -> Output {
    tokio::task::block_in_place(|| home.run(args))
}

fn ok(home: &Home, args: &[&str]) -> String {
    let out = cli(home, args);
    assert!(
        out.status.success(),
        "retrovue {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn link_and_check(flavor: Flavor, cmd: &str) {
    let home = Home::new();
    let port = free_port();
    home.write_config(&format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[links]\ntimeout_secs = 2\nlink_wait_secs = 0\n"
    ));
    home.ok(&["channel", "add", "5", "--name", "Sitcom Gold"]);
    home.ok(&["channel", "add", "7", "--name", "Movie Channel"]);
    let daemon = Daemon::start_in(
        &home,
        &["serve", "--listen", &format!("127.0.0.1:{port}"), "--no-announce", "--no-discovery"],
    );
    let base = format!("http://127.0.0.1:{port}");
    let discover: Value = reqwest::get(daemon.url("/discover.json")).await.unwrap().json().await.unwrap();
    let fake = FakeJellyfin::start(flavor, KEY).await;
    // The daemon plans the new channels as it starts; linking before that lands would see the
    // guide change under it (the second link then rightly reloads the guide).
    tokio::task::block_in_place(|| util::wait_for_first_publication(&home));

    let out = ok(&home, &[cmd, "link", "--server", &fake.url(), "--api-key", KEY]);
    println!("{out}");
    {
        let s = fake.state.lock().unwrap();
        assert_eq!(s.tuner_hosts.len(), 1, "one tuner host");
        let host = &s.tuner_hosts[0];
        assert_eq!(host["Type"], "hdhomerun");
        assert_eq!(host["Url"], base.as_str());
        assert_eq!(host["DeviceId"], discover["DeviceID"]);
        assert_eq!(s.providers.len(), 1, "one listings provider");
        let p = &s.providers[0];
        assert_eq!(p["Type"], "xmltv");
        assert_eq!(p["Path"], format!("{base}/xmltv.xml").as_str());
        assert_eq!(p["EnabledTuners"], serde_json::json!([host["Id"]]));
        assert_eq!(s.refreshes.len(), 1, "one guide refresh");
        assert!(s.refreshes[0].contains("Sitcom Gold"));
    }
    let chans: Value = serde_json::from_str(&ok(&home, &["channel", "list", "--json"])).unwrap();
    let id_of = |n: &str| {
        chans.as_array().unwrap().iter().find(|c| c["number"] == n).unwrap()["xmltv_id"].as_str().unwrap().to_owned()
    };
    let mut maps = fake.mappings();
    maps.sort();
    assert_eq!(maps, vec![("hdhr_5".to_owned(), id_of("5")), ("hdhr_7".to_owned(), id_of("7"))]);
    let writes: Vec<String> = fake.writes().iter().map(|c| c.line()).collect();
    let map_call = if flavor == Flavor::Emby { "PUT /LiveTv/ChannelMappings" } else { "POST /LiveTv/ChannelMappings" };
    assert_eq!(
        writes,
        vec![
            "POST /LiveTv/TunerHosts".to_owned(),
            "POST /LiveTv/ListingProviders".to_owned(),
            "POST /ScheduledTasks/Running/000002bd5265b0b8a6c1f00d00000000".to_owned(),
            map_call.to_owned(),
            map_call.to_owned(),
        ]
    );
    let status: Value = serde_json::from_str(&ok(&home, &[cmd, "status", "--json"])).unwrap();
    assert_eq!(status[0]["state"], "linked");

    // Twice: reads only (a blind re-post would toggle Jellyfin's mappings off).
    fake.clear_calls();
    let out = ok(&home, &[cmd, "link", "--server", &fake.url(), "--api-key", KEY]);
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(fake.writes(), vec![]);
    assert_eq!(fake.mappings().len(), 2);

    // A user name and password work instead of an API key (the token is stored, not the password).
    let out = ok(&home, &[cmd, "link", "--server", &fake.url(), "--user", "admin", "--password", "hunter22"]);
    assert!(out.contains("nothing changed"), "{out}");
    let out = cli(&home, &[cmd, "link", "--server", &fake.url(), "--user", "admin", "--password", "nope"]);
    assert!(!out.status.success());

    // A revoked key is reported.
    fake.set_mode(Mode::Unauthorized);
    let out = cli(&home, &[cmd, "link", "--server", &fake.url(), "--api-key", KEY]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the token or API key"));
    fake.set_mode(Mode::Ok);

    let out = ok(&home, &[cmd, "unlink"]);
    assert!(out.contains("removed listings provider"), "{out}");
    let s = fake.state.lock().unwrap();
    assert!(s.tuner_hosts.is_empty() && s.providers.is_empty());
    assert!(!daemon.stderr().contains(KEY) && !daemon.stderr().contains("hunter22"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jellyfin_link_adds_tuner_guide_and_mappings_once() {
    link_and_check(Flavor::Jellyfin, "jellyfin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emby_link_adds_tuner_guide_and_mappings_once() {
    link_and_check(Flavor::Emby, "emby").await;
}
