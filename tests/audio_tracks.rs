//! Every audio language (issue #18): a channel with two audio tracks, English (main) and
//! Spanish, lists both with their ISO 639 language in the PMT, for its whole life, and each
//! track carries the item's stream in its language — found by tag, not by order — or, when
//! the item lacks it, the main audio (or silence, by the channel's setting). Items are tones
//! of known frequency per language, read back per PID with ffmpeg. Real time: about 40 s.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::Utc;
use retrovue::clock::SystemClock;
use retrovue::lineup::{AudioTracks, ChannelId, FrameRate, MissingLanguage, OutputProfile, VideoFormat};
use retrovue::playout::ChannelPlayer;
use retrovue::playout::pipeline::Output;
use retrovue::schedule::Airing;
use retrovue::schedule::horizons::{self, Horizon};
use retrovue::stream::StreamHub;
use util::audio::{self, ffmpeg};
use util::player::{self, Log};

const ITEM_MS: i64 = 8_000;
const GAP_MS: i64 = 2_000;

fn profile() -> OutputProfile {
    OutputProfile {
        format: VideoFormat::Sd640x480,
        frame_rate: FrameRate::Ntsc,
        video_kbps: retrovue::lineup::VideoKbps::of(600),
        audio_kbps: retrovue::lineup::AudioKbps::of(96),
    }
}

/// An item with one audio stream per (frequency, language tag) in that order.
fn item(dir: &Path, name: &str, streams: &[(u32, Option<&str>)]) -> PathBuf {
    let path = dir.join(format!("{name}.mkv"));
    let secs = ITEM_MS as f64 / 1000.0 + 1.0;
    let mut args: Vec<String> =
        vec!["-f".into(), "lavfi".into(), "-i".into(), format!("testsrc=s=160x120:r=10:d={secs}")];
    for (hz, _) in streams {
        args.extend(["-f".into(), "lavfi".into(), "-i".into(), format!("sine=f={hz}:r=48000:d={secs}")]);
    }
    args.extend(["-map".into(), "0:v".into()]);
    for (i, (_, lang)) in streams.iter().enumerate() {
        args.extend(["-map".into(), format!("{}:a", i + 1)]);
        if let Some(l) = lang {
            args.extend([format!("-metadata:s:a:{i}"), format!("language={l}")]);
        }
    }
    args.extend(
        ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "flac", "-shortest", path.to_str().unwrap()]
            .map(String::from),
    );
    ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
    path
}

fn tracks(missing: MissingLanguage) -> AudioTracks {
    AudioTracks { languages: AudioTracks::parse_list("eng,spa").unwrap(), missing }
}

fn spawn(channel: i64, tracks: AudioTracks, airings: Vec<Airing>, hub: &StreamHub) -> ChannelPlayer {
    let mut config = player::x264_config(profile());
    config.channel = ChannelId(channel);
    config.audio_tracks = tracks;
    let output = Output { feed: hub.feed(ChannelId(channel)), hls: None };
    ChannelPlayer::spawn(
        config,
        horizons::fixed(Horizon::of(airings)),
        Arc::new(Log::default()),
        Arc::new(SystemClock),
        output,
    )
    .unwrap()
}

/// (PID, language) of each audio stream ffprobe finds in `ts`.
fn audio_streams(ts: &Path) -> Vec<(String, String)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a",
            "-show_entries",
            "stream=id:stream_tags=language",
            "-of",
            "csv=p=0",
        ])
        .arg(ts)
        .output()
        .unwrap();
    // The program's streams are listed first without their tags: keep the streams section.
    let mut list: Vec<(String, String)> = Vec::new();
    for l in String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()) {
        let mut parts = l.split(',');
        let entry = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
        list.retain(|(id, _)| *id != entry.0);
        list.push(entry);
    }
    list
}

/// Packet times (s) of the stream with id `pid` in `ts`.
fn packet_times(ts: &Path, pid: &str) -> Vec<f64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            &format!("i:{pid}"),
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(ts)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().trim_end_matches(',').parse().ok()).collect()
}

/// The tone of each run of sound on track `pid` of `ts`, in order (Hz), a tone repeated by
/// consecutive runs counted once (an item the content watchdog retried on a starved machine
/// has a gap in its middle; what matters here is which audio each track carried).
fn tones(dir: &Path, ts: &Path, pid: &str) -> Vec<f64> {
    let wav = dir.join(format!("{}-{pid}.wav", ts.file_stem().unwrap().to_string_lossy()));
    audio::decode_track(ts, &format!("0:i:{pid}"), &wav);
    let samples = audio::wav_samples(&wav);
    audio::sounding_runs(&samples, 1.0)
        .into_iter()
        .filter(|(s, e)| e - s > 1.0)
        .map(|(s, e)| {
            let mid = (s + e) / 2.0;
            let from = ((mid - 0.5) * 48_000.0) as usize * 2;
            audio::dominant_hz(&samples[from..from + 48_000 * 2])
        })
        .fold(Vec::new(), |mut v: Vec<f64>, hz| {
            if v.last() != Some(&hz) {
                v.push(hz);
            }
            v
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_track_carries_its_language_for_the_whole_life_of_the_channel() {
    gstreamer::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Spanish first in the file, English second: tracks are matched by tag, not by order.
    let bilingual = item(d, "bilingual", &[(440, Some("spa")), (1000, Some("eng"))]);
    let untagged = item(d, "untagged", &[(660, None)]);
    let spanish = item(d, "spanish", &[(880, Some("spa"))]);
    let start = Utc::now() + chrono::Duration::seconds(4);
    let at = |i: i64| start + chrono::Duration::milliseconds(i * (ITEM_MS + GAP_MS));
    let main = vec![
        player::airing(1, ChannelId(1), "bilingual", &bilingual, at(0), ITEM_MS),
        player::airing(2, ChannelId(1), "untagged", &untagged, at(1), ITEM_MS),
        player::airing(3, ChannelId(1), "spanish", &spanish, at(2), ITEM_MS),
    ];
    let silent = vec![
        player::airing(4, ChannelId(2), "untagged", &untagged, at(0), ITEM_MS),
        player::airing(5, ChannelId(2), "spanish", &spanish, at(1), ITEM_MS),
    ];
    let hub = StreamHub::new();
    let p1 = spawn(1, tracks(MissingLanguage::Main), main, &hub);
    let p2 = spawn(2, tracks(MissingLanguage::Silence), silent, &hub);
    let secs = 4.0 + 3.0 * (ITEM_MS + GAP_MS) as f64 / 1000.0;
    let (c1, c2) = tokio::join!(player::capture(&hub, ChannelId(1), secs), player::capture(&hub, ChannelId(2), secs));
    p1.stop().await;
    p2.stop().await;
    let (ts1, ts2) = (d.join("main.ts"), d.join("silence.ts"));
    std::fs::write(&ts1, &c1).unwrap();
    std::fs::write(&ts2, &c2).unwrap();

    // Both tracks, in the PMT with their languages, on both channels.
    for ts in [&ts1, &ts2] {
        let streams = audio_streams(ts);
        println!("{}: audio streams {streams:?}", ts.display());
        assert_eq!(
            streams,
            [("0x101".to_owned(), "eng".to_owned()), ("0x102".to_owned(), "spa".to_owned())],
            "{}",
            ts.display()
        );
        // Never appearing or disappearing: audio packets on both PIDs all along.
        for pid in ["0x101", "0x102"] {
            let times = packet_times(ts, pid);
            let span = times.last().unwrap() - times.first().unwrap();
            let gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
            println!("  {pid}: {} packets over {span:.1} s, longest gap {:.0} ms", times.len(), gap * 1000.0);
            assert!(span > secs - 4.0, "{pid}: packets over {span:.1} s only");
            assert!(gap < 0.2, "{pid}: a {gap:.2} s hole in the track");
        }
    }

    // What each track carried, item by item.
    let t = |ts: &Path, pid: &str| tones(d, ts, pid);
    let (eng, spa) = (t(&ts1, "0x101"), t(&ts1, "0x102"));
    println!("missing = main: eng {eng:?}, spa {spa:?}");
    assert_eq!(eng, [1000.0, 660.0, 880.0], "English: its stream, then the main audio twice");
    assert_eq!(spa, [440.0, 660.0, 880.0], "Spanish: its stream, the main audio, its stream");
    let (eng, spa) = (t(&ts2, "0x101"), t(&ts2, "0x102"));
    println!("missing = silence: eng {eng:?}, spa {spa:?}");
    assert_eq!(eng, [660.0, 880.0]);
    assert_eq!(spa, [880.0], "Spanish: silence under the untagged item");
}
