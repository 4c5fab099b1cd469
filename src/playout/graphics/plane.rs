//! Opaque graphics copied straight into the frame (pure): a [`Plane`] is a [`Raster`]
//! converted once to the frame's YUV (BT.601, limited range) and cut into the runs of its
//! opaque pixels, so a frame takes it with a few `memcpy`s per line instead of the per-pixel
//! blend of an overlay composition.
//!
//! The guide channel needs this: its grid covers the whole frame but the preview window, and
//! blending it on every frame cost 2.7 ms of CPU a 640x480 frame (copying: 0.15 ms; see
//! `examples/bench_guide.rs`, `scripts/bench.sh` "guide channel CPU"). Its rasters are
//! opaque, so copying them gives the same picture. Frames are 4:2:0 ([`Chroma::Planar`] I420 or
//! [`Chroma::Interleaved`] NV12); each plane keeps its chroma at half width but full height,
//! so a plane placed at an odd line still takes the chroma of its own lines.

use super::raster::Raster;

/// A raster in the frame's colours, with the opaque runs of each line.
#[derive(Clone, PartialEq, Eq)]
pub struct Plane {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in lines.
    pub height: u32,
    /// Luma, `width` a line.
    y: Vec<u8>,
    /// Chroma, `width / 2` pairs (U, V) a line, every line.
    uv: Vec<[u8; 2]>,
    /// Per line, the opaque runs `[from, to)` in pixels, both even.
    runs: Vec<Vec<(u32, u32)>>,
}

impl std::fmt::Debug for Plane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plane").field("width", &self.width).field("height", &self.height).finish()
    }
}

/// BT.601 limited range: (Y, U, V) of straight RGB.
fn yuv(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let y = (66 * r + 129 * g + 25 * b + 128) >> 8;
    let u = (-38 * r - 74 * g + 112 * b + 128) >> 8;
    let v = (112 * r - 94 * g - 18 * b + 128) >> 8;
    ((y + 16).clamp(0, 255) as u8, (u + 128).clamp(0, 255) as u8, (v + 128).clamp(0, 255) as u8)
}

impl Plane {
    /// Convert `r` (pixels at least half opaque count as opaque; a pair of pixels is copied
    /// when its first one is).
    pub fn from_raster(r: &Raster) -> Self {
        let width = r.width & !1;
        let height = r.height;
        let mut y = Vec::with_capacity((width * height) as usize);
        let mut uv = Vec::with_capacity((width / 2 * height) as usize);
        let mut runs = Vec::with_capacity(height as usize);
        let stride = r.width as usize * 4;
        for line in r.data.chunks_exact(stride).take(height as usize) {
            let mut line_runs: Vec<(u32, u32)> = Vec::new();
            for x in (0..width as usize).step_by(2) {
                let px = |i: usize| {
                    let p = &line[i * 4..i * 4 + 4];
                    (yuv(p[2], p[1], p[0]), p[3])
                };
                let ((y0, u0, v0), a0) = px(x);
                let ((y1, u1, v1), _) = px(x + 1);
                y.extend([y0, y1]);
                uv.push([((u16::from(u0) + u16::from(u1)) / 2) as u8, ((u16::from(v0) + u16::from(v1)) / 2) as u8]);
                if a0 >= 128 {
                    match line_runs.last_mut() {
                        Some(run) if run.1 == x as u32 => run.1 = x as u32 + 2,
                        _ => line_runs.push((x as u32, x as u32 + 2)),
                    }
                }
            }
            runs.push(line_runs);
        }
        Self { width, height, y, uv, runs }
    }
}

/// How the frame stores its 4:2:0 chroma.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// I420: U plane, then V plane.
    Planar,
    /// NV12: one plane of U, V pairs.
    Interleaved,
}

/// A writable 4:2:0 frame: the planes and their strides (bytes a line).
pub struct Frame<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in lines.
    pub height: u32,
    /// The chroma layout.
    pub chroma: Chroma,
    /// Luma plane and stride.
    pub y: (&'a mut [u8], usize),
    /// I420: U plane; NV12: the UV plane. And its stride.
    pub u: (&'a mut [u8], usize),
    /// I420: V plane and stride (NV12: unused, empty).
    pub v: (&'a mut [u8], usize),
}

impl Frame<'_> {
    /// Copy the opaque runs of `p` with its top-left corner at (`x`, `y`) (`x` is rounded
    /// down to even), clipped to the frame.
    pub fn put(&mut self, p: &Plane, x: i32, y: i32) {
        let x = x & !1;
        for (line, runs) in p.runs.iter().enumerate() {
            let fy = y + line as i32;
            if fy < 0 {
                continue;
            }
            if fy >= self.height as i32 {
                break;
            }
            let fy = fy as usize;
            for &(from, to) in runs {
                let a = (x + from as i32).max(0);
                let b = (x + to as i32).min(self.width as i32 & !1);
                if a >= b {
                    continue;
                }
                let (a, b) = (a as usize, b as usize);
                let src = line * p.width as usize + (a as i32 - x) as usize;
                let dst = fy * self.y.1 + a;
                self.y.0[dst..dst + (b - a)].copy_from_slice(&p.y[src..src + (b - a)]);
                if !fy.is_multiple_of(2) {
                    continue;
                }
                // Chroma of this even line (it stands for the pair of lines).
                let pairs = &p.uv[(line * p.width as usize + (a as i32 - x) as usize) / 2..][..(b - a) / 2];
                let cy = fy / 2;
                match self.chroma {
                    Chroma::Planar => {
                        let (du, dv) = (cy * self.u.1 + a / 2, cy * self.v.1 + a / 2);
                        for (k, [u, v]) in pairs.iter().enumerate() {
                            self.u.0[du + k] = *u;
                            self.v.0[dv + k] = *v;
                        }
                    }
                    Chroma::Interleaved => {
                        let d = cy * self.u.1 + a;
                        let out = &mut self.u.0[d..d + (b - a)];
                        for (k, [u, v]) in pairs.iter().enumerate() {
                            out[2 * k] = *u;
                            out[2 * k + 1] = *v;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playout::graphics::raster::{Rect, Rgba};

    struct Owned {
        w: u32,
        h: u32,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    }

    impl Owned {
        fn new(w: u32, h: u32) -> Self {
            let c = (w / 2 * h / 2) as usize;
            Self { w, h, y: vec![0; (w * h) as usize], u: vec![128; c], v: vec![128; c] }
        }
        fn frame(&mut self) -> Frame<'_> {
            let (w, h) = (self.w, self.h);
            Frame {
                width: w,
                height: h,
                chroma: Chroma::Planar,
                y: (&mut self.y, w as usize),
                u: (&mut self.u, w as usize / 2),
                v: (&mut self.v, w as usize / 2),
            }
        }
        fn at(&self, x: u32, y: u32) -> (u8, u8, u8) {
            let c = (y / 2 * self.w / 2 + x / 2) as usize;
            (self.y[(y * self.w + x) as usize], self.u[c], self.v[c])
        }
    }

    #[test]
    fn colours_are_bt601_limited_range() {
        assert_eq!(yuv(0, 0, 0), (16, 128, 128));
        assert_eq!(yuv(255, 255, 255), (235, 128, 128));
        let (y, u, v) = yuv(255, 0, 0);
        assert_eq!(y, 82);
        assert!(u < 100 && v > 230, "{u} {v}");
    }

    #[test]
    fn opaque_runs_are_copied_and_holes_and_edges_are_left_alone() {
        // A blue 8x6 picture with a transparent hole at (2..6, 2..4).
        let mut r = Raster::filled(8, 6, Rgba(200, 40, 10, 255));
        r.fill(Rect { x: 2, y: 2, w: 4, h: 2 }, Rgba(0, 0, 0, 0));
        let p = Plane::from_raster(&r);
        assert_eq!(p.runs[0], vec![(0, 8)]);
        assert_eq!(p.runs[2], vec![(0, 2), (6, 8)]);
        let want = yuv(200, 40, 10);
        // Placed at an odd line, partly off the left and bottom edges of a 12x8 frame.
        let mut f = Owned::new(12, 8);
        f.frame().put(&p, -2, 3);
        assert_eq!(f.at(0, 3).0, want.0);
        assert_eq!(f.at(5, 7).0, want.0);
        assert_eq!(f.at(6, 3).0, 0, "right of the picture");
        assert_eq!(f.at(0, 2).0, 0, "above it");
        // The hole: picture lines 2 and 3 are frame lines 5 and 6, columns 0..4 there.
        assert_eq!(f.at(1, 5).0, 0);
        assert_eq!(f.at(3, 6).0, 0);
        assert_eq!(f.at(4, 5).0, want.0);
        // Even frame lines carry the chroma of their own picture line.
        let (_, u, v) = f.at(0, 4);
        assert_eq!((u, v), (want.1, want.2));
        assert_eq!((f.at(0, 2).1, f.at(0, 2).2), (128, 128), "no chroma above the picture");
    }

    #[test]
    fn nv12_interleaves_the_chroma() {
        let r = Raster::filled(4, 2, Rgba(10, 200, 30, 255));
        let p = Plane::from_raster(&r);
        let want = yuv(10, 200, 30);
        let mut y = vec![0u8; 16];
        let mut uv = vec![0u8; 8];
        let mut f = Frame {
            width: 4,
            height: 4,
            chroma: Chroma::Interleaved,
            y: (&mut y, 4),
            u: (&mut uv, 4),
            v: (&mut [], 0),
        };
        f.put(&p, 0, 0);
        assert_eq!(&y[..8], &[want.0; 8]);
        assert_eq!(&uv[..4], &[want.1, want.2, want.1, want.2]);
        assert_eq!(&uv[4..], &[0; 4]);
    }
}
