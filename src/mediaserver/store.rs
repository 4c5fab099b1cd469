//! The `media_server_links` table: one row per media server this box is linked with.
//! Nothing else runs SQL on it. The secret column is read only to build that server's client.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{LinkId, Secret, ServerKind};

/// Errors of the links table (what SQLite said).
pub type StoreError = rusqlite::Error;

/// A link's health as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// The last check found (or made) everything in place.
    Linked,
    /// The last check failed or left something undone: see `problem`.
    Attention,
}

/// One link, secret included (never serialised: see [`LinkStatus`]).
#[derive(Debug, Clone)]
pub struct LinkRow {
    /// Id.
    pub id: LinkId,
    /// Which server software.
    pub kind: ServerKind,
    /// Base URL.
    pub url: String,
    /// Token or API key.
    pub secret: Secret,
    /// Display name.
    pub name: String,
    /// The server's key of our tuner.
    pub device_key: Option<String>,
    /// The server's key of our guide.
    pub guide_key: Option<String>,
    /// Health.
    pub state: LinkState,
    /// Why it needs attention.
    pub problem: Option<String>,
    /// Fingerprint of the guide the server last loaded.
    pub guide_mark: Option<u64>,
    /// Last guide reload requested (UTC ms).
    pub last_refresh_at: Option<i64>,
    /// Last successful check (UTC ms).
    pub last_check_at: Option<i64>,
    /// What the last check that changed something did.
    pub last_action: Option<String>,
}

/// A link as the page and `status` show it: no secret.
#[derive(Debug, Clone, Serialize)]
pub struct LinkStatus {
    /// Id.
    pub id: LinkId,
    /// `plex`, `jellyfin`, `emby`.
    pub kind: ServerKind,
    /// Base URL.
    pub url: String,
    /// Display name.
    pub name: String,
    /// `linked` or `attention`.
    pub state: LinkState,
    /// Why it needs attention.
    pub problem: Option<String>,
    /// Last guide reload requested (UTC ms).
    pub last_refresh_at: Option<i64>,
    /// Last successful check (UTC ms).
    pub last_check_at: Option<i64>,
    /// What the last check that changed something did.
    pub last_action: Option<String>,
}

impl From<&LinkRow> for LinkStatus {
    fn from(r: &LinkRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            url: r.url.clone(),
            name: r.name.clone(),
            state: r.state,
            problem: r.problem.clone(),
            last_refresh_at: r.last_refresh_at,
            last_check_at: r.last_check_at,
            last_action: r.last_action.clone(),
        }
    }
}

const COLUMNS: &str = "id, kind, url, secret, name, device_key, guide_key, state, problem, guide_mark, \
                       last_refresh_at, last_check_at, last_action";

fn from_row(r: &Row<'_>) -> rusqlite::Result<LinkRow> {
    let kind: String = r.get(1)?;
    let state: String = r.get(7)?;
    Ok(LinkRow {
        id: LinkId(r.get(0)?),
        kind: kind.parse().map_err(|e: super::LinkError| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.to_string().into())
        })?,
        url: r.get(2)?,
        secret: Secret::new(r.get::<_, String>(3)?),
        name: r.get(4)?,
        device_key: r.get(5)?,
        guide_key: r.get(6)?,
        state: if state == "linked" { LinkState::Linked } else { LinkState::Attention },
        problem: r.get(8)?,
        // Stored as the i64 with the same bits.
        guide_mark: r.get::<_, Option<i64>>(9)?.map(|m| m as u64),
        last_refresh_at: r.get(10)?,
        last_check_at: r.get(11)?,
        last_action: r.get(12)?,
    })
}

/// Every link, by id.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<LinkRow>> {
    let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM media_server_links ORDER BY id"))?;
    st.query_map([], from_row)?.collect()
}

/// One link.
pub fn get(conn: &Connection, id: LinkId) -> rusqlite::Result<Option<LinkRow>> {
    conn.query_row(&format!("SELECT {COLUMNS} FROM media_server_links WHERE id = ?1"), [id.0], from_row).optional()
}

/// The link with this server, if any.
pub fn find(conn: &Connection, kind: ServerKind, url: &str) -> rusqlite::Result<Option<LinkRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM media_server_links WHERE kind = ?1 AND url = ?2"),
        params![kind.as_str(), url],
        from_row,
    )
    .optional()
}

/// What a successful link or check recorded.
#[derive(Debug, Clone)]
pub struct Checked<'a> {
    /// The server's key of our tuner.
    pub device_key: &'a str,
    /// The server's key of our guide.
    pub guide_key: &'a str,
    /// The guide mark the server now has loaded, when a reload was requested.
    pub loaded_mark: Option<u64>,
    /// Channels the server has not matched yet (the link then needs attention).
    pub problem: Option<&'a str>,
    /// What changed ("" for nothing).
    pub action: &'a str,
}

/// Create or update the link with a server after a successful first reconcile.
pub fn save(
    conn: &Connection,
    kind: ServerKind,
    url: &str,
    secret: &Secret,
    name: &str,
    checked: &Checked<'_>,
    now_ms: i64,
) -> rusqlite::Result<LinkId> {
    conn.execute(
        "INSERT INTO media_server_links (kind, url, secret, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (kind, url) DO UPDATE SET secret = excluded.secret, name = excluded.name",
        params![kind.as_str(), url, secret.expose(), name, now_ms],
    )?;
    let id: i64 = conn.query_row(
        "SELECT id FROM media_server_links WHERE kind = ?1 AND url = ?2",
        params![kind.as_str(), url],
        |r| r.get(0),
    )?;
    record_check(conn, LinkId(id), checked, now_ms)?;
    Ok(LinkId(id))
}

/// Record a successful check.
pub fn record_check(conn: &Connection, id: LinkId, c: &Checked<'_>, now_ms: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE media_server_links SET device_key = ?2, guide_key = ?3,
             state = CASE WHEN ?4 IS NULL THEN 'linked' ELSE 'attention' END, problem = ?4,
             guide_mark = COALESCE(?5, guide_mark),
             last_refresh_at = CASE WHEN ?5 IS NULL THEN last_refresh_at ELSE ?6 END,
             last_check_at = ?6,
             last_action = CASE WHEN ?7 = '' THEN last_action ELSE ?7 END
         WHERE id = ?1",
        params![id.0, c.device_key, c.guide_key, c.problem, c.loaded_mark.map(|m| m as i64), now_ms, c.action],
    )?;
    Ok(())
}

/// Record a failed check: the link needs attention, for this reason.
pub fn record_problem(conn: &Connection, id: LinkId, problem: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE media_server_links SET state = 'attention', problem = ?2 WHERE id = ?1",
        params![id.0, problem],
    )?;
    Ok(())
}

/// Forget a link (false if there was none).
pub fn remove(conn: &Connection, id: LinkId) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM media_server_links WHERE id = ?1", [id.0])? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_round_trips_and_its_checks_update_it() {
        let db = crate::db::Db::open_in_memory().unwrap();
        db.call_blocking(|c| round_trip(c));
    }

    fn round_trip(c: &Connection) {
        let checked = Checked {
            device_key: "17",
            guide_key: "28",
            loaded_mark: Some(u64::MAX - 3),
            problem: None,
            action: "tuner registered",
        };
        let id = save(c, ServerKind::Plex, "http://plex:32400", &Secret::new("tok"), "Den", &checked, 1000).unwrap();
        let row = get(c, id).unwrap().unwrap();
        assert_eq!(row.secret.expose(), "tok");
        assert_eq!(row.guide_mark, Some(u64::MAX - 3));
        assert_eq!(row.state, LinkState::Linked);
        assert_eq!(row.last_refresh_at, Some(1000));
        // A check that changed nothing keeps the last action and refresh time.
        let quiet = Checked { device_key: "17", guide_key: "28", loaded_mark: None, problem: None, action: "" };
        record_check(c, id, &quiet, 2000).unwrap();
        let row = get(c, id).unwrap().unwrap();
        assert_eq!((row.last_refresh_at, row.last_check_at), (Some(1000), Some(2000)));
        assert_eq!(row.last_action.as_deref(), Some("tuner registered"));
        record_problem(c, id, "down").unwrap();
        let row = find(c, ServerKind::Plex, "http://plex:32400").unwrap().unwrap();
        assert_eq!((row.state, row.problem.as_deref()), (LinkState::Attention, Some("down")));
        // Saving again updates in place.
        assert_eq!(
            save(c, ServerKind::Plex, "http://plex:32400", &Secret::new("new"), "Den", &quiet, 3000).unwrap(),
            id
        );
        assert_eq!(list(c).unwrap().len(), 1);
        assert!(remove(c, id).unwrap());
        assert!(list(c).unwrap().is_empty());
    }
}
