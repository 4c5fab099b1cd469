//! SQLite plumbing: open the database (WAL, foreign keys), apply the embedded migrations,
//! and run closures on a blocking thread; and the free space of the disk it lives on
//! ([`space`]). No domain SQL lives here: each table belongs to a `<module>/store.rs`.

pub mod changes;
mod migrations;
pub mod space;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use changes::{Changes, TableWatch};
pub use migrations::{MIGRATIONS, Migration, latest_version};
/// The connection the closures of [`Db`]'s calls receive, named for code that hands it on to
/// a store without running SQL itself (a schedule build on its [`OwnConnection`]).
pub use rusqlite::Connection;

/// Errors opening or using the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite refused an operation.
    #[error("database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer Retrovue.
    #[error(
        "database {path} has schema version {found}, newer than this Retrovue knows ({known}); \
         it was left untouched: run the newer Retrovue, or restore a backup"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Highest version recorded in the database.
        found: i64,
        /// Highest version this binary knows.
        known: i64,
    },
    /// Applying a migration failed; the transaction was rolled back.
    #[error("database {path}: migration {version} ({name}) failed: {source}")]
    Migration {
        /// The database file.
        path: PathBuf,
        /// The migration's number.
        version: i64,
        /// The migration's file name.
        name: &'static str,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The blocking task running a closure panicked or was cancelled.
    #[error("database task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A clonable handle to the database. Calls run on tokio's blocking pool, one at a time on one
/// shared connection, so each holds it only for a short section; long work (a schedule build)
/// takes an [`OwnConnection`] instead.
#[derive(Clone)]
pub struct Db {
    path: PathBuf,
    // std Mutex: held only inside spawn_blocking while a closure runs; never across an await.
    conn: Arc<Mutex<Connection>>,
    changes: Changes,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

impl Db {
    /// Open (creating if needed) the database at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let conn = open_connection(path)?;
        Ok(Self::with_connection(path.to_owned(), conn))
    }

    fn with_connection(path: PathBuf, conn: Connection) -> Self {
        let changes = Changes::default();
        let hook = changes.clone();
        conn.update_hook(Some(move |_: rusqlite::hooks::Action, _: &str, table: &str, _: i64| hook.touched(table)));
        Self { path, conn: Arc::new(Mutex::new(conn)), changes }
    }

    /// Which tables changed (this process's writes and, once [`Self::watch_external`] runs,
    /// other processes' commits): what the watched values refresh on.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Follow other processes' commits (the CLI run beside the daemon) into [`Self::changes`].
    pub fn watch_external(&self) -> std::io::Result<()> {
        let db = self.clone();
        let version = move || db.call_blocking(|c| c.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0)).ok());
        changes::watch_external(&self.path, self.changes.clone(), version)
    }

    /// An in-memory database with the real migrations (tests).
    pub fn open_in_memory() -> Result<Self, DbError> {
        let path = PathBuf::from(":memory:");
        let mut conn = Connection::open_in_memory().map_err(|source| DbError::Sqlite { path: path.clone(), source })?;
        configure(&mut conn, &path)?;
        migrations::apply(&mut conn, &path)?;
        Ok(Self::with_connection(path, conn))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> T + Send + 'static,
    {
        let (conn, changes) = (self.conn.clone(), self.changes.clone());
        Ok(tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let out = f(&mut conn);
            drop(conn);
            changes.flush();
            out
        })
        .await?)
    }

    /// Copy the write-ahead log back into the database file and truncate it (clean shutdown:
    /// the file alone is then complete). `Ok(false)` if another connection kept it busy.
    pub async fn checkpoint(&self) -> Result<bool, DbError> {
        let path = self.path.clone();
        self.call(|c| c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)))
            .await?
            .map(|busy| busy == 0)
            .map_err(|source| DbError::Sqlite { path, source })
    }

    /// Run `f` with the connection on the current thread (CLI commands, blocking contexts).
    pub fn call_blocking<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let out = f(&mut conn);
        drop(conn);
        self.changes.flush();
        out
    }

    /// Hold the shared connection (on a thread of its own) until the returned sender is sent
    /// to or dropped: what must not wait for it can be shown not to.
    #[cfg(test)]
    pub(crate) fn hold_shared_connection(&self) -> std::sync::mpsc::Sender<()> {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (locked, wait) = std::sync::mpsc::channel::<()>();
        let db = self.clone();
        std::thread::spawn(move || {
            db.call_blocking(|_| {
                locked.send(()).expect("the holder waits");
                let _ = held.recv();
            })
        });
        wait.recv().expect("the shared connection was taken");
        release
    }

    /// A connection of its own, for long work on the current thread (a schedule build): the
    /// shared connection stays free for everyone else's calls meanwhile (WAL: readers never
    /// wait for a writer; another writer waits only for one of its transactions). Its commits
    /// are announced in [`Self::changes`] like the shared connection's. An in-memory database
    /// (tests) has no second connection: its calls then go to the shared one, one by one.
    /// Automatic checkpoints are off on it; dropping it checkpoints once.
    pub fn own_connection(&self) -> Result<OwnConnection, DbError> {
        if self.path == Path::new(":memory:") {
            return Ok(OwnConnection { db: self.clone(), own: None });
        }
        let conn = open_connection(&self.path)?;
        // Its writes come in bursts (a build publishing channel after channel): no automatic
        // checkpoint after each, one when it is dropped (see `with_one_checkpoint`).
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(|source| DbError::Sqlite { path: self.path.clone(), source })?;
        let dirty: Arc<Mutex<Vec<String>>> = Arc::default();
        let hook = dirty.clone();
        conn.update_hook(Some(move |_: rusqlite::hooks::Action, _: &str, table: &str, _: i64| {
            let mut dirty = hook.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if !dirty.iter().any(|t| t == table) {
                dirty.push(table.to_owned());
            }
        }));
        Ok(OwnConnection { db: self.clone(), own: Some((conn, dirty)) })
    }
}

/// A connection apart from [`Db`]'s shared one ([`Db::own_connection`]).
pub struct OwnConnection {
    db: Db,
    // The connection and the tables its update hook saw changed since the last call.
    own: Option<(Connection, Arc<Mutex<Vec<String>>>)>,
}

impl OwnConnection {
    /// Run `f` on this connection, on the current thread; what it committed is announced when
    /// it returns.
    pub fn call<T>(&mut self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let Some((conn, dirty)) = &mut self.own else { return self.db.call_blocking(f) };
        let out = f(conn);
        let tables = std::mem::take(&mut *dirty.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        self.db.changes.announce(tables);
        out
    }

    /// Run `f`, a batch of reads, in one read transaction: a consistent snapshot.
    pub fn snapshot<T>(&mut self, f: impl FnOnce(&Connection) -> T) -> Result<T, DbError> {
        let path = self.db.path.clone();
        self.call(|c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)
                .map_err(|source| DbError::Sqlite { path, source })?;
            Ok(f(&tx))
        })
    }
}

impl Drop for OwnConnection {
    fn drop(&mut self) {
        // Passive: never waits for readers; what it cannot copy now a later checkpoint will.
        if let Some((conn, _)) = &self.own
            && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::debug!(error = %e, "checkpoint after a burst of writes");
        }
    }
}

/// A connection of its own for quick reads by threads that must not wait for the shared one
/// (a channel's actor preparing its next item, the horizons' re-read), opened on first use
/// and kept: WAL readers wait neither for writers nor for what holds the shared connection.
/// Its users take turns on it. If it cannot be opened, reads go to the shared connection.
pub struct Reader {
    db: Db,
    // std Mutex: held for one read on a blocking thread, never across an await.
    conn: Mutex<Option<OwnConnection>>,
}

impl Reader {
    /// Reads from `db`.
    pub fn new(db: Db) -> Self {
        Self { db, conn: Mutex::default() }
    }

    /// Run `f` on the reader's connection, on the current thread.
    pub fn call<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if conn.is_none() {
            match self.db.own_connection() {
                Ok(own) => *conn = Some(own),
                Err(e) => {
                    drop(conn);
                    tracing::warn!(error = %e, "cannot open a connection for reads; using the shared one");
                    return self.db.call_blocking(f);
                }
            }
        }
        conn.as_mut().expect("opened").call(f)
    }
}

/// Open one connection with Retrovue's settings and migrations applied.
pub fn open_connection(path: &Path) -> Result<Connection, DbError> {
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let mut conn = Connection::open(path).map_err(|source| DbError::Sqlite { path: path.to_owned(), source })?;
    configure(&mut conn, path)?;
    migrations::apply(&mut conn, path)?;
    Ok(conn)
}

/// Run `f`, a burst of write transactions (a schedule build), with automatic WAL checkpoints
/// paused, then checkpoint once (passive: never waits for readers). Each commit otherwise
/// checkpoints when the log passes 1000 pages, copying pages that later commits rewrite again
/// and syncing the file every time; one checkpoint copies each page once, with one sync.
pub fn with_one_checkpoint<T>(conn: &mut Connection, f: impl FnOnce(&mut Connection) -> T) -> rusqlite::Result<T> {
    let pages: i64 = conn.pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let out = f(conn);
    conn.pragma_update(None, "wal_autocheckpoint", pages)?;
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(out)
}

/// How long a connection waits for another's write transaction before giving up.
const BUSY_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting connection tries again.
const BUSY_RETRY: Duration = Duration::from_millis(1);

/// The busy handler: try again every millisecond, for up to [`BUSY_WAIT`]. SQLite's own
/// (`busy_timeout`) backs off to 100 ms between tries, so a write waiting behind a burst of
/// short transactions (a schedule build publishing channel after channel) misses the gaps
/// between them and waits for the whole burst, holding the daemon's connection meanwhile.
fn wait_for_the_writer(tries: i32) -> bool {
    let limit = (BUSY_WAIT.as_micros() / BUSY_RETRY.as_micros()) as i32;
    std::thread::sleep(BUSY_RETRY);
    tries < limit
}

fn configure(conn: &mut Connection, path: &Path) -> Result<(), DbError> {
    let err = |source| DbError::Sqlite { path: path.to_owned(), source };
    conn.busy_handler(Some(wait_for_the_writer)).map_err(err)?;
    // A transaction takes the write lock when it begins (`BEGIN IMMEDIATE`), so it waits its
    // turn in the busy handler above. A deferred one that reads, then writes after another
    // process (the CLI beside the daemon) committed, fails at once with "database is locked"
    // (SQLITE_BUSY_SNAPSHOT: the busy handler is not called, its snapshot is stale) and the
    // change is lost. Read-only batches ask for a deferred one ([`OwnConnection::snapshot`]).
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
    // FULL: in WAL mode each commit syncs the log, so what the API answered survives a
    // power cut (scripts/boot-test.sh pulls the power right after a settings change). With
    // NORMAL the log is synced only at checkpoints, and the data partition's ext4 commits
    // every 30 s (fstab `commit=30`): with NORMAL, the boot test's settings change was gone
    // after the power cut; with FULL it was there.
    conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_gets_every_migration() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retrovue.db");
        let db = Db::open(&path).unwrap();
        let versions: Vec<i64> = db.call_blocking(|c| {
            let mut st = c.prepare("SELECT version FROM schema_migrations ORDER BY version").unwrap();
            st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        });
        let known: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(versions, known);
        let mode: String = db.call_blocking(|c| c.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap());
        assert_eq!(mode, "wal");
        // Opening again applies nothing and fails nothing.
        drop(db);
        Db::open(&path).unwrap();
    }

    /// A transaction that reads, then writes, while another process commits in between: with
    /// deferred transactions the second write failed at once ("database is locked", the busy
    /// handler never called); with every transaction immediate the other writer waits its turn.
    #[test]
    fn read_then_write_beside_another_writer_waits_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retrovue.db");
        let mut daemon = open_connection(&path).unwrap();
        daemon.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let tx = daemon.transaction().unwrap();
        let before: i64 = tx.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        let cli_path = path.clone();
        let cli = std::thread::spawn(move || {
            let c = open_connection(&cli_path).unwrap();
            c.execute("INSERT INTO t VALUES (2)", []).map(|_| ())
        });
        // The other process has time to commit if nothing holds it back.
        std::thread::sleep(Duration::from_millis(300));
        tx.execute("INSERT INTO t VALUES (?1)", [before + 1]).expect("the read-then-write transaction writes");
        tx.commit().unwrap();
        cli.join().unwrap().expect("the other writer waited, then wrote");
        let n: i64 = daemon.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 2);
    }

    #[tokio::test]
    async fn checkpoint_empties_the_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retrovue.db");
        let db = Db::open(&path).unwrap();
        db.call(|c| c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap()).await.unwrap();
        let wal = dir.path().join("retrovue.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0, "writes go to the WAL first");
        assert!(db.checkpoint().await.unwrap());
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
        // The main file alone now holds the row.
        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).unwrap();
        let n: i64 = Connection::open(&copy).unwrap().query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_burst_of_writes_checkpoints_once_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retrovue.db");
        let wal = dir.path().join("retrovue.db-wal");
        let db = Db::open(&path).unwrap();
        let pages = |c: &Connection| c.pragma_query_value(None, "wal_autocheckpoint", |r| r.get::<_, i64>(0)).unwrap();
        db.call_blocking(|c| {
            c.execute_batch("CREATE TABLE t (x TEXT)").unwrap();
            let before = pages(c);
            let grown = with_one_checkpoint(c, |c| {
                assert_eq!(pages(c), 0, "no automatic checkpoint inside");
                // 3000 commits of 2 KB: about 1500 pages, past the 1000 that trigger a checkpoint
                // (which would rewind the log to its start).
                for i in 0..3000 {
                    c.execute("INSERT INTO t VALUES (?1)", [format!("{i:0>2000}")]).unwrap();
                }
                std::fs::metadata(&wal).unwrap().len()
            })
            .unwrap();
            assert!(grown > 1200 * 4096, "the log grew to {grown} bytes without a checkpoint");
            assert_eq!(pages(c), before, "the setting is restored");
            // (busy, frames in the log, frames copied back): all copied back at the end.
            let (n, copied): (i64, i64) =
                c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?))).unwrap();
            assert_eq!(n, copied);
            let rows: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
            assert_eq!(rows, 3000);
        });
    }

    /// A few rows of every table the schedule's item ids touch: two sources, one item each,
    /// a program and an airing of each item.
    const SCHEDULE_ROWS: &str = "
        INSERT INTO channels (id, number, name, xmltv_id, created_at, updated_at) VALUES (1, '5', 'Five', 'five', 0, 0);
        INSERT INTO sources (id, kind, name, created_at) VALUES (1, 'folder', 'kept', 0), (2, 'folder', 'removed', 0);
        INSERT INTO content_items (id, source_id, external_id, kind, uri, title, created_at, updated_at)
            VALUES (10, 1, 'a', 'episode', 'file:///a', 'A', 0, 0), (20, 2, 'b', 'episode', 'file:///b', 'B', 0, 0);
        INSERT INTO schedule_programs (id, channel_id, start_ms, end_ms, item_id, info, built_at)
            VALUES (100, 1, 0, 1000, 10, '{}', 0), (200, 1, 1000, 2000, 20, '{}', 0);
        INSERT INTO schedule_items (id, channel_id, program_id, start_ms, end_ms, kind, item_id, title, built_at)
            VALUES (1000, 1, 100, 0, 1000, 'program', 10, 'A', 0), (2000, 1, 200, 1000, 2000, 'program', 20, 'B', 0);";

    fn item_ids(c: &Connection, table: &str) -> Vec<(i64, Option<i64>)> {
        let mut st = c.prepare(&format!("SELECT id, item_id FROM {table} ORDER BY id")).unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn a_schedule_written_before_migration_25_survives_it_and_forgets_a_removed_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retrovue.db");
        {
            // The released schema before 25, with rows in it.
            let mut c = Connection::open(&path).unwrap();
            configure(&mut c, &path).unwrap();
            c.execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);",
            )
            .unwrap();
            let tx = c.transaction().unwrap();
            for m in MIGRATIONS.iter().filter(|m| m.version < 25) {
                tx.execute_batch(m.sql).unwrap();
                tx.execute("INSERT INTO schema_migrations VALUES (?1, ?2, 0)", rusqlite::params![m.version, m.name])
                    .unwrap();
            }
            tx.execute_batch(SCHEDULE_ROWS).unwrap();
            tx.commit().unwrap();
        }
        let db = Db::open(&path).unwrap();
        db.call_blocking(|c| {
            assert_eq!(item_ids(c, "schedule_programs"), [(100, Some(10)), (200, Some(20))]);
            assert_eq!(item_ids(c, "schedule_items"), [(1000, Some(10)), (2000, Some(20))]);
            let broken: i64 = c.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
            assert_eq!(broken, 0);
            c.execute("DELETE FROM sources WHERE id = 2", []).unwrap();
            // The removed source's item is gone from both tables' ids; the rows stay (they
            // are the frozen schedule) and the other source's ids are untouched.
            assert_eq!(item_ids(c, "schedule_programs"), [(100, Some(10)), (200, None)]);
            assert_eq!(item_ids(c, "schedule_items"), [(1000, Some(10)), (2000, None)]);
            // The program -> airing cascade still holds after the rebuild.
            c.execute("DELETE FROM schedule_programs WHERE id = 100", []).unwrap();
            assert_eq!(item_ids(c, "schedule_items"), [(2000, None)]);
            // Deleting a channel still takes its schedule with it.
            c.execute("DELETE FROM channels WHERE id = 1", []).unwrap();
            assert!(item_ids(c, "schedule_programs").is_empty() && item_ids(c, "schedule_items").is_empty());
        });
    }

    #[test]
    fn newer_database_is_refused_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retrovue.db");
        drop(Db::open(&path).unwrap());
        {
            let c = Connection::open(&path).unwrap();
            c.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)", [])
                .unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let err = Db::open(&path).unwrap_err();
        assert!(matches!(err, DbError::TooNew { found: 9999, .. }), "{err}");
        assert!(err.to_string().contains("newer than this Retrovue"));
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
