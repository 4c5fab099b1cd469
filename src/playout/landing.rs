//! Where a joined item's seek lands: checked, and the seek sent again when it landed wrong.
//!
//! [`super::item::ItemBin::go_live`] joins an item in progress (or one cut to start inside its
//! media) with an accurate seek to its media offset. Demuxers that read a file (pull mode) or
//! that have an index (MP4, MKV) land there. tsdemux reading a stream, an MPEG-TS item served
//! over HTTP (a Plex or Jellyfin DVR recording), cannot look: in push mode it turns the time
//! into a byte offset by extrapolating the bytes per second of the PCRs it has seen
//! (`mpegts_packetizer_ts_to_offset`, GStreamer 1.22 and 1.24), and a joined item has seen its
//! first second or so. An opening busier than the rest sends the seek seconds past the offset,
//! or past the end of the file: the item then ends early, and the rest of its slot aired black
//! and silent (a 24 s clip with 4 s of noise at its start, joined 10 s in: EOS at once, the
//! whole slot dead; the overload test's watchdog retry of a 30 s TS, asked for 15.6 s: byte
//! 6,635,547 of 8,656,648, about 23 s, its last 5 s black).
//!
//! What each decoder's sink pad sees tells where the seek landed:
//! - a landing past the offset: tsdemux moves its segment's `start` to the first timestamp it
//!   found and leaves `time` at the offset asked for (`calculate_and_push_newsegment`):
//!   `start - time` is how late it landed;
//! - a landing past the end: EOS before any data.
//!
//! Either way the landing's data and EOS go no further, and the seek is sent again from
//! another thread (`call_async`: a flushing seek sent from a streaming thread would wait for
//! that thread), once every decoder was fed by the landing ([`Landing::again_once_fed`]).
//! tsdemux has by then seen the stream where it landed, and interpolates between that and its
//! start: the next seek lands near the offset. After a landing past the end it has seen
//! nothing new, so it is asked for half as far from the furthest landing, then for the offset
//! again. The flushes of these later seeks stop at each branch's output
//! ([`Landing::keep_flushes_off`]): the mixers are never flushed, they see the item's pictures
//! and sound start late, which the item's late handling covers as for any slow source.
//! Measured: the noisy clip, served at 3x its rate, lands after 5 more seeks within ~0.1 s
//! of media, its first picture 1.2 s after its air time; the overload test's retry after one.
//!
//! The seek aims at the in-point plus the part of the slot already gone. In-points are in the
//! media's own time, as the library's decode read its break points; an in-point of 0 is the
//! media's start, which is not 0 in its own time for every media ([`State::origin`]): an
//! MPEG-TS stream's time starts at its first timestamp past its first PCR, so every join into
//! a TS item from its start, a file too, aired 0.7 s of media early (files ffmpeg writes) and
//! its end was cut as much.

use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;

use super::timeline::Placement;
use crate::elements::DISCARD;

/// A landing this far past the offset is sent again.
const LATE_NS: u64 = 1_000_000_000;
/// Seeks at most, the first included: a source that cannot be placed plays from where the
/// last one landed.
const MAX_SEEKS: u32 = 12;
/// Buffers of a wrong landing one decoder takes before the next seek goes without the others.
const PLENTY: u32 = 30;

/// One item's join seek and its landing, shared by the item's decoder probes.
pub(crate) struct Landing {
    serial: u64,
    /// The in-point, in the media's own time (0: its start).
    in_point: gst::ClockTime,
    /// How much of the slot passed before the item went on air (joined in progress).
    elapsed: gst::ClockTime,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Where seeks are sent from (the item's bin) and through (the branch output the first
    /// seek went through); set by [`Landing::seek`].
    via: Option<(glib::WeakRef<gst::Element>, glib::WeakRef<gst::Pad>)>,
    /// Where the media starts in its own time: the stream time of the first segment a
    /// decoder saw. 0 for MP4 and MKV; an MPEG-TS stream starts at its first timestamp past
    /// its first PCR (0.7 s in files ffmpeg writes), and its time 10 s is 9.3 s of its media.
    origin: Option<gst::ClockTime>,
    /// Where seeks aim: the in-point (the media's start if it is before it) + the elapsed
    /// part of the slot.
    target: gst::ClockTime,
    /// Every seek sent, the last one out: the first from the actor, the others sent again
    /// (their flushes stop at the branches' outputs).
    sent: Vec<gst::Seqnum>,
    /// What the last one asked for.
    asked: gst::ClockTime,
    /// The furthest offset asked for whose data came (0 at first).
    landed: gst::ClockTime,
    phase: Phase,
    /// Buffers each decoder took in since the last seek's segment (`u32::MAX`: it ended).
    fed: Vec<u32>,
}

impl State {
    /// Whether an event of `seqnum` comes from an earlier landing than the last seek's. An
    /// event whose seqnum is none of the seeks' (an element that did not keep it) counts as
    /// the last seek's.
    fn stale(&self, seqnum: gst::Seqnum) -> bool {
        self.sent.last() != Some(&seqnum) && self.sent.contains(&seqnum)
    }

    /// The accurate, flushing seek to `asked`, noted as the one out.
    fn prepare(&mut self, asked: gst::ClockTime) -> gst::Event {
        let event = gst::event::Seek::new(
            1.0,
            gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
            gst::SeekType::Set,
            asked,
            gst::SeekType::None,
            gst::ClockTime::NONE,
        );
        self.sent.push(event.seqnum());
        self.fed.iter_mut().for_each(|n| *n = 0);
        self.asked = asked;
        self.phase = Phase::Out;
        event
    }
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// No seek sent.
    #[default]
    Idle,
    /// A seek is out; what comes before its segment is the previous landing's.
    Out,
    /// Its segment came and was not late; its data has not.
    Arriving,
    /// It landed wrong: what comes is thrown away until the next seek, to this, goes out.
    Wrong(gst::ClockTime),
    /// Data came where it was asked for (or the seeks ran out): nothing more to do.
    Landed,
}

impl Landing {
    pub(crate) fn new(serial: u64, placement: &Placement) -> Self {
        Self {
            serial,
            in_point: gst::ClockTime::from_nseconds(placement.in_ns),
            elapsed: gst::ClockTime::from_nseconds(placement.media_ns.saturating_sub(placement.in_ns)),
            state: Mutex::default(),
        }
    }

    /// Send the join seek through `pad` (a branch output of `bin`), from the actor. Whether
    /// the media can seek.
    pub(crate) fn seek(&self, bin: &gst::Element, pad: &gst::Pad) -> bool {
        let event = {
            let mut st = self.state.lock().expect("landing lock");
            st.via = Some((bin.downgrade(), pad.downgrade()));
            st.target = self.in_point.max(st.origin.unwrap_or_default()) + self.elapsed;
            tracing::debug!(item = self.serial, origin_ms = st.origin.map(|o| o.mseconds()), "join seek");
            let target = st.target;
            st.prepare(target)
        };
        let sent = pad.send_event(event);
        if !sent {
            self.state.lock().expect("landing lock").phase = Phase::Landed;
        }
        sent
    }

    /// Keep the flushes of the seeks sent again off `out`, a branch output linked to a mixer.
    pub(crate) fn keep_flushes_off(self: &Arc<Self>, out: &gst::Pad) {
        let this = self.clone();
        out.add_probe(gst::PadProbeType::EVENT_FLUSH, move |_, info| {
            let Some(ev) = info.event() else { return gst::PadProbeReturn::Ok };
            if this.state.lock().expect("landing lock").sent.iter().skip(1).any(|s| *s == ev.seqnum()) {
                return DISCARD;
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// A decoder's sink pad to watch with [`Self::decoder_input`]: its index.
    pub(crate) fn add_decoder(&self) -> usize {
        let mut st = self.state.lock().expect("landing lock");
        st.fed.push(0);
        st.fed.len() - 1
    }

    /// Watch what reaches decoder `pad`'s sink pad (`info`): a probe's answer.
    pub(crate) fn decoder_input(&self, pad: usize, info: &gst::PadProbeInfo) -> gst::PadProbeReturn {
        let mut st = self.state.lock().expect("landing lock");
        if st.phase == Phase::Idle
            && st.origin.is_none()
            && let Some(gst::EventView::Segment(s)) = info.event().map(|e| e.view())
            && let Some(segment) = s.segment().downcast_ref::<gst::ClockTime>()
        {
            st.origin = segment.time();
        }
        if matches!(st.phase, Phase::Idle | Phase::Landed) {
            return gst::PadProbeReturn::Ok;
        }
        match info.event().map(|e| (e.view(), e.seqnum())) {
            Some((gst::EventView::Segment(s), seqnum)) => {
                if st.phase != Phase::Out || st.stale(seqnum) {
                    return gst::PadProbeReturn::Ok;
                }
                let Some(segment) = s.segment().downcast_ref::<gst::ClockTime>() else {
                    st.phase = Phase::Landed;
                    return gst::PadProbeReturn::Ok;
                };
                let (start, time) = (segment.start().unwrap_or_default(), segment.time().unwrap_or_default());
                if start.saturating_sub(time).nseconds() > LATE_NS {
                    tracing::info!(
                        item = self.serial,
                        asked_ms = st.asked.mseconds(),
                        landed_ms = start.mseconds(),
                        "join seek landed past its offset: seeking again"
                    );
                    st.phase = Phase::Wrong(st.target);
                } else {
                    st.phase = Phase::Arriving;
                }
                gst::PadProbeReturn::Ok
            }
            Some((gst::EventView::Eos(_), seqnum)) => {
                if st.stale(seqnum) {
                    return DISCARD;
                }
                if let Phase::Wrong(next) = st.phase {
                    st.fed[pad] = u32::MAX;
                    return self.again_once_fed(&mut st, next);
                }
                // Before any data of the landing: the seek went past the end. Halfway from
                // the furthest landing, which tsdemux has seen.
                tracing::info!(
                    item = self.serial,
                    asked_ms = st.asked.mseconds(),
                    "join seek landed past the end of the media: seeking again"
                );
                let halfway = st.landed + (st.asked.saturating_sub(st.landed)) / 2;
                if self.again(&mut st, halfway) { DISCARD } else { gst::PadProbeReturn::Ok }
            }
            Some(_) => gst::PadProbeReturn::Ok,
            None => {
                if st.phase == Phase::Out {
                    // The previous landing's.
                    return DISCARD;
                }
                st.fed[pad] = st.fed[pad].saturating_add(1);
                match st.phase {
                    Phase::Arriving if st.asked < st.target => {
                        // tsdemux has seen the stream here now, and may place the offset.
                        tracing::debug!(
                            item = self.serial,
                            asked_ms = st.asked.mseconds(),
                            "landed short: seeking the offset"
                        );
                        st.landed = st.landed.max(st.asked);
                        let target = st.target;
                        st.phase = Phase::Wrong(target);
                        self.again_once_fed(&mut st, target)
                    }
                    Phase::Wrong(next) => self.again_once_fed(&mut st, next),
                    _ => {
                        st.phase = Phase::Landed;
                        gst::PadProbeReturn::Ok
                    }
                }
            }
        }
    }

    /// In a wrong landing, what came is thrown away; the seek to `next` goes once every
    /// decoder was fed by the landing (or one was fed plenty: the others' streams have nothing
    /// here). tsdemux notes each stream's first frame after a seek as it pushes it, with no
    /// lock against a seek coming meanwhile: a seek sent while the landing's first video frame
    /// was on its way left that frame's time behind, and every later landing's video before it
    /// was dropped as "other stream needed to be seeked further" (the whole slot black and
    /// silent, one run in four of the test).
    fn again_once_fed(&self, st: &mut State, next: gst::ClockTime) -> gst::PadProbeReturn {
        let fed = st.fed.iter().all(|n| *n > 0) || st.fed.iter().any(|n| *n >= PLENTY);
        if fed && !self.again(st, next) {
            return gst::PadProbeReturn::Ok;
        }
        DISCARD
    }

    /// Send a seek to `asked` again from another thread; false (and landed as it is) when
    /// the seeks ran out or the item is gone.
    fn again(&self, st: &mut State, asked: gst::ClockTime) -> bool {
        let Some((bin, pad)) = st.via.clone().filter(|_| st.sent.len() < MAX_SEEKS as usize) else {
            tracing::warn!(
                item = self.serial,
                seeks = st.sent.len(),
                "join seek did not land: playing from where it is"
            );
            st.phase = Phase::Landed;
            return false;
        };
        let Some(bin) = bin.upgrade() else {
            st.phase = Phase::Landed;
            return false;
        };
        let event = st.prepare(asked);
        let serial = self.serial;
        bin.call_async(move |_| {
            if let Some(pad) = pad.upgrade() {
                let seqnum = event.seqnum();
                let sent = pad.send_event(event);
                tracing::debug!(item = serial, ?seqnum, sent, "landing: seek sent again");
            }
        });
        true
    }
}
