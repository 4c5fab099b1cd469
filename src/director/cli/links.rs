//! `retrovue plex|jellyfin|emby link|unlink|status`: register this box on a media server in
//! one step (tuner, XMLTV guide, channel map, guide load), take it off again, and show how
//! each link is doing. A running daemon picks up links made here within seconds and keeps
//! them up to date. Tokens and keys may come from the environment so they stay out of `ps`.

use anyhow::{Context as _, bail};
use clap::Subcommand;

use super::Context;
use crate::clock::{SharedClock, SystemClock};
use crate::library::store::{self as library_store, SourceSpec};
use crate::mediaserver::store::{LinkState, LinkStatus};
use crate::mediaserver::{LinkRequest, Links, Secret, ServerKind, normalize_url};

/// `retrovue plex …`
#[derive(Debug, Subcommand)]
pub enum PlexCmd {
    /// Register this box as a DVR in Plex: the tuner, the XMLTV guide, every channel mapped by
    /// number, a guide load. Without --server: every Plex server known from a source, with its
    /// token. Running it again changes nothing.
    Link {
        /// Plex server URL, e.g. http://192.168.1.20:32400.
        #[arg(long, requires = "token")]
        server: Option<String>,
        /// Its X-Plex-Token.
        #[arg(long, env = "RETROVUE_PLEX_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Name to show for it.
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove this box's DVR and tuner from Plex and forget the link (without --server: every
    /// linked Plex server).
    Unlink {
        /// Plex server URL.
        #[arg(long)]
        server: Option<String>,
    },
    /// Linked Plex servers: linked / needs attention (why) / last guide refresh.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `retrovue jellyfin …` and `retrovue emby …`
#[derive(Debug, Subcommand)]
pub enum MediaBrowserCmd {
    /// Add this box as an HDHomeRun tuner with its XMLTV guide, map every channel, refresh the
    /// guide. Running it again changes nothing.
    Link {
        /// Server URL, e.g. http://192.168.1.20:8096.
        #[arg(long)]
        server: String,
        /// An API key (Dashboard → API Keys).
        #[arg(long, env = "RETROVUE_MEDIA_API_KEY", hide_env_values = true, required_unless_present = "user")]
        api_key: Option<String>,
        /// Or an administrator's user name…
        #[arg(long, requires = "password", conflicts_with = "api_key")]
        user: Option<String>,
        /// …and password.
        #[arg(long, env = "RETROVUE_MEDIA_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Name to show for it.
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove this box's listings provider and tuner from the server and forget the link
    /// (without --server: every linked server of this kind).
    Unlink {
        /// Server URL.
        #[arg(long)]
        server: Option<String>,
    },
    /// Linked servers: linked / needs attention (why) / last guide refresh.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The links, as this process sees the box (stored settings over the config file).
fn open(ctx: &Context, rt: &tokio::runtime::Runtime) -> anyhow::Result<Links> {
    let db = ctx.open_db()?;
    let mut config = ctx.config.clone();
    let stored = db.call_blocking(|c| crate::config::store::all(c)).context("cannot read stored settings")?;
    for e in crate::config::overrides::apply_all(&mut config, &stored) {
        tracing::warn!(error = %e, "ignoring a stored setting");
    }
    let clock: SharedClock = std::sync::Arc::new(SystemClock);
    let now = clock.now().timestamp_millis();
    let identity = rt.block_on(crate::hdhr::Identity::load_or_create(&db, &config.device.friendly_name, now))?;
    // The same tuner count the daemon advertises: configured, or sized from the verified
    // encoder's budget.
    let plan = rt.block_on(crate::director::encoders::plan(&config, &db));
    let lineup = db.call_blocking(|c| crate::lineup::store::lineup(c))?;
    let hdhr = crate::hdhr::Hdhr::new(
        identity,
        std::sync::Arc::new(lineup),
        crate::stream::StreamHub::with_tuners(usize::from(plan.tuners)),
        crate::config::BaseUrl::of(&config),
        clock.clone(),
    );
    Ok(crate::director::links::links(&db, &hdhr, &clock, &config))
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

fn print_status(all: &[LinkStatus], kind: ServerKind, json: bool) -> anyhow::Result<()> {
    let mine: Vec<&LinkStatus> = all.iter().filter(|s| s.kind == kind).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&mine)?);
        return Ok(());
    }
    if mine.is_empty() {
        println!("no {} server linked", kind.title());
    }
    for s in mine {
        let state = match s.state {
            LinkState::Linked => "linked".to_owned(),
            LinkState::Attention => format!("needs attention: {}", s.problem.as_deref().unwrap_or("?")),
        };
        println!("{} {} ({}): {state}; last guide refresh {}", s.id, s.url, s.name, when(s.last_refresh_at));
        if let Some(a) = &s.last_action {
            println!("    last change: {a}");
        }
    }
    Ok(())
}

fn link_one(rt: &tokio::runtime::Runtime, links: &Links, req: LinkRequest) -> anyhow::Result<()> {
    let (kind, url) = (req.kind, req.url.clone());
    let linked = rt.block_on(links.link(req)).with_context(|| format!("cannot link {} at {url}", kind.title()))?;
    let changed = linked.outcome.summary();
    println!(
        "linked {} at {} (link {}): {}",
        kind.title(),
        linked.status.url,
        linked.status.id,
        if changed.is_empty() { "already set up, nothing changed" } else { &changed }
    );
    if let Some(p) = &linked.status.problem {
        println!("needs attention: {p}");
    }
    Ok(())
}

fn unlink_matching(
    rt: &tokio::runtime::Runtime,
    links: &Links,
    kind: ServerKind,
    server: Option<&str>,
) -> anyhow::Result<()> {
    let wanted = server.map(normalize_url).transpose()?;
    let targets: Vec<LinkStatus> = rt
        .block_on(links.statuses())?
        .into_iter()
        .filter(|s| s.kind == kind && wanted.as_ref().is_none_or(|w| *w == s.url))
        .collect();
    if targets.is_empty() {
        bail!("no {} server linked{}", kind.title(), server.map(|s| format!(" at {s}")).unwrap_or_default());
    }
    for s in targets {
        let u = rt.block_on(links.unlink(s.id))?;
        match u.remote_error {
            None => println!("unlinked {} at {}: removed {}", kind.title(), s.url, u.removed.join(", ")),
            Some(e) => println!(
                "forgot the link with {} at {}, but could not clean the server ({e}); remove the DVR / tuner there by hand",
                kind.title(),
                s.url
            ),
        }
    }
    Ok(())
}

/// Run `retrovue plex …`.
pub fn plex(ctx: &Context, cmd: PlexCmd) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let links = open(ctx, &rt)?;
    match cmd {
        PlexCmd::Link { server: Some(url), token, name } => {
            let secret = Secret::new(token.unwrap_or_default());
            link_one(&rt, &links, LinkRequest { kind: ServerKind::Plex, url, secret, name: name.unwrap_or_default() })
        }
        PlexCmd::Link { server: None, .. } => {
            let db = ctx.open_db()?;
            let sources = db.call_blocking(|c| library_store::list_sources(c))?;
            let mut servers: Vec<(String, String, String)> = Vec::new();
            for s in sources {
                if let SourceSpec::Plex { url, token, .. } = s.spec
                    && !servers.iter().any(|(u, ..)| u.trim_end_matches('/') == url.trim_end_matches('/'))
                {
                    servers.push((url, token, s.name));
                }
            }
            if servers.is_empty() {
                bail!("no Plex source to take a server from: give --server URL --token TOKEN");
            }
            let mut failed = 0;
            for (url, token, name) in servers {
                let req = LinkRequest { kind: ServerKind::Plex, url, secret: Secret::new(token), name };
                if let Err(e) = link_one(&rt, &links, req) {
                    eprintln!("retrovue: {e:#}");
                    failed += 1;
                }
            }
            if failed > 0 {
                bail!("{failed} Plex server(s) could not be linked");
            }
            Ok(())
        }
        PlexCmd::Unlink { server } => unlink_matching(&rt, &links, ServerKind::Plex, server.as_deref()),
        PlexCmd::Status { json } => print_status(&rt.block_on(links.statuses())?, ServerKind::Plex, json),
    }
}

/// Run `retrovue jellyfin …` (`kind` Jellyfin) or `retrovue emby …` (`kind` Emby).
pub fn media_browser(ctx: &Context, kind: ServerKind, cmd: MediaBrowserCmd) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let links = open(ctx, &rt)?;
    match cmd {
        MediaBrowserCmd::Link { server, api_key, user, password, name } => {
            let secret = match (api_key, user) {
                (Some(key), _) => Secret::new(key),
                (None, Some(user)) => {
                    let password = Secret::new(password.unwrap_or_default());
                    rt.block_on(links.login(kind, &server, &user, &password))
                        .with_context(|| format!("cannot log in to {} at {server} as {user}", kind.title()))?
                }
                (None, None) => bail!("give --api-key, or --user and --password"),
            };
            link_one(&rt, &links, LinkRequest { kind, url: server, secret, name: name.unwrap_or_default() })
        }
        MediaBrowserCmd::Unlink { server } => unlink_matching(&rt, &links, kind, server.as_deref()),
        MediaBrowserCmd::Status { json } => print_status(&rt.block_on(links.statuses())?, kind, json),
    }
}
