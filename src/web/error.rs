//! The one place that maps web failures to HTTP: [`Error::status_code`] picks the status,
//! [`IntoResponse`] sends `{"error": "..."}`. Internal failures (database, I/O) are logged
//! with their cause and answered with a bare "internal error": details never reach clients.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A boxed cause, kept for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything a web handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No admin password yet: only the first-run page answers.
    #[error("set the admin password first")]
    SetupRequired,
    /// First-run setup was already done.
    #[error("the admin password is already set")]
    AlreadySetUp,
    /// No valid session cookie.
    #[error("log in first")]
    Unauthorized,
    /// A state-changing request without the session's CSRF token (or not JSON).
    #[error("missing or wrong CSRF token")]
    Csrf,
    /// Wrong user name or password.
    #[error("wrong user name or password")]
    BadLogin,
    /// Too many failed logins from this address.
    #[error("too many failed logins; try again in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the address may try again.
        retry_after_secs: u64,
    },
    /// The request is well-formed HTTP but its content is not acceptable.
    #[error("{0}")]
    BadRequest(String),
    /// No such resource.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state (e.g. a channel number taken).
    #[error("{0}")]
    Conflict(String),
    /// Another server (a linked Plex, Jellyfin or Emby) failed or refused; its reason.
    #[error("{0}")]
    Upstream(String),
    /// The feature needs a component this daemon does not run.
    #[error("{0} is not available on this box")]
    Unavailable(&'static str),
    /// Something broke inside: logged, never sent.
    #[error("{context}")]
    Internal {
        /// What was being done.
        context: &'static str,
        /// Why it failed.
        #[source]
        source: Cause,
    },
}

impl Error {
    /// The HTTP status for this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::SetupRequired => StatusCode::FORBIDDEN,
            Self::AlreadySetUp | Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unauthorized | Self::BadLogin => StatusCode::UNAUTHORIZED,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Wrap an internal failure with what was being done.
    pub fn internal(context: &'static str, source: impl Into<Cause>) -> Self {
        Self::Internal { context, source: source.into() }
    }

    /// A machine-readable code the page switches on.
    fn code(&self) -> &'static str {
        match self {
            Self::SetupRequired => "setup_required",
            Self::AlreadySetUp => "already_set_up",
            Self::Unauthorized => "unauthorized",
            Self::Csrf => "csrf",
            Self::BadLogin => "bad_login",
            Self::RateLimited { .. } => "rate_limited",
            Self::BadRequest(_) => "bad_request",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Upstream(_) => "upstream",
            Self::Unavailable(_) => "unavailable",
            Self::Internal { .. } => "internal",
        }
    }
}

/// `.ctx("what")` on any result whose error is a real error type.
pub trait ResultExt<T> {
    /// Turn the error into [`Error::Internal`] with `context`.
    fn ctx(self, context: &'static str) -> Result<T, Error>;
}

impl<T, E: Into<Cause>> ResultExt<T> for Result<T, E> {
    fn ctx(self, context: &'static str) -> Result<T, Error> {
        self.map_err(|e| Error::internal(context, e))
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let message = match &self {
            Self::Internal { context, source } => {
                tracing::error!(error = %source, cause = ?source, "web: {context}");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut res = (status, Json(serde_json::json!({ "error": message, "code": self.code() }))).into_response();
        if let Self::RateLimited { retry_after_secs } = self {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        res
    }
}

/// `.flat("what")` on the result of [`crate::db::Db::call`] whose closure returns a result.
pub trait Flatten<T> {
    /// Both layers of failure become [`Error::Internal`] with `context`.
    fn flat(self, context: &'static str) -> Result<T, Error>;
}

impl<T, E: Into<Cause>> Flatten<T> for Result<Result<T, E>, crate::db::DbError> {
    fn flat(self, context: &'static str) -> Result<T, Error> {
        self.ctx(context)?.ctx(context)
    }
}
