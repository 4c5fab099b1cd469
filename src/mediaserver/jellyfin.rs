//! Jellyfin and Emby: add this box as an HDHomeRun tuner host with our XMLTV guide as its
//! listings provider, map every channel to its guide channel, and run "Refresh Guide",
//! through their Live TV API (`X-Emby-Token`, JSON).
//!
//! The call sequence ([`reconcile`]):
//! 1. The tuner hosts (Jellyfin: `GET /System/Configuration/livetv`, its `TunerHosts`; Emby:
//!    `GET /LiveTv/TunerHosts`). Ours: type `hdhomerun` with our DeviceID, our URL, or the id
//!    we stored. None: `POST /LiveTv/TunerHosts {Type: "hdhomerun", Url, FriendlyName, …}`.
//!    At another URL (the box moved): the same POST with its `Id` and the new `Url` (the
//!    server replaces the host in place, keeping its id and channels).
//! 2. The listings providers (`ListingProviders` of the same configuration; Emby:
//!    `GET /LiveTv/ListingProviders`). Ours: type `xmltv` with our stored id or our XMLTV URL.
//!    None: `POST /LiveTv/ListingProviders?validateListings=false&validateLogin=false
//!    {Type: "xmltv", Path: <XMLTV URL>, EnableAllTuners: false, EnabledTuners: [<our host>]}`.
//!    Stale `Path`: the same POST with its `Id`.
//! 3. When anything changed or the guide changed since the last load: `GET /ScheduledTasks`,
//!    the task whose `Key` is `RefreshGuide`, `POST /ScheduledTasks/Running/<Id>`.
//! 4. `GET /LiveTv/ChannelMappingOptions?providerId=<id>`: for each of our channels whose tuner
//!    channel (`Name` "<number> <name>") does not resolve to its XMLTV id, Jellyfin:
//!    `POST /LiveTv/ChannelMappings {ProviderId, TunerChannelId, ProviderChannelId}`; Emby:
//!    `PUT /LiveTv/ChannelMappings?ProviderId=<id> {TunerChannelId, ProviderChannelId}`.
//!    Only differing pairs are sent: Jellyfin's `SetChannelMapping` removes a pair that is
//!    posted again (ListingsManager.cs), so a blind re-post would undo the mapping.
//!
//! [`unlink`]: `DELETE /LiveTv/ListingProviders?id=…` and `DELETE /LiveTv/TunerHosts?id=…`.
//! [`login`]: `POST /Users/AuthenticateByName {Username, Pw}` → `AccessToken`.
//!
//! Followed (read, not copied): Jellyfin's `Jellyfin.Api/Controllers/LiveTvController.cs`,
//! `ConfigurationController.cs`, `ScheduledTasksController.cs`, `MediaBrowser.Model/LiveTv/
//! {TunerHostInfo,ListingsProviderInfo,LiveTvOptions,ChannelMappingOptionsDto}.cs` and
//! `src/Jellyfin.LiveTv/Listings/ListingsManager.cs` (jellyfin/jellyfin c3ed140); Emby's REST
//! reference (dev.emby.media, LiveTvService: `GET /LiveTv/TunerHosts`,
//! `GET /LiveTv/ListingProviders`, `PUT /LiveTv/ChannelMappings`); iptvtunerr
//! `internal/emby/register.go` (rkdavies/iptvtunerr 15d7cff: the register + RefreshGuide flow).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::Http;
use super::{Change, LinkError, Outcome, Secret, Target, same_url};

/// Between two reads of mapping options the server is still filling.
const MAP_POLL: Duration = Duration::from_secs(3);

/// Jellyfin or Emby: where their APIs differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Jellyfin 10.x.
    Jellyfin,
    /// Emby 4.x.
    Emby,
}

/// A client for a Jellyfin or Emby server with an API key (or a login's access token).
pub fn client(url: &str, key: Secret, timeout: Duration) -> Http {
    Http::new(url, "X-Emby-Token", key, timeout)
}

/// The keys the server gave our tuner host and listings provider when we made them.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Tuner host id.
    pub device_key: Option<String>,
    /// Listings provider id.
    pub guide_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LiveTvOptions {
    #[serde(default)]
    tuner_hosts: Vec<Value>,
    #[serde(default)]
    listing_providers: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MappingOptions {
    #[serde(default)]
    tuner_channels: Vec<TunerChannel>,
    #[serde(default)]
    provider_channels: Vec<NameId>,
    #[serde(default)]
    mappings: Vec<NameValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TunerChannel {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    provider_channel_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameId {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameValue {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Task {
    id: String,
    #[serde(default)]
    key: Option<String>,
}

fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or("")
}

async fn configuration(http: &Http, flavor: Flavor) -> Result<LiveTvOptions, LinkError> {
    match flavor {
        Flavor::Jellyfin => http.get("/System/Configuration/livetv", &[]).await,
        Flavor::Emby => Ok(LiveTvOptions {
            tuner_hosts: http.get("/LiveTv/TunerHosts", &[]).await?,
            listing_providers: http.get("/LiveTv/ListingProviders", &[]).await?,
        }),
    }
}

fn our_tuner<'a>(hosts: &'a [Value], t: &Target, known: &Known) -> Option<&'a Value> {
    hosts.iter().find(|h| {
        field(h, "Type").eq_ignore_ascii_case("hdhomerun")
            && (field(h, "DeviceId").eq_ignore_ascii_case(&t.device_id)
                || same_url(field(h, "Url"), &t.base_url)
                || known.device_key.as_deref() == Some(field(h, "Id")))
    })
}

fn our_provider<'a>(providers: &'a [Value], t: &Target, known: &Known) -> Option<&'a Value> {
    providers.iter().find(|p| {
        field(p, "Type").eq_ignore_ascii_case("xmltv")
            && (known.guide_key.as_deref() == Some(field(p, "Id")) || same_url(field(p, "Path"), &t.xmltv_url))
    })
}

/// Register, attach, map and refresh: see the module doc.
pub async fn reconcile(
    http: &Http,
    flavor: Flavor,
    t: &Target,
    known: &Known,
    loaded_mark: Option<u64>,
    map_wait: Duration,
) -> Result<Outcome, LinkError> {
    let mut out = Outcome::default();
    let config = configuration(http, flavor).await?;

    // 1. The tuner host.
    let tuner_id = match our_tuner(&config.tuner_hosts, t, known) {
        Some(h) if same_url(field(h, "Url"), &t.base_url) => field(h, "Id").to_owned(),
        Some(h) => {
            let mut host = h.clone();
            host["Url"] = json!(t.base_url);
            let saved: Value = http.decode(
                "/LiveTv/TunerHosts",
                &http.send(Method::POST, "/LiveTv/TunerHosts", &[], Some(&host)).await?,
            )?;
            out.changes.push(Change::DeviceMoved { from: field(h, "Url").to_owned() });
            id_of(&saved, "tuner host")?
        }
        None => {
            let host = json!({
                "Type": "hdhomerun",
                "Url": t.base_url,
                "DeviceId": t.device_id,
                "FriendlyName": t.friendly_name,
                "TunerCount": t.tuner_count,
                "ImportFavoritesOnly": false,
                "AllowHWTranscoding": false,
                "AllowStreamSharing": true,
                "EnableStreamLooping": false,
                "IgnoreDts": true,
            });
            let saved: Value = http.decode(
                "/LiveTv/TunerHosts",
                &http.send(Method::POST, "/LiveTv/TunerHosts", &[], Some(&host)).await?,
            )?;
            out.changes.push(Change::DeviceAdded);
            id_of(&saved, "tuner host")?
        }
    };
    out.device_key = tuner_id.clone();

    // 2. The listings provider.
    let add_query = [("validateListings", "false"), ("validateLogin", "false")];
    let provider_id = match our_provider(&config.listing_providers, t, known) {
        Some(p) if same_url(field(p, "Path"), &t.xmltv_url) => field(p, "Id").to_owned(),
        found => {
            let mut provider = match found {
                Some(p) => p.clone(),
                None => json!({"Type": "xmltv", "EnableAllTuners": false, "EnabledTuners": [tuner_id]}),
            };
            provider["Path"] = json!(t.xmltv_url);
            let path = "/LiveTv/ListingProviders";
            let saved: Value = http.decode(path, &http.send(Method::POST, path, &add_query, Some(&provider)).await?)?;
            out.changes.push(match found {
                None => Change::GuideAdded,
                Some(p) => Change::GuideMoved { from: field(p, "Path").to_owned() },
            });
            id_of(&saved, "listings provider")?
        }
    };
    out.guide_key = provider_id.clone();

    // 3. Refresh Guide.
    if !out.changes.is_empty() || loaded_mark != Some(t.guide_mark) {
        let tasks: Vec<Task> = http.get("/ScheduledTasks", &[]).await?;
        let task = tasks
            .iter()
            .find(|k| k.key.as_deref() == Some("RefreshGuide"))
            .ok_or_else(|| LinkError::Refused("the server has no RefreshGuide task".to_owned()))?;
        http.send(Method::POST, &format!("/ScheduledTasks/Running/{}", task.id), &[], None).await?;
        out.changes.push(Change::GuideReloaded);
    }

    // 4. The channel mappings.
    let query_key = if flavor == Flavor::Emby { "ProviderId" } else { "providerId" };
    let started = Instant::now();
    loop {
        let opts: MappingOptions =
            http.get("/LiveTv/ChannelMappingOptions", &[(query_key, provider_id.as_str())]).await?;
        let mut todo = Vec::new();
        let mut unmatched = Vec::new();
        for c in &t.channels {
            let tuner = opts.tuner_channels.iter().find(|tc| {
                tc.id.as_deref() == Some(&format!("hdhr_{}", c.number))
                    || tc.name.as_deref().and_then(|n| n.split_whitespace().next()) == Some(c.number.as_str())
            });
            let in_guide = opts.provider_channels.iter().any(|p| p.id.as_deref() == Some(&c.xmltv_id));
            match tuner {
                Some(tc) if tc.provider_channel_id.as_deref() == Some(&c.xmltv_id) => {}
                Some(tc) if in_guide => {
                    let id = tc.id.clone().unwrap_or_default();
                    let already = opts
                        .mappings
                        .iter()
                        .any(|m| m.name.as_deref() == Some(&id) && m.value.as_deref() == Some(&c.xmltv_id));
                    if !already {
                        todo.push((c.number.clone(), id, c.xmltv_id.clone()));
                    }
                }
                _ => unmatched.push(c.number.clone()),
            }
        }
        if !todo.is_empty() {
            for (_, tuner_channel, xmltv_id) in &todo {
                match flavor {
                    Flavor::Jellyfin => {
                        let body = json!({"ProviderId": provider_id, "TunerChannelId": tuner_channel, "ProviderChannelId": xmltv_id});
                        http.send(Method::POST, "/LiveTv/ChannelMappings", &[], Some(&body)).await?;
                    }
                    Flavor::Emby => {
                        let body = json!({"TunerChannelId": tuner_channel, "ProviderChannelId": xmltv_id});
                        http.send(Method::PUT, "/LiveTv/ChannelMappings", &[("ProviderId", &provider_id)], Some(&body))
                            .await?;
                    }
                }
            }
            out.changes
                .push(Change::ChannelsMapped { fixed: todo.into_iter().map(|(n, ..)| n).collect(), dropped: vec![] });
        }
        if unmatched.is_empty() || started.elapsed() >= map_wait {
            out.unmatched = unmatched;
            return Ok(out);
        }
        tokio::time::sleep(MAP_POLL).await;
    }
}

fn id_of(saved: &Value, what: &str) -> Result<String, LinkError> {
    let id = field(saved, "Id");
    if id.is_empty() {
        return Err(LinkError::Refused(format!("the server saved no {what} (its answer has no Id)")));
    }
    Ok(id.to_owned())
}

/// Remove our listings provider and tuner host; what was removed, in words.
pub async fn unlink(http: &Http, flavor: Flavor, t: &Target, known: &Known) -> Result<Vec<String>, LinkError> {
    let config = configuration(http, flavor).await?;
    let mut removed = Vec::new();
    if let Some(p) = our_provider(&config.listing_providers, t, known) {
        http.send(Method::DELETE, "/LiveTv/ListingProviders", &[("id", field(p, "Id"))], None).await?;
        removed.push(format!("listings provider {}", field(p, "Id")));
    }
    if let Some(h) = our_tuner(&config.tuner_hosts, t, known) {
        http.send(Method::DELETE, "/LiveTv/TunerHosts", &[("id", field(h, "Id"))], None).await?;
        removed.push(format!("tuner host {}", field(h, "Id")));
    }
    Ok(removed)
}

/// Log in with a user name and password: the access token to store instead of an API key.
pub async fn login(
    url: &str,
    flavor: Flavor,
    user: &str,
    password: &Secret,
    timeout: Duration,
    device_id: &str,
) -> Result<Secret, LinkError> {
    let authorization = format!(
        "MediaBrowser Client=\"Retrovue\", Device=\"Retrovue\", DeviceId=\"retrovue-{device_id}\", Version=\"{}\"",
        env!("CARGO_PKG_VERSION")
    );
    let header = if flavor == Flavor::Emby { "X-Emby-Authorization" } else { "Authorization" };
    // The login call carries no token yet: the client's own header is the one above.
    let http = Http::new(url, header, Secret::new(authorization), timeout);
    let body = json!({"Username": user, "Pw": password.expose()});
    let answer = http.send(Method::POST, "/Users/AuthenticateByName", &[], Some(&body)).await?;
    let v: Value = http.decode("/Users/AuthenticateByName", &answer)?;
    let token = field(&v, "AccessToken");
    if token.is_empty() {
        return Err(LinkError::Refused("the server's login answer has no AccessToken".to_owned()));
    }
    Ok(Secret::new(token))
}
