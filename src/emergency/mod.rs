//! Emergency alerts, network-wide: the model ([`model`]), storage in `emergency_alerts`
//! ([`store`]), which alert is live on which channel ([`activation`], pure), and the
//! [`Emergency`] handle whose watch of [`ActiveAlerts`] every channel follows ([`service`]).
//! The webhook and the JSON API live in [`http`].
//!
//! The database is the truth: the CLI writes rows from its own process and the daemon
//! notices within a poll interval; a daemon restarted during an alert reads it back and
//! shows it until its end. This module draws nothing and knows no GStreamer: `playout`
//! turns the watch into pictures and sound.

pub mod activation;
pub mod http;
pub mod model;
pub mod service;
pub mod store;

pub use activation::ActiveAlerts;
pub use model::{Alert, AlertChannels, AlertError, AlertId, AlertMode, AlertOrigin, AlertRequest, NewAlert};
pub use service::Emergency;

use crate::db::DbError;
use crate::lineup::store::LineupStoreError;
use store::AlertStoreError;

/// Errors of emergency operations.
#[derive(Debug, thiserror::Error)]
pub enum EmergencyError {
    /// The request was refused (the message says why; safe to show users).
    #[error(transparent)]
    Invalid(#[from] AlertError),
    /// The alerts table failed.
    #[error("cannot store the alert: {0}")]
    Store(#[from] AlertStoreError),
    /// The lineup could not be read to check channel numbers.
    #[error("cannot read the lineup: {0}")]
    Lineup(#[from] LineupStoreError),
    /// The database task failed.
    #[error("database: {0}")]
    Db(#[from] DbError),
}

/// Outcome of raising an alert: the alert, and whether it was already there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Raised {
    /// The alert as stored.
    pub alert: Alert,
    /// True when an identical live or pending alert already existed and was returned
    /// (a retried webhook does not stack copies).
    pub duplicate: bool,
}
