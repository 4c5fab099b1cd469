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

/// One part of the muxer's output as [`KeyframeSplitter::split`] cuts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    /// The packets, in the muxer's order; a part that starts with a keyframe begins with the
    /// current PAT and PMT.
    pub data: Vec<u8>,
    /// The part starts with a video keyframe of this PTS (90 kHz units, 0 if absent).
    pub key_pts: Option<u64>,
    /// For a viewer who starts at this keyframe: the part with the sound of the keyframe's
    /// instant put in front of the picture (see [`KeyframeSplitter`]); `None` when there is
    /// none to add. Viewers already watching get `data`: they had that sound.
    pub join: Option<Vec<u8>>,
}

/// How many audio packets [`KeyframeSplitter`] remembers: about 1.5 s of 128 kb/s AAC.
const AUDIO_MEMORY: usize = 128;

/// Remembers the latest PAT and PMT and splits output at video keyframes.
///
/// The multiplexer sends the sound of an instant ahead of its picture (the audio encoder is
/// quicker than the video encoder, and a live mux does not wait for the slower input). A viewer
/// who starts at a keyframe would hear nothing until the audio packets sent after it catch up
/// with the picture. So the splitter remembers the last audio packets, and hands a viewer who
/// starts at a keyframe ([`Part::join`]) the audio access units from the one that covers the
/// keyframe's instant on, right after the PAT and PMT: a contiguous run of the audio PID, so its
/// continuity counters carry on into what follows.
#[derive(Default)]
pub struct KeyframeSplitter {
    pat: Option<[u8; PACKET]>,
    pmt: Option<[u8; PACKET]>,
    pmt_pid: Option<u16>,
    /// The latest audio packets, with the PTS of those that start an access unit.
    audio: std::collections::VecDeque<([u8; PACKET], Option<u64>)>,
}

impl KeyframeSplitter {
    /// Split `data` (whole TS packets) into [`Part`]s at video keyframes.
    pub fn split(&mut self, data: &[u8]) -> Vec<Part> {
        let mut parts: Vec<Part> = Vec::new();
        let mut current = Part { data: Vec::with_capacity(data.len() + 2 * PACKET), key_pts: None, join: None };
        for p in data.chunks(PACKET) {
            if p.len() != PACKET || p[0] != 0x47 {
                current.data.extend_from_slice(p);
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
                if !current.data.is_empty() {
                    parts.push(std::mem::take(&mut current));
                }
                let key = pes_pts(p).unwrap_or(0);
                current.key_pts = Some(key);
                if let (Some(pat), Some(pmt)) = (&self.pat, &self.pmt) {
                    current.data.extend_from_slice(pat);
                    current.data.extend_from_slice(pmt);
                }
                let lead = self.sound_from(key);
                if !lead.is_empty() {
                    let mut join = current.data.clone();
                    join.extend(lead);
                    current.join = Some(join);
                }
            }
            if id == AUDIO_PID {
                if self.audio.len() == AUDIO_MEMORY {
                    self.audio.pop_front();
                }
                let pts = if pusi(p) { pes_pts(p) } else { None };
                self.audio.push_back((p.try_into().expect("a whole packet"), pts));
            }
            current.data.extend_from_slice(p);
            if let Some(join) = &mut current.join {
                join.extend_from_slice(p);
            }
        }
        if !current.data.is_empty() {
            parts.push(current);
        }
        parts
    }

    /// The remembered audio packets from the access unit that covers `key` (the last that
    /// starts at or before it; else the first remembered) on.
    fn sound_from(&self, key: u64) -> Vec<u8> {
        let starts = || self.audio.iter().enumerate().filter_map(|(i, (_, pts))| pts.map(|pts| (i, pts)));
        let Some(first) = starts().next() else { return Vec::new() };
        let (from, _) = starts().take_while(|&(_, pts)| pts <= key).last().unwrap_or(first);
        self.audio.iter().skip(from).flat_map(|(p, _)| p.iter().copied()).collect()
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

    /// A packet that starts a PES of PTS `pts` (after an 8-byte adaptation field with the
    /// random-access indicator).
    fn with_pts(pid: u16, pts: u64) -> Vec<u8> {
        let mut p = packet(pid, true, true);
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
        p[12..26].copy_from_slice(&pes);
        p
    }

    /// The multiplexer sent the keyframe's sound ahead of it: a viewer who starts at the
    /// keyframe gets that sound (from the access unit covering the keyframe's instant) right
    /// after the PAT and PMT, those already watching get the muxer's bytes unchanged.
    #[test]
    fn a_viewer_starting_at_a_keyframe_gets_the_sound_sent_ahead_of_it() {
        let mut s = KeyframeSplitter::default();
        let key_pts: u64 = 900_000;
        let mut psi = pat(0x20);
        psi.extend(packet(0x20, true, false));
        // Audio access units of 1920 ticks (21.3 ms), the third covering the keyframe's
        // instant, each followed by a continuation packet; then the old GOP's last picture,
        // then the keyframe.
        let au = |pts: u64| [with_pts(AUDIO_PID, pts), packet(AUDIO_PID, false, false)].concat();
        let mut ahead = psi.clone();
        for pts in [key_pts - 4420, key_pts - 2500, key_pts - 580, key_pts + 1340] {
            ahead.extend(au(pts));
        }
        ahead.extend(packet(VIDEO_PID, false, false));
        let parts = s.split(&ahead);
        assert_eq!(parts.len(), 1);
        assert!(parts[0].join.is_none(), "no keyframe, nothing to join at");

        let mut live = with_pts(VIDEO_PID, key_pts);
        live.extend(packet(VIDEO_PID, false, false));
        live.extend(au(key_pts + 3840));
        let parts = s.split(&live);
        assert_eq!(parts.len(), 1);
        let part = &parts[0];
        assert_eq!(part.key_pts, Some(key_pts));
        assert_eq!(part.data, [psi.clone(), live.clone()].concat(), "those watching get the muxer's bytes");
        // From the access unit covering the keyframe's instant on.
        let sound = [au(key_pts - 580), au(key_pts + 1340)].concat();
        assert_eq!(part.join.as_deref(), Some(&[psi, sound, live][..].concat()[..]));

        // Sound that is not ahead: the access unit covering the keyframe alone.
        let mut s = KeyframeSplitter::default();
        let behind = [au(key_pts - 3840), au(key_pts - 1920)].concat();
        s.split(&behind);
        let parts = s.split(&with_pts(VIDEO_PID, key_pts));
        assert_eq!(parts[0].join, Some([au(key_pts - 1920), with_pts(VIDEO_PID, key_pts)].concat()));
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
        assert_eq!(s.split(&first), vec![Part { data: first.clone(), key_pts: None, join: None }]);

        let mut data = packet(AUDIO_PID, true, true); // audio access unit: not a video keyframe
        let pts: u64 = 324_000_693;
        let key = with_pts(VIDEO_PID, pts);
        data.extend(&key);
        data.extend(packet(VIDEO_PID, false, false));
        let parts = s.split(&data);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].data, packet(AUDIO_PID, true, true));
        assert_eq!(parts[0].key_pts, None);
        assert_eq!(parts[1].key_pts, Some(pts));
        assert_eq!(keyframe_pts(&key), Some(pts));
        assert_eq!(keyframe_pts(&packet(AUDIO_PID, true, true)), None);
        assert_eq!(keyframe_pts(&packet(VIDEO_PID, false, false)), None);
        assert_eq!(parts[1].data.len(), 4 * PACKET);
        assert_eq!(&parts[1].data[..PACKET], &pat(0x20)[..]);
        assert_eq!(&parts[1].data[PACKET..2 * PACKET], &pmt[..]);
        assert_eq!(&parts[1].data[2 * PACKET..3 * PACKET], &key[..]);
    }
}
