//! [`Raster`]: a straight-alpha BGRA picture in memory (the byte order GStreamer's overlay
//! rectangles call "ARGB" on little-endian machines), with the few drawing operations the
//! graphics need: fill, alpha-blend another raster, scale. Everything here runs once per
//! change of a graphic, never per video frame.

/// An RGBA colour with straight alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgba(pub u8, pub u8, pub u8, pub u8);

impl Rgba {
    /// Opaque white.
    pub const WHITE: Self = Self(255, 255, 255, 255);
    /// Opaque black.
    pub const BLACK: Self = Self(0, 0, 0, 255);
}

/// A rectangle in pixels (may extend past a frame's edges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left.
    pub x: i32,
    /// Top.
    pub y: i32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// A BGRA picture, straight (not premultiplied) alpha, rows packed (stride = 4 * width).
#[derive(Clone, PartialEq, Eq)]
pub struct Raster {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes, B G R A.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Raster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Raster({}x{})", self.width, self.height)
    }
}

impl Raster {
    /// A transparent raster.
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height, data: vec![0; (width * height * 4) as usize] }
    }

    /// A raster filled with one colour.
    pub fn filled(width: u32, height: u32, c: Rgba) -> Self {
        let mut r = Self::new(width, height);
        r.fill(Rect { x: 0, y: 0, w: width, h: height }, c);
        r
    }

    /// The pixel at (x, y) as RGBA.
    pub fn pixel(&self, x: u32, y: u32) -> Rgba {
        let i = ((y * self.width + x) * 4) as usize;
        Rgba(self.data[i + 2], self.data[i + 1], self.data[i], self.data[i + 3])
    }

    /// Replace the pixel at (x, y), which must be inside the raster.
    pub fn set(&mut self, x: u32, y: u32, c: Rgba) {
        let i = ((y * self.width + x) * 4) as usize;
        self.data[i..i + 4].copy_from_slice(&[c.2, c.1, c.0, c.3]);
    }

    /// Replace the pixels of `rect` (clipped) with `c`.
    pub fn fill(&mut self, rect: Rect, c: Rgba) {
        for (x, y) in self.clip(rect) {
            let i = ((y * self.width + x) * 4) as usize;
            self.data[i..i + 4].copy_from_slice(&[c.2, c.1, c.0, c.3]);
        }
    }

    fn clip(&self, rect: Rect) -> impl Iterator<Item = (u32, u32)> + use<> {
        let x0 = rect.x.clamp(0, self.width as i32) as u32;
        let y0 = rect.y.clamp(0, self.height as i32) as u32;
        let x1 = (rect.x + rect.w as i32).clamp(0, self.width as i32) as u32;
        let y1 = (rect.y + rect.h as i32).clamp(0, self.height as i32) as u32;
        (y0..y1).flat_map(move |y| (x0..x1).map(move |x| (x, y)))
    }

    /// Blend colour `c` over the pixel at (x, y) with extra coverage `cov` (0-255).
    pub fn blend_pixel(&mut self, x: i32, y: i32, c: Rgba, cov: u8) {
        if x < 0 || y < 0 || x >= self.width as i32 || y >= self.height as i32 {
            return;
        }
        let i = ((y as u32 * self.width + x as u32) * 4) as usize;
        let sa = u32::from(c.3) * u32::from(cov) / 255;
        if sa == 0 {
            return;
        }
        let da = u32::from(self.data[i + 3]);
        // Porter-Duff "over" with straight alpha.
        let oa = sa + da * (255 - sa) / 255;
        let mix = |s: u8, d: u8| -> u8 {
            ((u32::from(s) * sa + u32::from(d) * da * (255 - sa) / 255) / oa.max(1)).min(255) as u8
        };
        self.data[i] = mix(c.2, self.data[i]);
        self.data[i + 1] = mix(c.1, self.data[i + 1]);
        self.data[i + 2] = mix(c.0, self.data[i + 2]);
        self.data[i + 3] = oa.min(255) as u8;
    }

    /// Blend `src` over this raster with its top-left at (x, y).
    pub fn draw(&mut self, src: &Raster, x: i32, y: i32) {
        for sy in 0..src.height {
            for sx in 0..src.width {
                let p = src.pixel(sx, sy);
                self.blend_pixel(x + sx as i32, y + sy as i32, Rgba(p.0, p.1, p.2, 255), p.3);
            }
        }
    }

    /// A copy scaled to `width` x `height` (box filter when shrinking, bilinear-ish when
    /// growing: good enough for logos rendered once).
    pub fn scaled(&self, width: u32, height: u32) -> Raster {
        let (width, height) = (width.max(1), height.max(1));
        let mut out = Raster::new(width, height);
        if self.width == 0 || self.height == 0 {
            return out;
        }
        let fx = self.width as f64 / width as f64;
        let fy = self.height as f64 / height as f64;
        for oy in 0..height {
            let sy0 = (oy as f64 * fy) as u32;
            let sy1 = (((oy + 1) as f64 * fy).ceil() as u32).clamp(sy0 + 1, self.height);
            for ox in 0..width {
                let sx0 = (ox as f64 * fx) as u32;
                let sx1 = (((ox + 1) as f64 * fx).ceil() as u32).clamp(sx0 + 1, self.width);
                // Alpha-weighted average so transparent pixels do not darken edges.
                let (mut b, mut g, mut r, mut a, mut n) = (0u64, 0u64, 0u64, 0u64, 0u64);
                for sy in sy0..sy1 {
                    for sx in sx0..sx1 {
                        let i = ((sy * self.width + sx) * 4) as usize;
                        let pa = u64::from(self.data[i + 3]);
                        b += u64::from(self.data[i]) * pa;
                        g += u64::from(self.data[i + 1]) * pa;
                        r += u64::from(self.data[i + 2]) * pa;
                        a += pa;
                        n += 1;
                    }
                }
                let i = ((oy * width + ox) * 4) as usize;
                out.data[i] = b.checked_div(a).unwrap_or(0) as u8;
                out.data[i + 1] = g.checked_div(a).unwrap_or(0) as u8;
                out.data[i + 2] = r.checked_div(a).unwrap_or(0) as u8;
                out.data[i + 3] = (a / n) as u8;
            }
        }
        out
    }

    /// Number of pixels with any opacity (tests, sanity checks).
    pub fn opaque_pixels(&self) -> usize {
        self.data.chunks_exact(4).filter(|p| p[3] > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_blend_and_scale() {
        let mut r = Raster::new(4, 2);
        r.fill(Rect { x: -1, y: 0, w: 3, h: 5 }, Rgba(255, 0, 0, 255));
        assert_eq!(r.pixel(0, 1), Rgba(255, 0, 0, 255));
        assert_eq!(r.pixel(2, 0), Rgba(0, 0, 0, 0));
        r.blend_pixel(0, 0, Rgba(0, 0, 255, 255), 128);
        let p = r.pixel(0, 0);
        assert!(p.0 > 100 && p.2 > 100 && p.3 == 255, "{p:?}");
        let s = Raster::filled(8, 8, Rgba(10, 20, 30, 200)).scaled(3, 5);
        assert_eq!((s.width, s.height), (3, 5));
        assert_eq!(s.pixel(2, 4), Rgba(10, 20, 30, 200));
        let mut dst = Raster::new(3, 3);
        dst.draw(&Raster::filled(2, 2, Rgba::WHITE), 2, 2);
        assert_eq!(dst.opaque_pixels(), 1);
    }
}
