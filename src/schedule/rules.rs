//! The coarse grid and the rules that decide what may air when: [`Slot`]s (days, local start,
//! length, [`Fill`]), grid validation (no overlaps), dayparts, calendar seasons and holidays,
//! and content-rating limits. Pure: no I/O, no clock.

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};
use serde::{Deserialize, Serialize};

use crate::library::MediaItem;

/// Errors in a grid or a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Two slots cover the same time.
    #[error("slot {a} overlaps slot {b}: slots of one channel may not cover the same minute")]
    Overlap {
        /// First slot, described.
        a: String,
        /// Second slot, described.
        b: String,
    },
    /// A slot length that is not 30, 60, 90 ... minutes.
    #[error("slot {slot}: length {length} min is not a whole number of half hours (30, 60, 90, 120 ...) up to 24 h")]
    BadLength {
        /// The slot, described.
        slot: String,
        /// Its length.
        length: u32,
    },
    /// A start time that is not HH:MM on a half hour.
    #[error("start time {0:?}: expected HH:MM on the hour or half hour, such as 19:00 or 19:30")]
    BadStart(String),
    /// A days expression that is not understood.
    #[error("days {0:?}: expected daily, weekdays, weekends, or names/ranges such as mon-fri or sat,sun")]
    BadDays(String),
    /// Off-air hours that cannot be.
    #[error("off-air hours {0}")]
    BadOffAir(String),
    /// A guide channel's preview or music kind that is not a library kind.
    #[error("guide channel: {0}")]
    BadGuide(String),
}

/// Days of the week a slot runs: bit 0 = Monday ... bit 6 = Sunday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Days(pub u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Days {
    /// Every day.
    pub const ALL: Days = Days(0x7f);

    /// Whether the slot runs on this weekday (0 = Monday).
    pub fn contains(self, weekday_from_monday: u32) -> bool {
        self.0 & (1 << weekday_from_monday) != 0
    }

    /// Parse `daily`, `weekdays`, `weekends`, `mon-fri`, `sat,sun`, `tue`.
    pub fn parse(text: &str) -> Result<Self, RuleError> {
        let bad = || RuleError::BadDays(text.to_owned());
        let t = text.trim().to_ascii_lowercase();
        match t.as_str() {
            "daily" | "all" | "every day" => return Ok(Self::ALL),
            "weekdays" => return Ok(Self(0x1f)),
            "weekends" => return Ok(Self(0x60)),
            _ => {}
        }
        let day = |s: &str| DAY_NAMES.iter().position(|d| s.trim().starts_with(d) && s.trim().len() >= 3);
        let mut bits = 0u8;
        for part in t.split(',') {
            if let Some((a, b)) = part.split_once('-') {
                let (a, b) = (day(a).ok_or_else(bad)?, day(b).ok_or_else(bad)?);
                let mut d = a;
                loop {
                    bits |= 1 << d;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            } else {
                bits |= 1 << day(part).ok_or_else(bad)?;
            }
        }
        if bits == 0 { Err(bad()) } else { Ok(Self(bits)) }
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0x7f => f.write_str("daily"),
            0x1f => f.write_str("mon-fri"),
            0x60 => f.write_str("sat,sun"),
            bits => {
                let names: Vec<&str> = (0..7).filter(|d| bits & (1 << d) != 0).map(|d| DAY_NAMES[d]).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

/// What fills a slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill {
    /// Episodes of one series in order; progress is kept per channel and series.
    Series(String),
    /// Episodes and movies carrying this tag / collection, shuffled without repeats.
    Tag(String),
    /// Episodes and movies of this genre, shuffled without repeats.
    Genre(String),
    /// Movies (of this genre, or any), shuffled; each takes the whole half hours it needs.
    Movies(Option<String>),
    /// Episodes and movies from this decade ("1980s"), shuffled.
    Decade(String),
    /// Any episode or movie (the default fill when a channel names none).
    Anything,
}

impl Fill {
    /// A stable key for the shuffle cursor or series progress of this fill.
    pub fn progress_key(&self) -> String {
        match self {
            Self::Series(s) => s.clone(),
            Self::Tag(t) => format!("#shuffle:tag:{}", t.to_lowercase()),
            Self::Genre(g) => format!("#shuffle:genre:{}", g.to_lowercase()),
            Self::Movies(g) => format!("#shuffle:movies:{}", g.as_deref().unwrap_or("").to_lowercase()),
            Self::Decade(d) => format!("#shuffle:decade:{}", d.to_lowercase()),
            Self::Anything => "#shuffle:anything".to_owned(),
        }
    }

    /// The default fill named by a channel setting: `movies`, a decade (`1980s`), or a
    /// genre, tag or series name matched against the library (genre first, then tag, then
    /// series); `None` = anything.
    pub fn from_default(name: Option<&str>, library: &[MediaItem]) -> Self {
        let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else { return Self::Anything };
        if name.eq_ignore_ascii_case("movies") {
            return Self::Movies(None);
        }
        if is_decade(name) {
            return Self::Decade(name.to_owned());
        }
        let eq = |v: &[String]| v.iter().any(|g| g.eq_ignore_ascii_case(name));
        if library.iter().any(|i| eq(&i.genres)) {
            Self::Genre(name.to_owned())
        } else if library.iter().any(|i| eq(&i.tags)) {
            Self::Tag(name.to_owned())
        } else {
            Self::Series(name.to_owned())
        }
    }

    /// Whether `item` belongs to this fill's pool.
    pub fn matches(&self, item: &MediaItem) -> bool {
        let has = |v: &[String], x: &str| v.iter().any(|g| g.eq_ignore_ascii_case(x));
        match self {
            Self::Series(s) => {
                item.kind.is_program() && item.series.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(s))
            }
            Self::Tag(t) => item.kind.is_program() && has(&item.tags, t),
            Self::Genre(g) => item.kind.is_program() && has(&item.genres, g),
            Self::Movies(g) => {
                item.kind == crate::library::ContentKind::Movie && g.as_deref().is_none_or(|g| has(&item.genres, g))
            }
            Self::Decade(d) => item.kind.is_program() && decade_of(item).is_some_and(|x| x.eq_ignore_ascii_case(d)),
            Self::Anything => item.kind.is_program(),
        }
    }
}

/// Whether `s` names a decade such as `1980s`.
pub fn is_decade(s: &str) -> bool {
    s.len() == 5 && s.ends_with('s') && s[..4].bytes().all(|b| b.is_ascii_digit()) && s.as_bytes()[3] == b'0'
}

impl fmt::Display for Fill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Series(s) => write!(f, "series {s:?}"),
            Self::Tag(t) => write!(f, "tag {t:?}"),
            Self::Genre(g) => write!(f, "genre {g:?}"),
            Self::Movies(None) => f.write_str("movies"),
            Self::Movies(Some(g)) => write!(f, "movies {g:?}"),
            Self::Decade(d) => write!(f, "decade {d}"),
            Self::Anything => f.write_str("anything"),
        }
    }
}

/// One slot of a channel's weekly grid (local time of `schedule.timezone`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Row id (0 before it is stored).
    pub id: i64,
    /// Days it runs.
    pub days: Days,
    /// Local start, minutes after midnight (on a half hour).
    pub start_minute: u32,
    /// Length in minutes (30, 60, 90, ...).
    pub length_min: u32,
    /// What fills it.
    pub fill: Fill,
}

impl Slot {
    /// `HH:MM` of the start.
    pub fn start_text(&self) -> String {
        format!("{:02}:{:02}", self.start_minute / 60, self.start_minute % 60)
    }

    /// The local start time.
    pub fn start_time(&self) -> NaiveTime {
        NaiveTime::from_hms_opt(self.start_minute / 60, self.start_minute % 60, 0).unwrap_or(NaiveTime::MIN)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({} min, {})", self.days, self.start_text(), self.length_min, self.fill)
    }
}

/// Parse `HH:MM` on a half hour into minutes after midnight.
pub fn parse_start(text: &str) -> Result<u32, RuleError> {
    let bad = || RuleError::BadStart(text.to_owned());
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || (m != 0 && m != 30) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

const WEEK_MIN: u32 = 7 * 24 * 60;

/// Check a grid: lengths are whole half hours up to 24 h, starts on half hours, and no two
/// slots cover the same minute of the week (a slot may run past midnight into the next day).
pub fn validate_grid(slots: &[Slot]) -> Result<(), RuleError> {
    let mut spans: Vec<(u32, u32, usize)> = Vec::new();
    for (i, s) in slots.iter().enumerate() {
        if s.length_min == 0 || s.length_min % 30 != 0 || s.length_min > 24 * 60 {
            return Err(RuleError::BadLength { slot: s.to_string(), length: s.length_min });
        }
        if s.start_minute % 30 != 0 || s.start_minute >= 24 * 60 {
            return Err(RuleError::BadStart(s.start_text()));
        }
        for d in 0..7 {
            if s.days.contains(d) {
                spans.push((d * 1440 + s.start_minute, s.length_min, i));
            }
        }
    }
    for (x, &(a_start, a_len, ai)) in spans.iter().enumerate() {
        for &(b_start, b_len, bi) in &spans[x + 1..] {
            // Distance on the weekly circle from a to b and b to a.
            let ab = (b_start + WEEK_MIN - a_start) % WEEK_MIN;
            let ba = (a_start + WEEK_MIN - b_start) % WEEK_MIN;
            if ab < a_len || ba < b_len {
                let (a, b) = if ai == bi {
                    (slots[ai].to_string(), "itself on the next day".to_owned())
                } else {
                    (slots[ai].to_string(), slots[bi].to_string())
                };
                return Err(RuleError::Overlap { a, b });
            }
        }
    }
    Ok(())
}

/// A part of the broadcast day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Daypart {
    /// 02:00–06:00.
    Overnight,
    /// 06:00–10:00.
    Morning,
    /// 10:00–15:00.
    Daytime,
    /// 15:00–19:00.
    Afternoon,
    /// 19:00–23:00.
    Primetime,
    /// 23:00–02:00.
    LateNight,
}

impl Daypart {
    /// The daypart a local time falls in.
    pub fn of(t: NaiveTime) -> Self {
        match t.hour() {
            2..=5 => Self::Overnight,
            6..=9 => Self::Morning,
            10..=14 => Self::Daytime,
            15..=18 => Self::Afternoon,
            19..=22 => Self::Primetime,
            _ => Self::LateNight,
        }
    }

    /// The name used in metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overnight => "overnight",
            Self::Morning => "morning",
            Self::Daytime => "daytime",
            Self::Afternoon => "afternoon",
            Self::Primetime => "primetime",
            Self::LateNight => "late_night",
        }
    }
}

impl Daypart {
    /// Every daypart, in the order of the day from 02:00.
    pub const ALL: [Self; 6] =
        [Self::Overnight, Self::Morning, Self::Daytime, Self::Afternoon, Self::Primetime, Self::LateNight];

    /// This daypart's bit in a [`daypart_mask`].
    pub fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The dayparts an item whose metadata names `dayparts` may air in, as bits
/// ([`Daypart::bit`]): every daypart when it names none; unknown names are ignored so a typo
/// never hides an item.
pub fn daypart_mask(dayparts: &[String]) -> u8 {
    let mask = dayparts.iter().fold(0, |mask, d| {
        let name = d.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        Daypart::ALL.iter().find(|p| p.as_str() == name).map_or(mask, |p| mask | p.bit())
    });
    if mask == 0 { u8::MAX } else { mask }
}

/// Whether an item whose metadata names `dayparts` may air at local time `t` (no names = any
/// time; unknown names are ignored so a typo never hides an item).
pub fn daypart_allows(dayparts: &[String], t: NaiveTime) -> bool {
    dayparts.is_empty() || daypart_mask(dayparts) & Daypart::of(t).bit() != 0
}

/// Whether `name` (a season or holiday) is in effect on local date `d` (northern hemisphere).
fn season_in_effect(name: &str, d: NaiveDate) -> Option<bool> {
    let (m, day) = (d.month(), d.day());
    Some(match name {
        "spring" => (3..=5).contains(&m),
        "summer" => (6..=8).contains(&m),
        "fall" | "autumn" => (9..=11).contains(&m),
        "winter" => m == 12 || m <= 2,
        "christmas" | "holiday" | "holidays" => m == 12 && day <= 26,
        "new_year" | "newyear" => (m == 12 && day >= 26) || (m == 1 && day <= 2),
        "halloween" => m == 10,
        "thanksgiving" => m == 11,
        "valentines" | "valentine" => m == 2 && day <= 14,
        "independence_day" | "fourth_of_july" => m == 7 && day <= 4,
        "back_to_school" => (m == 8 && day >= 15) || (m == 9 && day <= 15),
        _ => return None,
    })
}

/// Whether an item whose metadata names `seasons` may air on local date `d` (no known names =
/// any date).
pub fn season_allows(seasons: &[String], d: NaiveDate) -> bool {
    let verdicts: Vec<bool> = seasons
        .iter()
        .filter_map(|s| season_in_effect(&s.trim().to_ascii_lowercase().replace([' ', '-', '\''], "_"), d))
        .collect();
    verdicts.is_empty() || verdicts.contains(&true)
}

pub use crate::lineup::setting::rating_level;

/// Whether an item rated `rating` may air under `limit`. Unrated items pass (home libraries
/// rarely carry ratings for everything); an unknown limit refuses every rated item.
pub fn rating_allows(limit: Option<&str>, rating: Option<&str>) -> bool {
    let (Some(limit), Some(rating)) = (limit, rating) else { return true };
    match (rating_level(limit), rating_level(rating)) {
        (Some(l), Some(r)) => r <= l,
        (None, _) => false,
        (Some(_), None) => true,
    }
}

/// The rating the scheduler uses for an item: the metadata override, else the item's.
pub fn effective_rating(item: &MediaItem) -> Option<&str> {
    item.meta.content_rating.as_deref().or(item.rating.as_deref())
}

/// The decade of an item ("1980s"), from its era metadata or its year.
pub fn decade_of(item: &MediaItem) -> Option<String> {
    item.meta.era.clone().or_else(|| item.year.map(|y| format!("{}s", y - y.rem_euclid(10))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(days: &str, start: &str, len: u32) -> Slot {
        Slot {
            id: 0,
            days: Days::parse(days).unwrap(),
            start_minute: parse_start(start).unwrap(),
            length_min: len,
            fill: Fill::Series("X".into()),
        }
    }

    #[test]
    fn days_parse_names_ranges_and_wraps() {
        assert_eq!(Days::parse("mon-fri").unwrap(), Days(0x1f));
        assert_eq!(Days::parse("weekends").unwrap(), Days(0x60));
        assert_eq!(Days::parse("fri-mon").unwrap(), Days(0b111_0001));
        assert_eq!(Days::parse("Tue, Thu").unwrap(), Days(0b1010));
        assert!(Days::parse("someday").is_err());
        assert_eq!(Days(0b1010).to_string(), "tue,thu");
    }

    #[test]
    fn overlaps_are_refused_including_across_midnight_and_sunday() {
        validate_grid(&[slot("daily", "19:00", 60), slot("daily", "20:00", 30)]).unwrap();
        let e = validate_grid(&[slot("daily", "19:00", 60), slot("mon", "19:30", 30)]).unwrap_err();
        assert!(e.to_string().contains("overlaps"), "{e}");
        assert!(validate_grid(&[slot("sun", "23:30", 60), slot("mon", "00:00", 30)]).is_err());
        assert!(validate_grid(&[slot("sat", "23:30", 60), slot("mon", "00:00", 30)]).is_ok());
        assert!(validate_grid(&[slot("daily", "12:00", 1440)]).is_ok());
        assert!(validate_grid(&[slot("mon,tue", "12:00", 1470)]).is_err());
        assert!(validate_grid(&[slot("daily", "12:00", 45)]).is_err());
        assert!(parse_start("19:15").is_err());
    }

    #[test]
    fn ratings_order_and_limit() {
        assert!(rating_allows(Some("TV-PG"), Some("TV-G")));
        assert!(rating_allows(Some("TV-PG"), Some("PG")));
        assert!(!rating_allows(Some("TV-PG"), Some("TV-14")));
        assert!(!rating_allows(Some("PG-13"), Some("R")));
        assert!(rating_allows(Some("PG-13"), None));
        assert!(!rating_allows(Some("nonsense"), Some("G")));
    }

    #[test]
    fn dayparts_and_seasons() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert!(daypart_allows(&["primetime".into()], t(20, 0)));
        assert!(!daypart_allows(&["primetime".into()], t(9, 0)));
        assert!(daypart_allows(&["late night".into()], t(1, 30)));
        assert!(daypart_allows(&["whenever".into()], t(9, 0)));
        let both = Daypart::Primetime.bit() | Daypart::LateNight.bit();
        assert_eq!(daypart_mask(&["Primetime".into(), "late-night".into(), "brunch".into()]), both);
        assert_eq!(daypart_mask(&["brunch".into()]), u8::MAX);
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert!(season_allows(&["christmas".into()], d(2026, 12, 24)));
        assert!(!season_allows(&["christmas".into()], d(2026, 7, 4)));
        assert!(season_allows(&["winter".into()], d(2028, 2, 29)));
        assert!(season_allows(&["halloween".into(), "summer".into()], d(2026, 7, 1)));
        assert!(season_allows(&[], d(2026, 7, 1)));
    }
}
