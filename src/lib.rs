//! Retrovue: a retro cable-TV headend. It turns a media library into live 24/7 channels
//! (shows on the half hour, commercial breaks, bumpers, station IDs, a channel bug, emergency
//! alerts) and presents them on the LAN as an HDHomeRun tuner, with M3U + XMLTV and a web page.
//!
//! # Layout
//!
//! | module      | job |
//! |-------------|-----|
//! | [`clock`]   | the only source of "now" (`SystemClock`, `ManualClock`) |
//! | [`db`]      | SQLite plumbing: open, WAL, embedded migrations, blocking calls |
//! | [`config`]  | TOML file → validated `Config`; run-time overrides; the one base-URL rule |
//! | [`elements`]| every GStreamer element we create, its plugin, Debian package, Buildroot option |
//! | [`library`] | media sources (folders + `.nfo`, Plex, Jellyfin, Emby), probe, loudness; the catalogue |
//! | [`lineup`]  | the channels that exist: numbers, names, profiles, audio languages, logos; the one M3U renderer |
//! | [`schedule`]| coarse grid → break-level airings over a frozen horizon; watched horizons; as-run log |
//! | [`guide`]   | XMLTV (pure renderer of lineup + schedule + library facts), its routes, logos, art |
//! | [`playout`] | GStreamer: one actor per channel, continuous MPEG-TS out, loudness held on the air; the channel supervisor |
//! | [`stream`]  | per-channel fan-out of TS bytes (broadcast + GOP cache), HLS files; the tuners and the one viewer admission |
//! | [`emergency`]| alerts: model, activation, expiry; a watch the channels follow |
//! | [`hdhr`]    | pretend to be an HDHomeRun: UDP/TCP 65001, SSDP, mDNS, HTTP, tuners |
//! | [`web`]     | the configuration page and JSON API |
//! | [`mediaserver`] | link Plex / Jellyfin / Emby: register, map, reload the guide, self-heal |
//! | [`director`]| composition root: wires and shuts down; the CLI |
//!
//! # How data flows
//!
//! One way: library → schedule → playout → stream → edges. State is pushed, not polled:
//!
//! - The database announces which tables a call changed once it committed, and notices other
//!   processes' commits (the CLI while the daemon runs) by inotify + `data_version`
//!   ([`db::changes`]).
//! - The lineup is a watched value ([`lineup::Lineups`]) and so is each channel's published
//!   horizon ([`schedule::horizons`]), refreshed from those announcements only. The channel
//!   supervisor ([`playout::supervisor`]) follows the lineup and the viewers' demand; each
//!   playout actor and its graphics feed follow their channel's horizon; the HDHomeRun edge
//!   reads the watched lineup through its own [`hdhr::LineupSource`]; the guide keeps its
//!   XMLTV until its tables change ([`guide::cache`]).
//! - Playout reports what aired through [`schedule::asrun`] (one status enum) and pushes TS
//!   into [`stream`]; every viewer from outside — tuner URLs, `/stream/N.ts`, HLS — comes in
//!   through one admission ([`stream::StreamHub::tune`]) that leases a tuner.
//! - A schedule build plans from what it reads and publishes in one transaction; the
//!   publication is an announcement like any other, so playout, graphics, guide and the
//!   linked media servers follow it.
//!
//! `tests/architecture.rs` holds the rules: the imports below, only `director` wires, no SQL
//! on another module's table, no timer re-reading the lineup or the airings.
//!
//! # Import rules (enforced by `tests/architecture.rs`)
//!
//! - `clock`, `db`, `elements` import nothing internal; `config` → `db`.
//! - `library` → {db, config, clock, elements}; `lineup` → {db, config, clock};
//!   `schedule` → {library, lineup, clock, db, config}; `emergency` → {db, clock, config, lineup}.
//! - `stream` → {lineup}; `playout` → {schedule, lineup, library, stream, emergency, clock, config,
//!   elements}.
//! - Edges `hdhr`, `guide`, `web` → {lineup, schedule, library, stream, emergency, config, clock, db};
//!   they never import each other, nor `playout`.
//! - Edge `mediaserver` → {db, config, clock}: what it advertises comes in as a `Target` and
//!   changes as a `watch`, both from the director; it never imports `hdhr`, `guide`, `web`, `playout`.
//! - `director` → everything; nothing imports `director`.
//! - `gstreamer` only in `elements`, `playout` and `library::probe`/`loudness`/`demo`/`thumbnail`;
//!   `rusqlite` only in `db` and `*/store.rs`; `axum` only in `*/http.rs`, `web` and `director`.
//! - GStreamer elements are created only through `elements` (a listed `Factory`, or a launch
//!   line checked against the list; `tests/elements.rs`).

pub mod clock;
pub mod config;
pub mod db;
pub mod director;
pub mod elements;
pub mod emergency;
pub mod guide;
pub mod hdhr;
pub mod library;
pub mod lineup;
pub mod mediaserver;
pub mod playout;
pub mod schedule;
pub mod stream;
pub mod web;
