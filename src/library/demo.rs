//! `retrovue demo`: generate a small demo library of test clips with GStreamer
//! (`videotestsrc`/`audiotestsrc` → `x264enc` ultrafast + `avenc_aac` → `mp4mux` or
//! `matroskamux`) with `.nfo` files, so a fresh machine has something to schedule.
//!
//! Two series (4:3 with Matroska chapters; 16:9 with `.nfo` breakpoints), ten commercials
//! (15 s and 30 s, different companies, categories and decades, one deliberately loud),
//! bumpers, station IDs (one without audio), a series intro and outro, and a slate. Clips
//! that already exist are kept, so running it again is cheap and changes nothing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::probe;
use crate::elements::{self, ElementError, MATROSKAMUX, MP4MUX};

/// Why the demo library could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file or folder could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// GStreamer did not start.
    #[error("GStreamer is not available: {0}")]
    Init(#[source] probe::ProbeError),
    /// An element the generator needs is missing (the message says what to install).
    #[error(transparent)]
    Element(#[from] ElementError),
    /// GStreamer could not generate a clip.
    #[error("cannot generate {path}: {reason}")]
    Generate {
        /// The clip.
        path: PathBuf,
        /// What GStreamer said.
        reason: String,
    },
}

/// One folder of the demo library, to register as a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoFolder {
    /// The folder.
    pub path: PathBuf,
    /// Its folder kind (shows, commercials, ...).
    pub kind: &'static str,
    /// Source name.
    pub name: &'static str,
}

/// A clip to generate.
#[derive(Debug, Clone)]
pub struct ClipSpec {
    /// Frame size.
    pub width: u32,
    /// Frame size.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Length.
    pub seconds: u32,
    /// Test tone frequency (Hz); `None` = no audio track.
    pub tone_hz: Option<u32>,
    /// Tone volume 0..1.
    pub volume: f64,
    /// `videotestsrc` pattern.
    pub pattern: &'static str,
    /// Burnt-in caption.
    pub caption: String,
    /// Matroska chapters (start seconds); only for `.mkv`.
    pub chapters_s: Vec<u32>,
}

impl ClipSpec {
    /// A clip with a tone at a moderate level.
    pub fn new(width: u32, height: u32, seconds: u32, caption: &str) -> Self {
        Self {
            width,
            height,
            fps: 15,
            seconds,
            tone_hz: Some(440),
            volume: 0.2,
            pattern: "smpte",
            caption: caption.to_owned(),
            chapters_s: Vec::new(),
        }
    }
}

/// The launch line for `spec` (`mkv`: Matroska, else MP4).
fn description(spec: &ClipSpec, mkv: bool) -> String {
    let frames = spec.seconds * spec.fps;
    let mut desc = format!(
        "videotestsrc num-buffers={frames} pattern={} ! video/x-raw,width={},height={},framerate={}/1 ! \
         textoverlay name=caption font-desc=\"Sans 24\" valignment=center halignment=center ! \
         x264enc speed-preset=ultrafast key-int-max={} ! h264parse ! queue ! {} name=mux ! filesink name=sink",
        spec.pattern,
        spec.width,
        spec.height,
        spec.fps,
        spec.fps * 2,
        if mkv { MATROSKAMUX } else { MP4MUX },
    );
    if let Some(hz) = spec.tone_hz {
        let buffers = (spec.seconds as u64 * 48_000).div_ceil(1024);
        desc.push_str(&format!(
            " audiotestsrc num-buffers={buffers} samplesperbuffer=1024 freq={hz} volume={} ! \
             audio/x-raw,rate=48000,channels=2 ! audioconvert ! avenc_aac ! aacparse ! queue ! mux.",
            spec.volume
        ));
    }
    desc
}

/// Check that every element the generator uses is installed, before generating anything.
pub fn check_elements() -> Result<(), DemoError> {
    probe::init().map_err(DemoError::Init)?;
    let spec = ClipSpec::new(640, 480, 1, "check");
    for mkv in [false, true] {
        elements::check_launch(&description(&spec, mkv))?;
    }
    Ok(())
}

/// Generate one clip at `path` (container from the extension: `.mkv` or `.mp4`).
pub fn generate(spec: &ClipSpec, path: &Path) -> Result<(), DemoError> {
    let fail = |reason: String| DemoError::Generate { path: path.to_owned(), reason };
    probe::init().map_err(|e| fail(e.to_string()))?;
    let mkv = path.extension().is_some_and(|e| e == "mkv");
    let pipeline = elements::launch(&description(spec, mkv))
        .map_err(|e| match e {
            e @ (ElementError::Missing { .. } | ElementError::Unlisted(_)) => DemoError::Element(e),
            e => fail(e.to_string()),
        })?
        .downcast::<gst::Pipeline>()
        .map_err(|_| fail("not a pipeline".into()))?;
    let by_name = |n: &str| pipeline.by_name(n).ok_or_else(|| fail(format!("no element {n}")));
    by_name("caption")?.set_property("text", &spec.caption);
    by_name("sink")?.set_property("location", path);
    if mkv && !spec.chapters_s.is_empty() {
        let setter = by_name("mux")?.dynamic_cast::<gst::TocSetter>().map_err(|_| fail("mux has no TOC".into()))?;
        setter.set_toc(Some(&chapters_toc(&spec.chapters_s, spec.seconds)));
    }
    let tmp_done = run_to_eos(&pipeline, Duration::from_secs(120));
    let _ = pipeline.set_state(gst::State::Null);
    tmp_done.map_err(fail)
}

fn chapters_toc(starts: &[u32], total: u32) -> gst::Toc {
    let mut toc = gst::Toc::new(gst::TocScope::Global);
    let mut edition = gst::TocEntry::new(gst::TocEntryType::Edition, "edition");
    let mut bounds: Vec<u32> = std::iter::once(0).chain(starts.iter().copied()).collect();
    bounds.push(total);
    for (i, w) in bounds.windows(2).enumerate() {
        let mut ch = gst::TocEntry::new(gst::TocEntryType::Chapter, &format!("chapter{}", i + 1));
        let ns = |s: u32| s as i64 * 1_000_000_000;
        ch.get_mut().expect("new entry").set_start_stop_times(ns(w[0]), ns(w[1]));
        edition.get_mut().expect("new entry").append_sub_entry(ch);
    }
    toc.get_mut().expect("new toc").append_entry(edition);
    toc
}

fn run_to_eos(pipeline: &gst::Pipeline, timeout: Duration) -> Result<(), String> {
    pipeline.set_state(gst::State::Playing).map_err(|e| e.to_string())?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) else { continue };
        match msg.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(e) => return Err(format!("{} ({:?})", e.error(), e.debug())),
            _ => {}
        }
    }
    Err(format!("did not finish within {timeout:?}"))
}

/// A file of the demo library: clip, and the `.nfo` beside it.
struct DemoFile {
    rel: String,
    clip: ClipSpec,
    nfo: Option<String>,
}

fn episode_nfo(show: &str, season: u32, episode: u32, title: &str, extra: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<episodedetails>\n  <title>{title}</title>\n  \
         <showtitle>{show}</showtitle>\n  <season>{season}</season>\n  <episode>{episode}</episode>\n  {extra}\n</episodedetails>\n"
    )
}

fn commercial_nfo(title: &str, company: &str, category: &str, era: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<movie>\n  <title>{title}</title>\n  <retrovue>\n    \
         <company>{company}</company>\n    <category>{category}</category>\n    <era>{era}</era>\n  </retrovue>\n</movie>\n"
    )
}

fn files() -> Vec<DemoFile> {
    let mut out = Vec::new();
    // Series 1: 4:3, Matroska chapters are its breakpoints.
    for (e, title) in [(1, "Boot Sequence"), (2, "The Big Beep")] {
        let mut clip = ClipSpec::new(640, 480, 60, &format!("Retro Robots S01E0{e}\n{title}"));
        clip.pattern = "ball";
        clip.tone_hz = Some(330 + 110 * e);
        clip.chapters_s = vec![20, 40];
        out.push(DemoFile {
            rel: format!("shows/Retro Robots/Season 01/Retro Robots - S01E0{e} - {title}.mkv"),
            clip,
            nfo: Some(episode_nfo(
                "Retro Robots",
                1,
                e,
                title,
                "<aired>1986-09-0{e}</aired>\n  <mpaa>TV-Y7</mpaa>\n  <retrovue><demographic>kids</demographic></retrovue>",
            )),
        });
    }
    // Series 2: 16:9, breakpoints from the .nfo convention.
    for (e, title) in [(1, "Late Edition"), (2, "Overnight")] {
        let mut clip = ClipSpec::new(854, 480, 60, &format!("Night Desk S01E0{e}\n{title}"));
        clip.pattern = "pinwheel";
        clip.tone_hz = Some(550 + 60 * e);
        out.push(DemoFile {
            rel: format!("shows/Night Desk/Season 01/Night Desk - S01E0{e} - {title}.mp4"),
            clip,
            nfo: Some(episode_nfo(
                "Night Desk",
                1,
                e,
                title,
                "<aired>1994-01-1{e}</aired>\n  <mpaa>TV-14</mpaa>\n  <retrovue>\
                 <breakpoint>0:20</breakpoint><breakpoint>0:40.5</breakpoint></retrovue>",
            )),
        });
    }
    let commercials: [(&str, &str, &str, &str, u32, bool); 10] = [
        ("Crunchy O's", "General Grains", "cereal", "1980s", 30, false),
        ("Zoom Racer", "Acme Toys", "toys", "1980s", 15, true),
        ("Fizz Cola", "Fizz Beverage Co", "soft drinks", "1990s", 30, false),
        ("Mega Burger", "Burger Planet", "fast food", "1990s", 15, true),
        ("Family Sedan", "Motor Works", "cars", "1970s", 30, false),
        ("Dial-a-Pizza", "Pizza Express", "fast food", "1980s", 15, false),
        ("Bright Smile", "Dental Co", "toothpaste", "1970s", 15, true),
        ("Home Computer", "Micro Systems", "electronics", "1980s", 30, false),
        ("Super Soaker Max", "Acme Toys", "toys", "1990s", 15, false),
        ("LOUD Mattress Sale", "Mattress Kingdom", "furniture", "2000s", 15, true),
    ];
    for (i, (title, company, category, era, secs, wide)) in commercials.into_iter().enumerate() {
        let (w, h) = if wide { (1280, 720) } else { (640, 480) };
        let mut clip = ClipSpec::new(w, h, secs, &format!("{title}\n{company}"));
        clip.pattern = ["smpte", "colors", "snow", "circular", "gradient"][i % 5];
        clip.tone_hz = Some(300 + 70 * i as u32);
        clip.volume = if title.starts_with("LOUD") { 1.0 } else { 0.1 + 0.03 * i as f64 };
        let slug: String = title.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        out.push(DemoFile {
            rel: format!("commercials/{slug} {secs}s.mp4"),
            clip,
            nfo: Some(commercial_nfo(title, company, category, era)),
        });
    }
    let short = |w, h, secs, caption: &str, pattern| {
        let mut c = ClipSpec::new(w, h, secs, caption);
        c.pattern = pattern;
        c
    };
    out.push(DemoFile {
        rel: "bumpers/We'll Be Right Back.mp4".into(),
        clip: short(640, 480, 5, "We'll be right back", "bar"),
        nfo: None,
    });
    out.push(DemoFile {
        rel: "bumpers/Now Back To.mp4".into(),
        clip: short(1280, 720, 5, "Now back to our program", "bar"),
        nfo: None,
    });
    out.push(DemoFile {
        rel: "station_ids/Channel 3 ID.mp4".into(),
        clip: short(640, 480, 5, "You're watching Channel 3", "smpte75"),
        nfo: None,
    });
    let mut silent = short(1280, 720, 5, "Retrovue\n(no audio)", "spokes");
    silent.tone_hz = None;
    out.push(DemoFile { rel: "station_ids/Retrovue ID (silent).mp4".into(), clip: silent, nfo: None });
    out.push(DemoFile {
        rel: "intros/Retro Robots/Retro Robots Intro.mp4".into(),
        clip: short(640, 480, 5, "Retro Robots!", "ball"),
        nfo: None,
    });
    out.push(DemoFile {
        rel: "outros/Retro Robots/Retro Robots Outro.mp4".into(),
        clip: short(640, 480, 5, "See you next time on Retro Robots", "ball"),
        nfo: None,
    });
    let mut slate = short(640, 480, 10, "Please stand by\nTechnical difficulties", "smpte");
    slate.tone_hz = Some(1000);
    out.push(DemoFile { rel: "slates/Please Stand By.mp4".into(), clip: slate, nfo: None });
    out
}

const TVSHOWS: [(&str, &str); 2] = [
    (
        "shows/Retro Robots/tvshow.nfo",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tvshow>\n  <title>Retro Robots</title>\n  <premiered>1986-09-01</premiered>\n  \
         <mpaa>TV-Y7</mpaa>\n  <genre>Animation</genre>\n  <plot>Two robots learn about the world.</plot>\n  \
         <retrovue><era>1980s</era></retrovue>\n</tvshow>\n",
    ),
    (
        "shows/Night Desk/tvshow.nfo",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tvshow>\n  <title>Night Desk</title>\n  <premiered>1994-01-10</premiered>\n  \
         <mpaa>TV-14</mpaa>\n  <genre>Talk</genre>\n  <tag>retrovue:demographic=adults</tag>\n  <tag>retrovue:era=1994</tag>\n</tvshow>\n",
    ),
];

/// The folders of the demo library and their kinds.
pub const FOLDERS: [(&str, &str, &str); 7] = [
    ("shows", "shows", "Demo shows"),
    ("commercials", "commercials", "Demo commercials"),
    ("bumpers", "bumpers", "Demo bumpers"),
    ("station_ids", "station_ids", "Demo station IDs"),
    ("intros", "intros", "Demo intros"),
    ("outros", "outros", "Demo outros"),
    ("slates", "slates", "Demo slates"),
];

/// Write the demo library under `dir` (clips that exist are kept); `threads` clips are
/// generated at a time. Returns the folders to register.
pub fn write(dir: &Path, threads: usize) -> Result<Vec<DemoFolder>, DemoError> {
    check_elements()?;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DemoError::Io { path, source }
    };
    for (rel, text) in TVSHOWS {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("has parent")).map_err(io(&p))?;
        write_if_changed(&p, text).map_err(io(&p))?;
    }
    let mut todo = Vec::new();
    for f in files() {
        let clip = dir.join(&f.rel);
        std::fs::create_dir_all(clip.parent().expect("has parent")).map_err(io(&clip))?;
        if let Some(text) = &f.nfo {
            let nfo = clip.with_extension("nfo");
            write_if_changed(&nfo, text).map_err(io(&nfo))?;
        }
        if std::fs::metadata(&clip).map(|m| m.len() > 0).unwrap_or(false) {
            continue;
        }
        todo.push((f.clip, clip));
    }
    let queue = Mutex::new(todo);
    let first_error: Mutex<Option<DemoError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let Some((spec, clip)) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop() else { break };
                    // Write to a hidden name (scans skip dot files), then rename: an interrupted
                    // run leaves no half clip behind.
                    let name = clip.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let tmp = clip.with_file_name(format!(".{name}"));
                    let result = generate(&spec, &tmp).and_then(|()| std::fs::rename(&tmp, &clip).map_err(io(&clip)));
                    if let Err(e) = result {
                        let _ = std::fs::remove_file(&tmp);
                        first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(FOLDERS.iter().map(|(rel, kind, name)| DemoFolder { path: dir.join(rel), kind, name }).collect())
}

fn write_if_changed(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(());
    }
    std::fs::write(path, text)
}
