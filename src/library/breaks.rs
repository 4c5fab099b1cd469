//! Break points found in the media itself (pure): where a program goes black *and* silent
//! for at least a few frames — the act breaks of a broadcast episode, often after a fade to
//! black — found by the loudness pass ([`super::loudness`]) in the same read of the file.
//!
//! The pass measures the sound of every 10 ms block ([`SilenceMeter`]); only the video around
//! silent stretches is decoded (whole GOPs, from a little before the silence: the fade), and
//! each decoded frame reduced to its share of black pixels and mean luma ([`frame_stat`]).
//! [`candidates`] pairs the two: a run of black frames inside silence, frame-exact, with a
//! confidence (longer gaps and a fade-out before them count for more). Silence without black
//! (a quiet scene) and black without silence (a dip to black under dialogue or music, a fade
//! inside one scene) are not breaks.

use serde::{Deserialize, Serialize};

/// Audio blocks are measured over this many ms.
pub const BLOCK_MS: u64 = 10;
/// A block is silent below this RMS level (dBFS).
pub const SILENCE_DBFS: f64 = -50.0;
/// Silence shorter than this is not looked at (ns).
pub const MIN_SILENCE_NS: u64 = 80_000_000;
/// A break needs at least this many black and silent frames.
pub const MIN_FRAMES: usize = 3;
/// How far before a silence the video is decoded (the fade to black), ns.
pub const LOOKBACK_NS: u64 = 600_000_000;
/// How far after a silence the video is decoded, ns.
pub const LOOKAHEAD_NS: u64 = 100_000_000;
/// A frame is black when this share of its pixels is at most [`BLACK_LUMA`].
pub const BLACK_SHARE: f64 = 0.98;
/// Darkest-luma threshold (full-range 8-bit luma).
pub const BLACK_LUMA: u8 = 24;
/// Candidates nearer than this to the start or end of the media are left out (ns): the
/// black a file starts or ends with is no act break.
pub const EDGE_NS: u64 = 1_000_000_000;

/// A span of media time, ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start.
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
}

/// Finds silent stretches in decoded audio, block by block.
#[derive(Debug, Clone)]
pub struct SilenceMeter {
    rate: u64,
    channels: usize,
    /// Where the block being summed starts (ns) and what it holds.
    block_start: Option<u64>,
    block_frames: u64,
    sum_sq: f64,
    samples: u64,
    /// The silent run in progress.
    run: Option<u64>,
    /// Media time reached (ns).
    position: u64,
    silences: Vec<Span>,
}

impl SilenceMeter {
    /// A meter for interleaved audio of `rate` Hz and `channels` channels.
    pub fn new(rate: u32, channels: u32) -> Self {
        Self {
            rate: u64::from(rate.max(1)),
            channels: channels.max(1) as usize,
            block_start: None,
            block_frames: 0,
            sum_sq: 0.0,
            samples: 0,
            run: None,
            position: 0,
            silences: Vec::new(),
        }
    }

    fn frames_per_block(&self) -> u64 {
        (self.rate * BLOCK_MS / 1000).max(1)
    }

    fn ns_of(&self, frames: u64) -> u64 {
        frames * 1_000_000_000 / self.rate
    }

    /// Samples (interleaved F32) whose first frame is at media time `pts` (ns).
    pub fn push(&mut self, pts: u64, samples: &[f32]) {
        let per_block = self.frames_per_block();
        // A jump in the timestamps (a gap in the stream) closes the block in progress.
        if let Some(start) = self.block_start {
            let expected = start + self.ns_of(self.block_frames);
            if pts.abs_diff(expected) > self.ns_of(per_block) {
                self.close_block();
            }
        }
        for (i, frame) in samples.chunks(self.channels).enumerate() {
            if self.block_start.is_none() {
                self.block_start = Some(pts + self.ns_of(i as u64));
            }
            for s in frame {
                self.sum_sq += f64::from(*s) * f64::from(*s);
            }
            self.samples += frame.len() as u64;
            self.block_frames += 1;
            if self.block_frames >= per_block {
                self.close_block();
            }
        }
    }

    fn close_block(&mut self) {
        let Some(start) = self.block_start.take() else { return };
        let end = start + self.ns_of(self.block_frames);
        let rms = (self.sum_sq / self.samples.max(1) as f64).sqrt();
        let db = if rms > 0.0 { 20.0 * rms.log10() } else { f64::NEG_INFINITY };
        let silent = db < SILENCE_DBFS;
        match (silent, self.run) {
            (true, None) => self.run = Some(start),
            (false, Some(s)) => {
                self.run = None;
                self.keep(Span { start: s, end: start });
            }
            _ => {}
        }
        self.position = self.position.max(end);
        (self.block_frames, self.sum_sq, self.samples) = (0, 0.0, 0);
    }

    fn keep(&mut self, span: Span) {
        if span.end.saturating_sub(span.start) >= MIN_SILENCE_NS {
            self.silences.push(span);
        }
    }

    /// The stream ended: close what is open.
    pub fn finish(&mut self) {
        self.close_block();
        if let Some(s) = self.run.take() {
            let end = self.position;
            self.keep(Span { start: s, end });
        }
    }

    /// Media time measured so far (ns).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Closed silent stretches so far, in order.
    pub fn silences(&self) -> &[Span] {
        &self.silences
    }

    /// Start of the silence in progress, if the sound is silent now.
    pub fn silent_since(&self) -> Option<u64> {
        self.run
    }

    /// Whether video over `span` must be decoded: it lies within a silence (widened by the
    /// look-back and look-ahead), closed or in progress.
    pub fn wants(&self, span: Span) -> bool {
        let near = |s: u64, e: u64| span.end > s.saturating_sub(LOOKBACK_NS) && span.start < e + LOOKAHEAD_NS;
        self.silences.iter().any(|s| near(s.start, s.end)) || self.run.is_some_and(|s| near(s, u64::MAX / 2))
    }
}

/// What a decoded frame says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameStat {
    /// Presentation time, ns.
    pub pts: u64,
    /// Duration, ns.
    pub duration: u64,
    /// Share of pixels at most [`BLACK_LUMA`].
    pub black_share: f64,
    /// Mean luma, 0-255.
    pub mean: f64,
}

impl FrameStat {
    /// Whether the frame is black.
    pub fn is_black(&self) -> bool {
        self.black_share >= BLACK_SHARE
    }
}

/// Share of black pixels and mean of a full-range 8-bit luma plane (`width` x `height`,
/// rows `stride` bytes apart); every other pixel of every other row is enough.
pub fn frame_stat(luma: &[u8], width: usize, height: usize, stride: usize) -> (f64, f64) {
    let (mut black, mut sum, mut n) = (0u64, 0u64, 0u64);
    for y in (0..height).step_by(2) {
        let Some(row) = luma.get(y * stride..y * stride + width) else { break };
        for &p in row.iter().step_by(2) {
            black += u64::from(p <= BLACK_LUMA);
            sum += u64::from(p);
            n += 1;
        }
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    (black as f64 / n as f64, sum as f64 / n as f64)
}

/// A break point found in the media.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// First black and silent frame, ms.
    pub start_ms: i64,
    /// End of the last one, ms.
    pub end_ms: i64,
    /// Where a break goes: the gap's middle, ms.
    pub offset_ms: i64,
    /// How long the picture faded to black before the gap, ms (0: a cut).
    pub fade_ms: i64,
    /// 0 to 1.
    pub confidence: f64,
}

/// Break points from the silences and the decoded frames (any order) of media `length_ns`
/// long (0: unknown).
pub fn candidates(silences: &[Span], frames: &[FrameStat], length_ns: u64) -> Vec<Candidate> {
    let mut frames: Vec<FrameStat> = frames.to_vec();
    frames.sort_by_key(|f| f.pts);
    frames.dedup_by_key(|f| f.pts);
    // A frame counts when it is black and the sound is silent over most of it.
    let silent = |f: &FrameStat| {
        let mid = f.pts + f.duration / 2;
        silences.iter().any(|s| s.start <= mid && mid < s.end)
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < frames.len() {
        if !(frames[i].is_black() && silent(&frames[i])) {
            i += 1;
            continue;
        }
        let first = i;
        while i + 1 < frames.len()
            && frames[i + 1].is_black()
            && silent(&frames[i + 1])
            // Contiguous frames only (decoded runs may leave holes between them).
            && frames[i + 1].pts <= frames[i].pts + frames[i].duration * 3 / 2
        {
            i += 1;
        }
        let last = i;
        i += 1;
        if last + 1 - first < MIN_FRAMES {
            continue;
        }
        let start = frames[first].pts;
        let end = frames[last].pts + frames[last].duration;
        if start < EDGE_NS || (length_ns > 0 && end + EDGE_NS > length_ns) {
            continue;
        }
        // The fade: going back from the gap past the black frames before it (black while
        // the sound still plays out, or the frame the silence begins in), frames that get
        // brighter and brighter.
        let follows = |k: usize| frames[k].pts <= frames[k - 1].pts + frames[k - 1].duration * 3 / 2;
        let mut k = first;
        while k > 0 && follows(k) && frames[k - 1].is_black() {
            k -= 1;
        }
        let black_from = k;
        while k > 0 && follows(k) && frames[k - 1].mean > frames[k].mean + 0.5 {
            k -= 1;
        }
        let faded = black_from - k >= 4 && frames[k].mean - frames[black_from].mean >= 30.0;
        let fade_ns = if faded { frames[black_from].pts - frames[k].pts } else { 0 };
        let mut confidence: f64 = 0.55;
        if end - start >= 400_000_000 {
            confidence += 0.2;
        }
        if faded {
            confidence += 0.2;
        }
        if last + 1 - first >= 2 * MIN_FRAMES {
            confidence += 0.05;
        }
        let ms = |ns: u64| (ns / 1_000_000) as i64;
        out.push(Candidate {
            start_ms: ms(start),
            end_ms: ms(end),
            offset_ms: ms(start + (end - start) / 2),
            fade_ms: ms(fade_ns),
            confidence: confidence.min(1.0),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: u64 = 33_366_667;

    fn tone(n: usize, level: f32) -> Vec<f32> {
        (0..n)
            .flat_map(|i| {
                let v = level * (i as f32 * 0.06).sin();
                [v, v]
            })
            .collect()
    }

    #[test]
    fn silences_are_found_to_the_block() {
        let mut m = SilenceMeter::new(48_000, 2);
        // 1 s of tone, 0.5 s of silence, 1 s of tone, in 1024-frame buffers.
        let mut pcm = tone(48_000, 0.3);
        pcm.extend(vec![0.0; 48_000]);
        pcm.extend(tone(48_000, 0.3));
        let mut at = 0u64;
        for chunk in pcm.chunks(2048) {
            m.push(at * 1_000_000_000 / 48_000, chunk);
            at += (chunk.len() / 2) as u64;
        }
        m.finish();
        assert_eq!(m.silences().len(), 1, "{:?}", m.silences());
        let s = m.silences()[0];
        assert!(s.start.abs_diff(1_000_000_000) <= 10_000_000, "{s:?}");
        assert!(s.end.abs_diff(1_500_000_000) <= 10_000_000, "{s:?}");
        assert!(m.wants(Span { start: 400_000_000, end: 500_000_000 }), "within the look-back");
        assert!(!m.wants(Span { start: 2_100_000_000, end: 2_400_000_000 }));
    }

    fn frames(spec: &[(usize, f64, f64)]) -> Vec<FrameStat> {
        // (count, black share, mean)
        let mut out = Vec::new();
        let mut pts = 10 * 1_000_000_000;
        for &(n, black_share, mean) in spec {
            for _ in 0..n {
                out.push(FrameStat { pts, duration: FRAME, black_share, mean });
                pts += FRAME;
            }
        }
        out
    }

    #[test]
    fn a_fade_to_black_in_silence_is_a_confident_break() {
        // 30 bright frames, a 10-frame fade, 15 black frames, bright again.
        let mut spec = vec![(30, 0.0, 120.0)];
        for k in 0..10 {
            spec.push((1, 0.0, 120.0 - 11.0 * (k + 1) as f64));
        }
        spec.push((15, 1.0, 2.0));
        spec.push((30, 0.0, 120.0));
        let f = frames(&spec);
        let black_start = f[40].pts;
        let black_end = f[54].pts + FRAME;
        let silence = [Span { start: black_start - 200_000_000, end: black_end + 100_000_000 }];
        let c = candidates(&silence, &f, 0);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].start_ms, (black_start / 1_000_000) as i64);
        assert_eq!(c[0].end_ms, (black_end / 1_000_000) as i64);
        assert!(c[0].fade_ms > 250, "{c:?}");
        assert!(c[0].confidence >= 0.9, "{c:?}");
        // The same black under sound: no break.
        assert!(candidates(&[], &f, 0).is_empty());
        // Two black frames are not a break.
        let short = frames(&[(10, 0.0, 100.0), (2, 1.0, 1.0), (10, 0.0, 100.0)]);
        let all = [Span { start: 0, end: u64::MAX / 2 }];
        assert!(candidates(&all, &short, 0).is_empty());
        // Black at the very start of the file is not either.
        let mut early = frames(&[(5, 1.0, 1.0)]);
        for f in &mut early {
            f.pts -= 10 * 1_000_000_000;
        }
        assert!(candidates(&all, &early, 0).is_empty());
    }

    #[test]
    fn luma_statistics() {
        let mut plane = vec![0u8; 64 * 48];
        assert_eq!(frame_stat(&plane, 64, 48, 64), (1.0, 0.0));
        plane.iter_mut().take(64 * 24).for_each(|p| *p = 200);
        let (share, mean) = frame_stat(&plane, 64, 48, 64);
        assert!((share - 0.5).abs() < 0.01 && (mean - 100.0).abs() < 1.0, "{share} {mean}");
    }
}
