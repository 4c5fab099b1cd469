//! Scripted failures (`RETROVUE_DOUBLE_FAIL`): at start, after N seconds, on one stream size.
//! One test, run in steps: the variable is process-wide and read when an element is made.

use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

fn outcome(desc: &str, wait: Duration) -> (Option<String>, usize) {
    let pipeline = gst::parse::launch(desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("out").unwrap().downcast::<gstreamer_app::AppSink>().unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + wait;
    let mut frames = 0;
    let mut error = None;
    while Instant::now() < deadline {
        if sink.try_pull_sample(gst::ClockTime::from_mseconds(100)).is_some() {
            frames += 1;
        }
        if let Some(m) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos]) {
            if let gst::MessageView::Error(e) = m.view() {
                error = Some(format!("{} {:?}", e.error(), e.debug()));
            }
            break;
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (error, frames)
}

const LIVE: &str = "videotestsrc is-live=true ! video/x-raw,format=NV12,width=320,height=240,framerate=30/1";

const PLAN: &str = "v4l2h264enc:mode=error,vah264enc:after=1:mode=error,vah264lpenc:after=1:mode=stall,vaapih264enc:after=1:mode=not-negotiated,v4l2h264dec:match=352x288";

/// Runs [`scripted_failures_child`] in a child process with the variable set (setting it in
/// this process would need `unsafe`).
#[test]
fn scripted_failures() {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "scripted_failures_child", "--nocapture"])
        .env(gstretrovuehwdoubles::fail::ENV, PLAN)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
#[ignore = "run by scripted_failures with RETROVUE_DOUBLE_FAIL set"]
fn scripted_failures_child() {
    if std::env::var(gstretrovuehwdoubles::fail::ENV).as_deref() != Ok(PLAN) {
        eprintln!("skipped: run through scripted_failures");
        return;
    }
    gst::init().unwrap();
    gstretrovuehwdoubles::plugin_register_static().unwrap();

    let (e, n) = outcome(&format!("{LIVE} ! v4l2h264enc ! appsink name=out"), Duration::from_secs(5));
    assert!(e.as_deref().unwrap_or("").contains("/dev/video11"), "open error at start: {e:?}");
    assert_eq!(n, 0);

    let (e, n) = outcome(&format!("{LIVE} ! vah264enc ! appsink name=out"), Duration::from_secs(6));
    assert!(e.as_deref().unwrap_or("").contains("Failed to process frame"), "{e:?}");
    assert!((20..=45).contains(&n), "about 1 s of frames before the error, got {n}");

    let (e, n) = outcome(&format!("{LIVE} ! vaapih264enc ! appsink name=out"), Duration::from_secs(6));
    assert!(e.as_deref().unwrap_or("").contains("not-negotiated"), "{e:?}");
    assert!((20..=45).contains(&n), "{n}");

    // Stall: output stops, no error, and the pipeline still shuts down.
    let (e, n) = outcome(&format!("{LIVE} ! vah264lpenc ! appsink name=out"), Duration::from_secs(4));
    assert_eq!(e, None);
    assert!((20..=45).contains(&n), "output stops after about 1 s, got {n}");

    // The decoder fails on 352x288 streams only.
    let enc = "x264enc tune=zerolatency ! h264parse ! v4l2h264dec ! appsink name=out";
    let (e, n) = outcome(
        &format!("videotestsrc num-buffers=20 ! video/x-raw,width=352,height=288 ! {enc}"),
        Duration::from_secs(10),
    );
    assert!(e.is_some() && n == 0, "352x288 fails: {e:?} {n}");
    let (e, n) = outcome(
        &format!("videotestsrc num-buffers=20 ! video/x-raw,width=320,height=240 ! {enc}"),
        Duration::from_secs(10),
    );
    assert_eq!((e, n), (None, 20), "320x240 decodes");
}
