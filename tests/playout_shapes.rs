//! Sources of every shape into a 16:9 720p channel, through the library API with a real
//! channel pipeline (x264): interlaced (10-bit 4:4:4, bottom field first) with 5.1 audio, 16:9
//! at 25 fps with mono audio, 4:3 without an audio track. The output keeps one format
//! (1280x720, 29.97 fps, progressive, stereo 48 kHz AAC) with continuous timestamps; 4:3 is
//! pillarboxed, 16:9 fills the picture, and each item is on air at its scheduled instant.
//! (`tests/playout.rs` covers 16:9, 25 fps and 23.976 fps into a 4:3 channel; letterboxing is
//! checked in `tests/playout_robust.rs`.)

mod util;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use retrovue::clock::{Clock, SystemClock};
use retrovue::lineup::{ChannelId, FrameRate, OutputProfile, VideoFormat};
use retrovue::playout::AsRunStatus;
use retrovue::stream::StreamHub;
use util::Clip;
use util::media::{Frame, assert_continuous, dump, frames, probe, wall_of};
use util::player::{self, Log, airing, capture};

fn coloured(secs: f64, pattern: &'static str) -> Clip {
    let mut c = Clip::new(640, 480, secs);
    c.pattern = pattern;
    c
}

/// Write a clip with `gst-launch-1.0` from a pipeline description whose muxer is `m`.
fn gst_clip(path: &Path, desc: &str) {
    let p = format!("{desc} m. ! filesink location={}", path.display());
    let out = Command::new("gst-launch-1.0").args(["-q", "-e"]).args(p.split_whitespace()).output().unwrap();
    assert!(out.status.success(), "clip generation failed: {p}\n{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_of_every_shape_come_out_in_the_channel_format_with_stereo_and_continuous_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 4:3, interlaced (bottom field first), 5.1 audio.
    let interlaced = d.join("interlaced-5.1.mp4");
    gst_clip(
        &interlaced,
        "videotestsrc num-buffers=60 pattern=red ! \
         video/x-raw,width=640,height=480,framerate=30000/1001,interlace-mode=interleaved ! \
         x264enc speed-preset=ultrafast interlaced=true key-int-max=30 ! h264parse ! queue ! m. mp4mux name=m \
         audiotestsrc num-buffers=94 samplesperbuffer=1024 volume=0.3 ! \
         audio/x-raw,rate=48000,channels=6,channel-mask=(bitmask)0x3f ! audioconvert ! avenc_aac ! aacparse ! \
         queue ! m.",
    );
    let streams = probe(&interlaced, "v", "-show_streams", "stream=field_order");
    assert_ne!(streams[0]["field_order"], "progressive", "the source is not interlaced");
    // 16:9 at 25 fps with mono audio.
    let mut wide = coloured(2.0, "green");
    (wide.width, wide.height, wide.fps, wide.channels) = (1280, 720, (25, 1), 1);
    let wide_path = d.join("wide-25-mono.mkv");
    wide.write(&wide_path);
    // 4:3 without an audio track.
    let mut silent = coloured(2.0, "blue");
    silent.audio = false;
    let silent_path = d.join("no-audio.mp4");
    silent.write(&silent_path);

    let t0 = SystemClock.now() + chrono::Duration::milliseconds(2500);
    let at = move |ms: i64| t0 + chrono::Duration::milliseconds(ms);
    let ch = ChannelId(1);
    let airings = vec![
        airing(1, ch, "interlaced 5.1", &interlaced, at(0), 2000),
        airing(2, ch, "16:9 25 fps mono", &wide_path, at(2000), 2000),
        airing(3, ch, "no audio", &silent_path, at(4000), 2000),
    ];
    let hub = StreamHub::new();
    let log = Arc::new(Log::default());
    let profile = OutputProfile {
        format: VideoFormat::Hd720,
        frame_rate: FrameRate::Ntsc,
        video_kbps: retrovue::lineup::VideoKbps::of(1500),
        audio_kbps: retrovue::lineup::AudioKbps::of(96),
    };
    let player = player::spawn(profile, airings, &hub, log.clone(), None);
    assert!(player.wait_running(Duration::from_secs(10)).await, "pipeline did not start");
    let anchor = player.status().anchor.unwrap();
    let ts = d.join("out.ts");
    let secs = (at(6600) - SystemClock.now()).num_milliseconds() as f64 / 1000.0;
    std::fs::write(&ts, capture(&hub, ch, secs).await).unwrap();
    player.stop().await;

    let f = frames(&ts);
    dump(&f, &anchor, t0, &log);
    assert_continuous(&ts);
    // Constant output: 720p video, stereo 48 kHz AAC in every frame.
    assert!(f.iter().all(|x| (x.width, x.height) == (1280, 720)), "output size changed");
    let audio = probe(&ts, "a", "-show_frames", "frame=channels,channel_layout");
    assert!(audio.len() > 100);
    assert!(audio.iter().all(|a| a["channels"] == "2" && a["channel_layout"] == "stereo"), "audio layout changed");
    let stream = &probe(&ts, "a", "-show_streams", "stream=codec_name,sample_rate,channels")[0];
    assert_eq!((stream["codec_name"].as_str(), stream["sample_rate"].as_str()), ("aac", "48000"));
    let streams = probe(&ts, "v", "-show_streams", "stream=field_order");
    assert!(streams[0].get("field_order").is_none_or(|o| o == "progressive" || o == "unknown"), "{streams:?}");

    let off_ms = |x: &Frame| (wall_of(&anchor, x.pts) - t0).num_milliseconds();
    let during = |from: i64, to: i64| f.iter().filter(move |x| off_ms(x) >= from && off_ms(x) < to);
    // 4:3 sources are pillarboxed: black columns left and right, the picture in between.
    for (from, c) in [(100, 'r'), (4100, 'b')] {
        let n = during(from, from + 1800).count();
        assert!(n > 45, "{n} frames of {c}");
        for x in during(from, from + 1800) {
            assert_eq!((x.cols[0], x.cols[3], x.cols[4], x.cols[7]), ('k', c, c, 'k'), "not pillarboxed: {:?}", x.cols);
        }
    }
    // 16:9 fills the picture; 25 fps is converted to the channel's 29.97 for its whole slot.
    let green: Vec<&Frame> = during(2000, 4000).collect();
    assert!(green.iter().all(|x| x.cols.iter().all(|c| *c == 'g')), "16:9 item not full frame");
    assert!((59..=61).contains(&green.len()), "{} frames in the 2 s slot", green.len());
    // Each item is on air at its scheduled instant, to the frame.
    for (start, c) in [(0, 'r'), (2000, 'g'), (4000, 'b')] {
        let first = f.iter().find(|x| x.colour() == c).unwrap();
        let err = (wall_of(&anchor, first.pts) - at(start)).num_nanoseconds().unwrap().abs();
        assert!(err <= 1_001_000_000 / 30, "{c} started {} ms off schedule", err as f64 / 1e6);
    }
    for t in ["interlaced 5.1", "16:9 25 fps mono", "no audio"] {
        assert_eq!(log.final_status(t).map(|s| s.0), Some(AsRunStatus::Aired), "{t}");
    }
    // Each item's sound: the 5.1 and the mono source are heard (in the stereo layout above),
    // the item without sound airs silence.
    let first_pts: i64 = probe(&ts, "a", "-show_packets", "packet=pts")[0]["pts"].parse().unwrap();
    let raw = util::media::decoded(&ts, &["-map", "0:a", "-f", "s16le", "-ac", "1", "-ar", "48000", "-"]);
    let samples: Vec<f32> =
        raw.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect();
    let sound_start = wall_of(&anchor, first_pts);
    let idx = |ms: i64| (((at(ms) - sound_start).num_milliseconds().max(0) as usize) * 48).min(samples.len());
    for (from, title, heard) in
        [(200, "interlaced 5.1", true), (2200, "16:9 25 fps mono", true), (4200, "no audio", false)]
    {
        let window = &samples[idx(from)..idx(from + 1600)];
        let level = util::audio::rms_db(window);
        println!("{title}: {level:.1} dBFS over {} samples", window.len());
        assert!(window.len() > 48 * 1500, "{title}: only {} samples", window.len());
        if heard {
            assert!(level > -30.0, "{title}: silent ({level:.1} dBFS)");
        } else {
            assert!(level < -60.0, "{title}: not silent ({level:.1} dBFS)");
        }
    }
}
