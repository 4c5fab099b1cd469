//! The true-peak limiter at the end of each of a channel's audio tracks (after the mixer and
//! the alert audio, before the AAC encoder): whatever gain an item got, nothing that leaves
//! the box goes over [`CEILING_DBTP`] — a quiet commercial raised by +12 dB keeps its clicks
//! under the ceiling instead of clipping.
//!
//! Why our own: GStreamer 1.22 (Debian 12) and 1.24 (Buildroot) ship no true-peak limiter
//! in base/good/bad/ugly. `audiodynamic` (good) is a compressor/expander without look-ahead
//! or oversampling (a click passes before it reacts, and inter-sample peaks are not seen at
//! all); LADSPA/LV2 limiters would add a plugin host and a package per defconfig. So it is a
//! plain [`TruePeakLimiter`] (pure, tested below) run by a pad probe on an `identity` (core,
//! on every box), the same pattern as [`super::alert_audio`]: no element registration and no
//! `unsafe`, on the track's streaming thread.
//!
//! How: each frame's true peak is estimated by 4x oversampling (a 12-tap Hann-windowed sinc
//! interpolator at the three inter-sample phases, as ITU-R BS.1770-4 Annex 2 does with 48
//! taps); the gain needed to keep it under the ceiling goes through a sliding minimum and a
//! moving average, both [`LOOKAHEAD_MS`] long, so the gain is already down when the peak
//! leaves the delay line (the average of values that are all at or below the peak's need is
//! at or below it), and recovers with a [`RELEASE_MS`] time constant. The cost is a constant
//! delay of 1.6 ms on the track (audio that late is well inside EBU R37's lip-sync window)
//! and about 80 multiply-adds per stereo frame.

use std::collections::VecDeque;
use std::sync::Mutex;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_audio as gst_audio;

use super::pipeline::{PipelineError, make};
use crate::elements::IDENTITY;

/// The limiter's ceiling (dBTP). The goal on the output is ≤ -1 dBTP (EBU R128; ATSC A/85
/// recommends -2 for AC-3): two more dB of room for the AAC encoder. `avenc_aac` codes a
/// transient that falls in a long block with its quantisation noise spread around it
/// (pre-echo), and the decoded click then peaks over the PCM it was given: with the ceiling at
/// -2, the full-scale clicks of `tests/loudness_as_aired.rs` decoded at -2.3 to -0.9 dBTP
/// (18 clicks, 128 kb/s), the worst over the goal. EBU Tech 3343 asks for this room ahead of
/// lossy codecs; programme at -24 LUFS rarely reaches -3 dBTP.
pub const CEILING_DBTP: f64 = -3.0;
/// How far ahead the limiter looks (ms): how long its gain takes to come down.
pub const LOOKAHEAD_MS: f64 = 1.5;
/// Time constant of the gain's recovery after a peak (ms).
pub const RELEASE_MS: f64 = 80.0;
/// Interpolator length (taps, even): the true-peak estimate of a frame waits for half of it.
const TAPS: usize = 12;
/// Oversampling factor.
const OVERSAMPLE: usize = 4;

/// A look-ahead true-peak limiter over interleaved f32 frames. Delays its input by
/// [`Self::delay_frames`].
pub struct TruePeakLimiter {
    channels: usize,
    ceiling: f32,
    lookahead: usize,
    release: f32,
    /// Interpolation kernel per inter-sample phase (1/4, 2/4, 3/4), `TAPS` each.
    kernels: [[f32; TAPS]; OVERSAMPLE - 1],
    /// The largest sum of absolute taps of a kernel: no interpolated point exceeds the
    /// window's largest sample by more than this factor.
    kernel_bound: f32,
    /// The last `TAPS` input frames, per channel, oldest first (ring at `hist_pos`).
    hist: Vec<f32>,
    hist_pos: usize,
    /// Peak between the previous two frames under test.
    prev_interval_peak: f32,
    /// Gain needs waiting for the sliding minimum: (index, need), increasing needs.
    mins: VecDeque<(u64, f32)>,
    /// The sliding minimum's last `lookahead + 1` values and their sum.
    boxcar: VecDeque<f32>,
    boxcar_sum: f64,
    /// The gain applied to the previous frame.
    env: f32,
    /// Delayed input frames (ring), `delay_frames` long.
    delay: Vec<f32>,
    delay_pos: usize,
    index: u64,
    /// Lowest gain applied since [`Self::take_lowest_gain`].
    lowest: f32,
}

impl TruePeakLimiter {
    /// A limiter for `channels` at `rate` Hz with its ceiling at `ceiling_dbtp`.
    pub fn new(channels: usize, rate: u32, ceiling_dbtp: f64) -> Self {
        let lookahead = ((LOOKAHEAD_MS / 1000.0 * f64::from(rate)).round() as usize).max(1);
        let release = (1.0 - (-1.0 / (RELEASE_MS / 1000.0 * f64::from(rate))).exp()) as f32;
        let mut kernels = [[0f32; TAPS]; OVERSAMPLE - 1];
        for (p, kernel) in kernels.iter_mut().enumerate() {
            let frac = (p + 1) as f64 / OVERSAMPLE as f64;
            // Tap k weighs input frame (m - TAPS/2 + 1 + k); the point sits at m + frac.
            let mut sum = 0.0;
            for (k, tap) in kernel.iter_mut().enumerate() {
                let t = (k as f64 - (TAPS / 2 - 1) as f64) - frac;
                let sinc =
                    if t.abs() < 1e-9 { 1.0 } else { (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t) };
                let w = 0.5 + 0.5 * (std::f64::consts::PI * t / (TAPS as f64 / 2.0 + 1.0)).cos();
                *tap = (sinc * w) as f32;
                sum += sinc * w;
            }
            // Unity gain at DC.
            for tap in kernel.iter_mut() {
                *tap /= sum as f32;
            }
        }
        let delay_frames = lookahead + TAPS / 2;
        let kernel_bound = kernels.iter().map(|k| k.iter().map(|t| t.abs()).sum::<f32>()).fold(1.0, f32::max);
        Self {
            channels: channels.max(1),
            ceiling: 10f64.powf(ceiling_dbtp / 20.0) as f32,
            lookahead,
            release,
            kernels,
            kernel_bound,
            hist: vec![0.0; TAPS * channels.max(1)],
            hist_pos: 0,
            prev_interval_peak: 0.0,
            mins: VecDeque::with_capacity(lookahead + 2),
            boxcar: std::iter::repeat_n(1.0, lookahead + 1).collect(),
            boxcar_sum: (lookahead + 1) as f64,
            env: 1.0,
            delay: vec![0.0; delay_frames * channels.max(1)],
            delay_pos: 0,
            index: 0,
            lowest: 1.0,
        }
    }

    /// How many frames the output lags the input.
    pub fn delay_frames(&self) -> usize {
        self.delay.len() / self.channels
    }

    /// The lowest gain applied since the last call (1.0: the limiter did nothing).
    pub fn take_lowest_gain(&mut self) -> f32 {
        std::mem::replace(&mut self.lowest, 1.0)
    }

    /// Limit `samples` (interleaved frames) in place.
    pub fn process(&mut self, samples: &mut [f32]) {
        let ch = self.channels;
        for frame in samples.chunks_exact_mut(ch) {
            // 1. The frame enters the interpolator's history.
            let slot = self.hist_pos * ch;
            self.hist[slot..slot + ch].copy_from_slice(frame);
            self.hist_pos = (self.hist_pos + 1) % TAPS;
            // 2. True peak around the frame under test, m = newest - TAPS/2: the frame
            //    itself and the inter-sample points on both sides of it.
            let m = (self.hist_pos + TAPS / 2 - 1) % TAPS; // ring index of frame m
            let mut sample_peak = 0f32;
            let mut interval_peak = 0f32;
            // No interpolated point can exceed the window's largest sample times the kernel's
            // gain on a worst-case signal: below the ceiling by that margin (programme audio
            // at its target, nearly all the time), skip the interpolation.
            let window_peak = self.hist.iter().fold(0f32, |a, x| a.max(x.abs()));
            let quiet = window_peak * self.kernel_bound <= self.ceiling;
            for c in 0..ch {
                sample_peak = sample_peak.max(self.hist[m * ch + c].abs());
                if quiet {
                    continue;
                }
                for kernel in &self.kernels {
                    let mut acc = 0f32;
                    for (k, tap) in kernel.iter().enumerate() {
                        acc += tap * self.hist[((self.hist_pos + k) % TAPS) * ch + c];
                    }
                    interval_peak = interval_peak.max(acc.abs());
                }
            }
            if quiet {
                // Every point of the window is under the ceiling: bounded by it, not measured.
                interval_peak = window_peak * self.kernel_bound;
            }
            let peak = sample_peak.max(interval_peak).max(self.prev_interval_peak);
            self.prev_interval_peak = interval_peak;
            let need = if peak > self.ceiling { self.ceiling / peak } else { 1.0 };
            // 3. Sliding minimum of the need over the look-ahead, then its moving average.
            let i = self.index;
            self.index += 1;
            while self.mins.back().is_some_and(|&(_, g)| g >= need) {
                self.mins.pop_back();
            }
            self.mins.push_back((i, need));
            while self.mins.front().is_some_and(|&(j, _)| j + (self.lookahead as u64) < i) {
                self.mins.pop_front();
            }
            let min = self.mins.front().map_or(1.0, |&(_, g)| g);
            self.boxcar_sum += f64::from(min) - f64::from(self.boxcar.pop_front().unwrap_or(1.0));
            self.boxcar.push_back(min);
            let average = (self.boxcar_sum / (self.lookahead + 1) as f64).min(1.0) as f32;
            // 4. Fast down (already smoothed by the average), slow up.
            self.env = if average < self.env { average } else { self.env + (average - self.env) * self.release };
            self.lowest = self.lowest.min(self.env);
            // 5. The frame that leaves the delay line (aligned with need m - lookahead) takes
            //    the gain; the new frame takes its place.
            let d = self.delay_pos * ch;
            for (sample, delayed) in frame.iter_mut().zip(&mut self.delay[d..d + ch]) {
                let out = *delayed * self.env;
                *delayed = *sample;
                *sample = out;
            }
            self.delay_pos = (self.delay_pos + 1) % (self.delay.len() / ch);
        }
    }
}

/// The limiter element for one track, in the channel's raw audio caps (F32LE interleaved).
pub(crate) fn element(name: &str) -> Result<gst::Element, PipelineError> {
    let identity = make(IDENTITY)?;
    identity.set_property("name", name);
    let pad = identity.static_pad("src").expect("identity has a src pad");
    // std Mutex: touched by this pad's streaming thread only, one buffer at a time.
    let state: Mutex<Option<TruePeakLimiter>> = Mutex::new(None);
    pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(gst::PadProbeData::Event(ev)) = &info.data {
            if let gst::EventView::Caps(c) = ev.view()
                && let Ok(audio) = gst_audio::AudioInfo::from_caps(c.caps())
            {
                *state = (audio.format() == gst_audio::AudioFormat::F32le)
                    .then(|| TruePeakLimiter::new(audio.channels() as usize, audio.rate(), CEILING_DBTP));
            }
            return gst::PadProbeReturn::Ok;
        }
        let Some(limiter) = state.as_mut() else { return gst::PadProbeReturn::Ok };
        let Some(buffer) = info.buffer_mut() else { return gst::PadProbeReturn::Ok };
        let buffer = buffer.make_mut();
        if let Ok(mut map) = buffer.map_writable() {
            process_bytes(limiter, map.as_mut_slice());
        }
        gst::PadProbeReturn::Ok
    });
    Ok(identity)
}

/// Run `limiter` over F32LE bytes.
pub(crate) fn process_bytes(limiter: &mut TruePeakLimiter, data: &mut [u8]) {
    let mut samples: Vec<f32> = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    limiter.process(&mut samples);
    for (out, s) in data.chunks_exact_mut(4).zip(samples) {
        out.copy_from_slice(&s.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// True peak of stereo frames by 16x oversampling with a long sinc (a reference far
    /// finer than the limiter's own estimate).
    fn reference_true_peak(samples: &[f32]) -> f32 {
        let frames: Vec<f32> = samples.chunks_exact(2).map(|f| f[0]).collect();
        let mut peak = 0f32;
        for i in 32..frames.len().saturating_sub(32) {
            for p in 0..16 {
                let t0 = p as f64 / 16.0;
                let mut acc = 0f64;
                for k in -32i64..=32 {
                    let t = k as f64 - t0;
                    let s = if t.abs() < 1e-9 {
                        1.0
                    } else {
                        (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t)
                    };
                    let w = 0.5 + 0.5 * (std::f64::consts::PI * t / 33.0).cos();
                    acc += f64::from(frames[(i as i64 + k) as usize]) * s * w;
                }
                peak = peak.max(acc.abs() as f32);
            }
        }
        peak
    }

    fn stereo(f: impl Fn(usize) -> f32, n: usize) -> Vec<f32> {
        (0..n).flat_map(|i| [f(i), f(i)]).collect()
    }

    #[test]
    fn quiet_audio_passes_unchanged_but_delayed() {
        let mut l = TruePeakLimiter::new(2, 48_000, CEILING_DBTP);
        let input = stereo(|i| 0.3 * (i as f32 * 0.05).sin(), 4800);
        let mut out = input.clone();
        l.process(&mut out);
        let d = l.delay_frames();
        assert_eq!(d, 72 + TAPS / 2);
        for i in d..4800 {
            assert_eq!(out[2 * i], input[2 * (i - d)], "frame {i}");
        }
        assert_eq!(l.take_lowest_gain(), 1.0);
    }

    #[test]
    fn clicks_and_inter_sample_peaks_stay_under_the_ceiling() {
        let ceiling = 10f32.powf(CEILING_DBTP as f32 / 20.0);
        // A quiet tone with full-scale clicks, then a sine at fs/4 phased so its samples
        // miss its crests by 3 dB (inter-sample peaks), raised well over full scale.
        let mut input = stereo(|i| 0.05 * (i as f32 * 0.03).sin(), 48_000);
        for click in [1000, 3000, 3001, 7000] {
            input[2 * click] = 1.0;
            input[2 * click + 1] = -1.0;
        }
        input.extend(stereo(
            |i| 2.0 * (std::f32::consts::FRAC_PI_2 * i as f32 + std::f32::consts::FRAC_PI_4).sin(),
            4800,
        ));
        let mut out = input.clone();
        let mut l = TruePeakLimiter::new(2, 48_000, CEILING_DBTP);
        l.process(&mut out);
        let tp = reference_true_peak(&out);
        assert!(tp <= ceiling * 1.03, "true peak {:.2} dBTP", 20.0 * tp.log10());
        assert!(l.take_lowest_gain() < 0.5);
        // Away from the clicks the quiet tone is untouched once the gain has recovered.
        let d = l.delay_frames();
        let i = 40_000 + d;
        assert!((out[2 * i] - input[2 * (i - d)]).abs() < 1e-3);
    }
}
