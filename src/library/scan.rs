//! Scan one folder source: walk it, recognise media by container extension, read `.nfo`
//! side files (or guess from the name), write each item in its own small transaction, probe
//! new and changed files in parallel, and mark vanished items `gone`.
//!
//! Artwork: Kodi's local names win — `<name>-thumb.*` (an episode's still), `<name>-poster.*`
//! (a movie's), `poster.*` / `folder.*` and `fanart.*` in the item's folder or, for episodes,
//! the show's (the folder of its `tvshow.nfo`, else up to two folders up) — then what the
//! `.nfo` files name (`<thumb>`, `<fanart>`; see [`nfo`]), any of `jpg`, `jpeg`, `png`, `webp`.
//! Found pictures count as side files: adding or changing one updates the item.
//!
//! Incremental: a file whose size, mtime and side files are unchanged, and which has a probe
//! result, is not touched at all. Crash-safe: every write is per item and idempotent, and a
//! changed file loses its probe in the same transaction that records the change, so a scan
//! killed at any point and run again ends with the library one clean scan gives. Names in
//! any encoding: the URI carries the exact bytes (percent-encoded); displays are lossy.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use super::art::{Art, ArtRef, IMAGE_EXTENSIONS};
use super::nfo::{self, Nfo, NfoKind};
use super::progress::Progress;
use super::report::{ItemError, SourceReport};
use super::store::{self, ItemRecord, Origin, Source, SourceSpec};
use super::{ContentKind, MediaId, SchedulingMetadata, naming, probe};
use crate::clock::{self, Clock};
use crate::db::Db;

/// Container extensions recognised as media (lower case).
pub const MEDIA_EXTENSIONS: &[&str] = &[
    "mkv", "mp4", "m4v", "mov", "avi", "ts", "m2ts", "mts", "mpg", "mpeg", "vob", "wmv", "webm", "flv", "ogv", "3gp",
    "divx", "mxf",
];

/// Scan settings.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Files probed in parallel.
    pub probe_parallelism: usize,
    /// Give up on one file's probe after this long.
    pub probe_timeout: Duration,
}

/// A folder source that cannot be scanned at all (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The root folder is missing or unreadable.
    #[error("cannot read folder {path}: {source}")]
    Root {
        /// The folder.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not a folder source.
    #[error("source {0} is not a folder source")]
    NotAFolder(String),
    /// The database refused a write.
    #[error("database: {0}")]
    Db(#[from] store::StoreError),
}

/// One media file found by the walk.
struct Found {
    external_id: String,
    abs: PathBuf,
    display: String,
    components: Vec<String>,
    size: i64,
    mtime: i64,
}

/// A file to probe after its record is written.
struct ProbeJob {
    id: MediaId,
    uri: String,
    abs: PathBuf,
    display: String,
}

/// Scan a folder source. Per-item problems land in the report; only an unreadable root (or
/// a database failure) fails the whole source.
pub fn scan_folder(
    db: &Db,
    source: &Source,
    opts: &ScanOptions,
    clock: &dyn Clock,
    progress: &Progress,
) -> Result<SourceReport, ScanError> {
    let SourceSpec::Folder { path, content_kind } = &source.spec else {
        return Err(ScanError::NotAFolder(source.name.clone()));
    };
    let kind = super::kind_for_folder(content_kind).unwrap_or(ContentKind::Episode);
    let root = std::path::absolute(path).unwrap_or_else(|_| path.clone());
    std::fs::read_dir(&root).map_err(|source| ScanError::Root { path: root.display().to_string(), source })?;
    let mut report = SourceReport { source_id: source.id, name: source.name.clone(), ..Default::default() };

    // Walk: sorted, so ids are assigned in the same order on every run.
    let mut files = Vec::new();
    let mut unreadable: Vec<PathBuf> = Vec::new();
    // Hidden entries (`.x.mp4` half-written clips, macOS `._x.mp4`, `.cache/`) are skipped.
    let visible = |e: &walkdir::DirEntry| e.depth() == 0 || e.file_name().as_bytes().first() != Some(&b'.');
    for entry in walkdir::WalkDir::new(&root).follow_links(true).sort_by_file_name().into_iter().filter_entry(visible) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let at = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
                report.errors.push(ItemError { item: at.to_string_lossy().into_owned(), reason: e.to_string() });
                unreadable.push(at);
                continue;
            }
        };
        if !entry.file_type().is_file() || !is_media(entry.path()) {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                report
                    .errors
                    .push(ItemError { item: entry.path().to_string_lossy().into_owned(), reason: e.to_string() });
                unreadable.push(entry.path().to_path_buf());
                continue;
            }
        };
        let rel = entry.path().strip_prefix(&root).unwrap_or(entry.path());
        files.push(Found {
            external_id: external_id(rel),
            abs: entry.path().to_path_buf(),
            display: rel.to_string_lossy().into_owned(),
            components: rel.iter().map(|c| c.to_string_lossy().into_owned()).collect(),
            size: meta.len() as i64,
            mtime: mtime_ms(&meta),
        });
    }
    progress.found(files.len() as u64, &source.name);

    let index = db.call_blocking(|c| store::source_index(c, source.id))?;
    let mut sidecars = Sidecars::default();
    let mut seen = HashSet::with_capacity(files.len());
    let mut jobs = Vec::new();
    for f in &files {
        seen.insert(f.external_id.clone());
        let sig = sidecars.signature(f, kind, &root);
        let old = index.get(&f.external_id);
        let media_same = old.is_some_and(|o| o.file_size == Some(f.size) && o.file_mtime == Some(f.mtime));
        let meta_same = old.is_some_and(|o| o.sidecar_sig.as_deref() == Some(sig.as_str()) && !o.gone);
        if media_same && meta_same && old.is_some_and(|o| o.probed) {
            report.unchanged += 1;
            progress.done_one(&f.display);
            continue;
        }
        let uri = file_uri(&f.abs);
        let (mut rec, meta, breakpoints) = describe(f, kind, &uri, &root, &mut sidecars, &mut report.errors);
        if let Some(tag) = super::folder_tag(content_kind)
            && !rec.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
        {
            rec.tags.push(tag.to_owned());
        }
        let now = clock::to_ms(clock.now());
        let id = db.call_blocking(|c| -> Result<MediaId, store::StoreError> {
            let tx = c.transaction()?;
            let (id, _) = store::upsert_item(&tx, source.id, &rec, now)?;
            if !media_same {
                store::invalidate_probe(&tx, id)?;
            }
            store::set_metadata(&tx, id, Origin::Import, &meta, now)?;
            store::set_breakpoints(&tx, id, "nfo", &breakpoints)?;
            store::set_sidecar_sig(&tx, id, Some(&sig))?;
            tx.commit()?;
            Ok(id)
        })?;
        match old {
            None => report.added += 1,
            Some(_) => report.updated += 1,
        }
        if media_same && old.is_some_and(|o| o.probed) {
            progress.done_one(&f.display);
        } else {
            jobs.push(ProbeJob { id, uri, abs: f.abs.clone(), display: f.display.clone() });
        }
    }
    probe_all(db, jobs, opts, clock, progress)?;

    // Vanished: everything not seen, except what sits under a folder we could not read.
    let vanished: Vec<MediaId> = index
        .iter()
        .filter(|(ext, e)| !e.gone && !seen.contains(*ext))
        .filter(|(ext, _)| !unreadable.iter().any(|u| under(&root, u, ext)))
        .map(|(_, e)| e.id)
        .collect();
    let now = clock::to_ms(clock.now());
    report.removed = db.call_blocking(|c| store::mark_gone(c, &vanished, now))? as u64;
    report.unplayable = db.call_blocking(|c| store::source_counts(c, source.id))?.1;
    Ok(report)
}

/// Probe `jobs` on `opts.probe_parallelism` threads; each result is written as it comes.
fn probe_all(
    db: &Db,
    jobs: Vec<ProbeJob>,
    opts: &ScanOptions,
    clock: &dyn Clock,
    progress: &Progress,
) -> Result<(), ScanError> {
    let queue = Mutex::new(VecDeque::from(jobs));
    let failure: Mutex<Option<store::StoreError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.probe_parallelism.max(1) {
            s.spawn(|| {
                loop {
                    let Some(job) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else { break };
                    let outcome = probe::probe(&job.uri, Some(&job.abs), opts.probe_timeout);
                    let now = clock::to_ms(clock.now());
                    let written = db.call_blocking(|c| -> Result<(), store::StoreError> {
                        let tx = c.transaction()?;
                        match &outcome {
                            Ok(o) => {
                                store::set_probe(&tx, job.id, Ok(&o.facts), now)?;
                                store::set_breakpoints(&tx, job.id, "chapter", &o.chapters_ms)?;
                            }
                            Err(e) => store::set_probe(&tx, job.id, Err(&e.to_string()), now)?,
                        }
                        tx.commit()
                    });
                    if let Err(e) = written {
                        *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        queue.lock().unwrap_or_else(|p| p.into_inner()).clear();
                        break;
                    }
                    progress.done_one(&job.display);
                }
            });
        }
    });
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Whether the item `ext` (an external id) lies under the unreadable path `u`.
fn under(root: &Path, u: &Path, ext: &str) -> bool {
    match u.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => true,
        Ok(rel) => {
            let rel = external_id(rel);
            ext == rel || ext.starts_with(&format!("{rel}/"))
        }
        Err(_) => true,
    }
}

/// Whether a path has a media container extension.
pub fn is_media(path: &Path) -> bool {
    path.extension().and_then(OsStr::to_str).is_some_and(|e| MEDIA_EXTENSIONS.iter().any(|m| m.eq_ignore_ascii_case(e)))
}

/// The stable source-local id of a file: its relative path; names that are not UTF-8 are
/// percent-encoded byte for byte (prefix `bytes:`), so distinct names stay distinct.
fn external_id(rel: &Path) -> String {
    match rel.to_str() {
        Some(s) => s.to_owned(),
        None => {
            format!("bytes:{}", url::form_urlencoded::byte_serialize(rel.as_os_str().as_bytes()).collect::<String>())
        }
    }
}

/// `file://` URI with every byte of the path kept (percent-encoded where needed).
pub fn file_uri(abs: &Path) -> String {
    url::Url::from_file_path(abs).map(String::from).unwrap_or_else(|_| format!("file://{}", abs.to_string_lossy()))
}

fn mtime_ms(meta: &std::fs::Metadata) -> i64 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_millis() as i64)
}

/// Side files per directory: what `tvshow.nfo` says and their signatures, read once per scan.
#[derive(Default)]
struct Sidecars {
    stats: HashMap<PathBuf, Option<(u64, i64)>>,
    shows: HashMap<PathBuf, Option<Result<Nfo, String>>>,
    /// The picture files of each folder (names with an image extension), listed once: a
    /// rescan looks for a dozen picture names per media file, so one directory read beats
    /// a dozen failed `stat`s each.
    images: HashMap<PathBuf, HashSet<String>>,
}

impl Sidecars {
    fn stat(&mut self, p: &Path) -> Option<(u64, i64)> {
        *self.stats.entry(p.to_path_buf()).or_insert_with(|| std::fs::metadata(p).ok().map(|m| (m.len(), mtime_ms(&m))))
    }

    /// The side files that describe `f`: its own `.nfo`, and `tvshow.nfo` of its show.
    fn files_for(&mut self, f: &Found, kind: ContentKind, root: &Path) -> Vec<PathBuf> {
        let mut out = vec![f.abs.with_extension("nfo")];
        if kind == ContentKind::Movie
            && let Some(dir) = f.abs.parent()
        {
            out.push(dir.join("movie.nfo"));
        }
        if matches!(kind, ContentKind::Episode | ContentKind::Intro | ContentKind::Outro) {
            let mut dir = f.abs.parent();
            for _ in 0..3 {
                let Some(d) = dir else { break };
                if !d.starts_with(root) {
                    break;
                }
                out.push(d.join("tvshow.nfo"));
                dir = d.parent();
            }
        }
        out
    }

    fn signature(&mut self, f: &Found, kind: ContentKind, root: &Path) -> String {
        let mut files = self.files_for(f, kind, root);
        let art = self.art_files(f, kind, root);
        files.extend([art.poster, art.thumb, art.fanart].into_iter().flatten());
        files
            .iter()
            .map(|p| match self.stat(p) {
                Some((len, mtime)) => format!("{len}:{mtime}"),
                None => "-".to_owned(),
            })
            .collect::<Vec<_>>()
            .join("|")
    }

    /// The first of `names` (each with every image extension) that exists in `dir`.
    fn first_image(&mut self, dir: &Path, names: &[&str]) -> Option<PathBuf> {
        let images = self.images.entry(dir.to_path_buf()).or_insert_with(|| {
            std::fs::read_dir(dir)
                .map(|rd| {
                    rd.flatten()
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|n| super::art::is_image_path(Path::new(n)))
                        .collect()
                })
                .unwrap_or_default()
        });
        for name in names {
            for ext in IMAGE_EXTENSIONS {
                let file = format!("{name}.{ext}");
                if images.contains(&file) {
                    return Some(dir.join(file));
                }
            }
        }
        None
    }

    /// The folders whose show-level pictures an item takes: its own, and for serial kinds the
    /// show's (that of the nearest `tvshow.nfo`, else up to two folders up, inside the root).
    fn art_dirs(&mut self, f: &Found, kind: ContentKind, root: &Path) -> Vec<PathBuf> {
        let Some(dir) = f.abs.parent() else { return Vec::new() };
        let mut dirs = vec![dir.to_path_buf()];
        if matches!(kind, ContentKind::Episode | ContentKind::Intro | ContentKind::Outro) {
            let mut up = dir.parent();
            for _ in 0..2 {
                match up {
                    Some(d) if d.starts_with(root) => {
                        dirs.push(d.to_path_buf());
                        up = d.parent();
                    }
                    _ => break,
                }
            }
            // The show's own folder (the one with tvshow.nfo) goes first.
            if let Some(show) = dirs.iter().position(|d| self.stat(&d.join("tvshow.nfo")).is_some()) {
                let d = dirs.remove(show);
                dirs.insert(0, d);
            }
        }
        dirs
    }

    /// Pictures next to the media, by Kodi's local artwork names.
    fn art_files(&mut self, f: &Found, kind: ContentKind, root: &Path) -> ArtFiles {
        let (Some(dir), Some(stem)) = (f.abs.parent(), f.abs.file_stem().map(|s| s.to_string_lossy().into_owned()))
        else {
            return ArtFiles::default();
        };
        let dir = dir.to_path_buf();
        let thumb = self.first_image(&dir, &[&format!("{stem}-thumb")]);
        let mut poster = self.first_image(&dir, &[&format!("{stem}-poster")]);
        let mut fanart = self.first_image(&dir, &[&format!("{stem}-fanart")]);
        for d in self.art_dirs(f, kind, root) {
            if poster.is_none() {
                poster = self.first_image(&d, &["poster", "folder"]);
            }
            if fanart.is_none() {
                fanart = self.first_image(&d, &["fanart"]);
            }
        }
        ArtFiles { poster, thumb, fanart }
    }

    /// The nearest `tvshow.nfo` above `f`, parsed once.
    fn show(&mut self, f: &Found, root: &Path, errors: &mut Vec<ItemError>) -> Option<Nfo> {
        let mut dir = f.abs.parent();
        for _ in 0..3 {
            let d = dir?;
            if !d.starts_with(root) {
                return None;
            }
            let p = d.join("tvshow.nfo");
            if self.stat(&p).is_some() {
                let parsed = self.shows.entry(p.clone()).or_insert_with(|| Some(read_nfo(&p)));
                return match parsed {
                    Some(Ok(n)) => Some(n.clone()),
                    Some(Err(e)) => {
                        errors.push(ItemError { item: p.to_string_lossy().into_owned(), reason: e.clone() });
                        *parsed = None; // report once
                        None
                    }
                    None => None,
                };
            }
            dir = d.parent();
        }
        None
    }
}

/// Local pictures found for an item.
#[derive(Default)]
struct ArtFiles {
    poster: Option<PathBuf>,
    thumb: Option<PathBuf>,
    fanart: Option<PathBuf>,
}

/// An item's pictures: local files first, then what its own `.nfo` (`own`, in `own_dir`) and
/// its show's `tvshow.nfo` (`show`, in `show_dir`) name.
fn art_of(files: ArtFiles, own: Option<(&Nfo, &Path)>, show: Option<(&Nfo, &Path)>) -> Art {
    let from = |n: Option<(&Nfo, &Path)>, pick: fn(&Nfo) -> Option<&String>| {
        n.and_then(|(n, dir)| pick(n).and_then(|t| ArtRef::from_nfo(t, dir)))
    };
    Art {
        poster: files
            .poster
            .map(ArtRef::File)
            .or_else(|| from(own, |n| n.poster.as_ref()))
            .or_else(|| from(show, |n| n.poster.as_ref())),
        thumb: files.thumb.map(ArtRef::File).or_else(|| from(own, |n| n.thumb.as_ref())),
        fanart: files
            .fanart
            .map(ArtRef::File)
            .or_else(|| from(own, |n| n.fanart.as_ref()))
            .or_else(|| from(show, |n| n.fanart.as_ref())),
    }
}

fn read_nfo(p: &Path) -> Result<Nfo, String> {
    let len = std::fs::metadata(p).map_err(|e| e.to_string())?.len();
    if len > nfo::MAX_NFO_BYTES as u64 {
        return Err(nfo::NfoError::TooLarge(len as usize).to_string());
    }
    let bytes = std::fs::read(p).map_err(|e| e.to_string())?;
    nfo::parse(&bytes).map_err(|e| e.to_string())
}

/// The imported record, metadata and breakpoints of one file.
fn describe(
    f: &Found,
    kind: ContentKind,
    uri: &str,
    root: &Path,
    sidecars: &mut Sidecars,
    errors: &mut Vec<ItemError>,
) -> (ItemRecord, SchedulingMetadata, Vec<i64>) {
    let guess = naming::guess(&f.components);
    let mut own = None;
    let mut own_dir = PathBuf::new();
    for p in sidecars.files_for(f, kind, root).into_iter().filter(|p| p.file_name() != Some(OsStr::new("tvshow.nfo"))) {
        if sidecars.stat(&p).is_none() {
            continue;
        }
        match read_nfo(&p) {
            Ok(n) if n.kind != NfoKind::TvShow => {
                own_dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
                for problem in &n.problems {
                    errors.push(ItemError { item: p.to_string_lossy().into_owned(), reason: problem.clone() });
                }
                own = Some(n);
                break;
            }
            Ok(_) => {}
            Err(reason) => errors.push(ItemError {
                item: p.to_string_lossy().into_owned(),
                reason: format!("{reason}; imported from the file name"),
            }),
        }
    }
    let show = if matches!(kind, ContentKind::Episode | ContentKind::Intro | ContentKind::Outro) {
        sidecars.show(f, root, errors)
    } else {
        None
    };
    let show_dir =
        sidecars.art_dirs(f, kind, root).into_iter().find(|d| sidecars.stat(&d.join("tvshow.nfo")).is_some());
    let art = art_of(
        sidecars.art_files(f, kind, root),
        own.as_ref().map(|n| (n, own_dir.as_path())),
        show.as_ref().zip(show_dir.as_deref()),
    );
    let own_ref = own.as_ref();
    let show_ref = show.as_ref();
    let serial = matches!(kind, ContentKind::Episode | ContentKind::Intro | ContentKind::Outro);
    let mut meta = show_ref.map(|s| s.meta.clone()).unwrap_or_default();
    if let Some(o) = own_ref {
        merge_meta(&mut meta, &o.meta);
    }
    let mut tags: Vec<String> = show_ref.map(|s| s.tags.clone()).unwrap_or_default();
    for t in own_ref.map(|o| o.tags.clone()).unwrap_or_default() {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let rec = ItemRecord {
        external_id: f.external_id.clone(),
        kind: Some(kind),
        uri: uri.to_owned(),
        path: Some(f.abs.to_string_lossy().into_owned()),
        title: own_ref.and_then(|o| o.title.clone()).unwrap_or_else(|| guess.title.clone()),
        series: if serial {
            own_ref
                .and_then(|o| o.show_title.clone())
                .or_else(|| show_ref.and_then(|s| s.title.clone()))
                .or_else(|| guess.series.clone())
        } else {
            None
        },
        season: if serial { own_ref.and_then(|o| o.season).or(guess.season) } else { None },
        episode: if serial { own_ref.and_then(|o| o.episode).or(guess.episode) } else { None },
        year: own_ref.and_then(|o| o.year).or(guess.year).or_else(|| show_ref.and_then(|s| s.year)),
        plot: own_ref.and_then(|o| o.plot.clone()),
        rating: own_ref.and_then(|o| o.rating.clone()).or_else(|| show_ref.and_then(|s| s.rating.clone())),
        genres: own_ref
            .map(|o| o.genres.clone())
            .filter(|g| !g.is_empty())
            .or_else(|| show_ref.map(|s| s.genres.clone()))
            .unwrap_or_default(),
        tags,
        file_size: Some(f.size),
        file_mtime: Some(f.mtime),
        remote_updated_at: None,
        duration_ms: None,
        // The item's own date: a show's premiere is not its episodes' air date.
        aired: own_ref.and_then(|o| o.aired),
        art,
        versions: Vec::new(),
    };
    let breakpoints = own.map(|o| o.breakpoints_ms).unwrap_or_default();
    (rec, meta, breakpoints)
}

/// Episode-level values win over show-level ones.
fn merge_meta(base: &mut SchedulingMetadata, over: &SchedulingMetadata) {
    if !over.daypart.is_empty() {
        base.daypart = over.daypart.clone();
    }
    if !over.season.is_empty() {
        base.season = over.season.clone();
    }
    let pick = |b: &mut Option<String>, o: &Option<String>| {
        if o.is_some() {
            *b = o.clone();
        }
    };
    pick(&mut base.content_rating, &over.content_rating);
    pick(&mut base.demographic, &over.demographic);
    pick(&mut base.commercial_company, &over.commercial_company);
    pick(&mut base.commercial_category, &over.commercial_category);
    pick(&mut base.era, &over.era);
    pick(&mut base.warnings, &over.warnings);
    pick(&mut base.notes, &over.notes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_names_keep_their_bytes() {
        let name = OsStr::from_bytes(b"Show/caf\xe9 - S01E01.mkv");
        let id = external_id(Path::new(name));
        assert_eq!(id, "bytes:Show%2Fcaf%E9+-+S01E01.mkv");
        let uri = file_uri(&Path::new("/media").join(name));
        assert_eq!(uri, "file:///media/Show/caf%E9%20-%20S01E01.mkv");
        assert_eq!(file_uri(Path::new("/m/a b#c?.mp4")), "file:///m/a%20b%23c%3F.mp4");
        assert!(is_media(Path::new("x.MKV")) && !is_media(Path::new("x.nfo")) && !is_media(Path::new("mkv")));
    }
}
