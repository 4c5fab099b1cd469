//! `retrovue serve`: run the daemon (HTTP server, discovery, channels) until SIGTERM/SIGINT.
//!
//! Start-up order: config → data dir → database → shared handles ([`App`]) → background
//! services ([`start_services`]) → HTTP routes ([`routes`]) → listen. Shutdown is one
//! [`CancellationToken`]; every spawned task is tracked and awaited (bounded) before exit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::system;
use crate::clock::sync::{self as clock_sync, ClockWatch};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::db::Db;
use crate::emergency::Emergency;
use crate::stream::StreamHub;

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

/// The shared handles every component is built from.
#[derive(Clone)]
pub struct App {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: Db,
    /// The clock.
    pub clock: SharedClock,
    /// TS fan-out per channel.
    pub hub: StreamHub,
    /// Emergency alerts: the live set every channel follows.
    pub emergency: Emergency,
    /// Cancelled once at shutdown.
    pub shutdown: CancellationToken,
    /// Every long-lived task, awaited at shutdown.
    pub tracker: TaskTracker,
    /// The address the HTTP server is bound to.
    pub local_addr: SocketAddr,
    /// The HDHomeRun identity, tuners and surfaces.
    pub hdhr: crate::hdhr::Hdhr,
    /// Whether the wall clock can be trusted yet; schedules wait while it is not
    /// (see [`crate::clock::sync`]).
    pub clock_sync: ClockWatch,
    /// Schedule publication counter: changes whenever a channel's schedule is (re)published.
    pub published: crate::schedule::horizon::Published,
    /// The channels that exist, as a watched snapshot.
    pub lineups: crate::lineup::Lineups,
    /// Each channel's published horizon, as watched snapshots.
    pub horizons: crate::schedule::horizons::Horizons,
    /// Linked media servers (Plex, Jellyfin, Emby).
    pub links: crate::mediaserver::Links,
}

/// How long open connections (live viewers) get to finish once shutdown has begun.
const CONNECTION_GRACE: Duration = Duration::from_secs(5);

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
    system::status("starting: opening the database");
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let db = Db::open(&config.database_path())?;
    apply_stored_settings(&mut config, &db, &args)?;
    // Commits by the CLI beside the daemon reach the watched values too.
    if let Err(e) = db.watch_external() {
        tracing::warn!(error = %e, "cannot follow database changes made by other processes: CLI edits show after a restart");
    }
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let local_addr = listener.local_addr()?;
    let clock: SharedClock = Arc::new(SystemClock);
    let (clock_tx, clock_sync) = clock_sync::channel(&clock, std::path::Path::new(clock_sync::TIMESYNC_FLAG));
    let emergency = Emergency::load(db.clone(), clock.clone()).context("cannot read emergency alerts")?;
    let identity =
        crate::hdhr::Identity::load_or_create(&db, &config.device.friendly_name, clock.now().timestamp_millis())
            .await?;
    let encoder_plan = crate::director::encoders::plan(&config, &db).await;
    let hub = StreamHub::with_tuners(usize::from(encoder_plan.tuners));
    hub.tuners().set_budget(encoder_plan.budget);
    let lineups = crate::lineup::Lineups::load(&db).await.context("cannot read the lineup")?;
    let hdhr = crate::hdhr::Hdhr::new(
        identity,
        Arc::new(lineups.clone()),
        hub.clone(),
        crate::config::BaseUrl::new(config.server.base_url.as_deref(), local_addr),
        clock.clone(),
    );
    let links = crate::director::links::links(&db, &hdhr, &clock, &config);
    let horizons = crate::schedule::horizons::Horizons::new(db.clone(), clock.clone());
    let app = App {
        lineups,
        horizons,
        links,
        config: Arc::new(config),
        db,
        clock,
        hub,
        emergency,
        shutdown: CancellationToken::new(),
        tracker: TaskTracker::new(),
        local_addr,
        hdhr,
        clock_sync,
        published: crate::schedule::horizon::Published::new(),
    };
    start_services(&app).await?;
    let router = routes(&app);
    system::start(&app, clock_tx);

    tracing::info!(%local_addr, "listening");
    // The line tests and scripts wait for.
    println!("retrovue listening on http://{local_addr}");

    system::ready(&app);

    let token = app.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        system::stopping();
        token.cancel();
    });
    let server = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(app.shutdown.clone().cancelled_owned());
    // Graceful shutdown waits for every open response; a live stream whose producer has not
    // ended it would hold the daemon forever, so connections get a grace period, then the
    // rest are closed when the runtime stops.
    let grace = async {
        app.shutdown.cancelled().await;
        tokio::time::sleep(CONNECTION_GRACE).await;
    };
    tokio::select! {
        served = server => served?,
        _ = grace => tracing::warn!("connections still open {} s after shutdown began; closing them", CONNECTION_GRACE.as_secs()),
    }
    app.shutdown.cancel();
    app.tracker.close();
    if tokio::time::timeout(Duration::from_secs(10), app.tracker.wait()).await.is_err() {
        tracing::warn!("some tasks did not stop within 10 s");
    }
    system::flush(&app).await;
    Ok(())
}

/// Lay the settings changed on the web page over the file's values; the command line still
/// wins (tests and development turn announcements off).
fn apply_stored_settings(config: &mut Config, db: &Db, args: &ServeArgs) -> anyhow::Result<()> {
    let stored = db.call_blocking(|c| crate::config::store::all(c)).context("cannot read stored settings")?;
    for e in crate::config::overrides::apply_all(config, &stored) {
        tracing::warn!(error = %e, "ignoring a stored setting");
    }
    if args.no_announce {
        config.device.announce = false;
    }
    if args.no_discovery {
        config.device.discovery = false;
    }
    Ok(())
}

/// Start the background services (each adds its own line).
async fn start_services(app: &App) -> anyhow::Result<()> {
    app.tracker.spawn(super::allocator::trim_periodically(super::allocator::TRIM_EVERY, app.shutdown.clone()));
    app.tracker.spawn(app.emergency.clone().run(app.shutdown.clone()));
    // The watched values, each following its tables.
    app.tracker.spawn(app.lineups.clone().follow(app.db.clone(), app.shutdown.clone()));
    app.tracker.spawn(app.horizons.clone().follow(app.shutdown.clone()));
    app.tracker.spawn(app.published.clone().follow(app.db.clone(), app.shutdown.clone()));
    app.tracker.spawn(crate::schedule::horizon::run_horizon(
        app.db.clone(),
        app.config.clone(),
        app.clock.clone(),
        app.clock_sync.clone(),
        app.shutdown.clone(),
    ));
    let hdhr_services = crate::hdhr::Services {
        bind_ip: app.local_addr.ip(),
        discovery: app.config.device.discovery,
        announce: app.config.device.announce,
        hostname: app.config.device.hostname.clone(),
    };
    crate::hdhr::start(&app.hdhr, &hdhr_services, &app.shutdown, &app.tracker).await;
    let as_run: Arc<dyn crate::playout::AsRunSink> =
        Arc::new(crate::schedule::asrun::AsRunLog::start(app.db.clone(), app.clock.clone(), &app.tracker));
    app.tracker.spawn(crate::playout::supervisor::run(crate::playout::supervisor::SupervisorDeps {
        settings: app.config.playout.clone(),
        lineup: app.lineups.subscribe(),
        horizons: app.horizons.clone(),
        hub: app.hub.clone(),
        as_run,
        loudness: Some(Arc::new(crate::library::loudness::LibraryLoudness::new(app.db.clone(), app.clock.clone()))),
        subtitles: Some(Arc::new(crate::library::subtitles::LibrarySubtitles::new(app.db.clone()))),
        clock: app.clock.clone(),
        overlays: Some(Arc::new(crate::director::graphics::ChannelOverlays {
            db: app.db.clone(),
            clock: app.clock.clone(),
            emergency: app.emergency.clone(),
            tz: app.config.schedule.timezone,
            tracker: app.tracker.clone(),
            shutdown: app.shutdown.clone(),
        })),
        shutdown: app.shutdown.clone(),
    }));
    let changes = crate::director::links::guide_changes(
        app.lineups.subscribe(),
        &app.published,
        app.shutdown.clone(),
        &app.tracker,
    );
    app.tracker.spawn(app.links.clone().run(changes, app.shutdown.clone(), app.tracker.clone()));
    if app.config.library.loudness {
        let (db, clock, stop) = (app.db.clone(), app.clock.clone(), app.shutdown.clone());
        app.tracker.spawn(crate::library::loudness::run_background(db, clock, stop, Duration::from_secs(60)));
    }
    Ok(())
}

/// Every HTTP route of the daemon, one `merge` per component.
fn routes(app: &App) -> Router {
    Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(crate::emergency::http::webhook_router(
            app.emergency.clone(),
            app.config.emergency.webhook_token.clone(),
        ))
        .merge(crate::hdhr::http::router(app.hdhr.clone()))
        .merge(crate::stream::http::router(crate::stream::http::StreamRoutes {
            hub: app.hub.clone(),
            resolve: resolver(app.lineups.clone()),
            hls_dir: app.config.playout.hls_dir.clone(),
        }))
        .merge(crate::guide::http::router(crate::guide::http::GuideState {
            config: app.config.clone(),
            guide: crate::guide::cache::GuideCache::new(
                app.db.clone(),
                app.clock.clone(),
                app.config.schedule.timezone,
                app.config.schedule.horizon_days,
            ),
            lineups: app.lineups.clone(),
            clock: app.clock.clone(),
            urls: app.hdhr.urls().clone(),
            art: crate::library::art::ArtStore::new(
                app.db.clone(),
                app.config.data_dir.join("art-cache"),
                Duration::from_secs(15),
            ),
        }))
        .merge(crate::web::router(crate::web::WebDeps {
            config: app.config.clone(),
            db: app.db.clone(),
            clock: app.clock.clone(),
            hub: app.hub.clone(),
            local_addr: app.local_addr,
            encoders: crate::director::encoders::detect(),
            encoder_in_use: crate::director::encoders::in_use(&app.config.playout.encoder),
            tuner_use: {
                let hub = app.hub.clone();
                Arc::new(move || (hub.tuners().in_use(), hub.tuners().count()))
            },
            heap_use: || super::allocator::heap_use().map(|h| (h.in_use_bytes, h.free_bytes)),
            emergency: app.emergency.clone(),
            published: app.published.clone(),
            links: Some(Arc::new(crate::director::links::WebLinks(app.links.clone()))),
        }))
}

/// Guide number → channel, from the watched lineup (enabled channels only).
fn resolver(lineups: crate::lineup::Lineups) -> crate::stream::http::Resolver {
    Arc::new(move |number: String| {
        let found = lineups.current().by_number(&number).map(crate::stream::http::Resolved::of);
        Box::pin(async move { found })
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
