//! [`ChannelPlayer`]: the handle to one channel's playout actor, and the [`Command`]s it takes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::encoder::EncoderKind;
use super::pipeline::{ChannelPipeline, Output, OverlayFactory};
use super::timeline::Anchor;
use super::{AiringSource, AsRunSink, actor};
use crate::clock::SharedClock;
use crate::lineup::{ChannelId, OutputProfile};

/// How to run a channel.
#[derive(Clone)]
pub struct PlayerConfig {
    /// The channel.
    pub channel: ChannelId,
    /// Output format.
    pub profile: OutputProfile,
    /// Encoder (see [`super::encoder::probe`]).
    pub encoder: EncoderKind,
    /// Loudness target (LUFS) for the static per-item gain.
    pub target_lufs: f64,
    /// Graphics seam (see [`super::pipeline`]).
    pub overlay: Option<OverlayFactory>,
    /// Alert audio seam (see [`super::pipeline`]).
    pub audio_overlay: Option<OverlayFactory>,
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlayerStatus {
    /// A pipeline is playing.
    pub running: bool,
    /// Pipeline rebuilds so far.
    pub restarts: u32,
    /// The current pipeline's time anchor.
    pub anchor: Option<Anchor>,
    /// Title of the item on air.
    pub on_air: Option<String>,
    /// The last fatal pipeline error.
    pub last_error: Option<String>,
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
}

/// Handle to a running channel. Dropping it stops the channel.
pub struct ChannelPlayer {
    channel: ChannelId,
    tx: mpsc::Sender<Command>,
    status: watch::Receiver<PlayerStatus>,
    task: tokio::task::JoinHandle<()>,
}

impl ChannelPlayer {
    /// Start a channel's actor (on the current tokio runtime).
    pub fn spawn(
        config: PlayerConfig,
        source: Arc<dyn AiringSource>,
        as_run: Arc<dyn AsRunSink>,
        clock: SharedClock,
        output: Output,
    ) -> Result<Self, PlayerError> {
        gstreamer::init().map_err(PlayerError::Init)?;
        let (tx, rx) = mpsc::channel(16);
        let (status_tx, status) = watch::channel(PlayerStatus::default());
        let channel = config.channel;
        let deps = actor::Deps { config, source, as_run, clock, output };
        let task = tokio::spawn(actor::run(deps, rx, status_tx));
        Ok(Self { channel, tx, status, task })
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
        self.task.is_finished()
    }

    /// Stop the channel and wait for its pipeline to be torn down.
    pub async fn stop(self) {
        let _ = self.tx.send(Command::Stop).await;
        let _ = self.task.await;
    }
}
