//! Rotations of interstitials (commercials, promos, bumpers, station IDs, filler clips).
//!
//! A pool of spots plays in a seeded shuffle, cycle after cycle ([`Shuffle`]), through a
//! cursor kept with the series progress, so the same seed gives the same breaks and an
//! extension continues where the last build stopped. A pick takes the first spot at or after
//! the cursor that passes the rules ([`Rules`]: fits the time left, daypart, season, not aired
//! inside the repeat window, not the company or category of the commercial before it, the
//! bumper's series) and moves the cursor past it.
//!
//! The scan covers the rest of the current cycle and the whole next one, so it sees every
//! spot of the pool: a pick fails only when no spot is valid, whatever the pool's size.
//! Spots passed over stay behind the cursor for the cycle, so scanning costs about one step
//! per spot per cycle (amortised O(1) per pick); a failing pick costs one pass over the pool,
//! with each spot's facts precomputed ([`Spot`]: duration on the frame grid, daypart bits,
//! interned company, category and series) so a check is a few integer comparisons.
//!
//! Preferences (the program's decade for commercials, promos for series the channel airs
//! later, a series' own bumpers) are rotations of their own over the matching spots, each
//! with its own cursor, tried before the pool's main rotation.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use super::filler::Frames;
use super::order::Shuffle;
use super::pool::LibraryIndex;
use super::rules::{daypart_mask, season_allows};

/// Interned lower-cased names (companies, categories, series): equal names, equal ids.
/// Id 0 stands for "none" and matches nothing.
#[derive(Debug, Default, Clone)]
pub struct Names(HashMap<String, u32>);

impl Names {
    /// The id of `name`, interning it.
    pub fn intern(&mut self, name: Option<&str>) -> u32 {
        let Some(name) = name else { return 0 };
        let next = self.0.len() as u32 + 1;
        *self.0.entry(name.to_lowercase()).or_insert(next)
    }

    /// The id of `name` if it is known, else an id no spot has.
    pub fn get(&self, name: Option<&str>) -> u32 {
        name.map_or(0, |n| self.0.get(&n.to_lowercase()).copied().unwrap_or(u32::MAX))
    }
}

/// A spot's facts, precomputed so the rules are integer comparisons.
#[derive(Debug, Clone, Copy)]
struct Spot {
    /// Library index.
    idx: usize,
    /// Duration on the channel's frame grid.
    ms: i64,
    /// Daypart bits it may air in.
    dayparts: u8,
    /// Whether it names seasons (checked against the date, rarely).
    seasonal: bool,
    company: u32,
    category: u32,
    series: u32,
}

/// What a pick must respect at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// The instant, ms.
    pub at: i64,
    /// The longest spot that fits, ms.
    pub max_ms: i64,
    /// The bit of the daypart `at` falls in.
    pub daypart: u8,
    /// The local date of `at`.
    pub date: NaiveDate,
    /// Spots aired within this many ms before `at` are out (0: no repeat rule).
    pub window_ms: i64,
    /// The spot before: (library index, company, category); its company and category may not
    /// follow it.
    pub after: Option<(usize, u32, u32)>,
    /// For bumpers: only spots of no series or of this one.
    pub series: Option<u32>,
}

/// Some of a pool's spots in a seeded shuffle, with the key of their cursor.
#[derive(Debug)]
struct Rotation {
    key: String,
    members: Vec<u32>,
    shuffle: Shuffle,
    /// The shortest member, ms (a quick "nothing fits").
    min_ms: i64,
    /// The union of the members' dayparts (a quick "nothing may air now").
    dayparts: u8,
}

impl Rotation {
    fn new(seed: u64, shuffle_key: &str, key: String, members: Vec<u32>, spots: &[Spot]) -> Self {
        let min_ms = members.iter().map(|&m| spots[m as usize].ms).min().unwrap_or(i64::MAX);
        let dayparts = members.iter().fold(0, |d, &m| d | spots[m as usize].dayparts);
        Self { key, shuffle: Shuffle::new(seed, shuffle_key, members.len()), members, min_ms, dayparts }
    }

    /// The first member at or after cursor `k` that passes `ok`, and how many steps on it is.
    /// Scans the rest of this cycle and all of the next, so every member is seen.
    fn scan(&mut self, k: u64, mut ok: impl FnMut(usize) -> bool) -> Option<(usize, u64)> {
        let n = self.members.len() as u64;
        if n == 0 {
            return None;
        }
        let steps = if k.is_multiple_of(n) { n } else { 2 * n - k % n };
        (0..steps).find_map(|j| {
            let m = self.members[self.shuffle.pick(k + j)?] as usize;
            ok(m).then_some((m, j))
        })
    }
}

/// One pool of spots (commercials, promos, ...) for one channel.
#[derive(Debug)]
pub struct SpotPool {
    seed: u64,
    shuffle_key: String,
    key: &'static str,
    spots: Vec<Spot>,
    /// When each spot last aired (`i64::MIN`: not in this build's memory).
    last_aired: Vec<i64>,
    main: Rotation,
    groups: HashMap<String, Rotation>,
}

impl SpotPool {
    /// A pool of `items` (library indices, ascending) whose rotations shuffle with `seed` and
    /// `shuffle_key` and keep their cursors under `key`; `group` names the preference group
    /// of a spot, if any (each group becomes a rotation of its own).
    pub fn new(
        lib: &LibraryIndex,
        items: &[usize],
        frames: Frames,
        (seed, shuffle_key, key): (u64, String, &'static str),
        group: impl Fn(usize) -> Option<String>,
    ) -> Self {
        let spots: Vec<Spot> = items
            .iter()
            .map(|&idx| {
                let it = lib.item(idx);
                let [company, category, series] = lib.interned[idx];
                Spot {
                    idx,
                    ms: frames.floor_ms(lib.duration(idx)),
                    dayparts: daypart_mask(&it.meta.daypart),
                    seasonal: !it.meta.season.is_empty(),
                    company,
                    category,
                    series,
                }
            })
            .collect();
        let main = Rotation::new(seed, &shuffle_key, key.to_owned(), (0..spots.len() as u32).collect(), &spots);
        let mut pool = Self {
            seed,
            shuffle_key,
            key,
            last_aired: vec![i64::MIN; spots.len()],
            spots,
            main,
            groups: HashMap::new(),
        };
        let mut members: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (m, s) in pool.spots.iter().enumerate() {
            if let Some(g) = group(s.idx) {
                members.entry(g).or_default().push(m as u32);
            }
        }
        for (g, m) in members {
            pool.add_group(&g, m);
        }
        pool
    }

    fn add_group(&mut self, group: &str, members: Vec<u32>) {
        let rotation = Rotation::new(
            self.seed,
            &format!("{}@{group}", self.shuffle_key),
            format!("{}@{group}", self.key),
            members,
            &self.spots,
        );
        self.groups.insert(group.to_owned(), rotation);
    }

    /// Make the spots (library indices) for which `keep` holds a preference group of its own.
    pub fn set_group(&mut self, group: &str, keep: impl Fn(usize) -> bool) {
        let members: Vec<u32> = (0..self.spots.len() as u32).filter(|&m| keep(self.spots[m as usize].idx)).collect();
        if members.is_empty() {
            self.groups.remove(group);
        } else {
            self.add_group(group, members);
        }
    }

    /// Whether the pool has no spots.
    pub fn is_empty(&self) -> bool {
        self.spots.is_empty()
    }

    /// The library indices of the pool.
    pub fn items(&self) -> impl Iterator<Item = usize> + '_ {
        self.spots.iter().map(|s| s.idx)
    }

    /// The shortest spot, ms (`i64::MAX` for an empty pool).
    pub fn min_ms(&self) -> i64 {
        self.main.min_ms
    }

    /// Record that the spot (library index) aired at `at_ms` (the repeat window counts from
    /// the latest airing).
    pub fn aired(&mut self, idx: usize, at_ms: i64) {
        if let Ok(m) = self.spots.binary_search_by_key(&idx, |s| s.idx) {
            self.last_aired[m] = self.last_aired[m].max(at_ms);
        }
    }

    /// The next valid spot (library index): from the `group` rotation if it has one, else
    /// from the main rotation; the rotation's cursor in `cursors` moves past it.
    pub fn pick(
        &mut self,
        lib: &LibraryIndex,
        cursors: &mut BTreeMap<String, u64>,
        group: Option<&str>,
        r: &Rules,
    ) -> Option<usize> {
        let Self { spots, last_aired, main, groups, .. } = self;
        let ok = |m: usize| {
            let s = &spots[m];
            s.ms <= r.max_ms
                && s.dayparts & r.daypart != 0
                && (r.window_ms == 0 || last_aired[m] == i64::MIN || r.at - last_aired[m] >= r.window_ms)
                && r.after.is_none_or(|(idx, company, category)| {
                    s.idx != idx && (company == 0 || s.company != company) && (category == 0 || s.category != category)
                })
                && r.series.is_none_or(|want| s.series == 0 || s.series == want)
                && (!s.seasonal || season_allows(&lib.item(s.idx).meta.season, r.date))
        };
        let preferred = group.and_then(|g| groups.get_mut(g));
        for rotation in preferred.into_iter().chain(std::iter::once(main)) {
            if rotation.min_ms > r.max_ms || rotation.dayparts & r.daypart == 0 {
                continue;
            }
            let k = cursors.get(&rotation.key).copied().unwrap_or(0);
            if let Some((m, j)) = rotation.scan(k, &ok) {
                cursors.insert(rotation.key.clone(), k + j + 1);
                return Some(spots[m].idx);
            }
        }
        None
    }
}
