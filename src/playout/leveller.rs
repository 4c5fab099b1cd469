//! The gain stage of an item's audio branches (on the channel's F32 48 kHz stereo, so it
//! works on the layout that airs), run by pad probes like the [`super::limiter`]:
//!
//! - [`Level::Static`]: the item was measured (in the aired layout, by the library's
//!   background job or an earlier airing): one fixed gain toward the target.
//! - [`Level::OnAir`]: never measured. A slow loudness control: the item's loudness is
//!   measured as it plays (EBU R128 with the `ebur128` crate, before the gain) and the gain
//!   follows target − loudness so far: the momentary loudness first, the short-term from
//!   3 s, then from 6 s the integrated (gated) loudness of everything measured, which
//!   settles and so does not pump. The meter sits *before* the branch's queue and the gain
//!   *after* it: the queue's half second of audio (full before the item airs) is the
//!   control's look-ahead, so the first estimate (400 ms) is in place for the first sample
//!   that airs and an item that is steadily too loud or too quiet is on target from its
//!   start. Later changes move at most [`SLEW_DB_PER_S`], ramped within each buffer (no
//!   zipper noise), and the gain holds while the item is near silence. What was measured
//!   is reported ([`Measured`]) so the actor can store it for the item's next airing.
//!
//! Both are clamped to [`MIN_GAIN_DB`]..[`MAX_GAIN_DB`]; the channel's true-peak limiter
//! after the mixer keeps a raised item's peaks under the ceiling.

use std::sync::{Arc, Mutex};

use ebur128::{EbuR128, Mode};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_audio as gst_audio;

/// Highest gain applied to a quiet item (dB); quieter items stay quieter.
pub const MAX_GAIN_DB: f64 = 12.0;
/// Strongest attenuation (dB).
pub const MIN_GAIN_DB: f64 = -20.0;
/// How fast the on-air control moves its gain (dB per second).
pub const SLEW_DB_PER_S: f64 = 6.0;
/// The on-air control re-reads the loudness this often (s).
const UPDATE_S: f64 = 0.1;
/// Below this loudness (LUFS, before gain) the on-air control holds its gain: a pause is not
/// a reason to turn the item up.
const HOLD_BELOW_LUFS: f64 = -55.0;

/// Static gain (dB) that moves an item at `item_lufs` toward `target_lufs`, clamped.
pub fn gain_db(target_lufs: f64, item_lufs: f64) -> f64 {
    if item_lufs.is_finite() { (target_lufs - item_lufs).clamp(MIN_GAIN_DB, MAX_GAIN_DB) } else { 0.0 }
}

/// How an item's level is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    /// A fixed gain (dB).
    Static(f64),
    /// Measured on the air toward this target (LUFS).
    OnAir(f64),
}

impl Level {
    /// The level for an item whose latest measurement is `item_lufs` (in the aired layout).
    pub fn for_item(target_lufs: f64, item_lufs: Option<f64>) -> Self {
        match item_lufs {
            Some(l) if l.is_finite() => Self::Static(gain_db(target_lufs, l)),
            _ => Self::OnAir(target_lufs),
        }
    }
}

/// What the on-air control measured of an item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Integrated loudness of what aired (LUFS, before the gain, aired layout).
    pub lufs: f64,
    /// How much of the item that covers (s).
    pub seconds: f64,
}

/// The gain logic over interleaved F32 frames (pure; [`attach`] puts it in a branch):
/// [`Self::measure`] sees the audio first, [`apply`] then sets the gain on it.
pub struct Leveller {
    level: Level,
    channels: usize,
    rate: f64,
    meter: Option<EbuR128>,
    gain_db: f64,
    estimated: bool,
    frames: u64,
    since_update: u64,
}

impl Leveller {
    /// A leveller for `channels` at `rate` Hz.
    pub fn new(level: Level, channels: usize, rate: u32) -> Self {
        let (meter, gain_db) = match level {
            Level::Static(g) => (None, g),
            Level::OnAir(_) => (EbuR128::new(channels as u32, rate, Mode::I | Mode::S | Mode::HISTOGRAM).ok(), 0.0),
        };
        Self {
            level,
            channels: channels.max(1),
            rate: f64::from(rate),
            meter,
            gain_db,
            estimated: false,
            frames: 0,
            since_update: 0,
        }
    }

    /// The gain to apply now (dB).
    pub fn gain_db(&self) -> f64 {
        self.gain_db
    }

    /// What was measured so far (on-air control only; `None` before the first 400 ms).
    pub fn measured(&self) -> Option<Measured> {
        let lufs = self.meter.as_ref()?.loudness_global().ok().filter(|l| l.is_finite())?;
        Some(Measured { lufs: lufs.max(-70.0), seconds: self.frames as f64 / self.rate })
    }

    /// Measure `samples` (on-air control; a static level ignores them) and move the gain.
    /// Returns whether a new estimate was made.
    pub fn measure(&mut self, samples: &[f32]) -> bool {
        let (Level::OnAir(target), Some(meter)) = (self.level, self.meter.as_mut()) else { return false };
        let n = samples.len() / self.channels;
        let _ = meter.add_frames_f32(samples);
        self.frames += n as u64;
        self.since_update += n as u64;
        if self.since_update < (UPDATE_S * self.rate) as u64 {
            return false;
        }
        let elapsed = self.since_update as f64 / self.rate;
        self.since_update = 0;
        let secs = self.frames as f64 / self.rate;
        let loudness = if secs < 3.0 {
            meter.loudness_momentary()
        } else if secs < 6.0 {
            meter.loudness_shortterm()
        } else {
            meter.loudness_global()
        };
        let recent = meter.loudness_momentary().unwrap_or(f64::NEG_INFINITY);
        if secs >= 0.4
            && let Ok(l) = loudness
            && l.is_finite()
            && recent > HOLD_BELOW_LUFS
        {
            let want = gain_db(target, l);
            if self.estimated {
                let step = SLEW_DB_PER_S * elapsed;
                self.gain_db += (want - self.gain_db).clamp(-step, step);
            } else {
                // The first estimate, made in the look-ahead: nothing has aired at 0 dB.
                self.gain_db = want;
                self.estimated = true;
            }
        }
        true
    }
}

/// Multiply `samples` by a gain ramping from `from_db` to `to_db` over them.
pub fn apply(samples: &mut [f32], channels: usize, from_db: f64, to_db: f64) {
    let n = samples.len() / channels.max(1);
    let (a, b) = (db_to_linear(from_db), db_to_linear(to_db));
    for (i, frame) in samples.chunks_exact_mut(channels.max(1)).enumerate() {
        let g = if a == b { a } else { a + (b - a) * (i + 1) as f32 / n as f32 };
        for s in frame {
            *s *= g;
        }
    }
}

fn db_to_linear(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

/// Where an item's leveller reports what it measured (read by the actor).
pub type MeasuredSlot = Arc<Mutex<Option<Measured>>>;

/// F32LE bytes as samples.
fn samples_of(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// Put an item's level into its audio branches: the meter on `meter_pad` (raw audio before
/// the branch queue; on-air control only), the gain on each of `gain_pads` (the outputs
/// after the queues). On the air it keeps `report` up to date.
pub(crate) fn attach(level: Level, meter_pad: &gst::Pad, gain_pads: &[gst::Pad], report: MeasuredSlot) {
    // std Mutex: the meter's streaming thread writes the gain, each output's reads it.
    let shared: Arc<Mutex<Option<Leveller>>> = Arc::default();
    let init = {
        let shared = shared.clone();
        move |caps: &gst::CapsRef| {
            let mut st = shared.lock().unwrap_or_else(|p| p.into_inner());
            if st.is_none()
                && let Ok(audio) = gst_audio::AudioInfo::from_caps(caps)
                && audio.format() == gst_audio::AudioFormat::F32le
            {
                *st = Some(Leveller::new(level, audio.channels() as usize, audio.rate()));
            }
        }
    };
    if matches!(level, Level::OnAir(_)) {
        let (shared, init) = (shared.clone(), init.clone());
        meter_pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data {
                if let gst::EventView::Caps(c) = ev.view() {
                    init(c.caps());
                }
                return gst::PadProbeReturn::Ok;
            }
            let Some(buffer) = info.buffer() else { return gst::PadProbeReturn::Ok };
            let Ok(map) = buffer.map_readable() else { return gst::PadProbeReturn::Ok };
            let samples = samples_of(map.as_slice());
            let mut st = shared.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = st.as_mut()
                && l.measure(&samples)
            {
                *report.lock().unwrap_or_else(|p| p.into_inner()) = l.measured();
            }
            gst::PadProbeReturn::Ok
        });
    }
    for pad in gain_pads {
        let (shared, init) = (shared.clone(), init.clone());
        // This output's gain so far (dB): each output ramps on its own.
        let applied: Mutex<Option<(f64, usize)>> = Mutex::new(None);
        pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data {
                if let gst::EventView::Caps(c) = ev.view() {
                    init(c.caps());
                }
                return gst::PadProbeReturn::Ok;
            }
            let Some((to, channels)) =
                shared.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|l| (l.gain_db(), l.channels))
            else {
                return gst::PadProbeReturn::Ok;
            };
            let mut applied = applied.lock().unwrap_or_else(|p| p.into_inner());
            let from = applied.map_or(to, |(g, _)| g);
            *applied = Some((to, channels));
            if from == 0.0 && to == 0.0 {
                return gst::PadProbeReturn::Ok;
            }
            let Some(buffer) = info.buffer_mut() else { return gst::PadProbeReturn::Ok };
            let buffer = buffer.make_mut();
            if let Ok(mut map) = buffer.map_writable() {
                let data = map.as_mut_slice();
                let mut samples = samples_of(data);
                apply(&mut samples, channels, from, to);
                for (out, s) in data.chunks_exact_mut(4).zip(samples) {
                    out.copy_from_slice(&s.to_le_bytes());
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stereo pink-ish noise (a sum of sines) at `amp`, `secs` long, at 48 kHz.
    fn program(amp: f32, secs: f64) -> Vec<f32> {
        let n = (secs * 48_000.0) as usize;
        let mut seed = 1u32;
        (0..n)
            .flat_map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                let t = i as f32 / 48_000.0;
                let v = amp * (0.5 * (2.0 * std::f32::consts::PI * 440.0 * t).sin() + 0.3 * noise);
                [v, v]
            })
            .collect()
    }

    fn lufs(samples: &[f32]) -> f64 {
        let mut m = EbuR128::new(2, 48_000, Mode::I).unwrap();
        m.add_frames_f32(samples).unwrap();
        m.loudness_global().unwrap()
    }

    #[test]
    fn static_gain_moves_toward_the_target_and_is_clamped() {
        assert_eq!(gain_db(-24.0, -14.0), -10.0);
        assert_eq!(gain_db(-24.0, -30.0), 6.0);
        assert_eq!(gain_db(-24.0, -70.0), MAX_GAIN_DB);
        assert_eq!(gain_db(-24.0, 0.0), MIN_GAIN_DB);
        assert_eq!(gain_db(-24.0, f64::NAN), 0.0);
        assert_eq!(Level::for_item(-24.0, None), Level::OnAir(-24.0));
        assert_eq!(Level::for_item(-24.0, Some(-30.0)), Level::Static(6.0));
    }

    #[test]
    fn the_on_air_control_lands_loud_and_quiet_items_on_the_target_within_seconds() {
        for amp in [0.9f32, 0.08] {
            let input = program(amp, 20.0);
            let source = lufs(&input);
            let mut l = Leveller::new(Level::OnAir(-24.0), 2, 48_000);
            // The gain is applied half a second (the branch queue) after the meter saw the
            // audio.
            let lookahead = 2 * 24_000;
            let mut applied = 0.0;
            let mut aired = input.clone();
            for (i, chunk) in input.chunks(2 * 1024).enumerate() {
                l.measure(chunk);
                let start = i * 2 * 1024;
                if start >= lookahead {
                    let out = &mut aired[start - lookahead..start - lookahead + chunk.len()];
                    apply(out, 2, applied, l.gain_db());
                    applied = l.gain_db();
                }
            }
            let aired = &aired[..aired.len() - lookahead];
            // The whole item lands on the target.
            let whole = lufs(aired);
            assert!((whole + 24.0).abs() < 1.0, "source {source:.1} LUFS aired {whole:.1} LUFS");
            let after = lufs(&aired[2 * 4 * 48_000..]);
            assert!((after + 24.0).abs() < 0.5, "source {source:.1} LUFS aired {after:.1} LUFS from 4 s");
            let m = l.measured().unwrap();
            assert!((m.lufs - source).abs() < 0.2, "measured {:.1} vs {source:.1}", m.lufs);
            assert!((m.seconds - 20.0).abs() < 0.05);
            // Settled: the gain no longer moves (no pumping).
            let before = l.gain_db();
            l.measure(&program(amp, 2.0));
            assert!((l.gain_db() - before).abs() < 0.3, "{before} -> {}", l.gain_db());
        }
    }

    #[test]
    fn silence_does_not_raise_the_gain() {
        let mut l = Leveller::new(Level::OnAir(-24.0), 2, 48_000);
        l.measure(&vec![0f32; 2 * 48_000 * 5]);
        assert_eq!(l.gain_db(), 0.0);
        assert!(l.measured().is_none());
    }
}
