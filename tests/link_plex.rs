//! `retrovue plex link` against a fake Plex (tests/mediaservers/plex.rs) that reads the real
//! daemon's discover.json, lineup.json and XMLTV: link creates exactly one device, one DVR
//! with our guide and a map of every channel; running it again writes nothing; a running
//! daemon reloads the guide within a minute of a rename, repairs a lost mapping and a moved
//! device and guide URL, and retries a server that is down, slow or says 401 with back-off
//! while its own HTTP keeps answering. Tokens never reach the log.

mod mediaservers;
mod util;

use std::process::Output;
use std::time::{Duration, Instant};

use mediaservers::Mode;
use mediaservers::plex::FakePlex;
use serde_json::Value;
use util::{Daemon, Home};

const TOKEN: &str = "plex-t0ken-9f8e7d6c5b4a";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A home with two channels, a fixed listen port and quick link timing.
fn home() -> (Home, u16) {
    let home = Home::new();
    let port = free_port();
    home.write_config(&format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[links]\ndebounce_secs = 1\nmax_delay_secs = 3\n\
         check_every_secs = 3\nretry_secs = 1\nretry_max_secs = 4\ntimeout_secs = 2\nlink_wait_secs = 0\n"
    ));
    home.ok(&["channel", "add", "5", "--name", "Sitcom Gold"]);
    home.ok(&["channel", "add", "7", "--name", "Movie Channel"]);
    (home, port)
}

/// The daemon, once it has published the schedule it makes as it starts (a link made before
/// would see the guide change under it).
fn serve(home: &Home, port: u16) -> Daemon {
    let daemon =
        Daemon::start_in(home, &["serve", "--listen", &format!("127.0.0.1:{port}"), "--no-announce", "--no-discovery"]);
    tokio::task::block_in_place(|| util::wait_for_first_publication(home));
    daemon
}

/// Run the CLI without blocking the fake server's runtime.
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

fn channels(home: &Home) -> Vec<Value> {
    let out = ok(home, &["channel", "list", "--json"]);
    serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().clone()
}

async fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(secs), "not within {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

fn status(home: &Home) -> Value {
    let out = ok(home, &["plex", "status", "--json"]);
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_creates_exactly_the_device_guide_and_map_and_twice_changes_nothing() {
    let (home, port) = home();
    let daemon = serve(&home, port);
    let base = format!("http://127.0.0.1:{port}");
    let device_id =
        reqwest::get(daemon.url("/discover.json")).await.unwrap().json::<Value>().await.unwrap()["DeviceID"]
            .as_str()
            .unwrap()
            .to_owned();
    let fake = FakePlex::start(TOKEN).await;

    let out = ok(&home, &["plex", "link", "--server", &fake.url(), "--token", TOKEN]);
    println!("{out}");
    assert!(out.contains("linked Plex"), "{out}");

    // Exactly one device: ours, at the address the tuner advertises.
    let devices = fake.devices();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].uuid, format!("device://tv.plex.grabbers.hdhomerun/{device_id}"));
    assert_eq!(devices[0].uri, base);
    // Exactly one DVR on it, with our XMLTV guide.
    let dvrs = fake.dvrs();
    assert_eq!(dvrs.len(), 1);
    assert_eq!(dvrs[0].device_key, devices[0].key);
    assert_eq!(dvrs[0].lineups, vec![format!("lineup://tv.plex.providers.epg.xmltv/{base}/xmltv.xml#Retrovue")]);
    // Every channel mapped by number to its XMLTV channel, enabled.
    let chans = channels(&home);
    let id_of = |n: &str| chans.iter().find(|c| c["number"] == n).unwrap()["xmltv_id"].as_str().unwrap().to_owned();
    let maps = &dvrs[0].mappings;
    assert_eq!(maps.keys().cloned().collect::<Vec<_>>(), vec!["5", "7"]);
    for n in ["5", "7"] {
        assert!(maps[n].enabled, "channel {n} enabled");
        assert_eq!(maps[n].channel_key, id_of(n));
        assert_eq!(maps[n].lineup_identifier, n);
    }
    // The wizard's writes, in order, and nothing else.
    let writes: Vec<String> = fake.writes().iter().map(|c| c.line()).collect();
    let (dk, vk) = (devices[0].key, dvrs[0].key);
    assert_eq!(
        writes,
        vec![
            "POST /media/grabbers/devices".to_owned(),
            "POST /livetv/dvrs".to_owned(),
            format!("POST /livetv/dvrs/{vk}/reloadGuide"),
            format!("PUT /media/grabbers/devices/{dk}/channelmap"),
        ]
    );
    let put = fake.writes().pop().unwrap();
    assert_eq!(put.q("channelsEnabled"), Some("5,7"));
    assert_eq!(put.q("channelMappingByKey[7]"), Some(id_of("7").as_str()));
    assert_eq!(put.q("channelMapping[5]"), Some("5"));
    let create = fake.writes()[1].clone();
    assert_eq!(create.q("language"), Some("eng"));
    assert_eq!(create.q("device"), Some(devices[0].uuid.as_str()));
    // Plex loaded the real guide: both channels by name.
    let guide = dvrs[0].loads.last().unwrap();
    assert!(guide.contains("Sitcom Gold") && guide.contains("Movie Channel"));
    let s = status(&home);
    assert_eq!(s["state"], "linked");
    assert!(s["last_refresh_at"].is_i64());

    // Twice: reads only, same state.
    fake.clear_calls();
    let out = ok(&home, &["plex", "link", "--server", &fake.url(), "--token", TOKEN]);
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(fake.writes(), vec![], "the second link wrote to Plex");
    assert!(!fake.calls().is_empty());
    assert_eq!(fake.devices().len(), 1);
    assert_eq!(fake.dvrs().len(), 1);
    assert_eq!(fake.dvrs()[0].mappings, dvrs[0].mappings);

    // A wrong token is refused and not remembered.
    let out = cli(&home, &["plex", "link", "--server", &format!("http://{}/", fake.addr), "--token", "wrong"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the token"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("wrong"), "the token is not echoed");

    // Unlink removes both and forgets the link.
    let out = ok(&home, &["plex", "unlink", "--server", &fake.url()]);
    assert!(out.contains("removed DVR"), "{out}");
    assert!(fake.devices().is_empty() && fake.dvrs().is_empty());
    assert!(ok(&home, &["plex", "status"]).contains("no Plex server linked"));
    assert!(!daemon.stderr().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_plex_follows_renames_repairs_losses_and_outlives_outages() {
    let (home, port) = home();
    let daemon = serve(&home, port);
    let base = format!("http://127.0.0.1:{port}");
    let mut fake = FakePlex::start(TOKEN).await;
    ok(&home, &["plex", "link", "--server", &fake.url(), "--token", TOKEN]);
    let dvr = fake.dvrs()[0].key;
    let reloads = |fake: &FakePlex| {
        fake.calls().iter().filter(|c| c.line() == format!("POST /livetv/dvrs/{dvr}/reloadGuide")).count()
    };
    // The daemon picks the link up (a first check), then stays quiet while nothing changes.
    tokio::time::sleep(Duration::from_secs(4)).await;
    fake.clear_calls();

    // A rename reaches Plex's guide within a minute.
    ok(&home, &["channel", "edit", "5", "--name", "Sitcom Platinum"]);
    // (A reload already under way for another reason, a horizon extension say, may have read
    // the guide a moment before the rename: the one that follows it carries the new name.)
    let renamed = |fake: &FakePlex| fake.dvrs()[0].loads.iter().any(|l| l.contains("Sitcom Platinum"));
    let took = wait_for("a guide reload with the new name", 60, || reloads(&fake) >= 1 && renamed(&fake)).await;
    println!("rename → reloadGuide in {:.1} s", took.as_secs_f32());

    // A lost mapping is put back, and the log says so.
    fake.drop_mapping("7");
    let took = wait_for("channel 7 mapped again", 30, || fake.dvrs()[0].mappings.contains_key("7")).await;
    println!("lost mapping repaired in {:.1} s", took.as_secs_f32());
    wait_for("the repair logged", 10, || daemon.stderr().contains("repaired: channel map saved; mapped 7")).await;

    // The device and guide URLs went stale (as after a DHCP move): both are updated in place.
    fake.move_device("http://127.0.0.2:5004");
    {
        let mut s = fake.state.lock().unwrap();
        s.dvrs[0].lineups =
            vec!["lineup://tv.plex.providers.epg.xmltv/http://127.0.0.2:5004/xmltv.xml#Retrovue".to_owned()];
    }
    wait_for("device and guide moved back", 30, || {
        let (d, v) = (fake.devices(), fake.dvrs());
        d[0].uri == base
            && v[0].lineups == vec![format!("lineup://tv.plex.providers.epg.xmltv/{base}/xmltv.xml#Retrovue")]
    })
    .await;
    assert_eq!(fake.dvrs()[0].key, dvr, "the DVR (and its recording rules) was kept");
    wait_for("the move logged", 10, || daemon.stderr().contains("tuner address updated (was http://127.0.0.2:5004)"))
        .await;

    // Down: reported, retried with back-off; the daemon's own HTTP keeps answering.
    fake.down();
    ok(&home, &["channel", "edit", "7", "--name", "Movie Classics"]);
    wait_for("down reported", 20, || status(&home)["problem"].as_str().is_some_and(|p| p.contains("cannot reach")))
        .await;
    assert_eq!(status(&home)["state"], "attention");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    for path in ["/health", "/lineup.json", "/xmltv.xml"] {
        assert!(
            http.get(format!("{base}{path}")).send().await.unwrap().status().is_success(),
            "{path} while Plex is down"
        );
    }
    fake.clear_calls();
    fake.up().await;
    wait_for("linked again after Plex came back", 20, || status(&home)["state"] == "linked").await;
    wait_for("the missed rename reloaded", 20, || fake.dvrs()[0].loads.last().unwrap().contains("Movie Classics"))
        .await;

    // Slow: each check gives up after the 2 s timeout; retries back off 1, 2, 4, 4 s.
    fake.set_mode(Mode::Slow);
    ok(&home, &["channel", "edit", "7", "--name", "Movie Gold"]);
    wait_for("slow reported", 20, || status(&home)["problem"].as_str().is_some_and(|p| p.contains("did not answer")))
        .await;
    let t0 = Instant::now();
    let lineup = http.get(format!("{base}/lineup.json")).send().await.unwrap();
    assert!(lineup.status().is_success());
    println!("lineup.json answered in {} ms while Plex hangs", t0.elapsed().as_millis());
    fake.clear_calls();
    tokio::time::sleep(Duration::from_secs(16)).await;
    let attempts = fake.calls().iter().filter(|c| c.line() == "GET /media/grabbers/devices").count();
    println!("{attempts} attempts in 16 s against a hanging Plex");
    assert!((2..=5).contains(&attempts), "retried with back-off, not hammered: {attempts}");

    // 401: reported as such, and recovered once the token works again.
    fake.set_mode(Mode::Unauthorized);
    wait_for("401 reported", 20, || status(&home)["problem"].as_str().is_some_and(|p| p.contains("refused the token")))
        .await;
    fake.set_mode(Mode::Ok);
    wait_for("linked after the 401", 20, || status(&home)["state"] == "linked").await;
    wait_for("the last rename reloaded", 20, || fake.dvrs()[0].loads.last().unwrap().contains("Movie Gold")).await;
    assert_eq!(fake.devices().len(), 1);
    assert_eq!(fake.dvrs().len(), 1);
    assert!(!daemon.stderr().contains(TOKEN), "the token reached the log");
}
