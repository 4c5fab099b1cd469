//! Property check for the HDHomeRun discovery and control frame parsers
//! (`src/hdhr/wire.rs`), shared by the `wire` fuzz target and the corpus regression test.
//!
//! Properties: no input panics; a datagram is parsed as a discovery request; the same bytes
//! read as a TCP stream of back-to-back control frames; any get/set request that parses
//! re-encodes to a frame that parses back to the same request. The includer provides the
//! codec as `crate::wire`.

use crate::wire;

/// Check one input; panics on a violated property.
pub fn check(data: &[u8]) {
    if let Ok(req) = wire::DiscoverRequest::parse(data) {
        let _ = req.matches(0x1050_ABCE);
    }
    let mut rest = data;
    while let Ok(Some(n)) = wire::frame_len(rest) {
        if let Ok(frame) = wire::decode(&rest[..n]) {
            for tlv in wire::tlvs(frame.payload) {
                if tlv.is_err() {
                    break;
                }
            }
            if let Ok(req) = wire::GetSetRequest::from_frame(frame)
                && let Ok(again) = req.encode()
            {
                let back = wire::decode(&again).and_then(wire::GetSetRequest::from_frame);
                assert_eq!(back.as_ref(), Ok(&req));
            }
        }
        rest = &rest[n..];
    }
}
