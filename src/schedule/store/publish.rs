//! Writing a channel's plan: one transaction per channel that drops what the plan replaces
//! and inserts its programs and airings with multi-row `INSERT`s (a few hundred thousand rows
//! for a week of fifty channels, so per-statement overhead matters).

use rusqlite::{CachedStatement, Connection, ToSql, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::{Result, generation};
use crate::lineup::ChannelId;
use crate::schedule::planner::ChannelPlan;

/// Rows per multi-row `INSERT` (13 columns x 64 rows = 832 parameters, far below SQLite's
/// limit of 32,766).
const ROWS_PER_INSERT: usize = 64;

/// What a publish changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishStats {
    /// Programs removed (they started at or after the replan point).
    pub removed_programs: usize,
    /// Programs written.
    pub programs: usize,
    /// Airings written.
    pub airings: usize,
    /// The publication counter after this publish.
    pub generation: i64,
}

/// A cached `INSERT INTO table (columns) VALUES (...), ...` for `rows` rows.
fn insert_statement<'c>(
    conn: &'c Connection,
    table: &str,
    columns: &[&str],
    rows: usize,
) -> rusqlite::Result<CachedStatement<'c>> {
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    conn.prepare_cached(&format!("INSERT INTO {table} ({}) VALUES {}", columns.join(", "), vec![row; rows].join(", ")))
}

/// Insert `rows` into `table` in multi-row statements; `bind(row, put)` hands each column's
/// value to `put`, in `columns` order.
fn insert_rows<T>(
    conn: &Connection,
    table: &str,
    columns: &[&str],
    rows: &[T],
    bind: impl Fn(&T, &mut dyn FnMut(&dyn ToSql) -> rusqlite::Result<()>) -> rusqlite::Result<()>,
) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut st = insert_statement(conn, table, columns, chunk.len())?;
        let mut at = 0;
        for row in chunk {
            bind(row, &mut |v| {
                at += 1;
                st.raw_bind_parameter(at, v)
            })?;
        }
        st.raw_execute()?;
    }
    Ok(())
}

/// Replace a channel's schedule from `from_ms` on with `plan`, store its progress and bump
/// the publication counter, in one transaction. Rows that ended more than `keep_past_ms`
/// before `now_ms` are pruned (the as-run log keeps the history). Not before `from_ms`: an
/// extension starts days ahead, and would take what is on now and the guide with it.
pub fn publish(
    conn: &mut Connection,
    channel: ChannelId,
    from_ms: i64,
    plan: &ChannelPlan,
    now_ms: i64,
    keep_past_ms: i64,
) -> Result<PublishStats> {
    let stats = publish_if(conn, channel, None, from_ms, plan, now_ms, keep_past_ms)?;
    Ok(stats.expect("an unconditional publish always publishes"))
}

/// A channel's published schedule as it stood when a plan was read from it: a publish of
/// that plan checks that nothing changed it since ([`publish_unless_changed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleMark {
    programs: i64,
    last_id: Option<i64>,
    until: Option<i64>,
}

/// The mark of `channel`'s published schedule now. Every publish that changes it inserts
/// programs with new ids or removes some, so the mark changes with it.
pub fn mark(conn: &Connection, channel: ChannelId) -> Result<ScheduleMark> {
    Ok(conn.query_row(
        "SELECT count(*), MAX(id), MAX(end_ms) FROM schedule_programs WHERE channel_id = ?1",
        [channel.0],
        |r| Ok(ScheduleMark { programs: r.get(0)?, last_id: r.get(1)?, until: r.get(2)? }),
    )?)
}

/// [`publish`] a plan made from the schedule as it stood at `read` (its start `from_ms`,
/// progress and history were read then), in one transaction that first checks the channel's
/// schedule is still that one. `None`, with nothing written, when it changed meanwhile
/// (another build published the channel): the plan could overlap what is now published or
/// cut into the frozen window, and must be made again from the schedule as it is.
pub fn publish_unless_changed(
    conn: &mut Connection,
    channel: ChannelId,
    read: &ScheduleMark,
    from_ms: i64,
    plan: &ChannelPlan,
    now_ms: i64,
    keep_past_ms: i64,
) -> Result<Option<PublishStats>> {
    publish_if(conn, channel, Some(read), from_ms, plan, now_ms, keep_past_ms)
}

fn publish_if(
    conn: &mut Connection,
    channel: ChannelId,
    read: Option<&ScheduleMark>,
    from_ms: i64,
    plan: &ChannelPlan,
    now_ms: i64,
    keep_past_ms: i64,
) -> Result<Option<PublishStats>> {
    // Immediate: the write lock is ours from the start, so the program ids read below stay
    // free, and the mark checked is the schedule this transaction replaces.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(read) = read
        && mark(&tx, channel)? != *read
    {
        return Ok(None);
    }
    let removed = tx
        .prepare_cached("DELETE FROM schedule_programs WHERE channel_id = ?1 AND (start_ms >= ?2 OR end_ms < ?3)")?
        .execute(params![channel.0, from_ms, now_ms - keep_past_ms])?;
    // Airings of removed programs go with them (ON DELETE CASCADE); this catches strays.
    tx.prepare_cached(
        "DELETE FROM schedule_items WHERE channel_id = ?1 AND program_id IS NULL AND (start_ms >= ?2 OR end_ms < ?3)",
    )?
    .execute(params![channel.0, from_ms, now_ms - keep_past_ms])?;
    let first_id: i64 = tx.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM schedule_programs", [], |r| r.get(0))?;
    let programs: Vec<(i64, String, &_)> = (first_id..)
        .zip(&plan.programs)
        .map(|(id, p)| (id, serde_json::to_string(&p.info).expect("info serialises"), p))
        .collect();
    insert_rows(
        &tx,
        "schedule_programs",
        &["id", "channel_id", "start_ms", "end_ms", "item_id", "info", "built_at"],
        &programs,
        |(id, info, p), put| {
            for v in [id as &dyn ToSql, &channel.0, &p.start_ms, &p.end_ms, &p.media_id.map(|m| m.0), info, &now_ms] {
                put(v)?;
            }
            Ok(())
        },
    )?;
    let airings: Vec<(i64, Option<String>, &_)> = programs
        .iter()
        .flat_map(|(id, _, p)| {
            p.airings
                .iter()
                .map(move |a| (*id, a.card.as_ref().map(|c| serde_json::to_string(c).expect("card serialises")), a))
        })
        .collect();
    insert_rows(
        &tx,
        "schedule_items",
        &[
            "channel_id",
            "program_id",
            "start_ms",
            "end_ms",
            "kind",
            "item_id",
            "uri",
            "title",
            "offset_in_ms",
            "offset_out_ms",
            "loudness_lufs",
            "card",
            "built_at",
        ],
        &airings,
        |(pid, card, a), put| {
            for v in [
                &channel.0 as &dyn ToSql,
                pid,
                &a.start.timestamp_millis(),
                &a.end.timestamp_millis(),
                &a.kind.as_str(),
                &a.media_id.map(|m| m.0),
                &a.uri,
                &a.title,
                &a.offset_in_ms,
                &a.offset_out_ms,
                &a.loudness_lufs,
                card,
                &now_ms,
            ] {
                put(v)?;
            }
            Ok(())
        },
    )?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO series_progress (channel_id, series, next_index, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(channel_id, series) DO UPDATE SET next_index = excluded.next_index,
                updated_at = excluded.updated_at",
        )?;
        for (k, v) in &plan.progress {
            st.execute(params![channel.0, k, *v as i64, now_ms])?;
        }
    }
    tx.execute(
        "UPDATE schedule_publications SET generation = generation + 1, published_at = ?1 WHERE id = 1",
        [now_ms],
    )?;
    let stats = PublishStats {
        removed_programs: removed,
        programs: programs.len(),
        airings: airings.len(),
        generation: generation(&tx)?,
    };
    tx.commit()?;
    Ok(Some(stats))
}
