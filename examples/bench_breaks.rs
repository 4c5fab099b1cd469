//! The scan-time cost of finding break points (issue #20): the library's loudness pass over a
//! generated episode (H.264 640x480 + AAC, `SECS` long, a black-and-silent gap every 5
//! minutes) with and without looking for breaks, interleaved, median of `ROUNDS` each.
//! Prints `plain_s=… breaks_s=… overhead_pct=… found=… gaps=… video_decoded_pct=…`.
//!
//! `cargo run --release --example bench_breaks [SECS] [ROUNDS]` (scripts/bench.sh runs it).

use std::process::Command;
use std::time::{Duration, Instant};

use retrovue::library::loudness;

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1320);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("episode.mp4");
    // Gaps of one second every 300 s (from 150 s), after a cut.
    let gaps: Vec<u32> = (150..secs.saturating_sub(10)).step_by(300).collect();
    let black = gaps
        .iter()
        .map(|g| format!("drawbox=color=black:t=fill:enable='between(t,{g},{})'", g + 1))
        .collect::<Vec<_>>()
        .join(",");
    let mute = gaps.iter().map(|g| format!("volume=0:enable='between(t,{g},{})'", g + 1)).collect::<Vec<_>>().join(",");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=640x480:rate=30000/1001:duration={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate=48000:duration={secs}"))
        .args(["-vf", if black.is_empty() { "null" } else { &black }])
        .args(["-af", if mute.is_empty() { "anull" } else { &mute }])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&path)
        .output()
        .expect("ffmpeg");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    let uri = format!("file://{}", path.display());
    let (mut plain, mut with) = (Vec::new(), Vec::new());
    let (mut found, mut decoded) = (0, 0.0);
    for _ in 0..rounds {
        let t = Instant::now();
        loudness::analyse(&uri, Duration::from_secs(3600), false).expect("plain pass");
        plain.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let a = loudness::analyse(&uri, Duration::from_secs(3600), true).expect("pass with breaks");
        with.push(t.elapsed().as_secs_f64());
        found = a.breaks.map_or(0, |b| b.len());
        decoded = a.video_decoded * 100.0;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (p, w) = (median(&mut plain), median(&mut with));
    println!(
        "plain_s={p:.3} breaks_s={w:.3} overhead_pct={:.1} found={found} gaps={} video_decoded_pct={decoded:.1}",
        (w / p - 1.0) * 100.0,
        gaps.len()
    );
}
