//! Episodes whose act breaks are known: ffmpeg's moving `testsrc2` picture with a tone, and
//! at chosen frames a black-and-silent gap (after a fade to black, or a cut), plus decoys
//! that must not count as breaks: a dip to black under continuing sound, a silence over a
//! picture, a fade to a dim picture inside one scene.

use std::path::Path;
use std::process::Command;

/// NTSC frame duration in seconds.
pub const FRAME_S: f64 = 1001.0 / 30000.0;

/// Something that happens to the picture and sound over a run of frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// First frame at full effect.
    pub frame: u64,
    /// Frames at full effect.
    pub frames: u64,
    /// Frames of fade before it (0: a cut).
    pub fade: u64,
    /// Opacity of the black over the picture at full effect (1: black).
    pub black: f64,
    /// The sound is silent over the full effect.
    pub silent: bool,
}

impl Event {
    /// A break: black and silent.
    pub fn gap(frame: u64, frames: u64, fade: u64) -> Self {
        Self { frame, frames, fade, black: 1.0, silent: true }
    }

    /// Whether this is a real break (black and silent).
    pub fn is_break(&self) -> bool {
        self.black >= 1.0 && self.silent
    }

    /// (start, end) of the full effect in ms, frame-exact.
    pub fn span_ms(&self) -> (f64, f64) {
        (self.frame as f64 * FRAME_S * 1000.0, (self.frame + self.frames) as f64 * FRAME_S * 1000.0)
    }
}

/// An episode to generate.
#[derive(Debug, Clone)]
pub struct Episode {
    /// Length in seconds.
    pub seconds: f64,
    /// What happens, in order.
    pub events: Vec<Event>,
    /// Keyframe interval in frames.
    pub gop: u32,
    /// Picture size.
    pub size: (u32, u32),
}

impl Episode {
    /// Write it (H.264 + AAC in MP4) with ffmpeg.
    pub fn write(&self, path: &Path) {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).unwrap();
        }
        let (w, h) = self.size;
        let d = self.seconds;
        let mut graph = "[0:v]null[v0];".to_string();
        let mut mute = Vec::new();
        for (i, e) in self.events.iter().enumerate() {
            // Times half a frame off the grid, so each frame is plainly in or out.
            let full = (e.frame as f64 - 0.5) * FRAME_S;
            let from = (e.frame as f64 - e.fade as f64 - 0.5) * FRAME_S;
            let to = (e.frame + e.frames) as f64 * FRAME_S - 0.5 * FRAME_S;
            let mut layer = format!("color=c=black:s={w}x{h}:r=30000/1001:d={d},format=yuva420p");
            if e.fade > 0 {
                layer.push_str(&format!(",fade=t=in:st={from:.5}:d={:.5}:alpha=1", full - from));
            }
            if e.black < 1.0 {
                layer.push_str(&format!(",colorchannelmixer=aa={}", e.black));
            }
            graph.push_str(&format!(
                "{layer}[b{i}];[v{i}][b{i}]overlay=enable='between(t,{from:.5},{to:.5})'[v{}];",
                i + 1
            ));
            if e.silent {
                mute.push(format!("volume=volume=0:enable='between(t,{full:.5},{to:.5})'"));
            }
        }
        let audio = if mute.is_empty() { "anull".to_owned() } else { mute.join(",") };
        graph.push_str(&format!("[1:a]{audio}[a]"));
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={w}x{h}:rate=30000/1001:duration={d}"))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:sample_rate=48000:duration={d}"))
            .args(["-filter_complex", &graph])
            .args(["-map", &format!("[v{}]", self.events.len()), "-map", "[a]"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", &self.gop.to_string(), "-pix_fmt", "yuv420p"])
            .args(["-c:a", "aac", "-b:a", "96k"])
            .arg(path)
            .output()
            .expect("ffmpeg");
        assert!(out.status.success(), "ffmpeg failed: {}\n{graph}", String::from_utf8_lossy(&out.stderr));
    }

    /// The breaks it has (frame-exact spans, ms).
    pub fn breaks(&self) -> Vec<(f64, f64)> {
        self.events.iter().filter(|e| e.is_break()).map(Event::span_ms).collect()
    }
}
