//! Per-channel fan-out of MPEG-TS bytes. Playout publishes chunks into a [`Feed`]; any number
//! of viewers [`subscribe`](StreamHub::subscribe) and first receive the GOP cache (everything
//! since the last keyframe, so a decoder can start at once), then the live tail. A slow
//! viewer that falls behind skips ahead to the next keyframe; it never stalls the others or
//! the pipeline. The hub also counts viewers per channel, which is how the director knows to
//! start an on-demand channel and when to stop it. A viewer with a time limit
//! (`?duration=N`) ends on a clean packet boundary ([`ending`]). No GStreamer here.
//!
//! **Admission.** Every way of watching a channel from outside — the HDHomeRun tuner URLs,
//! `/stream/<N>.ts`, HLS playlists and segments (the web preview among them) — comes in
//! through one door, [`StreamHub::tune`]: a viewer holds a [`tuners::Lease`] as long as it
//! watches, viewers of one channel share its tuner, and a channel that would need a tuner
//! beyond `TunerCount`, the encoder's budget, or a box that already cannot keep real time
//! ([`StreamHub::overloaded`]) is refused with one [`tuners::TuneError`], which each edge
//! answers the way its clients expect (805 on the tuner URLs, a plain 503 elsewhere).
//! Always-on channels hold a lease of their own while they run (the channel supervisor takes
//! it), so they count against the same tuners. [`StreamHub::subscribe`] without a lease is
//! for the box itself (self-test, tests).

pub mod ending;
pub mod hls;
pub mod http;
pub mod tuners;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{broadcast, watch};

use crate::lineup::{ChannelId, GuideNumber};
use tuners::{Lease, TuneError, TunerChoice, TunerPool};

/// Chunks a viewer may lag behind before it is moved to the next keyframe: about 10 s of an SD
/// channel, whose multiplexer makes some 50 chunks a second (28 TS packets each, see
/// `MUX_PACKETS_PER_BUFFER` in `playout/pipeline.rs`).
const CHANNEL_CAPACITY: usize = 512;
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

/// Tuners of a hub made with [`StreamHub::new`] (a real HDHomeRun's usual count).
pub const DEFAULT_TUNERS: usize = 2;

/// The fan-out registry shared by playout (publisher) and the edges (viewers).
#[derive(Clone)]
pub struct StreamHub {
    // std Mutex: short map look-ups only, never held across an await.
    feeds: Arc<Mutex<HashMap<ChannelId, Feed>>>,
    demand: Arc<DemandBoard>,
    tuners: TunerPool,
}

impl Default for StreamHub {
    fn default() -> Self {
        Self::with_tuners(DEFAULT_TUNERS)
    }
}

/// What a viewer asks for at [`StreamHub::tune`].
#[derive(Debug, Clone, Copy)]
pub struct Tune<'a> {
    /// Which tuner (`Auto` everywhere but `/tuner<K>/v<N>`).
    pub choice: TunerChoice,
    /// The channel.
    pub channel: ChannelId,
    /// Its guide number (tuner status lines).
    pub number: &'a GuideNumber,
    /// What its encode costs of the encoder's budget (macroblocks/s).
    pub cost: u64,
}

/// An admitted viewer: the channel's bytes and the tuner they come through. Dropping it
/// leaves (the tuner is freed with the channel's last viewer).
pub struct Viewer {
    /// The bytes.
    pub subscription: Subscription,
    /// The tuner.
    pub lease: Lease,
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
    /// An empty hub with [`DEFAULT_TUNERS`] tuners.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty hub with `count` tuners (at least one).
    pub fn with_tuners(count: usize) -> Self {
        Self { feeds: Arc::default(), demand: Arc::default(), tuners: TunerPool::new(count.max(1)) }
    }

    /// The tuners every viewer is admitted through.
    pub fn tuners(&self) -> &TunerPool {
        &self.tuners
    }

    /// The one viewer admission (see the module docs): a tuner lease and a subscription, or
    /// why not. A channel already on a tuner is always shared; a new one must fit the tuners,
    /// the encoder's budget, and a box that keeps real time.
    pub fn tune(&self, t: Tune<'_>) -> Result<Viewer, TuneError> {
        if !self.tuners.carries(t.channel) && self.overloaded() {
            return Err(TuneError::Overloaded);
        }
        let lease = self.tuners.acquire_costing(t.choice, t.channel, t.number, t.cost)?;
        Ok(Viewer { subscription: self.subscribe(t.channel), lease })
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

    /// Health of every channel that has a feed.
    pub fn health(&self) -> Vec<(ChannelId, Health)> {
        let feeds: Vec<Feed> = self.feeds.lock().expect("feeds lock").values().cloned().collect();
        feeds.iter().map(|f| (f.channel, f.health())).collect()
    }

    /// Some playing channel cannot keep real time: the box is overloaded, and starting another
    /// channel would make every viewer's picture worse.
    pub fn overloaded(&self) -> bool {
        self.health().iter().any(|(_, h)| h.playing && !h.realtime)
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
    /// End of the output timeline so far (ns): see [`Feed::timeline_end_ns`].
    timeline_end_ns: Arc<AtomicU64>,
    // std Mutex: whole-value swaps and copies only.
    health: Arc<Mutex<Health>>,
    // std Mutex: one pass over a chunk's packet headers, on the publishing thread.
    counters: Arc<Mutex<Counters>>,
}

/// TS continuity counters across pipelines: each multiplexer starts its PIDs' counters at 0,
/// which a viewer who stays connected across a rebuild would see as lost packets. Every PID
/// keeps counting where the channel's last pipeline left it instead.
#[derive(Default)]
struct Counters {
    /// The last counter sent per PID.
    last: HashMap<u16, u8>,
    /// The generation the shifts below belong to.
    generation: u64,
    /// Per PID, what the current pipeline's counters are shifted by.
    shift: HashMap<u16, u8>,
}

impl Counters {
    fn rewrite(&mut self, generation: u64, data: &mut [u8]) {
        if generation != self.generation {
            self.generation = generation;
            self.shift.clear();
        }
        for p in data.chunks_exact_mut(188) {
            if p[0] != 0x47 || p[3] & 0x10 == 0 {
                continue; // not a packet, or no payload (the counter does not advance)
            }
            let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
            let cc = p[3] & 0x0f;
            let shift = *self.shift.entry(pid).or_insert_with(|| match self.last.get(&pid) {
                Some(&last) => (last + 1).wrapping_sub(cc) & 0x0f,
                None => 0,
            });
            let out = (cc + shift) & 0x0f;
            p[3] = (p[3] & 0xf0) | out;
            self.last.insert(pid, out);
        }
    }

    /// Rewrite the counters of packets the current pipeline published before (or copies of
    /// them) as [`Self::rewrite`] did then, moving nothing.
    fn shift(&self, data: &mut [u8]) {
        for p in data.chunks_exact_mut(188) {
            if p[0] != 0x47 || p[3] & 0x10 == 0 {
                continue;
            }
            let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
            let shift = self.shift.get(&pid).copied().unwrap_or(0);
            p[3] = (p[3] & 0xf0) | (((p[3] & 0x0f) + shift) & 0x0f);
        }
    }
}

/// How a channel's output is doing, as playout reports it (the edges show it).
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// A pipeline is playing.
    pub playing: bool,
    /// The encoder element in use.
    pub encoder: Option<String>,
    /// The last change of encoder: when, and why.
    pub encoder_change: Option<(chrono::DateTime<chrono::Utc>, String)>,
    /// Title on the air now.
    pub on_air: Option<String>,
    /// The channel keeps real time (no encoder backlog, output not late).
    pub realtime: bool,
    /// How late the output is against the clock (ms, mixer latency included).
    pub late_ms: i64,
    /// Frames dropped before the encoder because it was behind.
    pub dropped_frames: u64,
    /// Pipeline rebuilds since the channel started.
    pub restarts: u32,
    /// The last fatal pipeline error.
    pub last_error: Option<String>,
    /// Times the content watchdog acted.
    pub watchdog_recoveries: u32,
    /// The last of them: when, and what it did why.
    pub last_recovery: Option<(chrono::DateTime<chrono::Utc>, String)>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            playing: false,
            encoder: None,
            encoder_change: None,
            on_air: None,
            realtime: true,
            late_ms: 0,
            dropped_frames: 0,
            restarts: 0,
            last_error: None,
            watchdog_recoveries: 0,
            last_recovery: None,
        }
    }
}

#[derive(Default)]
struct GopCache {
    chunks: Vec<Chunk>,
    bytes: usize,
    /// The pipeline that published here is stopping: what it still sends is dropped.
    closed: bool,
    /// Which [`Publisher`] may publish: bumped by every [`Feed::open`].
    generation: u64,
}

/// The right to publish into a [`Feed`], handed to one pipeline by [`Feed::open`]. Once the
/// feed is opened again (a rebuilt or replacing pipeline), this publisher's chunks are dropped:
/// a pipeline that is stuck or still winding down can never reach the viewers again.
#[derive(Clone)]
pub struct Publisher {
    feed: Feed,
    generation: u64,
}

impl Feed {
    fn new(channel: ChannelId) -> Self {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self {
            channel,
            tx,
            gop: Arc::default(),
            timeline_end_ns: Arc::default(),
            health: Arc::default(),
            counters: Arc::default(),
        }
    }

    /// Playout reports how the channel is doing.
    pub fn set_health(&self, health: Health) {
        *self.health.lock().expect("health lock") = health;
    }

    /// How the channel is doing.
    pub fn health(&self) -> Health {
        self.health.lock().expect("health lock").clone()
    }

    /// The channel this feed belongs to.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// A new pipeline publishes here from now on; every earlier [`Publisher`] is cut off.
    pub fn open(&self) -> Publisher {
        let mut gop = self.gop.lock().expect("gop lock");
        gop.closed = false;
        gop.generation += 1;
        Publisher { feed: self.clone(), generation: gop.generation }
    }

    /// The pipeline publishing here is stopping (or died): forget the GOP cache and drop
    /// whatever it still sends while it winds down, so no viewer tuning in meanwhile is handed
    /// bytes that the next pipeline's stream would not continue. Viewers stay subscribed and
    /// go on at the next pipeline's first keyframe.
    pub fn close(&self) {
        let mut gop = self.gop.lock().expect("gop lock");
        gop.chunks.clear();
        gop.bytes = 0;
        gop.closed = true;
    }

    /// Where the channel's output timeline ends so far, in ns of output running time: the
    /// end of the last audio or video frame any of its pipelines handed to the multiplexer.
    /// A new pipeline starts its output here, so viewers who stay connected across a rebuild
    /// see timestamps that keep moving forward, never a rewind.
    pub fn timeline_end_ns(&self) -> u64 {
        self.timeline_end_ns.load(Ordering::SeqCst)
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

impl Publisher {
    /// Publish a chunk to every viewer, unless the feed was closed or opened for another
    /// pipeline since. Never blocks (safe from a GStreamer streaming thread).
    pub fn publish(&self, chunk: Chunk) {
        let mut gop = self.feed.gop.lock().expect("gop lock");
        if gop.closed || gop.generation != self.generation {
            return;
        }
        self.send(&mut gop, chunk);
    }

    /// Publish whole 188-byte TS packets as [`Self::publish`] does, their continuity counters
    /// rewritten so that every PID continues where the channel's previous pipeline left it.
    /// Returns the bytes as published, or `None` if they were not (cut off, or closed): what
    /// a pipeline sends while it winds down moves no counter, so the next pipeline's packets
    /// follow the last ones viewers got (a CI run saw one counter jump per rebuild when the
    /// counters were rewritten before this check).
    ///
    /// `join`, with a keyframe: the same packets as a viewer who starts here should get them
    /// (with the sound sent ahead of the picture, see `playout::tsscan::KeyframeSplitter`),
    /// made of packets published here before or now: the GOP cache keeps it, counters rewritten
    /// as they were published, while those watching get `data`.
    pub fn publish_ts(&self, mut data: Vec<u8>, keyframe: bool, join: Option<Vec<u8>>) -> Option<bytes::Bytes> {
        let mut gop = self.feed.gop.lock().expect("gop lock");
        if gop.closed || gop.generation != self.generation {
            return None;
        }
        let mut counters = self.feed.counters.lock().expect("counters lock");
        counters.rewrite(self.generation, &mut data);
        let join = join.filter(|_| keyframe).map(|mut join| {
            counters.shift(&mut join);
            Chunk { data: bytes::Bytes::from(join), keyframe }
        });
        drop(counters);
        let data = bytes::Bytes::from(data);
        let chunk = Chunk { data: data.clone(), keyframe };
        self.send_joinable(&mut gop, chunk, join);
        Some(data)
    }

    fn send(&self, gop: &mut GopCache, chunk: Chunk) {
        self.send_joinable(gop, chunk, None);
    }

    /// Send `chunk`, caching `join` in its place when given.
    fn send_joinable(&self, gop: &mut GopCache, chunk: Chunk, join: Option<Chunk>) {
        if chunk.keyframe || gop.bytes + chunk.data.len() > GOP_CACHE_LIMIT {
            gop.chunks.clear();
            gop.bytes = 0;
        }
        if chunk.keyframe || !gop.chunks.is_empty() {
            let cached = join.unwrap_or_else(|| chunk.clone());
            gop.bytes += cached.data.len();
            gop.chunks.push(cached);
        }
        // Sent under the cache lock so a new subscriber sees each chunk exactly once.
        let _ = self.feed.tx.send(chunk);
    }

    /// The output timeline reached `end_ns` (see [`Feed::timeline_end_ns`]); ignored from a
    /// publisher that was cut off.
    pub fn extend_timeline(&self, end_ns: u64) {
        if self.is_current() {
            self.feed.timeline_end_ns.fetch_max(end_ns, Ordering::SeqCst);
        }
    }

    /// Whether this publisher is still the one the feed listens to.
    pub fn is_current(&self) -> bool {
        self.feed.gop.lock().expect("gop lock").generation == self.generation
    }

    /// The feed.
    pub fn feed(&self) -> &Feed {
        &self.feed
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
        let feed = hub.feed(ChannelId(1)).open();
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
        let old = feed.open();
        old.publish(chunk(1, true));
        let mut watching = hub.subscribe(ChannelId(1));
        assert_eq!(watching.next().await.unwrap()[0], 1);
        feed.close();
        // The stopping pipeline's last output reaches nobody and is not cached.
        old.publish(chunk(2, true));
        old.publish(chunk(3, false));
        assert_eq!(feed.cached_bytes(), 0);
        let mut tuned_meanwhile = hub.subscribe(ChannelId(1));
        let new = feed.open();
        // A pipeline that never stopped (stuck, replaced) is cut off for good.
        old.publish(chunk(9, true));
        new.publish(chunk(4, true));
        for s in [&mut watching, &mut tuned_meanwhile] {
            assert_eq!(s.next().await.unwrap()[0], 4);
        }
    }

    #[test]
    fn the_output_timeline_only_moves_forward_and_only_for_the_current_pipeline() {
        let feed = StreamHub::new().feed(ChannelId(3));
        let first = feed.open();
        first.extend_timeline(5_000);
        first.extend_timeline(4_000);
        assert_eq!(feed.timeline_end_ns(), 5_000);
        let second = feed.open();
        first.extend_timeline(9_000);
        assert_eq!(feed.timeline_end_ns(), 5_000, "a cut-off pipeline does not move the timeline");
        second.extend_timeline(6_000);
        assert_eq!(feed.timeline_end_ns(), 6_000);
        assert!(!first.is_current() && second.is_current());
    }

    /// A TS packet of `pid` with payload and counter `cc`.
    fn packet(pid: u16, cc: u8) -> Vec<u8> {
        let mut p = vec![0xff; 188];
        p[..4].copy_from_slice(&[0x47, (pid >> 8) as u8, pid as u8, 0x10 | cc]);
        p
    }

    fn counters(data: &[u8]) -> Vec<u8> {
        data.chunks(188).map(|p| p[3] & 0x0f).collect()
    }

    #[test]
    fn continuity_counters_carry_on_across_pipelines_from_what_viewers_got() {
        let feed = StreamHub::new().feed(ChannelId(4));
        let first = feed.open();
        let a = first.publish_ts([packet(256, 0), packet(256, 1), packet(257, 5)].concat(), true, None).unwrap();
        assert_eq!(counters(&a), [0, 1, 5], "the first pipeline is untouched");
        // Winding down after the feed closed: not published, and no counter moves.
        feed.close();
        assert!(first.publish_ts([packet(256, 2), packet(257, 6)].concat(), false, None).is_none());
        let second = feed.open();
        assert!(first.publish_ts([packet(256, 3)].concat(), false, None).is_none(), "cut off");
        // A new multiplexer starts at 0 again, twice on PID 256.
        let b = second
            .publish_ts([packet(256, 0), packet(256, 1), packet(257, 0), packet(258, 3)].concat(), true, None)
            .unwrap();
        assert_eq!(counters(&b), [2, 3, 6, 3], "each PID continues from what was sent; a new PID keeps its own");
        assert!(b.chunks(188).all(|p| p[3] & 0xf0 == 0x10), "flags kept");
    }

    /// A keyframe's join variant (the sound sent ahead of it, again) goes to the GOP cache with
    /// the counters those packets were published with; those watching get the keyframe alone,
    /// and no counter moves for the copies.
    #[tokio::test]
    async fn a_late_viewer_gets_the_keyframe_with_its_sound_and_counters_as_published() {
        let hub = StreamHub::new();
        let feed = hub.feed(ChannelId(5));
        let old = feed.open();
        old.publish_ts([packet(256, 0), packet(257, 0)].concat(), true, None).unwrap();
        feed.close();
        let publisher = feed.open(); // counters shifted: 256 by 1, 257 by 1
        let mut watching = hub.subscribe(ChannelId(5));
        let sound = [packet(257, 3), packet(257, 4)].concat();
        let sent = publisher.publish_ts(sound.clone(), false, None).unwrap();
        assert_eq!(counters(&sent), [1, 2], "257 continues after the closed pipeline's 0");
        let key = [packet(256, 7), packet(257, 5)].concat();
        let join = [sound, key.clone()].concat();
        let live = publisher.publish_ts(key, true, Some(join)).unwrap();
        assert_eq!(counters(&live), [1, 3]);
        assert_eq!(watching.next().await.unwrap(), sent);
        assert_eq!(watching.next().await.unwrap(), live, "those watching get the keyframe alone");
        let mut late = hub.subscribe(ChannelId(5));
        assert_eq!(counters(&late.next().await.unwrap()), [1, 2, 1, 3], "the join variant, as published");
        let more = publisher.publish_ts(packet(257, 6), false, None).unwrap();
        assert_eq!(counters(&more), [4], "copies moved no counter");
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
        let feed = hub.feed(ChannelId(2)).open();
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
