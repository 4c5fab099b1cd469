//! The fuzz targets' properties as regression tests on the stable toolchain: every file of
//! every corpus kept in `fuzz/corpus/<target>/` (hand-written seeds plus inputs the fuzzer
//! found worth keeping) runs through the same check the fuzz target runs
//! (`fuzz/checks/<target>.rs`). The sanitizer-instrumented fuzzing itself is
//! `scripts/fuzz.sh`; this keeps what it found from regressing in every `cargo test`.

use std::path::{Path, PathBuf};

use retrovue::hdhr::wire;

#[path = "../fuzz/checks/config.rs"]
mod config_check;
#[path = "../fuzz/checks/guide.rs"]
mod guide_check;
#[path = "../fuzz/checks/nfo.rs"]
mod nfo_check;
#[path = "../fuzz/checks/plex.rs"]
mod plex_check;
#[path = "../fuzz/checks/wire.rs"]
mod wire_check;

/// A fuzz target's property check.
type Check = fn(&[u8]);

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target)
}

/// Run `check` over every file of the target's corpus; returns how many ran.
fn run_corpus(target: &str, check: Check) -> usize {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()));
            panic!("fuzz target {target}: {} fails its check: {}", f.display(), why.unwrap_or_default());
        }
    }
    files.len()
}

#[test]
fn every_fuzz_corpus_passes_its_check() {
    let targets: [(&str, Check); 5] = [
        ("wire", wire_check::check),
        ("nfo", nfo_check::check),
        ("config", config_check::check),
        ("guide", guide_check::check),
        ("plex", plex_check::check),
    ];
    for (target, check) in targets {
        let n = run_corpus(target, check);
        assert!(n >= 2, "fuzz/corpus/{target} has {n} inputs: keep its seeds in the repo");
        println!("fuzz corpus {target}: {n} inputs pass");
    }
    // Every fuzz target has a corpus here (and a check above).
    let bins = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml")).unwrap();
    for name in bins.lines().filter_map(|l| l.strip_prefix("name = \"")).filter_map(|l| l.strip_suffix('"')) {
        if name != "retrovue-fuzz" {
            assert!(targets.iter().any(|(t, _)| *t == name), "fuzz target {name} has no corpus regression check");
        }
    }
}

#[test]
fn plex_seed_answers_decode_as_a_sync_stores_them() {
    use retrovue::library::plex;
    let read = |name: &str| std::fs::read(corpus_dir("plex").join(name)).unwrap();
    let libraries = plex::parse_sections(&read("seed-sections.json")).unwrap();
    let names: Vec<(&str, &str, &str)> =
        libraries.iter().map(|l| (l.key.as_str(), l.kind.as_str(), l.title.as_str())).collect();
    assert_eq!(names, [("1", "movie", "Movies"), ("2", "show", "TV Shows"), ("3", "artist", "Music")]);

    let (total, movies) = plex::parse_items(&read("seed-movies-page.json"), "http://plex:32400/").unwrap();
    assert_eq!((total, movies.len()), (Some(5), 2));
    let first = &movies[0];
    assert_eq!(first.record.external_id, "101");
    assert_eq!(first.record.title, "Back to the Past");
    assert_eq!(first.record.year, Some(1985));
    assert_eq!(first.record.genres, ["Comedy", "Science Fiction"]);
    assert_eq!(first.record.uri, "http://plex:32400/library/parts/301/1690000000/file.mkv");
    let facts = first.facts.as_ref().unwrap();
    assert_eq!((facts.duration_ms, facts.width, facts.audio_channels), (Some(6_960_000), Some(1920), Some(6)));
    // A numeric ratingKey is read as text; the movie's duration comes from its media.
    assert_eq!(movies[1].record.external_id, "102");
    assert_eq!(movies[1].record.duration_ms, Some(5_400_000));

    let (_, episodes) = plex::parse_items(&read("seed-episodes-page.json"), "http://plex:32400").unwrap();
    assert_eq!(episodes[0].record.series.as_deref(), Some("Retro Robots"));
    assert_eq!((episodes[0].record.season, episodes[0].record.episode), (Some(1), Some(1)));
    assert_eq!(episodes[0].record.plot, None, "an empty summary is no plot");
    assert_eq!(episodes[1].facts, Err("Plex lists no playable part for this item".to_owned()));

    let (_, detail) = plex::parse_items(&read("seed-detail-markers.json"), "http://plex:32400").unwrap();
    // Chapter starts and commercial markers inside the item, once each; the chapter at 0, the
    // one past the end and the intro/credits markers are no breakpoints.
    assert_eq!(detail[0].breakpoints, [420_000, 660_000, 900_000]);

    // Parts and versions (issue 16): a movie on two discs keeps both parts in order; of three
    // versions, the one whose second part has no length cannot be cut and is dropped, and the
    // item is never scheduled longer than its shortest version.
    let (_, multi) = plex::parse_items(&read("seed-parts-and-versions.json"), "http://plex:32400").unwrap();
    let reels = &multi[0].record;
    assert_eq!(reels.duration_ms, Some(5_400_000));
    let parts: Vec<(&str, i64)> = reels.versions[0].parts.iter().map(|p| (p.uri.as_str(), p.duration_ms)).collect();
    assert_eq!(
        parts,
        [
            ("http://plex:32400/library/parts/5011/1/file.mkv", 2_700_000),
            ("http://plex:32400/library/parts/5012/1/file.mkv", 2_700_000)
        ]
    );
    let cuts = &multi[1].record;
    assert_eq!(cuts.versions.len(), 2);
    assert_eq!(cuts.versions[1].frame_rate.as_deref(), Some("30"));
    assert_eq!(cuts.versions[1].parts[0].duration_ms, 5_990_000, "a single part takes its media's length");
    assert_eq!(cuts.duration_ms, Some(5_990_000));
    assert_eq!(cuts.uri, "http://plex:32400/library/parts/5021/1/file.mkv", "the default version's first part");

    for refused in ["seed-xml-answer.xml", "seed-unauthorized.html"] {
        let err = plex::parse_items(&read(refused), "http://plex:32400").unwrap_err();
        assert!(err.to_string().starts_with("not the JSON Plex sends"), "{err}");
    }
}
