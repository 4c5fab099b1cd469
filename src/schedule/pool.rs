//! The library as the scheduler sees it: every playable item sorted into pools by kind, with
//! the items that can never be scheduled (no duration, longer than 24 h) set aside with a
//! reason. Built once per build from `library::store::list_items`, shared by every channel.

use std::collections::HashMap;

use super::rotation::Names;
use super::rules::Fill;
use crate::library::{ContentKind, MediaId, MediaItem};

/// The longest item the scheduler accepts.
pub const MAX_ITEM_MS: i64 = 24 * 3600 * 1000;
/// The shortest item the scheduler accepts.
pub const MIN_ITEM_MS: i64 = 1000;
/// The tag of a sign-off item (a `signoffs` folder tags its items so).
pub const SIGN_OFF_TAG: &str = "signoff";
/// The tag of a sign-on item (a `signons` folder tags its items so).
pub const SIGN_ON_TAG: &str = "signon";

/// Playable library items by kind, in the library's stable order.
#[derive(Debug, Default, Clone)]
pub struct LibraryIndex {
    /// Every usable item; pools hold indices into it.
    pub items: Vec<MediaItem>,
    /// Episodes and movies.
    pub programs: Vec<usize>,
    /// Commercials.
    pub commercials: Vec<usize>,
    /// Promos.
    pub promos: Vec<usize>,
    /// Bumpers.
    pub bumpers: Vec<usize>,
    /// Station IDs.
    pub station_ids: Vec<usize>,
    /// Intros by lower-cased series.
    pub intros: HashMap<String, Vec<usize>>,
    /// Outros by lower-cased series.
    pub outros: HashMap<String, Vec<usize>>,
    /// Filler clips (slate kind).
    pub fillers: Vec<usize>,
    /// Sign-off items (anthems, station closings): interstitials tagged [`SIGN_OFF_TAG`].
    pub signoffs: Vec<usize>,
    /// Sign-on items: interstitials tagged [`SIGN_ON_TAG`].
    pub signons: Vec<usize>,
    /// Episodes by lower-cased series, in episode order.
    pub series: HashMap<String, Vec<usize>>,
    /// Episodes and movies by ASCII-lower-cased genre.
    pub genres: HashMap<String, Vec<usize>>,
    /// Episodes and movies by ASCII-lower-cased tag.
    pub tags: HashMap<String, Vec<usize>>,
    /// Movies.
    pub movies: Vec<usize>,
    /// Every item's company, category and series as interned ids ([`Names`]), so break
    /// rules compare integers.
    pub interned: Vec<[u32; 3]>,
    /// The names behind [`LibraryIndex::interned`].
    pub names: Names,
    /// Position of an item by id.
    pub by_id: HashMap<MediaId, usize>,
    /// Items left out, with the reason (shown by `schedule build`).
    pub skipped: Vec<(MediaId, String, String)>,
}

impl LibraryIndex {
    /// Sort `items` (already playable-only, in the library's order) into pools.
    pub fn new(items: Vec<MediaItem>) -> Self {
        let mut ix = Self::default();
        for item in items {
            if !item.playable {
                continue;
            }
            match item.duration_ms {
                None => {
                    ix.skipped.push((item.id, item.title.clone(), "no known duration".into()));
                    continue;
                }
                Some(d) if d < MIN_ITEM_MS => {
                    ix.skipped.push((item.id, item.title.clone(), format!("too short ({d} ms)")));
                    continue;
                }
                Some(d) if d > MAX_ITEM_MS => {
                    ix.skipped.push((
                        item.id,
                        item.title.clone(),
                        format!("longer than 24 h ({} h), too long to schedule", d / 3_600_000),
                    ));
                    continue;
                }
                Some(_) => {}
            }
            let i = ix.items.len();
            let series_key = item.series.as_deref().map(str::to_lowercase);
            let tagged = |t: &str| item.tags.iter().any(|x| x.eq_ignore_ascii_case(t));
            let sign = if item.kind.is_program() {
                None
            } else if tagged(SIGN_OFF_TAG) {
                Some(&mut ix.signoffs)
            } else if tagged(SIGN_ON_TAG) {
                Some(&mut ix.signons)
            } else {
                None
            };
            if let Some(pool) = sign {
                // Only ever played at sign-off / sign-on.
                pool.push(i);
            } else {
                match item.kind {
                    ContentKind::Episode | ContentKind::Movie => {
                        ix.programs.push(i);
                        if item.kind == ContentKind::Movie {
                            ix.movies.push(i);
                        }
                        for (map, names) in [(&mut ix.genres, &item.genres), (&mut ix.tags, &item.tags)] {
                            for name in names {
                                let v = map.entry(name.to_ascii_lowercase()).or_default();
                                if v.last() != Some(&i) {
                                    v.push(i);
                                }
                            }
                        }
                        if let (ContentKind::Episode, Some(s)) = (item.kind, &series_key) {
                            ix.series.entry(s.clone()).or_default().push(i);
                        }
                    }
                    ContentKind::Commercial => ix.commercials.push(i),
                    ContentKind::Promo => ix.promos.push(i),
                    ContentKind::Bumper => ix.bumpers.push(i),
                    ContentKind::StationId => ix.station_ids.push(i),
                    ContentKind::Intro => ix.intros.entry(series_key.unwrap_or_default()).or_default().push(i),
                    ContentKind::Outro => ix.outros.entry(series_key.unwrap_or_default()).or_default().push(i),
                    ContentKind::Slate => ix.fillers.push(i),
                }
            }
            ix.by_id.insert(item.id, i);
            let meta = &item.meta;
            ix.interned.push([
                ix.names.intern(meta.commercial_company.as_deref()),
                ix.names.intern(meta.commercial_category.as_deref()),
                ix.names.intern(item.series.as_deref()),
            ]);
            ix.items.push(item);
        }
        ix
    }

    /// The item at a pool index.
    pub fn item(&self, i: usize) -> &MediaItem {
        &self.items[i]
    }

    /// The programs a fill can draw from: a superset of those [`Fill::matches`] accepts, in
    /// library order (the whole of `programs` when no narrower list applies).
    pub fn candidates(&self, fill: &Fill) -> &[usize] {
        fn get<'a>(map: &'a HashMap<String, Vec<usize>>, key: &str) -> &'a [usize] {
            map.get(key).map_or(&[], Vec::as_slice)
        }
        match fill {
            Fill::Series(s) => get(&self.series, &s.to_lowercase()),
            Fill::Genre(g) => get(&self.genres, &g.to_ascii_lowercase()),
            Fill::Tag(t) => get(&self.tags, &t.to_ascii_lowercase()),
            Fill::Movies(_) => &self.movies,
            Fill::Decade(_) | Fill::Anything => &self.programs,
        }
    }

    /// Every item of `kind` (sign-off and sign-on items left out), in library order.
    pub fn of_kind(&self, kind: ContentKind) -> Vec<usize> {
        let sign: std::collections::HashSet<usize> = self.signoffs.iter().chain(&self.signons).copied().collect();
        (0..self.items.len()).filter(|i| self.items[*i].kind == kind && !sign.contains(i)).collect()
    }

    /// The item's duration in ms (always known for indexed items).
    pub fn duration(&self, i: usize) -> i64 {
        self.items[i].duration_ms.unwrap_or(0)
    }
}
