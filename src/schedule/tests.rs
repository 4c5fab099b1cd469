//! The planner, breaks, store and timeline on synthetic libraries with fixed seeds.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::filler::Frames;
use super::planner::{ChannelPlan, PlanRequest, plan_channel};
use super::pool::LibraryIndex;
use super::rules::{Days, Fill, Slot, parse_start};
use super::timeline::Timeline;
use super::*;
use crate::library::{ContentKind, MediaId, MediaItem, SchedulingMetadata, SourceId};
use crate::lineup::{BreakStyle, Channel, ChannelSettings, FrameRate};

pub(crate) fn item(id: i64, kind: ContentKind, title: &str, ms: i64) -> MediaItem {
    MediaItem {
        id: MediaId(id),
        source_id: SourceId(1),
        kind,
        uri: format!("file:///media/{id}.mkv"),
        title: title.into(),
        series: None,
        season: None,
        episode: None,
        year: Some(1985),
        plot: None,
        rating: None,
        genres: Vec::new(),
        tags: Vec::new(),
        duration_ms: Some(ms),
        playable: true,
        error: None,
        loudness_lufs: Some(-23.0),
        meta: SchedulingMetadata::default(),
        breakpoints: Vec::new(),
        aired: None,
        versions: Vec::new(),
    }
}

/// A small but realistic library: two sitcoms, a drama, movies, 40 commercials from 8
/// companies in 5 categories, promos, bumpers, station IDs, an intro, a filler clip.
pub(crate) fn library() -> Vec<MediaItem> {
    let mut v = Vec::new();
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    for (series, n, ms, genre) in [("Cheers", 12, 1_342_000, "Comedy"), ("Taxi", 8, 1_401_337, "Comedy")] {
        for e in 1..=n {
            let mut it = item(next(), ContentKind::Episode, &format!("{series} episode {e}"), ms + e * 1001);
            it.series = Some(series.into());
            it.season = Some(1);
            it.episode = Some(e as u32);
            it.genres = vec![genre.into()];
            it.rating = Some("TV-PG".into());
            if e % 2 == 0 {
                it.breakpoints = vec![400_000, 810_500, 1_100_000];
            }
            v.push(it);
        }
    }
    for e in 1..=6 {
        let mut it = item(next(), ContentKind::Episode, &format!("Miami Vice {e}"), 2_880_000 + e * 7);
        it.series = Some("Miami Vice".into());
        it.episode = Some(e as u32);
        it.genres = vec!["Drama".into()];
        it.rating = Some("TV-14".into());
        v.push(it);
    }
    for (t, ms, r) in [("Ghostbusters", 6_300_000, "PG"), ("Aliens", 8_220_000, "R"), ("Big", 6_240_000, "PG")] {
        let mut it = item(next(), ContentKind::Movie, t, ms);
        it.rating = Some(r.into());
        it.genres = vec!["Comedy".into()];
        v.push(it);
    }
    let companies = ["Coke", "Pepsi", "Kellogg", "Mattel", "Ford", "Sears", "Nike", "Atari"];
    let categories = ["drinks", "cereal", "toys", "cars", "retail"];
    for c in 0..40 {
        let ms = if c % 3 == 0 { 30_030 } else { 15_015 };
        let mut it = item(next(), ContentKind::Commercial, &format!("Spot {c}"), ms);
        it.meta.commercial_company = Some(companies[c % 8].into());
        it.meta.commercial_category = Some(categories[c % 5].into());
        it.meta.era = Some(if c % 2 == 0 { "1980s" } else { "1990s" }.into());
        v.push(it);
    }
    for p in 0..4 {
        let mut it = item(next(), ContentKind::Promo, &format!("Promo {p}"), 20_020);
        it.series = Some(if p % 2 == 0 { "Cheers" } else { "Taxi" }.into());
        v.push(it);
    }
    for (t, tag) in [("Be right back", "out"), ("Now back to", "in")] {
        let mut it = item(next(), ContentKind::Bumper, t, 5_005);
        it.tags = vec![tag.into()];
        v.push(it);
    }
    v.push(item(next(), ContentKind::StationId, "WRTV ident", 10_010));
    let mut intro = item(next(), ContentKind::Intro, "Cheers intro", 45_000);
    intro.series = Some("Cheers".into());
    v.push(intro);
    v.push(item(next(), ContentKind::Slate, "Test card", 60_000));
    v.push(item(next(), ContentKind::Movie, "The Longest Day Ever", 25 * 3_600_000));
    v
}

pub(crate) fn channel(style: BreakStyle) -> Channel {
    Channel {
        id: crate::lineup::ChannelId(5),
        number: "5".parse().unwrap(),
        name: "Retro Five".into(),
        call_sign: "WRTV".into(),
        xmltv_id: "retrovue.ch5".into(),
        logo: None,
        settings: ChannelSettings { break_style: style, default_fill: Some("Comedy".into()), ..Default::default() },
        enabled: true,
    }
}

fn slot(days: &str, start: &str, len: u32, fill: Fill) -> Slot {
    Slot { id: 0, days: Days::parse(days).unwrap(), start_minute: parse_start(start).unwrap(), length_min: len, fill }
}

pub(crate) fn grid() -> Vec<Slot> {
    vec![
        slot("daily", "18:00", 60, Fill::Series("Cheers".into())),
        slot("mon-fri", "19:00", 30, Fill::Series("Taxi".into())),
        slot("daily", "20:00", 120, Fill::Movies(None)),
        slot("daily", "22:00", 60, Fill::Series("Miami Vice".into())),
    ]
}

fn plan(
    ch: &Channel,
    slots: &[Slot],
    lib: &LibraryIndex,
    tz: Tz,
    from: chrono::DateTime<Utc>,
    days: i64,
) -> ChannelPlan {
    plan_channel(&PlanRequest {
        channel: ch,
        slots,
        lib,
        tz,
        seed: 42,
        repeat_window_ms: 7_200_000,
        from_ms: from.timestamp_millis(),
        to_ms: from.timestamp_millis() + days * 86_400_000,
        progress: BTreeMap::new(),
        history: Vec::new(),
    })
}

/// Contiguity, frame-exactness and media bounds: the invariants every plan must hold.
fn check_invariants(p: &ChannelPlan, lib: &LibraryIndex, from_ms: i64, to_ms: i64, tz: Tz) {
    check_invariants_at(p, lib, from_ms, to_ms, tz, FrameRate::Ntsc);
}

/// [`check_invariants`] for a channel of `rate`.
fn check_invariants_at(p: &ChannelPlan, lib: &LibraryIndex, from_ms: i64, to_ms: i64, tz: Tz, rate: FrameRate) {
    let frames = Frames::of(rate);
    assert_eq!(p.programs.first().unwrap().start_ms, from_ms);
    assert!(p.programs.last().unwrap().end_ms >= to_ms);
    let mut at = from_ms;
    for prog in &p.programs {
        assert_eq!(prog.start_ms, at, "hole or overlap before {:?}", prog.info.title);
        let local = crate::clock::from_ms(prog.end_ms).with_timezone(&tz);
        assert!(local.minute().is_multiple_of(30) && local.second() == 0, "program ends off a half hour: {local}");
        let mut a_at = prog.start_ms;
        for a in &prog.airings {
            assert_eq!(a.start.timestamp_millis(), a_at, "airing gap in {:?}", prog.info.title);
            assert!(a.end > a.start, "empty airing {a:?}");
            assert_eq!(a.offset_out_ms - a.offset_in_ms, a.duration_ms());
            if let Some(m) = a.media_id {
                let dur = lib.items[lib.by_id[&m]].duration_ms.unwrap();
                assert!(a.offset_out_ms <= dur, "{a:?} reads past the media end {dur}");
                if a.kind != AiringKind::Filler && a.kind != AiringKind::Program {
                    assert_eq!(a.duration_ms(), frames.floor_ms(dur), "spots play whole frames: {a:?}");
                }
            } else if a.kind == AiringKind::Card {
                // A generated card (a bumper the library had none for) carries what it shows.
                assert!(a.card.is_some(), "a card airing without its card: {a:?}");
            } else {
                assert_eq!(a.kind, AiringKind::Slate);
            }
            a_at = a.end.timestamp_millis();
        }
        assert_eq!(a_at, prog.end_ms, "airings of {:?} do not end on the boundary", prog.info.title);
        // Program segments cover the media exactly once, in order.
        let segs: Vec<&Airing> = prog.airings.iter().filter(|a| a.kind == AiringKind::Program).collect();
        if let Some(m) = prog.media_id {
            let dur = lib.items[lib.by_id[&m]].duration_ms.unwrap();
            assert_eq!(segs[0].offset_in_ms, 0);
            for w in segs.windows(2) {
                assert_eq!(w[0].offset_out_ms, w[1].offset_in_ms);
            }
            assert_eq!(segs.last().unwrap().offset_out_ms, frames.floor_ms(dur));
        }
        at = prog.end_ms;
    }
}

#[test]
fn a_week_is_contiguous_frame_exact_and_on_its_boundaries() {
    let lib = LibraryIndex::new(library());
    let tz: Tz = "America/New_York".parse().unwrap();
    let from = tz.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap().with_timezone(&Utc);
    for style in [BreakStyle::Us, BreakStyle::Uk, BreakStyle::None] {
        let p = plan(&channel(style), &grid(), &lib, tz, from, 7);
        check_invariants(&p, &lib, from.timestamp_millis(), from.timestamp_millis() + 7 * 86_400_000, tz);
        // Slots start exactly at their local time.
        let at = |x: &planner::PlannedProgram| crate::clock::from_ms(x.start_ms).with_timezone(&tz);
        let cheers = p.programs.iter().filter(|x| x.info.title == "Cheers" && at(x).hour() == 18);
        let list: Vec<String> = cheers.map(|x| format!("{} {:?}", at(x), x.info.sub_title)).collect();
        assert_eq!(list.len(), 14, "two Cheers at 18:00 every day: {list:#?}");
        let taxi_at_7 = p.programs.iter().filter(|x| at(x).hour() == 19 && at(x).minute() == 0);
        assert!(taxi_at_7.clone().count() == 7 && taxi_at_7.filter(|x| x.info.title == "Taxi").count() == 5);
        let commercials = p.programs.iter().flat_map(|x| &x.airings).filter(|a| a.kind == AiringKind::Commercial);
        if style == BreakStyle::None {
            assert_eq!(commercials.count(), 0);
        } else {
            assert!(commercials.count() > 500);
        }
    }
    assert!(lib.skipped.iter().any(|(_, t, why)| t == "The Longest Day Ever" && why.contains("24 h")));
}

#[test]
fn breaks_follow_the_template_and_us_has_more_breaks_than_uk() {
    let lib = LibraryIndex::new(library());
    let tz = Tz::UTC;
    let from = Utc.with_ymd_and_hms(2026, 11, 23, 18, 0, 0).unwrap();
    let count_breaks = |style| {
        let p = plan(&channel(style), &grid(), &lib, tz, from, 1);
        let cheers = &p.programs[1];
        assert_eq!((cheers.info.title.as_str(), cheers.end_ms - cheers.start_ms), ("Cheers", 1_800_000));
        // Intro first, then the episode in acts.
        assert_eq!(cheers.airings[0].kind, AiringKind::Intro);
        let acts = cheers.airings.iter().filter(|a| a.kind == AiringKind::Program).count();
        // Mid-program breaks open with the out-bumper and close with the in-bumper.
        let kinds: Vec<AiringKind> = cheers.airings.iter().map(|a| a.kind).collect();
        let bumpers = kinds.iter().filter(|k| **k == AiringKind::Bumper).count();
        assert_eq!(bumpers, 2 * (acts - 1), "{kinds:?}");
        // The program ending at 19:00 carries the station ID at the end of its last break.
        let last_break: Vec<_> = kinds.iter().rev().take_while(|k| **k != AiringKind::Program).collect();
        assert!(last_break.contains(&&AiringKind::StationId), "{kinds:?}");
        acts
    };
    let us = count_breaks(BreakStyle::Us);
    let uk = count_breaks(BreakStyle::Uk);
    assert!(us > uk, "US {us} acts, UK {uk}");
}

#[test]
fn commercials_never_repeat_inside_the_window_nor_sit_next_to_their_company_or_category() {
    let lib = LibraryIndex::new(library());
    let p =
        plan(&channel(BreakStyle::Us), &grid(), &lib, Tz::UTC, Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(), 3);
    let spots: Vec<&Airing> =
        p.programs.iter().flat_map(|x| &x.airings).filter(|a| a.kind == AiringKind::Commercial).collect();
    let mut last_seen: HashMap<MediaId, i64> = HashMap::new();
    for (i, a) in spots.iter().enumerate() {
        let m = a.media_id.unwrap();
        let t = a.start.timestamp_millis();
        if let Some(prev) = last_seen.insert(m, t) {
            assert!(t - prev >= 7_200_000, "{} repeated after {} s", a.title, (t - prev) / 1000);
        }
        if i > 0 {
            let meta = |a: &Airing| lib.items[lib.by_id[&a.media_id.unwrap()]].meta.clone();
            let (x, y) = (meta(spots[i - 1]), meta(a));
            assert_ne!(x.commercial_company, y.commercial_company, "same company back to back");
            assert_ne!(x.commercial_category, y.commercial_category, "same category back to back");
        }
    }
    // Era preference: the first break of a 1985 program takes 1980s spots while there are fresh ones.
    let first_break = p.programs[0].airings.iter().skip_while(|a| a.kind != AiringKind::Commercial);
    let first_break: Vec<&Airing> = first_break.take_while(|a| a.kind == AiringKind::Commercial).collect();
    assert!(first_break.len() >= 3, "{:#?}", p.programs[0]);
    for a in first_break {
        assert_eq!(lib.items[lib.by_id[&a.media_id.unwrap()]].meta.era.as_deref(), Some("1980s"), "era preference");
    }
}

#[test]
fn the_same_inputs_give_the_same_plan_and_another_seed_another() {
    let lib = LibraryIndex::new(library());
    let from = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
    let a = plan(&channel(BreakStyle::Us), &grid(), &lib, Tz::UTC, from, 3);
    let b = plan(&channel(BreakStyle::Us), &grid(), &lib, Tz::UTC, from, 3);
    assert_eq!(a, b);
    let c = plan_channel(&PlanRequest {
        channel: &channel(BreakStyle::Us),
        slots: &grid(),
        lib: &lib,
        tz: Tz::UTC,
        seed: 43,
        repeat_window_ms: 7_200_000,
        from_ms: from.timestamp_millis(),
        to_ms: from.timestamp_millis() + 3 * 86_400_000,
        progress: BTreeMap::new(),
        history: Vec::new(),
    });
    assert_ne!(a.programs, c.programs);
}

#[test]
fn dst_changes_and_leap_days_keep_local_slot_times_and_leave_no_hole() {
    let lib = LibraryIndex::new(library());
    let tz: Tz = "America/New_York".parse().unwrap();
    let mut slots = grid();
    slots.push(slot("daily", "01:00", 60, Fill::Series("Taxi".into())));
    slots.push(slot("daily", "02:00", 30, Fill::Series("Cheers".into())));
    slots.push(slot("tue", "12:00", 30, Fill::Series("Taxi".into())));
    for (y, m, d) in [(2026, 3, 7), (2026, 10, 31), (2028, 2, 27)] {
        let from = tz.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap().with_timezone(&Utc);
        let p = plan(&channel(BreakStyle::Us), &slots, &lib, tz, from, 3);
        check_invariants(&p, &lib, from.timestamp_millis(), from.timestamp_millis() + 3 * 86_400_000, tz);
        for day in 0..3 {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap() + chrono::Duration::days(day);
            let at = tz.from_local_datetime(&date.and_hms_opt(18, 0, 0).unwrap()).unwrap().timestamp_millis();
            assert!(p.programs.iter().any(|x| x.start_ms == at && x.info.title == "Cheers"), "18:00 on {date}");
        }
    }
    // 2028-02-29 is a Tuesday: its noon slot runs.
    let from = tz.with_ymd_and_hms(2028, 2, 28, 0, 0, 0).unwrap().with_timezone(&Utc);
    let p = plan(&channel(BreakStyle::Us), &slots, &lib, tz, from, 2);
    let noon = tz.with_ymd_and_hms(2028, 2, 29, 12, 0, 0).unwrap().timestamp_millis();
    assert!(p.programs.iter().any(|x| x.start_ms == noon && x.info.title == "Taxi"));
    // Clocks going back: 01:00 happens twice; the slot runs at the first, the repeated hour
    // is filled, and 02:00 EST starts on time.
    let from = tz.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap().with_timezone(&Utc);
    let p = plan(&channel(BreakStyle::Us), &slots, &lib, tz, from, 1);
    let two = tz.with_ymd_and_hms(2026, 11, 1, 2, 0, 0).unwrap().timestamp_millis();
    assert!(p.programs.iter().any(|x| x.start_ms == two && x.info.title == "Cheers"));
}

#[test]
fn an_empty_library_or_rules_matching_nothing_give_station_breaks_not_holes() {
    let lib = LibraryIndex::new(Vec::new());
    let from = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
    let p = plan(&channel(BreakStyle::Us), &grid(), &lib, Tz::UTC, from, 1);
    check_invariants(&p, &lib, from.timestamp_millis(), from.timestamp_millis() + 86_400_000, Tz::UTC);
    assert!(p.programs.iter().all(|x| x.info.kind == ProgramKind::Filler));
    assert!(p.programs.iter().flat_map(|x| &x.airings).all(|a| a.kind == AiringKind::Slate));
    assert!(!p.warnings.is_empty());

    // A kids channel whose rules match nothing still gets a valid, gap-free plan.
    let lib = LibraryIndex::new(library());
    let mut kids = channel(BreakStyle::Us);
    kids.settings.rating_limit = Some("TV-Y".parse().unwrap());
    let p = plan(&kids, &grid(), &lib, Tz::UTC, from, 1);
    check_invariants(&p, &lib, from.timestamp_millis(), from.timestamp_millis() + 86_400_000, Tz::UTC);
    assert!(p.warnings.iter().any(|w| w.contains("Cheers")), "{:?}", p.warnings);
}

#[test]
fn rating_limits_hold_and_long_movies_take_the_half_hours_they_need() {
    let lib = LibraryIndex::new(library());
    let mut ch = channel(BreakStyle::Us);
    ch.settings.rating_limit = Some("TV-PG".parse().unwrap());
    let from = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
    let p = plan(&ch, &grid(), &lib, Tz::UTC, from, 4);
    for x in &p.programs {
        assert!(!matches!(x.info.rating.as_deref(), Some("R" | "TV-14")), "{:?} on a TV-PG channel", x.info.title);
    }
    let p = plan(&channel(BreakStyle::Us), &grid(), &lib, Tz::UTC, from, 4);
    let aliens = p.programs.iter().find(|x| x.info.title == "Aliens").expect("Aliens airs in 4 days");
    assert_eq!(aliens.end_ms - aliens.start_ms, 5 * 1_800_000, "137 min takes five half hours");
}

#[test]
fn series_run_in_order_and_a_replan_rewinds_progress() {
    let db = crate::db::Db::open_in_memory().unwrap();
    let lib = LibraryIndex::new(seed_library(&db, library()));
    let mut cfg = crate::config::Config::default().schedule;
    cfg.frozen = std::time::Duration::from_secs(24 * 3600);
    let ch = db.call_blocking(|c| {
        let ch = crate::lineup::store::insert(
            c,
            &crate::lineup::store::NewChannel {
                number: "5".parse().unwrap(),
                name: "Retro Five".into(),
                call_sign: "WRTV".into(),
                logo: None,
                settings: ChannelSettings::default(),
            },
            0,
        )
        .unwrap();
        store::replace_slots(c, ch.id, &grid(), 0).unwrap();
        ch
    });
    {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 10, 0).unwrap();
        let r = horizon::build_with(&db, &cfg, &lib, now, 7, horizon::BuildMode::Replan { force: false }).unwrap();
        assert_eq!(
            r.channels[0].programs,
            db.call_blocking(|c| store::programs_between(c, ch.id, 0, i64::MAX)).unwrap().len()
        );
        let g1 = db.call_blocking(|c| store::generation(c)).unwrap();
        let first = db.call_blocking(|c| store::programs_between(c, ch.id, 0, i64::MAX)).unwrap();
        let eps: Vec<u32> = first
            .iter()
            .filter(|p| p.info.title == "Cheers" && p.start.hour() == 18)
            .filter_map(|p| p.info.episode)
            .take(13)
            .collect();
        assert_eq!(eps, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1], "in order, wrapping round");
        assert_eq!(first[0].start, Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap());
        // A replan keeps the frozen window and gives the same schedule (progress rewound).
        horizon::build_with(&db, &cfg, &lib, now, 7, horizon::BuildMode::Replan { force: false }).unwrap();
        let second = db.call_blocking(|c| store::programs_between(c, ch.id, 0, i64::MAX)).unwrap();
        let strip = |v: &[Program]| v.iter().map(|p| (p.start, p.end, p.media_id)).collect::<Vec<_>>();
        assert_eq!(strip(&first), strip(&second));
        let frozen_end = now + chrono::Duration::hours(24);
        assert!(first.iter().zip(&second).filter(|(a, _)| a.end <= frozen_end).all(|(a, b)| a.id == b.id));
        assert!(db.call_blocking(|c| store::generation(c)).unwrap() > g1);
        // The daemon extends every ten minutes while the plan already reaches days ahead: what
        // is on now and the next days stay (pruning is relative to now, not to the extension).
        let soon = now + chrono::Duration::minutes(40);
        horizon::build_with(&db, &cfg, &lib, soon, 7, horizon::BuildMode::Extend).unwrap();
        let extended = db.call_blocking(|c| store::programs_between(c, ch.id, 0, i64::MAX)).unwrap();
        assert_eq!(strip(&extended[..second.len()]), strip(&second), "an extension removed published programs");
        assert!(db.call_blocking(|c| store::airing_at(c, ch.id, soon.timestamp_millis())).unwrap().is_some());
        // Extending appends after the horizon without touching anything published.
        let later = now + chrono::Duration::days(5);
        horizon::build_with(&db, &cfg, &lib, later, 3, horizon::BuildMode::Extend).unwrap();
        let third = db.call_blocking(|c| store::programs_between(c, ch.id, 0, i64::MAX)).unwrap();
        assert!(third.last().unwrap().end > second.last().unwrap().end);
        let kept = second.iter().skip_while(|p| p.start < third[0].start).cloned().collect::<Vec<_>>();
        assert!(!kept.is_empty(), "rows older than two days are pruned, the rest stays");
        assert_eq!(strip(&kept), strip(&third[..kept.len()]));
        // The timeline answers from memory and matches the SQL lookup, without holes.
        let t0 = third[0].start;
        let airings =
            db.call_blocking(|c| store::airings_between(c, ch.id, t0.timestamp_millis(), i64::MAX / 2)).unwrap();
        let tl = Timeline::new(airings);
        let mut t = t0;
        while t < later + chrono::Duration::days(2) {
            let (a, off) = tl.at(t).unwrap_or_else(|| {
                panic!(
                    "nothing on at {t}: {:#?}",
                    tl.from(t - chrono::Duration::minutes(5)).iter().take(3).collect::<Vec<_>>()
                )
            });
            let sql = db.call_blocking(|c| store::airing_at(c, ch.id, t.timestamp_millis())).unwrap().unwrap();
            assert_eq!((a.id, off), (sql.id, t.timestamp_millis() - sql.start.timestamp_millis()));
            t += chrono::Duration::seconds(97);
        }
        // As-run entries go in and come back.
        let (a, _) = tl.at(t0).unwrap();
        let id = db
            .call_blocking(|c| store::record_as_run(c, &store::AsRun::started(a, t0.timestamp_millis() + 3)))
            .unwrap();
        db.call_blocking(|c| store::finish_as_run(c, id, a.end.timestamp_millis(), store::AsRunStatus::Aired, None))
            .unwrap();
        let log = db.call_blocking(|c| store::as_run(c, Some(ch.id), 0, i64::MAX, 10)).unwrap();
        assert_eq!((log.len(), log[0].schedule_item_id, log[0].status), (1, Some(a.id), store::AsRunStatus::Aired));
    }
}

#[test]
fn first_airings_come_from_the_as_run_log_and_the_published_schedule() {
    let db = crate::db::Db::open_in_memory().unwrap();
    let lib = LibraryIndex::new(seed_library(&db, library()));
    let cfg = crate::config::Config::default().schedule;
    let ch = db.call_blocking(|c| {
        let new = crate::lineup::store::NewChannel {
            number: "5".parse().unwrap(),
            name: "Retro Five".into(),
            call_sign: String::new(),
            logo: None,
            settings: ChannelSettings::default(),
        };
        let ch = crate::lineup::store::insert(c, &new, 0).unwrap();
        store::replace_slots(c, ch.id, &grid(), 0).unwrap();
        ch
    });
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 10, 0).unwrap();
    horizon::build_with(&db, &cfg, &lib, now, 2, horizon::BuildMode::Replan { force: false }).unwrap();
    let programs = db.call_blocking(|c| store::programs_between(c, ch.id, 0, i64::MAX)).unwrap();
    let items: Vec<MediaId> = programs.iter().filter_map(|p| p.media_id).collect();
    let first = db.call_blocking(|c| store::first_airings(c, &items)).unwrap();
    for p in &programs {
        let Some(m) = p.media_id else { continue };
        let earliest = programs.iter().filter(|q| q.media_id == Some(m)).map(|q| q.start).min().unwrap();
        assert_eq!(first[&m], store::FirstAiring { start_ms: earliest.timestamp_millis(), channel: ch.id });
    }
    // An as-run entry that aired last year wins; a failed one and other items do not count.
    let m = items[0];
    let airings = db.call_blocking(|c| store::airings_between(c, ch.id, 0, i64::MAX)).unwrap();
    let mut old = airings.iter().find(|a| a.media_id == Some(m)).unwrap().clone();
    let year_ago = now - chrono::Duration::days(365);
    let failed_earlier = year_ago - chrono::Duration::days(1);
    for (start, status) in [(failed_earlier, store::AsRunStatus::Failed), (year_ago, store::AsRunStatus::Aired)] {
        old.start = start;
        db.call_blocking(|c| {
            let id = store::record_as_run(c, &store::AsRun::started(&old, start.timestamp_millis()))?;
            store::finish_as_run(c, id, start.timestamp_millis() + 60_000, status, None)
        })
        .unwrap();
    }
    let first = db.call_blocking(|c| store::first_airings(c, &[m, MediaId(999_999)])).unwrap();
    assert_eq!(first.len(), 1, "an item never aired nor published is absent");
    assert_eq!(first[&m].start_ms, year_ago.timestamp_millis());
}

/// Store `items` through the library's API (ids are reassigned) and read them back.
pub(crate) fn seed_library(db: &crate::db::Db, items: Vec<MediaItem>) -> Vec<MediaItem> {
    use crate::library::store as ls;
    db.call_blocking(|c| {
        let src = ls::insert_source(
            c,
            "Media",
            &ls::SourceSpec::Folder { path: "/media".into(), content_kind: "mixed".into() },
            0,
        )
        .unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for it in &items {
            let rec = ls::ItemRecord {
                external_id: format!("{}/{}", it.kind, it.id),
                kind: Some(it.kind),
                uri: it.uri.clone(),
                path: None,
                title: it.title.clone(),
                series: it.series.clone(),
                season: it.season,
                episode: it.episode,
                year: it.year,
                plot: it.plot.clone(),
                rating: it.rating.clone(),
                genres: it.genres.clone(),
                tags: it.tags.clone(),
                ..Default::default()
            };
            let (id, _) = ls::upsert_item(&tx, src, &rec, 0).unwrap();
            let facts = ls::ProbeFacts { duration_ms: it.duration_ms, ..Default::default() };
            ls::set_probe(&tx, id, Ok(&facts), 0).unwrap();
            if it.meta != SchedulingMetadata::default() {
                ls::set_metadata(&tx, id, ls::Origin::Import, &it.meta, 0).unwrap();
            }
            if !it.breakpoints.is_empty() {
                ls::set_breakpoints(&tx, id, "chapter", &it.breakpoints).unwrap();
            }
        }
        tx.commit().unwrap();
        ls::list_items(c, &ls::ItemFilter { playable_only: true, ..Default::default() }).unwrap()
    })
}

/// Issue #18: a day of the test library on a 25 fps channel (NTSC-length spots: breaks never
/// fill exactly) airs no black where a card can go. Without library bumpers every break has
/// a generated card that takes the leftover (5 slates of 280-640 ms before); with them, only
/// leftovers too short for a card of their own stay slate, and only after a program's last
/// act (a mid-program break's goes on to the next break: 4 slates a day before that).
#[test]
fn a_days_breaks_leave_no_black_a_card_could_cover() {
    for bumpers in [false, true] {
        let mut items = library();
        if !bumpers {
            items.retain(|i| i.kind != ContentKind::Bumper);
        }
        let lib = LibraryIndex::new(items);
        let mut ch = channel(BreakStyle::Us);
        ch.settings.profile.frame_rate = FrameRate::Pal;
        let from = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        let p = plan(&ch, &grid(), &lib, Tz::UTC, from, 1);
        let (day_start, day_end) = (from.timestamp_millis(), from.timestamp_millis() + 86_400_000);
        check_invariants_at(&p, &lib, day_start, day_end, Tz::UTC, FrameRate::Pal);
        let slates: Vec<i64> = p
            .programs
            .iter()
            .flat_map(|x| &x.airings)
            .filter(|a| a.kind == AiringKind::Slate)
            .map(Airing::duration_ms)
            .collect();
        if bumpers {
            assert!(slates.iter().all(|&ms| ms < 2_000), "{slates:?}");
            // A mid-program break's short leftover goes on to the next break: only the time
            // after a program's last act can hold a slate, at most one.
            for x in &p.programs {
                let last_act = x.airings.iter().rposition(|a| a.kind == AiringKind::Program);
                let slots: Vec<usize> =
                    (0..x.airings.len()).filter(|&k| x.airings[k].kind == AiringKind::Slate).collect();
                assert!(slots.len() <= 1 && slots.iter().all(|&k| Some(k) > last_act), "{:#?}", x.airings);
            }
            eprintln!("with library bumpers: {} slates in a day: {slates:?} ms", slates.len());
        } else {
            assert_eq!(slates, Vec::<i64>::new());
        }
    }
}
