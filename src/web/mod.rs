//! The configuration web page and its JSON API under `/api/`, with the admin login.
//!
//! Owns `users` and `sessions` ([`store`]); everything else it reads and changes through the
//! domain modules' stores and handles, never with its own SQL. [`router`] is merged into the
//! daemon's HTTP server beside the tuner, stream and guide endpoints, which stay open on the
//! LAN; here only `/`, `/assets/*`, `/api/session`, `/api/setup` and `/api/login` answer
//! without a session, and before first-run setup every other `/api/` route refuses.
//!
//! Layout: [`auth`] (passwords, sessions, CSRF gate, login limiter), [`api`] (one file per
//! resource), [`pages`] (the embedded single-page app), [`error`] (HTTP mapping).

pub mod api;
pub mod auth;
pub mod error;
pub mod pages;
pub mod store;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::emergency::Emergency;
use crate::schedule::horizon::Published;
use crate::stream::StreamHub;

/// Reads the tuner pool: `(in use, offered)` (the director wires it to the HDHomeRun side,
/// which the web may not import).
pub type TunerUse = Arc<dyn Fn() -> (usize, usize) + Send + Sync>;

/// Reads the daemon's allocator: `(bytes of live blocks, bytes free inside its heaps)`, `None`
/// where the C library cannot say (the director wires it to its allocator).
pub type HeapUse = fn() -> Option<(u64, u64)>;

/// What the web needs from the rest of the daemon (filled in by the director).
pub struct WebDeps {
    /// The configuration the daemon runs with (file + stored overrides at start).
    pub config: Arc<Config>,
    /// The database.
    pub db: Db,
    /// The clock.
    pub clock: SharedClock,
    /// TS fan-out (viewer counts).
    pub hub: StreamHub,
    /// The address the HTTP server is bound to.
    pub local_addr: SocketAddr,
    /// H.264 encoder elements found on this box, best first.
    pub encoders: Vec<String>,
    /// The encoder playout uses.
    pub encoder_in_use: Option<String>,
    /// Tuners `(in use, offered)`, read live.
    pub tuner_use: TunerUse,
    /// The allocator's live blocks and holes, read live.
    pub heap_use: HeapUse,
    /// Emergency alerts (its API is mounted behind the login).
    pub emergency: Emergency,
    /// Schedule publication counter (bumped after a replan from the page).
    pub published: Published,
    /// Linked media servers (the "Add to Plex / Jellyfin / Emby" panel); `None` hides it.
    pub links: Option<api::links::SharedLinks>,
}

/// Shared state of every web handler.
#[derive(Clone)]
pub struct WebState(Arc<Inner>);

/// The state behind [`WebState`]: the daemon's handles (reached through `Deref`, so handlers
/// write `state.db`) and what the web keeps for itself.
pub struct Inner {
    /// The daemon's handles, as the director passed them.
    pub deps: WebDeps,
    /// Failed-login counter per address.
    pub limiter: auth::LoginLimiter,
    /// Sessions the database could not store (see [`auth::MemorySessions`]).
    pub memory_sessions: auth::MemorySessions,
    /// Cached "an admin exists".
    pub setup_done: AtomicBool,
    /// The current or last library scan.
    pub scan: Arc<api::scan::ScanJob>,
    /// Preview stills of library items.
    pub stills: api::still::Stills,
    /// Previous CPU sample, for the dashboard's usage figure.
    pub cpu: api::status::CpuMeter,
}

impl Deref for Inner {
    type Target = WebDeps;
    fn deref(&self) -> &WebDeps {
        &self.deps
    }
}

impl Deref for WebState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl WebState {
    /// Build the state from the daemon's handles.
    pub fn new(deps: WebDeps) -> Self {
        Self(Arc::new(Inner {
            deps,
            limiter: auth::LoginLimiter::default(),
            memory_sessions: auth::MemorySessions::default(),
            setup_done: AtomicBool::new(false),
            scan: Arc::default(),
            stills: api::still::Stills::default(),
            cpu: api::status::CpuMeter::default(),
        }))
    }

    /// Now, in UTC ms.
    pub fn now_ms(&self) -> i64 {
        crate::clock::to_ms(self.clock.now())
    }
}

/// The page, its assets and the API.
pub fn router(deps: WebDeps) -> Router {
    let state = WebState::new(deps);
    let gate = axum::middleware::from_fn_with_state(state.clone(), auth::gate);
    let emergency = crate::emergency::http::api_router(state.emergency.clone()).route_layer(gate);
    Router::new().merge(pages::router()).nest("/api", api::router(state.clone())).with_state(state).merge(emergency)
}
