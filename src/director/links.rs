//! Wiring of [`crate::mediaserver`]: what the box advertises to each media server
//! ([`BoxTargets`]: the HDHomeRun surfaces' own base-URL rule, DeviceID, the lineup and a
//! fingerprint of the guide), the "guide changed" signal the links follow ([`guide_changes`])
//! and the web page's view of the links ([`WebLinks`]).

use std::net::SocketAddr;
use std::sync::Arc;

use blake2::{Blake2s256, Digest};
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::db::Db;
use crate::hdhr::Hdhr;
use crate::lineup::Lineup;
use crate::mediaserver::store::LinkStatus;
use crate::mediaserver::{ChannelRef, LinkError, LinkRequest, Links, Secret, ServerKind, Target, TargetSource};
use crate::schedule::horizon::Published;
use crate::web::api::links::{Credential, LinkFailure, LinkTarget, LinkView, MediaLinks, UnlinkView};

/// The box as a media server sees it.
pub struct BoxTargets {
    /// The database (lineup, schedule generation).
    pub db: Db,
    /// The HDHomeRun surfaces: identity, tuner count and the base-URL rule.
    pub hdhr: Hdhr,
}

/// Where a server URL's host resolves (the first address).
async fn resolve(server_url: &str) -> Result<SocketAddr, String> {
    let url = url::Url::parse(server_url).map_err(|e| format!("{server_url}: {e}"))?;
    let host = url.host_str().ok_or_else(|| format!("{server_url} has no host"))?.trim_matches(['[', ']']).to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))
}

/// A fingerprint of what the XMLTV guide holds: the schedule's publication counter and every
/// channel's guide-visible fields.
pub fn guide_mark(generation: i64, lineup: &Lineup) -> u64 {
    let mut h = Blake2s256::new();
    h.update(generation.to_le_bytes());
    for c in &lineup.channels {
        for part in [c.number.as_str(), &c.name, &c.call_sign, &c.xmltv_id] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(c.logo.as_ref().map(|p| p.display().to_string()).unwrap_or_default().as_bytes());
        h.update([1]);
    }
    let digest = h.finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("32-byte digest"))
}

impl TargetSource for BoxTargets {
    fn target<'a>(&'a self, server_url: &'a str) -> BoxFuture<'a, Result<Target, String>> {
        Box::pin(async move {
            let peer = resolve(server_url).await?;
            // The same rule the tuner's own discover.json and lineup.json follow for a client
            // at that address: `server.base_url`, else our address towards it.
            let base = self.hdhr.urls().for_request(None, Some(peer));
            let (lineup, generation) = self
                .db
                .call(|c| {
                    let lineup = crate::lineup::store::lineup(c).map_err(|e| e.to_string())?;
                    let generation = crate::schedule::store::generation(c).map_err(|e| e.to_string())?;
                    Ok::<_, String>((lineup, generation))
                })
                .await
                .map_err(|e| e.to_string())??;
            let identity = self.hdhr.identity();
            Ok(Target {
                device_id: identity.device_id.to_string(),
                friendly_name: identity.friendly_name.clone(),
                tuner_count: u32::from(self.hdhr.tuner_count()),
                xmltv_url: format!("{base}/xmltv.xml"),
                base_url: base,
                guide_mark: guide_mark(generation, &lineup),
                channels: lineup
                    .channels
                    .iter()
                    .map(|c| ChannelRef {
                        number: c.number.to_string(),
                        name: c.name.clone(),
                        xmltv_id: c.xmltv_id.clone(),
                    })
                    .collect(),
            })
        })
    }
}

/// The "guide changed" signal the links follow: a counter bumped on every schedule
/// publication and every lineup change (a channel added, removed, renamed, renumbered, a new
/// logo), both followed as watched values.
pub fn guide_changes(
    lineup: watch::Receiver<Arc<Lineup>>,
    published: &Published,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    let mut publications = published.subscribe();
    let mut lineup = lineup;
    tracker.spawn(async move {
        loop {
            let changed = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = publications.changed() => r,
                r = lineup.changed() => r,
            };
            if changed.is_err() {
                return;
            }
            tx.send_modify(|n| *n += 1);
        }
    });
    rx
}

/// The web page's view of the links.
pub struct WebLinks(pub Links);

fn view(s: &LinkStatus) -> LinkView {
    LinkView {
        id: s.id.0,
        kind: s.kind.as_str().to_owned(),
        url: s.url.clone(),
        name: s.name.clone(),
        state: match s.state {
            crate::mediaserver::store::LinkState::Linked => "linked",
            crate::mediaserver::store::LinkState::Attention => "attention",
        }
        .to_owned(),
        problem: s.problem.clone(),
        last_refresh_at: s.last_refresh_at,
        last_check_at: s.last_check_at,
        last_action: s.last_action.clone(),
    }
}

fn failure(e: LinkError) -> LinkFailure {
    match e {
        LinkError::Invalid(_) | LinkError::Gone(_) => LinkFailure::Invalid(e.to_string()),
        LinkError::Store(_) | LinkError::Db(_) => {
            tracing::error!(error = %e, "media server links");
            LinkFailure::Server("internal error; see the daemon log".to_owned())
        }
        other => LinkFailure::Server(other.to_string()),
    }
}

impl MediaLinks for WebLinks {
    fn list(&self) -> BoxFuture<'_, Result<Vec<LinkView>, LinkFailure>> {
        Box::pin(async move { Ok(self.0.statuses().await.map_err(failure)?.iter().map(view).collect()) })
    }

    fn link(&self, t: LinkTarget) -> BoxFuture<'_, Result<(LinkView, String), LinkFailure>> {
        Box::pin(async move {
            let kind: ServerKind = t.kind.parse().map_err(failure)?;
            let secret = match t.credential {
                Credential::Key(k) => Secret::new(k),
                Credential::Login { user, password } => {
                    self.0.login(kind, &t.url, &user, &Secret::new(password)).await.map_err(failure)?
                }
            };
            let linked = self.0.link(LinkRequest { kind, url: t.url, secret, name: t.name }).await.map_err(failure)?;
            Ok((view(&linked.status), linked.outcome.summary()))
        })
    }

    fn check(&self, id: i64) -> BoxFuture<'_, Result<(LinkView, String), LinkFailure>> {
        Box::pin(async move {
            let id = crate::mediaserver::LinkId(id);
            let result = self.0.check(id).await;
            let status = self.0.statuses().await.map_err(failure)?.into_iter().find(|s| s.id == id);
            match (result, status) {
                (Ok(outcome), Some(s)) => Ok((view(&s), outcome.summary())),
                (Err(e), _) => Err(failure(e)),
                (Ok(_), None) => Err(LinkFailure::Invalid(format!("no media server link {id}"))),
            }
        })
    }

    fn unlink(&self, id: i64) -> BoxFuture<'_, Result<UnlinkView, LinkFailure>> {
        Box::pin(async move {
            let u = self.0.unlink(crate::mediaserver::LinkId(id)).await.map_err(failure)?;
            Ok(UnlinkView { removed: u.removed, remote_error: u.remote_error })
        })
    }
}

/// Build the links for the daemon (or a CLI command) from the shared handles.
pub fn links(db: &Db, hdhr: &Hdhr, clock: &crate::clock::SharedClock, config: &crate::config::Config) -> Links {
    let targets: Arc<dyn TargetSource> = Arc::new(BoxTargets { db: db.clone(), hdhr: hdhr.clone() });
    Links::new(db.clone(), clock.clone(), targets, (&config.links).into())
}
