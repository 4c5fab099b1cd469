//! `retrovue source|scan|library|demo`.

use std::path::PathBuf;

use super::Context;

/// `retrovue source ...`
#[derive(Debug, clap::Subcommand)]
pub enum SourceCmd {
    /// Add a folder or Plex source.
    Add(SourceAddArgs),
    /// List sources.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a source and its items.
    Remove {
        /// Source id.
        id: i64,
    },
}

/// `retrovue source add`
#[derive(Debug, clap::Args)]
pub struct SourceAddArgs {
    /// A folder of media.
    #[arg(long, conflicts_with = "plex")]
    pub folder: Option<PathBuf>,
    /// What the folder holds: shows, movies, commercials, bumpers, promos, station_ids, intros, outros, slates.
    #[arg(long, requires = "folder")]
    pub kind: Option<String>,
    /// A Plex server URL.
    #[arg(long)]
    pub plex: Option<String>,
    /// The Plex token.
    #[arg(long, requires = "plex")]
    pub token: Option<String>,
    /// Plex libraries to import (repeatable; default all).
    #[arg(long = "library")]
    pub libraries: Vec<String>,
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
    Edit(LibraryEditArgs),
}

/// `retrovue library edit`
#[derive(Debug, clap::Args)]
pub struct LibraryEditArgs {
    /// Item id.
    pub id: i64,
    /// Dayparts, comma separated.
    #[arg(long)]
    pub daypart: Option<String>,
    /// Breakpoints: `1:30,12:10.5` (m:ss[.f]) or ms.
    #[arg(long)]
    pub breakpoints: Option<String>,
}

/// `retrovue demo`
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where to write the demo library (default `<data_dir>/demo`).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Run `retrovue source ...`.
pub fn source(_ctx: &Context, _cmd: SourceCmd) -> anyhow::Result<()> {
    anyhow::bail!("`retrovue source` is not built yet")
}

/// Run `retrovue scan`.
pub fn scan(_ctx: &Context, _args: ScanArgs) -> anyhow::Result<()> {
    anyhow::bail!("`retrovue scan` is not built yet")
}

/// Run `retrovue library ...`.
pub fn library(_ctx: &Context, _cmd: LibraryCmd) -> anyhow::Result<()> {
    anyhow::bail!("`retrovue library` is not built yet")
}

/// Run `retrovue demo`.
pub fn demo(_ctx: &Context, _args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("`retrovue demo` is not built yet")
}
