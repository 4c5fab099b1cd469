//! `/api/channels/{id}/slots` (a channel's weekly programming grid) and
//! `/api/channels/auto` (channels proposed from the library). A changed grid is stored
//! through the schedule store and the horizon is replanned past the frozen window at once
//! (`schedule::horizon::build`), then published, so playout and the guide follow.

use axum::extract::{Path as UrlPath, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::parse_id;
use crate::library::store::{self as library_store, ItemFilter};
use crate::lineup::ChannelId;
use crate::lineup::store as lineup_store;
use crate::schedule::auto;
use crate::schedule::horizon::{self, BuildMode};
use crate::schedule::pool::LibraryIndex;
use crate::schedule::rules::{Days, Fill, Slot, validate_grid};
use crate::schedule::store as schedule_store;
use crate::web::WebState;
use crate::web::error::{Error, ResultExt};

/// A fill as the page edits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillView {
    /// `series`, `tag`, `genre`, `movies`, `decade` or `anything`.
    pub kind: String,
    /// The series, tag, genre or decade (movies: optional genre).
    pub value: Option<String>,
}

impl From<&Fill> for FillView {
    fn from(f: &Fill) -> Self {
        let (kind, value) = match f {
            Fill::Series(s) => ("series", Some(s.clone())),
            Fill::Tag(t) => ("tag", Some(t.clone())),
            Fill::Genre(g) => ("genre", Some(g.clone())),
            Fill::Movies(g) => ("movies", g.clone()),
            Fill::Decade(d) => ("decade", Some(d.clone())),
            Fill::Anything => ("anything", None),
        };
        Self { kind: kind.to_owned(), value }
    }
}

impl TryFrom<FillView> for Fill {
    type Error = Error;
    fn try_from(v: FillView) -> Result<Self, Error> {
        let value = v.value.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let need = |what: &str| Error::BadRequest(format!("a {what} block needs a name"));
        Ok(match v.kind.as_str() {
            "series" => Fill::Series(value.ok_or_else(|| need("series"))?),
            "tag" => Fill::Tag(value.ok_or_else(|| need("tag"))?),
            "genre" => Fill::Genre(value.ok_or_else(|| need("genre"))?),
            "movies" => Fill::Movies(value),
            "decade" => {
                let d = value.ok_or_else(|| need("decade"))?;
                if !crate::schedule::rules::is_decade(&d) {
                    return Err(Error::BadRequest(format!("{d:?} is not a decade such as 1980s")));
                }
                Fill::Decade(d)
            }
            "anything" => Fill::Anything,
            other => return Err(Error::BadRequest(format!("unknown fill {other:?}"))),
        })
    }
}

/// A slot as the page edits it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlotView {
    /// Days it runs, 0 = Monday.
    pub days: Vec<u32>,
    /// Local start, minutes after midnight.
    pub start_minute: u32,
    /// Length in minutes.
    pub length_min: u32,
    /// What fills it.
    pub fill: FillView,
}

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new()
        .route("/channels/auto", get(propose).post(apply))
        .route("/channels/{id}/slots", get(slots).put(replace))
}

/// `GET /api/channels/{id}/slots`
pub async fn slots(State(state): State<WebState>, UrlPath(id): UrlPath<String>) -> Result<Json<Vec<SlotView>>, Error> {
    let id = ChannelId(parse_id(&id, "channel")?);
    let slots = state
        .db
        .call(move |c| schedule_store::list_slots(c, id))
        .await
        .ctx("reading the grid")?
        .ctx("reading the grid")?;
    Ok(Json(
        slots
            .iter()
            .map(|s| SlotView {
                days: (0..7).filter(|d| s.days.contains(*d)).collect(),
                start_minute: s.start_minute,
                length_min: s.length_min,
                fill: FillView::from(&s.fill),
            })
            .collect(),
    ))
}

/// Replan every channel past the frozen window and publish.
async fn replan(state: &WebState) -> Result<(), Error> {
    let (db, cfg, now) = (state.db.clone(), state.config.schedule.clone(), state.clock.now());
    let report = tokio::task::spawn_blocking(move || {
        horizon::build(&db, &cfg, now, cfg.horizon_days, BuildMode::Replan { force: false })
    })
    .await
    .ctx("replanning")?
    .ctx("replanning")?;
    state.published.set(report.generation);
    Ok(())
}

/// `PUT /api/channels/{id}/slots`: replace the grid, then replan.
pub async fn replace(
    State(state): State<WebState>,
    UrlPath(id): UrlPath<String>,
    Json(body): Json<Vec<SlotView>>,
) -> Result<Json<Vec<SlotView>>, Error> {
    let cid = ChannelId(parse_id(&id, "channel")?);
    let mut grid = Vec::new();
    for v in body {
        if v.days.is_empty() || v.days.iter().any(|d| *d > 6) {
            return Err(Error::BadRequest("each block needs days 0 (Monday) to 6 (Sunday)".into()));
        }
        let days = Days(v.days.iter().fold(0u8, |acc, d| acc | (1 << d)));
        grid.push(Slot {
            id: 0,
            days,
            start_minute: v.start_minute,
            length_min: v.length_min,
            fill: v.fill.try_into()?,
        });
    }
    validate_grid(&grid).map_err(|e| Error::BadRequest(e.to_string()))?;
    let now = state.now_ms();
    let found = state
        .db
        .call(move |c| -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
            if lineup_store::get(c, cid)?.is_none() {
                return Ok(false);
            }
            schedule_store::replace_slots(c, cid, &grid, now)?;
            Ok(true)
        })
        .await
        .ctx("storing the grid")?
        .map_err(|e| Error::internal("storing the grid", e))?;
    if !found {
        return Err(Error::NotFound(format!("channel {cid}")));
    }
    replan(&state).await?;
    slots(State(state), UrlPath(id)).await
}

/// A proposal as the page shows it.
#[derive(Debug, Serialize)]
pub struct ProposalView {
    /// Number.
    pub number: String,
    /// Name.
    pub name: String,
    /// Why.
    pub summary: String,
    /// Grid blocks.
    pub slots: usize,
}

async fn proposals(state: &WebState) -> Result<Vec<auto::Proposal>, Error> {
    state
        .db
        .call(|c| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
            let items = library_store::list_items(c, &ItemFilter { playable_only: true, ..Default::default() })?;
            let existing = lineup_store::list(c)?;
            Ok(auto::propose(&LibraryIndex::new(items), &existing))
        })
        .await
        .ctx("proposing channels")?
        .map_err(|e| Error::internal("proposing channels", e))
}

/// `GET /api/channels/auto`: what "auto build" would create.
pub async fn propose(State(state): State<WebState>) -> Result<Json<Vec<ProposalView>>, Error> {
    let p = proposals(&state).await?;
    Ok(Json(
        p.into_iter()
            .map(|p| ProposalView {
                number: p.number.to_string(),
                name: p.name,
                summary: p.reason,
                slots: p.slots.len(),
            })
            .collect(),
    ))
}

/// `POST /api/channels/auto`: create the proposed channels with their grids, then replan.
pub async fn apply(State(state): State<WebState>) -> Result<Json<Vec<crate::lineup::Channel>>, Error> {
    let p = proposals(&state).await?;
    let (db, now) = (state.db.clone(), state.now_ms());
    let made = tokio::task::spawn_blocking(move || auto::apply(&db, &p, now))
        .await
        .ctx("creating channels")?
        .map_err(|e| Error::Conflict(e.to_string()))?;
    replan(&state).await?;
    Ok(Json(made))
}
