//! `retrovue source|scan|library|demo`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use super::{Context, ask_replan};
use crate::clock::{SystemClock, format_duration_ms};
use crate::library::catalog::parse_breakpoints;
use crate::library::jellyfin::JellyfinError;
use crate::library::plex::PlexError;
use crate::library::secret::mask;
use crate::library::store::{ItemFilter, ServerFlavor, Source, SourceSpec};
use crate::library::{
    ItemEdit, Library, LibraryError, MediaId, Progress, ProgressUpdate, ScanReport, SourceEdit, SourceId, demo,
};

/// `retrovue source ...`
#[derive(Debug, clap::Subcommand)]
pub enum SourceCmd {
    /// Add a folder, Plex, Jellyfin or Emby source.
    Add(Box<SourceAddArgs>),
    /// List sources.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a source in place: its items keep their ids and your edits.
    Edit(Box<SourceEditArgs>),
    /// Remove a source and its items.
    Remove {
        /// Source id.
        id: i64,
    },
}

/// `retrovue source edit` (only the options given change)
#[derive(Debug, clap::Args)]
pub struct SourceEditArgs {
    /// Source id (see `retrovue source list`).
    pub id: i64,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Folder sources: where the folder is now (its items move with it).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Plex/Jellyfin/Emby: the server URL.
    #[arg(long)]
    pub url: Option<String>,
    /// Plex: the token; Jellyfin/Emby: the API key.
    #[arg(long, visible_alias = "api-key")]
    pub token: Option<String>,
    /// Plex/Jellyfin/Emby: a library to import (repeatable; replaces the list).
    #[arg(long = "library", conflicts_with = "all_libraries")]
    pub libraries: Vec<String>,
    /// Plex/Jellyfin/Emby: import every library.
    #[arg(long)]
    pub all_libraries: bool,
    /// Plex/Jellyfin/Emby: path mapping `SERVER_PREFIX=LOCAL_PREFIX`.
    #[arg(long, conflicts_with = "no_path_map")]
    pub path_map: Option<String>,
    /// Plex/Jellyfin/Emby: no path mapping.
    #[arg(long)]
    pub no_path_map: bool,
    /// Include it in scans and schedules.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Leave it out of scans and schedules.
    #[arg(long)]
    pub disable: bool,
}

/// `retrovue source add`
#[derive(Debug, clap::Args)]
pub struct SourceAddArgs {
    /// A folder of media.
    #[arg(long, conflicts_with_all = ["plex", "jellyfin", "emby"], required_unless_present_any = ["plex", "jellyfin", "emby"])]
    pub folder: Option<PathBuf>,
    /// What the folder holds: shows, movies, commercials, bumpers, promos, station_ids, intros, outros, slates,
    /// signoffs, signons.
    #[arg(long, requires = "folder")]
    pub kind: Option<String>,
    /// A Plex server URL.
    #[arg(long, conflicts_with_all = ["jellyfin", "emby"])]
    pub plex: Option<String>,
    /// The Plex token.
    #[arg(long, requires = "plex")]
    pub token: Option<String>,
    /// A Jellyfin server URL (e.g. http://192.168.1.20:8096).
    #[arg(long, conflicts_with = "emby", group = "media_server")]
    pub jellyfin: Option<String>,
    /// An Emby server URL (e.g. http://192.168.1.20:8096).
    #[arg(long, group = "media_server")]
    pub emby: Option<String>,
    /// The Jellyfin/Emby API key (Dashboard > API Keys).
    #[arg(long, requires = "media_server")]
    pub api_key: Option<String>,
    /// Server libraries to import (repeatable; default all).
    #[arg(long = "library")]
    pub libraries: Vec<String>,
    /// Server path mapping `SERVER_PREFIX=LOCAL_PREFIX`: play files locally when they exist here.
    #[arg(long, conflicts_with = "folder")]
    pub path_map: Option<String>,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
}

/// `retrovue scan`
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Only this source.
    #[arg(long)]
    pub source: Option<i64>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not measure loudness after the scan (the daemon measures it in the background).
    #[arg(long)]
    pub no_loudness: bool,
    /// Measure the loudness of at most this many items after the scan.
    #[arg(long, default_value_t = 200)]
    pub loudness_limit: usize,
}

/// `retrovue library ...`
#[derive(Debug, clap::Subcommand)]
pub enum LibraryCmd {
    /// List items.
    List {
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
        /// Title/series contains.
        #[arg(long)]
        search: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one item.
    Show {
        /// Item id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Edit an item's scheduling metadata and breakpoints.
    Edit(Box<LibraryEditArgs>),
}

/// `retrovue library edit` (an empty value clears the user's value)
#[derive(Debug, clap::Args)]
pub struct LibraryEditArgs {
    /// Item id.
    pub id: i64,
    /// Dayparts, comma separated (morning, daytime, afternoon, primetime, late_night, overnight).
    #[arg(long)]
    pub daypart: Option<String>,
    /// Seasons / holidays, comma separated (summer, christmas, halloween, ...).
    #[arg(long)]
    pub season: Option<String>,
    /// Audience (kids, family, teens, adults).
    #[arg(long)]
    pub demographic: Option<String>,
    /// Advertiser (commercials).
    #[arg(long)]
    pub company: Option<String>,
    /// Product category (commercials).
    #[arg(long)]
    pub category: Option<String>,
    /// Decade, e.g. 1980s (a year becomes its decade).
    #[arg(long)]
    pub era: Option<String>,
    /// Rating for scheduling (G, PG, PG-13, R, NC-17, Adult, TV-Y ... TV-MA).
    #[arg(long)]
    pub rating: Option<String>,
    /// Content warnings.
    #[arg(long)]
    pub warnings: Option<String>,
    /// Notes.
    #[arg(long)]
    pub notes: Option<String>,
    /// Breakpoints: `1:30,12:10.5` (m:ss[.f], h:mm:ss[.f]) or ms.
    #[arg(long)]
    pub breakpoints: Option<String>,
    /// Print the item as JSON afterwards.
    #[arg(long)]
    pub json: bool,
}

/// `retrovue demo`
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where to write the demo library (default `<data_dir>/demo`).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Only write and register; do not scan.
    #[arg(long)]
    pub no_scan: bool,
}

fn open_library(ctx: &Context) -> anyhow::Result<Library> {
    Ok(Library::new(ctx.open_db()?, Arc::new(SystemClock), ctx.config.library.clone()))
}

fn source_json(s: &Source) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": s.id, "name": s.name, "enabled": s.enabled, "last_sync_at": s.last_sync_at, "last_error": s.last_error,
    });
    match &s.spec {
        SourceSpec::Folder { path, content_kind } => {
            v["type"] = "folder".into();
            v["path"] = path.to_string_lossy().into_owned().into();
            v["kind"] = content_kind.clone().into();
        }
        SourceSpec::Plex { url, token, libraries, path_map } => {
            v["type"] = "plex".into();
            v["url"] = url.clone().into();
            v["token"] = mask(token).into();
            v["libraries"] = serde_json::json!(libraries);
            v["path_map"] = serde_json::json!(path_map);
        }
        SourceSpec::MediaServer { server, url, api_key, libraries, path_map } => {
            v["type"] = server.as_str().into();
            v["url"] = url.clone().into();
            v["api_key"] = mask(api_key).into();
            v["libraries"] = serde_json::json!(libraries);
            v["path_map"] = serde_json::json!(path_map);
        }
    }
    v
}

/// Run `retrovue source ...`.
pub fn source(ctx: &Context, cmd: SourceCmd) -> anyhow::Result<()> {
    let lib = open_library(ctx)?;
    match cmd {
        SourceCmd::Add(a) => {
            let a = *a;
            let s = if let Some(folder) = a.folder {
                let kind = a.kind.context("--folder needs --kind (shows, movies, commercials, ...)")?;
                lib.add_folder(&folder, &kind, a.name.as_deref())?
            } else if let Some((server, url)) =
                a.jellyfin.map(|u| (ServerFlavor::Jellyfin, u)).or_else(|| a.emby.map(|u| (ServerFlavor::Emby, u)))
            {
                let key = a.api_key.with_context(|| format!("--{} needs --api-key", server.as_str()))?;
                let path_map = a.path_map.as_deref().map(parse_path_map).transpose()?;
                let rt = tokio::runtime::Runtime::new()?;
                let added = rt.block_on(lib.add_media_server_checked(
                    server,
                    &url,
                    &key,
                    a.libraries,
                    a.name.as_deref(),
                    path_map,
                ));
                let (s, unreachable) = added.context("the source was not added")?;
                if let Some(e) = unreachable {
                    eprintln!("warning: {e}; the source is added and the next scan tries again");
                }
                s
            } else {
                let url = a.plex.context(
                    "give --folder PATH --kind KIND, --plex URL --token T, or --jellyfin/--emby URL --api-key K",
                )?;
                let token = a.token.context("--plex needs --token")?;
                let path_map = a.path_map.as_deref().map(parse_path_map).transpose()?;
                let rt = tokio::runtime::Runtime::new()?;
                let added = rt.block_on(lib.add_plex_checked(&url, &token, a.libraries, a.name.as_deref(), path_map));
                let (s, unreachable) = added.context("the source was not added")?;
                if let Some(e) = unreachable {
                    eprintln!("warning: {e}; the source is added and the next scan tries again");
                }
                s
            };
            println!("source {} {}", s.id, s.name);
        }
        SourceCmd::Edit(a) => edit_source(&lib, *a)?,
        SourceCmd::List { json } => {
            let sources = lib.sources()?;
            if json {
                let v: Vec<_> = sources.iter().map(source_json).collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for s in &sources {
                    let what = match &s.spec {
                        SourceSpec::Folder { path, content_kind } => {
                            format!("folder {content_kind} {}", path.display())
                        }
                        SourceSpec::Plex { url, token, .. } => format!("plex {url} token {}", mask(token)),
                        SourceSpec::MediaServer { server, url, api_key, .. } => {
                            format!("{} {url} api key {}", server.as_str(), mask(api_key))
                        }
                    };
                    let err = s.last_error.as_deref().map(|e| format!("  (last error: {e})")).unwrap_or_default();
                    println!("{:>4}  {}  {what}{err}", s.id, s.name);
                }
            }
        }
        SourceCmd::Remove { id } => {
            lib.remove_source(SourceId(id))?;
            ask_replan(lib.db(), None, &format!("source {id} removed"))?;
            println!("removed source {id}");
        }
    }
    Ok(())
}

fn parse_path_map(m: &str) -> anyhow::Result<(String, String)> {
    m.split_once('=').map(|(f, t)| (f.to_owned(), t.to_owned())).context("--path-map is SERVER_PREFIX=LOCAL_PREFIX")
}

/// `retrovue source edit`: a changed token or URL is tried on the server first (a refused
/// token changes nothing); moved media is followed by the schedule's rows.
fn edit_source(lib: &Library, a: SourceEditArgs) -> anyhow::Result<()> {
    let id = SourceId(a.id);
    let edit = SourceEdit {
        name: a.name,
        enabled: if a.enable {
            Some(true)
        } else if a.disable {
            Some(false)
        } else {
            None
        },
        path: a.path,
        url: a.url,
        token: a.token,
        libraries: if a.all_libraries { Some(Vec::new()) } else { Some(a.libraries).filter(|l| !l.is_empty()) },
        path_map: if a.no_path_map {
            Some(None)
        } else {
            a.path_map.as_deref().map(parse_path_map).transpose()?.map(Some)
        },
    };
    let current = lib.sources()?.into_iter().find(|s| s.id == id).with_context(|| format!("no source with id {id}"))?;
    if let SourceSpec::Plex { url, token, .. } = &current.spec
        && (edit.url.is_some() || edit.token.is_some())
    {
        let (url, token) = (edit.url.as_deref().unwrap_or(url), edit.token.as_deref().unwrap_or(token));
        let rt = tokio::runtime::Runtime::new()?;
        match rt.block_on(lib.check_plex(url, token)) {
            Ok(_) => {}
            Err(LibraryError::Plex(e @ (PlexError::Unauthorized { .. } | PlexError::Garbage { .. }))) => {
                return Err(anyhow::Error::new(e).context(format!("source {id} was not changed")));
            }
            Err(e) => eprintln!("warning: {e}; the change is saved and the next scan tries again"),
        }
    }
    if let SourceSpec::MediaServer { server, url, api_key, .. } = &current.spec
        && (edit.url.is_some() || edit.token.is_some())
    {
        let (url, key) = (edit.url.as_deref().unwrap_or(url), edit.token.as_deref().unwrap_or(api_key));
        let rt = tokio::runtime::Runtime::new()?;
        match rt.block_on(lib.check_media_server(*server, url, key)) {
            Ok(_) => {}
            Err(LibraryError::MediaServer(
                e @ (JellyfinError::Unauthorized { .. } | JellyfinError::Garbage { .. }),
            )) => {
                return Err(anyhow::Error::new(e).context(format!("source {id} was not changed")));
            }
            Err(e) => eprintln!("warning: {e}; the change is saved and the next scan tries again"),
        }
    }
    let done = lib.edit_source(id, &edit)?;
    if let Some((from, to)) = &done.moved {
        lib.db().call_blocking(|c| crate::schedule::store::move_uris(c, from, to))?;
    }
    ask_replan(lib.db(), None, &format!("source {id} edited"))?;
    let s = &done.source;
    println!("source {} {} updated{}", s.id, s.name, source_summary(s));
    if done.items_moved > 0 {
        println!("{} items moved with it (same ids, your edits kept)", done.items_moved);
    }
    if done.rescan {
        println!("run `retrovue scan --source {}` to import what the new settings select", s.id);
    }
    Ok(())
}

/// `: folder shows /media/shows` or `: plex http://… token ••••abcd`.
fn source_summary(s: &Source) -> String {
    match &s.spec {
        SourceSpec::Folder { path, content_kind } => format!(": folder {content_kind} {}", path.display()),
        SourceSpec::Plex { url, token, libraries, path_map } => format!(
            ": plex {url} token {}{}{}",
            mask(token),
            if libraries.is_empty() { String::new() } else { format!(" libraries {}", libraries.join(", ")) },
            path_map.as_ref().map(|(f, t)| format!(" path map {f}={t}")).unwrap_or_default()
        ),
        SourceSpec::MediaServer { server, url, api_key, libraries, path_map } => format!(
            ": {} {url} api key {}{}{}",
            server.as_str(),
            mask(api_key),
            if libraries.is_empty() { String::new() } else { format!(" libraries {}", libraries.join(", ")) },
            path_map.as_ref().map(|(f, t)| format!(" path map {f}={t}")).unwrap_or_default()
        ),
    }
}

/// The single progress display: an indicatif bar on a terminal, plain lines otherwise.
fn progress_display(json: bool) -> Arc<Progress> {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} scanning [{bar:30}] {pos}/{len} {wide_msg}")
                .expect("template")
                .progress_chars("=> "),
        );
        Arc::new(Progress::new(move |u: &ProgressUpdate| {
            bar.set_length(u.found);
            bar.set_position(u.done);
            bar.set_message(u.current.clone());
            if u.finished {
                bar.finish_and_clear();
            }
        }))
    } else {
        // Plain lines: at most one per 5 % (and the last), so logs stay short.
        let mut last = u64::MAX;
        Arc::new(Progress::new(move |u: &ProgressUpdate| {
            let step = (u.found / 20).max(1);
            let bucket = u.done / step;
            if !json && u.found > 0 && (bucket != last || u.done == u.found) && !u.finished {
                last = bucket;
                eprintln!("scan: {}/{} {}", u.done, u.found, u.current);
            }
        }))
    }
}

fn run_scan(ctx: &Context, lib: &Library, only: Option<SourceId>, args: &ScanArgs) -> anyhow::Result<ScanReport> {
    let rt = tokio::runtime::Runtime::new()?;
    let mut report = rt.block_on(lib.scan(only, progress_display(args.json)))?;
    if ctx.config.library.loudness && !args.no_loudness {
        if !args.json {
            eprintln!(
                "measuring loudness (at most {} items per source; the daemon measures the rest in the background) ...",
                args.loudness_limit
            );
        }
        for s in report.sources.iter().filter(|s| s.error.is_none()).map(|s| s.source_id).collect::<Vec<_>>() {
            report.loudness_measured += lib.measure_loudness(Some(s), args.loudness_limit)?;
        }
    }
    Ok(report)
}

fn print_report(report: &ScanReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    for s in &report.sources {
        match &s.error {
            Some(e) => println!("source {} {}: FAILED: {e}", s.source_id, s.name),
            None => println!(
                "source {} {}: {} added, {} updated, {} unchanged, {} removed, {} unplayable",
                s.source_id, s.name, s.added, s.updated, s.unchanged, s.removed, s.unplayable
            ),
        }
        for e in &s.errors {
            println!("  {}: {}", e.item, e.reason);
        }
    }
    println!(
        "scan: {} added, {} updated, {} removed, {} unplayable ({} unchanged, {} loudness measured)",
        report.added, report.updated, report.removed, report.unplayable, report.unchanged, report.loudness_measured
    );
    Ok(())
}

/// Run `retrovue scan`.
pub fn scan(ctx: &Context, args: ScanArgs) -> anyhow::Result<()> {
    let lib = open_library(ctx)?;
    let report = run_scan(ctx, &lib, args.source.map(SourceId), &args)?;
    print_report(&report, args.json)?;
    if report.added + report.updated + report.removed > 0 {
        ask_replan(lib.db(), None, "a scan changed the library")?;
    }
    let failed: Vec<String> = report.failed_sources().map(|s| s.name.clone()).collect();
    if !failed.is_empty() {
        anyhow::bail!("{} source(s) could not be scanned: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// Run `retrovue library ...`.
pub fn library(ctx: &Context, cmd: LibraryCmd) -> anyhow::Result<()> {
    let lib = open_library(ctx)?;
    match cmd {
        LibraryCmd::List { kind, search, json } => {
            let kind = kind.map(|k| k.parse()).transpose()?;
            let items = lib.items(&ItemFilter { kind, search, ..Default::default() })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
                return Ok(());
            }
            for i in &items {
                let dur = i.duration_ms.map(format_duration_ms).unwrap_or_else(|| "--:--:--.--".into());
                let what = match (&i.series, i.season, i.episode) {
                    (Some(s), Some(se), Some(ep)) => format!("{s} S{se:02}E{ep:02} {}", i.title),
                    (Some(s), _, _) => format!("{s}: {}", i.title),
                    _ => i.title.clone(),
                };
                let flag = if i.playable {
                    String::new()
                } else {
                    format!("  UNPLAYABLE: {}", i.error.as_deref().unwrap_or("not probed"))
                };
                println!("{:>5}  {:<10}  {dur}  {what}{flag}", i.id, i.kind.as_str());
            }
        }
        LibraryCmd::Show { id, json } => {
            let d = lib.details(MediaId(id))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
                return Ok(());
            }
            let i = &d.item;
            println!("{} ({}) #{}", i.title, i.kind, i.id);
            let line = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    println!("  {k:<12} {v}");
                }
            };
            line("series", i.series.clone());
            line("season", i.season.map(|s| s.to_string()));
            line("episode", i.episode.map(|s| s.to_string()));
            line("year", i.year.map(|s| s.to_string()));
            line("rating", i.rating.clone());
            line("duration", i.duration_ms.map(format_duration_ms));
            line(
                "playable",
                Some(if i.playable {
                    "yes".into()
                } else {
                    format!("no: {}", i.error.as_deref().unwrap_or("not probed"))
                }),
            );
            line(
                "video",
                d.probe.video_codec.as_ref().map(|c| {
                    format!(
                        "{c} {}x{} {} {}{}",
                        d.probe.width.unwrap_or(0),
                        d.probe.height.unwrap_or(0),
                        d.probe.display_aspect.as_deref().unwrap_or("?"),
                        d.probe.frame_rate.as_deref().unwrap_or("?"),
                        if d.probe.interlaced == Some(true) { " interlaced" } else { "" }
                    )
                }),
            );
            line(
                "audio",
                d.probe.audio_codec.as_ref().map(|c| format!("{c} {} ch", d.probe.audio_channels.unwrap_or(0))),
            );
            line("loudness", i.loudness_lufs.map(|l| format!("{l:.1} LUFS")).or(d.loudness_error.clone()));
            line("genres", (!i.genres.is_empty()).then(|| i.genres.join(", ")));
            line("tags", (!i.tags.is_empty()).then(|| i.tags.join(", ")));
            line("daypart", (!i.meta.daypart.is_empty()).then(|| i.meta.daypart.join(", ")));
            line("season(s)", (!i.meta.season.is_empty()).then(|| i.meta.season.join(", ")));
            line("demographic", i.meta.demographic.clone());
            line("company", i.meta.commercial_company.clone());
            line("category", i.meta.commercial_category.clone());
            line("era", i.meta.era.clone());
            line("sched rating", i.meta.content_rating.clone());
            let bps: Vec<String> = d
                .all_breakpoints
                .iter()
                .map(|b| format!("{} ({})", format_duration_ms(b.offset_ms), b.origin))
                .collect();
            line("breakpoints", (!bps.is_empty()).then(|| bps.join(", ")));
            let used: Vec<String> = i.breakpoints.iter().map(|ms| format_duration_ms(*ms)).collect();
            line("breaks at", (!used.is_empty()).then(|| used.join(", ")));
            if !d.break_candidates.is_empty() {
                println!("  break candidates (black and silent in the media):");
                for c in &d.break_candidates {
                    let fade =
                        if c.fade_ms > 0 { format!("fade {:.1} s", c.fade_ms as f64 / 1e3) } else { "cut".into() };
                    println!(
                        "    {:>10}  gap {:.2} s  {fade:<9}  confidence {:.2}  {}",
                        format_duration_ms(c.offset_ms),
                        (c.end_ms - c.start_ms) as f64 / 1e3,
                        c.confidence,
                        serde_json::to_value(c.state)?.as_str().unwrap_or("")
                    );
                }
            } else if d.breaks_at.is_some() {
                line("break candidates", Some("none found in the media".into()));
            }
            line("uri", Some(i.uri.clone()));
            line("plot", i.plot.clone());
            if d.gone {
                println!("  (gone from its source)");
            }
        }
        LibraryCmd::Edit(a) => {
            let a = *a;
            let list = |s: &Option<String>| s.as_ref().map(|s| s.split(',').map(|p| p.trim().to_owned()).collect());
            let edit = ItemEdit {
                daypart: list(&a.daypart),
                season: list(&a.season),
                demographic: a.demographic,
                company: a.company,
                category: a.category,
                era: a.era,
                rating: a.rating,
                warnings: a.warnings,
                notes: a.notes,
                breakpoints: a.breakpoints.as_deref().map(parse_breakpoints).transpose()?,
            };
            let item = lib.edit(MediaId(a.id), &edit)?;
            ask_replan(lib.db(), None, &format!("item {} edited", item.id))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&item)?);
            } else {
                println!("edited item {} {}", item.id, item.title);
            }
        }
    }
    Ok(())
}

/// Run `retrovue demo`.
pub fn demo(ctx: &Context, args: DemoArgs) -> anyhow::Result<()> {
    let dir = args.dir.unwrap_or_else(|| ctx.config.data_dir.join("demo"));
    eprintln!("writing the demo library to {} ...", dir.display());
    let started = std::time::Instant::now();
    let folders = demo::write(&dir, 2)?;
    eprintln!("clips ready in {:.1} s", started.elapsed().as_secs_f64());
    let lib = open_library(ctx)?;
    for f in &folders {
        let s = match lib.add_folder(&f.path, f.kind, Some(f.name)) {
            Err(LibraryError::AlreadyASource { existing, .. }) => *existing,
            other => other?,
        };
        println!("source {} {} ({})", s.id, s.name, f.kind);
    }
    if !args.no_scan {
        let scan_args = ScanArgs { source: None, json: false, no_loudness: false, loudness_limit: 200 };
        let report = run_scan(ctx, &lib, None, &scan_args)?;
        print_report(&report, false)?;
        ask_replan(lib.db(), None, "demo library scanned")?;
    }
    Ok(())
}
