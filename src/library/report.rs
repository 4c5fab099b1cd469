//! What a scan or sync did: per source and in total (the `retrovue scan` summary).

use serde::Serialize;

use super::SourceId;

/// A problem with one item; the scan went on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemError {
    /// The file (lossy UTF-8) or Plex item.
    pub item: String,
    /// What went wrong.
    pub reason: String,
}

/// What one source's scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceReport {
    /// The source.
    pub source_id: SourceId,
    /// Its name.
    pub name: String,
    /// Items new to the library.
    pub added: u64,
    /// Items whose file, side files or remote record changed (or that came back).
    pub updated: u64,
    /// Items left untouched.
    pub unchanged: u64,
    /// Items that vanished and were marked gone.
    pub removed: u64,
    /// Present items that cannot be played.
    pub unplayable: u64,
    /// Per-item problems (broken `.nfo`, unreadable folders, ...).
    pub errors: Vec<ItemError>,
    /// The whole source failed (unreachable folder or server); nothing was changed.
    pub error: Option<String>,
}

/// What a whole scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    /// Items new to the library.
    pub added: u64,
    /// Items changed.
    pub updated: u64,
    /// Items untouched.
    pub unchanged: u64,
    /// Items marked gone.
    pub removed: u64,
    /// Present items that cannot be played.
    pub unplayable: u64,
    /// Loudness measurements made after the scan.
    pub loudness_measured: u64,
    /// Per source.
    pub sources: Vec<SourceReport>,
}

impl ScanReport {
    /// Add one source's report to the totals.
    pub fn push(&mut self, r: SourceReport) {
        self.added += r.added;
        self.updated += r.updated;
        self.unchanged += r.unchanged;
        self.removed += r.removed;
        self.unplayable += r.unplayable;
        self.sources.push(r);
    }

    /// Whether any source failed as a whole.
    pub fn failed_sources(&self) -> impl Iterator<Item = &SourceReport> {
        self.sources.iter().filter(|s| s.error.is_some())
    }
}
