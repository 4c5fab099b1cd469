//! Item bins: one per airing, `uridecodebin` → normalise to the channel format → ghost pads
//! with a pad offset, linked to the mixers shortly before air.
//!
//! Life of an item. Every element is created, added and started by the actor, never by a
//! streaming thread: a bin whose streaming thread was still adding and starting elements while
//! the actor took it down left those elements in PAUSED, their threads running for ever and
//! GStreamer complaining when they were disposed (issue #21).
//! 1. [`ItemBin::build`] (actor): bin `item-<serial>` with `uridecodebin` and every branch,
//!    ready before any pad appears — video: `videoconvert ! deinterlace ! videoconvert !
//!    videoscale add-borders ! capsfilter !` [`ColourMatrix`] `! videoconvert ! videorate !
//!    capsfilter`, run by
//!    the decoder's thread, with no queue of its own (see [`build_video_branch`]); audio, one
//!    per channel audio track: `audioconvert ! audioresample ! capsfilter ! queue` with the
//!    item's [`leveller`](super::leveller) (a fixed gain, or the on-air loudness control
//!    metering before the queue and setting the gain after it), the main track's with a `tee`
//!    before its queue and one more queue per other track, for a track that plays a copy of
//!    the main audio. Each branch's output is *blocked* (video at its first frame, audio at
//!    its first event), so nothing reaches the mixers yet.
//! 2. `pad-added` (streaming thread) only links or blocks: the first video pad is linked to
//!    its branch, every other non-audio pad (subtitles) to nothing through a probe that
//!    drops its data; audio pads are blocked at their first buffer, by which time their tags
//!    (language) have passed. `no-more-pads`, with every audio pad at its first buffer (or
//!    ended) → [`ItemEvent::Ready`].
//! 3. [`ItemBin::go_live`] (actor): link each audio track's branch to the decoded stream in
//!    its language ([`super::tracks::choose`]; the main audio's copy or nothing when the item
//!    lacks it), drop the unused streams, seek the item to its media position if needed
//!    (while the pads are blocked the flush never reaches the mixers; after a flushing seek
//!    the segment restarts at running time 0), ghost the linked branches with pad offset =
//!    air running time, link to new mixer pads (each audio branch to its track's mixer) and
//!    unblock.
//!    The video branch's input also hands the captions inside the decoded video
//!    (`GstVideoCaptionMeta`) to the channel's caption feed
//!    ([`CaptionFeed::take_embedded`](super::captions::CaptionFeed::take_embedded)).
//! 4. Probes on each decoder's input and each branch's input count what the source delivers,
//!    and note when it delivered all the slot needs (a source that stops is told from a
//!    starved box by them, [`super::watchdog`]). On video, the branch's input probe drops
//!    frames that are already too late for the mixer and tells the decoder (QoS) so it skips
//!    work: a busy box shows fewer frames of the item instead of none.
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

use super::colours::ColourMatrix;
use super::landing::Landing;
use super::leveller::{self, Level, Measured, MeasuredSlot};
use super::pipeline::{ChannelPipeline, PipelineError, make, named_queue};
use super::reaper::Reaper;
use super::timeline::Placement;
use super::tracks::{self, TrackFeed};
use crate::elements::DISCARD;
use crate::elements::{
    AUDIOCONVERT, AUDIORESAMPLE, CAPSFILTER, DEINTERLACE, TEE, URIDECODEBIN, VIDEOCONVERT, VIDEORATE, VIDEOSCALE,
};
use crate::lineup::Language;

/// Raw audio a branch queues ahead of its mixer (ns).
const BRANCH_QUEUE_NS: u64 = 500_000_000;
/// A pad held at its first buffer: its events before it (stream-start, caps, tags, segment) pass
/// on, to a peer or, on a pad not linked yet, to be sent again once it is (`gst_pad_push_data`
/// checks the sticky events after the block). Decoded audio pads wait so for
/// [`ItemBin::go_live`], with their tags read; the video branch, with its first frame ready.
const HELD_AT_FIRST_BUFFER: gst::PadProbeType =
    gst::PadProbeType::BLOCK.union(gst::PadProbeType::BUFFER).union(gst::PadProbeType::BUFFER_LIST);
/// A video frame this late for the mixer is dropped before it is converted.
const LATE_DROP_NS: u64 = 40_000_000;
/// The decoder is told about lateness at most this often.
const QOS_EVERY_NS: u64 = 100_000_000;
/// The most lateness a decoder is told of: see [`qos_diff`].
const QOS_MAX_DIFF_NS: u64 = 100_000_000;
/// While every frame of an item comes too late, one is still shown this often (mixer running
/// time), re-timed to the output: see [`Retimer`].
const LATE_SHOW_EVERY_NS: u64 = 250_000_000;
/// How far ahead of the mixer's output position a late frame is re-timed (ns).
const LATE_SHOW_AHEAD_NS: u64 = 100_000_000;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Video,
    Audio,
}

/// One branch, built with the bin.
struct Branch {
    kind: Kind,
    /// The channel audio track it feeds (0 for video).
    track: usize,
    /// A copy of the main audio (fed from the main branch's tee), not a decoded stream.
    copy: bool,
    /// The branch's first sink pad (a decoded pad, or the tee, links here).
    input: gst::Pad,
    /// The branch's last pad (ghosted to a mixer): video's capsfilter, audio's queue.
    out: gst::Pad,
    block: Option<gst::PadProbeId>,
    /// A decoded pad was linked to it.
    linked: Arc<AtomicBool>,
}

/// Progress shared with the streaming threads.
#[derive(Default)]
pub struct Progress {
    /// Furthest running time (ns, item-relative, before the offset) that left a branch, or
    /// that the output passed while its frame was dropped as too late.
    pub played_ns: AtomicU64,
    /// A branch saw EOS before its cut (media shorter than the slot).
    pub ended_early: AtomicBool,
    /// Branches that finished (cut or EOS).
    pub finished: AtomicU64,
    /// Branches with a decoded stream linked.
    pub branches: AtomicU64,
    /// Buffers the source delivered: into the decoders (encoded) and into the branches
    /// (decoded, late ones included). What tells a source that stopped from one that is merely
    /// slow: on a starved box a decoder told about lateness (QoS) decodes and drops its late
    /// pictures, and for seconds delivers nothing decoded while its source is fine.
    pub delivered: AtomicU64,
    /// Video frames dropped because they were too late for the mixer (a starved box).
    pub late_dropped: AtomicU64,
    /// Late video frames shown anyway, re-timed to the output (see [`add_input_probe`]).
    pub late_shown: AtomicU64,
    /// Sound (ns) that aired moved later than its time, its decoder behind (see
    /// [`SoundShift`]).
    pub late_sound_ns: AtomicU64,
    /// Sound (ns) skipped to get back on time once the decoder caught up.
    pub skipped_sound_ns: AtomicU64,
    /// Branches the source delivered into.
    pub inputs: AtomicU64,
    /// ... of which the source delivered all the slot asks for (to the cut, or to its end).
    pub inputs_done: AtomicU64,
    /// Decoders that took in encoded data.
    pub decoders: AtomicU64,
    /// ... of which took in all the slot asks for (to the cut, or to the media's end).
    pub decoders_done: AtomicU64,
}

impl Progress {
    /// The source delivered everything the slot needs into every branch it feeds: from here
    /// on it delivers nothing, and that is no stall (on a starved box the output may be
    /// seconds behind what the source delivered).
    pub fn source_done(&self) -> bool {
        let inputs = self.inputs.load(Ordering::SeqCst);
        (inputs > 0 && self.inputs_done.load(Ordering::SeqCst) >= inputs) || self.encoded_done()
    }

    /// Every decoder took in all the encoded data the slot needs: the source's part is done,
    /// and what has not reached the branches yet is in the decoders. On a starved box a
    /// decoder told it is late (QoS) decodes its last frames and drops them (it drops up to
    /// twice its lateness ahead, `gstvideodecoder.c`), so nothing more comes out of it; that
    /// is a late decoder, not a source that stopped (a 5 s spot failed as stalled 2 s before
    /// its end, issue #21).
    pub fn encoded_done(&self) -> bool {
        let decoders = self.decoders.load(Ordering::SeqCst);
        decoders > 0 && self.decoders_done.load(Ordering::SeqCst) >= decoders
    }
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
    /// The decoded audio pads, waiting for [`Self::go_live`] to link them.
    audio: Arc<Mutex<AudioPads>>,
    /// The main branch's tee (channels with more than one audio track).
    tee: Option<gst::Element>,
    /// What the main track's leveller measured (items played with the on-air control).
    measured: MeasuredSlot,
    /// The seek to the media offset and where it lands (items that start past 0).
    landing: Option<Arc<Landing>>,
}

/// Decoded audio pads as `pad-added` found them, and when the item is ready.
#[derive(Default)]
struct AudioPads {
    /// Each pad, its block probe, and whether its first buffer (or its end) reached it.
    pads: Vec<(gst::Pad, Option<gst::PadProbeId>, bool)>,
    no_more_pads: bool,
    ready_sent: bool,
}

impl AudioPads {
    /// Send [`ItemEvent::Ready`] (or `Failed`: nothing to play) once every pad is known and
    /// primed.
    fn check(&mut self, serial: u64, progress: &Progress, events: &UnboundedSender<ItemEvent>) {
        if self.ready_sent || !self.no_more_pads || !self.pads.iter().all(|p| p.2) {
            return;
        }
        self.ready_sent = true;
        if progress.branches.load(Ordering::SeqCst) == 0 && self.pads.is_empty() {
            let _ = events.send(ItemEvent::Failed(serial, "no playable audio or video stream".into()));
        } else {
            let _ = events.send(ItemEvent::Ready(serial));
        }
    }
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
        level: Level,
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
        let landing = (placement.media_ns > 0).then(|| Arc::new(Landing::new(serial, &placement)));
        set_up_decoders(&bin, progress.clone(), slot_ns, placement.joined, landing.clone());

        let (video, scaled) = build_video_branch(&bin, pipeline.video_caps())?;
        // Captions inside the source video, as decoded, before videorate repeats or drops
        // frames: on the channel's time (the ghost pad's offset is the air running time).
        pipeline.captions().take_embedded(&video.0, serial, placement.air_ns);
        let audio = build_audio_branches(&bin, pipeline.audio_caps(), pipeline.audio_track_count())?;
        let mut outputs = vec![(Kind::Video, 0, false, video)];
        for (track, copy, pads) in audio.branches.iter().cloned() {
            outputs.push((Kind::Audio, track, copy, pads));
        }
        let mut branches = Vec::with_capacity(outputs.len());
        for (kind, track, copy, (input, out)) in outputs {
            // Video: a frame ready to air, the decoder waiting on it.
            let held = match kind {
                Kind::Video => HELD_AT_FIRST_BUFFER,
                Kind::Audio => gst::PadProbeType::BLOCK_DOWNSTREAM,
            };
            let block = out.add_probe(held, |_, _| gst::PadProbeReturn::Ok);
            add_cut_probe(&out, kind, slot_ns, progress.clone(), serial, events.clone());
            if !copy {
                let late = Late {
                    serial,
                    position: match kind {
                        Kind::Video => pipeline.output_position(),
                        Kind::Audio => pipeline.sound_position(track),
                    },
                    air_ns: placement.air_ns,
                    gate: pipeline.gate(),
                    picture: kind == Kind::Video,
                };
                add_input_probe(&input, progress.clone(), slot_ns, late);
            }
            branches.push(Branch { kind, track, copy, input, out, block, linked: Arc::default() });
        }
        for (meter, gain_pads, report) in audio.levels {
            leveller::attach(level, &meter, &gain_pads, report);
        }
        let audio_pads: Arc<Mutex<AudioPads>> = Arc::default();

        {
            let video = branches.iter().find(|b| b.kind == Kind::Video).expect("video branch");
            let (vinput, vlinked) = (video.input.clone(), video.linked.clone());
            let progress = progress.clone();
            let events = events.clone();
            let vcaps = pipeline.video_caps().clone();
            let audio_pads = audio_pads.clone();
            decode.connect_pad_added(move |_, pad| {
                let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
                let name = caps.structure(0).map(|s| s.name().as_str().to_owned()).unwrap_or_default();
                if name.starts_with("audio/") {
                    hold_audio_pad(pad, &audio_pads, serial, &progress, &events);
                    return;
                }
                if !name.starts_with("video/") || vlinked.load(Ordering::SeqCst) {
                    discard(pad);
                    return;
                }
                // Properties may be set from any thread; the scaler's caps follow the
                // source's colours (see `scaled_caps`).
                let narrowed = scaled_caps(&caps, &vcaps).unwrap_or_else(|| scaled_caps_template(&vcaps));
                scaled.set_property("caps", narrowed);
                match pad.link(&vinput) {
                    Ok(_) => {
                        vlinked.store(true, Ordering::SeqCst);
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
            let audio_pads = audio_pads.clone();
            decode.connect_no_more_pads(move |_| {
                let mut st = audio_pads.lock().expect("audio pads lock");
                st.no_more_pads = true;
                st.check(serial, &progress, &events);
            });
        }
        pipeline.pipeline.add(&bin).map_err(|source| PipelineError::Setup { what: "add item bin", source })?;
        let this = Self {
            serial,
            placement,
            bin,
            branches,
            mixer_pads: Vec::new(),
            progress,
            live: false,
            audio: audio_pads,
            tee: audio.tee,
            measured: audio.measured,
            landing,
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

    /// Seek to the placement's media position (if not 0), ghost and link the linked branches
    /// to the mixers with the air offset, and unblock. Actor thread only, after
    /// [`ItemEvent::Ready`].
    pub fn go_live(&mut self, pipeline: &ChannelPipeline) -> Result<(), PipelineError> {
        self.link_audio(pipeline)?;
        let linked: Vec<usize> =
            (0..self.branches.len()).filter(|&i| self.branches[i].linked.load(Ordering::SeqCst)).collect();
        // Items that start past 0 in their media have a landing.
        if let Some(landing) = &self.landing
            && let Some(&first) = linked.first()
            && !landing.seek(self.bin.upcast_ref(), &self.branches[first].out)
        {
            tracing::warn!(item = self.serial, "media is not seekable: playing it from the start");
        }
        // Whether the item has sound of its own on the main track (a cold output waits for it).
        let sound = linked.iter().any(|&i| self.branches[i].kind == Kind::Audio && self.branches[i].track == 0);
        for &i in &linked {
            let b = &self.branches[i];
            let name = match b.kind {
                Kind::Video => "video".to_owned(),
                Kind::Audio => format!("audio_{}", b.track),
            };
            let ghost = gst::GhostPad::builder_with_target(&b.out)
                .map_err(|source| PipelineError::Setup { what: "ghost pad", source })?
                .name(name)
                .build();
            ghost.set_offset(self.placement.air_ns as i64);
            ghost.set_active(true).map_err(|source| PipelineError::Setup { what: "activate ghost pad", source })?;
            self.bin.add_pad(&ghost).map_err(|source| PipelineError::Setup { what: "add ghost pad", source })?;
            let mixer_pad = match b.kind {
                Kind::Video => pipeline.request_item_video_pad(self.serial, sound)?,
                Kind::Audio => pipeline.request_program_audio_pad(b.track)?,
            };
            if let Some(landing) = &self.landing {
                landing.keep_flushes_off(&b.out);
            }
            let linked = ghost.link(&mixer_pad);
            self.mixer_pads.push(mixer_pad);
            linked.map_err(|source| PipelineError::Link { what: "item to mixer", source })?;
        }
        for &i in &linked {
            if let Some(id) = self.branches[i].block.take() {
                self.branches[i].out.remove_probe(id);
            }
        }
        self.unblock_audio_pads();
        self.live = true;
        Ok(())
    }

    /// Link each audio track's branch to its feed (see [`tracks::choose`]) and drop the
    /// decoded audio streams no track plays. Their block probes stay until the end of
    /// [`Self::go_live`].
    fn link_audio(&mut self, pipeline: &ChannelPipeline) -> Result<(), PipelineError> {
        let pads: Vec<gst::Pad> =
            self.audio.lock().expect("audio pads lock").pads.iter().map(|p| p.0.clone()).collect();
        let languages: Vec<Option<Language>> = pads.iter().map(pad_language).collect();
        let feeds = tracks::choose(pipeline.audio_tracks(), &languages);
        tracing::debug!(item = self.serial, ?languages, ?feeds, "audio tracks");
        let mut used = vec![false; pads.len()];
        for (track, feed) in feeds.into_iter().enumerate() {
            let copy = match feed {
                TrackFeed::Silence => continue,
                TrackFeed::Stream(_) => false,
                TrackFeed::MainCopy => true,
            };
            let Some(b) = self.branches.iter().find(|b| b.kind == Kind::Audio && b.track == track && b.copy == copy)
            else {
                continue;
            };
            let result = match (feed, &self.tee) {
                (TrackFeed::Stream(j), _) => {
                    used[j] = true;
                    pads[j].link(&b.input).map(|_| ())
                }
                (_, Some(tee)) => {
                    let src = tee
                        .request_pad_simple("src_%u")
                        .ok_or_else(|| PipelineError::Setup { what: "tee pad", source: glib::bool_error!("no pad") })?;
                    src.link(&b.input).map(|_| ())
                }
                _ => continue,
            };
            result.map_err(|source| PipelineError::Link { what: "audio stream to its track", source })?;
            b.linked.store(true, Ordering::SeqCst);
            self.progress.branches.fetch_add(1, Ordering::SeqCst);
        }
        for (pad, used) in pads.iter().zip(used) {
            if !used {
                discard(pad);
            }
        }
        Ok(())
    }

    /// Let the decoded audio pads' data through (linked ones into their branches, the others
    /// into their discard probes).
    fn unblock_audio_pads(&mut self) {
        let mut st = self.audio.lock().expect("audio pads lock");
        for (pad, block, _) in st.pads.iter_mut() {
            if let Some(id) = block.take() {
                pad.remove_probe(id);
            }
        }
    }

    /// What the item's on-air loudness control measured so far (`None` for an item played
    /// at a static gain).
    pub fn measured(&self) -> Option<Measured> {
        *self.measured.lock().expect("measured lock")
    }

    /// All linked branches reached their cut or end.
    pub fn is_finished(&self) -> bool {
        let built = self.progress.branches.load(Ordering::SeqCst);
        built > 0 && self.progress.finished.load(Ordering::SeqCst) >= built
    }

    /// Log how much of the item came too late for the mixers (a starved box), if any.
    pub fn log_lateness(&self) {
        let (dropped, shown) =
            (self.progress.late_dropped.load(Ordering::Relaxed), self.progress.late_shown.load(Ordering::Relaxed));
        if dropped > 0 || shown > 0 {
            tracing::info!(
                item = self.serial,
                dropped,
                shown,
                "item's frames came late for the mixer: dropped, or shown re-timed"
            );
        }
        let late_ms = self.progress.late_sound_ns.load(Ordering::Relaxed) / 1_000_000;
        let skipped_ms = self.progress.skipped_sound_ns.load(Ordering::Relaxed) / 1_000_000;
        if late_ms > 0 || skipped_ms > 0 {
            tracing::info!(
                item = self.serial,
                late_ms,
                skipped_ms,
                "item's sound came late for the mixer: aired moved later, then skipped to its time"
            );
        }
    }

    /// Take the item off: its branches unblocked, then the reaper brings the bin to NULL,
    /// releases its mixer pads and removes it from the pipeline, on its own thread. Actor
    /// thread only.
    pub fn retire(mut self, pipeline: &ChannelPipeline, reaper: &Reaper) {
        self.log_lateness();
        // Unblock branches so their threads can leave (the bin is going down anyway).
        for b in &mut self.branches {
            if let Some(id) = b.block.take() {
                b.out.remove_probe(id);
            }
        }
        self.unblock_audio_pads();
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
    let out = chain.last().expect("branch").static_pad("src").expect("src pad");
    Ok((input, out))
}

/// The queue of each audio track's branch of an item (the track's number follows; see
/// [`named_queue`]).
pub(crate) const SOUND_QUEUE: &str = "sound";
/// The queue of each other track's copy of an item's main sound (the track's number follows).
pub(crate) const COPY_QUEUE: &str = "copy";

/// The queue of an audio branch, called `name` (its thread `name:src`, see [`named_queue`]).
fn branch_queue(name: &str) -> Result<gst::Element, PipelineError> {
    let queue = named_queue(name)?;
    // How far an audio branch decodes ahead of its mixer: the on-air loudness control's
    // look-ahead (the meter before the queue, the gain after it, `leveller`).
    queue.set_property("max-size-time", BRANCH_QUEUE_NS);
    queue.set_property("max-size-buffers", 0u32);
    queue.set_property("max-size-bytes", 0u32);
    Ok(queue)
}

/// The video branch (its input and output pads) and its scaler's capsfilter, whose caps the
/// `pad-added` handler narrows to the source's colorimetry.
///
/// No queue: the decoder's thread (decodebin's multiqueue) converts each frame and pushes it
/// into the compositor's pad, which takes up to the mixers' latency (200 ms, six SD frames)
/// ahead of the output: that is how far the branch decodes ahead. A queue of 0.5 s here held
/// 15 more raw frames per item (7 MB for SD; 21 in all with the compositor's), and a
/// prerolled next item a full queue, and cost a thread and a hand-over per frame.
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
    // The colour matrix in place where it can (8-bit 4:2:0), `videoconvert` for the rest.
    let channel = gst_video::VideoInfo::from_caps(caps)
        .map_err(|source| PipelineError::Setup { what: "channel caps", source })?;
    let matrix = ColourMatrix::new(channel.colorimetry()).upcast();
    let rate = make(VIDEORATE)?;
    owned_frames(&rate.static_pad("sink").expect("sink pad"));
    let chain = [
        make(VIDEOCONVERT)?,
        make(DEINTERLACE)?,
        make(VIDEOCONVERT)?,
        scale,
        scaled.clone(),
        matrix,
        make(VIDEOCONVERT)?,
        rate,
        out_caps,
    ];
    Ok((add_started(bin, &chain)?, scaled))
}

/// Hands `videorate` each frame in a buffer of its own that wraps the pool's frame, so the
/// pool upstream gets its frame back whole once the last copy downstream is done with it.
///
/// `videorate` keeps the previous frame and pushes it again made writable: a new buffer
/// sharing the frame's memory (gstvideorate.c, `gst_video_rate_flush_prev`). When its own
/// reference goes back to the pool while that copy still sits in the encoder's queue, the
/// memory is not writable and the pool throws the frame away (`GST_PERFORMANCE`: "memory
/// not writable"), so every frame was allocated anew: a 460,800-byte SD frame each time,
/// with the daemon's fixed 64 KB mmap threshold an mmap, ~113 page faults and an munmap per
/// frame. Wrapped, the shared memory is the wrapper's; the pool's buffer is released, with
/// its memory its own, when the wrapper's last copy is dropped. Single-block system memory
/// only: anything else (a hardware decoder's DMA buffers, say) passes as it is.
fn owned_frames(sink: &gst::Pad) {
    sink.add_probe(gst::PadProbeType::BUFFER, |_, info| {
        let Some(gst::PadProbeData::Buffer(frame)) = info.data.as_ref() else { return gst::PadProbeReturn::Ok };
        if frame.n_memory() != 1 || !frame.peek_memory(0).is_type(SYSTEM_MEMORY) {
            return gst::PadProbeReturn::Ok;
        }
        let Some(gst::PadProbeData::Buffer(frame)) = info.data.take() else { unreachable!("matched above") };
        let mut owned = gst::Buffer::new();
        let copied = frame.copy_into(
            owned.get_mut().expect("new buffer"),
            gst::BufferCopyFlags::FLAGS | gst::BufferCopyFlags::TIMESTAMPS | gst::BufferCopyFlags::META,
            ..,
        );
        info.data = Some(gst::PadProbeData::Buffer(match (copied, frame.into_mapped_buffer_readable()) {
            (Ok(()), Ok(mapped)) => {
                owned.get_mut().expect("new buffer").append_memory(gst::Memory::from_slice(mapped));
                owned
            }
            (_, Ok(mapped)) => mapped.into_buffer(),
            (_, Err(frame)) => frame,
        }));
        gst::PadProbeReturn::Ok
    });
}

/// The memory type of GStreamer's default allocator (`GST_ALLOCATOR_SYSMEM`).
const SYSTEM_MEMORY: &str = "SystemMemory";

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

/// The audio branches of an item: (track, copy, (input, out)) each, the main track's tee and
/// the main leveller's measurement.
struct AudioBranches {
    branches: Vec<(usize, bool, (gst::Pad, gst::Pad))>,
    tee: Option<gst::Element>,
    measured: MeasuredSlot,
    /// Where each track's level goes: (meter pad, gain pads, report), for
    /// [`leveller::attach`] once the outputs' block probes are in place (a probe added
    /// after the block runs once the block is lifted, on data that will air).
    levels: Vec<(gst::Pad, Vec<gst::Pad>, MeasuredSlot)>,
}

/// One `audioconvert ! audioresample ! capsfilter ! queue` per channel audio track (the main
/// one with a `tee` before its queue when there are more tracks), a queue per other track
/// for a copy of the main audio, and the item's level on each (see [`leveller::attach`]).
fn build_audio_branches(bin: &gst::Bin, caps: &gst::Caps, tracks: usize) -> Result<AudioBranches, PipelineError> {
    let mut branches = Vec::with_capacity(2 * tracks);
    let mut copies = Vec::new();
    for track in 1..tracks {
        let queue = branch_queue(&format!("{COPY_QUEUE}{track}"))?;
        bin.add(&queue).map_err(|source| PipelineError::Setup { what: "add copy queue", source })?;
        let input = queue.static_pad("sink").expect("sink pad");
        let out = queue.static_pad("src").expect("src pad");
        copies.push((track, true, (input, out)));
    }
    let mut tee = None;
    let measured = MeasuredSlot::default();
    let mut levels = Vec::with_capacity(tracks);
    for track in 0..tracks {
        let filter = make(CAPSFILTER)?;
        filter.set_property("caps", caps);
        let meter = filter.static_pad("src").expect("src pad");
        let mut chain = vec![make(AUDIOCONVERT)?, make(AUDIORESAMPLE)?, filter];
        if track == 0 && tracks > 1 {
            let t = make(TEE)?;
            t.set_property("allow-not-linked", true);
            chain.push(t.clone());
            tee = Some(t);
        }
        chain.push(branch_queue(&format!("{SOUND_QUEUE}{track}"))?);
        let (input, out) = add_started(bin, &chain)?;
        // The main track's level also applies to its copies; the report is the item's.
        let mut gain_pads = vec![out.clone()];
        let report = if track == 0 {
            gain_pads.extend(copies.iter().map(|(_, _, (_, out))| out.clone()));
            measured.clone()
        } else {
            MeasuredSlot::default()
        };
        levels.push((meter, gain_pads, report));
        branches.push((track, false, (input, out)));
    }
    branches.extend(copies);
    Ok(AudioBranches { branches, tee, measured, levels })
}

/// Block a decoded audio pad at its first buffer (its tags, with the language, have passed
/// by then) and note it; the actor links it in [`ItemBin::go_live`].
fn hold_audio_pad(
    pad: &gst::Pad,
    audio: &Arc<Mutex<AudioPads>>,
    serial: u64,
    progress: &Arc<Progress>,
    events: &UnboundedSender<ItemEvent>,
) {
    let mut st = audio.lock().expect("audio pads lock");
    let index = st.pads.len();
    let primed = {
        let (audio, progress, events) = (audio.clone(), progress.clone(), events.clone());
        move || {
            let mut st = audio.lock().expect("audio pads lock");
            if let Some(p) = st.pads.get_mut(index) {
                p.2 = true;
            }
            st.check(serial, &progress, &events);
        }
    };
    let on_eos = primed.clone();
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(ev)) = &info.data
            && ev.type_() == gst::EventType::Eos
        {
            on_eos();
        }
        gst::PadProbeReturn::Ok
    });
    let block = pad.add_probe(HELD_AT_FIRST_BUFFER, move |_, _| {
        primed();
        gst::PadProbeReturn::Ok
    });
    st.pads.push((pad.clone(), block, false));
}

/// The language of a decoded stream: its tags' `language-code`, else its stream's tags.
fn pad_language(pad: &gst::Pad) -> Option<Language> {
    let from_tags = |tags: &gst::TagListRef| tags.get::<gst::tags::LanguageCode>().and_then(|v| v.get().parse().ok());
    (0..4).filter_map(|i| pad.sticky_event::<gst::event::Tag>(i)).find_map(|ev| from_tags(ev.tag())).or_else(|| {
        let start = pad.sticky_event::<gst::event::StreamStart>(0)?;
        let tags = start.stream()?.tags()?;
        from_tags(&tags)
    })
}

/// Set up each decoder `uridecodebin` plugs into `bin`: count what it takes in, and note when
/// it took in all the slot asks of it (`slot_ns`: encoded data to the cut, or the media's end);
/// libav's decoders decode into memory of their own ([`without_direct_rendering`]) and show
/// only whole pictures ([`whole_pictures_only`]).
///
/// An item `joined` in progress keeps libav's frame threads whatever its size
/// ([`one_thread_for_small_pictures`] is for the others): its decoder catches up from the
/// keyframe before the offset, which on a cold tune is the wait for the programme's first
/// picture. Cold tunes beside five playing SD channels (release, 2-core machine, 25 a run): with
/// one thread, 4 of 50 took 523-779 ms (one read in the log: a 720p spot joined 1 s past its
/// keyframe, its first picture 254 ms late for the mixer); joined items with frame threads, 0
/// of 50 over 500 ms (worst 365 ms).
fn set_up_decoders(bin: &gst::Bin, progress: Arc<Progress>, slot_ns: u64, joined: bool, landing: Option<Arc<Landing>>) {
    bin.connect_deep_element_added(move |_, _, element| {
        let is_decoder = element.factory().is_some_and(|f| f.klass().contains("Decoder"));
        let Some(sink) = element.static_pad("sink").filter(|_| is_decoder) else { return };
        // First: what the landing of a seek throws away reaches no other probe. Decoders
        // only: decodebin (a "Decoder" too) takes in the source's bytes.
        if let Some(landing) = landing.clone().filter(|_| !element.is::<gst::Bin>()) {
            let mask = gst::PadProbeType::EVENT_DOWNSTREAM | gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST;
            let index = landing.add_decoder();
            sink.add_probe(mask, move |_, info| landing.decoder_input(index, info));
        }
        without_direct_rendering(element);
        whole_pictures_only(element);
        if !joined {
            one_thread_for_small_pictures(element, &sink);
        }
        skip_unreferenced_frames_before_the_join(element, &sink);
        add_decoder_probe(&sink, progress.clone(), slot_ns);
    });
}

/// Sources of at most this many pixels a picture are decoded by one thread.
const ONE_THREAD_MAX_PIXELS: i64 = 1280 * 720;
/// Whether small sources are decoded by one thread: on x86-64, where one core decodes 720p
/// H.264 in about 4 ms a picture. ARM boards decode in hardware first; where an item falls back
/// to software there, one Cortex-A53/A72 core is near real time for 720p at best, so libav
/// keeps its frame threads until a board has been measured (README, "what only real hardware
/// can show").
const ONE_THREAD_FOR_SMALL_PICTURES: bool = cfg!(target_arch = "x86_64");

/// Give a libav video decoder one thread (`max-threads` 1) for a source of at most 720p, set
/// from the caps it is about to open with (a probe on its sink pad sees them before it does);
/// larger sources keep libav's frame threads, one per core. Frame threads each hold frames of
/// their own: a 720p source scaled to SD took 71 MB instead of 82 MB (peak RSS of the branch
/// in `gst-launch-1.0`) and 8% less CPU, at 4 ms a picture on one x86 core, about 13% of it in
/// real time. In the daemon, one SD channel of the memory benchmark's items: 87 MB added
/// instead of 105-111 MB (ffmpeg: 96-99 MB).
fn one_thread_for_small_pictures(decoder: &gst::Element, sink: &gst::Pad) {
    if !ONE_THREAD_FOR_SMALL_PICTURES || !decoder.has_property_with_type("max-threads", i32::static_type()) {
        return;
    }
    let decoder = decoder.downgrade();
    sink.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        let Some(gst::PadProbeData::Event(ev)) = &info.data else { return gst::PadProbeReturn::Ok };
        let gst::EventView::Caps(caps) = ev.view() else { return gst::PadProbeReturn::Ok };
        let pixels = caps
            .caps()
            .structure(0)
            .and_then(|s| Some(i64::from(s.get::<i32>("width").ok()?) * i64::from(s.get::<i32>("height").ok()?)));
        if let Some(decoder) = decoder.upgrade() {
            let threads = if pixels.is_some_and(|p| p <= ONE_THREAD_MAX_PIXELS) { 1 } else { 0 };
            decoder.set_property("max-threads", threads);
        }
        gst::PadProbeReturn::Ok
    });
}

/// While a libav video decoder works its way to a joined item's offset, it skips the frames no
/// other frame refers to.
///
/// Joining an item in progress seeks to its offset accurately: the decoder starts at the
/// keyframe before it and decodes every frame to the offset, shown or not (up to a source GOP:
/// 2 s of the benchmark's clips, 8 s of x264's defaults). That catching up is most of a cold
/// tune on a busy box (the joined item's first picture came 330-540 ms after its air time, the
/// next item's at once). Frames before the offset that no other frame refers to need not be
/// decoded at all: 124 of 300 frames of the benchmark's 720p clip (x264 veryfast), 35% of its
/// decoding time (`ffmpeg -threads 1 -skip_frame noref`: 0.47 instead of 0.72 CPU-s).
///
/// avviddec skips them while its input segment has the `TRICKMODE` flag (gst-libav
/// `gst_ffmpegviddec_do_qos`, 1.22/1.24: `AVDISCARD_NONREF`); its `skip-frame` property cannot
/// (its values are not libav's). So a join's segment (one starting past 0) reaches the decoder
/// with the flag, and the segment as it was follows just before the first frame, in decoding
/// order, shown at or past the offset. That frame is a reference frame (a frame nothing refers
/// to is shown before the reference frame decoded just ahead of it), so every frame from the
/// offset on is decoded in full (`a_joined_item_skips_unreferenced_frames_only_before_its_offset`).
fn skip_unreferenced_frames_before_the_join(decoder: &gst::Element, sink: &gst::Pad) {
    // Only libav's video decoders (the property marks them): hardware decoders are left alone.
    if decoder.find_property("skip-frame").is_none() {
        return;
    }
    #[derive(Default)]
    enum Join {
        #[default]
        None,
        /// Decoding toward `start` with the flag; `plain` is the segment to restore.
        CatchingUp { start: gst::ClockTime, plain: gst::Event },
        /// Restoring: the plain segment is on its way in.
        Restoring,
    }
    let join_state = Mutex::new(Join::None);
    sink.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |pad, info| {
        match &mut info.data {
            Some(gst::PadProbeData::Event(ev)) => {
                let gst::EventView::Segment(s) = ev.view() else { return gst::PadProbeReturn::Ok };
                let mut join = join_state.lock().expect("join lock");
                if matches!(*join, Join::Restoring) {
                    *join = Join::None;
                    return gst::PadProbeReturn::Ok;
                }
                *join = Join::None;
                let Some(segment) = s.segment().downcast_ref::<gst::ClockTime>() else {
                    return gst::PadProbeReturn::Ok;
                };
                let start = segment.start().unwrap_or(gst::ClockTime::ZERO);
                let trick = gst::SegmentFlags::TRICKMODE | gst::SegmentFlags::TRICKMODE_KEY_UNITS;
                if start.is_zero() || segment.rate() != 1.0 || segment.flags().intersects(trick) {
                    return gst::PadProbeReturn::Ok;
                }
                let mut flagged = segment.clone();
                flagged.set_flags(segment.flags() | gst::SegmentFlags::TRICKMODE);
                let plain = ev.clone();
                let seqnum = ev.seqnum();
                *ev = gst::event::Segment::builder(&flagged).seqnum(seqnum).build();
                *join = Join::CatchingUp { start, plain };
            }
            Some(gst::PadProbeData::Buffer(buffer)) => {
                let mut join = join_state.lock().expect("join lock");
                let Join::CatchingUp { start, .. } = &*join else { return gst::PadProbeReturn::Ok };
                // A frame without a PTS ends the catching up too: nothing is skipped by a guess.
                if buffer.pts().is_some_and(|pts| pts < *start) {
                    return gst::PadProbeReturn::Ok;
                }
                let Join::CatchingUp { plain, .. } = std::mem::replace(&mut *join, Join::Restoring) else {
                    unreachable!()
                };
                drop(join);
                pad.send_event(plain);
                // Whether or not it got in (a flush may race it), the next segment starts afresh.
                let mut join = join_state.lock().expect("join lock");
                if matches!(*join, Join::Restoring) {
                    *join = Join::None;
                }
            }
            _ => {}
        }
        gst::PadProbeReturn::Ok
    });
}

/// Turn off a libav video decoder's `direct-rendering` (gst-libav `gstavviddec.c`; other
/// decoders have no such property and are left alone). With it on, libav decodes into the
/// decoder's output buffers and keeps each reference picture's buffer, so `GstVideoDecoder`
/// must copy nearly every frame to stamp it (`gst_buffer_make_writable` in
/// `gst_video_decoder_finish_frame`), each copy a full source frame (3 MB for 1080p) of fresh
/// memory (the daemon's malloc settings map every frame-sized block afresh,
/// `director::allocator`): page faults on every frame. Off, avviddec copies each frame once
/// out of libav's pictures into buffers of its pool, reused. Measured (issue #17) on the SD
/// channel of the CPU benchmark with the daemon's malloc settings, 30 s, twice each: 354,000
/// -> 136,000 page faults, 14.5-15.2 -> 13.7-13.9 CPU-s per minute (debug build).
fn without_direct_rendering(decoder: &gst::Element) {
    if decoder.has_property_with_type("direct-rendering", bool::static_type()) {
        decoder.set_property("direct-rendering", false);
    }
}

/// Keep a libav video decoder's pictures from before it found a keyframe (or a recovery point)
/// to itself (`output-corrupt` off, gst-libav `gstavviddec.c`; other decoders have no such
/// property and are left alone). tsdemux reading a stream (an MPEG-TS item over HTTP) does not
/// look for a keyframe after a seek (its keyframe scan is for pull mode): a join lands anywhere
/// in the stream, and when no keyframe lies between there and the offset, libav decoded the
/// frames after it against pictures it never had. A TS with keyframes 8 s apart, joined over
/// HTTP, aired about 5 s of grey smears with the pattern's edges. With it off, libav waits for
/// the next keyframe, as ffmpeg does by default; meanwhile the sound plays and the picture
/// holds that keyframe's (the branch's `videorate` fills from the segment's start with its
/// first frame), then moves on from it. A decoder that has found one still shows later damaged
/// frames.
fn whole_pictures_only(decoder: &gst::Element) {
    if decoder.has_property_with_type("output-corrupt", bool::static_type()) {
        decoder.set_property("output-corrupt", false);
    }
}

/// The probe of [`set_up_decoders`] on one decoder's sink pad. A decoder counts from its
/// first buffer (one that decodebin tried and removed takes none).
fn add_decoder_probe(sink: &gst::Pad, progress: Arc<Progress>, slot_ns: u64) {
    #[derive(Default)]
    struct State {
        segment: Option<gst::FormattedSegment<gst::ClockTime>>,
        counted: bool,
        done: bool,
    }
    let state = Mutex::new(State::default());
    let mask = gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST | gst::PadProbeType::EVENT_DOWNSTREAM;
    sink.add_probe(mask, move |_, info| {
        let mut st = state.lock().expect("probe lock");
        let done = match info.event().map(|e| e.view()) {
            Some(gst::EventView::Segment(s)) => {
                st.segment = s.segment().downcast_ref::<gst::ClockTime>().cloned();
                // A new segment (the seek that joins an item in progress) starts the item's
                // running time again: what came before it counts for nothing.
                if std::mem::take(&mut st.done) {
                    progress.decoders_done.fetch_sub(1, Ordering::SeqCst);
                }
                false
            }
            Some(gst::EventView::Eos(_)) => st.counted,
            Some(_) => false,
            None => {
                progress.delivered.fetch_add(1, Ordering::Relaxed);
                if !std::mem::replace(&mut st.counted, true) {
                    progress.decoders.fetch_add(1, Ordering::SeqCst);
                }
                let last = info
                    .buffer()
                    .map(|b| b.as_ref())
                    .or_else(|| info.buffer_list().and_then(|l| l.get(l.len().checked_sub(1)?)));
                let end = last.and_then(|b| {
                    let rt = st.segment.as_ref()?.to_running_time(b.pts().or(b.dts())?)?;
                    Some(rt.nseconds() + b.duration().map_or(0, |d| d.nseconds()))
                });
                end.is_some_and(|end| end >= slot_ns)
            }
        };
        if done && !std::mem::replace(&mut st.done, true) {
            progress.decoders_done.fetch_add(1, Ordering::SeqCst);
        }
        gst::PadProbeReturn::Ok
    });
}

/// Count what the source delivers into a branch and note when it delivered all the slot asks
/// of it (`slot_ns`, or its end); on video (`late` = the mixer's output position and the item's
/// air offset) drop frames already too late for the mixer and tell the decoder, which then
/// skips decoding non-reference frames (QoS); on sound, move what comes too late ([`SoundShift`]).
///
/// A late frame is still shown where the item has shown nothing for [`LATE_SHOW_EVERY_NS`]
/// ([`Retimer`]). Without that, an item that opens on a starved box with every frame late never
/// reaches the mixer until its decoder catches up: the picture was black at the item change
/// (the outgoing item had left; 1.9-2.9 s measured in the squeezed loaded soak, issue #21).
/// With it, the item's pictures air at once, a few a second until the decoder is on time; the
/// timeline stays as scheduled.
fn add_input_probe(input: &gst::Pad, progress: Arc<Progress>, slot_ns: u64, late: Late) {
    #[derive(Default)]
    struct State {
        segment: Option<gst::FormattedSegment<gst::ClockTime>>,
        last_qos: Option<u64>,
        retimer: Retimer,
        shift: SoundShift,
        /// A buffer came (since the last segment).
        seen: bool,
        started: bool,
        done: bool,
    }
    impl State {
        fn start(&mut self, progress: &Progress) {
            if !self.started {
                self.started = true;
                progress.inputs.fetch_add(1, Ordering::SeqCst);
            }
        }
        fn finish(&mut self, progress: &Progress) {
            self.start(progress);
            if !self.done {
                self.done = true;
                progress.inputs_done.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let state = Mutex::new(State::default());
    input.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |pad, info| {
        if let Some(ev) = info.event() {
            match ev.view() {
                gst::EventView::Segment(s) => {
                    let mut st = state.lock().expect("probe lock");
                    st.segment = s.segment().downcast_ref::<gst::ClockTime>().cloned();
                    // A new segment (the seek that joins an item in progress) starts its running
                    // time again: what was let through before it says nothing about what follows.
                    st.retimer = Retimer::default();
                    st.shift = SoundShift::default();
                    st.seen = false;
                }
                gst::EventView::Eos(_) => state.lock().expect("probe lock").finish(&progress),
                _ => {}
            }
            return gst::PadProbeReturn::Ok;
        }
        progress.delivered.fetch_add(1, Ordering::Relaxed);
        let Some(buffer) = info.buffer() else { return gst::PadProbeReturn::Ok };
        let mut st = state.lock().expect("probe lock");
        st.start(&progress);
        let Some(rt) = st.segment.as_ref().zip(buffer.pts()).and_then(|(seg, pts)| seg.to_running_time(pts)) else {
            return gst::PadProbeReturn::Ok;
        };
        let rt = rt.nseconds();
        let duration = buffer.duration().map_or(0, |d| d.nseconds());
        let end = rt + duration;
        if end >= slot_ns {
            st.finish(&progress);
        }
        let Late { serial, position, air_ns, gate, picture } = &late;
        let out_rt = position.load(Ordering::Relaxed);
        let lateness = out_rt as i128 - (end + air_ns) as i128;
        if !std::mem::replace(&mut st.seen, true) {
            tracing::debug!(
                item = serial,
                picture,
                rt_ms = rt / 1_000_000,
                late_ms = (lateness / 1_000_000) as i64,
                "first decoded buffer at its branch"
            );
        }
        if !picture {
            if out_rt == 0 || !gate.decided() {
                return gst::PadProbeReturn::Ok;
            }
            return match st.shift.judge(rt, duration, *air_ns, out_rt) {
                (Verdict::AsItIs, _) => gst::PadProbeReturn::Ok,
                (Verdict::Retime(new_rt), discont) => {
                    let pts = st
                        .segment
                        .as_ref()
                        .and_then(|seg| seg.position_from_running_time(gst::ClockTime::from_nseconds(new_rt)));
                    match (pts, info.data.as_mut()) {
                        (Some(pts), Some(gst::PadProbeData::Buffer(buffer))) => {
                            let buffer = buffer.make_mut();
                            buffer.set_pts(pts);
                            buffer.set_dts(gst::ClockTime::NONE);
                            if discont {
                                buffer.set_flags(gst::BufferFlags::DISCONT);
                                tracing::debug!(
                                    item = serial,
                                    rt_ms = rt / 1_000_000,
                                    shift_ms = (new_rt - rt) / 1_000_000,
                                    late_ms = (lateness / 1_000_000) as i64,
                                    "item's sound jumps"
                                );
                            }
                            if new_rt != rt {
                                progress.late_sound_ns.fetch_add(duration, Ordering::Relaxed);
                            }
                            gst::PadProbeReturn::Ok
                        }
                        _ => DISCARD,
                    }
                }
                (Verdict::Drop, _) => {
                    progress.skipped_sound_ns.fetch_add(duration, Ordering::Relaxed);
                    DISCARD
                }
            };
        }
        let is_late = out_rt != 0 && lateness > LATE_DROP_NS as i128;
        let frame = Frame { rt, duration: if duration > 0 { duration } else { LATE_DROP_NS }, air_ns: *air_ns };
        // A channel starting cold holds its output until the first item's picture and sound
        // are both at their mixers (the gate): a re-timed picture would open it ahead of the
        // sound, which then aired late as silence. Nothing is on air before then to go black.
        let verdict = if gate.decided() {
            st.retimer.judge(frame, out_rt, is_late, slot_ns)
        } else if is_late {
            Verdict::Drop
        } else {
            Verdict::AsItIs
        };
        if is_late || verdict != Verdict::AsItIs {
            // The output has passed it with the item on air (its last frame held): played, for
            // the as-run log, though perhaps not shown.
            progress.played_ns.fetch_max(end.min(slot_ns), Ordering::SeqCst);
        }
        match verdict {
            Verdict::AsItIs => return gst::PadProbeReturn::Ok,
            Verdict::Retime(new_rt) => {
                let pts = st
                    .segment
                    .as_ref()
                    .and_then(|seg| seg.position_from_running_time(gst::ClockTime::from_nseconds(new_rt)));
                if let (Some(pts), Some(gst::PadProbeData::Buffer(buffer))) = (pts, info.data.as_mut()) {
                    let buffer = buffer.make_mut();
                    buffer.set_pts(pts);
                    buffer.set_dts(gst::ClockTime::NONE);
                    progress.late_shown.fetch_add(1, Ordering::Relaxed);
                    return gst::PadProbeReturn::Ok;
                }
            }
            Verdict::Drop => {}
        }
        progress.late_dropped.fetch_add(1, Ordering::Relaxed);
        if is_late && st.last_qos.is_none_or(|t| rt >= t + QOS_EVERY_NS || rt < t) {
            st.last_qos = Some(rt);
            drop(st);
            if let Some(diff) = qos_diff(lateness, rt, frame.duration, slot_ns) {
                let qos = gst::event::Qos::new(gst::QOSType::Underflow, 0.5, diff, gst::ClockTime::from_nseconds(rt));
                pad.push_event(qos);
            }
        }
        DISCARD
    });
}

/// The lateness to tell a video decoder about a frame `lateness_ns` late at item running time
/// `rt_ns` (frames of `frame_ns`, the slot ending at `slot_ns`); `None`: tell it nothing.
///
/// A decoder told a frame is `diff` late skips decoding non-reference frames and drops every
/// frame before `rt + 2 * diff + frame` (`GstVideoDecoder`'s QoS, 1.22/1.24). Told the whole
/// lateness, seconds on a starved box, avdec_h264 dropped up to 6.7 s ahead: items' last
/// seconds never reached the mixer, whose input then ended (EOS) with nothing in time to
/// hold, and the channel aired black to the next item (1.4 s and 2.8 s in a CI run's starved
/// channel). So the decoder is told at most [`QOS_MAX_DIFF_NS`], again every
/// [`QOS_EVERY_NS`] while frames stay late, and never so much that it would drop the slot's
/// last two frames: what comes late is then the probe's to drop or show ([`Retimer`]).
fn qos_diff(lateness_ns: i128, rt_ns: u64, frame_ns: u64, slot_ns: u64) -> Option<i64> {
    let room = slot_ns.saturating_sub(rt_ns + 3 * frame_ns) / 2;
    let diff = lateness_ns.min(QOS_MAX_DIFF_NS as i128).min(room as i128);
    (diff > 0).then_some(diff as i64)
}

/// What a branch input needs to tell late frames or sound: its mixer's output position, the
/// item's air offset on it, and the output's gate.
struct Late {
    /// The item's serial (for the log).
    serial: u64,
    /// The output position of the mixer the branch feeds (the compositor, or the branch's
    /// audio track's mixer).
    position: Arc<AtomicU64>,
    air_ns: u64,
    gate: Arc<super::pipeline::Gate>,
    /// A video branch (else sound: see [`SoundShift`]).
    picture: bool,
}

/// A decoded frame at a branch input: item running time and duration (ns), the item's offset
/// on the mixer.
#[derive(Clone, Copy, Debug)]
struct Frame {
    rt: u64,
    duration: u64,
    air_ns: u64,
}

/// What to do with a frame at a video branch input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Let it through with its own timestamp.
    AsItIs,
    /// Let it through at this item running time instead.
    Retime(u64),
    /// Drop it.
    Drop,
}

/// Shows late frames of a video branch a few times a second, re-timed ahead of the mixer.
///
/// A re-timed frame goes [`LATE_SHOW_AHEAD_NS`] ahead of the mixer's output position (the
/// branch converts and scales it on the way, on a box that is already late), and the frame
/// after it follows one frame later: `videorate` in the branch holds each frame until the next
/// one comes, so without its follower a re-timed frame would wait there for the next re-timed
/// one, 250 ms on, and reach the mixer too late. Frames behind a re-timed one (on time, as the
/// decoder catches up) are dropped, so timestamps never go backwards.
#[derive(Debug, Default)]
struct Retimer {
    /// Output position when a frame was last let through (for an on-time frame, its own
    /// mixer running time).
    shown_at_ns: Option<u64>,
    /// Item running time of the last re-timed frame: later frames must start after it.
    floor_ns: Option<u64>,
    /// The last frame let through was re-timed: the next one follows it.
    follow: bool,
}

impl Retimer {
    fn judge(&mut self, f: Frame, out_rt: u64, late: bool, slot_ns: u64) -> Verdict {
        let behind = self.floor_ns.is_some_and(|floor| f.rt <= floor);
        if self.follow {
            self.follow = false;
            let new_rt = match self.floor_ns {
                Some(floor) if late || behind => floor + f.duration,
                _ => f.rt,
            };
            if new_rt + f.duration <= slot_ns {
                self.floor_ns = Some(new_rt);
                return if new_rt == f.rt { Verdict::AsItIs } else { Verdict::Retime(new_rt) };
            }
        }
        if !late && !behind {
            self.shown_at_ns = Some(f.rt + f.air_ns);
            return Verdict::AsItIs;
        }
        let new_rt = (out_rt + LATE_SHOW_AHEAD_NS).saturating_sub(f.air_ns);
        let due = self.shown_at_ns.is_none_or(|shown| out_rt >= shown + LATE_SHOW_EVERY_NS);
        if late && due && new_rt + 2 * f.duration <= slot_ns && self.floor_ns.is_none_or(|floor| new_rt > floor) {
            self.shown_at_ns = Some(out_rt);
            self.floor_ns = Some(new_rt);
            self.follow = true;
            return Verdict::Retime(new_rt);
        }
        Verdict::Drop
    }
}

/// Moves an item's sound later while its decoder delivers it too late for the mixer, and back
/// to its time once the decoder has caught up.
///
/// The mixer drops sound it has passed: an item whose decoder fell behind on a starved box
/// aired silent until it caught up (seconds into a cold start: issue #21, a CI run's loaded
/// soak). Late sound is moved [`LATE_SHOW_AHEAD_NS`] ahead of the mixer's output position, as
/// late pictures are ([`Retimer`]), so the two stay together while they lag, and the sound is
/// continuous. Once sound comes in time unmoved, the shift ends: what was already aired of it
/// is skipped, once. Each jump is marked DISCONT, so the mixer places the sound at its new time
/// at once rather than after its discontinuity wait.
#[derive(Debug, Default)]
struct SoundShift {
    /// How much later than its time the sound goes out (ns).
    shift_ns: u64,
    /// End (item running time, as sent) of the sound let through so far.
    sent_end_ns: u64,
    /// The next buffer let through starts a jump.
    discont: bool,
}

impl SoundShift {
    /// What to do with the sound at item running time `rt` lasting `duration`, the item at
    /// `air_ns` on the mixer, whose output is at `out_rt`; and whether it starts a jump.
    fn judge(&mut self, rt: u64, duration: u64, air_ns: u64, out_rt: u64) -> (Verdict, bool) {
        let due = rt + air_ns;
        if self.shift_ns > 0 && due >= out_rt + LATE_SHOW_AHEAD_NS {
            self.shift_ns = 0;
            self.discont = true;
        }
        if rt + duration <= self.sent_end_ns && self.shift_ns == 0 {
            return (Verdict::Drop, false);
        }
        if due + self.shift_ns + duration <= out_rt {
            self.shift_ns = (out_rt + LATE_SHOW_AHEAD_NS).saturating_sub(due);
            self.discont = true;
        }
        let new_rt = rt + self.shift_ns;
        self.sent_end_ns = self.sent_end_ns.max(new_rt + duration);
        let discont = std::mem::take(&mut self.discont);
        match self.shift_ns {
            0 if !discont => (Verdict::AsItIs, false),
            _ => (Verdict::Retime(new_rt), discont),
        }
    }
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
    use gstreamer_app as gst_app;

    #[test]
    fn bin_names_carry_the_serial() {
        assert_eq!(serial_of(&bin_name(42)), Some(42));
        assert_eq!(serial_of("comp"), None);
    }

    const MS: u64 = 1_000_000;

    /// A branch input with [`add_input_probe`] on it, fed by a pad of our own: returns the
    /// (feeding pad, input), the PTS (ns) of what passed, the progress and the mixer position.
    #[allow(clippy::type_complexity)]
    /// A branch input's (source pad, probed pad), the PTS of what passed, the progress and the
    /// mixer position the probe reads.
    type Probed = ((gst::Pad, gst::Pad), Arc<Mutex<Vec<u64>>>, Arc<Progress>, Arc<AtomicU64>);

    fn probed_input(air_ns: u64, slot_ns: u64, held: bool) -> Probed {
        probed_branch(air_ns, slot_ns, held, true)
    }

    fn probed_branch(air_ns: u64, slot_ns: u64, held: bool, picture: bool) -> Probed {
        gst::init().unwrap();
        let passed = Arc::new(Mutex::new(Vec::new()));
        let sink = gst::Pad::builder(gst::PadDirection::Sink)
            .chain_function({
                let passed = passed.clone();
                move |_, _, buffer| {
                    passed.lock().unwrap().push(buffer.pts().unwrap().nseconds());
                    Ok(gst::FlowSuccess::Ok)
                }
            })
            .build();
        let src = gst::Pad::builder(gst::PadDirection::Src).build();
        src.link(&sink).unwrap();
        sink.set_active(true).unwrap();
        src.set_active(true).unwrap();
        let (progress, position) = (Arc::new(Progress::default()), Arc::new(AtomicU64::new(0)));
        let gate = Arc::new(super::super::pipeline::Gate::new("test", held));
        add_input_probe(
            &sink,
            progress.clone(),
            slot_ns,
            Late { serial: 1, position: position.clone(), air_ns, gate, picture },
        );
        assert!(src.push_event(gst::event::StreamStart::new("item")));
        assert!(src.push_event(gst::event::Caps::new(&gst::Caps::new_empty_simple("video/x-raw"))));
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        // Media time 100 s = the item's running time 0, as after a seek into the media.
        segment.set_start(gst::ClockTime::from_seconds(100));
        segment.set_time(gst::ClockTime::from_seconds(100));
        assert!(src.push_event(gst::event::Segment::new(&segment)));
        ((src, sink), passed, progress, position)
    }

    fn frame(pts_ns: u64) -> gst::Buffer {
        let mut b = gst::Buffer::new();
        let m = b.get_mut().unwrap();
        m.set_pts(gst::ClockTime::from_nseconds(pts_ns));
        m.set_duration(gst::ClockTime::from_nseconds(40 * MS));
        b
    }

    /// libav's video decoders run without direct rendering (no copy of every reference frame
    /// in `finish_frame`); decoders without the property (hardware ones, audio) are left as
    /// they are.
    #[test]
    fn libav_video_decoders_decode_into_their_own_memory() {
        gst::init().unwrap();
        let factory = |name| crate::elements::Factory::listed(name).unwrap().make().unwrap();
        let video = factory("avdec_h264");
        assert!(video.property::<bool>("direct-rendering"), "GStreamer's default");
        without_direct_rendering(&video);
        assert!(!video.property::<bool>("direct-rendering"));
        let audio = factory("avdec_aac");
        assert!(audio.find_property("direct-rendering").is_none());
        without_direct_rendering(&audio);
    }

    /// The PTS of every frame decoding `path` gives after an accurate seek to `offset`, through
    /// `uridecodebin` with [`set_up_decoders`] (`skip`) or without, and the flags of the segments
    /// that reached the video decoder.
    fn decode_from(path: &std::path::Path, offset: gst::ClockTime, skip: bool) -> (Vec<u64>, Vec<gst::SegmentFlags>) {
        use crate::elements::{APPSINK, URIDECODEBIN};
        let pipeline = gst::Pipeline::new();
        let bin = gst::Bin::new();
        let decode = URIDECODEBIN.make().unwrap();
        decode.set_property("uri", format!("file://{}", path.display()));
        let sink = APPSINK.make().unwrap().downcast::<gst_app::AppSink>().unwrap();
        sink.set_sync(false);
        bin.add_many([&decode, sink.upcast_ref()]).unwrap();
        pipeline.add(&bin).unwrap();
        if skip {
            set_up_decoders(&bin, Arc::new(Progress::default()), u64::MAX, false, None);
        }
        let flags = Arc::new(Mutex::new(Vec::new()));
        let seen = flags.clone();
        bin.connect_deep_element_added(move |_, _, element| {
            if element.find_property("skip-frame").is_none() {
                return;
            }
            let seen = seen.clone();
            element.static_pad("sink").unwrap().add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if let Some(gst::EventView::Segment(s)) = info.event().map(|e| e.view()) {
                    seen.lock().unwrap().push(s.segment().flags());
                }
                gst::PadProbeReturn::Ok
            });
        });
        let sink_pad = sink.static_pad("sink").unwrap();
        decode.connect_pad_added(move |_, pad| {
            if pad.current_caps().is_some_and(|c| c.structure(0).is_some_and(|s| s.name().starts_with("video/"))) {
                pad.link(&sink_pad).unwrap();
            }
        });
        let pts = Arc::new(Mutex::new(Vec::new()));
        let record = |sample: Result<gst::Sample, _>, pts: &Mutex<Vec<u64>>| {
            let sample = sample.map_err(|_| gst::FlowError::Eos)?;
            pts.lock().unwrap().push(sample.buffer().and_then(|b| b.pts()).map_or(u64::MAX, |t| t.nseconds()));
            Ok(gst::FlowSuccess::Ok)
        };
        let (on_sample, on_preroll) = (pts.clone(), pts.clone());
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| record(sink.pull_sample(), &on_sample))
                .new_preroll(move |sink| record(sink.pull_preroll(), &on_preroll))
                .build(),
        );
        pipeline.set_state(gst::State::Paused).unwrap();
        let bus = pipeline.bus().unwrap();
        let wait = |kind: gst::MessageType| {
            let msg = bus.timed_pop_filtered(gst::ClockTime::from_seconds(20), &[kind, gst::MessageType::Error]);
            assert!(msg.is_some_and(|m| m.type_() == kind), "waiting for {kind:?}");
        };
        wait(gst::MessageType::AsyncDone);
        pts.lock().unwrap().clear();
        pipeline.seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, offset).unwrap();
        wait(gst::MessageType::AsyncDone);
        pipeline.set_state(gst::State::Playing).unwrap();
        wait(gst::MessageType::Eos);
        pipeline.set_state(gst::State::Null).unwrap();
        let mut pts = pts.lock().unwrap().clone();
        pts.dedup();
        (pts, flags.lock().unwrap().clone())
    }

    /// Joined 1.5 s into a clip with B-frames and keyframes 2 s apart, the libav decoder has the
    /// trick-mode flag on its way to the offset and not from it on: every frame from the offset
    /// is decoded, the same frames from the same first one as without the skipping.
    #[test]
    fn a_joined_item_skips_unreferenced_frames_only_before_its_offset() {
        gst::init().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b-frames.mp4");
        let encode = crate::elements::launch(&format!(
            "videotestsrc num-buffers=150 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! \
             x264enc key-int-max=60 bframes=3 b-pyramid=true speed-preset=veryfast ! h264parse ! mp4mux ! \
             filesink location={}",
            path.display()
        ))
        .unwrap();
        encode.set_state(gst::State::Playing).unwrap();
        let bus = encode.bus().unwrap();
        let done =
            bus.timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos, gst::MessageType::Error]);
        assert!(done.is_some_and(|m| m.type_() == gst::MessageType::Eos));
        encode.set_state(gst::State::Null).unwrap();

        let offset = gst::ClockTime::from_mseconds(1_500);
        let (plain, plain_flags) = decode_from(&path, offset, false);
        let (skipping, flags) = decode_from(&path, offset, true);
        // From the offset (the clip's B-frames put its frames 2 frames later) to the end.
        let first = *plain.first().unwrap();
        assert!((offset.nseconds()..offset.nseconds() + 100_000_000).contains(&first), "{plain:?}");
        assert!(plain.windows(2).all(|w| w[1] - w[0] < 34_000_000), "every frame: {plain:?}");
        assert!(*plain.last().unwrap() >= 4_960_000_000, "to the end: {plain:?}");
        assert_eq!(skipping, plain, "the same frames from the offset on");
        assert!(plain_flags.iter().all(|f| !f.contains(gst::SegmentFlags::TRICKMODE)));
        let trick = flags.iter().position(|f| f.contains(gst::SegmentFlags::TRICKMODE));
        assert!(trick.is_some(), "the decoder caught up with the flag: {flags:?}");
        assert!(
            flags.last().is_some_and(|f| !f.contains(gst::SegmentFlags::TRICKMODE)),
            "and went on without it: {flags:?}"
        );
    }

    /// Start `decoder` and give its `sink` the caps of a `w`x`h` H.264 source (what the
    /// thread rules read).
    fn open_with_h264_caps(decoder: &gst::Element, sink: &gst::Pad, w: i32, h: i32) {
        decoder.set_state(gst::State::Paused).unwrap();
        assert!(sink.send_event(gst::event::StreamStart::new("test")));
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .field("width", w)
            .field("height", h)
            .build();
        sink.send_event(gst::event::Caps::new(&caps));
    }

    /// A libav video decoder opens with one thread for a source of at most 720p and with its
    /// frame threads (0: one per core) for a larger one, from the caps it is given.
    #[test]
    fn libav_decodes_small_pictures_on_one_thread() {
        gst::init().unwrap();
        for ((w, h), one) in [((640, 480), true), ((1280, 720), true), ((1920, 1080), false)] {
            let decoder = crate::elements::Factory::listed("avdec_h264").unwrap().make().unwrap();
            let sink = decoder.static_pad("sink").unwrap();
            one_thread_for_small_pictures(&decoder, &sink);
            open_with_h264_caps(&decoder, &sink, w, h);
            let want = i32::from(one && ONE_THREAD_FOR_SMALL_PICTURES);
            assert_eq!(decoder.property::<i32>("max-threads"), want, "{w}x{h}");
            decoder.set_state(gst::State::Null).unwrap();
        }
    }

    /// The decoders of an item joined in progress keep libav's frame threads (their catching
    /// up is a cold tune's wait); the others' are set by the size of the source.
    #[test]
    fn a_joined_items_decoder_keeps_its_frame_threads() {
        gst::init().unwrap();
        for joined in [false, true] {
            let bin = gst::Bin::new();
            set_up_decoders(&bin, Arc::new(Progress::default()), u64::MAX, joined, None);
            let decoder = crate::elements::Factory::listed("avdec_h264").unwrap().make().unwrap();
            bin.add(&decoder).unwrap();
            let sink = decoder.static_pad("sink").unwrap();
            open_with_h264_caps(&decoder, &sink, 640, 480);
            let want = i32::from(!joined && ONE_THREAD_FOR_SMALL_PICTURES);
            assert_eq!(decoder.property::<i32>("max-threads"), want, "joined: {joined}");
            decoder.set_state(gst::State::Null).unwrap();
        }
    }

    /// A decoder's input: it has taken in all the slot needs once a buffer reaches the cut
    /// (or at EOS); the seek that joins an item in progress starts the reckoning again. Then
    /// the source is done, whatever the decoder has yet to put out (issue #21: a late decoder
    /// with all its input is not a stalled source).
    #[test]
    fn a_decoder_that_took_in_the_whole_slot_means_the_source_is_done() {
        // A decoder's sink pad (taking everything) with its probe, and the pad that feeds it.
        let decoder_input = |progress: &Arc<Progress>| {
            gst::init().unwrap();
            let sink = gst::Pad::builder(gst::PadDirection::Sink)
                .chain_function(|_, _, _| Ok(gst::FlowSuccess::Ok))
                .event_function(|_, _, _| true)
                .build();
            let src = gst::Pad::builder(gst::PadDirection::Src).build();
            src.link(&sink).unwrap();
            sink.set_active(true).unwrap();
            src.set_active(true).unwrap();
            add_decoder_probe(&sink, progress.clone(), 5_000 * MS);
            (src, sink)
        };
        let progress = Arc::new(Progress::default());
        let (src, _sink) = decoder_input(&progress);
        let segment_at = |secs: u64| {
            let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
            segment.set_start(gst::ClockTime::from_seconds(secs));
            segment.set_time(gst::ClockTime::from_seconds(secs));
            gst::event::Segment::new(&segment)
        };
        assert!(src.push_event(gst::event::StreamStart::new("item")));
        assert!(src.push_event(gst::event::Caps::new(&gst::Caps::new_empty_simple("video/x-h264"))));
        assert!(src.push_event(segment_at(0)));
        assert!(!progress.encoded_done(), "no decoder has taken anything yet");
        // Before the join seek: the media from its start, past the slot's length.
        for i in 0..150 {
            assert_eq!(src.push(frame(i * 40 * MS)), Ok(gst::FlowSuccess::Ok));
        }
        assert!(progress.encoded_done());
        // The seek joins the item 100 s in: its slot starts again at running time 0.
        assert!(src.push_event(gst::event::FlushStart::new()));
        assert!(src.push_event(gst::event::FlushStop::new(true)));
        assert!(src.push_event(segment_at(100)));
        assert!(!progress.encoded_done(), "what came before the seek counts for nothing");
        for i in 0..124 {
            assert_eq!(src.push(frame(100_000 * MS + i * 40 * MS)), Ok(gst::FlowSuccess::Ok));
        }
        assert!(!progress.encoded_done() && !progress.source_done(), "4.96 s of the 5 s slot");
        assert_eq!(src.push(frame(100_000 * MS + 124 * 40 * MS)), Ok(gst::FlowSuccess::Ok));
        assert!(progress.encoded_done() && progress.source_done(), "the frame that ends at the cut");
        assert_eq!(progress.decoders.load(Ordering::SeqCst), 1);
        assert_eq!(progress.delivered.load(Ordering::SeqCst), 275);

        // Media shorter than its slot: its EOS.
        let progress = Arc::new(Progress::default());
        let (src, _sink) = decoder_input(&progress);
        assert!(src.push_event(gst::event::StreamStart::new("item")));
        assert!(src.push_event(segment_at(0)));
        assert_eq!(src.push(frame(0)), Ok(gst::FlowSuccess::Ok));
        assert!(!progress.encoded_done());
        assert!(src.push_event(gst::event::Eos::new()));
        assert!(progress.encoded_done());
    }

    #[test]
    fn a_late_decoder_is_told_a_bounded_lateness_that_spares_the_slots_last_frames() {
        let frame = 33 * MS;
        let slot = 5_000 * MS;
        // Seconds late mid-item: told at most QOS_MAX_DIFF_NS, so it drops frames up to
        // rt + 233 ms, not rt + 2 x 3 s.
        assert_eq!(qos_diff(3_000 * MS as i128, 1_000 * MS, frame, slot), Some(QOS_MAX_DIFF_NS as i64));
        // A little late: told as it is.
        assert_eq!(qos_diff(60 * MS as i128, 1_000 * MS, frame, slot), Some(60 * MS as i64));
        // Near the end: what it may drop ends two frames before the slot does.
        let rt = slot - 300 * MS;
        let diff = qos_diff(3_000 * MS as i128, rt, frame, slot).unwrap() as u64;
        assert!(rt + 2 * diff + frame <= slot - 2 * frame, "drops up to {} ms", (rt + 2 * diff + frame) / MS);
        // In the last frames: not told at all.
        assert_eq!(qos_diff(3_000 * MS as i128, slot - 3 * frame, frame, slot), None);
        assert_eq!(qos_diff(3_000 * MS as i128, slot + frame, frame, slot), None);
        // Not late: nothing to tell.
        assert_eq!(qos_diff(-5 * MS as i128, 1_000 * MS, frame, slot), None);
    }

    /// An item whose decoder is 2 s late for the mixer from its first frame (a starved box at
    /// an item change): a frame airs at once and then one every ~250 ms, each re-timed 100 ms
    /// ahead of the mixer with the next frame right after it, instead of nothing (black)
    /// until the decoder catches up. Once it has, frames pass with their own timestamps,
    /// never behind a re-timed one.
    #[test]
    fn late_frames_still_show_a_few_a_second_re_timed_to_the_output() {
        let (air, media0) = (10_000 * MS, 100_000 * MS);
        let ((src, _input), passed, progress, position) = probed_input(air, 60_000 * MS, false);
        let shown = |passed: &Mutex<Vec<u64>>| -> Vec<u64> {
            std::mem::take(&mut *passed.lock().unwrap()).iter().map(|pts| (pts - media0) / MS).collect()
        };
        // The decoder keeps pace with the output, 2 s behind it: frame i (at 40i ms) comes
        // with the output at 2 s + 40i ms.
        for i in 0..=50 {
            position.store(air + 2_000 * MS + i * 40 * MS, Ordering::SeqCst);
            assert_eq!(src.push(frame(media0 + i * 40 * MS)), Ok(gst::FlowSuccess::Ok), "frame {i}");
        }
        // i = 0 at once (2.00 + 0.10 s) and i = 1 after it; then i = 7 (output 2.28 s, the
        // first >= 250 ms after 2.00) and 8; 14 and 15; ...
        assert_eq!(
            shown(&passed),
            [
                2_100, 2_140, 2_380, 2_420, 2_660, 2_700, 2_940, 2_980, 3_220, 3_260, 3_500, 3_540, 3_780, 3_820,
                4_060, 4_100
            ]
        );
        assert_eq!(progress.late_shown.load(Ordering::SeqCst), 16);
        assert_eq!(progress.late_dropped.load(Ordering::SeqCst), 35);
        // The decoder has caught up (the output at 4.10 s, frames from 4.02 s): on time, but
        // up to 4.10 s behind the last re-timed frame, so dropped; then each as it is.
        position.store(air + 4_100 * MS, Ordering::SeqCst);
        for i in 0..10 {
            assert_eq!(src.push(frame(media0 + 4_020 * MS + i * 40 * MS)), Ok(gst::FlowSuccess::Ok));
        }
        let expected: Vec<u64> = (3..10).map(|i| 4_020 + i * 40).collect();
        assert_eq!(shown(&passed), expected);
        assert_eq!(progress.late_shown.load(Ordering::SeqCst), 16);
    }

    /// A channel starting cold, its output held until the first item's picture and sound are
    /// at their mixers: late frames are dropped, none re-timed ahead of the sound.
    #[test]
    fn late_frames_are_not_re_timed_while_a_cold_start_holds_the_output() {
        let (air, media0) = (10_000 * MS, 100_000 * MS);
        let ((src, _input), passed, progress, position) = probed_input(air, 60_000 * MS, true);
        for i in 0..20 {
            position.store(air + 2_000 * MS + i * 40 * MS, Ordering::SeqCst);
            assert_eq!(src.push(frame(media0 + i * 40 * MS)), Ok(gst::FlowSuccess::Ok));
        }
        assert!(passed.lock().unwrap().is_empty());
        assert_eq!(progress.late_shown.load(Ordering::SeqCst), 0);
        assert_eq!(progress.late_dropped.load(Ordering::SeqCst), 20);
    }

    /// An item's decoder 1 s behind, then catching up at twice real time: its sound airs moved
    /// later, each buffer in time for the mixer and continuous, then skips back to its time
    /// once; two jumps in all.
    #[test]
    fn late_sound_airs_moved_later_then_skips_back_to_its_time() {
        const D: u64 = 20 * MS;
        let air = 10_000 * MS;
        let mut shift = SoundShift::default();
        assert_eq!(shift.judge(0, D, air, air - 300 * MS), (Verdict::AsItIs, false), "in time");
        let (mut jumps, mut skipped, mut sent_end, mut back) = (0, 0, D, None);
        for k in 1..400u64 {
            let rt = k * D;
            // The output is 1 s past buffer 1's time and gains 10 ms per buffer.
            let out = air + rt + 1_000 * MS - (k - 1) * 10 * MS;
            let (verdict, discont) = shift.judge(rt, D, air, out);
            jumps += u32::from(discont);
            match verdict {
                Verdict::Drop => skipped += D,
                v if back.is_none() => {
                    let new_rt = if let Verdict::Retime(t) = v { t } else { rt };
                    assert!(new_rt + air + D > out, "buffer {k} comes in time for the mixer");
                    if !discont {
                        assert_eq!(new_rt, sent_end, "buffer {k} follows the last");
                    }
                    if new_rt == rt {
                        back = Some(k);
                    }
                    sent_end = new_rt + D;
                }
                v => assert_eq!(v, Verdict::AsItIs, "buffer {k} after the shift ended"),
            }
        }
        let back = back.expect("back on time");
        assert_eq!(jumps, 2, "moved once, back once");
        // Moved by 1.1 s less the 10 ms the output gained by buffer 1; skipped about that much.
        assert!((1_040 * MS..=1_100 * MS).contains(&skipped), "skipped {} ms", skipped / MS);
        assert!(back < 200, "back on time at buffer {back}");
    }

    /// An item's sound through its branch input: late sound goes out moved ahead of the output;
    /// after the seek that joins an item in progress (a new segment, running time from 0 again),
    /// sound airs as it is, none of it taken for sound already let through.
    #[test]
    fn late_sound_goes_out_moved_and_a_seek_starts_the_reckoning_again() {
        let (air, media0) = (10_000 * MS, 100_000 * MS);
        let ((src, _input), passed, progress, position) = probed_branch(air, 60_000 * MS, false, false);
        let sent = |passed: &Mutex<Vec<u64>>| -> Vec<u64> { std::mem::take(&mut *passed.lock().unwrap()) };
        // 2 s late: moved to 100 ms ahead of the output, and contiguous after that.
        position.store(air + 2_000 * MS, Ordering::SeqCst);
        for i in 0..3 {
            assert_eq!(src.push(frame(media0 + i * 40 * MS)), Ok(gst::FlowSuccess::Ok));
        }
        let moved: Vec<u64> = (0..3).map(|i| media0 + 2_100 * MS + i * 40 * MS).collect();
        assert_eq!(sent(&passed), moved);
        assert_eq!(progress.late_sound_ns.load(Ordering::SeqCst), 120 * MS);
        // A warm channel joins the item 200 s in: prepared ahead, its sound in time.
        position.store(air - 1_000 * MS, Ordering::SeqCst);
        assert!(src.push_event(gst::event::FlushStart::new()));
        assert!(src.push_event(gst::event::FlushStop::new(true)));
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        segment.set_start(gst::ClockTime::from_seconds(200));
        segment.set_time(gst::ClockTime::from_seconds(200));
        assert!(src.push_event(gst::event::Segment::new(&segment)));
        let joined: Vec<u64> = (0..25).map(|i| 200_000 * MS + i * 40 * MS).collect();
        for &pts in &joined {
            assert_eq!(src.push(frame(pts)), Ok(gst::FlowSuccess::Ok));
        }
        assert_eq!(sent(&passed), joined, "the joined item's sound airs as it is");
        assert_eq!(progress.skipped_sound_ns.load(Ordering::SeqCst), 0);
    }

    /// A buffer pool that counts the frames it allocates.
    mod counting {
        use glib::subclass::prelude::*;
        use gstreamer::subclass::prelude::*;
        use std::sync::atomic::{AtomicU64, Ordering};

        glib::wrapper! {
            pub struct Pool(ObjectSubclass<Imp>) @extends gstreamer::BufferPool, gstreamer::Object;
        }

        #[derive(Default)]
        pub struct Imp {
            pub allocated: AtomicU64,
        }

        #[glib::object_subclass]
        impl ObjectSubclass for Imp {
            const NAME: &'static str = "RetrovueTestCountingPool";
            type Type = Pool;
            type ParentType = gstreamer::BufferPool;
        }

        impl ObjectImpl for Imp {}
        impl GstObjectImpl for Imp {}
        impl BufferPoolImpl for Imp {
            fn alloc_buffer(
                &self,
                params: Option<&gstreamer::BufferPoolAcquireParams>,
            ) -> Result<gstreamer::Buffer, gstreamer::FlowError> {
                self.allocated.fetch_add(1, Ordering::SeqCst);
                self.parent_alloc_buffer(params)
            }
        }

        impl Pool {
            pub fn allocated(&self) -> u64 {
                self.imp().allocated.load(Ordering::SeqCst)
            }
        }
    }

    /// 100 SD frames from a pool through `videorate` into a sink that keeps the last five: the
    /// pool's frames come back to it and it allocates a handful, not one per frame (which it
    /// does without [`owned_frames`]: `videorate`'s copies share the frame's memory).
    #[test]
    fn videorate_gives_the_pool_its_frames_back() {
        gst::init().unwrap();
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .field("width", 640)
            .field("height", 480)
            .field("framerate", gst::Fraction::new(30, 1))
            .build();
        let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
        let pool: counting::Pool = glib::Object::new();
        let mut config = pool.config();
        config.set_params(Some(&caps), info.size() as u32, 0, 0);
        pool.set_config(config).unwrap();
        pool.set_active(true).unwrap();

        let source = gst_app::AppSrc::builder().caps(&caps).format(gst::Format::Time).block(true).build();
        source.set_max_buffers(2);
        let rate = make(VIDEORATE).unwrap();
        owned_frames(&rate.static_pad("sink").unwrap());
        let sink = gst_app::AppSink::builder().max_buffers(5).drop(true).sync(false).build();
        let pipeline = gst::Pipeline::new();
        pipeline.add_many([source.upcast_ref(), &rate, sink.upcast_ref()]).unwrap();
        gst::Element::link_many([source.upcast_ref(), &rate, sink.upcast_ref()]).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        const FRAMES: u64 = 100;
        for n in 0..FRAMES {
            let mut frame = pool.acquire_buffer(None).unwrap();
            let f = frame.get_mut().unwrap();
            f.set_pts(gst::ClockTime::from_nseconds(n * 1_000_000_000 / 30));
            f.set_duration(gst::ClockTime::from_nseconds(1_000_000_000 / 30));
            source.push_buffer(frame).unwrap();
        }
        source.end_of_stream().unwrap();
        // appsink holds the EOS until what it keeps has been taken.
        while sink.try_pull_sample(gst::ClockTime::from_seconds(5)).is_some() {}
        let bus = pipeline.bus().unwrap();
        let msg = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(20), &[gst::MessageType::Eos, gst::MessageType::Error])
            .expect("EOS");
        assert_eq!(msg.type_(), gst::MessageType::Eos, "{msg:?}");
        pipeline.set_state(gst::State::Null).unwrap();
        let allocated = pool.allocated();
        assert!(allocated <= 12, "the pool allocated {allocated} frames for {FRAMES}");
    }
}
