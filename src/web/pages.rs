//! The single-page app: `index.html`, its stylesheet and script, embedded in the binary
//! (no Node toolchain, no files on disk). Assets are looked up by exact name in a fixed
//! table, so a path never reaches the filesystem. Every page answer carries a strict
//! Content-Security-Policy (scripts and styles from this origin only).
//!
//! Our own files change with the binary and are revalidated (`no-cache`); the vendored hls.js
//! (see `assets/README.md`) carries its version in its name and is cached for a year.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::WebState;

/// Cache policy of our own files: always revalidate (they change with the binary).
const REVALIDATE: &str = "no-cache";
/// Cache policy of a vendored file whose name carries its version.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `(name, content type, cache policy, bytes)` of every embedded asset.
const ASSETS: &[(&str, &str, &str, &[u8])] = &[
    ("app.css", "text/css; charset=utf-8", REVALIDATE, include_bytes!("assets/app.css")),
    ("app.js", "text/javascript; charset=utf-8", REVALIDATE, include_bytes!("assets/app.js")),
    ("icon.svg", "image/svg+xml", REVALIDATE, include_bytes!("assets/icon.svg")),
    (
        "hls-1.7.4.light.min.js",
        "text/javascript; charset=utf-8",
        IMMUTABLE,
        include_bytes!("assets/hls-1.7.4.light.min.js"),
    ),
    ("hls.js-LICENSE.txt", "text/plain; charset=utf-8", REVALIDATE, include_bytes!("assets/hls.js-LICENSE.txt")),
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
    harden(
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, REVALIDATE)], INDEX)
            .into_response(),
    )
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _, _)| *n == name) {
        Some((_, ctype, cache, bytes)) => {
            harden(([(header::CONTENT_TYPE, *ctype), (header::CACHE_CONTROL, *cache)], *bytes).into_response())
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
