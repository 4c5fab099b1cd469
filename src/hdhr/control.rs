//! TCP control on port 65001 (spec §3): persistent connections carrying GETSET frames, which
//! may arrive split across reads. A read-only responder: the `/sys/*` items (`/sys/boot`
//! included), `help`, `/tunerN/{status,vstatus,channel,vchannel,channelmap,filter,program,
//! target,lockkey,streaminfo}` from the live tuner pool, `/lineup/scan` and
//! `/lineup/location`; every set is refused and unknown items get an ERROR_MESSAGE, as on a
//! real device. Memory per connection is bounded by one frame, connections are capped and
//! closed when idle or on a malformed frame.
//!
//! Value formats follow libhdhomerun (release 20250506), which is what parses them:
//! `hdhomerun_device_get_tuner_vstatus` reads `vch=`, `name=`, `auth=`, `cci=`, `cgms=` out of
//! `/tunerN/vstatus` (and calls a tuner unusable when `auth` is `not-subscribed`, `error` or
//! `dialog`, or `cci`/`cgms` is `protected`); `/tunerN/filter` is the PID list libhdhomerun
//! itself writes (`0x%04x` values and `0x%04x-0x%04x` ranges, `hdhomerun_device_set_tuner_
//! filter_by_array`), here the full range every idle tuner reports; `/tunerN/channelmap` must
//! name a map `hdhomerun_channelmap_get_channelmap_scan_group` knows (`hdhomerun_config scan`
//! refuses others), and `us-cable` is the one `/sys/features` advertises and `lineup_status.json`
//! (Source `Cable`) implies; `/sys/boot` is the list of commands `hdhomerun_config <id> execute`
//! runs, empty on a device nobody configured. `/lineup/location` is `disabled` (the value a
//! device has when it is not opted in to SiliconDust's lineup server, which cannot know our
//! channels) rather than a made-up `US:<zip>`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::device::{FIRMWARE_NAME, FIRMWARE_VERSION, MODEL_NUMBER};
use super::wire::{self, GetSetRequest};
use super::{Hdhr, HdhrError};

/// A connection with no complete request for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections served at once.
const MAX_CONNECTIONS: usize = 16;
/// The text of an unknown item, as a real device words it.
const UNKNOWN: &str = "ERROR: unknown getset variable";

/// The bound control listener.
pub struct Control {
    listener: TcpListener,
}

impl Control {
    /// Bind the TCP listener (the HTTP listener's IP, port 65001; port 0 in tests).
    pub async fn bind(addr: SocketAddr) -> Result<Self, HdhrError> {
        let listener =
            TcpListener::bind(addr).await.map_err(|source| HdhrError::Bind { what: "TCP control", addr, source })?;
        Ok(Self { listener })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accept connections until `shutdown`.
    pub async fn run(self, hdhr: Hdhr, shutdown: CancellationToken, tracker: TaskTracker) {
        tracing::info!(addr = ?self.listener.local_addr().ok(), "HDHomeRun control listening");
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!("control accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tracing::debug!(%peer, "control: too many connections, closing");
                continue;
            };
            let (hdhr, stop) = (hdhr.clone(), shutdown.clone());
            tracker.spawn(async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    r = serve(stream, &hdhr) => if let Err(e) = r {
                        tracing::debug!(%peer, "control connection closed: {e}");
                    },
                }
                drop(permit);
            });
        }
    }
}

/// Serve one connection: read frames, answer each, until EOF, idle timeout or a bad frame.
async fn serve(mut stream: TcpStream, hdhr: &Hdhr) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(wire::MAX_PACKET);
    let mut chunk = [0u8; wire::MAX_PACKET];
    loop {
        // Answer every complete frame already buffered.
        loop {
            let n = match wire::frame_len(&buf) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            };
            let req = wire::decode(&buf[..n]).and_then(GetSetRequest::from_frame);
            let req = req.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let answer = answer(hdhr, &req).await;
            let reply = wire::getset_reply(&req.name, answer.as_deref().map_err(|e| e.as_str()))
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            stream.write_all(&reply).await?;
            buf.drain(..n);
        }
        // `frame_len` refuses declared lengths over the maximum, so the buffer stays below
        // one maximum frame plus one read.
        let room = wire::MAX_PACKET - buf.len();
        let read = tokio::time::timeout(IDLE_TIMEOUT, stream.read(&mut chunk[..room])).await;
        match read {
            Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "idle")),
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// The answer to one get (or set): a value, or the error text a device would send.
pub async fn answer(hdhr: &Hdhr, req: &GetSetRequest) -> Result<String, String> {
    let known = lookup(hdhr, &req.name).await;
    match (&req.value, known) {
        (_, None) => Err(UNKNOWN.to_owned()),
        (Some(_), Some(_)) => Err(format!("ERROR: {} is read-only", req.name)),
        (None, Some(v)) => Ok(v),
    }
}

async fn lookup(hdhr: &Hdhr, name: &str) -> Option<String> {
    let id = hdhr.identity();
    Some(match name {
        "/sys/model" => FIRMWARE_NAME.to_owned(),
        "/sys/hwmodel" => MODEL_NUMBER.to_owned(),
        "/sys/version" => FIRMWARE_VERSION.to_owned(),
        "/sys/copyright" => "Retrovue, a virtual HDHomeRun-compatible tuner. GPL-3.0-or-later.".to_owned(),
        "/sys/features" => "channelmap: us-bcast us-cable\nmodulation: 8vsb\nauto-modulation: auto\n".to_owned(),
        "/sys/debug" => debug_text(hdhr),
        "help" => HELP.replace("{tuners}", &(hdhr.tuner_count().saturating_sub(1)).to_string()),
        "/lineup/scan" => format!("state=complete progress=100 found={}", hdhr.lineup().channels.len()),
        "/sys/id" => id.device_id.to_string(),
        "/sys/boot" => String::new(),
        "/lineup/location" => "disabled".to_owned(),
        _ => return tuner_item(hdhr, name).await,
    })
}

/// The channel map every tuner reports (see the module doc).
const CHANNEL_MAP: &str = "us-cable";
/// The PID filter every tuner reports: everything passes.
const FILTER_ALL: &str = "0x0000-0x1fff";

async fn tuner_item(hdhr: &Hdhr, name: &str) -> Option<String> {
    let rest = name.strip_prefix("/tuner")?;
    let (index, item) = rest.split_once('/')?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) || index.len() > 2 {
        return None;
    }
    let status = hdhr.tuners().status(index.parse().ok()?)?;
    let number = status.channel.as_ref().map(|(_, n)| n.to_string());
    Some(match (item, number) {
        ("status", _) => status.status_line(),
        ("vstatus", Some(n)) => {
            let id = status.channel.as_ref().map(|(id, _)| *id)?;
            let name = hdhr.lineup().by_id(id).map(|c| c.name.clone()).unwrap_or_default();
            // A real device prints the name as it is, spaces included (libhdhomerun keeps
            // the first word); only line breaks would corrupt the one-line answer.
            let name = name.replace(['\n', '\r'], " ");
            format!("vch={n} name={name} auth=subscribed cci=unrestricted cgms=unrestricted")
        }
        ("vstatus", None) => "vch=none auth=none cci=none cgms=none".to_owned(),
        ("channelmap", _) => CHANNEL_MAP.to_owned(),
        ("filter", _) => FILTER_ALL.to_owned(),
        ("channel", Some(n)) => format!("virtual:{n}"),
        ("vchannel", Some(n)) => n,
        ("program", Some(_)) => "1".to_owned(),
        ("target", Some(_)) => "http".to_owned(),
        ("streaminfo", Some(n)) => format!("1: {n}\n"),
        ("channel" | "vchannel" | "program" | "target" | "streaminfo" | "lockkey", _) => "none".to_owned(),
        _ => return None,
    })
}

fn debug_text(hdhr: &Hdhr) -> String {
    let mut s = String::from("mem: virtual\n");
    for i in 0..hdhr.tuners().count() {
        if let Some(st) = hdhr.tuners().status(i) {
            s.push_str(&format!("tun: tuner{i} viewers={} bps={}\n", st.viewers, st.bps));
        }
    }
    s
}

const HELP: &str = "Supported configuration options:
/lineup/location
/lineup/scan
/sys/boot
/sys/copyright
/sys/debug
/sys/features
/sys/hwmodel
/sys/id
/sys/model
/sys/version
/tuner<n>/channel <modulation>:<freq|ch>
/tuner<n>/channelmap
/tuner<n>/filter
/tuner<n>/lockkey
/tuner<n>/program
/tuner<n>/status
/tuner<n>/streaminfo
/tuner<n>/target
/tuner<n>/vchannel <vch>
/tuner<n>/vstatus
(n = 0..{tuners}; every item is read-only)
";

#[cfg(test)]
mod tests {
    use super::super::wire::{decode, kind, tag, tlvs};
    use super::*;
    use crate::db::Db;
    use crate::hdhr::Identity;
    use crate::stream::StreamHub;

    async fn exchange(stream: &mut TcpStream, name: &str, value: Option<&str>) -> (u8, String) {
        let req = GetSetRequest { name: name.into(), value: value.map(Into::into), lockkey: None };
        let frame = req.encode().unwrap();
        // Split the request across two writes to exercise reassembly.
        stream.write_all(&frame[..5]).await.unwrap();
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        stream.write_all(&frame[5..]).await.unwrap();
        let mut head = [0u8; 4];
        stream.read_exact(&mut head).await.unwrap();
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let mut rest = vec![0u8; len + 4];
        stream.read_exact(&mut rest).await.unwrap();
        let mut all = head.to_vec();
        all.extend_from_slice(&rest);
        let f = decode(&all).unwrap();
        assert_eq!(f.kind, kind::GETSET_RPY);
        let items: Vec<_> = tlvs(f.payload).map(Result::unwrap).collect();
        assert_eq!(items[0].tag, tag::GETSET_NAME);
        assert_eq!(items[0].value, format!("{name}\0").as_bytes());
        let v = items[1].value;
        (items[1].tag, String::from_utf8(v[..v.len() - 1].to_vec()).unwrap())
    }

    #[tokio::test]
    async fn gets_answer_sets_are_refused_and_one_connection_serves_many_requests() {
        let db = Db::open_in_memory().unwrap();
        let identity = Identity::load_or_create(&db, "T", 0).await.unwrap();
        let hdhr = Hdhr::new(
            identity,
            Arc::new(crate::lineup::Lineup::default()),
            StreamHub::with_tuners(2),
            crate::config::BaseUrl::new(None, "127.0.0.1:8080".parse().unwrap()),
            Arc::new(crate::clock::SystemClock),
        );
        let c = Control::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = c.local_addr().unwrap();
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        tokio::spawn(c.run(hdhr.clone(), stop.clone(), tracker.clone()));
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(exchange(&mut s, "/sys/model", None).await, (tag::GETSET_VALUE, FIRMWARE_NAME.into()));
        assert_eq!(exchange(&mut s, "/sys/hwmodel", None).await, (tag::GETSET_VALUE, MODEL_NUMBER.into()));
        let idle = "ch=none lock=none ss=0 snq=0 seq=0 bps=0 pps=0";
        assert_eq!(exchange(&mut s, "/tuner1/status", None).await, (tag::GETSET_VALUE, idle.into()));
        let n: crate::lineup::GuideNumber = "7".parse().unwrap();
        let lease = hdhr.tuners().acquire(crate::stream::tuners::TunerChoice::Auto, crate::lineup::ChannelId(3), &n);
        assert_eq!(exchange(&mut s, "/tuner0/vchannel", None).await, (tag::GETSET_VALUE, "7".into()));
        let (_, status) = exchange(&mut s, "/tuner0/status", None).await;
        assert!(status.starts_with("ch=virtual:7 lock=8vsb"), "{status}");
        // The lineup has no channel 3, so the name is empty; vch= still carries the number.
        let busy = "vch=7 name= auth=subscribed cci=unrestricted cgms=unrestricted";
        assert_eq!(exchange(&mut s, "/tuner0/vstatus", None).await, (tag::GETSET_VALUE, busy.into()));
        drop(lease);
        assert_eq!(exchange(&mut s, "/tuner0/vchannel", None).await, (tag::GETSET_VALUE, "none".into()));
        let idle = "vch=none auth=none cci=none cgms=none";
        assert_eq!(exchange(&mut s, "/tuner0/vstatus", None).await, (tag::GETSET_VALUE, idle.into()));
        for (item, value) in [
            ("/tuner1/channelmap", "us-cable"),
            ("/tuner1/filter", "0x0000-0x1fff"),
            ("/lineup/location", "disabled"),
            ("/sys/boot", ""),
        ] {
            assert_eq!(exchange(&mut s, item, None).await, (tag::GETSET_VALUE, value.into()), "{item}");
        }
        assert_eq!(exchange(&mut s, "/tuner9/status", None).await, (tag::ERROR_MESSAGE, UNKNOWN.into()));
        assert_eq!(exchange(&mut s, "/sys/nonsense", None).await, (tag::ERROR_MESSAGE, UNKNOWN.into()));
        let (t, e) = exchange(&mut s, "/tuner0/channel", Some("auto:5")).await;
        assert_eq!((t, e.as_str()), (tag::ERROR_MESSAGE, "ERROR: /tuner0/channel is read-only"));
        // A frame declaring an oversized payload closes the connection.
        s.write_all(&[0, 4, 0xFF, 0xFF]).await.unwrap();
        let mut b = [0u8; 16];
        assert_eq!(tokio::time::timeout(Duration::from_secs(2), s.read(&mut b)).await.unwrap().unwrap_or(0), 0);
        stop.cancel();
    }
}
