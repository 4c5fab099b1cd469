//! `/api/scan`: start a scan of every source (or one) in the background and watch its one
//! progress figure (items done of items found, for the whole scan), then its summary.
//! One scan at a time; the state lives in memory (the scan's effects are in the library).

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::schedule::ask_replan;
use crate::library::{Library, Progress, ScanReport, SourceId};
use crate::web::WebState;
use crate::web::error::Error;

/// What the page shows about the current or last scan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanStatus {
    /// A scan is running.
    pub running: bool,
    /// Items finished.
    pub done: u64,
    /// Items found so far.
    pub found: u64,
    /// What is being worked on.
    pub current: String,
    /// When the scan started (UTC ms).
    pub started_at: Option<i64>,
    /// When it finished (UTC ms).
    pub finished_at: Option<i64>,
    /// What it did, once finished.
    pub report: Option<ScanReport>,
    /// Why it could not run.
    pub error: Option<String>,
}

/// The scan state shared by the handlers and the running scan.
#[derive(Debug, Default)]
pub struct ScanJob {
    // std Mutex: short updates from the progress callback and the handlers; never across an await.
    status: Mutex<ScanStatus>,
}

impl ScanJob {
    fn get(&self) -> ScanStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut ScanStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// Body of `POST /api/scan`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// Only this source (default: every enabled one).
    #[serde(default)]
    pub source: Option<i64>,
}

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new().route("/scan", get(show).post(start))
}

/// `GET /api/scan`
pub async fn show(State(state): State<WebState>) -> Json<ScanStatus> {
    Json(state.scan.get())
}

/// `POST /api/scan`: start a scan (409 if one is running).
pub async fn start(State(state): State<WebState>, Json(req): Json<ScanRequest>) -> Result<Json<ScanStatus>, Error> {
    let now = state.now_ms();
    {
        let mut st = state.scan.status.lock().unwrap_or_else(|p| p.into_inner());
        if st.running {
            return Err(Error::Conflict("a scan is already running".into()));
        }
        *st = ScanStatus { running: true, started_at: Some(now), ..Default::default() };
    }
    let job: Arc<ScanJob> = state.scan.clone();
    let sink_job = job.clone();
    let progress = Arc::new(Progress::new(move |u| {
        sink_job.update(|s| {
            s.done = u.done;
            s.found = u.found;
            s.current.clone_from(&u.current);
        })
    }));
    let library = Library::new(state.db.clone(), state.clock.clone(), state.config.library.clone());
    let clock = state.clock.clone();
    let web = state.clone();
    tokio::spawn(async move {
        let result = library.scan(req.source.map(SourceId), progress).await;
        let end = crate::clock::to_ms(clock.now());
        match &result {
            Ok(r) => tracing::info!(added = r.added, updated = r.updated, removed = r.removed, "web: scan finished"),
            Err(e) => tracing::warn!(error = %e, "web: scan failed"),
        }
        if let Ok(r) = &result
            && r.added + r.updated + r.removed > 0
            && let Err(e) = ask_replan(&web, None, "a scan changed the library".into()).await
        {
            tracing::warn!(error = %e, "web: cannot ask for a replan after the scan");
        }
        job.update(|s| {
            s.running = false;
            s.finished_at = Some(end);
            s.current.clear();
            match result {
                Ok(r) => s.report = Some(r),
                Err(e) => s.error = Some(e.to_string()),
            }
        });
    });
    Ok(Json(state.scan.get()))
}
