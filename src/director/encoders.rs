//! Which H.264 encoders this box has, and which one playout uses (shown and chosen on the
//! web page's Settings and Dashboard). Registry look-ups through `playout::encoder` only:
//! nothing is started.

use crate::config::EncoderChoice;
use crate::playout::encoder::{self, PROBE_ORDER};

/// The encoders playout can drive that the registry has, in playout's probe order (empty
/// if GStreamer cannot start).
pub fn detect() -> Vec<String> {
    if let Err(e) = gstreamer::init() {
        tracing::warn!(error = %e, "GStreamer did not start; no encoders listed");
        return Vec::new();
    }
    PROBE_ORDER.iter().filter(|k| k.factory().is_available()).map(|k| k.element().to_owned()).collect()
}

/// The encoder playout picks for `choice`, if any.
pub fn in_use(choice: &EncoderChoice) -> Option<String> {
    gstreamer::init().ok()?;
    encoder::probe(choice).ok().map(|k| k.element().to_owned())
}

/// What the encoder probe decided at start-up.
#[derive(Debug, Clone)]
pub struct EncoderPlan {
    /// The verified encoder, if any.
    pub kind: Option<crate::playout::encoder::EncoderKind>,
    /// Its budget in macroblocks/s (0 when there is no encoder).
    pub budget: u64,
    /// Tuners to advertise: the configured count, else sized from the budget.
    pub tuners: u8,
}

/// Probe and verify the encoder on the most expensive enabled channel's caps, verify and rank
/// the hardware decoders, and size the tuners (on a blocking thread: trial encodes run
/// GStreamer pipelines to completion).
pub async fn plan(config: &crate::config::Config, db: &crate::db::Db) -> EncoderPlan {
    let profiles: Vec<crate::lineup::OutputProfile> = match db.call(|c| crate::lineup::store::list(c)).await {
        Ok(Ok(list)) => list.into_iter().filter(|c| c.enabled).map(|c| c.settings.profile).collect(),
        _ => Vec::new(),
    };
    let choice = config.playout.encoder.clone();
    let configured = config.device.tuner_count;
    tokio::task::spawn_blocking(move || plan_blocking(&choice, &profiles, configured)).await.unwrap_or(EncoderPlan {
        kind: None,
        budget: 0,
        tuners: 1,
    })
}

fn plan_blocking(
    choice: &EncoderChoice,
    profiles: &[crate::lineup::OutputProfile],
    configured: Option<u32>,
) -> EncoderPlan {
    use crate::playout::budget;
    if let Err(e) = gstreamer::init() {
        tracing::error!(error = %e, "GStreamer did not start");
        return EncoderPlan { kind: None, budget: 0, tuners: 1 };
    }
    crate::playout::verify::rank_decoders();
    let worst = profiles.iter().copied().max_by_key(|p| p.macroblocks_per_second()).unwrap_or_default();
    let kind = match encoder::probe_with(choice, &worst) {
        Ok(k) => Some(k),
        Err(e) => {
            tracing::error!(error = %e, "no usable H.264 encoder");
            None
        }
    };
    let budget = kind.map_or(0, budget::budget_here);
    let sized = budget::tuner_count(budget, profiles);
    let tuners = configured.map_or(sized, |n| u8::try_from(n).unwrap_or(u8::MAX));
    tracing::info!(
        encoder = kind.map(|k| k.element()),
        budget_macroblocks_per_second = budget,
        tuners,
        sized_from_budget = sized,
        configured = configured.is_some(),
        "tuner count"
    );
    EncoderPlan { kind, budget, tuners }
}
