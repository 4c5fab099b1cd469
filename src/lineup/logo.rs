//! A channel's guide logo: the image file the user configured, or — for a channel without one
//! — a generated card, the channel's call sign in white (or black, on a light colour) centred
//! on the channel's colour, as a PNG. Guides without a logo show a generic icon for every
//! channel (Kodi's IPTV Simple does with an empty `tvg-logo`), so every channel gets one.
//!
//! [`url_path`] is the one place the logo URL is spelled: the M3U `tvg-logo`, the XMLTV
//! channel `<icon>` and the route that serves it (`guide::http`) all use it. Pure: text in,
//! PNG bytes out (`ab_glyph` rasterises the embedded DejaVu Sans Bold, `png` encodes).

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};

use super::Channel;

/// Size of a generated logo (square: Plex, Kodi and Jellyfin all fit logos into a square box).
pub const LOGO_SIZE: u32 = 256;

/// DejaVu Sans Bold (`assets/fonts`, Bitstream Vera licence, which allows embedding).
pub static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).expect("embedded font parses"))
}

/// Colours a channel without one of its own gets, picked by its id: saturated, era-typical
/// network colours, each dark enough for white text.
const PALETTE: [(u8, u8, u8); 10] = [
    (0xB0, 0x1E, 0x23), // red
    (0x1F, 0x4E, 0x9C), // blue
    (0x1B, 0x7A, 0x3E), // green
    (0x6A, 0x2C, 0x8E), // purple
    (0xA8, 0x4A, 0x00), // orange
    (0x0E, 0x6E, 0x7A), // teal
    (0x8A, 0x1C, 0x5B), // magenta
    (0x37, 0x41, 0x4F), // slate
    (0x7A, 0x4A, 0x12), // brown
    (0x23, 0x2F, 0x86), // indigo
];

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Parse `#rrggbb` (or `rrggbb`).
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.trim().strip_prefix('#').unwrap_or(s.trim());
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Self(byte(0)?, byte(2)?, byte(4)?))
    }

    /// Relative luminance (WCAG), 0.0 black to 1.0 white.
    fn luminance(self) -> f32 {
        let lin = |c: u8| {
            let c = f32::from(c) / 255.0;
            if c <= 0.040_45 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * lin(self.0) + 0.7152 * lin(self.1) + 0.0722 * lin(self.2)
    }

    /// White or black, whichever contrasts more with this colour.
    pub fn text_colour(self) -> Self {
        // Contrast with white = 1.05 / (L + 0.05), with black = (L + 0.05) / 0.05.
        let l = self.luminance();
        if 1.05 / (l + 0.05) >= (l + 0.05) / 0.05 { Self(255, 255, 255) } else { Self(0, 0, 0) }
    }
}

/// The colour of a channel: its own (`settings.colour`), else one from the palette by id.
pub fn colour(channel: &Channel) -> Rgb {
    channel.settings.colour.as_deref().and_then(Rgb::parse).unwrap_or_else(|| {
        let (r, g, b) = PALETTE[channel.id.0.rem_euclid(PALETTE.len() as i64) as usize];
        Rgb(r, g, b)
    })
}

/// The text of a generated logo: the call sign, else the initials of the name (up to four
/// letters or digits), else the channel number.
pub fn logo_text(channel: &Channel) -> String {
    let call = channel.call_sign.trim();
    if !call.is_empty() {
        return call.to_owned();
    }
    let initials: String = channel
        .name
        .split_whitespace()
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .flat_map(char::to_uppercase)
        .take(4)
        .collect();
    if initials.is_empty() { channel.number.to_string() } else { initials }
}

/// The URL path of a channel's logo (served by `guide::http`): the configured file keeps its
/// extension, a generated logo is a PNG.
pub fn url_path(channel: &Channel) -> String {
    let ext = channel
        .logo
        .as_ref()
        .and_then(|l| l.extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .filter(|e| !e.is_empty() && e.len() <= 5 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "png".to_owned());
    format!("/logos/{}.{ext}", channel.id)
}

/// Render the generated logo of `channel` as PNG bytes.
pub fn render(channel: &Channel) -> Vec<u8> {
    render_card(&logo_text(channel), colour(channel), LOGO_SIZE)
}

/// `text` centred on a `size` x `size` card of colour `bg`, as PNG bytes.
pub fn render_card(text: &str, bg: Rgb, size: u32) -> Vec<u8> {
    let mut rgb = Vec::with_capacity((size * size * 3) as usize);
    for _ in 0..size * size {
        rgb.extend_from_slice(&[bg.0, bg.1, bg.2]);
    }
    let fg = bg.text_colour();
    // Fit the text into 80% of the width and 40% of the height.
    let (max_w, max_h) = (size as f32 * 0.8, size as f32 * 0.4);
    let probe = 100.0;
    let (w, h) = text_extent(text, probe);
    let px = if w > 0.0 && h > 0.0 { probe * (max_w / w).min(max_h / h) } else { probe };
    let (w, h) = text_extent(text, px);
    let scale = PxScale::from(px);
    let f = font().as_scaled(scale);
    let x0 = (size as f32 - w) / 2.0;
    let baseline = (size as f32 - h) / 2.0 + f.ascent();
    let mut x = x0;
    let mut prev = None;
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            x += f.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scale, point(x, baseline));
        x += f.h_advance(id);
        prev = Some(id);
        let Some(outline) = font().outline_glyph(glyph) else { continue };
        let b = outline.px_bounds();
        outline.draw(|gx, gy, cov| {
            let (px, py) = (b.min.x as i64 + i64::from(gx), b.min.y as i64 + i64::from(gy));
            if px < 0 || py < 0 || px >= i64::from(size) || py >= i64::from(size) {
                return;
            }
            let i = ((py as u32 * size + px as u32) * 3) as usize;
            let a = cov.clamp(0.0, 1.0);
            for (k, c) in [fg.0, fg.1, fg.2].into_iter().enumerate() {
                let under = f32::from(rgb[i + k]);
                rgb[i + k] = (under + (f32::from(c) - under) * a).round() as u8;
            }
        });
    }
    encode_png(size, size, &rgb)
}

/// Width and height (ascent to descent) of `text` at `px`.
fn text_extent(text: &str, px: f32) -> (f32, f32) {
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
    (w, f.ascent() - f.descent())
}

fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // Writing into a Vec cannot fail, and the buffer is exactly width * height * 3.
    let mut w = enc.write_header().expect("PNG header into memory");
    w.write_image_data(rgb).expect("PNG data into memory");
    w.finish().expect("PNG end into memory");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineup::{ChannelId, ChannelSettings};

    fn channel(id: i64, call: &str, name: &str, colour: Option<&str>) -> Channel {
        Channel {
            id: ChannelId(id),
            number: "3".parse().unwrap(),
            name: name.into(),
            call_sign: call.into(),
            xmltv_id: format!("retrovue.ch{id}"),
            logo: None,
            settings: ChannelSettings { colour: colour.map(str::to_owned), ..Default::default() },
            enabled: true,
        }
    }

    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let dec = png::Decoder::new(png_bytes);
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn a_generated_logo_is_the_call_sign_on_the_channel_colour() {
        let c = channel(3, "RRTV", "Retro Robots TV", Some("#1f4e9c"));
        let (w, h, px) = decode(&render(&c));
        assert_eq!((w, h), (LOGO_SIZE, LOGO_SIZE));
        let at = |x: u32, y: u32| {
            let i = ((y * w + x) * 3) as usize;
            (px[i], px[i + 1], px[i + 2])
        };
        // Corners are the channel colour; the middle band holds white text.
        assert_eq!(at(0, 0), (0x1f, 0x4e, 0x9c));
        assert_eq!(at(w - 1, h - 1), (0x1f, 0x4e, 0x9c));
        let white =
            (0..w).flat_map(|x| (h / 3..2 * h / 3).map(move |y| (x, y))).filter(|&(x, y)| at(x, y) == (255, 255, 255));
        let white: Vec<(u32, u32)> = white.collect();
        assert!(white.len() > 1000, "text pixels: {}", white.len());
        // The text is centred and fills most of the width.
        let (min_x, max_x) = (white.iter().map(|p| p.0).min().unwrap(), white.iter().map(|p| p.0).max().unwrap());
        assert!(min_x > 10 && max_x < w - 10, "{min_x}..{max_x}");
        assert!(max_x - min_x > w / 2, "{min_x}..{max_x}");
        assert!((i64::from(min_x) + i64::from(max_x) - i64::from(w)).abs() <= 8, "centred: {min_x}..{max_x}");
        // Nothing outside the middle band but the colour.
        assert!((0..w).all(|x| at(x, 10) == (0x1f, 0x4e, 0x9c)));
    }

    #[test]
    fn text_and_colour_fall_back_sensibly() {
        assert_eq!(logo_text(&channel(1, "", "Sitcom gold 80s", None)), "SG8");
        assert_eq!(logo_text(&channel(1, " KTV ", "x", None)), "KTV");
        assert_eq!(logo_text(&channel(1, "", "  ", None)), "3");
        assert_eq!(colour(&channel(2, "", "x", Some("bogus"))), colour(&channel(2, "", "x", None)));
        assert_ne!(colour(&channel(1, "", "x", None)), colour(&channel(2, "", "x", None)));
        assert_eq!(Rgb(0xff, 0xee, 0x00).text_colour(), Rgb(0, 0, 0), "black on yellow");
        assert_eq!(Rgb(0x1f, 0x4e, 0x9c).text_colour(), Rgb(255, 255, 255));
        for (r, g, b) in PALETTE {
            assert_eq!(Rgb(r, g, b).text_colour(), Rgb(255, 255, 255), "palette colours carry white text");
        }
        let mut c = channel(7, "", "x", None);
        assert_eq!(url_path(&c), "/logos/7.png");
        c.logo = Some("/srv/a.JPG".into());
        assert_eq!(url_path(&c), "/logos/7.jpg");
    }
}
