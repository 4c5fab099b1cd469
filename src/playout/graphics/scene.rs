//! The channel's overlay layer (pure): from the channel's graphics settings, the schedule
//! cues, the live alert and "now", the list of [`Layer`]s to blend on a frame. Rasters are
//! rendered once per change and cached by what they show; per frame only positions and
//! opacities are computed (the crawl moves, the bug fades, the guide's rows scroll).
//!
//! Full-screen cards ([`super::card`]) show on the frames of a card airing, and "Please
//! stand by" while playout covers an item that cannot play ([`Scene::set_standby`]). A card
//! is a full-frame raster, too big to draw on the streaming thread as it comes on: the frames
//! before it hand it out as a [`CardJob`] ([`Scene::next_card_job`]) that another thread draws
//! and hands back ([`Scene::card_ready`]). "Please stand by" is drawn that way at the first
//! failure (it shows a few frames later, over black meanwhile) and kept for the next one. A guide
//! channel ([`SceneConfig::guide`]) draws the programme guide ([`super::guide`]) from the
//! data it is handed ([`Scene::set_guide`]) instead of the bug and lower thirds. Its layers
//! are opaque and cover the frame but the preview: where the frame's format allows
//! ([`Scene::set_guide_direct`]), they are copied into the frame as [`Plane`]s
//! ([`Scene::guide_planes`]) instead of blended as overlay layers (2.7 ms a 640x480 frame
//! blended, 0.15 ms copied, in `examples/bench_guide.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::card::{self, CardLook};
use super::cues::{self, Cue};
use super::guide::{self, GuideData, GuideLayout};
use super::layout::{self, TITLE_SAFE};
use super::plane::Plane;
use super::raster::{Raster, Rect, Rgba};
use super::text::{self, TextStyle};
use crate::emergency::{Alert, AlertMode};
use crate::lineup::{BugSettings, CardEra, Corner, FrameRate};
use crate::schedule::AiringKind;
use crate::schedule::card::{CardSpec, CardTemplate};

/// What a channel shows (changed on air with [`Scene::replace`]).
#[derive(Debug, Clone)]
pub struct SceneConfig {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// The bug.
    pub bug: BugSettings,
    /// Bug text when there is no (usable) image: call sign, else name.
    pub bug_text: String,
    /// Lower thirds on.
    pub lower_thirds: bool,
    /// Clock on.
    pub clock: bool,
    /// Time zone for the clock and "at 8:30".
    pub tz: chrono_tz::Tz,
    /// The channel's frame rate: the crawl moves a whole number of pixels every frame.
    pub frame_rate: FrameRate,
    /// Call sign on cards (else the name).
    pub call_sign: String,
    /// The channel's name (the guide's panel).
    pub name: String,
    /// The look of its cards.
    pub era: CardEra,
    /// A guide channel: draw the programme guide.
    pub guide: bool,
}

/// One graphic placed on a frame.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Stable identity of the raster (same id = same pixels), for caching downstream.
    pub id: u64,
    /// The pixels.
    pub raster: Arc<Raster>,
    /// Left (may be negative: the crawl enters from the right and leaves to the left).
    pub x: i32,
    /// Top.
    pub y: i32,
    /// Opacity multiplier, 0 to 1.
    pub alpha: f32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Bug(u32, u32),
    LowerThird(Vec<(String, String)>),
    Clock(String),
    CrawlBand(u32, u32),
    CrawlLabel(u32),
    CrawlText(i64, u32),
    Slate(i64),
    Card(CardSpec, String),
    GuidePanel(String, i64),
    /// Row index, its window's start (ms), data generation.
    GuideRow(usize, i64, u64),
    GuideFill(usize, i64, u64),
}

/// How long before a card airing its raster is drawn off the streaming thread.
pub const CARD_LEAD: chrono::Duration = chrono::Duration::seconds(20);
/// Cards drawn ahead and not shown yet, at most (besides "Please stand by").
const CARDS_AHEAD: usize = 3;

/// A card to draw off the streaming thread: [`CardJob::render`] there, then
/// [`Scene::card_ready`].
#[derive(Debug, Clone)]
pub struct CardJob {
    key: Key,
    spec: CardSpec,
    look: CardLook,
    width: u32,
    height: u32,
    clock: String,
}

impl CardJob {
    /// Draw it (a few milliseconds to tens of milliseconds: not on a streaming thread).
    pub fn render(&self) -> Raster {
        card::render(&self.spec, &self.look, self.width, self.height, &self.clock)
    }
}

/// Crawl speed in picture heights per second (about 120 px/s at 480 lines), rounded to whole
/// pixels per frame (4 at 480 lines and 29.97 fps) so the text glides without judder.
pub const CRAWL_SPEED: f64 = 0.25;

/// The renderer of one channel's overlay layer.
pub struct Scene {
    cfg: SceneConfig,
    bug_image: Option<Raster>,
    cache: HashMap<Key, (u64, Arc<Raster>)>,
    next_id: u64,
    standby: bool,
    guide: Arc<GuideData>,
    guide_gen: u64,
    /// The guide rows' window (ms) and data generation of the current frame.
    guide_window: (i64, u64),
    /// Cards drawn ahead by [`CardJob`]s, not shown yet.
    ready: HashMap<Key, Arc<Raster>>,
    /// Cards handed out as jobs and not back yet.
    pending: HashSet<Key>,
    /// The guide is copied into frames ([`Self::guide_planes`]), not blended as layers.
    guide_direct: bool,
    /// The guide's rasters of the last [`Self::guide_planes`] (kept in the cache).
    guide_used: Vec<Key>,
    /// Their planes, by layer id.
    planes: HashMap<u64, Arc<Plane>>,
}

impl std::fmt::Debug for Scene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scene").field("cached", &self.cache.len()).finish()
    }
}

impl Scene {
    /// Build a scene; a bug image that cannot be used is logged and replaced by text, so a
    /// bad file never breaks a channel.
    pub fn new(cfg: SceneConfig) -> Self {
        let bug_image = cfg.bug.image.as_deref().and_then(|p| match super::image::load_png(p) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!("{e}; showing the text bug instead");
                None
            }
        });
        Self {
            cfg,
            bug_image,
            cache: HashMap::new(),
            next_id: 1,
            standby: false,
            guide: Arc::default(),
            guide_gen: 0,
            guide_window: (0, 0),
            ready: HashMap::new(),
            pending: HashSet::new(),
            guide_direct: false,
            guide_used: Vec::new(),
            planes: HashMap::new(),
        }
    }

    /// A guide channel whose frames take [`Self::guide_planes`] (a 4:2:0 format): its grid is
    /// no longer among the overlay layers of [`Self::frame`].
    pub fn set_guide_direct(&mut self, on: bool) {
        self.guide_direct = on && self.cfg.guide;
    }

    /// A guide channel's grid, panel and preview card on the frame at `now`, as planes to copy
    /// in order (bottom first) at (x, y). Rasters render as in [`Self::frame`] (once per
    /// scroll window); each converts to a plane once.
    pub fn guide_planes(&mut self, now: DateTime<Utc>, cues: &[Cue]) -> Vec<(Arc<Plane>, i32, i32)> {
        if !self.cfg.guide {
            return Vec::new();
        }
        let cur = cues::current(cues, now).map(|(_, c)| c);
        let mut used = Vec::new();
        let layers = self.guide_layers(now, cur, &mut used);
        self.guide_used = used;
        let out = layers
            .into_iter()
            .map(|l| {
                let plane = self.planes.entry(l.id).or_insert_with(|| Arc::new(Plane::from_raster(&l.raster))).clone();
                (plane, l.x, l.y)
            })
            .collect();
        if self.planes.len() > self.cache.len() {
            let live: HashSet<u64> = self.cache.values().map(|(id, _)| *id).collect();
            self.planes.retain(|id, _| live.contains(id));
        }
        out
    }

    /// The look of this channel's cards.
    fn card_look(&self) -> CardLook {
        let call_sign = if self.cfg.call_sign.is_empty() { self.cfg.name.clone() } else { self.cfg.call_sign.clone() };
        CardLook { era: self.cfg.era, call_sign, logo: self.bug_image.clone() }
    }

    /// The cache key and the clock text of `spec` shown at `at` (only a classic test card
    /// shows, and changes with, the time).
    fn card_key(&self, spec: &CardSpec, at: DateTime<Utc>) -> (Key, String) {
        let clock = if matches!(spec.template, CardTemplate::TestClassic) {
            at.with_timezone(&self.cfg.tz).format("%-I:%M %p").to_string()
        } else {
            String::new()
        };
        (Key::Card(spec.clone(), clock.clone()), clock)
    }

    /// The next card to draw off the streaming thread, if one is due: "Please stand by" while
    /// playout covers a failure (then kept), else the next card airing starting within
    /// [`CARD_LEAD`] of `now`. Each is handed out once; call on every frame (cheap when
    /// nothing is due).
    pub fn next_card_job(&mut self, now: DateTime<Utc>, cues: &[Cue]) -> Option<CardJob> {
        if self.cfg.guide {
            return None;
        }
        let stand_by = self.standby.then(|| (CardSpec::stand_by(), now));
        let next = cues
            .iter()
            .find(|c| c.kind == AiringKind::Card && c.start > now && c.start - now <= CARD_LEAD)
            .and_then(|c| c.card.clone().map(|spec| (spec, c.start)));
        for (spec, at) in stand_by.into_iter().chain(next) {
            let (key, clock) = self.card_key(&spec, at);
            if self.cache.contains_key(&key) || self.ready.contains_key(&key) || self.pending.contains(&key) {
                continue;
            }
            self.pending.insert(key.clone());
            let (width, height) = (self.cfg.width, self.cfg.height);
            return Some(CardJob { key, spec, look: self.card_look(), width, height, clock });
        }
        None
    }

    /// A [`CardJob`] is drawn: its card shows from the next frame that needs it. (A job of a
    /// scene since replaced, or for a look since changed, is dropped.)
    pub fn card_ready(&mut self, job: &CardJob, raster: Raster) {
        if !self.pending.remove(&job.key) || job.look != self.card_look() {
            return;
        }
        let stand_by = Key::Card(CardSpec::stand_by(), String::new());
        if self.ready.len() > CARDS_AHEAD {
            self.ready.retain(|k, _| *k == stand_by);
        }
        self.ready.insert(job.key.clone(), Arc::new(raster));
    }

    /// Playout covers an item that cannot play: show "Please stand by" (not on a guide
    /// channel, whose preview window simply stays dark).
    pub fn set_standby(&mut self, on: bool) {
        self.standby = on;
    }

    /// What a guide channel lists (ignored by other channels).
    pub fn set_guide(&mut self, data: Arc<GuideData>) {
        if *data != *self.guide {
            self.guide = data;
            self.guide_gen += 1;
        }
    }

    /// Whether this is a guide channel's scene.
    pub fn is_guide(&self) -> bool {
        self.cfg.guide
    }

    /// The guide's layout for this channel's frame.
    pub fn guide_layout(&self) -> GuideLayout {
        guide::layout(self.cfg.width, self.cfg.height)
    }

    /// Draw what `next` shows from the next frame on (the channel's bug, lower thirds or clock
    /// changed; `next` is built beforehand, as loading a bug image takes a moment). Raster ids
    /// keep counting, so a cache keyed by them never shows an old raster.
    pub fn replace(&mut self, mut next: Scene) {
        next.next_id = self.next_id;
        next.standby = self.standby;
        next.guide = self.guide.clone();
        next.guide_gen = self.guide_gen + 1;
        *self = next;
    }

    /// Whether the bug is an image (false: text fallback).
    pub fn has_bug_image(&self) -> bool {
        self.bug_image.is_some()
    }

    fn get(&mut self, key: Key, render: impl FnOnce(&Self) -> Raster) -> (u64, Arc<Raster>) {
        if let Some(v) = self.cache.get(&key) {
            return v.clone();
        }
        let raster = match self.ready.get(&key) {
            // "Please stand by" stays ready for the next failure.
            Some(r) if matches!(&key, Key::Card(spec, _) if spec.template == CardTemplate::StandBy) => r.clone(),
            Some(_) => self.ready.remove(&key).expect("just found"),
            None => Arc::new(render(self)),
        };
        let id = self.next_id;
        self.next_id += 1;
        self.cache.insert(key, (id, raster.clone()));
        (id, raster)
    }

    /// The layers of the frame shown at `now`.
    pub fn frame(&mut self, now: DateTime<Utc>, cues: &[Cue], alert: Option<&Alert>) -> Vec<Layer> {
        let (w, h) = (self.cfg.width, self.cfg.height);
        let mut layers = Vec::new();
        let mut used = Vec::new();
        if let Some(a) = alert.filter(|a| a.mode == AlertMode::Slate) {
            let key = Key::Slate(a.id.0);
            let (id, raster) = self.get(key.clone(), |s| s.render_slate(a));
            used.push(key);
            layers.push(Layer { id, raster, x: 0, y: 0, alpha: 1.0 });
            self.evict(&used);
            return layers;
        }
        let cur = cues::current(cues, now).map(|(_, c)| c);
        if self.cfg.guide {
            if !self.guide_direct {
                let guide = self.guide_layers(now, cur, &mut used);
                layers.extend(guide);
            }
        } else if let Some(spec) = self.card_on_air(cur) {
            // Drawn ahead as a job (else here, the first frame waits for it); "Please stand
            // by" only once its job is done (black until then).
            let (key, clock) = self.card_key(&spec, now);
            let drawn = self.cache.contains_key(&key) || self.ready.contains_key(&key);
            if drawn || spec.template != CardTemplate::StandBy {
                let (id, raster) = self.get(key.clone(), |s| s.render_card(&spec, &clock));
                used.push(key);
                layers.push(Layer { id, raster, x: 0, y: 0, alpha: 1.0 });
            }
        }
        let picture = layout::picture_area(w, h, cur.and_then(|c| c.aspect));
        let mut area = picture;
        if let Some(a) = alert {
            let crawl = self.crawl_layers(a, now, &mut used);
            // Keep the bug and clock above the band.
            let band_top = crawl.first().map_or(h as i32, |l| l.y);
            area.h = (band_top - area.y).max(0) as u32;
            layers.extend(crawl);
        }
        if self.cfg.guide {
            self.evict(&used);
            return layers;
        }
        // Bug.
        let bug_alpha = cues::bug_alpha(cues, now, self.cfg.bug.rule, self.cfg.bug.opacity.get());
        if bug_alpha > 0.0 {
            let bh = ((picture.h as f64 * self.cfg.bug.size).round() as u32).clamp(8, picture.h / 2);
            let bw = match &self.bug_image {
                Some(img) => {
                    ((bh as f64 * img.width as f64 / img.height as f64).round() as u32).clamp(1, picture.w / 2)
                }
                None => 0,
            };
            let key = Key::Bug(bw, bh);
            let (id, raster) = self.get(key.clone(), |s| s.render_bug(bw, bh));
            used.push(key);
            let margin = (picture.h as f64 * self.cfg.bug.margin).round() as u32;
            let (x, y) = layout::in_corner(area, self.cfg.bug.corner, raster.width, raster.height, margin);
            layers.push(Layer { id, raster, x, y, alpha: bug_alpha as f32 });
        }
        // Clock, in the top corner the bug does not use.
        if self.cfg.clock {
            let text = now.with_timezone(&self.cfg.tz).format("%-I:%M").to_string();
            let key = Key::Clock(text.clone());
            let px = h as f32 / 18.0;
            let (id, raster) = self.get(key.clone(), |_| text::render_line(&text, TextStyle::plain(px)));
            used.push(key);
            let corner = if self.cfg.bug.corner == Corner::TopRight { Corner::TopLeft } else { Corner::TopRight };
            let (x, y) =
                layout::in_corner(layout::safe_area(picture, TITLE_SAFE), corner, raster.width, raster.height, 0);
            layers.push(Layer { id, raster, x, y, alpha: 0.9 });
        }
        // Lower third (not over a crawl).
        if self.cfg.lower_thirds
            && alert.is_none()
            && let Some(lt) = cues::lower_third(cues, now, self.cfg.tz)
        {
            let key = Key::LowerThird(lt.lines.clone());
            let (id, raster) = self.get(key.clone(), |s| s.render_lower_third(&lt.lines, picture));
            used.push(key);
            let safe = layout::safe_area(picture, TITLE_SAFE);
            let (x, y) = layout::in_corner(safe, Corner::BottomLeft, raster.width, raster.height, 0);
            layers.push(Layer { id, raster, x, y, alpha: lt.alpha(now) as f32 });
        }
        self.evict(&used);
        layers
    }

    /// Drop cached rasters not used by this frame (the bug stays: it comes back after
    /// every break; so do the guide's rows of the current window, which scroll back).
    fn evict(&mut self, used: &[Key]) {
        if self.cache.len() > used.len() {
            let (from, generation) = self.guide_window;
            let guide_used = &self.guide_used;
            self.cache.retain(|k, _| {
                used.contains(k)
                    || guide_used.contains(k)
                    || matches!(k, Key::Bug(..))
                    || matches!(k, Key::GuideRow(_, f, g) if *f == from && *g == generation)
            });
        }
    }

    /// The card to show full screen: the card airing on now, else "Please stand by" while
    /// playout covers a failed item.
    fn card_on_air(&self, cur: Option<&Cue>) -> Option<CardSpec> {
        match cur {
            Some(c) if c.kind == AiringKind::Card && c.card.is_some() => c.card.clone(),
            _ if self.standby => Some(CardSpec::stand_by()),
            _ => None,
        }
    }

    fn render_card(&self, spec: &CardSpec, clock: &str) -> Raster {
        card::render(spec, &self.card_look(), self.cfg.width, self.cfg.height, clock)
    }

    /// The guide: panel with the preview window's hole and the band on top, rows scrolling
    /// beneath it. The preview window shows a card when no clip is on.
    fn guide_layers(&mut self, now: DateTime<Utc>, cur: Option<&Cue>, used: &mut Vec<Key>) -> Vec<Layer> {
        let l = self.guide_layout();
        let (w, h) = (self.cfg.width, self.cfg.height);
        let from = guide::window_start(now);
        let from_ms = from.timestamp_millis();
        let generation = self.guide_gen;
        self.guide_window = (from_ms, generation);
        let mut layers = Vec::new();
        let data = self.guide.clone();
        let (num, den) = self.cfg.frame_rate.fraction();
        let fps = f64::from(num) / f64::from(den);
        let frames = (now.timestamp_micros() as f64 / 1e6 * fps).round() as i64;
        // Two pixels a frame at 480 lines while a row scrolls.
        let step = 2 * (f64::from(h) / 480.0).round().max(1.0) as i64;
        let positions = guide::row_positions(&l, data.rows.len(), frames, step);
        let mut bottom = l.grid.y;
        for (i, y) in positions {
            let key = Key::GuideRow(i, from_ms, generation);
            let row = &data.rows[i];
            let (id, raster) = self.get(key.clone(), |_| guide::render_row(row, &l, from));
            used.push(key);
            bottom = bottom.max(y + raster.height as i32);
            layers.push(Layer { id, raster, x: 0, y, alpha: 1.0 });
        }
        if bottom < h as i32 {
            // Below the last row of a short lineup: the grid's background.
            let fill_h = (h as i32 - bottom) as u32;
            let key = Key::GuideFill(fill_h as usize, from_ms, generation);
            let (id, raster) = self.get(key.clone(), |_| Raster::filled(w, fill_h, Rgba(12, 24, 92, 255)));
            used.push(key);
            layers.push(Layer { id, raster, x: 0, y: bottom, alpha: 1.0 });
        }
        let clock = now.with_timezone(&self.cfg.tz).format("%-I:%M %p").to_string();
        let key = Key::GuidePanel(clock.clone(), from_ms);
        let (tz, name) = (self.cfg.tz, self.cfg.name.clone());
        let (id, raster) = self.get(key.clone(), |_| guide::render_panel(&l, w, &name, &clock, from, tz));
        used.push(key);
        layers.push(Layer { id, raster, x: 0, y: 0, alpha: 1.0 });
        // Nothing in the preview (a slate or a card in the guide's own schedule): its title
        // card, small.
        if cur.is_none_or(|c| matches!(c.kind, AiringKind::Slate | AiringKind::Card)) {
            let key = Key::Card(
                CardSpec { template: CardTemplate::SignOn, lines: vec!["Program Guide".into()] },
                "preview".into(),
            );
            let (pw, ph) = (l.preview.w, l.preview.h);
            let (id, raster) = self.get(key.clone(), |s| {
                let spec = CardSpec { template: CardTemplate::SignOn, lines: vec!["Program Guide".into()] };
                card::render(&spec, &s.card_look(), pw, ph, "")
            });
            used.push(key);
            layers.push(Layer { id, raster, x: l.preview.x, y: l.preview.y, alpha: 1.0 });
        }
        layers
    }

    fn crawl_layers(&mut self, a: &Alert, now: DateTime<Utc>, used: &mut Vec<Key>) -> Vec<Layer> {
        let (w, h) = (self.cfg.width, self.cfg.height);
        let band_h = ((h as f64 * 0.09).round() as u32).max(16);
        let band_y = h as i32 - band_h as i32 - (h as f64 * 0.05).round() as i32;
        let px = band_h as f32 * 0.6;
        let band_key = Key::CrawlBand(w, band_h);
        let (bid, band) = self.get(band_key.clone(), |_| Raster::filled(w, band_h, Rgba(150, 0, 0, 230)));
        let label_key = Key::CrawlLabel(band_h);
        let (lid, label) = self.get(label_key.clone(), |_| {
            let t = text::render_line("ALERT", TextStyle { px, ..TextStyle::plain(px) });
            let mut r = Raster::filled(t.width + band_h / 2, band_h, Rgba(230, 180, 0, 255));
            r.draw(&t, (band_h / 4) as i32, (band_h as i32 - t.height as i32) / 2);
            r
        });
        let text_key = Key::CrawlText(a.id.0, band_h);
        let (tid, strip) = self.get(text_key.clone(), |_| text::render_line(&a.message, TextStyle::plain(px)));
        used.extend([band_key, label_key, text_key]);
        let travel = (w as i64 - label.width as i64 + strip.width as i64).max(1);
        // Frame-locked: the same step every frame (a step that alternated between 3 and 5
        // pixels would judder, and costs the encoder more than a steady motion).
        let (num, den) = self.cfg.frame_rate.fraction();
        let fps = f64::from(num) / f64::from(den);
        let step = (h as f64 * CRAWL_SPEED / fps).round().max(1.0) as i64;
        let elapsed = (now - a.starts_at).num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6;
        let frames = (elapsed * fps).round() as i64;
        let moved = frames.saturating_mul(step).rem_euclid(travel);
        let tx = w as i32 - moved as i32;
        let ty = band_y + (band_h as i32 - strip.height as i32) / 2;
        vec![
            Layer { id: bid, raster: band, x: 0, y: band_y, alpha: 1.0 },
            Layer { id: tid, raster: strip, x: tx, y: ty, alpha: 1.0 },
            Layer { id: lid, raster: label, x: 0, y: band_y, alpha: 1.0 },
        ]
    }

    fn render_bug(&self, w: u32, h: u32) -> Raster {
        match &self.bug_image {
            Some(img) => img.scaled(w, h),
            None => text::render_line(&self.cfg.bug_text, TextStyle::plain(h as f32 * 0.8)),
        }
    }

    fn render_lower_third(&self, lines: &[(String, String)], picture: Rect) -> Raster {
        let px = picture.h as f32 / 17.0;
        let pad = (px * 0.4) as u32;
        let rendered: Vec<(Raster, Raster)> = lines
            .iter()
            .map(|(label, body)| {
                let l =
                    text::render_line(label, TextStyle { color: Rgba(255, 200, 0, 255), ..TextStyle::plain(px * 0.8) });
                let max_body = (picture.w as f32 * TITLE_SAFE as f32 * 0.85) - l.width as f32 - 3.0 * pad as f32;
                let body = text::wrap(body, px, max_body.max(px * 4.0), 1).into_iter().next().unwrap_or_default();
                (l, text::render_line(&body, TextStyle::plain(px)))
            })
            .collect();
        let label_w = rendered.iter().map(|(l, _)| l.width).max().unwrap_or(0);
        let row_h = rendered.iter().map(|(l, b)| l.height.max(b.height)).max().unwrap_or(1);
        let width = label_w + pad * 3 + rendered.iter().map(|(_, b)| b.width).max().unwrap_or(0) + pad;
        let height = row_h * rendered.len() as u32 + pad * 2;
        let mut r = Raster::filled(width, height, Rgba(10, 10, 30, 190));
        r.fill(Rect { x: 0, y: 0, w: pad / 2 + 2, h: height }, Rgba(255, 200, 0, 255));
        for (i, (l, b)) in rendered.iter().enumerate() {
            let y = (pad + row_h * i as u32) as i32;
            r.draw(l, (pad * 2) as i32, y + (row_h as i32 - l.height as i32) / 2);
            r.draw(b, (pad * 3 + label_w) as i32, y + (row_h as i32 - b.height as i32) / 2);
        }
        r
    }

    fn render_slate(&self, a: &Alert) -> Raster {
        let (w, h) = (self.cfg.width, self.cfg.height);
        let mut r = Raster::filled(w, h, Rgba(120, 0, 0, 255));
        let safe = layout::safe_area(Rect { x: 0, y: 0, w, h }, TITLE_SAFE);
        let head_px = h as f32 / 10.0;
        let head = text::render_line(
            "EMERGENCY ALERT",
            TextStyle { color: Rgba(255, 220, 0, 255), ..TextStyle::plain(head_px.min(safe.w as f32 / 9.5)) },
        );
        r.fill(Rect { x: 0, y: safe.y, w, h: head.height + 8 }, Rgba(20, 0, 0, 255));
        r.draw(&head, (w as i32 - head.width as i32) / 2, safe.y + 4);
        let px = h as f32 / 16.0;
        let top = safe.y + head.height as i32 + (px * 1.2) as i32;
        let line_h = (px * 1.35) as i32;
        let max_lines = ((safe.y + safe.h as i32 - top) / line_h).max(1) as usize;
        for (i, line) in text::wrap(&a.message, px, safe.w as f32, max_lines).iter().enumerate() {
            let t = text::render_line(line, TextStyle::plain(px));
            r.draw(&t, (w as i32 - t.width as i32) / 2, top + i as i32 * line_h);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emergency::{AlertChannels, AlertId, AlertOrigin};
    use crate::schedule::AiringKind;
    use chrono::{Duration, TimeZone};

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 20, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn scene(w: u32, h: u32) -> Scene {
        Scene::new(SceneConfig {
            width: w,
            height: h,
            bug: BugSettings::default(),
            bug_text: "RTV".into(),
            lower_thirds: true,
            clock: false,
            tz: chrono_tz::UTC,
            frame_rate: FrameRate::Ntsc,
            call_sign: "RTV".into(),
            name: "Retro".into(),
            era: CardEra::Eighties,
            guide: false,
        })
    }

    fn program(aspect: Option<f64>) -> Vec<Cue> {
        vec![Cue {
            start: t(0),
            end: t(600),
            kind: AiringKind::Program,
            program_id: Some(1),
            title: "Cheers".into(),
            rating: Some("TV-PG".into()),
            aspect,
            card: None,
        }]
    }

    fn alert(mode: AlertMode) -> Alert {
        Alert {
            id: AlertId(7),
            message: "Tornado warning for Cook County until 9 PM".into(),
            priority: 0,
            channels: AlertChannels::All,
            mode,
            tone: false,
            starts_at: t(100),
            ends_at: None,
            cleared_at: None,
            origin: AlertOrigin::Cli,
            created_at: t(100),
        }
    }

    #[test]
    fn cards_are_drawn_ahead_off_the_frame_and_stand_by_stays_ready() {
        let mut s = scene(640, 480);
        let spec = CardSpec::break_out(Some("Cheers"));
        let mut cues = program(None);
        cues[0].end = t(30);
        cues.push(Cue {
            start: t(30),
            end: t(35),
            kind: AiringKind::Card,
            program_id: None,
            title: spec.title(),
            rating: None,
            aspect: None,
            card: Some(spec.clone()),
        });
        // The card is due within CARD_LEAD of its start, once.
        assert!(s.next_card_job(t(0), &cues).is_none());
        let card = s.next_card_job(t(11), &cues).expect("the card's job");
        assert_eq!(card.spec, spec);
        assert!(s.next_card_job(t(12), &cues).is_none(), "each job is handed out once");
        let card_raster = card.render();
        s.card_ready(&card, card_raster.clone());
        // The frames show exactly what was drawn ahead.
        let layers = s.frame(t(31), &cues, None);
        assert!(layers.iter().any(|l| *l.raster == card_raster), "the card drawn ahead is on the air");
        // A failure: black (no layer) until "Please stand by" is drawn, then the card.
        s.set_standby(true);
        assert!(s.frame(t(40), &program(None), None).iter().all(|l| l.raster.width < 640));
        let stand_by = s.next_card_job(t(40), &program(None)).expect("stand-by job");
        assert_eq!(stand_by.spec, CardSpec::stand_by());
        let sb_raster = stand_by.render();
        s.card_ready(&stand_by, sb_raster.clone());
        let layers = s.frame(t(40), &program(None), None);
        assert!(layers.iter().any(|l| *l.raster == sb_raster));
        s.set_standby(false);
        s.frame(t(41), &program(None), None);
        s.set_standby(true);
        assert!(s.next_card_job(t(42), &program(None)).is_none(), "stand-by stays ready after use");
        assert!(s.frame(t(42), &program(None), None).iter().any(|l| *l.raster == sb_raster));
        // A job of a replaced scene is dropped.
        let job = {
            let mut fresh = scene(640, 480);
            fresh.next_card_job(t(11), &cues).unwrap()
        };
        s.replace(scene(640, 480));
        s.card_ready(&job, card_raster);
        assert!(s.ready.is_empty());
    }

    #[test]
    fn the_bug_sits_on_the_picture_not_in_the_bars() {
        let mut s = scene(1280, 720);
        let layers = s.frame(t(100), &program(Some(4.0 / 3.0)), None);
        assert_eq!(layers.len(), 1);
        let bug = &layers[0];
        assert!(bug.x + bug.raster.width as i32 <= 160 + 960, "bug at x={} in the right bar", bug.x);
        assert!(bug.x > 900, "bug should be near the picture's right edge, at {}", bug.x);
        // Same frame with 16:9 content: further right.
        let wide = s.frame(t(100), &program(None), None);
        assert!(wide[0].x > bug.x);
        // The same raster (cached) is reused frame after frame.
        let again = s.frame(t(101), &program(Some(4.0 / 3.0)), None);
        assert_eq!(again[0].id, bug.id);
        assert!(Arc::ptr_eq(&again[0].raster, &bug.raster));
    }

    #[test]
    fn the_crawl_moves_without_re_rendering_and_the_slate_covers_all() {
        let mut s = scene(640, 480);
        let a = alert(AlertMode::Crawl);
        let f1 = s.frame(t(101), &program(None), Some(&a));
        let f2 = s.frame(t(102), &program(None), Some(&a));
        let strip1 = &f1[1];
        let strip2 = f2.iter().find(|l| l.id == strip1.id).expect("same strip");
        assert_eq!(strip1.x - strip2.x, 120, "0.25 heights per second");
        assert!(Arc::ptr_eq(&strip1.raster, &strip2.raster));
        // Every frame moves it by the same whole number of pixels: 4 at 480 lines, 29.97 fps
        // (the frame instants carry a little clock jitter).
        let mut frame = |n: i64, jitter_us: i64| {
            let at = t(101) + Duration::microseconds(n * 1_001_000_000 / 30_000 + jitter_us);
            s.frame(at, &program(None), Some(&a)).into_iter().find(|l| l.id == strip1.id).unwrap().x
        };
        let xs: Vec<i32> = (0..90).map(|n| frame(n, [300, -450, 0][n as usize % 3])).collect();
        assert!(xs.windows(2).all(|w| w[0] - w[1] == 4), "steps: {xs:?}");
        // No lower third during a crawl; the bug stays above the band.
        let band = f1.iter().find(|l| l.raster.width == 640).unwrap();
        let bug = f1.iter().find(|l| l.alpha < 1.0).unwrap();
        assert!(bug.y + bug.raster.height as i32 <= band.y);
        let slate = s.frame(t(102), &program(None), Some(&alert(AlertMode::Slate)));
        assert_eq!(slate.len(), 1);
        assert_eq!((slate[0].raster.width, slate[0].raster.height, slate[0].alpha), (640, 480, 1.0));
        assert_eq!(slate[0].raster.opaque_pixels(), 640 * 480);
    }

    #[test]
    fn a_bad_bug_file_falls_back_to_text() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bug.png");
        std::fs::write(&bad, b"GIF89a").unwrap();
        let mut cfg = scene(640, 480).cfg;
        cfg.bug.image = Some(bad);
        let mut s = Scene::new(cfg);
        assert!(!s.has_bug_image());
        let layers = s.frame(t(100), &program(None), None);
        assert!(layers[0].raster.opaque_pixels() > 50);
    }

    #[test]
    fn lower_thirds_render_once_per_text() {
        let mut s = scene(640, 480);
        let f = s.frame(t(3), &program(None), None);
        assert_eq!(f.len(), 2, "bug + rating");
        let lt = f.iter().find(|l| l.alpha == 1.0).unwrap();
        assert!(lt.raster.width > 50 && lt.x >= 32 && lt.y + lt.raster.height as i32 <= 24 + 432);
        let again = s.frame(t(4), &program(None), None);
        assert!(again.iter().any(|l| l.id == lt.id));
    }
}
