//! Guides: XMLTV and M3U rendered from the lineup and the published schedule (the same rows
//! playout reads, so the guide is what airs). Pure renderers ([`xmltv`], [`m3u`]) plus their
//! HTTP routes ([`http`]). Where a channel has nothing published (never built, or the
//! horizon ran out) the guide shows "To Be Announced" so coverage never has a gap.

pub mod http;
pub mod m3u;
pub mod xmltv;

use crate::clock::from_ms;
use crate::config::Config;
use crate::db::Db;
use crate::lineup::Channel;
use crate::lineup::store::{LineupStoreError, lineup};
use crate::schedule::store::{ScheduleStoreError, programs_between};
use crate::schedule::{Program, ProgramInfo};

/// Errors gathering a guide.
#[derive(Debug, thiserror::Error)]
pub enum GuideError {
    /// Reading channels failed.
    #[error(transparent)]
    Lineup(#[from] LineupStoreError),
    /// Reading the schedule failed.
    #[error(transparent)]
    Schedule(#[from] ScheduleStoreError),
}

/// Every enabled channel with its programs overlapping `[from, to)`, gaps filled.
/// Blocking: run it on a blocking thread from async code.
pub fn gather(db: &Db, from_ms: i64, to_ms: i64) -> Result<Vec<(Channel, Vec<Program>)>, GuideError> {
    db.call_blocking(|conn| {
        let mut out = Vec::new();
        for c in lineup(conn)?.channels {
            let programs = programs_between(conn, c.id, from_ms, to_ms)?;
            out.push((c.clone(), fill_gaps(&c, programs, from_ms, to_ms)));
        }
        Ok(out)
    })
}

fn tba(c: &Channel, start: i64, end: i64) -> Program {
    Program {
        id: 0,
        channel_id: c.id,
        start: from_ms(start),
        end: from_ms(end),
        media_id: None,
        info: ProgramInfo::filler(
            "To Be Announced",
            Some(format!("{}: the schedule for this time is not built yet.", c.name)),
        ),
    }
}

/// Cover `[from, to)` completely: programs as published, "To Be Announced" in any hole
/// (half-hour aligned in UTC so listings stay tidy).
pub fn fill_gaps(c: &Channel, programs: Vec<Program>, from_ms: i64, to_ms: i64) -> Vec<Program> {
    const HALF: i64 = 1_800_000;
    let mut out = Vec::with_capacity(programs.len() + 2);
    let mut at =
        programs.first().map_or(from_ms - from_ms.rem_euclid(HALF), |p| p.start.timestamp_millis().min(from_ms));
    let push_gap = |out: &mut Vec<Program>, mut a: i64, b: i64| {
        while a < b {
            let next = (a - a.rem_euclid(HALF) + HALF).min(b);
            out.push(tba(c, a, next));
            a = next;
        }
    };
    for p in programs {
        let s = p.start.timestamp_millis();
        if s > at {
            push_gap(&mut out, at, s);
        }
        at = at.max(p.end.timestamp_millis());
        out.push(p);
    }
    if at < to_ms {
        push_gap(&mut out, at, to_ms);
    }
    out
}

/// The absolute base URL clients should use: `server.base_url` if set, else `http://<Host>`
/// from the request (when it is a plain host[:port]), else the listen address.
pub fn base_url(config: &Config, host: Option<&str>) -> String {
    if let Some(b) = &config.server.base_url {
        return b.trim_end_matches('/').to_owned();
    }
    let plain = |h: &&str| {
        !h.is_empty() && h.len() < 256 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    };
    if let Some(h) = host.filter(plain) {
        return format!("http://{h}");
    }
    let listen = config.server.listen;
    let host = match listen.ip() {
        ip if ip.is_unspecified() => format!("{}.local", config.device.hostname),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        ip => ip.to_string(),
    };
    if listen.port() == 80 { format!("http://{host}") } else { format!("http://{host}:{}", listen.port()) }
}
