//! Channel bug images: PNG files decoded once into a [`Raster`], with a clear reason when a
//! file cannot be used. [`validate_bug_image`] is what the CLI and web page call when a user
//! sets a bug; at run time a bad file only logs and the bug falls back to text.

use std::path::{Path, PathBuf};

use super::raster::Raster;

/// Largest accepted image side, in pixels (a bug is small; this bounds memory).
pub const MAX_SIDE: u32 = 4096;

/// Largest accepted file, in bytes.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Why a bug image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file cannot be read.
    #[error("cannot read bug image {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is too big.
    #[error("bug image {path} is {bytes} bytes; the limit is {MAX_FILE_BYTES}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// Not a PNG, or a corrupt one.
    #[error("bug image {path} is not a valid PNG: {source}")]
    NotPng {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        #[source]
        source: png::DecodingError,
    },
    /// Zero or huge dimensions.
    #[error("bug image {path} is {width}x{height}; expected 1 to {MAX_SIDE} pixels a side")]
    BadSize {
        /// The file.
        path: PathBuf,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
}

/// Decode a PNG file (any colour type and bit depth) into a BGRA raster.
pub fn load_png(path: &Path) -> Result<Raster, ImageError> {
    let meta = std::fs::metadata(path).map_err(|source| ImageError::Read { path: path.to_owned(), source })?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ImageError::TooLarge { path: path.to_owned(), bytes: meta.len() });
    }
    let bytes = std::fs::read(path).map_err(|source| ImageError::Read { path: path.to_owned(), source })?;
    decode_png(&bytes).map_err(|e| match e {
        DecodeFailure::Png(source) => ImageError::NotPng { path: path.to_owned(), source },
        DecodeFailure::Size(width, height) => ImageError::BadSize { path: path.to_owned(), width, height },
    })
}

/// Check that `path` is a PNG a bug can use (what the CLI and API call on `set`).
pub fn validate_bug_image(path: &Path) -> Result<(u32, u32), ImageError> {
    load_png(path).map(|r| (r.width, r.height))
}

enum DecodeFailure {
    Png(png::DecodingError),
    Size(u32, u32),
}

fn decode_png(bytes: &[u8]) -> Result<Raster, DecodeFailure> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    // Expand palettes and low bit depths, strip 16-bit to 8: we always get 8-bit G/GA/RGB/RGBA.
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    decoder.set_limits(png::Limits { bytes: (MAX_SIDE as usize) * (MAX_SIDE as usize) * 4 });
    let mut reader = decoder.read_info().map_err(DecodeFailure::Png)?;
    let (w, h) = (reader.info().width, reader.info().height);
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(DecodeFailure::Size(w, h));
    }
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(DecodeFailure::Png)?;
    let data = &buf[..frame.buffer_size()];
    let mut out = Raster::new(w, h);
    let n = (w * h) as usize;
    for i in 0..n {
        let (r, g, b, a) = match frame.color_type {
            png::ColorType::Rgba => (data[i * 4], data[i * 4 + 1], data[i * 4 + 2], data[i * 4 + 3]),
            png::ColorType::Rgb => (data[i * 3], data[i * 3 + 1], data[i * 3 + 2], 255),
            png::ColorType::GrayscaleAlpha => (data[i * 2], data[i * 2], data[i * 2], data[i * 2 + 1]),
            png::ColorType::Grayscale | png::ColorType::Indexed => (data[i], data[i], data[i], 255),
        };
        out.data[i * 4..i * 4 + 4].copy_from_slice(&[b, g, r, a]);
    }
    Ok(out)
}

/// Encode a raster as PNG (tests and fixtures write bug files with it).
pub fn encode_png(r: &Raster) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, r.width, r.height);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().expect("PNG header to memory");
        let rgba: Vec<u8> = r.data.chunks_exact(4).flat_map(|p| [p[2], p[1], p[0], p[3]]).collect();
        w.write_image_data(&rgba).expect("PNG data to memory");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::raster::Rgba;
    use super::*;

    #[test]
    fn pngs_round_trip_and_bad_files_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("bug.png");
        let mut r = Raster::new(3, 2);
        r.fill(super::super::raster::Rect { x: 0, y: 0, w: 1, h: 2 }, Rgba(200, 100, 50, 128));
        std::fs::write(&good, encode_png(&r)).unwrap();
        let back = load_png(&good).unwrap();
        assert_eq!(back, r);
        assert_eq!(validate_bug_image(&good).unwrap(), (3, 2));

        let text = dir.path().join("bug.txt.png");
        std::fs::write(&text, b"this is not a picture").unwrap();
        let e = validate_bug_image(&text).unwrap_err();
        assert!(e.to_string().contains("is not a valid PNG"), "{e}");

        let cut = dir.path().join("cut.png");
        let bytes = encode_png(&Raster::filled(64, 64, Rgba::WHITE));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(validate_bug_image(&cut), Err(ImageError::NotPng { .. })));

        let missing = dir.path().join("missing.png");
        assert!(validate_bug_image(&missing).unwrap_err().to_string().contains("cannot read bug image"));
    }
}
