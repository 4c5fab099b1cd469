//! The `emergency_alerts` table. Nothing else runs SQL on it. Instants are UTC ms.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::model::{Alert, AlertChannels, AlertId, AlertMode, AlertOrigin, AlertRequest, NewAlert};
use super::{EmergencyError, Raised};
use crate::clock::{from_ms, to_ms};
use crate::lineup::GuideNumber;

/// Errors reading or writing alerts.
#[derive(Debug, thiserror::Error)]
pub enum AlertStoreError {
    /// SQLite failed.
    #[error("emergency_alerts table: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row could not be decoded.
    #[error("alert {id}: stored {field} is invalid: {value:?}")]
    BadRow {
        /// Alert id.
        id: i64,
        /// Column.
        field: &'static str,
        /// Stored value.
        value: String,
    },
}

/// A cheap fingerprint of the table: changes whenever a row is added or cleared, so a
/// daemon can poll it often and reload only on change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeMarker {
    count: i64,
    max_id: i64,
    cleared_sum: i64,
}

const COLUMNS: &str = "id, message, priority, channels, mode, tone, starts_at, ends_at, cleared_at, origin, created_at";

struct RawRow {
    alert: Alert,
    bad: Option<(&'static str, String)>,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    let id: i64 = r.get(0)?;
    let channels_text: String = r.get(3)?;
    let mode_text: String = r.get(4)?;
    let priority: i64 = r.get(2)?;
    let mut bad = None;
    let channels = if channels_text == "all" {
        AlertChannels::All
    } else {
        match serde_json::from_str::<Vec<GuideNumber>>(&channels_text) {
            Ok(list) => AlertChannels::List(list),
            Err(_) => {
                bad = Some(("channels", channels_text.clone()));
                AlertChannels::All
            }
        }
    };
    let mode = mode_text.parse().unwrap_or_else(|_| {
        bad = Some(("mode", mode_text.clone()));
        AlertMode::Crawl
    });
    let alert = Alert {
        id: AlertId(id),
        message: r.get(1)?,
        priority: priority.clamp(0, i64::from(u8::MAX)) as u8,
        channels,
        mode,
        tone: r.get(5)?,
        starts_at: from_ms(r.get(6)?),
        ends_at: r.get::<_, Option<i64>>(7)?.map(from_ms),
        cleared_at: r.get::<_, Option<i64>>(8)?.map(from_ms),
        origin: AlertOrigin::from_db(&r.get::<_, String>(9)?),
        created_at: from_ms(r.get(10)?),
    };
    Ok(RawRow { alert, bad })
}

fn checked(row: RawRow) -> Result<Alert, AlertStoreError> {
    match row.bad {
        None => Ok(row.alert),
        Some((field, value)) => Err(AlertStoreError::BadRow { id: row.alert.id.0, field, value }),
    }
}

fn query(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Alert>, AlertStoreError> {
    let mut st = conn.prepare(sql)?;
    let rows = st.query_map(params, from_row)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(checked(r?)?);
    }
    Ok(out)
}

/// Store a checked alert.
pub fn insert(conn: &Connection, new: &NewAlert, now_ms: i64) -> Result<Alert, AlertStoreError> {
    let channels = match &new.channels {
        AlertChannels::All => "all".to_owned(),
        AlertChannels::List(list) => serde_json::to_string(list).expect("channel list serialises"),
    };
    conn.execute(
        "INSERT INTO emergency_alerts (message, priority, channels, mode, tone, starts_at, ends_at, origin, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            new.message,
            new.priority,
            channels,
            new.mode.as_str(),
            new.tone,
            to_ms(new.starts_at),
            new.ends_at.map(to_ms),
            new.origin.as_str(),
            now_ms
        ],
    )?;
    let id = AlertId(conn.last_insert_rowid());
    Ok(get(conn, id)?.expect("the row just inserted"))
}

/// One alert.
pub fn get(conn: &Connection, id: AlertId) -> Result<Option<Alert>, AlertStoreError> {
    let row = conn
        .query_row(&format!("SELECT {COLUMNS} FROM emergency_alerts WHERE id = ?1"), [id.0], from_row)
        .optional()?;
    row.map(checked).transpose()
}

/// The most recent `limit` alerts, newest first.
pub fn recent(conn: &Connection, limit: u32) -> Result<Vec<Alert>, AlertStoreError> {
    query(conn, &format!("SELECT {COLUMNS} FROM emergency_alerts ORDER BY id DESC LIMIT ?1"), [limit])
}

/// Every alert that is live or still to come at `now_ms` (what activation needs).
pub fn pending(conn: &Connection, now_ms: i64) -> Result<Vec<Alert>, AlertStoreError> {
    query(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM emergency_alerts
             WHERE (ends_at IS NULL OR ends_at > ?1) AND (cleared_at IS NULL OR cleared_at > ?1)
             ORDER BY id"
        ),
        [now_ms],
    )
}

/// Clear one alert at `now_ms`. Clearing an alert that already stopped changes nothing.
/// Returns the alert as stored afterwards, or `None` when there is no such alert.
pub fn clear(conn: &Connection, id: AlertId, now_ms: i64) -> Result<Option<Alert>, AlertStoreError> {
    conn.execute(
        "UPDATE emergency_alerts SET cleared_at = ?2
         WHERE id = ?1 AND cleared_at IS NULL AND (ends_at IS NULL OR ends_at > ?2)",
        params![id.0, now_ms],
    )?;
    get(conn, id)
}

/// Clear every live or pending alert at `now_ms`; the ids cleared.
pub fn clear_all(conn: &Connection, now_ms: i64) -> Result<Vec<AlertId>, AlertStoreError> {
    let ids: Vec<AlertId> = pending(conn, now_ms)?.into_iter().map(|a| a.id).collect();
    for id in &ids {
        clear(conn, *id, now_ms)?;
    }
    Ok(ids)
}

/// Check `req` against the lineup and store it, in one transaction (daemon or CLI process).
/// The transaction takes the write lock first (`BEGIN IMMEDIATE`, every Retrovue
/// connection's default: `db::configure`): a deferred one read the lineup, and if the daemon
/// committed anything before the insert, SQLite refused to turn the stale read into a write
/// ("database is locked" at once, without waiting), and an alert raised from the CLI while
/// the daemon was busy was lost. An identical alert (same message, mode and channels) that is
/// still live or pending is returned instead of stacking a copy, so home automations may
/// retry freely.
pub fn raise(conn: &mut Connection, req: &AlertRequest, now_ms: i64) -> Result<Raised, EmergencyError> {
    let tx = conn.transaction().map_err(AlertStoreError::from)?;
    let lineup = crate::lineup::store::lineup(&tx)?;
    let new = req.validate(&lineup, from_ms(now_ms))?;
    if let Some(same) = pending(&tx, now_ms)?
        .into_iter()
        .find(|a| a.message == new.message && a.mode == new.mode && a.channels == new.channels)
    {
        return Ok(Raised { alert: same, duplicate: true });
    }
    let alert = insert(&tx, &new, now_ms)?;
    tx.commit().map_err(AlertStoreError::from)?;
    Ok(Raised { alert, duplicate: false })
}

/// The table's change marker (one indexed aggregate query).
pub fn marker(conn: &Connection) -> Result<ChangeMarker, AlertStoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(COALESCE(cleared_at, 0)), 0) FROM emergency_alerts",
        [],
        |r| Ok(ChangeMarker { count: r.get(0)?, max_id: r.get(1)?, cleared_sum: r.get(2)? }),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use chrono::{Duration, TimeZone, Utc};

    fn new(msg: &str, start_ms: i64, end_ms: Option<i64>, channels: &str) -> NewAlert {
        NewAlert {
            message: msg.into(),
            priority: 3,
            channels: channels.parse().unwrap(),
            mode: AlertMode::Slate,
            tone: true,
            starts_at: from_ms(start_ms),
            ends_at: end_ms.map(from_ms),
            origin: AlertOrigin::Webhook,
        }
    }

    #[test]
    fn alerts_round_trip_and_clear() {
        let db = Db::open_in_memory().unwrap();
        let t = to_ms(Utc.with_ymd_and_hms(2026, 11, 23, 21, 0, 0).unwrap());
        db.call_blocking(|c| {
            let m0 = marker(c).unwrap();
            let a = insert(c, &new("Flood", t, Some(t + 60_000), "5,7.1"), t).unwrap();
            let b = insert(c, &new("Storm", t, None, "all"), t).unwrap();
            let m1 = marker(c).unwrap();
            assert_ne!(m0, m1);
            assert_eq!(a.channels.to_string(), "5,7.1");
            assert_eq!((a.mode, a.tone, a.priority, a.origin), (AlertMode::Slate, true, 3, AlertOrigin::Webhook));
            assert_eq!(a.ends_at, Some(from_ms(t) + Duration::minutes(1)));
            assert_eq!(b.channels, AlertChannels::All);
            assert_eq!(pending(c, t + 1).unwrap().len(), 2);
            assert_eq!(pending(c, t + 60_000).unwrap().iter().map(|a| a.id).collect::<Vec<_>>(), [b.id]);
            let cleared = clear(c, b.id, t + 5_000).unwrap().unwrap();
            assert_eq!(cleared.cleared_at, Some(from_ms(t + 5_000)));
            assert_ne!(marker(c).unwrap(), m1);
            // A second clear keeps the first time.
            assert_eq!(clear(c, b.id, t + 9_000).unwrap().unwrap().cleared_at, Some(from_ms(t + 5_000)));
            assert!(clear(c, AlertId(99), t).unwrap().is_none());
            assert_eq!(clear_all(c, t + 10_000).unwrap(), [a.id]);
            assert!(pending(c, t + 10_000).unwrap().is_empty());
            assert_eq!(recent(c, 10).unwrap().iter().map(|a| a.id).collect::<Vec<_>>(), [b.id, a.id]);
        });
    }

    #[test]
    fn an_alert_is_stored_while_another_process_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retrovue.db");
        let (daemon, cli) = (Db::open(&path).unwrap(), Db::open(&path).unwrap());
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        // The "daemon" holds the write lock for a moment and commits a write.
        let writer = std::thread::spawn(move || {
            daemon.call_blocking(|c| {
                c.execute_batch("BEGIN IMMEDIATE").unwrap();
                insert(c, &new("Other", 0, None, "all"), 0).unwrap();
                locked_tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(300));
                c.execute_batch("COMMIT").unwrap();
            })
        });
        locked_rx.recv().unwrap();
        let req = AlertRequest {
            message: "Tornado warning".into(),
            priority: 3,
            channels: AlertChannels::All,
            mode: AlertMode::Slate,
            tone: true,
            starts_at: None,
            duration: None,
            ends_at: None,
            origin: AlertOrigin::Cli,
        };
        let raised = cli.call_blocking(|c| raise(c, &req, 1_000));
        writer.join().unwrap();
        let raised = raised.expect("the CLI's alert waits for the daemon's write instead of failing");
        assert!(!raised.duplicate);
        assert_eq!(cli.call_blocking(|c| pending(c, 1_000).unwrap().len()), 2);
    }
}
