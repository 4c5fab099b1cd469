//! The HDHomeRun emulation seen by real clients: `hdhomerun_config` (UDP discovery + TCP
//! control), Jellyfin's 20-byte probe, Plex's HTTP setup sequence, SSDP and mDNS. Anything
//! on the fixed port 65001 or multicast runs inside a private network namespace.

mod hdhr_support;
mod util;

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use hdhr_support::{add_channels, get, in_private_netns, request};
use serde_json::Value;
use util::{Daemon, Home};

fn is_absolute_http(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.starts_with("http://") && !s.contains("localhost") && !s.contains('?'))
}

/// Check discover.json field by field (spec §4.1); returns the DeviceID.
fn check_discover(addr: &str) -> String {
    let r = get(addr, "/discover.json");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let d = r.json();
    for key in ["FriendlyName", "ModelNumber", "FirmwareName", "FirmwareVersion", "DeviceID", "DeviceAuth"] {
        assert!(d[key].is_string(), "{key} must be a string: {d}");
    }
    assert!(d["TunerCount"].is_u64(), "TunerCount must be an integer: {d}");
    assert!(is_absolute_http(&d["BaseURL"]) && is_absolute_http(&d["LineupURL"]), "{d}");
    assert_eq!(d["BaseURL"], format!("http://{addr}"));
    assert_eq!(d["LineupURL"], format!("http://{addr}/lineup.json"));
    assert_eq!(d["DeviceAuth"].as_str().unwrap().len(), 24);
    let id = d["DeviceID"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 8);
    assert!(id.starts_with("105"), "{id}");
    id
}

/// Check lineup.json field by field (spec §4.2); returns the URLs.
fn check_lineup(addr: &str, numbers: &[&str]) -> Vec<String> {
    let r = get(addr, "/lineup.json");
    assert_eq!(r.status, 200);
    let l = r.json();
    let items = l.as_array().expect("lineup.json is an array");
    let got: Vec<&str> = items.iter().map(|c| c["GuideNumber"].as_str().expect("GuideNumber string")).collect();
    assert_eq!(got, numbers);
    for c in items {
        assert!(c["GuideName"].is_string() && c["VideoCodec"] == "H264" && c["AudioCodec"] == "AAC", "{c}");
        assert!(is_absolute_http(&c["URL"]), "{c}");
        assert!(c.get("HD").is_none_or(|h| h == 1), "{c}");
    }
    items.iter().map(|c| c["URL"].as_str().unwrap().to_owned()).collect()
}

#[test]
#[ignore = "needs a private network namespace (unshare -n: root or user namespaces); scripts/test.sh runs it with --ignored"]
fn hdhomerun_config_and_jellyfin_find_the_device_over_udp_65001() {
    if !in_private_netns("hdhomerun_config_and_jellyfin_find_the_device_over_udp_65001") {
        return;
    }
    let home = Home::new();
    add_channels(&home.data_dir(), &[("5", "Sitcom Gold"), ("12", "Movies")]);
    let d = util::serve_discoverable(&home, &[]);
    let id = check_discover(&d.addr);

    let out = Command::new("hdhomerun_config").args(["discover", "127.0.0.1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("hdhomerun device {id} found at 127.0.0.1")), "{stdout}");

    let cfg = |args: &[&str]| {
        let out = Command::new("hdhomerun_config").arg("127.0.0.1").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(cfg(&["get", "/sys/model"]), "hdhomerun5_atsc");
    assert_eq!(cfg(&["get", "/sys/hwmodel"]), "HDHR5-4US");
    assert_eq!(cfg(&["get", "/sys/version"]), "20250506");
    assert_eq!(cfg(&["get", "/tuner0/status"]), "ch=none lock=none ss=0 snq=0 seq=0 bps=0 pps=0");
    assert_eq!(cfg(&["get", "/lineup/scan"]), "state=complete progress=100 found=2");
    // Items clients and scripts read (issue #19), answered as libhdhomerun parses them.
    assert_eq!(cfg(&["get", "/tuner0/vstatus"]), "vch=none auth=none cci=none cgms=none");
    assert_eq!(cfg(&["get", "/tuner0/channelmap"]), "us-cable");
    assert_eq!(cfg(&["get", "/tuner1/filter"]), "0x0000-0x1fff");
    assert_eq!(cfg(&["get", "/lineup/location"]), "disabled");
    assert_eq!(cfg(&["get", "/sys/boot"]), "");
    assert!(cfg(&["get", "/sys/features"]).contains("channelmap: us-bcast us-cable"));
    // A tuned tuner (a viewer on channel 12 holds its lease while the request is open).
    let (status, _, viewer, _) = hdhr_support::open(&d.addr, "/auto/v12");
    assert_eq!(status, 200);
    assert_eq!(
        cfg(&["get", "/tuner0/vstatus"]),
        "vch=12 name=Movies auth=subscribed cci=unrestricted cgms=unrestricted"
    );
    assert_eq!(cfg(&["get", "/tuner0/vchannel"]), "12");
    drop(viewer);
    assert!(cfg(&["get", "/sys/bogus"]).contains("ERROR: unknown getset variable"));
    assert!(cfg(&["set", "/tuner0/channel", "auto:5"]).contains("read-only"));

    // Jellyfin/Emby: the fixed 20-byte packet, a reply whose byte 1 is 3 and longer than 13
    // bytes, then http://<reply source>/discover.json and lineup.json.
    let probe = [0, 2, 0, 12, 1, 4, 255, 255, 255, 255, 2, 4, 255, 255, 255, 255, 0x73, 0xCC, 0x7D, 0x8F];
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock.send_to(&probe, "127.0.0.1:65001").unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = sock.recv_from(&mut buf).unwrap();
    assert!(buf[1] == 3 && n > 13, "{:?}", &buf[..n]);
    assert_eq!(from.ip().to_string(), "127.0.0.1");
    let base = format!("http://{}", d.addr);
    assert!(buf[..n].windows(base.len()).any(|w| w == base.as_bytes()), "reply carries BASE_URL {base}");
    check_discover(&d.addr);
    check_lineup(&d.addr, &["5", "12"]);
}

#[test]
fn plex_setup_sequence_and_lineup_formats() {
    let home = Home::new();
    add_channels(&home.data_dir(), &[("12", "Movies"), ("5", "Sitcom Gold"), ("5.1", "Sitcom & More")]);
    let d = home.serve(&[]);
    let addr = d.addr.as_str();
    let id = check_discover(addr);

    let status = get(addr, "/lineup_status.json").json();
    assert_eq!(status["ScanInProgress"], 0);
    assert_eq!(status["ScanPossible"], 1);
    assert!(status["Source"].is_string() && status["SourceList"].is_array(), "{status}");

    let urls = check_lineup(addr, &["5", "5.1", "12"]);
    assert_eq!(urls[1], format!("http://{addr}/auto/v5.1"));
    for show in ["found", "demo", "unprotected"] {
        assert_eq!(get(addr, &format!("/lineup.json?show={show}")).json().as_array().unwrap().len(), 3);
    }

    for (method, q) in [("POST", "scan=start&source=Cable"), ("GET", "scan=start"), ("POST", "scan=abort")] {
        let r = request(addr, method, &format!("/lineup.post?{q}"), 1024);
        assert!((200..300).contains(&r.status), "{method} {q}: {}", r.status);
        assert!(!r.body.is_empty() && r.body.len() < 64);
    }

    let xml = get(addr, "/device.xml");
    assert_eq!(xml.status, 200);
    let xml = xml.text();
    for needle in [
        "urn:schemas-upnp-org:device-1-0",
        "<deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType>",
        &format!("<URLBase>http://{addr}</URLBase>"),
        &format!("<UDN>uuid:{}-", id.to_lowercase()),
        "<modelNumber>HDHR5-4US</modelNumber>",
    ] {
        assert!(xml.contains(needle), "{needle} missing in {xml}");
    }
    assert_eq!(get(addr, "/capability").text(), xml);

    // Open a lineup URL: headers at once, MPEG-TS, no Content-Length; `duration` ends it.
    let path = urls[0].strip_prefix(&format!("http://{addr}")).unwrap();
    let start = Instant::now();
    let r = request(addr, "GET", &format!("{path}?duration=1&transcode=mobile"), 1 << 20);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("video/mp2t"));
    assert!(r.header("content-length").is_none());
    let took = start.elapsed();
    // At least the second asked for; at most that plus a cold channel's start on a busy box
    // (the point is that the stream ends, not how fast the channel starts).
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(15), "duration=1 took {took:?}");
    let head = request(addr, "HEAD", path, 0);
    assert_eq!((head.status, head.header("content-type")), (200, Some("video/mp2t")));
    let missing = request(addr, "GET", "/auto/v99", 1024);
    assert_eq!((missing.status, missing.header("x-hdhomerun-error")), (404, Some("801 Unknown Channel")));

    let m3u = get(addr, "/lineup.m3u").text();
    // The same renderer as /playlist.m3u (issue #16: one M3U), with tuner URLs; the display
    // name is the name alone (the number is in tvg-chno).
    assert!(m3u.starts_with(&format!("#EXTM3U x-tvg-url=\"http://{addr}/xmltv.xml\"")), "{m3u}");
    assert!(m3u.contains(&format!("\nhttp://{addr}/auto/v12\n")), "{m3u}");
    assert!(m3u.contains(&format!("tvg-logo=\"http://{addr}/logos/")) && m3u.contains(",Sitcom & More\n"), "{m3u}");
    let lx = get(addr, "/lineup.xml").text();
    assert!(lx.contains("<GuideName>Sitcom &amp; More</GuideName>"), "{lx}");

    // The identity survives a restart.
    drop(d);
    let again = home.serve(&[]);
    assert_eq!(check_discover(&again.addr), id);
}

#[test]
fn an_empty_lineup_still_lists_a_placeholder() {
    let home = Home::new();
    let d = home.serve(&[]);
    let l = get(&d.addr, "/lineup.json").json();
    assert_eq!(l.as_array().unwrap().len(), 1, "{l}");
    let url = l[0]["URL"].as_str().unwrap();
    let path = url.strip_prefix(&format!("http://{}", d.addr)).unwrap();
    assert_eq!(request(&d.addr, "GET", path, 64).status, 404);
}

/// A socket on the SSDP port that sees the group's traffic on loopback (as a Plex server
/// on the same LAN would).
fn ssdp_listener(iface: &str) -> UdpSocket {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    s.set_reuse_address(true).unwrap();
    s.set_reuse_port(true).unwrap();
    s.bind(&"0.0.0.0:1900".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    s.join_multicast_v4(&"239.255.255.250".parse().unwrap(), &iface.parse().unwrap()).unwrap();
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    s
}

/// Datagrams received on `s` within `window`, as text.
fn collect(s: &UdpSocket, window: Duration) -> Vec<String> {
    let end = Instant::now() + window;
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    out
}

#[test]
#[ignore = "needs a private network namespace (unshare -n: root or user namespaces); scripts/test.sh runs it with --ignored"]
fn ssdp_and_mdns_announce_and_answer_in_a_private_namespace() {
    if !in_private_netns("ssdp_and_mdns_announce_and_answer_in_a_private_namespace") {
        return;
    }
    let media_server = "urn:schemas-upnp-org:device:MediaServer:1";
    let group = ssdp_listener("127.0.0.1");
    let home = Home::new();
    home.write_config("[device]\nhostname = \"den-tv\"\nfriendly_name = \"Den TV\"\n");
    let mut d = util::serve_announcing(&home, &[]);
    let id = check_discover(&d.addr);
    let uuid = format!("uuid:{}-", id.to_lowercase());
    let location = format!("LOCATION: http://{}/device.xml", d.addr);

    // NOTIFY ssdp:alive for the root device, our uuid and the MediaServer type.
    let alive = collect(&group, Duration::from_secs(1));
    let alive: Vec<&String> = alive.iter().filter(|m| m.starts_with("NOTIFY") && m.contains("ssdp:alive")).collect();
    for nt in ["NT: upnp:rootdevice", &format!("NT: {uuid}"), &format!("NT: {media_server}")] {
        assert!(alive.iter().any(|m| m.contains(nt)), "no alive for {nt}: {alive:?}");
    }
    assert!(alive.iter().all(|m| m.contains(&location) && m.contains("SERVER: ") && m.contains("HDHomeRun")));

    // M-SEARCH: unicast answers within MX, LOCATION reachable.
    let searcher = UdpSocket::bind("127.0.0.1:0").unwrap();
    searcher.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    for (st, want) in [(media_server, 1), ("upnp:rootdevice", 1), ("ssdp:all", 3), ("urn:other:device:Printer:1", 0)] {
        let msg = format!(
            "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: {st}\r\n\r\n"
        );
        searcher.send_to(msg.as_bytes(), "239.255.255.250:1900").unwrap();
        let replies = collect(&searcher, Duration::from_millis(1500));
        assert_eq!(replies.len(), want, "{st}: {replies:?}");
        for r in &replies {
            assert!(r.starts_with("HTTP/1.1 200 OK\r\n") && r.contains(&location) && r.contains("HDHomeRun"), "{r}");
            assert!(r.contains(&format!("USN: {uuid}")) && r.contains("\r\nEXT:"), "{r}");
        }
    }
    assert!(get(&d.addr, "/device.xml").text().contains(&uuid));

    // mDNS: den-tv.local and an _http._tcp service for the web page.
    let mdns = mdns_sd::ServiceDaemon::new().unwrap();
    mdns.enable_interface(mdns_sd::IfKind::LoopbackV4).unwrap();
    let port: u16 = d.addr.rsplit(':').next().unwrap().parse().unwrap();
    let browse = mdns.browse("_http._tcp.local.").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let service = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match browse.recv_timeout(left) {
            Ok(mdns_sd::ServiceEvent::ServiceResolved(info)) => break info,
            Ok(_) => {}
            Err(e) => panic!("no _http._tcp service resolved: {e}"),
        }
    };
    assert_eq!(service.get_hostname(), "den-tv.local.");
    assert_eq!(service.get_port(), port);
    assert!(service.get_fullname().starts_with("Den TV."), "{}", service.get_fullname());
    let hosts = mdns.resolve_hostname("den-tv.local.", Some(5000)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(6);
    let found = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match hosts.recv_timeout(left) {
            Ok(mdns_sd::HostnameResolutionEvent::AddressesFound(_, addrs)) => break addrs,
            Ok(_) => {}
            Err(e) => panic!("den-tv.local not resolved: {e}"),
        }
    };
    assert!(found.iter().any(|a| a.to_string() == "127.0.0.1"), "{found:?}");
    let _ = mdns.shutdown();

    // Shutdown says goodbye.
    let _ = collect(&group, Duration::from_millis(10));
    assert!(d.terminate(Duration::from_secs(10)), "daemon did not exit cleanly");
    let bye = collect(&group, Duration::from_millis(500));
    assert!(bye.iter().any(|m| m.contains("ssdp:byebye") && m.contains(media_server)), "{bye:?}");
}

/// Send `request` from a fresh socket bound like `bind` to `to`; the reply's BASE_URL.
fn discover_via(bind: &str, to: &str) -> Option<String> {
    let sock = UdpSocket::bind(bind).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    // libhdhomerun >= 20221010 `discover`: TYPE wildcard only.
    let request = [0, 2, 0, 6, 1, 4, 255, 255, 255, 255, 0x4C, 0x20, 0xCB, 0x4E];
    sock.send_to(&request, to).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let reply = &buf[..n];
    assert_eq!(&reply[..2], &[0, 3]);
    // Walk the TLVs for BASE_URL (0x2A); every value here is shorter than 128 bytes.
    let mut i = 4;
    while i + 2 <= n - 4 {
        let (tag, len) = (reply[i], usize::from(reply[i + 1]));
        if tag == 0x2A {
            return Some(String::from_utf8(reply[i + 2..i + 2 + len].to_vec()).unwrap());
        }
        i += 2 + len;
    }
    None
}

#[test]
#[ignore = "needs a private network namespace (unshare -n: root or user namespaces); scripts/test.sh runs it with --ignored"]
fn on_all_interfaces_discovery_and_ssdp_use_each_interface_address() {
    if !in_private_netns("on_all_interfaces_discovery_and_ssdp_use_each_interface_address") {
        return;
    }
    // A private LAN: a veth pair with 10.99.0.1/24 and an IPv6 link-local address.
    let ip = |args: &str| assert!(Command::new("ip").args(args.split(' ')).status().unwrap().success(), "ip {args}");
    let st = Command::new("sysctl").args(["-q", "-w", "net.ipv6.conf.default.accept_dad=0"]).status().unwrap();
    assert!(st.success());
    ip("link add v0 type veth peer name v1");
    ip("addr add 10.99.0.1/24 dev v0");
    ip("link set v1 up");
    ip("link set v0 up");
    let index = util::wait_for(Duration::from_secs(5), || {
        let out = Command::new("ip").args(["-o", "-6", "addr", "show", "dev", "v0"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("fe80::").then(|| text.split(':').next().unwrap().trim().to_owned())
    })
    .expect("v0 link-local address");

    // On all interfaces, with announcements (mDNS included: the namespace is private).
    let notify = ssdp_listener("10.99.0.1");
    let home = Home::new();
    let d = Daemon::start_in(&home, &["serve", "--listen", "0.0.0.0:0"]);
    let port = d.addr.rsplit(':').next().unwrap().to_owned();
    let alive = collect(&notify, Duration::from_millis(500));
    let location = format!("LOCATION: http://10.99.0.1:{port}/device.xml");
    assert!(alive.iter().any(|m| m.contains("ssdp:alive") && m.contains(&location)), "{alive:?}");
    let lo = format!("http://127.0.0.1:{port}");
    let lan = format!("http://10.99.0.1:{port}");
    assert_eq!(discover_via("127.0.0.1:0", "127.0.0.1:65001").as_deref(), Some(lo.as_str()));
    assert_eq!(discover_via("10.99.0.1:0", "10.99.0.1:65001").as_deref(), Some(lan.as_str()));
    assert_eq!(discover_via("[::1]:0", "[::1]:65001").as_deref(), Some(lo.as_str()), "IPv6 unicast");
    let group = format!("[ff02::176%{index}]:65001");
    assert_eq!(discover_via("[::]:0", &group).as_deref(), Some(lan.as_str()), "IPv6 multicast ff02::176");

    // hdhomerun_config's broadcast discovery on the private LAN.
    let out = Command::new("hdhomerun_config").arg("discover").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = get(&d.addr, "/discover.json").json()["DeviceID"].as_str().unwrap().to_owned();
    assert!(stdout.contains(&format!("hdhomerun device {id} found at 10.99.0.1")), "{stdout}");
}
