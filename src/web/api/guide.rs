//! `/api/guide`: the next hours of every channel from the schedule store, the same rows
//! that air and that `/xmltv.xml` renders; with each channel's stream URLs for the page's
//! preview player. Also [`now_next`] for the dashboard.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::lineup::ChannelId;
use crate::lineup::store as lineup_store;
use crate::schedule::Program;
use crate::schedule::store as schedule_store;
use crate::web::WebState;
use crate::web::error::{Error, ResultExt};

/// One program in the guide.
#[derive(Debug, Clone, Serialize)]
pub struct GuideProgram {
    /// Start (UTC ms).
    pub start: i64,
    /// End (UTC ms).
    pub end: i64,
    /// Title (the series for episodes).
    pub title: String,
    /// Episode title.
    pub sub_title: Option<String>,
    /// "S01E02".
    pub episode: Option<String>,
    /// Rating.
    pub rating: Option<String>,
    /// Synopsis.
    pub plot: Option<String>,
    /// Categories.
    pub categories: Vec<String>,
}

impl From<Program> for GuideProgram {
    fn from(p: Program) -> Self {
        let i = p.info;
        Self {
            start: p.start.timestamp_millis(),
            end: p.end.timestamp_millis(),
            episode: i.season.zip(i.episode).map(|(s, e)| format!("S{s:02}E{e:02}")),
            title: i.title,
            sub_title: i.sub_title,
            rating: i.rating,
            plot: i.description,
            categories: i.categories,
        }
    }
}

/// One channel row of the guide.
#[derive(Debug, Serialize)]
pub struct GuideChannel {
    /// Id.
    pub id: ChannelId,
    /// Number.
    pub number: String,
    /// Name.
    pub name: String,
    /// HLS playlist (relative URL).
    pub hls: String,
    /// MPEG-TS stream (relative URL).
    pub ts: String,
    /// Programs overlapping the window, in order.
    pub programs: Vec<GuideProgram>,
}

/// `GET /api/guide`
#[derive(Debug, Serialize)]
pub struct Guide {
    /// Now (UTC ms).
    pub now: i64,
    /// Window start (UTC ms, the half hour before now).
    pub start: i64,
    /// Window end (UTC ms).
    pub end: i64,
    /// Enabled channels by number.
    pub channels: Vec<GuideChannel>,
}

/// Query of `GET /api/guide`.
#[derive(Debug, Deserialize)]
pub struct GuideQuery {
    /// Hours ahead (default 24, 1 to 72).
    pub hours: Option<i64>,
}

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new().route("/guide", get(show))
}

/// `GET /api/guide`
pub async fn show(State(state): State<WebState>, Query(q): Query<GuideQuery>) -> Result<Json<Guide>, Error> {
    let hours = q.hours.unwrap_or(24);
    if !(1..=72).contains(&hours) {
        return Err(Error::BadRequest("hours must be 1 to 72".into()));
    }
    let now = state.now_ms();
    let start = now - now.rem_euclid(1_800_000);
    let end = start + hours * 3_600_000;
    let channels = state
        .db
        .call(move |c| -> Result<Vec<GuideChannel>, Box<dyn std::error::Error + Send + Sync>> {
            let lineup = lineup_store::lineup(c)?;
            let mut out = Vec::new();
            for ch in lineup.channels {
                let programs = schedule_store::programs_between(c, ch.id, start, end)?;
                out.push(GuideChannel {
                    id: ch.id,
                    hls: format!("/hls/{}/index.m3u8", ch.number),
                    ts: format!("/auto/v{}", ch.number),
                    number: ch.number.to_string(),
                    name: ch.name,
                    programs: programs.into_iter().map(GuideProgram::from).collect(),
                });
            }
            Ok(out)
        })
        .await
        .ctx("reading the guide")?
        .map_err(|e| Error::internal("reading the guide", e))?;
    Ok(Json(Guide { now, start, end, channels }))
}

/// What is on now, and next.
pub type NowNext = (Option<GuideProgram>, Option<GuideProgram>);

/// [`schedule_store::now_next`] as the guide shows it.
pub fn now_next(on: HashMap<ChannelId, schedule_store::NowNext>) -> HashMap<ChannelId, NowNext> {
    on.into_iter().map(|(id, (now, next))| (id, (now.map(GuideProgram::from), next.map(GuideProgram::from)))).collect()
}
