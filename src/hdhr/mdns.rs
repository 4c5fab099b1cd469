//! mDNS (spec §8): publish `<hostname>.local` (`device.hostname`, default `retrovue`) and an
//! `_http._tcp` service pointing at the web page, so people can type `retrovue.local` in a
//! browser. No target client needs it; it runs only with `device.announce` on.
//!
//! `mdns-sd` joins the mDNS group and multicasts on every interface as soon as its daemon is
//! created, so [`Announcer::start`] is only ever called when announcing is wanted, and tests
//! call it only inside a private network namespace. When the HTTP listener is bound to a
//! specific IP, only that interface is used.

use std::time::Duration;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};
use tokio_util::sync::CancellationToken;

use super::{Hdhr, HdhrError, Services};

/// The DNS-SD service type of the web page.
pub const SERVICE_TYPE: &str = "_http._tcp.local.";

/// The running mDNS responder.
pub struct Announcer {
    daemon: ServiceDaemon,
    fullname: String,
}

impl Announcer {
    /// Start the responder and register the host name and the web page service.
    pub fn start(hdhr: &Hdhr, services: &Services) -> Result<Self, HdhrError> {
        let daemon = ServiceDaemon::new().map_err(HdhrError::Mdns)?;
        let ip = services.bind_ip;
        if !ip.is_unspecified() {
            daemon.disable_interface(IfKind::All).map_err(HdhrError::Mdns)?;
            daemon.enable_interface(IfKind::Addr(ip)).map_err(HdhrError::Mdns)?;
            if ip.is_loopback() {
                let lo = if ip.is_ipv4() { IfKind::LoopbackV4 } else { IfKind::LoopbackV6 };
                daemon.enable_interface(lo).map_err(HdhrError::Mdns)?;
            }
        }
        let host = format!("{}.local.", services.hostname);
        let name = &hdhr.identity().friendly_name;
        let props = [("path", "/"), ("deviceid", &hdhr.identity().device_id.to_string())];
        let info = if ip.is_unspecified() {
            ServiceInfo::new(SERVICE_TYPE, name, &host, "", hdhr.http_port(), &props[..])
                .map(ServiceInfo::enable_addr_auto)
        } else {
            ServiceInfo::new(SERVICE_TYPE, name, &host, ip, hdhr.http_port(), &props[..])
        }
        .map_err(HdhrError::Mdns)?;
        let fullname = info.get_fullname().to_owned();
        daemon.register(info).map_err(HdhrError::Mdns)?;
        tracing::info!(%host, service = %fullname, "mDNS on");
        Ok(Self { daemon, fullname })
    }

    /// Keep announcing until `shutdown`, then send goodbyes and stop.
    pub async fn run_until(self, shutdown: CancellationToken) {
        shutdown.cancelled().await;
        if let Ok(rx) = self.daemon.unregister(&self.fullname) {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx.recv_async()).await;
        }
        if let Ok(rx) = self.daemon.shutdown() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx.recv_async()).await;
        }
    }
}
