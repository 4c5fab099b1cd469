//! The channel supervisor: which channels have a running playout actor. It follows the
//! watched lineup and the viewers' demand (the stream hub), never a database: always-on
//! channels run from start, on-demand ones start on their first viewer and stop after
//! `playout.idle_grace` without one; a channel whose profile or audio tracks change is
//! restarted, one whose graphics settings change is redrawn on air. An actor that died (a
//! panic) is started again with back-off; one that stopped answering (stuck in a GStreamer
//! call) is replaced — its pipeline can no longer publish or record — and in both cases the
//! as-run entries it left open are closed. Viewers stay subscribed to the channel's feed
//! throughout and continue at the new pipeline's first keyframe, its timestamps continuing
//! the old ones.
//!
//! Tuners: an always-on channel holds a tuner lease of its own while it runs, so it counts
//! against `TunerCount` and the encoder's budget like a viewer's channel (one that does not
//! fit is not started, and said so). An on-demand channel in its idle grace holds none; when
//! its tuner is wanted by another channel it stops at once instead of encoding on beside it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::encoder::{self, EncoderKind};
use super::overlay::ChannelGraphics;
use super::pipeline::{Output, OverlayFactory};
use super::player::{ChannelPlayer, EncoderFallback, PlayerConfig, PlayerError};
use super::watchdog::Backoff;
use super::{AsRunSink, ItemLoudness, ItemSubtitles};
use crate::clock::SharedClock;
use crate::config::PlayoutConfig;
use crate::lineup::{AudioTracks, Channel, ChannelId, ChannelMode, Lineup, OutputProfile};
use crate::schedule::horizons::{Horizon, Horizons};
use crate::stream::StreamHub;
use crate::stream::hls::HlsWriter;
use crate::stream::http::hls_dir_of;
use crate::stream::tuners::{Lease, TunerChoice};

/// An actor that has not gone round its loop for this long is stuck in a call.
const STUCK_AFTER: Duration = Duration::from_secs(15);
/// How often the supervisor looks at its actors (idle grace, back-off, stuck, dead).
const ROUND: Duration = Duration::from_millis(500);

/// A channel's graphics and alert display, made as it starts; dropping it stops their tasks.
pub struct ChannelOverlay {
    /// For `PlayerConfig::overlay`.
    pub video: OverlayFactory,
    /// For `PlayerConfig::audio_overlay`.
    pub audio: OverlayFactory,
    /// The graphics (settings applied on air).
    pub graphics: ChannelGraphics,
    /// For `PlayerConfig::presentation`: the stand-by cover, a guide's preview window.
    pub presentation: super::station::Presentation,
    /// Whatever keeps the channel's graphics tasks running.
    pub keep: Box<dyn std::any::Any + Send>,
}

/// Makes [`ChannelOverlay`]s (the director wires the graphics, the emergency watch and the
/// library's facts behind it).
pub trait Overlays: Send + Sync + 'static {
    /// Graphics for `channel`, its cues following `airings`.
    fn for_channel(&self, channel: &Channel, airings: watch::Receiver<Arc<Horizon>>) -> ChannelOverlay;
}

/// What the supervisor needs.
pub struct SupervisorDeps {
    /// Playout settings (encoder choice, idle grace, loudness target, HLS).
    pub settings: PlayoutConfig,
    /// The channels that exist.
    pub lineup: watch::Receiver<Arc<Lineup>>,
    /// Each channel's published horizon.
    pub horizons: Horizons,
    /// Fan-out and demand.
    pub hub: StreamHub,
    /// The as-run log.
    pub as_run: Arc<dyn AsRunSink>,
    /// Items' latest loudness, and where on-air measurements go (`None`: each airing's own
    /// `loudness_lufs`, nothing stored).
    pub loudness: Option<Arc<dyn ItemLoudness>>,
    /// The cues of items' text subtitle tracks (`None`: subtitle files beside the media only).
    pub subtitles: Option<Arc<dyn ItemSubtitles>>,
    /// Clock.
    pub clock: SharedClock,
    /// Graphics and alert display per channel, if any.
    pub overlays: Option<Arc<dyn Overlays>>,
    /// Shutdown.
    pub shutdown: CancellationToken,
}

struct Running {
    player: ChannelPlayer,
    overlay: Option<ChannelOverlay>,
    profile: OutputProfile,
    /// Its audio tracks: a change rebuilds the pipeline, like the profile.
    audio: AudioTracks,
    /// The channel as its graphics last drew it: a change is applied on air.
    drawn: Channel,
    idle_since: Option<Instant>,
    started: Instant,
    /// An always-on channel's own tuner.
    lease: Option<Lease>,
}

/// Restart state of a channel whose actor died or was replaced.
struct Crashes {
    backoff: Backoff,
    not_before: Instant,
}

/// Run channels until shutdown.
pub async fn run(mut deps: SupervisorDeps) {
    if let Err(e) = gstreamer::init() {
        tracing::error!(error = %e, "GStreamer did not start: no channels will play");
        return;
    }
    // Probing creates elements (a hardware encoder may take its time to open): off the
    // async workers.
    let choice = deps.settings.encoder.clone();
    let encoder = match tokio::task::spawn_blocking(move || encoder::probe(&choice)).await {
        Ok(Ok(k)) => k,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "no H.264 encoder: no channels will play");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "encoder probe failed: no channels will play");
            return;
        }
    };
    tracing::info!(encoder = encoder.element(), "playout encoder");
    // The encoders a channel falls back to when this one fails on air, verified now (a trial
    // encode each) so a failure on air switches at once.
    let choice = deps.settings.encoder.clone();
    let fallback = EncoderFallback {
        next: tokio::task::spawn_blocking(move || encoder::fallbacks(&choice, encoder, &OutputProfile::default()))
            .await
            .unwrap_or_default(),
        retry_after: deps.settings.encoder_retry,
    };
    let fallback_names: Vec<&str> = fallback.next.iter().map(|k| k.element()).collect();
    tracing::info!(encoder = encoder.element(), fallbacks = ?fallback_names, retry_s = fallback.retry_after.as_secs(), "encoder fallback order");
    // Channels start anyway (a missing decoder only hurts the files that need it), but each
    // missing element is said once, with what to install.
    for missing in crate::elements::missing() {
        tracing::error!("{missing}");
    }
    let mut demand = deps.hub.demand();
    let mut running: HashMap<ChannelId, Running> = HashMap::new();
    let mut crashes: HashMap<ChannelId, Crashes> = HashMap::new();
    // Channels whose stuck actor was replaced: started again at once, viewers or not.
    let mut replaced: Vec<ChannelId> = Vec::new();
    let mut round = tokio::time::interval(ROUND);
    // Stops run beside the loop (each bounded by `STOP_TIMEOUT`), so one slow channel never
    // holds up the others.
    let stopping = tokio_util::task::TaskTracker::new();
    let mut last_round = Instant::now();
    // Always-on channels that did not fit the tuners (said once each).
    let mut unfit: std::collections::HashSet<ChannelId> = std::collections::HashSet::new();
    loop {
        tokio::select! {
            _ = deps.shutdown.cancelled() => break,
            r = demand.changed() => if r.is_err() { break },
            r = deps.lineup.changed() => if r.is_err() { break },
            _ = round.tick() => {}
        }
        // A round that came late (the whole process starved or stopped) cannot judge how
        // long an actor has been silent.
        let steady = last_round.elapsed() < Duration::from_secs(2);
        last_round = Instant::now();
        let lineup = deps.lineup.borrow_and_update().clone();
        let dead: Vec<ChannelId> = running.iter().filter(|(_, r)| r.player.has_ended()).map(|(id, _)| *id).collect();
        for id in dead {
            let r = running.remove(&id).expect("present");
            let c =
                crashes.entry(id).or_insert_with(|| Crashes { backoff: Backoff::new(), not_before: Instant::now() });
            let delay = c.backoff.failed(r.started.elapsed());
            c.not_before = Instant::now() + delay;
            tracing::error!(channel = %id, delay_ms = delay.as_millis() as u64, "channel playout died: restarting");
            // The dead pipeline's GOP would not continue into the new one.
            deps.hub.feed(id).close();
            deps.as_run.interrupted(id, deps.clock.now(), "interrupted: channel playout died");
            stopping.spawn(r.player.stop());
        }
        let stuck: Vec<ChannelId> =
            running.iter().filter(|(_, r)| steady && r.player.silent_for() >= STUCK_AFTER).map(|(id, _)| *id).collect();
        for id in stuck {
            let r = running.remove(&id).expect("present");
            let reason = format!("channel playout stuck for {} s", r.player.silent_for().as_secs());
            tracing::error!(channel = %id, action = "replace", %reason, "content watchdog: recovered");
            deps.hub.feed(id).close();
            deps.as_run.interrupted(id, deps.clock.now(), &format!("interrupted: {reason}"));
            let c =
                crashes.entry(id).or_insert_with(|| Crashes { backoff: Backoff::new(), not_before: Instant::now() });
            c.backoff.failed(r.started.elapsed());
            c.not_before = Instant::now();
            replaced.push(id);
            r.player.abandon();
        }
        let viewers = demand.borrow_and_update().clone();
        let grace = deps.settings.idle_grace;
        for ch in &lineup.channels {
            let watched = viewers.get(&ch.id).copied().unwrap_or(0) > 0;
            let always = ch.settings.mode == ChannelMode::AlwaysOn;
            match running.get_mut(&ch.id) {
                Some(r) if r.profile != ch.settings.profile || r.audio != ch.settings.audio => {
                    let r = running.remove(&ch.id).expect("present");
                    stopping.spawn(r.player.stop());
                }
                Some(r) => {
                    if r.drawn != *ch {
                        if let Some(o) = &r.overlay {
                            o.graphics.apply_settings(ch);
                        }
                        r.drawn = ch.clone();
                    }
                    match (always, r.lease.is_some()) {
                        (true, false) => r.lease = own_tuner(&deps.hub, ch, &mut unfit),
                        (false, true) => r.lease = None,
                        _ => {}
                    }
                    r.idle_since = if watched || always { None } else { r.idle_since.or(Some(Instant::now())) };
                    let tuner_wanted = r.idle_since.is_some()
                        && !deps.hub.tuners().carries(ch.id)
                        && !deps.hub.tuners().would_fit(ch.settings.profile.macroblocks_per_second());
                    if tuner_wanted || r.idle_since.is_some_and(|t| t.elapsed() >= grace) {
                        let why = if tuner_wanted { "its tuner went to another channel" } else { "no viewers" };
                        tracing::info!(channel = %ch.number, "{why}: stopping channel");
                        let r = running.remove(&ch.id).expect("present");
                        stopping.spawn(r.player.stop());
                    }
                    continue;
                }
                None => {}
            }
            if crashes.get(&ch.id).is_some_and(|c| Instant::now() < c.not_before) {
                continue;
            }
            if (watched || always || replaced.contains(&ch.id)) && !running.contains_key(&ch.id) {
                // (A watched channel is on its viewers' tuner already: sharing always fits.)
                let lease = if always { own_tuner(&deps.hub, ch, &mut unfit) } else { None };
                if always && lease.is_none() && !watched {
                    continue;
                }
                match start(&deps, ch, encoder, &fallback).await {
                    Ok((player, overlay)) => {
                        tracing::info!(channel = %ch.number, "channel started");
                        replaced.retain(|id| *id != ch.id);
                        running.insert(
                            ch.id,
                            Running {
                                player,
                                overlay,
                                profile: ch.settings.profile,
                                audio: ch.settings.audio.clone(),
                                drawn: ch.clone(),
                                idle_since: None,
                                started: Instant::now(),
                                lease,
                            },
                        );
                    }
                    Err(e) => tracing::warn!(channel = %ch.number, error = %e, "cannot start channel"),
                }
            }
        }
        let gone: Vec<ChannelId> = running.keys().filter(|id| lineup.by_id(**id).is_none()).copied().collect();
        for id in gone {
            if let Some(r) = running.remove(&id) {
                stopping.spawn(r.player.stop());
            }
        }
    }
    for (_, r) in running.drain() {
        stopping.spawn(r.player.stop());
    }
    stopping.close();
    stopping.wait().await;
}

/// A tuner for an always-on channel, or `None` (said once) when it does not fit.
fn own_tuner(hub: &StreamHub, ch: &Channel, unfit: &mut std::collections::HashSet<ChannelId>) -> Option<Lease> {
    let cost = ch.settings.profile.macroblocks_per_second();
    match hub.tuners().acquire_costing(TunerChoice::Auto, ch.id, &ch.number, cost) {
        Ok(l) => {
            unfit.remove(&ch.id);
            Some(l)
        }
        Err(e) => {
            if unfit.insert(ch.id) {
                tracing::error!(channel = %ch.number, reason = %e, "always-on channel does not fit the tuners: not started");
            }
            None
        }
    }
}

/// Why a channel could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its HLS directory could not be prepared.
    #[error(transparent)]
    Hls(#[from] crate::stream::hls::HlsError),
    /// Its schedule could not be read.
    #[error(transparent)]
    Schedule(#[from] crate::schedule::store::ScheduleStoreError),
    /// The player could not start.
    #[error(transparent)]
    Player(#[from] PlayerError),
}

async fn start(
    deps: &SupervisorDeps,
    ch: &Channel,
    encoder: EncoderKind,
    fallback: &EncoderFallback,
) -> Result<(ChannelPlayer, Option<ChannelOverlay>), StartError> {
    let now = deps.clock.now().timestamp().max(0) as u64;
    let hls = HlsWriter::start(&hls_dir_of(&deps.settings.hls_dir, ch.id), deps.settings.hls_window, now)?;
    let airings = deps.horizons.subscribe(ch.id).await?;
    let overlay = deps.overlays.as_ref().map(|o| o.for_channel(ch, airings.clone()));
    let config = PlayerConfig {
        channel: ch.id,
        profile: ch.settings.profile,
        encoder,
        fallback: fallback.clone(),
        target_lufs: deps.settings.target_lufs,
        loudness: deps.loudness.clone(),
        subtitles: deps.subtitles.clone(),
        audio_tracks: ch.settings.audio.clone(),
        overlay: overlay.as_ref().map(|g| g.video.clone()),
        audio_overlay: overlay.as_ref().map(|g| g.audio.clone()),
        presentation: overlay.as_ref().map(|g| g.presentation.clone()).unwrap_or_default(),
        captions: ch.settings.captions,
    };
    let output = Output { feed: deps.hub.feed(ch.id), hls: Some(hls) };
    let player = ChannelPlayer::spawn(config, airings, deps.as_run.clone(), deps.clock.clone(), output)?;
    Ok((player, overlay))
}
