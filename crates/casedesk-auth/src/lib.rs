//! Credentials: API tokens, bearer JWTs from trusted OpenID Connect issuers, local
//! passwords and web sign-in. [`Authenticator::authenticate`] turns a bearer credential into
//! the caller, or says precisely why not.

mod error;
pub mod explain;
pub mod net;
pub mod oidc;
pub mod password;
pub mod sealing;
pub mod tokens;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use casedesk_core::now;
use casedesk_core::permissions::ElevatedLimits;
use casedesk_core::store::Store;
use casedesk_core::users::Principal;
use uuid::Uuid;

pub use error::{AuthError, Refusal};
pub use oidc::{AuthConfig, Failure, Issuer, IssuerConfig};
pub use tokens::{TOKEN_PREFIX, fingerprint, generate_token, hash_token};

/// Last use is written at most this often per token.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// A verified JWT is trusted again without its signature check for at most this long (and
/// never past its `exp` or the freshness of the keys that verified it).
const VERIFIED_FOR: Duration = Duration::from_secs(60);
/// Verified JWTs remembered; the map is emptied when full, so memory stays bounded.
const VERIFIED_MAX: usize = 10_000;

/// A JWT that passed every check, remembered by the SHA-256 of the whole token (so any
/// change to it, signature included, misses).
struct Verified {
    issuer: usize,
    claims: Arc<serde_json::Map<String, serde_json::Value>>,
    until: Instant,
    generation: u64,
}

/// Turns bearer credentials into callers.
pub struct Authenticator {
    store: Arc<dyn Store>,
    issuers: Vec<Issuer>,
    limits: ElevatedLimits,
    http: net::Outbound,
    config: AuthConfig,
    touched: Mutex<HashMap<Uuid, Instant>>,
    verified: Mutex<HashMap<[u8; 32], Verified>>,
}

impl Authenticator {
    /// Builds the authenticator and its issuers (no network until a token needs keys).
    pub fn new(
        store: Arc<dyn Store>,
        config: AuthConfig,
        limits: ElevatedLimits,
    ) -> Result<Self, oidc::config::ConfigError> {
        let timeout = config
            .issuers
            .iter()
            .map(|i| i.http_timeout_seconds)
            .min()
            .unwrap_or(5);
        // Provider calls go through the address guard like every request casedesk sends;
        // the operator configured these issuers, so private addresses are theirs to use.
        let http = net::Outbound::new(
            casedesk_core::outbound::UrlPolicy::operator(),
            net::Limits {
                connect: Duration::from_secs(timeout),
                total: Duration::from_secs(timeout),
            },
            concat!("casedesk/", env!("CARGO_PKG_VERSION")),
            8,
        )
        .map_err(|message| oidc::config::ConfigError {
            name: "*".into(),
            setting: "http",
            message,
        })?;
        let mut issuers = Vec::new();
        for c in &config.issuers {
            if issuers.iter().any(|i: &Issuer| i.config.name == c.name) {
                return Err(oidc::config::ConfigError {
                    name: c.name.clone(),
                    setting: "name",
                    message: "two issuers have this name".into(),
                });
            }
            issuers.push(Issuer::new(c.clone(), http.clone())?);
        }
        Ok(Authenticator {
            store,
            issuers,
            limits,
            http,
            config,
            touched: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The sign-in settings.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The trusted issuers.
    pub fn issuers(&self) -> &[Issuer] {
        &self.issuers
    }

    /// An issuer by name.
    pub fn issuer(&self, name: &str) -> Option<&Issuer> {
        self.issuers.iter().find(|i| i.config.name == name)
    }

    /// The guarded HTTP client for provider calls.
    pub fn http(&self) -> &net::Outbound {
        &self.http
    }

    /// The elevated-contact caps (for users created from tokens).
    pub fn limits(&self) -> &ElevatedLimits {
        &self.limits
    }

    /// Whether local passwords are accepted.
    pub fn local_accounts(&self) -> bool {
        self.config
            .local_accounts
            .unwrap_or_else(|| !self.issuers.iter().any(|i| i.config.client_id.is_some()))
    }

    /// Resolves a bearer credential (an API token or a JWT) to the caller.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        if bearer.starts_with(TOKEN_PREFIX) {
            return self.api_token(bearer).await;
        }
        if bearer.matches('.').count() < 2 {
            return Err(AuthError::Refused(Refusal::Unknown));
        }
        if self.issuers.is_empty() {
            return Err(AuthError::Refused(Refusal::UntrustedIssuer));
        }
        let (issuer, claims) = self.verify_jwt(bearer).await?;
        let p =
            oidc::mapping::principal(self.store.as_ref(), &self.limits, &issuer.config, &claims)
                .await?;
        Ok(p)
    }

    /// Verifies a JWT, or reuses the verification of the same token made moments ago: the
    /// signature check is most of a request's credential cost, and clients send the same
    /// access token many times.
    async fn verify_jwt(
        &self,
        bearer: &str,
    ) -> Result<(&Issuer, Arc<serde_json::Map<String, serde_json::Value>>), AuthError> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(bearer.as_bytes()).into();
        {
            let map = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(v) = map.get(&digest)
                && Instant::now() < v.until
                && let Some(issuer) = self.issuers.get(v.issuer)
                && issuer.keys.generation() == v.generation
            {
                return Ok((issuer, Arc::clone(&v.claims)));
            }
        }
        // Read before verifying: if keys change meanwhile, the entry is simply not reused.
        let generations: Vec<u64> = self.issuers.iter().map(|i| i.keys.generation()).collect();
        let verified = match oidc::verify_access_token(&self.issuers, bearer).await {
            Ok(v) => v,
            Err(Failure::Refused(r)) => {
                metrics::counter!("casedesk_jwt_refusals_total", "reason" => r.code()).increment(1);
                tracing::info!(reason = r.code(), token = %&hex::encode(digest)[..12], "bearer JWT refused");
                return Err(AuthError::Refused(r));
            }
            Err(Failure::Unavailable { issuer, reason }) => {
                tracing::warn!(%issuer, %reason, "no usable keys for a bearer JWT");
                return Err(AuthError::Unavailable { issuer });
            }
        };
        let index = self
            .issuers
            .iter()
            .position(|i| std::ptr::eq(i, verified.issuer))
            .unwrap_or(0);
        let claims = Arc::new(verified.claims);
        let now = Instant::now();
        let exp_in = claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .map(|e| e.saturating_sub(jiff::Timestamp::now().as_second()))
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::ZERO);
        let mut until = now + VERIFIED_FOR.min(exp_in);
        if let Some(fresh) = verified.issuer.keys.fresh_until() {
            until = until.min(fresh);
        }
        {
            let mut map = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            if map.len() >= VERIFIED_MAX {
                map.clear();
            }
            map.insert(
                digest,
                Verified {
                    issuer: index,
                    claims: Arc::clone(&claims),
                    until,
                    generation: generations.get(index).copied().unwrap_or(u64::MAX),
                },
            );
        }
        Ok((verified.issuer, claims))
    }

    async fn api_token(&self, bearer: &str) -> Result<Principal, AuthError> {
        if bearer.len() > 200 {
            return Err(AuthError::Refused(Refusal::Unknown));
        }
        let Some((user, token)) = self.store.find_token(&hash_token(bearer)).await? else {
            return Err(AuthError::Refused(Refusal::Unknown));
        };
        // Deactivation deletes the user's tokens; this holds if one was cached a moment before.
        if !user.active() {
            return Err(AuthError::Refused(Refusal::Unknown));
        }
        self.touch(token.id, token.last_used_at);
        let scopes = user.effective_scopes(&token.scopes);
        Ok(Principal {
            user,
            scopes,
            origin: Default::default(),
        })
    }

    /// Records last use in the background, at most once a minute per token and process.
    fn touch(&self, id: Uuid, last: Option<casedesk_core::Timestamp>) {
        let now_ts = now();
        let recent_in_db =
            last.is_some_and(|l| now_ts.duration_since(l).unsigned_abs() < TOUCH_EVERY);
        if recent_in_db {
            return;
        }
        {
            let mut map = self.touched.lock().unwrap_or_else(PoisonError::into_inner);
            if map.get(&id).is_some_and(|t| t.elapsed() < TOUCH_EVERY) {
                return;
            }
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(id, Instant::now());
        }
        let store = Arc::clone(&self.store);
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(id, now_ts).await {
                tracing::warn!(error = %e, "cannot record token use");
            }
        });
    }
}
