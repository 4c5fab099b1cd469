//! The binary's foundations: version, config errors, database refusal, serve + SIGTERM.

mod util;

use std::time::Duration;

use util::Home;

#[test]
fn version_prints() {
    let home = Home::new();
    let out = home.ok(&["--version"]);
    assert!(out.starts_with("retrovue "), "{out}");
}

#[test]
fn a_bad_config_key_is_refused_with_its_name() {
    let home = Home::new();
    home.write_config("[device]\nfriendly_nam = \"Den\"\n");
    let out = home.run(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("friendly_nam"), "{err}");
}

#[test]
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let home = Home::new();
    let mut d = home.serve(&[]);
    let body = std::process::Command::new("curl").args(["-sf", &d.url("/health")]).output().unwrap();
    assert!(body.status.success(), "{}", d.stderr());
    assert!(d.terminate(Duration::from_secs(15)), "no clean exit on SIGTERM:\n{}", d.stderr());
    assert!(home.data_dir().join("retrovue.db").exists());
}
