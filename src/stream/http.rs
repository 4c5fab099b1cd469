//! HTTP outputs of the channels: `GET /stream/<number>.ts` (endless MPEG-TS from the channel's
//! feed: the GOP cache first so a decoder starts at once, then the live tail; `?duration=N`
//! ends it cleanly after N seconds) and
//! `GET /hls/<number>/index.m3u8` + segments from the channel's HLS directory. Every request
//! is admitted through the hub's one door ([`StreamHub::tune`]): it holds a tuner and counts
//! as demand, so an on-demand channel starts for it — a TS viewer while it reads, an HLS
//! client (one per channel and address, however often it polls) until it has not asked for
//! 20 s. A channel that does not fit the tuners is refused with a plain 503 saying why.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;

use super::ending::Timed;
use super::hls::{PLAYLIST, is_served_name};
use super::tuners::{TuneError, TunerChoice};
use super::{StreamHub, Tune, Viewer};
use crate::lineup::{ChannelId, GuideNumber};

/// What the routes know of a channel: its id, number and the cost of its encode
/// ([`crate::lineup::OutputProfile::macroblocks_per_second`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The channel.
    pub channel: ChannelId,
    /// Its guide number.
    pub number: GuideNumber,
    /// Macroblocks per second its encode costs.
    pub cost: u64,
}

impl Resolved {
    /// What the routes need of `channel`.
    pub fn of(channel: &crate::lineup::Channel) -> Self {
        Self {
            channel: channel.id,
            number: channel.number.clone(),
            cost: channel.settings.profile.macroblocks_per_second(),
        }
    }
}

/// Looks up the channel with a guide number (the director implements it over the lineup).
pub type Resolver = Arc<dyn Fn(String) -> BoxFuture<'static, Option<Resolved>> + Send + Sync>;

/// How long an HLS request keeps an on-demand channel wanted.
const HLS_DEMAND: Duration = Duration::from_secs(20);
/// How long a playlist request waits for a starting channel's first segments.
const PLAYLIST_WAIT: Duration = Duration::from_secs(10);

/// What the routes need.
#[derive(Clone)]
pub struct StreamRoutes {
    /// The fan-out.
    pub hub: StreamHub,
    /// Number → channel.
    pub resolve: Resolver,
    /// Root of the HLS directories (one per channel id).
    pub hls_dir: PathBuf,
}

/// The HLS directory of a channel under `root`.
pub fn hls_dir_of(root: &std::path::Path, channel: ChannelId) -> PathBuf {
    root.join(channel.0.to_string())
}

/// `/stream/{file}` and `/hls/{number}/{file}`.
pub fn router(routes: StreamRoutes) -> Router {
    Router::new()
        .route("/stream/{file}", axum::routing::get(ts))
        .route("/hls/{number}/{file}", axum::routing::get(hls))
        .with_state(Shared { routes, hls_viewers: Arc::default() })
}

#[derive(Clone)]
struct Shared {
    routes: StreamRoutes,
    hls_viewers: Arc<HlsViewers>,
}

/// The HLS clients that polled a channel's playlist lately, one viewer each.
#[derive(Default)]
struct HlsViewers(Mutex<HashMap<(ChannelId, IpAddr), HlsViewer>>);

struct HlsViewer {
    _viewer: Viewer,
    until: tokio::time::Instant,
}

impl HlsViewers {
    /// `client` asked for `channel`'s playlist or a segment: it counts as a viewer (holding a
    /// tuner) for `hold` more, if admitted.
    fn polled(
        self: &Arc<Self>,
        hub: &StreamHub,
        channel: &Resolved,
        client: IpAddr,
        hold: Duration,
    ) -> Result<(), TuneError> {
        let until = tokio::time::Instant::now() + hold;
        let key = (channel.channel, client);
        match self.0.lock().expect("hls viewers lock").entry(key) {
            Entry::Occupied(mut e) => e.get_mut().until = until,
            Entry::Vacant(e) => {
                let viewer = hub.tune(Tune {
                    choice: TunerChoice::Auto,
                    channel: channel.channel,
                    number: &channel.number,
                    cost: channel.cost,
                })?;
                e.insert(HlsViewer { _viewer: viewer, until });
                let this = Arc::clone(self);
                tokio::spawn(async move {
                    let mut until = until;
                    loop {
                        tokio::time::sleep_until(until).await;
                        let mut map = this.0.lock().expect("hls viewers lock");
                        match map.get(&key) {
                            Some(v) if v.until > until => until = v.until,
                            _ => {
                                map.remove(&key);
                                return;
                            }
                        }
                    }
                });
            }
        }
        Ok(())
    }
}

/// A refused viewer: 503 and the reason, the way a browser or VLC shows it.
fn refused(e: &TuneError) -> Response {
    tracing::info!(reason = %e, "viewer refused");
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, format!("channel unavailable: {e}\n")).into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    r
}

async fn ts(
    State(Shared { routes: r, .. }): State<Shared>,
    Path(file): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(number) = file.strip_suffix(".ts") else { return StatusCode::NOT_FOUND.into_response() };
    let Some(channel) = (r.resolve)(number.to_owned()).await else {
        return (StatusCode::NOT_FOUND, "no such channel").into_response();
    };
    let tune =
        Tune { choice: TunerChoice::Auto, channel: channel.channel, number: &channel.number, cost: channel.cost };
    let Viewer { subscription, lease } = match r.hub.tune(tune) {
        Ok(v) => v,
        Err(e) => return refused(&e),
    };
    // `?duration=<seconds>` as on the tuner URLs: a clean end after that long.
    let duration = query.get("duration").and_then(|d| d.parse::<u64>().ok()).filter(|&d| d > 0);
    let timed = Timed::new(subscription, duration.map(Duration::from_secs));
    let body = Body::from_stream(futures::stream::unfold((timed, lease), |(mut t, lease)| async move {
        let b = t.next().await?;
        lease.sent(b.len());
        Some((Ok::<_, std::convert::Infallible>(b), (t, lease)))
    }));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
    resp
}

async fn hls(
    State(Shared { routes: r, hls_viewers }): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((number, file)): Path<(String, String)>,
) -> Response {
    if !is_served_name(&file) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(channel) = (r.resolve)(number).await else {
        return (StatusCode::NOT_FOUND, "no such channel").into_response();
    };
    let path = hls_dir_of(&r.hls_dir, channel.channel).join(&file);
    let playlist = file == PLAYLIST;
    // Keep the channel wanted (and its tuner held) while an HLS client polls it.
    if let Err(e) = hls_viewers.polled(&r.hub, &channel, peer.ip(), HLS_DEMAND) {
        return refused(&e);
    }
    let deadline = tokio::time::Instant::now() + if playlist { PLAYLIST_WAIT } else { Duration::ZERO };
    let data = loop {
        match tokio::fs::read(&path).await {
            Ok(d) => break d,
            Err(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(_) => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    let ctype = if playlist { "application/vnd.apple.mpegurl" } else { "video/mp2t" };
    let cache = if playlist { "no-cache" } else { "max-age=60" };
    ([(header::CONTENT_TYPE, ctype), (header::CACHE_CONTROL, cache)], data).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(id: i64) -> Resolved {
        Resolved { channel: ChannelId(id), number: id.to_string().parse().unwrap(), cost: 0 }
    }

    #[tokio::test]
    async fn an_hls_client_is_one_viewer_however_often_it_polls() {
        let hub = StreamHub::new();
        let viewers = Arc::new(HlsViewers::default());
        let (ch, other) = (resolved(1), resolved(2));
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let hold = Duration::from_secs(2);
        let ms = Duration::from_millis;
        for _ in 0..5 {
            viewers.polled(&hub, &ch, a, hold).unwrap();
            tokio::time::sleep(ms(200)).await;
        }
        assert_eq!(hub.viewers(ch.channel), 1, "five polls, one viewer");
        viewers.polled(&hub, &ch, b, hold).unwrap();
        viewers.polled(&hub, &other, a, hold).unwrap();
        assert_eq!((hub.viewers(ch.channel), hub.viewers(other.channel)), (2, 1));
        assert_eq!(hub.tuners().in_use(), 2, "two channels, two tuners; two clients of one share it");
        tokio::time::sleep(ms(1000)).await;
        viewers.polled(&hub, &ch, a, hold).unwrap();
        // b and the other channel lapse 2 s after their poll; a, polled again, stays.
        tokio::time::sleep(ms(1500)).await;
        assert_eq!((hub.viewers(ch.channel), hub.viewers(other.channel)), (1, 0));
        assert_eq!(hub.tuners().in_use(), 1);
        tokio::time::sleep(ms(1000)).await;
        assert_eq!(hub.viewers(ch.channel), 0);
        assert_eq!(hub.tuners().in_use(), 0, "the tuner is freed with the last HLS client");
    }

    #[tokio::test]
    async fn an_hls_client_of_a_third_channel_is_refused_when_both_tuners_are_taken() {
        let hub = StreamHub::with_tuners(2);
        let viewers = Arc::new(HlsViewers::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let hold = Duration::from_secs(60);
        viewers.polled(&hub, &resolved(1), a, hold).unwrap();
        viewers.polled(&hub, &resolved(2), a, hold).unwrap();
        assert_eq!(viewers.polled(&hub, &resolved(3), a, hold), Err(TuneError::AllBusy(2)));
        assert_eq!(hub.viewers(ChannelId(3)), 0, "a refused client is no demand");
        // Sharing a channel already tuned is always admitted.
        viewers.polled(&hub, &resolved(2), "192.0.2.9".parse().unwrap(), hold).unwrap();
    }
}
