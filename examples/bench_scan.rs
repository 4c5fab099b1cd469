//! Benchmark (not a test): scan a 5,000-item folder library with `.nfo` files, probing
//! included, then re-scan it unchanged.
//!
//! ```text
//! cargo run --release --example bench_scan [-- ITEMS [DIR]]
//! ```
//!
//! Probing 5,000 distinct real clips would take most of the time generating them, so a few
//! real clips are generated and hard-linked under 5,000 names (each name is probed: the
//! scanner does not know they are the same file). Prints items/s of the full scan and the
//! time of the incremental re-scan (goal: under 2 s for 5,000 unchanged items). `BENCH` lines
//! repeat the figures as `key=value` for `scripts/bench.sh`.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use retrovue::clock::SystemClock;
use retrovue::config::Config;
use retrovue::db::Db;
use retrovue::library::demo::{ClipSpec, generate};
use retrovue::library::{Library, Progress};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(5000);
    let keep = args.get(2).map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir()?;
    let base = keep.unwrap_or_else(|| tmp.path().to_owned());
    let root = base.join("shows");
    let t = Instant::now();
    build(&root, n)?;
    println!("built {n} items (+ .nfo) in {:.1} s", t.elapsed().as_secs_f64());

    let config = Config::default();
    let db = Db::open(&base.join("bench.db"))?;
    let lib = Library::new(db, Arc::new(SystemClock), config.library.clone());
    let src = lib.add_folder(&root, "shows", Some("bench"))?;
    let rt = tokio::runtime::Runtime::new()?;

    let t = Instant::now();
    let full = rt.block_on(lib.scan(Some(src.id), Arc::new(Progress::silent())))?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "full scan:        {} added, {} unplayable in {secs:.1} s = {:.0} items/s (probe_parallelism {})",
        full.added,
        full.unplayable,
        full.added as f64 / secs,
        config.library.probe_parallelism
    );
    println!("BENCH scan_full items={} seconds={secs:.2} items_per_s={:.0}", full.added, full.added as f64 / secs);
    for _ in 0..2 {
        let t = Instant::now();
        let again = rt.block_on(lib.scan(Some(src.id), Arc::new(Progress::silent())))?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "unchanged rescan: {} unchanged, {} updated in {secs:.2} s = {:.0} items/s (goal < 2 s)",
            again.unchanged,
            again.updated,
            again.unchanged as f64 / secs
        );
        println!(
            "BENCH scan_rescan items={} seconds={secs:.3} items_per_s={:.0}",
            again.unchanged,
            again.unchanged as f64 / secs
        );
    }
    Ok(())
}

/// `n` episodes over 50 shows: a handful of real clips hard-linked under every name, each
/// with an episode `.nfo`, plus one `tvshow.nfo` per show.
fn build(root: &Path, n: usize) -> anyhow::Result<()> {
    let seeds_dir = root.join(".seeds");
    std::fs::create_dir_all(&seeds_dir)?;
    let mut seeds = Vec::new();
    for (i, (w, h)) in [(160, 120), (192, 108), (160, 120), (192, 108)].into_iter().enumerate() {
        let p = seeds_dir.join(format!("seed{i}.mkv"));
        if !p.exists() {
            let mut spec = ClipSpec::new(w, h, 1, "seed");
            spec.chapters_s = vec![];
            generate(&spec, &p)?;
        }
        seeds.push(p);
    }
    for i in 0..n {
        let show = format!("Show {:03}", i % 50);
        let ep = i / 50 + 1;
        let dir = root.join(&show).join("Season 01");
        std::fs::create_dir_all(&dir)?;
        if i < 50 {
            std::fs::write(
                root.join(&show).join("tvshow.nfo"),
                format!(
                    "<tvshow><title>{show}</title><mpaa>TV-PG</mpaa><retrovue><era>1980s</era></retrovue></tvshow>"
                ),
            )?;
        }
        let file = dir.join(format!("{show} - S01E{ep:03} - Episode {ep}.mkv"));
        if !file.exists() {
            std::fs::hard_link(&seeds[i % seeds.len()], &file)?;
        }
        std::fs::write(
            file.with_extension("nfo"),
            format!(
                "<episodedetails><title>Episode {ep}</title><season>1</season><episode>{ep}</episode>\
                 <aired>1987-01-01</aired><retrovue><daypart>primetime</daypart><breakpoint>0:00.5</breakpoint></retrovue>\
                 </episodedetails>"
            ),
        )?;
    }
    Ok(())
}
