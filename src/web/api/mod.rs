//! The JSON API under `/api/`, one file per resource. [`router`] puts every route except
//! `session`, `setup` and `login` behind [`auth::gate`] (setup done, session, CSRF).
//! Request bodies are JSON (`Content-Type: application/json`), so a cross-site form cannot
//! post to the open routes either.

pub mod backup;
pub mod channels;
pub mod grid;
pub mod guide;
pub mod items;
pub mod links;
pub mod logs;
pub mod scan;
pub mod schedule;
pub mod session;
pub mod settings;
pub mod sources;
pub mod status;
pub mod still;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use super::{WebState, auth};

/// Every API route, relative to `/api`.
pub fn router(state: WebState) -> Router<WebState> {
    let open = Router::new()
        .route("/session", get(session::show))
        .route("/setup", post(session::setup))
        .route("/login", post(session::login));
    let protected = Router::new()
        .route("/logout", post(session::logout))
        .route("/password", post(session::change_password))
        .merge(settings::router())
        .merge(sources::router())
        .merge(items::router())
        .merge(links::router())
        .merge(scan::router())
        .merge(schedule::router())
        .merge(channels::router())
        .merge(grid::router())
        .merge(guide::router())
        .merge(logs::router())
        .merge(status::router())
        .merge(still::router())
        .merge(backup::router())
        .route_layer(middleware::from_fn_with_state(state, auth::gate));
    open.merge(protected)
}

/// Parse a path id, refusing anything but a positive integer.
pub fn parse_id(text: &str, what: &'static str) -> Result<i64, super::error::Error> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| super::error::Error::BadRequest(format!("invalid {what} id {text:?}")))
}
