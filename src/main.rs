//! `retrovue`: the command line. Parses, sets up logging, dispatches to `director`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use retrovue::config::Config;
use retrovue::director::{self, cli};

/// A retro cable-TV headend: live channels from your media library, as an HDHomeRun tuner.
#[derive(Debug, Parser)]
#[command(name = "retrovue", version, about)]
struct Cli {
    /// Configuration file (default: ./retrovue.toml if present, else built-in defaults).
    #[arg(long, global = true, env = "RETROVUE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir`).
    #[arg(long, global = true, env = "RETROVUE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: HTTP, tuner emulation, channels.
    Serve(director::serve::ServeArgs),
    /// Manage media sources.
    #[command(subcommand)]
    Source(cli::library::SourceCmd),
    /// Scan sources: find, probe and catalogue media.
    Scan(cli::library::ScanArgs),
    /// Browse and edit the library.
    #[command(subcommand)]
    Library(cli::library::LibraryCmd),
    /// Write a demo library of generated clips and register it.
    Demo(cli::library::DemoArgs),
    /// Manage channels.
    #[command(subcommand)]
    Channel(cli::schedule::ChannelCmd),
    /// Build and inspect schedules.
    #[command(subcommand)]
    Schedule(cli::schedule::ScheduleCmd),
    /// Print guides (XMLTV, M3U).
    #[command(subcommand)]
    Guide(cli::schedule::GuideCmd),
    /// Raise, clear and list emergency alerts.
    #[command(subcommand)]
    Alert(cli::alert::AlertCmd),
    /// Add this box to Plex in one step (tuner, guide, channels) and keep it up to date.
    #[command(subcommand)]
    Plex(cli::links::PlexCmd),
    /// Add this box to Jellyfin in one step (tuner, guide, channels) and keep it up to date.
    #[command(subcommand)]
    Jellyfin(cli::links::MediaBrowserCmd),
    /// Add this box to Emby in one step (tuner, guide, channels) and keep it up to date.
    #[command(subcommand)]
    Emby(cli::links::MediaBrowserCmd),
    /// Check the encoder and pipeline: encode a few seconds of test pattern.
    Selftest(cli::playout::SelftestArgs),
}

fn main() -> ExitCode {
    let args = Cli::parse();
    // The daemon runs with glibc malloc settings of its own (director::allocator): before any
    // thread exists, `serve` replaces itself once with those its environment lacks.
    let relaunch = match args.command {
        Command::Serve(_) => Some(director::allocator::relaunch_with_malloc_settings()),
        _ => None,
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Some(Err(e)) = &relaunch {
        tracing::warn!(error = %e, "could not restart with the daemon's malloc settings");
    }
    if relaunch.is_some() {
        tracing::info!(settings = director::allocator::in_effect(), "malloc");
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("retrovue: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(dir) = args.data_dir {
        if config.playout.hls_dir.starts_with(&config.data_dir) {
            config.playout.hls_dir = dir.join("hls");
        }
        config.data_dir = dir;
    }
    let ctx = cli::Context { config };
    match args.command {
        Command::Serve(a) => {
            let rt = tokio::runtime::Runtime::new()?;
            let served = rt.block_on(director::serve::run(ctx.config, a));
            // Blocking work still running (a loudness measurement, a GStreamer call that does
            // not return) must not hold the exit: systemd's stop timeout is the limit.
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
            served
        }
        Command::Source(c) => cli::library::source(&ctx, c),
        Command::Scan(a) => cli::library::scan(&ctx, a),
        Command::Library(c) => cli::library::library(&ctx, c),
        Command::Demo(a) => cli::library::demo(&ctx, a),
        Command::Channel(c) => cli::schedule::channel(&ctx, c),
        Command::Schedule(c) => cli::schedule::schedule(&ctx, c),
        Command::Guide(c) => cli::schedule::guide(&ctx, c),
        Command::Alert(c) => cli::alert::alert(&ctx, c),
        Command::Plex(c) => cli::links::plex(&ctx, c),
        Command::Jellyfin(c) => cli::links::media_browser(&ctx, retrovue::mediaserver::ServerKind::Jellyfin, c),
        Command::Emby(c) => cli::links::media_browser(&ctx, retrovue::mediaserver::ServerKind::Emby, c),
        Command::Selftest(a) => cli::playout::selftest(&ctx, a),
    }
}
