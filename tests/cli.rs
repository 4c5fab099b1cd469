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

/// The same bad value for each checked channel setting, and the one message every path gives
/// for it (the lineup's own words).
fn bad_settings() -> Vec<(&'static str, &'static str, &'static str, String)> {
    use retrovue::lineup::{AudioKbps, Opacity, RatingLimit, VideoKbps};
    vec![
        // (CLI flag, value, TOML line in its table, message)
        ("--video-kbps", "50", "[channel.profile]\nvideo_kbps = 50", VideoKbps::try_from(50).unwrap_err().to_string()),
        ("--audio-kbps", "8", "[channel.profile]\naudio_kbps = 8", AudioKbps::try_from(8).unwrap_err().to_string()),
        ("--bug-opacity", "1.5", "[channel.bug]\nopacity = 1.5", Opacity::try_from(1.5).unwrap_err().to_string()),
        (
            "--rating-limit",
            "nonsense",
            "rating_limit = \"nonsense\"",
            "nonsense".parse::<RatingLimit>().unwrap_err().to_string(),
        ),
    ]
}

/// Regression (issue #16): `channel add`/`channel edit` stored any bitrate (a 50 kbit/s
/// channel), while the web API refused it; each bad value is now refused with the message
/// the web API and `channel import` give, and nothing is stored.
#[test]
fn channel_add_and_edit_refuse_a_bad_setting_with_the_shared_message() {
    let home = Home::new();
    home.ok(&["channel", "add", "5", "--name", "Five"]);
    for (flag, value, _, message) in bad_settings() {
        for args in [&["channel", "add", "6", "--name", "Six", flag, value][..], &["channel", "edit", "5", flag, value]]
        {
            let out = home.run(args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success() && err.contains(&message), "{args:?}: expected {message:?}, got: {err}");
        }
    }
    let list = home.ok(&["channel", "list", "--json"]);
    let channels: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(channels.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(channels[0]["settings"]["profile"]["video_kbps"], 2000, "{list}");
}

/// Regression (issue #16): `channel import` took any bitrate and opacity; each bad value is
/// now refused with the message the CLI flags and the web API give, and nothing is imported.
#[test]
fn channel_import_refuses_a_bad_setting_with_the_shared_message() {
    let home = Home::new();
    let file = home.path().join("channels.toml");
    for (_, _, toml, message) in bad_settings() {
        // Top-level keys of the channel first, then its sub-tables.
        let (keys, table) = if toml.starts_with('[') { ("", toml) } else { (toml, "") };
        std::fs::write(&file, format!("[[channel]]\nnumber = \"7\"\nname = \"Seven\"\n{keys}\n{table}\n")).unwrap();
        let out = home.run(&["channel", "import", file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(&message), "{toml}: expected {message:?}, got: {err}");
    }
    assert!(home.ok(&["channel", "list", "--json"]).trim() == "[]", "nothing imported");
}
