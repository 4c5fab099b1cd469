//! `/api/settings`, `/api/timezones`: the box's settings. Values are stored in
//! `system_config` (through `config::store`). Those the daemon reads at start (name, time
//! zone, tuners, encoder, announcements) are laid over the file by `config::overrides` at
//! the next start: the answer lists them under `restart_needed` until then. The output
//! default applies to channels created afterwards, the Plex token to Plex sources added
//! without one. The Plex token is never sent back in full.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::config::{Config, EncoderChoice, overrides, store as config_store};
use crate::lineup::OutputProfile;
use crate::web::WebState;
use crate::web::error::{Error, Flatten};

/// Key of the default output profile of new channels (JSON).
pub const OUTPUT_DEFAULT: &str = "output.default";
/// Key of the Plex token used when a Plex source is added without one.
pub const PLEX_TOKEN: &str = "plex.token";

/// The settings the page edits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Values {
    /// Device name.
    pub device_name: String,
    /// IANA time zone.
    pub timezone: String,
    /// Tuners (0 = automatic).
    pub tuner_count: u32,
    /// `auto` or an element name.
    pub encoder: String,
    /// SSDP/mDNS announcements.
    pub announce: bool,
}

impl Values {
    fn of(c: &Config) -> Self {
        Self {
            device_name: c.device.friendly_name.clone(),
            timezone: c.schedule.timezone.name().to_owned(),
            tuner_count: c.device.tuner_count.unwrap_or(0),
            encoder: match &c.playout.encoder {
                EncoderChoice::Auto => "auto".to_owned(),
                EncoderChoice::Named(n) => n.clone(),
            },
            announce: c.device.announce,
        }
    }
}

/// URLs to give Plex (and other clients).
#[derive(Debug, Serialize)]
pub struct Urls {
    /// The device address Plex asks for ("http://192.168.1.50").
    pub device: String,
    /// The XMLTV guide.
    pub xmltv: String,
    /// The M3U playlist.
    pub m3u: String,
    /// The HDHomeRun discovery document.
    pub discover: String,
}

/// `GET /api/settings`
#[derive(Debug, Serialize)]
pub struct SettingsView {
    /// Stored values (what runs after the next start).
    pub values: Values,
    /// What the daemon runs with now.
    pub running: Values,
    /// Names of the values that differ from what runs: a restart applies them.
    pub restart_needed: Vec<&'static str>,
    /// Default output profile of new channels.
    pub output: OutputProfile,
    /// Whether a Plex token is stored, and its last 4 characters.
    pub plex_token: Option<String>,
    /// Encoders found on this box.
    pub encoders: Vec<String>,
    /// URLs for Plex.
    pub urls: Urls,
}

/// The base URL clients should use, by the box's one rule ([`crate::config::BaseUrl`]):
/// `server.base_url`, else the address the browser used (a `localhost` or `.local` one
/// replaced by the box's numeric address, which Plex on another machine can reach).
pub fn base_url(state: &WebState, headers: &HeaderMap) -> String {
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok());
    crate::config::BaseUrl::new(state.config.server.base_url.as_deref(), state.local_addr).for_request(host, None)
}

/// Every route of this file.
pub fn router() -> Router<WebState> {
    Router::new().route("/settings", get(show).put(update)).route("/timezones", get(timezones))
}

async fn stored(state: &WebState) -> Result<Vec<(String, String)>, Error> {
    state.db.call(|c| config_store::all(c)).await.flat("reading settings")
}

/// `GET /api/settings`
pub async fn show(State(state): State<WebState>, headers: HeaderMap) -> Result<Json<SettingsView>, Error> {
    let stored = stored(&state).await?;
    let mut next = (*state.config).clone();
    overrides::apply_all(&mut next, &stored);
    let (values, running) = (Values::of(&next), Values::of(&state.config));
    let mut restart_needed = Vec::new();
    if values.device_name != running.device_name {
        restart_needed.push("device_name");
    }
    if values.timezone != running.timezone {
        restart_needed.push("timezone");
    }
    if values.tuner_count != running.tuner_count {
        restart_needed.push("tuner_count");
    }
    if values.encoder != running.encoder {
        restart_needed.push("encoder");
    }
    if values.announce != running.announce {
        restart_needed.push("announce");
    }
    let get = |k: &str| stored.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let output = get(OUTPUT_DEFAULT).and_then(|v| serde_json::from_str(&v).ok()).unwrap_or_default();
    let base = base_url(&state, &headers);
    Ok(Json(SettingsView {
        values,
        running,
        restart_needed,
        output,
        plex_token: get(PLEX_TOKEN).map(|t| crate::library::secret::mask(&t)),
        encoders: state.encoders.clone(),
        urls: Urls {
            xmltv: format!("{base}/xmltv.xml"),
            m3u: format!("{base}/playlist.m3u"),
            discover: format!("{base}/discover.json"),
            device: base,
        },
    }))
}

/// Body of `PUT /api/settings`: only the fields present change.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    /// Device name.
    pub device_name: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Tuners (0 = automatic).
    pub tuner_count: Option<u32>,
    /// `auto` or one of the detected encoders.
    pub encoder: Option<String>,
    /// Announcements.
    pub announce: Option<bool>,
    /// Default output profile of new channels.
    pub output: Option<OutputProfile>,
    /// Plex token (`""` removes it).
    pub plex_token: Option<String>,
}

/// `PUT /api/settings`
pub async fn update(
    State(state): State<WebState>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<SettingsView>, Error> {
    // Decoded here, not by axum's extractor: a checked value out of range (the output
    // profile's bitrates) is a 400 with its own message, as for a channel.
    let body: Update = serde_json::from_value(body).map_err(|e| Error::BadRequest(e.to_string()))?;
    let mut writes: Vec<(&'static str, Option<String>)> = Vec::new();
    if let Some(v) = body.device_name {
        writes.push((overrides::FRIENDLY_NAME, Some(v.trim().to_owned())));
    }
    if let Some(v) = body.timezone {
        writes.push((overrides::TIMEZONE, Some(v)));
    }
    if let Some(v) = body.tuner_count {
        writes.push((overrides::TUNER_COUNT, Some(v.to_string())));
    }
    if let Some(v) = body.encoder {
        if v != "auto" && !state.encoders.contains(&v) {
            return Err(Error::BadRequest(format!(
                "encoder {v:?} was not found on this box; choose auto or one of: {}",
                state.encoders.join(", ")
            )));
        }
        writes.push((overrides::ENCODER, Some(v)));
    }
    if let Some(v) = body.announce {
        writes.push((overrides::ANNOUNCE, Some(v.to_string())));
    }
    // Validate everything before storing anything.
    let mut probe = (*state.config).clone();
    for (k, v) in &writes {
        if let Some(v) = v {
            overrides::apply(&mut probe, k, v).map_err(|e| Error::BadRequest(e.to_string()))?;
        }
    }
    if let Some(o) = body.output {
        writes.push((OUTPUT_DEFAULT, Some(serde_json::to_string(&o).expect("profile json"))));
    }
    if let Some(t) = body.plex_token {
        let t = t.trim().to_owned();
        if t.len() > 200 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::BadRequest("the Plex token has unexpected characters".into()));
        }
        writes.push((PLEX_TOKEN, (!t.is_empty()).then_some(t)));
    }
    let now = state.now_ms();
    state
        .db
        .call(move |c| {
            writes.iter().try_for_each(|(k, v)| match v {
                Some(v) => config_store::set(c, k, v, now),
                None => config_store::unset(c, k),
            })
        })
        .await
        .flat("storing settings")?;
    show(State(state), headers).await
}

/// `GET /api/timezones`: every IANA zone name.
pub async fn timezones() -> Json<Vec<&'static str>> {
    Json(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect())
}
