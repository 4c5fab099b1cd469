//! A schedule build against a database others keep using: it must leave the shared connection
//! free (it reads, plans and publishes on one of its own, channel by channel in short
//! transactions), and a channel that another build published meanwhile is planned again from
//! what is published, so the frozen window holds.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{TimeZone, Utc};

use super::horizon::{self, BuildMode};
use super::pool::LibraryIndex;
use super::store;
use super::tests::{grid, library, seed_library};
use crate::db::Db;
use crate::lineup::store::{NewChannel, insert};
use crate::lineup::{ChannelId, ChannelSettings};

/// A file database (a build reads through a connection of its own) with `n` channels on the
/// test grid and the test library.
fn setup(n: usize) -> (tempfile::TempDir, Db, LibraryIndex, Vec<ChannelId>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("retrovue.db")).unwrap();
    let lib = LibraryIndex::new(seed_library(&db, library()));
    let ids = db.call_blocking(|c| {
        (1..=n)
            .map(|i| {
                let new = NewChannel {
                    number: i.to_string().parse().unwrap(),
                    name: format!("Channel {i}"),
                    call_sign: String::new(),
                    logo: None,
                    settings: ChannelSettings::default(),
                };
                let ch = insert(c, &new, 0).unwrap();
                store::replace_slots(c, ch.id, &grid(), 0).unwrap();
                ch.id
            })
            .collect()
    });
    (dir, db, lib, ids)
}

/// Regression (issue #16): the whole build (reads, plans and the publish of every channel) ran
/// in one `Db` call, so every other call (a tune reading the lineup) waited for all of it, and
/// saw the schedule either before the build or after, never in between. Now another thread
/// calling all along is served while the build runs: it sees the publication counter between
/// its values before and after the build, channel by channel.
#[test]
fn other_calls_are_served_while_a_build_publishes_channel_by_channel() {
    let (_dir, db, lib, _) = setup(8);
    let cfg = crate::config::Config::default().schedule;
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 10, 0).unwrap();
    let before = db.call_blocking(|c| store::generation(c)).unwrap();
    let done = AtomicBool::new(false);
    let (seen, report) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut seen = Vec::new();
            while !done.load(Ordering::Acquire) {
                let g = db.call_blocking(|c| store::generation(c)).unwrap();
                if seen.last() != Some(&g) {
                    seen.push(g);
                }
            }
            seen
        });
        let report = horizon::build_with(&db, &cfg, &lib, now, 7, BuildMode::Replan { force: false }).unwrap();
        done.store(true, Ordering::Release);
        (watcher.join().unwrap(), report)
    });
    assert_eq!(report.channels.iter().filter(|c| c.programs > 0).count(), 8, "{report:?}");
    let after = report.generation;
    assert_eq!(after, before + 8, "one publication per channel");
    let between: Vec<i64> = seen.iter().copied().filter(|g| (before + 1..after).contains(g)).collect();
    assert!(
        !between.is_empty(),
        "another thread's calls saw only {seen:?}: the build held the connection from its first publish to \
         its last (before {before}, after {after})"
    );
}

/// A plan is published only over the schedule it was made from: a stale mark is refused and
/// nothing is written.
#[test]
fn a_publish_over_a_schedule_that_changed_since_it_was_read_is_refused() {
    let (_dir, db, lib, ids) = setup(1);
    let cfg = crate::config::Config::default().schedule;
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 10, 0).unwrap();
    let ch = ids[0];
    let read = db.call_blocking(|c| store::mark(c, ch)).unwrap();
    horizon::build_with(&db, &cfg, &lib, now, 2, BuildMode::Replan { force: false }).unwrap();
    let programs = db.call_blocking(|c| store::programs_between(c, ch, 0, i64::MAX)).unwrap();
    let plan = super::planner::ChannelPlan { programs: Vec::new(), progress: Default::default(), warnings: Vec::new() };
    let now_ms = now.timestamp_millis();
    let stale = db.call_blocking(|c| store::publish_unless_changed(c, ch, &read, 0, &plan, now_ms, 0)).unwrap();
    assert!(stale.is_none(), "published over a schedule that changed since the plan was read");
    assert_eq!(db.call_blocking(|c| store::programs_between(c, ch, 0, i64::MAX)).unwrap(), programs);
    let fresh = db.call_blocking(|c| store::mark(c, ch)).unwrap();
    let stats = db.call_blocking(|c| store::publish_unless_changed(c, ch, &fresh, 0, &plan, now_ms, 0)).unwrap();
    assert_eq!(stats.map(|s| s.removed_programs), Some(programs.len()), "a current mark publishes");
}

/// Two builds at once (the daemon's extension and a rebuild asked from the web page): each
/// channel ends up with one contiguous schedule, and what the first published inside the
/// frozen window stays as published.
#[test]
fn two_builds_at_once_leave_each_channel_one_contiguous_schedule() {
    let (_dir, db, lib, ids) = setup(4);
    let mut cfg = crate::config::Config::default().schedule;
    cfg.frozen = std::time::Duration::from_secs(6 * 3600);
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 10, 0).unwrap();
    horizon::build_with(&db, &cfg, &lib, now, 1, BuildMode::Replan { force: false }).unwrap();
    let frozen_end = (now + chrono::Duration::hours(6)).timestamp_millis();
    let frozen = |db: &Db, ch| {
        let all = db.call_blocking(|c| store::programs_between(c, ch, 0, i64::MAX)).unwrap();
        all.into_iter().filter(|p| p.end.timestamp_millis() <= frozen_end).map(|p| p.id).collect::<Vec<_>>()
    };
    let kept: Vec<Vec<i64>> = ids.iter().map(|&ch| frozen(&db, ch)).collect();
    std::thread::scope(|s| {
        let a = s.spawn(|| horizon::build_with(&db, &cfg, &lib, now, 5, BuildMode::Replan { force: false }));
        let b = s.spawn(|| horizon::build_with(&db, &cfg, &lib, now, 7, BuildMode::Extend));
        a.join().unwrap().unwrap();
        b.join().unwrap().unwrap();
    });
    for (&ch, kept) in ids.iter().zip(&kept) {
        let all = db.call_blocking(|c| store::programs_between(c, ch, 0, i64::MAX)).unwrap();
        for w in all.windows(2) {
            assert_eq!(w[0].end, w[1].start, "channel {ch}: a gap or an overlap at {}", w[0].end);
        }
        assert!(all.last().unwrap().end >= now + chrono::Duration::days(5));
        assert_eq!(&frozen(&db, ch), kept, "channel {ch}: the frozen window was rewritten");
    }
}
