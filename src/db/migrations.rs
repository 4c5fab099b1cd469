//! The embedded, append-only list of schema migrations and the code that applies them.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

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
    migration!(36, "0036_jellyfin_emby_sources.sql"),
    migration!(37, "0037_station.sql"),
    migration!(38, "0038_subtitle_tracks.sql"),
    migration!(39, "0039_offered_subtitles.sql"),
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
    // Foreign keys off while migrating (SQLite's procedure for rebuilding a table: with them on,
    // dropping a parent table deletes its children's rows); each migration checks them before
    // it commits. The pragma is a no-op inside a transaction, so it is set out here.
    conn.pragma_update(None, "foreign_keys", "OFF").map_err(sqlite)?;
    let out = apply_each(conn, path);
    conn.pragma_update(None, "foreign_keys", "ON").map_err(sqlite)?;
    out
}

fn apply_each(conn: &mut Connection, path: &Path) -> Result<(), DbError> {
    let sqlite = |source| DbError::Sqlite { path: path.to_owned(), source };
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
        let broken: Option<String> = tx
            .query_row("SELECT \"table\" FROM pragma_foreign_key_check LIMIT 1", [], |r| r.get(0))
            .optional()
            .map_err(fail)?;
        if let Some(table) = broken {
            return Err(fail(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some(format!("migration left rows in {table} that break a foreign key")),
            )));
        }
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

    /// 0036 rebuilds `sources` and `content_breakpoints` (foreign keys off while migrating):
    /// every row stays, items still go with their source, the schedule's trigger still runs,
    /// and foreign keys are on again afterwards.
    #[test]
    fn rebuilding_sources_keeps_rows_references_and_the_trigger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retrovue.db");
        {
            let mut c = Connection::open(&path).unwrap();
            c.pragma_update(None, "foreign_keys", "ON").unwrap();
            c.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
                .unwrap();
            let tx = c.transaction().unwrap();
            for m in MIGRATIONS.iter().filter(|m| m.version < 36) {
                tx.execute_batch(m.sql).unwrap();
                tx.execute("INSERT INTO schema_migrations VALUES (?1, ?2, 0)", rusqlite::params![m.version, m.name])
                    .unwrap();
            }
            tx.execute_batch(
                "INSERT INTO sources (id, kind, name, url, token, created_at) VALUES (1, 'plex', 'Plex', 'http://p', 't', 0);
                 INSERT INTO content_items (id, source_id, external_id, kind, uri, title, playable, created_at, updated_at)
                     VALUES (7, 1, '7', 'movie', 'http://p/library/parts/7', 'Movie', 1, 0, 0);
                 INSERT INTO content_breakpoints (item_id, offset_ms, origin) VALUES (7, 600, 'plex');
                 INSERT INTO channels (id, number, name, xmltv_id, created_at, updated_at) VALUES (1, '2', 'Two', 'two', 0, 0);
                 INSERT INTO schedule_items (channel_id, start_ms, end_ms, kind, item_id, uri, title, built_at)
                     VALUES (1, 0, 1000, 'program', 7, 'http://p/library/parts/7', 'Movie', 0);",
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let db = crate::db::Db::open(&path).unwrap();
        db.call_blocking(|c| {
            let on: bool = c.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
            assert!(on, "foreign keys are on again");
            let kept: (String, i64, i64) = c
                .query_row(
                    "SELECT s.kind, i.id, b.offset_ms FROM sources s JOIN content_items i ON i.source_id = s.id
                     JOIN content_breakpoints b ON b.item_id = i.id",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap();
            assert_eq!(kept, ("plex".to_owned(), 7, 600));
            c.execute(
                "INSERT INTO sources (id, kind, name, url, token, created_at) VALUES (2, 'emby', 'Emby', 'http://e', 'k', 0)",
                [],
            )
            .unwrap();
            c.execute("INSERT INTO content_breakpoints (item_id, offset_ms, origin) VALUES (7, 900, 'jellyfin')", [])
                .unwrap();
            assert!(c.execute("INSERT INTO sources (kind, name, created_at) VALUES ('kodi', 'K', 0)", []).is_err());
            c.execute("DELETE FROM sources WHERE id = 1", []).unwrap();
            let items: i64 = c.query_row("SELECT count(*) FROM content_items", [], |r| r.get(0)).unwrap();
            let bps: i64 = c.query_row("SELECT count(*) FROM content_breakpoints", [], |r| r.get(0)).unwrap();
            let airing: Option<i64> = c.query_row("SELECT item_id FROM schedule_items", [], |r| r.get(0)).unwrap();
            assert_eq!((items, bps, airing), (0, 0, None), "items go with their source; the trigger clears airings");
        });
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
