//! Bodies of the CLI subcommands (argument types and `run` functions), one file per area.
//! `main.rs` only parses and dispatches.

pub mod alert;
pub mod library;
pub mod links;
pub mod playout;
pub mod schedule;

use crate::config::Config;
use crate::db::Db;

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
