//! Bodies of the CLI subcommands (argument types and `run` functions), one file per area.
//! `main.rs` only parses and dispatches.

pub mod alert;
pub mod library;
pub mod links;
pub mod playout;
pub mod schedule;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::Db;
use crate::lineup::ChannelId;

/// What every command gets.
pub struct Context {
    /// The loaded configuration.
    pub config: Config,
}

impl Context {
    /// Open the database under the data directory (creating both if needed).
    pub fn open_db(&self) -> anyhow::Result<Db> {
        std::fs::create_dir_all(&self.config.data_dir)?;
        Ok(Db::open(&self.config.database_path())?)
    }
}

/// Ask for a replan after the frozen window (of one channel, or all): the running daemon
/// makes it within seconds; without one, the next `retrovue schedule build` (or `serve`) does.
pub fn ask_replan(db: &Db, channel: Option<ChannelId>, reason: &str) -> anyhow::Result<()> {
    let now = SystemClock.now().timestamp_millis();
    db.call_blocking(|c| crate::schedule::store::request_replan(c, channel, reason, now))?;
    Ok(())
}

/// What the CLI says after an edit that reaches the schedule.
pub const REPLAN_NOTE: &str =
    "the daemon replans after the frozen window within seconds (or run `retrovue schedule build`)";
