//! A stream that passes the engineer's checks (issue #18): the real daemon plays an
//! always-on channel of short items of mixed sources (320x240 to 1080p, 23.976 to 59.94 fps,
//! mono 32 and 44.1 kHz, stereo, 5.1, MP4 and MKV), so a 60 s capture of `/stream/2.ts`
//! crosses about a dozen item changes, and the raw TS bytes and the decoded capture are
//! measured against broadcast numbers (`util::ts::Timing` reads the bytes):
//! - continuity-counter errors: 0 (ETSI TR 101 290 1.4);
//! - PCR repetition ≤ 40 ms (TR 101 290 1.x/2.3), by the PCR values;
//! - PCR jitter against the PTS clock ≤ 500 ns: the spread of PCR − DTS over every PES
//!   whose first packet carries a PCR (`mpegtsmux` without a bitrate takes the PCR from the
//!   PCR stream's DTS, so a mux that keeps its clock shows 0: this proves the PCR follows
//!   the timestamps, not that it matches byte positions). TR 101 290's PCR_AC, each PCR against
//!   its byte position at the rate between its neighbours, only means something for a
//!   constant-bitrate stream; ours is variable-rate over HTTP (no null padding) and scores
//!   tens of ms there: printed, not asserted;
//! - PAT and PMT each at least every 100 ms (issue #18; TR 101 290 allows 500 ms), each
//!   table's time interpolated between the PCRs around it by packet position;
//! - video PTS one frame per step, audio PTS one AAC frame (1024 samples) per step; frames
//!   the encoder dropped (whole frames missing: issue #21's answer to a box that cannot keep
//!   up, seen here only when nice-0 work kept the 2-core box at a load of 7–10) are told
//!   apart from other steps: at most one in 500 (the soak's bound), each held on screen for
//!   two frames, never a jump of the timeline;
//! - constant format (ffprobe: one H.264 640x480 stream, one AAC 48 kHz stereo stream, every
//!   decoded frame the same size and layout);
//! - lip sync within +60/−40 ms (EBU R37: sound at most 60 ms late, 40 ms early) at every
//!   item change: each source has 100 ms white flashes, starting on its own frame grid, and
//!   1 kHz beeps starting at the same instants, about half a second after its start and
//!   before its end, so every change has one on each side. Flash onsets (first bright frame,
//!   decoded PTS) and beep onsets (1 ms envelope reaching a third of the beep's peak, sample
//!   position after the first decoded audio frame's PTS) are paired; the offset includes the
//!   output's frame quantisation (up to one output frame), as a viewer sees it. Each source's
//!   background grey tells which source a flash belongs to, for the per-source figures.
//!
//! Each figure is printed on one line (`ts: …`) so it can be quoted; `RETROVUE_TS_CAPTURE=<path>`
//! keeps a copy of the capture. Real time: about 75 s.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use util::Home;
use util::media::{decoded, probe};
use util::ts::{AAC_FRAME_TICKS_48K, NTSC_FRAME_TICKS, Timing, few_skipped};

const CAPTURE_SECS: u64 = 60;
/// Flash and beep length.
const MARK_SECS: f64 = 0.1;

/// A generated source: size, frame rate, audio layout, length and container.
struct Source {
    name: String,
    /// Index in the library: sets its background grey, so a flash tells whose it is.
    index: usize,
    size: (u32, u32),
    fps: (u32, u32),
    rate: u32,
    layout: &'static str,
    secs: f64,
}

impl Source {
    /// Instants (s) where the flash and beep start: on the source's frame grid, near the start
    /// and the end (at positions that differ per source), and one in the middle of long ones.
    fn marks(&self) -> Vec<f64> {
        let k = self.index;
        let fps = f64::from(self.fps.0) / f64::from(self.fps.1);
        let on_grid = |t: f64| (t * fps).round() / fps;
        let mut m = vec![on_grid(0.35 + 0.07 * k as f64), on_grid(self.secs - 0.55 - 0.05 * k as f64)];
        if self.secs > 6.0 {
            m.insert(1, on_grid(self.secs / 2.0));
        }
        m
    }

    /// Write it with ffmpeg: a dark grey picture with white flashes, silence with 1 kHz beeps
    /// (in every channel) at the same instants.
    fn write(&self, path: &Path) {
        let marks = &self.marks();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let on: Vec<String> = marks.iter().map(|t| format!("between(t,{t:.6},{:.6})", t + MARK_SECS - 1e-4)).collect();
        let on = on.join("+");
        let channels = match self.layout {
            "mono" => 1,
            "stereo" => 2,
            _ => 6,
        };
        let tone = format!("if({on},0.5*sin(2*PI*1000*t),0)");
        let exprs = vec![tone; channels].join("|");
        let (w, h) = self.size;
        let g = grey(self.index);
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!(
                "color=c=0x{g:02x}{g:02x}{g:02x}:s={w}x{h}:r={}/{}:d={},drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{on}'",
                self.fps.0, self.fps.1, self.secs
            ))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("aevalsrc=exprs='{exprs}':s={}:c={}:d={}", self.rate, self.layout, self.secs))
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30"])
            .args(["-c:a", "aac", "-b:a", "128k", "-shortest"])
            .arg(path)
            .output()
            .expect("ffmpeg");
        assert!(out.status.success(), "{}: {}", self.name, String::from_utf8_lossy(&out.stderr));
    }
}

fn source(
    index: usize,
    name: &str,
    size: (u32, u32),
    fps: (u32, u32),
    rate: u32,
    layout: &'static str,
    secs: f64,
) -> Source {
    Source { name: name.into(), index, size, fps, rate, layout, secs }
}

/// Background grey (RGB level) of source `index`.
fn grey(index: usize) -> u32 {
    24 + 12 * index as u32
}

/// Index of the source whose background decodes to grey `y` (ffmpeg's `gray` is full range).
fn source_of(y: u8) -> usize {
    ((f64::from(y) - 24.0) / 12.0).round().max(0.0) as usize
}

/// Spots of 3–9 s in every format (the channel's breaks, where it changes item every few
/// seconds) and one show for its slot; a channel of them, built for a day.
fn library_and_channel(home: &Home) -> Vec<Source> {
    let media = home.path().join("media");
    let spots = [
        source(0, "Spot 0.mp4", (854, 480), (60000, 1001), 48000, "stereo", 3.0),
        source(1, "Spot 1.mkv", (320, 240), (30, 1), 32000, "mono", 4.0),
        source(2, "Spot 2.mp4", (1920, 1080), (24, 1), 48000, "stereo", 3.5),
        source(3, "Spot 3.mp4", (640, 360), (25, 1), 48000, "5.1", 3.0),
        source(4, "Spot 4.mp4", (640, 480), (30000, 1001), 48000, "stereo", 9.0),
        source(5, "Spot 5.mkv", (1280, 720), (25, 1), 44100, "mono", 7.0),
        source(6, "Spot 6.mp4", (720, 480), (24000, 1001), 48000, "5.1", 8.0),
    ];
    for s in &spots {
        s.write(&media.join("commercials").join(&s.name));
    }
    let show = source(7, "Flash - S01E01 - One.mp4", (704, 480), (30000, 1001), 48000, "stereo", 9.0);
    show.write(&media.join("shows/Flash/Season 01").join(&show.name));
    for (dir, kind) in [("shows", "shows"), ("commercials", "commercials")] {
        home.ok(&["source", "add", "--folder", media.join(dir).to_str().unwrap(), "--kind", kind]);
    }
    home.ok(&["scan"]);
    home.write_config("[schedule]\ncommercial_repeat_window_min = 0\n");
    util::series_channel(home, "Flash TV", "Flash");
    spots.into_iter().chain([show]).collect()
}

/// GET `path` over HTTP/1.0 (no chunking) and return the body.
fn get(addr: &str, path: &str, timeout: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let head = all.windows(4).position(|w| w == b"\r\n\r\n").expect("response headers") + 4;
    let status = String::from_utf8_lossy(&all[..head]).lines().next().unwrap_or("").to_owned();
    assert!(status.contains(" 200"), "{path}: {status}");
    all.split_off(head)
}

/// Onsets (s, in the capture's PTS time) of the white flashes, the first frame of each run
/// of frames whose middle is bright, and the source each is in (by the grey of the frame
/// before).
fn flashes(ts: &Path) -> Vec<(f64, usize)> {
    let meta = probe(ts, "v", "-show_frames", "frame=pts");
    let raw = decoded(
        ts,
        &["-map", "0:v", "-vsync", "passthrough", "-vf", "scale=8:8:flags=area,format=gray", "-f", "rawvideo", "-"],
    );
    let middle: Vec<u8> =
        raw.chunks(64).map(|g| ([27, 28, 35, 36].iter().map(|&i| u32::from(g[i])).sum::<u32>() / 4) as u8).collect();
    let bright: Vec<bool> = middle.iter().map(|&y| y > 160).collect();
    assert_eq!(bright.len(), meta.len(), "decoded frames vs probed frames");
    let pts: Vec<f64> = meta.iter().map(|m| m["pts"].parse::<f64>().unwrap() / 90_000.0).collect();
    (1..bright.len()).filter(|&i| bright[i] && !bright[i - 1]).map(|i| (pts[i], source_of(middle[i - 1]))).collect()
}

/// Onsets (s, in the capture's PTS time) of the beeps: where the 1 ms envelope first reaches
/// a third of the beep's own peak after at least 300 ms of quiet.
fn beeps(ts: &Path) -> Vec<f64> {
    let first = probe(ts, "a", "-show_frames", "frame=pts");
    let start = first[0]["pts"].parse::<f64>().unwrap() / 90_000.0;
    let raw = decoded(ts, &["-map", "0:a:0", "-ac", "1", "-f", "s16le", "-acodec", "pcm_s16le", "-"]);
    let env: Vec<i32> = raw
        .chunks_exact(2)
        .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]])).abs())
        .collect::<Vec<_>>()
        .chunks(48)
        .map(|c| c.iter().copied().max().unwrap_or(0))
        .collect();
    let mut onsets = Vec::new();
    let mut quiet = 0;
    let mut i = 0;
    while i < env.len() {
        if env[i] < 300 {
            quiet += 1;
            i += 1;
            continue;
        }
        if quiet >= 300 {
            let peak = env[i..(i + 100).min(env.len())].iter().copied().max().unwrap();
            let at = i + env[i..].iter().position(|&e| e * 3 >= peak).unwrap();
            // Sample precision within the 1 ms window.
            onsets.push(start + at as f64 / 1000.0);
            i += 150;
        } else {
            i += 1;
        }
        quiet = 0;
    }
    onsets
}

#[test]
fn the_stream_passes_the_engineers_checks() {
    let home = Home::new();
    let sources = library_and_channel(&home);
    let daemon = home.serve(&[]);
    // Always on: the channel is up once two seconds of it bring a GOP's worth of bytes. A
    // request's duration runs from the request, and the channel's first bytes wait for its
    // programme's first picture (up to a few seconds on a busy box; the soak times that), so
    // the warm-up asks again until it gets them.
    let up = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let warm = get(&daemon.addr, "/stream/2.ts?duration=2", Duration::from_secs(30));
        if warm.len() > 10_000 {
            break;
        }
        assert!(std::time::Instant::now() < up, "channel 2 did not come up in 30 s:\n{}", daemon.stderr());
    }
    let from = chrono::Utc::now().timestamp_millis();
    let capture = get(&daemon.addr, &format!("/stream/2.ts?duration={CAPTURE_SECS}"), Duration::from_secs(30));
    let to = chrono::Utc::now().timestamp_millis();
    // Items that started inside the capture, from the as-run log.
    let started: Vec<String> =
        retrovue::db::Db::open(&home.data_dir().join("retrovue.db")).unwrap().call_blocking(move |c| {
            let mut q = c
                .prepare(
                    "SELECT kind || ' ' || title FROM playout_log WHERE actual_start_ms > ?1 AND actual_start_ms < ?2
                     GROUP BY actual_start_ms ORDER BY actual_start_ms",
                )
                .unwrap();
            q.query_map([from + 500, to - 500], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        });
    let changes = started.len();
    let dir = tempfile::tempdir().unwrap();
    let ts = dir.path().join("capture.ts");
    std::fs::write(&ts, &capture).unwrap();
    if let Ok(keep) = std::env::var("RETROVUE_TS_CAPTURE") {
        std::fs::write(keep, &capture).unwrap();
    }
    let complaints = util::gst_complaints(&daemon.stderr());
    drop(daemon);

    // Raw TS bytes.
    let t = Timing::of(&capture);
    let secs = (t.pcrs.last().unwrap().1 - t.pcrs[0].1) as f64 / 27e6;
    println!(
        "ts: captured {:.1} MB, {} packets, {secs:.1} s of PCR, {} video and {} audio PES",
        capture.len() as f64 / 1e6,
        t.packets,
        t.video_pes.len(),
        t.audio_pes.len()
    );
    println!("ts: {changes} item changes in the capture (as-run log): {started:?}");
    println!("ts: sync errors {}, continuity-counter errors {}", t.sync_errors, t.cc_errors);
    let pcr_max = t.pcr_interval_max_ms();
    println!("ts: PCR interval max {pcr_max:.1} ms ({} PCRs)", t.pcrs.len());
    let (pcr_spread, pcr_lead, pcr_at_pes) = t.pcr_vs_dts();
    println!(
        "ts: PCR against the PTS clock (PCR - DTS at each of {pcr_at_pes} PES starts carrying one): spread \
         {pcr_spread:.0} ns, PCR {:.1} ms before DTS",
        -pcr_lead
    );
    println!(
        "ts: PCR accuracy against byte position (TR 101 290 PCR_AC, VBR stream): max {:.0} ns",
        t.pcr_accuracy_max_ns()
    );
    let (pat_max, pmt_max) = (t.repetition_max_ms(&t.pats), t.repetition_max_ms(&t.pmts));
    println!(
        "ts: PAT interval max {pat_max:.1} ms ({}), PMT interval max {pmt_max:.1} ms ({})",
        t.pats.len(),
        t.pmts.len()
    );
    // Dropped frames (whole frames missing) are told apart from other steps: the first is
    // the daemon's answer to a box that cannot keep up (issue #21), the second a timing bug.
    let skipped = t.skipped_frames(NTSC_FRAME_TICKS);
    let video_steps: Vec<_> = Timing::odd_steps(&t.video_pes, NTSC_FRAME_TICKS)
        .into_iter()
        .filter(|s| !skipped.iter().any(|k| k.0 == s.0))
        .collect();
    let audio_steps = Timing::odd_steps(&t.audio_pes, AAC_FRAME_TICKS_48K);
    let dropped: i64 = skipped.iter().map(|k| k.1).sum();
    println!(
        "ts: video PTS steps not one frame {} (+ {dropped} frames dropped by the encoder in {} gaps), audio PTS \
         steps not 1024 samples {}",
        video_steps.len(),
        skipped.len(),
        audio_steps.len()
    );
    // Constant format.
    // (ffprobe lists each stream under its program and again on its own.)
    let streams =
        |kind: &str, entries: &str| -> std::collections::BTreeSet<std::collections::BTreeMap<String, String>> {
            probe(&ts, kind, "-hide_banner", entries).into_iter().map(|m| m.into_iter().collect()).collect()
        };
    let vs = streams("v", "stream=codec_name,profile,width,height,r_frame_rate");
    let as_ = streams("a", "stream=codec_name,profile,sample_rate,channels");
    let vf = probe(&ts, "v", "-show_frames", "frame=width,height,pix_fmt,pts");
    let af = probe(&ts, "a", "-show_frames", "frame=channels,nb_samples,pts");
    let sizes: std::collections::BTreeSet<(String, String, String)> =
        vf.iter().map(|f| (f["width"].clone(), f["height"].clone(), f["pix_fmt"].clone())).collect();
    let audio_formats: std::collections::BTreeSet<(String, String)> =
        af.iter().map(|f| (f["channels"].clone(), f["nb_samples"].clone())).collect();
    println!("ts: ffprobe video {vs:?}, frames {sizes:?}; audio {as_:?}, frames {audio_formats:?}");

    // Lip sync.
    let (f, b) = (flashes(&ts), beeps(&ts));
    let (lo, hi) = (f.first().map_or(0.0, |x| x.0), f.last().map_or(0.0, |x| x.0));
    let mut offsets = Vec::new();
    let mut unpaired = Vec::new();
    // Where the capture's sound begins: a viewer starts at a keyframe (a channel's first, or
    // the GOP cache's), and the multiplexer sends the sound of an instant ahead of its picture,
    // so the first few hundred ms of a capture have pictures but not yet their sound. A flash
    // there cannot have its beep (seen in CI once a channel's output began with its programme).
    // The same at the capture's end, the other way round: the sound of its last few hundred ms
    // left before their pictures, so a beep there may have lost its flash.
    let seconds = |frames: &[std::collections::HashMap<String, String>]| -> Vec<f64> {
        frames.iter().filter_map(|f| f["pts"].parse::<f64>().ok()).map(|p| p / 90_000.0).collect()
    };
    let sound_from = seconds(&af).first().copied().unwrap_or(f64::MAX);
    let pictures_to = seconds(&vf).into_iter().fold(f64::MIN, f64::max);
    for &(v, source) in &f {
        match b.iter().map(|&a| a - v).min_by(|x, y| x.abs().total_cmp(&y.abs())) {
            Some(d) if d.abs() < 0.3 => offsets.push((v, d * 1000.0, source)),
            _ if v < sound_from + 0.3 => {
                println!("ts: flash at {v:.3} s, before the capture's sound (from {sound_from:.3} s)")
            }
            _ => unpaired.push(v),
        }
    }
    for &a in &b {
        if f.iter().any(|&(v, _)| (a - v).abs() < 0.3) || a <= lo - 0.5 || a >= hi + 0.5 {
            continue;
        }
        if a > pictures_to - 0.3 {
            println!("ts: beep at {a:.3} s, after the capture's pictures (to {pictures_to:.3} s)");
        } else {
            unpaired.push(a);
        }
    }
    println!("ts: pictures to {pictures_to:.3} s, sound from {sound_from:.3} s");
    let worst_late = offsets.iter().map(|o| o.1).fold(f64::MIN, f64::max);
    let worst_early = offsets.iter().map(|o| o.1).fold(f64::MAX, f64::min);
    println!(
        "ts: lip sync over {} flash/beep pairs: sound {worst_early:+.1} .. {worst_late:+.1} ms (+ = sound late), \
         {} unpaired",
        offsets.len(),
        unpaired.len()
    );
    // One line for scripts/bench.sh.
    println!(
        "BENCH ts changes={changes} cc_errors={} pcr_interval_max_ms={pcr_max:.1} pcr_dts_spread_ns={pcr_spread:.0} \
         pcr_ac_vbr_ns={:.0} pat_max_ms={pat_max:.1} pmt_max_ms={pmt_max:.1} pts_step_errors={} dropped_frames={dropped} pairs={} unpaired={} \
         sound_early_ms={worst_early:.1} sound_late_ms={worst_late:.1}",
        t.cc_errors,
        t.pcr_accuracy_max_ns(),
        video_steps.len() + audio_steps.len(),
        offsets.len(),
        unpaired.len()
    );
    for s in &sources {
        let of: Vec<f64> = offsets.iter().filter(|o| o.2 == s.index).map(|o| o.1).collect();
        if let (Some(lo), Some(hi)) = (of.iter().copied().reduce(f64::min), of.iter().copied().reduce(f64::max)) {
            println!(
                "ts: lip sync of {} ({}x{} {:.3} fps, {} Hz {}): sound {lo:+.1} .. {hi:+.1} ms over {} pairs",
                s.name,
                s.size.0,
                s.size.1,
                f64::from(s.fps.0) / f64::from(s.fps.1),
                s.rate,
                s.layout,
                of.len()
            );
        }
    }

    assert!(complaints.is_empty(), "{complaints:?}");
    assert!(changes >= 8, "only {changes} item changes in the capture");
    assert!(secs > CAPTURE_SECS as f64 - 5.0, "only {secs:.1} s captured");
    assert_eq!(t.sync_errors, 0);
    assert_eq!(t.cc_errors, 0, "continuity-counter errors");
    assert!(pcr_max <= 40.0, "PCR interval {pcr_max:.1} ms > 40 ms");
    assert!(pcr_spread <= 500.0, "PCR jitter against the PTS clock {pcr_spread:.0} ns > 500 ns");
    assert!(pat_max <= 100.0, "PAT interval {pat_max:.1} ms > 100 ms");
    assert!(pmt_max <= 100.0, "PMT interval {pmt_max:.1} ms > 100 ms");
    assert!(video_steps.is_empty(), "video PTS steps: {video_steps:?}");
    // A frame the encoder drops while the box is short of CPU is held on screen for two (issue
    // #21's choice over falling behind the clock); CI's box runs this beside nothing, so a
    // handful at most: the soak's bound, one in 500.
    assert!(
        few_skipped(dropped as u64, t.video_pes.len() as u64, 0),
        "the encoder dropped {dropped} of {} frames (box overloaded?): {skipped:?}",
        t.video_pes.len()
    );
    assert!(audio_steps.is_empty(), "audio PTS steps: {audio_steps:?}");
    assert_eq!(vs.len(), 1, "{vs:?}");
    let v = vs.first().unwrap();
    assert_eq!((v["codec_name"].as_str(), v["width"].as_str(), v["height"].as_str()), ("h264", "640", "480"));
    assert_eq!(sizes.len(), 1, "video format changed: {sizes:?}");
    assert_eq!(as_.len(), 1, "{as_:?}");
    let a = as_.first().unwrap();
    assert_eq!((a["sample_rate"].as_str(), a["channels"].as_str()), ("48000", "2"));
    assert_eq!(audio_formats.len(), 1, "audio format changed: {audio_formats:?}");
    // Marks near both ends of every item: at least two pairs for each item wholly inside.
    assert!(offsets.len() >= 2 * (changes - 1), "only {} flash/beep pairs for {changes} item changes", offsets.len());
    assert!(unpaired.is_empty(), "flashes or beeps without their partner at {unpaired:?}");
    assert!(worst_late <= 60.0 && worst_early >= -40.0, "lip sync {worst_early:+.1} .. {worst_late:+.1} ms");
}
