//! Login machinery: argon2 password hashes, random session and CSRF tokens (sessions are
//! stored as a BLAKE2 hash of the token), the session cookie, the [`gate`] middleware in front
//! of every protected API route, and the per-address [`LoginLimiter`].
//!
//! The gate's rules: before first-run setup every protected route answers 403
//! `setup_required`; without a valid session cookie, 401; a request that changes state
//! (anything but GET/HEAD) must also carry the session's CSRF token in `X-CSRF-Token`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use blake2::{Blake2s256, Digest};
use rand::RngCore;

use super::error::{Error, Flatten};
use super::{WebState, store};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "rv_session";
/// Header that carries the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// A logged-in request's session (put in the request extensions by [`gate`]).
#[derive(Debug, Clone)]
pub struct Session {
    /// The user.
    pub user_id: i64,
    /// Their name.
    pub username: String,
    /// CSRF token of this session.
    pub csrf: String,
    /// Hash of the session token (the `sessions` key).
    pub token_hash: String,
}

/// Hash a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::internal("encoding a salt", e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal("hashing a password", e.to_string()))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Check the password policy.
pub fn check_password_policy(password: &str) -> Result<(), Error> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(Error::BadRequest(format!("the password needs at least {MIN_PASSWORD_LEN} characters")));
    }
    if n > 256 {
        return Err(Error::BadRequest("the password is too long (256 characters at most)".into()));
    }
    Ok(())
}

/// 32 random bytes as 64 hex digits.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex(&b)
}

/// The stored form of a session token.
pub fn token_hash(token: &str) -> String {
    hex(&Blake2s256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `Set-Cookie` value for a new session.
pub fn session_cookie(token: &str) -> String {
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", SESSION_TTL.as_secs())
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session token from the `Cookie` header, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == SESSION_COOKIE && v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())).then(|| v.to_owned())
    })
}

/// Constant-time comparison (CSRF tokens).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether first-run setup is done (cached once true).
pub async fn setup_done(state: &WebState) -> Result<bool, Error> {
    if state.setup_done.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(true);
    }
    let done = state.db.call(|c| store::has_user(c)).await.flat("reading users")?;
    if done {
        state.setup_done.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(done)
}

/// The session of the request's cookie, if valid (stored, or kept in memory).
pub async fn current_session(state: &WebState, headers: &HeaderMap) -> Result<Option<Session>, Error> {
    let Some(token) = cookie_token(headers) else { return Ok(None) };
    let hash = token_hash(&token);
    let now = state.now_ms();
    let key = hash.clone();
    let stored = state.db.call(move |c| store::session(c, &key, now)).await.flat("reading sessions");
    let row = match stored {
        Ok(Some(row)) => Some(row),
        Ok(None) => state.memory_sessions.get(&hash, now),
        Err(e) => Some(state.memory_sessions.get(&hash, now).ok_or(e)?),
    };
    Ok(row.map(|r| Session { user_id: r.user_id, username: r.username, csrf: r.csrf, token_hash: hash }))
}

/// Sessions the database could not store (a full data disk, a read-only or broken
/// database): kept in memory until they expire, the user logs out or changes the password,
/// or the daemon restarts, so an admin can still log in and see what is wrong.
#[derive(Debug, Default)]
pub struct MemorySessions {
    // std Mutex: a map look-up per request, never held across an await.
    map: Mutex<HashMap<String, (store::SessionRow, i64)>>,
}

impl MemorySessions {
    /// Sessions kept at most (the one expiring first goes): bounded memory.
    const MAX: usize = 64;

    /// Keep a session (by token hash) until `expires_ms`.
    pub fn insert(&self, token_hash: String, row: store::SessionRow, expires_ms: i64, now_ms: i64) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, exp)| *exp > now_ms);
        if map.len() >= Self::MAX
            && let Some(first) = map.iter().min_by_key(|(_, (_, exp))| *exp).map(|(k, _)| k.clone())
        {
            map.remove(&first);
        }
        map.insert(token_hash, (row, expires_ms));
    }

    /// The live session with this token hash.
    pub fn get(&self, token_hash: &str, now_ms: i64) -> Option<store::SessionRow> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(token_hash).filter(|(_, exp)| *exp > now_ms).map(|(row, _)| row.clone())
    }

    /// End one session.
    pub fn remove(&self, token_hash: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(token_hash);
    }

    /// End every session of `user_id` but `keep` (after a password change).
    pub fn end_others(&self, user_id: i64, keep: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).retain(|k, (row, _)| row.user_id != user_id || k == keep);
    }
}

/// Middleware in front of every protected route: setup done, valid session, CSRF on changes.
pub async fn gate(State(state): State<WebState>, mut req: Request, next: Next) -> Result<Response, Error> {
    if !setup_done(&state).await? {
        return Err(Error::SetupRequired);
    }
    let session = current_session(&state, req.headers()).await?.ok_or(Error::Unauthorized)?;
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !same(sent, &session.csrf) {
            return Err(Error::Csrf);
        }
    }
    req.extensions_mut().insert(session);
    Ok(next.run(req).await)
}

/// Failed logins allowed per address within [`LoginLimiter::WINDOW`].
const MAX_FAILURES: u32 = 5;
/// Addresses remembered at most (oldest forgotten first): bounded memory.
const MAX_ADDRESSES: usize = 1024;

/// Per-address login rate limiting with bounded memory: after [`MAX_FAILURES`] failures an
/// address is refused until its window ends.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    // std Mutex: a map look-up per login attempt, never held across an await.
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginLimiter {
    /// Length of the failure window.
    pub const WINDOW: Duration = Duration::from_secs(300);

    /// Refuse the address if it has used up its failures.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Error> {
        let map = self.failures.lock().expect("limiter lock");
        match map.get(&ip) {
            Some((n, since)) if *n >= MAX_FAILURES && now.duration_since(*since) < Self::WINDOW => {
                let left = Self::WINDOW - now.duration_since(*since);
                Err(Error::RateLimited { retry_after_secs: left.as_secs().max(1) })
            }
            _ => Ok(()),
        }
    }

    /// Count a failure.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().expect("limiter lock");
        map.retain(|_, (_, since)| now.duration_since(*since) < Self::WINDOW);
        if map.len() >= MAX_ADDRESSES
            && !map.contains_key(&ip)
            && let Some(oldest) = map.iter().min_by_key(|(_, (_, since))| *since).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        let e = map.entry(ip).or_insert((0, now));
        if now.duration_since(e.1) >= Self::WINDOW {
            *e = (0, now);
        }
        e.0 += 1;
    }

    /// Forget an address after a successful login.
    pub fn succeeded(&self, ip: IpAddr) {
        self.failures.lock().expect("limiter lock").remove(&ip);
    }

    /// Addresses currently remembered.
    pub fn len(&self) -> usize {
        self.failures.lock().expect("limiter lock").len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(hash_password("correct horse").unwrap(), h, "salted");
    }

    #[test]
    fn tokens_are_random_and_cookies_parse() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, format!("x=1; {SESSION_COOKIE}={a}; y=2").parse().unwrap());
        assert_eq!(cookie_token(&h), Some(a.clone()));
        h.insert(header::COOKIE, format!("{SESSION_COOKIE}=../../etc").parse().unwrap());
        assert_eq!(cookie_token(&h), None);
        let c = session_cookie(&a);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
    }

    #[test]
    fn limiter_blocks_after_failures_and_stays_bounded() {
        let l = LoginLimiter::default();
        let ip: IpAddr = "192.168.1.9".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            l.check(ip, t0).unwrap();
            l.failed(ip, t0);
        }
        assert!(matches!(l.check(ip, t0), Err(Error::RateLimited { .. })));
        assert!(l.check("192.168.1.10".parse().unwrap(), t0).is_ok());
        assert!(l.check(ip, t0 + LoginLimiter::WINDOW).is_ok(), "window over");
        for i in 0..(MAX_ADDRESSES as u32 + 500) {
            l.failed(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert!(l.len() <= MAX_ADDRESSES);
    }

    #[test]
    fn memory_sessions_expire_end_and_stay_bounded() {
        let m = MemorySessions::default();
        let row = |uid: i64| store::SessionRow { user_id: uid, username: "admin".into(), csrf: format!("c{uid}") };
        m.insert("a".into(), row(1), 100, 0);
        m.insert("b".into(), row(1), 100, 0);
        m.insert("c".into(), row(2), 100, 0);
        assert_eq!(m.get("a", 99).map(|r| r.csrf), Some("c1".into()));
        assert_eq!(m.get("a", 100), None, "expired");
        assert_eq!(m.get("zzz", 0), None);
        m.end_others(1, "a");
        assert!(m.get("a", 0).is_some() && m.get("b", 0).is_none() && m.get("c", 0).is_some());
        m.remove("a");
        assert!(m.get("a", 0).is_none());
        for i in 0..200 {
            m.insert(format!("s{i}"), row(3), 1000 + i, 0);
        }
        assert_eq!(m.map.lock().unwrap().len(), MemorySessions::MAX);
        assert!(m.get("s199", 0).is_some() && m.get("s0", 0).is_none(), "the one expiring first goes");
    }
}
