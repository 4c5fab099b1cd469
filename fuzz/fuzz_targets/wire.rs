//! Fuzz the HDHomeRun discovery and control frame parsers (properties in `checks/wire.rs`).
//!
//! The codec is pure and depends only on `crc32fast` and `thiserror`, so it is compiled in
//! by path instead of linking the whole daemon (GStreamer, SQLite, …) into the fuzzer.
#![no_main]

#[path = "../../src/hdhr/wire.rs"]
#[allow(dead_code)]
mod wire;

#[path = "../checks/wire.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
