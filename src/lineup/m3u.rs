//! The M3U playlist of the lineup — the one renderer behind the guide's `/playlist.m3u` and
//! the tuner's `/lineup.m3u` — in the conventions Kodi IPTV Simple, VLC and Threadfin read:
//! `#EXTM3U x-tvg-url="<base>/xmltv.xml"`, then per channel an `#EXTINF` with `tvg-id`
//! (= the XMLTV channel id), `tvg-chno` (the number), `tvg-name`, `tvg-logo` (the channel's
//! logo, generated when it has none), `group-title`, and after the comma the display name —
//! the name alone: IPTV Simple shows `tvg-chno` next to it already, so a name that repeated
//! the number read "3  3 Retro Robots TV" in Kodi.

use std::fmt::Write as _;

use super::{Channel, logo};

/// Which stream URL each entry points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamUrls {
    /// `/stream/<number>.ts`: the channel's feed, no tuner taken (the guide's playlist).
    Direct,
    /// `/auto/v<number>`: through a tuner lease, as a real HDHomeRun's `lineup.m3u` does.
    Tuner,
}

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
pub fn render(channels: &[Channel], base_url: &str, streams: StreamUrls) -> String {
    let base = base_url.trim_end_matches('/');
    let mut out = format!("#EXTM3U x-tvg-url=\"{base}/xmltv.xml\" url-tvg=\"{base}/xmltv.xml\"\n");
    for c in channels {
        let group = c.settings.group.as_deref().unwrap_or("Retrovue");
        let name = attr(&c.name);
        let _ = writeln!(
            out,
            "#EXTINF:-1 tvg-id=\"{}\" tvg-chno=\"{}\" tvg-name=\"{name}\" tvg-logo=\"{base}{}\" group-title=\"{}\",{name}",
            attr(&c.xmltv_id),
            c.number,
            logo::url_path(c),
            attr(group),
        );
        let _ = match streams {
            StreamUrls::Direct => writeln!(out, "{base}/stream/{}.ts", c.number),
            StreamUrls::Tuner => writeln!(out, "{base}/auto/v{}", c.number),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineup::{ChannelId, ChannelSettings};

    fn channel(id: i64, number: &str, name: &str, logo: Option<&str>, group: Option<&str>) -> Channel {
        Channel {
            id: ChannelId(id),
            number: number.parse().unwrap(),
            name: name.into(),
            call_sign: "SITG".into(),
            xmltv_id: format!("retrovue.ch{id}"),
            logo: logo.map(Into::into),
            settings: ChannelSettings { group: group.map(str::to_owned), ..Default::default() },
            enabled: true,
        }
    }

    #[test]
    fn every_channel_gets_ids_logo_group_the_bare_name_and_a_stream_url() {
        let chs = [
            channel(3, "5.1", "Sitcom \"Gold\"", Some("/srv/logos/sitg.PNG"), Some("Comedy")),
            channel(4, "3", "Retro Robots TV", None, None),
        ];
        let m = render(&chs, "http://tv.local:8080/", StreamUrls::Direct);
        assert_eq!(
            m,
            "#EXTM3U x-tvg-url=\"http://tv.local:8080/xmltv.xml\" url-tvg=\"http://tv.local:8080/xmltv.xml\"\n\
             #EXTINF:-1 tvg-id=\"retrovue.ch3\" tvg-chno=\"5.1\" tvg-name=\"Sitcom 'Gold'\" \
             tvg-logo=\"http://tv.local:8080/logos/3.png\" group-title=\"Comedy\",Sitcom 'Gold'\n\
             http://tv.local:8080/stream/5.1.ts\n\
             #EXTINF:-1 tvg-id=\"retrovue.ch4\" tvg-chno=\"3\" tvg-name=\"Retro Robots TV\" \
             tvg-logo=\"http://tv.local:8080/logos/4.png\" group-title=\"Retrovue\",Retro Robots TV\n\
             http://tv.local:8080/stream/3.ts\n"
        );
        let t = render(&chs[1..], "http://10.0.0.2:5004", StreamUrls::Tuner);
        assert!(t.ends_with(",Retro Robots TV\nhttp://10.0.0.2:5004/auto/v3\n"), "{t}");
    }
}
