//! Audio test support: generated items of known loudness and layout (ffmpeg), a fake
//! loudness book for the player, and measuring a channel capture per item with ffmpeg's
//! `ebur128` filter (EBU R128 integrated loudness and true peak, what the goals name).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use retrovue::library::MediaId;
use retrovue::playout::ItemLoudness;

/// The loudness of the library, as a map, recording what playout reports.
#[derive(Default)]
pub struct Book {
    /// Latest measurement per item.
    pub known: Mutex<HashMap<MediaId, f64>>,
    /// What playout measured on the air: (item, LUFS, seconds).
    pub on_air: Mutex<Vec<(MediaId, f64, f64)>>,
}

impl ItemLoudness for Book {
    fn current(&self, item: MediaId) -> Option<f64> {
        self.known.lock().unwrap().get(&item).copied()
    }

    fn measured_on_air(&self, item: MediaId, lufs: f64, seconds: f64) {
        self.on_air.lock().unwrap().push((item, lufs, seconds));
    }
}

/// Run ffmpeg with `args`, panicking with its output on failure; returns stderr.
pub fn ffmpeg(args: &[&str]) -> String {
    let out = Command::new("ffmpeg").args(["-hide_banner", "-nostdin", "-y"]).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "ffmpeg {args:?} failed: {err}");
    err
}

/// The tone of media second `k` of a [`second_tones_clip`] (Hz).
pub fn second_tone_hz(k: i64) -> f64 {
    700.0 + 40.0 * k as f64
}

/// An H.264 + AAC clip at `path` (container from its extension), `secs` long, whose picture is
/// the lavfi source `video` and whose media second k sounds [`second_tone_hz`]`(k)`, with a
/// keyframe every `gop` frames: where a channel is in the clip is heard in its sound.
pub fn second_tones_clip(path: &Path, video: &str, secs: i64, gop: u32) {
    ffmpeg(&[
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        video,
        "-f",
        "lavfi",
        "-i",
        &format!("aevalsrc=0.3*sin(2*PI*(700+40*floor(t))*t):s=48000:d={secs}"),
        "-ac",
        "2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        &gop.to_string(),
        "-c:a",
        "aac",
        "-shortest",
        path.to_str().unwrap(),
    ]);
}

/// EBU R128 summary of ffmpeg's `ebur128` filter: (integrated LUFS, true peak dBTP).
pub fn parse_ebur128(stderr: &str) -> (f64, f64) {
    let summary = &stderr[stderr.rfind("Summary:").expect("ebur128 summary")..];
    let value = |key: &str| -> f64 {
        let line =
            summary.lines().find(|l| l.trim_start().starts_with(key)).unwrap_or_else(|| panic!("{key} in {summary}"));
        let v = line.trim_start()[key.len()..].split_whitespace().next().unwrap();
        if v == "-inf" { f64::NEG_INFINITY } else { v.parse().unwrap() }
    };
    (value("I:"), value("Peak:"))
}

/// Loudness and true peak of `path` (from `start` s, `secs` long; `None`: all of it).
pub fn ebur128(path: &Path, window: Option<(f64, f64)>) -> (f64, f64) {
    let mut args: Vec<String> = vec!["-nostats".into()];
    if let Some((start, secs)) = window {
        args.extend(["-ss".into(), format!("{start:.3}"), "-t".into(), format!("{secs:.3}")]);
    }
    args.extend(["-i".into(), path.display().to_string()]);
    args.extend(["-af".into(), "ebur128=peak=true:framelog=verbose".into(), "-f".into(), "null".into(), "-".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    parse_ebur128(&ffmpeg(&args))
}

/// How an item's audio is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One channel.
    Mono,
    /// Two decorrelated channels.
    Stereo,
    /// Six (5.1 with LFE).
    Surround,
    /// A quiet 440 Hz tone with full-scale clicks every 2 s (stereo).
    Clicks,
}

/// Write a `secs`-long Matroska item (small video, FLAC audio in `layout`) whose loudness in
/// its own layout is `lufs` (within 0.1 LU), and return its path.
pub fn item(dir: &Path, name: &str, layout: Layout, lufs: f64, secs: f64) -> PathBuf {
    let raw = dir.join(format!("{name}.raw.wav"));
    let noise = |seed: u32| format!("anoisesrc=c=pink:r=48000:a=0.25:d={secs}:seed={seed}");
    let graph = match layout {
        Layout::Mono => format!("{}[out]", noise(1)),
        Layout::Stereo => format!("{}[l];{}[r];[l][r]join=inputs=2:channel_layout=stereo[out]", noise(1), noise(2)),
        Layout::Surround => {
            let mut g = String::new();
            for i in 0..6 {
                g.push_str(&format!("{}[c{i}];", noise(i + 1)));
            }
            g.push_str("[c0][c1][c2][c3][c4][c5]join=inputs=6:channel_layout=5.1[out]");
            g
        }
        Layout::Clicks => {
            let e = "0.05*sin(2*PI*440*t)+if(lt(mod(t\\,2)-1\\,0.0004)*gte(mod(t\\,2)-1\\,0)\\,0.95\\,0)";
            format!("aevalsrc=exprs={e}|{e}:s=48000:d={secs}[out]")
        }
    };
    ffmpeg(&["-filter_complex", &graph, "-map", "[out]", "-c:a", "pcm_f32le", raw.to_str().unwrap()]);
    let (measured, _) = ebur128(&raw, None);
    let gain = lufs - measured;
    let path = dir.join(format!("{name}.mkv"));
    ffmpeg(&[
        "-i",
        raw.to_str().unwrap(),
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=s=160x120:r=10:d={secs}"),
        "-af",
        &format!("volume={gain:.3}dB"),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "flac",
        "-shortest",
        path.to_str().unwrap(),
    ]);
    let (check, _) = ebur128(&path, None);
    assert!((check - lufs).abs() < 0.2, "{name}: made at {check:.2} LUFS, wanted {lufs}");
    path
}

/// Decode audio stream `map` (an ffmpeg `-map` spec) of `ts` to a 48 kHz stereo float WAV.
pub fn decode_track(ts: &Path, map: &str, wav: &Path) {
    ffmpeg(&[
        "-v",
        "error",
        "-i",
        ts.to_str().unwrap(),
        "-map",
        map,
        "-ac",
        "2",
        "-ar",
        "48000",
        "-c:a",
        "pcm_f32le",
        wav.to_str().unwrap(),
    ]);
}

/// The samples (interleaved stereo f32) of a WAV written by [`decode_track`].
pub fn wav_samples(wav: &Path) -> Vec<f32> {
    let bytes = std::fs::read(wav).unwrap();
    let at = bytes.windows(4).position(|w| w == b"data").expect("data chunk") + 8;
    bytes[at..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// The runs of sound in `samples` (stereo 48 kHz) separated by at least `gap` s of silence
/// (below -60 dBFS RMS over 20 ms blocks): (start s, end s) each.
pub fn sounding_runs(samples: &[f32], gap: f64) -> Vec<(f64, f64)> {
    let block = 960; // frames: 20 ms
    let mut runs: Vec<(f64, f64)> = Vec::new();
    for (i, chunk) in samples.chunks(2 * block).enumerate() {
        let rms = (chunk.iter().map(|s| f64::from(*s) * f64::from(*s)).sum::<f64>() / chunk.len().max(1) as f64).sqrt();
        if rms < 1e-3 {
            continue;
        }
        let (start, end) = (i as f64 * 0.02, (i + 1) as f64 * 0.02);
        match runs.last_mut() {
            Some(last) if start - last.1 < gap => last.1 = end,
            _ => runs.push((start, end)),
        }
    }
    runs
}

/// The dominant frequency (Hz, 10 Hz steps from 100 to 2000) of `samples` (stereo, left
/// channel), by Goertzel power.
pub fn dominant_hz(samples: &[f32]) -> f64 {
    let left: Vec<f64> = samples.iter().step_by(2).map(|s| f64::from(*s)).collect();
    let power = |hz: f64| {
        let w = 2.0 * std::f64::consts::PI * hz / 48_000.0;
        let (mut s1, mut s2) = (0.0, 0.0);
        for x in &left {
            let s0 = x + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2
    };
    (10..=200).map(|k| f64::from(k) * 10.0).max_by(|a, b| power(*a).total_cmp(&power(*b))).unwrap()
}

/// RMS level of `samples` in dBFS.
pub fn rms_db(samples: &[f32]) -> f64 {
    let ms = samples.iter().map(|s| f64::from(*s) * f64::from(*s)).sum::<f64>() / samples.len().max(1) as f64;
    10.0 * ms.max(1e-20).log10()
}
