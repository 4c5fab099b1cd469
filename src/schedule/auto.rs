//! `retrovue channel auto`: propose sensible channels from what the library holds, for the
//! first-run experience: one per big genre (with its biggest series in prime time), one per
//! well-stocked decade, a movie channel, and a kids channel when there is kids' content.
//! Pure proposal; applying goes through the lineup and schedule stores.

use std::collections::BTreeMap;

use serde::Serialize;

use super::pool::LibraryIndex;
use super::rules::{Days, Fill, Slot, decade_of, effective_rating, rating_level};
use super::store::{self, ScheduleStoreError};
use crate::db::Db;
use crate::library::ContentKind;
use crate::lineup::store::{self as lineup_store, LineupStoreError, NewChannel};
use crate::lineup::{Channel, ChannelSettings, GuideNumber};

/// A proposed channel.
#[derive(Debug, Clone, Serialize)]
pub struct Proposal {
    /// Number it would get.
    pub number: GuideNumber,
    /// Name.
    pub name: String,
    /// Call sign.
    pub call_sign: String,
    /// Settings.
    pub settings: ChannelSettings,
    /// Grid.
    pub slots: Vec<Slot>,
    /// Why (what the library holds).
    pub reason: String,
}

const MIN_ITEMS: usize = 3;

fn call_sign(name: &str) -> String {
    let letters: String = name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_uppercase();
    format!("R{}", &letters[..letters.len().min(3)])
}

/// Propose channels for `lib` that do not duplicate `existing` ones (by name).
pub fn propose(lib: &LibraryIndex, existing: &[Channel]) -> Vec<Proposal> {
    let mut genres: BTreeMap<String, (String, usize, i64)> = BTreeMap::new();
    let mut decades: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    let (mut movies, mut kids) = (0usize, 0usize);
    for &i in &lib.programs {
        let it = lib.item(i);
        let d = lib.duration(i);
        for g in &it.genres {
            let e = genres.entry(g.to_lowercase()).or_insert_with(|| (g.clone(), 0, 0));
            e.1 += 1;
            e.2 += d;
        }
        if let Some(dec) = decade_of(it) {
            let e = decades.entry(dec).or_default();
            e.0 += 1;
            e.1 += d;
        }
        movies += usize::from(it.kind == ContentKind::Movie);
        kids += usize::from(effective_rating(it).and_then(rating_level).is_some_and(|l| l <= 2));
    }
    let mut next = existing.iter().map(|c| c.number.sort_key().0).max().map_or(2, |m| m + 1);
    let mut out: Vec<Proposal> = Vec::new();
    let mut push = |name: String, settings: ChannelSettings, slots: Vec<Slot>, reason: String| {
        if existing.iter().any(|c| c.name.eq_ignore_ascii_case(&name)) {
            return;
        }
        let number = next.to_string().parse().expect("digits are a guide number");
        next += 1;
        out.push(Proposal { number, call_sign: call_sign(&name), name, settings, slots, reason });
    };
    let mut by_size: Vec<_> = genres.into_values().filter(|g| g.1 >= MIN_ITEMS).collect();
    by_size.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    for (genre, n, ms) in by_size.into_iter().take(5) {
        let settings = ChannelSettings {
            default_fill: Some(genre.clone()),
            group: Some(genre.clone()),
            ..ChannelSettings::default()
        };
        push(
            format!("{genre} Channel"),
            settings,
            primetime(lib, &genre),
            format!("{n} programs, {} h of {genre}", ms / 3_600_000),
        );
    }
    let mut decs: Vec<_> = decades.into_iter().filter(|d| d.1.0 >= MIN_ITEMS).collect();
    decs.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(&b.0)));
    for (dec, (n, ms)) in decs.into_iter().take(3) {
        let settings =
            ChannelSettings { default_fill: Some(dec.clone()), group: Some("Decades".into()), ..Default::default() };
        push(format!("{dec} TV"), settings, Vec::new(), format!("{n} programs, {} h from the {dec}", ms / 3_600_000));
    }
    if movies >= MIN_ITEMS {
        let settings = ChannelSettings {
            default_fill: Some("movies".into()),
            group: Some("Movies".into()),
            break_style: crate::lineup::BreakStyle::Uk,
            ..Default::default()
        };
        push("Movie Channel".into(), settings, Vec::new(), format!("{movies} movies"));
    }
    if kids >= MIN_ITEMS {
        let settings = ChannelSettings {
            rating_limit: Some("TV-G".parse().expect("a known rating")),
            demographic: Some("kids".into()),
            group: Some("Kids".into()),
            ..Default::default()
        };
        push("Kids Channel".into(), settings, Vec::new(), format!("{kids} programs rated TV-G / G or lower"));
    }
    out
}

/// Prime time (19:00 on) for the biggest series of a genre: 30 or 60 min slots, daily.
fn primetime(lib: &LibraryIndex, genre: &str) -> Vec<Slot> {
    let mut series: Vec<(&String, usize, i64)> = lib
        .series
        .values()
        .filter_map(|eps| {
            let first = lib.item(*eps.first()?);
            first.genres.iter().any(|g| g.eq_ignore_ascii_case(genre)).then(|| {
                let avg = eps.iter().map(|&i| lib.duration(i)).sum::<i64>() / eps.len() as i64;
                (first.series.as_ref().expect("indexed by series"), eps.len(), avg)
            })
        })
        .filter(|s| s.1 >= MIN_ITEMS)
        .collect();
    series.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut start = 19 * 60;
    let mut slots = Vec::new();
    for (name, _, avg) in series.into_iter().take(4) {
        let length = if avg <= 28 * 60_000 { 30 } else { 60 };
        if start + length > 23 * 60 {
            break;
        }
        slots.push(Slot {
            id: 0,
            days: Days::ALL,
            start_minute: start,
            length_min: length,
            fill: Fill::Series(name.clone()),
        });
        start += length;
    }
    slots
}

/// Errors applying proposals.
#[derive(Debug, thiserror::Error)]
pub enum AutoError {
    /// Writing channels failed.
    #[error(transparent)]
    Lineup(#[from] LineupStoreError),
    /// Writing grids failed.
    #[error(transparent)]
    Store(#[from] ScheduleStoreError),
}

/// Create the proposed channels and their grids, in one transaction.
pub fn apply(db: &Db, proposals: &[Proposal], now_ms: i64) -> Result<Vec<Channel>, AutoError> {
    db.call_blocking(|conn| {
        let tx = conn.transaction().map_err(ScheduleStoreError::from)?;
        let mut out = Vec::new();
        for p in proposals {
            let ch = lineup_store::insert(
                &tx,
                &NewChannel {
                    number: p.number.clone(),
                    name: p.name.clone(),
                    call_sign: p.call_sign.clone(),
                    logo: None,
                    settings: p.settings.clone(),
                },
                now_ms,
            )?;
            store::replace_slots(&tx, ch.id, &p.slots, now_ms)?;
            out.push(ch);
        }
        tx.commit().map_err(ScheduleStoreError::from)?;
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_follow_the_library() {
        let lib = LibraryIndex::new(crate::schedule::tests::library());
        let p = propose(&lib, &[]);
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Comedy Channel", "Drama Channel", "1980s TV", "Movie Channel"], "{p:#?}");
        assert_eq!(p[0].number.as_str(), "2");
        let comedy: Vec<String> = p[0].slots.iter().map(|s| s.to_string()).collect();
        assert_eq!(comedy, ["daily 19:00 (30 min, series \"Cheers\")", "daily 19:30 (30 min, series \"Taxi\")"]);
        super::super::rules::validate_grid(&p[0].slots).unwrap();
        let again = propose(&lib, &[crate::schedule::tests::channel(crate::lineup::BreakStyle::Us)]);
        assert_eq!(again[0].number.as_str(), "6");
        assert!(propose(&LibraryIndex::new(Vec::new()), &[]).is_empty());
    }
}
