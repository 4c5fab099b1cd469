//! Per-channel fan-out of MPEG-TS bytes. Playout publishes chunks into a [`Feed`]; any number
//! of viewers [`subscribe`](StreamHub::subscribe) and first receive the GOP cache (everything
//! since the last keyframe, so a decoder can start at once), then the live tail. A slow
//! viewer that falls behind skips ahead to the next keyframe; it never stalls the others or
//! the pipeline. The hub also counts viewers per channel, which is how the director knows to
//! start an on-demand channel and when to stop it. A viewer with a time limit
//! (`?duration=N`) ends on a clean packet boundary ([`ending`]). No GStreamer here.

pub mod ending;
pub mod hls;
pub mod http;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{broadcast, watch};

use crate::lineup::ChannelId;

/// Chunks a viewer may lag behind before it is moved to the next keyframe.
const CHANNEL_CAPACITY: usize = 2048;
/// Upper bound on the GOP cache (bytes), in case a source never sends a keyframe.
const GOP_CACHE_LIMIT: usize = 8 * 1024 * 1024;

/// One chunk of TS output.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// TS packets (a multiple of 188 bytes).
    pub data: Bytes,
    /// The chunk starts a keyframe (a decoder can start here).
    pub keyframe: bool,
}

/// The fan-out registry shared by playout (publisher) and the edges (viewers).
#[derive(Clone, Default)]
pub struct StreamHub {
    // std Mutex: short map look-ups only, never held across an await.
    feeds: Arc<Mutex<HashMap<ChannelId, Feed>>>,
    demand: Arc<DemandBoard>,
}

#[derive(Default)]
struct DemandBoard {
    tx: Mutex<Option<watch::Sender<HashMap<ChannelId, usize>>>>,
}

impl DemandBoard {
    fn sender(&self) -> watch::Sender<HashMap<ChannelId, usize>> {
        let mut tx = self.tx.lock().expect("demand lock");
        tx.get_or_insert_with(|| watch::channel(HashMap::new()).0).clone()
    }
}

impl StreamHub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// The feed of a channel, created on first use.
    pub fn feed(&self, channel: ChannelId) -> Feed {
        let mut feeds = self.feeds.lock().expect("feeds lock");
        feeds.entry(channel).or_insert_with(|| Feed::new(channel)).clone()
    }

    /// Become a viewer of `channel`: the GOP cache first, then live chunks. Holding the
    /// returned [`Subscription`] counts as a viewer; dropping it leaves.
    pub fn subscribe(&self, channel: ChannelId) -> Subscription {
        let feed = self.feed(channel);
        let (cache, rx) = feed.attach();
        let demand = self.demand.sender();
        demand.send_modify(|m| *m.entry(channel).or_default() += 1);
        Subscription { pending: cache.into(), rx, resync: false, _viewer: ViewerGuard { channel, demand } }
    }

    /// Viewer counts per channel, updated as viewers come and go.
    pub fn demand(&self) -> watch::Receiver<HashMap<ChannelId, usize>> {
        self.demand.sender().subscribe()
    }

    /// Current viewer count of a channel.
    pub fn viewers(&self, channel: ChannelId) -> usize {
        self.demand.sender().borrow().get(&channel).copied().unwrap_or(0)
    }
}

/// Publisher side of one channel.
#[derive(Clone)]
pub struct Feed {
    channel: ChannelId,
    tx: broadcast::Sender<Chunk>,
    // std Mutex: the streaming thread appends, subscribers copy; never across an await.
    gop: Arc<Mutex<GopCache>>,
}

#[derive(Default)]
struct GopCache {
    chunks: Vec<Chunk>,
    bytes: usize,
    /// The pipeline that published here is stopping: what it still sends is dropped.
    closed: bool,
}

impl Feed {
    fn new(channel: ChannelId) -> Self {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self { channel, tx, gop: Arc::default() }
    }

    /// The channel this feed belongs to.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// Publish a chunk to every viewer. Never blocks (safe from a GStreamer streaming thread).
    pub fn publish(&self, chunk: Chunk) {
        let mut gop = self.gop.lock().expect("gop lock");
        if gop.closed {
            return;
        }
        if chunk.keyframe || gop.bytes + chunk.data.len() > GOP_CACHE_LIMIT {
            gop.chunks.clear();
            gop.bytes = 0;
        }
        if chunk.keyframe || !gop.chunks.is_empty() {
            gop.bytes += chunk.data.len();
            gop.chunks.push(chunk.clone());
        }
        // Sent under the cache lock so a new subscriber sees each chunk exactly once.
        let _ = self.tx.send(chunk);
    }

    /// The pipeline publishing here is stopping (or died): forget the GOP cache and drop
    /// whatever it still sends while it winds down, so no viewer tuning in meanwhile is handed
    /// bytes that the next pipeline's stream would not continue (its timestamps start over).
    /// Viewers stay subscribed and go on at the next pipeline's first keyframe.
    pub fn close(&self) {
        let mut gop = self.gop.lock().expect("gop lock");
        gop.chunks.clear();
        gop.bytes = 0;
        gop.closed = true;
    }

    /// A new pipeline publishes here from now on.
    pub fn open(&self) {
        self.gop.lock().expect("gop lock").closed = false;
    }

    /// Bytes currently in the GOP cache (0 = no keyframe seen yet).
    pub fn cached_bytes(&self) -> usize {
        self.gop.lock().expect("gop lock").bytes
    }

    fn attach(&self) -> (Vec<Chunk>, broadcast::Receiver<Chunk>) {
        let gop = self.gop.lock().expect("gop lock");
        (gop.chunks.clone(), self.tx.subscribe())
    }
}

/// A viewer of one channel.
pub struct Subscription {
    pending: std::collections::VecDeque<Chunk>,
    rx: broadcast::Receiver<Chunk>,
    resync: bool,
    _viewer: ViewerGuard,
}

impl Subscription {
    /// The next bytes to send, or `None` when the channel's feed is gone for good.
    pub async fn next(&mut self) -> Option<Bytes> {
        if let Some(c) = self.pending.pop_front() {
            return Some(c.data);
        }
        loop {
            match self.rx.recv().await {
                Ok(c) if self.resync && !c.keyframe => continue,
                Ok(c) => {
                    self.resync = false;
                    return Some(c.data);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "slow viewer skipped ahead to the next keyframe");
                    self.resync = true;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

struct ViewerGuard {
    channel: ChannelId,
    demand: watch::Sender<HashMap<ChannelId, usize>>,
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        self.demand.send_modify(|m| {
            if let Some(n) = m.get_mut(&self.channel) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&self.channel);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(tag: u8, keyframe: bool) -> Chunk {
        Chunk { data: Bytes::from(vec![tag; 188]), keyframe }
    }

    #[tokio::test]
    async fn late_viewer_starts_at_the_last_keyframe() {
        let hub = StreamHub::new();
        let feed = hub.feed(ChannelId(1));
        feed.publish(chunk(1, false)); // before any keyframe: not cached
        feed.publish(chunk(2, true));
        feed.publish(chunk(3, false));
        let mut s = hub.subscribe(ChannelId(1));
        feed.publish(chunk(4, false));
        assert_eq!(s.next().await.unwrap()[0], 2);
        assert_eq!(s.next().await.unwrap()[0], 3);
        assert_eq!(s.next().await.unwrap()[0], 4);
    }

    #[tokio::test]
    async fn a_closing_feed_hands_out_nothing_until_the_next_pipeline_opens_it() {
        let hub = StreamHub::new();
        let feed = hub.feed(ChannelId(1));
        feed.publish(chunk(1, true));
        let mut watching = hub.subscribe(ChannelId(1));
        assert_eq!(watching.next().await.unwrap()[0], 1);
        feed.close();
        // The stopping pipeline's last output reaches nobody and is not cached.
        feed.publish(chunk(2, true));
        feed.publish(chunk(3, false));
        assert_eq!(feed.cached_bytes(), 0);
        let mut tuned_meanwhile = hub.subscribe(ChannelId(1));
        feed.open();
        feed.publish(chunk(4, true));
        for s in [&mut watching, &mut tuned_meanwhile] {
            assert_eq!(s.next().await.unwrap()[0], 4);
        }
    }

    #[tokio::test]
    async fn viewers_are_counted_and_released_on_drop() {
        let hub = StreamHub::new();
        let demand = hub.demand();
        let a = hub.subscribe(ChannelId(7));
        let b = hub.subscribe(ChannelId(7));
        assert_eq!(hub.viewers(ChannelId(7)), 2);
        assert_eq!(demand.borrow().get(&ChannelId(7)), Some(&2));
        drop(a);
        assert_eq!(hub.viewers(ChannelId(7)), 1);
        drop(b);
        assert_eq!(hub.viewers(ChannelId(7)), 0);
        assert!(demand.borrow().is_empty());
    }

    #[tokio::test]
    async fn a_slow_viewer_skips_to_a_keyframe_and_never_blocks_the_feed() {
        let hub = StreamHub::new();
        let feed = hub.feed(ChannelId(2));
        let mut slow = hub.subscribe(ChannelId(2));
        for i in 0..(CHANNEL_CAPACITY + 10) {
            feed.publish(chunk((i % 200) as u8, false)); // never blocks
        }
        feed.publish(chunk(250, true));
        feed.publish(chunk(251, false));
        assert_eq!(slow.next().await.unwrap()[0], 250);
        assert_eq!(slow.next().await.unwrap()[0], 251);
    }
}
