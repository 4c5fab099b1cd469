//! Ending a viewer's stream cleanly: `?duration=N` (the HDHomeRun HTTP API's transfer limit)
//! closes the stream after N seconds, and it must not close in the middle of a PES packet —
//! a cut there leaves the last audio frame short, and decoders report "PES packet size
//! mismatch" (ffmpeg) or drop it.
//!
//! [`PesCut`] follows every TS packet sent (pure: bytes in, state out): for each PID, whether a
//! PES packet is open and, when its header gives a length, how many bytes are still to come
//! (a continuity-counter jump — a slow viewer skipped ahead — forgets what it knew). At the
//! deadline it turns into a filter: it lets through only the rest of the PES packets already
//! open, drops everything that would start something new (a PES start, tables, padding), and
//! is done when no PES is open any more — the next PES start on a PID (a video PES has no
//! length) or the last byte of a bounded one closes it. So the stream ends on a packet
//! boundary right after the last whole frame of every elementary stream; each PID's packets
//! stay continuous. [`Timed`] applies it to a [`Subscription`].

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;

use super::Subscription;

/// MPEG-TS packet size.
const TS: usize = 188;
/// How long the closing filter waits for the open PES packets to complete (a stalled feed
/// must not keep the connection and its tuner).
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pes {
    /// Nothing known to be open (no PES start seen, a table PID, or closed).
    Idle,
    /// A PES packet of known length with this many payload bytes still to come.
    Bounded(usize),
    /// A PES packet without a length (video): open until the PID's next PES start.
    Unbounded,
}

#[derive(Debug, Clone, Copy)]
struct Pid {
    pes: Pes,
    cc: Option<u8>,
}

/// Per-PID PES progress of a TS byte stream, and the filter that ends it cleanly (see the
/// module doc).
#[derive(Debug, Default)]
pub struct PesCut {
    pids: HashMap<u16, Pid>,
    /// Bytes of an incomplete packet carried to the next chunk.
    carry: Vec<u8>,
}

/// One parsed TS packet header.
struct Header {
    pid: u16,
    start: bool,
    cc: u8,
    /// Offset and presence of the payload.
    payload: Option<usize>,
}

fn header(p: &[u8]) -> Option<Header> {
    if p.len() < TS || p[0] != 0x47 {
        return None;
    }
    let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
    let afc = (p[3] >> 4) & 0x3;
    let mut at = 4;
    if afc & 0x2 != 0 {
        at += 1 + usize::from(p[4]);
    }
    let payload = (afc & 0x1 != 0 && at < TS).then_some(at);
    Some(Header { pid, start: p[1] & 0x40 != 0, cc: p[3] & 0x0F, payload })
}

impl PesCut {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Note the packets of `chunk`, sent as they are.
    pub fn observe(&mut self, chunk: &[u8]) {
        self.each_packet(chunk, |this, p| {
            this.track(p);
            false
        });
    }

    /// Whether any PES packet is open (a cut now would split it).
    pub fn is_open(&self) -> bool {
        self.pids.values().any(|p| p.pes != Pes::Idle)
    }

    /// After the deadline: what of `chunk` may still be sent — the continuation packets of
    /// the PES packets open — and whether the stream is now complete (nothing left open).
    pub fn close(&mut self, chunk: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut done = !self.is_open();
        if !done {
            self.each_packet(chunk, |this, p| {
                let Some(h) = header(p) else { return true };
                let open = this.pids.get(&h.pid).is_some_and(|s| s.pes != Pes::Idle);
                if h.start || !open {
                    // Something new begins here (or a table, or padding): it is not sent, and
                    // a PES start closes the PID's open (unbounded) PES.
                    if let Some(s) = this.pids.get_mut(&h.pid) {
                        s.pes = Pes::Idle;
                    }
                } else {
                    this.track(p);
                    out.extend_from_slice(p);
                }
                !this.is_open()
            });
            done = !self.is_open();
        }
        (out, done)
    }

    /// Call `f` on every whole packet of `chunk` (after any carried bytes) until it returns
    /// true; an unsynchronised stream is given up on (nothing more is tracked).
    fn each_packet(&mut self, chunk: &[u8], mut f: impl FnMut(&mut Self, &[u8]) -> bool) {
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(chunk);
        let mut at = 0;
        while at + TS <= data.len() {
            if data[at] != 0x47 {
                // Lost sync: forget everything rather than guess.
                self.pids.clear();
                return;
            }
            if f(self, &data[at..at + TS]) {
                return;
            }
            at += TS;
        }
        self.carry = data[at..].to_vec();
    }

    fn track(&mut self, p: &[u8]) {
        let Some(h) = header(p) else { return };
        if h.pid == 0x1FFF {
            return;
        }
        let s = self.pids.entry(h.pid).or_insert(Pid { pes: Pes::Idle, cc: None });
        if let Some(at) = h.payload {
            // A jump in the continuity counter means packets are missing: whatever was open
            // is not what the client has.
            if s.cc.is_some_and(|cc| (cc + 1) & 0x0F != h.cc && cc != h.cc) {
                s.pes = Pes::Idle;
            }
            s.cc = Some(h.cc);
            let payload = &p[at..];
            if h.start {
                s.pes = if payload.len() >= 6 && payload[..3] == [0, 0, 1] {
                    match usize::from(u16::from_be_bytes([payload[4], payload[5]])) {
                        0 => Pes::Unbounded,
                        len => (len + 6).checked_sub(payload.len()).filter(|&r| r > 0).map_or(Pes::Idle, Pes::Bounded),
                    }
                } else {
                    Pes::Idle // a table section, not a PES
                };
            } else if let Pes::Bounded(rest) = s.pes {
                s.pes = rest.checked_sub(payload.len()).filter(|&r| r > 0).map_or(Pes::Idle, Pes::Bounded);
            }
        }
    }
}

/// A viewer that stops after a duration on a clean boundary (see the module doc); without a
/// duration it is the subscription as it is.
pub struct Timed {
    sub: Subscription,
    deadline: Option<tokio::time::Instant>,
    cut: PesCut,
    phase: Phase,
}

enum Phase {
    Live,
    Closing(tokio::time::Instant),
    Done,
}

impl Timed {
    /// Follow `sub` for `duration` (from now), or for as long as it lasts.
    pub fn new(sub: Subscription, duration: Option<Duration>) -> Self {
        let deadline = duration.map(|d| tokio::time::Instant::now() + d);
        Self { sub, deadline, cut: PesCut::new(), phase: Phase::Live }
    }

    /// The next bytes to send; `None` at the end (the duration is over and every PES packet
    /// complete, or the feed is gone).
    pub async fn next(&mut self) -> Option<Bytes> {
        loop {
            match self.phase {
                Phase::Done => return None,
                Phase::Live => {
                    let Some(deadline) = self.deadline else { return self.sub.next().await };
                    tokio::select! {
                        c = self.sub.next() => {
                            let c = c?;
                            self.cut.observe(&c);
                            return Some(c);
                        }
                        _ = tokio::time::sleep_until(deadline) => {
                            self.phase = Phase::Closing(deadline + CLOSE_GRACE);
                        }
                    }
                }
                Phase::Closing(until) => {
                    if !self.cut.is_open() {
                        self.phase = Phase::Done;
                        continue;
                    }
                    tokio::select! {
                        c = self.sub.next() => {
                            let (out, done) = self.cut.close(&c?);
                            if done {
                                self.phase = Phase::Done;
                            }
                            if !out.is_empty() {
                                return Some(Bytes::from(out));
                            }
                        }
                        _ = tokio::time::sleep_until(until) => {
                            tracing::debug!("stream end: open PES packets did not complete in time");
                            self.phase = Phase::Done;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TS packet of `pid` with counter `cc`, `start` flag, and `payload` (padded with an
    /// adaptation field when short, as muxers do for the last packet of a PES).
    fn packet(pid: u16, cc: u8, start: bool, payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() <= 184);
        let mut p = vec![0x47, ((pid >> 8) as u8 & 0x1F) | if start { 0x40 } else { 0 }, pid as u8];
        if payload.len() == 184 {
            p.push(0x10 | cc);
        } else {
            p.push(0x30 | cc);
            let af = 184 - payload.len() - 1;
            p.push(af as u8);
            if af > 0 {
                p.push(0);
                p.extend(std::iter::repeat_n(0xFF, af - 1));
            }
        }
        p.extend_from_slice(payload);
        assert_eq!(p.len(), 188);
        p
    }

    /// A PES packet of `len` payload bytes (declared, or 0 = unbounded) split into TS packets.
    fn pes(pid: u16, cc: &mut u8, body: usize, declare: bool) -> Vec<Vec<u8>> {
        let mut bytes = vec![0, 0, 1, 0xC0];
        let len = if declare { body as u16 + 3 } else { 0 };
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&[0x80, 0x00, 0x00]);
        bytes.extend(std::iter::repeat_n(0xAB, body));
        bytes
            .chunks(184)
            .enumerate()
            .map(|(i, c)| {
                let p = packet(pid, *cc, i == 0, c);
                *cc = (*cc + 1) & 0xF;
                p
            })
            .collect()
    }

    #[test]
    fn a_cut_waits_for_the_open_pes_packets_and_drops_what_begins_after() {
        let (mut vcc, mut acc) = (0, 0);
        let video = pes(0x41, &mut vcc, 1000, false); // 6 packets, unbounded
        let audio = pes(0x42, &mut acc, 600, true); // 4 packets, bounded
        let mut cut = PesCut::new();
        // Sent before the deadline: the PAT, video packets 0..3, audio packets 0..2.
        let pat = packet(0, 0, true, &[0, 0, 0xB0, 0x0D]);
        let before: Vec<u8> = [&pat[..], &video[0], &video[1], &audio[0], &video[2], &audio[1]].concat();
        cut.observe(&before);
        assert!(cut.is_open());
        // After: the rest of both PES packets interleaved with new starts and a table.
        let next_video = pes(0x41, &mut vcc, 300, false);
        let next_audio = pes(0x42, &mut acc, 100, true);
        let after: Vec<u8> = [
            &video[3][..],
            &audio[2],
            &pat,
            &video[4],
            &audio[3],
            &next_audio[0],
            &video[5],
            &next_video[0],
            &next_video[1],
        ]
        .concat();
        let (out, done) = cut.close(&after);
        assert!(done, "complete after the next video start");
        let expected: Vec<u8> = [&video[3][..], &audio[2], &video[4], &audio[3], &video[5]].concat();
        assert_eq!(out, expected);
        assert!(out.len() % 188 == 0);
    }

    #[test]
    fn chunks_split_inside_packets_and_closed_streams_are_done_at_once() {
        let mut acc = 0;
        let audio = pes(0x42, &mut acc, 400, true); // 3 packets, the last padded
        let all = audio.concat();
        let mut cut = PesCut::new();
        cut.observe(&all[..100]);
        cut.observe(&all[100..300]);
        assert!(cut.is_open());
        cut.observe(&all[300..]);
        assert!(!cut.is_open(), "the bounded PES ended with its last byte");
        assert_eq!(cut.close(&all), (Vec::new(), true));
    }

    #[test]
    fn a_counter_jump_forgets_the_open_pes() {
        let mut acc = 0;
        let audio = pes(0x42, &mut acc, 600, true);
        let mut cut = PesCut::new();
        cut.observe(&audio[0]);
        assert!(cut.is_open());
        // Packet 2 arrives without packet 1 (a skipped chunk): the client's PES is broken
        // anyway; nothing more of it is owed.
        cut.observe(&audio[2]);
        assert!(!cut.is_open());
    }
}
