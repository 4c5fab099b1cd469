//! Benchmark (not a test): HTTP viewers of a running daemon on loopback, for `scripts/bench.sh`.
//!
//! ```text
//! bench_viewers tune URL
//!     one tune: ms from sending GET to the first byte and to the first video keyframe packet
//! bench_viewers fanout URL DAEMON_PID WINDOW_S COUNTS
//!     e.g. `fanout http://127.0.0.1:8080/stream/2.ts 1234 20 1,10,100`
//! ```
//!
//! `fanout` keeps one "holder" viewer on the channel for the whole run (so an on-demand channel
//! keeps running), measures the daemon's CPU over a window with the holder alone, then for each
//! count N connects N more viewers, waits until all of them have received bytes, and measures
//! the daemon's CPU over the same window again: (cpu(N) - cpu(holder alone)) / N is the CPU
//! each viewer adds. It then checks that every viewer received the same bytes: each viewer
//! hashes what it received from each video keyframe packet to the next (one hash per GOP,
//! with its PTS). After the window, the holder's last whole GOP is the end mark; every viewer
//! reads until it has that GOP too. From the latest first GOP any viewer has to the end mark,
//! all viewers (holder included) must hold the same GOPs with the same hashes, none missing
//! and no TS sync loss: a viewer that skipped ahead (a lagging viewer is moved to the next
//! keyframe), got a changed or lost byte, or stalled fails the check. The checker is then run
//! on a copy with one GOP hash changed and one with one GOP removed, and must reject both.
//!
//! Lines starting with `BENCH` carry `key=value` figures; nothing is asserted (exit status 0)
//! except that the checker itself works.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use blake2::{Blake2s256, Digest};
use retrovue::playout::tsscan::{PACKET, keyframe_pts};

/// One GOP a viewer received: keyframe PTS, hash and length of its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Gop {
    pts: u64,
    hash: [u8; 32],
    len: usize,
}

/// What one viewer received, reduced to whole GOPs.
#[derive(Default)]
struct Recorder {
    pending: Vec<u8>,
    current: Option<(u64, Blake2s256, usize)>,
    gops: Vec<Gop>,
    sync_errors: usize,
    bytes: u64,
    keyframes: usize,
}

impl Recorder {
    fn feed(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        self.pending.extend_from_slice(data);
        let whole = self.pending.len() / PACKET * PACKET;
        let pending = std::mem::take(&mut self.pending);
        for p in pending[..whole].chunks(PACKET) {
            self.packet(p);
        }
        self.pending = pending[whole..].to_vec();
    }

    fn packet(&mut self, p: &[u8]) {
        if p[0] != 0x47 {
            self.sync_errors += 1;
        }
        if let Some(pts) = keyframe_pts(p) {
            self.keyframes += 1;
            if let Some((pts, h, len)) = self.current.take() {
                self.gops.push(Gop { pts, hash: h.finalize().into(), len });
            }
            self.current = Some((pts, Blake2s256::new(), 0));
        }
        if let Some((_, h, len)) = &mut self.current {
            h.update(p);
            *len += p.len();
        }
    }

    fn has(&self, pts: u64) -> bool {
        self.gops.iter().rev().any(|g| g.pts == pts)
    }
}

/// CPU seconds (user + system) process `pid` has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("daemon /proc/PID/stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    (f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime")) / 100.0
}

fn client() -> reqwest::Client {
    // Loopback only: never through a proxy from the environment.
    reqwest::Client::builder().no_proxy().build().expect("HTTP client")
}

async fn tune(url: &str) -> anyhow::Result<()> {
    let client = client();
    let t0 = Instant::now();
    let mut resp = client.get(url).send().await?.error_for_status()?;
    let mut rec = Recorder::default();
    let mut first_byte = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rec.keyframes == 0 {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .map_err(|_| anyhow::anyhow!("no keyframe within 30 s"))??
            .ok_or_else(|| anyhow::anyhow!("stream ended before a keyframe"))?;
        if !chunk.is_empty() {
            first_byte.get_or_insert_with(|| t0.elapsed());
        }
        rec.feed(&chunk);
    }
    let key = t0.elapsed();
    println!(
        "BENCH tune first_byte_ms={:.1} first_keyframe_ms={:.1}",
        first_byte.unwrap_or(key).as_secs_f64() * 1e3,
        key.as_secs_f64() * 1e3
    );
    Ok(())
}

/// When viewers of one round stop: once they hold the GOP with this PTS (`u64::MAX`: not yet).
struct Round {
    end: AtomicU64,
    connected: AtomicUsize,
}

async fn viewer(client: reqwest::Client, url: String, round: Arc<Round>, rec: Arc<Mutex<Recorder>>) -> bool {
    let Ok(mut resp) = client.get(&url).send().await.and_then(|r| r.error_for_status()) else { return false };
    let mut counted = false;
    loop {
        let end = round.end.load(Ordering::SeqCst);
        if end != u64::MAX && rec.lock().expect("recorder").has(end) {
            return true;
        }
        let chunk = match tokio::time::timeout(Duration::from_secs(10), resp.chunk()).await {
            Ok(Ok(Some(c))) => c,
            _ => return false,
        };
        if !counted && !chunk.is_empty() {
            round.connected.fetch_add(1, Ordering::SeqCst);
            counted = true;
        }
        rec.lock().expect("recorder").feed(&chunk);
    }
}

/// Check that all GOP lists hold the same GOPs from the latest first GOP of any of them to
/// `end`; the number of GOPs and bytes compared per viewer, or why not.
fn compare(lists: &[Vec<Gop>], end: u64) -> Result<(usize, u64), String> {
    let mut start = 0u64;
    for (k, l) in lists.iter().enumerate() {
        let first = l.first().ok_or_else(|| format!("viewer {k} received no whole GOP"))?;
        start = start.max(first.pts);
    }
    let slice = |k: usize, l: &[Gop]| -> Result<Vec<Gop>, String> {
        let i = l.iter().rposition(|g| g.pts == start).ok_or_else(|| format!("viewer {k} lacks GOP pts={start}"))?;
        let j = l.iter().rposition(|g| g.pts == end).ok_or_else(|| format!("viewer {k} lacks end GOP pts={end}"))?;
        if j < i {
            return Err(format!("viewer {k}: end GOP before start GOP"));
        }
        Ok(l[i..=j].to_vec())
    };
    let reference = slice(0, &lists[0])?;
    if reference.len() < 2 {
        return Err(format!("only {} GOP in common: nothing to compare", reference.len()));
    }
    for (k, l) in lists.iter().enumerate().skip(1) {
        let s = slice(k, l)?;
        if s.len() != reference.len() {
            return Err(format!("viewer {k} has {} GOPs where viewer 0 has {}", s.len(), reference.len()));
        }
        if let Some(m) = s.iter().zip(&reference).position(|(a, b)| a != b) {
            return Err(format!("viewer {k} differs from viewer 0 in GOP {m} (pts {})", reference[m].pts));
        }
    }
    Ok((reference.len(), reference.iter().map(|g| g.len as u64).sum()))
}

/// The checker must reject a changed GOP and a missing GOP (else its "identical" means nothing).
fn self_check(lists: &[Vec<Gop>], end: u64) {
    let mut changed = lists.to_vec();
    let last = changed.len() - 1;
    let l = &mut changed[last];
    let mid = l.iter().rposition(|g| g.pts == end).expect("end GOP") - 1;
    l[mid].hash[0] ^= 1;
    assert!(compare(&changed, end).is_err(), "checker missed a changed GOP");
    let mut missing = lists.to_vec();
    missing[last].remove(mid);
    assert!(compare(&missing, end).is_err(), "checker missed a missing GOP");
}

async fn fanout(url: &str, pid: u32, window: f64, counts: &[usize]) -> anyhow::Result<()> {
    let client = client();
    let window = Duration::from_secs_f64(window);
    let holder_rec = Arc::new(Mutex::new(Recorder::default()));
    let forever = Arc::new(Round { end: AtomicU64::new(u64::MAX), connected: AtomicUsize::new(0) });
    let holder = tokio::spawn(viewer(client.clone(), url.to_owned(), forever.clone(), holder_rec.clone()));
    let t = Instant::now();
    while forever.connected.load(Ordering::SeqCst) == 0 {
        anyhow::ensure!(t.elapsed() < Duration::from_secs(30), "the holder viewer got no bytes in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await; // past the channel's start
    let c0 = cpu_seconds(pid);
    tokio::time::sleep(window).await;
    let base = cpu_seconds(pid) - c0;
    println!("BENCH fanout_base window_s={:.1} holder_cpu_s={base:.3}", window.as_secs_f64());
    for &n in counts {
        let round = Arc::new(Round { end: AtomicU64::new(u64::MAX), connected: AtomicUsize::new(0) });
        let recs: Vec<Arc<Mutex<Recorder>>> = (0..n).map(|_| Arc::new(Mutex::new(Recorder::default()))).collect();
        let tasks: Vec<_> = recs
            .iter()
            .map(|r| tokio::spawn(viewer(client.clone(), url.to_owned(), round.clone(), r.clone())))
            .collect();
        let t = Instant::now();
        while round.connected.load(Ordering::SeqCst) < n && t.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let connected = round.connected.load(Ordering::SeqCst);
        let connect_s = t.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let c0 = cpu_seconds(pid);
        let t0 = Instant::now();
        tokio::time::sleep(window).await;
        let cpu = cpu_seconds(pid) - c0;
        let secs = t0.elapsed().as_secs_f64();
        let end = holder_rec.lock().expect("recorder").gops.last().map(|g| g.pts);
        let Some(end) = end else { anyhow::bail!("the holder has no whole GOP") };
        round.end.store(end, Ordering::SeqCst);
        let mut finished = 0;
        for task in tasks {
            finished += usize::from(matches!(tokio::time::timeout(Duration::from_secs(20), task).await, Ok(Ok(true))));
        }
        let mut lists = vec![holder_rec.lock().expect("recorder").gops.clone()];
        let mut sync_errors = holder_rec.lock().expect("recorder").sync_errors;
        let mut bytes = 0u64;
        for r in &recs {
            let r = r.lock().expect("recorder");
            lists.push(r.gops.clone());
            sync_errors += r.sync_errors;
            bytes += r.bytes;
        }
        let verdict = if connected < n || finished < n {
            Err(format!("{connected} of {n} viewers got bytes, {finished} of {n} reached the end GOP"))
        } else if sync_errors > 0 {
            Err(format!("{sync_errors} packets without the 0x47 sync byte"))
        } else {
            compare(&lists, end)
        };
        if let Ok((gops, _)) = verdict
            && gops >= 3
        {
            self_check(&lists, end);
        }
        let per_viewer_ms_per_s = (cpu - base * secs / window.as_secs_f64()) / n as f64 / secs * 1e3;
        let (identical, gops, compared, reason) = match &verdict {
            Ok((g, b)) => ("yes", *g, *b, String::new()),
            Err(e) => ("no", 0, 0, e.clone()),
        };
        println!(
            "BENCH fanout viewers={n} window_s={secs:.1} connect_s={connect_s:.2} cpu_s={cpu:.3} base_cpu_s={base:.3} \
             added_cpu_ms_per_s_per_viewer={per_viewer_ms_per_s:.3} mb_received={:.1} identical={identical} \
             gops_compared={gops} bytes_compared_per_viewer={compared} reason={reason}",
            bytes as f64 / 1e6
        );
    }
    holder.abort();
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("tune") if args.len() == 3 => tune(&args[2]).await,
        Some("fanout") if args.len() == 6 => {
            let counts: Vec<usize> = args[5].split(',').map(str::parse).collect::<Result<_, _>>()?;
            fanout(&args[2], args[3].parse()?, args[4].parse()?, &counts).await
        }
        _ => anyhow::bail!("usage: bench_viewers tune URL | bench_viewers fanout URL DAEMON_PID WINDOW_S 1,10,100"),
    }
}
