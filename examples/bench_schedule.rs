//! Benchmark (not a test): build 7 days for 50 channels from a 50,000-item library, render
//! XMLTV for all of it, and time the "what is on now" lookup (in memory and SQL).
//!
//! ```text
//! cargo run --release --example bench_schedule [-- CHANNELS DAYS]
//! ```
//!
//! Goals on the target machine: build under 2 s, XMLTV under 200 ms, lookup under 10 µs.
//! Each figure comes with the CPU time of the timing thread, steadier than wall time on a
//! shared machine (the build plans on a second thread while the timing thread writes).
//! `RV_BENCH_PRAGMAS="PRAGMA ...;"` runs SQL on the fresh database first, to try settings.
//! The library is written through `library::store` into a temporary database first (not
//! timed); the figures are printed, never asserted. The last line (`BENCH key=value ...`)
//! repeats them for `scripts/bench.sh`.

use std::time::Instant;

use chrono::Utc;
use retrovue::config::Config;
use retrovue::db::Db;
use retrovue::library::store as ls;
use retrovue::library::{ContentKind, SchedulingMetadata};
use retrovue::lineup::store::{NewChannel, insert};
use retrovue::lineup::{BreakStyle, ChannelSettings};
use retrovue::schedule::horizon::{BuildMode, build_with};
use retrovue::schedule::planner::{PlanRequest, plan_channel};
use retrovue::schedule::pool::LibraryIndex;
use retrovue::schedule::rules::{Days, Fill, Slot};
use retrovue::schedule::store;
use retrovue::schedule::timeline::Timeline;

const GENRES: [&str; 10] =
    ["Comedy", "Drama", "Action", "Family", "Sci-Fi", "Western", "Crime", "Animation", "Music", "Game Show"];

fn seed(db: &Db) -> anyhow::Result<()> {
    db.call_blocking(|c| -> anyhow::Result<()> {
        let src = ls::insert_source(
            c,
            "bench",
            &ls::SourceSpec::Folder { path: "/bench".into(), content_kind: "shows".into() },
            0,
        )?;
        let tx = c.unchecked_transaction()?;
        let add = |kind: ContentKind, i: usize, series: Option<String>, ms: i64, meta: Option<SchedulingMetadata>| {
            let rec = ls::ItemRecord {
                external_id: format!("{kind}/{i}"),
                kind: Some(kind),
                uri: format!("file:///bench/{kind}/{i}.mkv"),
                title: format!("{kind} {i}"),
                season: series.as_ref().map(|_| 1),
                episode: series.as_ref().map(|_| (i % 50 + 1) as u32),
                series,
                year: Some(1970 + (i % 30) as i32),
                genres: vec![GENRES[i % 10].into()],
                rating: Some(["TV-G", "TV-PG", "TV-14"][i % 3].into()),
                ..Default::default()
            };
            let (id, _) = ls::upsert_item(&tx, src, &rec, 0).expect("item");
            ls::set_probe(&tx, id, Ok(&ls::ProbeFacts { duration_ms: Some(ms), ..Default::default() }), 0)
                .expect("probe");
            if let Some(m) = meta {
                ls::set_metadata(&tx, id, ls::Origin::Import, &m, 0).expect("meta");
            }
        };
        for i in 0..40_000 {
            let ms = if (i / 50) % 3 == 0 { 2_700_000 } else { 1_320_000 } + (i as i64 % 97) * 1001;
            add(ContentKind::Episode, i, Some(format!("Series {}", i / 50)), ms, None);
        }
        for i in 0..2_000 {
            add(ContentKind::Movie, i, None, 5_400_000 + (i as i64 % 60) * 60_000, None);
        }
        for i in 0..6_500 {
            let meta = SchedulingMetadata {
                commercial_company: Some(format!("Company {}", i % 300)),
                commercial_category: Some(format!("Category {}", i % 40)),
                era: Some(format!("{}s", 1970 + (i % 3) * 10)),
                ..Default::default()
            };
            add(ContentKind::Commercial, i, None, if i % 3 == 0 { 30_030 } else { 15_015 }, Some(meta));
        }
        for i in 0..1_000 {
            add(ContentKind::Promo, i, Some(format!("Series {}", i % 800)), 20_020, None);
        }
        for i in 0..300 {
            add(ContentKind::Bumper, i, None, 5_005, None);
        }
        for i in 0..150 {
            add(ContentKind::StationId, i, None, 10_010, None);
        }
        for i in 0..50 {
            add(ContentKind::Slate, i, None, 60_000, None);
        }
        tx.commit()?;
        Ok(())
    })
}

/// CPU time this thread has run, ms (Linux `/proc/thread-self/schedstat`; 0 elsewhere): the
/// machine is shared, so wall time alone swings with the other load.
fn cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e6)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let channels: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(50);
    let days: u32 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(7);
    let dir = tempfile::tempdir()?;
    let db = Db::open(&dir.path().join("bench.db"))?;
    if let Ok(p) = std::env::var("RV_BENCH_PRAGMAS") {
        db.call_blocking(|c| c.execute_batch(&p))?;
        println!("pragmas: {p}");
    }
    let t = Instant::now();
    seed(&db)?;
    println!("seeded 50,000 items in {:.1} s (not part of the figures)", t.elapsed().as_secs_f64());

    db.call_blocking(|c| -> anyhow::Result<()> {
        for n in 0..channels {
            let settings = ChannelSettings {
                default_fill: Some(GENRES[n % 10].into()),
                break_style: [BreakStyle::Us, BreakStyle::Uk, BreakStyle::None][n % 3],
                ..Default::default()
            };
            let ch = insert(
                c,
                &NewChannel {
                    number: (n + 2).to_string().parse()?,
                    name: format!("Channel {n}"),
                    call_sign: String::new(),
                    logo: None,
                    settings,
                },
                0,
            )?;
            let slots: Vec<Slot> = (0..6)
                .map(|k| Slot {
                    id: 0,
                    days: Days::ALL,
                    start_minute: 18 * 60 + k * 30,
                    length_min: 30,
                    fill: Fill::Series(format!("Series {}", (n * 7 + k as usize * 3) % 800)),
                })
                .chain(std::iter::once(Slot {
                    id: 0,
                    days: Days::ALL,
                    start_minute: 21 * 60,
                    length_min: 120,
                    fill: Fill::Movies(None),
                }))
                .collect();
            store::replace_slots(c, ch.id, &slots, 0)?;
        }
        Ok(())
    })?;

    let config = Config::default().schedule;
    let (t, c) = (Instant::now(), cpu_ms());
    let items =
        db.call_blocking(|c| ls::list_items(c, &ls::ItemFilter { playable_only: true, ..Default::default() }))?;
    let (load, load_cpu) = (t.elapsed(), cpu_ms() - c);
    let lib = LibraryIndex::new(items);
    let now = Utc::now();
    // Planning alone (in memory), then the real build (plan + publish).
    let lineup = db.call_blocking(|c| retrovue::lineup::store::lineup(c))?;
    let grids: Vec<Vec<Slot>> =
        lineup.channels.iter().map(|ch| db.call_blocking(|c| store::list_slots(c, ch.id))).collect::<Result<_, _>>()?;
    let (t, c) = (Instant::now(), cpu_ms());
    let mut planned = 0;
    for (ch, slots) in lineup.channels.iter().zip(&grids) {
        let plan = plan_channel(&PlanRequest {
            channel: ch,
            slots,
            lib: &lib,
            tz: config.timezone,
            seed: config.seed,
            repeat_window_ms: config.commercial_repeat_window.as_millis() as i64,
            from_ms: now.timestamp_millis(),
            to_ms: now.timestamp_millis() + i64::from(days) * 86_400_000,
            progress: Default::default(),
            history: Vec::new(),
        });
        planned += plan.programs.iter().map(|p| p.airings.len()).sum::<usize>();
    }
    println!(
        "plan only, {days} days x {channels} channels: {:.0} ms, cpu {:.0} ms ({planned} airings)",
        t.elapsed().as_secs_f64() * 1e3,
        cpu_ms() - c
    );
    let (t, c) = (Instant::now(), cpu_ms());
    let report = build_with(&db, &config, &lib, now, days, BuildMode::Replan { force: true })?;
    let (build, build_cpu) = (t.elapsed(), cpu_ms() - c);
    let programs: usize = report.channels.iter().map(|c| c.programs).sum();
    let airings: usize = report.channels.iter().map(|c| c.airings).sum();
    let total_airings = airings;
    println!("library load (list_items, 50,000 items): {:.0} ms, cpu {load_cpu:.0} ms", load.as_secs_f64() * 1e3);
    println!(
        "build {days} days x {channels} channels: {:.0} ms, cpu {build_cpu:.0} ms ({programs} programs, {airings} \
         airings, plan + write)",
        build.as_secs_f64() * 1e3
    );

    let (from, to) = (now.timestamp_millis(), now.timestamp_millis() + i64::from(days) * 86_400_000);
    let t = Instant::now();
    let gathered = retrovue::guide::gather(&db, from, to, chrono_tz::UTC)?;
    let gather = t.elapsed();
    let t = Instant::now();
    let xml = retrovue::guide::xmltv::render(&gathered, "http://retrovue.local");
    let render = t.elapsed();
    println!(
        "XMLTV {channels} channels x {days} days: {:.0} ms (read {:.0} ms + render {:.0} ms, {} KiB)",
        (gather + render).as_secs_f64() * 1e3,
        gather.as_secs_f64() * 1e3,
        render.as_secs_f64() * 1e3,
        xml.len() / 1024
    );

    let ch = retrovue::lineup::ChannelId(1);
    let airings = db.call_blocking(|c| store::airings_between(c, ch, from, to))?;
    let tl = Timeline::new(airings);
    let n = 1_000_000u32;
    let span = to - from;
    let t = Instant::now();
    let mut hits = 0usize;
    for k in 0..n {
        let at = from + (i64::from(k).wrapping_mul(2_654_435_761) % span);
        hits += usize::from(tl.at_ms(at).is_some());
    }
    let per = t.elapsed().as_secs_f64() / f64::from(n);
    println!("lookup in memory ({} airings): {:.3} µs ({hits} hits of {n})", tl.len(), per * 1e6);
    let m = 10_000u32;
    let t = Instant::now();
    db.call_blocking(|c| {
        for k in 0..m {
            let at = from + (i64::from(k).wrapping_mul(2_654_435_761) % span);
            let _ = store::airing_at(c, ch, at);
        }
    });
    let sql = t.elapsed().as_secs_f64() / f64::from(m);
    println!("lookup via SQL index: {:.1} µs", sql * 1e6);
    println!(
        "BENCH schedule channels={channels} days={days} build_ms={:.0} build_cpu_ms={build_cpu:.0} \
         airings={total_airings} xmltv_ms={:.1} lookup_mem_us={:.4} lookup_sql_us={:.2}",
        build.as_secs_f64() * 1e3,
        (gather + render).as_secs_f64() * 1e3,
        per * 1e6,
        sql * 1e6
    );
    Ok(())
}
