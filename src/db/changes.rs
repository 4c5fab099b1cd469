//! Which tables changed: the push side of the database, so the modules that own a watched
//! value (the lineup, the published horizons, the guide) refresh it when their tables change
//! and at no other time — nothing re-reads SQLite on a timer.
//!
//! Two kinds of writers are seen:
//! - **This process.** SQLite's update hook names each table a statement changes; the tables
//!   are marked dirty and announced once the [`super::Db::call`] that wrote them has returned
//!   (its transaction committed), never before, so a reader woken by it sees the new rows.
//! - **Other processes** (the CLI run while the daemon serves: `channel import`, `schedule
//!   build`, `scan`). Their commits land in the write-ahead log; [`watch_external`] waits on
//!   inotify for the log to change and asks SQLite's `data_version`, which moves only for
//!   other connections' commits. Such a commit may have touched anything: every watcher wakes.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// Change counters per table; clonable, shared by a [`super::Db`] and its watchers.
#[derive(Clone, Default)]
pub struct Changes {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    // std Mutexes: a few map updates per statement or per call, never across an await.
    counters: Mutex<HashMap<String, u64>>,
    pending: Mutex<HashSet<String>>,
    external: AtomicU64,
    tick: Mutex<Option<watch::Sender<u64>>>,
}

impl Inner {
    fn sender(&self) -> watch::Sender<u64> {
        self.tick.lock().expect("tick lock").get_or_insert_with(|| watch::channel(0).0).clone()
    }
}

impl Changes {
    /// The update hook's side: `table` changed in the transaction under way.
    pub(super) fn touched(&self, table: &str) {
        let mut pending = self.inner.pending.lock().expect("pending lock");
        if !pending.contains(table) {
            pending.insert(table.to_owned());
        }
    }

    /// A call that may have written returned: announce the tables it changed.
    pub(super) fn flush(&self) {
        let dirty: Vec<String> = self.inner.pending.lock().expect("pending lock").drain().collect();
        self.announce(dirty);
    }

    /// Announce `dirty`, tables another connection of this process committed to (its own
    /// pending set: the shared one may hold tables of a transaction still under way).
    pub(super) fn announce(&self, dirty: Vec<String>) {
        if dirty.is_empty() {
            return;
        }
        {
            let mut counters = self.inner.counters.lock().expect("counters lock");
            for t in dirty {
                *counters.entry(t).or_default() += 1;
            }
        }
        self.inner.sender().send_modify(|n| *n += 1);
    }

    /// Another process committed: anything may have changed.
    pub fn external(&self) {
        self.inner.external.fetch_add(1, Ordering::SeqCst);
        self.inner.sender().send_modify(|n| *n += 1);
    }

    /// Watch `tables` (and every commit by another process).
    pub fn watch(&self, tables: &[&'static str]) -> TableWatch {
        let rx = self.inner.sender().subscribe();
        let mut w = TableWatch { changes: self.clone(), rx, tables: tables.to_vec(), seen: Vec::new(), external: 0 };
        w.seen = w.counts();
        w.external = self.inner.external.load(Ordering::SeqCst);
        w
    }
}

/// Wakes when one of its tables changed (see [`Changes::watch`]).
pub struct TableWatch {
    changes: Changes,
    rx: watch::Receiver<u64>,
    tables: Vec<&'static str>,
    seen: Vec<u64>,
    external: u64,
}

impl TableWatch {
    fn counts(&self) -> Vec<u64> {
        let counters = self.changes.inner.counters.lock().expect("counters lock");
        self.tables.iter().map(|t| counters.get(*t).copied().unwrap_or(0)).collect()
    }

    /// One of the tables changed since the last call to this or [`Self::changed`] (or since
    /// the watch was made); never waits.
    pub fn has_changed(&mut self) -> bool {
        let (counts, external) = (self.counts(), self.changes.inner.external.load(Ordering::SeqCst));
        let changed = counts != self.seen || external != self.external;
        self.seen = counts;
        self.external = external;
        changed
    }

    /// Wait until one of the tables changed since the last call (or since the watch was
    /// made). Several changes in a row are seen as one.
    pub async fn changed(&mut self) {
        loop {
            let (counts, external) = (self.counts(), self.changes.inner.external.load(Ordering::SeqCst));
            if counts != self.seen || external != self.external {
                self.seen = counts;
                self.external = external;
                return;
            }
            if self.rx.changed().await.is_err() {
                // The counters live as long as this watch does: never closed in practice.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Follow commits made to the database at `path` by other processes: a thread that waits on
/// inotify for the database and its log to change, then asks `data_version` (through
/// `data_version`, a closure on the daemon's own connection) and reports a move to `changes`.
/// Runs for the life of the process; returns an error if inotify cannot be set up (the
/// daemon then sees only its own writes, and says so).
pub fn watch_external(
    path: &Path,
    changes: Changes,
    data_version: impl Fn() -> Option<i64> + Send + 'static,
) -> std::io::Result<()> {
    use rustix::fs::inotify;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC)?;
    inotify::add_watch(
        &fd,
        &dir,
        inotify::WatchFlags::MODIFY | inotify::WatchFlags::CLOSE_WRITE | inotify::WatchFlags::MOVED_TO,
    )?;
    std::thread::Builder::new().name("db-changes".into()).spawn(move || {
        let mut last = data_version();
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        loop {
            let mut ours = false;
            {
                let mut reader = inotify::Reader::new(&fd, &mut buf);
                loop {
                    match reader.next() {
                        Ok(ev) => {
                            let file = ev.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                            ours |= file.starts_with(&name);
                            if reader.is_buffer_empty() {
                                break;
                            }
                        }
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot follow database changes by other processes any more");
                            return;
                        }
                    }
                }
            }
            if !ours {
                continue;
            }
            // A commit writes the log in a few steps: let them settle, then ask once.
            std::thread::sleep(Duration::from_millis(50));
            let now = data_version();
            if now.is_some() && now != last {
                last = now;
                changes.external();
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watch_wakes_for_its_tables_and_for_other_processes_only() {
        let changes = Changes::default();
        let mut lineup = changes.watch(&["channels"]);
        changes.touched("playout_log");
        changes.flush();
        let quiet = tokio::time::timeout(Duration::from_millis(50), lineup.changed()).await;
        assert!(quiet.is_err(), "woken by another table");
        changes.touched("channels");
        // Not before the call that wrote it returned (its transaction committed).
        assert!(tokio::time::timeout(Duration::from_millis(50), lineup.changed()).await.is_err());
        changes.flush();
        tokio::time::timeout(Duration::from_millis(50), lineup.changed()).await.expect("woken");
        changes.external();
        tokio::time::timeout(Duration::from_millis(50), lineup.changed()).await.expect("woken by another process");
    }
}
