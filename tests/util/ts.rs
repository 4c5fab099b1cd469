//! A small incremental MPEG-TS reader for tests: finds the video PID through PAT/PMT and
//! checks every video PES timestamp against the previous one.

/// 90 kHz ticks of one 29.97 fps frame.
pub const NTSC_FRAME_TICKS: i64 = 3003;

/// The longest run of missing frames still counted as skipped frames rather than a
/// discontinuity (half a second).
pub const MAX_SKIPPED_RUN: i64 = 15;

/// The frames the encoder may drop while the box is short of CPU (the soak's own 20 viewers
/// load a 2-core box fully): one in this many. A drop shows as one frame held for two, not
/// as black or a jump; more than this is a channel that cannot keep up.
pub const SKIPPED_ONE_IN: u64 = 500;

/// Whether `skipped` dropped frames of `frames` received stay within one in
/// [`SKIPPED_ONE_IN`]; a short capture may always lose `at_least` (one frame of a few hundred
/// is not a share).
pub fn few_skipped(skipped: u64, frames: u64, at_least: u64) -> bool {
    skipped <= (frames / SKIPPED_ONE_IN).max(at_least)
}

/// One step between consecutive video PTS, in frames of `frame` ticks (±2 ticks of rounding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The next frame.
    One,
    /// Forward by a few whole frames: this many frames the encoder dropped (at most
    /// [`MAX_SKIPPED_RUN`]); held on screen, the timeline intact.
    Skipped(i64),
    /// Anything else: backwards, a fraction of a frame, or a jump.
    Odd,
}

/// The PTS difference `ticks` (wrapped at 2^33) in frames of `frame` ticks, if it is a whole
/// number of them (±2 ticks of rounding).
pub fn whole_frames(ticks: i64, frame: i64) -> Option<i64> {
    let step = ticks.rem_euclid(1 << 33);
    let frames = (step + frame / 2) / frame;
    ((step - frames * frame).abs() <= 2).then_some(frames)
}

impl Step {
    /// Classify the PTS difference `ticks` (wrapped at 2^33).
    pub fn of(ticks: i64, frame: i64) -> Self {
        match whole_frames(ticks, frame) {
            Some(1) => Self::One,
            Some(frames @ 2..=MAX_SKIPPED_RUN) => Self::Skipped(frames - 1),
            _ => Self::Odd,
        }
    }
}

/// Follows one viewer's bytes.
#[derive(Debug, Default)]
pub struct TsFollower {
    carry: Vec<u8>,
    pmt_pid: Option<u16>,
    video_pid: Option<u16>,
    last_pts: Option<i64>,
    /// TS packets seen.
    pub packets: u64,
    /// Packets whose first byte was not 0x47.
    pub sync_errors: u64,
    /// Video PES headers with a PTS.
    pub video_frames: u64,
    /// (previous PTS, PTS) pairs whose step was neither one frame nor a few whole frames
    /// forward: the timeline jumped or went back.
    pub discontinuities: Vec<(i64, i64)>,
    /// Frames missing where the PTS stepped forward by a few whole frames (at most
    /// [`MAX_SKIPPED_RUN`]): the daemon's encoder dropped them while it was behind (it does so
    /// by design rather than fall further behind the clock); the timeline itself held.
    pub skipped_frames: u64,
    /// Packets whose continuity counter did not follow their PID's previous one (a repeated
    /// counter, allowed once, is not counted).
    pub cc_errors: u64,
    last_cc: std::collections::HashMap<u16, u8>,
}

impl TsFollower {
    /// Feed the next bytes received.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.carry.extend_from_slice(bytes);
        let whole = self.carry.len() / 188 * 188;
        let data = std::mem::take(&mut self.carry);
        for p in data[..whole].chunks_exact(188) {
            self.packet(p);
        }
        self.carry = data[whole..].to_vec();
    }

    fn packet(&mut self, p: &[u8]) {
        self.packets += 1;
        if p[0] != 0x47 {
            self.sync_errors += 1;
            return;
        }
        let pusi = p[1] & 0x40 != 0;
        let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        let afc = (p[3] >> 4) & 3;
        if afc & 1 == 1 && pid != 0x1fff {
            let cc = p[3] & 0x0f;
            if let Some(last) = self.last_cc.insert(pid, cc)
                && cc != (last + 1) & 0x0f
                && cc != last
            {
                self.cc_errors += 1;
            }
        }
        let mut off = 4;
        if afc == 2 || afc == 3 {
            off += 1 + usize::from(p[4]);
        }
        if afc == 2 || off >= 188 || !pusi {
            return;
        }
        let payload = &p[off..];
        if pid == 0 {
            // PAT: pointer field, then the section; first program's PMT PID.
            let s = &payload[1 + usize::from(payload[0])..];
            if s.len() >= 12 && s[0] == 0 {
                self.pmt_pid = Some((u16::from(s[10] & 0x1f) << 8) | u16::from(s[11]));
            }
        } else if Some(pid) == self.pmt_pid {
            let s = &payload[1 + usize::from(payload[0])..];
            if s.len() < 12 || s[0] != 2 {
                return;
            }
            let section_len = (usize::from(s[1] & 0x0f) << 8) | usize::from(s[2]);
            let info_len = (usize::from(s[10] & 0x0f) << 8) | usize::from(s[11]);
            let end = (3 + section_len).saturating_sub(4).min(s.len());
            let mut i = 12 + info_len;
            while i + 5 <= end {
                let stream_type = s[i];
                let epid = (u16::from(s[i + 1] & 0x1f) << 8) | u16::from(s[i + 2]);
                let es_len = (usize::from(s[i + 3] & 0x0f) << 8) | usize::from(s[i + 4]);
                if stream_type == 0x1b && self.video_pid.is_none() {
                    self.video_pid = Some(epid);
                }
                i += 5 + es_len;
            }
        } else if Some(pid) == self.video_pid
            && payload.len() >= 14
            && payload[..3] == [0, 0, 1]
            && payload[7] & 0x80 != 0
        {
            let pts = timestamp(&payload[9..14]);
            self.video_frames += 1;
            if let Some(prev) = self.last_pts {
                match Step::of(pts - prev, NTSC_FRAME_TICKS) {
                    Step::One => {}
                    Step::Skipped(n) => self.skipped_frames += n as u64,
                    Step::Odd => self.discontinuities.push((prev, pts)),
                }
            }
            self.last_pts = Some(pts);
        }
    }
}

/// Transport-stream timing figures of a whole capture (ETSI TR 101 290 style), measured on
/// the raw bytes: continuity counters, PCR repetition and accuracy, PAT/PMT repetition, and
/// the video and audio PES timestamp steps. Times of packets without a PCR are interpolated
/// between the PCRs around them by packet position (the decoder's model of the stream).
#[derive(Debug, Default)]
pub struct Timing {
    /// Whole TS packets read.
    pub packets: usize,
    /// Packets whose first byte was not 0x47.
    pub sync_errors: usize,
    /// Packets whose continuity counter did not follow their PID's previous one (one repeat,
    /// and a counter after a discontinuity indicator, are allowed).
    pub cc_errors: usize,
    /// (packet index, PCR in 27 MHz ticks) of every PCR.
    pub pcrs: Vec<(usize, i64)>,
    /// Packet indices where a PAT / the PMT section starts.
    pub pats: Vec<usize>,
    pub pmts: Vec<usize>,
    /// PIDs of the first H.264 and AAC streams in the PMT.
    pub video_pid: Option<u16>,
    pub audio_pid: Option<u16>,
    /// (packet index, PTS, DTS) of each video / audio PES (90 kHz; DTS = PTS when absent).
    pub video_pes: Vec<(usize, i64, i64)>,
    pub audio_pes: Vec<(usize, i64, i64)>,
}

/// 90 kHz ticks of one AAC frame (1024 samples) at 48 kHz.
pub const AAC_FRAME_TICKS_48K: i64 = 1920;

/// A PES header's 33-bit PTS or DTS (the 5 bytes that carry it).
fn timestamp(b: &[u8]) -> i64 {
    (i64::from(b[0] >> 1 & 0x07) << 30)
        | (i64::from(b[1]) << 22)
        | (i64::from(b[2] >> 1) << 15)
        | (i64::from(b[3]) << 7)
        | i64::from(b[4] >> 1)
}

impl Timing {
    /// Read a whole capture (starting at a packet boundary).
    pub fn of(bytes: &[u8]) -> Self {
        let mut t = Self::default();
        let mut last_cc: std::collections::HashMap<u16, (u8, bool)> = Default::default();
        let mut pmt_pid = None;
        for (i, p) in bytes.chunks_exact(188).enumerate() {
            t.packets += 1;
            if p[0] != 0x47 {
                t.sync_errors += 1;
                continue;
            }
            let pusi = p[1] & 0x40 != 0;
            let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
            let afc = (p[3] >> 4) & 3;
            let mut off = 4;
            let mut discontinuity = false;
            if afc & 2 != 0 {
                let len = usize::from(p[4]);
                if len > 0 {
                    let flags = p[5];
                    discontinuity = flags & 0x80 != 0;
                    if flags & 0x10 != 0 && len >= 7 {
                        let b = &p[6..12];
                        let base = (i64::from(b[0]) << 25)
                            | (i64::from(b[1]) << 17)
                            | (i64::from(b[2]) << 9)
                            | (i64::from(b[3]) << 1)
                            | i64::from(b[4] >> 7);
                        let ext = (i64::from(b[4] & 1) << 8) | i64::from(b[5]);
                        t.pcrs.push((i, base * 300 + ext));
                    }
                }
                off += 1 + len;
            }
            if pid == 0x1fff {
                continue;
            }
            if afc & 1 == 1 {
                let cc = p[3] & 0x0f;
                if let Some((last, repeated)) = last_cc.get(&pid).copied() {
                    let next = cc == (last + 1) & 0x0f;
                    let repeat = cc == last && !repeated;
                    if !(next || repeat || discontinuity) {
                        t.cc_errors += 1;
                    }
                    last_cc.insert(pid, (cc, repeat));
                } else {
                    last_cc.insert(pid, (cc, false));
                }
            }
            if afc & 1 == 0 || off >= 188 || !pusi {
                continue;
            }
            let payload = &p[off..];
            if pid == 0 {
                let s = &payload[1 + usize::from(payload[0])..];
                if s.len() >= 12 && s[0] == 0 {
                    t.pats.push(i);
                    pmt_pid = Some((u16::from(s[10] & 0x1f) << 8) | u16::from(s[11]));
                }
            } else if Some(pid) == pmt_pid {
                let s = &payload[1 + usize::from(payload[0])..];
                if s.len() < 12 || s[0] != 2 {
                    continue;
                }
                t.pmts.push(i);
                let section_len = (usize::from(s[1] & 0x0f) << 8) | usize::from(s[2]);
                let info_len = (usize::from(s[10] & 0x0f) << 8) | usize::from(s[11]);
                let end = (3 + section_len).saturating_sub(4).min(s.len());
                let mut k = 12 + info_len;
                while k + 5 <= end {
                    let epid = (u16::from(s[k + 1] & 0x1f) << 8) | u16::from(s[k + 2]);
                    match s[k] {
                        0x1b => _ = t.video_pid.get_or_insert(epid),
                        0x0f => _ = t.audio_pid.get_or_insert(epid),
                        _ => {}
                    }
                    k += 5 + ((usize::from(s[k + 3] & 0x0f) << 8) | usize::from(s[k + 4]));
                }
            } else if (Some(pid) == t.video_pid || Some(pid) == t.audio_pid)
                && payload.len() >= 19
                && payload[..3] == [0, 0, 1]
                && payload[7] & 0x80 != 0
            {
                let pts = timestamp(&payload[9..14]);
                let dts = if payload[7] & 0x40 != 0 { timestamp(&payload[14..19]) } else { pts };
                if Some(pid) == t.video_pid {
                    t.video_pes.push((i, pts, dts));
                } else {
                    t.audio_pes.push((i, pts, dts));
                }
            }
        }
        t
    }

    /// Longest time between consecutive PCRs, in ms of the PCR clock.
    pub fn pcr_interval_max_ms(&self) -> f64 {
        self.pcrs.windows(2).map(|w| (w[1].1 - w[0].1) as f64 / 27_000.0).fold(0.0, f64::max)
    }

    /// Time (27 MHz) of packet `i`, interpolated between the PCRs around it; `None` outside
    /// the first and last PCR.
    pub fn time_of(&self, i: usize) -> Option<f64> {
        let k = self.pcrs.partition_point(|&(at, _)| at <= i);
        let (a, b) = (self.pcrs.get(k.checked_sub(1)?)?, self.pcrs.get(k).or_else(|| self.pcrs.last())?);
        if a.0 == i || b.0 == a.0 {
            return Some(a.1 as f64);
        }
        Some(a.1 as f64 + (b.1 - a.1) as f64 * (i - a.0) as f64 / (b.0 - a.0) as f64)
    }

    /// Longest time between consecutive table starts at `at` (packet indices), in ms; the
    /// time from the first PCR to the first table and from the last table to the last PCR
    /// count too (a table missing from the end is a gap as well).
    pub fn repetition_max_ms(&self, at: &[usize]) -> f64 {
        let (Some(first), Some(last)) = (self.pcrs.first(), self.pcrs.last()) else { return f64::INFINITY };
        let mut times: Vec<f64> = at.iter().filter_map(|&i| self.time_of(i)).collect();
        times.insert(0, first.1 as f64);
        times.push(last.1 as f64);
        times.windows(2).map(|w| (w[1] - w[0]) / 27_000.0).fold(0.0, f64::max)
    }

    /// PCR accuracy as TR 101 290 2.3 (PCR_AC) measures it: each PCR against the value the
    /// PCRs before and after it predict at its byte position (constant rate between them),
    /// in ns; the largest deviation.
    pub fn pcr_accuracy_max_ns(&self) -> f64 {
        self.pcrs
            .windows(3)
            .map(|w| {
                let (a, b, c) = (w[0], w[1], w[2]);
                let predicted = a.1 as f64 + (c.1 - a.1) as f64 * (b.0 - a.0) as f64 / (c.0 - a.0) as f64;
                (b.1 as f64 - predicted).abs() / 0.027
            })
            .fold(0.0, f64::max)
    }

    /// PCR against the PTS clock: for each PCR carried in the packet that starts a video or
    /// audio PES, PCR − 300·DTS (27 MHz); returns (spread max − min in ns, median offset in
    /// ms, how many). A mux whose PCR follows the timestamps' clock exactly has a spread of 0
    /// (up to the 27 MHz tick, 37 ns).
    pub fn pcr_vs_dts(&self) -> (f64, f64, usize) {
        let starts: std::collections::HashMap<usize, i64> =
            self.video_pes.iter().chain(&self.audio_pes).map(|&(i, _, dts)| (i, dts)).collect();
        let mut d: Vec<i64> =
            self.pcrs.iter().filter_map(|(i, pcr)| starts.get(i).map(|dts| pcr - dts * 300)).collect();
        if d.is_empty() {
            return (f64::INFINITY, 0.0, 0);
        }
        d.sort_unstable();
        ((d[d.len() - 1] - d[0]) as f64 / 0.027, d[d.len() / 2] as f64 / 27_000.0, d.len())
    }

    /// Video PTS steps of a whole number of frames more than one: frames the encoder dropped
    /// (a box that cannot keep up, issue #21), as (PTS, frames missing).
    pub fn skipped_frames(&self, frame: i64) -> Vec<(i64, i64)> {
        self.video_pes
            .windows(2)
            .filter_map(|w| match Step::of(w[1].1 - w[0].1, frame) {
                Step::Skipped(n) => Some((w[0].1, n)),
                _ => None,
            })
            .collect()
    }

    /// Steps between consecutive PTS of `pes` that are not `step` (±1 tick), as (PTS, step).
    pub fn odd_steps(pes: &[(usize, i64, i64)], step: i64) -> Vec<(i64, i64)> {
        pes.windows(2)
            .map(|w| (w[0].1, (w[1].1 - w[0].1).rem_euclid(1 << 33)))
            .filter(|&(_, s)| (s - step).abs() > 1)
            .collect()
    }
}
