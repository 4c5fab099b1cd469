//! A little MPEG-TS reading (pure): find where a video keyframe starts in the muxer's output,
//! so viewers and HLS segments start at a keyframe, with the PAT and PMT right in front.
//! (`mpegtsmux` marks its own output buffers unreliably for this: PSI buffers are not
//! flagged as deltas, and a 7-packet buffer may hold the end of one GOP and the start of the
//! next.)

/// TS packet size.
pub const PACKET: usize = 188;
/// PID the pipeline gives the video stream (`mpegtsmux` pad `sink_256`).
pub const VIDEO_PID: u16 = 256;
/// PID the pipeline gives the audio stream.
pub const AUDIO_PID: u16 = 257;

fn pid(p: &[u8]) -> u16 {
    (((p[1] & 0x1f) as u16) << 8) | p[2] as u16
}

fn pusi(p: &[u8]) -> bool {
    p[1] & 0x40 != 0
}

/// The packet starts a PES with the random-access indicator set.
fn random_access(p: &[u8]) -> bool {
    let has_adaptation = p[3] & 0x20 != 0;
    has_adaptation && p[4] > 0 && p[5] & 0x40 != 0
}

/// PMT PID of the first program listed in a PAT packet.
fn pmt_pid_in_pat(p: &[u8]) -> Option<u16> {
    let has_adaptation = p[3] & 0x20 != 0;
    let mut i = 4 + if has_adaptation { 1 + p[4] as usize } else { 0 };
    i += 1 + *p.get(i)? as usize; // pointer field
    // table_id(1) section_length(2) ts_id(2) version(1) section(1) last(1) = 8 bytes
    let entry = p.get(i + 8..i + 12)?;
    Some((((entry[2] & 0x1f) as u16) << 8) | entry[3] as u16)
}

/// PTS (90 kHz) of the PES that starts in packet `p`, if it has one.
fn pes_pts(p: &[u8]) -> Option<u64> {
    let has_adaptation = p[3] & 0x20 != 0;
    let start = 4 + if has_adaptation { 1 + p[4] as usize } else { 0 };
    let pes = p.get(start..start + 14)?;
    if pes[..3] != [0, 0, 1] || pes[7] & 0x80 == 0 {
        return None;
    }
    let b = &pes[9..14];
    Some(
        (((b[0] >> 1) & 0x07) as u64) << 30
            | (b[1] as u64) << 22
            | ((b[2] >> 1) as u64) << 15
            | (b[3] as u64) << 7
            | (b[4] >> 1) as u64,
    )
}

/// PTS (90 kHz, 0 if absent) of the video keyframe that starts in TS packet `p`, or `None`
/// when `p` does not start one (not a whole packet, wrong PID, no random-access indicator).
pub fn keyframe_pts(p: &[u8]) -> Option<u64> {
    if p.len() != PACKET || p[0] != 0x47 || pid(p) != VIDEO_PID || !pusi(p) || !random_access(p) {
        return None;
    }
    Some(pes_pts(p).unwrap_or(0))
}

/// Remembers the latest PAT and PMT and splits output at video keyframes.
#[derive(Default)]
pub struct KeyframeSplitter {
    pat: Option<[u8; PACKET]>,
    pmt: Option<[u8; PACKET]>,
    pmt_pid: Option<u16>,
}

impl KeyframeSplitter {
    /// Split `data` (whole TS packets) into parts; a part that starts with a keyframe comes
    /// with `Some(keyframe PTS in 90 kHz units, or 0 if absent)` and is prefixed with the
    /// current PAT and PMT.
    pub fn split(&mut self, data: &[u8]) -> Vec<(Vec<u8>, Option<u64>)> {
        let mut parts: Vec<(Vec<u8>, Option<u64>)> = Vec::new();
        let mut current: Vec<u8> = Vec::with_capacity(data.len() + 2 * PACKET);
        let mut current_key = None;
        for p in data.chunks(PACKET) {
            if p.len() != PACKET || p[0] != 0x47 {
                current.extend_from_slice(p);
                continue;
            }
            let id = pid(p);
            if id == 0 && pusi(p) {
                self.pat = p.try_into().ok();
                self.pmt_pid = pmt_pid_in_pat(p);
            } else if Some(id) == self.pmt_pid && pusi(p) {
                self.pmt = p.try_into().ok();
            }
            if id == VIDEO_PID && pusi(p) && random_access(p) {
                if !current.is_empty() {
                    parts.push((std::mem::take(&mut current), current_key));
                }
                current_key = Some(pes_pts(p).unwrap_or(0));
                if let (Some(pat), Some(pmt)) = (&self.pat, &self.pmt) {
                    current.extend_from_slice(pat);
                    current.extend_from_slice(pmt);
                }
            }
            current.extend_from_slice(p);
        }
        if !current.is_empty() {
            parts.push((current, current_key));
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pid: u16, pusi: bool, rai: bool) -> Vec<u8> {
        let mut p = vec![0xffu8; PACKET];
        p[0] = 0x47;
        p[1] = ((pid >> 8) as u8 & 0x1f) | if pusi { 0x40 } else { 0 };
        p[2] = pid as u8;
        if rai {
            p[3] = 0x30;
            p[4] = 7;
            p[5] = 0x40;
        } else {
            p[3] = 0x10;
        }
        p
    }

    fn pat(pmt: u16) -> Vec<u8> {
        let mut p = packet(0, true, false);
        p[4] = 0; // pointer
        let s = [0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xe0 | (pmt >> 8) as u8, pmt as u8];
        p[5..5 + s.len()].copy_from_slice(&s);
        p
    }

    #[test]
    fn splits_at_the_keyframe_and_prefixes_psi() {
        let mut s = KeyframeSplitter::default();
        let pmt = packet(0x20, true, false);
        let mut first = pat(0x20);
        first.extend(&pmt);
        first.extend(packet(VIDEO_PID, false, false));
        assert_eq!(s.split(&first), vec![(first.clone(), None)]);

        let mut data = packet(AUDIO_PID, true, true); // audio access unit: not a video keyframe
        let mut key = packet(VIDEO_PID, true, true);
        // PES header after the 8-byte adaptation field, PTS = 324000693.
        let pts: u64 = 324_000_693;
        let pes = [
            0,
            0,
            1,
            0xe0,
            0,
            0,
            0x80,
            0x80,
            5,
            0x21 | (((pts >> 30) as u8 & 0x07) << 1),
            (pts >> 22) as u8,
            (((pts >> 15) as u8) << 1) | 1,
            (pts >> 7) as u8,
            ((pts as u8) << 1) | 1,
        ];
        key[12..26].copy_from_slice(&pes);
        data.extend(&key);
        data.extend(packet(VIDEO_PID, false, false));
        let parts = s.split(&data);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], (packet(AUDIO_PID, true, true), None));
        assert_eq!(parts[1].1, Some(pts));
        assert_eq!(keyframe_pts(&key), Some(pts));
        assert_eq!(keyframe_pts(&packet(AUDIO_PID, true, true)), None);
        assert_eq!(keyframe_pts(&packet(VIDEO_PID, false, false)), None);
        assert_eq!(parts[1].0.len(), 4 * PACKET);
        assert_eq!(&parts[1].0[..PACKET], &pat(0x20)[..]);
        assert_eq!(&parts[1].0[PACKET..2 * PACKET], &pmt[..]);
        assert_eq!(&parts[1].0[2 * PACKET..3 * PACKET], &key[..]);
    }
}
