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

/// Source lines of a file that are code: comments dropped, and nothing from the first
/// `#[cfg(test)]` on (unit tests may build what they test).
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .map(|(n, l)| (n + 1, l.split("//").next().unwrap_or("")))
        .collect()
}

fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .iter()
        .map(|f| (f.strip_prefix(&src).unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(f).unwrap()))
        .collect()
}

/// Issue #16: `director` is wiring only, and only `director` wires: the watched values, the
/// as-run writer, the channel supervisor, the tuners and the edges are made and started there
/// (and in the module that defines them), nowhere else.
#[test]
fn only_the_director_wires_the_daemon() {
    let wiring = [
        ("Lineups::load(", "lineup/"),
        ("Horizons::new(", "schedule/"),
        ("Published::new(", "schedule/"),
        ("AsRunLog::start(", "schedule/"),
        ("supervisor::run(", "playout/"),
        ("Hdhr::new(", "hdhr/"),
        ("GuideCache::new(", "guide/"),
        ("StreamHub::with_tuners(", "stream/"),
    ];
    let mut wrong = Vec::new();
    for (rel, text) in sources() {
        if rel.starts_with("director/") {
            continue;
        }
        for (n, code) in code_lines(&text) {
            for (call, home) in wiring {
                if code.contains(call) && !rel.starts_with(home) {
                    wrong.push(format!("{rel}:{n}: {}", code.trim()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "wiring outside director:\n{}", wrong.join("\n"));
}

/// The module whose store owns a table.
fn owner(table: &str) -> Option<&'static str> {
    Some(match table {
        "channels" => "lineup",
        t if t.starts_with("schedule_") => "schedule",
        "playout_log" | "programming_slots" | "series_progress" => "schedule",
        t if t.starts_with("content_") => "library",
        "sources" => "library",
        "emergency_alerts" => "emergency",
        "users" | "sessions" => "web",
        "system_config" => "config",
        "media_server_links" => "mediaserver",
        _ => return None,
    })
}

/// Read-only joins a store may make into a table it does not own, each with its reason.
const JOINS: &[(&str, &str, &str)] = &[(
    "schedule/store/mod.rs",
    "content_items",
    "an airing's media (URI, loudness, source) is joined when the horizon is read, so a moved \
     file, a measured loudness or a new source token reaches playout without a republish",
)];

/// Issue #16: each table is read and written by the module that owns it (through its store);
/// no other module below the director runs SQL on it (the joins above excepted, read-only).
#[test]
fn no_module_runs_sql_on_another_modules_table() {
    let mut wrong = Vec::new();
    for (rel, text) in sources() {
        let module = rel.split(['/', '.']).next().unwrap_or("").to_owned();
        if ["db", "director"].contains(&module.as_str()) {
            continue;
        }
        for (n, code) in code_lines(&text) {
            let words: Vec<&str> =
                code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
            for w in words.windows(2) {
                if !["FROM", "JOIN", "INTO", "UPDATE", "TABLE"].contains(&w[0]) {
                    continue;
                }
                let joined = JOINS.iter().any(|(f, t, _)| *f == rel && *t == w[1] && w[0] == "JOIN");
                if let Some(o) = owner(w[1])
                    && o != module
                    && !joined
                {
                    wrong.push(format!("{rel}:{n}: {module} uses {} (owned by {o}): {}", w[1], code.trim()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "SQL on another module's table:\n{}", wrong.join("\n"));
}

/// Issue #16: the lineup and the airings are watched values; nothing re-reads them on a
/// timer. Their readers are called only by the watched values themselves, by one-shot
/// commands and requests (the CLI, the web page's API, the schedule builder), and never from
/// a file that runs a timer loop.
#[test]
fn no_timer_re_reads_the_lineup_or_the_airings() {
    let readers = ["store::lineup(", "lineup_store::lineup(", "airings_to_play("];
    let mut wrong = Vec::new();
    for (rel, text) in sources() {
        let code = code_lines(&text);
        let reads: Vec<usize> =
            code.iter().filter(|(_, c)| readers.iter().any(|r| c.contains(r))).map(|(n, _)| *n).collect();
        if reads.is_empty() || rel.starts_with("lineup/") || rel.starts_with("schedule/store") {
            continue;
        }
        let timer = code.iter().any(|(_, c)| c.contains("interval(") || c.contains("sleep(") && c.contains("loop"));
        let allowed = rel == "schedule/horizons.rs"
            || rel.starts_with("director/cli/")
            || rel.starts_with("web/api/")
            || rel == "schedule/import.rs"
            || rel == "director/encoders.rs"
            || rel == "director/links.rs"
            || rel == "mediaserver/links.rs"
            || rel == "emergency/store.rs";
        if timer || !allowed {
            wrong.push(format!(
                "{rel}: reads the lineup or airings at lines {reads:?}{}",
                if timer { " and runs a timer" } else { "" }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
