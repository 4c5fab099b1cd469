//! Probe one media file with GStreamer's Discoverer: duration, video and audio facts, and
//! chapters (candidate breakpoints). Blocking: callers run it on a thread of their own.
//!
//! A file is *unplayable* (kept, never scheduled) when it is empty, cannot be read, is not
//! media, has no audio or video stream, or reports no duration: Discoverer answers random
//! bytes with duration 0, so a missing or zero duration is a failure, not a fact.

use std::path::Path;
use std::time::Duration;

use gstreamer as gst;
use gstreamer_pbutils as gst_pbutils;
use gstreamer_pbutils::prelude::*;

use super::store::ProbeFacts;

/// What the probe found in a playable file.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    /// Stream facts.
    pub facts: ProbeFacts,
    /// Chapter starts (ms), sorted, without 0 and without the very end.
    pub chapters_ms: Vec<i64>,
}

/// Why a file cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The file is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file (lossy).
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Zero bytes.
    #[error("empty file (0 bytes)")]
    Empty,
    /// GStreamer could not start.
    #[error("GStreamer is not available: {0}")]
    Init(#[source] glib::Error),
    /// Discoverer failed (not media, truncated, unsupported, timed out).
    #[error("not playable media: {0}")]
    Discoverer(#[source] glib::Error),
    /// Neither audio nor video.
    #[error("no audio or video stream")]
    NoStreams,
    /// No usable duration.
    #[error("no duration (not media, or damaged)")]
    NoDuration,
}

/// Initialise GStreamer (idempotent).
pub fn init() -> Result<(), ProbeError> {
    gst::init().map_err(ProbeError::Init)
}

/// Probe `uri`; `path` is the local file behind it, if any (checked first: cheaper and
/// clearer than Discoverer's messages for missing and empty files).
pub fn probe(uri: &str, path: Option<&Path>, timeout: Duration) -> Result<ProbeOutcome, ProbeError> {
    if let Some(p) = path {
        let meta =
            std::fs::metadata(p).map_err(|source| ProbeError::Io { path: p.to_string_lossy().into_owned(), source })?;
        if meta.len() == 0 {
            return Err(ProbeError::Empty);
        }
        // Discoverer reports permission problems vaguely; open it ourselves first.
        std::fs::File::open(p).map_err(|source| ProbeError::Io { path: p.to_string_lossy().into_owned(), source })?;
    }
    let info = discover(uri, timeout)?;
    let videos = info.video_streams();
    let audios = info.audio_streams();
    let video = videos.iter().find(|v| !v.is_image()).or(videos.first());
    if video.is_none() && audios.is_empty() {
        return Err(ProbeError::NoStreams);
    }
    let duration_ms =
        info.duration().map(|d| d.mseconds() as i64).filter(|ms| *ms > 0).ok_or(ProbeError::NoDuration)?;
    let mut facts = ProbeFacts { duration_ms: Some(duration_ms), ..Default::default() };
    if let Some(v) = video {
        facts.video_codec = v.caps().as_ref().and_then(|c| codec_name(c));
        facts.width = Some(v.width());
        facts.height = Some(v.height());
        let fr = v.framerate();
        if fr.numer() > 0 && fr.denom() > 0 {
            facts.frame_rate = Some(format!("{}/{}", fr.numer(), fr.denom()));
        }
        facts.interlaced = Some(v.is_interlaced());
        let par = v.par();
        facts.display_aspect = display_aspect(v.width(), v.height(), par.numer() as u32, par.denom() as u32);
    }
    if let Some(a) = audios.first() {
        facts.audio_codec = a.caps().as_ref().and_then(|c| codec_name(c));
        facts.audio_channels = Some(a.channels());
    }
    let mut chapters_ms = Vec::new();
    if let Some(toc) = info.toc() {
        collect_chapters(&toc.entries(), &mut chapters_ms);
    }
    chapters_ms.retain(|ms| *ms > 0 && *ms < duration_ms);
    chapters_ms.sort_unstable();
    chapters_ms.dedup();
    Ok(ProbeOutcome { facts, chapters_ms })
}

/// How many text subtitle tracks (SubRip, ASS/SSA, mov_text, WebVTT) `uri` has, from its
/// headers (bitmap ones, DVD/PGS/DVB, are not counted).
pub fn text_subtitle_tracks(uri: &str, timeout: Duration) -> Result<usize, ProbeError> {
    let info = discover(uri, timeout)?;
    let text = |caps: &gst::CapsRef| {
        caps.structure(0).is_some_and(|s| {
            let name = s.name().as_str();
            name.starts_with("text/")
                || matches!(name, "application/x-ass" | "application/x-ssa" | "application/x-subtitle-vtt")
        })
    };
    Ok(info.subtitle_streams().iter().filter(|s| s.caps().as_ref().is_some_and(|c| text(c))).count())
}

/// What GStreamer's Discoverer reads of `uri` (headers, no decoding), within `timeout`.
fn discover(uri: &str, timeout: Duration) -> Result<gst_pbutils::DiscovererInfo, ProbeError> {
    init()?;
    let timeout = gst::ClockTime::from_nseconds(timeout.as_nanos().min(u64::MAX as u128) as u64);
    let discoverer = gst_pbutils::Discoverer::new(timeout).map_err(ProbeError::Discoverer)?;
    discoverer.discover_uri(uri).map_err(ProbeError::Discoverer)
}

fn collect_chapters(entries: &[gst::TocEntry], out: &mut Vec<i64>) {
    for e in entries {
        if e.entry_type() == gst::TocEntryType::Chapter
            && let Some((start, _)) = e.start_stop_times()
            && start >= 0
        {
            out.push(start / 1_000_000);
        }
        collect_chapters(&e.sub_entries(), out);
    }
}

/// `video/x-h264` → `h264`, `audio/mpeg, mpegversion=4` → `aac`, `audio/mpeg, layer=3` → `mp3`.
fn codec_name(caps: &gst::CapsRef) -> Option<String> {
    let s = caps.structure(0)?;
    let name = s.name().as_str();
    let short = match name {
        "audio/mpeg" => match (s.get::<i32>("mpegversion").ok(), s.get::<i32>("layer").ok()) {
            (Some(2 | 4), _) => "aac".to_owned(),
            (_, Some(3)) => "mp3".to_owned(),
            (_, Some(l)) => format!("mp{l}"),
            _ => "mpeg-audio".to_owned(),
        },
        "video/mpeg" => match s.get::<i32>("mpegversion").ok() {
            Some(4) => "mpeg4".to_owned(),
            Some(v) => format!("mpeg{v}"),
            None => "mpeg".to_owned(),
        },
        other => other.split_once('/').map_or(other, |(_, b)| b).trim_start_matches("x-").to_owned(),
    };
    Some(short)
}

/// Display aspect from the frame size and pixel aspect: `4:3`, `16:9`, or the reduced ratio.
fn display_aspect(width: u32, height: u32, par_n: u32, par_d: u32) -> Option<String> {
    if width == 0 || height == 0 {
        return None;
    }
    let (par_n, par_d) = if par_n == 0 || par_d == 0 { (1, 1) } else { (par_n, par_d) };
    let num = width as u64 * par_n as u64;
    let den = height as u64 * par_d as u64;
    let ratio = num as f64 / den as f64;
    for (n, d) in [(4u64, 3u64), (16, 9), (3, 2), (5, 4), (21, 9), (1, 1)] {
        if (ratio - n as f64 / d as f64).abs() < 0.02 {
            return Some(format!("{n}:{d}"));
        }
    }
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let g = gcd(num, den);
    Some(format!("{}:{}", num / g, den / g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspects() {
        assert_eq!(display_aspect(640, 480, 1, 1).as_deref(), Some("4:3"));
        assert_eq!(display_aspect(1280, 720, 1, 1).as_deref(), Some("16:9"));
        assert_eq!(display_aspect(854, 480, 1, 1).as_deref(), Some("16:9"));
        assert_eq!(display_aspect(720, 480, 8, 9).as_deref(), Some("4:3"));
        assert_eq!(display_aspect(720, 480, 32, 27).as_deref(), Some("16:9"));
        assert_eq!(display_aspect(0, 480, 1, 1), None);
    }

    #[test]
    fn empty_and_missing_files_are_unplayable() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.mp4");
        std::fs::write(&empty, b"").unwrap();
        let uri = url::Url::from_file_path(&empty).unwrap();
        assert!(matches!(probe(uri.as_str(), Some(&empty), Duration::from_secs(5)), Err(ProbeError::Empty)));
        let missing = dir.path().join("missing.mp4");
        assert!(matches!(probe("file:///nope", Some(&missing), Duration::from_secs(5)), Err(ProbeError::Io { .. })));
        let junk = dir.path().join("junk.mp4");
        std::fs::write(&junk, (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>())
            .unwrap();
        let uri = url::Url::from_file_path(&junk).unwrap();
        let err = probe(uri.as_str(), Some(&junk), Duration::from_secs(10)).unwrap_err();
        assert!(matches!(err, ProbeError::NoDuration | ProbeError::Discoverer(_) | ProbeError::NoStreams), "{err}");
    }
}
