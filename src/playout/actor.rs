//! The channel actor: owns the pipeline, drains its bus, takes [`Command`]s, and follows the
//! airings: each one is placed on the running-time axis ([`timeline::place`]), built as an
//! item bin shortly before air, linked when ready, and retired after its cut. A failed item
//! is tried again at its current offset by the content watchdog ([`guard`]); a fatal pipeline
//! error (encoder, mux, …) or an output that stopped tears the pipeline down and rebuilds it
//! with back-off, rejoining the timeline in progress, its output timestamps continuing where
//! the last pipeline's ended. An encoder that fails on air is replaced by the next one of the
//! probe order and tried again later ([`fallback`]). A wall-clock jump (NTP stepping the
//! clock) takes every item off, re-anchors and rejoins the timeline on the same pipeline;
//! slow drift is slewed ([`timeline::Realigner`]).
//!
//! The actor runs on a thread of its own ([`super::player`]): GStreamer calls that block (a
//! seek, a state change) hold this channel only, never the daemon's async workers. Bins leave
//! through the [`Reaper`]. Its heartbeat tells the supervisor it is alive; an actor stuck in
//! a call is abandoned and replaced from outside, and then records and publishes nothing.

mod fallback;
mod guard;
mod realign;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use gstreamer as gst;
use gstreamer::prelude::*;
use tokio::sync::{mpsc, watch};

use super::item::{self, ItemBin, ItemEvent};
use super::leveller::Level;
use super::pipeline::{ChannelPipeline, Output, PipelineSpec, Sink};
use super::player::{Command, PlayerConfig, PlayerStatus};
use super::reaper::Reaper;
use super::timeline::{self, Anchor, Placement, Realigner};
use super::watchdog::{self, Backoff, Failure, PrepareLead, RealtimeMeter, Retry};
use super::{AsRunEvent, AsRunSink, AsRunStatus};
use crate::clock::SharedClock;
use crate::schedule::horizons::Horizon;
use crate::schedule::{Airing, AiringKind};

/// An item must be placed at least this far ahead; sooner ones are joined in progress then.
const JOIN_LEAD: chrono::Duration = chrono::Duration::milliseconds(700);
/// The same while a cold channel holds its output until its programme is on (see
/// `pipeline::Gate`): nobody sees the item's first frames that come too late for the mixer,
/// the output starts at the first that does not, so the sooner the better.
const COLD_JOIN_LEAD: chrono::Duration = chrono::Duration::milliseconds(250);
/// How long after its air time a cold channel waits for its first item's first frame before
/// its output goes out anyway (an item that fails to open).
const ITEM_WAIT_NS: u64 = 2_500_000_000;
/// A cold channel whose next airing starts within this waits for it before its output goes
/// out (see `Session::release`).
const RELEASE_WAIT: chrono::Duration = chrono::Duration::seconds(3);
/// Least on-air measurement (s) stored for an item (EBU R128 integrated loudness wants
/// several seconds of programme).
const MIN_ON_AIR_SECS: f64 = 10.0;
/// How long a stopping session waits for its pipeline to reach NULL.
const STOP_WAIT: Duration = Duration::from_secs(3);

/// What the actor shares with its handle and the supervisor.
pub(crate) struct Shared {
    epoch: Instant,
    heartbeat_ms: AtomicU64,
    abandoned: AtomicBool,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self { epoch: Instant::now(), heartbeat_ms: AtomicU64::new(0), abandoned: AtomicBool::new(false) }
    }

    fn beat(&self) {
        self.heartbeat_ms.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long since the actor last went round its loop.
    pub(crate) fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// The actor is replaced: from now on it records and publishes nothing, and ends as soon
    /// as it can.
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }
}

/// Everything the actor needs.
pub(crate) struct Deps {
    pub config: PlayerConfig,
    /// The channel's published horizon, followed as it changes.
    pub airings: watch::Receiver<Arc<Horizon>>,
    pub as_run: Arc<dyn AsRunSink>,
    pub clock: SharedClock,
    pub output: Output,
    pub shared: Arc<Shared>,
    pub reaper: Reaper,
}

impl Deps {
    /// Record an as-run event, unless this actor was abandoned (its replacement records).
    fn record(&self, entry: AsRunEvent) {
        if !self.shared.is_abandoned() {
            self.as_run.record(entry);
        }
    }

    /// Update the status, and the channel's health as the edges see it.
    fn report(&self, status: &watch::Sender<PlayerStatus>, f: impl FnOnce(&mut PlayerStatus)) {
        if self.shared.is_abandoned() {
            return;
        }
        status.send_modify(f);
        self.output.feed.set_health(status.borrow().health());
    }
}

enum End {
    Stop,
    Restart {
        reason: String,
        deliberate: bool,
    },
    /// The encoder failed (see [`fallback`]).
    EncoderFailed {
        reason: String,
    },
    /// Time to try the preferred encoder again (a deliberate rebuild).
    RetryEncoder,
}

/// Run the actor until [`Command::Stop`], until every handle is dropped, or until abandoned.
pub(crate) async fn run(deps: Deps, mut rx: mpsc::Receiver<Command>, status: watch::Sender<PlayerStatus>) {
    let channel = deps.config.channel;
    let mut backoff = Backoff::new();
    let mut serial = 0u64;
    let mut encoders = fallback::Encoders::new(&deps.config);
    // Until a pipeline's output has gone out, the next one also holds its output back until
    // the programme is on it (see `pipeline::Gate`).
    let mut cold = true;
    deps.report(&status, |s| s.encoder = Some(encoders.current().element().to_owned()));
    loop {
        deps.shared.beat();
        if let Some(change) = encoders.retry_due(Instant::now()) {
            tracing::info!(%channel, encoder = change.to.element(), was = change.from.element(), "encoder: trying the preferred encoder again");
            deps.report(&status, |s| {
                s.encoder = Some(change.to.element().to_owned());
                s.encoder_change = Some((deps.clock.now(), change.what.clone()));
            });
        }
        let started = Instant::now();
        let (end, session) =
            match Session::start(&deps, &mut serial, encoders.current(), encoders.retry_at(), cold).await {
                Ok(mut session) => {
                    let (anchor, offset) = (session.anchor, session.output_offset_ns);
                    deps.report(&status, |s| {
                        s.running = true;
                        s.anchor = Some(anchor);
                        s.output_offset_ns = offset;
                    });
                    (session.run(&mut rx, &status).await, Some(session))
                }
                Err(end) => (end, None),
            };
        // Whatever the pipeline sends while it winds down would not continue into the next
        // one (see `Feed::close`).
        if !deps.shared.is_abandoned() {
            deps.output.feed.close();
        }
        // An encoder that failed makes way for the next one at once.
        let change = match &end {
            End::EncoderFailed { reason } if !deps.shared.is_abandoned() => {
                Some(encoders.failed(reason, started.elapsed(), Instant::now()))
            }
            _ => None,
        };
        if let Some(session) = session {
            cold = cold && !session.cp.released();
            session.shutdown(match (&change, &end) {
                (Some(c), _) => c.what.as_str(),
                (None, End::RetryEncoder) => "rebuilt to try the preferred encoder again",
                _ => "channel stopped",
            });
        }
        deps.report(&status, |s| {
            s.running = false;
            s.anchor = None;
            s.on_air = None;
        });
        if let Some(c) = &change {
            let retry_in_s = encoders.retry_at().map(|at| at.saturating_duration_since(Instant::now()).as_secs());
            tracing::warn!(%channel, from = c.from.element(), to = c.to.element(), what = %c.what, retry_in_s, "encoder failed: falling back");
            deps.report(&status, |s| {
                s.encoder = Some(c.to.element().to_owned());
                s.encoder_change = Some((deps.clock.now(), c.what.clone()));
            });
        }
        let (reason, deliberate) = match end {
            End::Stop => break,
            _ if deps.shared.is_abandoned() => break,
            End::Restart { reason, deliberate } => (reason, deliberate),
            End::EncoderFailed { reason } => (reason, change.as_ref().is_some_and(|c| c.switched)),
            End::RetryEncoder => ("the failed encoder's back-off ran out".to_owned(), true),
        };
        // Viewers stay subscribed to the (closed) feed; they continue at the new pipeline's
        // first keyframe, its timestamps continuing where this one's ended.
        let delay = if deliberate { Duration::ZERO } else { backoff.failed(started.elapsed()) };
        deps.report(&status, |s| {
            s.restarts += 1;
            if !deliberate || change.is_some() {
                s.last_error = Some(reason.clone());
            }
        });
        tracing::warn!(%channel, %reason, delay_ms = delay.as_millis() as u64, "rebuilding channel pipeline");
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            deps.shared.beat();
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
    /// Source deliveries seen last, and the output position when that count last changed.
    delivered: (u64, u64),
    /// Said in the as-run log when it ends (e.g. "rejoined by the content watchdog").
    note: Option<String>,
    /// When its bin was built (for [`PrepareLead`]).
    built: Instant,
    /// Joined by a cold channel with less than [`watchdog::MIN_JOIN_LEFT_NS`] left: it opens
    /// the output if it is on in time, and is dropped without a word if it is not (the next
    /// airing, built at once, opens it then).
    short_join: bool,
}

enum Origin {
    Item(u64),
    Pipeline,
    Orphan,
}

/// Sets the pipeline to NULL when the session is dropped without [`Session::shutdown`]
/// (a panic unwinding through the actor): otherwise its live sources and streaming threads
/// would keep running, and keep publishing to the feed, after the task is gone.
struct NullOnDrop(Option<gst::Pipeline>);

impl Drop for NullOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = p.set_state(gst::State::Null);
        }
    }
}

struct Session<'a> {
    deps: &'a Deps,
    cp: ChannelPipeline,
    null_on_drop: NullOnDrop,
    realigner: Realigner,
    anchor: Anchor,
    events_tx: mpsc::UnboundedSender<ItemEvent>,
    events_rx: mpsc::UnboundedReceiver<ItemEvent>,
    items: HashMap<u64, Active>,
    handled: HashSet<(i64, i64)>,
    /// Airings that failed, for the content watchdog.
    failed: HashMap<(i64, i64), Retry>,
    serial: &'a mut u64,
    /// The compositor's output position seen last, and when it last moved.
    position: (u64, Instant),
    realtime: RealtimeMeter,
    /// How long before their start items are built.
    lead: PrepareLead,
    /// Where this pipeline's output timeline starts (ns).
    output_offset_ns: u64,
    /// The encoder this pipeline runs, its output, and when to try the preferred one again.
    encoder: super::encoder::EncoderKind,
    encoded: fallback::EncoderWatch,
    encoder_retry_at: Option<Instant>,
    /// The output is held until a tick says where the programme starts.
    release_pending: bool,
}

impl<'a> Session<'a> {
    async fn start(
        deps: &'a Deps,
        serial: &'a mut u64,
        encoder: super::encoder::EncoderKind,
        encoder_retry_at: Option<Instant>,
        held: bool,
    ) -> Result<Session<'a>, End> {
        let failed = |reason: String| End::Restart { reason, deliberate: false };
        let spec = PipelineSpec {
            profile: deps.config.profile,
            encoder,
            overlay: deps.config.overlay.clone(),
            audio_overlay: deps.config.audio_overlay.clone(),
            item_window: deps.config.presentation.item_window,
            audio_tracks: deps.config.audio_tracks.clone(),
            captions: deps.config.captions,
        };
        let name = format!("channel-{}", deps.config.channel);
        if deps.shared.is_abandoned() {
            return Err(failed("abandoned".into()));
        }
        // The new output continues the channel's timeline (never a rewind for viewers who
        // stay), and this pipeline alone may publish from now on.
        let start_ns = deps.output.feed.timeline_end_ns();
        let sink = Sink { publisher: deps.output.feed.open(), hls: deps.output.hls.clone(), held };
        let cp = ChannelPipeline::build(&name, &spec, sink, start_ns).map_err(|e| failed(e.to_string()))?;
        let pipeline = cp.pipeline.clone();
        let encoded = fallback::EncoderWatch::new(&pipeline, encoder);
        // On this actor's own thread: a slow start holds this channel only.
        let started = start_pipeline(&pipeline);
        if let Err((reason, src)) = started {
            deps.reaper.reap(cp.pipeline.clone().upcast(), name).wait(STOP_WAIT);
            return Err(match fallback::from_encoder(src.as_ref(), encoder) {
                true => End::EncoderFailed { reason },
                false => failed(reason),
            });
        }
        let anchor = realign::initial_anchor(&deps.clock, &cp.pipeline);
        tracing::info!(channel = %deps.config.channel, encoder = encoder.element(), start_ns, "channel pipeline playing");
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Ok(Session {
            deps,
            null_on_drop: NullOnDrop(Some(cp.pipeline.clone())),
            cp,
            realigner: Realigner::default(),
            anchor,
            events_tx,
            events_rx,
            items: HashMap::new(),
            handled: HashSet::new(),
            failed: HashMap::new(),
            serial,
            position: (0, Instant::now()),
            realtime: RealtimeMeter::default(),
            lead: PrepareLead::default(),
            output_offset_ns: start_ns,
            encoder,
            encoded,
            encoder_retry_at,
            release_pending: held,
        })
    }

    async fn run(&mut self, rx: &mut mpsc::Receiver<Command>, status: &watch::Sender<PlayerStatus>) -> End {
        let mut bus = self.cp.pipeline.bus().expect("pipeline bus").stream();
        let mut airings = self.deps.airings.clone();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.deps.shared.beat();
            if self.deps.shared.is_abandoned() {
                return End::Stop;
            }
            tokio::select! {
                msg = bus.next() => match msg {
                    Some(msg) => if let Some(end) = self.on_message(&msg) { return end },
                    None => return End::Restart { reason: "pipeline bus closed".into(), deliberate: false },
                },
                Some(ev) = self.events_rx.recv() => self.on_item_event(ev),
                // A published change: act on it now rather than at the next tick.
                Ok(()) = airings.changed() => self.tick(),
                cmd = rx.recv() => match cmd {
                    None | Some(Command::Stop) => return End::Stop,
                    Some(Command::Restart) => return End::Restart { reason: "restart requested".into(), deliberate: true },
                    Some(Command::WithPipeline(f)) => f(&self.cp),
                },
                _ = tick.tick() => {
                    if self.check_clock() {
                        let anchor = self.anchor;
                        self.deps.report(status, |s| s.anchor = Some(anchor));
                    }
                    self.tick();
                    if let Some(end) = self.guard(status).or_else(|| self.encoder_guard()) {
                        return end;
                    }
                    self.report_progress(status);
                }
            }
        }
    }

    /// Close the session: as-run for what was on (cut for `reason`), the pipeline to NULL
    /// (bounded wait).
    fn shutdown(mut self, reason: &str) {
        let now = self.deps.clock.now();
        for (_, a) in self.items.drain() {
            if let Some(bin) = &a.bin {
                bin.log_lateness();
            }
            if a.started {
                self.deps.record(AsRunEvent {
                    channel: self.deps.config.channel,
                    actual_start: self.anchor.wall_at(a.placement.air_ns),
                    actual_end: Some(now.min(a.airing.end)),
                    status: AsRunStatus::Partial,
                    reason: Some(reason.to_owned()),
                    airing: a.airing,
                });
            }
        }
        if let Some(pipeline) = self.null_on_drop.0.take() {
            let name = pipeline.name().to_string();
            if !self.deps.reaper.reap(pipeline.upcast(), name).wait(STOP_WAIT) {
                tracing::warn!(channel = %self.deps.config.channel, "pipeline still stopping; left to the reaper");
            }
        }
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
                        if super::verify::is_hardware_decoder(&element)
                            && let Some(uri) = self.items.get(&serial).and_then(|a| a.airing.uri.as_deref())
                        {
                            super::verify::remember_decoder_failure(uri);
                        }
                        let detail = debug.as_deref().and_then(|d| d.lines().last().map(str::to_owned));
                        let reason = match detail {
                            Some(d) if !d.is_empty() => format!("{element}: {} ({d})", err.error()),
                            _ => format!("{element}: {}", err.error()),
                        };
                        self.fail(serial, Failure::Transient(reason))
                    }
                    Origin::Orphan => tracing::debug!(error = %text, "error from a retired item ignored"),
                    Origin::Pipeline => {
                        return Some(self.pipeline_error(msg.src(), &err.error(), debug.as_deref(), text));
                    }
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
                self.lead.observe(a.built.elapsed());
                if let Err(e) = bin.go_live(&self.cp) {
                    self.fail(serial, Failure::Transient(format!("cannot link item: {e}")));
                }
            }
            ItemEvent::Finished(_) => {} // picked up by the next tick
            ItemEvent::Failed(serial, reason) => self.fail(serial, Failure::Transient(reason)),
        }
    }

    /// The channel's horizon as published now (an `Arc` of the latest snapshot: schedule
    /// edits reach the actor the moment they are published).
    fn horizon(&self) -> Arc<Horizon> {
        self.deps.airings.borrow().clone()
    }

    fn tick(&mut self) {
        let now = self.deps.clock.now();
        let horizon = self.horizon();
        let due: Vec<Airing> = horizon
            .between(now, now + self.prepare_lead())
            .filter(|a| !self.handled.contains(&key(a)))
            .cloned()
            .collect();
        for a in due {
            self.handled.insert(key(&a));
            self.place_and_prepare(a, now, None);
        }
        if self.release_pending {
            self.release(&horizon, now);
        }
        // k.1 is the airing's end: forget it only once it is well over.
        let horizon = now.timestamp_millis() - 60_000;
        self.handled.retain(|k| k.1 > horizon);
        self.failed.retain(|k, _| k.1 > horizon);

        let now_rt = self.now_rt();
        let serials: Vec<u64> = self.items.keys().copied().collect();
        for serial in serials {
            self.check(serial, now_rt);
        }
    }

    /// How far ahead of its start an airing is built: [`PrepareLead`]'s, and while a cold
    /// channel holds its output, at least [`RELEASE_WAIT`]: the output waits for an airing that
    /// starts that soon anyway, so it is built at once and has all the time there is to open.
    /// (Built only the usual 1.5 s ahead, a first item whose picture and sound were not both
    /// at their mixers until 0.6 s after its start lost those 0.6 s: a CI run's output began
    /// 598 ms into the programme.)
    fn prepare_lead(&self) -> chrono::Duration {
        let lead = chrono::Duration::milliseconds(self.lead.lead_ms());
        if self.release_pending { lead.max(RELEASE_WAIT) } else { lead }
    }

    /// How far ahead an airing already on is joined.
    fn join_lead(&self) -> chrono::Duration {
        if self.cp.released() { JOIN_LEAD } else { COLD_JOIN_LEAD }
    }

    /// A cold start: viewers get the output from the first item's first frame on, once it is
    /// placed; at once when nothing is about to start (the background is what the schedule
    /// has then). An airing joined in its last seconds ([`Active::short_join`]) may open it
    /// first; the deadline is the next airing's, which is there to open it if that one cannot.
    fn release(&mut self, horizon: &Horizon, now: DateTime<Utc>) {
        let nothing_due = || !horizon.between(now, now + RELEASE_WAIT).any(|a| !self.handled.contains(&key(a)));
        let first =
            |short: bool| self.items.values().filter(|a| a.short_join == short).min_by_key(|a| a.placement.air_ns);
        // Where the output starts if no item's picture opens it first: an item's air time plus
        // what it may take to open, a slate's start, or a short join's end.
        let deadline = match (first(false), first(true)) {
            (Some(next), _) => Some(next.placement.air_ns + if next.bin.is_some() { ITEM_WAIT_NS } else { 0 }),
            (None, Some(short)) if nothing_due() => Some(short.placement.end_ns),
            (None, None) if nothing_due() => None,
            _ => return, // placed by a later tick
        };
        match deadline {
            Some(ns) => self.cp.release_with_item(ns),
            None => self.cp.release_now(),
        }
        self.release_pending = false;
    }

    /// Place `airing` on the running-time axis (joined in progress if it is already on) and
    /// build its bin.
    fn place_and_prepare(&mut self, airing: Airing, now: DateTime<Utc>, note: Option<String>) {
        let rate = self.cp.rate();
        let Some(p) =
            timeline::place(&self.anchor, rate, airing.start, airing.end, airing.offset_in_ms, now, self.join_lead())
        else {
            return;
        };
        // Cold, an airing with too little left may not open before its end: it is tried, and
        // the next one, built at once, opens the output if it cannot. Warm (a rebuild), the
        // rest of an item beats the background. A slate or a card has nothing to open: it is
        // on at once however little of it is left (a cold tune in a card's last 0.83 s waited
        // for the airing after it, 1,178 ms to its first picture in the bench).
        let short_join =
            p.joined && !self.cp.released() && p.slot_ns() < watchdog::MIN_JOIN_LEFT_NS && media(&airing).is_some();
        if short_join {
            let left_ms = p.slot_ns() / 1_000_000;
            tracing::debug!(channel = %self.deps.config.channel, title = %airing.title, left_ms, "little left to join: the next airing opens the output if this one cannot");
        }
        self.prepare(airing, p, note, short_join);
    }

    fn prepare(&mut self, airing: Airing, placement: Placement, note: Option<String>, short_join: bool) {
        *self.serial += 1;
        let serial = *self.serial;
        let position = self.cp.mixed_position();
        let active = |bin| Active {
            airing: airing.clone(),
            placement,
            bin,
            started: false,
            delivered: (0, position),
            note: note.clone(),
            built: Instant::now(),
            short_join,
        };
        let uri = match media(&airing) {
            Some(uri) => to_uri(uri),
            None => {
                // A slate or a card: the background (and the graphics) show for the span.
                self.items.insert(serial, active(None));
                return;
            }
        };
        let uri = match uri.and_then(|u| precheck(&u).map(|()| u)) {
            Ok(u) => u,
            Err(reason) => return self.record_failure(airing, Failure::Permanent(reason)),
        };
        // The item's latest measurement, read now (not the schedule row's, frozen days ago).
        let lufs = match (&self.deps.config.loudness, airing.media_id) {
            (Some(book), Some(id)) => book.current(id),
            _ => airing.loudness_lufs,
        };
        let level = Level::for_item(self.deps.config.target_lufs, lufs);
        tracing::debug!(serial, title = %airing.title, air_ns = placement.air_ns, media_ns = placement.media_ns, joined = placement.joined, ?level, "preparing item");
        match ItemBin::build(&self.cp, serial, &uri, placement, level, self.events_tx.clone()) {
            Ok(bin) => {
                // The item's text subtitle track (as the library read it), else subtitles
                // beside the media, else those its source offers (a Plex subtitle stream),
                // air as closed captions; without any, the captions inside its video do (see
                // `ItemBin::build`).
                let stored = match (&self.deps.config.subtitles, airing.media_id) {
                    (Some(s), Some(id)) => s.cues(id),
                    _ => Default::default(),
                };
                let cues = Some(stored.track)
                    .filter(|c| !c.is_empty())
                    .or_else(|| crate::library::subtitles::sidecar_cues(&uri))
                    .or_else(|| Some(stored.offered).filter(|c| !c.is_empty()));
                let track = match cues {
                    Some(cues) => {
                        let frame = std::time::Duration::from_nanos(self.cp.rate().frame_ns());
                        super::captions::PopOn::new(&cues, frame)
                    }
                    None => super::captions::PopOn::default(),
                };
                self.cp.captions().add(serial, &placement, track);
                self.items.insert(serial, active(Some(bin)));
            }
            Err(e) => self.record_failure(airing, Failure::Transient(e.to_string())),
        }
    }

    fn check(&mut self, serial: u64, now_rt: u64) {
        let position = self.cp.mixed_position();
        let Some(a) = self.items.get_mut(&serial) else { return };
        let p = a.placement;
        let live = a.bin.as_ref().is_none_or(|b| b.is_live());
        // On air: ready, its time come, and the output going out before its end (a cold
        // output may begin at the next airing).
        if !a.started && live && now_rt >= p.air_ns && self.cp.output_from().is_some_and(|from| from < p.end_ns) {
            a.started = true;
            let actual_start = self.anchor.wall_at(p.air_ns);
            if let Some(s) = &self.deps.config.presentation.standby {
                s.uncover(key(&a.airing), actual_start);
            }
            let entry = AsRunEvent {
                channel: self.deps.config.channel,
                airing: a.airing.clone(),
                actual_start,
                actual_end: None,
                status: AsRunStatus::Started,
                reason: None,
            };
            self.deps.record(entry);
        }
        let slot = p.slot_ns();
        let (played, finished, early, delivered, source_done) = match &a.bin {
            Some(b) => (
                b.progress.played_ns.load(Ordering::SeqCst),
                b.is_finished(),
                b.progress.ended_early.load(Ordering::SeqCst),
                b.progress.delivered.load(Ordering::Relaxed),
                b.progress.source_done(),
            ),
            None => (slot, now_rt >= p.end_ns, false, 0, true),
        };
        if delivered != a.delivered.0 {
            a.delivered = (delivered, position);
        }
        // Against the output too: on a starved box opening a file takes longer in wall time.
        if !live && position > p.air_ns + watchdog::NOT_READY_NS {
            return self.fail(serial, Failure::Transient("media did not open in time".into()));
        }
        // Measured against the output, not the clock: on a starved box the output is late
        // too, and a slow source is not a dead one.
        let on_air = live && a.bin.is_some() && position > p.air_ns;
        if on_air && watchdog::is_stalled(position, a.delivered.1.max(p.air_ns), finished || source_done) {
            let s = watchdog::STALL_NS / 1_000_000_000;
            let secs = |ns: u64| ns.saturating_sub(p.air_ns) as f64 / 1e9;
            let why = Failure::Transient(format!(
                "stalled: the source delivered nothing for {s} s of output ({} buffers, the last at \
                     {:.2} s of output into the item, {:.2} s played, output now at {:.2} s, clock at {:.2} s)",
                a.delivered.0,
                secs(a.delivered.1),
                played as f64 / 1e9,
                secs(position),
                secs(now_rt),
            ));
            return self.fail(serial, why);
        }
        let end_rt = if finished { p.air_ns + played.min(slot) } else { p.end_ns };
        if watchdog::retire_due(end_rt, finished, p.end_ns, position, now_rt) {
            tracing::debug!(
                item = serial,
                end_ms = end_rt / 1_000_000,
                mixed_ms = position / 1_000_000,
                picture_ms = self.cp.meter().position_ns.load(Ordering::Relaxed) / 1_000_000,
                "item taken off"
            );
            let a = self.items.remove(&serial).expect("present");
            let never = (!a.started).then(|| {
                let why = match &a.bin {
                    Some(b) if b.is_live() => "linked too late",
                    Some(_) => "not ready in time",
                    None => "no media",
                };
                let joined = if p.joined { "joined in progress, " } else { "" };
                format!(
                    "never went on air ({why}: {joined}{:.2} s of slot, built {:.2} s before)",
                    slot as f64 / 1e9,
                    a.built.elapsed().as_secs_f64()
                )
            });
            self.cp.captions().remove(serial, false);
            // Every decoder took in all the slot needs while the item's pictures came late.
            let decoder_behind = a
                .bin
                .as_ref()
                .is_some_and(|b| b.progress.encoded_done() && b.progress.late_dropped.load(Ordering::Relaxed) > 0);
            if let Some(bin) = a.bin {
                store_measured(self.deps, &a.airing, &bin);
                bin.retire(&self.cp, &self.deps.reaper);
            }
            if a.short_join && !a.started {
                tracing::debug!(item = serial, title = %a.airing.title, "joined too late to air: the next airing opened the output");
                return;
            }
            let frame = self.cp.rate().frame_ns();
            let secs = |ns: u64| ns as f64 / 1e9;
            let (status, mut reason) = match (never, watchdog::ending(played, slot, frame, early, decoder_behind)) {
                (Some(never), _) => (AsRunStatus::Failed, Some(never)),
                (None, watchdog::Ending::Whole) => (AsRunStatus::Aired, None),
                (None, watchdog::Ending::PicturesLate(missing)) => (
                    AsRunStatus::Aired,
                    Some(format!(
                        "its last {:.3} s of pictures came too late and were dropped (the box was busy)",
                        secs(missing)
                    )),
                ),
                (None, watchdog::Ending::MediaEnded(missing)) => {
                    let mut reason = format!("media ended {:.3} s before the slot end", secs(missing));
                    // The airing's out-point is where the library measured the media to go
                    // on to: ending well before it means the file changed under us.
                    let reached_ms = ((p.media_ns + played) / 1_000_000) as i64;
                    if reached_ms + 500 < a.airing.offset_out_ms {
                        reason.push_str(&format!(
                            ", at {:.1} s of the {:.1} s expected (truncated or replaced since the scan?)",
                            reached_ms as f64 / 1e3,
                            a.airing.offset_out_ms as f64 / 1e3
                        ));
                    }
                    (AsRunStatus::Partial, Some(reason))
                }
                (None, watchdog::Ending::MediaStopped(missing)) => {
                    (AsRunStatus::Partial, Some(format!("media stopped {:.3} s before the slot end", secs(missing))))
                }
            };
            if let Some(note) = a.note {
                reason = Some(match reason {
                    Some(r) => format!("{r}; {note}"),
                    None => note,
                });
            }
            self.deps.record(AsRunEvent {
                channel: self.deps.config.channel,
                actual_start: self.anchor.wall_at(p.air_ns),
                actual_end: Some(self.anchor.wall_at(p.air_ns + played.min(slot))),
                airing: a.airing,
                status,
                reason,
            });
        }
    }

    /// Take an item off the air after a failure; the background covers until the content
    /// watchdog tries it again (or for the rest of its slot).
    fn fail(&mut self, serial: u64, failure: Failure) {
        let Some(a) = self.items.remove(&serial) else { return };
        let reason = match &failure {
            Failure::Transient(r) | Failure::Permanent(r) => r.clone(),
        };
        tracing::warn!(channel = %self.deps.config.channel, title = %a.airing.title, %reason, "item failed");
        self.cp.captions().remove(serial, true);
        if let Some(bin) = a.bin {
            store_measured(self.deps, &a.airing, &bin);
            bin.retire(&self.cp, &self.deps.reaper);
        }
        let now = self.deps.clock.now();
        self.note_failure(&a.airing, failure);
        self.stand_by(&a.airing, now);
        self.deps.record(AsRunEvent {
            channel: self.deps.config.channel,
            actual_start: if a.started { self.anchor.wall_at(a.placement.air_ns) } else { now.max(a.airing.start) },
            actual_end: Some(now.min(a.airing.end)),
            airing: a.airing,
            status: AsRunStatus::Failed,
            reason: Some(reason),
        });
    }

    fn record_failure(&mut self, airing: Airing, failure: Failure) {
        let reason = match &failure {
            Failure::Transient(r) | Failure::Permanent(r) => r.clone(),
        };
        tracing::warn!(channel = %self.deps.config.channel, title = %airing.title, %reason, "item cannot play");
        let now = self.deps.clock.now();
        self.note_failure(&airing, failure);
        self.stand_by(&airing, now);
        self.deps.record(AsRunEvent {
            channel: self.deps.config.channel,
            actual_start: now.max(airing.start),
            actual_end: Some(airing.end.min(now.max(airing.start))),
            airing,
            status: AsRunStatus::Failed,
            reason: Some(reason),
        });
    }

    /// The background covers `airing` from `now`: the graphics show "Please stand by" there
    /// until its end, or until a retry puts it back on the air.
    fn stand_by(&self, airing: &Airing, now: DateTime<Utc>) {
        if let Some(s) = &self.deps.config.presentation.standby {
            s.cover(key(airing), now.max(airing.start), airing.end);
        }
    }

    fn note_failure(&mut self, airing: &Airing, failure: Failure) {
        let tries = self.failed.get(&key(airing)).map_or(0, |r| r.tries);
        self.failed.insert(key(airing), Retry { tries, failure, failed_at: Instant::now() });
    }
}

/// Hand what the item's on-air loudness control measured to the library, if it covered
/// enough of the item to stand for it.
fn store_measured(deps: &Deps, airing: &Airing, bin: &ItemBin) {
    if let (Some(book), Some(id), Some(m)) = (&deps.config.loudness, airing.media_id, bin.measured())
        && m.seconds >= MIN_ON_AIR_SECS
        && !deps.shared.is_abandoned()
    {
        tracing::debug!(title = %airing.title, lufs = m.lufs, seconds = m.seconds, "loudness measured on the air");
        book.measured_on_air(id, m.lufs, m.seconds);
    }
}

/// Start `pipeline` and wait until it plays; why not, and the element that said so.
fn start_pipeline(pipeline: &gst::Pipeline) -> Result<(), (String, Option<gst::Object>)> {
    super::pipeline::preset_base_time(pipeline);
    let what = match pipeline.set_state(gst::State::Playing) {
        Err(e) => format!("cannot start pipeline: {e}"),
        Ok(_) => {
            // Generous: on a loaded machine the first encoded frame (which completes the
            // sinks' state change) can take seconds.
            let (res, state, pending) = pipeline.state(gst::ClockTime::from_seconds(20));
            if let (Ok(_), gst::State::Playing) = (res, state) {
                return Ok(());
            }
            format!("pipeline did not reach PLAYING ({res:?}, {state:?}, pending {pending:?})")
        }
    };
    // The element that failed said why on the bus.
    let Some(msg) = pipeline.bus().and_then(|b| b.pop_filtered(&[gst::MessageType::Error])) else {
        return Err((what, None));
    };
    let why = match msg.view() {
        gst::MessageView::Error(e) => format!(
            ": {} from {} ({})",
            e.error(),
            msg.src().map(|s| s.path_string().to_string()).unwrap_or_default(),
            e.debug().map(|d| d.to_string()).unwrap_or_default()
        ),
        _ => String::new(),
    };
    Err((format!("{what}{why}"), msg.src().cloned()))
}

/// Identity of an airing for "already prepared": its row id and its end. Handled keys are
/// kept until a minute after the airing ends, so a long item (or a slate joined far into
/// its span) is never prepared a second time while it is still on air.
fn key(a: &Airing) -> (i64, i64) {
    (a.id, a.end.timestamp_millis())
}

/// The media `airing` plays: none for a slate or a generated card, which show the background
/// and the graphics and have nothing to open.
fn media(airing: &Airing) -> Option<&str> {
    airing.uri.as_deref().filter(|_| airing.kind != AiringKind::Slate)
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
