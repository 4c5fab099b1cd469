//! SSDP (spec §5), which Plex uses to auto-detect the tuner and to check it is alive.
//!
//! Two independent halves, following the two switches of `[device]`:
//! - answering `M-SEARCH` (`ssdp:all`, `upnp:rootdevice`, the MediaServer:1 type, our
//!   `uuid:`) runs with `discovery`: it is a responder like UDP 65001, replying unicast to the
//!   searcher after a random delay of at most `MX` seconds;
//! - `NOTIFY ssdp:alive` at start and every [`ALIVE_INTERVAL`], `ssdp:byebye` at shutdown,
//!   runs with `announce` (it multicasts unprompted, so `--no-announce` turns it off).
//!
//! The socket joins 239.255.255.250 on the interface of the HTTP listener's IP (on every
//! non-loopback IPv4 interface when that is 0.0.0.0, announcing on each with that
//! interface's address in `LOCATION`); a daemon bound to loopback ignores searches from
//! anywhere but loopback, so development never answers the LAN. `SERVER` names HDHomeRun
//! (old Emby matched on it) and `LOCATION` points at `/device.xml`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::Hdhr;

/// The SSDP multicast group.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);
/// The SSDP port.
pub const PORT: u16 = 1900;
/// Period of `ssdp:alive` (well inside `max-age`).
pub const ALIVE_INTERVAL: Duration = Duration::from_secs(120);
/// `SERVER` header.
pub const SERVER: &str = "Linux/6 UPnP/1.0 HDHomeRun/1.0";
/// Our UPnP device type.
pub const MEDIA_SERVER: &str = "urn:schemas-upnp-org:device:MediaServer:1";
/// Searches answered at once (a flood cannot make us flood).
const MAX_PENDING_REPLIES: usize = 32;

/// The bound SSDP socket and which halves run.
pub struct Ssdp {
    socket: Arc<UdpSocket>,
    bind_ip: IpAddr,
    /// The interfaces (by IPv4 address) joined and announced on.
    ifaces: Vec<Ipv4Addr>,
    answer: bool,
    announce: bool,
}

impl Ssdp {
    /// Bind UDP 1900 (shared with other UPnP stacks) and join the group.
    pub fn bind(bind_ip: IpAddr, answer: bool, announce: bool) -> std::io::Result<Self> {
        let mut ifaces = match bind_ip {
            IpAddr::V4(v4) if !v4.is_unspecified() => vec![v4],
            _ => if_addrs::get_if_addrs()?
                .into_iter()
                .filter(|i| !i.is_loopback())
                .filter_map(|i| match i.ip() {
                    IpAddr::V4(v4) => Some(v4),
                    IpAddr::V6(_) => None,
                })
                .collect(),
        };
        if ifaces.is_empty() {
            ifaces.push(Ipv4Addr::UNSPECIFIED);
        }
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_reuse_address(true)?;
        s.set_reuse_port(true)?;
        s.set_nonblocking(true)?;
        s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).into())?;
        let mut joined = Vec::new();
        let mut last_err = None;
        for iface in ifaces {
            match s.join_multicast_v4(&GROUP, &iface) {
                Ok(()) => joined.push(iface),
                Err(e) => last_err = Some(e),
            }
        }
        if joined.is_empty() {
            return Err(last_err.unwrap_or_else(|| std::io::Error::other("no interface to join")));
        }
        s.set_multicast_ttl_v4(2)?;
        s.set_multicast_loop_v4(true)?;
        let socket = UdpSocket::from_std(s.into())?;
        Ok(Self { socket: Arc::new(socket), bind_ip, ifaces: joined, answer, announce })
    }

    /// Serve until `shutdown`, then say goodbye.
    pub async fn run(self, hdhr: Hdhr, shutdown: CancellationToken) {
        tracing::info!(answer = self.answer, announce = self.announce, "SSDP on");
        let uuid = format!("uuid:{}", hdhr.identity().device_id.uuid());
        let mut alive = tokio::time::interval(ALIVE_INTERVAL);
        let pending = Arc::new(Semaphore::new(MAX_PENDING_REPLIES));
        let mut buf = vec![0u8; 2048];
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = alive.tick(), if self.announce => self.announce_all(&hdhr, &uuid, "ssdp:alive").await,
                r = self.socket.recv_from(&mut buf) => {
                    let Ok((n, from)) = r else { continue };
                    if !self.answer || (self.bind_ip.is_loopback() && !from.ip().is_loopback()) {
                        continue;
                    }
                    let Some(search) = Search::parse(&buf[..n]) else { continue };
                    let sts = search.answers(&uuid);
                    if sts.is_empty() {
                        continue;
                    }
                    let Ok(permit) = pending.clone().try_acquire_owned() else { continue };
                    let loc = format!("{}/device.xml", hdhr.urls().for_request(None, Some(from)));
                    let date = http_date(hdhr.clock().now());
                    let replies: Vec<String> = sts.iter().map(|st| response(st, &uuid, &loc, &date)).collect();
                    let delay = Duration::from_millis(rand::thread_rng().gen_range(0..=search.mx * 1000));
                    let (socket, stop) = (self.socket.clone(), shutdown.clone());
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = stop.cancelled() => {}
                            _ = tokio::time::sleep(delay) => for r in replies {
                                let _ = socket.send_to(r.as_bytes(), from).await;
                            },
                        }
                        drop(permit);
                    });
                }
            }
        }
        if self.announce {
            self.announce_all(&hdhr, &uuid, "ssdp:byebye").await;
        }
    }

    /// Send `nts` for each of our notification types out of every joined interface.
    async fn announce_all(&self, hdhr: &Hdhr, uuid: &str, nts: &str) {
        let group = SocketAddr::from((GROUP, PORT));
        for &iface in &self.ifaces {
            let location = if iface.is_unspecified() {
                format!("{}/device.xml", hdhr.urls().for_request(None, Some(group)))
            } else {
                format!("{}/device.xml", hdhr.urls().for_interface(IpAddr::V4(iface)))
            };
            if let Err(e) = socket2::SockRef::from(&*self.socket).set_multicast_if_v4(&iface) {
                tracing::debug!(%iface, "SSDP: cannot select interface: {e}");
                continue;
            }
            for nt in notification_types(uuid) {
                if let Err(e) = self.socket.send_to(notify(&nt, uuid, nts, &location).as_bytes(), group).await {
                    tracing::debug!(%iface, "SSDP NOTIFY failed: {e}");
                }
            }
        }
    }
}

fn notification_types(uuid: &str) -> [String; 3] {
    ["upnp:rootdevice".to_owned(), uuid.to_owned(), MEDIA_SERVER.to_owned()]
}

fn usn(uuid: &str, st: &str) -> String {
    if st == uuid { uuid.to_owned() } else { format!("{uuid}::{st}") }
}

/// A `NOTIFY` message.
pub fn notify(nt: &str, uuid: &str, nts: &str, location: &str) -> String {
    format!(
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\nLOCATION: {location}\r\n\
         NT: {nt}\r\nNTS: {nts}\r\nSERVER: {SERVER}\r\nUSN: {}\r\n\r\n",
        usn(uuid, nt)
    )
}

/// The unicast answer to an `M-SEARCH`.
pub fn response(st: &str, uuid: &str, location: &str, date: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nDATE: {date}\r\nEXT:\r\nLOCATION: {location}\r\n\
         SERVER: {SERVER}\r\nST: {st}\r\nUSN: {}\r\n\r\n",
        usn(uuid, st)
    )
}

/// An RFC 7231 date for the `DATE` header.
pub fn http_date(now: chrono::DateTime<chrono::Utc>) -> String {
    now.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// A parsed `M-SEARCH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The `ST` header.
    pub st: String,
    /// The `MX` header, capped at 5 s (default 1).
    pub mx: u64,
}

impl Search {
    /// Parse an `M-SEARCH * HTTP/1.1` with `MAN: "ssdp:discover"`; anything else is `None`.
    pub fn parse(datagram: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(datagram).ok()?;
        let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
        if !lines.next()?.trim().eq_ignore_ascii_case("M-SEARCH * HTTP/1.1") {
            return None;
        }
        let (mut st, mut mx, mut man) = (None, 1, false);
        for line in lines {
            let Some((k, v)) = line.split_once(':') else { continue };
            let v = v.trim();
            match k.trim().to_ascii_uppercase().as_str() {
                "ST" => st = Some(v.to_owned()),
                "MX" => mx = v.parse::<u64>().ok()?.min(5),
                "MAN" => man = v.trim_matches('"') == "ssdp:discover",
                _ => {}
            }
        }
        man.then_some(Self { st: st?, mx })
    }

    /// The `ST`s to answer with (one reply each): all three of ours for `ssdp:all`, the
    /// one asked for when it is ours, none otherwise.
    pub fn answers(&self, uuid: &str) -> Vec<String> {
        let st = self.st.as_str();
        if st == "ssdp:all" {
            notification_types(uuid).to_vec()
        } else if st == "upnp:rootdevice" || st.eq_ignore_ascii_case(MEDIA_SERVER) || st == uuid {
            vec![st.to_owned()]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_datagram_parses_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Some(s) = Search::parse(&bytes) {
                prop_assert!(s.mx <= 5);
                let _ = s.answers("uuid:x");
            }
        }

        #[test]
        fn header_soup_parses_without_panicking(lines in proptest::collection::vec("[ -~]{0,40}", 0..12), mx in "[ -~]{0,6}") {
            let msg = format!("M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\nMX: {mx}\r\n{}\r\n\r\n", lines.join("\r\n"));
            let _ = Search::parse(msg.as_bytes());
        }
    }

    #[test]
    fn searches_for_us_are_recognised_and_others_are_not() {
        let uuid = "uuid:1050abce-5265-4000-8000-00001050abce";
        let msg = |st: &str, man: &str| {
            format!("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: {man}\r\nMX: 9\r\nST: {st}\r\n\r\n")
        };
        let s = Search::parse(msg("ssdp:all", "\"ssdp:discover\"").as_bytes()).unwrap();
        assert_eq!(s.mx, 5);
        assert_eq!(s.answers(uuid), ["upnp:rootdevice", uuid, MEDIA_SERVER]);
        for st in ["upnp:rootdevice", MEDIA_SERVER, uuid] {
            let s = Search::parse(msg(st, "\"ssdp:discover\"").as_bytes()).unwrap();
            assert_eq!(s.answers(uuid), [st]);
        }
        let other = Search::parse(msg("urn:dial-multiscreen-org:service:dial:1", "\"ssdp:discover\"").as_bytes());
        assert!(other.unwrap().answers(uuid).is_empty());
        assert!(Search::parse(msg("ssdp:all", "\"ssdp:other\"").as_bytes()).is_none());
        assert!(Search::parse(b"NOTIFY * HTTP/1.1\r\n\r\n").is_none());
        assert!(Search::parse(&[0xFF, 0xFE]).is_none());
        let r = response(uuid, uuid, "http://10.0.0.2/device.xml", "Mon, 23 Nov 2026 22:00:00 GMT");
        assert!(r.contains(&format!("\r\nUSN: {uuid}\r\n")) && r.contains("HDHomeRun"));
        let n = notify(MEDIA_SERVER, uuid, "ssdp:alive", "http://10.0.0.2/device.xml");
        assert!(n.contains(&format!("USN: {uuid}::{MEDIA_SERVER}")));
    }
}
