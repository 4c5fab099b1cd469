//! `retrovue alert`.

use super::Context;

/// `retrovue alert ...`
#[derive(Debug, clap::Subcommand)]
pub enum AlertCmd {
    /// List alerts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run `retrovue alert ...`.
pub fn alert(_ctx: &Context, _cmd: AlertCmd) -> anyhow::Result<()> {
    anyhow::bail!("`retrovue alert` is not built yet")
}
