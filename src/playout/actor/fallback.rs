//! Encoder fallback on the actor's side. An encoder that fails on air — an error from the
//! encoder element or the queue feeding it, a fatal flow it returned to its input without
//! having been given it by downstream (a `not-negotiated` travels upstream and is posted by
//! whichever source's thread it stops), a failure to start, or no output while its input flows
//! for [`ENCODER_STALL`] (a wedged V4L2 queue) — ends the session with
//! [`End::EncoderFailed`]; the channel is rebuilt at once on the next verified encoder of the
//! probe order ([`Encoders::failed`]), viewers staying subscribed and the output timeline
//! continuing. The preferred encoder is tried again when its back-off runs out (a deliberate
//! rebuild, [`End::RetryEncoder`]). Each change is logged (`encoder failed: falling back`,
//! `encoder: trying the preferred encoder again`), published in the status (`encoder`,
//! `encoder_change`) and said in the as-run entry of the item it cut.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::{End, Session};
use crate::playout::encoder::EncoderKind;
use crate::playout::player::{MAX_ENCODER_RETRY, PlayerConfig};

/// An encoder that put out nothing for this long while the compositor fed it at least
/// [`STALL_INPUT_NS`] is stalled.
pub(super) const ENCODER_STALL: Duration = Duration::from_secs(5);
/// Input (compositor running time) that must have gone in for a stall to count.
const STALL_INPUT_NS: u64 = 3_000_000_000;

/// The channel's encoder candidates and where it stands among them.
#[derive(Debug, Clone)]
pub(super) struct Encoders {
    /// Preferred first, then the verified fallbacks in probe order.
    order: Vec<EncoderKind>,
    current: usize,
    /// The first back-off, and the one the next failure of the preferred encoder starts.
    base: Duration,
    next_wait: Duration,
    /// When the preferred encoder is tried again (while on a fallback).
    retry_at: Option<Instant>,
}

/// A change of encoder, for the log, the status and the as-run log.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Change {
    pub from: EncoderKind,
    pub to: EncoderKind,
    /// What happened, in words.
    pub what: String,
    /// A different encoder takes over (rebuild at once).
    pub switched: bool,
}

impl Encoders {
    pub(super) fn new(config: &PlayerConfig) -> Self {
        let mut order = vec![config.encoder];
        order.extend(config.fallback.next.iter().copied().filter(|k| *k != config.encoder));
        let base = config.fallback.retry_after.max(Duration::from_secs(1));
        Self { order, current: 0, base, next_wait: base, retry_at: None }
    }

    pub(super) fn current(&self) -> EncoderKind {
        self.order[self.current]
    }

    /// When the session on a fallback should make way for the preferred encoder.
    pub(super) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// The current encoder failed after running for `ran`: move to the next candidate (the
    /// preferred one is tried again after its back-off), or stay on the last.
    pub(super) fn failed(&mut self, reason: &str, ran: Duration, now: Instant) -> Change {
        let from = self.current();
        if self.current + 1 >= self.order.len() {
            return Change {
                from,
                to: from,
                what: format!("{} failed: {reason}; no other encoder, rebuilt on it", from.element()),
                switched: false,
            };
        }
        if self.current == 0 {
            // One that held as long as the longest back-off counts as recovered.
            if ran >= MAX_ENCODER_RETRY {
                self.next_wait = self.base;
            }
            self.retry_at = Some(now + self.next_wait);
            self.next_wait = (self.next_wait * 2).min(MAX_ENCODER_RETRY);
        }
        self.current += 1;
        let to = self.current();
        let retry = match self.retry_at {
            Some(at) => format!(" ({} is tried again in {} s)", self.order[0].element(), (at - now).as_secs()),
            None => String::new(),
        };
        Change {
            from,
            to,
            what: format!("{} failed: {reason}; now {}{retry}", from.element(), to.element()),
            switched: true,
        }
    }

    /// If the preferred encoder's back-off ran out, go back to it.
    pub(super) fn retry_due(&mut self, now: Instant) -> Option<Change> {
        let at = self.retry_at?;
        if now < at || self.current == 0 {
            return None;
        }
        let from = self.current();
        self.current = 0;
        self.retry_at = None;
        let to = self.current();
        Some(Change {
            from,
            to,
            what: format!("{} tried again (was on {})", to.element(), from.element()),
            switched: true,
        })
    }
}

/// Counts the encoder's output buffers and notes how far its input had got.
#[derive(Debug)]
pub(super) struct EncoderWatch {
    encoder: Option<gst::Element>,
    out: Arc<AtomicU64>,
    /// (output buffers seen last, when that count last changed, compositor position then).
    last: (u64, Instant, u64),
}

impl EncoderWatch {
    /// Watch the `kind` element of `pipeline` (none found: nothing is ever stalled).
    pub(super) fn new(pipeline: &gst::Pipeline, kind: EncoderKind) -> Self {
        let out = Arc::new(AtomicU64::new(0));
        let encoder = encoder_of(pipeline, kind);
        if let Some(pad) = encoder.as_ref().and_then(|e| e.static_pad("src")) {
            let count = out.clone();
            pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST, move |_, _| {
                count.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        }
        Self { encoder, out, last: (0, Instant::now(), 0) }
    }

    /// Whether the encoder refused its input: its sink pad last returned a fatal flow that its
    /// source pad did not get from downstream.
    fn refused(&self) -> bool {
        let fatal = |pad: Option<gst::Pad>| {
            pad.is_some_and(
                |p| matches!(p.last_flow_result(), Err(e) if e != gst::FlowError::Flushing && e != gst::FlowError::Eos),
            )
        };
        self.encoder.as_ref().is_some_and(|e| fatal(e.static_pad("sink")) && !fatal(e.static_pad("src")))
    }
}

/// The encoder element of `pipeline` (a direct child).
fn encoder_of(pipeline: &gst::Pipeline, kind: EncoderKind) -> Option<gst::Element> {
    pipeline.children().into_iter().find(|e| is_encoder(e, kind))
}

fn is_encoder(e: &gst::Element, kind: EncoderKind) -> bool {
    e.factory().is_some_and(|f| f.name() == kind.element())
}

/// Whether an error posted by `src` is the encoder's: the encoder itself, or the element whose
/// source pad feeds it (its queue, whose streaming thread the encoder's flow errors stop).
pub(super) fn from_encoder(src: Option<&gst::Object>, kind: EncoderKind) -> bool {
    let Some(el) = src.and_then(|o| o.downcast_ref::<gst::Element>()) else { return false };
    is_encoder(el, kind)
        || el
            .static_pad("src")
            .and_then(|p| p.peer())
            .and_then(|p| p.parent_element())
            .is_some_and(|e| is_encoder(&e, kind))
}

impl Session<'_> {
    /// How a fatal error from the pipeline (`text`: `error` with all of its `debug` details)
    /// ends the session: an encoder failure (said as the error and the details' last line) or
    /// a rebuild.
    pub(super) fn pipeline_error(
        &self,
        src: Option<&gst::Object>,
        error: &glib::Error,
        debug: Option<&str>,
        text: String,
    ) -> End {
        if from_encoder(src, self.encoder) || self.encoded.refused() {
            let detail = debug.and_then(|d| d.lines().last()).map(str::trim).filter(|d| !d.is_empty());
            let reason = match detail {
                Some(d) => format!("{error} ({d})"),
                None => error.to_string(),
            };
            End::EncoderFailed { reason }
        } else {
            End::Restart { reason: text, deliberate: false }
        }
    }

    /// Every tick: has the encoder stopped putting out while its input flows, or is it time to
    /// try the preferred encoder again?
    pub(super) fn encoder_guard(&mut self) -> Option<End> {
        let now = Instant::now();
        let out = self.encoded.out.load(Ordering::Relaxed);
        let position = self.cp.meter().position_ns.load(Ordering::Relaxed);
        let (seen, since, at_position) = self.encoded.last;
        if out != seen {
            self.encoded.last = (out, now, position);
        } else if now.duration_since(since) >= ENCODER_STALL && position >= at_position + STALL_INPUT_NS {
            let reason = format!(
                "{} put out nothing for {} s while {:.1} s of video went in",
                self.encoder.element(),
                now.duration_since(since).as_secs(),
                (position - at_position) as f64 / 1e9
            );
            return Some(End::EncoderFailed { reason });
        }
        if self.encoder_retry_at.is_some_and(|at| now >= at) {
            return Some(End::RetryEncoder);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playout::player::EncoderFallback;

    fn encoders(next: &[EncoderKind], retry_s: u64) -> Encoders {
        Encoders {
            order: std::iter::once(EncoderKind::V4l2).chain(next.iter().copied()).collect(),
            current: 0,
            base: Duration::from_secs(retry_s),
            next_wait: Duration::from_secs(retry_s),
            retry_at: None,
        }
    }

    #[test]
    fn a_failed_encoder_falls_back_in_order_and_is_tried_again_with_a_doubling_back_off() {
        let mut e = encoders(&[EncoderKind::X264, EncoderKind::OpenH264], 60);
        let t0 = Instant::now();
        let c = e.failed("boom", Duration::from_secs(5), t0);
        assert_eq!((c.from, c.to, c.switched), (EncoderKind::V4l2, EncoderKind::X264, true));
        assert!(
            c.what.contains("v4l2h264enc failed: boom; now x264enc (v4l2h264enc is tried again in 60 s)"),
            "{}",
            c.what
        );
        assert_eq!(e.retry_at(), Some(t0 + Duration::from_secs(60)));
        assert!(e.retry_due(t0 + Duration::from_secs(59)).is_none());
        // The fallback fails too: the next one, the preferred one's retry unchanged.
        let c = e.failed("again", Duration::from_secs(5), t0);
        assert_eq!(c.to, EncoderKind::OpenH264);
        assert_eq!(e.retry_at(), Some(t0 + Duration::from_secs(60)));
        // The last one is rebuilt on itself.
        let c = e.failed("still", Duration::from_secs(5), t0);
        assert_eq!((c.to, c.switched), (EncoderKind::OpenH264, false));

        let t1 = t0 + Duration::from_secs(60);
        let back = e.retry_due(t1).expect("due");
        assert_eq!((back.from, back.to), (EncoderKind::OpenH264, EncoderKind::V4l2));
        assert_eq!(e.current(), EncoderKind::V4l2);
        assert_eq!(e.retry_at(), None);
        // It fails again: twice the wait, up to 30 minutes.
        e.failed("boom", Duration::from_secs(5), t1);
        assert_eq!(e.retry_at(), Some(t1 + Duration::from_secs(120)));
        let mut t = t1;
        for _ in 0..10 {
            t += Duration::from_secs(3600);
            e.retry_due(t).expect("due");
            e.failed("boom", Duration::from_secs(5), t);
        }
        assert_eq!(e.retry_at(), Some(t + MAX_ENCODER_RETRY));
        // Once it held for the longest wait, the back-off starts again.
        t += Duration::from_secs(3600);
        e.retry_due(t).expect("due");
        e.failed("boom", MAX_ENCODER_RETRY, t);
        assert_eq!(e.retry_at(), Some(t + Duration::from_secs(60)));
    }

    #[test]
    fn without_fallbacks_the_channel_is_rebuilt_on_its_encoder() {
        let config = EncoderFallback::default();
        assert!(config.next.is_empty());
        let mut e = encoders(&[], 60);
        let c = e.failed("boom", Duration::from_secs(5), Instant::now());
        assert_eq!((c.from, c.to, c.switched), (EncoderKind::V4l2, EncoderKind::V4l2, false));
        assert_eq!(e.retry_at(), None);
    }

    #[test]
    fn errors_from_the_encoder_or_its_feeding_queue_are_the_encoders() {
        gst::init().unwrap();
        let pipeline = gst::Pipeline::new();
        use crate::elements::{H264PARSE, QUEUE, X264ENC};
        let queue = QUEUE.make().unwrap();
        let enc = X264ENC.make().unwrap();
        let parse = H264PARSE.make().unwrap();
        let other = QUEUE.make().unwrap();
        pipeline.add_many([&queue, &enc, &parse, &other]).unwrap();
        gst::Element::link_many([&queue, &enc, &parse, &other]).unwrap();
        let is = |e: &gst::Element| from_encoder(Some(e.upcast_ref()), EncoderKind::X264);
        assert!(is(&enc) && is(&queue));
        assert!(!is(&parse) && !is(&other) && !is(pipeline.upcast_ref()));
        assert!(!from_encoder(Some(enc.upcast_ref()), EncoderKind::OpenH264));
        assert!(encoder_of(&pipeline, EncoderKind::X264).is_some_and(|e| e == enc));
    }
}
