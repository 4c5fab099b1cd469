//! Throwing data away in pad probes without upsetting GStreamer.
//!
//! A probe that returns `PadProbeReturn::Drop` from gstreamer-rs 0.24 hands GStreamer back a
//! NULL where the data was (the Rust side already took and dropped it), and GStreamer 1.22
//! then unrefs that NULL: one `gst_mini_object_unref: assertion 'mini_object != NULL' failed`
//! CRITICAL per buffer on a sink pad, and per event on any pad (measured: tests below).
//! `Handled` drops the data on the Rust side and tells GStreamer it was taken care of: the
//! same effect, and no CRITICAL.

use gstreamer as gst;

/// What a probe returns to throw away the buffer or event it was given.
pub(crate) const DISCARD: gst::PadProbeReturn = gst::PadProbeReturn::Handled;

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use gstreamer::prelude::*;

    use super::*;

    static CRITICALS: AtomicUsize = AtomicUsize::new(0);
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    /// Criticals while 20 frames pass a probe on `pad` of a queue that discards `mask` data
    /// (EOS excepted) by returning `ret`.
    fn criticals(ret: gst::PadProbeReturn, pad: &str, mask: gst::PadProbeType) -> usize {
        let _one = ONE_AT_A_TIME.lock().unwrap();
        gst::init().unwrap();
        let handler =
            glib::log_set_handler(Some("GStreamer"), glib::LogLevels::LEVEL_CRITICAL, false, false, |_, _, _| {
                CRITICALS.fetch_add(1, Ordering::SeqCst);
            });
        CRITICALS.store(0, Ordering::SeqCst);
        let p = crate::elements::launch("videotestsrc num-buffers=20 ! queue name=q ! fakesink")
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let q = p.by_name("q").unwrap();
        q.static_pad(pad).unwrap().add_probe(mask, move |_, info| {
            if info.event().is_some_and(|e| e.type_() == gst::EventType::Eos) { gst::PadProbeReturn::Ok } else { ret }
        });
        p.set_state(gst::State::Playing).unwrap();
        let bus = p.bus().unwrap();
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Eos, gst::MessageType::Error]);
        p.set_state(gst::State::Null).unwrap();
        glib::log_remove_handler(Some("GStreamer"), handler);
        CRITICALS.load(Ordering::SeqCst)
    }

    #[test]
    fn discarding_buffers_and_events_raises_no_critical() {
        for (pad, mask) in [
            ("sink", gst::PadProbeType::BUFFER),
            ("src", gst::PadProbeType::BUFFER),
            ("src", gst::PadProbeType::EVENT_DOWNSTREAM),
        ] {
            assert_eq!(criticals(DISCARD, pad, mask), 0, "{pad} {mask:?}");
        }
    }

    #[test]
    fn drop_is_what_raised_them() {
        // Why DISCARD is not `Drop`: should a gstreamer-rs upgrade fix this, this test says so.
        assert!(criticals(gst::PadProbeReturn::Drop, "sink", gst::PadProbeType::BUFFER) > 0);
    }
}
