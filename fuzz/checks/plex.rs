//! Property check for the Plex response parser (`retrovue::library::plex::parse_sections`
//! and `parse_items`), shared by the `plex` fuzz target and the corpus regression test.
//!
//! Properties: no answer panics; an answer is either decoded or refused with a message; every
//! item decoded is described the way a sync stores it: breakpoints sorted, unique and inside
//! the item, playable facts only with a positive duration and a part to play, and the part's
//! URL a path on the server that carries no token (the token is added when the item is
//! opened; the server's text never injects one or escapes the base); every part of every
//! version likewise, of known length when a version has several, and no version shorter than
//! what the schedule counts on.

use retrovue::library::plex;

const BASE: &str = "http://192.168.1.20:32400";

/// Check one input; panics on a violated property.
pub fn check(data: &[u8]) {
    match plex::parse_sections(data) {
        Ok(libraries) => {
            for l in libraries {
                let _ = (l.key.len(), l.kind.len(), l.title.len());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    match plex::parse_items(data, BASE) {
        Ok((_total, items)) => {
            for item in items {
                let b = &item.breakpoints;
                assert!(b.windows(2).all(|w| w[0] < w[1]), "breakpoints unsorted: {b:?}");
                assert!(b.iter().all(|ms| *ms > 0), "breakpoint at or before the start: {b:?}");
                let r = &item.record;
                if let Some(d) = r.duration_ms {
                    assert!(d > 0, "duration {d}");
                    assert!(b.iter().all(|ms| *ms < d), "breakpoint after the end ({d} ms): {b:?}");
                }
                if let Ok(f) = &item.facts {
                    assert!(f.duration_ms.is_some_and(|d| d > 0), "playable without a duration: {f:?}");
                    assert!(!r.uri.is_empty(), "playable without a part");
                }
                if !r.uri.is_empty() {
                    assert!(r.uri.starts_with(&format!("{BASE}/")), "part URL off the server: {}", r.uri);
                    assert!(!r.uri.to_ascii_lowercase().contains("x-plex-token"), "a token in the URI: {}", r.uri);
                    assert!(!r.uri.contains(char::is_whitespace) && !r.uri.contains('#'), "not a path: {}", r.uri);
                }
                for v in &r.versions {
                    assert!(!v.parts.is_empty(), "a version without parts");
                    for p in &v.parts {
                        assert!(p.uri.starts_with(&format!("{BASE}/")), "part URL off the server: {}", p.uri);
                        assert!(!p.uri.to_ascii_lowercase().contains("x-plex-token"), "a token in a part: {}", p.uri);
                        assert!(v.parts.len() == 1 || p.duration_ms > 0, "a part of unknown length: {v:?}");
                    }
                    if let Some(d) = r.duration_ms
                        && v.duration_ms() > 0
                    {
                        assert!(d <= v.duration_ms(), "scheduled {d} ms, longer than a version: {v:?}");
                    }
                }
                assert!(r.path.is_none(), "a local path without a path map");
                if r.season.is_some() || r.episode.is_some() {
                    assert_eq!(r.kind, Some(retrovue::library::ContentKind::Episode));
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
