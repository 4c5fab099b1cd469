//! The single-page app: `index.html`, its stylesheet and script, embedded in the binary
//! (no Node toolchain, no files on disk). Assets are looked up by exact name in a fixed
//! table, so a path never reaches the filesystem. Every page answer carries a strict
//! Content-Security-Policy (scripts and styles from this origin only).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::WebState;

/// `(name, content type, bytes)` of every embedded asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", include_bytes!("assets/app.css")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("assets/app.js")),
    ("icon.svg", "image/svg+xml", include_bytes!("assets/icon.svg")),
];

const INDEX: &str = include_str!("assets/index.html");

const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; \
                   style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
                   form-action 'self'";

/// `/` and `/assets/{name}`.
pub fn router() -> Router<WebState> {
    Router::new().route("/", get(index)).route("/assets/{name}", get(asset))
}

fn harden(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

async fn index() -> Response {
    let mut res = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    harden(res)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ctype, bytes)) => {
            let mut res = ([(header::CONTENT_TYPE, *ctype)], *bytes).into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            harden(res)
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
