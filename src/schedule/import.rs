//! `retrovue channel import FILE`: channels with their settings and grids from a TOML file
//! (format documented in the README, "Channels and schedules"). Everything is validated
//! before anything is written, and the whole file is applied in one transaction: a channel
//! whose number exists is updated and its grid replaced; a new number adds a channel.

use std::path::PathBuf;

use serde::Deserialize;

use super::rules::{Days, Fill, RuleError, Slot, parse_start, validate_grid};
use super::store::{self, ScheduleStoreError};
use crate::db::Db;
use crate::lineup::store::{self as lineup_store, LineupStoreError, NewChannel};
use crate::lineup::{
    BreakStyle, BugSettings, CardEra, ChannelKind, ChannelMode, ChannelSettings, GuideNumber, GuideSettings,
    OffAirHours, OutputProfile, RatingLimit,
};

/// Errors importing channels.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not valid TOML or has unknown keys.
    #[error("channel file: {0}")]
    Parse(#[source] Box<toml::de::Error>),
    /// A channel's rules are invalid.
    #[error("channel {number}: {source}")]
    Rule {
        /// Channel number.
        number: String,
        /// What is wrong.
        #[source]
        source: RuleError,
    },
    /// A slot names no fill or several.
    #[error("channel {number}, slot at {start}: give exactly one of series, tag, genre, decade, movies")]
    Fill {
        /// Channel number.
        number: String,
        /// Slot start.
        start: String,
    },
    /// The same number twice in the file.
    #[error("channel {0} appears twice in the file")]
    Duplicate(String),
    /// A colour that is not `#rrggbb`.
    #[error("channel {number}: colour {value:?} is not a colour like \"#1f4e9c\"")]
    Colour {
        /// Channel number.
        number: String,
        /// What was written.
        value: String,
    },
    /// Writing channels failed.
    #[error(transparent)]
    Lineup(#[from] LineupStoreError),
    /// Writing slots failed.
    #[error(transparent)]
    Store(#[from] ScheduleStoreError),
}

/// The file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelFile {
    /// `[[channel]]` tables.
    #[serde(default)]
    pub channel: Vec<ChannelEntry>,
}

/// One `[[channel]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelEntry {
    /// Number ("5", "5.1").
    pub number: GuideNumber,
    /// Name.
    pub name: String,
    /// Call sign.
    #[serde(default)]
    pub call_sign: String,
    /// Logo image (PNG/JPEG/SVG).
    pub logo: Option<PathBuf>,
    /// Listed and scheduled (default true).
    pub enabled: Option<bool>,
    /// Highest rating allowed.
    pub rating_limit: Option<RatingLimit>,
    /// Target demographic.
    pub demographic: Option<String>,
    /// `on_demand` or `always_on`.
    pub mode: Option<ChannelMode>,
    /// Default fill: a genre, tag or series name, `movies`, or a decade such as `1980s`.
    pub default_fill: Option<String>,
    /// `us`, `uk` or `none`.
    pub break_style: Option<BreakStyle>,
    /// M3U group.
    pub group: Option<String>,
    /// `#rrggbb`: the background of the generated guide logo.
    pub colour: Option<String>,
    /// Now/next lower thirds.
    pub lower_thirds: Option<bool>,
    /// Corner clock.
    pub clock: Option<bool>,
    /// `[channel.profile]`.
    pub profile: Option<OutputProfile>,
    /// `[channel.bug]`.
    pub bug: Option<BugSettings>,
    /// `regular` or `guide`.
    pub kind: Option<ChannelKind>,
    /// The look of generated cards: `1970s`, `1980s`, `1990s`.
    pub era: Option<CardEra>,
    /// Generate bumper cards where the library has none.
    pub generated_bumpers: Option<bool>,
    /// Closed captions from the items' subtitles.
    pub captions: Option<bool>,
    /// `[[channel.off_air]]` tables: hours off the air.
    pub off_air: Option<Vec<OffAirHours>>,
    /// `[channel.guide]`: a guide channel's preview and music kinds.
    pub guide: Option<GuideSettings>,
    /// `[[channel.slot]]` tables.
    #[serde(default)]
    pub slot: Vec<SlotEntry>,
}

/// One `[[channel.slot]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotEntry {
    /// `daily`, `weekdays`, `weekends`, `mon-fri`, `sat,sun` ... (default daily).
    pub days: Option<String>,
    /// Local start `HH:MM` on a half hour.
    pub start: String,
    /// Minutes: 30, 60, 90, 120 ...
    pub length: u32,
    /// A series, in episode order.
    pub series: Option<String>,
    /// A tag or collection, shuffled.
    pub tag: Option<String>,
    /// A genre, shuffled.
    pub genre: Option<String>,
    /// A decade ("1980s"), shuffled.
    pub decade: Option<String>,
    /// Movies: `true` for any, or a genre name.
    pub movies: Option<toml::Value>,
}

impl SlotEntry {
    /// The validated slot.
    pub fn to_slot(&self, number: &str) -> Result<Slot, ImportError> {
        let rule = |source| ImportError::Rule { number: number.to_owned(), source };
        let days = Days::parse(self.days.as_deref().unwrap_or("daily")).map_err(rule)?;
        let start_minute = parse_start(&self.start).map_err(rule)?;
        let mut fills = Vec::new();
        if let Some(s) = &self.series {
            fills.push(Fill::Series(s.clone()));
        }
        if let Some(t) = &self.tag {
            fills.push(Fill::Tag(t.clone()));
        }
        if let Some(g) = &self.genre {
            fills.push(Fill::Genre(g.clone()));
        }
        if let Some(d) = &self.decade {
            fills.push(Fill::Decade(d.clone()));
        }
        match &self.movies {
            Some(toml::Value::Boolean(true)) => fills.push(Fill::Movies(None)),
            Some(toml::Value::String(g)) => fills.push(Fill::Movies(Some(g.clone()))),
            Some(_) | None => {}
        }
        if fills.len() != 1 {
            return Err(ImportError::Fill { number: number.to_owned(), start: self.start.clone() });
        }
        Ok(Slot { id: 0, days, start_minute, length_min: self.length, fill: fills.remove(0) })
    }
}

impl ChannelEntry {
    /// The settings this entry describes, on top of `base` (defaults for a new channel).
    pub fn settings(&self, mut base: ChannelSettings) -> ChannelSettings {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { base.$f = v.clone(); } )* };
        }
        set!(
            mode,
            break_style,
            lower_thirds,
            clock,
            profile,
            bug,
            kind,
            era,
            generated_bumpers,
            captions,
            off_air,
            guide
        );
        if self.rating_limit.is_some() {
            base.rating_limit = self.rating_limit.clone();
        }
        if self.demographic.is_some() {
            base.demographic = self.demographic.clone();
        }
        if self.default_fill.is_some() {
            base.default_fill = self.default_fill.clone();
        }
        if self.group.is_some() {
            base.group = self.group.clone();
        }
        if self.colour.is_some() {
            base.colour = self.colour.clone();
        }
        base
    }
}

/// Parse a channel file.
pub fn parse(text: &str) -> Result<ChannelFile, ImportError> {
    toml::from_str(text).map_err(|e| ImportError::Parse(Box::new(e)))
}

/// What an import did, per channel: (number, name, added?, slots).
pub type ImportSummary = Vec<(String, String, bool, usize)>;

/// Validate every channel of `file`, then apply them all in one transaction.
pub fn apply(db: &Db, file: &ChannelFile, now_ms: i64) -> Result<ImportSummary, ImportError> {
    let mut checked = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for c in &file.channel {
        let number = c.number.to_string();
        if !seen.insert(number.clone()) {
            return Err(ImportError::Duplicate(number));
        }
        if let Some(colour) = &c.colour
            && crate::lineup::logo::Rgb::parse(colour).is_none()
        {
            return Err(ImportError::Colour { number, value: colour.clone() });
        }
        super::station::check_settings(&c.settings(ChannelSettings::default()))
            .map_err(|source| ImportError::Rule { number: number.clone(), source })?;
        let slots = c.slot.iter().map(|s| s.to_slot(&number)).collect::<Result<Vec<_>, _>>()?;
        validate_grid(&slots).map_err(|source| ImportError::Rule { number: number.clone(), source })?;
        checked.push((c, slots));
    }
    db.call_blocking(|conn| {
        let tx = conn.transaction().map_err(ScheduleStoreError::from)?;
        let mut summary = Vec::new();
        for (c, slots) in checked {
            let (channel, added) = match lineup_store::by_number(&tx, c.number.as_str())? {
                Some(mut existing) => {
                    existing.name = c.name.clone();
                    existing.call_sign = c.call_sign.clone();
                    if c.logo.is_some() {
                        existing.logo = c.logo.clone();
                    }
                    existing.enabled = c.enabled.unwrap_or(existing.enabled);
                    existing.settings = c.settings(existing.settings.clone());
                    lineup_store::update(&tx, &existing, now_ms)?;
                    (existing, false)
                }
                None => {
                    let mut ch = lineup_store::insert(
                        &tx,
                        &NewChannel {
                            number: c.number.clone(),
                            name: c.name.clone(),
                            call_sign: c.call_sign.clone(),
                            logo: c.logo.clone(),
                            settings: c.settings(ChannelSettings::default()),
                        },
                        now_ms,
                    )?;
                    if c.enabled == Some(false) {
                        ch.enabled = false;
                        lineup_store::update(&tx, &ch, now_ms)?;
                    }
                    (ch, true)
                }
            };
            store::replace_slots(&tx, channel.id, &slots, now_ms)?;
            summary.push((channel.number.to_string(), channel.name.clone(), added, slots.len()));
        }
        tx.commit().map_err(ScheduleStoreError::from)?;
        Ok(summary)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[channel]]
number = "5"
name = "Sitcom Gold"
call_sign = "SITG"
rating_limit = "TV-PG"
break_style = "uk"
default_fill = "Comedy"
[channel.profile]
format = "hd720"
frame_rate = "25"
[[channel.slot]]
days = "mon-fri"
start = "19:00"
length = 30
series = "Cheers"
[[channel.slot]]
start = "20:00"
length = 120
movies = true
"#;

    #[test]
    fn a_file_imports_then_updates_in_place() {
        let db = crate::db::Db::open_in_memory().unwrap();
        let file = parse(FILE).unwrap();
        let s = apply(&db, &file, 1).unwrap();
        assert_eq!(s, vec![("5".to_owned(), "Sitcom Gold".to_owned(), true, 2)]);
        let ch = db.call_blocking(|c| lineup_store::by_number(c, "5")).unwrap().unwrap();
        assert_eq!(ch.settings.break_style, BreakStyle::Uk);
        assert_eq!(ch.settings.profile.frame_rate, crate::lineup::FrameRate::Pal);
        let slots = db.call_blocking(|c| store::list_slots(c, ch.id)).unwrap();
        assert_eq!(slots[1].fill, Fill::Movies(None));
        let again = apply(&db, &parse(&FILE.replace("Sitcom Gold", "Sitcoms")).unwrap(), 2).unwrap();
        assert!(!again[0].2);
        let ch2 = db.call_blocking(|c| lineup_store::by_number(c, "5")).unwrap().unwrap();
        assert_eq!((ch2.id, ch2.xmltv_id, ch2.name.as_str()), (ch.id, ch.xmltv_id, "Sitcoms"));
        assert_eq!(db.call_blocking(|c| store::list_slots(c, ch.id)).unwrap().len(), 2);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason_and_change_nothing() {
        let db = crate::db::Db::open_in_memory().unwrap();
        {
            let c = &db;
            let overlap = FILE.replace("start = \"20:00\"", "start = \"19:00\"");
            let e = apply(c, &parse(&overlap).unwrap(), 1).unwrap_err();
            assert!(e.to_string().contains("overlaps"), "{e}");
            // Checked settings are refused as the file is read, with the lineup's own words.
            let e = parse(&FILE.replace("TV-PG", "TV-PGX")).unwrap_err().to_string();
            assert!(e.contains("rating limit \"TV-PGX\": expected one of"), "{e}");
            let e = parse(&FILE.replace("frame_rate = \"25\"", "frame_rate = \"25\"\nvideo_kbps = 50")).unwrap_err();
            assert!(e.to_string().contains("video bitrate 50 kbit/s: expected 200 to 20000"), "{e}");
            assert!(parse(&FILE.replace("call_sign", "callsign")).unwrap_err().to_string().contains("callsign"));
            let off = FILE.replace(
                "[channel.profile]",
                "[[channel.off_air]]\nstart = \"02:00\"\nend = \"02:00\"\n[channel.profile]",
            );
            assert!(apply(c, &parse(&off).unwrap(), 1).unwrap_err().to_string().contains("same time"));
            let guide = FILE.replace("[channel.profile]", "[channel.guide]\npreview = \"clips\"\n[channel.profile]");
            assert!(apply(c, &parse(&guide).unwrap(), 1).unwrap_err().to_string().contains("unknown content kind"));
            let two = FILE.replace("movies = true", "movies = true\nseries = \"Taxi\"");
            assert!(apply(c, &parse(&two).unwrap(), 1).unwrap_err().to_string().contains("exactly one"));
            assert!(db.call_blocking(|c| lineup_store::list(c)).unwrap().is_empty());
        }
    }
}
