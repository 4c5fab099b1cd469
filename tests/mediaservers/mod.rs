//! Fake media servers on loopback for the link tests: [`plex::FakePlex`] (Live TV & DVR API)
//! and [`jellyfin::FakeJellyfin`] (Jellyfin's or Emby's Live TV API). Each records every call,
//! answers with the shapes its real counterpart sends (each file cites where they come from),
//! reads the real daemon's `discover.json`, `lineup.json` and XMLTV as the real server would,
//! and can be told to be down, slow or to answer 401.
#![allow(dead_code)]

pub mod jellyfin;
pub mod plex;

/// How a fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Normally.
    #[default]
    Ok,
    /// After 30 s (longer than any client timeout the tests set).
    Slow,
    /// 401 to everything (a revoked token).
    Unauthorized,
}

/// One request a fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
}

impl Call {
    /// `METHOD /path`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// A query value.
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Decode a raw query string.
pub fn decode_query(q: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// The channels of an XMLTV document: (id, display-names).
pub fn xmltv_channels(xml: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for block in xml.split("<channel ").skip(1) {
        let Some(id) = block.split("id=\"").nth(1).and_then(|r| r.split('"').next()) else { continue };
        let body = block.split("</channel>").next().unwrap_or("");
        let names = body
            .split("<display-name>")
            .skip(1)
            .filter_map(|p| p.split("</display-name>").next())
            .map(unescape)
            .collect();
        out.push((unescape(id), names));
    }
    out
}
