//! Emergency alerts through the real binary: the CLI refuses bad alerts with a reason, a
//! running daemon follows alerts written by the CLI within a second, the webhook is
//! token-protected, and a restarted daemon resumes a live alert.

mod util;

use std::process::Command;
use std::time::{Duration, Instant};

use retrovue::db::Db;
use retrovue::lineup::store::{NewChannel, insert};
use util::{Home, wait_for};

fn add_channels(home: &Home, numbers: &[&str]) {
    std::fs::create_dir_all(home.data_dir()).unwrap();
    let db = Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    db.call_blocking(|c| {
        for n in numbers {
            let new = NewChannel {
                number: n.parse().unwrap(),
                name: format!("Channel {n}"),
                call_sign: String::new(),
                logo: None,
                settings: Default::default(),
            };
            insert(c, &new, 0).unwrap();
        }
    });
}

fn refused(home: &Home, args: &[&str]) -> String {
    let out = home.run(args);
    assert!(!out.status.success(), "retrovue {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_alerts_are_refused_with_a_reason() {
    let home = Home::new();
    add_channels(&home, &["5", "7"]);
    assert!(refused(&home, &["alert", "start", "--message", "  "]).contains("message is empty"));
    let big = "x".repeat(10_000);
    assert!(refused(&home, &["alert", "start", "--message", &big]).contains("limit is 1000"));
    assert!(refused(&home, &["alert", "start", "-m", "x", "--channels", "5,9"]).contains("no such channel: 9"));
    let e = refused(
        &home,
        &["alert", "start", "-m", "x", "--at", "2030-01-01T10:00:00Z", "--until", "2030-01-01T09:00:00Z"],
    );
    assert!(e.contains("at or before it starts"), "{e}");
    assert!(refused(&home, &["alert", "start", "-m", "x", "--mode", "flash"]).contains("unknown alert mode"));
    assert!(refused(&home, &["alert", "start", "-m", "x", "--duration", "soon"]).contains("cannot read duration"));
    assert!(refused(&home, &["alert", "clear", "42"]).contains("no alert 42"));
    let list = home.json(&["alert", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 0, "refused alerts must not be stored");

    // Overlapping alerts are all kept; the list shows both live.
    home.ok(&["alert", "start", "-m", "First", "--channels", "5"]);
    home.ok(&["alert", "start", "-m", "Second", "--priority", "9", "--mode", "slate", "--duration", "2m"]);
    let again = home.ok(&["alert", "start", "-m", "Second", "--priority", "9", "--mode", "slate", "--duration", "2m"]);
    assert!(again.contains("already on"), "{again}");
    let list = home.json(&["alert", "list", "--json"]);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["status"] == "live"), "{list}");
    assert_eq!(rows[0]["mode"], "slate");
    assert!(home.ok(&["alert", "clear"]).contains("cleared"));
    let list = home.json(&["alert", "list", "--json"]);
    assert!(list.as_array().unwrap().iter().all(|r| r["status"] == "cleared"), "{list}");
}

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}"]).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_owned())
}

#[test]
fn daemon_follows_cli_alerts_within_a_second_and_resumes_after_restart() {
    let home = Home::new();
    add_channels(&home, &["5"]);
    home.write_config("[emergency]\nwebhook_token = \"hunter2-long-token\"\n");
    let mut d = home.serve(&[]);
    let started = Instant::now();
    let out = home.ok(&["alert", "start", "-m", "Tornado warning", "--duration", "5m"]);
    let id: String = out.split_whitespace().nth(1).unwrap().to_owned();
    let seen = wait_for(Duration::from_secs(3), || {
        d.stderr().contains(&format!("live emergency alerts changed: [{id}]")).then(Instant::now)
    });
    let lag = seen.unwrap_or_else(|| panic!("daemon never noticed the alert:\n{}", d.stderr())) - started;
    eprintln!("daemon noticed the CLI alert after {lag:?} (including the CLI run)");
    assert!(lag < Duration::from_millis(1500), "{lag:?}");

    // Webhook: token required, reasons for refusals, raise and clear.
    let url = d.url("/api/emergency/webhook");
    let body = r#"{"message":"Boil water notice","channels":["5"],"duration":"10m","mode":"slate","tone":true}"#;
    let (code, _) = curl(&["-X", "POST", "-H", "Content-Type: application/json", "-d", body, &url]);
    assert_eq!(code, 401);
    let auth = "Authorization: Bearer hunter2-long-token";
    let (code, _) = curl(&[
        "-X",
        "POST",
        "-H",
        "Authorization: Bearer hunter2-long-tokeN",
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
        &url,
    ]);
    assert_eq!(code, 401);
    let (code, text) = curl(&["-X", "POST", "-H", auth, "-H", "Content-Type: application/json", "-d", body, &url]);
    assert_eq!(code, 201, "{text}");
    let raised: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(raised["alert"]["origin"], "webhook");
    let (code, text) = curl(&["-X", "POST", "-H", auth, "-H", "Content-Type: application/json", "-d", body, &url]);
    assert_eq!(
        (code, serde_json::from_str::<serde_json::Value>(&text).unwrap()["duplicate"].clone()),
        (200, true.into())
    );
    let unknown = r#"{"message":"x","channels":"5,77"}"#;
    let (code, text) = curl(&["-X", "POST", "-H", auth, "-H", "Content-Type: application/json", "-d", unknown, &url]);
    assert_eq!(code, 400);
    assert!(text.contains("no such channel: 77"), "{text}");
    let huge = format!(r#"{{"message":"{}"}}"#, "y".repeat(10_000));
    let (code, text) = curl(&["-X", "POST", "-H", auth, "-H", "Content-Type: application/json", "-d", &huge, &url]);
    assert_eq!(code, 400);
    assert!(text.contains("limit is 1000"), "{text}");
    let clear = format!(r#"{{"action":"clear","id":{}}}"#, raised["alert"]["id"]);
    let (code, text) = curl(&["-X", "POST", "-H", auth, "-H", "Content-Type: application/json", "-d", &clear, &url]);
    assert_eq!(code, 200, "{text}");

    // Restart during the CLI alert: the new daemon starts with it live.
    assert!(d.terminate(Duration::from_secs(15)), "{}", d.stderr());
    let d2 = home.serve(&[]);
    let log = d2.stderr();
    assert!(
        wait_for(Duration::from_secs(2), || d2
            .stderr()
            .contains(&format!("resuming live emergency alert {id}"))
            .then_some(()))
        .is_some(),
        "{log}"
    );
    let list = home.json(&["alert", "list", "--json"]);
    assert!(list.as_array().unwrap().iter().any(|r| r["id"] == id.parse::<i64>().unwrap() && r["status"] == "live"));
}

#[test]
fn webhook_is_off_without_a_token() {
    let home = Home::new();
    let d = home.serve(&[]);
    let (code, _) = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"message":"x"}"#,
        &d.url("/api/emergency/webhook"),
    ]);
    assert_eq!(code, 404);
}

#[test]
fn bug_images_are_checked_when_set() {
    use retrovue::playout::graphics::image::encode_png;
    use retrovue::playout::graphics::raster::{Raster, Rgba};
    let home = Home::new();
    let bad = home.path().join("logo.png");
    std::fs::write(&bad, b"<svg xmlns='http://www.w3.org/2000/svg'/>").unwrap();
    let e = refused(&home, &["channel", "add", "5", "--name", "Retro", "--bug-image", bad.to_str().unwrap()]);
    assert!(e.contains("is not a valid PNG"), "{e}");
    let missing = home.path().join("nope.png");
    let e = refused(&home, &["channel", "add", "5", "--name", "Retro", "--bug-image", missing.to_str().unwrap()]);
    assert!(e.contains("cannot read bug image"), "{e}");
    let good = home.path().join("bug.png");
    std::fs::write(&good, encode_png(&Raster::filled(64, 32, Rgba(255, 255, 255, 200)))).unwrap();
    home.ok(&["channel", "add", "5", "--name", "Retro", "--bug-image", good.to_str().unwrap(), "--clock", "on"]);
    let list = home.json(&["channel", "list", "--json"]);
    let s = &list[0]["settings"];
    assert!(s["bug"]["image"].as_str().unwrap().ends_with("bug.png"), "{list}");
    assert_eq!(s["clock"], true);
}
