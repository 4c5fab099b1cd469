//! UDP discovery on port 65001 (spec §2.4–§2.6): every request form real clients send is
//! parsed by [`wire::DiscoverRequest`]; a matching request gets a reply unicast to its source
//! address and port, with DEVICE_TYPE=1, DEVICE_ID, TUNER_COUNT, a numeric-IPv4 BASE_URL of
//! the interface the request came in on, LINEUP_URL and DEVICE_AUTH_STR. Anything malformed
//! is dropped silently (a rate-limited debug line at most). Only answers; never broadcasts.
//!
//! IPv6 (spec §2.6): when the HTTP listener is on all interfaces, a second socket on
//! `[::]:65001` joins `ff02::176` and `ff05::176` on every interface with IPv6, as
//! libhdhomerun ≥ 20221010 multicasts there too. Its replies still carry the numeric IPv4
//! BASE_URL of the interface the request came in on (old clients and Kodi cannot use
//! anything else); the interface is the link-local sender's scope, else the route's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::wire::{self, DiscoverReply, DiscoverRequest};
use super::{Hdhr, HdhrError};

/// The IPv6 groups libhdhomerun multicasts discovery requests to.
pub const GROUPS_V6: [Ipv6Addr; 2] =
    [Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x176), Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 0x176)];

/// Debug lines about dropped frames allowed per minute.
const DROP_LOGS_PER_MINUTE: u32 = 10;

/// The bound discovery socket.
pub struct Discovery {
    socket: UdpSocket,
}

impl Discovery {
    /// Bind the UDP socket (the HTTP listener's IP, port 65001; port 0 in tests).
    pub async fn bind(addr: SocketAddr) -> Result<Self, HdhrError> {
        let socket =
            UdpSocket::bind(addr).await.map_err(|source| HdhrError::Bind { what: "UDP discovery", addr, source })?;
        Ok(Self { socket })
    }

    /// Bind `[::]:port` (IPv6 only) and join the HDHomeRun groups on every IPv6 interface.
    pub fn bind_v6(port: u16) -> Result<Self, HdhrError> {
        use socket2::{Domain, Protocol, Socket, Type};
        let addr = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        let err = |source| HdhrError::Bind { what: "UDP discovery (IPv6)", addr, source };
        let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
        s.set_only_v6(true).map_err(err)?;
        s.set_nonblocking(true).map_err(err)?;
        s.bind(&addr.into()).map_err(err)?;
        let mut indices: Vec<u32> = if_addrs::get_if_addrs()
            .map_err(err)?
            .into_iter()
            .filter(|i| i.ip().is_ipv6())
            .filter_map(|i| i.index)
            .collect();
        indices.sort_unstable();
        indices.dedup();
        for index in indices {
            for group in GROUPS_V6 {
                if let Err(e) = s.join_multicast_v6(&group, index) {
                    tracing::debug!(index, %group, "cannot join: {e}");
                }
            }
        }
        Ok(Self { socket: UdpSocket::from_std(s.into()).map_err(err)? })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Answer requests until `shutdown`.
    pub async fn run(self, hdhr: Hdhr, shutdown: CancellationToken) {
        let bound = self.socket.local_addr().map(|a| a.ip()).ok();
        tracing::info!(addr = ?self.socket.local_addr().ok(), "HDHomeRun discovery listening");
        let mut buf = vec![0u8; wire::MAX_PACKET + 1];
        let mut drops = DropLog::default();
        loop {
            let (n, from) = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // ICMP errors from earlier replies surface here; keep serving.
                        drops.note(format_args!("recv error: {e}"));
                        continue;
                    }
                },
            };
            if n > wire::MAX_PACKET {
                drops.note(format_args!("{n}+ byte datagram from {from}"));
                continue;
            }
            let req = match DiscoverRequest::parse(&buf[..n]) {
                Ok(r) => r,
                Err(e) => {
                    drops.note(format_args!("from {from}: {e}"));
                    continue;
                }
            };
            if !req.matches(hdhr.identity().device_id.get()) {
                continue;
            }
            match reply_for(&hdhr, bound, from) {
                Some(frame) => {
                    if let Err(e) = self.socket.send_to(&frame, from).await {
                        drops.note(format_args!("reply to {from} failed: {e}"));
                    }
                }
                None => drops.note(format_args!("no IPv4 address towards {from}")),
            }
        }
    }
}

/// The reply frame for a request from `from`, received on a socket bound to `bound`.
fn reply_for(hdhr: &Hdhr, bound: Option<IpAddr>, from: SocketAddr) -> Option<Vec<u8>> {
    let v4 = match (bound, from) {
        (_, SocketAddr::V6(from)) => ipv4_of_interface_towards(from)?,
        (Some(IpAddr::V4(ip)), _) if !ip.is_unspecified() => ip,
        _ => match crate::config::urls::route_source(from.ip())? {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(_) => return None,
        },
    };
    let base = hdhr.urls().for_udp(v4);
    let lineup = format!("{base}/lineup.json");
    let id = hdhr.identity();
    DiscoverReply {
        device_id: id.device_id.get(),
        tuner_count: hdhr.tuner_count(),
        base_url: &base,
        lineup_url: &lineup,
        device_auth: &id.device_auth,
    }
    .encode()
    .ok()
}

/// The IPv4 address of the interface an IPv6 request from `from` came in on.
fn ipv4_of_interface_towards(from: SocketAddrV6) -> Option<Ipv4Addr> {
    let ifaces = if_addrs::get_if_addrs().ok()?;
    let index = if from.scope_id() != 0 {
        from.scope_id()
    } else {
        let probe = std::net::UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).ok()?;
        probe.connect(from).ok()?;
        let local = probe.local_addr().ok()?.ip();
        ifaces.iter().find(|i| i.ip() == local)?.index?
    };
    ifaces.iter().filter(|i| i.index == Some(index)).find_map(|i| match i.ip() {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    })
}

/// Logs dropped frames at debug level, at most [`DROP_LOGS_PER_MINUTE`] a minute, so a
/// flood of garbage cannot flood the log.
#[derive(Default)]
struct DropLog {
    window: Option<Instant>,
    count: u32,
}

impl DropLog {
    fn note(&mut self, what: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        if self.window.is_none_or(|w| now.duration_since(w) >= Duration::from_secs(60)) {
            self.window = Some(now);
            self.count = 0;
        }
        self.count += 1;
        if self.count <= DROP_LOGS_PER_MINUTE {
            tracing::debug!("discovery: dropped {what}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::{FrameBuilder, decode, kind, tag, tlvs};
    use super::*;
    use crate::db::Db;
    use crate::hdhr::Identity;
    use crate::stream::StreamHub;

    #[tokio::test]
    async fn answers_matching_requests_unicast_and_ignores_garbage() {
        let db = Db::open_in_memory().unwrap();
        let identity = Identity::load_or_create(&db, "T", 0).await.unwrap();
        let our_id = identity.device_id.get();
        let hdhr = Hdhr::new(
            identity,
            std::sync::Arc::new(crate::lineup::Lineup::default()),
            StreamHub::with_tuners(3),
            crate::config::BaseUrl::new(None, "127.0.0.1:8080".parse().unwrap()),
            std::sync::Arc::new(crate::clock::SystemClock),
        );
        let d = Discovery::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = d.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(d.run(hdhr, stop.clone()));
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 1500];
        // Garbage, a bad CRC and a storage-only request get nothing; the Jellyfin packet
        // sent afterwards gets the first (and only) reply.
        client.send_to(b"hello", addr).await.unwrap();
        let mut bad = FrameBuilder::new(kind::DISCOVER_REQ).finish();
        bad[4] ^= 0xFF;
        client.send_to(&bad, addr).await.unwrap();
        let mut storage = FrameBuilder::new(kind::DISCOVER_REQ);
        storage.push_u32(tag::DEVICE_TYPE, 5).unwrap();
        client.send_to(&storage.finish(), addr).await.unwrap();
        let jellyfin = [0, 2, 0, 12, 1, 4, 255, 255, 255, 255, 2, 4, 255, 255, 255, 255, 0x73, 0xCC, 0x7D, 0x8F];
        client.send_to(&jellyfin, addr).await.unwrap();
        let (n, from) =
            tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf)).await.unwrap().unwrap();
        assert_eq!(from, addr);
        let f = decode(&buf[..n]).unwrap();
        assert_eq!(f.kind, kind::DISCOVER_RPY);
        let items: Vec<_> = tlvs(f.payload).map(Result::unwrap).collect();
        let get = |t: u8| items.iter().find(|i| i.tag == t).map(|i| i.value.to_vec()).unwrap();
        assert_eq!(get(tag::DEVICE_ID), our_id.to_be_bytes());
        assert_eq!(get(tag::TUNER_COUNT), [3]);
        assert_eq!(get(tag::BASE_URL), b"http://127.0.0.1:8080");
        assert_eq!(get(tag::LINEUP_URL), b"http://127.0.0.1:8080/lineup.json");
        // Nothing else is queued.
        assert!(tokio::time::timeout(Duration::from_millis(200), client.recv_from(&mut buf)).await.is_err());
        stop.cancel();
        task.await.unwrap();
    }
}
