//! Fuzz the Plex response parser (properties in `checks/plex.rs`).
#![no_main]

#[path = "../checks/plex.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
