//! A fake Jellyfin (or Emby) answering the Live TV endpoints its dashboard uses, with the
//! JSON shapes those servers send (PascalCase, `X-Emby-Token`). Like the real servers it reads
//! the tuner's real `discover.json` (DeviceId) and `lineup.json` (tuner channels) when a tuner
//! host is saved, and the real XMLTV when a guide refresh runs or mapping options are asked.
//!
//! Where each shape comes from (jellyfin/jellyfin c3ed140):
//! - `TunerHostInfo`, `ListingsProviderInfo`, `LiveTvOptions` (`GET /System/Configuration/livetv`),
//!   `ChannelMappingOptionsDto` / `TunerChannelMapping`: `MediaBrowser.Model/LiveTv/*.cs`; the
//!   tuner channel id `hdhr_<GuideNumber>` and `Name` "<number> <name>": `HdHomerunHost.cs` and
//!   `ListingsManager.GetTunerChannelMapping`.
//! - `POST /LiveTv/ChannelMappings` toggles a pair posted twice, as `ListingsManager.SetChannelMapping`.
//! - `GET /ScheduledTasks` (`TaskInfo`: `Name, State, Id, Key, Category, IsHidden, Triggers`),
//!   `POST /ScheduledTasks/Running/{id}` → 204: `ScheduledTasksController.cs`,
//!   `MediaBrowser.Model/Tasks/TaskInfo.cs`; the guide task's key `RefreshGuide`:
//!   `RefreshGuideScheduledTask.cs`.
//! - `POST /Users/AuthenticateByName` → `AuthenticationResult {User, SessionInfo, AccessToken,
//!   ServerId}`: `UserController.cs`.
//! - Emby: `GET /LiveTv/TunerHosts`, `GET /LiveTv/ListingProviders` (arrays),
//!   `PUT /LiveTv/ChannelMappings?ProviderId=` (dev.emby.media RestAPI/LiveTvService).
//!   The XMLTV channels carry no number (no `lcn`), so the server cannot match them by
//!   number: only explicit mappings map them, the strictest case.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Call, Mode, decode_query, xmltv_channels};

/// Which server the fake plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Jellyfin,
    Emby,
}

/// Everything the fake holds.
pub struct JfState {
    pub flavor: Flavor,
    pub mode: Mode,
    pub api_key: String,
    pub user: (String, String),
    pub tokens: Vec<String>,
    pub tuner_hosts: Vec<Value>,
    pub providers: Vec<Value>,
    /// Tuner host id → (number, name) from its lineup.json.
    pub tuner_channels: HashMap<String, Vec<(String, String)>>,
    /// Provider id → XMLTV channels (id, display-names), cached as Jellyfin caches the file.
    pub guide: HashMap<String, Vec<(String, Vec<String>)>>,
    /// Guide refresh runs (each fetched the XMLTV: its text).
    pub refreshes: Vec<String>,
    pub calls: Vec<Call>,
    next: u32,
}

/// The fake server; stops on drop.
pub struct FakeJellyfin {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<JfState>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeJellyfin {
    /// Start on 127.0.0.1 with this API key (and user `admin` / `hunter22`).
    pub async fn start(flavor: Flavor, api_key: &str) -> Self {
        let state = Arc::new(Mutex::new(JfState {
            flavor,
            mode: Mode::Ok,
            api_key: api_key.to_owned(),
            user: ("admin".to_owned(), "hunter22".to_owned()),
            tokens: Vec::new(),
            tuner_hosts: Vec::new(),
            providers: Vec::new(),
            tuner_channels: HashMap::new(),
            guide: HashMap::new(),
            refreshes: Vec::new(),
            calls: Vec::new(),
            next: 0,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(handle).with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn writes(&self) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method != "GET").collect()
    }

    pub fn clear_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    /// The mappings (tuner channel id → XMLTV id) of the one provider.
    pub fn mappings(&self) -> Vec<(String, String)> {
        let s = self.state.lock().unwrap();
        s.providers
            .iter()
            .flat_map(|p| p["ChannelMappings"].as_array().cloned().unwrap_or_default())
            .map(|m| (m["Name"].as_str().unwrap_or("").to_owned(), m["Value"].as_str().unwrap_or("").to_owned()))
            .collect()
    }
}

impl Drop for FakeJellyfin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn json_answer(v: Value) -> Response {
    ([("content-type", "application/json; charset=utf-8")], v.to_string()).into_response()
}

async fn fetch(url: &str) -> Result<String, String> {
    let r = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap().get(url).send().await;
    match r {
        Ok(r) if r.status().is_success() => r.text().await.map_err(|e| e.to_string()),
        Ok(r) => Err(format!("{url}: {}", r.status())),
        Err(e) => Err(format!("{url}: {e}")),
    }
}

fn id32(n: u32) -> String {
    format!("{n:08x}5265b0b8a6c1f00d00000000")
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Load (or reload) a provider's XMLTV, as the guide refresh does.
async fn load_guide(state: &Arc<Mutex<JfState>>, provider: &str) -> Result<String, String> {
    let path = {
        let s = state.lock().unwrap();
        let p = s.providers.iter().find(|p| str_of(p, "Id") == provider).ok_or("no provider")?;
        str_of(p, "Path").to_owned()
    };
    let xml = fetch(&path).await?;
    state.lock().unwrap().guide.insert(provider.to_owned(), xmltv_channels(&xml));
    Ok(xml)
}

async fn handle(
    State(state): State<Arc<Mutex<JfState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let query = decode_query(q.as_deref());
    let path = uri.path().to_owned();
    let (mode, flavor) = {
        let mut s = state.lock().unwrap();
        s.calls.push(Call { method: method.to_string(), path: path.clone(), query: query.clone() });
        (s.mode, s.flavor)
    };
    match mode {
        Mode::Slow => tokio::time::sleep(Duration::from_secs(30)).await,
        Mode::Unauthorized => return StatusCode::UNAUTHORIZED.into_response(),
        Mode::Ok => {}
    }
    let q = |k: &str| query.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if (method.as_str(), path.as_str()) == ("POST", "/Users/AuthenticateByName") {
        let header = if flavor == Flavor::Emby { "x-emby-authorization" } else { "authorization" };
        let auth = headers.get(header).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut s = state.lock().unwrap();
        if !auth.starts_with("MediaBrowser ")
            || str_of(&body, "Username") != s.user.0
            || str_of(&body, "Pw") != s.user.1
        {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        s.next += 1;
        let token = format!("access{:024x}", s.next);
        s.tokens.push(token.clone());
        return json_answer(json!({
            "User": {"Name": s.user.0, "Id": id32(900), "Policy": {"IsAdministrator": true}},
            "SessionInfo": {"Id": id32(901), "Client": "Retrovue"},
            "AccessToken": token, "ServerId": id32(902),
        }));
    }
    {
        let s = state.lock().unwrap();
        let token = headers.get("x-emby-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if token != s.api_key && !s.tokens.iter().any(|t| t == token) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/System/Configuration/livetv") if flavor == Flavor::Jellyfin => {
            let s = state.lock().unwrap();
            json_answer(json!({
                "GuideDays": null, "RecordingPath": "", "EnableRecordingSubfolders": false,
                "TunerHosts": s.tuner_hosts, "ListingProviders": s.providers,
                "PrePaddingSeconds": 0, "PostPaddingSeconds": 0, "MediaLocationsCreated": [],
                "RecordingPostProcessorArguments": "\"{path}\"", "SaveRecordingNFO": true, "SaveRecordingImages": true,
            }))
        }
        ("GET", "/LiveTv/TunerHosts") if flavor == Flavor::Emby => {
            json_answer(json!(state.lock().unwrap().tuner_hosts))
        }
        ("GET", "/LiveTv/ListingProviders") if flavor == Flavor::Emby => {
            json_answer(json!(state.lock().unwrap().providers))
        }
        ("POST", "/LiveTv/TunerHosts") => {
            // Validation as HdHomerunHost does: discover.json must answer; its DeviceID is kept.
            let url = str_of(&body, "Url").trim_end_matches('/').to_owned();
            let discover: Value = match fetch(&format!("{url}/discover.json")).await {
                Ok(t) => serde_json::from_str(&t).unwrap_or(Value::Null),
                Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
            };
            let lineup: Value = match fetch(&format!("{url}/lineup.json")).await {
                Ok(t) => serde_json::from_str(&t).unwrap_or(Value::Null),
                Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
            };
            let channels: Vec<(String, String)> = lineup
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| (str_of(c, "GuideNumber").to_owned(), str_of(c, "GuideName").to_owned()))
                .collect();
            let mut s = state.lock().unwrap();
            let mut host = json!({
                "Id": "", "Url": "", "Type": "hdhomerun", "DeviceId": "", "FriendlyName": "", "ImportFavoritesOnly": false,
                "AllowHWTranscoding": true, "AllowFmp4TranscodingContainer": false, "AllowStreamSharing": true,
                "FallbackMaxStreamingBitrate": 30_000_000, "EnableStreamLooping": false, "Source": "", "TunerCount": 0,
                "UserAgent": null, "IgnoreDts": true, "ReadAtNativeFramerate": false,
            });
            for (k, v) in body.as_object().into_iter().flatten() {
                host[k] = v.clone();
            }
            host["DeviceId"] = discover["DeviceID"].clone();
            let id = str_of(&host, "Id").to_owned();
            let id = match s.tuner_hosts.iter().position(|h| !id.is_empty() && str_of(h, "Id") == id) {
                Some(i) => {
                    s.tuner_hosts[i] = host.clone();
                    id
                }
                None => {
                    s.next += 1;
                    let id = id32(s.next);
                    host["Id"] = json!(id);
                    s.tuner_hosts.push(host.clone());
                    id
                }
            };
            s.tuner_channels.insert(id, channels);
            json_answer(host)
        }
        ("DELETE", "/LiveTv/TunerHosts") => {
            let id = q("id").unwrap_or_default();
            state.lock().unwrap().tuner_hosts.retain(|h| str_of(h, "Id") != id);
            StatusCode::NO_CONTENT.into_response()
        }
        ("POST", "/LiveTv/ListingProviders") => {
            let mut provider = json!({
                "Id": "", "Type": "", "Path": "", "EnabledTuners": [], "EnableAllTuners": true,
                "NewsCategories": ["news", "journalism", "documentary", "current affairs"],
                "SportsCategories": ["sports", "basketball", "baseball", "football"],
                "KidsCategories": ["kids", "family", "children", "childrens", "disney"],
                "MovieCategories": ["movie"], "ChannelMappings": [],
            });
            for (k, v) in body.as_object().into_iter().flatten() {
                provider[k] = v.clone();
            }
            let id = str_of(&provider, "Id").to_owned();
            let mut s = state.lock().unwrap();
            let id = match s.providers.iter().position(|p| !id.is_empty() && str_of(p, "Id") == id) {
                Some(i) => {
                    s.providers[i] = provider.clone();
                    id
                }
                None => {
                    s.next += 1;
                    let id = id32(s.next);
                    provider["Id"] = json!(id);
                    s.providers.push(provider.clone());
                    id
                }
            };
            // Saving a provider drops its cached guide (InvalidateListingsProviderCache).
            s.guide.remove(&id);
            json_answer(provider)
        }
        ("DELETE", "/LiveTv/ListingProviders") => {
            let id = q("id").unwrap_or_default();
            state.lock().unwrap().providers.retain(|p| str_of(p, "Id") != id);
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", "/LiveTv/ChannelMappingOptions") => {
            let provider = q("providerId").unwrap_or_default();
            if !state.lock().unwrap().guide.contains_key(&provider)
                && let Err(e) = load_guide(&state, &provider).await
            {
                return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response();
            }
            let s = state.lock().unwrap();
            let Some(p) = s.providers.iter().find(|p| str_of(p, "Id") == provider) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let guide = s.guide.get(&provider).cloned().unwrap_or_default();
            let mappings = p["ChannelMappings"].as_array().cloned().unwrap_or_default();
            let enabled: Vec<String> = p["EnabledTuners"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            let all = p["EnableAllTuners"].as_bool().unwrap_or(true);
            let mut tuner_channels = Vec::new();
            for h in &s.tuner_hosts {
                let hid = str_of(h, "Id");
                if !all && !enabled.iter().any(|e| e == hid) {
                    continue;
                }
                for (n, name) in s.tuner_channels.get(hid).into_iter().flatten() {
                    let id = format!("hdhr_{n}");
                    let mapped =
                        mappings.iter().find(|m| str_of(m, "Name") == id).map(|m| str_of(m, "Value").to_owned());
                    let wanted = mapped.unwrap_or_else(|| id.clone());
                    let found = guide.iter().find(|(gid, _)| *gid == wanted);
                    tuner_channels.push(json!({
                        "Name": format!("{n} {name}"), "Id": id,
                        "ProviderChannelName": found.map(|(_, names)| names.first().cloned().unwrap_or_default()),
                        "ProviderChannelId": found.map(|(gid, _)| gid.clone()),
                    }));
                }
            }
            let provider_channels: Vec<Value> = guide
                .iter()
                .map(|(id, names)| json!({"Name": names.first().cloned().unwrap_or_default(), "Id": id}))
                .collect();
            json_answer(json!({
                "TunerChannels": tuner_channels, "ProviderChannels": provider_channels,
                "Mappings": mappings, "ProviderName": "XmlTV",
            }))
        }
        ("POST", "/LiveTv/ChannelMappings") | ("PUT", "/LiveTv/ChannelMappings") => {
            let provider = if method == Method::PUT {
                q("ProviderId").unwrap_or_default()
            } else {
                str_of(&body, "ProviderId").to_owned()
            };
            let (tuner, target) =
                (str_of(&body, "TunerChannelId").to_owned(), str_of(&body, "ProviderChannelId").to_owned());
            let mut s = state.lock().unwrap();
            let toggles = s.flavor == Flavor::Jellyfin;
            let Some(p) = s.providers.iter_mut().find(|p| str_of(p, "Id") == provider) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let mut maps = p["ChannelMappings"].as_array().cloned().unwrap_or_default();
            let exists = maps.iter().any(|m| str_of(m, "Name") == tuner && str_of(m, "Value") == target);
            maps.retain(|m| str_of(m, "Name") != tuner);
            if tuner != target && !(toggles && exists) {
                maps.push(json!({"Name": tuner, "Value": target}));
            }
            p["ChannelMappings"] = Value::Array(maps);
            if flavor == Flavor::Emby {
                return StatusCode::NO_CONTENT.into_response();
            }
            json_answer(json!({"Name": tuner, "ProviderChannelName": null, "ProviderChannelId": target, "Id": tuner}))
        }
        ("GET", "/ScheduledTasks") => json_answer(json!([
            {"Name": "Scan Media Library", "State": "Idle", "Id": id32(700), "Key": "RefreshLibrary",
             "Category": "Library", "IsHidden": false, "Triggers": [], "Description": "Scans your media library."},
            {"Name": "Refresh Guide", "State": "Idle", "Id": id32(701), "Key": "RefreshGuide",
             "Category": "Live TV", "IsHidden": false,
             "Triggers": [{"Type": "IntervalTrigger", "IntervalTicks": 864_000_000_000u64}],
             "Description": "Downloads channel information from live tv services."},
        ])),
        ("POST", p) if p == format!("/ScheduledTasks/Running/{}", id32(701)) => {
            let ids: Vec<String> = state.lock().unwrap().providers.iter().map(|p| str_of(p, "Id").to_owned()).collect();
            for id in ids {
                match load_guide(&state, &id).await {
                    Ok(xml) => state.lock().unwrap().refreshes.push(xml),
                    Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
                }
            }
            StatusCode::NO_CONTENT.into_response()
        }
        _ => (StatusCode::NOT_FOUND, format!("fake server has no {method} {path}")).into_response(),
    }
}
