//! The channel actor: owns the pipeline, drains its bus, takes [`Command`]s, and follows the
//! airings: each one is placed on the running-time axis ([`timeline::place`]), built as an
//! item bin shortly before air, linked when ready, and retired after its cut. Item failures
//! are recorded and covered by the background; a fatal pipeline error (encoder, mux, …)
//! tears the pipeline down and rebuilds it with back-off, rejoining the timeline in progress.
//! A wall-clock jump (NTP stepping the clock) takes every item off, re-anchors and rejoins
//! the timeline in progress on the same pipeline, so viewers see no discontinuity; slow drift
//! is slewed ([`timeline::Realigner`]).
//! All GStreamer state changes happen here, never on a streaming thread.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use gstreamer as gst;
use gstreamer::prelude::*;
use tokio::sync::{mpsc, watch};

use super::item::{self, ItemBin, ItemEvent};
use super::pipeline::{ChannelPipeline, Output, PipelineSpec};
use super::player::{Command, PlayerConfig, PlayerStatus};
use super::timeline::{self, Anchor, Placement, Realigner};
use super::watchdog::{self, Backoff};
use super::{AiringSource, AsRun, AsRunSink, AsRunStatus};

mod realign;
use crate::clock::SharedClock;
use crate::schedule::{Airing, AiringKind};

/// Build an item this long before its start.
const PREPARE_LEAD: chrono::Duration = chrono::Duration::milliseconds(1500);
/// An item must be placed at least this far ahead; sooner ones are joined in progress then.
const JOIN_LEAD: chrono::Duration = chrono::Duration::milliseconds(700);
/// How far ahead airings are read.
const LOOKAHEAD: chrono::Duration = chrono::Duration::minutes(3);
/// How often airings are re-read (schedule edits are picked up this fast).
const REFRESH: Duration = Duration::from_secs(5);
/// Retire an item this long after its last frame (the mixers have consumed it by then).
const RETIRE_AFTER_NS: u64 = 300_000_000;

/// Everything the actor needs.
pub(crate) struct Deps {
    pub config: PlayerConfig,
    pub source: Arc<dyn AiringSource>,
    pub as_run: Arc<dyn AsRunSink>,
    pub clock: SharedClock,
    pub output: Output,
}

enum End {
    Stop,
    Restart { reason: String, deliberate: bool },
}

/// Run the actor until [`Command::Stop`] or until every handle is dropped.
pub(crate) async fn run(deps: Deps, mut rx: mpsc::Receiver<Command>, status: watch::Sender<PlayerStatus>) {
    let channel = deps.config.channel;
    let mut backoff = Backoff::new();
    let mut serial = 0u64;
    loop {
        let started = Instant::now();
        let end = match Session::start(&deps, &mut serial).await {
            Ok(mut session) => {
                status.send_modify(|s| {
                    s.running = true;
                    s.anchor = Some(session.anchor);
                });
                let end = session.run(&mut rx, &status).await;
                // Whatever the pipeline sends while it winds down would not continue into the
                // next one (see `Feed::close`).
                deps.output.feed.close();
                session.shutdown().await;
                end
            }
            Err(e) => {
                deps.output.feed.close();
                End::Restart { reason: e, deliberate: false }
            }
        };
        status.send_modify(|s| {
            s.running = false;
            s.anchor = None;
            s.on_air = None;
        });
        let (reason, deliberate) = match end {
            End::Stop => break,
            End::Restart { reason, deliberate } => (reason, deliberate),
        };
        // Viewers stay subscribed to the (closed) feed; they continue at the new pipeline's
        // first keyframe.
        if let Some(hls) = &deps.output.hls {
            hls.discontinuity();
        }
        let delay = if deliberate { Duration::ZERO } else { backoff.failed(started.elapsed()) };
        status.send_modify(|s| {
            s.restarts += 1;
            if !deliberate {
                s.last_error = Some(reason.clone());
            }
        });
        tracing::warn!(%channel, %reason, delay_ms = delay.as_millis() as u64, "rebuilding channel pipeline");
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                cmd = rx.recv() => match cmd {
                    None | Some(Command::Stop) => return,
                    Some(Command::Restart) => break,
                    Some(Command::WithPipeline(_)) => {}
                },
            }
        }
    }
}

struct Active {
    airing: Airing,
    placement: Placement,
    bin: Option<ItemBin>,
    started: bool,
}

enum Origin {
    Item(u64),
    Pipeline,
    Orphan,
}

/// Sets the pipeline to NULL when the session is dropped without [`Session::shutdown`]
/// (a panic unwinding through the actor): otherwise its live sources and streaming threads
/// would keep running, and keep publishing to the feed, after the task is gone.
struct NullOnDrop(gst::Pipeline);

impl Drop for NullOnDrop {
    fn drop(&mut self) {
        let _ = self.0.set_state(gst::State::Null);
    }
}

struct Session<'a> {
    deps: &'a Deps,
    cp: ChannelPipeline,
    _null_on_drop: NullOnDrop,
    realigner: Realigner,
    anchor: Anchor,
    events_tx: mpsc::UnboundedSender<ItemEvent>,
    events_rx: mpsc::UnboundedReceiver<ItemEvent>,
    items: HashMap<u64, Active>,
    airings: Vec<Airing>,
    handled: HashSet<(i64, i64)>,
    last_fetch: Option<Instant>,
    serial: &'a mut u64,
}

impl<'a> Session<'a> {
    async fn start(deps: &'a Deps, serial: &'a mut u64) -> Result<Session<'a>, String> {
        let spec = PipelineSpec {
            profile: deps.config.profile,
            encoder: deps.config.encoder,
            overlay: deps.config.overlay.clone(),
            audio_overlay: deps.config.audio_overlay.clone(),
        };
        let name = format!("channel-{}", deps.config.channel);
        let cp = ChannelPipeline::build(&name, &spec, deps.output.clone()).map_err(|e| e.to_string())?;
        let pipeline = cp.pipeline.clone();
        deps.output.feed.open();
        let started = tokio::task::spawn_blocking(move || {
            pipeline.set_state(gst::State::Playing).map_err(|e| format!("cannot start pipeline: {e}"))?;
            // Generous: on a loaded machine the first encoded frame (which completes the
            // sinks' state change) can take seconds.
            let (res, state, pending) = pipeline.state(gst::ClockTime::from_seconds(20));
            match (res, state) {
                (Ok(_), gst::State::Playing) => Ok(()),
                _ => {
                    // The element that failed said why on the bus.
                    let why = pipeline
                        .bus()
                        .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
                        .and_then(|m| match m.view() {
                            gst::MessageView::Error(e) => Some(format!(
                                ": {} from {} ({})",
                                e.error(),
                                m.src().map(|s| s.path_string().to_string()).unwrap_or_default(),
                                e.debug().map(|d| d.to_string()).unwrap_or_default()
                            )),
                            _ => None,
                        })
                        .unwrap_or_default();
                    Err(format!("pipeline did not reach PLAYING ({res:?}, {state:?}, pending {pending:?}){why}"))
                }
            }
        })
        .await
        .map_err(|e| e.to_string())?;
        if let Err(e) = started {
            let pipeline = cp.pipeline.clone();
            let _ = tokio::task::spawn_blocking(move || pipeline.set_state(gst::State::Null)).await;
            return Err(e);
        }
        let anchor = realign::initial_anchor(&deps.clock, &cp.pipeline);
        tracing::info!(channel = %deps.config.channel, encoder = deps.config.encoder.element(), "channel pipeline playing");
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Ok(Session {
            deps,
            _null_on_drop: NullOnDrop(cp.pipeline.clone()),
            cp,
            realigner: Realigner::default(),
            anchor,
            events_tx,
            events_rx,
            items: HashMap::new(),
            airings: Vec::new(),
            handled: HashSet::new(),
            last_fetch: None,
            serial,
        })
    }

    async fn run(&mut self, rx: &mut mpsc::Receiver<Command>, status: &watch::Sender<PlayerStatus>) -> End {
        let mut bus = self.cp.pipeline.bus().expect("pipeline bus").stream();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = bus.next() => match msg {
                    Some(msg) => if let Some(end) = self.on_message(&msg) { return end },
                    None => return End::Restart { reason: "pipeline bus closed".into(), deliberate: false },
                },
                Some(ev) = self.events_rx.recv() => self.on_item_event(ev),
                cmd = rx.recv() => match cmd {
                    None | Some(Command::Stop) => return End::Stop,
                    Some(Command::Restart) => return End::Restart { reason: "restart requested".into(), deliberate: true },
                    Some(Command::WithPipeline(f)) => f(&self.cp),
                },
                _ = tick.tick() => {
                    if self.check_clock() {
                        let anchor = self.anchor;
                        status.send_modify(|s| s.anchor = Some(anchor));
                    }
                    self.tick().await;
                    let on_air = self.on_air_title();
                    status.send_if_modified(|s| {
                        let changed = s.on_air != on_air;
                        s.on_air = on_air;
                        changed
                    });
                }
            }
        }
    }

    async fn shutdown(self) {
        let now = self.deps.clock.now();
        for (_, a) in self.items {
            if a.started {
                self.deps.as_run.record(AsRun {
                    channel: self.deps.config.channel,
                    actual_start: self.anchor.wall_at(a.placement.air_ns),
                    actual_end: Some(now.min(a.airing.end)),
                    status: AsRunStatus::Partial,
                    reason: Some("channel stopped".into()),
                    airing: a.airing,
                });
            }
        }
        let pipeline = self.cp.pipeline.clone();
        let _ = tokio::task::spawn_blocking(move || pipeline.set_state(gst::State::Null)).await;
    }

    fn now_rt(&self) -> u64 {
        self.cp.pipeline.current_running_time().map(|t| t.nseconds()).unwrap_or(0)
    }

    fn on_air_title(&self) -> Option<String> {
        let now = self.now_rt();
        self.items
            .values()
            .filter(|a| a.started && a.placement.air_ns <= now && now < a.placement.end_ns)
            .max_by_key(|a| a.placement.air_ns)
            .map(|a| a.airing.title.clone())
    }

    fn origin(&self, src: Option<&gst::Object>) -> Origin {
        let pipeline = self.cp.pipeline.upcast_ref::<gst::Object>();
        let mut obj = src.cloned();
        while let Some(o) = obj {
            if &o == pipeline {
                return Origin::Pipeline;
            }
            let parent = o.parent();
            if parent.as_ref() == Some(pipeline)
                && let Some(serial) = item::serial_of(o.name().as_str())
            {
                return Origin::Item(serial);
            }
            obj = parent;
        }
        Origin::Orphan
    }

    fn on_message(&mut self, msg: &gst::Message) -> Option<End> {
        use gst::MessageView;
        match msg.view() {
            MessageView::Error(err) => {
                // GStreamer quotes the URL it opened (a Plex part URL carries the token).
                let debug = err.debug().map(|d| crate::library::secret::redact(&d).into_owned());
                let text = format!("{} ({})", err.error(), debug.as_deref().unwrap_or_default());
                match self.origin(msg.src()) {
                    Origin::Item(serial) => {
                        // "souphttpsrc: Internal data stream error. (streaming stopped, reason
                        // error (-5))": which element, what, and the last line of the details.
                        let element = msg
                            .src()
                            .and_then(|o| o.downcast_ref::<gst::Element>())
                            .and_then(|e| e.factory())
                            .map(|f| f.name().to_string())
                            .unwrap_or_else(|| "item".into());
                        let detail = debug.as_deref().and_then(|d| d.lines().last().map(str::to_owned));
                        let reason = match detail {
                            Some(d) if !d.is_empty() => format!("{element}: {} ({d})", err.error()),
                            _ => format!("{element}: {}", err.error()),
                        };
                        self.fail(serial, reason)
                    }
                    Origin::Orphan => tracing::debug!(error = %text, "error from a retired item ignored"),
                    Origin::Pipeline => return Some(End::Restart { reason: text, deliberate: false }),
                }
            }
            MessageView::Warning(w) => tracing::debug!(warning = %w.error(), "pipeline warning"),
            MessageView::Eos(_) => {
                return Some(End::Restart { reason: "unexpected end of stream".into(), deliberate: false });
            }
            MessageView::Latency(_) => {
                let _ = self.cp.pipeline.recalculate_latency();
            }
            _ => {}
        }
        None
    }

    fn on_item_event(&mut self, ev: ItemEvent) {
        match ev {
            ItemEvent::Ready(serial) => {
                let Some(a) = self.items.get_mut(&serial) else { return };
                let Some(bin) = a.bin.as_mut() else { return };
                if bin.is_live() {
                    return;
                }
                if let Err(e) = bin.go_live(&self.cp) {
                    self.fail(serial, format!("cannot link item: {e}"));
                }
            }
            ItemEvent::Finished(_) => {} // picked up by the next tick
            ItemEvent::Failed(serial, reason) => self.fail(serial, reason),
        }
    }

    async fn refresh(&mut self, now: DateTime<Utc>) {
        if self.last_fetch.is_some_and(|t| t.elapsed() < REFRESH) {
            return;
        }
        self.last_fetch = Some(Instant::now());
        match self.deps.source.airings(self.deps.config.channel, now, now + LOOKAHEAD).await {
            Ok(mut list) => {
                list.sort_by_key(|a| a.start);
                self.airings = list;
            }
            Err(e) => tracing::warn!(channel = %self.deps.config.channel, error = %e, "keeping the previous airings"),
        }
    }

    async fn tick(&mut self) {
        let now = self.deps.clock.now();
        self.refresh(now).await;
        let rate = self.cp.rate();
        let due: Vec<Airing> = self
            .airings
            .iter()
            .filter(|a| a.end > now && a.start <= now + PREPARE_LEAD && !self.handled.contains(&key(a)))
            .cloned()
            .collect();
        for a in due {
            self.handled.insert(key(&a));
            if let Some(p) = timeline::place(&self.anchor, rate, a.start, a.end, a.offset_in_ms, now, JOIN_LEAD) {
                self.prepare(a, p);
            }
        }
        self.airings.retain(|a| a.end > now);
        // k.1 is the airing's end: forget it only once it is well over.
        self.handled.retain(|k| k.1 > now.timestamp_millis() - 60_000);

        let now_rt = self.now_rt();
        let serials: Vec<u64> = self.items.keys().copied().collect();
        for serial in serials {
            self.check(serial, now_rt);
        }
    }

    fn prepare(&mut self, airing: Airing, placement: Placement) {
        *self.serial += 1;
        let serial = *self.serial;
        let uri = match (&airing.uri, airing.kind) {
            (Some(uri), kind) if kind != AiringKind::Slate => to_uri(uri),
            _ => {
                // A slate: the background shows for the span.
                self.items.insert(serial, Active { airing, placement, bin: None, started: false });
                return;
            }
        };
        let uri = match uri.and_then(|u| precheck(&u).map(|()| u)) {
            Ok(u) => u,
            Err(reason) => return self.record_failure(airing, reason),
        };
        let gain = item::gain_db(self.deps.config.target_lufs, airing.loudness_lufs);
        tracing::debug!(serial, title = %airing.title, air_ns = placement.air_ns, media_ns = placement.media_ns, joined = placement.joined, "preparing item");
        match ItemBin::build(&self.cp, serial, &uri, placement, gain, self.events_tx.clone()) {
            Ok(bin) => {
                self.items.insert(serial, Active { airing, placement, bin: Some(bin), started: false });
            }
            Err(e) => self.record_failure(airing, e.to_string()),
        }
    }

    fn check(&mut self, serial: u64, now_rt: u64) {
        let Some(a) = self.items.get_mut(&serial) else { return };
        let p = a.placement;
        let live = a.bin.as_ref().is_none_or(|b| b.is_live());
        if !a.started && live && now_rt >= p.air_ns {
            a.started = true;
            let actual_start = self.anchor.wall_at(p.air_ns);
            self.deps.as_run.record(AsRun {
                channel: self.deps.config.channel,
                airing: a.airing.clone(),
                actual_start,
                actual_end: None,
                status: AsRunStatus::Started,
                reason: None,
            });
        }
        let slot = p.end_ns - p.air_ns;
        let (played, finished, early) = match &a.bin {
            Some(b) => (
                b.progress.played_ns.load(Ordering::SeqCst),
                b.is_finished(),
                b.progress.ended_early.load(Ordering::SeqCst),
            ),
            None => (slot, now_rt >= p.end_ns, false),
        };
        if !live && now_rt > p.air_ns + watchdog::NOT_READY_NS {
            return self.fail(serial, "media did not open in time".into());
        }
        if live && a.bin.is_some() && now_rt > p.air_ns && watchdog::is_stalled(now_rt, p.air_ns, played, finished) {
            return self.fail(serial, format!("stalled: no media for {} s", watchdog::STALL_NS / 1_000_000_000));
        }
        let end_rt = if finished { p.air_ns + played.min(slot) } else { p.end_ns };
        let overdue = now_rt > p.end_ns + 2 * RETIRE_AFTER_NS;
        if (finished || overdue) && now_rt > end_rt + RETIRE_AFTER_NS {
            let a = self.items.remove(&serial).expect("present");
            if let Some(bin) = a.bin {
                bin.retire(&self.cp);
            }
            let frame = self.cp.rate().frame_ns();
            let short = played + frame < slot;
            let (status, reason) = if !a.started {
                (AsRunStatus::Failed, Some("never went on air".to_owned()))
            } else if short {
                let why = if early { "media ended" } else { "media stopped" };
                let mut reason = format!("{why} {:.3} s before the slot end", (slot - played) as f64 / 1e9);
                // The airing's out-point is where the library measured the media to go on to:
                // ending well before it means the file changed under us.
                let reached_ms = ((p.media_ns + played) / 1_000_000) as i64;
                if early && reached_ms + 500 < a.airing.offset_out_ms {
                    reason.push_str(&format!(
                        ", at {:.1} s of the {:.1} s expected (truncated or replaced since the scan?)",
                        reached_ms as f64 / 1e3,
                        a.airing.offset_out_ms as f64 / 1e3
                    ));
                }
                (AsRunStatus::Partial, Some(reason))
            } else {
                (AsRunStatus::Aired, None)
            };
            self.deps.as_run.record(AsRun {
                channel: self.deps.config.channel,
                actual_start: self.anchor.wall_at(p.air_ns),
                actual_end: Some(self.anchor.wall_at(p.air_ns + played.min(slot))),
                airing: a.airing,
                status,
                reason,
            });
        }
    }

    /// Take an item off the air after a failure; the background covers the rest of its slot.
    fn fail(&mut self, serial: u64, reason: String) {
        let Some(a) = self.items.remove(&serial) else { return };
        tracing::warn!(channel = %self.deps.config.channel, title = %a.airing.title, %reason, "item failed");
        if let Some(bin) = a.bin {
            bin.retire(&self.cp);
        }
        let now = self.deps.clock.now();
        self.deps.as_run.record(AsRun {
            channel: self.deps.config.channel,
            actual_start: if a.started { self.anchor.wall_at(a.placement.air_ns) } else { now.max(a.airing.start) },
            actual_end: Some(now.min(a.airing.end)),
            airing: a.airing,
            status: AsRunStatus::Failed,
            reason: Some(reason),
        });
    }

    fn record_failure(&mut self, airing: Airing, reason: String) {
        tracing::warn!(channel = %self.deps.config.channel, title = %airing.title, %reason, "item cannot play");
        let now = self.deps.clock.now();
        self.deps.as_run.record(AsRun {
            channel: self.deps.config.channel,
            actual_start: now.max(airing.start),
            actual_end: Some(airing.end),
            airing,
            status: AsRunStatus::Failed,
            reason: Some(reason),
        });
    }
}

/// Identity of an airing for "already prepared": its row id and its end. Handled keys are
/// kept until a minute after the airing ends, so a long item (or a slate joined far into
/// its span) is never prepared a second time while it is still on air.
fn key(a: &Airing) -> (i64, i64) {
    (a.id, a.end.timestamp_millis())
}

/// A URI for GStreamer: URIs pass through, absolute paths become `file://` URIs.
fn to_uri(s: &str) -> Result<String, String> {
    if s.contains("://") {
        return Ok(s.to_owned());
    }
    glib::filename_to_uri(s, None).map(|u| u.to_string()).map_err(|e| format!("bad media path {s:?}: {e}"))
}

/// Cheap checks before building a bin: a local file must exist and not be empty.
fn precheck(uri: &str) -> Result<(), String> {
    if let Ok((path, _)) = glib::filename_from_uri(uri) {
        match std::fs::metadata(&path) {
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            Ok(m) if m.len() == 0 => return Err(format!("{} is empty", path.display())),
            Ok(_) => {}
        }
    }
    Ok(())
}
