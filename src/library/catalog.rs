//! [`Library`]: the one API the CLI and the daemon (web page) use for the catalogue — add,
//! list and remove sources, run a scan with one [`Progress`], read items, edit an item's
//! scheduling metadata and breakpoints (origin `user`: never overwritten by scans), and
//! measure loudness.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::report::{ScanReport, SourceReport};
use super::scan::{self, ScanOptions};
use super::store::{self, ItemDetails, ItemFilter, Origin, Source, SourceSpec};
use super::{MediaId, MediaItem, Progress, SchedulingMetadata, SourceId, loudness, nfo, plex};
use crate::clock::{self, SharedClock};
use crate::config::LibraryConfig;
use crate::db::{Db, DbError};

/// Errors of the library API.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// The database refused.
    #[error("database: {0}")]
    Sql(#[from] store::StoreError),
    /// The database task failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// No such item.
    #[error("no item with id {0}")]
    NoItem(MediaId),
    /// No such source.
    #[error("no source with id {0}")]
    NoSource(SourceId),
    /// A folder kind that does not exist.
    #[error(transparent)]
    Kind(#[from] super::UnknownFolderKind),
    /// The folder to add is not a readable folder.
    #[error("cannot use folder {path}: {source}")]
    Folder {
        /// The folder.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A Plex URL that is not http(s).
    #[error("Plex URL {0:?} is not an http:// or https:// URL")]
    PlexUrl(String),
    /// A breakpoint that cannot be read.
    #[error("breakpoint {0:?} is neither ms nor a timecode like 1:30 or 12:10.5")]
    Breakpoint(String),
    /// A background task panicked.
    #[error("scan task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A user edit of one item: `None` leaves a field as it is, `Some("")` / `Some([])` clears
/// the user's value (the imported one shows again).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemEdit {
    /// Dayparts.
    pub daypart: Option<Vec<String>>,
    /// Seasons / holidays.
    pub season: Option<Vec<String>>,
    /// Audience.
    pub demographic: Option<String>,
    /// Advertiser.
    pub company: Option<String>,
    /// Product category.
    pub category: Option<String>,
    /// Decade (a year becomes its decade).
    pub era: Option<String>,
    /// Rating (normalised when it is one of the scale).
    pub rating: Option<String>,
    /// Content warnings.
    pub warnings: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Breakpoints, ms.
    pub breakpoints: Option<Vec<i64>>,
}

/// Parse `1:30,12:10.5,450000` into ms.
pub fn parse_breakpoints(text: &str) -> Result<Vec<i64>, LibraryError> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out.push(nfo::parse_timecode(part).ok_or_else(|| LibraryError::Breakpoint(part.to_owned()))?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// A handle on the catalogue. Cheap to clone.
#[derive(Clone)]
pub struct Library {
    db: Db,
    clock: SharedClock,
    config: LibraryConfig,
    plex_timeout: Duration,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library").field("db", &self.db).finish()
    }
}

impl Library {
    /// A handle over `db`.
    pub fn new(db: Db, clock: SharedClock, config: LibraryConfig) -> Self {
        Self { db, clock, config, plex_timeout: Duration::from_secs(30) }
    }

    /// The same handle with another Plex request timeout (default 30 s).
    pub fn with_plex_timeout(mut self, timeout: Duration) -> Self {
        self.plex_timeout = timeout;
        self
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn now_ms(&self) -> i64 {
        clock::to_ms(self.clock.now())
    }

    /// Add a folder source (or return the one with the same folder and kind).
    pub fn add_folder(&self, path: &Path, kind: &str, name: Option<&str>) -> Result<Source, LibraryError> {
        super::kind_for_folder(kind)?;
        let abs: PathBuf = std::fs::canonicalize(path)
            .map_err(|source| LibraryError::Folder { path: path.display().to_string(), source })?;
        std::fs::read_dir(&abs).map_err(|source| LibraryError::Folder { path: abs.display().to_string(), source })?;
        let spec = SourceSpec::Folder { path: abs.clone(), content_kind: kind.to_owned() };
        let default_name = abs.file_name().map_or_else(|| abs.display().to_string(), |n| n.to_string_lossy().into());
        let name = name.map_or(default_name, str::to_owned);
        self.add(name, spec)
    }

    /// Add a Plex source (or return the one with the same URL and libraries, with its token
    /// replaced by `token`).
    pub fn add_plex(
        &self,
        url: &str,
        token: &str,
        libraries: Vec<String>,
        name: Option<&str>,
        path_map: Option<(String, String)>,
    ) -> Result<Source, LibraryError> {
        let url = url.trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(LibraryError::PlexUrl(url));
        }
        let name = name.map_or_else(|| format!("Plex {url}"), str::to_owned);
        self.add(name, SourceSpec::Plex { url, token: token.to_owned(), libraries, path_map })
    }

    fn add(&self, name: String, spec: SourceSpec) -> Result<Source, LibraryError> {
        let now = self.now_ms();
        self.db.call_blocking(|c| {
            let same = |s: &Source| match (&s.spec, &spec) {
                (SourceSpec::Folder { path: a, content_kind: k }, SourceSpec::Folder { path: b, content_kind: l }) => {
                    a == b && k == l
                }
                (SourceSpec::Plex { url: a, libraries: l, .. }, SourceSpec::Plex { url: b, libraries: m, .. }) => {
                    a == b && l == m
                }
                _ => false,
            };
            if let Some(s) = store::list_sources(c)?.into_iter().find(same) {
                // The same server again with a fresh token: keep the source, take the token.
                if let (SourceSpec::Plex { token: old, .. }, SourceSpec::Plex { token: new, .. }) = (&s.spec, &spec)
                    && old != new
                {
                    store::set_source_token(c, s.id, new)?;
                    return Ok(store::get_source(c, s.id)?.expect("exists"));
                }
                return Ok(s);
            }
            let id = store::insert_source(c, &name, &spec, now)?;
            Ok(store::get_source(c, id)?.expect("just inserted"))
        })
    }

    /// Every source.
    pub fn sources(&self) -> Result<Vec<Source>, LibraryError> {
        Ok(self.db.call_blocking(|c| store::list_sources(c))?)
    }

    /// What opening items needs beyond their stored URIs (source secrets).
    pub fn credentials(&self) -> Result<super::secret::Credentials, LibraryError> {
        Ok(self.db.call_blocking(|c| store::credentials(c))?)
    }

    /// Remove a source and its items.
    pub fn remove_source(&self, id: SourceId) -> Result<(), LibraryError> {
        if self.db.call_blocking(|c| store::remove_source(c, id))? { Ok(()) } else { Err(LibraryError::NoSource(id)) }
    }

    /// Items matching `filter`.
    pub fn items(&self, filter: &ItemFilter) -> Result<Vec<MediaItem>, LibraryError> {
        Ok(self.db.call_blocking(|c| store::list_items(c, filter))?)
    }

    /// One item in full.
    pub fn details(&self, id: MediaId) -> Result<ItemDetails, LibraryError> {
        self.db.call_blocking(|c| store::get_item_details(c, id))?.ok_or(LibraryError::NoItem(id))
    }

    /// Apply a user edit; returns the item with its new effective values.
    pub fn edit(&self, id: MediaId, edit: &ItemEdit) -> Result<MediaItem, LibraryError> {
        let now = self.now_ms();
        self.db.call_blocking(|c| {
            let tx = c.transaction()?;
            if store::get_item(&tx, id)?.is_none() {
                return Err(LibraryError::NoItem(id));
            }
            let mut m = store::get_metadata(&tx, id, Origin::User)?.unwrap_or_default();
            apply_edit(&mut m, edit);
            store::set_metadata(&tx, id, Origin::User, &m, now)?;
            if let Some(b) = &edit.breakpoints {
                store::set_breakpoints(&tx, id, "user", b)?;
            }
            let item = store::get_item(&tx, id)?.ok_or(LibraryError::NoItem(id))?;
            tx.commit()?;
            Ok(item)
        })
    }

    /// Scan every enabled source (or one): folders are walked and probed, Plex servers
    /// synced. A failing source is reported in its [`SourceReport`] and the others go on.
    pub async fn scan(&self, only: Option<SourceId>, progress: Arc<Progress>) -> Result<ScanReport, LibraryError> {
        let sources = self.sources()?;
        if let Some(id) = only
            && !sources.iter().any(|s| s.id == id)
        {
            return Err(LibraryError::NoSource(id));
        }
        let mut report = ScanReport::default();
        for source in sources.into_iter().filter(|s| only.map_or(s.enabled, |id| s.id == id)) {
            let r = match &source.spec {
                SourceSpec::Folder { .. } => {
                    let (db, clock, progress) = (self.db.clone(), self.clock.clone(), progress.clone());
                    let opts = ScanOptions {
                        probe_parallelism: self.config.probe_parallelism,
                        probe_timeout: Duration::from_secs(30),
                    };
                    let src = source.clone();
                    tokio::task::spawn_blocking(move || scan::scan_folder(&db, &src, &opts, &*clock, &progress))
                        .await?
                        .map_err(|e| e.to_string())
                }
                SourceSpec::Plex { .. } => plex::sync(&self.db, &source, &*self.clock, &progress, self.plex_timeout)
                    .await
                    .map_err(|e| e.to_string()),
            };
            let r = r.unwrap_or_else(|error| SourceReport {
                source_id: source.id,
                name: source.name.clone(),
                error: Some(error),
                ..Default::default()
            });
            let now = self.now_ms();
            self.db.call_blocking(|c| store::mark_source_synced(c, source.id, now, r.error.as_deref()))?;
            report.push(r);
        }
        progress.finish();
        Ok(report)
    }

    /// Measure loudness of up to `limit` pending items (of one source, or all), one at a
    /// time; returns how many were measured. Blocking: run it off the async threads.
    pub fn measure_loudness(&self, source: Option<SourceId>, limit: usize) -> Result<u64, LibraryError> {
        Ok(loudness::measure_pending(&self.db, &*self.clock, source, limit)?)
    }
}

fn apply_edit(m: &mut SchedulingMetadata, e: &ItemEdit) {
    let text = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if let Some(d) = &e.daypart {
        m.daypart = d.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    }
    if let Some(s) = &e.season {
        m.season = s.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    }
    if e.demographic.is_some() {
        m.demographic = text(&e.demographic);
    }
    if e.company.is_some() {
        m.commercial_company = text(&e.company);
    }
    if e.category.is_some() {
        m.commercial_category = text(&e.category);
    }
    if e.era.is_some() {
        m.era = text(&e.era).map(|s| nfo::normalise_era(&s));
    }
    if e.rating.is_some() {
        m.content_rating = text(&e.rating).map(|r| nfo::normalise_rating(&r).unwrap_or(r));
    }
    if e.warnings.is_some() {
        m.warnings = text(&e.warnings);
    }
    if e.notes.is_some() {
        m.notes = text(&e.notes);
    }
}
