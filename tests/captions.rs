//! Closed captions (issue #18), first piece: cues from a SubRip file, encoded as CEA-608
//! pop-on bytes ([`retrovue::playout::captions::PopOn`]), go into each picture through
//! GStreamer's caption meta, x264enc writes them into the H.264 SEI (ATSC A/53 `cc_data`),
//! and ffmpeg's own caption decoder (`movie=…[out+subcc]`) reads back the same lines, each
//! within ±250 ms of its cue (608's two bytes per frame set the pace).

mod util;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use retrovue::library::subtitles::parse_srt;
use retrovue::playout::captions::{PopOn, cc_data};

const SRT: &str = "1\n00:00:01,000 --> 00:00:03,000\nHello, caption world!\n\n\
                   2\n00:00:03,000 --> 00:00:05,500\nA second cue,\non two rows.\n\n\
                   3\n00:00:07,000 --> 00:00:08,000\n<i>Niño</i> café\n";

#[test]
fn sidecar_cues_come_back_from_the_h264_as_608_text_on_time() {
    gst::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ts = dir.path().join("cc.ts");
    let frame = Duration::from_nanos(1_001_000_000 / 30);
    let cues = parse_srt(SRT);
    let enc = Arc::new(PopOn::new(&cues, frame));
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=300 ! video/x-raw,format=I420,width=320,height=240,framerate=30000/1001 ! \
         identity name=cc ! x264enc ! h264parse ! mpegtsmux ! filesink location={}",
        ts.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let pad = pipeline.by_name("cc").unwrap().static_pad("src").unwrap();
    let index = Mutex::new(0u64);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let mut i = index.lock().unwrap();
        if let Some(buffer) = info.buffer_mut() {
            let data = cc_data(enc.pair(*i));
            gst_video::VideoCaptionMeta::add(buffer.make_mut(), gst_video::VideoCaptionType::Cea708Raw, &data);
        }
        *i += 1;
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();

    // What a player's probe says of the video stream: it carries closed captions.
    let probe = Command::new("ffprobe")
        .arg("-hide_banner")
        .arg(&ts)
        .output()
        .expect("ffprobe (scripts/deps.sh --test installs it)");
    let info = String::from_utf8_lossy(&probe.stderr);
    assert!(info.lines().any(|l| l.contains("Video: h264") && l.contains("Closed Captions")), "{info}");

    let srt = dir.path().join("out.srt");
    let movie = format!("movie={}[out+subcc]", ts.display());
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &movie, "-map", "0:s"])
        .arg(&srt)
        .output()
        .expect("ffmpeg (scripts/deps.sh --test installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let decoded = parse_srt(&std::fs::read_to_string(&srt).unwrap());
    println!("decoded: {decoded:#?}");
    // The TS starts its timestamps where the first picture is: the same origin as the cues.
    let text = |lines: &[String]| lines.join(" ");
    assert_eq!(
        decoded.iter().map(|c| text(&c.lines)).collect::<Vec<_>>(),
        cues.iter().map(|c| text(&c.lines)).collect::<Vec<_>>()
    );
    for (got, want) in decoded.iter().zip(&cues) {
        let off = |a: Duration, b: Duration| (a.as_millis() as i64 - b.as_millis() as i64).abs();
        assert!(off(got.start, want.start) <= 250, "{got:?} shown off {want:?}");
        assert!(off(got.end, want.end) <= 250, "{got:?} cleared off {want:?}");
    }
}

/// On a channel: an item with a `.srt` beside it airs its cues as captions, each within
/// ±250 ms of its cue against the item's first picture; the cue that runs past the item's end
/// leaves with the item, and the next item (no subtitles) shows none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_airs_the_sidecar_of_each_item_and_clears_it_at_the_item_change() {
    use retrovue::lineup::{ChannelId, FrameRate, OutputProfile, VideoFormat};
    use util::media::wall_of;
    gst::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, b) = (d.join("show.mp4"), d.join("spot.mp4"));
    util::Clip { pattern: "red", ..util::Clip::new(640, 480, 9.0) }.write(&a);
    util::Clip { pattern: "blue", ..util::Clip::new(640, 480, 5.0) }.write(&b);
    std::fs::write(
        d.join("show.srt"),
        "1\n00:00:01,000 --> 00:00:02,500\nFirst caption\n\n\
         2\n00:00:03,000 --> 00:00:04,500\nSecond caption\n\n\
         3\n00:00:06,000 --> 00:00:12,000\nCut by the item's end\n",
    )
    .unwrap();
    let start = chrono::Utc::now() + chrono::Duration::seconds(4);
    let airings = vec![
        util::player::airing(1, ChannelId(1), "show", &a, start, 8000),
        util::player::airing(2, ChannelId(1), "spot", &b, start + chrono::Duration::seconds(8), 4000),
    ];
    let hub = retrovue::stream::StreamHub::new();
    let log = Arc::new(util::player::Log::default());
    let profile = OutputProfile {
        format: VideoFormat::Sd640x480,
        frame_rate: FrameRate::Ntsc,
        video_kbps: retrovue::lineup::VideoKbps::of(800),
        audio_kbps: retrovue::lineup::AudioKbps::of(128),
    };
    let player = util::player::spawn(profile, airings, &hub, log, None);
    let ts_bytes = util::player::capture(&hub, ChannelId(1), 17.0).await;
    let anchor = player.status().anchor.expect("the channel has a time anchor");
    player.stop().await;
    let ts = d.join("capture.ts");
    std::fs::write(&ts, &ts_bytes).unwrap();

    let start_time: f64 = String::from_utf8(
        Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "format=start_time", "-of", "csv=p=0"])
            .arg(&ts)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    let srt = d.join("out.srt");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &format!("movie={}[out+subcc]", ts.display()), "-map", "0:s"])
        .arg(&srt)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let decoded = parse_srt(&std::fs::read_to_string(&srt).unwrap());
    // Decoded times count from the file's start; the TS's PTS map to the wall clock.
    let rel = |t: Duration| {
        let pts = ((t.as_secs_f64() + start_time) * 90_000.0).round() as i64;
        (wall_of(&anchor, pts) - start).num_microseconds().unwrap() as f64 / 1e6
    };
    // 608's 0x27 is the right single quotation mark (ffmpeg decodes it so).
    let shown: Vec<(String, f64, f64)> =
        decoded.iter().map(|c| (c.lines.join(" ").replace('\u{2019}', "'"), rel(c.start), rel(c.end))).collect();
    println!("captions, seconds from the show's scheduled start: {shown:#?}");
    let want = [("First caption", 1.0, 2.5), ("Second caption", 3.0, 4.5), ("Cut by the item's end", 6.0, 8.0)];
    assert_eq!(shown.len(), want.len(), "{shown:?}");
    for ((text, s, e), (w, ws, we)) in shown.iter().zip(want) {
        assert_eq!(text, w);
        assert!((s - ws).abs() <= 0.25, "{w}: shown at {s:.3} s, cue at {ws:.3} s");
        assert!((e - we).abs() <= 0.25, "{w}: cleared at {e:.3} s, due at {we:.3} s");
    }
}
