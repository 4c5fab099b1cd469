//! [`Links`]: link, unlink and list media servers, and (in the daemon) keep every link
//! healthy: one task per linked server that reconciles it after guide changes (debounced:
//! `debounce` of quiet, never more than `max_delay` after the first change), every
//! `check_every`, and, while the server is down, slow or refuses the key, again after a
//! back-off that doubles from `retry` up to `retry_max`. Each task only ever waits on its own
//! server (every request has a timeout), so a dead server stalls nothing else.
//!
//! One reconcile at a time per server: link, unlink and the server's task take the same
//! lock, and a task re-reads its row under it, so an unlink is never undone by a check that
//! was already running.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::jellyfin::{self, Flavor, Known};
use super::store::{self, Checked, LinkRow, LinkStatus};
use super::{LinkError, LinkId, Outcome, Secret, ServerKind, Target, normalize_url, plex_dvr};
use crate::clock::SharedClock;
use crate::config::LinksConfig;
use crate::db::Db;

/// How often the daemon looks for links added or removed by another process (the CLI).
const SYNC_EVERY: Duration = Duration::from_secs(2);

/// Timing of links (from the `[links]` config section).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Quiet time after a guide change before the servers are refreshed.
    pub debounce: Duration,
    /// A refresh never waits longer than this after the first change.
    pub max_delay: Duration,
    /// A linked server is checked (and repaired) at least this often.
    pub check_every: Duration,
    /// First retry after a failure; doubles each time…
    pub retry: Duration,
    /// …up to this.
    pub retry_max: Duration,
    /// Every request to a media server gives up after this.
    pub timeout: Duration,
    /// How long `link` waits for the server to match the channels to the new guide.
    pub link_wait: Duration,
}

impl From<&LinksConfig> for Settings {
    fn from(c: &LinksConfig) -> Self {
        Self {
            debounce: c.debounce,
            max_delay: c.max_delay,
            check_every: c.check_every,
            retry: c.retry,
            retry_max: c.retry_max,
            timeout: c.timeout,
            link_wait: c.link_wait,
        }
    }
}

/// What the box advertises to a server (built by the director, which knows the box's
/// addresses, DeviceID, channels and guide).
pub trait TargetSource: Send + Sync + 'static {
    /// The [`Target`] for the server at `server_url`.
    fn target<'a>(&'a self, server_url: &'a str) -> BoxFuture<'a, Result<Target, String>>;
}

/// A server to link.
#[derive(Debug, Clone)]
pub struct LinkRequest {
    /// Which software.
    pub kind: ServerKind,
    /// Its base URL.
    pub url: String,
    /// Plex token, or Jellyfin/Emby API key (or access token).
    pub secret: Secret,
    /// What to call it on the page ("" for its host).
    pub name: String,
}

/// What `link` did.
#[derive(Debug, Clone)]
pub struct Linked {
    /// The link as stored.
    pub status: LinkStatus,
    /// What the reconcile changed on the server.
    pub outcome: Outcome,
}

/// What `unlink` did.
#[derive(Debug, Clone)]
pub struct Unlinked {
    /// The link that was forgotten.
    pub status: LinkStatus,
    /// What was removed from the server.
    pub removed: Vec<String>,
    /// Why the server could not be cleaned (the link is forgotten here all the same).
    pub remote_error: Option<String>,
}

/// The links; cheap to clone.
#[derive(Clone)]
pub struct Links {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    clock: SharedClock,
    targets: Arc<dyn TargetSource>,
    settings: Settings,
    // std Mutex: held only to look up or insert an entry, never across an await.
    locks: Mutex<HashMap<ServerKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// A server: its kind and normalised URL.
type ServerKey = (ServerKind, String);

impl Links {
    /// The links in `db`, advertising what `targets` builds.
    pub fn new(db: Db, clock: SharedClock, targets: Arc<dyn TargetSource>, settings: Settings) -> Self {
        Self { inner: Arc::new(Inner { db, clock, targets, settings, locks: Mutex::new(HashMap::new()) }) }
    }

    /// The timing in use.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    fn now_ms(&self) -> i64 {
        crate::clock::to_ms(self.inner.clock.now())
    }

    fn lock(&self, kind: ServerKind, url: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry((kind, url.to_owned())).or_default().clone()
    }

    /// Every link, without secrets.
    pub async fn statuses(&self) -> Result<Vec<LinkStatus>, LinkError> {
        let rows = self.inner.db.call(|c| store::list(c)).await??;
        Ok(rows.iter().map(LinkStatus::from).collect())
    }

    /// The link with this server, if any.
    pub async fn find(&self, kind: ServerKind, url: &str) -> Result<Option<LinkStatus>, LinkError> {
        let url = normalize_url(url)?;
        Ok(self.inner.db.call(move |c| store::find(c, kind, &url)).await??.as_ref().map(LinkStatus::from))
    }

    /// Log in to a Jellyfin or Emby server with a user name and password: the access token
    /// to link with.
    pub async fn login(&self, kind: ServerKind, url: &str, user: &str, password: &Secret) -> Result<Secret, LinkError> {
        let flavor = match kind {
            ServerKind::Jellyfin => Flavor::Jellyfin,
            ServerKind::Emby => Flavor::Emby,
            ServerKind::Plex => return Err(LinkError::Invalid("Plex links take a token, not a password".to_owned())),
        };
        let url = normalize_url(url)?;
        let target = self.inner.targets.target(&url).await.map_err(LinkError::Target)?;
        jellyfin::login(&url, flavor, user, password, self.inner.settings.timeout, &target.device_id).await
    }

    /// Register this box on a server (tuner, guide, channel map, guide load) and remember
    /// it. Running it again changes nothing on the server unless something there is missing
    /// or stale. Nothing is remembered when the server cannot be reached or refuses the key.
    pub async fn link(&self, req: LinkRequest) -> Result<Linked, LinkError> {
        let url = normalize_url(&req.url)?;
        if req.secret.is_empty() {
            return Err(LinkError::Invalid(format!(
                "{} needs {} to link",
                req.kind.title(),
                if req.kind == ServerKind::Plex { "a token (X-Plex-Token)" } else { "an API key" }
            )));
        }
        let lock = self.lock(req.kind, &url);
        let _held = lock.lock().await;
        let kind = req.kind;
        let url2 = url.clone();
        let existing = self.inner.db.call(move |c| store::find(c, kind, &url2)).await??;
        let known = known_of(existing.as_ref());
        let loaded = existing.as_ref().and_then(|r| r.guide_mark);
        let wait = self.inner.settings.link_wait;
        let (target, outcome) = self.reconcile(req.kind, &url, &req.secret, &known, loaded, wait).await?;
        let name = if req.name.trim().is_empty() {
            url::Url::parse(&url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_else(|| url.clone())
        } else {
            req.name.trim().to_owned()
        };
        let problem = unmatched_problem(req.kind, &outcome);
        let action = outcome.summary();
        let (now, secret) = (self.now_ms(), req.secret.clone());
        let o = outcome.clone();
        let row = self
            .inner
            .db
            .call(move |c| {
                let checked = Checked {
                    device_key: &o.device_key,
                    guide_key: &o.guide_key,
                    loaded_mark: o.reloaded().then_some(target.guide_mark),
                    problem: problem.as_deref(),
                    action: &action,
                };
                let id = store::save(c, kind, &url, &secret, &name, &checked, now)?;
                store::get(c, id)
            })
            .await??
            .ok_or_else(|| LinkError::Invalid("the link vanished while it was saved".to_owned()))?;
        tracing::info!(link = %row.id, kind = %row.kind, server = %row.url, "linked: {}", nothing_if_empty(&outcome.summary()));
        Ok(Linked { status: LinkStatus::from(&row), outcome })
    }

    /// Forget a link and take the box off that server (its DVR / listings provider and its
    /// tuner). A server that cannot be reached is forgotten here all the same, and said so.
    pub async fn unlink(&self, id: LinkId) -> Result<Unlinked, LinkError> {
        let row = self.inner.db.call(move |c| store::get(c, id)).await??.ok_or(LinkError::Gone(id))?;
        let lock = self.lock(row.kind, &row.url);
        let _held = lock.lock().await;
        self.inner.db.call(move |c| store::remove(c, id)).await??;
        let status = LinkStatus::from(&row);
        let (removed, remote_error) = match self.remove_remote(&row).await {
            Ok(removed) => (removed, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        match &remote_error {
            None => {
                tracing::info!(link = %id, kind = %row.kind, server = %row.url, "unlinked: removed {}", removed.join(", "))
            }
            Some(e) => {
                tracing::warn!(link = %id, kind = %row.kind, server = %row.url, "unlinked here, but the server was not cleaned: {e}")
            }
        }
        Ok(Unlinked { status, removed, remote_error })
    }

    async fn remove_remote(&self, row: &LinkRow) -> Result<Vec<String>, LinkError> {
        let target = self.inner.targets.target(&row.url).await.map_err(LinkError::Target)?;
        let timeout = self.inner.settings.timeout;
        match row.kind {
            ServerKind::Plex => {
                plex_dvr::unlink(
                    &plex_dvr::client(&row.url, row.secret.clone(), timeout, &target.device_id),
                    &target.device_id,
                )
                .await
            }
            ServerKind::Jellyfin | ServerKind::Emby => {
                let http = jellyfin::client(&row.url, row.secret.clone(), timeout);
                jellyfin::unlink(&http, flavor(row.kind), &target, &known_of(Some(row))).await
            }
        }
    }

    async fn reconcile(
        &self,
        kind: ServerKind,
        url: &str,
        secret: &Secret,
        known: &Known,
        loaded: Option<u64>,
        wait: Duration,
    ) -> Result<(Target, Outcome), LinkError> {
        let target = self.inner.targets.target(url).await.map_err(LinkError::Target)?;
        let timeout = self.inner.settings.timeout;
        let outcome = match kind {
            ServerKind::Plex => {
                let http = plex_dvr::client(url, secret.clone(), timeout, &target.device_id);
                plex_dvr::reconcile(&http, &target, loaded, wait).await?
            }
            ServerKind::Jellyfin | ServerKind::Emby => {
                let http = jellyfin::client(url, secret.clone(), timeout);
                jellyfin::reconcile(&http, flavor(kind), &target, known, loaded, wait).await?
            }
        };
        Ok((target, outcome))
    }

    /// Check one link now: repair what is lost or stale, reload the guide if it changed, and
    /// record the result (or the failure) on the link.
    pub async fn check(&self, id: LinkId) -> Result<Outcome, LinkError> {
        let row = self.inner.db.call(move |c| store::get(c, id)).await??.ok_or(LinkError::Gone(id))?;
        let lock = self.lock(row.kind, &row.url);
        let _held = lock.lock().await;
        // Re-read under the lock: an unlink may have won the race.
        let row = self.inner.db.call(move |c| store::get(c, id)).await??.ok_or(LinkError::Gone(id))?;
        let result = self
            .reconcile(row.kind, &row.url, &row.secret, &known_of(Some(&row)), row.guide_mark, Duration::ZERO)
            .await;
        let now = self.now_ms();
        match result {
            Ok((target, outcome)) => {
                let problem = unmatched_problem(row.kind, &outcome);
                let action = outcome.summary();
                let o = outcome.clone();
                self.inner
                    .db
                    .call(move |c| {
                        let checked = Checked {
                            device_key: &o.device_key,
                            guide_key: &o.guide_key,
                            loaded_mark: o.reloaded().then_some(target.guide_mark),
                            problem: problem.as_deref(),
                            action: &action,
                        };
                        store::record_check(c, id, &checked, now)
                    })
                    .await??;
                Ok(outcome)
            }
            Err(e) => {
                let problem = e.to_string();
                self.inner.db.call(move |c| store::record_problem(c, id, &problem)).await??;
                Err(e)
            }
        }
    }

    /// The daemon's part: keep one task per stored link (links added or removed by the CLI
    /// are picked up within seconds), each following `changes` (any new value means "the
    /// guide changed"), until `shutdown`.
    pub async fn run(self, changes: watch::Receiver<u64>, shutdown: CancellationToken, tracker: TaskTracker) {
        let mut tasks: HashMap<LinkId, CancellationToken> = HashMap::new();
        loop {
            match self.statuses().await {
                Ok(rows) => {
                    tasks.retain(|id, stop| {
                        let keep = rows.iter().any(|r| r.id == *id);
                        if !keep {
                            stop.cancel();
                        }
                        keep
                    });
                    for r in rows {
                        if let std::collections::hash_map::Entry::Vacant(slot) = tasks.entry(r.id) {
                            let stop = shutdown.child_token();
                            slot.insert(stop.clone());
                            tracker.spawn(self.clone().follow(r.id, changes.clone(), stop));
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the media server links"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(SYNC_EVERY) => {}
            }
        }
    }

    /// One link's task: see the module doc.
    async fn follow(self, id: LinkId, mut changes: watch::Receiver<u64>, stop: CancellationToken) {
        let s = self.inner.settings.clone();
        changes.mark_unchanged();
        let mut next = Instant::now();
        let mut first_change: Option<Instant> = None;
        let mut retry_at: Option<Instant> = None;
        let mut backoff = s.retry;
        let mut listening = true;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = changes.changed(), if listening => {
                    if changed.is_err() {
                        listening = false;
                        continue;
                    }
                    let now = Instant::now();
                    let first = *first_change.get_or_insert(now);
                    let debounced = (now + s.debounce).min(first + s.max_delay);
                    next = next.min(retry_at.map_or(debounced, |r| r.max(debounced)));
                    continue;
                }
                _ = tokio::time::sleep_until(next) => {}
            }
            first_change = None;
            let started = Instant::now();
            // A check in flight is dropped at shutdown: reconciles are idempotent, and a slow
            // server must not hold the daemon's exit for a request timeout.
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.check(id) => r,
            };
            match result {
                Ok(outcome) => {
                    backoff = s.retry;
                    retry_at = None;
                    log_outcome(id, &outcome);
                    next = started + if outcome.unmatched.is_empty() { s.check_every } else { s.retry };
                }
                Err(LinkError::Gone(_)) => return,
                Err(e) => {
                    tracing::warn!(link = %id, "media server check failed: {e}; retrying in {} s", backoff.as_secs_f32());
                    retry_at = Some(Instant::now() + backoff);
                    next = Instant::now() + backoff;
                    backoff = (backoff * 2).min(s.retry_max);
                }
            }
        }
    }
}

fn flavor(kind: ServerKind) -> Flavor {
    if kind == ServerKind::Emby { Flavor::Emby } else { Flavor::Jellyfin }
}

fn known_of(row: Option<&LinkRow>) -> Known {
    Known { device_key: row.and_then(|r| r.device_key.clone()), guide_key: row.and_then(|r| r.guide_key.clone()) }
}

fn unmatched_problem(kind: ServerKind, o: &Outcome) -> Option<String> {
    (!o.unmatched.is_empty()).then(|| {
        format!(
            "{} has not matched channel{} {} to the guide yet (it is still loading it); checking again soon",
            kind.title(),
            if o.unmatched.len() == 1 { "" } else { "s" },
            o.unmatched.join(", ")
        )
    })
}

fn nothing_if_empty(s: &str) -> &str {
    if s.is_empty() { "nothing to change" } else { s }
}

fn log_outcome(id: LinkId, o: &Outcome) {
    if o.changes.iter().any(|c| c.is_write()) {
        tracing::info!(link = %id, "repaired: {}", o.summary());
    } else if o.reloaded() {
        tracing::info!(link = %id, "guide changed: {}", o.summary());
    } else {
        tracing::debug!(link = %id, "checked: nothing to change");
    }
}
