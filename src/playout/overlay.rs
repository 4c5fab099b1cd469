//! GStreamer glue for a channel's graphics and emergency alerts: [`ChannelGraphics`] builds
//! the `overlaycomposition` element that sits in the pipeline's overlay slot (between the
//! compositor and the encoder) and the alert-audio element in the audio path.
//!
//! Per video frame the `draw` callback asks the pure [`Scene`] for its layers and hands
//! GStreamer [`gst_video::VideoOverlayRectangle`]s that are created once per raster and only
//! moved or re-faded afterwards, so GStreamer's converted-pixel cache inside each rectangle
//! survives from frame to frame. A full-screen alert slate is a layer of the same overlay
//! (one opaque rectangle) rather than a compositor pad: the encoder, mux and viewers see no
//! change of topology, and a pipeline rebuild brings the alert back by itself.
//!
//! Time: a frame's wall-clock instant is "now" plus how far its running time is ahead of the
//! pipeline clock's, so graphics follow the same wall clock the schedule is written in. The
//! alert a frame or audio buffer carries is decided by that instant too
//! ([`AlertTimeline`]): the slate, the muted program and the as-run times all begin and end
//! where the alert does on the channel's timeline, however late the pipeline processes them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use tokio::sync::watch;

use super::graphics::cues::{self, Cue};
use super::graphics::guide::GuideData;
use super::graphics::plane::{Chroma, Frame};
use super::graphics::scene::{CardJob, Layer, Scene, SceneConfig};
use super::pipeline::OverlayFactory;
use super::station::Standby;
use crate::clock::SharedClock;
use crate::elements::{ElementError, OVERLAYCOMPOSITION};
use crate::emergency::activation::AlertTimeline;
use crate::emergency::{ActiveAlerts, Alert};
use crate::lineup::{Channel, ChannelKind, GuideNumber};
use crate::schedule::AiringKind;

/// Shared between the streaming threads and the handle. std Mutexes: each is held for one
/// frame's bookkeeping, never across an await.
struct Shared {
    number: GuideNumber,
    clock: SharedClock,
    tz: chrono_tz::Tz,
    alerts: watch::Receiver<Arc<ActiveAlerts>>,
    /// The live sets followed so far, to decide each buffer by its air instant.
    timeline: Mutex<AlertTimeline>,
    cues: Mutex<Arc<Vec<Cue>>>,
    scene: Mutex<Scene>,
    rects: Mutex<HashMap<u64, gst_video::VideoOverlayRectangle>>,
    /// (alert id, first instant this channel showed it), for the attention tone.
    seen: Mutex<Option<(i64, DateTime<Utc>)>>,
    /// What the channel has on air, for the as-run log.
    on_air: watch::Sender<OnAir>,
    /// Airings playout covers (failed): the stand-by card shows there.
    standby: Standby,
}

/// The alert a channel's picture carries (or none), since the first frame that did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnAir {
    /// The alert, or `None` for the program alone.
    pub alert: Option<Alert>,
    /// Wall-clock instant of the first frame in this state on this channel.
    pub since: DateTime<Utc>,
}

/// One channel's graphics: build its pipeline elements, feed it schedule cues.
#[derive(Clone)]
pub struct ChannelGraphics {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ChannelGraphics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelGraphics").field("channel", &self.shared.number).finish()
    }
}

/// The graphics elements could not be made.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// GStreamer did not initialise.
    #[error("GStreamer init failed: {0}")]
    Init(#[source] glib::Error),
    /// A plugin is missing (the message says what to install).
    #[error(transparent)]
    Element(#[from] ElementError),
}

impl ChannelGraphics {
    /// Graphics for `channel`, following `alerts`; times shown in `tz`.
    pub fn new(
        channel: &Channel,
        alerts: watch::Receiver<Arc<ActiveAlerts>>,
        clock: SharedClock,
        tz: chrono_tz::Tz,
    ) -> Self {
        let scene = Scene::new(scene_config(channel, tz));
        Self {
            shared: Arc::new(Shared {
                number: channel.number.clone(),
                clock,
                tz,
                alerts,
                timeline: Mutex::new(AlertTimeline::default()),
                cues: Mutex::new(Arc::new(Vec::new())),
                scene: Mutex::new(scene),
                rects: Mutex::new(HashMap::new()),
                seen: Mutex::new(None),
                on_air: watch::channel(OnAir { alert: None, since: DateTime::<Utc>::MIN_UTC }).0,
                standby: Standby::default(),
            }),
        }
    }

    /// Follow the channel's settings on air: a changed bug, lower-third or clock setting (or
    /// name, call sign) is drawn from the next frame on, without touching the pipeline. The
    /// output profile is not a graphics setting: changing it rebuilds the pipeline.
    pub fn apply_settings(&self, channel: &Channel) {
        let next = Scene::new(scene_config(channel, self.shared.tz));
        self.shared.scene.lock().unwrap_or_else(|p| p.into_inner()).replace(next);
    }

    /// Replace the schedule cues (current and upcoming items, in start order).
    pub fn set_cues(&self, cues: Vec<Cue>) {
        *self.shared.cues.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(cues);
    }

    /// What a guide channel lists (every channel's programmes around now).
    pub fn set_guide(&self, data: GuideData) {
        self.shared.scene.lock().unwrap_or_else(|p| p.into_inner()).set_guide(Arc::new(data));
    }

    /// Where the player reports airings it covers (for [`super::PlayerConfig::presentation`]):
    /// the graphics show "Please stand by" there.
    pub fn standby(&self) -> Standby {
        self.shared.standby.clone()
    }

    /// A guide channel's preview window (items play scaled into it), else `None`.
    pub fn item_window(&self) -> Option<super::graphics::raster::Rect> {
        let scene = self.shared.scene.lock().unwrap_or_else(|p| p.into_inner());
        scene.is_guide().then(|| scene.guide_layout().preview)
    }

    /// What alert the channel's picture carries, changing on the first frame with or without
    /// it: the actual start and end for the as-run log.
    pub fn on_air(&self) -> watch::Receiver<OnAir> {
        self.shared.on_air.subscribe()
    }

    /// The alert this channel shows now, if any.
    pub fn alert(&self) -> Option<Alert> {
        self.shared.alerts.borrow().for_channel(&self.shared.number).cloned()
    }

    /// A new `overlaycomposition` element drawing this channel's layer (call once per
    /// pipeline build; the state lives here, so a rebuilt pipeline resumes the graphics).
    pub fn video_element(&self) -> Result<gst::Element, OverlayError> {
        gst::init().map_err(OverlayError::Init)?;
        let element = OVERLAYCOMPOSITION.make_with(|b| b.name("graphics"))?;
        let shared = self.shared.clone();
        if self.shared.scene.lock().unwrap_or_else(|p| p.into_inner()).is_guide() {
            copy_guide_into_frames(&self.shared, &element);
        }
        element.connect("draw", false, move |args| {
            // The signal must return a (possibly NULL) composition, and a panic must not
            // cross into C: either would abort the daemon.
            let composition = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let element = args[0].get::<gst::Element>().ok()?;
                let sample = args[1].get::<gst::Sample>().ok()?;
                let at = frame_instant(&shared.clock, &element, &sample);
                draw(&shared, at)
            }))
            .unwrap_or_else(|_| {
                tracing::error!(channel = %shared.number, "graphics draw panicked; frame left unchanged");
                None
            });
            Some(composition.to_value())
        });
        Ok(element)
    }

    /// The factory for [`super::PlayerConfig::overlay`]: a fresh graphics element per
    /// pipeline build (a missing plugin logs and leaves the channel without graphics).
    pub fn video_factory(&self) -> OverlayFactory {
        let g = self.clone();
        Arc::new(move || {
            g.video_element().map_err(|e| tracing::error!(channel = %g.shared.number, "no graphics: {e}")).ok()
        })
    }

    /// The factory for [`super::PlayerConfig::audio_overlay`].
    pub fn audio_factory(&self) -> OverlayFactory {
        let g = self.clone();
        Arc::new(move || {
            g.audio_element().map_err(|e| tracing::error!(channel = %g.shared.number, "no alert audio: {e}")).ok()
        })
    }

    /// A new element for the audio path (raw S16LE audio in and out) that mutes the program
    /// under a slate and plays the attention tone; see [`super::alert_audio`].
    pub fn audio_element(&self) -> Result<gst::Element, OverlayError> {
        let shared = self.shared.clone();
        super::alert_audio::element(self.shared.clock.clone(), move |at| audio_state(&shared, at))
    }
}

/// What `channel`'s graphics show.
fn scene_config(channel: &Channel, tz: chrono_tz::Tz) -> SceneConfig {
    let (width, height) = channel.settings.profile.format.size();
    let bug_text = channel
        .settings
        .bug
        .text
        .clone()
        .or_else(|| (!channel.call_sign.is_empty()).then(|| channel.call_sign.clone()))
        .unwrap_or_else(|| channel.name.clone());
    SceneConfig {
        width,
        height,
        bug: channel.settings.bug.clone(),
        bug_text,
        lower_thirds: channel.settings.lower_thirds,
        clock: channel.settings.clock,
        tz,
        frame_rate: channel.settings.profile.frame_rate,
        call_sign: channel.call_sign.clone(),
        name: channel.name.clone(),
        era: channel.settings.era,
        guide: channel.settings.kind == ChannelKind::Guide,
    }
}

/// What the audio path must do at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AudioState {
    /// Silence the program.
    pub mute: bool,
    /// Replace the program with the attention tone.
    pub tone: bool,
    /// Replace the program with the 1 kHz line-up tone (a test card is on).
    pub lineup: bool,
}

fn audio_state(shared: &Shared, at: DateTime<Utc>) -> AudioState {
    let Some(alert) = alert_at(shared, at) else {
        let cues = shared.cues.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let test_card = cues::current(&cues, at)
            .is_some_and(|(_, c)| c.kind == AiringKind::Card && c.card.as_ref().is_some_and(|s| s.template.has_tone()));
        return AudioState { lineup: test_card, ..AudioState::default() };
    };
    let first = first_seen(shared, &alert, at);
    let slate = alert.mode == crate::emergency::AlertMode::Slate;
    // The tone plays from when this channel first showed the alert, unless the channel
    // joined long after the start (daemon restart, channel started mid-alert).
    let tone = alert.tone
        && (first - alert.starts_at) < chrono::Duration::seconds(10)
        && at >= first
        && at < first + super::alert_audio::TONE;
    AudioState { mute: slate || tone, tone, lineup: false }
}

/// The alert the channel carries at the air instant `at`, following the live set as it is now.
fn alert_at(shared: &Shared, at: DateTime<Utc>) -> Option<Arc<Alert>> {
    let live = shared.alerts.borrow().clone();
    let mut timeline = shared.timeline.lock().unwrap_or_else(|p| p.into_inner());
    timeline.observe(&live, shared.clock.now());
    timeline.for_channel_at(&shared.number, at)
}

fn first_seen(shared: &Shared, alert: &Alert, at: DateTime<Utc>) -> DateTime<Utc> {
    let mut seen = shared.seen.lock().unwrap_or_else(|p| p.into_inner());
    match *seen {
        Some((id, t)) if id == alert.id.0 => t,
        _ => {
            let t = at.max(alert.starts_at);
            *seen = Some((alert.id.0, t));
            t
        }
    }
}

/// The wall-clock instant a buffer is shown: now + (its running time - the clock's).
pub(crate) fn frame_instant(clock: &SharedClock, element: &gst::Element, sample: &gst::Sample) -> DateTime<Utc> {
    let (Some(buffer), Some(segment)) =
        (sample.buffer(), sample.segment().and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned()))
    else {
        return clock.now();
    };
    buffer_instant(clock, element, &segment, buffer.pts())
}

/// As [`frame_instant`], from a segment and a timestamp. The clock's running time is read
/// between two wall-clock readings (their midpoint is "now"), again if the thread was
/// preempted in between, so a busy machine does not shift the instant by the preemption.
pub(crate) fn buffer_instant(
    clock: &SharedClock,
    element: &gst::Element,
    segment: &gst::FormattedSegment<gst::ClockTime>,
    pts: Option<gst::ClockTime>,
) -> DateTime<Utc> {
    let Some(rt) = segment.to_running_time(pts) else { return clock.now() };
    let mut reading = None;
    for _ in 0..3 {
        let Some((anchor, spread)) = super::read_clocks(clock, element) else { return clock.now() };
        reading = Some(anchor);
        if spread <= chrono::Duration::milliseconds(2) {
            break;
        }
    }
    reading.expect("at least one reading").wall_at(rt.nseconds())
}

fn draw(shared: &Arc<Shared>, at: DateTime<Utc>) -> Option<gst_video::VideoOverlayComposition> {
    let alert = alert_at(shared, at);
    let alert = alert.as_deref();
    let since = alert.map_or(at, |a| first_seen(shared, a, at));
    shared.on_air.send_if_modified(|on_air| {
        let same = on_air.alert.as_ref().map(|a| a.id) == alert.map(|a| a.id);
        if !same {
            *on_air = OnAir { alert: alert.cloned(), since };
        }
        !same
    });
    let cues = shared.cues.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (layers, job) = {
        let mut scene = shared.scene.lock().unwrap_or_else(|p| p.into_inner());
        scene.set_standby(shared.standby.covering(at));
        (scene.frame(at, &cues, alert), scene.next_card_job(at, &cues))
    };
    if let Some(job) = job {
        draw_card_ahead(shared, job);
    }
    let mut rects = shared.rects.lock().unwrap_or_else(|p| p.into_inner());
    rects.retain(|id, _| layers.iter().any(|l| l.id == *id));
    if layers.is_empty() {
        return None;
    }
    for layer in &layers {
        let rect = rects.entry(layer.id).or_insert_with(|| new_rectangle(layer));
        // Writable once the previous frame's composition is gone (the usual case); else a
        // cheap copy that shares the pixels.
        let r = rect.make_mut();
        r.set_render_rectangle(layer.x, layer.y, layer.raster.width, layer.raster.height);
        if (r.global_alpha() - layer.alpha).abs() > f32::EPSILON {
            r.set_global_alpha(layer.alpha);
        }
    }
    let ordered: Vec<&gst_video::VideoOverlayRectangle> = layers.iter().filter_map(|l| rects.get(&l.id)).collect();
    gst_video::VideoOverlayComposition::new(ordered).ok()
}

/// A guide channel's grid is copied into each frame before the overlay element blends what
/// else there is (an alert's crawl): a buffer probe on its sink pad, for I420 and NV12 frames
/// (other formats keep the blended layers).
fn copy_guide_into_frames(shared: &Arc<Shared>, element: &gst::Element) {
    use gst_video::prelude::*;
    let Some(sink) = element.static_pad("sink") else { return };
    let shared = shared.clone();
    let overlay = element.downgrade();
    // The frames' layout, kept from one buffer to the next (caps rarely change).
    let known: Mutex<Option<(gst::Caps, gst_video::VideoInfo)>> = Mutex::new(None);
    sink.add_probe(gst::PadProbeType::BUFFER, move |pad, probe| {
        let copied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Option<()> {
            let caps = pad.current_caps()?;
            let mut known = known.lock().unwrap_or_else(|p| p.into_inner());
            if known.as_ref().is_none_or(|(c, _)| *c != caps) {
                *known = Some((caps.clone(), gst_video::VideoInfo::from_caps(&caps).ok()?));
            }
            let info = &known.as_ref()?.1;
            let chroma = match info.format() {
                gst_video::VideoFormat::I420 => Chroma::Planar,
                gst_video::VideoFormat::Nv12 => Chroma::Interleaved,
                _ => {
                    shared.scene.lock().unwrap_or_else(|p| p.into_inner()).set_guide_direct(false);
                    return None;
                }
            };
            let segment = pad.sticky_event::<gst::event::Segment>(0)?;
            let segment = segment.segment().downcast_ref::<gst::ClockTime>()?.clone();
            let Some(gst::PadProbeData::Buffer(buffer)) = probe.data.as_mut() else { return None };
            let at = buffer_instant(&shared.clock, &overlay.upgrade()?, &segment, buffer.pts());
            let cues = shared.cues.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let planes = {
                let mut scene = shared.scene.lock().unwrap_or_else(|p| p.into_inner());
                scene.set_guide_direct(true);
                scene.guide_planes(at, &cues)
            };
            let mut frame = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer.make_mut(), info).ok()?;
            let strides: Vec<usize> = frame.plane_stride().iter().map(|s| *s as usize).collect();
            let [y, u, v, _] = frame.planes_data_mut();
            let mut target = Frame {
                width: info.width(),
                height: info.height(),
                chroma,
                y: (y, strides[0]),
                u: (u, strides[1]),
                v: (v, strides.get(2).copied().unwrap_or(0)),
            };
            for (plane, x, y) in &planes {
                target.put(plane, *x, *y);
            }
            Some(())
        }));
        if copied.is_err() {
            tracing::error!(channel = %shared.number, "guide copy panicked; frame left unchanged");
        }
        gst::PadProbeReturn::Ok
    });
}

/// Draw a card on a thread of its own (not the streaming thread, which would hold the frame
/// for as long) and hand it to the scene; nothing happens if the channel is gone by then.
fn draw_card_ahead(shared: &Arc<Shared>, job: CardJob) {
    let weak = Arc::downgrade(shared);
    let spawned = std::thread::Builder::new().name("card".into()).spawn(move || {
        let raster = job.render();
        if let Some(shared) = weak.upgrade() {
            shared.scene.lock().unwrap_or_else(|p| p.into_inner()).card_ready(&job, raster);
        }
    });
    if let Err(e) = spawned {
        // The card is then drawn on the frame that shows it.
        tracing::warn!(channel = %shared.number, "no thread to draw a card ahead: {e}");
    }
}

fn new_rectangle(layer: &Layer) -> gst_video::VideoOverlayRectangle {
    let (w, h) = (layer.raster.width, layer.raster.height);
    let mut buffer = gst::Buffer::from_mut_slice(layer.raster.data.clone());
    {
        let b = buffer.get_mut().expect("new buffer is writable");
        gst_video::VideoMeta::add(b, gst_video::VideoFrameFlags::empty(), gst_video::VideoFormat::Bgra, w, h)
            .expect("BGRA meta");
    }
    gst_video::VideoOverlayRectangle::new_raw(
        &buffer,
        layer.x,
        layer.y,
        w,
        h,
        gst_video::VideoOverlayFormatFlags::GLOBAL_ALPHA,
    )
}
