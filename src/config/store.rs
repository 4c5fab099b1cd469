//! `system_config`: settings the user changed at run time, which override the file.

use rusqlite::{Connection, OptionalExtension, params};

/// Read one stored setting.
pub fn get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM system_config WHERE key = ?1", [key], |r| r.get(0)).optional()
}

/// Store one setting (insert or replace).
pub fn set(conn: &Connection, key: &str, value: &str, now_ms: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO system_config (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![key, value, now_ms],
    )?;
    Ok(())
}

/// Remove one setting (back to the file's value).
pub fn unset(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM system_config WHERE key = ?1", [key])?;
    Ok(())
}

/// Every stored setting, sorted by key.
pub fn all(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut st = conn.prepare("SELECT key, value FROM system_config ORDER BY key")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Read a setting, or create it with `make()` the first time (identities such as the
/// HDHomeRun DeviceID are generated once per box and kept for ever).
pub fn get_or_create(
    conn: &Connection,
    key: &str,
    now_ms: i64,
    make: impl FnOnce() -> String,
) -> rusqlite::Result<String> {
    if let Some(v) = get(conn, key)? {
        return Ok(v);
    }
    let v = make();
    conn.execute(
        "INSERT INTO system_config (key, value, updated_at) VALUES (?1, ?2, ?3) ON CONFLICT(key) DO NOTHING",
        params![key, v, now_ms],
    )?;
    Ok(get(conn, key)?.unwrap_or(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[test]
    fn set_get_unset_and_create_once() {
        let db = Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            assert_eq!(get(c, "device.friendly_name").unwrap(), None);
            set(c, "device.friendly_name", "Den TV", 1).unwrap();
            set(c, "device.friendly_name", "Den TV 2", 2).unwrap();
            assert_eq!(get(c, "device.friendly_name").unwrap().as_deref(), Some("Den TV 2"));
            assert_eq!(all(c).unwrap().len(), 1);
            unset(c, "device.friendly_name").unwrap();
            assert_eq!(get(c, "device.friendly_name").unwrap(), None);
            let a = get_or_create(c, "hdhr.device_id", 3, || "1050ABCE".into()).unwrap();
            let b = get_or_create(c, "hdhr.device_id", 4, || "FFFFFFFF".into()).unwrap();
            assert_eq!((a.as_str(), b.as_str()), ("1050ABCE", "1050ABCE"));
        });
    }
}
