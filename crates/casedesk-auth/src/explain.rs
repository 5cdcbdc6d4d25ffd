//! The JWT explainer: every reason a pasted token fails, with the issuer's discovery document
//! and keys fetched the way bearer tokens are checked, but for an issuer the caller names.
//!
//! Fetches are bounded (5 s, 256 KiB documents, 100 keys), follow no redirect, and reach only
//! public addresses unless the URL policy allows private ones (tests, on-premise). Each issuer's
//! keys are cached like a trusted issuer's (10 minutes, at most one refetch per 30 s), so a
//! burst of tokens with made-up key ids costs the issuer one request. The token is neither
//! logged nor stored: the report carries its fingerprint.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use casedesk_core::diagnostics::jwt::{self, ALLOWED_ALGS, Finding, Question};
use casedesk_core::diagnostics::secrets::Tag;
use casedesk_core::outbound::UrlPolicy;
use jiff::Timestamp;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::net::{Limits, Outbound};
use crate::oidc::keys::{CachePolicy, KeyCache, KeyError};

/// Issuers whose keys are remembered at once; beyond this the oldest is forgotten.
const MAX_ISSUERS: usize = 200;

/// Explains tokens of any issuer.
pub struct JwtExplainer {
    /// The guarded client, or why it could not be built (reported as an unreachable issuer).
    http: Result<Outbound, String>,
    keys: CachePolicy,
    /// Keys the personal claims of a report, so a report names no one.
    tag: Tag,
    caches: Mutex<Vec<(String, Arc<KeyCache>)>>,
}

impl JwtExplainer {
    /// An explainer whose fetches follow `policy` (https only and public addresses only,
    /// unless the policy allows otherwise), its reports' personal claims keyed by `tag`.
    pub fn new(policy: UrlPolicy, tag: Tag) -> Self {
        Self::with_keys(
            policy,
            tag,
            CachePolicy {
                max_age: Duration::from_secs(600),
                refetch_interval: Duration::from_secs(30),
                unreachable_grace: Duration::from_secs(3600),
            },
        )
    }

    /// The same with other key-cache timings (tests).
    pub fn with_keys(policy: UrlPolicy, tag: Tag, keys: CachePolicy) -> Self {
        let limits = Limits {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(5),
        };
        Self {
            http: Outbound::new(
                policy,
                limits,
                concat!("casedesk-jwt-explainer/", env!("CARGO_PKG_VERSION")),
                2,
            ),
            keys,
            tag,
            caches: Mutex::new(Vec::new()),
        }
    }

    fn cache(&self, issuer: &str) -> Result<Arc<KeyCache>, String> {
        let http = self.http.clone()?;
        let mut all = self.caches.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, c)) = all.iter().find(|(i, _)| i == issuer) {
            return Ok(c.clone());
        }
        if all.len() >= MAX_ISSUERS {
            all.remove(0);
        }
        let allowed: Vec<Algorithm> = ALLOWED_ALGS.iter().filter_map(|a| a.parse().ok()).collect();
        let c = Arc::new(KeyCache::new(issuer, allowed, http, self.keys));
        all.push((issuer.to_owned(), c.clone()));
        Ok(c)
    }

    /// JWKS requests made for `issuer` so far (for tests).
    pub fn jwks_fetches(&self, issuer: &str) -> u64 {
        let all = self.caches.lock().unwrap_or_else(PoisonError::into_inner);
        all.iter()
            .find(|(i, _)| i == issuer)
            .map_or(0, |(_, c)| c.jwks_fetches())
    }

    /// The report on a token.
    pub async fn explain(&self, q: &Question, now: Timestamp) -> Value {
        let mut ins = jwt::inspect(&q.token);
        let mut failures = std::mem::take(&mut ins.failures);
        let mut warnings = std::mem::take(&mut ins.warnings);
        let claims = ins.claims.take();
        let token_iss = claims
            .as_ref()
            .and_then(|c| c.get("iss"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let issuer = match (&q.issuer, &token_iss) {
            (Some(i), _) => Some(i.clone()),
            (None, Some(i)) => {
                warnings.push(Finding::new(
                    "issuer_from_token",
                    format!("No issuer was given, so the token's own iss ({i}) was used to find keys. Name the issuer you expect to check the token against it."),
                    json!({"issuer": i}),
                ));
                Some(i.clone())
            }
            (None, None) => None,
        };
        let mut verified = false;
        let mut key_info = json!(null);
        let mut claim_issuer = issuer.clone();
        let checked = match &self.http {
            Ok(h) => issuer.as_deref().map(|i| h.check(i)),
            Err(e) => Some(Err(e.clone())),
        };
        if let (false, Some(iss), Some(checked)) = (ins.fatal, &issuer, checked) {
            match checked {
                Err(why) => failures.push(Finding::new(
                    "discovery_refused",
                    format!("The issuer URL was not fetched: {why}."),
                    json!({"issuer": iss}),
                )),
                Ok(_) => {
                    let (v, info, disc_issuer, mut f) = self.check_key(iss, &ins).await;
                    verified = v;
                    key_info = info;
                    if disc_issuer.is_some() {
                        claim_issuer = disc_issuer;
                    }
                    failures.append(&mut f);
                }
            }
        }
        let times = claims
            .as_ref()
            .map(|c| jwt::times(c, now))
            .unwrap_or(Value::Null);
        if let Some(c) = &claims {
            let (mut f, mut w) = jwt::check_claims(
                c,
                claim_issuer.as_deref(),
                q.audience.as_deref(),
                now,
                q.leeway,
            );
            failures.append(&mut f);
            warnings.append(&mut w);
        }
        json!({
            "valid": failures.is_empty() && verified,
            "token_fingerprint": ins.fingerprint,
            "bearer_prefix_removed": ins.stripped,
            "server_time": now.to_string(),
            "leeway_seconds": q.leeway,
            "header": jwt::report_header(&ins.header),
            "claims": claims.as_ref().map(|c| jwt::report_claims(c, &self.tag)),
            "claims_trusted": verified,
            "times": times,
            "issuer": issuer,
            "expected_audience": q.audience,
            "keys": key_info,
            "failures": failures.iter().map(Finding::to_json).collect::<Vec<_>>(),
            "warnings": warnings.iter().map(Finding::to_json).collect::<Vec<_>>(),
        })
    }

    /// Discovery, the key and the signature: whether it verified, what was fetched, the
    /// issuer named by discovery, and the failures.
    async fn check_key(
        &self,
        iss: &str,
        ins: &jwt::Inspection,
    ) -> (bool, Value, Option<String>, Vec<Finding>) {
        let mut failures = Vec::new();
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            iss.trim_end_matches('/')
        );
        let cache = match self.cache(iss) {
            Ok(c) => c,
            Err(e) => {
                failures.push(unavailable(KeyError::Unavailable(e), iss, &discovery_url));
                return (false, json!({"discovery": discovery_url}), None, failures);
            }
        };
        let disc = match cache.discovery().await {
            Ok(d) => d,
            Err(e) => {
                failures.push(unavailable(e, iss, &discovery_url));
                return (false, json!({"discovery": discovery_url}), None, failures);
            }
        };
        let alg: Option<Algorithm> = ins
            .header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok());
        let kid = ins.header.get("kid").and_then(Value::as_str);
        let mut verified = false;
        if let Some(alg) = alg {
            match cache.key(kid, alg).await {
                Ok(k) => {
                    if k.verify(alg, ins.signing_input.as_bytes(), &ins.signature) {
                        verified = true;
                    } else {
                        failures.push(Finding::new(
                            "signature_invalid",
                            format!(
                                "The signature does not verify with the key {} published by {iss}: the token was altered, or signed by another key with the same kid.",
                                kid.unwrap_or("(no kid)")
                            ),
                            json!({"kid": kid}),
                        ));
                    }
                }
                Err(KeyError::UnknownKey) => {
                    let kids: Vec<String> = cache
                        .published()
                        .into_iter()
                        .filter_map(|(k, _)| k)
                        .collect();
                    failures.push(Finding::new(
                        "kid_not_found",
                        format!(
                            "{iss} publishes no key {}. The token comes from another tenant or environment, or its key was rotated out. Published: {}.",
                            kid.unwrap_or("(no kid) for this algorithm"),
                            if kids.is_empty() { "none".to_owned() } else { kids.join(", ") }
                        ),
                        json!({"kid": kid, "published": kids}),
                    ));
                }
                Err(KeyError::AlgorithmMismatch) => failures.push(Finding::new(
                    "key_alg_mismatch",
                    format!(
                        "The key {} is published for another algorithm than the token's {alg:?}.",
                        kid.unwrap_or("")
                    ),
                    json!({"kid": kid, "alg": format!("{alg:?}")}),
                )),
                Err(KeyError::Ambiguous) => failures.push(Finding::new(
                    "kid_ambiguous",
                    "The token names no kid and the issuer publishes several keys that fit.",
                    json!({}),
                )),
                Err(e) => failures.push(unavailable(e, iss, &disc.jwks_uri)),
            }
        }
        let published: Vec<Value> = cache
            .published()
            .into_iter()
            .map(|(k, a)| json!({"kid": k, "algs": a.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>()}))
            .collect();
        (
            verified,
            json!({"discovery": discovery_url, "jwks_uri": disc.jwks_uri, "published": published}),
            Some(disc.issuer.clone()),
            failures,
        )
    }
}

fn unavailable(e: KeyError, iss: &str, url: &str) -> Finding {
    let msg = match e {
        KeyError::Unavailable(m) => m,
        other => format!("{other:?}"),
    };
    if let Some(why) = msg.strip_prefix("not fetched: ") {
        let (code, what) = if why.contains(".well-known") {
            ("discovery_refused", "the discovery document")
        } else {
            ("jwks_refused", "the keys (jwks_uri)")
        };
        Finding::new(
            code,
            format!(
                "casedesk did not fetch {what}: {why}. The address guard refuses private and local addresses, whoever names them."
            ),
            json!({"url": url}),
        )
    } else if msg.contains("names the issuer") {
        Finding::new(
            "discovery_issuer_mismatch",
            format!("The discovery document of {iss} names another issuer: {msg}"),
            json!({"issuer": iss}),
        )
    } else if msg.contains(".well-known") {
        Finding::new(
            "discovery_unreachable",
            format!("The discovery document could not be read: {msg}"),
            json!({"url": url}),
        )
    } else {
        Finding::new(
            "jwks_unreachable",
            format!("The issuer's keys could not be read: {msg}"),
            json!({"url": url}),
        )
    }
}
