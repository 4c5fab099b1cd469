//! Wiring of each channel's graphics and alert display (issue 6): [`ChannelOverlays`] is the
//! supervisor's [`Overlays`]: for a channel about to start, its [`ChannelGraphics`]
//! (following the emergency watch), the two factories for the player's overlay seams, a task
//! feeding it schedule cues from the channel's horizon, and a task writing the alert's actual
//! start and end on that channel into the as-run log; for a guide channel, a task feeding it
//! every channel's programmes whenever the lineup or the published programmes change
//! ([`follow_guide`]). The tasks stop when the returned [`ChannelOverlay`] is dropped (the
//! channel stopped).

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{SharedClock, to_ms};
use crate::db::Db;
use crate::emergency::Emergency;
use crate::library::MediaId;
use crate::lineup::{Channel, ChannelKind};
use crate::playout::graphics::guide::{GuideData, GuideRow, GuideSlot};
use crate::playout::graphics::layout::parse_aspect;
use crate::playout::graphics_feed::{self, Facts, ItemFacts};
use crate::playout::overlay::{ChannelGraphics, OnAir};
use crate::playout::station::Presentation;
use crate::playout::supervisor::{ChannelOverlay, Overlays};
use crate::schedule::AiringKind;
use crate::schedule::horizons::Horizon;
use crate::schedule::store as schedule_store;

/// Makes [`ChannelOverlay`]s for channels as they start.
#[derive(Clone)]
pub struct ChannelOverlays {
    /// The database (library facts, as-run log).
    pub db: Db,
    /// The clock.
    pub clock: SharedClock,
    /// Alerts.
    pub emergency: Emergency,
    /// Time zone of "at 8:30" and the clock.
    pub tz: chrono_tz::Tz,
    /// Where the tasks are tracked.
    pub tracker: TaskTracker,
    /// Daemon shutdown.
    pub shutdown: CancellationToken,
}

impl Overlays for ChannelOverlays {
    fn for_channel(&self, channel: &Channel, airings: watch::Receiver<Arc<Horizon>>) -> ChannelOverlay {
        let graphics = ChannelGraphics::new(channel, self.emergency.subscribe(), self.clock.clone(), self.tz);
        let stop = self.shutdown.child_token();
        let facts: Arc<dyn ItemFacts> = Arc::new(LibraryFacts { db: self.db.clone() });
        self.tracker.spawn(graphics_feed::follow(
            graphics.clone(),
            channel.id,
            airings,
            Some(facts),
            self.clock.clone(),
            stop.clone(),
        ));
        if channel.settings.kind == ChannelKind::Guide {
            self.tracker.spawn(follow_guide(self.db.clone(), self.clock.clone(), graphics.clone(), stop.clone()));
        }
        self.tracker.spawn(record_alerts(
            self.db.clone(),
            self.clock.clone(),
            channel.id,
            graphics.on_air(),
            stop.clone(),
        ));
        ChannelOverlay {
            video: graphics.video_factory(),
            audio: graphics.audio_factory(),
            presentation: Presentation { standby: Some(graphics.standby()), item_window: graphics.item_window() },
            graphics,
            keep: Box::new(stop.drop_guard()),
        }
    }
}

/// The tables a guide channel's listing is read from.
const GUIDE_TABLES: &[&str] = &["channels", "schedule_programs", "schedule_publications"];

/// Feed a guide channel's `graphics` with the listing of every enabled channel but guide
/// channels, in number order, with their published programmes from a little before now on;
/// read again whenever the lineup or the published programmes change, until `stop`.
async fn follow_guide(db: Db, clock: SharedClock, graphics: ChannelGraphics, stop: CancellationToken) {
    let mut changes = db.changes().watch(GUIDE_TABLES);
    loop {
        let from = to_ms(clock.now() - chrono::Duration::hours(3));
        match db.call(move |c| schedule_store::listing(c, from)).await {
            Ok(Ok(listing)) => graphics.set_guide(guide_rows(listing)),
            Ok(Err(e)) => tracing::warn!(error = %e, "guide channel: cannot read the listing; keeping the last one"),
            Err(e) => tracing::warn!(error = %e, "guide channel: cannot read the listing; keeping the last one"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            _ = changes.changed() => {}
        }
    }
}

/// The listing from the published programmes of every channel but guide channels.
fn guide_rows(listing: Vec<(Channel, Vec<crate::schedule::Program>)>) -> GuideData {
    let rows = listing
        .into_iter()
        .filter(|(ch, _)| ch.settings.kind != ChannelKind::Guide)
        .map(|(ch, programs)| GuideRow {
            number: ch.number.to_string(),
            call_sign: if ch.call_sign.is_empty() { ch.name.clone() } else { ch.call_sign.clone() },
            programs: programs
                .into_iter()
                .map(|p| GuideSlot { start: p.start, end: p.end, title: p.info.title })
                .collect(),
        })
        .collect();
    GuideData { rows }
}

/// Rating and picture aspect from the library.
struct LibraryFacts {
    db: Db,
}

impl ItemFacts for LibraryFacts {
    fn facts(&self, media: MediaId) -> BoxFuture<'static, Facts> {
        let db = self.db.clone();
        Box::pin(async move {
            let details = db.call(move |c| crate::library::store::get_item_details(c, media)).await;
            match details {
                Ok(Ok(Some(d))) => {
                    let aspect = d.probe.display_aspect.as_deref().and_then(parse_aspect).or_else(|| {
                        match (d.probe.width, d.probe.height) {
                            (Some(w), Some(h)) if h > 0 => Some(f64::from(w) / f64::from(h)),
                            _ => None,
                        }
                    });
                    Facts { rating: d.item.rating, aspect }
                }
                _ => Facts::default(),
            }
        })
    }
}

/// Write one as-run row per alert shown on the channel: opened on its first frame, closed
/// on the first frame without it (or at shutdown).
async fn record_alerts(
    db: Db,
    clock: SharedClock,
    channel: crate::lineup::ChannelId,
    mut on_air: watch::Receiver<OnAir>,
    stop: CancellationToken,
) {
    let mut open: Option<i64> = None;
    loop {
        let changed = tokio::select! {
            () = stop.cancelled() => None,
            r = on_air.changed() => r.ok().map(|()| on_air.borrow_and_update().clone()),
        };
        let (end_ms, next) = match changed {
            Some(state) => (to_ms(state.since), Some(state)),
            None => (to_ms(clock.now()), None),
        };
        if let Some(row) = open.take() {
            let r = db
                .call(move |c| schedule_store::finish_as_run(c, row, end_ms, schedule_store::AsRunStatus::Alert, None))
                .await;
            if !matches!(r, Ok(Ok(()))) {
                tracing::warn!(%channel, "cannot close the alert's as-run entry");
            }
        }
        let Some(state) = next else { return };
        if let Some(alert) = state.alert {
            let entry = schedule_store::AsRun {
                id: 0,
                channel_id: channel,
                schedule_item_id: None,
                media_id: None,
                kind: AiringKind::Slate,
                title: format!("Emergency alert {} ({}): {}", alert.id, alert.mode.as_str(), alert.message),
                planned_start_ms: Some(to_ms(alert.starts_at)),
                planned_end_ms: alert.ends_at.map(to_ms),
                actual_start_ms: to_ms(state.since),
                actual_end_ms: None,
                status: schedule_store::AsRunStatus::Alert,
                error: None,
            };
            match db.call(move |c| schedule_store::record_as_run(c, &entry)).await {
                Ok(Ok(id)) => open = Some(id),
                _ => tracing::warn!(%channel, "cannot write the alert's as-run entry"),
            }
        }
    }
}
