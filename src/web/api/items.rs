//! `/api/items`: the library browser. Search and filter (source, kind, rating, daypart,
//! season, company), sort (title, duration, last aired), item detail, scheduling metadata
//! and breakpoint edits (stored with origin `user`, so scans never overwrite them), the
//! break candidates found in the media (accept, reject, move), and bulk edits of many items
//! at once.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Path as UrlPath, Query, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::parse_id;
use super::schedule::ask_replan;
use crate::library::store::{self as library_store, ItemFilter, Origin};
use crate::library::{ContentKind, MediaId, MediaItem, SchedulingMetadata, SourceId};
use crate::web::WebState;
use crate::web::error::{Error, Flatten};

/// Dayparts an item may suit.
pub const DAYPARTS: [&str; 6] = ["morning", "daytime", "afternoon", "primetime", "late_night", "overnight"];

/// Query of `GET /api/items`.
#[derive(Debug, Default, Deserialize)]
pub struct ItemQuery {
    /// Title or series contains.
    pub search: Option<String>,
    /// Source id.
    pub source: Option<i64>,
    /// Content kind.
    pub kind: Option<String>,
    /// Rating (the item's or the scheduling override).
    pub rating: Option<String>,
    /// Daypart.
    pub daypart: Option<String>,
    /// Season / holiday.
    pub season: Option<String>,
    /// Commercial company (contains, case-insensitive).
    pub company: Option<String>,
    /// `title` (default), `duration` or `last_aired`.
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// Page size (default 100, at most 500).
    pub limit: Option<usize>,
    /// Items to skip.
    pub offset: Option<usize>,
}

/// One item in a list.
#[derive(Debug, Serialize)]
pub struct ItemRow {
    /// The item.
    #[serde(flatten)]
    pub item: MediaItem,
    /// When it last aired (UTC ms).
    pub last_aired_at: Option<i64>,
}

/// A page of items.
#[derive(Debug, Serialize)]
pub struct ItemPage {
    /// Items matching, before paging.
    pub total: usize,
    /// This page.
    pub items: Vec<ItemRow>,
    /// Values present in the library, for the filter menus.
    pub facets: Facets,
}

/// Distinct values the filters can take.
#[derive(Debug, Default, Serialize)]
pub struct Facets {
    /// Ratings.
    pub ratings: BTreeSet<String>,
    /// Seasons / holidays.
    pub seasons: BTreeSet<String>,
    /// Commercial companies.
    pub companies: BTreeSet<String>,
    /// Dayparts.
    pub dayparts: Vec<&'static str>,
    /// Kinds.
    pub kinds: Vec<&'static str>,
}

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new()
        .route("/items", get(list))
        .route("/items/bulk", post(bulk))
        .route("/items/{id}", get(show))
        .route("/items/{id}/metadata", put(set_metadata))
        .route("/items/{id}/breakpoints", put(set_breakpoints))
        .route("/items/{id}/candidates/{start}", put(decide_candidate))
}

fn rating_of(i: &MediaItem) -> Option<&str> {
    i.meta.content_rating.as_deref().or(i.rating.as_deref())
}

fn eq_ci(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `GET /api/items`
pub async fn list(State(state): State<WebState>, Query(q): Query<ItemQuery>) -> Result<Json<ItemPage>, Error> {
    let kind = match q.kind.as_deref().filter(|k| !k.is_empty()) {
        Some(k) => Some(k.parse::<ContentKind>().map_err(|e| Error::BadRequest(e.to_string()))?),
        None => None,
    };
    let filter = ItemFilter {
        kind,
        search: q.search.clone().filter(|s| !s.trim().is_empty()),
        source: q.source.map(SourceId),
        playable_only: false,
        include_gone: false,
    };
    let (items, aired) = state
        .db
        .call(move |c| {
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((
                library_store::list_items(c, &filter)?,
                library_store::last_aired(c)?,
            ))
        })
        .await
        .flat("listing items")?;
    let mut facets = Facets {
        dayparts: DAYPARTS.to_vec(),
        kinds: ContentKind::ALL.iter().map(|k| k.as_str()).collect(),
        ..Default::default()
    };
    for i in &items {
        facets.ratings.extend(rating_of(i).map(str::to_owned));
        facets.seasons.extend(i.meta.season.iter().cloned());
        facets.companies.extend(i.meta.commercial_company.clone());
    }
    let some = |o: &Option<String>| o.clone().filter(|s| !s.is_empty());
    let (rating, daypart, season, company) = (some(&q.rating), some(&q.daypart), some(&q.season), some(&q.company));
    let mut rows: Vec<ItemRow> = items
        .into_iter()
        .filter(|i| rating.as_deref().is_none_or(|r| rating_of(i).is_some_and(|x| eq_ci(x, r))))
        .filter(|i| daypart.as_deref().is_none_or(|d| i.meta.daypart.iter().any(|x| eq_ci(x, d))))
        .filter(|i| season.as_deref().is_none_or(|s| i.meta.season.iter().any(|x| eq_ci(x, s))))
        .filter(|i| {
            company.as_deref().is_none_or(|c| {
                i.meta.commercial_company.as_deref().is_some_and(|x| x.to_lowercase().contains(&c.to_lowercase()))
            })
        })
        .map(|item| ItemRow { last_aired_at: aired.get(&item.id).copied(), item })
        .collect();
    match q.sort.as_deref().unwrap_or("title") {
        "title" => rows.sort_by_cached_key(|r| {
            (
                r.item.series.clone().unwrap_or_else(|| r.item.title.clone()).to_lowercase(),
                r.item.season,
                r.item.episode,
                r.item.title.to_lowercase(),
            )
        }),
        "duration" => rows.sort_by_key(|r| r.item.duration_ms.unwrap_or(0)),
        "last_aired" => rows.sort_by_key(|r| r.last_aired_at.unwrap_or(0)),
        other => {
            return Err(Error::BadRequest(format!("unknown sort {other:?}: expected title, duration or last_aired")));
        }
    }
    if q.order.as_deref() == Some("desc") {
        rows.reverse();
    }
    let total = rows.len();
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let items = rows.into_iter().skip(q.offset.unwrap_or(0)).take(limit).collect();
    Ok(Json(ItemPage { total, items, facets }))
}

/// `GET /api/items/{id}`
pub async fn show(
    State(state): State<WebState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<serde_json::Value>, Error> {
    let id = MediaId(parse_id(&id, "item")?);
    let (item, source, aired, candidates) = state
        .db
        .call(move |c| {
            let item = library_store::get_item(c, id)?;
            let source = match &item {
                Some(i) => library_store::get_source(c, i.source_id)?.map(|s| s.name),
                None => None,
            };
            let candidates = library_store::break_candidates(c, id)?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((item, source, library_store::last_aired(c)?, candidates))
        })
        .await
        .flat("reading an item")?;
    let item = item.ok_or_else(|| Error::NotFound(format!("item {id}")))?;
    let mut v = serde_json::to_value(ItemRow { last_aired_at: aired.get(&id).copied(), item }).expect("item json");
    v["source_name"] = source.into();
    v["break_candidates"] = serde_json::to_value(candidates).expect("candidates json");
    Ok(Json(v))
}

fn check_meta(m: &SchedulingMetadata) -> Result<(), Error> {
    if let Some(bad) = m.daypart.iter().find(|d| !DAYPARTS.contains(&d.as_str())) {
        return Err(Error::BadRequest(format!("unknown daypart {bad:?}: expected one of {}", DAYPARTS.join(", "))));
    }
    let texts = [
        &m.content_rating,
        &m.demographic,
        &m.commercial_company,
        &m.commercial_category,
        &m.era,
        &m.warnings,
        &m.notes,
    ];
    if texts.iter().any(|t| t.as_deref().is_some_and(|t| t.chars().count() > 500))
        || m.season.iter().any(|s| s.contains(','))
    {
        return Err(Error::BadRequest("a value is too long or a season contains a comma".into()));
    }
    Ok(())
}

fn clean(mut m: SchedulingMetadata) -> SchedulingMetadata {
    let opt = |o: Option<String>| o.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    m.daypart = m.daypart.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    m.season = m.season.into_iter().map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect();
    m.content_rating = opt(m.content_rating);
    m.demographic = opt(m.demographic);
    m.commercial_company = opt(m.commercial_company);
    m.commercial_category = opt(m.commercial_category);
    m.era = opt(m.era);
    m.warnings = opt(m.warnings);
    m.notes = opt(m.notes);
    m
}

/// `PUT /api/items/{id}/metadata`: replace the user's scheduling metadata of an item.
pub async fn set_metadata(
    State(state): State<WebState>,
    UrlPath(id): UrlPath<String>,
    Json(meta): Json<SchedulingMetadata>,
) -> Result<Json<serde_json::Value>, Error> {
    let id = MediaId(parse_id(&id, "item")?);
    let meta = clean(meta);
    check_meta(&meta)?;
    let now = state.now_ms();
    let found = state
        .db
        .call(move |c| {
            if library_store::get_item(c, id)?.is_none() {
                return Ok(false);
            }
            library_store::set_metadata(c, id, Origin::User, &meta, now).map(|()| true)
        })
        .await
        .flat("editing metadata")?;
    if !found {
        return Err(Error::NotFound(format!("item {id}")));
    }
    ask_replan(&state, None, format!("item {id} edited")).await?;
    show(State(state), UrlPath(id.to_string())).await
}

/// Body of `PUT /api/items/{id}/breakpoints`.
#[derive(Debug, Deserialize)]
pub struct Breakpoints {
    /// Offsets in ms from the start; `[]` goes back to the imported ones.
    pub breakpoints: Vec<i64>,
}

/// `PUT /api/items/{id}/breakpoints`
pub async fn set_breakpoints(
    State(state): State<WebState>,
    UrlPath(id): UrlPath<String>,
    Json(body): Json<Breakpoints>,
) -> Result<Json<serde_json::Value>, Error> {
    let id = MediaId(parse_id(&id, "item")?);
    let item = state.db.call(move |c| library_store::get_item(c, id)).await.flat("reading an item")?;
    let item = item.ok_or_else(|| Error::NotFound(format!("item {id}")))?;
    let len = item.duration_ms.unwrap_or(i64::MAX);
    if let Some(bad) = body.breakpoints.iter().find(|&&ms| ms <= 0 || ms >= len) {
        return Err(Error::BadRequest(format!("breakpoint {bad} ms is outside the item (0 to {len} ms)")));
    }
    let mut points = body.breakpoints;
    points.sort_unstable();
    points.dedup();
    state.db.call(move |c| library_store::set_breakpoints(c, id, "user", &points)).await.flat("editing breakpoints")?;
    ask_replan(&state, None, format!("breakpoints of item {id} edited")).await?;
    show(State(state), UrlPath(id.to_string())).await
}

/// Body of `PUT /api/items/{id}/candidates/{start}`.
#[derive(Debug, Deserialize)]
pub struct Decision {
    /// `accepted`, `rejected`, or `candidate` (undecided again).
    pub state: library_store::CandidateState,
    /// Move the break here (ms from the start); accepting at the found place when absent.
    pub offset_ms: Option<i64>,
}

/// `PUT /api/items/{id}/candidates/{start}`: accept, reject or move the break candidate
/// found at `start` ms. Answers the item as `GET` does.
pub async fn decide_candidate(
    State(state): State<WebState>,
    UrlPath((id, start)): UrlPath<(String, String)>,
    Json(body): Json<Decision>,
) -> Result<Json<serde_json::Value>, Error> {
    let id = MediaId(parse_id(&id, "item")?);
    let start: i64 = start.parse().map_err(|_| Error::BadRequest(format!("candidate {start:?}: expected ms")))?;
    let item = state.db.call(move |c| library_store::get_item(c, id)).await.flat("reading an item")?;
    let item = item.ok_or_else(|| Error::NotFound(format!("item {id}")))?;
    let len = item.duration_ms.unwrap_or(i64::MAX);
    if let Some(ms) = body.offset_ms.filter(|&ms| ms <= 0 || ms >= len) {
        return Err(Error::BadRequest(format!("break at {ms} ms is outside the item (0 to {len} ms)")));
    }
    let found = state
        .db
        .call(move |c| library_store::decide_break(c, id, start, body.state, body.offset_ms))
        .await
        .flat("deciding a break candidate")?;
    if !found {
        return Err(Error::NotFound(format!("break candidate at {start} ms of item {id}")));
    }
    show(State(state), UrlPath(id.to_string())).await
}

/// Body of `POST /api/items/bulk`: the fields present are set on every item.
#[derive(Debug, Deserialize)]
pub struct BulkEdit {
    /// Items.
    pub ids: Vec<i64>,
    /// Fields to set (JSON null clears a text field; an empty list clears a list).
    pub set: HashMap<String, serde_json::Value>,
}

/// `POST /api/items/bulk`
pub async fn bulk(State(state): State<WebState>, Json(body): Json<BulkEdit>) -> Result<Json<serde_json::Value>, Error> {
    if body.ids.is_empty() || body.ids.len() > 5000 {
        return Err(Error::BadRequest("give 1 to 5000 item ids".into()));
    }
    const FIELDS: [&str; 9] = [
        "daypart",
        "season",
        "content_rating",
        "demographic",
        "commercial_company",
        "commercial_category",
        "era",
        "warnings",
        "notes",
    ];
    if let Some(bad) = body.set.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(Error::BadRequest(format!("unknown field {bad:?}: expected one of {}", FIELDS.join(", "))));
    }
    // Check the values once, on an empty record.
    let mut sample = serde_json::to_value(SchedulingMetadata::default()).expect("json");
    for (k, v) in &body.set {
        sample[k] = v.clone();
    }
    let sample: SchedulingMetadata = serde_json::from_value(sample).map_err(|e| Error::BadRequest(e.to_string()))?;
    check_meta(&clean(sample))?;
    let ids: Vec<MediaId> = body.ids.into_iter().map(MediaId).collect();
    let set = body.set;
    let now = state.now_ms();
    let changed = state
        .db
        .call(move |c| {
            let mut changed = 0;
            for id in ids {
                if library_store::get_item(c, id)?.is_none() {
                    continue;
                }
                let user = library_store::get_metadata(c, id, Origin::User)?.unwrap_or_default();
                let mut v = serde_json::to_value(user)?;
                for (k, x) in &set {
                    v[k] = x.clone();
                }
                let m = clean(serde_json::from_value(v)?);
                library_store::set_metadata(c, id, Origin::User, &m, now)?;
                changed += 1;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(changed)
        })
        .await
        .flat("bulk edit")?;
    if changed > 0 {
        ask_replan(&state, None, format!("{changed} items edited")).await?;
    }
    Ok(Json(serde_json::json!({ "changed": changed })))
}
