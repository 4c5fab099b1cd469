//! Keeps a channel's [`ChannelGraphics`] fed with schedule cues: a task follows the channel's
//! published horizon (the same watched [`Horizon`] the player follows) and, through
//! [`ItemFacts`], each program's rating and picture aspect, so lower thirds and the bug's
//! placement follow the schedule the moment it is published. (A guide channel's listing is
//! fed by the director through [`ChannelGraphics::set_guide`].)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::graphics::cues::Cue;
use super::overlay::ChannelGraphics;
use crate::clock::SharedClock;
use crate::library::MediaId;
use crate::lineup::ChannelId;
use crate::schedule::Airing;
use crate::schedule::horizons::Horizon;

/// How far ahead of now the cues reach; the window moves on this often (from the snapshot
/// in memory) when the horizon does not change meanwhile.
const AHEAD: chrono::Duration = chrono::Duration::hours(4);
const MOVE_ON: Duration = Duration::from_secs(600);

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

/// Feed `graphics` with channel `channel`'s cues until `shutdown`: at once, whenever its
/// horizon is published anew, and as the window moves on.
pub async fn follow(
    graphics: ChannelGraphics,
    channel: ChannelId,
    mut airings: watch::Receiver<Arc<Horizon>>,
    facts: Option<Arc<dyn ItemFacts>>,
    clock: SharedClock,
    shutdown: CancellationToken,
) {
    let mut known: HashMap<MediaId, Facts> = HashMap::new();
    loop {
        let now = clock.now();
        let horizon = airings.borrow_and_update().clone();
        let mut cues = Vec::new();
        for a in horizon.between(now - chrono::Duration::hours(1), now + AHEAD) {
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
        if known.len() > 2000 {
            known.clear();
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            r = airings.changed() => if r.is_err() { return },
            () = tokio::time::sleep(MOVE_ON) => {}
        }
        tracing::trace!(%channel, "graphics cues refreshed");
    }
}
