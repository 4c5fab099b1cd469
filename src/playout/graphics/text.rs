//! Text to pixels, once per change: lay a line out in one of a few [`Face`]s, rasterise it
//! with `ab_glyph` into a coverage mask, and paint it with an outline for legibility over any
//! picture. Also wraps text into lines for the slate and the cards.
//!
//! Faces: DejaVu Sans Bold is embedded (`assets/fonts`, Bitstream Vera licence, which allows
//! embedding), so text always renders. The era looks of generated cards also use DejaVu Serif
//! Bold and DejaVu Sans Mono Bold, read at first use from the system's DejaVu fonts (Debian
//! `fonts-dejavu-core`: `/usr/share/fonts/truetype/dejavu`; Buildroot `BR2_PACKAGE_DEJAVU`,
//! selected by every defconfig: `/usr/share/fonts/dejavu`) rather than embedded, which would
//! add 0.7 MB to a binary that must stay under 15 MB; a face that is missing falls back to
//! the embedded one (logged once).

use std::sync::OnceLock;

use ab_glyph::{Font, FontArc, PxScale, ScaleFont, point};

use super::raster::{Raster, Rgba};

static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

/// Where distributions install the DejaVu fonts (Debian, then Buildroot).
const FONT_DIRS: [&str; 2] = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu"];

/// A typeface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Face {
    /// DejaVu Sans Bold (embedded).
    #[default]
    SansBold,
    /// DejaVu Serif Bold (system fonts).
    SerifBold,
    /// DejaVu Sans Mono Bold (system fonts).
    MonoBold,
}

impl Face {
    fn file(self) -> Option<&'static str> {
        match self {
            Self::SansBold => None,
            Self::SerifBold => Some("DejaVuSerif-Bold.ttf"),
            Self::MonoBold => Some("DejaVuSansMono-Bold.ttf"),
        }
    }

    /// Whether this face is available as itself (not replaced by the embedded one).
    pub fn is_available(self) -> bool {
        self.file().is_none() || loaded(self).is_some()
    }
}

fn embedded() -> &'static FontArc {
    static FONT: OnceLock<FontArc> = OnceLock::new();
    FONT.get_or_init(|| FontArc::try_from_slice(FONT_BYTES).expect("embedded font parses"))
}

fn loaded(face: Face) -> Option<&'static FontArc> {
    static SERIF: OnceLock<Option<FontArc>> = OnceLock::new();
    static MONO: OnceLock<Option<FontArc>> = OnceLock::new();
    let cell = match face {
        Face::SansBold => return Some(embedded()),
        Face::SerifBold => &SERIF,
        Face::MonoBold => &MONO,
    };
    cell.get_or_init(|| {
        let file = face.file()?;
        let found = FONT_DIRS.iter().find_map(|d| {
            let bytes = std::fs::read(std::path::Path::new(d).join(file)).ok()?;
            FontArc::try_from_vec(bytes).ok()
        });
        if found.is_none() {
            tracing::warn!(font = file, dirs = ?FONT_DIRS, "font not found; cards use DejaVu Sans Bold instead");
        }
        found
    })
    .as_ref()
}

fn font_of(face: Face) -> &'static FontArc {
    loaded(face).unwrap_or_else(embedded)
}

/// How to paint a line of text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextStyle {
    /// Pixel size (roughly the line height).
    pub px: f32,
    /// Fill colour.
    pub color: Rgba,
    /// Outline colour (alpha 0: none).
    pub outline: Rgba,
    /// Outline width in pixels.
    pub outline_px: u32,
    /// Typeface.
    pub face: Face,
    /// Synthetic slant: horizontal shift per pixel of height (0.2 ≈ 11°), 0 for upright.
    pub slant: f32,
}

impl TextStyle {
    /// White text with a dark outline, scaled to `px`.
    pub fn plain(px: f32) -> Self {
        Self {
            px,
            color: Rgba::WHITE,
            outline: Rgba(0, 0, 0, 200),
            outline_px: (px / 14.0).ceil() as u32,
            face: Face::SansBold,
            slant: 0.0,
        }
    }
}

/// Width in pixels of `text` at `px` in the default face.
pub fn measure(text: &str, px: f32) -> f32 {
    measure_in(Face::SansBold, text, px)
}

/// Width in pixels of `text` at `px` in `face`.
pub fn measure_in(face: Face, text: &str, px: f32) -> f32 {
    let f = font_of(face).as_scaled(PxScale::from(px));
    let mut w = 0.0;
    let mut prev = None;
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            w += f.kern(p, id);
        }
        w += f.h_advance(id);
        prev = Some(id);
    }
    w
}

/// Coverage mask (0-255) of `text`, `width` x `height`, baseline at the font's ascent.
fn coverage(face: Face, text: &str, px: f32) -> (u32, u32, Vec<u8>) {
    let scale = PxScale::from(px);
    let font = font_of(face);
    let f = font.as_scaled(scale);
    let width = measure_in(face, text, px).ceil().max(1.0) as u32 + 2;
    let height = (f.ascent() - f.descent()).ceil().max(1.0) as u32 + 2;
    let mut mask = vec![0u8; (width * height) as usize];
    let mut x = 1.0;
    let mut prev = None;
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            x += f.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scale, point(x, 1.0 + f.ascent()));
        x += f.h_advance(id);
        prev = Some(id);
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cov| {
                let px = b.min.x as i32 + gx as i32;
                let py = b.min.y as i32 + gy as i32;
                if px >= 0 && py >= 0 && (px as u32) < width && (py as u32) < height {
                    let i = (py as u32 * width + px as u32) as usize;
                    mask[i] = mask[i].max((cov.clamp(0.0, 1.0) * 255.0) as u8);
                }
            });
        }
    }
    (width, height, mask)
}

/// `mask` (`w` x `h`) sheared right by `slant` pixels per pixel of height above its bottom
/// (a synthetic oblique), linearly interpolated, widened to fit.
fn slanted(w: u32, h: u32, mask: Vec<u8>, slant: f32) -> (u32, u32, Vec<u8>) {
    if slant <= 0.0 {
        return (w, h, mask);
    }
    let extra = (slant * h as f32).ceil() as u32;
    let nw = w + extra;
    let mut out = vec![0u8; (nw * h) as usize];
    for y in 0..h {
        let shift = slant * (h - 1 - y) as f32;
        let (whole, frac) = (shift.floor() as u32, shift.fract());
        for x in 0..w {
            let c = f32::from(mask[(y * w + x) as usize]);
            if c == 0.0 {
                continue;
            }
            let i = (y * nw + x + whole) as usize;
            out[i] = (f32::from(out[i]) + c * (1.0 - frac)).min(255.0) as u8;
            if frac > 0.0 {
                out[i + 1] = (f32::from(out[i + 1]) + c * frac).min(255.0) as u8;
            }
        }
    }
    (nw, h, out)
}

/// One line of text as a raster sized to fit it (plus its outline).
pub fn render_line(text: &str, style: TextStyle) -> Raster {
    let (w, h, mask) = coverage(style.face, text, style.px);
    let (w, h, mask) = slanted(w, h, mask, style.slant);
    let o = if style.outline.3 > 0 { style.outline_px } else { 0 };
    let mut out = Raster::new(w + 2 * o, h + 2 * o);
    if o > 0 {
        // Outline: the mask dilated by `o` pixels (square kernel), drawn first.
        let r = o as i32;
        for y in 0..h as i32 {
            for x in 0..w as i32 {
                let cov = mask[(y as u32 * w + x as u32) as usize];
                if cov == 0 {
                    continue;
                }
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (tx, ty) = (x + dx + r, y + dy + r);
                        let i = ((ty as u32 * out.width + tx as u32) * 4 + 3) as usize;
                        if cov > out.data[i] {
                            let base = i - 3;
                            out.data[base..base + 3].copy_from_slice(&[
                                style.outline.2,
                                style.outline.1,
                                style.outline.0,
                            ]);
                            out.data[i] = cov;
                        }
                    }
                }
            }
        }
        for a in out.data.iter_mut().skip(3).step_by(4) {
            *a = (u32::from(*a) * u32::from(style.outline.3) / 255) as u8;
        }
    }
    for y in 0..h {
        for x in 0..w {
            let cov = mask[(y * w + x) as usize];
            if cov > 0 {
                out.blend_pixel((x + o) as i32, (y + o) as i32, style.color, cov);
            }
        }
    }
    out
}

/// Split `text` into lines no wider than `max_width` at `px` (words longer than a line are
/// cut), at most `max_lines` (the last ends with "…" when text was dropped).
pub fn wrap(text: &str, px: f32, max_width: f32, max_lines: usize) -> Vec<String> {
    wrap_in(Face::SansBold, text, px, max_width, max_lines)
}

/// The longest start of `text` no wider than `max_width` at `px` in `face`, cut at a
/// character like a printed listing does (no ellipsis); trailing spaces dropped.
pub fn truncate_in(face: Face, text: &str, px: f32, max_width: f32) -> String {
    if measure_in(face, text, px) <= max_width {
        return text.to_owned();
    }
    let mut out = String::new();
    for c in text.chars() {
        out.push(c);
        if measure_in(face, &out, px) > max_width {
            out.pop();
            break;
        }
    }
    out.trim_end().to_owned()
}

/// [`wrap`] in `face`.
pub fn wrap_in(face: Face, text: &str, px: f32, max_width: f32, max_lines: usize) -> Vec<String> {
    let measure = |t: &str, px: f32| measure_in(face, t, px);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let candidate = if current.is_empty() { word.to_owned() } else { format!("{current} {word}") };
        if measure(&candidate, px) <= max_width {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        // A single word wider than a line: cut it.
        let mut piece = String::new();
        for c in word.chars() {
            piece.push(c);
            if measure(&piece, px) > max_width && piece.chars().count() > 1 {
                let last = piece.pop().expect("non-empty");
                lines.push(std::mem::take(&mut piece));
                piece.push(last);
            }
        }
        current = piece;
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            while !last.is_empty() && measure(&format!("{last}…"), px) > max_width {
                last.pop();
            }
            last.push('…');
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_renders_with_ink_proportional_to_length() {
        let a = render_line("TV-PG", TextStyle::plain(32.0));
        let b = render_line("TV-PG TV-PG", TextStyle::plain(32.0));
        assert!(a.height >= 32 && a.height < 60, "{a:?}");
        assert!(b.width > a.width * 3 / 2, "{a:?} {b:?}");
        assert!(a.opaque_pixels() > 300, "{}", a.opaque_pixels());
        // The outline is dark, the fill white: both present.
        let mut white = 0;
        let mut dark = 0;
        for y in 0..a.height {
            for x in 0..a.width {
                let p = a.pixel(x, y);
                if p.3 > 200 && p.0 > 240 {
                    white += 1;
                } else if p.3 > 100 && p.0 < 30 {
                    dark += 1;
                }
            }
        }
        assert!(white > 100 && dark > 100, "white {white} dark {dark}");
        assert_eq!(render_line("", TextStyle::plain(20.0)).opaque_pixels(), 0);
    }

    #[test]
    fn wrapping_respects_width_and_line_count() {
        let text = "The National Weather Service has issued a tornado warning for the following counties";
        let lines = wrap(text, 24.0, 300.0, 10);
        assert!(lines.len() >= 3, "{lines:?}");
        assert!(lines.iter().all(|l| measure(l, 24.0) <= 300.0), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        let short = wrap(text, 24.0, 300.0, 2);
        assert_eq!(short.len(), 2);
        assert!(short[1].ends_with('…'));
        let long = wrap(&"W".repeat(100), 24.0, 200.0, 20);
        assert!(long.len() > 5 && long.iter().all(|l| measure(l, 24.0) <= 200.0), "{long:?}");
    }
}
