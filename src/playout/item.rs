//! Item bins: one per airing, `uridecodebin` → normalise to the channel format → ghost pads
//! with a pad offset, linked to the mixers shortly before air.
//!
//! Life of an item. Every element is created, added and started by the actor, never by a
//! streaming thread: a bin whose streaming thread was still adding and starting elements while
//! the actor took it down left those elements in PAUSED, their threads running for ever and
//! GStreamer complaining when they were disposed (issue #21).
//! 1. [`ItemBin::build`] (actor): bin `item-<serial>` with `uridecodebin` and both branches,
//!    ready before any pad appears — video: `videoconvert ! deinterlace ! videoconvert !
//!    videoscale add-borders ! capsfilter ! videoconvert ! videorate ! capsfilter ! queue`;
//!    audio: `audioconvert ! audioresample ! volume ! capsfilter ! queue`. Each queue's src
//!    pad is *blocked*, so nothing reaches the mixers yet.
//! 2. `pad-added` (streaming thread) only links: the first video and the first audio pad to
//!    their branch, every other pad (subtitles, a second audio track) to nothing through a
//!    probe that drops its data. `no-more-pads` → [`ItemEvent::Ready`].
//! 3. [`ItemBin::go_live`] (actor): seek the item to its media position if needed (while the
//!    pads are blocked the flush never reaches the mixers; after a flushing seek the segment
//!    restarts at running time 0), ghost the linked branches with pad offset = air running
//!    time, link to new mixer pads and unblock.
//! 4. A probe on each branch's input counts what the source delivers (a source that stops
//!    is told from a starved box by it, [`super::watchdog`]) and, on video, drops frames that
//!    are already too late for the mixer and tells the decoder (QoS) so it skips work: a busy
//!    box shows fewer frames of the item instead of none.
//! 5. A probe on each branch's output cuts at the slot end: the buffer that crosses it is
//!    trimmed (audio) or dropped (video), then EOS is pushed so the compositor stops showing
//!    it and the decoder stops. [`ItemEvent::Finished`] follows.
//! 6. [`ItemBin::retire`] (actor): hand the bin to [`super::reaper`], which brings it to NULL
//!    on its own thread, then releases its mixer pads and removes it: a decoder or source that
//!    takes seconds to stop never holds the channel up, and no mixer pad is released while
//!    the item's thread still pushes into it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use tokio::sync::mpsc::UnboundedSender;

use super::pipeline::{ChannelPipeline, ITEM_ZORDER_BASE, PipelineError, make};
use super::probe::DISCARD;
use super::reaper::Reaper;
use super::timeline::Placement;
use crate::elements::{
    AUDIOCONVERT, AUDIORESAMPLE, CAPSFILTER, DEINTERLACE, QUEUE, URIDECODEBIN, VIDEOCONVERT, VIDEORATE, VIDEOSCALE,
    VOLUME,
};

/// Highest gain applied to a quiet item (dB); quieter items stay quieter.
const MAX_GAIN_DB: f64 = 12.0;
/// Strongest attenuation (dB).
const MIN_GAIN_DB: f64 = -20.0;
/// Raw data a branch queues ahead of its mixer (ns).
const BRANCH_QUEUE_NS: u64 = 500_000_000;
/// A video frame this late for the mixer is dropped before it is converted.
const LATE_DROP_NS: u64 = 40_000_000;
/// The decoder is told about lateness at most this often.
const QOS_EVERY_NS: u64 = 100_000_000;

/// What a streaming thread reports about an item.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemEvent {
    /// All decoded pads are exposed and blocked: ready for [`ItemBin::go_live`].
    Ready(u64),
    /// One branch reached its cut or the media's end.
    Finished(u64),
    /// The item cannot play.
    Failed(u64, String),
}

/// Static gain (dB) that moves an item at `item_lufs` toward `target_lufs`, clamped.
pub fn gain_db(target_lufs: f64, item_lufs: Option<f64>) -> f64 {
    match item_lufs {
        Some(l) if l.is_finite() => (target_lufs - l).clamp(MIN_GAIN_DB, MAX_GAIN_DB),
        _ => 0.0,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Video,
    Audio,
}

/// One branch, built with the bin.
struct Branch {
    kind: Kind,
    /// The branch's first sink pad (a decoded pad links here).
    input: gst::Pad,
    /// The queue's src pad (ghosted to a mixer).
    out: gst::Pad,
    block: Option<gst::PadProbeId>,
    /// A decoded pad was linked to it.
    linked: Arc<AtomicBool>,
}

/// Progress shared with the streaming threads.
#[derive(Default)]
pub struct Progress {
    /// Furthest running time (ns, item-relative, before the offset) that left a branch.
    pub played_ns: AtomicU64,
    /// A branch saw EOS before its cut (media shorter than the slot).
    pub ended_early: AtomicBool,
    /// Branches that finished (cut or EOS).
    pub finished: AtomicU64,
    /// Branches with a decoded stream linked.
    pub branches: AtomicU64,
    /// Buffers the source delivered into the branches (decoded), late ones included: what
    /// tells a source that stopped from one that is merely slow.
    pub delivered: AtomicU64,
    /// Video frames dropped because they were too late for the mixer (a starved box).
    pub late_dropped: AtomicU64,
}

/// One airing's bin in the channel pipeline.
pub struct ItemBin {
    /// Unique serial within the actor (bin name `item-<serial>`).
    pub serial: u64,
    /// Where it airs.
    pub placement: Placement,
    bin: gst::Bin,
    branches: Vec<Branch>,
    mixer_pads: Vec<gst::Pad>,
    /// Progress counters.
    pub progress: Arc<Progress>,
    live: bool,
}

/// Name of the bin of item `serial`.
pub fn bin_name(serial: u64) -> String {
    format!("item-{serial}")
}

/// The item serial of a bin name.
pub fn serial_of(name: &str) -> Option<u64> {
    name.strip_prefix("item-")?.parse().ok()
}

impl ItemBin {
    /// Create the bin for `uri` with both branches, add it to the pipeline and start it.
    /// Actor thread only.
    pub fn build(
        pipeline: &ChannelPipeline,
        serial: u64,
        uri: &str,
        placement: Placement,
        gain_db: f64,
        events: UnboundedSender<ItemEvent>,
    ) -> Result<Self, PipelineError> {
        let bin = gst::Bin::with_name(&bin_name(serial));
        let decode = make(URIDECODEBIN)?;
        decode.set_property("uri", uri);
        // Media a hardware decoder failed on before is decoded in software.
        super::verify::avoid_failed_hardware(&decode, uri);
        // HTTP sources: give up on a dead server instead of hanging.
        decode.connect("source-setup", false, |args| {
            if let Ok(src) = args[1].get::<gst::Element>()
                && src.has_property("timeout")
            {
                src.set_property_from_str("timeout", "10");
            }
            None
        });
        bin.add(&decode).map_err(|source| PipelineError::Setup { what: "add uridecodebin", source })?;
        let progress: Arc<Progress> = Arc::default();
        let slot_ns = placement.end_ns.saturating_sub(placement.air_ns);

        let (video, scaled) = build_video_branch(&bin, pipeline.video_caps())?;
        let audio = build_audio_branch(&bin, pipeline.audio_caps(), gain_db)?;
        let mut branches = Vec::with_capacity(2);
        for (kind, (input, out)) in [(Kind::Video, video), (Kind::Audio, audio)] {
            let block = out.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| gst::PadProbeReturn::Ok);
            add_cut_probe(&out, kind, slot_ns, progress.clone(), serial, events.clone());
            let late = (kind == Kind::Video).then(|| (pipeline.output_position(), placement.air_ns));
            add_input_probe(&input, progress.clone(), late);
            branches.push(Branch { kind, input, out, block, linked: Arc::default() });
        }

        {
            let links: Vec<(Kind, gst::Pad, Arc<AtomicBool>)> =
                branches.iter().map(|b| (b.kind, b.input.clone(), b.linked.clone())).collect();
            let progress = progress.clone();
            let events = events.clone();
            let vcaps = pipeline.video_caps().clone();
            decode.connect_pad_added(move |_, pad| {
                let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
                let name = caps.structure(0).map(|s| s.name().as_str().to_owned()).unwrap_or_default();
                let kind = if name.starts_with("video/") {
                    Some(Kind::Video)
                } else if name.starts_with("audio/") {
                    Some(Kind::Audio)
                } else {
                    None
                };
                let branch = links.iter().find(|(k, _, linked)| Some(*k) == kind && !linked.load(Ordering::SeqCst));
                let Some((kind, input, linked)) = branch else {
                    discard(pad);
                    return;
                };
                if *kind == Kind::Video {
                    // Properties may be set from any thread; the scaler's caps follow the
                    // source's colours (see `scaled_caps`).
                    let narrowed = scaled_caps(&caps, &vcaps).unwrap_or_else(|| scaled_caps_template(&vcaps));
                    scaled.set_property("caps", narrowed);
                }
                match pad.link(input) {
                    Ok(_) => {
                        linked.store(true, Ordering::SeqCst);
                        progress.branches.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        discard(pad);
                        let _ = events.send(ItemEvent::Failed(serial, format!("cannot decode {name}: {e:?}")));
                    }
                }
            });
        }
        {
            let events = events.clone();
            let progress = progress.clone();
            decode.connect_no_more_pads(move |_| {
                if progress.branches.load(Ordering::SeqCst) == 0 {
                    let _ = events.send(ItemEvent::Failed(serial, "no playable audio or video stream".into()));
                } else {
                    let _ = events.send(ItemEvent::Ready(serial));
                }
            });
        }
        pipeline.pipeline.add(&bin).map_err(|source| PipelineError::Setup { what: "add item bin", source })?;
        let this = Self { serial, placement, bin, branches, mixer_pads: Vec::new(), progress, live: false };
        if let Err(source) = this.bin.sync_state_with_parent() {
            // The source failed synchronously (e.g. the file vanished): take the bin out again.
            let _ = this.bin.set_state(gst::State::Null);
            let _ = pipeline.pipeline.remove(&this.bin);
            return Err(PipelineError::Setup { what: "start item (file missing or unreadable?)", source });
        }
        Ok(this)
    }

    /// Whether [`Self::go_live`] ran.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Seek to the placement's media position (if not 0), ghost and link the linked branches
    /// to the mixers with the air offset, and unblock. Actor thread only, after
    /// [`ItemEvent::Ready`].
    pub fn go_live(&mut self, pipeline: &ChannelPipeline) -> Result<(), PipelineError> {
        let linked: Vec<usize> =
            (0..self.branches.len()).filter(|&i| self.branches[i].linked.load(Ordering::SeqCst)).collect();
        if self.placement.media_ns > 0
            && let Some(&first) = linked.first()
        {
            let seek = gst::event::Seek::new(
                1.0,
                gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
                gst::SeekType::Set,
                gst::ClockTime::from_nseconds(self.placement.media_ns),
                gst::SeekType::None,
                gst::ClockTime::NONE,
            );
            if !self.branches[first].out.send_event(seek) {
                tracing::warn!(item = self.serial, "media is not seekable: playing it from the start");
            }
        }
        for &i in &linked {
            let b = &self.branches[i];
            let ghost = gst::GhostPad::builder_with_target(&b.out)
                .map_err(|source| PipelineError::Setup { what: "ghost pad", source })?
                .name(if b.kind == Kind::Video { "video" } else { "audio" })
                .build();
            ghost.set_offset(self.placement.air_ns as i64);
            ghost.set_active(true).map_err(|source| PipelineError::Setup { what: "activate ghost pad", source })?;
            self.bin.add_pad(&ghost).map_err(|source| PipelineError::Setup { what: "add ghost pad", source })?;
            let mixer_pad = match b.kind {
                Kind::Video => pipeline.request_video_pad(ITEM_ZORDER_BASE + (self.serial % 1_000_000) as u32)?,
                Kind::Audio => pipeline.request_program_audio_pad()?,
            };
            let linked = ghost.link(&mixer_pad);
            self.mixer_pads.push(mixer_pad);
            linked.map_err(|source| PipelineError::Link { what: "item to mixer", source })?;
        }
        for &i in &linked {
            if let Some(id) = self.branches[i].block.take() {
                self.branches[i].out.remove_probe(id);
            }
        }
        self.live = true;
        Ok(())
    }

    /// All linked branches reached their cut or end.
    pub fn is_finished(&self) -> bool {
        let built = self.progress.branches.load(Ordering::SeqCst);
        built > 0 && self.progress.finished.load(Ordering::SeqCst) >= built
    }

    /// Take the item off: its branches unblocked, then the reaper brings the bin to NULL,
    /// releases its mixer pads and removes it from the pipeline, on its own thread. Actor
    /// thread only.
    pub fn retire(mut self, pipeline: &ChannelPipeline, reaper: &Reaper) {
        // Unblock branches so their threads can leave (the bin is going down anyway).
        for b in &mut self.branches {
            if let Some(id) = b.block.take() {
                b.out.remove_probe(id);
            }
        }
        let pads = std::mem::take(&mut self.mixer_pads);
        reaper.reap_item(&pipeline.pipeline, self.bin.clone(), pads, pipeline.releaser());
    }
}

/// A decoded pad we do not use (subtitles, a second audio track): its data is dropped at the
/// pad, so the decoder never sees "not linked" (probes run before the peer is looked up).
fn discard(pad: &gst::Pad) {
    pad.add_probe(gst::PadProbeType::DATA_DOWNSTREAM, |_, _| DISCARD);
}

/// Caps between the scaler and the colour conversion of a video branch: the channel's size
/// and pixel aspect in the source's colorimetry (made explicit: left out, GStreamer would
/// assume a different default for the smaller size). `None` when the source is not YUV or
/// its caps are not known yet.
fn scaled_caps(source: &gst::Caps, out: &gst::Caps) -> Option<gst::Caps> {
    let info = gst_video::VideoInfo::from_caps(source).ok()?;
    if !info.format_info().is_yuv() {
        return None;
    }
    let s = out.structure(0)?;
    let mut b = gst::Caps::builder("video/x-raw").field("colorimetry", info.colorimetry().to_string());
    for field in ["width", "height", "pixel-aspect-ratio"] {
        b = b.field(field, s.value(field).ok()?.clone());
    }
    Some(b.build())
}

fn add_started(bin: &gst::Bin, chain: &[gst::Element]) -> Result<(gst::Pad, gst::Pad), PipelineError> {
    bin.add_many(chain).map_err(|source| PipelineError::Setup { what: "add branch", source })?;
    gst::Element::link_many(chain).map_err(|source| PipelineError::Setup { what: "link branch", source })?;
    let input = chain[0].static_pad("sink").expect("sink pad");
    let out = chain.last().expect("queue").static_pad("src").expect("src pad");
    Ok((input, out))
}

fn branch_queue() -> Result<gst::Element, PipelineError> {
    let queue = make(QUEUE)?;
    // How far a branch decodes ahead of the mixer. Raw SD video is ~0.45 MB a frame, so this
    // is most of an item's memory: 0.5 s rides over decoder bursts (keyframes, frame
    // threads) well inside the mixers' 200 ms latency, at half the frames of 1 s.
    queue.set_property("max-size-time", BRANCH_QUEUE_NS);
    queue.set_property("max-size-buffers", 0u32);
    queue.set_property("max-size-bytes", 0u32);
    Ok(queue)
}

/// The video branch (its input and output pads) and its scaler's capsfilter, whose caps the
/// `pad-added` handler narrows to the source's colorimetry.
fn build_video_branch(bin: &gst::Bin, caps: &gst::Caps) -> Result<((gst::Pad, gst::Pad), gst::Element), PipelineError> {
    // deinterlace takes 8-bit formats only: anything else (10-bit, 4:4:4) would pass through
    // still interlaced and fail to negotiate. Passthrough for 8-bit sources.
    let scale = make(VIDEOSCALE)?;
    scale.set_property("add-borders", true);
    // Scale first, in the source's colours, then convert the colours (BT.709 HD to BT.601
    // SD, say) on the small picture: one converter doing both scales with a colour-matrix
    // pass on the large one, about 3x the cost.
    let scaled = make(CAPSFILTER)?;
    scaled.set_property("caps", scaled_caps_template(caps));
    let out_caps = make(CAPSFILTER)?;
    out_caps.set_property("caps", caps);
    let chain = [
        make(VIDEOCONVERT)?,
        make(DEINTERLACE)?,
        make(VIDEOCONVERT)?,
        scale,
        scaled.clone(),
        make(VIDEOCONVERT)?,
        make(VIDEORATE)?,
        out_caps,
        branch_queue()?,
    ];
    Ok((add_started(bin, &chain)?, scaled))
}

/// The scaler's caps before the source is known: the channel's size and pixel aspect.
fn scaled_caps_template(out: &gst::Caps) -> gst::Caps {
    let Some(s) = out.structure(0) else { return gst::Caps::new_any() };
    let mut b = gst::Caps::builder("video/x-raw");
    for field in ["width", "height", "pixel-aspect-ratio"] {
        if let Ok(v) = s.value(field) {
            b = b.field(field, v.clone());
        }
    }
    b.build()
}

fn build_audio_branch(bin: &gst::Bin, caps: &gst::Caps, gain_db: f64) -> Result<(gst::Pad, gst::Pad), PipelineError> {
    let volume = make(VOLUME)?;
    volume.set_property("volume", 10f64.powf(gain_db / 20.0));
    let filter = make(CAPSFILTER)?;
    filter.set_property("caps", caps);
    let chain = [make(AUDIOCONVERT)?, make(AUDIORESAMPLE)?, volume, filter, branch_queue()?];
    add_started(bin, &chain)
}

/// Count what the source delivers into a branch; on video (`late` = the mixer's output
/// position and the item's air offset) drop frames already too late for the mixer and tell
/// the decoder, which then skips decoding non-reference frames (QoS).
fn add_input_probe(input: &gst::Pad, progress: Arc<Progress>, late: Option<(Arc<AtomicU64>, u64)>) {
    #[derive(Default)]
    struct State {
        segment: Option<gst::FormattedSegment<gst::ClockTime>>,
        last_qos: Option<u64>,
    }
    let state = Mutex::new(State::default());
    input.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |pad, info| {
        if let Some(ev) = info.event() {
            if let gst::EventView::Segment(s) = ev.view() {
                state.lock().expect("probe lock").segment = s.segment().downcast_ref::<gst::ClockTime>().cloned();
            }
            return gst::PadProbeReturn::Ok;
        }
        progress.delivered.fetch_add(1, Ordering::Relaxed);
        let Some((position, air_ns)) = &late else { return gst::PadProbeReturn::Ok };
        let out_rt = position.load(Ordering::Relaxed);
        let Some(buffer) = info.buffer() else { return gst::PadProbeReturn::Ok };
        let mut st = state.lock().expect("probe lock");
        let Some(rt) = st.segment.as_ref().zip(buffer.pts()).and_then(|(seg, pts)| seg.to_running_time(pts)) else {
            return gst::PadProbeReturn::Ok;
        };
        let rt = rt.nseconds();
        let end = rt + buffer.duration().map_or(0, |d| d.nseconds());
        let lateness = out_rt as i128 - (end + air_ns) as i128;
        if out_rt == 0 || lateness <= LATE_DROP_NS as i128 {
            return gst::PadProbeReturn::Ok;
        }
        progress.late_dropped.fetch_add(1, Ordering::Relaxed);
        if st.last_qos.is_none_or(|t| rt >= t + QOS_EVERY_NS || rt < t) {
            st.last_qos = Some(rt);
            drop(st);
            let diff = lateness.min(i64::MAX as i128) as i64;
            let qos = gst::event::Qos::new(gst::QOSType::Underflow, 0.5, diff, gst::ClockTime::from_nseconds(rt));
            pad.push_event(qos);
        }
        DISCARD
    });
}

/// Cut the branch at `slot_ns` (item-relative running time) and track progress.
fn add_cut_probe(
    out: &gst::Pad,
    kind: Kind,
    slot_ns: u64,
    progress: Arc<Progress>,
    serial: u64,
    events: UnboundedSender<ItemEvent>,
) {
    #[derive(Default)]
    struct State {
        segment: Option<gst::FormattedSegment<gst::ClockTime>>,
        done: bool,
    }
    let state = Mutex::new(State::default());
    out.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |pad, info| {
        let mut st = state.lock().expect("probe lock");
        if st.done {
            return DISCARD;
        }
        if let Some(ev) = info.event() {
            match ev.view() {
                gst::EventView::Segment(s) => st.segment = s.segment().downcast_ref::<gst::ClockTime>().cloned(),
                gst::EventView::Eos(_) => {
                    st.done = true;
                    progress.ended_early.store(true, Ordering::SeqCst);
                    progress.finished.fetch_add(1, Ordering::SeqCst);
                    let _ = events.send(ItemEvent::Finished(serial));
                }
                _ => {}
            }
            return gst::PadProbeReturn::Ok;
        }
        let Some(buffer) = info.buffer() else { return gst::PadProbeReturn::Ok };
        let (Some(seg), Some(pts)) = (&st.segment, buffer.pts()) else { return gst::PadProbeReturn::Ok };
        let Some(rt) = seg.to_running_time(pts).map(|t| t.nseconds()) else { return gst::PadProbeReturn::Ok };
        let dur = buffer.duration().map(|d| d.nseconds()).unwrap_or(0);
        if rt >= slot_ns {
            st.done = true;
            drop(st);
            progress.finished.fetch_add(1, Ordering::SeqCst);
            // Tell the mixer this input is over (the compositor stops repeating its last
            // frame), and park the branch so its decoder stops until the item is retired
            // (taking the bin down unblocks it).
            if let Some(peer) = pad.peer() {
                peer.send_event(gst::event::Eos::new());
            }
            pad.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| gst::PadProbeReturn::Ok);
            let _ = events.send(ItemEvent::Finished(serial));
            return DISCARD;
        }
        if kind == Kind::Audio && rt + dur > slot_ns && dur > 0 {
            // Trim the buffer that crosses the cut to whole samples (F32LE stereo = 8 bytes).
            let keep_ns = slot_ns - rt;
            let samples = keep_ns * 48_000 / 1_000_000_000;
            if let Some(buffer) = info.buffer_mut() {
                let buf = buffer.make_mut();
                let size = (samples as usize * 8).min(buf.size());
                buf.set_size(size);
                buf.set_duration(gst::ClockTime::from_nseconds(keep_ns));
            }
        }
        progress.played_ns.fetch_max((rt + dur).min(slot_ns), Ordering::SeqCst);
        gst::PadProbeReturn::Ok
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loudness_gain_moves_toward_the_target_and_is_clamped() {
        assert_eq!(gain_db(-24.0, Some(-14.0)), -10.0);
        assert_eq!(gain_db(-24.0, Some(-30.0)), 6.0);
        assert_eq!(gain_db(-24.0, Some(-70.0)), MAX_GAIN_DB);
        assert_eq!(gain_db(-24.0, Some(0.0)), MIN_GAIN_DB);
        assert_eq!(gain_db(-24.0, None), 0.0);
        assert_eq!(gain_db(-24.0, Some(f64::NAN)), 0.0);
    }

    #[test]
    fn bin_names_carry_the_serial() {
        assert_eq!(serial_of(&bin_name(42)), Some(42));
        assert_eq!(serial_of("comp"), None);
    }
}
