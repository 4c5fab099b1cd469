//! The hardware paths, run with the test doubles of `testsupport/gst-hw-doubles` on
//! `GST_PLUGIN_PATH` (real element names, properties and pad templates; x264/avdec inside):
//! the daemon auto-selects the hardware encoder, NV12 flows through compositor, graphics and
//! encoder to a stream ffprobe decodes with the bug in the right colour, an encoder that cannot
//! open its device (or hangs) is skipped with a log line, a decoder failing on one item leaves
//! the next item playing, and the tuner count and admission follow the encoder's budget.

mod util;
mod webclient;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use util::{Clip, Home};
use webclient::Api;

const PASSWORD: &str = "correct horse battery";

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// `retrovue selftest ARGS` with the doubles installed.
fn selftest(home: &Home, fail: Option<&str>, args: &[&str]) -> std::process::Output {
    Command::new(util::bin())
        .current_dir(home.path())
        .env("RETROVUE_DATA_DIR", home.data_dir())
        .env("RUST_LOG", "info")
        .envs(util::hw::env(home.path(), fail))
        .arg("selftest")
        .args(args)
        .output()
        .unwrap()
}

/// A solid red PNG for the channel bug.
fn red_png(path: &Path) {
    let ok = Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", "num-buffers=1", "pattern=red", "!", "video/x-raw,width=64,height=64", "!"])
        .args(["pngenc", "!", "filesink"])
        .arg(format!("location={}", path.display()))
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// Read `url` for `secs` seconds: (status, headers, body).
async fn read_for(url: &str, secs: f64) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, resp.chunk()).await {
        out.extend_from_slice(&chunk);
    }
    (status, headers, out)
}

/// Frame `n` of `ts` as RGB24 (width x height).
fn rgb_frame(ts: &Path, n: u32, width: usize, height: usize) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(ts)
        .args(["-vf", &format!("select=eq(n\\,{n})"), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), width * height * 3, "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hardware_encoder_is_chosen_and_nv12_streams_with_the_bug_in_its_colours() {
    let home = Home::new();
    let bug = home.path().join("red.png");
    red_png(&bug);
    let bug_arg = bug.to_str().unwrap();
    home.ok(&["channel", "add", "5", "--name", "Test", "--bug-image", bug_arg, "--bug-corner", "top_left"]);
    home.ok(&["channel", "edit", "5", "--bug-rule", "always", "--bug-opacity", "1"]);
    home.ok(&["schedule", "build", "--days", "1"]);
    let mut env = util::hw::env(home.path(), None);
    env.push(("RUST_LOG".into(), "info".into()));
    let daemon = home.serve_with_env(&[], &env_refs(&env));

    let (status, headers, ts) = read_for(&daemon.url("/auto/v5"), 6.0).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "video/mp2t");
    let log = daemon.stderr();
    assert!(
        log.lines().any(|l| l.contains("encoder verified") && l.contains("v4l2h264enc")),
        "the Pi encoder double was verified and chosen:\n{log}"
    );
    assert!(log.lines().any(|l| l.contains("playout encoder") && l.contains("v4l2h264enc")), "{log}");
    let file = home.path().join("out.ts");
    std::fs::write(&file, &ts).unwrap();
    let video = util::media::probe(&file, "v:0", "-show_streams", "stream=codec_name,profile,width,height");
    assert_eq!(video[0]["codec_name"], "h264");
    assert_eq!((video[0]["width"].as_str(), video[0]["height"].as_str()), ("640", "480"));
    let audio = util::media::probe(&file, "a:0", "-show_streams", "stream=codec_name");
    assert_eq!(audio[0]["codec_name"], "aac");

    // The bug (solid red, top left) blended on NV12: red where it is, nothing red elsewhere,
    // and red rather than the blue or green a swapped or mis-strided chroma plane would give.
    let (w, h) = (640, 480);
    let rgb = rgb_frame(&file, 60, w, h);
    let px = |x: usize, y: usize| {
        let i = (y * w + x) * 3;
        (rgb[i], rgb[i + 1], rgb[i + 2])
    };
    let red = |(r, g, b): (u8, u8, u8)| r > 180 && g < 80 && b < 80;
    let in_quadrant = |x0: usize, y0: usize| {
        (y0..y0 + h / 2).flat_map(|y| (x0..x0 + w / 2).map(move |x| (x, y))).filter(|&(x, y)| red(px(x, y))).count()
    };
    let top_left = in_quadrant(0, 0);
    assert!(top_left > 400, "the red bug shows in the top left ({top_left} red pixels)");
    for (x0, y0) in [(w / 2, 0), (0, h / 2), (w / 2, h / 2)] {
        assert_eq!(in_quadrant(x0, y0), 0, "no red outside the bug's corner");
    }
    let (r, g, b) = px(w / 2, h / 2);
    assert!(r < 40 && g < 40 && b < 40, "black background in the middle: {r},{g},{b}");

    let api_status = {
        let mut api = Api::new(daemon.url(""));
        api.setup(PASSWORD).await;
        api.get("/api/status").await.json
    };
    assert_eq!(api_status["encoder_in_use"], "v4l2h264enc", "{api_status}");
    let discover: serde_json::Value = reqwest::get(daemon.url("/discover.json")).await.unwrap().json().await.unwrap();
    assert_eq!(discover["TunerCount"], 6, "the Pi block carries six SD channels");
    assert_eq!(api_status["tuners"], discover["TunerCount"], "the web page and discover.json agree");

    let out = selftest(&home, None, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("encoder: v4l2h264enc (hardware"), "{stdout}");
    assert!(stdout.contains("decoder: v4l2h264dec (hardware, verified"), "{stdout}");
    assert!(stdout.contains("budget: 244800 macroblocks/s = 6 channels at 640x480"), "{stdout}");
}

#[test]
fn an_encoder_that_cannot_open_its_device_or_hangs_is_skipped_with_the_reason() {
    let home = Home::new();
    let out = selftest(&home, Some("v4l2h264enc:mode=error,vah264enc:mode=stall"), &[]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("encoder: vah264lpenc (hardware"), "the next in the probe order: {stdout}");
    let skipped = |name: &str, why: &str| {
        stderr.lines().any(|l| l.contains("skipping encoder") && l.contains(name) && l.contains(why))
    };
    assert!(skipped("v4l2h264enc", "/dev/video11"), "{stderr}");
    assert!(skipped("vah264enc", "hangs"), "{stderr}");

    // Forcing the broken one fails with the reason instead of encoding.
    let out = selftest(&home, Some("v4l2h264enc:mode=error"), &["--encoder", "v4l2h264enc"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("v4l2h264enc failed its trial encode") && stderr.contains("/dev/video11"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tuners_follow_the_encoder_budget_and_a_tune_beyond_it_is_refused_with_805() {
    let home = Home::new();
    home.write_config("[playout]\nidle_grace_secs = 2\n");
    for n in ["5", "6", "7"] {
        home.ok(&["channel", "add", n, "--name", &format!("HD {n}"), "--format", "hd720"]);
    }
    home.ok(&["schedule", "build", "--days", "1"]);
    let env = util::hw::env(home.path(), None);
    let daemon = home.serve_with_env(&[], &env_refs(&env));
    let discover: serde_json::Value = reqwest::get(daemon.url("/discover.json")).await.unwrap().json().await.unwrap();
    assert_eq!(discover["TunerCount"], 2, "two 720p channels fill the Pi's 1080p30 of macroblocks");

    let a = reqwest::get(daemon.url("/auto/v5")).await.unwrap();
    let b = reqwest::get(daemon.url("/auto/v6")).await.unwrap();
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let c = reqwest::get(daemon.url("/auto/v7")).await.unwrap();
    assert_eq!(c.status().as_u16(), 503);
    assert_eq!(c.headers()["x-hdhomerun-error"], "805 All Tuners In Use");
    drop((a, b, c));

    // A configured count wins for TunerCount; the budget still guards real time.
    drop(daemon);
    home.write_config("[playout]\nidle_grace_secs = 2\n[device]\ntuner_count = 4\n");
    let daemon = home.serve_with_env(&[], &env_refs(&env));
    let discover: serde_json::Value = reqwest::get(daemon.url("/discover.json")).await.unwrap().json().await.unwrap();
    assert_eq!(discover["TunerCount"], 4);
    let a = reqwest::get(daemon.url("/auto/v5")).await.unwrap();
    let b = reqwest::get(daemon.url("/auto/v6")).await.unwrap();
    let c = reqwest::get(daemon.url("/auto/v7")).await.unwrap();
    assert_eq!((a.status().as_u16(), b.status().as_u16(), c.status().as_u16()), (200, 200, 503));
    assert_eq!(c.headers()["x-hdhomerun-error"], "805 All Tuners In Use");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decoder_failing_on_one_item_leaves_the_next_item_playing() {
    let home = Home::new();
    // Spots may repeat at once, so breaks are long runs of 2 s spots: an item change every
    // few seconds. Spot 0 is 352x288: the Pi decoder double fails on that size only.
    home.write_config("[schedule]\ncommercial_repeat_window_min = 0\n[library]\nloudness = false\n");
    let media = home.path().join("media");
    for e in 1..=3 {
        Clip::new(640, 480, 5.0).write(&media.join(format!("shows/Echo/Season 01/Echo - S01E0{e} - Part {e}.mp4")));
    }
    for (i, (w, h)) in [(352, 288), (640, 480), (640, 480)].into_iter().enumerate() {
        Clip::new(w, h, 2.0).write(&media.join(format!("ads/Spot {i}.mp4")));
    }
    home.ok(&["source", "add", "--folder", media.join("shows").to_str().unwrap(), "--kind", "shows"]);
    home.ok(&["source", "add", "--folder", media.join("ads").to_str().unwrap(), "--kind", "commercials"]);
    home.ok(&["scan", "--no-loudness"]);
    let file = home.path().join("channels.toml");
    std::fs::write(
        &file,
        "[[channel]]\nnumber = \"2\"\nname = \"Echo TV\"\nmode = \"always_on\"\ndefault_fill = \"Echo\"\n\
         [[channel.slot]]\nstart = \"00:00\"\nlength = 30\nseries = \"Echo\"\n",
    )
    .unwrap();
    home.ok(&["channel", "import", file.to_str().unwrap()]);
    home.ok(&["schedule", "build", "--days", "1"]);
    // Whichever hardware decoder decodebin plugs fails half a second into a stream of that
    // size (a failure at caps time would only make decodebin plug avdec_h264 instead).
    let fail = ["v4l2h264dec", "v4l2slh264dec", "vah264dec"]
        .map(|d| format!("{d}:mode=error:after=0.5:match=352x288"))
        .join(",");
    let fail = fail.as_str();
    let env = util::hw::env(home.path(), Some(fail));
    let daemon = home.serve_with_env(&[], &env_refs(&env));
    let db = retrovue::db::Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let rows = || {
        db.call_blocking(|c| {
            let mut st =
                c.prepare("SELECT status, COALESCE(error, ''), title FROM playout_log ORDER BY actual_start_ms, id")?;
            let rows =
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
            rows.collect::<Result<Vec<_>, _>>()
        })
        .unwrap()
    };
    let t0 = Instant::now();
    let found = util::wait_for(Duration::from_secs(90), || {
        let r = rows();
        let failed = r.iter().position(|(s, e, _)| {
            s == "failed" && ["v4l2h264dec", "v4l2slh264dec", "vah264dec"].iter().any(|d| e.contains(d))
        })?;
        let later = &r[failed + 1..];
        let next_played = later.iter().any(|(s, _, _)| s == "aired" || s == "partial");
        // The failed spot itself plays again later, decoded in software.
        let fallback = later.iter().any(|(s, _, t)| (s == "aired" || s == "partial") && t == &r[failed].2);
        (next_played && fallback).then_some(r)
    });
    assert!(found.is_some(), "after {:?}: as-run {:?}\n{}", t0.elapsed(), rows(), daemon.stderr());
    assert!(daemon.stderr().contains("hardware decoder failed on this media"), "{}", daemon.stderr());
}
