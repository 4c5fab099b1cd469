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

/// ATSC A/65 `caption_service_descriptor` for one CEA-608 service: English, line-21 field 1
/// (CC1), not easy-reader, 4:3. `0xe1`: reserved bits and number_of_services 1; `0x7e`:
/// digital_cc 0, reserved, line21_field 0; `0x3f 0xff`: easy_reader 0, wide_aspect_ratio 0,
/// reserved.
pub const CAPTION_SERVICE_DESCRIPTOR: [u8; 9] = [0x86, 0x07, 0xe1, b'e', b'n', b'g', 0x7e, 0x3f, 0xff];

/// CRC-32/MPEG-2 of a PSI section (polynomial 0x04C11DB7, no reflection, initial all ones,
/// no final XOR): over a whole section including its CRC, 0.
pub fn crc32_mpeg2(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= (b as u32) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

/// Says in the PMT that the video carries closed captions: `mpegtsmux` cannot, so each PMT
/// packet of the output gets [`CAPTION_SERVICE_DESCRIPTOR`] in the video stream's ES info
/// (section length and CRC recomputed), the way ATSC receivers and players learn of them.
#[derive(Default)]
pub struct PmtCaptions {
    pmt_pid: Option<u16>,
}

impl PmtCaptions {
    /// Rewrite the PMT packets in `data` (whole TS packets) in place.
    pub fn rewrite(&mut self, data: &mut [u8]) {
        for p in data.chunks_exact_mut(PACKET) {
            if p[0] != 0x47 || !pusi(p) {
                continue;
            }
            let pid = pid(p);
            if pid == 0 {
                self.pmt_pid = pmt_pid_in_pat(p).or(self.pmt_pid);
            } else if Some(pid) == self.pmt_pid {
                add_caption_descriptor(p);
            }
        }
    }
}

/// Add [`CAPTION_SERVICE_DESCRIPTOR`] to the video stream ([`VIDEO_PID`]) of the PMT section
/// that starts, whole, in TS packet `p`. The packet keeps its size: `mpegtsmux` puts the
/// section at the packet's end after an adaptation field of stuffing, which shrinks by as
/// much (or the 0xFF stuffing after the section does). `false` (`p` unchanged): not such a
/// packet, no room left in it, or the descriptor is there already.
pub fn add_caption_descriptor(p: &mut [u8]) -> bool {
    if p.len() != PACKET || p[0] != 0x47 || !pusi(p) {
        return false;
    }
    let afc = (p[3] >> 4) & 0x03;
    let has_adaptation = afc & 0x02 != 0;
    if afc & 0x01 == 0 || (has_adaptation && p[4] > 0 && p[5] != 0) {
        return false; // no payload, or an adaptation field with more than stuffing
    }
    let start = 4 + if has_adaptation { 1 + p[4] as usize } else { 0 };
    // A PMT section starting right after the pointer field.
    let Some(&0) = p.get(start) else { return false };
    let s = start + 1;
    if s + 12 > PACKET || p[s] != 0x02 {
        return false;
    }
    let section_length = (((p[s + 1] & 0x0f) as usize) << 8) | p[s + 2] as usize;
    let end = s + 3 + section_length; // CRC included
    if end > PACKET || section_length < 13 || crc32_mpeg2(&p[s..end]) != 0 {
        return false;
    }
    let mut sec = p[s..end - 4].to_vec();
    let program_info = (((sec[10] & 0x0f) as usize) << 8) | sec[11] as usize;
    let mut i = 12 + program_info;
    let mut added = false;
    while i + 5 <= sec.len() {
        let es_pid = (((sec[i + 1] & 0x1f) as u16) << 8) | sec[i + 2] as u16;
        let info_len = (((sec[i + 3] & 0x0f) as usize) << 8) | sec[i + 4] as usize;
        let to = i + 5 + info_len;
        if to > sec.len() {
            return false;
        }
        if es_pid == VIDEO_PID {
            let mut d = i + 5;
            while d + 2 <= to {
                if sec[d] == CAPTION_SERVICE_DESCRIPTOR[0] {
                    return false;
                }
                d += 2 + sec[d + 1] as usize;
            }
            sec.splice(to..to, CAPTION_SERVICE_DESCRIPTOR);
            let info_len = info_len + CAPTION_SERVICE_DESCRIPTOR.len();
            sec[i + 3] = (sec[i + 3] & 0xf0) | (info_len >> 8) as u8;
            sec[i + 4] = info_len as u8;
            added = true;
            break;
        }
        i = to;
    }
    if !added {
        return false;
    }
    let section_length = sec.len() - 3 + 4;
    sec[1] = (sec[1] & 0xf0) | (section_length >> 8) as u8;
    sec[2] = section_length as u8;
    let crc = crc32_mpeg2(&sec);
    sec.extend(crc.to_be_bytes());
    // pointer field + section; what is left of the 184 bytes is stuffing.
    let Some(room) = (PACKET - 4).checked_sub(1 + sec.len()) else { return false };
    let mut out = Vec::with_capacity(PACKET);
    out.extend_from_slice(&p[..4]);
    if has_adaptation && room > 0 {
        out.push((room - 1) as u8);
        if room > 1 {
            out.push(0x00);
            out.resize(out.len() + room - 2, 0xff);
        }
    } else {
        out[3] = (out[3] & 0xcf) | 0x10; // payload only
    }
    out.push(0);
    out.extend_from_slice(&sec);
    out.resize(PACKET, 0xff);
    p.copy_from_slice(&out);
    true
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

    /// A PMT as `mpegtsmux` writes it: program 1, PCR on the video, H.264 on 256, AAC on 257
    /// with an ISO 639 descriptor.
    fn pmt(pid: u16) -> Vec<u8> {
        let mut p = packet(pid, true, false);
        p[4] = 0;
        let mut sec = vec![0x02, 0xb0, 0x00, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe1, 0x00, 0xf0, 0x00];
        sec.extend([0x1b, 0xe1, 0x00, 0xf0, 0x00]);
        sec.extend([0x0f, 0xe1, 0x01, 0xf0, 0x06, 0x0a, 0x04, b'e', b'n', b'g', 0x00]);
        let len = sec.len() - 3 + 4;
        sec[2] = len as u8;
        let crc = crc32_mpeg2(&sec);
        sec.extend(crc.to_be_bytes());
        p[5..5 + sec.len()].copy_from_slice(&sec);
        p
    }

    #[test]
    fn crc32_mpeg2_check_value() {
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
    }

    #[test]
    fn the_pmt_gets_the_caption_service_descriptor_on_the_video_stream_only() {
        let mut data = [pat(0x20), pmt(0x20)].concat();
        let before = data.clone();
        let mut w = PmtCaptions::default();
        w.rewrite(&mut data);
        assert_eq!(data[..PACKET], before[..PACKET], "the PAT stays");
        let p = &data[PACKET..];
        let len = (((p[6] & 0x0f) as usize) << 8) | p[7] as usize;
        assert_eq!(crc32_mpeg2(&p[5..5 + 3 + len]), 0, "a valid CRC");
        assert_eq!(&p[17..22], &[0x1b, 0xe1, 0x00, 0xf0, 9], "video ES info: 9 bytes");
        assert_eq!(&p[22..31], &CAPTION_SERVICE_DESCRIPTOR);
        assert_eq!(&p[31..42], &before[PACKET + 22..PACKET + 33], "the audio entry, unchanged");
        assert!(p[5 + 3 + len..].iter().all(|&b| b == 0xff), "stuffing after the section");
        // Once is enough: a second pass (the splitter's repeated PMT) changes nothing.
        let once = data.clone();
        w.rewrite(&mut data);
        assert_eq!(data, once);
        // As mpegtsmux writes it: the section at the packet's end, after an adaptation
        // field of stuffing, which gives up 9 bytes.
        let plain = pmt(0x20);
        let sec_len = 3 + plain[7] as usize;
        let mut muxed = plain[..4].to_vec();
        muxed[3] = 0x30;
        let af = PACKET - 4 - 1 - sec_len;
        muxed.push((af - 1) as u8);
        muxed.push(0x00);
        muxed.resize(4 + af, 0xff);
        muxed.push(0);
        muxed.extend_from_slice(&plain[5..5 + sec_len]);
        assert_eq!(muxed.len(), PACKET);
        assert!(add_caption_descriptor(&mut muxed));
        assert_eq!(muxed[4] as usize, af - 1 - 9, "the adaptation field shrank");
        let s = &muxed[4 + af - 9 + 1..];
        assert_eq!(s.len(), sec_len + 9);
        assert_eq!(crc32_mpeg2(s), 0);
        assert_eq!(&s[12..17], &[0x1b, 0xe1, 0x00, 0xf0, 9]);
        assert_eq!(&s[17..26], &CAPTION_SERVICE_DESCRIPTOR);
        // Not a PMT: untouched.
        let mut other = packet(0x21, true, false);
        assert!(!add_caption_descriptor(&mut other));
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
