//! The hardware-codec test doubles (`testsupport/gst-hw-doubles`): built once per test run and
//! handed to the daemon through `GST_PLUGIN_PATH`, with a registry file of its own per test so
//! no registry cache leaks between runs or into the user's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The crate's manifest.
fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testsupport/gst-hw-doubles/Cargo.toml")
}

/// Where the doubles are built: `$CARGO_TARGET_DIR/hw-doubles` (or `target/hw-doubles`), the
/// same place `scripts/test.sh` builds them, so the test run finds them up to date.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("hw-doubles")
}

/// The plugin `scripts/test.sh` built into the main target directory (sharing its compiled
/// gstreamer crates), if it is newer than every source file of the crate.
fn prebuilt() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let so = target.join("debug/libgstretrovuehwdoubles.so");
    let built = so.metadata().ok()?.modified().ok()?;
    let src = manifest().parent()?.join("src");
    let newest = std::fs::read_dir(src).ok()?.filter_map(|e| e.ok()?.metadata().ok()?.modified().ok()).max()?;
    (built >= newest).then(|| target.join("debug"))
}

/// Build the plugin (once per test binary; cargo makes it a no-op when up to date) and return
/// the directory to put on `GST_PLUGIN_PATH`.
pub fn plugin_path() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(dir) = prebuilt() {
                return dir;
            }
            let status = Command::new(env!("CARGO"))
                .args(["build", "--locked", "--lib", "--manifest-path"])
                .arg(manifest())
                .env("CARGO_TARGET_DIR", target_dir())
                .status()
                .expect("run cargo to build the hardware doubles");
            assert!(status.success(), "building testsupport/gst-hw-doubles failed");
            let dir = target_dir().join("debug");
            assert!(dir.join("libgstretrovuehwdoubles.so").exists(), "no plugin in {}", dir.display());
            dir
        })
        .clone()
}

/// Environment for a daemon or CLI run with the doubles installed: the plugin path and a
/// registry file inside `home` (plus `RETROVUE_DOUBLE_FAIL` when `fail` is given).
pub fn env(home: &Path, fail: Option<&str>) -> Vec<(String, String)> {
    let mut env = vec![
        ("GST_PLUGIN_PATH".to_owned(), plugin_path().display().to_string()),
        ("GST_REGISTRY".to_owned(), home.join("gst-registry.bin").display().to_string()),
    ];
    // Build the fresh registry now (a scan of every installed plugin can take longer on a
    // busy machine than a daemon is given to start).
    let scanned = Command::new("gst-inspect-1.0")
        .arg("retrovuehwdoubles")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run gst-inspect-1.0");
    assert!(scanned.status.success(), "the doubles do not load: {}", String::from_utf8_lossy(&scanned.stderr));
    if let Some(f) = fail {
        env.push(("RETROVUE_DOUBLE_FAIL".to_owned(), f.to_owned()));
    }
    env
}
