//! Request budgets of the API: per credential, per client address, and a tighter one for
//! failed authentications per address, so guessing tokens is slow and one noisy client
//! cannot starve the others. Token buckets in memory: each node keeps its own, which bounds
//! what one node serves (documented in README: several nodes behind a balancer multiply it).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The budgets, per minute; a client may spend a quarter of a minute's budget at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Whether the budgets apply at all.
    pub enabled: bool,
    /// Requests per minute from one client address (all credentials together).
    pub per_address_per_minute: u32,
    /// Requests per minute with one credential (an API token or a JWT).
    pub per_credential_per_minute: u32,
    /// Refused credentials (401) per minute from one client address.
    pub failed_auth_per_address_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: true,
            per_address_per_minute: 6000,
            per_credential_per_minute: 3000,
            failed_auth_per_address_per_minute: 60,
        }
    }
}

impl RateLimits {
    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        for (k, v) in [
            ("per_address_per_minute", self.per_address_per_minute),
            ("per_credential_per_minute", self.per_credential_per_minute),
            (
                "failed_auth_per_address_per_minute",
                self.failed_auth_per_address_per_minute,
            ),
        ] {
            if v == 0 {
                return Err(format!(
                    "rate_limits.{k}: must be at least 1 (set enabled = false to turn the limits off)"
                ));
            }
        }
        Ok(())
    }
}

/// Keys kept per map before stale ones are dropped.
const MAX_KEYS: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by key.
struct Buckets<K> {
    per_minute: f64,
    capacity: f64,
    map: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        Buckets {
            per_minute,
            capacity: (per_minute / 4.0).max(10.0),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Spends `cost` (0 to only look) if the budget allows; otherwise how long to wait.
    fn spend(&self, key: K, cost: f64) -> Result<(), Duration> {
        let now = Instant::now();
        let rate = self.per_minute / 60.0;
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_KEYS {
            let capacity = self.capacity;
            map.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < capacity);
        }
        let b = map.entry(key).or_insert(Bucket {
            tokens: self.capacity,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(self.capacity);
        b.at = now;
        let need = cost.max(1.0);
        if b.tokens >= need {
            b.tokens -= cost;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((need - b.tokens) / rate))
        }
    }
}

/// The API's limiter.
pub struct Limiter {
    cfg: RateLimits,
    address: Buckets<IpAddr>,
    credential: Buckets<[u8; 16]>,
    failed: Buckets<IpAddr>,
}

impl Limiter {
    /// A limiter with these budgets.
    pub fn new(cfg: RateLimits) -> Self {
        Limiter {
            cfg,
            address: Buckets::new(cfg.per_address_per_minute),
            credential: Buckets::new(cfg.per_credential_per_minute),
            failed: Buckets::new(cfg.failed_auth_per_address_per_minute),
        }
    }
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::new(RateLimits::default())
    }
}

fn refused(wait: Duration, what: &str) -> Response {
    ApiError::TooManyRequests {
        detail: format!(
            "{what}; wait {} s before the next request.",
            wait.as_secs().max(1)
        ),
        wait_seconds: wait.as_secs().saturating_add(1),
    }
    .into_response()
}

/// Applies the budgets to an API request: failed authentications first (before the
/// credential costs any work), then the address, then the credential; a refused credential
/// is charged to its address afterwards.
pub async fn limit(State(l): State<Arc<Limiter>>, req: Request, next: Next) -> Response {
    if !l.cfg.enabled {
        return next.run(req).await;
    }
    let ip = client_key(
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip()),
    );
    if let Err(wait) = l.failed.spend(ip, 0.0) {
        return refused(wait, "Too many refused credentials came from your address");
    }
    if let Err(wait) = l.address.spend(ip, 1.0) {
        return refused(wait, "Too many requests came from your address");
    }
    let credential = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| credential_key(v.as_bytes()));
    if let Some(k) = credential
        && let Err(wait) = l.credential.spend(k, 1.0)
    {
        return refused(wait, "Too many requests were made with this credential");
    }
    let res = next.run(req).await;
    if res.status() == axum::http::StatusCode::UNAUTHORIZED && credential.is_some() {
        let _ = l.failed.spend(ip, 1.0);
    }
    res
}

/// The budget key of a client address: one per machine for loopback, and one per /64 for
/// IPv6, where a single client holds the whole prefix.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return client_key(IpAddr::V4(v4));
            }
            if v6.is_loopback() {
                return IpAddr::from([127, 0, 0, 1]);
            }
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
    }
}

/// The budget key of a credential: the credential as the server reads it (the scheme's case
/// and the spaces around it do not make another one).
fn credential_key(header: &[u8]) -> [u8; 16] {
    let text = String::from_utf8_lossy(header);
    let t = text.trim();
    let (scheme, rest) = t.split_once(char::is_whitespace).unwrap_or(("", t));
    let canonical = format!("{} {}", scheme.to_ascii_lowercase(), rest.trim());
    let d = Sha256::digest(canonical.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// Largest JSON body accepted (uploads have their own limits).
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// The largest multipart request: a HAR capture, the other files at their limit, and the
/// case itself.
pub fn upload_limit(cfg: &casedesk_core::attachments::AttachmentConfig) -> u64 {
    cfg.max_har_bytes.max(cfg.max_file_bytes)
        + (casedesk_core::attachments::MAX_FILES as u64 - 1) * cfg.max_file_bytes
        + MAX_JSON_BODY as u64
}

/// Sign-in attempts allowed per client address in [`IP_WINDOW`].
const IP_ATTEMPTS: u32 = 20;

const IP_WINDOW: Duration = Duration::from_secs(300);

/// Per-address attempt counter. In memory: it slows guessing from one address; the
/// per-user lockout, kept in the database, holds across nodes and restarts.
#[derive(Default)]
pub struct SignInLimiter(Mutex<HashMap<IpAddr, (Instant, u32)>>);

impl SignInLimiter {
    pub(crate) fn allow(&self, ip: IpAddr) -> bool {
        take(&self.0, ip, IP_ATTEMPTS, IP_WINDOW)
    }
}

/// The budget of the status page's subscription form, which anyone may post: per client
/// address, and per mail domain, so it cannot be used to flood an inbox or a company's mail,
/// and apart from sign-in's budget, so a flood of it locks nobody out.
pub struct SubscribeLimiter {
    by_ip: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    by_domain: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Subscription requests allowed from one client address per [`SUBSCRIBE_WINDOW`].
const SUBSCRIBE_PER_IP: u32 = 10;
/// Confirmations to one mail domain per [`SUBSCRIBE_WINDOW`].
const SUBSCRIBE_PER_DOMAIN: u32 = 20;
const SUBSCRIBE_WINDOW: Duration = Duration::from_secs(3600);

impl Default for SubscribeLimiter {
    fn default() -> Self {
        Self {
            by_ip: Mutex::new(HashMap::new()),
            by_domain: Mutex::new(HashMap::new()),
        }
    }
}

/// Counts one attempt of `key` in its window; whether it is within `cap`. The map forgets
/// old windows once it grows large, so a flood of keys cannot grow it without bound.
fn take<K: std::hash::Hash + Eq>(
    map: &Mutex<HashMap<K, (Instant, u32)>>,
    key: K,
    cap: u32,
    window: Duration,
) -> bool {
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    if map.len() > 100_000 {
        map.retain(|_, (start, _)| start.elapsed() < window);
    }
    let e = map.entry(key).or_insert((Instant::now(), 0));
    if e.0.elapsed() >= window {
        *e = (Instant::now(), 0);
    }
    e.1 += 1;
    e.1 <= cap
}

impl SubscribeLimiter {
    /// Whether a request from `ip` may be read at all.
    pub(crate) fn allow_ip(&self, ip: IpAddr) -> bool {
        take(&self.by_ip, ip, SUBSCRIBE_PER_IP, SUBSCRIBE_WINDOW)
    }

    /// Whether one more confirmation may go to `domain`.
    pub(crate) fn allow_domain(&self, domain: &str) -> bool {
        take(
            &self.by_domain,
            domain.to_ascii_lowercase(),
            SUBSCRIBE_PER_DOMAIN,
            SUBSCRIBE_WINDOW,
        )
    }
}

/// Timeouts and connection caps of the listener (`[http]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// Seconds a connection may wait for the first byte of a request when none is under way:
    /// after it opens, and between requests on a kept-alive connection.
    pub idle_timeout_seconds: u64,
    /// Seconds a request's headers may take from their first byte to their last.
    pub header_timeout_seconds: u64,
    /// Seconds a request's body may take to arrive, counted from its headers.
    pub body_timeout_seconds: u64,
    /// Connections open at once; one more is answered 503 and closed. Keep it well under the
    /// process's open-file limit (`ulimit -n`).
    pub max_connections: usize,
    /// Connections open at once from one client address; one more is answered 429 and
    /// closed. 0 turns this cap off (behind a reverse proxy every client has its address).
    pub max_connections_per_address: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            idle_timeout_seconds: 60,
            header_timeout_seconds: 10,
            body_timeout_seconds: 120,
            max_connections: 1000,
            max_connections_per_address: 200,
        }
    }
}

impl HttpLimits {
    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        for (k, v) in [
            ("http.idle_timeout_seconds", self.idle_timeout_seconds),
            ("http.header_timeout_seconds", self.header_timeout_seconds),
            ("http.body_timeout_seconds", self.body_timeout_seconds),
        ] {
            if !(1..=86_400).contains(&v) {
                return Err(format!("{k} must be between 1 and 86400 seconds"));
            }
        }
        if self.max_connections == 0 {
            return Err("http.max_connections must be at least 1".into());
        }
        if self.max_connections_per_address > self.max_connections {
            return Err(
                "http.max_connections_per_address must not be more than http.max_connections"
                    .into(),
            );
        }
        Ok(())
    }

    pub(crate) fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_seconds)
    }

    pub(crate) fn header(&self) -> Duration {
        Duration::from_secs(self.header_timeout_seconds)
    }

    /// How long a request's body may take.
    pub fn body(&self) -> Duration {
        Duration::from_secs(self.body_timeout_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_credential_one_key_and_one_machine_one_address() {
        let k = credential_key(b"Bearer abc");
        for h in ["bearer abc", "BEARER   abc", " Bearer\tabc "] {
            assert_eq!(credential_key(h.as_bytes()), k, "{h:?}");
        }
        assert_ne!(credential_key(b"Bearer abd"), k);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_key(ip("127.9.3.1")), client_key(ip("127.0.0.1")));
        assert_eq!(client_key(ip("::1")), client_key(ip("127.0.0.1")));
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa::1")),
            client_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(client_key(ip("10.0.0.1")), client_key(ip("10.0.0.2")));
    }

    #[test]
    fn a_bucket_allows_its_burst_then_names_the_wait() {
        let b: Buckets<u8> = Buckets::new(60);
        for _ in 0..15 {
            assert!(b.spend(1, 1.0).is_ok());
        }
        let wait = b.spend(1, 1.0).unwrap_err();
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(b.spend(2, 1.0).is_ok(), "another key has its own budget");
        assert!(
            b.spend(1, 0.0).is_err(),
            "looking at a spent budget finds it spent"
        );
    }
}
