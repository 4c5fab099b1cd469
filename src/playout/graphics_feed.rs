//! Keeps a channel's [`ChannelGraphics`] fed with schedule cues: a task reads the channel's
//! airings around "now" (the same [`AiringSource`] the player uses) and, through
//! [`ItemFacts`], each program's rating and picture aspect, so lower thirds and the bug's
//! placement follow the schedule. A guide channel's graphics also get every channel's
//! programmes from a [`GuideSource`] ([`follow_guide`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use super::graphics::cues::Cue;
use super::overlay::ChannelGraphics;
use super::{AiringSource, GuideSource};
use crate::clock::SharedClock;
use crate::library::MediaId;
use crate::lineup::ChannelId;
use crate::schedule::Airing;

/// How often the cues are re-read (the schedule is frozen near "now", so this is plenty).
pub const REFRESH: Duration = Duration::from_secs(20);

/// How often a guide channel's listing is re-read.
pub const GUIDE_REFRESH: Duration = Duration::from_secs(30);

/// Feed a guide channel's `graphics` with the listing of every channel (now and the next
/// hours) until `shutdown`.
pub async fn follow_guide(
    graphics: ChannelGraphics,
    source: Arc<dyn GuideSource>,
    clock: SharedClock,
    shutdown: CancellationToken,
) {
    loop {
        let now = clock.now();
        match source.guide(now - chrono::Duration::hours(3), now + chrono::Duration::hours(4)).await {
            Ok(data) => graphics.set_guide(data),
            Err(e) => tracing::warn!("guide channel: {e}"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(GUIDE_REFRESH) => {}
        }
    }
}

/// What graphics need to know about a library item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Content rating ("TV-PG").
    pub rating: Option<String>,
    /// Display aspect of the picture (1.333 for 4:3).
    pub aspect: Option<f64>,
}

/// Looks up [`Facts`] (the director implements it over the library).
pub trait ItemFacts: Send + Sync + 'static {
    /// Facts about `media`, or defaults when unknown.
    fn facts(&self, media: MediaId) -> BoxFuture<'static, Facts>;
}

/// A cue from an airing and its item's facts.
pub fn cue(airing: &Airing, facts: &Facts) -> Cue {
    Cue {
        start: airing.start,
        end: airing.end,
        kind: airing.kind,
        program_id: airing.program_id,
        title: airing.title.clone(),
        rating: facts.rating.clone(),
        aspect: facts.aspect,
        card: airing.card.clone(),
    }
}

/// Feed `graphics` with channel `channel`'s cues until `shutdown`.
pub async fn follow(
    graphics: ChannelGraphics,
    channel: ChannelId,
    source: Arc<dyn AiringSource>,
    facts: Option<Arc<dyn ItemFacts>>,
    clock: SharedClock,
    shutdown: CancellationToken,
) {
    let mut known: HashMap<MediaId, Facts> = HashMap::new();
    loop {
        let now = clock.now();
        match source.airings(channel, now - chrono::Duration::hours(1), now + chrono::Duration::hours(4)).await {
            Ok(airings) => {
                let mut cues = Vec::with_capacity(airings.len());
                for a in &airings {
                    let f = match (a.media_id, &facts) {
                        (Some(id), Some(src)) => match known.get(&id) {
                            Some(f) => f.clone(),
                            None => {
                                let f = src.facts(id).await;
                                known.insert(id, f.clone());
                                f
                            }
                        },
                        _ => Facts::default(),
                    };
                    cues.push(cue(a, &f));
                }
                graphics.set_cues(cues);
            }
            Err(e) => tracing::warn!(%channel, "graphics: {e}"),
        }
        if known.len() > 2000 {
            known.clear();
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(REFRESH) => {}
        }
    }
}
