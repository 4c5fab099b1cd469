//! The lineup as a watched value: [`Lineups`] holds the current [`Lineup`] snapshot and
//! refreshes it when the `channels` table changes (this process's writes or another
//! process's, see [`crate::db::changes`]). Playout's supervisor, the tuner, the guide and the
//! media-server links follow it; none of them reads the table on a timer or per request.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Lineup;
use super::store::{self, LineupStoreError};
use crate::db::Db;

/// The tables the lineup is read from.
pub const TABLES: &[&str] = &["channels"];

/// The watched lineup; clonable.
#[derive(Clone)]
pub struct Lineups {
    tx: watch::Sender<Arc<Lineup>>,
}

impl Lineups {
    /// A fixed lineup (tests, tools): never refreshed.
    pub fn fixed(lineup: Lineup) -> Self {
        Self { tx: watch::Sender::new(Arc::new(lineup)) }
    }

    /// Read the lineup from `db` now.
    pub async fn load(db: &Db) -> Result<Self, LineupStoreError> {
        let lineup = read(db).await?;
        Ok(Self::fixed(lineup))
    }

    /// Follow it: the current snapshot, and `changed()` after every change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Lineup>> {
        self.tx.subscribe()
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<Lineup> {
        self.tx.borrow().clone()
    }

    /// Refresh from `db` whenever the channels change, until `shutdown`. The watch is made
    /// when this is called, not when the future is first polled, and the lineup is read once
    /// more straight away: a write between [`Self::load`] and the task's first turn is seen.
    pub fn follow(self, db: Db, shutdown: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
        let mut changes = db.changes().watch(TABLES);
        async move {
            loop {
                self.refresh(&db).await;
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = changes.changed() => {}
                }
            }
        }
    }

    async fn refresh(&self, db: &Db) {
        match read(db).await {
            Ok(lineup) => {
                self.tx.send_if_modified(|cur| {
                    let changed = **cur != lineup;
                    if changed {
                        *cur = Arc::new(lineup);
                    }
                    changed
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the lineup; keeping the last one"),
        }
    }
}

async fn read(db: &Db) -> Result<Lineup, LineupStoreError> {
    db.call(|c| store::lineup(c)).await?
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lineup::store::{NewChannel, insert};

    #[tokio::test]
    async fn the_lineup_follows_writes_to_the_channels_table() {
        let db = Db::open_in_memory().unwrap();
        let lineups = Lineups::load(&db).await.unwrap();
        let mut rx = lineups.subscribe();
        assert!(rx.borrow().channels.is_empty());
        let stop = CancellationToken::new();
        tokio::spawn(lineups.clone().follow(db.clone(), stop.clone()));
        let seven = NewChannel {
            number: "7".parse().unwrap(),
            name: "Seven".into(),
            call_sign: String::new(),
            logo: None,
            settings: Default::default(),
        };
        db.call(move |c| insert(c, &seven, 0)).await.unwrap().unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx.changed()).await.expect("notified").unwrap();
        assert_eq!(rx.borrow().channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Seven"]);
        stop.cancel();
    }
}
