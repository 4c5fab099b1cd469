//! Support for the HDHomeRun tests: a private network namespace runner, a tiny HTTP/1.0
//! client, and channels written straight into a daemon's database.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Set inside the re-executed test process that runs in a private network namespace.
const NETNS_ENV: &str = "RETROVUE_TEST_IN_NETNS";

/// Run the calling test inside a private network namespace (`unshare -n`, loopback up with
/// multicast). Returns `true` in the namespaced child, which must then run the test body;
/// returns `false` in the parent once the child passed. Never touches the host network.
/// Callers are `#[ignore]`d (see `tests/util`): run on purpose, a test that cannot make its
/// namespace fails saying why; it never passes without running.
pub fn in_private_netns(test_name: &str) -> bool {
    if std::env::var_os(NETNS_ENV).is_some() {
        for args in [
            &["link", "set", "lo", "up"][..],
            &["link", "set", "lo", "multicast", "on"],
            &["route", "add", "224.0.0.0/4", "dev", "lo"],
        ] {
            let st = Command::new("ip").args(args).status().expect("run ip");
            assert!(st.success(), "ip {args:?} failed inside the namespace");
        }
        return true;
    }
    let probe = Command::new("unshare").args(["-n", "true"]).output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "{test_name}: `unshare -n` is not permitted here (needs root or user namespaces), and this test never \
         runs on the host network: run it where namespaces work (scripts/test.sh does, with --ignored)"
    );
    let exe = std::env::current_exe().expect("test executable");
    let out = Command::new("unshare")
        .arg("-n")
        .arg(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1", "--include-ignored"])
        .env(NETNS_ENV, "1")
        .output()
        .expect("run the test inside unshare -n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{test_name} failed inside the namespace:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{test_name} did not run inside the namespace:\n{stdout}\n{stderr}");
    false
}

/// A complete HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
}

/// Send one HTTP/1.0 request to `addr` (`ip:port`) and read the whole reply (at most
/// `limit` body bytes, then the connection is dropped, as a client that stops watching).
pub fn request(addr: &str, method: &str, path: &str, limit: usize) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: retrovue-test\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = s.read(&mut buf).expect("read");
        if n == 0 {
            break None;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break Some(p);
        }
    };
    let head_end = head_end.unwrap_or_else(|| panic!("no HTTP head: {}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < limit {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    body.truncate(limit);
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap();
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().into(), v.trim().into())).collect();
    Reply { status, headers, body }
}

/// GET with no body limit worth mentioning (JSON and XML endpoints).
pub fn get(addr: &str, path: &str) -> Reply {
    request(addr, "GET", path, 1 << 20)
}

/// Add channels (number, name) to the database of a Retrovue data dir.
pub fn add_channels(data_dir: &Path, channels: &[(&str, &str)]) -> Vec<retrovue::lineup::ChannelId> {
    use retrovue::lineup::store::{NewChannel, insert};
    let db = retrovue::db::Db::open(&data_dir.join("retrovue.db")).expect("open db");
    db.call_blocking(|c| {
        channels
            .iter()
            .map(|(number, name)| {
                let new = NewChannel {
                    number: number.parse().unwrap(),
                    name: (*name).into(),
                    call_sign: String::new(),
                    logo: None,
                    settings: Default::default(),
                };
                insert(c, &new, 0).expect("insert channel").id
            })
            .collect()
    })
}

/// Open a streaming request and keep the connection: (status, headers, the open stream
/// positioned after the head, any body bytes already read).
pub fn open(addr: &str, path: &str) -> (u16, Vec<(String, String)>, TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: Lavf/60\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        let n = s.read(&mut buf).expect("read head");
        assert!(n > 0, "connection closed before the head: {}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap();
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().into(), v.trim().into())).collect();
    (status, headers, s, raw[end + 4..].to_vec())
}
