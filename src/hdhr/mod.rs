//! Pretend to be a SiliconDust HDHomeRun network tuner: UDP discovery and TCP control on
//! 65001, SSDP, mDNS, the HTTP JSON API and `/auto/v<N>` streams with tuner leases.
//! (Specification: `reference/hdhomerun.md`.) Never imports `guide`, `web` or `playout`.
//!
//! [`Hdhr`] is the shared state every surface reads: the [`device::Identity`], the lineup
//! through a [`LineupSource`] (in the daemon the watched [`crate::lineup::Lineups`], so an
//! edit shows at once and no request reads the database) and the stream hub, whose one
//! admission ([`crate::stream::StreamHub::tune`]) leases the tuners. [`start`] binds and spawns the network services; the HTTP
//! routes are [`http::router`], merged into the daemon's one server by the director.
//!
//! Addresses: every URL we hand out is absolute and reachable, built by the one rule every
//! edge shares, [`crate::config::BaseUrl`] (`server.base_url`, else the request's `Host`
//! with `localhost`/`.local` replaced by our numeric address, else the interface towards the
//! client; the UDP reply always carries a numeric IPv4).

pub mod control;
pub mod device;
pub mod discovery;
pub mod http;
pub mod mdns;
pub mod ssdp;
pub mod wire;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::SharedClock;
use crate::config::BaseUrl;
use crate::db::DbError;
use crate::lineup::Lineup;
use crate::stream::StreamHub;
use crate::stream::tuners::TunerPool;

pub use device::{DeviceId, Identity};

/// Where the HDHomeRun surfaces read the lineup from: the enabled channels as they are now.
pub trait LineupSource: Send + Sync + 'static {
    /// The enabled channels, sorted by number.
    fn lineup(&self) -> Arc<Lineup>;
}

impl LineupSource for crate::lineup::Lineups {
    fn lineup(&self) -> Arc<Lineup> {
        self.current()
    }
}

/// A lineup that never changes (tests, tools).
impl LineupSource for Lineup {
    fn lineup(&self) -> Arc<Lineup> {
        Arc::new(self.clone())
    }
}

/// The UDP and TCP port of HDHomeRun discovery and control.
pub const HDHR_PORT: u16 = 65001;

/// Errors of the HDHomeRun surfaces.
#[derive(Debug, thiserror::Error)]
pub enum HdhrError {
    /// A socket could not be bound.
    #[error("cannot bind {what} on {addr}: {source}")]
    Bind {
        /// Which service.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// mDNS could not start.
    #[error("mDNS: {0}")]
    Mdns(#[source] mdns_sd::Error),
}

/// The shared state of the HDHomeRun surfaces; cheap to clone.
#[derive(Clone)]
pub struct Hdhr {
    inner: Arc<Inner>,
}

struct Inner {
    identity: Identity,
    lineup: Arc<dyn LineupSource>,
    hub: StreamHub,
    urls: BaseUrl,
    clock: SharedClock,
}

impl Hdhr {
    /// Build the state. The advertised TunerCount is the hub's tuner count (the director
    /// derives it from the config or the encoder); `urls` is the box's base-URL rule
    /// (`server.base_url` and the address the HTTP server is bound to).
    pub fn new(
        identity: Identity,
        lineup: Arc<dyn LineupSource>,
        hub: StreamHub,
        urls: BaseUrl,
        clock: SharedClock,
    ) -> Self {
        Self { inner: Arc::new(Inner { identity, lineup, hub, urls, clock }) }
    }

    /// Who we are.
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// The tuners (the hub's).
    pub fn tuners(&self) -> &TunerPool {
        self.inner.hub.tuners()
    }

    /// The clock (SSDP `DATE` headers).
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// The stream hub.
    pub fn hub(&self) -> &StreamHub {
        &self.inner.hub
    }

    /// TunerCount as the one byte the UDP reply carries.
    pub fn tuner_count(&self) -> u8 {
        u8::try_from(self.tuners().count()).unwrap_or(u8::MAX)
    }

    /// The enabled channels, sorted by number.
    pub fn lineup(&self) -> Arc<Lineup> {
        self.inner.lineup.lineup()
    }

    /// Port of the HTTP server.
    pub fn http_port(&self) -> u16 {
        self.inner.urls.http_port()
    }

    /// The base-URL rule every URL we hand out is built with.
    pub fn urls(&self) -> &BaseUrl {
        &self.inner.urls
    }
}

/// Which network services run (from `[device]` and the CLI switches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    /// The IP the HTTP server is bound to; UDP/TCP 65001 and SSDP bind the same one, so a
    /// development daemon on 127.0.0.1 never answers the real LAN.
    pub bind_ip: IpAddr,
    /// UDP/TCP 65001 and SSDP M-SEARCH answers (`device.discovery`).
    pub discovery: bool,
    /// SSDP NOTIFY and mDNS (`device.announce`).
    pub announce: bool,
    /// mDNS host name without `.local` (`device.hostname`).
    pub hostname: String,
}

/// Bind and spawn the network services chosen in `services`; they stop when `shutdown` is
/// cancelled. A port that is taken (another HDHomeRun emulator, a UPnP stack) is logged and
/// skipped: the HTTP API keeps working, and manual `ip:port` entry works in every client.
pub async fn start(hdhr: &Hdhr, services: &Services, shutdown: &CancellationToken, tracker: &TaskTracker) {
    if services.discovery {
        match discovery::Discovery::bind(SocketAddr::new(services.bind_ip, HDHR_PORT)).await {
            Ok(d) => {
                tracker.spawn(d.run(hdhr.clone(), shutdown.clone()));
            }
            Err(e) => tracing::warn!("HDHomeRun discovery off: {e}"),
        }
        if services.bind_ip.is_unspecified() {
            match discovery::Discovery::bind_v6(HDHR_PORT) {
                Ok(d) => {
                    tracker.spawn(d.run(hdhr.clone(), shutdown.clone()));
                }
                Err(e) => tracing::info!("HDHomeRun IPv6 discovery off: {e}"),
            }
        }
        match control::Control::bind(SocketAddr::new(services.bind_ip, HDHR_PORT)).await {
            Ok(c) => {
                tracker.spawn(c.run(hdhr.clone(), shutdown.clone(), tracker.clone()));
            }
            Err(e) => tracing::warn!("HDHomeRun control off: {e}"),
        }
    }
    if services.discovery || services.announce {
        match ssdp::Ssdp::bind(services.bind_ip, services.discovery, services.announce) {
            Ok(s) => {
                tracker.spawn(s.run(hdhr.clone(), shutdown.clone()));
            }
            Err(e) => tracing::warn!("SSDP off: {e}"),
        }
    }
    if services.announce {
        match mdns::Announcer::start(hdhr, services) {
            Ok(m) => {
                tracker.spawn(m.run_until(shutdown.clone()));
            }
            Err(e) => tracing::warn!("mDNS off: {e}"),
        }
    }
}
