//! The embedded, append-only list of schema migrations and the code that applies them.

use std::path::Path;

use rusqlite::Connection;

use super::DbError;

/// One numbered migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number (the file's prefix).
    pub version: i64,
    /// Its file name.
    pub name: &'static str,
    /// The SQL it runs.
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:expr, $file:literal) => {
        Migration { version: $version, name: $file, sql: include_str!(concat!("../../migrations/", $file)) }
    };
}

/// Every migration, in order. Append only.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_initial.sql"),
    migration!(10, "0010_library_sidecars.sql"),
    migration!(20, "0020_schedule_state.sql"),
    migration!(25, "0025_schedule_item_refs.sql"),
    migration!(30, "0030_media_server_links.sql"),
    migration!(31, "0031_guide_data.sql"),
    migration!(32, "0032_plex_tokens_out_of_uris.sql"),
    migration!(33, "0033_schedule_replans.sql"),
    migration!(34, "0034_content_item_versions.sql"),
    migration!(35, "0035_loudness_as_aired.sql"),
    migration!(36, "0036_station.sql"),
];

/// The newest schema version this binary knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

pub(super) fn apply(conn: &mut Connection, path: &Path) -> Result<(), DbError> {
    let sqlite = |source| DbError::Sqlite { path: path.to_owned(), source };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         )",
    )
    .map_err(sqlite)?;
    let found: i64 =
        conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0)).map_err(sqlite)?;
    let known = latest_version();
    if found > known {
        return Err(DbError::TooNew { path: path.to_owned(), found, known });
    }
    for m in MIGRATIONS {
        let done: bool = conn
            .query_row("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)", [m.version], |r| r.get(0))
            .map_err(sqlite)?;
        if done {
            continue;
        }
        let fail = |source| DbError::Migration { path: path.to_owned(), version: m.version, name: m.name, source };
        let tx = conn.transaction().map_err(fail)?;
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.name, chrono::Utc::now().timestamp_millis()],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(version = m.version, name = m.name, "applied database migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strictly_increasing_and_match_file_names() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version > last, "{} out of order", m.name);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)), "{} misnumbered", m.name);
            last = m.version;
        }
    }

    #[test]
    fn every_file_in_migrations_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, embedded);
    }
}
