//! The daemon under systemd's protocol, as on the appliance (`systemd/retrovue.service`,
//! `Type=notify`, `WatchdogSec=`): a notify socket stands in for PID 1 and records what the
//! daemon says: status while starting, READY=1 once serving, WATCHDOG=1 at half the
//! interval, STOPPING=1 on SIGTERM, then a clean exit with the database flushed.

mod util;

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use util::{Daemon, Home, bin};

/// Messages received on the notify socket within `window`, one entry per datagram.
fn receive(sock: &UnixDatagram, window: Duration, until: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + window;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !until(&got) {
        sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

fn count(msgs: &[String], line: &str) -> usize {
    msgs.iter().filter(|m| m.lines().any(|l| l == line)).count()
}

#[test]
fn daemon_speaks_sd_notify_feeds_the_watchdog_and_stops_cleanly() {
    let home = Home::new();
    let sock_path = home.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();

    // systemd passes WATCHDOG_PID with WATCHDOG_USEC; the shell learns the PID the daemon
    // will have by exec'ing it.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\""])
        .arg(bin())
        .current_dir(home.path())
        .env("RETROVUE_DATA_DIR", home.data_dir())
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "1000000");
    let mut daemon = Daemon::start(cmd, &["serve", "--listen", "127.0.0.1:0", "--no-announce", "--no-discovery"]);

    let msgs = receive(&sock, Duration::from_secs(10), |m| count(m, "WATCHDOG=1") >= 3);
    let ready = msgs.iter().position(|m| m.lines().any(|l| l == "READY=1")).unwrap_or_else(|| {
        panic!("no READY=1 in {msgs:?}; stderr:\n{}", daemon.stderr());
    });
    let starting = msgs.iter().position(|m| m.contains("STATUS=starting")).expect("a starting status");
    assert!(starting < ready, "status while starting comes before READY: {msgs:?}");
    let status = msgs[ready].lines().find_map(|l| l.strip_prefix("STATUS=")).expect("READY carries a status");
    assert!(status.starts_with(&format!("serving on http://{}", daemon.addr)), "{status}");
    assert!(status.contains("clock"), "the status says how far the clock is trusted: {status}");
    // WatchdogSec=1s: pings every 0.5 s, so at least 3 arrive well within 10 s, all after READY.
    assert!(count(&msgs[ready..], "WATCHDOG=1") >= 3, "watchdog not fed: {msgs:?}");

    assert!(daemon.terminate(Duration::from_secs(20)), "no clean exit on SIGTERM; stderr:\n{}", daemon.stderr());
    let rest = receive(&sock, Duration::from_secs(2), |m| count(m, "STOPPING=1") >= 1);
    assert_eq!(count(&rest, "STOPPING=1"), 1, "{rest:?}");
    let log = daemon.stderr();
    assert!(log.contains("database flushed"), "{log}");
    let wal = home.data_dir().join("retrovue.db-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "the write-ahead log is written back at shutdown");
}

#[test]
fn without_systemd_the_daemon_runs_and_stops_the_same() {
    let home = Home::new();
    let mut daemon = home.serve(&[]);
    let body = Command::new("curl").args(["-fsS", &daemon.url("/health")]).output().expect("curl");
    assert!(body.status.success());
    assert!(daemon.terminate(Duration::from_secs(20)), "stderr:\n{}", daemon.stderr());
    assert!(!daemon.stderr().contains("watchdog"), "no watchdog without WATCHDOG_USEC");
}

#[test]
fn a_connection_left_open_does_not_hold_shutdown() {
    use std::io::{Read as _, Write as _};

    let home = Home::new();
    let mut daemon = home.serve(&[]);
    // A client that never finishes its request (or a viewer whose stream never ends) keeps
    // graceful shutdown waiting; the daemon gives connections a grace period, then closes them.
    let mut conn = std::net::TcpStream::connect(&daemon.addr).unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: retrovue\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    assert!(daemon.terminate(Duration::from_secs(20)), "stderr:\n{}", daemon.stderr());
    let took = start.elapsed();
    assert!(took < Duration::from_secs(15), "shutdown took {took:?}");
    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 64];
    match conn.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("connection still answered {n} bytes after exit"),
    }
    let log = daemon.stderr();
    assert!(log.contains("closing them"), "{log}");
    assert!(log.contains("database flushed"), "{log}");
}
