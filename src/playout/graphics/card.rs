//! Generated cards (pure): a [`CardSpec`] drawn full screen in a channel's era look — the
//! bumpers the scheduler makes when the library has none ("We'll be right back", "Now back
//! to ...", "Coming up next"), sign-off and sign-on, the test cards of off-air hours (SMPTE
//! colour bars; a classic card with the call sign and the time) and "Please stand by".
//! Rendered once per card (test cards once a minute, for the time) into an opaque raster that
//! the overlay only places on frames inside the card's slot.

use super::layout::{self, TITLE_SAFE};
use super::raster::{Raster, Rect, Rgba};
use super::text::{self, Face, TextStyle};
use crate::lineup::CardEra;
use crate::schedule::card::{CardSpec, CardTemplate};

/// Who the card is for.
#[derive(Debug, Clone, PartialEq)]
pub struct CardLook {
    /// Decade look.
    pub era: CardEra,
    /// Call sign (or, without one, the channel's name).
    pub call_sign: String,
    /// The channel's logo (its bug image), drawn above the texts when present.
    pub logo: Option<Raster>,
}

/// The palette and type of an era.
struct Theme {
    face: Face,
    slant: f32,
    /// Headline colour and the others'.
    main: Rgba,
    second: Rgba,
    outline: Rgba,
    /// Left-aligned layout (1990s) instead of centred.
    left: bool,
}

fn theme(era: CardEra) -> Theme {
    match era {
        CardEra::Seventies => Theme {
            face: Face::SerifBold,
            slant: 0.0,
            main: Rgba(255, 236, 190, 255),
            second: Rgba(255, 196, 90, 255),
            outline: Rgba(60, 25, 5, 230),
            left: false,
        },
        CardEra::Eighties => Theme {
            face: Face::SansBold,
            slant: 0.22,
            main: Rgba(80, 250, 255, 255),
            second: Rgba(255, 90, 220, 255),
            outline: Rgba(20, 0, 60, 230),
            left: false,
        },
        CardEra::Nineties => Theme {
            face: Face::MonoBold,
            slant: 0.0,
            main: Rgba(255, 255, 255, 255),
            second: Rgba(255, 230, 0, 255),
            outline: Rgba(0, 0, 0, 220),
            left: true,
        },
    }
}

/// The card `spec` for `look`, `w` x `h`; `clock` is the time a test card shows ("2:34 AM").
pub fn render(spec: &CardSpec, look: &CardLook, w: u32, h: u32, clock: &str) -> Raster {
    match spec.template {
        CardTemplate::TestBars => bars(look, w, h),
        CardTemplate::TestClassic => classic(look, w, h, clock),
        _ => styled(spec, look, w, h),
    }
}

fn background(era: CardEra, w: u32, h: u32) -> Raster {
    let mut r = Raster::filled(w, h, Rgba::BLACK);
    match era {
        CardEra::Seventies => {
            // Warm vertical gradient with the decade's stripes.
            gradient(&mut r, Rgba(70, 35, 10, 255), Rgba(150, 70, 20, 255));
            let band = (h / 40).max(2);
            let y0 = (h as f64 * 0.80) as i32;
            for (i, c) in
                [Rgba(230, 120, 30, 255), Rgba(245, 170, 40, 255), Rgba(250, 215, 90, 255), Rgba(190, 60, 20, 255)]
                    .iter()
                    .enumerate()
            {
                r.fill(Rect { x: 0, y: y0 + (i as u32 * band) as i32, w, h: band }, *c);
            }
        }
        CardEra::Eighties => {
            gradient(&mut r, Rgba(5, 0, 30, 255), Rgba(40, 0, 70, 255));
            // A perspective grid on the lower third: horizontal lines closer toward the
            // horizon, rays from the vanishing point.
            let horizon = (h as f64 * 0.68) as i32;
            let grid = Rgba(255, 40, 200, 255);
            let mut y = h as f64;
            let mut step = h as f64 / 12.0;
            // The steps shrink toward the horizon; stop when lines would touch (a geometric
            // series never reaches it).
            while y > horizon as f64 && step >= 2.0 {
                r.fill(Rect { x: 0, y: y as i32, w, h: 2 }, grid);
                y -= step;
                step *= 0.72;
            }
            let cx = w as f64 / 2.0;
            for k in -8i32..=8 {
                let bottom_x = cx + k as f64 * w as f64 / 6.0;
                let steps = (h as i32 - horizon).max(1);
                for s in 0..steps {
                    let t = s as f64 / steps as f64;
                    let x = (cx + (bottom_x - cx) * t) as i64;
                    for dx in x..x + 2 {
                        if (0..i64::from(w)).contains(&dx) {
                            r.set(dx as u32, (horizon + s) as u32, grid);
                        }
                    }
                }
            }
            r.fill(Rect { x: 0, y: horizon - 1, w, h: 2 }, Rgba(80, 250, 255, 255));
        }
        CardEra::Nineties => {
            // Diagonal teal-to-purple.
            // In 4-pixel steps: the gradient is smooth enough, and rendered in a tenth the time.
            for y in 0..h {
                for x in (0..w).step_by(4) {
                    let t = (x as f64 / w as f64 * 0.6 + y as f64 / h as f64 * 0.4).clamp(0.0, 1.0);
                    let c = mix(Rgba(0, 128, 128, 255), Rgba(90, 20, 120, 255), t);
                    for dx in x..(x + 4).min(w) {
                        r.set(dx, y, c);
                    }
                }
            }
            let bar = (h / 60).max(3);
            r.fill(Rect { x: 0, y: (h / 6) as i32, w, h: bar }, Rgba(255, 230, 0, 255));
        }
    }
    r
}

fn mix(a: Rgba, b: Rgba, t: f64) -> Rgba {
    let m = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * t).round() as u8;
    Rgba(m(a.0, b.0), m(a.1, b.1), m(a.2, b.2), 255)
}

fn gradient(r: &mut Raster, top: Rgba, bottom: Rgba) {
    let h = r.height;
    for y in 0..h {
        let c = mix(top, bottom, y as f64 / h.max(1) as f64);
        r.fill(Rect { x: 0, y: y as i32, w: r.width, h: 1 }, c);
    }
}

/// Which line of a template is the big one.
fn emphasis(t: CardTemplate) -> usize {
    match t {
        CardTemplate::BreakIn | CardTemplate::ComingUp | CardTemplate::SignOff => 1,
        _ => 0,
    }
}

/// The call sign (or logo) block at the top of a card.
fn brand(look: &CardLook, th: &Theme, px: f32) -> Raster {
    if let Some(logo) = &look.logo {
        let lh = (px * 1.6).round().max(8.0) as u32;
        let lw = ((lh as f64 * logo.width as f64 / logo.height.max(1) as f64).round() as u32).max(1);
        return logo.scaled(lw, lh);
    }
    let t = text::render_line(
        &look.call_sign,
        TextStyle { color: th.second, outline: th.outline, face: th.face, slant: th.slant, ..TextStyle::plain(px) },
    );
    let pad = (px * 0.3) as u32;
    let mut b = Raster::filled(t.width + 2 * pad, t.height + pad, Rgba(0, 0, 0, 150));
    b.draw(&t, pad as i32, (pad / 2) as i32);
    b
}

fn styled(spec: &CardSpec, look: &CardLook, w: u32, h: u32) -> Raster {
    let th = theme(look.era);
    let mut r = background(look.era, w, h);
    let safe = layout::safe_area(Rect { x: 0, y: 0, w, h }, TITLE_SAFE);
    let big = h as f32 / 8.5;
    let brand = brand(look, &th, h as f32 / 16.0);
    let (bx, by) = if th.left { (safe.x, safe.y) } else { (safe.x + (safe.w as i32 - brand.width as i32) / 2, safe.y) };
    r.draw(&brand, bx, by);
    // Lines: the emphasised one big in the main colour, the others smaller in the second.
    let emph = emphasis(spec.template).min(spec.lines.len().saturating_sub(1));
    let mut rendered = Vec::new();
    for (i, line) in spec.lines.iter().enumerate() {
        let px = if i == emph { big } else { big * 0.5 };
        let color = if i == emph { th.main } else { th.second };
        let style = TextStyle { color, outline: th.outline, face: th.face, slant: th.slant, ..TextStyle::plain(px) };
        // Fit the safe width: wrap long titles over two lines, then shrink.
        for part in text::wrap_in(th.face, line, px, safe.w as f32 * 0.92, 2) {
            rendered.push(text::render_line(&part, style));
        }
    }
    let gap = (h as f32 * 0.02) as i32;
    let total: i32 = rendered.iter().map(|t| t.height as i32 + gap).sum::<i32>() - gap;
    let top = by + brand.height as i32;
    let room = safe.y + safe.h as i32 - top;
    let mut y = top + ((room - total) / 2).max(gap);
    for (i, t) in rendered.iter().enumerate() {
        let x = if th.left {
            // 1990s: white boxes off to the left.
            let pad = (h / 60) as i32;
            r.fill(
                Rect { x: safe.x - pad, y: y - pad / 2, w: t.width + 2 * pad as u32, h: t.height + pad as u32 },
                if i == emph { Rgba(20, 20, 20, 255) } else { Rgba(40, 0, 60, 255) },
            );
            safe.x
        } else {
            safe.x + (safe.w as i32 - t.width as i32) / 2
        };
        if !th.left && look.era == CardEra::Seventies && i == emph {
            // 1970s: rules above and below the headline.
            let rule = Rgba(255, 196, 90, 255);
            let rw = (t.width + 40).min(safe.w);
            let rx = safe.x + (safe.w as i32 - rw as i32) / 2;
            r.fill(Rect { x: rx, y: y - gap / 2 - 2, w: rw, h: 3 }, rule);
            r.fill(Rect { x: rx, y: y + t.height as i32 + gap / 2, w: rw, h: 3 }, rule);
        }
        r.draw(t, x, y);
        y += t.height as i32 + gap;
    }
    r
}

/// SMPTE colour bars (EG 1 layout: seven 75 % bars, the reverse blue bars, then −I, white,
/// +Q and the PLUGE), with the call sign in a box as stations put it there.
fn bars(look: &CardLook, w: u32, h: u32) -> Raster {
    let mut r = Raster::filled(w, h, Rgba::BLACK);
    let top = [
        Rgba(191, 191, 191, 255),
        Rgba(191, 191, 0, 255),
        Rgba(0, 191, 191, 255),
        Rgba(0, 191, 0, 255),
        Rgba(191, 0, 191, 255),
        Rgba(191, 0, 0, 255),
        Rgba(0, 0, 191, 255),
    ];
    let mid = [
        Rgba(0, 0, 191, 255),
        Rgba(19, 19, 19, 255),
        Rgba(191, 0, 191, 255),
        Rgba(19, 19, 19, 255),
        Rgba(0, 191, 191, 255),
        Rgba(19, 19, 19, 255),
        Rgba(191, 191, 191, 255),
    ];
    let h1 = h * 2 / 3;
    let h2 = h / 12;
    let col = |i: u32| (i * w / 7) as i32;
    for i in 0..7u32 {
        let x = col(i);
        let cw = (col(i + 1) - x) as u32;
        r.fill(Rect { x, y: 0, w: cw, h: h1 }, top[i as usize]);
        r.fill(Rect { x, y: h1 as i32, w: cw, h: h2 }, mid[i as usize]);
    }
    let y3 = (h1 + h2) as i32;
    let h3 = h - h1 - h2;
    let quarter = |k: u32| (k * w * 5 / 28) as i32;
    r.fill(Rect { x: 0, y: y3, w: quarter(1) as u32, h: h3 }, Rgba(0, 33, 76, 255));
    r.fill(Rect { x: quarter(1), y: y3, w: (quarter(2) - quarter(1)) as u32, h: h3 }, Rgba::WHITE);
    r.fill(Rect { x: quarter(2), y: y3, w: (quarter(3) - quarter(2)) as u32, h: h3 }, Rgba(50, 0, 106, 255));
    r.fill(Rect { x: quarter(3), y: y3, w: w - quarter(3) as u32, h: h3 }, Rgba(19, 19, 19, 255));
    // PLUGE under the red bar: below black, black, above black.
    let px = col(5);
    let pw = ((col(6) - px) / 3) as u32;
    r.fill(Rect { x: px, y: y3, w: pw, h: h3 }, Rgba(9, 9, 9, 255));
    r.fill(Rect { x: px + 2 * pw as i32, y: y3, w: pw, h: h3 }, Rgba(29, 29, 29, 255));
    // The station's identification.
    let px = h as f32 / 9.0;
    let t = text::render_line(&look.call_sign, TextStyle { outline: Rgba(0, 0, 0, 0), ..TextStyle::plain(px) });
    let pad = (px * 0.35) as u32;
    let bw = t.width + 2 * pad;
    let bh = t.height + pad;
    let bx = (w as i32 - bw as i32) / 2;
    let by = (h1 as i32 - bh as i32) / 2;
    r.fill(Rect { x: bx, y: by, w: bw, h: bh }, Rgba::BLACK);
    r.draw(&t, bx + pad as i32, by + (pad / 2) as i32);
    r
}

/// A classic test card: grey field with a crosshatch, a large circle, a grey-scale wedge, the
/// call sign and the time.
fn classic(look: &CardLook, w: u32, h: u32, clock: &str) -> Raster {
    let mut r = Raster::filled(w, h, Rgba(128, 128, 128, 255));
    let cell = (h / 12).max(4);
    let line = Rgba(235, 235, 235, 255);
    let mut x = (w % cell) / 2;
    while x < w {
        r.fill(Rect { x: x as i32, y: 0, w: 2, h }, line);
        x += cell;
    }
    let mut y = (h % cell) / 2;
    while y < h {
        r.fill(Rect { x: 0, y: y as i32, w, h: 2 }, line);
        y += cell;
    }
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let radius = h as f64 * 0.42;
    // The circle: black ring, darker inside.
    for py in 0..h {
        for px in 0..w {
            let d = ((px as f64 + 0.5 - cx).powi(2) + (py as f64 + 0.5 - cy).powi(2)).sqrt();
            if d <= radius {
                let c = if d >= radius - (h as f64 * 0.012).max(2.0) {
                    Rgba(10, 10, 10, 255)
                } else {
                    Rgba(70, 70, 70, 255)
                };
                r.fill(Rect { x: px as i32, y: py as i32, w: 1, h: 1 }, c);
            }
        }
    }
    // Grey scale wedge across the middle of the circle.
    let ww = (radius * 1.5) as u32;
    let wx = (cx - ww as f64 / 2.0) as i32;
    let wh = (h / 10).max(4);
    let wy = (cy - wh as f64 * 1.6) as i32;
    for k in 0..6u32 {
        let v = (k * 255 / 5) as u8;
        r.fill(Rect { x: wx + (k * ww / 6) as i32, y: wy, w: ww / 6 + 1, h: wh }, Rgba(v, v, v, 255));
    }
    // Call sign and time in black boxes below.
    let px = h as f32 / 11.0;
    let mut yb = (cy + wh as f64 * 0.2) as i32;
    for (s, size) in [(look.call_sign.as_str(), px), (clock, px * 0.8)] {
        let t = text::render_line(s, TextStyle { outline: Rgba(0, 0, 0, 0), ..TextStyle::plain(size) });
        let pad = (size * 0.3) as u32;
        let bw = t.width + 2 * pad;
        let bx = (w as i32 - bw as i32) / 2;
        r.fill(Rect { x: bx, y: yb, w: bw, h: t.height + pad }, Rgba::BLACK);
        r.draw(&t, bx + pad as i32, yb + (pad / 2) as i32);
        yb += (t.height + pad) as i32 + (h / 60) as i32;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(era: CardEra) -> CardLook {
        CardLook { era, call_sign: "RTV".into(), logo: None }
    }

    #[test]
    fn every_era_renders_an_opaque_card_with_its_own_look() {
        let spec = CardSpec::break_in("Cheers");
        let mut seen = Vec::new();
        for era in [CardEra::Seventies, CardEra::Eighties, CardEra::Nineties] {
            let r = render(&spec, &look(era), 640, 480, "");
            assert_eq!((r.width, r.height), (640, 480));
            assert_eq!(r.opaque_pixels(), 640 * 480, "{era:?} must cover the frame");
            // Text is there: many bright pixels in the middle band (above the 1980s horizon
            // line; its cyan headline sums to 585).
            let bright = (150..320)
                .flat_map(|y| (0..640).map(move |x| (x, y)))
                .filter(|&(x, y)| {
                    let p = r.pixel(x, y);
                    u32::from(p.0) + u32::from(p.1) + u32::from(p.2) > 550
                })
                .count();
            assert!(bright > 2000, "{era:?}: {bright} bright pixels");
            seen.push(r.pixel(5, 5));
        }
        assert!(seen[0] != seen[1] && seen[1] != seen[2], "{seen:?}");
    }

    #[test]
    fn colour_bars_are_the_smpte_bars() {
        let r = render(&CardSpec::test_card(CardTemplate::TestBars), &look(CardEra::Eighties), 700, 480, "");
        // Top row, left to right: grey, yellow, cyan, green, magenta, red, blue (75 %).
        let xs = [20, 120, 220, 320, 420, 520, 620];
        let want =
            [(191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0), (0, 0, 191)];
        for (x, c) in xs.iter().zip(want) {
            let p = r.pixel(*x, 10);
            assert_eq!((p.0, p.1, p.2), c, "bar at x={x}");
        }
    }

    #[test]
    fn the_classic_card_changes_with_the_time_only() {
        let l = look(CardEra::Seventies);
        let spec = CardSpec::test_card(CardTemplate::TestClassic);
        let a = render(&spec, &l, 640, 480, "2:34 AM");
        let b = render(&spec, &l, 640, 480, "2:35 AM");
        assert_ne!(a, b);
        let diff = a.data.chunks(4).zip(b.data.chunks(4)).filter(|(p, q)| p != q).count();
        assert!(diff < 640 * 480 / 20, "{diff} pixels changed");
    }
}
