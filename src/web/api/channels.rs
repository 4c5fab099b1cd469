//! `/api/channels`: create, edit and remove channels (number, name, call sign, output
//! profile, break style, bug, ...). New channels start from the output default in Settings.
//! Image paths in the settings (bug, logo) are checked before they are stored: absolute,
//! no `..`, an existing PNG file. Bitrates, the bug's opacity and the rating limit are
//! `lineup`'s checked values: a bad one is a 400 with the same words as the CLI and
//! `channel import` use.

use std::path::{Component, Path, PathBuf};

use axum::extract::{Path as UrlPath, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::parse_id;
use super::schedule::ask_replan;
use super::settings::OUTPUT_DEFAULT;
use crate::config::store as config_store;
use crate::lineup::store::{self as lineup_store, LineupStoreError, NewChannel};
use crate::lineup::{Channel, ChannelId, ChannelSettings, GuideNumber};
use crate::web::WebState;
use crate::web::error::{Error, Flatten, ResultExt};

/// Body of `POST /api/channels` and `PUT /api/channels/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    /// Number ("5" or "5.1").
    pub number: String,
    /// Name.
    pub name: String,
    /// Call sign.
    #[serde(default)]
    pub call_sign: String,
    /// Logo (absolute path of a PNG on this box).
    #[serde(default)]
    pub logo: Option<String>,
    /// Enabled (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Settings (default: the defaults with the output profile from Settings).
    #[serde(default)]
    pub settings: Option<ChannelSettings>,
}

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new()
        .route("/channels", get(list).post(create))
        .route("/channels/{id}", get(show).put(update).delete(remove))
}

/// The body, decoded here rather than by axum's extractor, so a value out of range (a checked
/// setting) is a 400 with the setting's own message.
fn decode(body: Value) -> Result<ChannelBody, Error> {
    serde_json::from_value(body).map_err(|e| Error::BadRequest(e.to_string()))
}

fn store_error(e: LineupStoreError) -> Error {
    match e {
        LineupStoreError::NumberTaken(n) => Error::Conflict(format!("channel number {n} is already taken")),
        LineupStoreError::NotFound(what) => Error::NotFound(format!("channel {what}")),
        other => Error::internal("channels", other),
    }
}

/// Check an image path given by the user.
pub fn checked_image(text: &str) -> Result<PathBuf, Error> {
    let p = Path::new(text.trim());
    let bad = || Error::BadRequest(format!("{text:?}: give the absolute path of a PNG file on this box"));
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(bad());
    }
    if !p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) || !p.is_file() {
        return Err(bad());
    }
    Ok(p.to_owned())
}

fn validate(body: &ChannelBody) -> Result<(GuideNumber, Option<PathBuf>), Error> {
    let number: GuideNumber =
        body.number.trim().parse().map_err(|e: crate::lineup::InvalidGuideNumber| Error::BadRequest(e.to_string()))?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 60 || body.call_sign.chars().count() > 12 {
        return Err(Error::BadRequest(
            "a channel needs a name (60 characters at most) and a call sign of 12 at most".into(),
        ));
    }
    if let Some(s) = &body.settings {
        if let Some(img) = &s.bug.image {
            checked_image(&img.to_string_lossy())?;
        }
        let ok = |x: f64, lo: f64, hi: f64| (lo..=hi).contains(&x);
        if !ok(s.bug.size, 0.01, 0.5) || !ok(s.bug.margin, 0.0, 0.3) {
            return Err(Error::BadRequest("bug size must be 0.01-0.5 and margin 0-0.3".into()));
        }
        crate::schedule::station::check_settings(s).map_err(|e| Error::BadRequest(e.to_string()))?;
    }
    let logo = body.logo.as_deref().filter(|l| !l.trim().is_empty()).map(checked_image).transpose()?;
    Ok((number, logo))
}

/// `GET /api/channels`: every channel, enabled or not, sorted by number.
pub async fn list(State(state): State<WebState>) -> Result<Json<Vec<Channel>>, Error> {
    let mut channels = state.db.call(|c| lineup_store::list(c)).await.ctx("listing channels")?.map_err(store_error)?;
    channels.sort_by_key(|c| c.number.sort_key());
    Ok(Json(channels))
}

/// `GET /api/channels/{id}`
pub async fn show(State(state): State<WebState>, UrlPath(id): UrlPath<String>) -> Result<Json<Channel>, Error> {
    let id = ChannelId(parse_id(&id, "channel")?);
    let ch = state.db.call(move |c| lineup_store::get(c, id)).await.ctx("reading a channel")?.map_err(store_error)?;
    ch.map(Json).ok_or_else(|| Error::NotFound(format!("channel {id}")))
}

/// `POST /api/channels`
pub async fn create(State(state): State<WebState>, Json(body): Json<Value>) -> Result<Json<Channel>, Error> {
    let body = decode(body)?;
    let (number, logo) = validate(&body)?;
    let settings = match body.settings {
        Some(s) => s,
        None => {
            let stored = state.db.call(|c| config_store::get(c, OUTPUT_DEFAULT)).await.flat("reading settings")?;
            let mut s = ChannelSettings::default();
            if let Some(p) = stored.and_then(|v| serde_json::from_str(&v).ok()) {
                s.profile = p;
            }
            s
        }
    };
    let new = NewChannel {
        number,
        name: body.name.trim().to_owned(),
        call_sign: body.call_sign.trim().to_owned(),
        logo,
        settings,
    };
    let now = state.now_ms();
    let ch = state
        .db
        .call(move |c| lineup_store::insert(c, &new, now))
        .await
        .ctx("adding a channel")?
        .map_err(store_error)?;
    tracing::info!(channel = %ch.number, name = %ch.name, "web: channel created");
    ask_replan(&state, Some(ch.id), format!("channel {} added", ch.number)).await?;
    Ok(Json(ch))
}

/// `PUT /api/channels/{id}`
pub async fn update(
    State(state): State<WebState>,
    UrlPath(id): UrlPath<String>,
    Json(body): Json<Value>,
) -> Result<Json<Channel>, Error> {
    let body = decode(body)?;
    let id = ChannelId(parse_id(&id, "channel")?);
    let (number, logo) = validate(&body)?;
    let now = state.now_ms();
    let ch = state
        .db
        .call(move |c| {
            let Some(mut ch) = lineup_store::get(c, id)? else {
                return Err(LineupStoreError::NotFound(id.to_string()));
            };
            if ch.number != number && lineup_store::by_number(c, number.as_str())?.is_some() {
                return Err(LineupStoreError::NumberTaken(number));
            }
            ch.number = number;
            ch.name = body.name.trim().to_owned();
            ch.call_sign = body.call_sign.trim().to_owned();
            ch.logo = logo;
            if let Some(e) = body.enabled {
                ch.enabled = e;
            }
            if let Some(s) = body.settings {
                ch.settings = s;
            }
            lineup_store::update(c, &ch, now)?;
            Ok(ch)
        })
        .await
        .ctx("editing a channel")?
        .map_err(store_error)?;
    ask_replan(&state, Some(ch.id), format!("channel {} edited", ch.number)).await?;
    Ok(Json(ch))
}

/// `DELETE /api/channels/{id}`
pub async fn remove(
    State(state): State<WebState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<serde_json::Value>, Error> {
    let id = ChannelId(parse_id(&id, "channel")?);
    state.db.call(move |c| lineup_store::remove(c, id)).await.ctx("removing a channel")?.map_err(store_error)?;
    Ok(Json(serde_json::json!({ "ok": true })))
}
