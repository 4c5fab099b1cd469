//! The one rule for the absolute base URL the box hands out: `discover.json`, lineup and stream
//! URLs and the UDP discovery reply (`hdhr`), the M3U and XMLTV links and icons (`guide`), and
//! the URLs the web page tells the user to give Plex (`web`). One rule, so a client never sees
//! two addresses for the same box.
//!
//! 1. `server.base_url`, when set, wins everywhere (the UDP reply takes it only when it is a
//!    numeric `http://a.b.c.d:port`, see [`BaseUrl::for_udp`]).
//! 2. Else the request's `Host` header — except `localhost` and `.local` names: `localhost` is
//!    useless to another machine and `.local` needs mDNS, which not every media server resolves
//!    (`reference/hdhomerun.md` §8, §9.2), so those become the numeric address the box uses
//!    towards the client, with the port the client named.
//! 3. Without a `Host`, the numeric address of the interface towards the client (or, without a
//!    client, towards the LAN: the kernel's route to a documentation address, looked up
//!    without sending anything), with the port the HTTP server is bound to.
//!
//! The interface is found without `IP_PKTINFO` (which would need unsafe code): a connected,
//! never-used UDP socket towards the peer gets the source address the kernel picks for the
//! reply, which is exactly the address the client will see.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

/// A unicast address no one owns (TEST-NET-1, RFC 5737): the route towards it is the route
/// towards the LAN. Only looked up, never sent to.
const ROUTE_PROBE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// The base-URL rule of one running server (or of the CLI, which names no client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    configured: Option<String>,
    bound: SocketAddr,
}

impl BaseUrl {
    /// The rule for a server bound to `bound` with `server.base_url` = `configured`.
    pub fn new(configured: Option<&str>, bound: SocketAddr) -> Self {
        let configured = configured.map(|u| u.trim_end_matches('/').to_owned()).filter(|u| !u.is_empty());
        Self { configured, bound }
    }

    /// The rule of a configuration (the CLI: the address the daemon would listen on).
    pub fn of(config: &super::Config) -> Self {
        Self::new(config.server.base_url.as_deref(), config.server.listen)
    }

    /// The port of the HTTP server.
    pub fn http_port(&self) -> u16 {
        self.bound.port()
    }

    /// The base URL for an HTTP request that named `host` (its `Host` header) and came from
    /// `peer` (either may be unknown).
    pub fn for_request(&self, host: Option<&str>, peer: Option<SocketAddr>) -> String {
        if let Some(u) = &self.configured {
            return u.clone();
        }
        let local = || self.local_ip_towards(peer.map(|p| p.ip()));
        match host.filter(|h| plain_host(h)) {
            Some(h) => {
                let (name, port) = split_host(h);
                let name = name.to_ascii_lowercase();
                let numeric = name == "localhost" || name.ends_with(".localhost") || name.ends_with(".local");
                if numeric {
                    format!("http://{}", SocketAddr::new(local(), port.unwrap_or(80)))
                } else {
                    format!("http://{h}")
                }
            }
            None => self.for_interface(local()),
        }
    }

    /// The base URL for clients reached through the interface whose address is `local`
    /// (`server.base_url` wins).
    pub fn for_interface(&self, local: IpAddr) -> String {
        match &self.configured {
            Some(u) => u.clone(),
            None => format!("http://{}", SocketAddr::new(local, self.bound.port())),
        }
    }

    /// The numeric-IPv4 base URL for a UDP discovery reply sent from `local`: at most 28
    /// characters (`http://` + dotted quad + `:` + port), because older libhdhomerun copies
    /// drop longer values (`reference/hdhomerun.md` §2.5). `server.base_url` wins when it is
    /// itself such a URL.
    pub fn for_udp(&self, local: Ipv4Addr) -> String {
        if let Some(u) = &self.configured
            && let Some(rest) = u.strip_prefix("http://")
            && rest.parse::<SocketAddrV4>().is_ok()
        {
            return u.clone();
        }
        format!("http://{local}:{}", self.bound.port())
    }

    /// The address this box uses to reach `peer`: the bound address when it is specific, else
    /// the kernel's choice of source address (towards the LAN when there is no peer), loopback
    /// as the last resort.
    pub fn local_ip_towards(&self, peer: Option<IpAddr>) -> IpAddr {
        let bound = self.bound.ip();
        if !bound.is_unspecified() {
            return bound;
        }
        route_source(peer.unwrap_or(ROUTE_PROBE)).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
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

/// A `Host` value fit to put in a URL: a name or address with an optional port, nothing else.
fn plain_host(h: &str) -> bool {
    !h.is_empty() && h.len() < 256 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_come_from_config_then_host_and_never_say_localhost() {
        let r = BaseUrl::new(Some("http://192.168.1.9:5004/"), "0.0.0.0:5004".parse().unwrap());
        assert_eq!(r.for_request(Some("x:1"), None), "http://192.168.1.9:5004");
        assert_eq!(r.for_udp(Ipv4Addr::new(10, 0, 0, 1)), "http://192.168.1.9:5004");
        let r = BaseUrl::new(Some("http://tv.lan"), "0.0.0.0:80".parse().unwrap());
        assert_eq!(r.for_udp(Ipv4Addr::new(10, 0, 0, 1)), "http://10.0.0.1:80", "a name never goes in the UDP reply");
        let r = BaseUrl::new(None, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(r.for_request(Some("tv.lan:8080"), None), "http://tv.lan:8080");
        assert_eq!(r.for_request(Some("localhost:8080"), None), "http://127.0.0.1:8080");
        assert_eq!(r.for_request(Some("Retrovue.local:8080"), None), "http://127.0.0.1:8080");
        assert_eq!(r.for_request(Some("evil/x@y"), None), "http://127.0.0.1:8080", "junk Host is ignored");
        assert_eq!(r.for_request(None, None), "http://127.0.0.1:8080");
        assert_eq!(r.for_udp(Ipv4Addr::new(10, 0, 0, 1)), "http://10.0.0.1:8080");
        let r = BaseUrl::new(None, "0.0.0.0:80".parse().unwrap());
        let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        assert_eq!(r.for_request(Some("localhost"), Some(peer)), "http://127.0.0.1:80");
        assert_eq!(r.for_request(None, Some(peer)), "http://127.0.0.1:80");
        assert!(r.for_udp(Ipv4Addr::new(255, 255, 255, 255)).len() <= 28);
        let r = BaseUrl::new(Some(""), "[::1]:8080".parse().unwrap());
        assert_eq!(r.for_request(None, None), "http://[::1]:8080", "an empty base_url is no base_url");
    }
}
