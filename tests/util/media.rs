//! Reading a channel's output back for assertions: ffprobe entries, every video frame as
//! a coarse colour grid (to see what aired, letterboxing and pillarboxing), and timestamp
//! continuity.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Utc};
use retrovue::playout::timeline::Anchor;

use super::player::Log;

/// What ffmpeg decodes from `input` and writes to its standard output with `args` (the
/// output options, ending in `-`): raw pixels or samples for a test to measure.
pub fn decoded(input: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(input).args(args).output().unwrap();
    assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `ffprobe -show_entries` of one stream kind, one map per line.
pub fn probe(path: &Path, stream: &str, what: &str, entries: &str) -> Vec<HashMap<String, String>> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream, what, "-show_entries", entries, "-of", "compact=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        // A frame's second side data (x264's version SEI after the captions, say) comes on a
        // line of its own: not a frame.
        .filter(|l| !l.trim().is_empty() && !l.starts_with("side_data"))
        .map(|l| l.split('|').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
        .collect()
}

/// One decoded output frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub pts: i64,
    /// A keyframe.
    pub key: bool,
    pub width: u32,
    pub height: u32,
    /// Colours across the middle of the picture (averaged to an 8x8 grid: row 3).
    pub cols: Vec<char>,
    /// Colours down the middle of the picture (column 3 of the grid).
    pub rows: Vec<char>,
}

impl Frame {
    /// Colour of the middle of the picture.
    pub fn colour(&self) -> char {
        self.cols[3]
    }
}

/// Where the middle colour changes: (colour, PTS of the run's first frame) per run.
pub fn colour_runs(frames: &[Frame]) -> Vec<(char, i64)> {
    frames
        .iter()
        .enumerate()
        .filter(|(i, x)| *i == 0 || frames[i - 1].colour() != x.colour())
        .map(|(_, x)| (x.colour(), x.pts))
        .collect()
}

/// Every video frame of a TS with its colour grid.
pub fn frames(path: &Path) -> Vec<Frame> {
    let meta = probe(path, "v", "-show_frames", "frame=pts,key_frame,width,height");
    let raw = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-vsync", "passthrough", "-vf", "format=rgb24,scale=8:8:flags=area", "-f", "rawvideo"])
        .args(["-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(raw.status.success(), "{}", String::from_utf8_lossy(&raw.stderr));
    let grids: Vec<Vec<char>> =
        raw.stdout.chunks(192).map(|f| f.chunks(3).map(|p| colour(p[0], p[1], p[2])).collect()).collect();
    assert_eq!(grids.len(), meta.len(), "decoded frames vs probed frames");
    meta.iter()
        .zip(grids)
        .map(|(m, g)| Frame {
            pts: m["pts"].parse().unwrap(),
            key: m["key_frame"] == "1",
            width: m["width"].parse().unwrap(),
            height: m["height"].parse().unwrap(),
            cols: g[24..32].to_vec(),
            rows: (0..8).map(|r| g[r * 8 + 3]).collect(),
        })
        .collect()
}

/// Black, red, green, blue or `?`.
pub fn colour(r: u8, g: u8, b: u8) -> char {
    match (r > 100, g > 100, b > 100) {
        _ if r < 40 && g < 40 && b < 40 => 'k',
        (true, false, false) if g < 60 && b < 60 => 'r',
        (false, true, false) if r < 60 && b < 60 => 'g',
        (false, false, true) if r < 60 && g < 60 => 'b',
        _ => '?',
    }
}

/// Wall-clock instant of a TS PTS (mpegtsmux starts its timestamps at one hour).
pub fn wall_of(anchor: &Anchor, pts: i64) -> DateTime<Utc> {
    anchor.wall_at((pts * 100_000 / 9 - 3_600_000_000_000).max(0) as u64)
}

pub const FRAME_TICKS: i64 = 3003; // 29.97 fps in 90 kHz
/// One 29.97 fps frame in ns.
pub const FRAME_NS: i64 = 1_001_000_000 / 30;
/// The anchor's own uncertainty: the daemon takes it from a clean reading of both clocks,
/// which spans at most 5 ms, so it is right to within half of that.
pub const ANCHOR_NS: i64 = 2_500_000;

/// Whether a picture that began with the frame at `pts` began on time for `at`: in the
/// frame slot the instant falls into (up to `frames` frames late), give or take the anchor's
/// uncertainty. Returns the error in ms for the message when it did not.
pub fn off_schedule(anchor: &Anchor, pts: i64, at: DateTime<Utc>, frames: i64) -> Option<f64> {
    let err = (wall_of(anchor, pts) - at).num_nanoseconds().unwrap().abs();
    (err > frames * FRAME_NS + ANCHOR_NS).then_some(err as f64 / 1e6)
}

/// Video PTS steps by exactly one frame and DTS increases; AAC frames follow each other.
pub fn assert_continuous(path: &Path) {
    let v = probe(path, "v", "-show_packets", "packet=pts,dts");
    assert!(v.len() > 100, "too few video packets: {}", v.len());
    for w in v.windows(2) {
        let (a, b): (i64, i64) = (w[0]["pts"].parse().unwrap(), w[1]["pts"].parse().unwrap());
        let (da, db): (i64, i64) = (w[0]["dts"].parse().unwrap(), w[1]["dts"].parse().unwrap());
        assert!((b - a - FRAME_TICKS).abs() <= 1, "video PTS step {} at {a}", b - a);
        assert!(db > da, "DTS not increasing at {da}");
    }
    let a = probe(path, "a", "-show_packets", "packet=pts");
    assert!(a.len() > 100, "too few audio packets: {}", a.len());
    for w in a.windows(2) {
        let (x, y): (i64, i64) = (w[0]["pts"].parse().unwrap(), w[1]["pts"].parse().unwrap());
        assert!((y - x - 1920).abs() <= 1, "audio PTS step {} at {x}", y - x);
    }
}

/// Print what aired (for a failing test's output).
pub fn dump(f: &[Frame], anchor: &Anchor, t0: DateTime<Utc>, log: &Log) {
    let runs: Vec<(String, i64)> = f
        .iter()
        .enumerate()
        .filter(|(i, x)| *i == 0 || f[i - 1].cols != x.cols)
        .map(|(_, x)| (x.cols.iter().collect(), (wall_of(anchor, x.pts) - t0).num_milliseconds()))
        .collect();
    println!("pictures (ms from the first item): {runs:?}");
    for e in log.0.lock().unwrap().iter() {
        println!("as-run: {} {:?} {:?}", e.airing.title, e.status, e.reason);
    }
}
