//! [`Library`]: the one API the CLI and the daemon (web page) use for the catalogue — add,
//! list and remove sources, run a scan with one [`Progress`], read items, edit an item's
//! scheduling metadata and breakpoints (origin `user`: never overwritten by scans), and
//! measure loudness.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::report::{ScanReport, SourceReport};
use super::scan::{self, ScanOptions};
use super::store::{self, ItemDetails, ItemFilter, Origin, ServerFlavor, Source, SourceSpec};
use super::{MediaId, MediaItem, Progress, SchedulingMetadata, SourceId, jellyfin, loudness, nfo, plex};
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
    /// A server (Plex, Jellyfin, Emby) URL that is not http(s).
    #[error("server URL {0:?} is not an http:// or https:// URL")]
    PlexUrl(String),
    /// A breakpoint that cannot be read.
    #[error("breakpoint {0:?} is neither ms nor a timecode like 1:30 or 12:10.5")]
    Breakpoint(String),
    /// A background task panicked.
    #[error("scan task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The folder or server is a source already.
    #[error(
        "{what} is already source {} ({:?}); to change its name, token, URL, libraries or path, edit it: \
         `retrovue source edit {}` (or Edit on the Sources page)",
        existing.id, existing.name, existing.id
    )]
    AlreadyASource {
        /// What was given (the folder or the server URL).
        what: String,
        /// The source it already is.
        existing: Box<Source>,
    },
    /// A change that does not apply to this kind of source.
    #[error("source {id} is a {kind} source: {what} does not apply to it")]
    NotThatKind {
        /// The source.
        id: SourceId,
        /// `folder`, `plex`, `jellyfin` or `emby`.
        kind: &'static str,
        /// The field.
        what: &'static str,
    },
    /// A Plex server could not be asked, or refused.
    #[error(transparent)]
    Plex(#[from] plex::PlexError),
    /// A Jellyfin or Emby server could not be asked, or refused.
    #[error(transparent)]
    MediaServer(#[from] jellyfin::JellyfinError),
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

/// A change to a source, made in place: `None` leaves a field as it is. The source keeps its
/// id, so its items keep theirs, and with them the user's edits (metadata, breakpoints).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceEdit {
    /// Display name.
    pub name: Option<String>,
    /// Included in scans and schedules.
    pub enabled: Option<bool>,
    /// Folder: the folder (its items move with it).
    pub path: Option<PathBuf>,
    /// Plex: the server's URL (its items' URIs follow).
    pub url: Option<String>,
    /// Plex: the token.
    pub token: Option<String>,
    /// Plex: the libraries to import (`[]` = all).
    pub libraries: Option<Vec<String>>,
    /// Plex: the path mapping (`Some(None)` removes it).
    pub path_map: Option<Option<(String, String)>>,
}

/// What [`Library::edit_source`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceEdited {
    /// The source as it is now.
    pub source: Source,
    /// The URI prefix its items moved from and to (a new folder or server URL): copies of
    /// those URIs elsewhere (the schedule) must follow.
    pub moved: Option<(String, String)>,
    /// The items changed in place.
    pub items_moved: usize,
    /// The next scan of this source must read every item again (libraries or path mapping
    /// changed).
    pub rescan: bool,
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

    /// Add a folder source ([`LibraryError::AlreadyASource`] if the folder is one, with that kind).
    pub fn add_folder(&self, path: &Path, kind: &str, name: Option<&str>) -> Result<Source, LibraryError> {
        super::kind_for_folder(kind)?;
        let abs = readable_folder(path)?;
        let spec = SourceSpec::Folder { path: abs.clone(), content_kind: kind.to_owned() };
        let default_name = abs.file_name().map_or_else(|| abs.display().to_string(), |n| n.to_string_lossy().into());
        let name = name.map_or(default_name, str::to_owned);
        self.add(name, spec)
    }

    /// Add a Plex source ([`LibraryError::AlreadyASource`] if one has the same URL and
    /// libraries). The token is not checked here: [`Self::check_plex`] asks the server.
    pub fn add_plex(
        &self,
        url: &str,
        token: &str,
        libraries: Vec<String>,
        name: Option<&str>,
        path_map: Option<(String, String)>,
    ) -> Result<Source, LibraryError> {
        let url = plex_url(url)?;
        let name = name.map_or_else(|| format!("Plex {url}"), str::to_owned);
        self.add(name, SourceSpec::Plex { url, token: token.to_owned(), libraries, path_map })
    }

    /// [`Self::add_plex`] for people: a server that is a source already is refused before
    /// the server is asked; then the server is asked with `token` ([`Self::check_plex`]). A
    /// refused token, or a library the server does not have, adds nothing; a server that
    /// cannot be reached now is added anyway and that failure returned beside the source
    /// (the next scan tries again).
    pub async fn add_plex_checked(
        &self,
        url: &str,
        token: &str,
        libraries: Vec<String>,
        name: Option<&str>,
        path_map: Option<(String, String)>,
    ) -> Result<(Source, Option<plex::PlexError>), LibraryError> {
        let url = plex_url(url)?;
        let spec =
            SourceSpec::Plex { url: url.clone(), token: token.to_owned(), libraries: libraries.clone(), path_map };
        if let Some(e) = already_a_source(self.db.call_blocking(|c| store::same_source(c, &spec))?, &spec) {
            return Err(e);
        }
        let unreachable = match self.check_plex(&url, token).await {
            Ok(found) => {
                if let Some(l) = libraries.iter().find(|l| !found.iter().any(|f| f.title.eq_ignore_ascii_case(l))) {
                    return Err(plex::PlexError::NoLibrary(l.clone()).into());
                }
                None
            }
            Err(LibraryError::Plex(e @ (plex::PlexError::Unauthorized { .. } | plex::PlexError::Garbage { .. }))) => {
                return Err(e.into());
            }
            Err(LibraryError::Plex(e)) => Some(e),
            Err(e) => return Err(e),
        };
        let name = name.map_or_else(|| format!("Plex {url}"), str::to_owned);
        Ok((self.add(name, spec)?, unreachable))
    }

    /// Ask the Plex server at `url` for its libraries with `token`: a refused token is
    /// [`plex::PlexError::Unauthorized`], said when the source is added or edited rather than
    /// at the next scan.
    pub async fn check_plex(&self, url: &str, token: &str) -> Result<Vec<plex::PlexLibrary>, LibraryError> {
        let url = plex_url(url)?;
        Ok(plex::libraries(&url, token, self.plex_timeout).await?)
    }

    /// Add a Jellyfin or Emby source ([`LibraryError::AlreadyASource`] if one has the same
    /// URL and libraries). The key is not checked here: [`Self::check_media_server`] asks the
    /// server.
    pub fn add_media_server(
        &self,
        server: ServerFlavor,
        url: &str,
        api_key: &str,
        libraries: Vec<String>,
        name: Option<&str>,
        path_map: Option<(String, String)>,
    ) -> Result<Source, LibraryError> {
        let url = plex_url(url)?;
        let name = name.map_or_else(|| format!("{} {url}", server.label()), str::to_owned);
        self.add(name, SourceSpec::MediaServer { server, url, api_key: api_key.to_owned(), libraries, path_map })
    }

    /// [`Self::add_media_server`] for people, as [`Self::add_plex_checked`]: a refused key or
    /// a library the server does not have adds nothing; a server that cannot be reached now is
    /// added anyway and that failure returned beside the source.
    pub async fn add_media_server_checked(
        &self,
        server: ServerFlavor,
        url: &str,
        api_key: &str,
        libraries: Vec<String>,
        name: Option<&str>,
        path_map: Option<(String, String)>,
    ) -> Result<(Source, Option<jellyfin::JellyfinError>), LibraryError> {
        use jellyfin::JellyfinError as E;
        let url = plex_url(url)?;
        let spec = SourceSpec::MediaServer {
            server,
            url: url.clone(),
            api_key: api_key.to_owned(),
            libraries: libraries.clone(),
            path_map,
        };
        if let Some(e) = already_a_source(self.db.call_blocking(|c| store::same_source(c, &spec))?, &spec) {
            return Err(e);
        }
        let unreachable = match self.check_media_server(server, &url, api_key).await {
            Ok(found) => {
                if let Some(l) = libraries.iter().find(|l| !found.iter().any(|f| f.name.eq_ignore_ascii_case(l))) {
                    return Err(E::NoLibrary { server: server.label(), library: l.clone() }.into());
                }
                None
            }
            Err(LibraryError::MediaServer(e @ (E::Unauthorized { .. } | E::Garbage { .. }))) => return Err(e.into()),
            Err(LibraryError::MediaServer(e)) => Some(e),
            Err(e) => return Err(e),
        };
        let name = name.map_or_else(|| format!("{} {url}", server.label()), str::to_owned);
        Ok((self.add(name, spec)?, unreachable))
    }

    /// Ask the Jellyfin/Emby server at `url` for its libraries with `api_key`: a refused key
    /// is [`jellyfin::JellyfinError::Unauthorized`].
    pub async fn check_media_server(
        &self,
        server: ServerFlavor,
        url: &str,
        api_key: &str,
    ) -> Result<Vec<jellyfin::ServerLibrary>, LibraryError> {
        let url = plex_url(url)?;
        Ok(jellyfin::libraries(server, &url, api_key, self.plex_timeout).await?)
    }

    fn add(&self, name: String, spec: SourceSpec) -> Result<Source, LibraryError> {
        let now = self.now_ms();
        self.db.call_blocking(|c| {
            if let Some(e) = already_a_source(store::same_source(c, &spec)?, &spec) {
                return Err(e);
            }
            let id = store::insert_source(c, &name, &spec, now)?;
            Ok(store::get_source(c, id)?.expect("just inserted"))
        })
    }

    /// Change a source in place ([`SourceEdit`]). A new folder must exist; a new URL must be
    /// http(s); fields of the other kind of source are refused. The token is not checked here
    /// ([`Self::check_plex`]).
    pub fn edit_source(&self, id: SourceId, edit: &SourceEdit) -> Result<SourceEdited, LibraryError> {
        let old = self.db.call_blocking(|c| store::get_source(c, id))?.ok_or(LibraryError::NoSource(id))?;
        let mut new = old.clone();
        if let Some(n) = edit.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            new.name = n.to_owned();
        }
        if let Some(e) = edit.enabled {
            new.enabled = e;
        }
        let mut rescan = false;
        let mut moved = None;
        let mut paths = None;
        match &mut new.spec {
            SourceSpec::Folder { path, .. } => {
                let not = |what| LibraryError::NotThatKind { id, kind: "folder", what };
                if edit.url.is_some() {
                    return Err(not("a server URL"));
                }
                if edit.token.is_some() {
                    return Err(not("a token"));
                }
                if edit.libraries.is_some() {
                    return Err(not("Plex libraries"));
                }
                if edit.path_map.is_some() {
                    return Err(not("a path mapping"));
                }
                if let Some(p) = &edit.path {
                    let abs = readable_folder(p)?;
                    if abs != *path {
                        moved = Some((format!("{}/", scan::file_uri(path)), format!("{}/", scan::file_uri(&abs))));
                        paths = Some((format!("{}/", path.display()), format!("{}/", abs.display())));
                        *path = abs;
                    }
                }
            }
            SourceSpec::Plex { url, token, libraries, path_map } => {
                if edit.path.is_some() {
                    return Err(LibraryError::NotThatKind { id, kind: "plex", what: "a folder path" });
                }
                if let Some(u) = &edit.url {
                    let u = plex_url(u)?;
                    if u != *url {
                        moved = Some((format!("{url}/"), format!("{u}/")));
                        *url = u;
                    }
                }
                if let Some(t) = edit.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                    *token = t.to_owned();
                }
                if let Some(l) = &edit.libraries
                    && l != libraries
                {
                    *libraries = l.clone();
                    rescan = true;
                }
                if let Some(m) = &edit.path_map
                    && m != path_map
                {
                    *path_map = m.clone();
                    rescan = true;
                }
            }
            SourceSpec::MediaServer { server, url, api_key, libraries, path_map } => {
                if edit.path.is_some() {
                    return Err(LibraryError::NotThatKind { id, kind: server.as_str(), what: "a folder path" });
                }
                if let Some(u) = &edit.url {
                    let u = plex_url(u)?;
                    if u != *url {
                        moved = Some((format!("{}/", server.api_base(url)), format!("{}/", server.api_base(&u))));
                        *url = u;
                    }
                }
                if let Some(t) = edit.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                    *api_key = t.to_owned();
                }
                if let Some(l) = &edit.libraries
                    && l != libraries
                {
                    *libraries = l.clone();
                    rescan = true;
                }
                if let Some(m) = &edit.path_map
                    && m != path_map
                {
                    *path_map = m.clone();
                    rescan = true;
                }
            }
        }
        let items_moved = self.db.call_blocking(|c| -> Result<usize, LibraryError> {
            let tx = c.transaction()?;
            store::update_source(&tx, &new)?;
            let n = match &moved {
                Some((from, to)) => store::move_items(
                    &tx,
                    id,
                    (from.as_str(), to.as_str()),
                    paths.as_ref().map(|(a, b): &(String, String)| (a.as_str(), b.as_str())),
                )?,
                None => 0,
            };
            if rescan {
                store::forget_remote_state(&tx, id)?;
            }
            tx.commit()?;
            Ok(n)
        })?;
        Ok(SourceEdited { source: new, moved, items_moved, rescan })
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
            let tx = store::write_transaction(c)?;
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
                SourceSpec::MediaServer { .. } => {
                    jellyfin::sync(&self.db, &source, &*self.clock, &progress, self.plex_timeout)
                        .await
                        .map_err(|e| e.to_string())
                }
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

/// [`LibraryError::AlreadyASource`] if a source has the folder and kind, or the server URL
/// and libraries, of `spec`.
fn already_a_source(existing: Option<Source>, spec: &SourceSpec) -> Option<LibraryError> {
    existing.map(|s| {
        let what = match spec {
            SourceSpec::Folder { path, content_kind } => format!("folder {} ({content_kind})", path.display()),
            SourceSpec::Plex { url, .. } => format!("Plex server {url}"),
            SourceSpec::MediaServer { server, url, .. } => format!("{} server {url}", server.label()),
        };
        LibraryError::AlreadyASource { what, existing: Box::new(s) }
    })
}

/// A folder that exists and can be listed, made absolute.
fn readable_folder(path: &Path) -> Result<PathBuf, LibraryError> {
    let abs: PathBuf = std::fs::canonicalize(path)
        .map_err(|source| LibraryError::Folder { path: path.display().to_string(), source })?;
    std::fs::read_dir(&abs).map_err(|source| LibraryError::Folder { path: abs.display().to_string(), source })?;
    Ok(abs)
}

/// A server (Plex, Jellyfin, Emby) URL as stored: http(s), no trailing slash.
fn plex_url(url: &str) -> Result<String, LibraryError> {
    let url = url.trim().trim_end_matches('/').to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(LibraryError::PlexUrl(url));
    }
    Ok(url)
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
