//! Item bins: one per airing, `uridecodebin` → normalise to the channel format → ghost pads
//! with a pad offset, linked to the mixers shortly before air.
//!
//! Life of an item (streaming-thread parts only send [`ItemEvent`]s; every state change and
//! link is done by the actor):
//! 1. [`ItemBin::build`]: bin `item-<serial>` with `uridecodebin`, added to the pipeline.
//! 2. `pad-added` (streaming thread): a branch per stream kind — video: `videoconvert !
//!    deinterlace ! videoconvert ! videoscale add-borders ! videorate ! capsfilter ! queue`; audio:
//!    `audioconvert ! audioresample ! volume ! capsfilter ! queue`. The queue's src pad is
//!    *blocked*, so nothing reaches the mixers yet. `no-more-pads` → [`ItemEvent::Ready`].
//! 3. [`ItemBin::go_live`] (actor): seek the item to its media position if needed (while the
//!    pads are blocked the flush never reaches the mixers; after a flushing seek the segment
//!    restarts at running time 0), ghost the branches with pad offset = air running time,
//!    link to new mixer pads and unblock.
//! 4. A probe on each branch cuts at the slot end: the buffer that crosses it is trimmed
//!    (audio) or dropped (video), then EOS is pushed so the compositor stops showing it and
//!    the decoder stops. [`ItemEvent::Finished`] follows.
//! 5. [`ItemBin::retire`] (actor): release the mixer pads, set the bin to NULL, remove it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use tokio::sync::mpsc::UnboundedSender;

use super::pipeline::{ChannelPipeline, ITEM_ZORDER_BASE, PipelineError, make};
use super::timeline::Placement;

/// Highest gain applied to a quiet item (dB); quieter items stay quieter.
const MAX_GAIN_DB: f64 = 12.0;
/// Strongest attenuation (dB).
const MIN_GAIN_DB: f64 = -20.0;
/// Raw data a branch queues ahead of its mixer (ns).
const BRANCH_QUEUE_NS: u64 = 500_000_000;

/// What a streaming thread reports about an item.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemEvent {
    /// All decoded pads are exposed and blocked: ready for [`ItemBin::go_live`].
    Ready(u64),
    /// One branch reached its cut or the media's end.
    Finished(u64),
    /// A branch could not be built.
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

struct Branch {
    kind: Kind,
    out: gst::Pad,
    block: Option<gst::PadProbeId>,
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
    /// Branches built.
    pub branches: AtomicU64,
}

/// One airing's bin in the channel pipeline.
pub struct ItemBin {
    /// Unique serial within the actor (bin name `item-<serial>`).
    pub serial: u64,
    /// Where it airs.
    pub placement: Placement,
    bin: gst::Bin,
    branches: Arc<Mutex<Vec<Branch>>>,
    mixer_pads: Vec<gst::Pad>,
    ghosts: Vec<gst::GhostPad>,
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
    /// Create the bin for `uri`, add it to the pipeline and start it.
    pub fn build(
        pipeline: &ChannelPipeline,
        serial: u64,
        uri: &str,
        placement: Placement,
        gain_db: f64,
        events: UnboundedSender<ItemEvent>,
    ) -> Result<Self, PipelineError> {
        let bin = gst::Bin::with_name(&bin_name(serial));
        let decode = make("uridecodebin")?;
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
        let branches: Arc<Mutex<Vec<Branch>>> = Arc::default();
        let progress: Arc<Progress> = Arc::default();
        let slot_ns = placement.end_ns.saturating_sub(placement.air_ns);
        let vcaps = pipeline.video_caps().clone();
        let acaps = pipeline.audio_caps().clone();
        {
            let bin_weak = bin.downgrade();
            let branches = branches.clone();
            let progress = progress.clone();
            let events = events.clone();
            decode.connect_pad_added(move |_, pad| {
                let Some(bin) = bin_weak.upgrade() else { return };
                let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
                let name = caps.structure(0).map(|s| s.name().as_str().to_owned()).unwrap_or_default();
                let kind = if name.starts_with("video/") {
                    Kind::Video
                } else if name.starts_with("audio/") {
                    Kind::Audio
                } else {
                    sink_unused(&bin, pad);
                    return;
                };
                let mut list = branches.lock().expect("branches lock");
                if list.iter().any(|b| b.kind == kind) {
                    sink_unused(&bin, pad);
                    return;
                }
                let out_caps = if kind == Kind::Video { &vcaps } else { &acaps };
                match build_branch(&bin, pad, kind, &caps, out_caps, gain_db) {
                    Ok(out) => {
                        let block = out.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| gst::PadProbeReturn::Ok);
                        add_cut_probe(&out, kind, slot_ns, progress.clone(), serial, events.clone());
                        progress.branches.fetch_add(1, Ordering::SeqCst);
                        list.push(Branch { kind, out, block });
                    }
                    Err(e) => {
                        let _ = events.send(ItemEvent::Failed(serial, format!("cannot decode {name}: {e}")));
                    }
                }
            });
        }
        {
            let events = events.clone();
            let branches = branches.clone();
            decode.connect_no_more_pads(move |_| {
                if branches.lock().expect("branches lock").is_empty() {
                    let _ = events.send(ItemEvent::Failed(serial, "no playable audio or video stream".into()));
                } else {
                    let _ = events.send(ItemEvent::Ready(serial));
                }
            });
        }
        pipeline.pipeline.add(&bin).map_err(|source| PipelineError::Setup { what: "add item bin", source })?;
        let this = Self {
            serial,
            placement,
            bin,
            branches,
            mixer_pads: Vec::new(),
            ghosts: Vec::new(),
            progress,
            live: false,
        };
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

    /// Seek to the placement's media position (if not 0), ghost and link the branches to the
    /// mixers with the air offset, and unblock. Call on the actor task after
    /// [`ItemEvent::Ready`].
    pub fn go_live(&mut self, pipeline: &ChannelPipeline) -> Result<(), PipelineError> {
        let mut branches = self.branches.lock().expect("branches lock");
        if self.placement.media_ns > 0
            && let Some(b) = branches.first()
        {
            let seek = gst::event::Seek::new(
                1.0,
                gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE,
                gst::SeekType::Set,
                gst::ClockTime::from_nseconds(self.placement.media_ns),
                gst::SeekType::None,
                gst::ClockTime::NONE,
            );
            if !b.out.send_event(seek) {
                tracing::warn!(item = self.serial, "media is not seekable: playing it from the start");
            }
        }
        for (i, b) in branches.iter_mut().enumerate() {
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
            ghost.link(&mixer_pad).map_err(|source| PipelineError::Link { what: "item to mixer", source })?;
            self.mixer_pads.push(mixer_pad);
            self.ghosts.push(ghost);
            let _ = i;
        }
        for b in branches.iter_mut() {
            if let Some(id) = b.block.take() {
                b.out.remove_probe(id);
            }
        }
        self.live = true;
        Ok(())
    }

    /// All branches reached their cut or end.
    pub fn is_finished(&self) -> bool {
        let built = self.progress.branches.load(Ordering::SeqCst);
        built > 0 && self.progress.finished.load(Ordering::SeqCst) >= built
    }

    /// Release the mixer pads, stop the bin and remove it from the pipeline. Actor task only.
    pub fn retire(mut self, pipeline: &ChannelPipeline) {
        for pad in self.mixer_pads.drain(..) {
            pipeline.release_pad(&pad);
        }
        // Unblock branches that never went live so their threads can stop.
        for b in self.branches.lock().expect("branches lock").iter_mut() {
            if let Some(id) = b.block.take() {
                b.out.remove_probe(id);
            }
        }
        let _ = self.bin.set_state(gst::State::Null);
        let _ = pipeline.pipeline.remove(&self.bin);
    }
}

/// Decoded pads we do not use (subtitles, extra audio) go to a fakesink so the decoder never
/// sees "not linked".
fn sink_unused(bin: &gst::Bin, pad: &gst::Pad) {
    if let Ok(sink) = gst::ElementFactory::make("fakesink").property("sync", false).property("async", false).build()
        && bin.add(&sink).is_ok()
    {
        let _ = sink.sync_state_with_parent();
        if let Some(sinkpad) = sink.static_pad("sink") {
            let _ = pad.link(&sinkpad);
        }
    }
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

fn build_branch(
    bin: &gst::Bin,
    pad: &gst::Pad,
    kind: Kind,
    source_caps: &gst::Caps,
    caps: &gst::Caps,
    gain_db: f64,
) -> Result<gst::Pad, PipelineError> {
    let mut chain = Vec::new();
    match kind {
        Kind::Video => {
            // deinterlace takes 8-bit formats only: anything else (10-bit, 4:4:4) would pass
            // through still interlaced and fail to negotiate. Passthrough for 8-bit sources.
            chain.push(make("videoconvert")?);
            chain.push(make("deinterlace")?);
            // Scale first, in the source's colours, then convert the colours (BT.709 HD to
            // BT.601 SD, say) on the small picture: one converter doing both scales with a
            // colour-matrix pass on the large one, about 3x the cost.
            chain.push(make("videoconvert")?);
            let scale = make("videoscale")?;
            scale.set_property("add-borders", true);
            chain.push(scale);
            if let Some(scaled) = scaled_caps(source_caps, caps) {
                let filter = make("capsfilter")?;
                filter.set_property("caps", &scaled);
                chain.push(filter);
            }
            chain.push(make("videoconvert")?);
            chain.push(make("videorate")?);
        }
        Kind::Audio => {
            chain.push(make("audioconvert")?);
            chain.push(make("audioresample")?);
            let volume = make("volume")?;
            volume.set_property("volume", 10f64.powf(gain_db / 20.0));
            chain.push(volume);
        }
    }
    let filter = make("capsfilter")?;
    filter.set_property("caps", caps);
    chain.push(filter);
    let queue = make("queue")?;
    // How far a branch decodes ahead of the mixer. Raw SD video is ~0.45 MB a frame, so this
    // is most of an item's memory: 0.5 s rides over decoder bursts (keyframes, frame
    // threads) well inside the mixers' 200 ms latency, at half the frames of 1 s.
    queue.set_property("max-size-time", BRANCH_QUEUE_NS);
    queue.set_property("max-size-buffers", 0u32);
    queue.set_property("max-size-bytes", 0u32);
    chain.push(queue);
    bin.add_many(&chain).map_err(|source| PipelineError::Setup { what: "add branch", source })?;
    gst::Element::link_many(&chain).map_err(|source| PipelineError::Setup { what: "link branch", source })?;
    for e in &chain {
        e.sync_state_with_parent().map_err(|source| PipelineError::Setup { what: "start branch", source })?;
    }
    let sink = chain[0].static_pad("sink").expect("sink pad");
    pad.link(&sink).map_err(|source| PipelineError::Link { what: "decoder to branch", source })?;
    Ok(chain.last().expect("queue").static_pad("src").expect("src pad"))
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
            return gst::PadProbeReturn::Drop;
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
            // (setting the bin to NULL unblocks it).
            if let Some(peer) = pad.peer() {
                peer.send_event(gst::event::Eos::new());
            }
            pad.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| gst::PadProbeReturn::Ok);
            let _ = events.send(ItemEvent::Finished(serial));
            return gst::PadProbeReturn::Drop;
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
