//! Text to pixels, once per change: lay a line out with the embedded DejaVu Sans Bold
//! (`assets/fonts`, Bitstream Vera licence, which allows embedding), rasterise it with
//! `ab_glyph` into a coverage mask, and paint it with an outline for legibility over any
//! picture. Also wraps text into lines for the slate.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};

use super::raster::{Raster, Rgba};

static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).expect("embedded font parses"))
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
}

impl TextStyle {
    /// White text with a dark outline, scaled to `px`.
    pub fn plain(px: f32) -> Self {
        Self { px, color: Rgba::WHITE, outline: Rgba(0, 0, 0, 200), outline_px: (px / 14.0).ceil() as u32 }
    }
}

/// Width in pixels of `text` at `px`.
pub fn measure(text: &str, px: f32) -> f32 {
    let f = font().as_scaled(PxScale::from(px));
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
fn coverage(text: &str, px: f32) -> (u32, u32, Vec<u8>) {
    let scale = PxScale::from(px);
    let f = font().as_scaled(scale);
    let width = measure(text, px).ceil().max(1.0) as u32 + 2;
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
        if let Some(outline) = font().outline_glyph(glyph) {
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

/// One line of text as a raster sized to fit it (plus its outline).
pub fn render_line(text: &str, style: TextStyle) -> Raster {
    let (w, h, mask) = coverage(text, style.px);
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
