//! A fake Plex Media Server answering the Live TV & DVR endpoints the setup wizard uses, with
//! the JSON shapes Plex sends (`Accept: application/json`, `X-Plex-Token`). It behaves as
//! the recorded Plex does where the tests depend on it: adding a device reads the tuner's
//! real `discover.json` and files it under `device://tv.plex.grabbers.hdhomerun/<DeviceID>`;
//! creating a DVR or reloading its guide fetches the real `lineup.json` and XMLTV; the
//! computed channel map pairs each tuner channel with the XMLTV channel whose display-name is
//! its number; a channel-map PUT replaces the whole map.
//!
//! Where each shape comes from:
//! - `GET /livetv/dvrs` (`MediaContainer.Dvr[]` with `key, uuid, language, lineupTitle, lineup,
//!   epgIdentifier, refreshedAt` and `Device[]` with `ChannelMapping[]` of `channelKey,
//!   deviceIdentifier, enabled, lineupIdentifier`): Tunarr `types/src/plex/dvr.ts`
//!   (chrisbenincasa/tunarr d8dc5fd) and the Plex API blueprint's `GET /livetv/dvrs` example;
//!   `parentID` numeric, `model` = FriendlyName as the cluster-plex recording (PMS 1.43.4) notes.
//! - `GET /media/grabbers/devices`, `POST …?uri=` (`MediaContainer.Device[]` with `key,
//!   uuid, uri, make, model, modelNumber, protocol, status, state, tuners, lastSeenAt`): Plex's
//!   OpenAPI `MediaContainerWithDevice` (LukeHagar/plex-api-spec ae9507e).
//! - `POST /livetv/dvrs` answers the created `Dvr`, or `status: -1` with "The device is in use
//!   with an existing DVR" when the device already has one (iptvtunerr `internal/plex/dvr.go`,
//!   rkdavies/iptvtunerr 15d7cff).
//! - `GET /livetv/epg/channelmap` (`MediaContainer.ChannelMapping[]` of `channelKey,
//!   deviceIdentifier, lineupIdentifier`): the Plex API blueprint's example; for an XMLTV
//!   lineup, key and identifier as iptvtunerr's `dvr_test.go` fixture shows them.
//! - `POST /livetv/dvrs/{key}/reloadGuide` answers 200 with an `X-Plex-Activity` header
//!   (plex-api-spec).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Call, Mode, decode_query, xmltv_channels};

/// A device Plex knows.
#[derive(Debug, Clone)]
pub struct Device {
    pub key: u32,
    pub uuid: String,
    pub uri: String,
    pub device_id: String,
    pub model: String,
    pub tuners: u32,
    /// Channel numbers from the tuner's lineup.json (read at registration and guide loads).
    pub channels: Vec<String>,
}

/// One channel mapping of a DVR's device.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub channel_key: String,
    pub lineup_identifier: String,
    pub enabled: bool,
}

/// A DVR.
#[derive(Debug, Clone)]
pub struct Dvr {
    pub key: u32,
    pub uuid: String,
    pub device_key: u32,
    /// Lineups, first one shown as `lineup`.
    pub lineups: Vec<String>,
    pub title: String,
    /// Device channel number → mapping.
    pub mappings: BTreeMap<String, Mapping>,
    /// XMLTV channels loaded at the last guide load: (id, display-names).
    pub guide: Vec<(String, Vec<String>)>,
    /// The XMLTV text of each guide load.
    pub loads: Vec<String>,
    pub refreshed_at: i64,
}

/// Everything the fake holds.
#[derive(Default)]
pub struct PlexState {
    pub mode: Mode,
    pub token: String,
    pub devices: Vec<Device>,
    pub dvrs: Vec<Dvr>,
    pub calls: Vec<Call>,
    next_key: u32,
}

impl PlexState {
    fn key(&mut self) -> u32 {
        self.next_key += 1;
        self.next_key + 10
    }
}

/// The fake server; stops on drop.
pub struct FakePlex {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<PlexState>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakePlex {
    /// Start on 127.0.0.1 with this token.
    pub async fn start(token: &str) -> Self {
        let state = Arc::new(Mutex::new(PlexState { token: token.to_owned(), ..Default::default() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut fake = Self { addr, state, task: None };
        fake.serve(listener);
        fake
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = Router::new().fallback(handle).with_state(self.state.clone());
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop answering: connections are refused until [`Self::up`].
    pub fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Answer again, on the same address.
    pub async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Calls that change something (not GET).
    pub fn writes(&self) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method != "GET").collect()
    }

    pub fn clear_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    pub fn devices(&self) -> Vec<Device> {
        self.state.lock().unwrap().devices.clone()
    }

    pub fn dvrs(&self) -> Vec<Dvr> {
        self.state.lock().unwrap().dvrs.clone()
    }

    /// Lose a channel's mapping, as when a user unticks it or Plex drops it.
    pub fn drop_mapping(&self, number: &str) {
        for d in &mut self.state.lock().unwrap().dvrs {
            d.mappings.remove(number);
        }
    }

    /// Pretend the tuner was registered at another address (before a DHCP move).
    pub fn move_device(&self, uri: &str) {
        for d in &mut self.state.lock().unwrap().devices {
            d.uri = uri.to_owned();
        }
    }
}

impl Drop for FakePlex {
    fn drop(&mut self) {
        self.down();
    }
}

fn envelope(inner: Value) -> Response {
    ([("content-type", "application/json")], json!({ "MediaContainer": inner }).to_string()).into_response()
}

fn device_json(d: &Device, dvr: Option<&Dvr>) -> Value {
    let mut v = json!({
        "key": d.key.to_string(), "uuid": d.uuid, "uri": d.uri, "deviceId": d.device_id,
        "make": "Silicondust", "model": d.model, "modelNumber": "HDTC-2US", "protocol": "livetv",
        "status": "alive", "state": "1", "tuners": d.tuners.to_string(), "lastSeenAt": 1_700_000_000,
        "sources": "Cable", "title": d.model,
    });
    if let Some(dvr) = dvr {
        v["parentID"] = json!(dvr.key);
        v["ChannelMapping"] = Value::Array(
            dvr.mappings
                .iter()
                .map(|(n, m)| {
                    json!({"channelKey": m.channel_key, "deviceIdentifier": n,
                           "enabled": if m.enabled { "1" } else { "0" }, "lineupIdentifier": m.lineup_identifier})
                })
                .collect(),
        );
    }
    v
}

fn dvr_json(s: &PlexState, dvr: &Dvr) -> Value {
    let devices: Vec<Value> =
        s.devices.iter().filter(|d| d.key == dvr.device_key).map(|d| device_json(d, Some(dvr))).collect();
    json!({
        "key": dvr.key.to_string(), "uuid": dvr.uuid, "language": "eng", "lineupTitle": dvr.title,
        "lineup": dvr.lineups.first().cloned().unwrap_or_default(), "country": "",
        "refreshedAt": dvr.refreshed_at, "epgIdentifier": format!("tv.plex.providers.epg.xmltv:{}", dvr.key),
        "Device": devices, "Lineup": dvr.lineups.iter().map(|l| json!({"id": l, "title": dvr.title})).collect::<Vec<_>>(),
    })
}

/// The XMLTV URL inside a lineup URI, decoded as Plex lists it.
fn lineup_url(lineup: &str) -> Option<String> {
    let rest = lineup.strip_prefix("lineup://tv.plex.providers.epg.xmltv/")?;
    let url = rest.split('#').next()?;
    Some(url::form_urlencoded::parse(format!("u={url}").as_bytes()).next()?.1.into_owned())
}

fn decoded_lineup(lineup: &str) -> String {
    match (lineup_url(lineup), lineup.split_once('#')) {
        (Some(u), Some((_, title))) => format!("lineup://tv.plex.providers.epg.xmltv/{u}#{title}"),
        (Some(u), None) => format!("lineup://tv.plex.providers.epg.xmltv/{u}"),
        _ => lineup.to_owned(),
    }
}

async fn fetch(url: &str) -> Result<String, String> {
    let r = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap().get(url).send().await;
    match r {
        Ok(r) if r.status().is_success() => r.text().await.map_err(|e| e.to_string()),
        Ok(r) => Err(format!("{url}: {}", r.status())),
        Err(e) => Err(format!("{url}: {e}")),
    }
}

async fn lineup_numbers(base: &str) -> Result<Vec<String>, String> {
    let text = fetch(&format!("{base}/lineup.json")).await?;
    let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(v.as_array().into_iter().flatten().filter_map(|c| c["GuideNumber"].as_str().map(str::to_owned)).collect())
}

/// Load a DVR's guide as Plex does: re-read the tuner's lineup and the XMLTV.
async fn load_guide(state: &Arc<Mutex<PlexState>>, dvr_key: u32) -> Result<(), String> {
    let (uri, lineup, device_key) = {
        let s = state.lock().unwrap();
        let dvr = s.dvrs.iter().find(|d| d.key == dvr_key).ok_or("no DVR")?;
        let dev = s.devices.iter().find(|d| d.key == dvr.device_key).ok_or("no device")?;
        (dev.uri.clone(), dvr.lineups.first().cloned().unwrap_or_default(), dev.key)
    };
    let numbers = lineup_numbers(&uri).await?;
    let xml = fetch(&lineup_url(&lineup).ok_or("not an XMLTV lineup")?).await?;
    let guide = xmltv_channels(&xml);
    let mut s = state.lock().unwrap();
    if let Some(d) = s.devices.iter_mut().find(|d| d.key == device_key) {
        d.channels = numbers;
    }
    if let Some(dvr) = s.dvrs.iter_mut().find(|d| d.key == dvr_key) {
        dvr.guide = guide;
        dvr.loads.push(xml);
        dvr.refreshed_at += 1;
    }
    Ok(())
}

async fn handle(
    State(state): State<Arc<Mutex<PlexState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let query = decode_query(q.as_deref());
    let path = uri.path().to_owned();
    let mode = {
        let mut s = state.lock().unwrap();
        s.calls.push(Call { method: method.to_string(), path: path.clone(), query: query.clone() });
        s.mode
    };
    match mode {
        Mode::Slow => tokio::time::sleep(Duration::from_secs(30)).await,
        Mode::Unauthorized => {
            return (StatusCode::UNAUTHORIZED, "<html><body>401 Unauthorized</body></html>").into_response();
        }
        Mode::Ok => {}
    }
    let token = state.lock().unwrap().token.clone();
    if headers.get("x-plex-token").and_then(|v| v.to_str().ok()) != Some(token.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return (StatusCode::NOT_ACCEPTABLE, "<MediaContainer/>").into_response();
    }
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["media", "grabbers", "devices"]) => {
            let s = state.lock().unwrap();
            let devs: Vec<Value> = s.devices.iter().map(|d| device_json(d, None)).collect();
            envelope(json!({"size": devs.len(), "Device": devs}))
        }
        ("POST", ["media", "grabbers", "devices"]) => {
            let Some(uri) = q("uri") else { return StatusCode::BAD_REQUEST.into_response() };
            let discover = match fetch(&format!("{}/discover.json", uri.trim_end_matches('/'))).await {
                Ok(t) => serde_json::from_str::<Value>(&t).unwrap_or(Value::Null),
                Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
            };
            let Some(device_id) = discover["DeviceID"].as_str().map(str::to_owned) else {
                return (StatusCode::BAD_REQUEST, "no HDHomeRun at that address").into_response();
            };
            let numbers = lineup_numbers(uri.trim_end_matches('/')).await.unwrap_or_default();
            let mut s = state.lock().unwrap();
            let uuid = format!("device://tv.plex.grabbers.hdhomerun/{device_id}");
            let dev = match s.devices.iter().position(|d| d.uuid == uuid) {
                Some(i) => {
                    s.devices[i].uri = uri.clone();
                    s.devices[i].channels = numbers;
                    s.devices[i].clone()
                }
                None => {
                    let key = s.key();
                    let d = Device {
                        key,
                        uuid,
                        uri: uri.clone(),
                        device_id,
                        model: discover["FriendlyName"].as_str().unwrap_or("HDHomeRun").to_owned(),
                        tuners: discover["TunerCount"].as_u64().unwrap_or(2) as u32,
                        channels: numbers,
                    };
                    s.devices.push(d.clone());
                    d
                }
            };
            envelope(json!({"size": 1, "Device": [device_json(&dev, None)]}))
        }
        ("DELETE", ["media", "grabbers", "devices", key]) => {
            let mut s = state.lock().unwrap();
            let before = s.devices.len();
            s.devices.retain(|d| d.key.to_string() != *key);
            if s.devices.len() == before { StatusCode::NOT_FOUND.into_response() } else { envelope(json!({"size": 0})) }
        }
        ("PUT", ["media", "grabbers", "devices", key, "channelmap"]) => {
            let enabled: Vec<String> = q("channelsEnabled")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let mut s = state.lock().unwrap();
            let Some(dev) = s.devices.iter().find(|d| d.key.to_string() == *key).cloned() else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let Some(dvr) = s.dvrs.iter_mut().find(|d| d.device_key == dev.key) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            // The whole map is replaced (cluster-plex recording): every device channel gets
            // what this PUT says, or no mapping at all.
            let mut map = BTreeMap::new();
            for n in dev.channels.iter().chain(enabled.iter()) {
                let key = q(&format!("channelMappingByKey[{n}]"));
                let lineup = q(&format!("channelMapping[{n}]"));
                if let (Some(k), Some(l)) = (key, lineup) {
                    map.insert(
                        n.clone(),
                        Mapping { channel_key: k, lineup_identifier: l, enabled: enabled.contains(n) },
                    );
                }
            }
            dvr.mappings = map;
            let dvr = dvr.clone();
            envelope(json!({"size": 1, "Device": [device_json(&dev, Some(&dvr))]}))
        }
        ("GET", ["livetv", "dvrs"]) => {
            let s = state.lock().unwrap();
            let dvrs: Vec<Value> = s.dvrs.iter().map(|d| dvr_json(&s, d)).collect();
            envelope(json!({"size": dvrs.len(), "Dvr": dvrs}))
        }
        ("POST", ["livetv", "dvrs"]) => {
            let (Some(device), Some(lineup)) = (q("device"), q("lineup")) else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            let key = {
                let mut s = state.lock().unwrap();
                let Some(dev) = s.devices.iter().find(|d| d.uuid == device).cloned() else {
                    return envelope(json!({"size": 0, "status": -1, "message": "The device does not exist"}));
                };
                if s.dvrs.iter().any(|d| d.device_key == dev.key) {
                    return envelope(
                        json!({"size": 0, "status": -1, "message": "The device is in use with an existing DVR"}),
                    );
                }
                let key = s.key();
                let title = lineup.split_once('#').map(|(_, t)| t.replace('+', " ")).unwrap_or_default();
                s.dvrs.push(Dvr {
                    key,
                    uuid: format!("8f2e{key:04}-dvr"),
                    device_key: dev.key,
                    lineups: vec![decoded_lineup(&lineup)],
                    title,
                    mappings: BTreeMap::new(),
                    guide: Vec::new(),
                    loads: Vec::new(),
                    refreshed_at: 1_700_000_000,
                });
                key
            };
            if let Err(e) = load_guide(&state, key).await {
                return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response();
            }
            let s = state.lock().unwrap();
            let dvr = s.dvrs.iter().find(|d| d.key == key).unwrap();
            envelope(json!({"size": 1, "Dvr": [dvr_json(&s, dvr)]}))
        }
        ("DELETE", ["livetv", "dvrs", key]) => {
            let mut s = state.lock().unwrap();
            s.dvrs.retain(|d| d.key.to_string() != *key);
            envelope(json!({"size": 0}))
        }
        ("PUT" | "DELETE", ["livetv", "dvrs", key, "lineups"]) => {
            let Some(lineup) = q("lineup") else { return StatusCode::BAD_REQUEST.into_response() };
            let mut s = state.lock().unwrap();
            let Some(dvr) = s.dvrs.iter_mut().find(|d| d.key.to_string() == *key) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let lineup = decoded_lineup(&lineup);
            if method == Method::PUT {
                dvr.lineups.push(lineup);
            } else {
                dvr.lineups.retain(|l| *l != lineup);
            }
            let dvr = dvr.clone();
            envelope(json!({"size": 1, "Dvr": [dvr_json(&s, &dvr)]}))
        }
        ("POST", ["livetv", "dvrs", key, "reloadGuide"]) => {
            let Ok(key) = key.parse::<u32>() else { return StatusCode::NOT_FOUND.into_response() };
            match load_guide(&state, key).await {
                Ok(()) => ([("X-Plex-Activity", "d391ddb0-b29b-4e20-a57a-46b15b4e4318")], "").into_response(),
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
            }
        }
        ("GET", ["livetv", "epg", "channelmap"]) => {
            let (Some(device), Some(lineup)) = (q("device"), q("lineup")) else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            let s = state.lock().unwrap();
            let Some(dev) = s.devices.iter().find(|d| d.uuid == device) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let Some(dvr) =
                s.dvrs.iter().find(|d| d.device_key == dev.key && d.lineups.contains(&decoded_lineup(&lineup)))
            else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let maps: Vec<Value> = dev
                .channels
                .iter()
                .filter_map(|n| {
                    let (id, _) = dvr.guide.iter().find(|(_, names)| names.iter().any(|x| x == n))?;
                    Some(json!({"channelKey": id, "deviceIdentifier": n, "favorite": false, "lineupIdentifier": n}))
                })
                .collect();
            envelope(json!({"size": maps.len(), "ChannelMapping": maps}))
        }
        _ => (StatusCode::NOT_FOUND, format!("fake Plex has no {method} {path}")).into_response(),
    }
}
