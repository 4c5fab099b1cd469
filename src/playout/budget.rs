//! How many channels the chosen encoder carries at once: a budget in 16x16 macroblocks per
//! second per encoder kind, and each channel's cost from its profile
//! ([`crate::lineup::OutputProfile::macroblocks_per_second`]). Pure arithmetic.
//!
//! * **V4L2 (Pi 3/4 bcm2835-codec):** the VideoCore block is rated for level 4.0 1080p30 in
//!   total: 120 x 68 macroblocks x 30 = 244,800 MB/s shared by every channel. A 640x480
//!   29.97 channel costs 35,965 MB/s (6 fit); 1280x720 29.97 costs 107,893 (2 fit).
//! * **Software (x264, OpenH264):** measured here (README, `scripts/bench.sh`): one SD
//!   channel (35,965 MB/s) costs 12.73 CPU-s per output minute on the development machine's
//!   x86 cores, i.e. 0.212 cores, so one x86 core encodes about 169,600 MB/s. ARM cores are
//!   counted at a fifth of that (a Pi 4 Cortex-A72 at x264 veryfast; an estimate, not
//!   measured here). 70 % of the cores are budgeted: decoding, compositing, audio and the
//!   rest of the daemon need the remainder.
//! * **VA-API:** a generous fixed budget of eight 1080p30 streams (1,958,400 MB/s); Intel and
//!   AMD media engines sustain several times 1080p60.

use super::encoder::EncoderKind;
use crate::lineup::OutputProfile;

/// Level 4.0 1080p30: what the Pi's encoder block does in total.
pub const V4L2_MB_PER_SEC: u64 = 120 * 68 * 30;
/// Eight 1080p30 streams.
pub const VA_MB_PER_SEC: u64 = 8 * V4L2_MB_PER_SEC;
/// One x86 core's x264 rate, from the measured 0.212 cores per SD channel.
pub const X86_CORE_MB_PER_SEC: u64 = 169_600;
/// An ARM core (Cortex-A72 class) at a fifth of an x86 core.
pub const ARM_CORE_MB_PER_SEC: u64 = X86_CORE_MB_PER_SEC / 5;
/// Share of the cores budgeted for encoding, in percent.
pub const SOFTWARE_SHARE_PERCENT: u64 = 70;
/// The most tuners advertised (the config allows at most 16).
pub const MAX_TUNERS: u64 = 16;

/// The budget of `kind` on a machine with `cores` cores (`arm`: ARM cores).
pub fn budget(kind: EncoderKind, cores: usize, arm: bool) -> u64 {
    match kind {
        EncoderKind::V4l2 => V4L2_MB_PER_SEC,
        EncoderKind::Va | EncoderKind::VaLp | EncoderKind::Vaapi => VA_MB_PER_SEC,
        EncoderKind::X264 | EncoderKind::OpenH264 => {
            let per_core = if arm { ARM_CORE_MB_PER_SEC } else { X86_CORE_MB_PER_SEC };
            per_core * cores.max(1) as u64 * SOFTWARE_SHARE_PERCENT / 100
        }
    }
}

/// The budget of `kind` on this machine.
pub fn budget_here(kind: EncoderKind) -> u64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    budget(kind, cores, cfg!(any(target_arch = "aarch64", target_arch = "arm")))
}

/// Tuners to advertise: how many of the most expensive channel the budget carries at once
/// (1..=16). `profiles` are the enabled channels' profiles (the default profile if none).
pub fn tuner_count(budget: u64, profiles: &[OutputProfile]) -> u8 {
    let worst = profiles
        .iter()
        .map(OutputProfile::macroblocks_per_second)
        .max()
        .unwrap_or_else(|| OutputProfile::default().macroblocks_per_second())
        .max(1);
    (budget / worst).clamp(1, MAX_TUNERS) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lineup::{FrameRate, VideoFormat};

    fn profile(format: VideoFormat) -> OutputProfile {
        OutputProfile { format, frame_rate: FrameRate::Ntsc, ..OutputProfile::default() }
    }

    #[test]
    fn the_pi_block_carries_six_sd_or_two_720p_channels() {
        let sd = profile(VideoFormat::Sd640x480);
        let hd = profile(VideoFormat::Hd720);
        assert_eq!(sd.macroblocks_per_second(), 35_965);
        assert_eq!(hd.macroblocks_per_second(), 107_893);
        let b = budget(EncoderKind::V4l2, 4, true);
        assert_eq!(b, 244_800);
        assert_eq!(tuner_count(b, &[sd]), 6);
        assert_eq!(tuner_count(b, &[sd, hd]), 2, "sized for the most expensive channel");
        assert_eq!(tuner_count(b, &[]), 6, "no channels yet: the default SD profile");
    }

    #[test]
    fn software_follows_the_cores_and_va_is_generous() {
        let sd = [profile(VideoFormat::Sd640x480)];
        assert_eq!(tuner_count(budget(EncoderKind::X264, 2, false), &sd), 6);
        assert_eq!(tuner_count(budget(EncoderKind::X264, 4, true), &sd), 2, "a Pi 5 in software");
        assert_eq!(tuner_count(budget(EncoderKind::X264, 1, true), &sd), 1, "never zero");
        assert_eq!(tuner_count(budget(EncoderKind::Va, 2, false), &sd), 16, "capped at 16");
        assert_eq!(tuner_count(budget(EncoderKind::VaLp, 2, false), &[profile(VideoFormat::Hd720)]), 16);
    }
}
