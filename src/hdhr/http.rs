//! The HTTP side of the HDHomeRun (spec §4): `/discover.json`, `/lineup.{json,xml,m3u}`,
//! `/lineup_status.json`, `/lineup.post`, `/device.xml` (+ `/capability`), `/status.json`,
//! and the streams
//! `/auto/v<N>` and `/tuner<N>/v<N>` fed from the [`StreamHub`](crate::stream::StreamHub)
//! under a tuner [`Lease`]. Field types follow the spec exactly (TunerCount an integer,
//! booleans 0/1, URLs absolute). All error mapping to status codes and `X-HDHomeRun-Error`
//! happens in [`tune_error`]. `/` belongs to the web page, so it is not served here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::Hdhr;
use super::device::{FIRMWARE_NAME, FIRMWARE_VERSION, MANUFACTURER, MODEL_NUMBER};
use crate::lineup::m3u::StreamUrls;
use crate::lineup::{Channel, GuideNumber, Lineup, VideoFormat};
use crate::stream::ending::Timed;
use crate::stream::tuners::{TuneError, TunerChoice};
use crate::stream::{Tune, Viewer as Admitted};

/// A stream that delivers nothing for this long is ended, so a channel that never starts
/// cannot hold a tuner (hyper only notices a vanished client when it writes to it).
const NO_DATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Highest `/tuner<N>` path routed (the config allows at most 16 tuners).
const MAX_TUNER_ROUTES: usize = 16;

/// The HDHomeRun routes, to merge into the daemon's router.
pub fn router(hdhr: Hdhr) -> Router {
    let mut r = Router::new()
        .route("/discover.json", get(discover))
        .route("/lineup.json", get(lineup_json))
        .route("/lineup.xml", get(lineup_xml))
        .route("/lineup.m3u", get(lineup_m3u))
        .route("/lineup_status.json", get(lineup_status))
        .route("/lineup.post", get(lineup_post).post(lineup_post))
        .route("/device.xml", get(device_xml))
        .route("/capability", get(device_xml))
        .route("/status.json", get(status_json))
        .route("/auto/{channel}", get(auto_stream));
    for i in 0..MAX_TUNER_ROUTES {
        r = r.route(
            &format!("/tuner{i}/{{channel}}"),
            get(move |s, m, o, p, q| tuner_stream(s, m, o, p, q, TunerChoice::Index(i))),
        );
    }
    r.with_state(hdhr)
}

/// Where a request came from: its `Host` header and peer address (when served with
/// `ConnectInfo`), which is what absolute URLs are built from.
pub struct Origin {
    host: Option<String>,
    peer: Option<SocketAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned);
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(Self { host, peer })
    }
}

impl Origin {
    fn base(&self, hdhr: &Hdhr) -> String {
        hdhr.urls().for_request(self.host.as_deref(), self.peer)
    }
}

fn json_response(v: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn discover(State(h): State<Hdhr>, origin: Origin) -> Response {
    let base = origin.base(&h);
    let id = h.identity();
    json_response(json!({
        "FriendlyName": id.friendly_name,
        "Manufacturer": MANUFACTURER,
        "ModelNumber": MODEL_NUMBER,
        "FirmwareName": FIRMWARE_NAME,
        "FirmwareVersion": FIRMWARE_VERSION,
        "DeviceID": id.device_id.to_string(),
        "DeviceAuth": id.device_auth,
        "BaseURL": base,
        "LineupURL": format!("{base}/lineup.json"),
        "TunerCount": h.tuners().count(),
    }))
}

/// One lineup entry; `placeholder` when there are no channels yet (never an empty list:
/// Plex setup misbehaves on `[]`, spec §4.2). The placeholder's URL answers 404/801.
struct Entry {
    number: String,
    name: String,
    url: String,
    hd: bool,
}

fn entries(h: &Hdhr, lineup: &Lineup, base: &str) -> Vec<Entry> {
    let mut v: Vec<Entry> = lineup
        .channels
        .iter()
        .map(|c: &Channel| Entry {
            number: c.number.to_string(),
            name: c.name.clone(),
            url: format!("{base}/auto/v{}", c.number),
            hd: c.settings.profile.format == VideoFormat::Hd720,
        })
        .collect();
    if v.is_empty() {
        v.push(Entry {
            number: "0".into(),
            name: format!("{} (no channels yet)", h.identity().friendly_name),
            url: format!("{base}/auto/v0"),
            hd: false,
        });
    }
    v
}

fn lineup_entries(h: &Hdhr, origin: &Origin) -> Vec<Entry> {
    entries(h, &h.lineup(), &origin.base(h))
}

// `?show=found|demo|unprotected` and `&tuning` are accepted and ignored: every channel is
// always "found" and unprotected.
async fn lineup_json(State(h): State<Hdhr>, origin: Origin) -> Response {
    let list = lineup_entries(&h, &origin);
    let items: Vec<serde_json::Value> = list
        .into_iter()
        .map(|e| {
            let mut o = json!({
                "GuideNumber": e.number,
                "GuideName": e.name,
                "VideoCodec": "H264",
                "AudioCodec": "AAC",
                "URL": e.url,
            });
            if e.hd {
                o["HD"] = json!(1);
            }
            o
        })
        .collect();
    json_response(serde_json::Value::Array(items))
}

async fn lineup_xml(State(h): State<Hdhr>, origin: Origin) -> Response {
    use quick_xml::escape::escape;
    let list = lineup_entries(&h, &origin);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Lineup>\n");
    for e in list {
        s.push_str(&format!(
            "<Program><GuideNumber>{}</GuideNumber><GuideName>{}</GuideName><VideoCodec>H264</VideoCodec>\
             <AudioCodec>AAC</AudioCodec><URL>{}</URL>{}</Program>\n",
            escape(e.number.as_str()),
            escape(e.name.as_str()),
            escape(e.url.as_str()),
            if e.hd { "<HD>1</HD>" } else { "" }
        ));
    }
    s.push_str("</Lineup>\n");
    ([(header::CONTENT_TYPE, "application/xml")], s).into_response()
}

async fn lineup_m3u(State(h): State<Hdhr>, origin: Origin) -> Response {
    let lineup = h.lineup();
    let m3u = crate::lineup::m3u::render(&lineup.channels, &origin.base(&h), StreamUrls::Tuner);
    ([(header::CONTENT_TYPE, "audio/x-mpegurl")], m3u).into_response()
}

async fn lineup_status() -> Response {
    json_response(json!({"ScanInProgress": 0, "ScanPossible": 1, "Source": "Cable", "SourceList": ["Cable"]}))
}

// `scan=start|abort`, `source=…` and `favorite=…` are accepted: the lineup is always
// complete, so a scan finishes at once and Plex re-reads lineup.json.
async fn lineup_post() -> Response {
    json_response(json!({}))
}

/// Tuner status as real devices report it to dashboards: idle tuners carry only their
/// `Resource`; busy ones the virtual channel, full signal and the rate being sent.
async fn status_json(State(h): State<Hdhr>) -> Response {
    let lineup = h.lineup();
    let tuners = h.tuners();
    let items: Vec<serde_json::Value> = (0..tuners.count())
        .filter_map(|i| tuners.status(i).map(|s| (i, s)))
        .map(|(i, s)| match s.channel {
            None => json!({ "Resource": format!("tuner{i}") }),
            Some((id, number)) => json!({
                "Resource": format!("tuner{i}"),
                "VctNumber": number.to_string(),
                "VctName": lineup.by_id(id).map(|c| c.name.clone()).unwrap_or_default(),
                "SignalStrengthPercent": 100,
                "SignalQualityPercent": 100,
                "SymbolQualityPercent": 100,
                "NetworkRate": s.bps,
                "Viewers": s.viewers,
            }),
        })
        .collect();
    json_response(serde_json::Value::Array(items))
}

async fn device_xml(State(h): State<Hdhr>, origin: Origin) -> Response {
    let xml = h.identity().device_xml(&origin.base(&h));
    ([(header::CONTENT_TYPE, "application/xml")], xml).into_response()
}

async fn auto_stream(
    s: State<Hdhr>,
    m: Method,
    o: Origin,
    p: Path<String>,
    q: Query<HashMap<String, String>>,
) -> Response {
    tuner_stream(s, m, o, p, q, TunerChoice::Auto).await
}

/// Map a refusal to the status and `X-HDHomeRun-Error` a real device sends; tiny bodies,
/// because Jellyfin copies any body as if it were video (spec §4.7).
fn tune_error(status: StatusCode, code: &'static str) -> Response {
    let mut r = (status, format!("{code}\n")).into_response();
    r.headers_mut().insert("X-HDHomeRun-Error", HeaderValue::from_static(code));
    r
}

fn unknown_channel() -> Response {
    tune_error(StatusCode::NOT_FOUND, "801 Unknown Channel")
}

async fn tuner_stream(
    State(h): State<Hdhr>,
    method: Method,
    _origin: Origin,
    Path(channel): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    choice: TunerChoice,
) -> Response {
    // `transcode` is accepted and ignored: every channel has one profile already.
    let Some(number) = channel.strip_prefix('v').and_then(|n| n.parse::<GuideNumber>().ok()) else {
        return unknown_channel();
    };
    if let TunerChoice::Index(i) = choice
        && i >= h.tuners().count()
    {
        return unknown_channel();
    }
    let lineup = h.lineup();
    let Some(ch) = lineup.channels.iter().find(|c| c.number == number) else {
        return unknown_channel();
    };
    if method == Method::HEAD {
        return stream_headers(Body::empty());
    }
    let cost = ch.settings.profile.macroblocks_per_second();
    let Admitted { subscription, lease } = match h.hub().tune(Tune { choice, channel: ch.id, number: &number, cost }) {
        Ok(v) => v,
        Err(TuneError::AllBusy(_)) => return tune_error(StatusCode::SERVICE_UNAVAILABLE, "805 All Tuners In Use"),
        Err(e @ (TuneError::OverBudget(..) | TuneError::Overloaded)) => {
            tracing::info!(channel = %number, reason = %e, "tune refused");
            return tune_error(StatusCode::SERVICE_UNAVAILABLE, "805 All Tuners In Use");
        }
        Err(TuneError::TunerBusy(_)) => return tune_error(StatusCode::SERVICE_UNAVAILABLE, "804 Tuner In Use"),
        Err(TuneError::NoSuchTuner(_)) => return unknown_channel(),
    };
    tracing::debug!(channel = %number, tuner = lease.tuner(), "tuned");
    // `duration=<seconds>` closes the transfer after that long (spec §4.7), on a packet
    // boundary after the last whole frame (`stream::ending`).
    let duration = query.get("duration").and_then(|d| d.parse::<u64>().ok()).filter(|&d| d > 0);
    let timed = Timed::new(subscription, duration.map(Duration::from_secs));
    let viewer = Viewer { stream: timed, lease };
    stream_headers(Body::from_stream(futures::stream::unfold(viewer, Viewer::next)))
}

fn stream_headers(body: Body) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// One streaming client: its hub subscription and tuner lease live exactly as long as the
/// response body, so a disconnect frees both at once.
struct Viewer {
    stream: Timed,
    lease: crate::stream::tuners::Lease,
}

impl Viewer {
    async fn next(mut self) -> Option<(Result<bytes::Bytes, std::io::Error>, Self)> {
        let chunk = match tokio::time::timeout(NO_DATA_TIMEOUT, self.stream.next()).await {
            Ok(c) => c?,
            Err(_) => {
                tracing::debug!(tuner = self.lease.tuner(), "no video data; stream ended");
                return None;
            }
        };
        self.lease.sent(chunk.len());
        Some((Ok(chunk), self))
    }
}
