//! Fuzz the Kodi/TinyMediaManager `.nfo` parser (properties in `checks/nfo.rs`).
#![no_main]

#[path = "../checks/nfo.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
