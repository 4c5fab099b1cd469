//! Property check for the Kodi/TinyMediaManager `.nfo` parser, shared by the `nfo` fuzz
//! target and the corpus regression test: no input panics, hangs or explodes in memory
//! (huge files, deep nesting and entity tricks are refused with an error).

/// Check one input; panics on a violated property.
pub fn check(data: &[u8]) {
    if let Ok(nfo) = retrovue::library::nfo::parse(data) {
        // Whatever parses gives bounded, sane values.
        let _ = format!("{nfo:?}");
    }
}
