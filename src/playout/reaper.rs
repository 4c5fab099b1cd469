//! Bringing GStreamer elements to NULL off the actor's thread. Setting a bin to NULL joins its
//! streaming threads, which can take seconds (a source in a blocking read, a decoder in a
//! large frame) or, when a streaming thread is stuck, for ever. The actor hands each retired
//! item bin (already out of the pipeline) and, at the end of a session, the pipeline itself
//! to a [`Reaper`], which does it on a thread of its own, says when it is slow, and keeps the
//! element referenced until it reached NULL, so nothing is disposed in a running state.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::pipeline::PadReleaser;

/// Taking longer than this over one element is worth a warning.
const SLOW: Duration = Duration::from_secs(5);

/// Brings elements to NULL on threads of their own; clonable.
#[derive(Clone, Default)]
pub struct Reaper {
    in_flight: Arc<AtomicUsize>,
}

/// One element being brought down: wait for it, or not.
pub struct Reaping {
    done: std::sync::mpsc::Receiver<()>,
}

impl Reaping {
    /// Wait up to `timeout` for the element to reach NULL; false if it has not.
    pub fn wait(&self, timeout: Duration) -> bool {
        !matches!(self.done.recv_timeout(timeout), Err(std::sync::mpsc::RecvTimeoutError::Timeout))
    }
}

impl Reaper {
    /// A reaper with nothing in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Take an item bin out of its running `pipeline`: bring it to NULL (its streaming threads
    /// stop), only then release its mixer inputs (a mixer pad released while the item's thread
    /// still pushes into it is how the audiomixer once read a freed pad), and remove it. The
    /// bin's state is locked first, so the pipeline's own state changes leave it alone.
    pub(crate) fn reap_item(
        &self,
        pipeline: &gst::Pipeline,
        bin: gst::Bin,
        mixer_pads: Vec<gst::Pad>,
        releaser: PadReleaser,
    ) {
        bin.set_locked_state(true);
        let pipeline = pipeline.downgrade();
        let name = bin.name().to_string();
        self.run(bin.clone().upcast(), name, move || {
            for pad in &mixer_pads {
                releaser.release(pad);
            }
            if let Some(p) = pipeline.upgrade() {
                let _ = p.remove(&bin);
            }
        });
    }

    /// Bring `element` (out of any running pipeline, or a whole pipeline) to NULL and drop it.
    /// `what` names it in log lines.
    pub fn reap(&self, element: gst::Element, what: String) -> Reaping {
        self.run(element, what, || {})
    }

    /// Bring `element` to NULL, then run `after` (still on the reaper's thread).
    fn run(&self, element: gst::Element, what: String, after: impl FnOnce() + Send + 'static) -> Reaping {
        let (tx, done) = std::sync::mpsc::channel();
        let fallback = element.clone();
        let in_flight = self.in_flight.clone();
        in_flight.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new().name("reaper".into()).spawn(move || {
            let started = Instant::now();
            if let Err(e) = element.set_state(gst::State::Null) {
                tracing::warn!(element = %what, error = %e, "could not stop");
            }
            let (_, state, _) = element.state(gst::ClockTime::ZERO);
            let took = started.elapsed();
            if state != gst::State::Null {
                tracing::warn!(element = %what, ?state, "did not reach NULL");
            } else if took > SLOW {
                tracing::warn!(element = %what, took_ms = took.as_millis() as u64, "slow to stop");
            }
            if state == gst::State::Null {
                after();
            }
            drop(element);
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.send(());
        });
        if let Err(e) = spawned {
            // No thread to be had: do it here rather than drop a running element.
            tracing::warn!(error = %e, "no reaper thread; stopping on the caller's thread");
            let _ = fallback.set_state(gst::State::Null);
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        Reaping { done }
    }

    /// Elements still on their way to NULL.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_playing_bin_reaches_null_on_the_reaper() {
        gst::init().unwrap();
        let pipeline = crate::elements::launch("videotestsrc is-live=true ! fakesink").unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let _ = pipeline.state(gst::ClockTime::from_seconds(5));
        let weak = pipeline.downgrade();
        let reaper = Reaper::new();
        assert!(reaper.reap(pipeline, "test".into()).wait(Duration::from_secs(10)));
        assert_eq!(reaper.in_flight(), 0);
        assert!(weak.upgrade().is_none(), "the reaper dropped its reference");
    }
}
