//! `/api/logs` and `/api/logs.csv`: the as-run log (what actually aired, when, and how it
//! went) per channel, filtered by status and period; the CSV is the same rows for a
//! spreadsheet (cells that a spreadsheet would run as formulas are quoted harmless).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::lineup::ChannelId;
use crate::lineup::store as lineup_store;
use crate::schedule::store as schedule_store;
use crate::web::WebState;
use crate::web::error::{Error, ResultExt};

/// Query of the log routes.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    /// Channel id (default all).
    pub channel: Option<i64>,
    /// `aired`, `failed`, `partial` or `alert`.
    pub status: Option<String>,
    /// Hours back from now (default 24, at most 31 days).
    pub hours: Option<i64>,
}

/// One as-run row.
#[derive(Debug, Serialize)]
pub struct LogRow {
    /// Channel number.
    pub channel: String,
    /// What aired.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Planned start (UTC ms).
    pub planned_start: Option<i64>,
    /// Actual start (UTC ms).
    pub actual_start: i64,
    /// Actual end (UTC ms), if over.
    pub actual_end: Option<i64>,
    /// aired, failed, partial, alert.
    pub status: String,
    /// What went wrong.
    pub error: Option<String>,
}

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new().route("/logs", get(list)).route("/logs.csv", get(csv))
}

async fn rows(state: &WebState, q: LogQuery) -> Result<Vec<LogRow>, Error> {
    let hours = q.hours.unwrap_or(24);
    if !(1..=744).contains(&hours) {
        return Err(Error::BadRequest("hours must be 1 to 744".into()));
    }
    if let Some(s) = &q.status
        && !["aired", "failed", "partial", "alert"].contains(&s.as_str())
    {
        return Err(Error::BadRequest(format!("unknown status {s:?}: expected aired, failed, partial or alert")));
    }
    let now = state.now_ms();
    let from = now - hours * 3_600_000;
    let channel = q.channel.map(ChannelId);
    let (entries, numbers) = state
        .db
        .call(move |c| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
            let entries = schedule_store::as_run(c, channel, from, now + 60_000, 5000)?;
            let numbers: HashMap<ChannelId, String> =
                lineup_store::list(c)?.into_iter().map(|ch| (ch.id, ch.number.to_string())).collect();
            Ok((entries, numbers))
        })
        .await
        .ctx("reading the as-run log")?
        .map_err(|e| Error::internal("reading the as-run log", e))?;
    Ok(entries
        .into_iter()
        .map(|e| LogRow {
            channel: numbers.get(&e.channel_id).cloned().unwrap_or_else(|| e.channel_id.to_string()),
            kind: e.kind.as_str().to_owned(),
            title: e.title,
            planned_start: e.planned_start_ms,
            actual_start: e.actual_start_ms,
            actual_end: e.actual_end_ms,
            status: serde_json::to_value(e.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            error: e.error,
        })
        .filter(|r| q.status.as_deref().is_none_or(|s| r.status == s))
        .collect())
}

/// `GET /api/logs`: newest first.
pub async fn list(State(state): State<WebState>, Query(q): Query<LogQuery>) -> Result<Json<Vec<LogRow>>, Error> {
    Ok(Json(rows(&state, q).await?))
}

/// One CSV cell: quoted, and never read as a formula.
fn cell(text: &str) -> String {
    let t = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    format!("\"{}\"", t.replace('"', "\"\""))
}

fn time(ms: Option<i64>) -> String {
    ms.map(|m| crate::clock::from_ms(m).to_rfc3339()).unwrap_or_default()
}

/// `GET /api/logs.csv`
pub async fn csv(State(state): State<WebState>, Query(q): Query<LogQuery>) -> Result<Response, Error> {
    let rows = rows(&state, q).await?;
    let mut out = String::from("channel,planned_start,actual_start,actual_end,kind,title,status,error\r\n");
    for r in rows {
        let fields = [
            cell(&r.channel),
            cell(&time(r.planned_start)),
            cell(&time(Some(r.actual_start))),
            cell(&time(r.actual_end)),
            cell(&r.kind),
            cell(&r.title),
            cell(&r.status),
            cell(r.error.as_deref().unwrap_or("")),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    let name = format!("retrovue-as-run-{}.csv", state.clock.now().format("%Y%m%d-%H%M"));
    let mut res = out.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).ctx("header")?,
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("Cheers"), "\"Cheers\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    }
}
