//! `retrovue channel|schedule|guide`.

use super::Context;

/// `retrovue channel ...`
#[derive(Debug, clap::Subcommand)]
pub enum ChannelCmd {
    /// List channels.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `retrovue schedule ...`
#[derive(Debug, clap::Subcommand)]
pub enum ScheduleCmd {
    /// Build or extend the fine schedule.
    Build {
        /// Days ahead.
        #[arg(long)]
        days: Option<u32>,
        /// Rebuild inside the frozen window too.
        #[arg(long)]
        force: bool,
    },
}

/// `retrovue guide ...`
#[derive(Debug, clap::Subcommand)]
pub enum GuideCmd {
    /// Print XMLTV.
    Xmltv {
        /// Days ahead.
        #[arg(long)]
        days: Option<u32>,
    },
}

/// Run `retrovue channel ...`.
pub fn channel(_ctx: &Context, _cmd: ChannelCmd) -> anyhow::Result<()> {
    anyhow::bail!("`retrovue channel` is not built yet")
}

/// Run `retrovue schedule ...`.
pub fn schedule(_ctx: &Context, _cmd: ScheduleCmd) -> anyhow::Result<()> {
    anyhow::bail!("`retrovue schedule` is not built yet")
}

/// Run `retrovue guide ...`.
pub fn guide(_ctx: &Context, _cmd: GuideCmd) -> anyhow::Result<()> {
    anyhow::bail!("`retrovue guide` is not built yet")
}
