//! The break-level layout of one program: act breaks at the item's breakpoints (or evenly
//! spread), each break built from a template (out-bumper, commercials, a promo, a station ID
//! near the top of the hour, in-bumper), series intro/outro, and a pad (filler clip or slate)
//! so the next program starts exactly on its boundary. Where the library has no bumper that
//! fits, the bumper is a generated card ([`super::card`]): "We'll be right back", "Now back
//! to ...", and "Coming up next" after each program (the planner names the next program in
//! it once that is planned, [`name_next_programs`]).
//!
//! Timing: every media item plays a whole number of frames of the channel's rate, measured
//! from its own start, in integer ms (`Frames::floor_ms`), so `offset_out` never passes the
//! end of the media. Only the pad absorbs the sub-frame remainder, which lands the next
//! program start exactly on its slot boundary.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{NaiveDateTime, Timelike};
use chrono_tz::Tz;

use super::card::{CardSpec, CardTemplate};
use super::pool::LibraryIndex;
use super::rotation::{Rules, SpotPool};
use super::rules::{Daypart, decade_of, effective_rating, rating_allows};
use super::{Airing, AiringKind, parts};
use crate::clock::from_ms;
use crate::library::MediaItem;
use crate::lineup::{BreakStyle, Channel, ChannelId, FrameRate, OutputProfile, RatingLimit};

/// Whole frames of a channel's rate, expressed in integer ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frames {
    num: i64,
    den: i64,
}

impl Frames {
    /// Frames of this rate.
    pub fn of(rate: FrameRate) -> Self {
        let (num, den) = rate.fraction();
        Self { num: num.into(), den: den.into() }
    }

    /// Whole frames that fit in `ms`.
    pub fn floor_frames(self, ms: i64) -> i64 {
        ms * self.num / (self.den * 1000)
    }

    /// The ms position of frame `frames` (rounded down).
    pub fn ms(self, frames: i64) -> i64 {
        frames * self.den * 1000 / self.num
    }

    /// `ms` rounded down to a whole frame (never longer than `ms`).
    pub fn floor_ms(self, ms: i64) -> i64 {
        self.ms(self.floor_frames(ms))
    }
}

/// The preference group of promos for series the channel airs later.
const UPCOMING: &str = "upcoming";
const MIN_BREAK_MS: i64 = 120_000;
const MIN_ACT_MS: i64 = 180_000;
const BREAKPOINT_MARGIN_MS: i64 = 120_000;
/// How long a generated bumper card stays up.
pub const CARD_MS: i64 = 5_000;
/// How much longer a break's generated card may stay up to take on the time its spots leave
/// (a card of up to twice its length still reads as meant), rather than leave it black.
const CARD_STRETCH_MS: i64 = CARD_MS;
/// The shortest card that fills a break's leftover time on its own; shorter leftovers with no
/// card to take them on stay slate (black).
const MIN_CARD_MS: i64 = 2_000;
/// The longest leftover a card of its own fills: more than any spot is long, so only a break
/// whose library has no spots at all (a warning of the planner's) stays slate for longer.
const MAX_CARD_FILL_MS: i64 = 60_000;
/// The tag of a library bumper that announces the next program ("coming up next").
pub const NEXT_TAG: &str = "next";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Pool {
    Commercial,
    Promo,
    BumperOut,
    BumperIn,
    BumperNext,
    StationId,
    Filler,
    SignOff,
    SignOn,
}

impl Pool {
    fn key(self) -> &'static str {
        match self {
            Self::Commercial => "#spots:commercial",
            Self::Promo => "#spots:promo",
            Self::BumperOut => "#spots:bumper_out",
            Self::BumperIn => "#spots:bumper_in",
            Self::BumperNext => "#spots:bumper_next",
            Self::StationId => "#spots:station_id",
            Self::Filler => "#spots:filler",
            Self::SignOff => "#spots:signoff",
            Self::SignOn => "#spots:signon",
        }
    }
}

/// What a break knows about its program.
#[derive(Debug, Clone, Default)]
struct BreakCtx {
    decade: Option<String>,
    series: Option<String>,
    /// The program's guide title (generated bumpers name it).
    title: Option<String>,
    mid: bool,
    /// The break after a program (not a station break): "coming up next" goes there.
    after_program: bool,
    top_of_hour: bool,
}

/// Builds breaks for one channel, remembering which spots aired when (repeat window,
/// separation) and where each rotation stands (persisted as progress cursors).
pub struct BreakFiller<'a> {
    lib: &'a LibraryIndex,
    tz: Tz,
    frames: Frames,
    /// The channel's output: which version of a multi-version item fits it.
    profile: OutputProfile,
    style: BreakStyle,
    /// Generate bumper cards where the library has none ([`ChannelSettings::generated_bumpers`]).
    ///
    /// [`ChannelSettings::generated_bumpers`]: crate::lineup::ChannelSettings::generated_bumpers
    cards: bool,
    seed: u64,
    channel: ChannelId,
    window_ms: i64,
    pools: HashMap<Pool, SpotPool>,
    cursors: BTreeMap<String, u64>,
    /// The last commercial: (library index, company id, category id).
    last_spot: Option<(usize, u32, u32)>,
}

impl<'a> BreakFiller<'a> {
    /// A filler for `channel`: pools filtered by its rating limit and demographic.
    pub fn new(lib: &'a LibraryIndex, channel: &Channel, tz: Tz, seed: u64, window_ms: i64) -> Self {
        let limit = channel.settings.rating_limit.as_ref().map(RatingLimit::as_str);
        let demo = channel.settings.demographic.as_deref();
        let fits = |i: &usize| {
            let it = lib.item(*i);
            rating_allows(limit, effective_rating(it))
                && match (demo, it.meta.demographic.as_deref()) {
                    (Some(d), Some(x)) => d.eq_ignore_ascii_case(x) || x.eq_ignore_ascii_case("all"),
                    _ => true,
                }
        };
        let filter = |v: &[usize]| -> Vec<usize> { v.iter().copied().filter(fits).collect() };
        let has_tag = |i: &usize, t: &str| lib.item(*i).tags.iter().any(|x| x.eq_ignore_ascii_case(t));
        let bumpers = filter(&lib.bumpers);
        let frames = Frames::of(channel.settings.profile.frame_rate);
        let mut pools = HashMap::new();
        for (pool, items) in [
            (Pool::Commercial, filter(&lib.commercials)),
            (Pool::Promo, filter(&lib.promos)),
            (Pool::BumperOut, bumpers.iter().copied().filter(|i| !has_tag(i, "in") && !has_tag(i, NEXT_TAG)).collect()),
            (Pool::BumperIn, bumpers.iter().copied().filter(|i| !has_tag(i, "out") && !has_tag(i, NEXT_TAG)).collect()),
            (Pool::BumperNext, bumpers.iter().copied().filter(|i| has_tag(i, NEXT_TAG)).collect()),
            (Pool::StationId, filter(&lib.station_ids)),
            (Pool::Filler, filter(&lib.fillers)),
            (Pool::SignOff, filter(&lib.signoffs)),
            (Pool::SignOn, filter(&lib.signons)),
        ] {
            // Preference groups: the decade of a commercial, the series of a bumper.
            let group = |i: usize| match pool {
                Pool::Commercial => decade_of(lib.item(i)),
                Pool::BumperIn | Pool::BumperOut | Pool::BumperNext => {
                    lib.item(i).series.as_deref().map(str::to_lowercase)
                }
                _ => None,
            };
            let keys = (seed, format!("{}:{}", channel.id, pool.key()), pool.key());
            pools.insert(pool, SpotPool::new(lib, &items, frames, keys, group));
        }
        Self {
            lib,
            tz,
            frames,
            profile: channel.settings.profile,
            style: channel.settings.break_style,
            cards: channel.settings.generated_bumpers,
            seed,
            channel: channel.id,
            window_ms,
            pools,
            cursors: BTreeMap::new(),
            last_spot: None,
        }
    }

    /// Continue rotations where a previous build left them.
    pub fn set_cursors(&mut self, cursors: impl IntoIterator<Item = (String, u64)>) {
        self.cursors.extend(cursors.into_iter().filter(|(k, _)| k.starts_with("#spots:")));
    }

    /// Where each rotation stands now.
    pub fn cursors(&self) -> &BTreeMap<String, u64> {
        &self.cursors
    }

    /// Series (lower-cased) the channel airs later: promos for them are preferred.
    pub fn set_upcoming(&mut self, series: HashSet<String>) {
        let lib = self.lib;
        if let Some(promos) = self.pools.get_mut(&Pool::Promo) {
            promos.set_group(UPCOMING, |i| {
                lib.item(i).series.as_deref().is_some_and(|s| series.contains(&s.to_lowercase()))
            });
        }
    }

    /// A spot that aired (or is planned) at `start_ms` before this build.
    pub fn remember(&mut self, media: crate::library::MediaId, start_ms: i64) {
        let Some(&i) = self.lib.by_id.get(&media) else { return };
        if self.lib.item(i).kind == crate::library::ContentKind::Commercial {
            self.aired_commercial(i, start_ms);
        }
    }

    /// Note a commercial on air at `at`: the repeat window and the separation rule count from it.
    fn aired_commercial(&mut self, i: usize, at: i64) {
        let [company, category, _] = self.lib.interned[i];
        self.last_spot = Some((i, company, category));
        if let Some(p) = self.pools.get_mut(&Pool::Commercial) {
            p.aired(i, at);
        }
    }

    /// The channel's frame grid.
    pub fn frames(&self) -> Frames {
        self.frames
    }

    fn local(&self, ms: i64) -> NaiveDateTime {
        from_ms(ms).with_timezone(&self.tz).naive_local()
    }

    /// Append the airing of `[offset_in, offset_in + len)` of `item` (a slate when `None`)
    /// from `start`: one airing per file it plays ([`parts::segments`]: an item in several
    /// parts airs part after part, in the version that fits the channel).
    fn air(
        &self,
        out: &mut Vec<Airing>,
        kind: AiringKind,
        start: i64,
        len: i64,
        item: Option<&MediaItem>,
        offset_in: i64,
    ) {
        let airing = |start: i64, len: i64, uri: Option<String>, offset_in: i64| Airing {
            id: 0,
            channel_id: self.channel,
            program_id: None,
            start: from_ms(start),
            end: from_ms(start + len),
            kind,
            media_id: item.map(|i| i.id),
            uri,
            title: item.map_or_else(|| "Slate".to_owned(), |i| i.title.clone()),
            offset_in_ms: offset_in,
            offset_out_ms: offset_in + len,
            loudness_lufs: item.and_then(|i| i.loudness_lufs),
            card: None,
        };
        let Some(it) = item else {
            out.push(airing(start, len, None, offset_in));
            return;
        };
        let mut at = start;
        for seg in parts::segments(it, &self.profile, offset_in, len) {
            out.push(airing(at, seg.len_ms, Some(seg.uri), seg.offset_in_ms));
            at += seg.len_ms;
        }
    }

    /// A generated card `[start, start + len)`.
    pub fn card(&self, start: i64, len: i64, spec: CardSpec) -> Airing {
        Airing {
            kind: AiringKind::Card,
            title: spec.title(),
            card: Some(spec),
            id: 0,
            channel_id: self.channel,
            program_id: None,
            start: from_ms(start),
            end: from_ms(start + len),
            media_id: None,
            uri: None,
            offset_in_ms: 0,
            offset_out_ms: len,
            loudness_lufs: None,
        }
    }

    /// The channel's time zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Lay out a program `[start, end)` playing item `idx`, appending its airings to `out`.
    pub fn program(&mut self, start: i64, end: i64, idx: usize, out: &mut Vec<Airing>) {
        let lib = self.lib;
        let item = lib.item(idx);
        let runtime = self.frames.floor_ms(lib.duration(idx)).min(end - start);
        let series = item.series.as_deref().map(str::to_lowercase);
        let span = end - start;
        let extra = |this: &mut Self, map: &HashMap<String, Vec<usize>>, room: i64| -> Option<usize> {
            let s = series.as_ref()?;
            let v = map.get(s)?;
            let key = format!("#spots:series:{s}");
            let k = this.cursors.get(&key).copied().unwrap_or(0);
            let i = v[(k % v.len() as u64) as usize];
            (this.frames.floor_ms(lib.duration(i)) <= room).then(|| {
                this.cursors.insert(key, k + 1);
                i
            })
        };
        let intro = extra(self, &lib.intros, span - runtime);
        let intro_ms = intro.map_or(0, |i| self.frames.floor_ms(lib.duration(i)));
        let outro = extra(self, &lib.outros, span - runtime - intro_ms);
        let outro_ms = outro.map_or(0, |i| self.frames.floor_ms(lib.duration(i)));
        let break_ms = span - runtime - intro_ms - outro_ms;
        let half_hours = (span / 1_800_000).max(1);
        let wanted = match self.style {
            BreakStyle::None => 0,
            BreakStyle::Us => 3 * half_hours - 1,
            BreakStyle::Uk => half_hours,
        };
        let n_mid = wanted.min((break_ms / MIN_BREAK_MS - 1).max(0)).min((runtime / MIN_ACT_MS - 1).max(0));
        let cuts = choose_breaks(&item.breakpoints, runtime, n_mid as usize, self.frames);
        let per_break = self.frames.floor_ms(break_ms / (cuts.len() as i64 + 1));
        let title = super::planner::info_of(item).title;
        let ctx = BreakCtx {
            decade: decade_of(item),
            series: item.series.clone(),
            title: Some(title),
            mid: true,
            after_program: false,
            top_of_hour: false,
        };
        let mut at = start;
        if let Some(i) = intro {
            self.air(out, AiringKind::Intro, at, intro_ms, Some(lib.item(i)), 0);
            at += intro_ms;
        }
        let mut media_at = 0;
        // Time a mid-program break could not fill (too short for a card) goes to the next
        // break: the act after it starts that much sooner, and only the last break of the
        // program can be left with it.
        let mut carried = 0;
        for cut in cuts.iter().copied().chain(std::iter::once(runtime)) {
            let len = cut - media_at;
            self.air(out, AiringKind::Program, at, len, Some(item), media_at);
            at += len;
            media_at = cut;
            if cut < runtime {
                let len = per_break + carried;
                carried = self.fill_break(at, len, &ctx, true, out);
                at += len - carried;
            }
        }
        if let Some(o) = outro {
            self.air(out, AiringKind::Outro, at, outro_ms, Some(lib.item(o)), 0);
            at += outro_ms;
        }
        let end_ctx = BreakCtx { mid: false, after_program: true, top_of_hour: self.local(end).minute() == 0, ..ctx };
        self.fill_break(at, end - at, &end_ctx, false, out);
    }

    /// Fill `[start, end)` where no program fits (empty library, rules matching nothing, a
    /// short gap): interstitials the channel's style allows, then filler or slate.
    pub fn filler_program(&mut self, start: i64, end: i64, out: &mut Vec<Airing>) {
        let ctx = BreakCtx { top_of_hour: self.local(end).minute() == 0, ..BreakCtx::default() };
        self.fill_break(start, end - start, &ctx, false, out);
    }

    /// Fill the break `[start, start + len)`. With `may_carry`, time left over that is too
    /// short for a card of its own is not aired as slate but returned, for the caller to give
    /// to a later break; the break then ends that much sooner. Returns the time carried.
    fn fill_break(&mut self, start: i64, len: i64, ctx: &BreakCtx, may_carry: bool, out: &mut Vec<Airing>) -> i64 {
        if len <= 0 {
            return 0;
        }
        let spots = self.style != BreakStyle::None;
        let mut budget = len;
        let take = |this: &mut Self, pool: Pool, at: i64, max: i64| -> Option<(usize, i64)> {
            let i = this.pick(pool, at, max, ctx)?;
            let d = this.frames.floor_ms(this.lib.duration(i));
            Some((i, d))
        };
        // Bumpers from the library, else generated cards where a card fits.
        let card_ms = self.frames.floor_ms(CARD_MS);
        let bumper = |this: &mut Self, pool: Pool, budget: i64, make: &dyn Fn() -> CardSpec| -> Option<Spot> {
            match take(this, pool, start, budget / 4) {
                Some((i, d)) => Some(Spot::Item(i, d)),
                None => (this.cards && budget / 4 >= card_ms).then(|| Spot::Card(make(), card_ms)),
            }
        };
        let program = ctx.title.clone();
        let out_bumper = if spots && ctx.mid {
            bumper(self, Pool::BumperOut, budget, &|| CardSpec::break_out(program.as_deref()))
        } else {
            None
        };
        budget -= out_bumper.as_ref().map_or(0, Spot::ms);
        let back_to = program.clone().unwrap_or_default();
        let mut in_bumper = if spots && ctx.mid && program.is_some() {
            bumper(self, Pool::BumperIn, budget, &|| CardSpec::break_in(&back_to))
        } else {
            None
        };
        budget -= in_bumper.as_ref().map_or(0, Spot::ms);
        let tz = self.tz;
        let next = if ctx.after_program {
            bumper(self, Pool::BumperNext, budget, &|| CardSpec::coming_up(None, tz))
        } else {
            None
        };
        budget -= next.as_ref().map_or(0, Spot::ms);
        let station_id = if ctx.top_of_hour { take(self, Pool::StationId, start, budget) } else { None };
        budget -= station_id.map_or(0, |b| b.1);
        let promo = take(self, Pool::Promo, start, budget.min(if spots { budget / 3 } else { budget }));
        budget -= promo.map_or(0, |b| b.1);

        let mut at = start;
        // The first generated card put before the spots: it can take on the remainder.
        let mut early_card = None;
        for spot in [next, out_bumper].into_iter().flatten() {
            if early_card.is_none() && matches!(spot, Spot::Card(..)) {
                early_card = Some(out.len());
            }
            at = self.put(AiringKind::Bumper, spot, at, out);
        }
        let min_commercial_ms = self.pools.get(&Pool::Commercial).map_or(i64::MAX, SpotPool::min_ms);
        // Where the time the spots leave can go nowhere else (the program's last break: none
        // carried on; no card of the break to stretch), the spots leave at least a card's
        // worth, which a card of its own or filler clips take: a leftover under 2 s would air
        // as black between the last spot and the next program (issue #18). Filler clips count
        // only when one may air at the break's end (dayparts, seasons): else the reserve would
        // only be a longer slate.
        let stretchable = matches!(in_bumper, Some(Spot::Card(..))) || early_card.is_some();
        let reserve = if !may_carry && !stretchable && (self.cards || self.filler_ready(start + len - MIN_CARD_MS)) {
            MIN_CARD_MS
        } else {
            0
        };
        while spots && budget - reserve >= min_commercial_ms {
            let Some(i) = self.pick(Pool::Commercial, at, budget - reserve, ctx) else { break };
            let d = self.frames.floor_ms(self.lib.duration(i));
            self.aired_commercial(i, at);
            self.air(out, AiringKind::Commercial, at, d, Some(self.lib.item(i)), 0);
            at += d;
            budget -= d;
        }
        if let Some((i, d)) = promo {
            self.air(out, AiringKind::Promo, at, d, Some(self.lib.item(i)), 0);
            at += d;
        }
        // What neither spots nor filler clips fill: a card of the break takes it on, else a
        // card of its own says "Stay tuned" (or "Now back to" the program); only time too
        // short for a card, or a break with nothing to air, stays a slate.
        let filled = self.filler_clips(at, budget, out);
        at += filled;
        let rest = budget - filled;
        let mut carried = 0;
        if rest > 0 {
            if let Some(Spot::Card(_, d)) = in_bumper.as_mut().filter(|_| rest <= CARD_STRETCH_MS) {
                *d += rest;
            } else if let Some(k) = early_card.filter(|_| rest <= CARD_STRETCH_MS) {
                stretch(out, k, rest);
                at += rest;
            } else if self.cards && (MIN_CARD_MS..=MAX_CARD_FILL_MS).contains(&rest) {
                let spec = match (&program, ctx.mid) {
                    (Some(p), true) if in_bumper.is_none() => CardSpec::break_in(p),
                    _ => CardSpec::coming_up(None, tz),
                };
                out.push(self.card(at, rest, spec));
                at += rest;
            } else if may_carry && rest < MIN_CARD_MS {
                carried = rest;
            } else {
                self.air(out, AiringKind::Slate, at, rest, None, 0);
                at += rest;
            }
        }
        if let Some((i, d)) = station_id {
            self.air(out, AiringKind::StationId, at, d, Some(self.lib.item(i)), 0);
            at += d;
        }
        if let Some(spot) = in_bumper {
            at = self.put(AiringKind::Bumper, spot, at, out);
        }
        debug_assert_eq!(at, start + len - carried);
        carried
    }

    /// Put a library spot (as `kind`) or a generated card at `at`; returns its end.
    fn put(&self, kind: AiringKind, spot: Spot, at: i64, out: &mut Vec<Airing>) -> i64 {
        match spot {
            Spot::Item(i, d) => {
                self.air(out, kind, at, d, Some(self.lib.item(i)), 0);
                at + d
            }
            Spot::Card(spec, d) => {
                out.push(self.card(at, d, spec));
                at + d
            }
        }
    }

    /// Whether a filler clip may air at `at`: a trial pick that moves no rotation.
    fn filler_ready(&mut self, at: i64) -> bool {
        let cursors = self.cursors.clone();
        let ready = self.pick(Pool::Filler, at, i64::MAX, &BreakCtx::default()).is_some();
        self.cursors = cursors;
        ready
    }

    /// Cover up to `len` ms from `at` with filler clips (the last cut to fit); returns the ms
    /// they cover.
    fn filler_clips(&mut self, mut at: i64, len: i64, out: &mut Vec<Airing>) -> i64 {
        let (mut left, mut clips) = (len, 0);
        while left >= 1000 && clips < 8 {
            let Some(i) = self.pick(Pool::Filler, at, i64::MAX, &BreakCtx::default()) else { break };
            let d = self.frames.floor_ms(self.lib.duration(i)).min(left);
            self.air(out, AiringKind::Filler, at, d, Some(self.lib.item(i)), 0);
            at += d;
            left -= d;
            clips += 1;
        }
        len - left
    }

    /// The next item of `pool` that fits in `max` ms at `at` and obeys the rules; preferred
    /// items (the program's era, upcoming series, the series' own bumpers) first.
    fn pick(&mut self, pool: Pool, at: i64, max: i64, ctx: &BreakCtx) -> Option<usize> {
        let local = self.local(at);
        let spots = self.pools.get_mut(&pool)?;
        if spots.is_empty() || max <= 0 {
            return None;
        }
        let commercial = pool == Pool::Commercial;
        let bumper = matches!(pool, Pool::BumperIn | Pool::BumperOut | Pool::BumperNext);
        let series = ctx.series.as_deref().filter(|_| bumper).map(str::to_lowercase);
        let rules = Rules {
            at,
            max_ms: max,
            daypart: Daypart::of(local.time()).bit(),
            date: local.date(),
            window_ms: if commercial { self.window_ms.max(0) } else { 0 },
            after: self.last_spot.filter(|_| commercial),
            series: bumper.then(|| series.as_deref().map_or(u32::MAX, |s| self.lib.names.get(Some(s)))),
        };
        let group = match pool {
            Pool::Commercial => ctx.decade.as_deref(),
            Pool::Promo => Some(UPCOMING),
            Pool::BumperIn | Pool::BumperOut | Pool::BumperNext => series.as_deref(),
            Pool::StationId | Pool::Filler | Pool::SignOff | Pool::SignOn => None,
        };
        spots.pick(self.lib, &mut self.cursors, group, &rules)
    }

    /// The library's sign-off (`on` false) or sign-on items from `at`, together at most `max`
    /// ms, in rotation (each at most once); empty when the library has none that fits.
    pub fn sign_items(&mut self, on: bool, at: i64, max: i64) -> Vec<Airing> {
        let pool = if on { Pool::SignOn } else { Pool::SignOff };
        let mut out: Vec<Airing> = Vec::new();
        let mut cur = at;
        while out.len() < 4 {
            let Some(i) = self.pick(pool, cur, max - (cur - at), &BreakCtx::default()) else { break };
            let item = self.lib.item(i);
            if out.iter().any(|a| a.media_id == Some(item.id)) {
                break;
            }
            let d = self.frames.floor_ms(self.lib.duration(i));
            self.air(&mut out, AiringKind::StationId, cur, d, Some(item), 0);
            cur += d;
        }
        out
    }

    /// The seed this filler shuffles with.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// A bumper: a library item (index, ms) or a generated card (spec, ms).
enum Spot {
    Item(usize, i64),
    Card(CardSpec, i64),
}

impl Spot {
    fn ms(&self) -> i64 {
        match self {
            Self::Item(_, d) | Self::Card(_, d) => *d,
        }
    }
}

/// Lengthen the card `out[k]` by `ms`, moving the airings after it along.
fn stretch(out: &mut [Airing], k: usize, ms: i64) {
    let by = chrono::Duration::milliseconds(ms);
    out[k].end += by;
    out[k].offset_out_ms += ms;
    for a in &mut out[k + 1..] {
        a.start += by;
        a.end += by;
    }
}

/// Name the next program in each program's "coming up next" card: the card after program
/// `k` announces program `k + 1` (its title and start), unless that is no real program (a
/// station break, sign-off), when the card keeps saying "Stay tuned".
pub fn name_next_programs(programs: &mut [super::planner::PlannedProgram], tz: Tz) {
    for k in 0..programs.len().saturating_sub(1) {
        let next = &programs[k + 1];
        if next.info.kind == super::ProgramKind::Filler {
            continue;
        }
        let (title, start) = (next.info.title.clone(), from_ms(next.start_ms));
        for a in programs[k].airings.iter_mut() {
            if let Some(spec) = a.card.as_mut().filter(|c| c.template == CardTemplate::ComingUp) {
                *spec = CardSpec::coming_up(Some((&title, start)), tz);
                a.title = spec.title();
            }
        }
    }
}

/// Where to cut a program of `runtime` ms into acts: up to `n` of the item's breakpoints
/// (nearest to an even spread, away from the ends), else `n` evenly spread cuts; frame-aligned.
pub fn choose_breaks(breakpoints: &[i64], runtime: i64, n: usize, frames: Frames) -> Vec<i64> {
    if n == 0 {
        return Vec::new();
    }
    let usable: Vec<i64> = breakpoints
        .iter()
        .copied()
        .filter(|&b| b >= BREAKPOINT_MARGIN_MS && b <= runtime - BREAKPOINT_MARGIN_MS)
        .collect();
    let mut cuts: Vec<i64> = if usable.is_empty() {
        (1..=n as i64).map(|k| runtime * k / (n as i64 + 1)).collect()
    } else if usable.len() <= n {
        usable
    } else {
        let mut chosen = Vec::new();
        for k in 1..=n as i64 {
            let target = runtime * k / (n as i64 + 1);
            if let Some(&b) = usable.iter().filter(|b| !chosen.contains(*b)).min_by_key(|&&b| (b - target).abs()) {
                chosen.push(b);
            }
        }
        chosen
    };
    for c in &mut cuts {
        *c = frames.floor_ms(*c);
    }
    cuts.retain(|&c| c > 0 && c < runtime);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::TimeZone;

    use super::*;
    use crate::library::ContentKind;
    use crate::schedule::order::Shuffle;
    use crate::schedule::tests::{channel, item};

    /// 200 commercials whose first 150 in the rotation's order may only air overnight: a
    /// primetime break still fills with the 50 that may air. (A scan of the first 64
    /// candidates found none and covered the breaks with slate.)
    #[test]
    fn breaks_find_valid_spots_however_deep_in_the_pool_they_are() {
        let ch = channel(BreakStyle::Us);
        let seed = 9;
        let mut order = Shuffle::new(seed, &format!("{}:{}", ch.id, Pool::Commercial.key()), 200);
        let blocked: HashSet<usize> = (0..150).map(|k| order.pick(k).unwrap()).collect();
        let mut show = item(1, ContentKind::Episode, "Show", 1_320_000);
        show.year = None;
        let mut items = vec![show];
        for c in 0..200 {
            let mut it = item(10 + c as i64, ContentKind::Commercial, &format!("Spot {c}"), 15_015);
            it.year = None;
            it.meta.commercial_company = Some(format!("Company {c}"));
            if blocked.contains(&c) {
                it.meta.daypart = vec!["overnight".into()];
            }
            items.push(it);
        }
        let lib = LibraryIndex::new(items);
        let start = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 20, 0, 0).unwrap().timestamp_millis();
        let lay_out = || {
            let mut out = Vec::new();
            BreakFiller::new(&lib, &ch, Tz::UTC, seed, 7_200_000).program(start, start + 1_800_000, 0, &mut out);
            out
        };
        let out = lay_out();
        let spots: Vec<&Airing> = out.iter().filter(|a| a.kind == AiringKind::Commercial).collect();
        // 8 minutes of breaks in three breaks of 160 s: the generated cards (the library has
        // no bumpers), then as many 15 s spots as fit.
        let card_ms: i64 = out.iter().filter(|a| a.kind == AiringKind::Card).map(Airing::duration_ms).sum();
        let spot_ms: i64 = spots.iter().map(|a| a.duration_ms()).sum();
        let slate_ms: i64 = out.iter().filter(|a| a.kind == AiringKind::Slate).map(Airing::duration_ms).sum();
        let program_ms: i64 = out.iter().filter(|a| a.kind == AiringKind::Program).map(Airing::duration_ms).sum();
        assert_eq!(card_ms + spot_ms + slate_ms, 1_800_000 - program_ms, "{out:#?}");
        assert!(card_ms < 60_000 && spots.len() >= 26, "{} spots, {card_ms} ms of cards: {out:#?}", spots.len());
        for a in &spots {
            assert!(lib.item(lib.by_id[&a.media_id.unwrap()]).meta.daypart.is_empty(), "{} is overnight only", a.title);
        }
        let slate: i64 = out.iter().filter(|a| a.kind == AiringKind::Slate).map(Airing::duration_ms).sum();
        assert!(slate < 3 * 15_015, "{slate} ms of slate");
        assert_eq!(out, lay_out(), "the same seed lays out the same breaks");
    }

    /// A half hour laid out from `start` on `ch` with `lib`, checked for holes: each airing
    /// starts where the one before ended, and the last ends on the boundary.
    fn half_hour(lib: &LibraryIndex, ch: &Channel, start: i64) -> Vec<Airing> {
        let mut out = Vec::new();
        BreakFiller::new(lib, ch, Tz::UTC, 3, 0).program(start, start + 1_800_000, 0, &mut out);
        let mut at = start;
        for a in &out {
            assert_eq!(a.start.timestamp_millis(), at, "hole before {a:?}");
            assert_eq!(a.offset_out_ms - a.offset_in_ms, a.duration_ms(), "{a:?}");
            at = a.end.timestamp_millis();
        }
        assert_eq!(at, start + 1_800_000);
        out
    }

    /// A show and `spots` spots of 15.015 s (NTSC lengths on a 25 fps channel: none fits a
    /// break exactly), with library bumpers or not.
    fn spots_library(runtime: i64, bumpers: bool) -> LibraryIndex {
        LibraryIndex::new(spots_items(runtime, bumpers))
    }

    fn spots_items(runtime: i64, bumpers: bool) -> Vec<MediaItem> {
        let mut items = vec![item(1, ContentKind::Episode, "Show", runtime)];
        for c in 0..40 {
            let mut it = item(10 + c, ContentKind::Commercial, &format!("Spot {c}"), 15_015);
            it.meta.commercial_company = Some(format!("Company {c}"));
            items.push(it);
        }
        if bumpers {
            let bumpers = [("Be right back", "out"), ("Now back to", "in"), ("Coming up next", NEXT_TAG)];
            for (id, (t, tag)) in bumpers.into_iter().enumerate() {
                let mut it = item(100 + id as i64, ContentKind::Bumper, t, 5_005);
                it.tags = vec![tag.into()];
                items.push(it);
            }
        }
        items
    }

    fn ms_of(out: &[Airing], kind: AiringKind) -> Vec<i64> {
        out.iter().filter(|a| a.kind == kind).map(Airing::duration_ms).collect()
    }

    /// The time a break's spots leave is not aired as black where a card can take it: the
    /// break's generated bumper card stays up longer, or (library bumpers) a card of its own
    /// fills it; a leftover too short for a card goes to the next break, and the last break's
    /// spots leave a card's worth. Runtimes chosen so the leftovers cover short and long ones.
    #[test]
    fn the_time_spots_leave_in_a_break_is_a_card_not_black() {
        let mut ch = channel(BreakStyle::Us);
        ch.settings.profile.frame_rate = FrameRate::Pal;
        let start = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 20, 0, 0).unwrap().timestamp_millis();
        let (mut stretched, mut own, mut last_cards) = (0, 0, 0);
        for runtime in (1_300_000..1_400_000).step_by(7_001) {
            // Generated bumpers: every leftover (under a spot's length) goes to a card.
            let out = half_hour(&spots_library(runtime, false), &ch, start);
            assert_eq!(ms_of(&out, AiringKind::Slate), Vec::<i64>::new(), "runtime {runtime}: {out:#?}");
            for d in ms_of(&out, AiringKind::Card) {
                assert!((4_960..=CARD_MS + CARD_STRETCH_MS).contains(&d) || (MIN_CARD_MS..15_015).contains(&d), "{d}");
                stretched += usize::from(d > CARD_MS);
                own += usize::from(d < 4_960);
            }
            // Library bumpers: a leftover of 2 s or more is a card of its own; a shorter one
            // goes on to the next break, and the program's last break leaves at least a card's
            // worth: never a slate.
            let out = half_hour(&spots_library(runtime, true), &ch, start);
            assert_eq!(ms_of(&out, AiringKind::Slate), Vec::<i64>::new(), "runtime {runtime}: {out:#?}");
            let last_act = out.iter().rposition(|a| a.kind == AiringKind::Program).unwrap();
            last_cards += usize::from(out[last_act..].iter().any(|a| a.kind == AiringKind::Card));
            for a in out.iter().filter(|a| a.kind == AiringKind::Card) {
                assert!((MIN_CARD_MS..15_015 + MIN_CARD_MS).contains(&a.duration_ms()), "{a:?}");
                let text = &a.card.as_ref().unwrap().lines[0];
                assert!(["Now back to", "Stay tuned"].contains(&text.as_str()), "{a:?}");
                own += 1;
            }
            // Without generated cards the leftover is slate, as before.
            let mut plain = ch.clone();
            plain.settings.generated_bumpers = false;
            let out = half_hour(&spots_library(runtime, false), &plain, start);
            assert!(ms_of(&out, AiringKind::Card).is_empty() && !ms_of(&out, AiringKind::Slate).is_empty());
            // Nor with filler clips none of which may air now (overnight only, at 20:00): the
            // spots fill as far as they can, as with no filler clips at all; the last break is
            // not given a longer slate for clips that cannot come.
            let with_filler = |daypart: &str| {
                let mut items = spots_items(runtime, false);
                let mut clip = item(200, ContentKind::Slate, "Aquarium", 60_000);
                clip.meta.daypart = vec![daypart.into()];
                items.push(clip);
                half_hour(&LibraryIndex::new(items), &plain, start)
            };
            assert_eq!(ms_of(&with_filler("overnight"), AiringKind::Slate), ms_of(&out, AiringKind::Slate));
            // With a clip that may air, the last break's leftover is that clip, never slate.
            let out = with_filler("primetime");
            let last_act = out.iter().rposition(|a| a.kind == AiringKind::Program).unwrap();
            assert!(!out[last_act..].iter().any(|a| a.kind == AiringKind::Slate), "runtime {runtime}: {out:#?}");
        }
        assert!(
            stretched > 5 && own > 5 && last_cards > 5,
            "stretched {stretched}, own cards {own}, {last_cards} in last breaks"
        );
    }
}
