//! `/api/backup` (download) and `/api/restore` (upload): the configuration and the whole
//! database as one SQLite file. The backup is a consistent `VACUUM INTO` copy; restore
//! checks the file (an intact Retrovue database of this schema version or an older one,
//! which is migrated forward first) and replaces every table's rows in one transaction. Running channels pick up restored channels and
//! schedules at the next restart (the answer says so).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::db::latest_version;
use crate::web::error::{Error, Flatten, ResultExt};
use crate::web::{WebState, auth, store};

/// Largest backup accepted for restore.
const MAX_RESTORE_BYTES: usize = 1 << 30;

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new()
        .route("/backup", get(download))
        .route("/restore", post(restore).layer(DefaultBodyLimit::max(MAX_RESTORE_BYTES)))
}

fn scratch(state: &WebState, what: &str) -> std::path::PathBuf {
    state.config.data_dir.join(format!(".{what}-{}.db", &auth::random_token()[..16]))
}

/// `GET /api/backup`: the database as a file.
pub async fn download(State(state): State<WebState>) -> Result<Response, Error> {
    let path = scratch(&state, "backup");
    let p = path.clone();
    let made = state.db.call(move |c| store::backup_into(c, &p)).await.flat("writing a backup");
    let bytes = match made {
        Ok(()) => tokio::fs::read(&path).await.ctx("reading the backup"),
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_file(&path).await;
    let bytes = bytes?;
    let name = format!("retrovue-backup-{}.db", state.clock.now().format("%Y%m%d-%H%M"));
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.sqlite3"));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).ctx("header")?,
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `POST /api/restore` (body: the backup file): replace the database's content.
pub async fn restore(State(state): State<WebState>, body: Bytes) -> Result<Json<serde_json::Value>, Error> {
    if !body.starts_with(b"SQLite format 3\0") {
        return Err(Error::BadRequest("this is not a Retrovue backup (not an SQLite file)".into()));
    }
    let path = scratch(&state, "restore");
    tokio::fs::write(&path, &body).await.ctx("saving the upload")?;
    let p = path.clone();
    let result = state.db.call(move |c| store::restore_from(c, &p, latest_version())).await;
    // An older backup is migrated in place, which may leave SQLite's log beside it.
    for suffix in ["", "-wal", "-shm"] {
        let mut f = path.clone().into_os_string();
        f.push(suffix);
        let _ = tokio::fs::remove_file(&f).await;
    }
    let rows = match result.ctx("restoring")? {
        Ok(n) => n,
        Err(store::RestoreError::Sqlite(e)) => return Err(Error::internal("restoring", e)),
        Err(e) => return Err(Error::BadRequest(e.to_string())),
    };
    tracing::warn!(rows, "web: database restored from a backup");
    Ok(Json(serde_json::json!({
        "ok": true,
        "rows": rows,
        "notice": "Restored. Restart the box so every channel and setting follows the restored database."
    })))
}
