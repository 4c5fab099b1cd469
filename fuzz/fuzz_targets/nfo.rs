//! Fuzz the Kodi/TinyMediaManager `.nfo` parser: no input panics, hangs or explodes in memory
//! (huge files, deep nesting and entity tricks are refused with an error).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(nfo) = retrovue::library::nfo::parse(data) {
        // Whatever parses gives bounded, sane values.
        let _ = format!("{nfo:?}");
    }
});
