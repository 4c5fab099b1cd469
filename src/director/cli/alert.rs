//! `retrovue alert`: raise, clear and list emergency alerts. The command writes the database;
//! a running daemon notices within a second (it polls the table), so this works whether or
//! not the daemon runs, and an alert raised while it is down shows when it starts.

use anyhow::Context as _;

use super::Context;
use crate::clock::{Clock, SystemClock, to_ms};
use crate::emergency::model::{AlertChannels, AlertId, AlertMode, AlertRequest, parse_duration, parse_time};
use crate::emergency::{Alert, AlertOrigin, store};

/// `retrovue alert ...`
#[derive(Debug, clap::Subcommand)]
pub enum AlertCmd {
    /// Raise an alert on every channel (or some).
    Start(StartArgs),
    /// Clear one alert by id, or every live and pending alert.
    Clear {
        /// Alert id (default: all live and pending alerts).
        id: Option<i64>,
    },
    /// List recent alerts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// How many (newest first).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

/// `retrovue alert start`
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// The text to show (at most 1000 characters).
    #[arg(long, short)]
    pub message: String,
    /// crawl (text over the program) or slate (full-screen card, program sound muted).
    #[arg(long, default_value = "crawl")]
    pub mode: String,
    /// `all`, or channel numbers such as 5,7.
    #[arg(long, default_value = "all")]
    pub channels: String,
    /// How long, e.g. 90s, 2m, 1h30m (default: until cleared).
    #[arg(long)]
    pub duration: Option<String>,
    /// End time instead of a duration: RFC 3339 or HH:MM (local, `schedule.timezone`).
    #[arg(long)]
    pub until: Option<String>,
    /// Priority 0-100; the highest live alert wins on each channel.
    #[arg(long, default_value_t = 0)]
    pub priority: u8,
    /// Play the EAS attention tone (853 + 960 Hz) first.
    #[arg(long)]
    pub tone: bool,
    /// Start time: RFC 3339 or HH:MM (local); default now.
    #[arg(long)]
    pub at: Option<String>,
    /// Print the stored alert as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run `retrovue alert ...`.
pub fn alert(ctx: &Context, cmd: AlertCmd) -> anyhow::Result<()> {
    let db = ctx.open_db()?;
    let clock = SystemClock;
    let now = clock.now();
    let tz = ctx.config.schedule.timezone;
    match cmd {
        AlertCmd::Start(a) => {
            let req = AlertRequest {
                message: a.message,
                priority: a.priority,
                channels: a.channels.parse::<AlertChannels>()?,
                mode: a.mode.parse::<AlertMode>()?,
                tone: a.tone,
                starts_at: a.at.as_deref().map(|t| parse_time(t, tz, now)).transpose()?,
                duration: a.duration.as_deref().map(parse_duration).transpose()?,
                ends_at: a.until.as_deref().map(|t| parse_time(t, tz, now)).transpose()?,
                origin: AlertOrigin::Cli,
            };
            let raised = db.call_blocking(|c| store::raise(c, &req, to_ms(now)))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&raised.alert)?);
            } else if raised.duplicate {
                println!("alert {} is already on: {}", raised.alert.id, describe(&raised.alert, now));
            } else {
                println!("alert {} raised: {}", raised.alert.id, describe(&raised.alert, now));
            }
        }
        AlertCmd::Clear { id } => {
            let cleared: Vec<AlertId> = match id {
                Some(id) => {
                    let a = db
                        .call_blocking(|c| store::clear(c, AlertId(id), to_ms(now)))?
                        .with_context(|| format!("no alert {id}"))?;
                    vec![a.id]
                }
                None => db.call_blocking(|c| store::clear_all(c, to_ms(now)))?,
            };
            if cleared.is_empty() {
                println!("no live or pending alerts");
            }
            for id in cleared {
                println!("alert {id} cleared");
            }
        }
        AlertCmd::List { json, limit } => {
            let alerts = db.call_blocking(|c| store::recent(c, limit))?;
            if json {
                let rows: Vec<serde_json::Value> = alerts
                    .iter()
                    .map(|a| {
                        let mut v = serde_json::to_value(a).expect("alert serialises");
                        v["status"] = status(a, now).into();
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if alerts.is_empty() {
                println!("no alerts");
            } else {
                for a in &alerts {
                    println!("{:>4}  {:<8} {}", a.id, status(a, now), describe(a, now));
                }
            }
        }
    }
    Ok(())
}

fn status(a: &Alert, now: chrono::DateTime<chrono::Utc>) -> &'static str {
    if a.cleared_at.is_some_and(|c| c <= now) {
        "cleared"
    } else if a.is_over(now) {
        "ended"
    } else if a.is_live(now) {
        "live"
    } else {
        "pending"
    }
}

fn describe(a: &Alert, now: chrono::DateTime<chrono::Utc>) -> String {
    let until = match a.stops_at() {
        Some(t) if t > now => format!("until {}", t.format("%Y-%m-%d %H:%M:%S UTC")),
        Some(t) => format!("stopped {}", t.format("%Y-%m-%d %H:%M:%S UTC")),
        None => "until cleared".to_owned(),
    };
    format!(
        "{} on {} (priority {}{}), {}: {}",
        a.mode.as_str(),
        a.channels,
        a.priority,
        if a.tone { ", tone" } else { "" },
        until,
        a.message
    )
}
