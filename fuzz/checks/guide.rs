//! Property check for the XMLTV and M3U writers' inputs, shared by the `guide` fuzz target
//! and the corpus regression test: channel and programme texts made of arbitrary strings
//! (fields separated by U+001F in the input) must still give well-formed XML without control
//! characters, and one `#EXTINF` line plus one URL line per channel in the M3U (no injected
//! lines).

use chrono::{TimeZone, Utc};
use quick_xml::Reader;
use quick_xml::events::Event;
use retrovue::lineup::{Channel, ChannelId, ChannelSettings};
use retrovue::schedule::{Program, ProgramInfo, ProgramKind};

/// Check one input; panics on a violated property.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\u{1f}');
    let mut next = || parts.next().unwrap_or("").to_owned();
    let channel = Channel {
        id: ChannelId(1),
        number: "5".parse().unwrap(),
        name: next(),
        call_sign: next(),
        xmltv_id: "retrovue.ch1".into(),
        logo: None,
        settings: ChannelSettings { group: Some(next()), ..ChannelSettings::default() },
        enabled: true,
    };
    let start = Utc.with_ymd_and_hms(2026, 11, 23, 20, 0, 0).unwrap();
    let program = Program {
        id: 1,
        channel_id: channel.id,
        start,
        end: start + chrono::Duration::minutes(30),
        media_id: None,
        info: ProgramInfo {
            kind: ProgramKind::Episode,
            title: next(),
            sub_title: Some(next()),
            description: Some(next()),
            series: Some(next()),
            season: Some(1),
            episode: Some(2),
            year: Some(1986),
            aired: chrono::NaiveDate::from_ymd_opt(1986, 9, 14),
            audience: Some(next()),
            rating: Some(next()),
            categories: vec![next(), next()],
            rewind: Default::default(),
        },
    };
    let guide = retrovue::guide::Guide::of_programs(vec![(channel.clone(), vec![program])]);
    let xml = retrovue::guide::xmltv::render(&guide, "http://192.168.1.50");
    let mut reader = Reader::from_str(&xml);
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::Text(t)) => {
                t.unescape().expect("text unescapes");
            }
            Ok(_) => {}
            Err(e) => panic!("XMLTV is not well-formed: {e}\n{xml}"),
        }
    }
    assert!(
        !xml.chars().any(|c| matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}')),
        "control character in XMLTV"
    );
    let m3u =
        retrovue::lineup::m3u::render(&[channel], "http://192.168.1.50", retrovue::lineup::m3u::StreamUrls::Direct);
    let extinf = m3u.lines().filter(|l| l.starts_with("#EXTINF")).count();
    let urls = m3u.lines().filter(|l| l.starts_with("http://")).count();
    assert_eq!((extinf, urls), (1, 1), "M3U lines were injected:\n{m3u}");
    assert_eq!(m3u.lines().count(), 3, "M3U lines were injected:\n{m3u}");
}
