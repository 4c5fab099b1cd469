//! Pretend to be a SiliconDust HDHomeRun network tuner: UDP discovery and TCP control on
//! 65001, SSDP, mDNS, the HTTP JSON API and `/auto/v<N>` streams with tuner leases.
//! (Specification: `reference/hdhomerun.md`.) Never imports `guide`, `web` or `playout`.
//!
//! [`Hdhr`] is the shared state every surface reads: the [`device::Identity`], the
//! [`tuners::TunerPool`], the lineup (read from the database on each request, so edits show
//! at once) and the stream hub. [`start`] binds and spawns the network services; the HTTP
//! routes are [`http::router`], merged into the daemon's one server by the director.
//!
//! Addresses: every URL we hand out is absolute and reachable. HTTP derives it from
//! `server.base_url`, else the request's `Host` header (`localhost` and `.local` names
//! replaced by the numeric address the box uses towards the client); UDP discovery uses the numeric IPv4 of the interface the
//! request arrived on. That interface is found without `IP_PKTINFO` (which would need unsafe
//! code): a connected, never-used UDP socket towards the sender gets the source address the
//! kernel picks for the reply, which is exactly the address the client will see.

pub mod control;
pub mod device;
pub mod discovery;
pub mod http;
pub mod mdns;
pub mod ssdp;
pub mod tuners;
pub mod wire;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::SharedClock;
use crate::db::{Db, DbError};
use crate::lineup::store::LineupStoreError;
use crate::lineup::{Lineup, store as lineup_store};
use crate::stream::StreamHub;

pub use device::{DeviceId, Identity};
pub use tuners::TunerPool;

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
    /// The lineup could not be read.
    #[error("cannot read the lineup: {0}")]
    Lineup(#[from] LineupStoreError),
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
    tuners: TunerPool,
    db: Db,
    hub: StreamHub,
    base_url: Option<String>,
    http_addr: SocketAddr,
    clock: SharedClock,
}

impl Hdhr {
    /// Build the state. `tuner_count` is the advertised TunerCount (the director derives it
    /// from the config or the encoder); `base_url` is `server.base_url`; `http_addr` is the
    /// address the HTTP server is bound to.
    pub fn new(
        identity: Identity,
        tuner_count: u8,
        db: Db,
        hub: StreamHub,
        base_url: Option<String>,
        http_addr: SocketAddr,
        clock: SharedClock,
    ) -> Self {
        let base_url = base_url.map(|u| u.trim_end_matches('/').to_owned());
        let tuners = TunerPool::new(usize::from(tuner_count.max(1)));
        Self { inner: Arc::new(Inner { identity, tuners, db, hub, base_url, http_addr, clock }) }
    }

    /// Who we are.
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// The tuners.
    pub fn tuners(&self) -> &TunerPool {
        &self.inner.tuners
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
        u8::try_from(self.inner.tuners.count()).unwrap_or(u8::MAX)
    }

    /// The enabled channels, sorted by number.
    pub async fn lineup(&self) -> Result<Lineup, HdhrError> {
        Ok(self.inner.db.call(|c| lineup_store::lineup(c)).await??)
    }

    /// Port of the HTTP server.
    pub fn http_port(&self) -> u16 {
        self.inner.http_addr.port()
    }

    /// The base URL for an HTTP request that named `host` (its `Host` header) and came from
    /// `peer`.
    pub fn base_url_for_request(&self, host: Option<&str>, peer: Option<SocketAddr>) -> String {
        if let Some(u) = &self.inner.base_url {
            return u.clone();
        }
        let local = || self.local_ip_towards(peer.map(|p| p.ip()));
        match host.filter(|h| !h.is_empty() && h.is_ascii() && !h.contains(['/', ' ', '@'])) {
            Some(h) => {
                let (name, port) = split_host(h);
                let name = name.to_ascii_lowercase();
                // `localhost` is useless to another machine, and a `.local` name needs mDNS,
                // which not every media server resolves (spec §8): use our numeric address.
                let numeric = name == "localhost" || name.ends_with(".localhost") || name.ends_with(".local");
                if numeric {
                    let port = port.unwrap_or(80);
                    format!("http://{}", SocketAddr::new(local(), port))
                } else {
                    format!("http://{h}")
                }
            }
            None => format!("http://{}", SocketAddr::new(local(), self.http_port())),
        }
    }

    /// The base URL for clients reached through the interface whose address is `local`
    /// (`server.base_url` wins).
    pub fn base_url_for_interface(&self, local: IpAddr) -> String {
        match &self.inner.base_url {
            Some(u) => u.clone(),
            None => format!("http://{}", SocketAddr::new(local, self.http_port())),
        }
    }

    /// The numeric-IPv4 base URL for a UDP discovery reply sent from `local` (at most 28
    /// characters: `http://` + dotted quad + `:` + port). `server.base_url` wins when it is
    /// itself such a URL.
    pub fn base_url_for_udp(&self, local: Ipv4Addr) -> String {
        if let Some(u) = &self.inner.base_url
            && let Some(rest) = u.strip_prefix("http://")
            && rest.parse::<std::net::SocketAddrV4>().is_ok()
        {
            return u.clone();
        }
        format!("http://{local}:{}", self.http_port())
    }

    /// The address this box uses to reach `peer` (the bound HTTP address when it is
    /// specific; else the kernel's choice of source address; loopback as the last resort).
    pub fn local_ip_towards(&self, peer: Option<IpAddr>) -> IpAddr {
        let bound = self.inner.http_addr.ip();
        if !bound.is_unspecified() {
            return bound;
        }
        peer.and_then(route_source).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }
}

/// The source address the kernel would use to send to `peer` (no packet is sent: connecting
/// a UDP socket only looks up the route).
pub fn route_source(peer: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if peer.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { "[::]:0".parse().ok()? };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect(SocketAddr::new(peer, 9)).ok()?;
    Some(s.local_addr().ok()?.ip()).filter(|ip| !ip.is_unspecified())
}

fn split_host(h: &str) -> (&str, Option<u16>) {
    if let Some(rest) = h.strip_prefix('[') {
        let (name, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (name, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match h.rsplit_once(':') {
        Some((name, port)) => (name, port.parse().ok()),
        None => (h, None),
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn hdhr(base: Option<&str>, bound: &str) -> Hdhr {
        let db = Db::open_in_memory().unwrap();
        let id = Identity::load_or_create(&db, "T", 0).await.unwrap();
        let clock = std::sync::Arc::new(crate::clock::SystemClock);
        Hdhr::new(id, 2, db, StreamHub::new(), base.map(str::to_owned), bound.parse().unwrap(), clock)
    }

    #[tokio::test]
    async fn urls_come_from_config_then_host_and_never_say_localhost() {
        let h = hdhr(Some("http://192.168.1.9:5004/"), "0.0.0.0:5004").await;
        assert_eq!(h.base_url_for_request(Some("x:1"), None), "http://192.168.1.9:5004");
        assert_eq!(h.base_url_for_udp(Ipv4Addr::new(10, 0, 0, 1)), "http://192.168.1.9:5004");
        let h = hdhr(None, "127.0.0.1:8080").await;
        assert_eq!(h.base_url_for_request(Some("tv.lan:8080"), None), "http://tv.lan:8080");
        assert_eq!(h.base_url_for_request(Some("localhost:8080"), None), "http://127.0.0.1:8080");
        assert_eq!(h.base_url_for_request(Some("Retrovue.local:8080"), None), "http://127.0.0.1:8080");
        assert_eq!(h.base_url_for_request(None, None), "http://127.0.0.1:8080");
        assert_eq!(h.base_url_for_udp(Ipv4Addr::new(10, 0, 0, 1)), "http://10.0.0.1:8080");
        let h = hdhr(None, "0.0.0.0:80").await;
        let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        assert_eq!(h.base_url_for_request(Some("localhost"), Some(peer)), "http://127.0.0.1:80");
        assert!(h.base_url_for_udp(Ipv4Addr::new(255, 255, 255, 255)).len() <= 28);
    }
}
