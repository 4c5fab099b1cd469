//! [`ChannelPlayer`]: the handle to one channel's playout actor, and the [`Command`]s it takes.
//! The actor runs on a thread of its own with a small single-threaded runtime: whatever a
//! GStreamer call does there (a seek that waits for a stuck streaming thread, a state change
//! that takes seconds on a starved box), the daemon's async workers, and so HTTP, the tuners
//! and the other channels, keep answering. A handle can tell that its actor stopped
//! answering ([`ChannelPlayer::silent_for`]) and give up on it ([`ChannelPlayer::abandon`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use tokio::sync::{mpsc, watch};

use super::encoder::EncoderKind;
use super::pipeline::{ChannelPipeline, Output, OverlayFactory};
use super::reaper::Reaper;
use super::timeline::Anchor;
use super::{AsRunSink, ItemLoudness, ItemSubtitles, actor};
use crate::clock::SharedClock;
use crate::lineup::{AudioTracks, ChannelId, OutputProfile};
use crate::schedule::horizons::Horizon;
use crate::stream::Health;

/// How to run a channel.
#[derive(Clone)]
pub struct PlayerConfig {
    /// The channel.
    pub channel: ChannelId,
    /// Output format.
    pub profile: OutputProfile,
    /// Encoder (see [`super::encoder::probe`]).
    pub encoder: EncoderKind,
    /// What to do when it fails on air.
    pub fallback: EncoderFallback,
    /// Loudness target (LUFS) every item is brought to.
    pub target_lufs: f64,
    /// Where each item's latest loudness is read and on-air measurements go; `None`: the
    /// airing's own `loudness_lufs` is used and nothing is stored.
    pub loudness: Option<Arc<dyn ItemLoudness>>,
    /// Where the cues of each item's text subtitle track are read (`None`: only subtitle
    /// files beside the media air as captions).
    pub subtitles: Option<Arc<dyn ItemSubtitles>>,
    /// The audio tracks (languages) the channel carries.
    pub audio_tracks: AudioTracks,
    /// Graphics seam (see [`super::pipeline`]).
    pub overlay: Option<OverlayFactory>,
    /// Alert audio seam (see [`super::pipeline`]).
    pub audio_overlay: Option<OverlayFactory>,
    /// Stand-by cover and preview window (see [`super::station`]).
    pub presentation: super::station::Presentation,
    /// Closed captions from the items' subtitles ([`ChannelSettings::captions`]).
    ///
    /// [`ChannelSettings::captions`]: crate::lineup::ChannelSettings::captions
    pub captions: bool,
}

/// What a channel does when its encoder fails on air (an error from the encoder, or no output
/// while its input flows): it is rebuilt at once on the next of `next`, and the preferred
/// encoder is tried again after `retry_after`, doubling after each new failure up to
/// [`MAX_ENCODER_RETRY`] (back to `retry_after` once it held that long).
#[derive(Debug, Clone)]
pub struct EncoderFallback {
    /// Verified encoders to fall back to, in order ([`super::encoder::fallbacks`]).
    pub next: Vec<EncoderKind>,
    /// First wait before the preferred encoder is tried again.
    pub retry_after: Duration,
}

/// The longest wait before a failed encoder is tried again.
pub const MAX_ENCODER_RETRY: Duration = Duration::from_secs(30 * 60);

impl Default for EncoderFallback {
    /// No fallback (the channel is rebuilt on its encoder); a minute before a retry.
    fn default() -> Self {
        Self { next: Vec::new(), retry_after: Duration::from_secs(60) }
    }
}

/// A closure run on the actor task with the live pipeline (graphics, alerts).
pub type PipelineFn = Box<dyn FnOnce(&ChannelPipeline) + Send>;

/// What a channel actor can be told.
pub enum Command {
    /// Stop the pipeline and end the actor.
    Stop,
    /// Tear the pipeline down and rebuild it now; it rejoins the timeline in progress.
    Restart,
    /// Run a closure with the current pipeline (dropped if no pipeline is running).
    WithPipeline(PipelineFn),
}

/// What a channel is doing.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerStatus {
    /// A pipeline is playing.
    pub running: bool,
    /// Pipeline rebuilds so far.
    pub restarts: u32,
    /// The current pipeline's time anchor.
    pub anchor: Option<Anchor>,
    /// Where the current pipeline's output timeline starts (ns added to its running time at
    /// the multiplexer; see [`crate::stream::Feed::timeline_end_ns`]).
    pub output_offset_ns: u64,
    /// Title of the item on air.
    pub on_air: Option<String>,
    /// The last fatal pipeline error.
    pub last_error: Option<String>,
    /// The encoder element running the channel now.
    pub encoder: Option<String>,
    /// The last change of encoder: when, and why (a failure and the fallback, or a retry).
    pub encoder_change: Option<(DateTime<Utc>, String)>,
    /// The channel keeps real time (see [`super::watchdog::RealtimeMeter`]).
    pub realtime: bool,
    /// How late the output is against the clock (ms, mixer latency included).
    pub late_ms: i64,
    /// Frames dropped before the encoder because it was behind (this pipeline).
    pub dropped_frames: u64,
    /// Item frames dropped as too late for the mixer (items on air now).
    pub late_dropped_frames: u64,
    /// Times the content watchdog acted (this actor).
    pub watchdog_recoveries: u32,
    /// The last of them: when, and what it did why.
    pub last_recovery: Option<(DateTime<Utc>, String)>,
    /// Retired bins still on their way to NULL.
    pub reaping: usize,
}

impl Default for PlayerStatus {
    fn default() -> Self {
        Self {
            running: false,
            restarts: 0,
            anchor: None,
            output_offset_ns: 0,
            on_air: None,
            last_error: None,
            encoder: None,
            encoder_change: None,
            realtime: true,
            late_ms: 0,
            dropped_frames: 0,
            late_dropped_frames: 0,
            watchdog_recoveries: 0,
            last_recovery: None,
            reaping: 0,
        }
    }
}

impl PlayerStatus {
    /// The channel's health as the edges see it.
    pub fn health(&self) -> Health {
        Health {
            playing: self.running,
            encoder: self.encoder.clone(),
            encoder_change: self.encoder_change.clone(),
            on_air: self.on_air.clone(),
            realtime: self.realtime,
            late_ms: self.late_ms,
            dropped_frames: self.dropped_frames,
            restarts: self.restarts,
            last_error: self.last_error.clone(),
            watchdog_recoveries: self.watchdog_recoveries,
            last_recovery: self.last_recovery.clone(),
        }
    }
}

/// The player could not start.
#[derive(Debug, thiserror::Error)]
pub enum PlayerError {
    /// GStreamer did not initialise.
    #[error("GStreamer init failed: {0}")]
    Init(#[source] glib::Error),
    /// The actor is gone.
    #[error("channel {0} playout has stopped")]
    Gone(ChannelId),
    /// No thread for the actor.
    #[error("cannot start the channel's thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Handle to a running channel. Dropping it stops the channel.
pub struct ChannelPlayer {
    channel: ChannelId,
    tx: mpsc::Sender<Command>,
    status: watch::Receiver<PlayerStatus>,
    shared: Arc<actor::Shared>,
    ended: Arc<AtomicBool>,
    done: tokio::sync::oneshot::Receiver<()>,
}

/// How long [`ChannelPlayer::stop`] waits for the actor before abandoning it.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

impl ChannelPlayer {
    /// Start a channel's actor (on the current tokio runtime).
    pub fn spawn(
        config: PlayerConfig,
        airings: watch::Receiver<Arc<Horizon>>,
        as_run: Arc<dyn AsRunSink>,
        clock: SharedClock,
        output: Output,
    ) -> Result<Self, PlayerError> {
        gstreamer::init().map_err(PlayerError::Init)?;
        let (tx, rx) = mpsc::channel(16);
        let (status_tx, status) = watch::channel(PlayerStatus::default());
        let channel = config.channel;
        let shared = Arc::new(actor::Shared::new());
        let deps =
            actor::Deps { config, airings, as_run, clock, output, shared: shared.clone(), reaper: Reaper::new() };
        let ended = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let thread_ended = ended.clone();
        std::thread::Builder::new()
            .name(format!("channel-{channel}"))
            .spawn(move || {
                // Set however the thread ends (a panic included).
                struct Ended(Arc<AtomicBool>, Option<tokio::sync::oneshot::Sender<()>>);
                impl Drop for Ended {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::SeqCst);
                        if let Some(tx) = self.1.take() {
                            let _ = tx.send(());
                        }
                    }
                }
                let _ended = Ended(thread_ended, Some(done_tx));
                match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt.block_on(actor::run(deps, rx, status_tx)),
                    Err(e) => tracing::error!(%channel, error = %e, "cannot start the channel's runtime"),
                }
            })
            .map_err(PlayerError::Thread)?;
        Ok(Self { channel, tx, status, shared, ended, done })
    }

    /// The channel.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// Current status.
    pub fn status(&self) -> PlayerStatus {
        self.status.borrow().clone()
    }

    /// Wait until a pipeline is playing (true) or `timeout` passes (false).
    pub async fn wait_running(&self, timeout: Duration) -> bool {
        let mut rx = self.status.clone();
        tokio::time::timeout(timeout, rx.wait_for(|s| s.running)).await.is_ok_and(|r| r.is_ok())
    }

    /// Rebuild the pipeline now (viewers stay connected; the stream restarts at a keyframe).
    pub async fn restart(&self) -> Result<(), PlayerError> {
        self.tx.send(Command::Restart).await.map_err(|_| PlayerError::Gone(self.channel))
    }

    /// Run `f` on the actor with the live pipeline.
    pub async fn with_pipeline(&self, f: impl FnOnce(&ChannelPipeline) + Send + 'static) -> Result<(), PlayerError> {
        self.tx.send(Command::WithPipeline(Box::new(f))).await.map_err(|_| PlayerError::Gone(self.channel))
    }

    /// Whether the actor has ended without being stopped (it panicked): the channel is dead
    /// and its owner must start a new player.
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// How long since the actor last went round its loop: long silences mean it is stuck in
    /// a call that does not return.
    pub fn silent_for(&self) -> Duration {
        self.shared.silent_for()
    }

    /// Give up on the actor (stuck): it records and publishes nothing from now on and ends
    /// whenever its thread comes back, its pipeline left to the reaper. The thread itself
    /// cannot be taken back if it never returns; it does not hold the daemon's exit.
    pub fn abandon(self) {
        self.shared.abandon();
        let _ = self.tx.try_send(Command::Stop);
    }

    /// Stop the channel and wait (up to [`STOP_TIMEOUT`]) for its pipeline to be torn down;
    /// an actor that does not answer in time is abandoned. True if it stopped in time.
    pub async fn stop(mut self) -> bool {
        let this = &mut self;
        let in_time = tokio::time::timeout(STOP_TIMEOUT, async {
            let _ = this.tx.send(Command::Stop).await;
            let _ = (&mut this.done).await;
        })
        .await
        .is_ok();
        let this = self;
        if in_time {
            tracing::info!(channel = %this.channel, "channel stopped");
        } else {
            tracing::warn!(channel = %this.channel, "channel playout did not stop in time: abandoned");
            this.abandon();
        }
        in_time
    }
}
