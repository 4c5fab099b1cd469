//! Where graphics go (pure): the picture area inside the frame (so a bug sits on a 4:3
//! program, not in its pillarbox bars), the title-safe area, and corner placement.

use super::raster::Rect;
use crate::lineup::Corner;

/// Fraction of the picture kept as title-safe (SMPTE RP 2046-2 uses 90 %).
pub const TITLE_SAFE: f64 = 0.90;

/// The part of a `width` x `height` frame (square pixels) that a source of display aspect
/// `source_dar` fills once scaled with borders (`videoscale add-borders=true`). Unknown
/// aspect: the whole frame.
pub fn picture_area(width: u32, height: u32, source_dar: Option<f64>) -> Rect {
    let full = Rect { x: 0, y: 0, w: width, h: height };
    let Some(dar) = source_dar.filter(|d| d.is_finite() && *d > 0.1 && *d < 10.0) else { return full };
    let frame_dar = width as f64 / height as f64;
    if (dar - frame_dar).abs() < 0.02 {
        full
    } else if dar < frame_dar {
        // Pillarbox: bars left and right.
        let w = ((height as f64 * dar).round() as u32).min(width);
        Rect { x: ((width - w) / 2) as i32, y: 0, w, h: height }
    } else {
        // Letterbox: bars top and bottom.
        let h = ((width as f64 / dar).round() as u32).min(height);
        Rect { x: 0, y: ((height - h) / 2) as i32, w: width, h }
    }
}

/// The centred `fraction` of `area`.
pub fn safe_area(area: Rect, fraction: f64) -> Rect {
    let w = (area.w as f64 * fraction).round() as u32;
    let h = (area.h as f64 * fraction).round() as u32;
    Rect { x: area.x + ((area.w - w) / 2) as i32, y: area.y + ((area.h - h) / 2) as i32, w, h }
}

/// Top-left of a `w` x `h` graphic in `corner` of `area`, `margin` pixels in from its edges.
pub fn in_corner(area: Rect, corner: Corner, w: u32, h: u32, margin: u32) -> (i32, i32) {
    let left = area.x + margin as i32;
    let right = area.x + area.w as i32 - margin as i32 - w as i32;
    let top = area.y + margin as i32;
    let bottom = area.y + area.h as i32 - margin as i32 - h as i32;
    match corner {
        Corner::TopLeft => (left, top),
        Corner::TopRight => (right, top),
        Corner::BottomLeft => (left, bottom),
        Corner::BottomRight => (right, bottom),
    }
}

/// Parse a display aspect such as `"4:3"`, `"16:9"` or `"1.85"`.
pub fn parse_aspect(text: &str) -> Option<f64> {
    if let Some((a, b)) = text.split_once([':', '/']) {
        let (a, b): (f64, f64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        (b > 0.0).then(|| a / b)
    } else {
        text.trim().parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_three_on_sixteen_nine_is_pillarboxed() {
        let p = picture_area(1280, 720, Some(4.0 / 3.0));
        assert_eq!(p, Rect { x: 160, y: 0, w: 960, h: 720 });
        let l = picture_area(640, 480, Some(16.0 / 9.0));
        assert_eq!(l, Rect { x: 0, y: 60, w: 640, h: 360 });
        assert_eq!(picture_area(640, 480, None), Rect { x: 0, y: 0, w: 640, h: 480 });
        assert_eq!(picture_area(640, 480, Some(4.0 / 3.0)), Rect { x: 0, y: 0, w: 640, h: 480 });
    }

    #[test]
    fn corners_sit_inside_the_picture() {
        let p = picture_area(1280, 720, Some(4.0 / 3.0));
        let (x, y) = in_corner(p, Corner::BottomRight, 100, 50, 36);
        assert_eq!((x, y), (160 + 960 - 36 - 100, 720 - 36 - 50));
        assert!(x + 100 <= 1120, "the bug must not reach the right pillarbox bar");
        assert_eq!(in_corner(p, Corner::TopLeft, 10, 10, 5), (165, 5));
        let s = safe_area(Rect { x: 0, y: 0, w: 640, h: 480 }, TITLE_SAFE);
        assert_eq!(s, Rect { x: 32, y: 24, w: 576, h: 432 });
        assert_eq!(parse_aspect("4:3"), Some(4.0 / 3.0));
        assert_eq!(parse_aspect("1.85"), Some(1.85));
        assert_eq!(parse_aspect("x"), None);
    }
}
