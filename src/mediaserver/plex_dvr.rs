//! Plex: register this box as an HDHomeRun DVR device with our XMLTV guide, map every channel
//! by number and load the guide, through the calls Plex's own "Set up Plex DVR" wizard makes.
//!
//! The call sequence ([`reconcile`]), each with `X-Plex-Token` and `Accept: application/json`:
//! 1. `GET /media/grabbers/devices`: our device is the one whose `uuid` is
//!    `device://tv.plex.grabbers.hdhomerun/<DeviceID>`. None: `POST /media/grabbers/devices
//!    ?uri=<base URL>` (Plex reads `<base>/discover.json` and files the device under its
//!    DeviceID). Present at another `uri` (the box moved): the same POST with the new address,
//!    which Plex files under the same DeviceID. A device is never registered twice.
//! 2. `GET /livetv/dvrs`: our DVR is the one holding our device. None: `POST /livetv/dvrs
//!    ?language=eng&device=<uuid>&lineup=lineup://tv.plex.providers.epg.xmltv/<XMLTV URL>#<name>`
//!    (URL and name percent-encoded inside the lineup URI). Its lineup names another XMLTV URL:
//!    `PUT /livetv/dvrs/<key>/lineups?lineup=<new>` then `DELETE …/lineups?lineup=<old>`, so the
//!    DVR (and its recording rules) survives.
//! 3. When anything above changed, or the guide changed since the last load:
//!    `POST /livetv/dvrs/<key>/reloadGuide`.
//! 4. `GET /livetv/epg/channelmap?device=<uuid>&lineup=<lineup>` (Plex's pairing of the device's
//!    channels with the guide's) and, when the DVR's enabled map differs from it for our
//!    channels, ONE `PUT /media/grabbers/devices/<device key>/channelmap?channelsEnabled=<all
//!    numbers>&channelMappingByKey[<n>]=<channelKey>&channelMapping[<n>]=<lineupIdentifier>`.
//!    The PUT replaces the whole map, so it is never batched and never sent empty.
//!
//! [`unlink`]: `DELETE /livetv/dvrs/<key>` for each DVR holding our device, then
//! `DELETE /media/grabbers/devices/<key>`.
//!
//! Followed (read, not copied): iptvtunerr `internal/plex/dvr.go` (rkdavies/iptvtunerr
//! 15d7cff: the wizard-equivalent device → DVR → reloadGuide → channelmap flow, the device
//! uuid scheme and the lineup URI form), dizqueTV `src/plex.js` (vexorian/dizquetv 826f217:
//! reloadGuide and the channelmap PUT's parameters), Tunarr `server/src/external/plex/
//! PlexApiClient.ts` and `types/src/plex/dvr.ts` (chrisbenincasa/tunarr d8dc5fd: the JSON
//! shapes of `/livetv/dvrs`), Plex's OpenAPI description (LukeHagar/plex-api-spec ae9507e:
//! `/livetv/dvrs/{id}/lineups`, `/media/grabbers/devices/{id}` DELETE), and the recorded
//! findings of the cluster-plex plan (PMS 1.43.4: the map PUT replaces the whole map).
//! The spec names the DVR array `DVR`, every client reads `Dvr`: both are accepted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;

use super::client::Http;
use super::{Change, LinkError, Outcome, Secret, Target, same_url};

/// Plex's grabber for HDHomeRun devices.
const GRABBER: &str = "tv.plex.grabbers.hdhomerun";
/// Plex's EPG provider for XMLTV guides.
const XMLTV_PROVIDER: &str = "tv.plex.providers.epg.xmltv";
/// Between two reads of a channel map Plex is still computing.
const MAP_POLL: Duration = Duration::from_secs(3);

/// A client for a Plex server.
pub fn client(url: &str, token: Secret, timeout: Duration, device_id: &str) -> Http {
    Http::new(url, "X-Plex-Token", token, timeout)
        .with_header("X-Plex-Product", "Retrovue")
        .with_header("X-Plex-Client-Identifier", format!("retrovue-{device_id}"))
}

/// The device uuid Plex gives an HDHomeRun with this DeviceID.
pub fn device_uuid(device_id: &str) -> String {
    format!("device://{GRABBER}/{device_id}")
}

/// The lineup URI of an XMLTV guide, as the wizard's "use an XMLTV guide" step makes it.
pub fn lineup_uri(xmltv_url: &str, title: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("lineup://{XMLTV_PROVIDER}/{}#{}", enc(xmltv_url), enc(title))
}

/// The XMLTV URL inside a lineup URI (Plex reports it decoded or encoded; both are read).
pub fn lineup_xmltv_url(lineup: &str) -> Option<String> {
    let rest = lineup.strip_prefix(&format!("lineup://{XMLTV_PROVIDER}/"))?;
    let url = rest.split('#').next().unwrap_or(rest);
    if url.contains("://") {
        return Some(url.to_owned());
    }
    url::form_urlencoded::parse(format!("u={url}").as_bytes()).next().map(|(_, v)| v.into_owned())
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    #[serde(rename = "MediaContainer")]
    container: T,
}

#[derive(Debug, Default, Deserialize)]
struct Devices {
    #[serde(rename = "Device", default)]
    devices: Vec<Device>,
}

#[derive(Debug, Clone, Deserialize)]
struct Device {
    #[serde(deserialize_with = "text")]
    key: String,
    #[serde(default)]
    uuid: String,
    #[serde(default)]
    uri: String,
    #[serde(rename = "ChannelMapping", default)]
    mappings: Vec<Mapping>,
}

#[derive(Debug, Clone, Deserialize)]
struct Mapping {
    #[serde(rename = "deviceIdentifier", default, deserialize_with = "opt_text")]
    device_identifier: Option<String>,
    #[serde(rename = "channelKey", default, deserialize_with = "opt_text")]
    channel_key: Option<String>,
    #[serde(rename = "lineupIdentifier", default, deserialize_with = "opt_text")]
    lineup_identifier: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    enabled: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Dvrs {
    #[serde(rename = "Dvr", alias = "DVR", default)]
    dvrs: Vec<Dvr>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Dvr {
    #[serde(deserialize_with = "text")]
    key: String,
    #[serde(default)]
    lineup: String,
    #[serde(rename = "Device", default)]
    devices: Vec<Device>,
}

#[derive(Debug, Default, Deserialize)]
struct ChannelMap {
    #[serde(rename = "ChannelMapping", default)]
    mappings: Vec<Mapping>,
}

fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_text(d)?.ok_or_else(|| serde::de::Error::custom("expected a string or number"))
}

fn opt_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(if b { "1" } else { "0" }.to_owned()),
        _ => None,
    })
}

impl Dvr {
    fn holds(&self, uuid: &str) -> bool {
        self.devices.iter().any(|d| d.uuid == uuid)
    }
}

async fn list_devices(http: &Http) -> Result<Vec<Device>, LinkError> {
    Ok(http.get::<Envelope<Devices>>("/media/grabbers/devices", &[]).await?.container.devices)
}

async fn list_dvrs(http: &Http) -> Result<Vec<Dvr>, LinkError> {
    Ok(http.get::<Envelope<Dvrs>>("/livetv/dvrs", &[]).await?.container.dvrs)
}

/// Our DVR: the lowest-keyed one holding our device (Plex may list duplicates).
fn our_dvr(dvrs: &[Dvr], uuid: &str) -> Option<Dvr> {
    dvrs.iter().filter(|d| d.holds(uuid)).min_by_key(|d| d.key.parse::<u64>().unwrap_or(u64::MAX)).cloned()
}

/// (channelKey, lineupIdentifier) per device channel number.
type Map = BTreeMap<String, (String, String)>;

fn enabled_map(dvr: &Dvr, uuid: &str) -> Map {
    dvr.devices
        .iter()
        .filter(|d| d.uuid == uuid)
        .flat_map(|d| d.mappings.iter())
        .filter(|m| m.enabled.as_deref() == Some("1"))
        .filter_map(|m| {
            Some((
                m.device_identifier.clone()?,
                (m.channel_key.clone().unwrap_or_default(), m.lineup_identifier.clone()?),
            ))
        })
        .collect()
}

/// Register, attach, map and load: see the module doc. `loaded_mark` is the guide mark the
/// server last loaded (None: never); `map_wait` is how long to wait for Plex to match the
/// channels after a guide load (0: report them unmatched at once).
pub async fn reconcile(
    http: &Http,
    t: &Target,
    loaded_mark: Option<u64>,
    map_wait: Duration,
) -> Result<Outcome, LinkError> {
    let uuid = device_uuid(&t.device_id);
    let mut out = Outcome::default();

    // 1. The device.
    let device = match list_devices(http).await?.into_iter().find(|d| d.uuid == uuid) {
        Some(d) if same_url(&d.uri, &t.base_url) => d,
        found => {
            http.send(Method::POST, "/media/grabbers/devices", &[("uri", &t.base_url)], None).await?;
            let d = list_devices(http).await?.into_iter().find(|d| d.uuid == uuid).ok_or_else(|| {
                LinkError::Refused(format!(
                    "Plex did not add the tuner at {}: can the Plex server reach {}/discover.json?",
                    t.base_url, t.base_url
                ))
            })?;
            if !same_url(&d.uri, &t.base_url) {
                return Err(LinkError::Refused(format!(
                    "Plex kept the tuner at {} instead of {}: can the Plex server reach {}/discover.json?",
                    d.uri, t.base_url, t.base_url
                )));
            }
            out.changes.push(match found {
                None => Change::DeviceAdded,
                Some(old) => Change::DeviceMoved { from: old.uri },
            });
            d
        }
    };
    out.device_key = device.key.clone();

    // 2. The DVR with our guide.
    let lineup = lineup_uri(&t.xmltv_url, &t.friendly_name);
    let dvr = match our_dvr(&list_dvrs(http).await?, &uuid) {
        None => {
            let body = http
                .send(
                    Method::POST,
                    "/livetv/dvrs",
                    &[("language", "eng"), ("device", &uuid), ("lineup", &lineup)],
                    None,
                )
                .await?;
            let created: Envelope<Dvrs> = http.decode("/livetv/dvrs", &body)?;
            let dvr = match our_dvr(&created.container.dvrs, &uuid) {
                Some(d) => d,
                None => our_dvr(&list_dvrs(http).await?, &uuid).ok_or_else(|| {
                    LinkError::Refused(format!(
                        "Plex did not create the DVR{}",
                        created.container.message.map(|m| format!(": {m}")).unwrap_or_default()
                    ))
                })?,
            };
            out.changes.push(Change::GuideAdded);
            dvr
        }
        Some(d) if lineup_xmltv_url(&d.lineup).is_some_and(|u| same_url(&u, &t.xmltv_url)) => d,
        Some(d) => {
            let path = format!("/livetv/dvrs/{}/lineups", d.key);
            http.send(Method::PUT, &path, &[("lineup", &lineup)], None).await?;
            http.send(Method::DELETE, &path, &[("lineup", &d.lineup)], None).await?;
            let moved = our_dvr(&list_dvrs(http).await?, &uuid)
                .filter(|n| lineup_xmltv_url(&n.lineup).is_some_and(|u| same_url(&u, &t.xmltv_url)))
                .ok_or_else(|| {
                    LinkError::Refused(format!("Plex kept the DVR's guide at {} instead of {}", d.lineup, t.xmltv_url))
                })?;
            out.changes.push(Change::GuideMoved { from: lineup_xmltv_url(&d.lineup).unwrap_or(d.lineup) });
            moved
        }
    };
    out.guide_key = dvr.key.clone();

    // 3. The guide load: Plex computes the channel map from the loaded guide.
    if !out.changes.is_empty() || loaded_mark != Some(t.guide_mark) {
        http.send(Method::POST, &format!("/livetv/dvrs/{}/reloadGuide", dvr.key), &[], None).await?;
        out.changes.push(Change::GuideReloaded);
    }

    // 4. The channel map.
    let current = enabled_map(&dvr, &uuid);
    let started = Instant::now();
    let (desired, unmatched) = loop {
        let computed: Envelope<ChannelMap> =
            http.get("/livetv/epg/channelmap", &[("device", &uuid), ("lineup", &dvr.lineup)]).await?;
        let by_number: Map = computed
            .container
            .mappings
            .into_iter()
            .filter_map(|m| Some((m.device_identifier?, (m.channel_key.unwrap_or_default(), m.lineup_identifier?))))
            .collect();
        let mut desired = Map::new();
        let mut unmatched = Vec::new();
        for c in &t.channels {
            // A channel Plex has not matched yet keeps the mapping it has, if any.
            match by_number.get(&c.number).or_else(|| current.get(&c.number)) {
                Some(m) => {
                    desired.insert(c.number.clone(), m.clone());
                }
                None => unmatched.push(c.number.clone()),
            }
        }
        if unmatched.is_empty() || started.elapsed() >= map_wait {
            break (desired, unmatched);
        }
        tokio::time::sleep(MAP_POLL).await;
    };
    if !desired.is_empty() && desired != current {
        put_map(http, &device.key, &desired).await?;
        let fixed = desired.iter().filter(|(n, m)| current.get(*n) != Some(m)).map(|(n, _)| n.clone()).collect();
        let dropped = current.keys().filter(|n| !desired.contains_key(*n)).cloned().collect();
        out.changes.push(Change::ChannelsMapped { fixed, dropped });
    }
    out.unmatched = unmatched;
    Ok(out)
}

/// The one PUT that replaces the device's channel map.
async fn put_map(http: &Http, device_key: &str, map: &Map) -> Result<(), LinkError> {
    let numbers: BTreeSet<&String> = map.keys().collect();
    let enabled = numbers.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(",");
    let mut query: Vec<(String, String)> = vec![("channelsEnabled".into(), enabled)];
    for (n, (key, lineup_id)) in map {
        query.push((format!("channelMappingByKey[{n}]"), key.clone()));
        query.push((format!("channelMapping[{n}]"), lineup_id.clone()));
    }
    let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    http.send(Method::PUT, &format!("/media/grabbers/devices/{device_key}/channelmap"), &pairs, None).await?;
    Ok(())
}

/// Remove our DVR(s) and our device from Plex; what was removed, in words.
pub async fn unlink(http: &Http, device_id: &str) -> Result<Vec<String>, LinkError> {
    let uuid = device_uuid(device_id);
    let mut removed = Vec::new();
    for dvr in list_dvrs(http).await?.iter().filter(|d| d.holds(&uuid)) {
        http.send(Method::DELETE, &format!("/livetv/dvrs/{}", dvr.key), &[], None).await?;
        removed.push(format!("DVR {}", dvr.key));
    }
    if let Some(d) = list_devices(http).await?.into_iter().find(|d| d.uuid == uuid) {
        http.send(Method::DELETE, &format!("/media/grabbers/devices/{}", d.key), &[], None).await?;
        removed.push(format!("tuner {}", d.key));
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lineup_uri_carries_the_xmltv_url_both_ways() {
        let l = lineup_uri("http://10.0.0.2:8080/xmltv.xml", "Retrovue Box");
        assert_eq!(l, "lineup://tv.plex.providers.epg.xmltv/http%3A%2F%2F10.0.0.2%3A8080%2Fxmltv.xml#Retrovue+Box");
        assert_eq!(lineup_xmltv_url(&l).as_deref(), Some("http://10.0.0.2:8080/xmltv.xml"));
        // As Plex lists it (decoded), e.g. in a Tunarr DVR.
        let shown = "lineup://tv.plex.providers.epg.xmltv/http://10.10.1.202:18765/api/xmltv.xml#Projectionist";
        assert_eq!(lineup_xmltv_url(shown).as_deref(), Some("http://10.10.1.202:18765/api/xmltv.xml"));
        assert_eq!(lineup_xmltv_url("lineup://tv.plex.providers.epg.onconnect/USA-HI51418-X"), None);
    }

    #[test]
    fn dvr_json_with_dvr_or_dvr_capitals_and_numeric_keys_decodes() {
        // Shape of GET /livetv/dvrs as Tunarr's PlexDvrsResponse and the Plex API blueprint
        // show it (keys as strings or numbers, `enabled` as "1").
        let text = r#"{"MediaContainer":{"size":1,"Dvr":[{"key":"28","uuid":"811e2e8a","language":"eng",
            "lineup":"lineup://tv.plex.providers.epg.xmltv/http://x/xmltv.xml#R","Device":[{"key":17,"parentID":28,
            "uuid":"device://tv.plex.grabbers.hdhomerun/1053C0CA","uri":"http://10.0.0.42","ChannelMapping":[
            {"channelKey":"k1","deviceIdentifier":"46.3","enabled":"1","lineupIdentifier":"002"},
            {"deviceIdentifier":"48.1","enabled":"0"}]}]}]}}"#;
        let d: Envelope<Dvrs> = serde_json::from_str(text).unwrap();
        let dvr = &d.container.dvrs[0];
        assert_eq!(dvr.devices[0].key, "17");
        let map = enabled_map(dvr, "device://tv.plex.grabbers.hdhomerun/1053C0CA");
        assert_eq!(map.len(), 1);
        assert_eq!(map["46.3"], ("k1".to_owned(), "002".to_owned()));
        let caps: Envelope<Dvrs> = serde_json::from_str(r#"{"MediaContainer":{"DVR":[{"key":1}]}}"#).unwrap();
        assert_eq!(caps.container.dvrs[0].key, "1");
    }
}
