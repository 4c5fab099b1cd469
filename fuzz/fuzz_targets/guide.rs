//! Fuzz the XMLTV and M3U writers' inputs (properties in `checks/guide.rs`).
#![no_main]

#[path = "../checks/guide.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
