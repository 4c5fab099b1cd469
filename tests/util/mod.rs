//! Shared test support: a temporary data directory, the real `retrovue` binary run as a CLI
//! or as a daemon on loopback, and generated media clips.
//!
//! Tests that cannot run everywhere are never reported passed when they did not run: a test
//! that needs what only some machines allow (a private network or mount namespace: root or
//! user namespaces) is `#[ignore = "needs …; scripts/test.sh runs it with --ignored"]`, so
//! `cargo test` lists it as ignored, `scripts/test.sh` runs it with `--ignored` where it can
//! (and prints SKIPPED with the reason where it cannot), and run on purpose where it cannot
//! work it fails saying why. A missing tool (ffprobe, chromium, libfaketime) is a failure
//! naming the package (`scripts/deps.sh --test` installs them).
//! `tests/regression.rs::issue_16_tests_that_cannot_run_here_are_never_reported_passed`
//! keeps it so.
#![allow(dead_code)]

pub mod audio;
pub mod episode;
pub mod hw;
pub mod load;
pub mod media;
pub mod player;
pub mod slow_http;
pub mod ts;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_retrovue"))
}

/// A temporary Retrovue home: data dir + optional config file.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Write `retrovue.toml` in the home; commands run with it.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.dir.path().join("retrovue.toml"), text).unwrap();
    }

    fn command(&self) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.dir.path()).env("RETROVUE_DATA_DIR", self.data_dir()).env("RUST_LOG", "warn");
        c
    }

    /// Run a CLI command to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run retrovue")
    }

    /// Run a CLI command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "retrovue {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Run a CLI command that must succeed and print JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("retrovue {args:?} printed invalid JSON ({e}):\n{out}"))
    }

    /// Start `retrovue serve` on 127.0.0.1 (random port), announcements and 65001 off.
    pub fn serve(&self, extra: &[&str]) -> Daemon {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--no-announce", "--no-discovery"];
        args.extend_from_slice(extra);
        Daemon::start(self.command(), &args)
    }

    /// [`Self::serve`] with extra environment variables (e.g. libfaketime's).
    pub fn serve_with_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--no-announce", "--no-discovery"];
        args.extend_from_slice(extra);
        let mut cmd = self.command();
        cmd.envs(env.iter().copied());
        Daemon::start(cmd, &args)
    }
}

/// Start `retrovue serve` on 127.0.0.1 (random HTTP port) with HDHomeRun discovery and
/// control on (fixed UDP/TCP 65001, SSDP answers): only inside a private network namespace.
pub fn serve_discoverable(home: &Home, extra: &[&str]) -> Daemon {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--no-announce"];
    args.extend_from_slice(extra);
    Daemon::start(home.command(), &args)
}

/// Start `retrovue serve` on 127.0.0.1 with discovery and announcements (SSDP NOTIFY, mDNS)
/// on: multicasts, so only inside a private network namespace.
pub fn serve_announcing(home: &Home, extra: &[&str]) -> Daemon {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Daemon::start(home.command(), &args)
}

impl Daemon {
    /// Start `retrovue` in `home` with exactly `args` (network flags included).
    pub fn start_in(home: &Home, args: &[&str]) -> Self {
        Self::start(home.command(), args)
    }
}

/// A running daemon, killed on drop.
pub struct Daemon {
    pub child: Child,
    pub addr: String,
    pub stderr_log: PathBuf,
}

impl Daemon {
    /// Start the binary with `args` and wait for its "listening" line.
    pub fn start(mut cmd: Command, args: &[&str]) -> Self {
        let log =
            tempfile::Builder::new().prefix("retrovue-stderr").tempfile().unwrap().into_temp_path().keep().unwrap();
        let mut child = cmd
            .args(args)
            // RETROVUE_TEST_LOG: another filter for a run that needs more of the daemon's log
            // (e.g. `info,retrovue::playout=debug`).
            .env("RUST_LOG", std::env::var("RETROVUE_TEST_LOG").unwrap_or_else(|_| "info".to_owned()))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn retrovue serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("retrovue listening on http://") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("daemon did not start; stderr:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
        };
        Self { child, addr, stderr_log: log }
    }

    /// `http://127.0.0.1:PORT` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// What the daemon logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Send SIGTERM and wait (up to `timeout`) for a clean exit; true if it exited 0.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // RETROVUE_TEST_KEEP_LOG=DIR keeps the daemon's log there (a run to look into).
        if let Some(dir) = std::env::var_os("RETROVUE_TEST_KEEP_LOG") {
            let name = self.stderr_log.file_name().unwrap_or_default();
            let _ = std::fs::copy(&self.stderr_log, std::path::Path::new(&dir).join(name));
        }
        let _ = std::fs::remove_file(&self.stderr_log);
    }
}

/// A clip to generate with GStreamer test sources.
#[derive(Debug, Clone)]
pub struct Clip {
    pub width: u32,
    pub height: u32,
    /// (num, den)
    pub fps: (u32, u32),
    pub seconds: f64,
    pub audio: bool,
    pub channels: u32,
    pub pattern: &'static str,
    pub freq: u32,
    pub volume: f64,
}

impl Clip {
    pub fn new(width: u32, height: u32, seconds: f64) -> Self {
        Self {
            width,
            height,
            fps: (30000, 1001),
            seconds,
            audio: true,
            channels: 2,
            pattern: "smpte",
            freq: 440,
            volume: 0.3,
        }
    }

    /// Write the clip to `path` (container from the extension: .mp4, .mkv, .ts).
    pub fn write(&self, path: &Path) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        let frames = (self.seconds * self.fps.0 as f64 / self.fps.1 as f64).round() as u64;
        let mux = match path.extension().and_then(|e| e.to_str()) {
            Some("mkv") => "matroskamux",
            Some("ts") => "mpegtsmux",
            _ => "mp4mux",
        };
        let mut p = format!(
            "videotestsrc num-buffers={frames} pattern={} ! video/x-raw,width={},height={},framerate={}/{} ! \
             x264enc speed-preset=ultrafast key-int-max=30 ! h264parse ! queue ! {mux} name=m ! filesink location={}",
            self.pattern,
            self.width,
            self.height,
            self.fps.0,
            self.fps.1,
            shell_quote(path)
        );
        if self.audio {
            let samples = (self.seconds * 48000.0).round() as u64;
            let buffers = samples.div_ceil(1024);
            p.push_str(&format!(
                " audiotestsrc num-buffers={buffers} samplesperbuffer=1024 freq={} volume={} ! \
                 audio/x-raw,rate=48000,channels={} ! audioconvert ! avenc_aac ! aacparse ! queue ! m.",
                self.freq, self.volume, self.channels
            ));
        }
        let out =
            Command::new("sh").arg("-c").arg(format!("gst-launch-1.0 -q -e {p}")).output().expect("gst-launch-1.0");
        assert!(out.status.success(), "clip generation failed: {p}\n{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// Wait until `f` returns Some, polling every 50 ms, up to `timeout`.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait (up to 30 s) until a daemon just started in `home` has published its first schedule
/// (the horizon it extends as it starts, then the replan of channels added before it: several
/// publications within a few milliseconds) and the schedule's generation has stood still for a
/// second. A test that links a media server and expects a second link or a check to change
/// nothing must not race them: the guide changed under the first link, and the second rightly
/// reloaded it (a CI run of 2026-12-04, on a box busy with a build).
pub fn wait_for_first_publication(home: &Home) {
    let db = retrovue::db::Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let generation = || {
        db.call_blocking(|c| {
            c.query_row("SELECT generation FROM schedule_publications WHERE id = 1", [], |r| r.get::<_, i64>(0))
                .unwrap_or(0)
        })
    };
    let mut seen = (generation(), Instant::now());
    let settled = wait_for(Duration::from_secs(30), || {
        let now = generation();
        if now != seen.0 {
            seen = (now, Instant::now());
        }
        (now > 0 && seen.1.elapsed() >= Duration::from_secs(1)).then_some(())
    });
    assert!(settled.is_some(), "the daemon published no schedule within 30 s (generation {})", seen.0);
}

/// Resident memory of a process in kB (0 if it is gone).
pub fn rss_kb(pid: u32) -> u64 {
    proc_status_number(pid, "VmRSS:")
}

/// The process's thread count (`/proc/PID/status`), 0 if gone.
pub fn thread_count(pid: u32) -> u64 {
    proc_status_number(pid, "Threads:")
}

/// The number after `field` in `/proc/PID/status` (its unit, if any, dropped), 0 if gone.
fn proc_status_number(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The media and schedule of one always-on channel, "2 Echo TV": three `episode_secs`
/// episodes of the series Echo (each with its own tone) and `spots` commercials of
/// `spot_secs`, scanned with `scan` (e.g. `["scan"]`), imported and built for a day.
pub fn echo_channel(home: &Home, episode_secs: f64, spots: usize, spot_secs: f64, scan: &[&str]) {
    let media = home.path().join("media");
    for e in 1..=3 {
        let mut c = Clip::new(640, 480, episode_secs);
        c.freq = 300 + e * 100;
        c.write(&media.join(format!("shows/Echo/Season 01/Echo - S01E0{e} - Part {e}.mp4")));
    }
    for i in 0..spots {
        Clip::new(640, 480, spot_secs).write(&media.join(format!("ads/Spot {i}.mp4")));
    }
    home.ok(&["source", "add", "--folder", media.join("shows").to_str().unwrap(), "--kind", "shows"]);
    home.ok(&["source", "add", "--folder", media.join("ads").to_str().unwrap(), "--kind", "commercials"]);
    home.ok(scan);
    series_channel(home, "Echo TV", "Echo");
}

/// Channel 2, `name`, always on, `series` in every half-hour slot (and as its fill),
/// imported and its schedule built for a day.
pub fn series_channel(home: &Home, name: &str, series: &str) {
    let file = home.path().join("channels.toml");
    std::fs::write(
        &file,
        format!(
            "[[channel]]\nnumber = \"2\"\nname = \"{name}\"\nmode = \"always_on\"\ndefault_fill = \"{series}\"\n\
             [[channel.slot]]\nstart = \"00:00\"\nlength = 30\nseries = \"{series}\"\n"
        ),
    )
    .unwrap();
    home.ok(&["channel", "import", file.to_str().unwrap()]);
    home.ok(&["schedule", "build", "--days", "1"]);
}

/// The first as-run row starting at or after `since_ms` (its schedule item and actual start,
/// in ms), and the schedule item that channel 2 has on 100 ms after that start.
pub fn first_aired_since(db: &retrovue::db::Db, since_ms: i64) -> (Option<i64>, i64, Option<i64>) {
    let (item, at): (Option<i64>, i64) = db.call_blocking(|c| {
        c.query_row(
            "SELECT schedule_item_id, actual_start_ms FROM playout_log
             WHERE actual_start_ms >= ?1 ORDER BY actual_start_ms, id LIMIT 1",
            [since_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap_or_else(|e| panic!("nothing aired since {since_ms}: {e}"))
    });
    (item, at, scheduled_on_2(db, at + 100).map(|(id, _)| id))
}

/// The schedule item (id and kind) channel 2 has on at `at_ms`.
pub fn scheduled_on_2(db: &retrovue::db::Db, at_ms: i64) -> Option<(i64, String)> {
    db.call_blocking(move |c| {
        c.query_row(
            "SELECT s.id, s.kind FROM schedule_items s JOIN channels ch ON ch.id = s.channel_id
             WHERE ch.number = '2' AND s.start_ms <= ?1 AND s.end_ms > ?1",
            [at_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    })
}

/// What GLib and GStreamer complained about in a daemon's log: every `GStreamer-CRITICAL`,
/// `GStreamer-WARNING`, `GLib-CRITICAL`, `GLib-GObject-CRITICAL`/`-WARNING` line (element
/// disposed outside NULL, bad casts, mutexes cleared while locked…), each with the message line
/// that follows it when GLib put the message on the next line. A healthy daemon has none.
pub fn gst_complaints(log: &str) -> Vec<String> {
    const KINDS: [&str; 6] = [
        "GStreamer-CRITICAL",
        "GStreamer-WARNING",
        "GLib-CRITICAL",
        "GLib-WARNING",
        "GLib-GObject-CRITICAL",
        "GLib-GObject-WARNING",
    ];
    let lines: Vec<&str> = log.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !KINDS.iter().any(|k| line.contains(&format!("{k} **"))) {
            continue;
        }
        // "(retrovue:123): GStreamer-CRITICAL **: 21:24:27.123: message" or, for multi-line
        // messages, the text on the next line.
        let mut after = line.split_once("**:").map(|(_, m)| m.trim_start()).unwrap_or("");
        // GLib puts a time stamp first when its log goes to a terminal-less stream.
        if let Some((stamp, rest)) = after.split_once(": ")
            && stamp.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '.')
        {
            after = rest;
        } else if after.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '.') {
            after = "";
        }
        let message = match after.trim() {
            "" => lines.get(i + 1).map(|l| l.trim()).unwrap_or(""),
            m => m,
        };
        let kind = KINDS.iter().rev().find(|k| line.contains(*k)).expect("kind");
        found.push(format!("{kind}: {message}"));
    }
    found
}
