//! M3U playlist of the lineup, in the conventions Kodi IPTV Simple, VLC and Threadfin expect:
//! `#EXTM3U x-tvg-url="<base>/xmltv.xml"`, then per channel an `#EXTINF` with `tvg-id`
//! (= the XMLTV id), `tvg-chno`, `tvg-name`, `tvg-logo`, `group-title`, and the stream URL
//! `<base>/stream/<number>.ts`.

use std::fmt::Write as _;

use super::xmltv::logo_path;
use crate::lineup::Channel;

/// Attribute values cannot carry quotes or line breaks.
fn attr(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '"' {
                '\''
            } else if c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Render the playlist for `channels` with absolute URLs under `base_url`.
pub fn render(channels: &[Channel], base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let mut out = format!("#EXTM3U x-tvg-url=\"{base}/xmltv.xml\" url-tvg=\"{base}/xmltv.xml\"\n");
    for c in channels {
        let logo = logo_path(c).map(|p| format!("{base}{p}")).unwrap_or_default();
        let group = c.settings.group.as_deref().unwrap_or("Retrovue");
        let _ = writeln!(
            out,
            "#EXTINF:-1 tvg-id=\"{}\" tvg-chno=\"{}\" tvg-name=\"{}\" tvg-logo=\"{}\" group-title=\"{}\",{} {}",
            attr(&c.xmltv_id),
            c.number,
            attr(&c.name),
            attr(&logo),
            attr(group),
            c.number,
            attr(&c.name)
        );
        let _ = writeln!(out, "{base}/stream/{}.ts", c.number);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineup::{ChannelId, ChannelSettings};

    #[test]
    fn every_channel_gets_ids_logo_group_and_stream_url() {
        let ch = Channel {
            id: ChannelId(3),
            number: "5.1".parse().unwrap(),
            name: "Sitcom \"Gold\"".into(),
            call_sign: "SITG".into(),
            xmltv_id: "retrovue.ch3".into(),
            logo: Some("/srv/logos/sitg.PNG".into()),
            settings: ChannelSettings { group: Some("Comedy".into()), ..Default::default() },
            enabled: true,
        };
        let m = render(&[ch], "http://tv.local:8080/");
        assert_eq!(
            m,
            "#EXTM3U x-tvg-url=\"http://tv.local:8080/xmltv.xml\" url-tvg=\"http://tv.local:8080/xmltv.xml\"\n\
             #EXTINF:-1 tvg-id=\"retrovue.ch3\" tvg-chno=\"5.1\" tvg-name=\"Sitcom 'Gold'\" \
             tvg-logo=\"http://tv.local:8080/logos/3.png\" group-title=\"Comedy\",5.1 Sitcom 'Gold'\n\
             http://tv.local:8080/stream/5.1.ts\n"
        );
    }
}
