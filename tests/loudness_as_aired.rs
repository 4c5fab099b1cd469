//! Loudness as aired (issue #18), measured on what leaves the box: a channel plays items of
//! known loudness in every layout — 12 LU too loud, 10 LU too quiet, mono, 5.1, a quiet
//! commercial with full-scale clicks, and one never measured — and ffmpeg's `ebur128`
//! measures each item's window of the decoded output: within ±1 LU of the target, true peak
//! ≤ -1 dBTP. The gain comes from the library's latest measurement when the item is opened
//! (the schedule rows say every item is already at the target, which would leave the loud
//! one 12 LU too loud), and the never-measured item's on-air measurement is handed back.
//! Real time: about 100 s.

mod util;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use retrovue::clock::SystemClock;
use retrovue::library::{MediaId, loudness};
use retrovue::lineup::{ChannelId, FrameRate, OutputProfile, VideoFormat};
use retrovue::playout::ChannelPlayer;
use retrovue::playout::pipeline::{Output, audio_caps};
use retrovue::schedule::Airing;
use retrovue::schedule::horizons::{self, Horizon};
use retrovue::stream::StreamHub;
use util::audio::{self, Book, Layout};
use util::player::{self, Log};

const TARGET: f64 = -24.0;
const ITEM_SECS: f64 = 12.0;
const GAP_SECS: f64 = 2.0;

fn profile() -> OutputProfile {
    OutputProfile {
        format: VideoFormat::Sd640x480,
        frame_rate: FrameRate::Ntsc,
        video_kbps: retrovue::lineup::VideoKbps::of(800),
        audio_kbps: retrovue::lineup::AudioKbps::of(128),
    }
}

#[test]
fn the_library_measures_in_the_layout_that_airs() {
    gstreamer::init().unwrap();
    assert_eq!(loudness::aired_caps(), audio_caps());
    let dir = tempfile::tempdir().unwrap();
    // At -24 LUFS in their own layouts: a mono item airs duplicated to two channels (+3 LU), a
    // 5.1 item downmixed (about 10 LU quieter). The library must see what airs.
    for (layout, aired) in [(Layout::Mono, -21.0), (Layout::Surround, -34.0), (Layout::Stereo, -24.0)] {
        let path = audio::item(dir.path(), &format!("{layout:?}"), layout, -24.0, 6.0);
        let uri = glib::filename_to_uri(&path, None).unwrap();
        let lufs = loudness::measure(&uri, Duration::from_secs(60)).unwrap();
        println!("{layout:?}: -24.0 LUFS in its own layout, {lufs:.1} LUFS as aired");
        assert!((lufs - aired).abs() < 1.5, "{layout:?}: {lufs:.1} LUFS as aired, expected about {aired}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reads_the_latest_loudness_and_stores_what_aired() {
    use retrovue::library::loudness::LibraryLoudness;
    use retrovue::library::store::{self, ItemRecord, SourceSpec};
    use retrovue::playout::ItemLoudness;
    let db = retrovue::db::Db::open_in_memory().unwrap();
    let id = db.call_blocking(|c| {
        let spec = SourceSpec::Folder { path: "/media/spots".into(), content_kind: "commercials".into() };
        let src = store::insert_source(c, "Spots", &spec, 1).unwrap();
        let rec =
            ItemRecord { external_id: "a.mp4".into(), uri: "file:///media/spots/a.mp4".into(), ..Default::default() };
        store::upsert_item(c, src, &rec, 1).unwrap().0
    });
    let book = Arc::new(LibraryLoudness::new(db.clone(), Arc::new(SystemClock)));
    // Asked from a channel's own thread, as the actor does.
    let b = book.clone();
    assert_eq!(std::thread::spawn(move || b.current(id)).join().unwrap(), None);
    book.measured_on_air(id, -17.5, 12.0);
    let stored = util::wait_for(Duration::from_secs(5), || book.current(id));
    assert_eq!(stored, Some(-17.5), "the on-air measurement is the item's latest loudness");
    db.call_blocking(|c| store::set_loudness(c, id, Ok(-18.0), 2)).unwrap();
    assert_eq!(book.current(id), Some(-18.0), "a full measurement wins");
}

struct Case {
    name: &'static str,
    layout: Layout,
    lufs: f64,
    measured: bool,
}

/// One item's figures on the output.
struct Outcome {
    name: &'static str,
    /// Integrated loudness of its window (LUFS) and from 4 s on.
    lufs: f64,
    late: f64,
    /// True peak (dBTP).
    peak: f64,
}

/// What a run of the cases gave: each item's outcome, what the library measured of each (in
/// the aired layout), and the on-air measurements playout handed back.
struct Aired {
    outcomes: Vec<Outcome>,
    as_aired: Vec<f64>,
    on_air: Vec<(MediaId, f64, f64)>,
}

/// Play the six cases on one channel and measure each on the decoded output.
async fn air_the_cases(d: &std::path::Path) -> Aired {
    gstreamer::init().unwrap();
    let cases = [
        Case { name: "loud", layout: Layout::Stereo, lufs: TARGET + 12.0, measured: true },
        Case { name: "quiet", layout: Layout::Stereo, lufs: TARGET - 10.0, measured: true },
        Case { name: "mono", layout: Layout::Mono, lufs: TARGET, measured: true },
        Case { name: "surround", layout: Layout::Surround, lufs: TARGET, measured: true },
        Case { name: "clicks", layout: Layout::Clicks, lufs: TARGET - 12.0, measured: true },
        Case { name: "unmeasured", layout: Layout::Stereo, lufs: TARGET + 10.0, measured: false },
    ];
    let book = Arc::new(Book::default());
    let mut items = Vec::new();
    let mut aired_layout = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let path = audio::item(d, c.name, c.layout, c.lufs, ITEM_SECS + 1.0);
        // What the library's background job stores for the item: measured as it airs.
        let uri = glib::filename_to_uri(&path, None).unwrap();
        let as_aired = loudness::measure(&uri, Duration::from_secs(60)).unwrap();
        aired_layout.push(as_aired);
        if c.measured {
            book.known.lock().unwrap().insert(MediaId(i as i64 + 1), as_aired);
        }
        items.push(path);
    }
    let start = Utc::now() + chrono::Duration::seconds(4);
    let mut airings: Vec<Airing> = Vec::new();
    for (i, (c, path)) in cases.iter().zip(&items).enumerate() {
        let at = start + chrono::Duration::milliseconds((i as f64 * (ITEM_SECS + GAP_SECS) * 1000.0) as i64);
        let mut a = player::airing(i as i64 + 1, ChannelId(1), c.name, path, at, (ITEM_SECS * 1000.0) as i64);
        a.media_id = Some(MediaId(i as i64 + 1));
        // The frozen schedule row: "already at the target" (a 0 dB gain if it were used).
        a.loudness_lufs = Some(TARGET);
        airings.push(a);
    }
    let hub = StreamHub::new();
    let log = Arc::new(Log::default());
    let mut config = player::x264_config(profile());
    config.target_lufs = TARGET;
    config.loudness = Some(book.clone());
    let player = ChannelPlayer::spawn(
        config,
        horizons::fixed(Horizon::of(airings)),
        log.clone(),
        Arc::new(SystemClock),
        Output { feed: hub.feed(ChannelId(1)), hls: None },
    )
    .unwrap();
    let total = 4.0 + cases.len() as f64 * (ITEM_SECS + GAP_SECS) + 1.0;
    let ts = player::capture(&hub, ChannelId(1), total).await;
    player.stop().await;
    let cap = d.join("capture.ts");
    std::fs::write(&cap, &ts).unwrap();
    let wav = d.join("capture.wav");
    audio::decode_track(&cap, "0:a:0", &wav);
    let runs = audio::sounding_runs(&audio::wav_samples(&wav), 1.0);
    println!("sounding runs: {runs:?}");
    assert_eq!(runs.len(), cases.len(), "one run of sound per item: {runs:?}");

    let mut outcomes = Vec::new();
    for ((c, (s, e)), as_aired) in cases.iter().zip(&runs).zip(&aired_layout) {
        assert!(e - s > ITEM_SECS - 0.5, "{}: only {:.1} s of sound", c.name, e - s);
        let (lufs, peak) = audio::ebur128(&wav, Some((s + 0.3, e - s - 0.6)));
        let (late, _) = audio::ebur128(&wav, Some((s + 4.0, e - s - 4.3)));
        println!(
            "{:<10} source {:6.1} LUFS ({:6.1} as aired) -> output {lufs:6.1} LUFS ({:+.1} LU), from 4 s {late:6.1}, true peak {peak:5.1} dBTP",
            c.name,
            c.lufs,
            as_aired,
            lufs - TARGET
        );
        outcomes.push(Outcome { name: c.name, lufs, late, peak });
    }
    let on_air = book.on_air.lock().unwrap().clone();
    Aired { outcomes, as_aired: aired_layout, on_air }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_item_airs_on_the_target_with_true_peaks_under_the_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let aired = air_the_cases(dir.path()).await;
    let mut failures = Vec::new();
    for Outcome { name, lufs, late, peak } in &aired.outcomes {
        if (late - TARGET).abs() > 1.0 {
            failures.push(format!("{name}: {late:.1} LUFS from 4 s on, target {TARGET}"));
        }
        if (lufs - TARGET).abs() > 1.0 {
            failures.push(format!("{name}: {lufs:.1} LUFS, target {TARGET}"));
        }
        if *peak > -1.0 {
            failures.push(format!("{name}: true peak {peak:.1} dBTP"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // The never-measured item's on-air measurement went back to the library, close to what
    // the background job measures in the same layout.
    let (on_air, aired_layout) = (aired.on_air, aired.as_aired);
    let unmeasured = aired.outcomes.len() as i64;
    let m = on_air
        .iter()
        .find(|(id, ..)| id.0 == unmeasured)
        .unwrap_or_else(|| panic!("no on-air measurement: {on_air:?}"));
    println!("on-air measurement: {:.1} LUFS over {:.1} s (library: {:.1})", m.1, m.2, aired_layout[5]);
    assert!((m.1 - aired_layout[5]).abs() < 0.5, "{m:?} vs {:.1}", aired_layout[5]);
    assert!(m.2 > ITEM_SECS - 1.0, "{m:?}");
    assert_eq!(on_air.len(), 1, "measured items are not measured again: {on_air:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by scripts/bench.sh"]
async fn bench_loudness_per_item_class() {
    let dir = tempfile::tempdir().unwrap();
    let aired = air_the_cases(dir.path()).await;
    for o in &aired.outcomes {
        println!(
            "BENCH loudness class={} error_lu={:.2} late_error_lu={:.2} true_peak_dbtp={:.1}",
            o.name,
            o.lufs - TARGET,
            o.late - TARGET,
            o.peak
        );
    }
    if let Some((_, lufs, secs)) = aired.on_air.first() {
        println!("BENCH on_air_measurement lufs={lufs:.2} library_lufs={:.2} seconds={secs:.1}", aired.as_aired[5]);
    }
}

/// CPU time of this thread (s).
fn thread_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime, stime: fields 14 and 15 of stat, 11 and 12 after the command.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[test]
#[ignore = "benchmark: run by scripts/bench.sh"]
fn bench_audio_processing_cost() {
    use retrovue::playout::leveller::{self, Level, Leveller};
    use retrovue::playout::limiter::{CEILING_DBTP, TruePeakLimiter};
    let secs = 60usize;
    let mut seed = 7u32;
    let audio: Vec<f32> = (0..48_000 * secs * 2)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 1.5
        })
        .collect();
    let block = 2 * 1024;
    // Loud noise keeps the limiter's oversampling busy on every frame (its worst case);
    // programme audio at the target (peaks well under the ceiling) mostly skips it.
    let limiter_cost = |scale: f32| {
        let mut limiter = TruePeakLimiter::new(2, 48_000, CEILING_DBTP);
        let mut work: Vec<f32> = audio.iter().map(|s| s * scale).collect();
        let t0 = thread_cpu_s();
        for chunk in work.chunks_mut(block) {
            limiter.process(chunk);
        }
        thread_cpu_s() - t0
    };
    let worst_s = limiter_cost(1.0);
    let limiter_s = limiter_cost(0.2);
    let mut l = Leveller::new(Level::OnAir(TARGET), 2, 48_000);
    let mut work = audio.clone();
    let t0 = thread_cpu_s();
    let mut applied = 0.0;
    for chunk in work.chunks_mut(block) {
        l.measure(chunk);
        leveller::apply(chunk, 2, applied, l.gain_db());
        applied = l.gain_db();
    }
    let on_air_s = thread_cpu_s() - t0;
    println!(
        "BENCH audio_cost limiter_ms_per_s={:.2} limiter_worst_ms_per_s={:.2} on_air_control_ms_per_s={:.2} audio_s={secs}",
        limiter_s * 1000.0 / secs as f64,
        worst_s * 1000.0 / secs as f64,
        on_air_s * 1000.0 / secs as f64
    );
}
