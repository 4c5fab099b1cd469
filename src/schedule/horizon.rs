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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::planner::{ChannelPlan, PlanRequest, plan_channel, prev_boundary};
use super::pool::LibraryIndex;
use super::rules::{Slot, validate_grid};
use super::store::{self, ScheduleMark, ScheduleStoreError};
use crate::clock::SharedClock;
use crate::config::{Config, ScheduleConfig};
use crate::db::{Connection, Db, OwnConnection};
use crate::library::MediaId;
use crate::library::store::{ItemFilter, list_items};
use crate::lineup::store::{self as lineup_store, LineupStoreError, lineup};
use crate::lineup::{Channel, ChannelId};

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

/// The pause after each channel's publish: a write of another connection waiting for the
/// database (it tries again every millisecond) gets in before the next channel's.
const PUBLISH_GAP: Duration = Duration::from_millis(3);

/// How many times a channel whose schedule changed under its build (another build published
/// it meanwhile) is read and planned again before the build leaves it as the other made it.
const ATTEMPTS: usize = 3;

/// What one channel's plan starts from, read in one snapshot.
struct Job {
    channel: Channel,
    slots: Vec<Slot>,
    /// The schedule as read: the publish checks nothing changed it since.
    mark: ScheduleMark,
    /// First instant to plan.
    from: i64,
    planned_until: Option<i64>,
    /// Progress and spot history at `from`; `None` when nothing needs planning.
    inputs: Option<Inputs>,
}

/// Progress cursors and the spots aired in the repeat window, at a plan's start.
type Inputs = (BTreeMap<String, u64>, Vec<(MediaId, i64)>);

/// The instants a build works with.
#[derive(Clone, Copy)]
struct Span {
    now_ms: i64,
    to_ms: i64,
    window_ms: i64,
    mode: BuildMode,
}

/// Read what `channel`'s plan starts from: where it starts (after the frozen window, or the
/// program on air, or the last published program) and the progress and history there.
fn read_job(conn: &Connection, config: &ScheduleConfig, span: Span, channel: Channel) -> Result<Job, HorizonError> {
    let now_ms = span.now_ms;
    let slots = store::list_slots(conn, channel.id)?;
    let mark = store::mark(conn, channel.id)?;
    let floor_now = prev_boundary(config.timezone, now_ms);
    let planned_until = store::planned_until(conn, channel.id)?;
    let from = match (planned_until, span.mode) {
        (None, _) => floor_now,
        (Some(u), _) if u <= now_ms => u.max(floor_now),
        (Some(u), BuildMode::Extend) => u,
        (Some(u), BuildMode::Replan { force }) => {
            let keep = if force { now_ms } else { now_ms + config.frozen.as_millis() as i64 };
            if u <= keep { u } else { store::program_span_at(conn, channel.id, keep)?.map_or(keep, |(_, end)| end) }
        }
    };
    let inputs = if from < span.to_ms {
        Some((
            store::progress_at(conn, channel.id, from)?,
            store::spot_history(conn, channel.id, from, span.window_ms)?,
        ))
    } else {
        None
    };
    Ok(Job { channel, slots, mark, from, planned_until, inputs })
}

fn plan_job(job: &Job, config: &ScheduleConfig, lib: &LibraryIndex, span: Span) -> Option<ChannelPlan> {
    let (progress, history) = job.inputs.clone()?;
    Some(plan_channel(&PlanRequest {
        channel: &job.channel,
        slots: &job.slots,
        lib,
        tz: config.timezone,
        seed: config.seed,
        repeat_window_ms: span.window_ms,
        from_ms: job.from,
        to_ms: span.to_ms,
        progress,
        history,
    }))
}

/// Plan and publish the channels in `only` (`None`: every enabled one) on a connection of the
/// build's own ([`Db::own_connection`]), so the shared one the daemon's calls use (a tune
/// reading the lineup) is never held by the build: the inputs are read in one snapshot, plans
/// are made with no transaction open (on a second thread, so channel N+1 is planned while
/// channel N is written), and each channel is published in its own short transaction that
/// first checks its schedule is still the one the plan was read from (else it is read and
/// planned again), so the frozen window holds when another build publishes meanwhile.
fn build_channels(
    db: &Db,
    config: &ScheduleConfig,
    lib: &LibraryIndex,
    now: DateTime<Utc>,
    days: u32,
    mode: BuildMode,
    only: Option<&[ChannelId]>,
) -> Result<BuildReport, HorizonError> {
    let now_ms = now.timestamp_millis();
    let span = Span {
        now_ms,
        to_ms: now_ms + i64::from(days.max(1)) * 86_400_000,
        window_ms: config.commercial_repeat_window.as_millis() as i64,
        mode,
    };
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
    let mut own = db.own_connection().map_err(ScheduleStoreError::from)?;
    let jobs = own
        .snapshot(|conn| {
            let channels = lineup(conn)?.channels.into_iter().filter(|c| only.is_none_or(|o| o.contains(&c.id)));
            channels.map(|channel| read_job(conn, config, span, channel)).collect::<Result<Vec<_>, HorizonError>>()
        })
        .map_err(ScheduleStoreError::from)??;
    for job in &jobs {
        if let Err(e) = validate_grid(&job.slots) {
            report.warnings.push(format!("channel {}: {e}; later slots that collide are skipped", job.channel.number));
        }
    }
    std::thread::scope(|scope| {
        let (plans, planned) = std::sync::mpsc::sync_channel(1);
        let todo: Vec<&Job> = jobs.iter().filter(|j| j.inputs.is_some()).collect();
        scope.spawn(move || {
            for job in todo {
                let Some(plan) = plan_job(job, config, lib, span) else { continue };
                // The receiver is gone only when publishing failed: stop planning.
                if plans.send(plan).is_err() {
                    break;
                }
            }
        });
        for job in &jobs {
            let mut entry = ChannelBuild {
                number: job.channel.number.to_string(),
                name: job.channel.name.clone(),
                from: None,
                until: job.planned_until.map(crate::clock::from_ms),
                programs: 0,
                airings: 0,
                replaced: 0,
            };
            if job.inputs.is_some() {
                let plan = planned.recv().expect("the planner sends one plan per channel to plan");
                publish_job(&mut own, config, lib, span, job, plan, &mut entry, &mut report)?;
            }
            report.channels.push(entry);
        }
        Ok::<_, HorizonError>(())
    })?;
    report.generation = own.call(|c| store::generation(c))?;
    Ok(report)
}

/// Publish `plan`, made from `job`; if the channel's schedule changed since it was read, read
/// and plan it again (no connection held while planning), up to [`ATTEMPTS`] times.
#[allow(clippy::too_many_arguments)]
fn publish_job(
    own: &mut OwnConnection,
    config: &ScheduleConfig,
    lib: &LibraryIndex,
    span: Span,
    job: &Job,
    plan: ChannelPlan,
    entry: &mut ChannelBuild,
    report: &mut BuildReport,
) -> Result<(), HorizonError> {
    let id = job.channel.id;
    let (mut plan, mut from, mut mark) = (plan, job.from, job.mark);
    for attempt in 1..=ATTEMPTS {
        let published = own.call(|c| -> Result<_, HorizonError> {
            if lineup_store::get(c, id)?.is_none() {
                return Ok(Err(()));
            }
            Ok(Ok(store::publish_unless_changed(c, id, &mark, from, &plan, span.now_ms, KEEP_PAST_MS)?))
        })?;
        match published {
            Err(()) => {
                report.warnings.push(format!("channel {}: removed during the build; not published", entry.number));
                return Ok(());
            }
            Ok(Some(stats)) => {
                std::thread::sleep(PUBLISH_GAP);
                report.warnings.extend(plan.warnings.iter().cloned());
                entry.from = Some(crate::clock::from_ms(from));
                entry.until = plan.programs.last().map(|p| crate::clock::from_ms(p.end_ms));
                entry.programs = stats.programs;
                entry.airings = stats.airings;
                entry.replaced = stats.removed_programs;
                return Ok(());
            }
            Ok(None) if attempt == ATTEMPTS => break,
            Ok(None) => {
                tracing::debug!(channel = %entry.number, attempt, "schedule changed during the build: planning again");
                let again = own
                    .snapshot(|c| read_job(c, config, span, job.channel.clone()))
                    .map_err(ScheduleStoreError::from)??;
                entry.until = again.planned_until.map(crate::clock::from_ms);
                let Some(p) = plan_job(&again, config, lib, span) else { return Ok(()) };
                (plan, from, mark) = (p, again.from, again.mark);
            }
        }
    }
    report.warnings.push(format!(
        "channel {}: another build kept publishing it during this one; left as that one made it",
        entry.number
    ));
    Ok(())
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
