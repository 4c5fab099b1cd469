//! Scripted failures, the way the real hardware fails, chosen by the environment variable
//! `RETROVUE_DOUBLE_FAIL` (read here only: production code never knows about it).
//!
//! Syntax: a comma-separated list of `ELEMENT[:key=value]...`, for example
//! `v4l2h264enc:after=5:mode=error` or `vah264dec:mode=error:match=352x288`.
//!
//! * `after=N` (seconds, default 0): 0 fails at start (the device cannot be opened, caps
//!   cannot be negotiated); N > 0 fails N seconds of wall-clock time after the first frame.
//! * `mode=error` (default): an element error on the bus (at start: `start()` fails with the
//!   "Could not open device" resource error a missing `/dev/video11` or VA display gives;
//!   later: a stream error and `GST_FLOW_ERROR`, like a driver that stops processing).
//! * `mode=not-negotiated`: at start `set_format` refuses the caps; later the element returns
//!   `GST_FLOW_NOT_NEGOTIATED`, as a driver that rejects a format change does.
//! * `mode=stall`: the element takes frames but stops producing output (blocks in
//!   `handle_frame` until it is stopped), as a wedged V4L2 M2M queue does.
//! * `match=WxH`: only streams of that size fail (so one item of a playlist can fail while
//!   the next plays).

use std::time::Duration;

/// The variable read by the doubles.
pub const ENV: &str = "RETROVUE_DOUBLE_FAIL";

/// How an element fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Element error posted on the bus, flow error.
    Error,
    /// Caps refused / `GST_FLOW_NOT_NEGOTIATED`.
    NotNegotiated,
    /// No output any more; the streaming thread blocks until the element stops.
    Stall,
}

/// One scripted failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Wall-clock time after the first frame; zero = at start.
    pub after: Duration,
    /// What happens.
    pub mode: Mode,
    /// Only streams of this size fail.
    pub size: Option<(i32, i32)>,
}

impl Plan {
    /// Whether the plan applies to a stream of this size.
    pub fn matches(&self, width: i32, height: i32) -> bool {
        self.size.is_none_or(|s| s == (width, height))
    }

    /// Whether it fails at start rather than mid-stream.
    pub fn at_start(&self) -> bool {
        self.after.is_zero()
    }
}

/// Parse `spec` and return the plan for `element`, if any. Malformed entries are ignored with
/// a message on stderr (a test that mistypes the variable sees why nothing failed).
pub fn parse(spec: &str, element: &str) -> Option<Plan> {
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = entry.split(':');
        if parts.next() != Some(element) {
            continue;
        }
        let mut plan = Plan { after: Duration::ZERO, mode: Mode::Error, size: None };
        for kv in parts {
            let ok = match kv.split_once('=') {
                Some(("after", v)) => v.parse::<f64>().ok().map(|s| plan.after = Duration::from_secs_f64(s)).is_some(),
                Some(("mode", "error")) => {
                    plan.mode = Mode::Error;
                    true
                }
                Some(("mode", "not-negotiated")) => {
                    plan.mode = Mode::NotNegotiated;
                    true
                }
                Some(("mode", "stall")) => {
                    plan.mode = Mode::Stall;
                    true
                }
                Some(("match", v)) => v
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                    .map(|s| plan.size = Some(s))
                    .is_some(),
                _ => false,
            };
            if !ok {
                eprintln!("{ENV}: ignoring {kv:?} in {entry:?}");
            }
        }
        return Some(plan);
    }
    None
}

/// The plan for `element` from the environment.
pub fn from_env(element: &str) -> Option<Plan> {
    parse(&std::env::var(ENV).ok()?, element)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let p = parse("v4l2h264enc:after=5:mode=error", "v4l2h264enc").unwrap();
        assert_eq!(p, Plan { after: Duration::from_secs(5), mode: Mode::Error, size: None });
        assert!(!p.at_start());
        let p = parse("x:mode=stall, vah264dec:mode=not-negotiated:match=352x288", "vah264dec").unwrap();
        assert_eq!(p.mode, Mode::NotNegotiated);
        assert!(p.at_start() && p.matches(352, 288) && !p.matches(320, 240));
        assert_eq!(parse("v4l2h264enc", "v4l2h264enc").unwrap().mode, Mode::Error);
        assert!(parse("vah264enc:mode=error", "vah264lpenc").is_none());
    }
}
