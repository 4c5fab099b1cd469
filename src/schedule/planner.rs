//! The coarse planner: one channel's weekly grid, unrolled in the configured time zone over
//! `[from, to)`, becomes contiguous programs (each laid out to the break level by
//! [`BreakFiller`]). Pure: everything it needs is in a [`PlanRequest`], so the same request
//! always gives the same plan.
//!
//! Rules: slot instances come from local dates (DST-correct: an instance starting in a
//! skipped hour starts when the clock resumes, an ambiguous one at its first occurrence);
//! time no slot covers uses the channel's default fill and never overruns into the next slot;
//! a program longer than its slot takes the next whole half hours and pushes later slots
//! back; time nothing can fill becomes a "Station Break" of interstitials or slate. The
//! result never has a hole.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use chrono::{Datelike, Duration, LocalResult, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

use super::card::CardTemplate;
use super::filler::{BreakFiller, name_next_programs};
use super::order::{Shuffle, sequential};
use super::pool::LibraryIndex;
use super::rules::{Fill, Slot, daypart_allows, effective_rating, rating_allows, season_allows};
use super::{Airing, ProgramInfo, ProgramKind};
use crate::clock::from_ms;
use crate::library::{ContentKind, MediaId, MediaItem};
use crate::lineup::{Channel, ChannelKind, RatingLimit};

const HALF_HOUR_MS: i64 = 1_800_000;
const SCAN_LIMIT: u64 = 2048;

/// Everything needed to plan one channel.
pub struct PlanRequest<'a> {
    /// The channel.
    pub channel: &'a Channel,
    /// Its grid (validated).
    pub slots: &'a [Slot],
    /// The library.
    pub lib: &'a LibraryIndex,
    /// Time zone of the grid.
    pub tz: Tz,
    /// Shuffle seed.
    pub seed: u64,
    /// No repeat of a commercial within this many ms.
    pub repeat_window_ms: i64,
    /// First instant to plan (the end of what stays published).
    pub from_ms: i64,
    /// Plan until at least this instant.
    pub to_ms: i64,
    /// Progress cursors as they stand at `from_ms`.
    pub progress: BTreeMap<String, u64>,
    /// Spots that aired in the repeat window before `from_ms`: (item, start ms), oldest first.
    pub history: Vec<(MediaId, i64)>,
}

/// One planned program with its airings.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedProgram {
    /// Start, ms.
    pub start_ms: i64,
    /// End, ms.
    pub end_ms: i64,
    /// The item, if any.
    pub media_id: Option<MediaId>,
    /// Guide facts (with the rewind cursors).
    pub info: ProgramInfo,
    /// The fine log, contiguous from `start_ms` to `end_ms`.
    pub airings: Vec<Airing>,
}

/// A channel's plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelPlan {
    /// Contiguous programs from `from_ms`.
    pub programs: Vec<PlannedProgram>,
    /// Progress cursors after the last program.
    pub progress: BTreeMap<String, u64>,
    /// What the user should know (rules matching nothing ...).
    pub warnings: Vec<String>,
}

/// The UTC instant of a local time: an ambiguous time (clocks going back) is its first
/// occurrence, a skipped time (clocks going forward) moves to when the clock resumes.
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> i64 {
    let mut t = local;
    for _ in 0..8 {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => return x.timestamp_millis(),
            LocalResult::Ambiguous(a, _) => return a.timestamp_millis(),
            LocalResult::None => t += Duration::minutes(30),
        }
    }
    tz.from_utc_datetime(&local).timestamp_millis()
}

/// The first local half-hour boundary at or after `ms`.
pub fn next_boundary(tz: Tz, ms: i64) -> i64 {
    let offset = i64::from(tz.offset_from_utc_datetime(&from_ms(ms).naive_utc()).fix().local_minus_utc()) * 1000;
    let r = (ms + offset).rem_euclid(HALF_HOUR_MS);
    if r == 0 { ms } else { ms + HALF_HOUR_MS - r }
}

/// The local half-hour boundary at or before `ms`.
pub fn prev_boundary(tz: Tz, ms: i64) -> i64 {
    let offset = i64::from(tz.offset_from_utc_datetime(&from_ms(ms).naive_utc()).fix().local_minus_utc()) * 1000;
    ms - (ms + offset).rem_euclid(HALF_HOUR_MS)
}

/// Slot instances overlapping `[from, to)`: (start ms, end ms, slot index), by start.
pub fn instances(slots: &[Slot], tz: Tz, from_ms: i64, to_ms: i64) -> Vec<(i64, i64, usize)> {
    let day0 = from_ms_local_date(tz, from_ms) - Duration::days(2);
    let day1 = from_ms_local_date(tz, to_ms) + Duration::days(1);
    let mut out = Vec::new();
    let mut d = day0;
    while d <= day1 {
        let wd = d.weekday().num_days_from_monday();
        for (i, s) in slots.iter().enumerate() {
            if s.days.contains(wd) {
                let start = local_to_utc(tz, d.and_time(s.start_time()));
                let end = start + i64::from(s.length_min) * 60_000;
                if end > from_ms && start < to_ms {
                    out.push((start, end, i));
                }
            }
        }
        d += Duration::days(1);
    }
    out.sort_unstable();
    out
}

fn from_ms_local_date(tz: Tz, ms: i64) -> chrono::NaiveDate {
    from_ms(ms).with_timezone(&tz).date_naive()
}

struct Planner<'a> {
    req: &'a PlanRequest<'a>,
    filler: BreakFiller<'a>,
    progress: BTreeMap<String, u64>,
    pools: HashMap<Fill, Rc<[usize]>>,
    shuffles: HashMap<String, Shuffle>,
    programs: Vec<PlannedProgram>,
    warnings: Vec<String>,
    warned: HashSet<String>,
}

/// A stretch of the channel's time: a grid slot's instance or an off-air window.
#[derive(Debug, Clone, Copy)]
enum Block {
    Slot(i64, i64, usize),
    OffAir(i64, i64, CardTemplate),
}

impl Block {
    fn start(&self) -> i64 {
        match *self {
            Self::Slot(s, ..) | Self::OffAir(s, ..) => s,
        }
    }
}

/// The parts of `[start, end)` outside every window of `cut` (sorted, disjoint).
fn outside(start: i64, end: i64, cut: &[(i64, i64, CardTemplate)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut cur = start;
    for &(a, b, _) in cut.iter().filter(|w| w.1 > start && w.0 < end) {
        if a > cur {
            out.push((cur, a.min(end)));
        }
        cur = cur.max(b);
    }
    if cur < end {
        out.push((cur, end));
    }
    out
}

/// Plan one channel.
pub fn plan_channel(req: &PlanRequest<'_>) -> ChannelPlan {
    if req.channel.settings.kind == ChannelKind::Guide {
        let mut progress = req.progress.clone();
        let programs =
            super::station::plan_guide(req.channel, req.lib, req.tz, req.seed, req.from_ms, req.to_ms, &mut progress);
        let mut warnings = Vec::new();
        if programs.iter().flat_map(|p| &p.airings).all(|a| a.kind == super::AiringKind::Slate) {
            warnings.push(format!(
                "guide channel {} ({}): the library has no {} items for its preview window; it shows the grid alone",
                req.channel.number, req.channel.name, req.channel.settings.guide.preview
            ));
        }
        return ChannelPlan { programs, progress, warnings };
    }
    let mut filler = BreakFiller::new(req.lib, req.channel, req.tz, req.seed, req.repeat_window_ms);
    filler.set_cursors(req.progress.clone());
    for &(media, at) in &req.history {
        filler.remember(media, at);
    }
    let upcoming = req
        .slots
        .iter()
        .filter_map(|s| match &s.fill {
            Fill::Series(name) => Some(name.to_lowercase()),
            _ => None,
        })
        .collect();
    filler.set_upcoming(upcoming);
    let mut p = Planner {
        req,
        filler,
        progress: req.progress.clone(),
        pools: HashMap::new(),
        shuffles: HashMap::new(),
        programs: Vec::new(),
        warnings: Vec::new(),
        warned: HashSet::new(),
    };
    let default_fill = Fill::from_default(req.channel.settings.default_fill.as_deref(), &req.lib.items);
    // Instances a little past `to` so a gap before the next slot is planned as a gap.
    let until = req.to_ms + 2 * 86_400_000;
    let rules = super::station::off_air_rules(req.channel).unwrap_or_else(|e| {
        p.warnings.push(format!("channel {}: {e}; it stays on the air", req.channel.number));
        Vec::new()
    });
    let off_air = super::station::windows(&rules, req.tz, req.from_ms, until);
    let mut blocks: Vec<Block> = instances(req.slots, req.tz, req.from_ms, until)
        .into_iter()
        .flat_map(|(start, end, i)| outside(start, end, &off_air).into_iter().map(move |(a, b)| Block::Slot(a, b, i)))
        .chain(off_air.iter().map(|&(a, b, card)| Block::OffAir(a, b, card)))
        .collect();
    blocks.sort_by_key(Block::start);
    let mut cur = req.from_ms;
    for block in blocks {
        if cur >= req.to_ms {
            break;
        }
        let start = block.start();
        if start > cur {
            // A gap reaching past the horizon is planned up to it; an extension continues it.
            let stop = start.min(next_boundary(req.tz, req.to_ms).max(cur + 1));
            cur = p.fill_block(cur, stop, &default_fill, None);
            if cur < start {
                continue;
            }
        }
        match block {
            Block::Slot(_, end, i) if end > cur => {
                cur = p.fill_block(cur, end, &req.slots[i].fill, Some(&req.slots[i]));
            }
            Block::OffAir(_, end, card) if end > cur => {
                let programs = super::station::plan_off_air(&mut p.filler, req.channel, cur, end, card);
                p.programs.extend(programs);
                cur = end;
            }
            _ => {}
        }
    }
    while cur < req.to_ms {
        let until = (cur + 86_400_000).min(req.to_ms.max(cur + HALF_HOUR_MS));
        cur = p.fill_block(cur, next_boundary(req.tz, until), &default_fill, None);
    }
    for (k, v) in p.filler.cursors() {
        p.progress.insert(k.clone(), *v);
    }
    name_next_programs(&mut p.programs, req.tz);
    ChannelPlan { programs: p.programs, progress: p.progress, warnings: p.warnings }
}

impl Planner<'_> {
    /// Fill `[start, end)`; returns where the last program ended (past `end` when a slot's
    /// program overran).
    fn fill_block(&mut self, start: i64, end: i64, fill: &Fill, slot: Option<&Slot>) -> i64 {
        let tz = self.req.tz;
        let mut cur = start;
        while cur < end {
            let remaining = end - cur;
            let before = self.snapshot(fill);
            match self.pick(fill, cur, remaining, slot.is_some()) {
                Some(idx) => {
                    let runtime = self.req.lib.duration(idx);
                    let mut stop = next_boundary(tz, cur + runtime);
                    if stop > end && cur + runtime <= end {
                        stop = end;
                    }
                    let item = self.req.lib.item(idx);
                    let mut airings = Vec::new();
                    self.filler.program(cur, stop, idx, &mut airings);
                    let mut info = info_of(item);
                    info.rewind = before;
                    self.programs.push(PlannedProgram {
                        start_ms: cur,
                        end_ms: stop,
                        media_id: Some(item.id),
                        info,
                        airings,
                    });
                    cur = stop;
                }
                None => {
                    let what = slot.map_or_else(|| format!("default fill ({fill})"), |s| format!("slot {s}"));
                    if self.warned.insert(what.clone()) {
                        self.warnings.push(format!(
                            "channel {} ({}): {what} matched no playable item that fits the rating limit, daypart \
                             and season rules; that time is filled with station breaks",
                            self.req.channel.number, self.req.channel.name
                        ));
                    }
                    let stop = next_boundary(tz, cur + 1).min(end);
                    let mut airings = Vec::new();
                    self.filler.filler_program(cur, stop, &mut airings);
                    let mut info = filler_info(self.req.channel);
                    info.rewind = before;
                    self.programs.push(PlannedProgram { start_ms: cur, end_ms: stop, media_id: None, info, airings });
                    cur = stop;
                }
            }
        }
        cur
    }

    fn snapshot(&self, fill: &Fill) -> BTreeMap<String, u64> {
        let mut m = self.filler.cursors().clone();
        let key = fill.progress_key();
        m.insert(key.clone(), self.progress.get(&key).copied().unwrap_or(0));
        m
    }

    fn pool(&mut self, fill: &Fill) -> Rc<[usize]> {
        let lib = self.req.lib;
        let limit = self.req.channel.settings.rating_limit.clone();
        let pool = self.pools.entry(fill.clone()).or_insert_with(|| {
            let rated =
                |i: &usize| rating_allows(limit.as_ref().map(RatingLimit::as_str), effective_rating(lib.item(*i)));
            let candidates = lib.candidates(fill).iter().copied();
            match fill {
                // Series lists hold only that series' episodes, in episode order.
                Fill::Series(_) => candidates.filter(rated).collect(),
                _ => candidates.filter(|i| fill.matches(lib.item(*i)) && rated(i)).collect(),
            }
        });
        Rc::clone(pool)
    }

    /// The next program of `fill` for `[at, at + remaining)`.
    fn pick(&mut self, fill: &Fill, at: i64, remaining: i64, may_overrun: bool) -> Option<usize> {
        let lib = self.req.lib;
        let local = from_ms(at).with_timezone(&self.req.tz).naive_local();
        let allowed = |it: &MediaItem| {
            daypart_allows(&it.meta.daypart, local.time()) && season_allows(&it.meta.season, local.date())
        };
        let key = fill.progress_key();
        let k = self.progress.get(&key).copied().unwrap_or(0);
        let seed = self.req.seed;
        let channel = self.req.channel.id;
        let pool = self.pool(fill);
        let n = pool.len();
        if n == 0 {
            return None;
        }
        let fits = |i: usize| lib.duration(i) <= remaining;
        let overrun_ok = may_overrun && remaining >= HALF_HOUR_MS;
        let found = if matches!(fill, Fill::Series(_)) {
            (0..n as u64).find_map(|j| {
                let i = pool[sequential(k + j, n)?];
                (allowed(lib.item(i)) && (fits(i) || overrun_ok)).then_some((i, j))
            })
        } else {
            let shuffle =
                self.shuffles.entry(key.clone()).or_insert_with(|| Shuffle::new(seed, &format!("{channel}:{key}"), n));
            let scan = (n as u64).min(SCAN_LIMIT);
            let mut found = None;
            for pass in 0..2 {
                if pass == 1 && !overrun_ok {
                    break;
                }
                found = (0..scan).find_map(|j| {
                    let i = pool[shuffle.pick(k + j)?];
                    (allowed(lib.item(i)) && (pass == 1 || fits(i))).then_some((i, j))
                });
                if found.is_some() {
                    break;
                }
            }
            found
        };
        let (i, j) = found?;
        self.progress.insert(key, k + j + 1);
        Some(i)
    }
}

/// Guide facts of an item.
pub fn info_of(item: &MediaItem) -> ProgramInfo {
    let episode = item.kind == ContentKind::Episode && item.series.is_some();
    let mut categories = item.genres.clone();
    if item.kind == ContentKind::Movie && !categories.iter().any(|c| c.eq_ignore_ascii_case("movie")) {
        categories.push("Movie".into());
    }
    ProgramInfo {
        kind: if item.kind == ContentKind::Movie { ProgramKind::Movie } else { ProgramKind::Episode },
        title: if episode { item.series.clone().unwrap_or_default() } else { item.title.clone() },
        sub_title: episode.then(|| item.title.clone()),
        description: item.plot.clone(),
        series: item.series.clone(),
        season: item.season,
        episode: item.episode,
        year: item.year,
        aired: item.aired,
        audience: item.meta.demographic.clone(),
        rating: effective_rating(item).map(str::to_owned),
        categories,
        rewind: BTreeMap::new(),
    }
}

/// Guide facts of a station break (no program fits).
pub fn filler_info(channel: &Channel) -> ProgramInfo {
    ProgramInfo::filler(
        "Station Break",
        Some(format!("{}: station break (promos, interstitials and filler).", channel.name)),
    )
}
