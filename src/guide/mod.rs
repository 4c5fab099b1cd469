//! Guides: XMLTV rendered from the lineup and the published schedule (the same rows playout
//! reads, so the guide is what airs), the M3U playlist (rendered by [`crate::lineup::m3u`],
//! shared with the tuner's `/lineup.m3u`), the channel logos and the programmes' artwork.
//! A pure renderer ([`xmltv`]) over a [`Guide`] gathered here, plus the HTTP routes
//! ([`http`]). Where a channel has nothing published (never built, or the horizon ran out)
//! the guide shows "To Be Announced" so coverage never has a gap.

pub mod cache;
pub mod http;
pub mod xmltv;

use std::collections::{HashMap, HashSet};

use crate::clock::from_ms;
use crate::db::Db;
use crate::library::art::Art;
use crate::library::{MediaId, store as library_store};
use crate::lineup::Channel;
use crate::lineup::store::{LineupStoreError, lineup};
use crate::schedule::store::{FirstAiring, ScheduleStoreError, first_airings, programs_between};
use crate::schedule::{Program, ProgramInfo};

/// Errors gathering a guide.
#[derive(Debug, thiserror::Error)]
pub enum GuideError {
    /// Reading channels failed.
    #[error(transparent)]
    Lineup(#[from] LineupStoreError),
    /// Reading the schedule failed.
    #[error(transparent)]
    Schedule(#[from] ScheduleStoreError),
    /// Reading the library failed.
    #[error("library: {0}")]
    Library(#[from] library_store::StoreError),
}

/// Everything a guide shows, read in one go.
#[derive(Debug, Clone)]
pub struct Guide {
    /// Every enabled channel with its programs (contiguous, by start).
    pub channels: Vec<(Channel, Vec<Program>)>,
    /// When each listed item first aired (or is first published to air) on this box.
    pub first_airings: HashMap<MediaId, FirstAiring>,
    /// The pictures each listed item has.
    pub art: HashMap<MediaId, Art>,
    /// The box's time zone (an airing's date is its local date).
    pub tz: chrono_tz::Tz,
    /// The listed items that air with closed captions (a subtitle file beside them), on
    /// channels that carry captions.
    pub captioned: HashSet<MediaId>,
}

impl Guide {
    /// A guide of these channels and programs alone: no airing history, no pictures, UTC.
    pub fn of_programs(channels: Vec<(Channel, Vec<Program>)>) -> Self {
        Self {
            channels,
            first_airings: HashMap::new(),
            art: HashMap::new(),
            tz: chrono_tz::UTC,
            captioned: HashSet::new(),
        }
    }
}

/// Every enabled channel with its programs overlapping `[from, to)`, gaps filled, and what
/// the guide needs to know about their items. Blocking: run it on a blocking thread from
/// async code.
pub fn gather(db: &Db, from_ms: i64, to_ms: i64, tz: chrono_tz::Tz) -> Result<Guide, GuideError> {
    let (mut guide, uris) = db.call_blocking(|conn| -> Result<_, GuideError> {
        let mut channels = Vec::new();
        for c in lineup(conn)?.channels {
            let programs = programs_between(conn, c.id, from_ms, to_ms)?;
            channels.push((c.clone(), fill_gaps(&c, programs, from_ms, to_ms)));
        }
        let mut items: Vec<MediaId> =
            channels.iter().flat_map(|(_, ps)| ps.iter().filter_map(|p| p.media_id)).collect();
        items.sort_unstable();
        items.dedup();
        let first_airings = first_airings(conn, &items)?;
        let art = library_store::art_of(conn, &items)?;
        let mut on_captioned: Vec<MediaId> = channels
            .iter()
            .filter(|(c, _)| c.settings.captions)
            .flat_map(|(_, ps)| ps.iter().filter_map(|p| p.media_id))
            .collect();
        on_captioned.sort_unstable();
        on_captioned.dedup();
        let uris = library_store::uris_of(conn, &on_captioned)?;
        Ok((Guide { channels, first_airings, art, tz, captioned: HashSet::new() }, uris))
    })?;
    // Off the database's thread: the files beside the media, as playout reads them.
    guide.captioned = uris
        .into_iter()
        .filter(|(_, uri)| crate::library::subtitles::sidecar_cues(uri).is_some())
        .map(|(id, _)| id)
        .collect();
    Ok(guide)
}

fn tba(c: &Channel, start: i64, end: i64) -> Program {
    Program {
        id: 0,
        channel_id: c.id,
        start: from_ms(start),
        end: from_ms(end),
        media_id: None,
        info: ProgramInfo::filler(
            "To Be Announced",
            Some(format!("{}: the schedule for this time is not built yet.", c.name)),
        ),
    }
}

/// Cover `[from, to)` completely: programs as published, "To Be Announced" in any hole
/// (half-hour aligned in UTC so listings stay tidy).
pub fn fill_gaps(c: &Channel, programs: Vec<Program>, from_ms: i64, to_ms: i64) -> Vec<Program> {
    const HALF: i64 = 1_800_000;
    let mut out = Vec::with_capacity(programs.len() + 2);
    let mut at =
        programs.first().map_or(from_ms - from_ms.rem_euclid(HALF), |p| p.start.timestamp_millis().min(from_ms));
    let push_gap = |out: &mut Vec<Program>, mut a: i64, b: i64| {
        while a < b {
            let next = (a - a.rem_euclid(HALF) + HALF).min(b);
            out.push(tba(c, a, next));
            a = next;
        }
    };
    for p in programs {
        let s = p.start.timestamp_millis();
        if s > at {
            push_gap(&mut out, at, s);
        }
        at = at.max(p.end.timestamp_millis());
        out.push(p);
    }
    if at < to_ms {
        push_gap(&mut out, at, to_ms);
    }
    out
}
