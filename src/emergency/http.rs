//! HTTP surfaces of the emergency system.
//!
//! - [`webhook_router`]: `POST /api/emergency/webhook`, for home automation (Home Assistant,
//!   scripts). JSON body, `Authorization: Bearer <emergency.webhook_token>`, compared in
//!   constant time; the route answers 404 when no token is configured.
//! - [`api_router`]: the JSON API of the web page (`GET/POST /api/emergency/alerts`,
//!   `POST /api/emergency/alerts/{id}/clear`, `POST /api/emergency/clear`). It has no
//!   authentication of its own: the `web` module mounts it behind its login.
//!
//! Both answer refusals with `400 {"error": "<reason>"}`; storage failures are logged and
//! answered with a bare 500.

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::model::{AlertChannels, AlertId, AlertMode, AlertOrigin, AlertRequest, parse_duration, parse_time};
use super::{AlertError, Emergency, EmergencyError};

/// Largest request body accepted (a 1000-character message in JSON fits many times over).
const BODY_LIMIT: usize = 64 * 1024;

/// Channels as JSON: `"all"`, `"5,7"` or `["5", "7"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ChannelsBody {
    Text(String),
    List(Vec<String>),
}

/// A duration as JSON: `"2m"` or a number of seconds.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DurationBody {
    Text(String),
    Seconds(u64),
}

/// What the webhook and the API accept to raise (or, for the webhook, clear) an alert.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertBody {
    /// `raise` (default) or `clear` (webhook only).
    #[serde(default)]
    action: Option<String>,
    /// For `clear`: the alert to clear (default: all).
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    channels: Option<ChannelsBody>,
    #[serde(default)]
    duration: Option<DurationBody>,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    tone: bool,
    /// Start, RFC 3339 (default: now).
    #[serde(default)]
    at: Option<String>,
    /// End, RFC 3339 (instead of `duration`).
    #[serde(default)]
    until: Option<String>,
}

impl AlertBody {
    /// Turn the body into a request (syntax only; [`AlertRequest::validate`] does the rest).
    fn request(self, origin: AlertOrigin, now: chrono::DateTime<chrono::Utc>) -> Result<AlertRequest, AlertError> {
        let channels = match self.channels {
            None => AlertChannels::All,
            Some(ChannelsBody::Text(t)) => t.parse()?,
            Some(ChannelsBody::List(l)) => l.join(",").parse()?,
        };
        let priority = match self.priority {
            None => 0,
            Some(p) => u8::try_from(p).map_err(|_| AlertError::BadPriority(p))?,
        };
        let duration = match self.duration {
            None => None,
            Some(DurationBody::Text(t)) => Some(parse_duration(&t)?),
            Some(DurationBody::Seconds(s)) => Some(std::time::Duration::from_secs(s)),
        };
        let utc = chrono_tz::UTC;
        Ok(AlertRequest {
            message: self.message,
            priority,
            channels,
            mode: self.mode.as_deref().map(str::parse).transpose()?.unwrap_or(AlertMode::Crawl),
            tone: self.tone,
            starts_at: self.at.as_deref().map(|t| parse_time(t, utc, now)).transpose()?,
            duration,
            ends_at: self.until.as_deref().map(|t| parse_time(t, utc, now)).transpose()?,
            origin,
        })
    }
}

/// An error answered to an HTTP client.
#[derive(Debug)]
enum ApiError {
    Refused(String),
    Unauthorized,
    Disabled,
    Internal,
}

impl From<EmergencyError> for ApiError {
    fn from(e: EmergencyError) -> Self {
        match e {
            EmergencyError::Invalid(AlertError::NotFound(id)) => Self::Refused(format!("no alert {id}")),
            EmergencyError::Invalid(reason) => Self::Refused(reason.to_string()),
            other => {
                tracing::error!("emergency API: {other}");
                Self::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Refused(reason) => {
                (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "error": reason }))).into_response()
            }
            Self::Unauthorized => {
                (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "bad or missing token")
                    .into_response()
            }
            Self::Disabled => (StatusCode::NOT_FOUND, "webhook disabled: set emergency.webhook_token").into_response(),
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

/// Compare two secrets in time independent of where they differ.
fn tokens_match(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for i in 0..given.len().max(expected.len()) {
        let a = given.get(i).copied().unwrap_or(0);
        let b = expected.get(i).copied().unwrap_or(0);
        diff |= usize::from(std::hint::black_box(a ^ b));
    }
    diff == 0
}

#[derive(Clone)]
struct WebhookState {
    emergency: Emergency,
    token: Option<String>,
}

/// `POST /api/emergency/webhook`; off (404) when `token` is `None`.
pub fn webhook_router(emergency: Emergency, token: Option<String>) -> Router {
    Router::new()
        .route("/api/emergency/webhook", post(webhook))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(WebhookState { emergency, token })
}

async fn webhook(
    State(st): State<WebhookState>,
    headers: HeaderMap,
    body: Result<Json<AlertBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Some(expected) = st.token.as_deref() else { return Err(ApiError::Disabled) };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !tokens_match(given.trim().as_bytes(), expected.as_bytes()) {
        return Err(ApiError::Unauthorized);
    }
    let Json(body) = body.map_err(|e| ApiError::Refused(e.body_text()))?;
    match body.action.as_deref().unwrap_or("raise") {
        "raise" => raise(&st.emergency, body, AlertOrigin::Webhook).await,
        "clear" => clear(&st.emergency, body.id).await,
        other => Err(ApiError::Refused(format!("unknown action {other:?}: expected raise or clear"))),
    }
}

async fn raise(emergency: &Emergency, body: AlertBody, origin: AlertOrigin) -> Result<Response, ApiError> {
    let req = body.request(origin, emergency.now()).map_err(|e| ApiError::Refused(e.to_string()))?;
    let raised = emergency.raise(req).await?;
    let status = if raised.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(raised)).into_response())
}

async fn clear(emergency: &Emergency, id: Option<i64>) -> Result<Response, ApiError> {
    let cleared = emergency.clear(id.map(AlertId)).await?;
    Ok(Json(serde_json::json!({ "cleared": cleared })).into_response())
}

/// The session-protected JSON API (mount behind the web login).
pub fn api_router(emergency: Emergency) -> Router {
    Router::new()
        .route("/api/emergency/alerts", get(api_list).post(api_raise))
        .route("/api/emergency/alerts/{id}/clear", post(api_clear_one))
        .route("/api/emergency/clear", post(api_clear_all))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(emergency)
}

async fn api_list(State(em): State<Emergency>) -> Result<Response, ApiError> {
    let recent = em.list(50).await?;
    let live: Vec<AlertId> = em.active().alerts.iter().map(|a| a.id).collect();
    Ok(Json(serde_json::json!({ "alerts": recent, "live": live })).into_response())
}

async fn api_raise(
    State(em): State<Emergency>,
    body: Result<Json<AlertBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::Refused(e.body_text()))?;
    raise(&em, body, AlertOrigin::Api).await
}

async fn api_clear_one(State(em): State<Emergency>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    clear(&em, Some(id)).await
}

async fn api_clear_all(State(em): State<Emergency>) -> Result<Response, ApiError> {
    clear(&em, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison_is_exact() {
        assert!(tokens_match(b"s3cret", b"s3cret"));
        assert!(!tokens_match(b"s3cret", b"s3cre"));
        assert!(!tokens_match(b"s3cres", b"s3cret"));
        assert!(!tokens_match(b"", b"s3cret"));
    }

    #[test]
    fn bodies_accept_lists_strings_and_seconds() {
        let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        let b: AlertBody =
            serde_json::from_str(r#"{"message":"m","channels":["5","7"],"duration":90,"mode":"slate"}"#).unwrap();
        let r = b.request(AlertOrigin::Webhook, now).unwrap();
        assert_eq!(
            (r.channels.to_string(), r.duration.unwrap().as_secs(), r.mode),
            ("5,7".into(), 90, AlertMode::Slate)
        );
        let b: AlertBody = serde_json::from_str(r#"{"message":"m","channels":"all","duration":"2m"}"#).unwrap();
        assert_eq!(b.request(AlertOrigin::Api, now).unwrap().duration.unwrap().as_secs(), 120);
        let b: AlertBody = serde_json::from_str(r#"{"message":"m","mode":"flash"}"#).unwrap();
        assert!(b.request(AlertOrigin::Api, now).unwrap_err().to_string().contains("flash"));
        assert!(serde_json::from_str::<AlertBody>(r#"{"mesage":"typo"}"#).is_err());
    }
}
