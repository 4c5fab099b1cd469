//! `retrovue serve`: run the daemon (HTTP server, discovery, channels) until SIGTERM/SIGINT.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db::Db;

/// Options of `retrovue serve` that override the config file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on (overrides `server.listen`), e.g. 127.0.0.1:8080.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Turn off SSDP NOTIFY and mDNS announcements (development, tests).
    #[arg(long)]
    pub no_announce: bool,
    /// Turn off HDHomeRun UDP/TCP 65001 discovery and control.
    #[arg(long)]
    pub no_discovery: bool,
}

/// Run the daemon until a shutdown signal.
pub async fn run(mut config: Config, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if args.no_announce {
        config.device.announce = false;
    }
    if args.no_discovery {
        config.device.discovery = false;
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let db = Db::open(&config.database_path())?;
    let shutdown = CancellationToken::new();

    let app = Router::new().route("/health", axum::routing::get(|| async { "ok" })).with_state(());
    let _ = &db;

    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(%local, "listening");
    // The line tests and scripts wait for.
    println!("retrovue listening on http://{local}");

    let token = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        token.cancel();
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
