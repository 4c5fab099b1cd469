//! One progress indication for a whole scan: items done / items found, and the current
//! file. Scanners count into a [`Progress`]; whoever shows it (the CLI's single bar, the web
//! page's watch) passes a callback.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of the scan's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProgressUpdate {
    /// Items finished (skipped as unchanged, imported, probed).
    pub done: u64,
    /// Items found so far (grows while sources are walked).
    pub found: u64,
    /// What is being worked on (file or title, lossy UTF-8).
    pub current: String,
    /// The scan is over.
    pub finished: bool,
}

/// The callback that shows progress.
type Sink = Box<dyn FnMut(&ProgressUpdate) + Send>;

/// Counters shared by every part of one scan; calls the callback on each change.
pub struct Progress {
    done: AtomicU64,
    found: AtomicU64,
    // std Mutex: held only to call the callback in order; never across an await.
    sink: Mutex<Sink>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").field("done", &self.done).field("found", &self.found).finish()
    }
}

impl Progress {
    /// Progress reported to `sink`.
    pub fn new(sink: impl FnMut(&ProgressUpdate) + Send + 'static) -> Self {
        Self { done: AtomicU64::new(0), found: AtomicU64::new(0), sink: Mutex::new(Box::new(sink)) }
    }

    /// Progress published on a tokio watch (the web page's single progress bar).
    pub fn watch() -> (Self, tokio::sync::watch::Receiver<ProgressUpdate>) {
        let (tx, rx) = tokio::sync::watch::channel(ProgressUpdate::default());
        (
            Self::new(move |u| {
                tx.send_replace(u.clone());
            }),
            rx,
        )
    }

    /// Progress nobody watches.
    pub fn silent() -> Self {
        Self::new(|_| {})
    }

    /// `n` more items were found.
    pub fn found(&self, n: u64, current: &str) {
        self.found.fetch_add(n, Ordering::SeqCst);
        self.emit(current, false);
    }

    /// One more item is finished.
    pub fn done_one(&self, current: &str) {
        self.done.fetch_add(1, Ordering::SeqCst);
        self.emit(current, false);
    }

    /// The scan is over.
    pub fn finish(&self) {
        self.emit("", true);
    }

    /// The current counters.
    pub fn snapshot(&self) -> ProgressUpdate {
        ProgressUpdate {
            done: self.done.load(Ordering::SeqCst),
            found: self.found.load(Ordering::SeqCst),
            current: String::new(),
            finished: false,
        }
    }

    fn emit(&self, current: &str, finished: bool) {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        let update = ProgressUpdate { current: current.to_owned(), finished, ..self.snapshot() };
        sink(&update);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_watch_sees_the_whole_scan() {
        let (p, rx) = Progress::watch();
        p.found(3, "a");
        p.done_one("a/1.mkv");
        p.found(2, "b");
        p.done_one("b/1.mkv");
        assert_eq!(*rx.borrow(), ProgressUpdate { done: 2, found: 5, current: "b/1.mkv".into(), finished: false });
        p.finish();
        assert!(rx.borrow().finished);
    }
}
