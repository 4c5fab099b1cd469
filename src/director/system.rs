//! The daemon's side of systemd and of the appliance (`systemd/retrovue.service`):
//!
//! - `READY=1` once the database is migrated and HTTP is bound ([`ready`]), a `STATUS=` line
//!   for `systemctl status` that follows the clock state, and `STOPPING=1` at shutdown;
//! - the watchdog: with `WatchdogSec=` set, `WATCHDOG=1` every half interval, sent only
//!   while the daemon proves healthy (the database answers, the HTTP server answers
//!   `/health` on loopback), so a wedged daemon is restarted by systemd;
//! - the clock-sync monitor ([`crate::clock::sync`]) feeding [`App::clock_sync`];
//! - the last step of a clean shutdown: the database's WAL written back ([`flush`]);
//! - the data disk watch: a warning when the disk holding the database or the HLS segments
//!   fills up (the channels keep playing; what is written there waits), and a note when it
//!   has space again.
//!
//! Every notification is a no-op when `$NOTIFY_SOCKET` is unset (not started by systemd).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use sd_notify::NotifyState;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;

use super::serve::App;
use crate::clock::sync::{self, ClockSync};
use crate::db::space;

/// How often the clock monitor re-checks until NTP has answered.
const CLOCK_POLL: Duration = Duration::from_secs(2);
/// Longest a health probe may take before the daemon counts as wedged.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the free space of the data disk is checked.
const DISK_POLL: Duration = Duration::from_secs(3);

/// Send notifications to systemd; failures are logged, never fatal.
pub fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// Set the `STATUS=` line.
pub fn status(text: &str) {
    notify(&[NotifyState::Status(text)]);
}

/// The status line for a running daemon.
fn running_status(app: &App, clock: ClockSync) -> String {
    let mut line = format!("serving on http://{}; {}", app.local_addr, clock.label());
    if !clock.is_trusted() {
        line.push_str(" (schedules wait for NTP)");
    }
    line
}

/// Start the clock monitor (publishing into `clock_tx`, the sender of [`App::clock_sync`])
/// and the watchdog/status task. Call once the services are started.
pub fn start(app: &App, clock_tx: watch::Sender<ClockSync>) {
    app.tracker.spawn(sync::monitor(
        app.clock.clone(),
        PathBuf::from(sync::TIMESYNC_FLAG),
        clock_tx,
        CLOCK_POLL,
        app.shutdown.clone(),
    ));
    let mut usec = 0;
    let watchdog = sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec) / 2);
    if let Some(every) = watchdog {
        tracing::info!(every_ms = every.as_millis() as u64, "feeding the systemd watchdog");
    }
    app.tracker.spawn(supervise(app.clone(), watchdog));
    let dirs = vec![app.config.data_dir.clone(), app.config.playout.hls_dir.clone()];
    app.tracker.spawn(watch_disks(dirs, app.shutdown.clone()));
}

/// Warn when a data directory's disk becomes full, note when it has space again. A
/// directory on the same disk as an earlier one (HLS under the data dir) is not watched twice.
async fn watch_disks(dirs: Vec<PathBuf>, shutdown: tokio_util::sync::CancellationToken) {
    let mut full = vec![false; dirs.len()];
    let mut tick = tokio::time::interval(DISK_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut devices = Vec::new();
        for (dir, was_full) in dirs.iter().zip(full.iter_mut()) {
            // The HLS directory may not exist before the first channel starts.
            let Ok(meta) = std::fs::metadata(dir) else { continue };
            let device = std::os::unix::fs::MetadataExt::dev(&meta);
            if devices.contains(&device) {
                continue;
            }
            devices.push(device);
            let Ok(space) = space::disk_space(dir) else { continue };
            let (free_mib, total_mib) = (space.free_bytes >> 20, space.total_bytes >> 20);
            if space.is_full() && !*was_full {
                tracing::warn!(
                    dir = %dir.display(),
                    free_mib,
                    total_mib,
                    "data disk full: the channels keep playing, but HLS segments, the as-run log and \
                     settings are not saved until space is freed"
                );
                status(&format!("data disk full ({free_mib} MiB free on {})", dir.display()));
            } else if !space.is_full() && *was_full {
                tracing::info!(dir = %dir.display(), free_mib, total_mib, "data disk has space again");
                status(&format!("data disk has space again ({free_mib} MiB free on {})", dir.display()));
            }
            *was_full = space.is_full();
        }
    }
}

/// Tell systemd the daemon is ready.
pub fn ready(app: &App) {
    let line = running_status(app, *app.clock_sync.borrow());
    notify(&[NotifyState::Ready, NotifyState::Status(&line)]);
}

/// Tell systemd the daemon is stopping.
pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Last step of a clean shutdown: write the database's WAL back into the main file.
pub async fn flush(app: &App) {
    status("stopping: flushing the database");
    match app.db.checkpoint().await {
        Ok(true) => tracing::info!("database flushed"),
        Ok(false) => tracing::warn!("database checkpoint incomplete: another connection was busy"),
        Err(e) => tracing::warn!(error = %e, "database checkpoint failed"),
    }
}

/// Feed the watchdog while healthy and keep the status line current, until shutdown.
async fn supervise(app: App, watchdog: Option<Duration>) {
    let mut clock = app.clock_sync.clone();
    let mut tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unhealthy = false;
    // False once the monitor has stopped (synced for good, or shutting down).
    let mut clock_open = true;
    loop {
        tokio::select! {
            _ = app.shutdown.cancelled() => return,
            _ = tick.tick(), if watchdog.is_some() => match probe(&app).await {
                Ok(()) => {
                    if unhealthy {
                        unhealthy = false;
                        tracing::info!("healthy again");
                        status(&running_status(&app, *clock.borrow()));
                    }
                    notify(&[NotifyState::Watchdog]);
                }
                Err(e) => {
                    // No WATCHDOG=1: if this lasts WatchdogSec, systemd restarts the daemon.
                    unhealthy = true;
                    tracing::warn!(error = format!("{e:#}"), "health probe failed; not feeding the watchdog");
                    status(&format!("unhealthy: {e:#}"));
                }
            },
            changed = clock.changed(), if clock_open => {
                clock_open = changed.is_ok();
                let state = *clock.borrow_and_update();
                status(&running_status(&app, state));
            }
        }
    }
}

/// Whether the daemon still works: the database answers and so does the HTTP server.
async fn probe(app: &App) -> anyhow::Result<()> {
    tokio::time::timeout(PROBE_TIMEOUT, app.db.call(|_| ()))
        .await
        .context("the database did not answer within 5 s")?
        .context("the database task failed")?;
    tokio::time::timeout(PROBE_TIMEOUT, http_health(loopback(app.local_addr)))
        .await
        .context("HTTP /health did not answer within 5 s")?
}

/// The address to reach a server bound to `addr` from this machine.
fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}

/// `GET /health` over a plain TCP connection; Ok on a 200 answer.
async fn http_health(addr: SocketAddr) -> anyhow::Result<()> {
    let mut conn = tokio::net::TcpStream::connect(addr).await.with_context(|| format!("connect to {addr}"))?;
    conn.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
    let mut head = Vec::new();
    conn.take(4096).read_to_end(&mut head).await?;
    let status_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(status_line);
    anyhow::ensure!(text.split_whitespace().nth(1) == Some("200"), "GET /health answered {:?}", text.trim());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_probed_on_loopback() {
        assert_eq!(loopback("0.0.0.0:80".parse().unwrap()), "127.0.0.1:80".parse().unwrap());
        assert_eq!(loopback("[::]:8080".parse().unwrap()), "[::1]:8080".parse().unwrap());
        assert_eq!(loopback("192.168.1.5:80".parse().unwrap()), "192.168.1.5:80".parse().unwrap());
    }

    #[tokio::test]
    async fn health_probe_needs_a_200() {
        let ok = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bad = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (ok_addr, bad_addr) = (ok.local_addr().unwrap(), bad.local_addr().unwrap());
        for (listener, answer) in [(ok, "HTTP/1.0 200 OK\r\n\r\nok"), (bad, "HTTP/1.0 503 Busy\r\n\r\n")] {
            tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await.unwrap();
                s.write_all(answer.as_bytes()).await.unwrap();
            });
        }
        http_health(ok_addr).await.unwrap();
        let err = http_health(bad_addr).await.unwrap_err();
        assert!(format!("{err:#}").contains("503"), "{err:#}");
    }
}
