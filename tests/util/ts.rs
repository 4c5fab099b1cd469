//! A small incremental MPEG-TS reader for tests: finds the video PID through PAT/PMT and
//! checks every video PES timestamp against the previous one.

/// 90 kHz ticks of one 29.97 fps frame.
pub const NTSC_FRAME_TICKS: i64 = 3003;

/// The longest run of missing frames still counted as skipped frames rather than a
/// discontinuity (half a second).
pub const MAX_SKIPPED_RUN: i64 = 15;

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
            let b = &payload[9..14];
            let pts = (i64::from(b[0] >> 1 & 0x07) << 30)
                | (i64::from(b[1]) << 22)
                | (i64::from(b[2] >> 1) << 15)
                | (i64::from(b[3]) << 7)
                | i64::from(b[4] >> 1);
            self.video_frames += 1;
            if let Some(prev) = self.last_pts {
                let step = (pts - prev).rem_euclid(1 << 33);
                let frames = (step + NTSC_FRAME_TICKS / 2) / NTSC_FRAME_TICKS;
                let whole = (step - frames * NTSC_FRAME_TICKS).abs() <= 2;
                match frames {
                    1 if whole => {}
                    2..=MAX_SKIPPED_RUN if whole => self.skipped_frames += (frames - 1) as u64,
                    _ => self.discontinuities.push((prev, pts)),
                }
            }
            self.last_pts = Some(pts);
        }
    }
}
