//! Driving a channel player through the library API without a daemon: a fixed horizon of
//! airings as the schedule, an as-run log kept in memory, and a viewer that records the
//! channel's bytes.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use std::sync::Arc;

use retrovue::clock::SystemClock;
use retrovue::config::EncoderChoice;
use retrovue::lineup::{ChannelId, OutputProfile};
use retrovue::playout::pipeline::Output;
use retrovue::playout::{AsRunEvent, AsRunSink, AsRunStatus, ChannelPlayer, PlayerConfig, encoder};
use retrovue::schedule::horizons::{self, Horizon};
use retrovue::schedule::{Airing, AiringKind};
use retrovue::stream::hls::HlsWriter;
use retrovue::stream::{StreamHub, Subscription};

/// An as-run log kept in memory.
#[derive(Default)]
pub struct Log(pub Mutex<Vec<AsRunEvent>>);

impl AsRunSink for Log {
    fn record(&self, entry: AsRunEvent) {
        self.0.lock().unwrap().push(entry);
    }

    fn interrupted(&self, _: ChannelId, _: DateTime<Utc>, _: &str) {}
}

impl Log {
    /// The last final (not `Started`) status written for the airing titled `title`.
    pub fn final_status(&self, title: &str) -> Option<(AsRunStatus, Option<String>)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e.airing.title == title && e.status != AsRunStatus::Started)
            .map(|e| (e.status, e.reason.clone()))
    }
}

/// A program airing of the file at `path` on `channel`, `ms` long from `start`.
pub fn airing(id: i64, channel: ChannelId, title: &str, path: &Path, start: DateTime<Utc>, ms: i64) -> Airing {
    Airing {
        id,
        channel_id: channel,
        program_id: Some(id),
        start,
        end: start + chrono::Duration::milliseconds(ms),
        kind: AiringKind::Program,
        media_id: None,
        uri: Some(path.display().to_string()),
        title: title.into(),
        offset_in_ms: 0,
        offset_out_ms: ms,
        loudness_lufs: Some(-24.0),
        card: None,
    }
}

/// Everything `channel` sends to a viewer during `secs` seconds.
pub async fn capture(hub: &StreamHub, channel: ChannelId, secs: f64) -> Vec<u8> {
    read(hub.subscribe(channel), secs).await
}

/// Everything a viewer already subscribed receives during `secs` seconds.
pub async fn read(mut sub: Subscription, secs: f64) -> Vec<u8> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
    while let Ok(Some(bytes)) = tokio::time::timeout_at(deadline, sub.next()).await {
        out.extend_from_slice(&bytes);
    }
    out
}

/// Channel 1 in `profile` through x264, no graphics, loudness target -24 LUFS.
pub fn x264_config(profile: OutputProfile) -> PlayerConfig {
    gstreamer::init().unwrap();
    PlayerConfig {
        channel: ChannelId(1),
        profile,
        encoder: encoder::probe(&EncoderChoice::Named("x264enc".into())).unwrap(),
        fallback: Default::default(),
        target_lufs: -24.0,
        overlay: None,
        audio_overlay: None,
        presentation: Default::default(),
        captions: true,
        loudness: None,
        subtitles: None,
        audio_tracks: Default::default(),
    }
}

/// Channel 1 playing `airings` on the system clock into `hub` (and `hls`).
pub fn spawn(
    profile: OutputProfile,
    airings: Vec<Airing>,
    hub: &StreamHub,
    log: Arc<Log>,
    hls: Option<HlsWriter>,
) -> ChannelPlayer {
    spawn_config(x264_config(profile), airings, hub, log, hls)
}

/// Channel 1 with `config` playing `airings` on the system clock into `hub` (and `hls`).
pub fn spawn_config(
    config: PlayerConfig,
    airings: Vec<Airing>,
    hub: &StreamHub,
    log: Arc<Log>,
    hls: Option<HlsWriter>,
) -> ChannelPlayer {
    // RETROVUE_TEST_LOG=debug (say) shows the player's log in a test's output.
    if let Ok(filter) = std::env::var("RETROVUE_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let output = Output { feed: hub.feed(config.channel), hls };
    ChannelPlayer::spawn(config, horizons::fixed(Horizon::of(airings)), log, Arc::new(SystemClock), output).unwrap()
}
