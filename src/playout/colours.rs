//! An item's colour-matrix change, in place (issue #17): the BT.709 picture of an HD source
//! scaled to an SD channel becomes BT.601 (or any pair of the YCbCr matrices and ranges) in
//! one pass over the frame the scaler just wrote, where `videoconvert` unpacks every line
//! to 4:4:4, converts, resamples the chroma back and packs it again: 0.78 ms (element and
//! all, `gst-launch-1.0` on the 720p bench clip scaled to 640x480) against 0.14 ms of this
//! module's loops per 640x480 frame here; with two of three items HD, about 0.9 CPU-s per
//! minute of an SD channel, its largest cost beyond the codecs.
//!
//! [`ColourMatrix`] is a `GstVideoFilter` that offers, for 8-bit 4:2:0 YUV (I420, YV12,
//! NV12), the channel's colorimetry ([`ColourMatrix::new`]) on its src pad beside the input's
//! own, and converts when the two differ. For anything else (other formats, a colorimetry
//! whose matrix is not YCbCr) it passes the frames through and the `videoconvert` after it
//! does the work, as before. Like `videoconvert` by default, only the matrix and the range
//! change; transfer function and primaries are relabelled, not converted.
//!
//! Each 2x2 block of luma takes its chroma sample's part of the change (what `videoconvert`
//! 1.22 does: the two agree within two code values on bars, ramps and edges, see the tests);
//! the chroma samples change on their own (a change of matrix moves chroma by chroma alone).
//! Fixed point with 12 fractional bits, rounded, clamped to 0..=255.

use std::sync::{LazyLock, Mutex, OnceLock};

use glib::subclass::prelude::*;
use gstreamer as gst;
use gstreamer::subclass::prelude::*;
use gstreamer_video as gst_video;
use gstreamer_video::gst_base;
use gstreamer_video::prelude::*;
use gstreamer_video::subclass::prelude::*;

/// Fractional bits of the fixed-point coefficients.
const SHIFT: u32 = 12;
const ONE: f64 = (1 << SHIFT) as f64;
const HALF: i32 = 1 << (SHIFT - 1);

/// The formats converted in place (8-bit 4:2:0).
const FORMATS: [gst_video::VideoFormat; 3] =
    [gst_video::VideoFormat::I420, gst_video::VideoFormat::Yv12, gst_video::VideoFormat::Nv12];

/// An affine change of YCbCr code values, fixed point:
/// `Y' = (y·Y + y_cb·(Cb-128) + y_cr·(Cr-128) + y0) >> SHIFT`,
/// `Cb' = (cb_cb·(Cb-128) + cb_cr·(Cr-128)) >> SHIFT + 128`, and the same for Cr'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Affine {
    y: i32,
    y_cb: i32,
    y_cr: i32,
    y0: i32,
    cb_cb: i32,
    cb_cr: i32,
    cr_cb: i32,
    cr_cr: i32,
}

/// The offset and span of luma and the span of chroma of an 8-bit range.
fn range_of(range: gst_video::VideoColorRange) -> Option<(f64, f64, f64)> {
    match range {
        gst_video::VideoColorRange::Range16_235 => Some((16.0, 219.0, 224.0)),
        gst_video::VideoColorRange::Range0_255 => Some((0.0, 255.0, 255.0)),
        _ => None,
    }
}

/// (Kr, Kb) of a YCbCr matrix; `None` for RGB or an unknown matrix.
fn kr_kb(matrix: gst_video::VideoColorMatrix) -> Option<(f64, f64)> {
    match matrix {
        gst_video::VideoColorMatrix::Unknown | gst_video::VideoColorMatrix::Rgb => None,
        m => m.kr_kb().ok(),
    }
}

/// Normalised YCbCr (y in 0..1, chroma in -0.5..0.5) of `k` from R'G'B'.
fn encode((kr, kb): (f64, f64), [r, g, b]: [f64; 3]) -> [f64; 3] {
    let y = kr * r + (1.0 - kr - kb) * g + kb * b;
    [y, (b - y) / (2.0 * (1.0 - kb)), (r - y) / (2.0 * (1.0 - kr))]
}

/// R'G'B' of normalised YCbCr in matrix `k`.
fn decode((kr, kb): (f64, f64), [y, cb, cr]: [f64; 3]) -> [f64; 3] {
    let r = y + 2.0 * (1.0 - kr) * cr;
    let b = y + 2.0 * (1.0 - kb) * cb;
    let g = (y - kr * r - kb * b) / (1.0 - kr - kb);
    [r, g, b]
}

impl Affine {
    /// No change.
    const IDENTITY: Self =
        Self { y: 1 << SHIFT, y_cb: 0, y_cr: 0, y0: HALF, cb_cb: 1 << SHIFT, cb_cr: 0, cr_cb: 0, cr_cr: 1 << SHIFT };

    /// The change from `from` to `to`, or `None` when either is not a YCbCr matrix in a
    /// known range (the frames then go to `videoconvert`).
    fn between(from: &gst_video::VideoColorimetry, to: &gst_video::VideoColorimetry) -> Option<Self> {
        let (k_in, k_out) = (kr_kb(from.matrix())?, kr_kb(to.matrix())?);
        let ((oy_in, sy_in, sc_in), (oy_out, sy_out, sc_out)) = (range_of(from.range())?, range_of(to.range())?);
        // Each column: the output of one unit input (normalised), through R'G'B'.
        let column = |v: [f64; 3]| encode(k_out, decode(k_in, v));
        let (c_y, c_cb, c_cr) = (column([1.0, 0.0, 0.0]), column([0.0, 1.0, 0.0]), column([0.0, 0.0, 1.0]));
        let fixed = |v: f64| (v * ONE).round() as i32;
        // Code values: Y = oy + sy·y, C = 128 + sc·c.
        let y = sy_out / sy_in * c_y[0];
        Some(Self {
            y: fixed(y),
            y_cb: fixed(sy_out / sc_in * c_cb[0]),
            y_cr: fixed(sy_out / sc_in * c_cr[0]),
            y0: fixed(oy_out - y * oy_in) + HALF,
            cb_cb: fixed(sc_out / sc_in * c_cb[1]),
            cb_cr: fixed(sc_out / sc_in * c_cr[1]),
            cr_cb: fixed(sc_out / sc_in * c_cb[2]),
            cr_cr: fixed(sc_out / sc_in * c_cr[2]),
        })
    }

    /// Whether luma keeps its scale (the range stays).
    fn unit_luma(&self) -> bool {
        self.y == 1 << SHIFT
    }

    /// The chroma's part of a luma value (fixed point) at a chroma sample.
    fn luma_part(&self, cb: u8, cr: u8) -> i32 {
        self.y_cb * (i32::from(cb) - 128) + self.y_cr * (i32::from(cr) - 128)
    }

    fn clamp(v: i32) -> u8 {
        (v >> SHIFT).clamp(0, 255) as u8
    }

    fn chroma(&self, cb: u8, cr: u8) -> (u8, u8) {
        let (cb, cr) = (i32::from(cb) - 128, i32::from(cr) - 128);
        let base = (128 << SHIFT) + HALF;
        (Self::clamp(self.cb_cb * cb + self.cb_cr * cr + base), Self::clamp(self.cr_cb * cb + self.cr_cr * cr + base))
    }
}

/// One 4:2:0 frame's planes, borrowed for the change: luma and chroma, each with its stride.
struct Planes<'a> {
    width: usize,
    height: usize,
    luma: (&'a mut [u8], usize),
    chroma: ChromaPlanes<'a>,
}

/// Where a frame's chroma is, each plane with its stride: two planes (Cb and Cr) or one of
/// interleaved pairs (NV12).
enum ChromaPlanes<'a> {
    Planar { u: (&'a mut [u8], usize), v: (&'a mut [u8], usize) },
    Interleaved((&'a mut [u8], usize)),
}

impl ChromaPlanes<'_> {
    /// Chroma row `cy`, `cw` samples wide.
    fn row(&mut self, cy: usize, cw: usize) -> ChromaRow<'_> {
        match self {
            Self::Planar { u: (u, us), v: (v, vs) } => {
                ChromaRow::Planar(&mut u[cy * *us..][..cw], &mut v[cy * *vs..][..cw])
            }
            Self::Interleaved((uv, s)) => ChromaRow::Interleaved(&mut uv[cy * *s..][..2 * cw]),
        }
    }
}

/// One row of chroma samples: Cb and Cr apart, or interleaved pairs.
enum ChromaRow<'a> {
    Planar(&'a mut [u8], &'a mut [u8]),
    Interleaved(&'a mut [u8]),
}

impl ChromaRow<'_> {
    /// The samples' luma parts into `row` (see [`parts_of`]).
    fn parts(&self, m: &Affine, row: &mut [i32]) {
        match self {
            Self::Planar(u, v) => parts_of(m, u.iter().copied().zip(v.iter().copied()), row),
            Self::Interleaved(uv) => parts_of(m, uv.chunks_exact(2).map(|c| (c[0], c[1])), row),
        }
    }

    /// Change the samples in place.
    fn change(self, m: &Affine) {
        match self {
            Self::Planar(u, v) => {
                for (cb, cr) in u.iter_mut().zip(v.iter_mut()) {
                    (*cb, *cr) = m.chroma(*cb, *cr);
                }
            }
            Self::Interleaved(uv) => {
                for c in uv.chunks_exact_mut(2) {
                    (c[0], c[1]) = m.chroma(c[0], c[1]);
                }
            }
        }
    }
}

/// The luma part of each chroma sample of a row (with the offset and rounding), once per
/// luma column it covers; already shifted when the range stays (see [`luma_row`]).
fn parts_of(m: &Affine, pairs: impl Iterator<Item = (u8, u8)>, row: &mut [i32]) {
    let shift = if m.unit_luma() { SHIFT } else { 0 };
    for (two, (cb, cr)) in row.chunks_exact_mut(2).zip(pairs) {
        two.fill((m.luma_part(cb, cr) + m.y0) >> shift);
    }
}

/// One luma row. With the range unchanged (`y` is one) `(Y·one + part) >> SHIFT` is
/// `Y + (part >> SHIFT)` exactly, which the compiler turns into 16-bit vector adds.
fn luma_row(m: &Affine, line: &mut [u8], row: &[i32]) {
    if m.unit_luma() {
        for (px, &p) in line.iter_mut().zip(row) {
            *px = (i32::from(*px) + p).clamp(0, 255) as u8;
        }
    } else {
        for (px, &p) in line.iter_mut().zip(row) {
            *px = Affine::clamp(m.y * i32::from(*px) + p);
        }
    }
}

/// Change one frame's colours in place, a chroma row and its two luma rows at a time (the
/// luma first: it needs the chroma as it was). `row` is scratch space.
fn convert(m: &Affine, planes: Planes<'_>, row: &mut Vec<i32>) {
    let Planes { width, height, luma: (luma, luma_stride), mut chroma } = planes;
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    row.clear();
    row.resize(2 * cw, 0);
    for cy in 0..ch {
        let samples = chroma.row(cy, cw);
        samples.parts(m, row);
        for y in (2 * cy..2 * cy + 2).filter(|&y| y < height) {
            luma_row(m, &mut luma[y * luma_stride..y * luma_stride + width], row);
        }
        samples.change(m);
    }
}

/// Change a mapped frame's colours in place; `false` if its format is not one of [`FORMATS`].
fn convert_frame(m: &Affine, frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>, parts: &mut Vec<i32>) -> bool {
    let format = frame.format();
    let (width, height) = (frame.width() as usize, frame.height() as usize);
    let s: Vec<usize> = frame.plane_stride().iter().map(|&s| s as usize).collect();
    let [p0, p1, p2, _] = frame.planes_data_mut();
    // I420's planes are Y, U, V; YV12's Y, V, U; NV12's Y and UV pairs.
    let chroma = match format {
        gst_video::VideoFormat::I420 => ChromaPlanes::Planar { u: (p1, s[1]), v: (p2, s[2]) },
        gst_video::VideoFormat::Yv12 => ChromaPlanes::Planar { u: (p2, s[2]), v: (p1, s[1]) },
        gst_video::VideoFormat::Nv12 => ChromaPlanes::Interleaved((p1, s[1])),
        _ => return false,
    };
    convert(m, Planes { width, height, luma: (p0, s[0]), chroma }, parts);
    true
}

glib::wrapper! {
    /// The in-place colour-matrix change (see the module's documentation).
    pub struct ColourMatrix(ObjectSubclass<imp::ColourMatrix>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

impl ColourMatrix {
    /// An element that offers `target` (the channel's colorimetry) to what follows it.
    pub fn new(target: gst_video::VideoColorimetry) -> Self {
        let element: Self = glib::Object::new();
        element.imp().target.set(target).expect("a new element");
        element
    }
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct ColourMatrix {
        pub(super) target: OnceLock<gst_video::VideoColorimetry>,
        /// The change the negotiated caps ask for (`None`: passthrough).
        affine: Mutex<Option<Affine>>,
        parts: Mutex<Vec<i32>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ColourMatrix {
        const NAME: &'static str = "RetrovueColourMatrix";
        type Type = super::ColourMatrix;
        type ParentType = gst_video::VideoFilter;
    }

    impl ObjectImpl for ColourMatrix {}
    impl GstObjectImpl for ColourMatrix {}

    impl ElementImpl for ColourMatrix {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "Colour matrix",
                    "Filter/Converter/Video",
                    "Changes the YCbCr matrix and range of 8-bit 4:2:0 video in place",
                    "Retrovue",
                )
            });
            Some(&*META)
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                // As `videoconvert`'s: system memory, and any other for passthrough.
                let caps = "video/x-raw; video/x-raw(ANY)".parse::<gst::Caps>().expect("template caps");
                [gst::PadDirection::Sink, gst::PadDirection::Src]
                    .into_iter()
                    .map(|d| {
                        let name = if d == gst::PadDirection::Sink { "sink" } else { "src" };
                        gst::PadTemplate::new(name, d, gst::PadPresence::Always, &caps).expect("template")
                    })
                    .collect()
            });
            TEMPLATES.as_ref()
        }
    }

    impl BaseTransformImpl for ColourMatrix {
        const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
        const PASSTHROUGH_ON_SAME_CAPS: bool = true;
        const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

        fn transform_caps(
            &self,
            direction: gst::PadDirection,
            caps: &gst::Caps,
            filter: Option<&gst::Caps>,
        ) -> Option<gst::Caps> {
            let target = self.target.get();
            let mut out = gst::Caps::new_empty();
            let out_mut = out.get_mut().expect("new caps");
            for (s, features) in caps.iter_with_features() {
                // Frames in other memory (a hardware decoder's) pass through untouched.
                let in_memory = features.is_equal(gst::CAPS_FEATURES_MEMORY_SYSTEM_MEMORY.as_ref());
                let converted = target.filter(|_| in_memory).and_then(|t| other_side(s, t, direction));
                // Downstream the target comes first, so fixation picks the change when it can.
                let pair = match direction {
                    gst::PadDirection::Sink => [converted, Some(s.to_owned())],
                    _ => [Some(s.to_owned()), converted],
                };
                for c in pair.into_iter().flatten() {
                    out_mut.append_structure_full(c, Some(features.to_owned()));
                }
            }
            Some(match filter {
                Some(f) => f.intersect_with_mode(&out, gst::CapsIntersectMode::First),
                None => out,
            })
        }
    }

    /// The structure on the other side of a change to or from `target`, for a structure of
    /// one of [`FORMATS`] whose colorimetry is fixed: downstream of the input, the same with
    /// `target`; upstream of `target`, the same with any colorimetry.
    fn other_side(
        s: &gst::StructureRef,
        target: &gst_video::VideoColorimetry,
        direction: gst::PadDirection,
    ) -> Option<gst::Structure> {
        let format = s.get::<&str>("format").ok()?;
        if !FORMATS.iter().any(|f| f.to_str() == format) {
            return None;
        }
        let mut c = s.to_owned();
        if direction == gst::PadDirection::Sink {
            let from = s.get::<&str>("colorimetry").ok()?.parse::<gst_video::VideoColorimetry>().ok()?;
            Affine::between(&from, target)?;
            c.set("colorimetry", target.to_string());
        } else {
            if s.get::<&str>("colorimetry").ok()? != target.to_string() {
                return None;
            }
            c.remove_field("colorimetry");
        }
        Some(c)
    }

    impl VideoFilterImpl for ColourMatrix {
        fn set_info(
            &self,
            _incaps: &gst::Caps,
            in_info: &gst_video::VideoInfo,
            _outcaps: &gst::Caps,
            out_info: &gst_video::VideoInfo,
        ) -> Result<(), gst::LoggableError> {
            let (from, to) = (in_info.colorimetry(), out_info.colorimetry());
            // Only a relabelling (the same matrix and range, other primaries or transfer): no work.
            let affine = match Affine::between(&from, &to) {
                _ if from == to => None,
                Some(m) => Some(m).filter(|m| *m != Affine::IDENTITY),
                None => return Err(gst::loggable_error!(gst::CAT_RUST, "no in-place change from {} to {}", from, to)),
            };
            *self.affine.lock().expect("affine lock") = affine;
            Ok(())
        }

        fn transform_frame_ip(
            &self,
            frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
        ) -> Result<gst::FlowSuccess, gst::FlowError> {
            let Some(m) = *self.affine.lock().expect("affine lock") else { return Ok(gst::FlowSuccess::Ok) };
            let mut parts = self.parts.lock().expect("parts lock");
            if convert_frame(&m, frame, &mut parts) {
                Ok(gst::FlowSuccess::Ok)
            } else {
                Err(gst::FlowError::NotNegotiated)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use gstreamer_app as gst_app;

    use super::*;
    use crate::elements::{APPSINK, CAPSFILTER, VIDEOCONVERT, VIDEOTESTSRC};
    use crate::playout::pipeline::make;

    fn colorimetry(s: &str) -> gst_video::VideoColorimetry {
        gst::init().unwrap();
        s.parse().expect("colorimetry")
    }

    /// One frame of `pattern` in `input` caps through `convert` into `output` caps: the
    /// frame's planes (tightly packed) and the caps it left with.
    fn one_frame(pattern: &str, input: &str, convert: &[gst::Element], output: &str) -> (Vec<Vec<u8>>, gst::Caps) {
        gst::init().unwrap();
        let pipeline = gst::Pipeline::new();
        let src = make(VIDEOTESTSRC).unwrap();
        src.set_property_from_str("pattern", pattern);
        src.set_property("num-buffers", 1i32);
        let (caps_in, caps_out) = (make(CAPSFILTER).unwrap(), make(CAPSFILTER).unwrap());
        caps_in.set_property("caps", input.parse::<gst::Caps>().unwrap());
        caps_out.set_property("caps", output.parse::<gst::Caps>().unwrap());
        let sink = make(APPSINK).unwrap();
        let mut chain = vec![src, caps_in];
        chain.extend(convert.iter().cloned());
        chain.extend([caps_out, sink.clone()]);
        pipeline.add_many(&chain).unwrap();
        gst::Element::link_many(&chain).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let sample = sink.downcast::<gst_app::AppSink>().unwrap().pull_sample().expect("a frame");
        pipeline.set_state(gst::State::Null).unwrap();
        let caps = sample.caps().unwrap().to_owned();
        let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
        let frame = gst_video::VideoFrame::from_buffer_readable(sample.buffer().unwrap().to_owned(), &info).unwrap();
        let planes = (0..frame.n_planes())
            .map(|p| {
                let (stride, data) = (frame.plane_stride()[p as usize] as usize, frame.plane_data(p).unwrap());
                let rows = frame.comp_height(if p == 0 { 0 } else { 1 }) as usize;
                let width = if frame.format() == gst_video::VideoFormat::Nv12 && p == 1 {
                    2 * frame.comp_width(1) as usize
                } else {
                    frame.comp_width(if p == 0 { 0 } else { 1 }) as usize
                };
                (0..rows).flat_map(|r| data[r * stride..r * stride + width].to_vec()).collect()
            })
            .collect();
        (planes, caps)
    }

    /// The share of samples that differ by more than two code values, and the largest
    /// difference, per plane.
    fn compare(a: &[Vec<u8>], b: &[Vec<u8>]) -> Vec<(f64, u8)> {
        a.iter()
            .zip(b)
            .map(|(a, b)| {
                assert_eq!(a.len(), b.len());
                let far = a.iter().zip(b).filter(|(x, y)| x.abs_diff(**y) > 2).count();
                let max = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
                (far as f64 / a.len() as f64, max)
            })
            .collect()
    }

    #[test]
    fn the_same_matrix_and_range_is_no_change() {
        let m = Affine::between(&colorimetry("bt709"), &colorimetry("bt709")).unwrap();
        assert_eq!(m, Affine::IDENTITY);
        assert_eq!(m.chroma(17, 240), (17, 240));
        // BT.601's matrix with BT.709's transfer and primaries, into `bt601`: a relabelling.
        assert_eq!(Affine::between(&colorimetry("2:4:5:1"), &colorimetry("bt601")), Some(Affine::IDENTITY));
    }

    #[test]
    fn an_rgb_or_unknown_matrix_is_left_to_videoconvert() {
        assert!(Affine::between(&colorimetry("sRGB"), &colorimetry("bt601")).is_none());
        assert!(Affine::between(&colorimetry("bt709"), &colorimetry("sRGB")).is_none());
    }

    #[test]
    fn grey_stays_grey_and_white_and_black_keep_their_levels_across_ranges() {
        let m = Affine::between(&colorimetry("bt709"), &colorimetry("bt601")).unwrap();
        assert_eq!(m.chroma(128, 128), (128, 128));
        // Full-range (JPEG) black and white become 16 and 235.
        let full = Affine::between(&colorimetry("1:4:0:0"), &colorimetry("bt601")).unwrap();
        assert_eq!(Affine::clamp(full.y * 255 + full.y0), 235);
        assert_eq!(Affine::clamp(full.y0), 16);
        assert_eq!(full.chroma(0, 255), (16, 240));
    }

    /// Against `videoconvert` (the same change through its 4:4:4 path, with 8-bit
    /// coefficients: two code values apart at most) on test patterns with saturated bars,
    /// colour ramps and sharp edges, in each format and both directions.
    #[test]
    fn frames_match_what_videoconvert_makes() {
        gst::init().unwrap();
        for format in FORMATS {
            for (from, to) in [("bt709", "bt601"), ("bt601", "bt709")] {
                // An odd size too: its last column and row have chroma samples of their own.
                let cases = [
                    ("smpte", 640, 480),
                    ("colors", 640, 480),
                    ("zone-plate", 640, 480),
                    ("ball", 640, 480),
                    ("smpte", 321, 241),
                ];
                for (pattern, w, h) in cases {
                    let input =
                        format!("video/x-raw,format={format},width={w},height={h},framerate=30/1,colorimetry={from}");
                    let output = format!("video/x-raw,format={format},colorimetry={to}");
                    let (reference, _) = one_frame(pattern, &input, &[make(VIDEOCONVERT).unwrap()], &output);
                    let ours = ColourMatrix::new(colorimetry(to)).upcast();
                    let (got, caps) = one_frame(pattern, &input, &[ours], &output);
                    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
                    assert_eq!(info.colorimetry(), colorimetry(to));
                    let diffs = compare(&reference, &got);
                    println!("{format} {from}->{to} {pattern} {w}x{h}: {diffs:?}");
                    for (plane, (far, max)) in diffs.into_iter().enumerate() {
                        assert!(
                            far == 0.0 && max <= 2,
                            "{format} {from}->{to} {pattern} plane {plane}: {far} beyond 2, max {max}"
                        );
                    }
                }
            }
        }
    }

    /// A full-range picture becomes a limited-range one (`videoconvert` 1.22 copies I420's
    /// code values between the two ranges unchanged; the expected values are the formula's).
    /// `videotestsrc` paints white 235 and black 16 whatever the range its caps say.
    #[test]
    fn full_range_is_squeezed_into_the_channels_range() {
        gst::init().unwrap();
        for (pattern, luma) in [("white", 218u8), ("black", 30)] {
            let input = "video/x-raw,format=I420,width=64,height=48,framerate=30/1,colorimetry=1:4:0:0";
            let ours = ColourMatrix::new(colorimetry("bt601")).upcast();
            let (got, _) = one_frame(pattern, input, &[ours], "video/x-raw,colorimetry=bt601");
            assert!(got[0].iter().all(|&y| y == luma), "{pattern}: {:?}", &got[0][..8]);
            assert!(got[1..].iter().flatten().all(|&c| c == 128), "{pattern}: chroma stays neutral");
        }
    }

    /// Another transfer or other primaries with the same matrix and range: the caps say the
    /// channel's colorimetry, the pixels are the source's.
    #[test]
    fn a_relabelling_leaves_the_pixels_alone() {
        gst::init().unwrap();
        let input = "video/x-raw,format=I420,width=320,height=240,framerate=30/1,colorimetry=2:4:5:1";
        let (source, _) = one_frame("smpte", input, &[], input);
        let ours = ColourMatrix::new(colorimetry("bt601")).upcast();
        let (got, caps) = one_frame("smpte", input, &[ours], "video/x-raw,colorimetry=bt601");
        assert_eq!(gst_video::VideoInfo::from_caps(&caps).unwrap().colorimetry(), colorimetry("bt601"));
        assert_eq!(source, got);
    }

    /// A format it does not change passes through untouched, and the `videoconvert` after it
    /// makes the channel's colours.
    #[test]
    fn another_format_passes_through_to_videoconvert() {
        gst::init().unwrap();
        let input = "video/x-raw,format=Y42B,width=320,height=240,framerate=30/1,colorimetry=bt709";
        let output = "video/x-raw,format=I420,colorimetry=bt601";
        let (reference, _) = one_frame("smpte", input, &[make(VIDEOCONVERT).unwrap()], output);
        let ours = ColourMatrix::new(colorimetry("bt601")).upcast();
        let (got, caps) = one_frame("smpte", input, &[ours, make(VIDEOCONVERT).unwrap()], output);
        assert_eq!(gst_video::VideoInfo::from_caps(&caps).unwrap().colorimetry(), colorimetry("bt601"));
        assert_eq!(reference, got);
    }
}
