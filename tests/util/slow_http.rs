//! A media server on 127.0.0.1 that serves files at a limited rate and can stall: a slow or
//! hanging network source for the playout (issue #21). Byte ranges are honoured (`Range:
//! bytes=N-`), so demuxers that seek work as against a real server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the server does, changeable while it runs.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Bytes per second per connection (0: unlimited).
    pub rate: u64,
    /// Stall once, for this long, when a connection's position first passes this fraction of
    /// the file: (fraction, duration). The connection stays open and silent meanwhile.
    pub stall_at: Option<(f64, Duration)>,
}

/// The running server; stops accepting when dropped.
pub struct SlowServer {
    pub addr: String,
    stop: Arc<AtomicBool>,
    /// Requests served so far.
    pub requests: Arc<AtomicU64>,
    /// Stalls performed so far.
    pub stalls: Arc<AtomicU64>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl SlowServer {
    /// Serve the files under `root` (URL path = path relative to it).
    pub fn start(root: PathBuf, behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let stalls = Arc::new(AtomicU64::new(0));
        let behaviour = Arc::new(Mutex::new(behaviour));
        {
            let (stop, requests, stalls, behaviour) =
                (stop.clone(), requests.clone(), stalls.clone(), behaviour.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let (root, requests, stalls, behaviour, stop) =
                                (root.clone(), requests.clone(), stalls.clone(), behaviour.clone(), stop.clone());
                            std::thread::spawn(move || {
                                let b = behaviour.lock().unwrap().clone();
                                let _ = serve(s, &root, &b, &requests, &stalls, &stop);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            });
        }
        Self { addr, stop, requests, stalls, behaviour }
    }

    /// `http://ADDR/` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// Change the behaviour for new connections.
    pub fn set(&self, b: Behaviour) {
        *self.behaviour.lock().unwrap() = b;
    }
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    mut s: TcpStream,
    root: &std::path::Path,
    b: &Behaviour,
    requests: &AtomicU64,
    stalls: &AtomicU64,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let mut reader = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
    let mut from = 0u64;
    let head_only = line.starts_with("HEAD");
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(n) =
            lower.strip_prefix("range:").and_then(|r| r.trim().strip_prefix("bytes=")).and_then(|r| r.split('-').next())
        {
            from = n.trim().parse().unwrap_or(0);
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let file = root.join(&path);
    let data = match std::fs::read(&file) {
        Ok(d) if !path.contains("..") => d,
        _ => {
            s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
            return Ok(());
        }
    };
    let total = data.len() as u64;
    let from = from.min(total);
    let status = if from > 0 { "206 Partial Content" } else { "200 OK" };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: video/mp2t\r\nAccept-Ranges: bytes\r\nContent-Length: {}\r\nConnection: close\r\n",
        total - from
    );
    if from > 0 {
        head.push_str(&format!("Content-Range: bytes {from}-{}/{total}\r\n", total - 1));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    if head_only {
        return Ok(());
    }
    let stall_byte = b.stall_at.map(|(f, d)| ((total as f64 * f) as u64, d));
    let mut stalled = false;
    let mut pos = from;
    let start = Instant::now();
    let chunk = 16 * 1024;
    while pos < total && !stop.load(Ordering::Relaxed) {
        if let Some((at, d)) = stall_byte
            && !stalled
            && pos >= at
            && from < at
        {
            stalled = true;
            stalls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(d);
        }
        let end = (pos + chunk).min(total);
        s.write_all(&data[pos as usize..end as usize])?;
        pos = end;
        if b.rate > 0 {
            // Pace to `rate` from this connection's start (stalls excluded from the budget).
            let due = Duration::from_secs_f64((pos - from) as f64 / b.rate as f64);
            let spent = start.elapsed().saturating_sub(if stalled { stall_byte.unwrap().1 } else { Duration::ZERO });
            if due > spent {
                std::thread::sleep(due - spent);
            }
        }
    }
    let mut rest = Vec::new();
    let _ = s.set_read_timeout(Some(Duration::from_millis(10)));
    let _ = reader.read_to_end(&mut rest);
    Ok(())
}
