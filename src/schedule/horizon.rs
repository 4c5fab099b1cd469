//! The horizon: keeps every channel's fine log materialised from now to now + N days.
//!
//! [`build`] either *replans* (rewrites everything after the frozen window, or after the
//! program on air with `force`) or *extends* (appends after the last published program,
//! never touching what is published). [`run_horizon`] is the background job the director
//! spawns: it extends the horizon periodically, replans within seconds the channels that
//! edits asked for ([`replan_requested`]: a channel's settings or grid, an item's metadata or
//! breakpoints, media added, a source edited; the frozen window stays as published), and
//! forwards the publication counter to a [`Published`] watch, so playout and the guide notice
//! replans made by any process.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::planner::{PlanRequest, plan_channel, prev_boundary};
use super::pool::LibraryIndex;
use super::rules::validate_grid;
use super::store::{self, ScheduleStoreError};
use crate::clock::SharedClock;
use crate::config::{Config, ScheduleConfig};
use crate::db::Db;
use crate::library::store::{ItemFilter, list_items};
use crate::lineup::ChannelId;
use crate::lineup::store::{LineupStoreError, lineup};

/// Published rows older than this before the replan point are pruned.
const KEEP_PAST_MS: i64 = 2 * 86_400_000;

/// Errors building the schedule.
#[derive(Debug, thiserror::Error)]
pub enum HorizonError {
    /// Reading channels failed.
    #[error(transparent)]
    Lineup(#[from] LineupStoreError),
    /// Reading or writing the schedule failed.
    #[error(transparent)]
    Store(#[from] ScheduleStoreError),
    /// Reading the library failed.
    #[error("reading the library: {0}")]
    Library(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Replan or extend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildMode {
    /// Rewrite after the frozen window (or, forced, after the program on air now).
    Replan {
        /// Ignore the frozen window.
        force: bool,
    },
    /// Only append after the last published program.
    Extend,
}

/// What one channel's build did.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelBuild {
    /// Channel number.
    pub number: String,
    /// Channel name.
    pub name: String,
    /// Planned from (UTC), `None` when nothing needed planning.
    pub from: Option<DateTime<Utc>>,
    /// Planned until (end of the last program).
    pub until: Option<DateTime<Utc>>,
    /// Programs written.
    pub programs: usize,
    /// Airings written.
    pub airings: usize,
    /// Programs replaced.
    pub replaced: usize,
}

/// What a build did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildReport {
    /// Per channel.
    pub channels: Vec<ChannelBuild>,
    /// Things the user should know.
    pub warnings: Vec<String>,
    /// Library items the scheduler cannot use, with the reason.
    pub skipped_items: Vec<String>,
    /// Publication counter afterwards.
    pub generation: i64,
}

/// Build the horizon for every enabled channel up to `now + days` (blocking).
pub fn build(
    db: &Db,
    config: &ScheduleConfig,
    now: DateTime<Utc>,
    days: u32,
    mode: BuildMode,
) -> Result<BuildReport, HorizonError> {
    build_for(db, config, now, days, mode, None)
}

/// [`build`] for the channels in `only` (`None`: every enabled channel). A replan of every
/// channel also serves the replans edits asked for until then ([`store::request_replan`]).
pub fn build_for(
    db: &Db,
    config: &ScheduleConfig,
    now: DateTime<Utc>,
    days: u32,
    mode: BuildMode,
    only: Option<&[ChannelId]>,
) -> Result<BuildReport, HorizonError> {
    let serves = matches!(mode, BuildMode::Replan { .. }) && only.is_none();
    let pending = if serves { db.call_blocking(|c| store::pending_replans(c))? } else { None };
    let items = db
        .call_blocking(|c| list_items(c, &ItemFilter { playable_only: true, ..Default::default() }))
        .map_err(|e| HorizonError::Library(Box::new(e)))?;
    let lib = LibraryIndex::new(items);
    let report = build_channels(db, config, &lib, now, days, mode, only)?;
    if let Some(p) = pending {
        db.call_blocking(|c| store::clear_replans(c, p.up_to))?;
    }
    Ok(report)
}

/// Serve the replans that edits asked for ([`store::request_replan`]): the channels named are
/// replanned after the frozen window, up to the horizon, and the requests served forgotten.
/// `None` when nothing was pending; else the build and why it was asked for.
pub fn replan_requested(
    db: &Db,
    config: &ScheduleConfig,
    now: DateTime<Utc>,
) -> Result<Option<(BuildReport, Vec<String>)>, HorizonError> {
    let Some(pending) = db.call_blocking(|c| store::pending_replans(c))? else { return Ok(None) };
    let items = db
        .call_blocking(|c| list_items(c, &ItemFilter { playable_only: true, ..Default::default() }))
        .map_err(|e| HorizonError::Library(Box::new(e)))?;
    let lib = LibraryIndex::new(items);
    let mode = BuildMode::Replan { force: false };
    let report = build_channels(db, config, &lib, now, config.horizon_days, mode, pending.channels.as_deref())?;
    db.call_blocking(|c| store::clear_replans(c, pending.up_to))?;
    Ok(Some((report, pending.reasons)))
}

/// [`build`] with an already loaded library (benchmarks, repeated builds).
pub fn build_with(
    db: &Db,
    config: &ScheduleConfig,
    lib: &LibraryIndex,
    now: DateTime<Utc>,
    days: u32,
    mode: BuildMode,
) -> Result<BuildReport, HorizonError> {
    build_channels(db, config, lib, now, days, mode, None)
}

fn build_channels(
    db: &Db,
    config: &ScheduleConfig,
    lib: &LibraryIndex,
    now: DateTime<Utc>,
    days: u32,
    mode: BuildMode,
    only: Option<&[ChannelId]>,
) -> Result<BuildReport, HorizonError> {
    let tz = config.timezone;
    let now_ms = now.timestamp_millis();
    let to_ms = now_ms + i64::from(days.max(1)) * 86_400_000;
    let window_ms = config.commercial_repeat_window.as_millis() as i64;
    let mut report = BuildReport {
        skipped_items: lib.skipped.iter().map(|(id, title, why)| format!("item {id} {title:?}: {why}")).collect(),
        ..Default::default()
    };
    if lib.programs.is_empty() {
        report.warnings.push(
            "the library has no playable episodes or movies: channels show station breaks (slate) until media is \
             added and `retrovue schedule build` runs"
                .into(),
        );
    }
    db.call_blocking(|conn| {
        let built = crate::db::with_one_checkpoint(conn, |conn| {
            // Read what every channel's plan starts from, then plan on a worker thread while this
            // thread publishes: planning is pure, so channel N+1 is planned while channel N is
            // written (the two halves of a build take about the same time).
            let mut jobs = Vec::new();
            for channel in lineup(conn)?.channels.into_iter().filter(|c| only.is_none_or(|o| o.contains(&c.id))) {
                let slots = store::list_slots(conn, channel.id)?;
                if let Err(e) = validate_grid(&slots) {
                    report
                        .warnings
                        .push(format!("channel {}: {e}; later slots that collide are skipped", channel.number));
                }
                let floor_now = prev_boundary(tz, now_ms);
                let planned_until = store::planned_until(conn, channel.id)?;
                let from = match (planned_until, mode) {
                    (None, _) => floor_now,
                    (Some(u), _) if u <= now_ms => u.max(floor_now),
                    (Some(u), BuildMode::Extend) => u,
                    (Some(u), BuildMode::Replan { force }) => {
                        let keep = if force { now_ms } else { now_ms + config.frozen.as_millis() as i64 };
                        if u <= keep {
                            u
                        } else {
                            store::program_span_at(conn, channel.id, keep)?.map_or(keep, |(_, end)| end)
                        }
                    }
                };
                let inputs = if from < to_ms {
                    let progress = store::progress_at(conn, channel.id, from)?;
                    Some((progress, store::spot_history(conn, channel.id, from, window_ms)?))
                } else {
                    None
                };
                jobs.push((channel, slots, from, planned_until, inputs));
            }
            std::thread::scope(|scope| {
                let (plans, planned) = std::sync::mpsc::sync_channel(1);
                let todo: Vec<_> = jobs.iter().filter(|j| j.4.is_some()).collect();
                scope.spawn(move || {
                    for (channel, slots, from, _, inputs) in todo {
                        let Some((progress, history)) = inputs.clone() else { continue };
                        let plan = plan_channel(&PlanRequest {
                            channel,
                            slots,
                            lib,
                            tz,
                            seed: config.seed,
                            repeat_window_ms: window_ms,
                            from_ms: *from,
                            to_ms,
                            progress,
                            history,
                        });
                        // The receiver is gone only when publishing failed: stop planning.
                        if plans.send(plan).is_err() {
                            break;
                        }
                    }
                });
                for (channel, _, from, planned_until, inputs) in &jobs {
                    let mut entry = ChannelBuild {
                        number: channel.number.to_string(),
                        name: channel.name.clone(),
                        from: None,
                        until: planned_until.map(crate::clock::from_ms),
                        programs: 0,
                        airings: 0,
                        replaced: 0,
                    };
                    if inputs.is_some() {
                        let plan = planned.recv().expect("the planner sends one plan per channel to plan");
                        report.warnings.extend(plan.warnings.iter().cloned());
                        let stats = store::publish(conn, channel.id, *from, &plan, now_ms, KEEP_PAST_MS)?;
                        entry.from = Some(crate::clock::from_ms(*from));
                        entry.until = plan.programs.last().map(|p| crate::clock::from_ms(p.end_ms));
                        entry.programs = stats.programs;
                        entry.airings = stats.airings;
                        entry.replaced = stats.removed_programs;
                    }
                    report.channels.push(entry);
                }
                Ok::<_, HorizonError>(())
            })?;
            report.generation = store::generation(conn)?;
            Ok(report)
        });
        built.map_err(|e| HorizonError::Store(e.into()))?
    })
}

/// A handle on the publication counter: playout and guides subscribe and re-read their
/// channel's airings when it changes.
#[derive(Debug, Clone)]
pub struct Published {
    tx: watch::Sender<i64>,
}

impl Default for Published {
    fn default() -> Self {
        Self::new()
    }
}

impl Published {
    /// A counter at 0.
    pub fn new() -> Self {
        Self { tx: watch::Sender::new(0) }
    }

    /// Watch the counter.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.tx.subscribe()
    }

    /// Record the counter read from the database (notifies only on change).
    pub fn set(&self, generation: i64) {
        self.tx.send_if_modified(|g| {
            let changed = *g != generation;
            *g = generation;
            changed
        });
    }

    /// Follow the publication counter in `db` (publications by this process or another)
    /// until `shutdown`.
    pub async fn follow(self, db: Db, shutdown: CancellationToken) {
        let mut changes = db.changes().watch(&["schedule_publications"]);
        loop {
            if let Ok(Ok(g)) = db.call(|c| store::generation(c)).await {
                self.set(g);
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = changes.changed() => {}
            }
        }
    }
}

/// The background job, until `shutdown`: extend every channel's horizon now and every ten
/// minutes (once the clock is trusted: a Pi without RTC boots in 1970), and replan the
/// channels that edits asked for as soon as they ask (`schedule_replans`, written by this
/// process or the CLI). Publications reach playout and the guide through their watches.
pub async fn run_horizon(
    db: Db,
    config: Arc<Config>,
    clock: SharedClock,
    mut clock_sync: crate::clock::sync::ClockWatch,
    shutdown: CancellationToken,
) {
    const EXTEND_EVERY: Duration = Duration::from_secs(600);
    let mut replans = db.changes().watch(&["schedule_replans"]);
    let mut next_extend = tokio::time::Instant::now();
    loop {
        let trusted = clock_sync.borrow_and_update().is_trusted() && clock.is_plausible();
        if trusted && tokio::time::Instant::now() >= next_extend {
            next_extend = tokio::time::Instant::now() + EXTEND_EVERY;
            let cfg = config.schedule.clone();
            let now = clock.now();
            let db2 = db.clone();
            let result =
                tokio::task::spawn_blocking(move || build(&db2, &cfg, now, cfg.horizon_days, BuildMode::Extend)).await;
            match result {
                Ok(Ok(r)) => {
                    let planned: usize = r.channels.iter().map(|c| c.programs).sum();
                    if planned > 0 {
                        tracing::info!(programs = planned, warnings = r.warnings.len(), "schedule horizon extended");
                    }
                    for w in r.warnings.iter().take(5) {
                        tracing::debug!("{w}");
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "extending the schedule horizon failed"),
                Err(e) => tracing::warn!(error = %e, "extending the schedule horizon failed"),
            }
        }
        if trusted {
            let (db2, cfg, now) = (db.clone(), config.schedule.clone(), clock.now());
            match tokio::task::spawn_blocking(move || replan_requested(&db2, &cfg, now)).await {
                Ok(Ok(Some((r, why)))) => {
                    let planned: usize = r.channels.iter().map(|c| c.programs).sum();
                    let channels: Vec<&str> = r.channels.iter().map(|c| c.number.as_str()).collect();
                    tracing::info!(
                        programs = planned,
                        channels = %channels.join(","),
                        why = %why.join("; "),
                        "schedule replanned after the frozen window for edits"
                    );
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "replanning after edits failed"),
                Err(e) => tracing::warn!(error = %e, "replanning after edits failed"),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = replans.changed() => {}
            r = clock_sync.changed() => if r.is_err() { break },
            _ = tokio::time::sleep_until(next_extend), if trusted => {}
        }
    }
}
