//! The web's own tables, `users` and `sessions`, plus whole-database backup (`VACUUM INTO`)
//! and restore (copy every table from an uploaded file, migrated forward first when it was
//! written by an older version).
//! Session tokens are stored hashed; the CSRF token is stored as is (it is only useful
//! together with the session cookie).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

/// A live session as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The user.
    pub user_id: i64,
    /// Their name.
    pub username: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// Failures of restore.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// SQLite failed (including "file is not a database").
    #[error("restore: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file is a database, but not a Retrovue one.
    #[error("the file is not a Retrovue backup")]
    NotRetrovue,
    /// The file failed SQLite's integrity check.
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    /// The backup was written by a newer Retrovue (a schema this box does not know).
    #[error("the backup has schema version {found}, newer than this box's {expected}: update this box, then restore")]
    Version {
        /// In the file.
        found: i64,
        /// Here.
        expected: i64,
    },
    /// Bringing an older backup to this box's schema failed.
    #[error("the backup is from an older version and could not be brought up to date: {0}")]
    Upgrade(#[source] crate::db::DbError),
}

/// Whether an admin user exists (first-run setup done).
pub fn has_user(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))
}

/// Create the first user; `None` if any user exists already (setup cannot run twice).
pub fn create_first_user(conn: &Connection, username: &str, hash: &str, now_ms: i64) -> rusqlite::Result<Option<i64>> {
    let n = conn.execute(
        "INSERT INTO users (username, password_hash, created_at)
         SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM users)",
        params![username, hash, now_ms],
    )?;
    Ok((n == 1).then(|| conn.last_insert_rowid()))
}

/// A user's id and password hash, by name.
pub fn user_by_name(conn: &Connection, username: &str) -> rusqlite::Result<Option<(i64, String)>> {
    conn.query_row("SELECT id, password_hash FROM users WHERE username = ?1", [username], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .optional()
}

/// A user's password hash, by id.
pub fn password_hash(conn: &Connection, user_id: i64) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT password_hash FROM users WHERE id = ?1", [user_id], |r| r.get(0)).optional()
}

/// Replace a user's password hash and end every other session of theirs.
pub fn set_password(conn: &Connection, user_id: i64, hash: &str, keep_token_hash: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![user_id, hash])?;
    conn.execute("DELETE FROM sessions WHERE user_id = ?1 AND token_hash != ?2", params![user_id, keep_token_hash])?;
    Ok(())
}

/// Store a new session.
pub fn insert_session(
    conn: &Connection,
    token_hash: &str,
    user_id: i64,
    csrf: &str,
    now_ms: i64,
    expires_ms: i64,
) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now_ms])?;
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![token_hash, user_id, csrf, now_ms, expires_ms],
    )?;
    Ok(())
}

/// The unexpired session with this token hash.
pub fn session(conn: &Connection, token_hash: &str, now_ms: i64) -> rusqlite::Result<Option<SessionRow>> {
    conn.query_row(
        "SELECT s.user_id, u.username, s.csrf_token FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = ?1 AND s.expires_at > ?2",
        params![token_hash, now_ms],
        |r| Ok(SessionRow { user_id: r.get(0)?, username: r.get(1)?, csrf: r.get(2)? }),
    )
    .optional()
}

/// End one session.
pub fn delete_session(conn: &Connection, token_hash: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
    Ok(())
}

/// Write a consistent copy of the whole database to `dest` (which must not exist).
pub fn backup_into(conn: &Connection, dest: &Path) -> rusqlite::Result<()> {
    conn.execute("VACUUM INTO ?1", [dest.to_string_lossy()])?;
    Ok(())
}

/// Replace the content of every table with the content of the database file `src`, a
/// Retrovue database of schema version `expected_version` or older. An older one (a backup
/// taken before this box was updated) is first migrated forward in place, so `src` must be a
/// scratch copy. One transaction: on any failure nothing changes. Returns the rows copied.
pub fn restore_from(conn: &mut Connection, src: &Path, expected_version: i64) -> Result<u64, RestoreError> {
    let found = with_attached(conn, src, version_of)?;
    if found > expected_version {
        return Err(RestoreError::Version { found, expected: expected_version });
    }
    if found < expected_version {
        // The embedded migrations, applied to the copy exactly as to a database left by that
        // version; the connection is closed (and its log folded back) before the copy.
        drop(crate::db::open_connection(src).map_err(RestoreError::Upgrade)?);
    }
    with_attached(conn, src, |conn| copy_all(conn, expected_version))
}

/// Run `f` with `src` attached as `restored`, detaching whatever happens.
fn with_attached<T>(
    conn: &mut Connection,
    src: &Path,
    f: impl FnOnce(&mut Connection) -> Result<T, RestoreError>,
) -> Result<T, RestoreError> {
    conn.execute("ATTACH DATABASE ?1 AS restored", [src.to_string_lossy()])?;
    let result = f(conn);
    let detach = conn.execute("DETACH DATABASE restored", []);
    let out = result?;
    detach?;
    Ok(out)
}

/// The schema version of the attached file, once it proves an intact Retrovue database.
fn version_of(conn: &mut Connection) -> Result<i64, RestoreError> {
    let check: String = conn.query_row("PRAGMA restored.quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(RestoreError::Damaged(check));
    }
    let has_migrations: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM restored.sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
        [],
        |r| r.get(0),
    )?;
    if !has_migrations {
        return Err(RestoreError::NotRetrovue);
    }
    Ok(conn.query_row("SELECT COALESCE(MAX(version), 0) FROM restored.schema_migrations", [], |r| r.get(0))?)
}

fn copy_all(conn: &mut Connection, expected_version: i64) -> Result<u64, RestoreError> {
    let found = version_of(conn)?;
    if found != expected_version {
        return Err(RestoreError::Version { found, expected: expected_version });
    }
    let tables: Vec<String> = {
        let mut st = conn.prepare(
            "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
             AND name != 'schema_migrations' AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name",
        )?;
        st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    let tables = parents_first(conn, tables)?;
    let tx = conn.transaction()?;
    tx.execute_batch("PRAGMA defer_foreign_keys = ON")?;
    for t in tables.iter().rev() {
        tx.execute(&format!("DELETE FROM main.\"{t}\""), [])?;
    }
    let mut copied = 0u64;
    for t in &tables {
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM restored.sqlite_master WHERE type = 'table' AND name = ?1)",
            [t],
            |r| r.get(0),
        )?;
        if exists {
            copied += tx.execute(&format!("INSERT INTO main.\"{t}\" SELECT * FROM restored.\"{t}\""), [])? as u64;
        }
    }
    tx.commit()?;
    Ok(copied)
}

/// Order tables so every table comes after the tables its foreign keys point to.
fn parents_first(conn: &Connection, mut left: Vec<String>) -> rusqlite::Result<Vec<String>> {
    let mut parents = std::collections::HashMap::new();
    for t in &left {
        let mut st = conn.prepare(&format!("PRAGMA main.foreign_key_list(\"{t}\")"))?;
        let refs: Vec<String> = st.query_map([], |r| r.get::<_, String>(2))?.collect::<Result<_, _>>()?;
        parents.insert(t.clone(), refs.into_iter().filter(|r| r != t).collect::<Vec<_>>());
    }
    let mut out: Vec<String> = Vec::new();
    while !left.is_empty() {
        let ready = left.iter().position(|t| parents[t].iter().all(|p| out.contains(p) || !left.contains(p)));
        // A cycle (none in the schema) falls back to the remaining order.
        out.push(left.remove(ready.unwrap_or(0)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Db, latest_version};

    #[test]
    fn first_user_once_sessions_expire_and_password_change_ends_other_sessions() {
        let db = Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            assert!(!has_user(c).unwrap());
            let id = create_first_user(c, "admin", "h1", 1).unwrap().unwrap();
            assert_eq!(create_first_user(c, "other", "h2", 2).unwrap(), None);
            assert!(has_user(c).unwrap());
            assert_eq!(user_by_name(c, "admin").unwrap(), Some((id, "h1".to_owned())));
            insert_session(c, "a", id, "csrf-a", 10, 100).unwrap();
            insert_session(c, "b", id, "csrf-b", 10, 100).unwrap();
            assert_eq!(session(c, "a", 50).unwrap().unwrap().csrf, "csrf-a");
            assert_eq!(session(c, "a", 100).unwrap(), None, "expired at expires_at");
            set_password(c, id, "h3", "a").unwrap();
            assert_eq!(password_hash(c, id).unwrap().as_deref(), Some("h3"));
            assert!(session(c, "a", 50).unwrap().is_some());
            assert_eq!(session(c, "b", 50).unwrap(), None);
            delete_session(c, "a").unwrap();
            assert_eq!(session(c, "a", 50).unwrap(), None);
        });
    }

    #[test]
    fn backup_then_restore_brings_back_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("live.db")).unwrap();
        let file = dir.path().join("backup.db");
        db.call_blocking(|c| {
            c.execute(
                "INSERT INTO system_config (key, value, updated_at) VALUES ('device.friendly_name', 'Den', 1)",
                [],
            )
            .unwrap();
            let uid = create_first_user(c, "admin", "h", 1).unwrap().unwrap();
            insert_session(c, "t", uid, "csrf", 1, 100).unwrap();
            backup_into(c, &file).unwrap();
            insert_session(c, "t2", uid, "csrf", 1, 100).unwrap();
            c.execute("UPDATE system_config SET value = 'Changed'", []).unwrap();
            c.execute("INSERT INTO system_config (key, value, updated_at) VALUES ('x', 'y', 1)", []).unwrap();
            let copied = restore_from(c, &file, latest_version()).unwrap();
            assert!(copied >= 2);
            let v: String =
                c.query_row("SELECT group_concat(key || '=' || value) FROM system_config", [], |r| r.get(0)).unwrap();
            assert_eq!(v, "device.friendly_name=Den");
            // A backup written by a newer version is refused; by an older one, migrated.
            assert!(matches!(restore_from(c, &file, 1), Err(RestoreError::Version { found, .. }) if found > 1));
            let junk = dir.path().join("junk.db");
            std::fs::write(&junk, b"not a database at all, just text").unwrap();
            assert!(restore_from(c, &junk, latest_version()).is_err());
            assert!(has_user(c).unwrap());
        });
    }
}
