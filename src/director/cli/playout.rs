//! `retrovue selftest`.

use super::Context;

/// `retrovue selftest`
#[derive(Debug, clap::Args)]
pub struct SelftestArgs {
    /// Seconds of test pattern to encode.
    #[arg(long, default_value_t = 3)]
    pub seconds: u32,
}

/// Run `retrovue selftest`.
pub fn selftest(_ctx: &Context, _args: SelftestArgs) -> anyhow::Result<()> {
    anyhow::bail!("`retrovue selftest` is not built yet")
}
