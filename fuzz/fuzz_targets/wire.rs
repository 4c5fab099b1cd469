//! Fuzz the HDHomeRun discovery and control frame parsers (`src/hdhr/wire.rs`).
//!
//! The codec is pure and depends only on `crc32fast` and `thiserror`, so it is compiled in
//! by path instead of linking the whole daemon (GStreamer, SQLite, …) into the fuzzer.
//! Properties: no input panics; a datagram is parsed as a discovery request; the same bytes
//! read as a TCP stream of back-to-back control frames; any get/set request that parses
//! re-encodes to a frame that parses back to the same request.
#![no_main]

#[path = "../../src/hdhr/wire.rs"]
#[allow(dead_code)]
mod wire;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
