//! Closed captions (issue #18): cues from a SubRip file, encoded as CEA-608 pop-on bytes
//! ([`retrovue::playout::captions::PopOn`]), written after the encoder into each access unit
//! as an ATSC A/53 SEI (`cc_data`), whichever encoder made it (x264enc, openh264enc, the Pi's
//! v4l2h264enc, which drops caption meta), and ffmpeg's own caption decoder
//! (`movie=…[out+subcc]`) reads back the same lines, each within ±250 ms of its cue (608's
//! two bytes per frame set the pace).

mod util;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use retrovue::library::subtitles::{StoredCues, parse_srt};
use retrovue::playout::captions::{PopOn, a53_sei, cc_count, cc_data, insert_before_first_slice};

const SRT: &str = "1\n00:00:01,000 --> 00:00:03,000\nHello, caption world!\n\n\
                   2\n00:00:03,000 --> 00:00:05,500\nA second cue,\non two rows.\n\n\
                   3\n00:00:07,000 --> 00:00:08,000\n<i>Niño</i> café\n";

/// Encode 300 frames with `encoder` into a TS at `ts`; `meta` attaches each frame's pair as
/// caption meta ahead of the encoder, else the A/53 SEI goes in after `h264parse`.
fn encode(encoder: &str, ts: &Path, enc: Arc<PopOn>, meta: bool) {
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=300 ! video/x-raw,width=640,height=480,framerate=30000/1001 ! \
         identity name=cc ! {encoder} ! h264parse name=parse ! video/x-h264,alignment=au ! mpegtsmux ! \
         filesink location={}",
        ts.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let frame_ns = 1_001_000_000 / 30;
    let (name, pad) = if meta { ("cc", "src") } else { ("parse", "src") };
    let pad = pipeline.by_name(name).unwrap().static_pad(pad).unwrap();
    let first_pts = Mutex::new(None::<u64>);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        // The frame's index from its PTS: x264enc's B-frames leave in decode order (and
        // GstVideoEncoder moves its timestamps 1000 h on); the first out is the first shown.
        let pts = info.buffer().unwrap().pts().unwrap().nseconds();
        let first = *first_pts.lock().unwrap().get_or_insert(pts);
        let pair = enc.pair((pts - first + frame_ns / 2) / frame_ns);
        if meta {
            let buffer = info.buffer_mut().unwrap().make_mut();
            gst_video::VideoCaptionMeta::add(buffer, gst_video::VideoCaptionType::Cea708Raw, &cc_data(pair));
        } else if let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data {
            let data = {
                let map = buffer.map_readable().unwrap();
                insert_before_first_slice(map.as_slice(), &a53_sei(pair, cc_count(frame_ns))).expect("a slice")
            };
            let mut out = gst::Buffer::from_mut_slice(data);
            buffer
                .copy_into(out.get_mut().unwrap(), gst::BufferCopyFlags::FLAGS | gst::BufferCopyFlags::TIMESTAMPS, ..)
                .unwrap();
            *buffer = out;
        }
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

/// What ffprobe says of the TS's video stream.
fn video_line(ts: &Path) -> String {
    let probe = Command::new("ffprobe")
        .arg("-hide_banner")
        .arg(ts)
        .output()
        .expect("ffprobe (scripts/deps.sh --test installs it)");
    let info = String::from_utf8_lossy(&probe.stderr).into_owned();
    info.lines().find(|l| l.contains("Video: h264")).unwrap_or_else(|| panic!("no video: {info}")).to_owned()
}

/// The captions ffmpeg's 608 decoder reads from `ts`.
fn decode_captions(ts: &Path, dir: &Path) -> Vec<retrovue::library::subtitles::Cue> {
    let srt = dir.join("out.srt");
    let movie = format!("movie={}[out+subcc]", ts.display());
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &movie, "-map", "0:s"])
        .arg(&srt)
        .output()
        .expect("ffmpeg (scripts/deps.sh --test installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    parse_srt(&std::fs::read_to_string(&srt).unwrap())
}

/// One PMT stream: stream type, PID, descriptors as (tag, body).
type EsEntry = (u8, u16, Vec<(u8, Vec<u8>)>);

/// The ES entries of the first PMT in `ts` (parsed here, CRC checked): (stream type, PID,
/// descriptors as (tag, body)).
fn pmt_streams(ts: &[u8]) -> Vec<EsEntry> {
    let crc = |bytes: &[u8]| {
        bytes.iter().fold(0xffff_ffffu32, |mut c, &b| {
            c ^= u32::from(b) << 24;
            for _ in 0..8 {
                c = if c & 0x8000_0000 != 0 { (c << 1) ^ 0x04c1_1db7 } else { c << 1 };
            }
            c
        })
    };
    let section = |p: &[u8]| {
        let off = 4 + if p[3] & 0x20 != 0 { 1 + usize::from(p[4]) } else { 0 };
        p[off + 1 + usize::from(p[off])..].to_vec()
    };
    let pid = |p: &[u8]| (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
    let mut pmt_pid = None;
    for p in ts.chunks_exact(188) {
        if p[0] != 0x47 || p[1] & 0x40 == 0 {
            continue;
        }
        if pid(p) == 0 {
            let s = section(p);
            pmt_pid = Some((u16::from(s[10] & 0x1f) << 8) | u16::from(s[11]));
        } else if Some(pid(p)) == pmt_pid {
            let s = section(p);
            let len = (usize::from(s[1] & 0x0f) << 8) | usize::from(s[2]);
            assert_eq!(crc(&s[..3 + len]), 0, "PMT CRC");
            let pil = (usize::from(s[10] & 0x0f) << 8) | usize::from(s[11]);
            let mut i = 12 + pil;
            let mut out = Vec::new();
            while i < 3 + len - 4 {
                let es_pid = (u16::from(s[i + 1] & 0x1f) << 8) | u16::from(s[i + 2]);
                let n = (usize::from(s[i + 3] & 0x0f) << 8) | usize::from(s[i + 4]);
                let mut descs = Vec::new();
                let mut d = i + 5;
                while d < i + 5 + n {
                    let l = usize::from(s[d + 1]);
                    descs.push((s[d], s[d + 2..d + 2 + l].to_vec()));
                    d += 2 + l;
                }
                out.push((s[i], es_pid, descs));
                i += 5 + n;
            }
            return out;
        }
    }
    panic!("no PMT");
}

/// The A/53 SEI written after `encoder` carries the cues, read back on time.
fn cues_come_back_through(encoder: &str) {
    gst::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ts = dir.path().join("cc.ts");
    let frame = Duration::from_nanos(1_001_000_000 / 30);
    let cues = parse_srt(SRT);
    encode(encoder, &ts, Arc::new(PopOn::new(&cues, frame)), false);
    let line = video_line(&ts);
    assert!(line.contains("Closed Captions"), "{line}");
    let decoded = decode_captions(&ts, dir.path());
    println!("{encoder}: decoded: {decoded:#?}");
    // The TS starts its timestamps where the first picture is: the same origin as the cues.
    let text = |lines: &[String]| lines.join(" ");
    assert_eq!(
        decoded.iter().map(|c| text(&c.lines)).collect::<Vec<_>>(),
        cues.iter().map(|c| text(&c.lines)).collect::<Vec<_>>()
    );
    for (got, want) in decoded.iter().zip(&cues) {
        let off = |a: Duration, b: Duration| (a.as_millis() as i64 - b.as_millis() as i64).abs();
        println!("{encoder}: shown {} ms, cleared {} ms off", off(got.start, want.start), off(got.end, want.end));
        assert!(off(got.start, want.start) <= 250, "{got:?} shown off {want:?}");
        assert!(off(got.end, want.end) <= 250, "{got:?} cleared off {want:?}");
    }
}

#[test]
fn sidecar_cues_come_back_from_the_a53_sei_after_x264enc() {
    cues_come_back_through("x264enc");
}

#[test]
fn sidecar_cues_come_back_from_the_a53_sei_after_openh264enc() {
    cues_come_back_through("openh264enc");
}

/// The doubles treat caption meta as the real elements do: x264enc and vah264enc
/// (`cc-insert`, on by default) write it, v4l2h264enc and openh264enc drop it — why the
/// captions go in after the encoder.
#[test]
fn caption_meta_survives_only_the_encoders_that_write_it() {
    gst::init().unwrap();
    gst::Plugin::load_file(util::hw::plugin_path().join("libgstretrovuehwdoubles.so")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let enc = Arc::new(PopOn::new(&parse_srt(SRT), Duration::from_nanos(1_001_000_000 / 30)));
    let cases = [
        ("x264enc", true),
        ("openh264enc", false),
        ("v4l2h264enc ! video/x-h264,level=(string)4,profile=(string)high", false),
        ("vah264enc", true),
        ("vah264enc cc-insert=false", false),
    ];
    for (i, (encoder, writes)) in cases.into_iter().enumerate() {
        let ts = dir.path().join(format!("meta{i}.ts"));
        encode(encoder, &ts, enc.clone(), true);
        let line = video_line(&ts);
        assert_eq!(line.contains("Closed Captions"), writes, "{encoder}: {line}");
    }
}

/// On a channel: an item with a `.srt` beside it airs its cues as captions, each within
/// ±250 ms of its cue against the item's first picture; the cue that runs past the item's end
/// leaves with the item, and the next item (no subtitles) shows none; whichever encoder runs
/// the channel.
async fn a_channel_airs_the_sidecar_of_each_item(encoder: &str, captions: bool) {
    a_channel_airs_the_captions_of_each_item(encoder, captions, Source::Sidecar).await;
}

/// Where an item's cues come from in [`a_channel_airs_the_captions_of_each_item`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `show.srt` beside `show.mp4`.
    Sidecar,
    /// A/53 captions inside the item's H.264.
    InVideo,
    /// A SubRip track inside `show.mkv`, read by the library's analysis pass.
    Track,
    /// A subtitle file the item's source offers (a Plex subtitle stream), as the library keeps it.
    Offered,
}

/// An MKV of `seconds` of red 640x480 at 29.97 fps with a tone, and `srt` as its text
/// subtitle track in `codec` (ffmpeg's `srt`, `ass` or, in an MP4, `mov_text`).
fn write_source_with_track(path: &Path, srt: &str, codec: &str, seconds: f64) {
    let sub = path.with_extension("track.srt");
    std::fs::write(&sub, srt).unwrap();
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=red:size=640x480:rate=30000/1001:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={seconds}"))
        .arg("-i")
        .arg(&sub)
        .args([
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-c:s", codec, "-t", &seconds.to_string()])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(&sub).unwrap();
}

/// Issue #18: the text subtitle track inside an item (SubRip or ASS in Matroska, mov_text in
/// MP4) is read by the library's analysis pass, with the item's loudness or on its own (its
/// headers first: an item without one is not read through), and stored for playout.
#[test]
fn text_subtitle_tracks_inside_mkv_and_mp4_are_read_and_stored() {
    use retrovue::library::loudness;
    use std::sync::atomic::{AtomicUsize, Ordering};
    gst::init().unwrap();
    // Reading the tracks raises no GStreamer CRITICAL (the pads it does not read threw their
    // data away with `PadProbeReturn::Drop`: thousands of them per file, until 2026-12-07).
    static CRITICALS: AtomicUsize = AtomicUsize::new(0);
    let handler =
        gst::glib::log_set_handler(Some("GStreamer"), gst::glib::LogLevels::LEVEL_CRITICAL, false, false, |_, _, m| {
            if CRITICALS.fetch_add(1, Ordering::SeqCst) == 0 {
                eprintln!("GStreamer-CRITICAL: {m}");
            }
        });
    let home = util::Home::new();
    let shows = home.path().join("media/Track Show/Season 01");
    std::fs::create_dir_all(&shows).unwrap();
    let srt = "1\n00:00:01,000 --> 00:00:02,500\nFirst <i>caption</i> & more\n\n\
               2\n00:00:03,000 --> 00:00:04,500\nSecond caption\non two lines\n";
    let want = |lines: &[&[&str]]| -> Vec<(u128, u128, Vec<String>)> {
        [(1000, 2500), (3000, 4500)]
            .iter()
            .zip(lines)
            .map(|(&(s, e), l)| (s, e, l.iter().map(|x| x.to_string()).collect()))
            .collect()
    };
    let plain = want(&[&["First caption & more"], &["Second caption", "on two lines"]]);
    // Times to the nearest 50 ms: a Matroska file's timestamps start where its sound's
    // priming does (23 ms after ffmpeg's AAC).
    let got = |cues: &[retrovue::library::subtitles::Cue]| -> Vec<(u128, u128, Vec<String>)> {
        let near = |d: Duration| (d.as_millis() + 25) / 50 * 50;
        cues.iter().map(|c| (near(c.start), near(c.end), c.lines.clone())).collect()
    };
    let files = [
        ("Track Show - S01E01.mkv", "srt"),
        ("Track Show - S01E02.mkv", "ass"),
        ("Track Show - S01E03.mp4", "mov_text"),
    ];
    for (name, codec) in files {
        let path = shows.join(name);
        write_source_with_track(&path, srt, codec, 6.0);
        let uri = url::Url::from_file_path(&path).unwrap().to_string();
        let pass = loudness::analyse(&uri, Duration::from_secs(60), false).unwrap();
        println!("{name} ({codec}): {:?}", got(&pass.subtitles));
        assert!(pass.lufs.is_ok(), "{name}: the same pass measures the loudness: {:?}", pass.lufs);
        // mov_text keeps markup-looking text as it is (ffmpeg drops SubRip's tags writing it).
        assert_eq!(got(&pass.subtitles), plain, "{name} ({codec}), with the loudness");
        let alone = loudness::read_subtitles(&uri, Duration::from_secs(60)).unwrap();
        assert_eq!(got(&alone), plain, "{name} ({codec}), on its own");
    }
    gst::glib::log_remove_handler(Some("GStreamer"), handler);
    assert_eq!(CRITICALS.load(Ordering::SeqCst), 0, "GStreamer CRITICALs while reading the tracks");
    let bare = shows.join("Track Show - S01E04.mp4");
    util::Clip::new(640, 480, 3.0).write(&bare);
    let bare_uri = url::Url::from_file_path(&bare).unwrap().to_string();
    assert!(loudness::read_subtitles(&bare_uri, Duration::from_secs(60)).unwrap().is_empty());
    assert!(loudness::analyse(&bare_uri, Duration::from_secs(60), false).unwrap().subtitles.is_empty());

    // Through the library: the scan's analysis pass stores each item's cues.
    home.ok(&["source", "add", "--folder", home.path().join("media").to_str().unwrap(), "--kind", "shows"]);
    home.ok(&["scan"]);
    let db = retrovue::db::Db::open(&home.data_dir().join("retrovue.db")).unwrap();
    let stored = db
        .call_blocking(|c| {
            let mut st = c.prepare("SELECT id, uri, subtitles_at IS NOT NULL FROM content_items ORDER BY uri")?;
            let rows: Vec<(i64, String, bool)> =
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
            rows.into_iter()
                .map(|(id, uri, looked)| {
                    let cues = retrovue::library::store::subtitle_cues(c, retrovue::library::MediaId(id))?.track;
                    Ok((uri, looked, cues))
                })
                .collect::<Result<Vec<_>, rusqlite::Error>>()
        })
        .unwrap();
    assert_eq!(stored.len(), 4, "{stored:?}");
    for (uri, looked, cues) in &stored {
        assert!(looked, "{uri} was not looked at");
        let want = if uri.ends_with("S01E04.mp4") { Vec::new() } else { plain.clone() };
        assert_eq!(got(cues), want, "{uri}");
    }
}

/// An MP4 of `seconds` of red 640x480 at 29.97 fps and silence whose H.264 carries `srt`'s
/// cues as A/53 captions (x264enc writes the caption meta, as a broadcast recording has them).
fn write_captioned_source(path: &Path, srt: &str, seconds: f64) {
    let frames = (seconds * 30000.0 / 1001.0).round() as u64;
    let audio_buffers = (seconds * 48000.0 / 1024.0).ceil() as u64;
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers={frames} pattern=red ! \
         video/x-raw,format=I420,width=640,height=480,framerate=30000/1001 ! identity name=cc ! x264enc ! \
         h264parse ! mp4mux name=m ! filesink location={} \
         audiotestsrc num-buffers={audio_buffers} wave=silence ! audio/x-raw,rate=48000,channels=2 ! \
         avenc_aac ! aacparse ! m.",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let frame_ns = 1_001_000_000 / 30;
    let enc = PopOn::new(&parse_srt(srt), Duration::from_nanos(frame_ns));
    let pad = pipeline.by_name("cc").unwrap().static_pad("src").unwrap();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let pts = info.buffer().unwrap().pts().unwrap().nseconds();
        let pair = enc.pair((pts + frame_ns / 2) / frame_ns);
        let buffer = info.buffer_mut().unwrap().make_mut();
        gst_video::VideoCaptionMeta::add(buffer, gst_video::VideoCaptionType::Cea708Raw, &cc_data(pair));
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    for msg in pipeline.bus().unwrap().iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

/// On a channel: the item's cues, from a `.srt` beside it or (`embedded`) inside its video,
/// air as captions, each within ±250 ms of its cue; the cue that runs past the item's end
/// leaves with the item, and the next item shows none.
async fn a_channel_airs_the_captions_of_each_item(encoder: &str, captions: bool, source: Source) {
    use retrovue::config::EncoderChoice;
    use retrovue::lineup::{ChannelId, FrameRate, OutputProfile, VideoFormat};
    use retrovue::playout::encoder;
    use util::media::wall_of;
    gst::init().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = d.join(if source == Source::Track { "show.mkv" } else { "show.mp4" });
    let b = d.join("spot.mp4");
    let srt = "1\n00:00:01,000 --> 00:00:02,500\nFirst caption\n\n\
               2\n00:00:03,000 --> 00:00:04,500\nSecond caption\n\n\
               3\n00:00:06,000 --> 00:00:12,000\nCut by the item's end\n";
    let mut subtitles: Option<Arc<dyn retrovue::playout::ItemSubtitles>> = None;
    match source {
        Source::InVideo => write_captioned_source(&a, srt, 9.0),
        Source::Sidecar => {
            util::Clip { pattern: "red", ..util::Clip::new(640, 480, 9.0) }.write(&a);
            std::fs::write(d.join("show.srt"), srt).unwrap();
        }
        Source::Track => {
            write_source_with_track(&a, srt, "srt", 9.0);
            // What the library's analysis pass reads from the item, as its store hands it out.
            let uri = url::Url::from_file_path(&a).unwrap().to_string();
            let track = retrovue::library::loudness::analyse(&uri, Duration::from_secs(60), false).unwrap().subtitles;
            let cues = StoredCues { track, ..Default::default() };
            subtitles = Some(Arc::new(StoredOf { item: retrovue::library::MediaId(1), cues }));
        }
        Source::Offered => {
            util::Clip { pattern: "red", ..util::Clip::new(640, 480, 9.0) }.write(&a);
            let offered = parse_srt(srt);
            let cues = StoredCues { offered, ..Default::default() };
            subtitles = Some(Arc::new(StoredOf { item: retrovue::library::MediaId(1), cues }));
        }
    }
    util::Clip { pattern: "blue", ..util::Clip::new(640, 480, 5.0) }.write(&b);
    let start = chrono::Utc::now() + chrono::Duration::seconds(4);
    let mut show = util::player::airing(1, ChannelId(1), "show", &a, start, 8000);
    show.media_id = Some(retrovue::library::MediaId(1));
    let airings =
        vec![show, util::player::airing(2, ChannelId(1), "spot", &b, start + chrono::Duration::seconds(8), 4000)];
    let hub = retrovue::stream::StreamHub::new();
    let log = Arc::new(util::player::Log::default());
    let profile = OutputProfile {
        format: VideoFormat::Sd640x480,
        frame_rate: FrameRate::Ntsc,
        video_kbps: retrovue::lineup::VideoKbps::of(800),
        audio_kbps: retrovue::lineup::AudioKbps::of(128),
    };
    let kind = encoder::probe(&EncoderChoice::Named(encoder.into())).unwrap();
    let config =
        retrovue::playout::PlayerConfig { encoder: kind, captions, subtitles, ..util::player::x264_config(profile) };
    let player = util::player::spawn_config(config, airings, &hub, log.clone(), None);
    let ts_bytes = util::player::capture(&hub, ChannelId(1), 17.0).await;
    let status = player.status();
    assert_eq!(status.encoder.as_deref(), Some(encoder), "the channel ran on {:?}", status.encoder);
    let anchor = status.anchor.expect("the channel has a time anchor");
    player.stop().await;
    let ts = d.join("capture.ts");
    std::fs::write(&ts, &ts_bytes).unwrap();

    let start_time: f64 = String::from_utf8(
        Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "format=start_time", "-of", "csv=p=0"])
            .arg(&ts)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    let line = video_line(&ts);
    let streams = pmt_streams(&ts_bytes);
    // The show aired whole (its captions, or their absence, are about something on air).
    let aired = log.final_status("show");
    assert_eq!(aired.as_ref().map(|a| a.0), Some(retrovue::playout::AsRunStatus::Aired), "the show: {aired:?}");
    if !captions {
        // A channel set to carry none: neither the pictures nor the PMT say there are any.
        assert!(!line.contains("Closed Captions"), "{line}");
        assert!(streams.iter().all(|(_, _, d)| d.iter().all(|(t, _)| *t != 0x86)), "{streams:?}");
        return;
    }
    assert!(line.contains("Closed Captions"), "{encoder}: {line}");
    // The PMT says so too: an ATSC caption_service_descriptor on the H.264 stream (one
    // service, English, 608 line-21 field 1), on no other stream.
    println!("{encoder}: PMT {streams:?}");
    for (kind, _, descs) in &streams {
        let cc: Vec<&Vec<u8>> = descs.iter().filter(|(t, _)| *t == 0x86).map(|(_, b)| b).collect();
        if *kind == 0x1b {
            assert_eq!(cc.len(), 1, "{streams:?}");
            let b = cc[0];
            assert_eq!(b[0] & 0x1f, 1, "one service");
            assert_eq!(&b[1..4], b"eng");
            assert_eq!(b[4] & 0x80, 0, "608, not 708");
            assert_eq!(b[4] & 0x01, 0, "line-21 field 1");
        } else {
            assert!(cc.is_empty(), "{streams:?}");
        }
    }
    let decoded = decode_captions(&ts, d);
    // Decoded times count from the file's start; the TS's PTS map to the wall clock.
    let rel = |t: Duration| {
        let pts = ((t.as_secs_f64() + start_time) * 90_000.0).round() as i64;
        (wall_of(&anchor, pts) - start).num_microseconds().unwrap() as f64 / 1e6
    };
    // 608's 0x27 is the right single quotation mark (ffmpeg decodes it so).
    let shown: Vec<(String, f64, f64)> =
        decoded.iter().map(|c| (c.lines.join(" ").replace('\u{2019}', "'"), rel(c.start), rel(c.end))).collect();
    println!("{encoder}: captions, seconds from the show's scheduled start: {shown:#?}");
    let want = [("First caption", 1.0, 2.5), ("Second caption", 3.0, 4.5), ("Cut by the item's end", 6.0, 8.0)];
    assert_eq!(shown.len(), want.len(), "{shown:?}");
    for ((text, s, e), (w, ws, we)) in shown.iter().zip(want) {
        assert_eq!(text, w);
        println!("{encoder}: {w}: shown {:+.3} s, cleared {:+.3} s off", s - ws, e - we);
        assert!((s - ws).abs() <= 0.25, "{w}: shown at {s:.3} s, cue at {ws:.3} s");
        assert!((e - we).abs() <= 0.25, "{w}: cleared at {e:.3} s, due at {we:.3} s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_on_x264enc_airs_the_sidecar_of_each_item() {
    a_channel_airs_the_sidecar_of_each_item("x264enc", true).await;
}

/// Captions already inside an item's video (A/53, as `avdec_h264` exports them) air with
/// their timing when the item has no subtitle file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_airs_the_captions_inside_an_items_video() {
    a_channel_airs_the_captions_of_each_item("x264enc", true, Source::InVideo).await;
}

/// The cues of one item, as the library store hands them to playout.
struct StoredOf {
    item: retrovue::library::MediaId,
    cues: StoredCues,
}

impl retrovue::playout::ItemSubtitles for StoredOf {
    fn cues(&self, item: retrovue::library::MediaId) -> StoredCues {
        if item == self.item { self.cues.clone() } else { StoredCues::default() }
    }
}

/// Issue #18: an item's own text subtitle track (SubRip inside Matroska) airs as captions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_airs_the_text_track_inside_an_item() {
    a_channel_airs_the_captions_of_each_item("x264enc", true, Source::Track).await;
}

/// Issue #18: subtitles a Plex source offers beside an item (a subtitle stream of its own)
/// air as captions when the item has neither a track nor a sidecar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_airs_the_subtitles_an_items_source_offers() {
    a_channel_airs_the_captions_of_each_item("x264enc", true, Source::Offered).await;
}

/// The channel setting off: no captions at all, though the item has subtitles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_with_captions_off_carries_none() {
    a_channel_airs_the_sidecar_of_each_item("x264enc", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_on_openh264enc_airs_the_sidecar_of_each_item() {
    a_channel_airs_the_sidecar_of_each_item("openh264enc", true).await;
}

/// The Pi's encoder (the double: like the real one, it drops caption meta).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_on_v4l2h264enc_airs_the_sidecar_of_each_item() {
    gst::init().unwrap();
    gst::Plugin::load_file(util::hw::plugin_path().join("libgstretrovuehwdoubles.so")).unwrap();
    a_channel_airs_the_sidecar_of_each_item("v4l2h264enc", true).await;
}

/// The channel setting: on by default; `channel add/edit --captions` and `channel import`'s
/// `captions = …` set it, and the lineup keeps it.
#[test]
fn captions_are_a_channel_setting_on_by_default() {
    let home = util::Home::new();
    home.ok(&["channel", "add", "5", "--name", "Five"]);
    home.ok(&["channel", "add", "6", "--name", "Six", "--captions", "off"]);
    let captions = |number: &str| {
        let list = home.json(&["channel", "list", "--json"]);
        let ch = list.as_array().unwrap().iter().find(|c| c["number"] == number).unwrap().clone();
        ch["settings"]["captions"].as_bool().unwrap_or_else(|| panic!("{ch}"))
    };
    assert!(captions("5"));
    assert!(!captions("6"));
    home.ok(&["channel", "edit", "5", "--captions", "off"]);
    assert!(!captions("5"));
    let file = home.path().join("lineup.toml");
    std::fs::write(&file, "[[channel]]\nnumber = \"6\"\nname = \"Six\"\ncaptions = true\n").unwrap();
    home.ok(&["channel", "import", file.to_str().unwrap()]);
    assert!(captions("6"));
    assert!(!captions("5"), "import leaves other channels alone");
}
