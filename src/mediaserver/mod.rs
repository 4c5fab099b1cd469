//! Zero-touch setup and a self-healing link with the media servers that watch this box:
//! Plex (its DVR API) and Jellyfin / Emby (their Live TV API).
//!
//! Owns the `media_server_links` table ([`store`]). Exposes [`Links`] ([`links`]): `link`
//! registers the box on a server exactly as that server's own setup wizard would (tuner
//! device, XMLTV guide, every channel mapped by number, a guide load) and remembers it;
//! `unlink` takes it all away again; and, in the daemon, one task per linked server
//! re-checks the link after every guide change (debounced) and every few minutes, repairs
//! what it finds lost or stale (a channel missing from the map, a device URL that moved with
//! DHCP, a deleted DVR) and backs off while the server is down or refuses the key.
//!
//! The server-specific calls live in [`plex_dvr`] and [`jellyfin`] (Jellyfin and Emby share
//! one API family); each is one idempotent `reconcile`: read the server's state, write only
//! what differs, so running it twice changes nothing. What the box advertises (its base URL
//! as the server reaches it, its HDHomeRun DeviceID, the channels, a fingerprint of the guide)
//! comes in as a [`Target`] built by the director: this module never imports `hdhr`,
//! `guide`, `web` or `playout`, and learns of changes only through the `watch` it is given.
//!
//! Secrets (Plex tokens, Jellyfin/Emby API keys) are [`Secret`]s: stored in the table, sent
//! only in request headers, never in a URL, a log line, an error or an answer.

pub mod client;
pub mod jellyfin;
pub mod links;
pub mod plex_dvr;
pub mod store;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

pub use links::{LinkRequest, Linked, Links, Settings, TargetSource, Unlinked};

/// Which kind of media server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    /// Plex Media Server (Live TV & DVR).
    Plex,
    /// Jellyfin (Live TV).
    Jellyfin,
    /// Emby (Live TV).
    Emby,
}

impl ServerKind {
    /// The name stored and shown (`plex`, `jellyfin`, `emby`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plex => "plex",
            Self::Jellyfin => "jellyfin",
            Self::Emby => "emby",
        }
    }

    /// The product name for messages.
    pub fn title(self) -> &'static str {
        match self {
            Self::Plex => "Plex",
            Self::Jellyfin => "Jellyfin",
            Self::Emby => "Emby",
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServerKind {
    type Err = LinkError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "plex" => Ok(Self::Plex),
            "jellyfin" => Ok(Self::Jellyfin),
            "emby" => Ok(Self::Emby),
            other => Err(LinkError::Invalid(format!("unknown media server kind {other:?}"))),
        }
    }
}

/// Database id of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct LinkId(pub i64);

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A token or API key. Its `Debug` hides it and it has no `Display`, so it cannot slip into
/// a log line or an error message by accident; [`Secret::expose`] is the one way out.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for a request header or the store.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// One channel as a media server must see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRef {
    /// Number (`GuideNumber` in lineup.json, the device's channel id).
    pub number: String,
    /// Name.
    pub name: String,
    /// The channel's XMLTV id (stable across renames and renumbering).
    pub xmltv_id: String,
}

/// What this box advertises to one media server, as that server reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The HDHomeRun DeviceID (8 hex digits) `discover.json` reports.
    pub device_id: String,
    /// FriendlyName (the tuner's title in the server).
    pub friendly_name: String,
    /// Tuners offered.
    pub tuner_count: u32,
    /// Base URL of the tuner (`<base>/discover.json`), as the server reaches the box.
    pub base_url: String,
    /// The XMLTV guide URL.
    pub xmltv_url: String,
    /// Every enabled channel, by number.
    pub channels: Vec<ChannelRef>,
    /// Changes whenever the guide's content does (schedule published, channel renamed…).
    pub guide_mark: u64,
}

/// Something a reconcile changed on the server (or found changed and repaired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The tuner was registered.
    DeviceAdded,
    /// The tuner's address was stale (the box moved, e.g. a new DHCP lease) and was updated.
    DeviceMoved {
        /// The address the server had.
        from: String,
    },
    /// The DVR / listings provider with our XMLTV guide was created.
    GuideAdded,
    /// The guide URL the server had was stale and was updated.
    GuideMoved {
        /// The URL the server had.
        from: String,
    },
    /// The channel map was rewritten: channels that were missing or stale, and channels the
    /// server had that the box no longer has.
    ChannelsMapped {
        /// Numbers that were missing or mapped to something else.
        fixed: Vec<String>,
        /// Numbers the server had enabled that are gone here.
        dropped: Vec<String>,
    },
    /// A guide reload was requested.
    GuideReloaded,
}

impl Change {
    /// True for the changes that repair something the server had lost or had stale.
    pub fn is_write(&self) -> bool {
        !matches!(self, Self::GuideReloaded)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeviceAdded => f.write_str("tuner registered"),
            Self::DeviceMoved { from } => write!(f, "tuner address updated (was {from})"),
            Self::GuideAdded => f.write_str("XMLTV guide attached"),
            Self::GuideMoved { from } => write!(f, "guide URL updated (was {from})"),
            Self::ChannelsMapped { fixed, dropped } => {
                write!(f, "channel map saved")?;
                if !fixed.is_empty() {
                    write!(f, "; mapped {}", fixed.join(", "))?;
                }
                if !dropped.is_empty() {
                    write!(f, "; dropped {}", dropped.join(", "))?;
                }
                Ok(())
            }
            Self::GuideReloaded => f.write_str("guide reload requested"),
        }
    }
}

/// What one reconcile found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The server's key of our tuner (Plex device key / Jellyfin tuner host id).
    pub device_key: String,
    /// The server's key of our guide (Plex DVR key / Jellyfin listings provider id).
    pub guide_key: String,
    /// What changed, in order.
    pub changes: Vec<Change>,
    /// Channel numbers the server has not matched to the guide yet (it is still loading it).
    pub unmatched: Vec<String>,
}

impl Outcome {
    /// True when a guide reload was requested.
    pub fn reloaded(&self) -> bool {
        self.changes.contains(&Change::GuideReloaded)
    }

    /// One line for logs and the page ("" when nothing changed).
    pub fn summary(&self) -> String {
        self.changes.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    }
}

/// Why talking to a media server failed. Never carries a secret: requests put them in
/// headers, and URLs here are the request URLs.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No connection.
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        /// The request.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// No answer in time.
    #[error("{url} did not answer within {} s", timeout.as_secs_f32())]
    Timeout {
        /// The request.
        url: String,
        /// The limit.
        timeout: Duration,
    },
    /// The token / API key was refused.
    #[error("the server refused the token or API key ({status}) for {url}")]
    Unauthorized {
        /// The request.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// Another HTTP error.
    #[error("the server answered {status} for {url}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        /// The request.
        url: String,
        /// The status.
        status: u16,
        /// The start of the body (the server's reason).
        body: String,
    },
    /// Not the answer that API gives.
    #[error("unexpected answer from {url}: {reason}")]
    Garbage {
        /// The request.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The server accepted a call but did not do it.
    #[error("{0}")]
    Refused(String),
    /// A request that cannot be made (bad URL, unknown kind, not linked).
    #[error("{0}")]
    Invalid(String),
    /// No such link.
    #[error("no media server link {0}")]
    Gone(LinkId),
    /// Building what the box advertises failed.
    #[error("cannot describe this box to the server: {0}")]
    Target(String),
    /// The links table.
    #[error("media server links table: {0}")]
    Store(#[from] store::StoreError),
    /// The database plumbing.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

impl LinkError {
    /// True for failures that may pass by themselves (down, slow, 5xx): retried with back-off.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } => true,
            Self::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Normalise a server or tuner URL for comparisons and storage: trimmed, no trailing slash,
/// scheme and host lower-cased.
pub fn normalize_url(url: &str) -> Result<String, LinkError> {
    let trimmed = url.trim();
    let parsed = url::Url::parse(trimmed).map_err(|e| LinkError::Invalid(format!("{trimmed:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(LinkError::Invalid(format!("{trimmed:?}: give an http:// or https:// URL with a host")));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// Two URLs name the same place (ignoring a trailing slash and case of scheme and host).
pub fn same_url(a: &str, b: &str) -> bool {
    match (normalize_url(a), normalize_url(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim_end_matches('/') == b.trim_end_matches('/'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_without_trailing_slash_or_case() {
        assert!(same_url("http://10.0.0.2:5004/", "HTTP://10.0.0.2:5004"));
        assert!(!same_url("http://10.0.0.2:5004", "http://10.0.0.3:5004"));
        assert_eq!(normalize_url(" http://Plex.lan:32400/ ").unwrap(), "http://plex.lan:32400");
        assert!(normalize_url("plex.lan:32400").is_err());
        assert!(normalize_url("ftp://plex.lan").is_err());
    }

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("abcdef123456");
        assert_eq!(format!("{s:?}"), "Secret(…)");
        assert_eq!(s.expose(), "abcdef123456");
    }
}
