//! The import rules of `src/lib.rs` ("Import rules"), checked by reading the sources: each
//! module may only name the internal modules and external crates it is allowed to.

use std::collections::BTreeMap;
use std::path::Path;

const MODULES: &[&str] = &[
    "clock",
    "config",
    "db",
    "director",
    "elements",
    "emergency",
    "guide",
    "hdhr",
    "library",
    "lineup",
    "mediaserver",
    "playout",
    "schedule",
    "stream",
    "web",
];

fn allowed(module: &str) -> &'static [&'static str] {
    match module {
        "clock" | "db" | "elements" => &[],
        "config" => &["db"],
        "library" => &["db", "config", "clock", "elements"],
        "lineup" => &["db", "config", "clock"],
        "schedule" => &["library", "lineup", "clock", "db", "config"],
        "emergency" => &["db", "clock", "config", "lineup"],
        "stream" => &["lineup"],
        "playout" => &["schedule", "lineup", "library", "stream", "emergency", "clock", "config", "elements"],
        "hdhr" | "guide" | "web" => &["lineup", "schedule", "library", "stream", "emergency", "config", "clock", "db"],
        "mediaserver" => &["db", "config", "clock"],
        "director" => MODULES,
        _ => &[],
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    MODULES.contains(&name).then(|| name.to_owned())
}

#[test]
fn modules_only_import_what_the_layout_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for other in MODULES {
                if *other == module {
                    continue;
                }
                let named = code.contains(&format!("crate::{other}::"))
                    || code.contains(&format!("crate::{other};"))
                    || code.contains(&format!("crate::{other}}}"))
                    || code.contains(&format!("crate::{{{other}"))
                    || code.contains(&format!(", {other}::")) && code.trim_start().starts_with("use crate::{");
                if named && !allowed(&module).contains(other) {
                    violations.insert(
                        format!("{}:{}", file.display(), n + 1),
                        format!("{module} → {other}: {}", line.trim()),
                    );
                }
            }
        }
    }
    assert!(violations.is_empty(), "forbidden imports:\n{violations:#?}");
}

#[test]
fn external_crates_stay_in_their_place() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        let uses = |krate: &str| {
            text.lines().any(|l| {
                let l = l.trim_start();
                !l.starts_with("//") && (l.contains(&format!("use {krate}")) || l.contains(&format!("{krate}::")))
            })
        };
        let gst_ok = rel == "elements.rs"
            || rel.starts_with("playout/")
            || rel.starts_with("library/probe")
            || rel.starts_with("library/loudness")
            || rel.starts_with("library/demo")
            || rel.starts_with("library/thumbnail")
            || rel.starts_with("director/");
        if (uses("gstreamer") || uses("gst::")) && !gst_ok {
            violations.push(format!("{rel}: GStreamer outside playout/library probe"));
        }
        let sql_ok = rel.starts_with("db/") || rel.ends_with("store.rs") || rel.contains("/store/");
        if uses("rusqlite") && !sql_ok {
            violations.push(format!("{rel}: rusqlite outside db/ and */store.rs"));
        }
        let axum_ok = rel.ends_with("http.rs") || rel.starts_with("web/") || rel.starts_with("director/");
        if uses("axum") && !axum_ok {
            violations.push(format!("{rel}: axum outside */http.rs, web/, director/"));
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}
