//! Source secrets (the Plex token, Jellyfin/Emby API keys): the one way they are shown
//! ([`mask`]), their removal from any text that may carry a URL ([`redact`]), and their
//! return at the last moment, when an item is opened ([`Credentials::openable`]).
//!
//! A secret is stored only with its source (`sources.token`). Item URIs, schedule rows and
//! the as-run log hold URLs without it; whatever opens media (playout, loudness, stills) asks
//! [`Credentials`] for the URL to open, and any error text that could echo that URL back goes
//! through [`redact`] before it is logged or stored.

use std::borrow::Cow;

use super::store::{Source, SourceSpec};

/// Query parameters whose value is a secret (compared ignoring ASCII case).
const SECRET_PARAMS: [&str; 3] = ["x-plex-token", "x-emby-token", "api_key"];

/// How a secret is shown anywhere it is echoed (CLI, API, logs): `••••` and its last four
/// characters when it is long enough that those say little (12 or more), else `••••` alone.
pub fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    if n < 12 {
        return "••••".to_owned();
    }
    let tail: String = secret.chars().skip(n - 4).collect();
    format!("••••{tail}")
}

/// `text` with the value of every secret query parameter (`X-Plex-Token=…`, `X-Emby-Token=…`,
/// `api_key=…`) replaced by its [`mask`]. Borrowed when there is nothing to hide.
pub fn redact(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    while at < lower.len() {
        let found = SECRET_PARAMS
            .iter()
            .filter_map(|p| lower[at..].find(&format!("{p}=")).map(|i| (at + i, p.len() + 1)))
            .min_by_key(|(i, _)| *i);
        let Some((start, name_len)) = found else { break };
        let value_start = start + name_len;
        let value_end = text[value_start..]
            .find(|c: char| c == '&' || c == '#' || c.is_whitespace() || "\"'<>),;".contains(c))
            .map_or(text.len(), |i| value_start + i);
        // A parameter name must start the query or follow a separator ("my_api_key=" is not one).
        let starts_param = start == 0 || text[..start].ends_with(['?', '&', ' ', ';']);
        if starts_param && value_end > value_start {
            out.push_str(&text[copied..value_start]);
            out.push_str(&mask(&text[value_start..value_end]));
            copied = value_end;
        }
        at = value_end.max(value_start);
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// What opening an item needs beyond its stored URI: the secret of each server source (Plex
/// token, Jellyfin/Emby API key), by the URL its item URIs start with, and the query
/// parameter that carries it. Built from the sources ([`super::store::credentials`]).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// (URL prefix, query parameter, secret), enabled sources first.
    servers: Vec<(String, &'static str, String)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<(&str, &str, String)> =
            self.servers.iter().map(|(u, p, t)| (u.as_str(), *p, mask(t))).collect();
        f.debug_struct("Credentials").field("servers", &servers).finish()
    }
}

impl Credentials {
    /// The credentials of `sources` (disabled ones too: their scheduled items still play).
    pub fn from_sources(sources: &[Source]) -> Self {
        let mut servers: Vec<(bool, String, &'static str, String)> = sources
            .iter()
            .filter_map(|s| match &s.spec {
                SourceSpec::Plex { url, token, .. } if !token.is_empty() => {
                    Some((!s.enabled, url.trim_end_matches('/').to_owned(), "X-Plex-Token", token.clone()))
                }
                // Jellyfin and Emby take the key as `api_key` on a stream URL.
                SourceSpec::MediaServer { server, url, api_key, .. } if !api_key.is_empty() => {
                    Some((!s.enabled, server.api_base(url), "api_key", api_key.clone()))
                }
                _ => None,
            })
            .collect();
        // Enabled sources first: a server listed twice opens with the secret in use; the
        // longest prefix first, so an Emby source (`…/emby`) wins over a Jellyfin one at the
        // same address.
        servers.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.len().cmp(&a.1.len())));
        let servers = servers.into_iter().map(|(_, url, param, secret)| (url, param, secret)).collect();
        Self { servers }
    }

    /// The URL to open for a stored item URI: a server item URL gets its server's secret;
    /// anything else (files, other servers) is returned as it is.
    pub fn openable(&self, uri: &str) -> String {
        for (base, param, secret) in &self.servers {
            let under = uri.strip_prefix(base.as_str()).is_some_and(|rest| rest.starts_with('/'));
            if under {
                let sep = if uri.contains('?') { '&' } else { '?' };
                let secret: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
                return format!("{uri}{sep}{param}={secret}");
            }
        }
        uri.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::SourceId;

    #[test]
    fn masks_show_little_and_short_secrets_nothing() {
        assert_eq!(mask("abc"), "••••");
        assert_eq!(mask("abcdefghijk"), "••••");
        assert_eq!(mask("s3cr3t-t0ken-value"), "••••alue");
    }

    #[test]
    fn redact_hides_secret_parameters_only() {
        let t = "souphttpsrc: Not Found (URL: http://10.0.0.2:32400/library/parts/7/1/file.mkv?X-Plex-Token=s3cr3t-t0ken-value, Redirect to: (NULL))";
        let r = redact(t);
        assert!(!r.contains("s3cr3t-t0ken-value"), "{r}");
        assert!(r.contains("file.mkv?X-Plex-Token=••••alue, Redirect"), "{r}");
        assert_eq!(redact("a&x-plex-token=abcdefghijklmnop&b=1"), "a&x-plex-token=••••mnop&b=1");
        assert_eq!(
            redact("http://j/Videos/1/stream?api_key=0123456789abcdef"),
            "http://j/Videos/1/stream?api_key=••••cdef"
        );
        assert!(matches!(redact("nothing secret here: my_api_key=x"), Cow::Borrowed(_)));
        assert_eq!(redact("X-Plex-Token="), "X-Plex-Token=");
    }

    #[test]
    fn openable_adds_the_token_of_the_items_server() {
        let plex = |id, url: &str, token: &str, enabled| Source {
            id: SourceId(id),
            name: "Plex".into(),
            spec: SourceSpec::Plex { url: url.into(), token: token.into(), libraries: vec![], path_map: None },
            enabled,
            last_sync_at: None,
            last_error: None,
        };
        let c = Credentials::from_sources(&[
            plex(1, "http://a:32400", "old-token", false),
            plex(2, "http://a:32400/", "tok en", true),
            plex(3, "http://b:32400", "b-token", true),
        ]);
        assert_eq!(
            c.openable("http://a:32400/library/parts/1/2/f.mkv"),
            "http://a:32400/library/parts/1/2/f.mkv?X-Plex-Token=tok+en"
        );
        assert_eq!(
            c.openable("http://b:32400/library/parts/1/2/f.mkv?x=1"),
            "http://b:32400/library/parts/1/2/f.mkv?x=1&X-Plex-Token=b-token"
        );
        assert_eq!(c.openable("http://a:324001/library/parts/1"), "http://a:324001/library/parts/1");
        assert_eq!(c.openable("file:///media/a.mkv"), "file:///media/a.mkv");
        assert!(!format!("{c:?}").contains("b-token"));
    }

    #[test]
    fn openable_adds_the_api_key_of_a_jellyfin_or_emby_source() {
        use crate::library::store::ServerFlavor;
        let server = |id, server, url: &str, key: &str| Source {
            id: SourceId(id),
            name: "Server".into(),
            spec: SourceSpec::MediaServer {
                server,
                url: url.into(),
                api_key: key.into(),
                libraries: vec![],
                path_map: None,
            },
            enabled: true,
            last_sync_at: None,
            last_error: None,
        };
        let c = Credentials::from_sources(&[
            server(1, ServerFlavor::Jellyfin, "http://j:8096/", "jelly-key"),
            server(2, ServerFlavor::Emby, "http://e:8096", "emby-key"),
        ]);
        assert_eq!(
            c.openable("http://j:8096/Videos/abc/stream?static=true"),
            "http://j:8096/Videos/abc/stream?static=true&api_key=jelly-key"
        );
        assert_eq!(
            c.openable("http://e:8096/emby/Videos/abc/stream?static=true"),
            "http://e:8096/emby/Videos/abc/stream?static=true&api_key=emby-key"
        );
        assert_eq!(c.openable("http://e:8096/Videos/abc/stream"), "http://e:8096/Videos/abc/stream");
        assert!(!format!("{c:?}").contains("jelly-key"));
    }
}
