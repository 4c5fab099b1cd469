//! `/api/schedule/rebuild`: "rebuild now" — replan every channel (or one) after the frozen
//! window at once, as the daemon does within seconds after an edit; and [`ask_replan`], which
//! the other routes call after an edit that changes what should air.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use crate::lineup::ChannelId;
use crate::schedule::horizon::{self, BuildMode, BuildReport};
use crate::schedule::store as schedule_store;
use crate::web::WebState;
use crate::web::error::{Error, Flatten, ResultExt};

/// Body of `POST /api/schedule/rebuild`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rebuild {
    /// Only this channel (default every enabled one).
    #[serde(default)]
    pub channel: Option<i64>,
}

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new().route("/schedule/rebuild", post(rebuild))
}

/// Ask the daemon to replan after the frozen window (one channel, or all): an edit that
/// changes what should air. The horizon job serves it within seconds.
pub async fn ask_replan(state: &WebState, channel: Option<ChannelId>, reason: String) -> Result<(), Error> {
    let now = state.now_ms();
    state.db.call(move |c| schedule_store::request_replan(c, channel, &reason, now)).await.flat("asking for a replan")
}

/// `POST /api/schedule/rebuild`: replan now, keeping the frozen window as published.
pub async fn rebuild(State(state): State<WebState>, Json(body): Json<Rebuild>) -> Result<Json<BuildReport>, Error> {
    let only = body.channel.map(|c| vec![ChannelId(c)]);
    let (db, cfg, now) = (state.db.clone(), state.config.schedule.clone(), state.clock.now());
    let report = tokio::task::spawn_blocking(move || {
        horizon::build_for(&db, &cfg, now, cfg.horizon_days, BuildMode::Replan { force: false }, only.as_deref())
    })
    .await
    .ctx("rebuilding the schedule")?
    .ctx("rebuilding the schedule")?;
    state.published.set(report.generation);
    tracing::info!(channels = report.channels.len(), "web: schedule rebuilt after the frozen window");
    Ok(Json(report))
}
