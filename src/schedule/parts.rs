//! What an airing plays when its item is not one file ([`MediaItem::versions`]): the version
//! that best fits the channel's output profile ([`best_version`]), cut at its part boundaries
//! ([`segments`]), so a movie in two files airs as two airings back to back and playout
//! needs to know nothing about parts. Pure.

use crate::library::{MediaItem, MediaVersion};
use crate::lineup::{FrameRate, OutputProfile};

/// A stretch of one file: play `uri` from `offset_in_ms` for `len_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The file.
    pub uri: String,
    /// Where in the file to start, ms.
    pub offset_in_ms: i64,
    /// How long, ms.
    pub len_ms: i64,
}

/// The frame-rate family a source's rate belongs to: 30 (NTSC, 29.97, 59.94, 60), 25 (PAL,
/// 50) or 24 (film), from Plex's names ("NTSC", "PAL", "24p", "60p") or a number.
fn rate_family(rate: &str) -> Option<u32> {
    let r = rate.trim().to_ascii_lowercase();
    match r.as_str() {
        "ntsc" => return Some(30),
        "pal" => return Some(25),
        _ => {}
    }
    let digits: String = r.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let fps: f64 = digits.parse().ok()?;
    [(24.0, 24), (25.0, 25), (30.0, 30), (50.0, 25), (60.0, 30)]
        .iter()
        .find(|(f, _)| (fps - f).abs() < 0.6)
        .map(|(_, family)| *family)
}

/// How badly `v` fits `profile` (lower is better): distance in picture height (a bigger
/// picture costs decoding and scaling, a smaller one looks soft), a frame rate of another
/// family (converting 24 or 25 to 29.97 judders), and codecs other than H.264 video and AAC
/// audio (heavier to decode on the box, or not decodable at all).
fn misfit(v: &MediaVersion, profile: &OutputProfile) -> u64 {
    let (_, height) = profile.format.size();
    let picture = v.height.map_or(500, |h| u64::from(h.abs_diff(height)));
    let want = match profile.frame_rate {
        FrameRate::Ntsc => 30,
        FrameRate::Pal => 25,
    };
    let rate = match v.frame_rate.as_deref().and_then(rate_family) {
        Some(f) if f == want => 0,
        Some(_) => 300,
        None => 100,
    };
    let codec = |c: &Option<String>, good: &[&str]| match c.as_deref() {
        Some(c) if good.iter().any(|g| c.eq_ignore_ascii_case(g)) => 0,
        Some(_) => 400,
        None => 100,
    };
    picture + rate + codec(&v.video_codec, &["h264", "avc", "avc1"]) + codec(&v.audio_codec, &["aac"]) / 4
}

/// The version of `item` to air on a channel with `profile` (the first of equals, which is
/// Plex's default); `None` when the item is one file.
pub fn best_version<'a>(item: &'a MediaItem, profile: &OutputProfile) -> Option<&'a MediaVersion> {
    item.versions.iter().enumerate().min_by_key(|(i, v)| (misfit(v, profile), *i)).map(|(_, v)| v)
}

/// The stretches of files that `[offset_in, offset_in + len)` of `item` is made of on a
/// channel with `profile`: one for an item that is one file; for a version in several parts,
/// one per part it touches, in order (what lies past the last part stays on the last).
pub fn segments(item: &MediaItem, profile: &OutputProfile, offset_in_ms: i64, len_ms: i64) -> Vec<Segment> {
    let whole = |uri: &str| vec![Segment { uri: uri.to_owned(), offset_in_ms, len_ms }];
    let Some(version) = best_version(item, profile) else { return whole(&item.uri) };
    match version.parts.as_slice() {
        [] => whole(&item.uri),
        [part] => whole(&part.uri),
        parts => {
            let mut out = Vec::new();
            let (mut at, end) = (offset_in_ms, offset_in_ms + len_ms);
            let mut part_start = 0;
            for (i, p) in parts.iter().enumerate() {
                let part_end = if i + 1 == parts.len() { i64::MAX } else { part_start + p.duration_ms };
                if at < part_end && at < end {
                    let stop = end.min(part_end);
                    out.push(Segment { uri: p.uri.clone(), offset_in_ms: at - part_start, len_ms: stop - at });
                    at = stop;
                }
                part_start += p.duration_ms;
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::{ContentKind, MediaPart};
    use crate::lineup::{AudioKbps, VideoFormat, VideoKbps};

    fn version(height: u32, rate: &str, codec: &str, parts: &[(&str, i64)]) -> MediaVersion {
        MediaVersion {
            width: Some(height * 4 / 3),
            height: Some(height),
            frame_rate: Some(rate.into()),
            video_codec: Some(codec.into()),
            audio_codec: Some("aac".into()),
            parts: parts.iter().map(|(u, ms)| MediaPart { uri: (*u).into(), duration_ms: *ms }).collect(),
        }
    }

    fn item(versions: Vec<MediaVersion>) -> MediaItem {
        let mut i = crate::schedule::tests::item(1, ContentKind::Movie, "Movie", 6000);
        i.versions = versions;
        i
    }

    const SD: OutputProfile = OutputProfile {
        format: VideoFormat::Sd640x480,
        frame_rate: FrameRate::Ntsc,
        video_kbps: VideoKbps::of(2000),
        audio_kbps: AudioKbps::of(128),
    };

    #[test]
    fn a_multi_part_airing_is_cut_at_the_parts() {
        let it = item(vec![version(480, "NTSC", "h264", &[("a", 2000), ("b", 3000), ("c", 1000)])]);
        let seg = |u: &str, o, l| Segment { uri: u.into(), offset_in_ms: o, len_ms: l };
        assert_eq!(segments(&it, &SD, 0, 6000), [seg("a", 0, 2000), seg("b", 0, 3000), seg("c", 0, 1000)]);
        // An act that starts inside part a and ends inside part b (a break in between).
        assert_eq!(segments(&it, &SD, 1500, 2000), [seg("a", 1500, 500), seg("b", 0, 1500)]);
        assert_eq!(segments(&it, &SD, 2500, 1000), [seg("b", 500, 1000)]);
        // Past the end (rounding): the rest stays on the last part.
        assert_eq!(segments(&it, &SD, 5500, 700), [seg("c", 500, 700)]);
        let one_file = item(vec![]);
        assert_eq!(segments(&one_file, &SD, 100, 200), [seg("file:///media/1.mkv", 100, 200)]);
    }

    #[test]
    fn the_version_that_fits_the_channel_is_chosen() {
        let hd = version(1080, "24p", "hevc", &[("hd", 6000)]);
        let sd = version(480, "NTSC", "h264", &[("sd", 6000)]);
        let pal = version(576, "PAL", "h264", &[("pal", 6000)]);
        let hd720 = version(720, "NTSC", "h264", &[("720", 6000)]);
        let it = item(vec![hd.clone(), pal.clone(), sd.clone(), hd720.clone()]);
        assert_eq!(best_version(&it, &SD), Some(&sd));
        let hd_channel = OutputProfile { format: VideoFormat::Hd720, ..SD };
        assert_eq!(best_version(&it, &hd_channel), Some(&hd720));
        let pal_channel = OutputProfile { frame_rate: FrameRate::Pal, ..SD };
        assert_eq!(best_version(&it, &pal_channel), Some(&pal));
        // H.264 beats HEVC at the same size; equals keep Plex's order.
        let hevc_sd = version(480, "NTSC", "hevc", &[("hevc", 6000)]);
        assert_eq!(best_version(&item(vec![hevc_sd, sd.clone()]), &SD), Some(&sd));
        assert_eq!(best_version(&item(vec![sd.clone(), sd.clone()]), &SD).map(|v| v.parts[0].uri.as_str()), Some("sd"));
        assert_eq!(rate_family("23.976"), Some(24));
        assert_eq!(rate_family("60p"), Some(30));
        assert_eq!(rate_family("50"), Some(25));
        assert_eq!(rate_family("weird"), None);
    }
}
