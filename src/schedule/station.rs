//! The station's own airtime (pure): a channel's off-air hours and a guide channel's day.
//!
//! - **Off-air hours** ([`OffAirRule`], from `lineup::OffAirHours`): at the start of each
//!   window the channel signs off (the library's sign-off items, else a generated closing
//!   card), shows its test card with the 1 kHz tone, and signs on at the end (sign-on items,
//!   else an opening card). The guide lists them as "Sign Off", "Off Air" and "Sign On".
//! - **Guide channels**: hour-long "Program Guide" entries whose airings are the preview
//!   clips (the library kind the channel names, default promos), alternating with clips of
//!   its music kind when it names one; playout draws the grid around them.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveTime, Timelike};
use chrono_tz::Tz;

use super::card::{CardSpec, CardTemplate};
use super::filler::BreakFiller;
use super::order::Shuffle;
use super::planner::{PlannedProgram, local_to_utc};
use super::pool::LibraryIndex;
use super::rules::{Days, RuleError, parse_start};
use super::{Airing, AiringKind, ProgramInfo};
use crate::clock::from_ms;
use crate::library::ContentKind;
use crate::lineup::{Channel, GuideSettings, OffAirHours, TestCard};

/// How long a generated sign-off or sign-on card stays up.
pub const SIGN_CARD_MS: i64 = 20_000;
/// The guide channel's entries are this long.
const GUIDE_HOUR_MS: i64 = 3_600_000;

/// One off-air window of a channel's week, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffAirRule {
    /// Days the window starts on.
    pub days: Days,
    /// Sign-off, minutes after local midnight.
    pub start_minute: u32,
    /// Sign-on, minutes after local midnight (at or before `start_minute`: the next day).
    pub end_minute: u32,
    /// The test card in between.
    pub card: CardTemplate,
}

impl OffAirRule {
    /// Check one window of the channel settings.
    pub fn parse(h: &OffAirHours) -> Result<Self, RuleError> {
        let days = Days::parse(&h.days)?;
        let start_minute = parse_start(&h.start)?;
        let end_minute = parse_start(&h.end)?;
        if start_minute == end_minute {
            return Err(RuleError::BadOffAir(format!("{}-{}: sign-off and sign-on at the same time", h.start, h.end)));
        }
        let card = match h.test_card {
            TestCard::Bars => CardTemplate::TestBars,
            TestCard::Classic => CardTemplate::TestClassic,
        };
        Ok(Self { days, start_minute, end_minute, card })
    }

    /// Length in minutes.
    pub fn length_min(&self) -> u32 {
        (self.end_minute + 1440 - self.start_minute) % 1440
    }
}

/// Check every off-air window of a channel.
pub fn off_air_rules(channel: &Channel) -> Result<Vec<OffAirRule>, RuleError> {
    channel.settings.off_air.iter().map(OffAirRule::parse).collect()
}

/// Check the station settings of a channel (off-air hours, a guide's library kinds) before
/// they are stored.
pub fn check_settings(s: &crate::lineup::ChannelSettings) -> Result<(), RuleError> {
    for h in &s.off_air {
        OffAirRule::parse(h)?;
    }
    for k in std::iter::once(&s.guide.preview).chain(s.guide.music.as_ref()) {
        k.parse::<ContentKind>().map_err(|e| RuleError::BadGuide(e.to_string()))?;
    }
    Ok(())
}

/// Parse `--off-air` text: `[DAYS] HH:MM-HH:MM [bars|classic]`, e.g. `weekdays 02:00-06:00`.
pub fn parse_off_air(text: &str) -> Result<OffAirHours, RuleError> {
    let bad = || RuleError::BadOffAir(format!("{text:?}: expected [days] HH:MM-HH:MM [bars|classic]"));
    let words: Vec<&str> = text.split_whitespace().collect();
    let span = words.iter().position(|w| w.contains('-') && w.contains(':')).ok_or_else(bad)?;
    let (start, end) = words[span].split_once('-').ok_or_else(bad)?;
    let days = if span == 0 { "daily".to_owned() } else { words[..span].join(",") };
    let test_card = match words.get(span + 1).copied() {
        None | Some("bars") => TestCard::Bars,
        Some("classic") => TestCard::Classic,
        Some(_) => return Err(bad()),
    };
    let h = OffAirHours { days, start: start.into(), end: end.into(), test_card };
    OffAirRule::parse(&h)?;
    Ok(h)
}

/// The off-air windows overlapping `[from, to)` (UTC ms): (start, end, test card), by start,
/// overlapping windows merged.
pub fn windows(rules: &[OffAirRule], tz: Tz, from_ms: i64, to_ms: i64) -> Vec<(i64, i64, CardTemplate)> {
    let day0 = from_ms_date(tz, from_ms) - Duration::days(2);
    let day1 = from_ms_date(tz, to_ms) + Duration::days(1);
    let mut out: Vec<(i64, i64, CardTemplate)> = Vec::new();
    let mut d = day0;
    while d <= day1 {
        for r in rules.iter().filter(|r| r.days.contains(d.weekday().num_days_from_monday())) {
            let at = |m: u32| NaiveTime::from_hms_opt(m / 60, m % 60, 0).expect("valid minute");
            let start = local_to_utc(tz, d.and_time(at(r.start_minute)));
            let end_day = if r.end_minute <= r.start_minute { d + Duration::days(1) } else { d };
            let end = local_to_utc(tz, end_day.and_time(at(r.end_minute)));
            if end > from_ms && start < to_ms && end > start {
                out.push((start, end, r.card));
            }
        }
        d += Duration::days(1);
    }
    out.sort_unstable_by_key(|w| (w.0, w.1));
    let mut merged: Vec<(i64, i64, CardTemplate)> = Vec::new();
    for w in out {
        match merged.last_mut() {
            Some(last) if w.0 <= last.1 => last.1 = last.1.max(w.1),
            _ => merged.push(w),
        }
    }
    merged
}

fn from_ms_date(tz: Tz, ms: i64) -> chrono::NaiveDate {
    from_ms(ms).with_timezone(&tz).date_naive()
}

fn entry(title: &str, description: String) -> ProgramInfo {
    ProgramInfo::filler(title, Some(description))
}

/// Plan an off-air window `[start, end)` (the previous program may have run into it: then it
/// starts later): sign-off, the test card `card`, sign-on. Programs of zero length are left
/// out; the result covers exactly `[start, end)`.
pub fn plan_off_air(
    filler: &mut BreakFiller<'_>,
    channel: &Channel,
    start: i64,
    end: i64,
    card: CardTemplate,
) -> Vec<PlannedProgram> {
    let span = end - start;
    if span <= 0 {
        return Vec::new();
    }
    let frames = filler.frames();
    let tz = filler.tz();
    // At most a third of the window each for the sequences.
    let room = span / 3;
    let mut off = filler.sign_items(false, start, room);
    if off.is_empty() && room >= SIGN_CARD_MS {
        let len = frames.floor_ms(SIGN_CARD_MS);
        off.push(filler.card(start, len, CardSpec::sign_off(from_ms(end), tz)));
    }
    let off_end = off.last().map_or(start, |a| a.end.timestamp_millis());
    let on_len_max = room;
    let mut on = filler.sign_items(true, end - on_len_max, on_len_max);
    if on.is_empty() && room >= SIGN_CARD_MS {
        let len = frames.floor_ms(SIGN_CARD_MS);
        on.push(filler.card(end - len, len, CardSpec::sign_on()));
    }
    // Sign-on ends exactly at the window's end: move it there.
    let on_len: i64 = on.iter().map(Airing::duration_ms).sum();
    let on_start = end - on_len;
    let mut at = on_start;
    for a in &mut on {
        let d = a.duration_ms();
        a.start = from_ms(at);
        a.end = from_ms(at + d);
        at += d;
    }
    let name = &channel.name;
    let mut programs = Vec::new();
    if off_end > start {
        programs.push(PlannedProgram {
            start_ms: start,
            end_ms: off_end,
            media_id: None,
            info: entry("Sign Off", format!("{name} signs off for the night.")),
            airings: off,
        });
    }
    if on_start > off_end {
        programs.push(PlannedProgram {
            start_ms: off_end,
            end_ms: on_start,
            media_id: None,
            info: entry("Off Air", format!("{name} is off the air: test card and tone until sign-on.")),
            airings: vec![filler.card(off_end, on_start - off_end, CardSpec::test_card(card))],
        });
    }
    if end > on_start {
        programs.push(PlannedProgram {
            start_ms: on_start,
            end_ms: end,
            media_id: None,
            info: entry("Sign On", format!("{name} begins its broadcast day.")),
            airings: on,
        });
    }
    programs
}

/// The pool a guide setting names (a content kind), or empty when it names none.
fn guide_pool(lib: &LibraryIndex, kind: Option<&str>) -> Vec<usize> {
    match kind.and_then(|k| k.parse::<ContentKind>().ok()) {
        Some(k) => lib.of_kind(k),
        None => Vec::new(),
    }
}

/// Plan a guide channel over `[from, to)`: hour-long "Program Guide" entries on local hour
/// boundaries, their airings the preview clips in a seeded rotation (alternating with music
/// clips when the channel names a music kind), each cut to fit; what no clip fills is slate.
/// `progress` keeps where the rotations stand across builds.
pub fn plan_guide(
    channel: &Channel,
    lib: &LibraryIndex,
    tz: Tz,
    seed: u64,
    start_ms: i64,
    to_ms: i64,
    progress: &mut BTreeMap<String, u64>,
) -> Vec<PlannedProgram> {
    let GuideSettings { preview, music } = &channel.settings.guide;
    let frames = super::filler::Frames::of(channel.settings.profile.frame_rate);
    let pools = [guide_pool(lib, Some(preview)), guide_pool(lib, music.as_deref())];
    let keys = ["#guide:preview", "#guide:music"];
    let mut shuffles: Vec<Shuffle> =
        pools.iter().zip(keys).map(|(p, k)| Shuffle::new(seed, &format!("{}:{k}", channel.id), p.len())).collect();
    let mut programs = Vec::new();
    let mut cur = start_ms;
    let mut turn = progress.get("#guide:turn").copied().unwrap_or(0) as usize;
    while cur < to_ms {
        // To the next local hour (the first entry may be shorter).
        let local = from_ms(cur).with_timezone(&tz).naive_local();
        let hour = local.date().and_hms_opt(local.hour(), 0, 0);
        let next = hour.map_or(cur + GUIDE_HOUR_MS, |h| local_to_utc(tz, h + Duration::hours(1))).max(cur + 60_000);
        let mut airings = Vec::new();
        let mut at = cur;
        let mut misses = 0;
        while at < next && misses < 2 {
            let which = if pools[1].is_empty() { 0 } else { turn % 2 };
            turn += 1;
            let pool = &pools[which];
            let k = progress.get(keys[which]).copied().unwrap_or(0);
            let Some(i) = shuffles[which].pick(k).map(|j| pool[j]) else {
                misses += 1;
                continue;
            };
            misses = 0;
            progress.insert(keys[which].to_owned(), k + 1);
            let item = lib.item(i);
            let len = frames.floor_ms(lib.duration(i)).min(next - at);
            if len <= 0 {
                break;
            }
            airings.push(Airing {
                id: 0,
                channel_id: channel.id,
                program_id: None,
                start: from_ms(at),
                end: from_ms(at + len),
                kind: if which == 0 { AiringKind::Promo } else { AiringKind::Filler },
                media_id: Some(item.id),
                uri: Some(item.uri.clone()),
                title: item.title.clone(),
                offset_in_ms: 0,
                offset_out_ms: len,
                loudness_lufs: item.loudness_lufs,
                card: None,
            });
            at += len;
        }
        if at < next {
            airings.push(Airing {
                id: 0,
                channel_id: channel.id,
                program_id: None,
                start: from_ms(at),
                end: from_ms(next),
                kind: AiringKind::Slate,
                media_id: None,
                uri: None,
                title: "Program Guide".into(),
                offset_in_ms: 0,
                offset_out_ms: next - at,
                loudness_lufs: None,
                card: None,
            });
        }
        programs.push(PlannedProgram {
            start_ms: cur,
            end_ms: next,
            media_id: None,
            info: entry("Program Guide", format!("{}: what is on every channel now and next.", channel.name)),
            airings,
        });
        cur = next;
    }
    progress.insert("#guide:turn".into(), turn as u64);
    programs
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn hours(days: &str, start: &str, end: &str) -> OffAirHours {
        OffAirHours { days: days.into(), start: start.into(), end: end.into(), test_card: TestCard::Bars }
    }

    #[test]
    fn off_air_windows_follow_the_local_week() {
        let tz: Tz = "America/Chicago".parse().unwrap();
        let rules = [OffAirRule::parse(&hours("weekdays", "02:00", "06:00")).unwrap()];
        // Monday 2026-11-23 00:00 local to Monday 2026-11-30 00:00.
        let from = tz.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap().timestamp_millis();
        let to = from + 7 * 86_400_000;
        let w = windows(&rules, tz, from, to);
        assert_eq!(w.len(), 5, "{w:?}");
        assert_eq!(w[0].0, tz.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap().timestamp_millis());
        assert_eq!(w[0].1 - w[0].0, 4 * 3_600_000);
        // Across midnight: 23:30 to 06:00 the next day.
        let late = [OffAirRule::parse(&hours("sat", "23:30", "06:00")).unwrap()];
        let w = windows(&late, tz, from, to);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].1 - w[0].0, 390 * 60_000);
        assert_eq!(late[0].length_min(), 390);
        assert!(OffAirRule::parse(&hours("daily", "02:00", "02:00")).is_err());
        assert!(OffAirRule::parse(&hours("daily", "02:10", "06:00")).is_err());
        assert!(OffAirRule::parse(&hours("someday", "02:00", "06:00")).is_err());
        let h = parse_off_air("mon-fri 02:00-06:00 classic").unwrap();
        assert_eq!(
            (h.days.as_str(), h.start.as_str(), h.end.as_str(), h.test_card),
            ("mon-fri", "02:00", "06:00", TestCard::Classic)
        );
        assert_eq!(parse_off_air("01:00-05:30").unwrap().days, "daily");
        assert!(parse_off_air("02:00 06:00").is_err());
    }
}
