//! HLS segmenter: cuts a channel's MPEG-TS into segments at keyframes (one segment per 2 s
//! GOP), writes them under the channel's HLS directory with a rolling playlist, and deletes
//! segments that left the window. Each segment carries its `EXT-X-PROGRAM-DATE-TIME`, and the
//! target duration holds for the whole run. Media sequence numbers are never reused, even across
//! restarts: the next number is persisted in the directory, and a fresh start begins no lower
//! than the Unix time in seconds (which grows faster than one segment per 2 s).
//!
//! Writing happens on a dedicated thread; [`HlsWriter::push`] only sends over a channel, so
//! the GStreamer streaming thread that calls it never blocks on the disk.
//!
//! A write that fails (the disk is full) drops the segment being written, warns once, and
//! the segmenter tries again at the next keyframe; the first segment written after the
//! failure is marked as a discontinuity, and the recovery is logged with the count of
//! failed writes. Viewers of the TS stream never notice: they are fed from memory.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};

/// Name of the playlist file.
pub const PLAYLIST: &str = "index.m3u8";
/// File that stores the next media sequence number.
const SEQUENCE_FILE: &str = "next_sequence";
/// A keyframe this soon after a segment's start does not end it (a doubled keyframe). Any
/// later one does: a rebuilt pipeline's first keyframe falls anywhere in the 2 s grid, and
/// waiting for the one after it made a 3.4 s segment, longer than the target duration the
/// playlist had promised.
const MIN_SEGMENT_NS: u64 = 500_000_000;
/// The target duration every playlist starts with (one 2.002 s GOP, rounded). RFC 8216
/// makes it hold for the whole playlist and clients read it once for their reload timing,
/// so it only ever grows, and only if a segment really was longer (an encoder that stalled).
const TARGET_DURATION_S: u64 = 2;
/// A segment's `EXT-X-PROGRAM-DATE-TIME` follows from the one before and the timestamps in
/// between (exact, however late the segment is written); when that is further than this from
/// the wall clock, the clock was stepped (NTP at boot on a board without a real-time clock)
/// and it is taken from the wall clock again. Longer than any lag the output survives: the
/// content watchdog rebuilds a channel that falls seconds behind.
const REBASE_PDT: chrono::Duration = chrono::Duration::seconds(30);

/// The HLS output could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("HLS directory {path}: {source}")]
pub struct HlsError {
    /// The directory.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// How long the segments of a stopped run stay for clients that still fetch them.
const KEEP_STOPPED_RUN: std::time::Duration = std::time::Duration::from_secs(60);

enum Msg {
    Chunk { data: Bytes, keyframe: bool, pts_ns: Option<u64> },
    Discontinuity,
}

/// Handle to one channel's segmenter. Cloning shares the writer; it stops when every handle
/// is dropped.
#[derive(Clone)]
pub struct HlsWriter {
    tx: mpsc::Sender<Msg>,
    dir: PathBuf,
}

impl HlsWriter {
    /// Start writing into `dir` with a playlist of `window` segments. `now_unix_secs` seeds
    /// the media sequence after a restart.
    pub fn start(dir: &Path, window: u32, now_unix_secs: u64) -> Result<Self, HlsError> {
        let err = |source| HlsError { path: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(err)?;
        let persisted = std::fs::read_to_string(dir.join(SEQUENCE_FILE)).ok().and_then(|s| s.trim().parse().ok());
        let first = persisted.unwrap_or(0).max(now_unix_secs);
        // Segments of an earlier run are not in the new playlist. Those written in the last
        // minute stay until the next start: the request that starts a stopped channel again
        // may have been served the stopped run's playlist, and its client fetches what it
        // lists (deleting them gave it 404s; tests/playout.rs saw it when the idle grace ran
        // out just before an HLS request). The new run's sequence numbers are higher, so
        // nothing collides, and the new playlist replaces the old at its first segment.
        let recent = |e: &std::fs::DirEntry| {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age < KEEP_STOPPED_RUN)
        };
        for e in std::fs::read_dir(dir).map_err(err)?.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if (name.starts_with("seg-") || name == PLAYLIST) && !recent(&e) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let (tx, rx) = mpsc::channel();
        let mut seg = Segmenter::new(dir.to_owned(), window.max(1) as usize, first);
        std::thread::Builder::new()
            .name("hls-writer".into())
            .spawn(move || {
                for msg in rx {
                    match seg.handle(msg) {
                        Ok(()) => seg.recovered(),
                        Err(e) => seg.failed(&e),
                    }
                }
                seg.finish();
            })
            .map_err(err)?;
        Ok(Self { tx, dir: dir.to_owned() })
    }

    /// The directory segments are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Append TS bytes. `keyframe` chunks start a new segment; `pts_ns` (the buffer's
    /// timestamp) measures segment durations. Never blocks.
    pub fn push(&self, data: Bytes, keyframe: bool, pts_ns: Option<u64>) {
        let _ = self.tx.send(Msg::Chunk { data, keyframe, pts_ns });
    }

    /// The stream restarted (new timestamps): close the segment and mark a discontinuity.
    pub fn discontinuity(&self) {
        let _ = self.tx.send(Msg::Discontinuity);
    }
}

struct Done {
    seq: u64,
    duration_s: f64,
    discontinuity: bool,
    program_date_time: DateTime<Utc>,
}

struct Open {
    seq: u64,
    file: std::io::BufWriter<std::fs::File>,
    start_pts: Option<u64>,
    last_pts: Option<u64>,
    started: Instant,
    discontinuity: bool,
    program_date_time: DateTime<Utc>,
}

struct Segmenter {
    dir: PathBuf,
    window: usize,
    next_seq: u64,
    open: Option<Open>,
    done: VecDeque<Done>,
    pending_discontinuity: bool,
    discontinuity_seq: u64,
    /// Writes failed since the last good segment (0 = healthy).
    failures: u64,
    /// Only a segment from this sequence on, written whole, proves the disk writable again.
    recover_from_seq: u64,
    /// The playlist's target duration (s), see [`TARGET_DURATION_S`].
    target_s: u64,
    /// The last segment's start: timestamp (ns) and program date-time, which the next
    /// segment's date-time follows from while the timestamps continue.
    chain: Option<(u64, DateTime<Utc>)>,
}

impl Segmenter {
    fn new(dir: PathBuf, window: usize, next_seq: u64) -> Self {
        Self {
            dir,
            window,
            next_seq,
            open: None,
            done: VecDeque::new(),
            pending_discontinuity: false,
            discontinuity_seq: 0,
            failures: 0,
            recover_from_seq: 0,
            target_s: TARGET_DURATION_S,
            chain: None,
        }
    }

    /// A write failed: drop the segment being written (it would be cut short), mark the gap
    /// and wait for the next keyframe. Warns on the first failure only.
    fn failed(&mut self, e: &std::io::Error) {
        if let Some(o) = self.open.take() {
            drop(o.file);
            let _ = std::fs::remove_file(self.dir.join(segment_name(o.seq)));
        }
        self.pending_discontinuity = true;
        if self.failures == 0 {
            let full = e.raw_os_error() == Some(28);
            tracing::warn!(
                dir = %self.dir.display(),
                error = %e,
                disk_full = full,
                "HLS write failed; segments pause and resume at the next keyframe that can be written"
            );
        }
        self.failures += 1;
        self.recover_from_seq = self.next_seq;
    }

    /// A message was handled without error: log the recovery once a segment is written again.
    fn recovered(&mut self) {
        if self.failures > 0 && self.done.back().is_some_and(|d| d.seq >= self.recover_from_seq) {
            tracing::info!(dir = %self.dir.display(), failed_writes = self.failures, "HLS writing again");
            self.failures = 0;
        }
    }

    fn handle(&mut self, msg: Msg) -> std::io::Result<()> {
        match msg {
            Msg::Discontinuity => {
                self.close(None)?;
                self.pending_discontinuity = true;
                self.chain = None;
            }
            Msg::Chunk { data, keyframe, pts_ns } => {
                if keyframe {
                    let long_enough = match (&self.open, pts_ns) {
                        (Some(o), Some(p)) => o.start_pts.is_none_or(|s| p.saturating_sub(s) >= MIN_SEGMENT_NS),
                        (Some(o), None) => o.started.elapsed().as_nanos() as u64 >= MIN_SEGMENT_NS,
                        (None, _) => true,
                    };
                    if long_enough {
                        self.close(pts_ns)?;
                        self.begin(pts_ns)?;
                    }
                }
                if let Some(o) = &mut self.open {
                    o.file.write_all(&data)?;
                    if pts_ns.is_some() {
                        o.last_pts = pts_ns;
                    }
                }
            }
        }
        Ok(())
    }

    fn begin(&mut self, pts: Option<u64>) -> std::io::Result<()> {
        let seq = self.next_seq;
        self.next_seq += 1;
        std::fs::write(self.dir.join(SEQUENCE_FILE), self.next_seq.to_string())?;
        let file = std::io::BufWriter::new(std::fs::File::create(self.dir.join(segment_name(seq)))?);
        let discontinuity = std::mem::take(&mut self.pending_discontinuity);
        let program_date_time = self.program_date_time(pts, Utc::now());
        self.open = Some(Open {
            seq,
            file,
            start_pts: pts,
            last_pts: pts,
            started: Instant::now(),
            discontinuity,
            program_date_time,
        });
        Ok(())
    }

    /// The wall-clock instant of the first frame of a segment that starts at `pts`: the
    /// previous segment's plus the time between their timestamps, or `now` (when the segment
    /// is written, a frame's encoding after it was shown) at the start, after a discontinuity,
    /// or when the two disagree by more than [`REBASE_PDT`].
    fn program_date_time(&mut self, pts: Option<u64>, now: DateTime<Utc>) -> DateTime<Utc> {
        let followed = match (self.chain, pts) {
            (Some((from, at)), Some(p)) if p >= from => Some(at + chrono::Duration::nanoseconds((p - from) as i64)),
            _ => None,
        };
        let pdt = followed.filter(|t| (*t - now).abs() <= REBASE_PDT).unwrap_or(now);
        self.chain = pts.map(|p| (p, pdt));
        pdt
    }

    /// Close the open segment; `end_pts` is the start of the next one when known.
    fn close(&mut self, end_pts: Option<u64>) -> std::io::Result<()> {
        let Some(mut o) = self.open.take() else { return Ok(()) };
        if let Err(e) = o.file.flush() {
            let _ = std::fs::remove_file(self.dir.join(segment_name(o.seq)));
            return Err(e);
        }
        let duration_s = match (o.start_pts, end_pts.or(o.last_pts)) {
            (Some(s), Some(e)) if e > s => (e - s) as f64 / 1e9,
            _ => o.started.elapsed().as_secs_f64(),
        };
        self.target_s = self.target_s.max(duration_s.round() as u64);
        self.done.push_back(Done {
            seq: o.seq,
            duration_s,
            discontinuity: o.discontinuity,
            program_date_time: o.program_date_time,
        });
        while self.done.len() > self.window {
            let old = self.done.pop_front().expect("non-empty");
            if old.discontinuity {
                self.discontinuity_seq += 1;
            }
            // Keep two extra segments on disk for clients still fetching them.
            let _ = std::fs::remove_file(self.dir.join(segment_name(old.seq.saturating_sub(2))));
        }
        self.write_playlist()
    }

    fn write_playlist(&self) -> std::io::Result<()> {
        let Some(first) = self.done.front() else { return Ok(()) };
        let target = self.target_s;
        let mut text = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n",
            first.seq, self.discontinuity_seq
        );
        for d in &self.done {
            if d.discontinuity {
                text.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let pdt = d.program_date_time.to_rfc3339_opts(SecondsFormat::Millis, true);
            text.push_str(&format!("#EXT-X-PROGRAM-DATE-TIME:{pdt}\n"));
            text.push_str(&format!("#EXTINF:{:.3},\n{}\n", d.duration_s, segment_name(d.seq)));
        }
        let tmp = self.dir.join(".index.m3u8.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, self.dir.join(PLAYLIST))
    }

    fn finish(&mut self) {
        let _ = self.close(None);
    }
}

/// File name of segment `seq`.
pub fn segment_name(seq: u64) -> String {
    format!("seg-{seq}.ts")
}

/// Whether `name` is a file this writer serves (playlist or segment), so the HTTP side never
/// serves anything else from the directory.
pub fn is_served_name(name: &str) -> bool {
    name == PLAYLIST
        || name
            .strip_prefix("seg-")
            .and_then(|r| r.strip_suffix(".ts"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(tag: u8) -> Bytes {
        Bytes::from(vec![tag; 188])
    }

    /// The playlist once it lists `lines` segments from media sequence `min_sequence` on.
    /// The writer is asynchronous: earlier, shorter states of the playlist are skipped.
    fn wait_playlist(dir: &Path, lines: usize, min_sequence: u64) -> String {
        let mut last = String::new();
        for _ in 0..500 {
            if let Ok(t) = std::fs::read_to_string(dir.join(PLAYLIST)) {
                if t.lines().filter(|l| l.starts_with("seg-")).count() >= lines && media_sequence(&t) >= min_sequence {
                    return t;
                }
                last = t;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("playlist never reached {lines} segments from {min_sequence}; last:\n{last}");
    }

    fn media_sequence(text: &str) -> u64 {
        text.lines().find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")).unwrap().parse().unwrap()
    }

    #[test]
    fn segments_follow_keyframes_roll_and_never_reuse_a_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let gop = 2_002_000_000u64;
        let w = HlsWriter::start(dir.path(), 3, 1000).unwrap();
        for i in 0..6u64 {
            w.push(ts(1), true, Some(i * gop));
            w.push(ts(2), false, Some(i * gop + 1_000_000_000));
        }
        w.push(ts(1), true, Some(6 * gop));
        let text = wait_playlist(dir.path(), 3, 1003);
        drop(w);
        assert!(text.contains("#EXT-X-TARGETDURATION:2\n"), "{text}");
        assert_eq!(text.matches("#EXTINF:2.002,").count(), 3, "{text}");
        let first = media_sequence(&text);
        assert_eq!(first, 1003);
        assert!(!dir.path().join(segment_name(1000)).exists(), "rolled-out segment deleted");
        assert_eq!(std::fs::metadata(dir.path().join(segment_name(1005))).unwrap().len(), 2 * 188);

        // Restart with a clock that went backwards: the sequence still moves on.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let w = HlsWriter::start(dir.path(), 3, 10).unwrap();
        w.push(ts(1), true, Some(0));
        w.push(ts(1), true, Some(gop));
        w.discontinuity();
        w.push(ts(1), true, Some(0));
        w.push(ts(1), true, Some(gop));
        let text = wait_playlist(dir.path(), 3, 1007);
        assert!(media_sequence(&text) >= 1007, "{text}");
        assert!(text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
    }

    #[test]
    fn a_rebuilt_pipelines_first_keyframe_ends_the_segment_and_the_target_duration_holds() {
        let dir = tempfile::tempdir().unwrap();
        let gop = 2_002_000_000u64;
        let w = HlsWriter::start(dir.path(), 6, 1000).unwrap();
        w.push(ts(1), true, Some(0));
        w.push(ts(1), true, Some(gop));
        // The pipeline is rebuilt 1.44 s into the segment; its keyframes go on from there.
        let rebuilt = gop + 1_440_000_000;
        w.push(ts(2), false, Some(gop + 1_000_000_000));
        for i in 0..3 {
            w.push(ts(1), true, Some(rebuilt + i * gop));
        }
        // A doubled keyframe does not make a segment of its own.
        w.push(ts(1), true, Some(rebuilt + 3 * gop));
        w.push(ts(1), true, Some(rebuilt + 3 * gop + 33_000_000));
        w.push(ts(1), true, Some(rebuilt + 4 * gop));
        let text = wait_playlist(dir.path(), 6, 1000);
        drop(w);
        assert!(text.contains("#EXT-X-TARGETDURATION:2\n"), "{text}");
        assert!(text.contains("#EXTINF:1.440,\nseg-1001.ts"), "{text}");
        assert_eq!(text.matches("#EXTINF:2.002,").count(), 5, "{text}");
        // Every segment says when it was on air, each the one before plus its duration.
        let dates: Vec<DateTime<Utc>> = text
            .lines()
            .filter_map(|l| l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:"))
            .map(|t| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc))
            .collect();
        let durations: Vec<f64> =
            text.lines().filter_map(|l| l.strip_prefix("#EXTINF:")?.strip_suffix(',')?.parse().ok()).collect();
        assert_eq!(dates.len(), durations.len(), "{text}");
        for (w, d) in dates.windows(2).zip(&durations) {
            assert_eq!((w[1] - w[0]).num_milliseconds(), (d * 1000.0).round() as i64, "{text}");
        }
    }

    #[test]
    fn program_date_time_follows_the_timestamps_and_the_wall_clock_when_it_steps() {
        let mut seg = Segmenter::new(PathBuf::from("/nonexistent"), 3, 0);
        let t0 = DateTime::parse_from_rfc3339("2026-12-02T20:00:00.000Z").unwrap().with_timezone(&Utc);
        let ms = |n: i64| t0 + chrono::Duration::milliseconds(n);
        let s = 1_000_000_000u64;
        assert_eq!(seg.program_date_time(Some(10 * s), t0), t0);
        // Written 300 ms late: still the instant the timestamps say.
        assert_eq!(seg.program_date_time(Some(12 * s), ms(2300)), ms(2000));
        // The wall clock was stepped an hour ahead: follow it.
        assert_eq!(seg.program_date_time(Some(14 * s), ms(3_604_000)), ms(3_604_000));
        assert_eq!(seg.program_date_time(Some(16 * s), ms(3_606_100)), ms(3_606_000));
        // Timestamps that start over (a discontinuity) start from the wall clock.
        assert_eq!(seg.program_date_time(Some(s), ms(3_608_050)), ms(3_608_050));
    }

    #[test]
    fn a_failed_write_drops_the_segment_and_writing_resumes_with_a_discontinuity() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("2");
        let gop = 2_002_000_000u64;
        let w = HlsWriter::start(&dir, 3, 1000).unwrap();
        w.push(ts(1), true, Some(0));
        w.push(ts(1), true, Some(gop));
        wait_playlist(&dir, 1, 1000);
        // The directory vanishes (as writes fail on a full disk): segments cannot be made.
        let moved = root.path().join("gone");
        std::fs::rename(&dir, &moved).unwrap();
        for i in 2..5u64 {
            w.push(ts(1), true, Some(i * gop));
            w.push(ts(2), false, Some(i * gop + 1_000_000_000));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::fs::rename(&moved, &dir).unwrap();
        for i in 5..8u64 {
            w.push(ts(1), true, Some(i * gop));
        }
        let mut text = String::new();
        for _ in 0..500 {
            text = std::fs::read_to_string(dir.join(PLAYLIST)).unwrap_or_default();
            if text.contains("#EXT-X-DISCONTINUITY\n") && text.lines().filter(|l| l.starts_with("seg-")).count() == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(text.contains("#EXT-X-DISCONTINUITY\n"), "the gap is not marked:\n{text}");
        // Every segment listed is whole (one or two chunks of 188 bytes), none cut short.
        for name in text.lines().filter(|l| l.starts_with("seg-")) {
            let len = std::fs::metadata(dir.join(name)).unwrap().len();
            assert!(len == 188 || len == 376, "{name}: {len} bytes");
        }
    }

    #[test]
    fn only_playlist_and_segments_are_served() {
        assert!(is_served_name("index.m3u8"));
        assert!(is_served_name("seg-1700000000.ts"));
        for bad in ["seg-.ts", "seg-1.ts.tmp", "next_sequence", "../x", "seg-1/../../etc.ts", ".index.m3u8.tmp"] {
            assert!(!is_served_name(bad), "{bad}");
        }
    }
}
