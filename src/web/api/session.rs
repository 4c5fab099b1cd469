//! `/api/session`, `/api/setup`, `/api/login`, `/api/logout`, `/api/password`: first-run
//! password, login (rate limited per address), logout and password change.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use crate::web::auth::{self, Session};
use crate::web::error::{Error, Flatten, ResultExt};
use crate::web::{WebState, store};

/// What the page needs to know first.
#[derive(Debug, Serialize)]
pub struct SessionInfo {
    /// No admin password yet: show the first-run page.
    pub setup_required: bool,
    /// The cookie is a valid session.
    pub logged_in: bool,
    /// The user, when logged in.
    pub username: Option<String>,
    /// The CSRF token to send in `X-CSRF-Token`, when logged in.
    pub csrf: Option<String>,
    /// The box's name (shown on the login page).
    pub device_name: String,
}

/// `GET /api/session`
pub async fn show(State(state): State<WebState>, headers: HeaderMap) -> Result<Json<SessionInfo>, Error> {
    let setup_done = auth::setup_done(&state).await?;
    let session = if setup_done { auth::current_session(&state, &headers).await? } else { None };
    Ok(Json(SessionInfo {
        setup_required: !setup_done,
        logged_in: session.is_some(),
        username: session.as_ref().map(|s| s.username.clone()),
        csrf: session.map(|s| s.csrf),
        device_name: state.config.device.friendly_name.clone(),
    }))
}

/// Body of `POST /api/setup` and `POST /api/login`.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    /// User name (default `admin`).
    #[serde(default)]
    pub username: Option<String>,
    /// Password.
    pub password: String,
}

fn username(c: &Credentials) -> Result<String, Error> {
    let name = c.username.as_deref().map(str::trim).filter(|s| !s.is_empty()).unwrap_or("admin");
    if name.len() > 64 || name.chars().any(char::is_control) {
        return Err(Error::BadRequest("the user name must be 1 to 64 printable characters".into()));
    }
    Ok(name.to_owned())
}

async fn start_session(state: &WebState, user_id: i64, username: String) -> Result<Response, Error> {
    let token = auth::random_token();
    let csrf = auth::random_token();
    let now = state.now_ms();
    let expires = now + auth::SESSION_TTL.as_millis() as i64;
    let hash = auth::token_hash(&token);
    let (key, csrf2) = (hash.clone(), csrf.clone());
    let stored = state
        .db
        .call(move |c| store::insert_session(c, &key, user_id, &csrf2, now, expires))
        .await
        .flat("storing a session");
    if let Err(e) = stored {
        // A full data disk must not lock the admin out of the page that says so.
        tracing::warn!("web: session kept in memory only (until a restart): {e}");
        let row = store::SessionRow { user_id, username, csrf: csrf.clone() };
        state.memory_sessions.insert(hash, row, expires, now);
    }
    let mut res = Json(serde_json::json!({ "csrf": csrf })).into_response();
    res.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&auth::session_cookie(&token)).ctx("cookie")?);
    Ok(res)
}

/// `POST /api/setup`: set the admin password on first run (refused afterwards).
pub async fn setup(State(state): State<WebState>, Json(body): Json<Credentials>) -> Result<Response, Error> {
    if auth::setup_done(&state).await? {
        return Err(Error::AlreadySetUp);
    }
    let name = username(&body)?;
    auth::check_password_policy(&body.password)?;
    let pw = body.password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&pw)).await.ctx("hashing")??;
    let now = state.now_ms();
    let user = name.clone();
    let id = state
        .db
        .call(move |c| store::create_first_user(c, &user, &hash, now))
        .await
        .flat("creating the admin")?
        .ok_or(Error::AlreadySetUp)?;
    state.setup_done.store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::info!("web: admin password set (first run)");
    start_session(&state, id, name).await
}

/// `POST /api/login`
pub async fn login(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<Credentials>,
) -> Result<Response, Error> {
    if !auth::setup_done(&state).await? {
        return Err(Error::SetupRequired);
    }
    let ip = peer.ip();
    state.limiter.check(ip, Instant::now())?;
    let name = username(&body)?;
    let lookup = name.clone();
    let user = state.db.call(move |c| store::user_by_name(c, &lookup)).await.flat("reading users")?;
    let pw = body.password;
    let ok = match user {
        Some((id, hash)) => {
            tokio::task::spawn_blocking(move || auth::verify_password(&pw, &hash)).await.ctx("verifying")?.then_some(id)
        }
        None => None,
    };
    match ok {
        Some(id) => {
            state.limiter.succeeded(ip);
            start_session(&state, id, name).await
        }
        None => {
            state.limiter.failed(ip, Instant::now());
            tracing::warn!(%ip, "web: failed login");
            Err(Error::BadLogin)
        }
    }
}

/// `POST /api/logout`
pub async fn logout(State(state): State<WebState>, Extension(s): Extension<Session>) -> Result<Response, Error> {
    state.memory_sessions.remove(&s.token_hash);
    state.db.call(move |c| store::delete_session(c, &s.token_hash)).await.flat("ending a session")?;
    let mut res = Json(serde_json::json!({ "ok": true })).into_response();
    res.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&auth::clear_cookie()).ctx("cookie")?);
    Ok(res)
}

/// Body of `POST /api/password`.
#[derive(Debug, Deserialize)]
pub struct PasswordChange {
    /// The current password.
    pub current: String,
    /// The new one.
    pub new: String,
}

/// `POST /api/password`: change the password; other sessions end.
pub async fn change_password(
    State(state): State<WebState>,
    Extension(s): Extension<Session>,
    Json(body): Json<PasswordChange>,
) -> Result<Json<serde_json::Value>, Error> {
    auth::check_password_policy(&body.new)?;
    let uid = s.user_id;
    let hash =
        state.db.call(move |c| store::password_hash(c, uid)).await.flat("reading users")?.ok_or(Error::Unauthorized)?;
    let current = body.current;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&current, &hash)).await.ctx("verifying")?;
    if !ok {
        return Err(Error::BadRequest("the current password is wrong".into()));
    }
    let new = body.new;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&new)).await.ctx("hashing")??;
    let keep = s.token_hash.clone();
    state.db.call(move |c| store::set_password(c, uid, &hash, &keep)).await.flat("changing the password")?;
    state.memory_sessions.end_others(uid, &s.token_hash);
    Ok(Json(serde_json::json!({ "ok": true })))
}
