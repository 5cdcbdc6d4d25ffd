//! Discovery and the JWKS cache of one issuer.
//!
//! Keys live for the provider's `Cache-Control: max-age`, clamped between the refetch
//! interval and the configured bounded lifetime (10 minutes by default), so a key the
//! provider withdrew stops working within that time. A token with an unknown `kid` causes a
//! refetch only when the last attempt is older than the refetch interval, and concurrent
//! refetches are one request: a flood of forged key ids costs the provider one request per
//! interval. When the provider cannot be reached, the last keys keep working for a grace
//! period, and while one request refreshes stale keys the others use them without waiting;
//! with no usable key at all, callers get [`KeyError::Unavailable`] instead of hanging.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use serde::Deserialize;

use crate::net::Outbound;

/// Largest discovery document or JWKS read.
const MAX_DOCUMENT: usize = 256 * 1024;
/// Most keys kept from one JWKS.
const MAX_KEYS: usize = 100;
/// Discovery changes rarely; it is refetched after this, or when the JWKS cannot be read.
const DISCOVERY_TTL: Duration = Duration::from_secs(24 * 3600);

/// The parts of the discovery document casedesk uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// Must equal the configured issuer exactly.
    pub issuer: String,
    /// Where the keys are.
    pub jwks_uri: String,
    /// For web sign-in.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// For web sign-in.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// Algorithms the provider signs ID tokens with.
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

/// A verification key, parsed once per algorithm it may be used with. `jsonwebtoken`'s
/// `crypto::verify` parses the public key again on every call, which costs more than the
/// signature check itself; parsed aws-lc keys make a warm validation about half as costly.
pub struct VerifyKey {
    /// `kid`.
    pub kid: Option<String>,
    /// Algorithms this key verifies (one when the JWK names its `alg`).
    pub algs: Vec<Algorithm>,
    parsed: Vec<(Algorithm, ParsedPublicKey)>,
}

impl VerifyKey {
    /// Checks a signature (raw bytes) over `message` with this key and `alg`.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.parsed
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, k)| k.verify_sig(message, signature).is_ok())
    }
}

fn b64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// Parses a JWK's public key for one algorithm with aws-lc.
fn parse_for(jwk: &Jwk, alg: Algorithm) -> Option<ParsedPublicKey> {
    match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let (n, e) = (b64(&p.n)?, b64(&p.e)?);
            let params: &'static RsaParameters = match alg {
                Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
                Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
                _ => return None,
            };
            RsaPublicKeyComponents { n: &n, e: &e }
                .to_parsed_public_key(params)
                .ok()
        }
        AlgorithmParameters::EllipticCurve(p) => {
            let mut point = vec![0x04];
            point.extend(b64(&p.x)?);
            point.extend(b64(&p.y)?);
            let a: &'static sig::EcdsaVerificationAlgorithm = match alg {
                Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
                Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
                _ => return None,
            };
            ParsedPublicKey::new(a, point).ok()
        }
        AlgorithmParameters::OctetKeyPair(p) if alg == Algorithm::EdDSA => {
            ParsedPublicKey::new(&sig::ED25519, b64(&p.x)?).ok()
        }
        _ => None,
    }
}

/// Why no key could be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// No published key has this `kid` (after one refetch, when allowed).
    UnknownKey,
    /// The key with this `kid` is for another algorithm.
    AlgorithmMismatch,
    /// No `kid`, and several keys fit.
    Ambiguous,
    /// No usable keys: the provider cannot be reached and nothing usable is cached.
    Unavailable(String),
}

#[derive(Default)]
struct Snapshot {
    keys: Vec<Arc<VerifyKey>>,
    discovery: Option<Arc<Discovery>>,
    discovery_until: Option<Instant>,
    fresh_until: Option<Instant>,
    usable_until: Option<Instant>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

impl Snapshot {
    fn pick(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<VerifyKey>, KeyError> {
        match kid {
            Some(kid) => {
                let same: Vec<&Arc<VerifyKey>> = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .collect();
                match same.iter().find(|k| k.algs.contains(&alg)) {
                    Some(k) => Ok(Arc::clone(k)),
                    None if same.is_empty() => Err(KeyError::UnknownKey),
                    None => Err(KeyError::AlgorithmMismatch),
                }
            }
            None => {
                let fit: Vec<&Arc<VerifyKey>> =
                    self.keys.iter().filter(|k| k.algs.contains(&alg)).collect();
                match fit.as_slice() {
                    [one] => Ok(Arc::clone(one)),
                    [] => Err(KeyError::UnknownKey),
                    _ => Err(KeyError::Ambiguous),
                }
            }
        }
    }
}

/// Timing rules of one issuer's cache.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    /// Longest life of fetched keys.
    pub max_age: Duration,
    /// Least time between fetches.
    pub refetch_interval: Duration,
    /// How long stale keys serve while the provider is unreachable.
    pub unreachable_grace: Duration,
}

/// Discovery and keys of one issuer, shared by all requests.
pub struct KeyCache {
    issuer: String,
    allowed: Vec<Algorithm>,
    http: Outbound,
    policy: CachePolicy,
    state: RwLock<Arc<Snapshot>>,
    refresh: tokio::sync::Mutex<()>,
    jwks_fetches: AtomicU64,
    generation: AtomicU64,
}

impl KeyCache {
    /// An empty cache; nothing is fetched until a token needs a key.
    pub fn new(issuer: &str, allowed: Vec<Algorithm>, http: Outbound, policy: CachePolicy) -> Self {
        KeyCache {
            issuer: issuer.to_owned(),
            allowed,
            http,
            policy,
            state: RwLock::new(Arc::new(Snapshot::default())),
            refresh: tokio::sync::Mutex::new(()),
            jwks_fetches: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Until when the current keys are fresh; a verification may be reused no longer, so
    /// a withdrawn key stops working within the key lifetime.
    pub fn fresh_until(&self) -> Option<Instant> {
        self.snapshot().fresh_until
    }

    /// Changes whenever a new key set replaces the old one, so
    /// verifications made with the old keys are not reused.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The key ids and algorithms of the keys held now.
    pub fn published(&self) -> Vec<(Option<String>, Vec<Algorithm>)> {
        self.snapshot()
            .keys
            .iter()
            .map(|k| (k.kid.clone(), k.algs.clone()))
            .collect()
    }

    /// How many times the JWKS was requested (for metrics and tests).
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks_fetches.load(Ordering::Relaxed)
    }

    /// The key for a token's `kid` and algorithm.
    pub async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<VerifyKey>, KeyError> {
        let now = Instant::now();
        let snap = self.snapshot();
        let fresh = snap.fresh_until.is_some_and(|t| now < t);
        if fresh {
            match snap.pick(kid, alg) {
                Err(KeyError::UnknownKey) if self.may_fetch(&snap, now) => {}
                done => return done,
            }
        }
        // Stale keys that still serve: refresh if nobody else is, but never wait for another
        // request's refresh, so a slow provider delays at most one request per interval.
        let usable = snap.usable_until.is_some_and(|t| now < t);
        if !fresh
            && usable
            && let Ok(k) = snap.pick(kid, alg)
        {
            let Ok(flight) = self.refresh.try_lock() else {
                return Ok(k);
            };
            let next = self.refresh_locked(&snap).await;
            drop(flight);
            return if Arc::ptr_eq(&next, &snap) {
                Ok(k)
            } else {
                next.pick(kid, alg)
            };
        }
        let snap = self.refreshed(&snap).await;
        if snap.usable_until.is_none_or(|t| Instant::now() >= t) {
            return Err(KeyError::Unavailable(
                snap.last_error
                    .clone()
                    .unwrap_or_else(|| "no keys fetched yet".into()),
            ));
        }
        snap.pick(kid, alg)
    }

    /// The discovery document (fetched with the keys when needed).
    pub async fn discovery(&self) -> Result<Arc<Discovery>, KeyError> {
        let snap = self.snapshot();
        if let (Some(d), Some(until)) = (&snap.discovery, snap.discovery_until)
            && Instant::now() < until
        {
            return Ok(Arc::clone(d));
        }
        let snap = self.refreshed(&snap).await;
        snap.discovery.clone().ok_or_else(|| {
            KeyError::Unavailable(
                snap.last_error
                    .clone()
                    .unwrap_or_else(|| "discovery failed".into()),
            )
        })
    }

    fn may_fetch(&self, snap: &Snapshot, now: Instant) -> bool {
        snap.last_attempt
            .is_none_or(|t| now.duration_since(t) >= self.policy.refetch_interval)
    }

    /// Fetches new keys unless another request just did (single flight) or the last
    /// attempt is too recent (rate limit); returns the snapshot to use.
    async fn refreshed(&self, seen: &Arc<Snapshot>) -> Arc<Snapshot> {
        let _flight = self.refresh.lock().await;
        self.refresh_locked(seen).await
    }

    /// [`Self::refreshed`] for a caller that holds the refresh lock.
    async fn refresh_locked(&self, seen: &Arc<Snapshot>) -> Arc<Snapshot> {
        let current = self.snapshot();
        if !Arc::ptr_eq(&current, seen) || !self.may_fetch(&current, Instant::now()) {
            return current;
        }
        let next = match self.fetch(&current).await {
            Ok(next) => {
                self.generation.fetch_add(1, Ordering::AcqRel);
                next
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "cannot refresh the issuer's keys; keeping the last ones");
                metrics::counter!("casedesk_jwks_fetch_failures_total").increment(1);
                Snapshot {
                    keys: current.keys.clone(),
                    discovery: None,
                    discovery_until: None,
                    fresh_until: current.fresh_until,
                    usable_until: current.usable_until,
                    last_attempt: Some(Instant::now()),
                    last_error: Some(e),
                }
            }
        };
        let next = Arc::new(next);
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&next);
        next
    }

    async fn fetch(&self, current: &Snapshot) -> Result<Snapshot, String> {
        let started = Instant::now();
        let (discovery, discovery_until) = match (&current.discovery, current.discovery_until) {
            (Some(d), Some(u)) if started < u => (Arc::clone(d), u),
            _ => (
                Arc::new(self.fetch_discovery().await?),
                started + DISCOVERY_TTL,
            ),
        };
        self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("casedesk_jwks_fetches_total").increment(1);
        let (body, max_age) = get_limited(&self.http, &discovery.jwks_uri).await?;
        let keys = self.parse_keys(&body)?;
        let life = max_age.unwrap_or(self.policy.max_age).clamp(
            self.policy.refetch_interval.min(self.policy.max_age),
            self.policy.max_age,
        );
        let now = Instant::now();
        Ok(Snapshot {
            keys,
            discovery: Some(discovery),
            discovery_until: Some(discovery_until),
            fresh_until: Some(now + life),
            usable_until: Some(now + life + self.policy.unreachable_grace),
            last_attempt: Some(now),
            last_error: None,
        })
    }

    async fn fetch_discovery(&self) -> Result<Discovery, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let (body, _) = get_limited(&self.http, &url).await?;
        let d: Discovery = serde_json::from_slice(&body)
            .map_err(|e| format!("the discovery document at {url} is not valid: {e}"))?;
        if d.issuer != self.issuer {
            return Err(format!(
                "the discovery document names the issuer {:?}, but casedesk is configured with {:?}",
                d.issuer, self.issuer
            ));
        }
        Ok(d)
    }

    fn parse_keys(&self, body: &[u8]) -> Result<Vec<Arc<VerifyKey>>, String> {
        #[derive(Deserialize)]
        struct Set {
            keys: Vec<serde_json::Value>,
        }
        let set: Set =
            serde_json::from_slice(body).map_err(|e| format!("the JWKS is not valid: {e}"))?;
        let keys: Vec<Arc<VerifyKey>> = set
            .keys
            .into_iter()
            .take(MAX_KEYS)
            .filter_map(|v| serde_json::from_value::<Jwk>(v).ok())
            .filter_map(|jwk| self.usable(&jwk).map(Arc::new))
            .collect();
        Ok(keys)
    }

    /// A JWK as a verification key, if it is a signing key casedesk may use.
    fn usable(&self, jwk: &Jwk) -> Option<VerifyKey> {
        let common = &jwk.common;
        if common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            return None;
        }
        if common
            .key_operations
            .as_ref()
            .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
        {
            return None;
        }
        let by_type: Vec<Algorithm> = match &jwk.algorithm {
            AlgorithmParameters::RSA(p) => {
                // Moduli under 2048 bits are refused (RFC 7518 §3.3).
                let bits = base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    p.n.trim_end_matches('='),
                )
                .map(|n| n.iter().skip_while(|b| **b == 0).count() * 8)
                .unwrap_or(0);
                if bits < 2048 {
                    return None;
                }
                vec![
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ]
            }
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                vec![Algorithm::EdDSA]
            }
            // Symmetric and unknown keys are never used.
            _ => return None,
        };
        let named: Option<Algorithm> = match common.key_algorithm {
            None => None,
            Some(ka) => Some(key_alg(ka)?),
        };
        let algs: Vec<Algorithm> = by_type
            .into_iter()
            .filter(|a| named.is_none_or(|n| n == *a))
            .filter(|a| self.allowed.contains(a))
            .collect();
        if algs.is_empty() {
            return None;
        }
        let parsed: Vec<(Algorithm, ParsedPublicKey)> = algs
            .iter()
            .filter_map(|a| parse_for(jwk, *a).map(|k| (*a, k)))
            .collect();
        if parsed.is_empty() {
            return None;
        }
        Some(VerifyKey {
            kid: common.key_id.clone(),
            algs: parsed.iter().map(|(a, _)| *a).collect(),
            parsed,
        })
    }
}

fn key_alg(ka: KeyAlgorithm) -> Option<Algorithm> {
    Some(match ka {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// GET with the size cap; returns the body and the `Cache-Control` max-age, if any.
pub(crate) async fn get_limited(
    http: &Outbound,
    url: &str,
) -> Result<(Vec<u8>, Option<Duration>), String> {
    let mut res = http
        .get(url)
        .map_err(|why| format!("not fetched: {why}"))?
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {}", plain(&e)))?;
    if !res.status().is_success() {
        return Err(format!("{url} answered {}", res.status()));
    }
    let max_age = res
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(cache_max_age);
    read_limited(&mut res, url).await.map(|b| (b, max_age))
}

/// Reads a response body, refusing more than [`MAX_DOCUMENT`] bytes.
pub(crate) async fn read_limited(
    res: &mut reqwest::Response,
    url: &str,
) -> Result<Vec<u8>, String> {
    if res
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT as u64)
    {
        return Err(format!("{url} sent more than {MAX_DOCUMENT} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| format!("reading {url}: {}", plain(&e)))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT {
            return Err(format!("{url} sent more than {MAX_DOCUMENT} bytes"));
        }
    }
    Ok(body)
}

/// An HTTP error without the URL reqwest repeats in its message.
fn plain(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "the response body could not be read".into()
    } else {
        "the request failed".into()
    }
}

/// The lifetime a `Cache-Control` header grants: `max-age`, or zero for `no-store`/`no-cache`.
pub(crate) fn cache_max_age(v: &str) -> Option<Duration> {
    let mut out = None;
    for d in v.split(',').map(str::trim) {
        let d = d.to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = d.strip_prefix("max-age=") {
            out = n
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_is_read() {
        assert_eq!(
            cache_max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(cache_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(cache_max_age("public"), None);
    }
}
