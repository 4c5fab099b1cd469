//! Closed captions as US broadcast carries them: CEA-608 on caption channel 1 (field 1),
//! pop-on style, in CEA-708 `cc_data` triplets written into each access unit's SEI user data
//! (ATSC A/53) after the H.264 encoder, whichever it is ([`CaptionFeed::insert`]). Players
//! read them there (ffmpeg, VLC, Kodi, Plex).
//!
//! [`PopOn`] turns subtitle cues into the two bytes each video frame carries (608's pace: two
//! characters or one control code per frame). Each cue is loaded into the decoder's hidden
//! memory while the previous one is still shown (resume caption loading, erase the hidden
//! memory, a preamble address per row, the text), and flipped on screen with end-of-caption
//! at its start frame; erase-displayed-memory takes it off at its end unless the next cue
//! replaces it first. Control codes are sent twice, as decoders expect. A cue that cannot be
//! loaded in time shows late rather than not at all. Lines are wrapped to 32 columns and
//! kept to the 4 bottom rows, centred.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;

use super::pipeline::{on_timed_buffers, running_ns};
use super::timeline::Placement;
use crate::library::subtitles::Cue;

/// Columns of a 608 caption row.
pub const COLUMNS: usize = 32;
/// Rows a caption may use (the bottom ones: 12–15).
pub const MAX_ROWS: usize = 4;
/// Padding: no data this frame (0x00 0x00 with odd parity).
pub const PADDING: [u8; 2] = [0x80, 0x80];

const RCL: [u8; 2] = [0x14, 0x20];
const ENM: [u8; 2] = [0x14, 0x2e];
const EDM: [u8; 2] = [0x14, 0x2c];
const EOC: [u8; 2] = [0x14, 0x2f];

/// `byte` with odd parity in its top bit.
pub fn odd_parity(byte: u8) -> u8 {
    let b = byte & 0x7f;
    if b.count_ones().is_multiple_of(2) { b | 0x80 } else { b }
}

/// The CEA-708 `cc_data` triplet carrying one field-1 608 byte pair (cc_valid, NTSC field 1).
pub fn cc_data(pair: [u8; 2]) -> [u8; 3] {
    [0xfc, pair[0], pair[1]]
}

/// Caption bytes per video frame for one item, frames counted from the item's media time 0.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PopOn {
    /// Frame index → byte pair (parity applied); frames not listed carry [`PADDING`].
    pairs: BTreeMap<u64, [u8; 2]>,
}

impl PopOn {
    /// Encode `cues` at `frame` per video frame; the screen is cleared after the last one.
    pub fn new(cues: &[Cue], frame: Duration) -> Self {
        let frame_ns = frame.as_nanos().max(1) as u64;
        let at = |d: Duration| (d.as_nanos() as u64).div_ceil(frame_ns);
        let mut pairs = BTreeMap::new();
        let mut next_free = 0u64;
        let mut shown_until: Option<u64> = None;
        for cue in cues {
            let load = load_sequence(&cue.lines);
            if load.is_empty() {
                continue;
            }
            // Load while the previous caption is still on screen, just in time.
            let mut load_start = next_free.max(at(cue.start).saturating_sub(load.len() as u64 + 2));
            // The previous caption leaves at its end if this one does not replace it then:
            // before this one's loading when that comes later.
            if let Some(end) = shown_until
                && end < at(cue.start)
            {
                if end.max(next_free) <= load_start {
                    next_free = put_twice(&mut pairs, end.max(next_free), EDM);
                    load_start = load_start.max(next_free);
                    shown_until = None;
                } else {
                    // Its end falls in this one's loading: load first, as early as possible.
                    load_start = next_free;
                }
            }
            for (k, p) in load.iter().enumerate() {
                pairs.insert(load_start + k as u64, *p);
            }
            next_free = load_start + load.len() as u64;
            // (Or after it, when the loading had to start while it was still shown.)
            if let Some(end) = shown_until.take()
                && end < at(cue.start)
            {
                let f = end.max(next_free);
                next_free = put_twice(&mut pairs, f, EDM);
            }
            let flip = at(cue.start).max(next_free);
            next_free = put_twice(&mut pairs, flip, EOC);
            shown_until = Some(at(cue.end).max(next_free));
        }
        if let Some(end) = shown_until {
            put_twice(&mut pairs, end.max(next_free), EDM);
        }
        Self { pairs }
    }

    /// The byte pair of frame `index` (from the item's media time 0).
    pub fn pair(&self, index: u64) -> [u8; 2] {
        self.pairs.get(&index).copied().unwrap_or(PADDING)
    }

    /// The last frame that carries data (`None`: no captions).
    pub fn last_frame(&self) -> Option<u64> {
        self.pairs.keys().next_back().copied()
    }
}

fn put_twice(pairs: &mut BTreeMap<u64, [u8; 2]>, frame: u64, code: [u8; 2]) -> u64 {
    let code = [odd_parity(code[0]), odd_parity(code[1])];
    pairs.insert(frame, code);
    pairs.insert(frame + 1, code);
    frame + 2
}

/// The pairs that put `lines` into the hidden memory: RCL, ENM, then per row its preamble
/// address and its text.
fn load_sequence(lines: &[String]) -> Vec<[u8; 2]> {
    let rows = wrap(lines);
    if rows.is_empty() {
        return Vec::new();
    }
    let twice = |code: [u8; 2], out: &mut Vec<[u8; 2]>| {
        let c = [odd_parity(code[0]), odd_parity(code[1])];
        out.extend([c, c]);
    };
    let mut out = Vec::new();
    twice(RCL, &mut out);
    twice(ENM, &mut out);
    let first_row = 16 - rows.len();
    for (i, row) in rows.iter().enumerate() {
        let indent = (COLUMNS - row.len().min(COLUMNS)) / 2;
        twice(pac(first_row + i, indent), &mut out);
        for pair in row.chunks(2) {
            out.push([odd_parity(pair[0]), odd_parity(*pair.get(1).unwrap_or(&0))]);
        }
    }
    out
}

/// The preamble address code that puts the cursor at `row` (1–15), column `indent` rounded
/// down to a multiple of 4, white, no underline.
fn pac(row: usize, indent: usize) -> [u8; 2] {
    const FIRST: [(u8, u8); 15] = [
        (0x11, 0x40),
        (0x11, 0x60),
        (0x12, 0x40),
        (0x12, 0x60),
        (0x15, 0x40),
        (0x15, 0x60),
        (0x16, 0x40),
        (0x16, 0x60),
        (0x17, 0x40),
        (0x17, 0x60),
        (0x10, 0x40),
        (0x13, 0x40),
        (0x13, 0x60),
        (0x14, 0x40),
        (0x14, 0x60),
    ];
    let (a, b) = FIRST[row.clamp(1, 15) - 1];
    [a, b | 0x10 | (((indent / 4).min(7) as u8) << 1)]
}

/// The lines as 608 rows of character codes: words wrapped to [`COLUMNS`], at most
/// [`MAX_ROWS`] (the last rows kept).
fn wrap(lines: &[String]) -> Vec<Vec<u8>> {
    let mut rows: Vec<Vec<u8>> = Vec::new();
    for line in lines {
        let mut row: Vec<u8> = Vec::new();
        for word in line.split_whitespace() {
            let word: Vec<u8> = word.chars().map(char_code).collect();
            if !row.is_empty() && row.len() + 1 + word.len() > COLUMNS {
                rows.push(std::mem::take(&mut row));
            }
            if !row.is_empty() {
                row.push(b' ');
            }
            for chunk in word.chunks(COLUMNS) {
                if row.len() + chunk.len() > COLUMNS {
                    rows.push(std::mem::take(&mut row));
                }
                row.extend_from_slice(chunk);
            }
        }
        if !row.is_empty() {
            rows.push(row);
        }
    }
    let skip = rows.len().saturating_sub(MAX_ROWS);
    rows.split_off(skip)
}

/// The 608 basic character code of `c` (its own code for most of ASCII; the accented letters
/// 608 puts in place of a few ASCII symbols; others become the nearest plain letter or a
/// space).
fn char_code(c: char) -> u8 {
    match c {
        'á' => 0x2a,
        'é' => 0x5c,
        'í' => 0x5e,
        'ó' => 0x5f,
        'ú' => 0x60,
        'ç' => 0x7b,
        '÷' => 0x7c,
        'Ñ' => 0x7d,
        'ñ' => 0x7e,
        // Replaced in 608's basic set by the letters above.
        '*' | '\\' | '^' | '_' | '`' | '{' | '|' | '}' | '~' => b' ',
        '’' | '‘' => b'\'',
        '“' | '”' => b'"',
        '–' | '—' => b'-',
        '…' => b'.',
        c if (' '..='\u{7e}').contains(&c) => c as u8,
        'à' | 'â' | 'ä' => b'a',
        'è' | 'ê' | 'ë' => b'e',
        'ì' | 'î' | 'ï' => b'i',
        'ò' | 'ô' | 'ö' => b'o',
        'ù' | 'û' | 'ü' => b'u',
        'À' | 'Á' | 'Â' | 'Ä' => b'A',
        'È' | 'É' | 'Ê' | 'Ë' => b'E',
        'Ì' | 'Í' | 'Î' | 'Ï' => b'I',
        'Ò' | 'Ó' | 'Ô' | 'Ö' => b'O',
        'Ù' | 'Ú' | 'Û' | 'Ü' => b'U',
        'Ç' => b'C',
        _ => b' ',
    }
}

/// An item's captions on the channel's running time.
struct Scheduled {
    serial: u64,
    /// The item's window on the air (running time, ns).
    from_ns: u64,
    to_ns: u64,
    /// Running time at which the item's media time 0 would air.
    origin_ns: i64,
    track: PopOn,
}

/// The captions of the items the actor has placed, read by the probe that writes each
/// frame's bytes into the encoder's output ([`CaptionFeed::insert`]). The last two frames of every item's window carry
/// erase-displayed-memory, so what an item showed never stays on over the next one.
#[derive(Clone, Default)]
pub struct CaptionFeed {
    state: Arc<Mutex<FeedState>>,
}

#[derive(Default)]
struct FeedState {
    /// The channel carries no captions (its setting): the pictures carry no caption SEI.
    off: bool,
    items: Vec<Scheduled>,
    /// Captions that came inside an item's video (field-1 608 pairs, padding left out), with
    /// the running time of their picture, oldest first.
    embedded: VecDeque<(u64, u64, [u8; 2])>,
    /// Frames that must still carry erase-displayed-memory (an item taken off early).
    clear_frames: u8,
}

impl CaptionFeed {
    /// Air `track` (frames from media time 0) with the item `serial` placed at `placement`.
    pub fn add(&self, serial: u64, placement: &Placement, track: PopOn) {
        let origin_ns = placement.air_ns as i64 - placement.media_ns as i64;
        let s = Scheduled { serial, from_ns: placement.air_ns, to_ns: placement.end_ns, origin_ns, track };
        self.state.lock().expect("captions lock").items.push(s);
    }

    /// Forget item `serial`: retired after its window (its last frames cleared the screen),
    /// or taken off early (`early`: the next frames clear it).
    pub fn remove(&self, serial: u64, early: bool) {
        let mut st = self.state.lock().expect("captions lock");
        let before = st.items.len();
        st.items.retain(|s| s.serial != serial);
        st.embedded.retain(|(s, _, _)| *s != serial);
        if early && st.items.len() < before {
            st.clear_frames = 2;
        }
    }

    /// Carry captions (`on`, the default) or none at all (the channel's setting).
    pub fn set_on(&self, on: bool) {
        self.state.lock().expect("captions lock").off = !on;
    }

    /// The byte pair of the frame at running time `rt_ns`: padding while no placed item has
    /// captions (a channel that carries captions says so in every picture, as broadcast
    /// does: players find the caption service from the first frame); `None` when the channel
    /// carries none.
    pub fn pair_at(&self, rt_ns: u64, frame_ns: u64) -> Option<[u8; 2]> {
        let edm = [odd_parity(EDM[0]), odd_parity(EDM[1])];
        let mut st = self.state.lock().expect("captions lock");
        if st.off {
            return None;
        }
        if st.clear_frames > 0 {
            st.clear_frames -= 1;
            return Some(edm);
        }
        let Some(item) = st.items.iter().find(|s| s.from_ns <= rt_ns && rt_ns < s.to_ns) else {
            return Some(PADDING);
        };
        if rt_ns + 2 * frame_ns >= item.to_ns {
            return Some(edm);
        }
        let media_ns = rt_ns as i64 - item.origin_ns + (frame_ns / 2) as i64;
        if media_ns < 0 {
            return Some(PADDING);
        }
        if item.track.last_frame().is_none() {
            // No subtitle file: the captions inside its video, if any, each pair at its
            // picture's time (or as soon after as the pairs before it leave room for).
            let serial = item.serial;
            let due = st.embedded.front().is_some_and(|(s, at, _)| *s == serial && *at <= rt_ns + frame_ns / 2);
            return Some(if due { st.embedded.pop_front().map_or(PADDING, |(_, _, p)| p) } else { PADDING });
        }
        Some(item.track.pair(media_ns as u64 / frame_ns.max(1)))
    }

    /// Take the captions inside item `serial`'s decoded video (`GstVideoCaptionMeta`, as
    /// `avdec_h264` exports a source's A/53 captions) from the frames passing `pad`, each
    /// with its picture's running time on the channel (`offset_ns` after the item's own).
    /// A flush (the seek to the item's media position) forgets what was taken before it.
    pub(crate) fn take_embedded(&self, pad: &gst::Pad, serial: u64, offset_ns: u64) {
        /// Pairs waiting beyond which the oldest are dropped (~10 s of 608 data).
        const MAX_WAITING: usize = 300;
        let feed = self.clone();
        let segment = Mutex::new(None::<gst::FormattedSegment<gst::ClockTime>>);
        pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(ev) = info.event() {
                match ev.view() {
                    gst::EventView::Segment(s) => {
                        *segment.lock().expect("segment lock") = s.segment().downcast_ref::<gst::ClockTime>().cloned();
                    }
                    gst::EventView::FlushStop(_) => {
                        feed.state.lock().expect("captions lock").embedded.retain(|(s, _, _)| *s != serial);
                    }
                    _ => {}
                }
                return gst::PadProbeReturn::Ok;
            }
            let Some(buffer) = info.buffer() else { return gst::PadProbeReturn::Ok };
            let pairs: Vec<[u8; 2]> = buffer
                .iter_meta::<gst_video::VideoCaptionMeta>()
                .filter(|m| m.caption_type() == gst_video::VideoCaptionType::Cea708Raw)
                .flat_map(|m| field1_pairs(m.data()))
                .collect();
            if pairs.is_empty() {
                return gst::PadProbeReturn::Ok;
            }
            let Some(rt) = running_ns(&segment.lock().expect("segment lock"), buffer) else {
                return gst::PadProbeReturn::Ok;
            };
            let mut st = feed.state.lock().expect("captions lock");
            for p in pairs {
                st.embedded.push_back((serial, rt + offset_ns, p));
            }
            while st.embedded.len() > MAX_WAITING {
                st.embedded.pop_front();
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// Write each access unit's caption bytes into the H.264 leaving `pad` (byte-stream,
    /// one access unit per buffer: `h264parse`'s output), as an ATSC A/53 SEI ([`a53_sei`])
    /// in front of its first slice. The pair is the one of the frame at the buffer's running
    /// time.
    ///
    /// One path for every encoder, after it, rather than `GstVideoCaptionMeta` ahead of it:
    /// only x264enc and vah264enc write that meta into the stream; openh264enc (the software
    /// fallback) and v4l2h264enc (the Pi) drop it, so captions vanished on the Pi and after a
    /// fallback. Nothing attaches the meta ahead of the encoder any more ([`strip_meta`]
    /// removes any that reaches it), so no encoder writes a second SEI.
    pub(crate) fn insert(&self, pad: &gst::Pad, frame_ns: u64) {
        let feed = self.clone();
        let count = cc_count(frame_ns);
        on_timed_buffers(pad, move |info, rt| {
            let Some(rt) = rt else { return gst::PadProbeReturn::Ok };
            let Some(pair) = feed.pair_at(rt, frame_ns) else { return gst::PadProbeReturn::Ok };
            let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data else { return gst::PadProbeReturn::Ok };
            let with_sei = {
                let Ok(map) = buffer.map_readable() else { return gst::PadProbeReturn::Ok };
                insert_before_first_slice(map.as_slice(), &a53_sei(pair, count))
            };
            let Some(data) = with_sei else { return gst::PadProbeReturn::Ok };
            let mut out = gst::Buffer::from_mut_slice(data);
            {
                let out = out.get_mut().expect("new buffer");
                let flags = gst::BufferCopyFlags::FLAGS | gst::BufferCopyFlags::TIMESTAMPS | gst::BufferCopyFlags::META;
                if buffer.copy_into(out, flags, ..).is_err() {
                    return gst::PadProbeReturn::Ok;
                }
            }
            *buffer = out;
            gst::PadProbeReturn::Ok
        });
    }
}

/// The field-1 608 byte pairs (CC1/CC2) in CEA-708 `cc_data` triplets: valid, `cc_type` 0,
/// padding (0x80 0x80) left out.
pub fn field1_pairs(cc_data: &[u8]) -> Vec<[u8; 2]> {
    cc_data
        .chunks_exact(3)
        .filter(|t| t[0] & 0x04 != 0 && t[0] & 0x03 == 0 && (t[1] & 0x7f != 0 || t[2] & 0x7f != 0))
        .map(|t| [t[1], t[2]])
        .collect()
}

/// Remove any `GstVideoCaptionMeta` from the raw frames leaving `pad` (the encoder's input):
/// the captions go in after the encoder ([`CaptionFeed::insert`]), and an encoder that
/// writes the meta (x264enc, vah264enc) would add a second SEI.
pub(crate) fn strip_meta(pad: &gst::Pad) {
    pad.add_probe(gst::PadProbeType::BUFFER, |_, info| {
        if info.buffer().is_some_and(|b| b.meta::<gst_video::VideoCaptionMeta>().is_some())
            && let Some(buffer) = info.buffer_mut()
        {
            let buffer = buffer.make_mut();
            while let Some(meta) = buffer.meta_mut::<gst_video::VideoCaptionMeta>() {
                if meta.remove().is_err() {
                    break;
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// `cc_count` of a frame `frame_ns` long: CEA-708's 9600 bit/s channel is 600 triplets a
/// second (ATSC A/53: 20 a frame at 29.97 and 30 fps, 10 at 59.94 and 60).
pub fn cc_count(frame_ns: u64) -> u8 {
    ((frame_ns * 600 + 500_000_000) / 1_000_000_000).clamp(1, 31) as u8
}

/// The SEI NAL unit (with its 4-byte start code) carrying one frame's captions the way ATSC
/// A/53 and the encoders players are tested with (ffmpeg, x264) write them:
/// `user_data_registered_itu_t_t35` (country 0xB5, provider 0x0031), `GA94`, type 3
/// (`cc_data`), process_cc_data_flag, `cc_count` triplets — the field-1 608 `pair` first,
/// the rest 708 padding (`0xFA 0x00 0x00`: not valid, DTVCC) — and the marker byte 0xFF.
pub fn a53_sei(pair: [u8; 2], cc_count: u8) -> Vec<u8> {
    let count = cc_count.clamp(1, 31);
    let mut payload = vec![0xb5, 0x00, 0x31, b'G', b'A', b'9', b'4', 0x03, 0x40 | count, 0xff];
    payload.extend(cc_data(pair));
    for _ in 1..count {
        payload.extend([0xfa, 0x00, 0x00]);
    }
    payload.push(0xff);
    let mut rbsp = vec![0x04]; // payload type 4: user_data_registered_itu_t_t35
    let mut size = payload.len();
    while size >= 255 {
        rbsp.push(0xff);
        size -= 255;
    }
    rbsp.push(size as u8);
    rbsp.extend(payload);
    rbsp.push(0x80); // rbsp_trailing_bits
    let mut nal = vec![0, 0, 0, 1, 0x06]; // nal_ref_idc 0, type 6 (SEI)
    let mut zeros = 0;
    for b in rbsp {
        if zeros >= 2 && b <= 3 {
            nal.push(0x03); // emulation prevention
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        nal.push(b);
    }
    nal
}

/// `au` (an H.264 access unit, Annex B byte stream) with `nal` put in front of its first
/// slice (NAL types 1–5): after the access unit delimiter, SPS, PPS and any SEI already
/// there (a buffering-period SEI must stay the first). `None`: no slice in `au`.
pub fn insert_before_first_slice(au: &[u8], nal: &[u8]) -> Option<Vec<u8>> {
    let mut i = 0;
    while i + 3 < au.len() {
        if au[i] == 0 && au[i + 1] == 0 && au[i + 2] == 1 {
            if (1..=5).contains(&(au[i + 3] & 0x1f)) {
                let at = if i > 0 && au[i - 1] == 0 { i - 1 } else { i };
                let mut out = Vec::with_capacity(au.len() + nal.len());
                out.extend_from_slice(&au[..at]);
                out.extend_from_slice(nal);
                out.extend_from_slice(&au[at..]);
                return Some(out);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_nanos(1_001_000_000 / 30);

    fn cue(start_ms: u64, end_ms: u64, lines: &[&str]) -> Cue {
        Cue {
            start: Duration::from_millis(start_ms),
            end: Duration::from_millis(end_ms),
            lines: lines.iter().map(|l| l.to_string()).collect(),
        }
    }

    fn strip(p: [u8; 2]) -> [u8; 2] {
        [p[0] & 0x7f, p[1] & 0x7f]
    }

    /// A minimal pop-on decoder (field 1, CC1): what is on screen after each frame.
    fn decode(enc: &PopOn, frames: u64) -> Vec<(u64, String)> {
        let (mut hidden, mut shown) = (Vec::<String>::new(), String::new());
        let mut prev = [0u8; 2];
        let mut changes = Vec::new();
        for f in 0..frames {
            let raw = enc.pair(f);
            assert_eq!(raw[0].count_ones() % 2, 1, "parity of frame {f}");
            assert_eq!(raw[1].count_ones() % 2, 1, "parity of frame {f}");
            let p = strip(raw);
            if (0x10..0x20).contains(&p[0]) {
                if p == prev {
                    prev = [0, 0];
                    continue;
                }
                prev = p;
                let before = shown.clone();
                match p {
                    [0x14, 0x20] => {}
                    [0x14, 0x2e] => hidden.clear(),
                    [0x14, 0x2c] => shown.clear(),
                    [0x14, 0x2f] => {
                        shown = hidden.join("\n");
                        hidden.clear();
                    }
                    _ => hidden.push(String::new()), // a preamble: a new row
                }
                if shown != before {
                    changes.push((f, shown.clone()));
                }
            } else {
                prev = [0, 0];
                for b in p {
                    if b >= 0x20 {
                        hidden.last_mut().expect("text after a preamble").push(b as char);
                    }
                }
            }
        }
        changes
    }

    #[test]
    fn each_cue_shows_at_its_start_frame_and_leaves_at_its_end() {
        let cues = [cue(2000, 4000, &["Hello there"]), cue(4000, 6000, &["Two", "rows"]), cue(8000, 9000, &["Last"])];
        let enc = PopOn::new(&cues, FRAME);
        let changes = decode(&enc, 400);
        let frame = |ms: u64| (ms * 1_000_000).div_ceil(FRAME.as_nanos() as u64);
        assert_eq!(
            changes,
            vec![
                (frame(2000), "Hello there".to_owned()),
                (frame(4000), "Two\nrows".to_owned()),
                (frame(6000), String::new()),
                (frame(8000), "Last".to_owned()),
                (frame(9000), String::new()),
            ]
        );
        assert!(enc.last_frame().unwrap() <= frame(9000) + 1);
    }

    #[test]
    fn a_short_gap_between_cues_still_clears_the_screen_on_time() {
        let cues = [cue(1000, 3000, &["First"]), cue(3200, 5000, &["Second one, loaded early"])];
        let enc = PopOn::new(&cues, FRAME);
        let changes = decode(&enc, 200);
        let frame = |ms: u64| (ms * 1_000_000).div_ceil(FRAME.as_nanos() as u64);
        assert_eq!(
            changes,
            vec![
                (frame(1000), "First".to_owned()),
                (frame(3000), String::new()),
                (frame(3200), "Second one, loaded early".to_owned()),
                (frame(5000), String::new()),
            ]
        );
    }

    #[test]
    fn long_lines_wrap_to_32_columns_and_keep_the_last_four_rows() {
        let long = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen \
                    sixteen seventeen eighteen nineteen twenty";
        let rows = wrap(&[long.to_owned()]);
        assert!(rows.len() <= MAX_ROWS);
        assert!(rows.iter().all(|r| r.len() <= COLUMNS));
        let text: Vec<String> = rows.iter().map(|r| String::from_utf8(r.clone()).unwrap()).collect();
        assert!(text.last().unwrap().ends_with("nineteen twenty"), "{text:?}");
        // Whole words only, each row as full as the next word allows.
        for pair in text.windows(2) {
            let next_word = pair[1].split(' ').next().unwrap();
            assert!(pair[0].len() + 1 + next_word.len() > COLUMNS, "{text:?}");
        }
        assert_eq!(char_code('é'), 0x5c);
        assert_eq!(char_code('*'), b' ');
    }

    #[test]
    fn a_cue_too_close_to_load_in_time_shows_late_not_never() {
        let cues = [cue(0, 100, &["An opening line of thirty chars", "and another one just as long!"])];
        let enc = PopOn::new(&cues, FRAME);
        let changes = decode(&enc, 200);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].1, "An opening line of thirty chars\nand another one just as long!");
        assert!(changes[0].0 > 0);
    }

    #[test]
    fn the_feed_maps_running_time_to_media_frames_and_clears_before_the_window_ends() {
        let f = FRAME.as_nanos() as u64;
        let feed = CaptionFeed::default();
        assert_eq!(feed.pair_at(0, f), Some(PADDING), "no item with captions: padding");
        let track = PopOn::new(&[cue(1000, 2000, &["Hi"])], FRAME);
        // Joined 0.5 s into its media, on the air from running time 10 s to 12 s.
        let placement =
            Placement { air_ns: 10_000_000_000, end_ns: 12_000_000_000, media_ns: 500_000_000, in_ns: 0, joined: true };
        feed.add(7, &placement, track.clone());
        let flip = (1_000_000_000u64).div_ceil(f); // the EOC's frame in media time
        let rt = placement.air_ns + flip * f - placement.media_ns;
        assert_eq!(feed.pair_at(rt, f), Some(track.pair(flip)));
        assert_eq!(strip(feed.pair_at(rt, f).unwrap()), EOC);
        assert_eq!(feed.pair_at(5_000_000_000, f), Some(PADDING), "outside every window");
        assert_eq!(strip(feed.pair_at(placement.end_ns - f, f).unwrap()), EDM);
        feed.remove(7, true);
        assert_eq!(strip(feed.pair_at(0, f).unwrap()), EDM);
        assert_eq!(strip(feed.pair_at(0, f).unwrap()), EDM);
        assert_eq!(feed.pair_at(0, f), Some(PADDING));
        feed.set_on(false);
        assert_eq!(feed.pair_at(rt, f), None, "a channel without captions: no bytes");
    }

    /// The SEI's RBSP (emulation prevention removed), after its NAL header.
    fn unescape(nal: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut zeros = 0;
        for &b in nal {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            out.push(b);
        }
        out
    }

    #[test]
    fn the_a53_sei_carries_the_pair_first_then_708_padding() {
        let f = FRAME.as_nanos() as u64;
        assert_eq!(cc_count(f), 20, "29.97 fps");
        assert_eq!(cc_count(1_001_000_000 / 60), 10, "59.94 fps");
        assert_eq!(cc_count(40_000_000), 24, "25 fps");
        let sei = a53_sei([0x94, 0x2f], 20);
        assert_eq!(&sei[..5], &[0, 0, 0, 1, 0x06]);
        let rbsp = unescape(&sei[5..]);
        assert_eq!(rbsp[0], 4, "user_data_registered_itu_t_t35");
        let size = rbsp[1] as usize;
        assert_eq!(size, 10 + 3 * 20 + 1);
        let p = &rbsp[2..2 + size];
        assert_eq!(&p[..10], &[0xb5, 0x00, 0x31, b'G', b'A', b'9', b'4', 0x03, 0x40 | 20, 0xff]);
        assert_eq!(&p[10..13], &[0xfc, 0x94, 0x2f]);
        assert!(p[13..70].chunks(3).all(|t| t == [0xfa, 0x00, 0x00]));
        assert_eq!(p[70], 0xff);
        assert_eq!(&rbsp[2 + size..], &[0x80]);
        // No start code (or what could be taken for one) inside the NAL.
        assert!(!sei[5..].windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
    }

    #[test]
    fn the_sei_goes_after_the_parameter_sets_and_before_the_first_slice() {
        let aud = [0, 0, 0, 1, 0x09, 0xf0];
        let sps = [0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1e];
        let pps = [0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80];
        let sei = [0, 0, 1, 0x06, 0x05, 0x01, 0xaa, 0x80];
        let idr = [0, 0, 0, 1, 0x65, 0x88, 0x84];
        let slice = [0, 0, 1, 0x41, 0x9a, 0x02];
        let au: Vec<u8> = [&aud[..], &sps, &pps, &sei, &idr, &slice].concat();
        let ours = a53_sei(PADDING, 20);
        let out = insert_before_first_slice(&au, &ours).unwrap();
        assert_eq!(out, [&aud[..], &sps, &pps, &sei, &ours, &idr, &slice].concat());
        let p: Vec<u8> = [&slice[..]].concat();
        assert_eq!(insert_before_first_slice(&p, &ours).unwrap(), [&ours[..], &slice].concat());
        assert_eq!(insert_before_first_slice(&[&sps[..], &pps].concat(), &ours), None);
    }

    #[test]
    fn embedded_captions_keep_the_field_1_608_pairs_only() {
        // CC1 data, field-2 data, 608 padding, an invalid triplet, a DTVCC packet start.
        let data = [0xfc, 0x94, 0x2f, 0xfd, 0x94, 0x20, 0xfc, 0x80, 0x80, 0xf8, 0xc1, 0xc2, 0xff, 0x02, 0x21];
        assert_eq!(field1_pairs(&data), vec![[0x94, 0x2f]]);
        // On the channel: an item without a subtitle file airs them at their picture's time.
        let f = FRAME.as_nanos() as u64;
        let feed = CaptionFeed::default();
        let placement = Placement { air_ns: 0, end_ns: 100 * f, media_ns: 0, in_ns: 0, joined: false };
        feed.add(3, &placement, PopOn::default());
        feed.state.lock().unwrap().embedded.extend([(3, 10 * f, [0x94, 0x2f]), (3, 10 * f, [0x94, 0x2f])]);
        assert_eq!(feed.pair_at(9 * f, f), Some(PADDING));
        assert_eq!(feed.pair_at(10 * f, f), Some([0x94, 0x2f]));
        assert_eq!(feed.pair_at(11 * f, f), Some([0x94, 0x2f]), "a pair that had to wait goes next");
        assert_eq!(feed.pair_at(12 * f, f), Some(PADDING));
        feed.state.lock().unwrap().embedded.push_back((3, 50 * f, [0xc1, 0xc2]));
        feed.remove(3, false);
        assert!(feed.state.lock().unwrap().embedded.is_empty(), "forgotten with its item");
    }

    #[test]
    fn parity_and_triplets() {
        assert_eq!(odd_parity(0x00), 0x80);
        assert_eq!(odd_parity(0x14), 0x94);
        assert_eq!(odd_parity(0x20), 0x20);
        assert_eq!(cc_data([0x94, 0x2f]), [0xfc, 0x94, 0x2f]);
    }
}
