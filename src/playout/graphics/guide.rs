//! The guide channel's picture (pure): a preview window and an information panel on top, a
//! band with the half-hour columns, and below it a grid of every channel — number and call
//! sign, then what is on now and over the next 90 minutes, titles cut to their cells like a
//! printed listing — that scrolls up through all channels and starts again.
//!
//! Cost on a Pi decides the design, as for the rest of the graphics: each row is rendered
//! once (again when the half hour or the schedule changes), the panel once a minute (its
//! clock); per frame the rows are only moved up by a whole number of pixels, a row at a time
//! with a pause between (a still grid is also what the encoder finds cheapest). Rows slide
//! under the band (which is at least a row tall and drawn above them), so no row ever shows
//! over the preview window, which the overlay leaves transparent for the picture the
//! compositor places there ([`GuideLayout::preview`]).

use chrono::{DateTime, Duration, Timelike, Utc};

use super::raster::{Raster, Rect, Rgba};
use super::text::{self, TextStyle};

/// One programme as the guide lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuideSlot {
    /// Start.
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
    /// Title.
    pub title: String,
}

/// One channel's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuideRow {
    /// Channel number.
    pub number: String,
    /// Call sign (or name).
    pub call_sign: String,
    /// Its programmes around now, by start.
    pub programs: Vec<GuideSlot>,
}

/// What the guide lists: every channel in number order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuideData {
    /// Rows.
    pub rows: Vec<GuideRow>,
}

/// How long the grid looks ahead: now (its half hour) and the next 90 minutes.
pub const SPAN: Duration = Duration::minutes(90);
const COLUMN: Duration = Duration::minutes(30);

/// Where the parts of the guide go in a `width` x `height` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuideLayout {
    /// The preview window (the compositor scales the preview clips into it).
    pub preview: Rect,
    /// The information panel beside it.
    pub info: Rect,
    /// The half-hour columns band.
    pub band: Rect,
    /// The scrolling grid.
    pub grid: Rect,
    /// Height of one row (at most the band's height).
    pub row_h: u32,
    /// Width of the number / call sign column.
    pub label_w: u32,
}

/// The guide's layout for a frame.
pub fn layout(width: u32, height: u32) -> GuideLayout {
    let top_h = height * 9 / 20;
    // The preview keeps the frame's own shape (items were scaled to it).
    let margin = height / 40;
    let ph = top_h - 2 * margin;
    let pw = (ph as u64 * width as u64 / height as u64) as u32;
    let preview = Rect { x: margin as i32, y: margin as i32, w: pw & !1, h: ph & !1 };
    let info_x = preview.x + preview.w as i32 + margin as i32;
    let info = Rect { x: info_x, y: margin as i32, w: width - info_x as u32 - margin, h: ph };
    let row_h = (height / 12).max(16);
    let band = Rect { x: 0, y: top_h as i32, w: width, h: row_h };
    let grid_y = top_h + row_h;
    GuideLayout {
        preview,
        info,
        band,
        grid: Rect { x: 0, y: grid_y as i32, w: width, h: height - grid_y },
        row_h,
        label_w: width * 21 / 100,
    }
}

const GRID_BG: Rgba = Rgba(12, 24, 92, 255);
const CELL: Rgba = Rgba(26, 48, 150, 255);
const LABEL: Rgba = Rgba(8, 16, 60, 255);
const PANEL: Rgba = Rgba(20, 20, 70, 255);
const YELLOW: Rgba = Rgba(255, 230, 60, 255);

/// The start of the grid's first column: `now`'s half hour.
pub fn window_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let t = now.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(now);
    t - Duration::minutes(i64::from(t.minute() % 30))
}

fn text_px(l: &GuideLayout) -> f32 {
    l.row_h as f32 * 0.52
}

/// One channel's row for the 90 minutes from `from`.
pub fn render_row(row: &GuideRow, l: &GuideLayout, from: DateTime<Utc>) -> Raster {
    let (w, h) = (l.grid.w, l.row_h);
    let mut r = Raster::filled(w, h, GRID_BG);
    let px = text_px(l);
    let style = TextStyle { outline: Rgba(0, 0, 0, 160), outline_px: 1, ..TextStyle::plain(px) };
    r.fill(Rect { x: 1, y: 1, w: l.label_w - 2, h: h - 2 }, LABEL);
    let label = format!("{} {}", row.number, row.call_sign);
    let label = text::truncate_in(style.face, &label, px, (l.label_w - 8) as f32);
    let t = text::render_line(&label, TextStyle { color: YELLOW, ..style });
    r.draw(&t, 4, (h as i32 - t.height as i32) / 2);
    let x0 = l.label_w as i64;
    let cells_w = (w - l.label_w) as i64;
    let span_ms = SPAN.num_milliseconds();
    let to = from + SPAN;
    let x_of = |t: DateTime<Utc>| x0 + ((t - from).num_milliseconds().clamp(0, span_ms) * cells_w / span_ms);
    for p in row.programs.iter().filter(|p| p.end > from && p.start < to) {
        let (a, b) = (x_of(p.start), x_of(p.end));
        if b - a < 4 {
            continue;
        }
        r.fill(Rect { x: a as i32 + 1, y: 1, w: (b - a - 2) as u32, h: h - 2 }, CELL);
        let room = (b - a - 10) as f32;
        if room < px {
            continue;
        }
        let title = text::truncate_in(style.face, &p.title, px, room);
        if title.is_empty() {
            continue;
        }
        let t = text::render_line(&title, style);
        r.draw(&t, a as i32 + 5, (h as i32 - t.height as i32) / 2);
    }
    r
}

/// The panel over everything but the preview window and the grid: the information panel
/// (title, the channel's name, the time) and the band of half-hour columns from `from`.
/// Transparent where the preview shows.
pub fn render_panel(
    l: &GuideLayout,
    width: u32,
    name: &str,
    clock: &str,
    from: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Raster {
    let height = l.band.y as u32 + l.band.h;
    let mut r = Raster::filled(width, height, PANEL);
    r.fill(l.preview, Rgba(0, 0, 0, 0));
    // A frame around the preview.
    let f = 2;
    for (x, y, w, h) in [
        (l.preview.x - f, l.preview.y - f, l.preview.w + 2 * f as u32, f as u32),
        (l.preview.x - f, l.preview.y + l.preview.h as i32, l.preview.w + 2 * f as u32, f as u32),
        (l.preview.x - f, l.preview.y, f as u32, l.preview.h),
        (l.preview.x + l.preview.w as i32, l.preview.y, f as u32, l.preview.h),
    ] {
        r.fill(Rect { x, y, w, h }, YELLOW);
    }
    let info = l.info;
    let big = (l.row_h as f32 * 0.9).min(info.w as f32 / 8.0);
    let lines = [("PROGRAM GUIDE", big, YELLOW), (name, big * 0.62, Rgba::WHITE), (clock, big * 1.1, Rgba::WHITE)];
    let mut y = info.y + (info.h as f32 * 0.1) as i32;
    for (s, px, color) in lines {
        let s = text::truncate_in(text::Face::SansBold, s, px, info.w as f32 - 8.0);
        let t = text::render_line(&s, TextStyle { color, ..TextStyle::plain(px) });
        r.draw(&t, info.x + (info.w as i32 - t.width as i32) / 2, y);
        y += t.height as i32 + (info.h as f32 * 0.08) as i32;
    }
    // Band: the columns' times.
    let band = l.band;
    r.fill(band, Rgba(0, 0, 30, 255));
    let px = text_px(l);
    let cells_w = band.w - l.label_w;
    for k in 0..3 {
        let at = from + COLUMN * k;
        let label = at.with_timezone(&tz).format("%-I:%M %p").to_string();
        let t = text::render_line(&label, TextStyle { color: YELLOW, ..TextStyle::plain(px) });
        let x = l.label_w as i32 + (k as u32 * cells_w / 3) as i32 + 5;
        r.draw(&t, x, band.y + (band.h as i32 - t.height as i32) / 2);
    }
    r
}

/// Frames the grid stands still between two rows' scrolls (2 s at 29.97).
pub const HOLD_FRAMES: i64 = 60;

/// How far the grid has scrolled (pixels) after `frames`: each row in turn moves up by `step`
/// pixels a frame, then the grid holds for [`HOLD_FRAMES`].
fn scrolled(frames: i64, row_h: i64, step: i64) -> i64 {
    let moving = (row_h + step - 1) / step;
    let period = HOLD_FRAMES + moving;
    let (rows, at) = (frames / period, frames % period);
    rows * row_h + ((at - HOLD_FRAMES).max(0) * step).min(row_h)
}

/// Where the rows go on a frame: (row index, y), top to bottom. Rows that all fit stand still;
/// more rows scroll up a row at a time ([`HOLD_FRAMES`] still, then `step` pixels a frame),
/// through every channel and round again.
pub fn row_positions(l: &GuideLayout, rows: usize, frames: i64, step: i64) -> Vec<(usize, i32)> {
    if rows == 0 {
        return Vec::new();
    }
    let row_h = i64::from(l.row_h);
    let total = rows as i64 * row_h;
    let visible = i64::from(l.grid.h);
    if total <= visible {
        return (0..rows).map(|i| (i, l.grid.y + (i as i64 * row_h) as i32)).collect();
    }
    let offset = scrolled(frames.max(0), row_h, step.max(1)).rem_euclid(total);
    let first = (offset / row_h) as usize;
    let shift = offset % row_h;
    let mut out = Vec::new();
    let mut k = 0i64;
    loop {
        let y = i64::from(l.grid.y) + k * row_h - shift;
        if y >= i64::from(l.grid.y) + visible {
            break;
        }
        out.push(((first + k as usize) % rows, y as i32));
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(m: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 20, 0, 0).unwrap() + Duration::minutes(m)
    }

    #[test]
    fn the_layout_keeps_rows_under_the_band() {
        for (w, h) in [(640, 480), (704, 480), (1280, 720)] {
            let l = layout(w, h);
            assert!(l.band.h >= l.row_h);
            assert!(l.preview.y + l.preview.h as i32 <= l.band.y);
            assert!(l.info.x + l.info.w as i32 <= w as i32);
            assert_eq!(l.grid.y + l.grid.h as i32, h as i32);
            // The preview has the frame's shape.
            let r = l.preview.w as f64 / l.preview.h as f64;
            assert!((r - w as f64 / h as f64).abs() < 0.02, "{r}");
        }
    }

    #[test]
    fn rows_scroll_through_every_channel_and_round_again() {
        let l = layout(640, 480);
        let fit = (l.grid.h / l.row_h) as usize;
        // Few channels: still.
        let still = row_positions(&l, 3, 100, 1);
        assert_eq!(still, row_positions(&l, 3, 0, 1));
        // Many: still for HOLD_FRAMES, then up by one pixel a frame until the next row is
        // where the first was; never above the band's top.
        let n = fit + 4;
        let a = row_positions(&l, n, 0, 1);
        assert_eq!(a, row_positions(&l, n, HOLD_FRAMES, 1));
        let b = row_positions(&l, n, HOLD_FRAMES + 1, 1);
        assert_eq!(a[0].0, 0);
        assert_eq!(b[0].1, a[0].1 - 1);
        let period = HOLD_FRAMES + i64::from(l.row_h);
        let next = row_positions(&l, n, period, 1);
        assert_eq!((next[0].0, next[0].1), (1, a[0].1), "one row on, at the first row's place");
        let cycle = n as i64 * period;
        assert_eq!(row_positions(&l, n, cycle, 1), a);
        for f in 0..cycle {
            for (_, y) in row_positions(&l, n, f, 1) {
                assert!(y > l.band.y, "row at {y} above the band at frame {f}");
                assert!(y < 480);
            }
        }
        let seen: std::collections::HashSet<usize> =
            (0..cycle).step_by(5).flat_map(|f| row_positions(&l, n, f, 1)).map(|(i, _)| i).collect();
        assert_eq!(seen.len(), n);
    }

    #[test]
    fn a_row_shows_the_programmes_of_its_ninety_minutes() {
        let l = layout(640, 480);
        let row = GuideRow {
            number: "5".into(),
            call_sign: "SITG".into(),
            programs: vec![
                GuideSlot { start: t(-30), end: t(30), title: "Cheers".into() },
                GuideSlot { start: t(30), end: t(60), title: "A title far too long to fit its half hour cell".into() },
                GuideSlot { start: t(120), end: t(150), title: "Later".into() },
            ],
        };
        let r = render_row(&row, &l, window_start(t(10)));
        assert_eq!((r.width, r.height), (640, l.row_h));
        assert_eq!(r.opaque_pixels(), (640 * l.row_h) as usize);
        assert_eq!(window_start(t(10) + Duration::seconds(17)), t(0));
        let cut = text::truncate_in(text::Face::SansBold, &row.programs[1].title, text_px(&l), 120.0);
        assert!(cut.len() < row.programs[1].title.len() && row.programs[1].title.starts_with(&cut));
    }
}
