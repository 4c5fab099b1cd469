//! The [`Emergency`] handle: raise, clear and list alerts, and a `watch` of the live ones.
//!
//! A task ([`Emergency::run`]) re-evaluates the live set every [`POLL`] against the clock
//! (starts and expiries) and polls the table's change marker, so alerts written by another
//! process (the CLI) reach every channel within a second. Changes made through the handle
//! wake the task at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::activation::ActiveAlerts;
use super::model::{Alert, AlertId, AlertRequest};
use super::store::{self, ChangeMarker};
use super::{EmergencyError, Raised};
use crate::clock::{SharedClock, to_ms};
use crate::db::Db;

/// How often the live set is re-evaluated and the table polled for changes by others.
pub const POLL: Duration = Duration::from_millis(250);

/// Clonable handle to the emergency system.
#[derive(Clone)]
pub struct Emergency {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    clock: SharedClock,
    tx: watch::Sender<Arc<ActiveAlerts>>,
    // Woken by raise/clear through this handle so the task does not wait for the next poll.
    wake: Notify,
}

impl std::fmt::Debug for Emergency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emergency").field("active", &self.inner.tx.borrow().alerts.len()).finish()
    }
}

impl Emergency {
    /// Read the live alerts from the database (blocking: call at start-up), so channels
    /// started right after see an alert that was live before a restart.
    pub fn load(db: Db, clock: SharedClock) -> Result<Self, EmergencyError> {
        let now = clock.now();
        let pending = db.call_blocking(|c| store::pending(c, to_ms(now)))?;
        let live = ActiveAlerts::at(&pending, now);
        for a in &live.alerts {
            tracing::warn!(id = %a.id, channels = %a.channels, "resuming live emergency alert {}: {}", a.id, a.message);
        }
        let (tx, _) = watch::channel(Arc::new(live));
        Ok(Self { inner: Arc::new(Inner { db, clock, tx, wake: Notify::new() }) })
    }

    /// A receiver of the live set; it changes when an alert starts, stops, or is raised or
    /// cleared anywhere.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ActiveAlerts>> {
        self.inner.tx.subscribe()
    }

    /// The clock's "now".
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    /// The live set now.
    pub fn active(&self) -> Arc<ActiveAlerts> {
        self.inner.tx.borrow().clone()
    }

    /// Check and store an alert; channels follow within one poll.
    pub async fn raise(&self, req: AlertRequest) -> Result<Raised, EmergencyError> {
        let now_ms = to_ms(self.inner.clock.now());
        let raised = self.inner.db.call(move |c| store::raise(c, &req, now_ms)).await??;
        if !raised.duplicate {
            tracing::warn!(id = %raised.alert.id, mode = raised.alert.mode.as_str(), channels = %raised.alert.channels,
                origin = raised.alert.origin.as_str(), "emergency alert raised: {}", raised.alert.message);
        }
        self.inner.wake.notify_one();
        Ok(raised)
    }

    /// Clear one alert, or every live and pending one (`None`); the alerts cleared.
    pub async fn clear(&self, id: Option<AlertId>) -> Result<Vec<Alert>, EmergencyError> {
        let now_ms = to_ms(self.inner.clock.now());
        let cleared = self
            .inner
            .db
            .call(move |c| -> Result<Vec<Alert>, EmergencyError> {
                match id {
                    Some(id) => match store::clear(c, id, now_ms)? {
                        Some(a) => Ok(vec![a]),
                        None => Err(super::AlertError::NotFound(id).into()),
                    },
                    None => {
                        let ids = store::clear_all(c, now_ms)?;
                        Ok(ids.into_iter().filter_map(|id| store::get(c, id).ok().flatten()).collect())
                    }
                }
            })
            .await??;
        for a in &cleared {
            tracing::warn!(id = %a.id, "emergency alert cleared");
        }
        self.inner.wake.notify_one();
        Ok(cleared)
    }

    /// The most recent alerts, newest first.
    pub async fn list(&self, limit: u32) -> Result<Vec<Alert>, EmergencyError> {
        Ok(self.inner.db.call(move |c| store::recent(c, limit)).await??)
    }

    /// Follow the table and the clock until `shutdown`, publishing the live set on change.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut marker: Option<ChangeMarker> = None;
        let mut pending: Vec<Alert> = Vec::new();
        let mut failing = false;
        loop {
            match self.refresh(&mut marker, &mut pending).await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::error!("emergency alerts: cannot read the table (keeping the last state): {e}");
                }
                Err(_) => {}
            }
            let live = ActiveAlerts::at(&pending, self.inner.clock.now());
            self.inner.tx.send_if_modified(|current| {
                if **current == live {
                    return false;
                }
                let ids: Vec<i64> = live.alerts.iter().map(|a| a.id.0).collect();
                tracing::info!("live emergency alerts changed: {ids:?}");
                *current = Arc::new(live);
                true
            });
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    async fn refresh(&self, marker: &mut Option<ChangeMarker>, pending: &mut Vec<Alert>) -> Result<(), EmergencyError> {
        let now_ms = to_ms(self.inner.clock.now());
        let known = *marker;
        let fresh = self
            .inner
            .db
            .call(move |c| -> Result<Option<(ChangeMarker, Vec<Alert>)>, EmergencyError> {
                let m = store::marker(c)?;
                if Some(m) == known {
                    return Ok(None);
                }
                Ok(Some((m, store::pending(c, now_ms)?)))
            })
            .await??;
        if let Some((m, p)) = fresh {
            *marker = Some(m);
            *pending = p;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::emergency::{AlertChannels, AlertMode};
    use crate::lineup::store::{NewChannel, insert};
    use chrono::{TimeZone, Utc};

    fn db_with_channels(numbers: &[&str]) -> Db {
        let db = Db::open_in_memory().unwrap();
        db.call_blocking(|c| {
            for n in numbers {
                let new = NewChannel {
                    number: n.parse().unwrap(),
                    name: format!("Ch {n}"),
                    call_sign: String::new(),
                    logo: None,
                    settings: Default::default(),
                };
                insert(c, &new, 0).unwrap();
            }
        });
        db
    }

    #[tokio::test]
    async fn raise_publish_expire_clear() {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 21, 0, 0).unwrap());
        let db = db_with_channels(&["5", "7"]);
        let em = Emergency::load(db.clone(), Arc::new(clock.clone())).unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(em.clone().run(shutdown.clone()));
        let mut rx = em.subscribe();
        assert!(rx.borrow_and_update().is_empty());

        let req = |msg: &str, ch: &str| AlertRequest {
            message: msg.into(),
            channels: ch.parse().unwrap(),
            mode: AlertMode::Slate,
            duration: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let bad = em.raise(req("x", "5,9")).await.unwrap_err();
        assert_eq!(bad.to_string(), "no such channel: 9");
        let a = em.raise(req("Tornado warning", "5")).await.unwrap();
        assert!(!a.duplicate);
        let again = em.raise(req("Tornado warning", "5")).await.unwrap();
        assert_eq!((again.duplicate, again.alert.id), (true, a.alert.id));
        tokio::time::timeout(Duration::from_secs(1), rx.changed()).await.unwrap().unwrap();
        let live = rx.borrow_and_update().clone();
        assert_eq!(live.for_channel(&"5".parse().unwrap()).map(|a| a.id), Some(a.alert.id));
        assert!(live.for_channel(&"7".parse().unwrap()).is_none());

        // Expiry follows the injected clock.
        clock.advance(chrono::Duration::seconds(61));
        tokio::time::timeout(Duration::from_secs(1), rx.changed()).await.unwrap().unwrap();
        assert!(rx.borrow_and_update().is_empty());

        // A row written by "another process" (directly in the table) is noticed by polling.
        let other = db.clone();
        let now_ms = to_ms(clock.now());
        let b = other
            .call(move |c| {
                let mut r = req("Boil water", "all");
                r.duration = None;
                store::raise(c, &r, now_ms).unwrap().alert
            })
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(1), rx.changed()).await.unwrap().unwrap();
        assert_eq!(rx.borrow_and_update().alerts[0].channels, AlertChannels::All);

        // A restart during the alert resumes it.
        let restarted = Emergency::load(db.clone(), Arc::new(clock.clone())).unwrap();
        assert_eq!(restarted.active().alerts[0].id, b.id);

        assert_eq!(em.clear(Some(b.id)).await.unwrap()[0].id, b.id);
        tokio::time::timeout(Duration::from_secs(1), rx.changed()).await.unwrap().unwrap();
        assert!(rx.borrow_and_update().is_empty());
        assert!(matches!(em.clear(Some(AlertId(999))).await, Err(EmergencyError::Invalid(_))));
        assert_eq!(em.list(10).await.unwrap().len(), 2);
        shutdown.cancel();
        task.await.unwrap();
    }
}
