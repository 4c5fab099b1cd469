//! One test per guide element the media servers read (issue #19).

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, TimeZone, Utc};

use super::*;
use crate::library::MediaId;
use crate::library::art::{Art, ArtRef};
use crate::lineup::{ChannelId, ChannelSettings};
use crate::schedule::store::FirstAiring;

const BASE: &str = "http://192.0.2.7:8080";

fn channel(id: i64) -> Channel {
    Channel {
        id: ChannelId(id),
        number: format!("{id}").parse().unwrap(),
        name: format!("Channel {id}"),
        call_sign: format!("CH{id}"),
        xmltv_id: format!("retrovue.ch{id}"),
        logo: None,
        settings: ChannelSettings::default(),
        enabled: true,
    }
}

fn episode(series: &str, s: u32, e: u32) -> ProgramInfo {
    ProgramInfo {
        kind: ProgramKind::Episode,
        title: series.into(),
        sub_title: Some("Pilot".into()),
        description: Some("It begins.".into()),
        series: Some(series.into()),
        season: Some(s),
        episode: Some(e),
        year: Some(1986),
        aired: NaiveDate::from_ymd_opt(1986, 9, 14),
        audience: None,
        rating: Some("TV-PG".into()),
        categories: vec!["Comedy".into()],
        rewind: Default::default(),
    }
}

fn movie(title: &str, year: i32) -> ProgramInfo {
    ProgramInfo {
        kind: ProgramKind::Movie,
        title: title.into(),
        series: None,
        season: None,
        episode: None,
        sub_title: None,
        year: Some(year),
        aired: None,
        categories: vec!["Adventure".into(), "Movie".into()],
        ..episode("x", 1, 1)
    }
}

/// A program on channel 1 at 2026-11-23 `hour`:00 UTC.
fn program(id: i64, media: Option<i64>, hour: u32, info: ProgramInfo) -> Program {
    let start = Utc.with_ymd_and_hms(2026, 11, 23, hour, 0, 0).unwrap();
    Program {
        id,
        channel_id: ChannelId(1),
        start,
        end: start + chrono::Duration::minutes(30),
        media_id: media.map(MediaId),
        info,
    }
}

fn guide(programs: Vec<Program>) -> Guide {
    Guide {
        channels: vec![(channel(1), programs), (channel(2), Vec::new())],
        first_airings: HashMap::new(),
        art: HashMap::new(),
        tz: chrono_tz::America::New_York,
        captioned: HashSet::new(),
    }
}

/// The `<programme>` element of the one program in `g`.
fn only_programme(g: &Guide) -> String {
    let x = render(g, BASE);
    let start = x.find("  <programme ").expect("a programme");
    let end = x[start..].find("</programme>").unwrap() + start;
    x[start..end].to_owned()
}

fn categories(p: &str) -> Vec<&str> {
    p.lines().filter_map(|l| l.trim().strip_prefix("<category lang=\"en\">")?.strip_suffix("</category>")).collect()
}

#[test]
fn categories_carry_the_kind_media_servers_classify_by_then_the_genres() {
    let g = guide(vec![program(1, Some(1), 20, episode("Retro Robots", 1, 2))]);
    assert_eq!(categories(&only_programme(&g)), ["Series", "Comedy"]);
    // "Movie" from the planner is not repeated.
    let g = guide(vec![program(1, Some(1), 20, movie("Back", 1985))]);
    assert_eq!(categories(&only_programme(&g)), ["Movie", "Adventure"]);
    let mut news = episode("Evening News", 1, 1);
    news.categories = vec!["News".into(), "Current Affairs".into()];
    let g = guide(vec![program(1, Some(1), 20, news)]);
    assert_eq!(categories(&only_programme(&g)), ["Series", "News", "Current Affairs"]);
    let mut game = movie("The Big Game", 1979);
    game.categories = vec!["baseball".into()];
    assert_eq!(categories(&only_programme(&guide(vec![program(1, None, 20, game)]))), ["Movie", "Sports", "baseball"]);
    // Kids: by genre, by a TV-Y/TV-Y7 rating, or by the audience.
    let mut cartoon = episode("Robots", 1, 1);
    cartoon.categories = vec!["Animation".into(), "Children".into()];
    assert_eq!(
        categories(&only_programme(&guide(vec![program(1, None, 20, cartoon)]))),
        ["Series", "Kids", "Animation", "Children"]
    );
    let mut y7 = episode("Robots", 1, 1);
    y7.rating = Some("TV-Y7".into());
    assert_eq!(kind_categories(&y7), ["Series", "Kids"]);
    let mut aud = movie("Tots", 1990);
    aud.audience = Some("kids".into());
    assert_eq!(kind_categories(&aud), ["Movie", "Kids"]);
    let mut family = movie("Home", 1990);
    family.categories = vec!["Family".into()];
    assert_eq!(kind_categories(&family), ["Movie"], "a family film is not a children's programme");
    // Filler gets no kind.
    let tba = ProgramInfo::filler("To Be Announced", None);
    assert!(categories(&only_programme(&guide(vec![program(1, None, 20, tba)]))).is_empty());
}

#[test]
fn episodes_carry_xmltv_ns_onscreen_and_a_dd_progid_style_id() {
    let p = only_programme(&guide(vec![program(1, Some(1), 20, episode("Retro Robots", 2, 7))]));
    let nums: Vec<&str> = p.lines().filter(|l| l.contains("<episode-num")).map(str::trim).collect();
    let id = dd_progid(&episode("Retro Robots", 2, 7)).unwrap();
    assert_eq!(
        nums,
        [
            format!("<episode-num system=\"dd_progid\">{id}</episode-num>").as_str(),
            "<episode-num system=\"xmltv_ns\">1.6.</episode-num>",
            "<episode-num system=\"onscreen\">S02E07</episode-num>",
        ]
    );
    // EP + 8 digits for the series + . + SSEE; stable, the same series keeps its digits,
    // another series gets others.
    assert!(id.starts_with("EP") && id.ends_with(".0207") && id.len() == 15, "{id}");
    assert!(id[2..10].bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(&dd_progid(&episode("retro robots ", 1, 1)).unwrap()[..10], &id[..10], "series key ignores case");
    assert_ne!(&dd_progid(&episode("Other Show", 2, 7)).unwrap()[..10], &id[..10]);
    let mv = dd_progid(&movie("Back", 1985)).unwrap();
    assert!(mv.starts_with("MV") && mv.ends_with(".0000") && mv.len() == 15, "{mv}");
    assert_ne!(dd_progid(&movie("Back", 1986)), Some(mv));
    // Unknown numbering: no id, and an episode number alone.
    let mut loose = episode("Retro Robots", 1, 5);
    loose.season = None;
    assert_eq!(dd_progid(&loose), None);
    let p = only_programme(&guide(vec![program(1, None, 20, loose)]));
    assert!(p.contains("<episode-num system=\"xmltv_ns\">.4.</episode-num>"), "{p}");
    assert!(p.contains("<episode-num system=\"onscreen\">E05</episode-num>"), "{p}");
    assert_eq!(dd_progid(&episode("Daily", 1, 140)), None, "episode numbers past 99 do not fit");
    assert_eq!(dd_progid(&ProgramInfo::filler("To Be Announced", None)), None);
}

#[test]
fn dates_are_yyyymmdd_or_yyyy() {
    let p = only_programme(&guide(vec![program(1, Some(1), 20, episode("Retro Robots", 1, 2))]));
    assert!(p.contains("    <date>19860914</date>\n"), "{p}");
    let p = only_programme(&guide(vec![program(1, Some(1), 20, movie("Back", 1985))]));
    assert!(p.contains("    <date>1985</date>\n"), "{p}");
    let p = only_programme(&guide(vec![program(1, None, 20, ProgramInfo::filler("To Be Announced", None))]));
    assert!(!p.contains("<date>"), "{p}");
}

#[test]
fn reruns_carry_the_original_air_date_and_only_a_first_showing_is_new() {
    let at = |g: &Guide| {
        let p = only_programme(g);
        let prev = p.lines().find(|l| l.contains("<previously-shown")).map(|l| l.trim().to_owned());
        let new = p.contains("<new/>");
        assert!(!(prev.is_some() && new), "never both: {p}");
        (prev, new)
    };
    // Original air date before the airing's local date: a rerun from that date.
    let g = guide(vec![program(1, Some(1), 20, episode("Retro Robots", 1, 2))]);
    assert_eq!(at(&g), (Some("<previously-shown start=\"19860914\"/>".into()), false));
    // Only the year known: a rerun from that year.
    let g = guide(vec![program(1, Some(1), 20, movie("Back", 1985))]);
    assert_eq!(at(&g), (Some("<previously-shown start=\"1985\"/>".into()), false));
    // No date: the first airing on this box is a premiere ...
    let mut fresh = episode("Home Movies", 1, 1);
    (fresh.aired, fresh.year) = (None, None);
    let mut g = guide(vec![program(1, Some(9), 20, fresh.clone())]);
    g.first_airings.insert(
        MediaId(9),
        FirstAiring { start_ms: g.channels[0].1[0].start.timestamp_millis(), channel: ChannelId(1) },
    );
    assert_eq!(at(&g), (None, true));
    // ... a later one a rerun of the first, on the channel it was on.
    let earlier = Utc.with_ymd_and_hms(2026, 11, 20, 18, 30, 0).unwrap();
    g.first_airings.insert(MediaId(9), FirstAiring { start_ms: earlier.timestamp_millis(), channel: ChannelId(2) });
    assert_eq!(
        at(&g),
        (Some("<previously-shown start=\"20261120183000 +0000\" channel=\"retrovue.ch2\"/>".into()), false)
    );
    // ... on a channel no longer listed: no channel attribute.
    g.first_airings.insert(MediaId(9), FirstAiring { start_ms: earlier.timestamp_millis(), channel: ChannelId(7) });
    assert_eq!(at(&g), (Some("<previously-shown start=\"20261120183000 +0000\"/>".into()), false));
    // An air date on the airing's own local day (20:00 UTC is 15:00 in New York on the 23rd)
    // is a premiere, if this is its first showing here.
    let mut today = fresh.clone();
    today.aired = NaiveDate::from_ymd_opt(2026, 11, 23);
    assert_eq!(at(&guide(vec![program(1, Some(9), 20, today.clone())])), (None, true));
    // 03:00 UTC on the 24th is still the 23rd in New York: the same premiere day.
    let mut late = guide(vec![program(1, Some(9), 3, today)]);
    late.channels[0].1[0].start += chrono::Duration::days(1);
    assert_eq!(at(&late), (None, true));
    // Filler is neither.
    assert_eq!(at(&guide(vec![program(1, None, 20, ProgramInfo::filler("Station Break", None))])), (None, false));
}

#[test]
fn programme_icons_are_the_boxs_art_urls_poster_first_and_channel_icons_absolute() {
    let mut g = guide(vec![program(1, Some(42), 20, episode("Retro Robots", 1, 2))]);
    let p = only_programme(&g);
    assert!(!p.contains("<icon"), "no art, no icon: {p}");
    g.art.insert(
        MediaId(42),
        Art { poster: Some(ArtRef::Plex("/p".into())), thumb: Some(ArtRef::File("/t.jpg".into())), fanart: None },
    );
    let p = only_programme(&g);
    let icons: Vec<&str> = p.lines().filter(|l| l.contains("<icon")).map(str::trim).collect();
    assert_eq!(
        icons,
        ["<icon src=\"http://192.0.2.7:8080/art/42/poster\"/>", "<icon src=\"http://192.0.2.7:8080/art/42/thumb\"/>"]
    );
    let x = render(&g, "http://192.0.2.7:8080/");
    assert!(x.contains("  <channel id=\"retrovue.ch1\">\n"), "{x}");
    assert!(x.contains("<icon src=\"http://192.0.2.7:8080/logos/1.png\"/>"), "generated logo for every channel: {x}");
    assert!(x.contains("<icon src=\"http://192.0.2.7:8080/logos/2.png\"/>"), "{x}");
}

#[test]
fn elements_come_in_dtd_order() {
    let mut g = guide(vec![program(1, Some(42), 20, episode("Retro Robots", 1, 2))]);
    g.art.insert(MediaId(42), Art { poster: Some(ArtRef::Plex("/p".into())), ..Default::default() });
    let p = only_programme(&g);
    let order = [
        "<title",
        "<sub-title",
        "<desc",
        "<date>",
        "<category",
        "<icon",
        "<episode-num",
        "<previously-shown",
        "<rating",
    ];
    let pos: Vec<usize> = order.iter().map(|t| p.find(t).unwrap_or_else(|| panic!("{t} missing: {p}"))).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{p}");
}

#[test]
fn a_captioned_item_says_so_on_a_channel_that_carries_captions() {
    let mut info = episode("Retro Robots", 1, 2);
    info.rating = Some("TV-Y7".into());
    let mut g = guide(vec![program(1, Some(7), 20, info)]);
    assert!(!only_programme(&g).contains("<subtitles"), "no subtitles beside the item");
    g.captioned.insert(MediaId(7));
    let p = only_programme(&g);
    assert!(p.contains("    <subtitles type=\"teletext\"/>\n"), "{p}");
    // XMLTV's order: after the showing, before the rating.
    let (sub, rating) = (p.find("<subtitles").unwrap(), p.find("<rating").unwrap());
    assert!(p.find("<episode-num").unwrap() < sub && sub < rating, "{p}");
    g.channels[0].0.settings.captions = false;
    assert!(!only_programme(&g).contains("<subtitles"), "the channel carries none");
}
