//! OpenID Connect: trusted issuers, bearer JWT validation, and web sign-in.

pub mod config;
pub mod jwt;
pub mod keys;
pub mod login;
pub mod mapping;

use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::error::Refusal;
pub use config::{AuthConfig, IssuerConfig, Provisioning};
use jwt::Expect;
use keys::{CachePolicy, KeyCache, KeyError};

/// Why a token could not be checked at all (as opposed to being refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The token was checked and refused.
    Refused(Refusal),
    /// The provider's keys cannot be had; the token may be fine.
    Unavailable {
        /// Issuer name.
        issuer: String,
        /// Why, for logs.
        reason: String,
    },
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused(r)
    }
}

/// A trusted issuer: its settings and its key cache.
pub struct Issuer {
    /// Settings.
    pub config: IssuerConfig,
    /// Accepted algorithms.
    pub algorithms: Vec<Algorithm>,
    /// Discovery and keys.
    pub keys: KeyCache,
}

impl Issuer {
    /// Builds an issuer from validated settings.
    pub fn new(
        config: IssuerConfig,
        http: crate::net::Outbound,
    ) -> Result<Self, config::ConfigError> {
        let algorithms = config.validate()?;
        let keys = KeyCache::new(
            &config.issuer,
            algorithms.clone(),
            http,
            CachePolicy {
                max_age: Duration::from_secs(config.key_cache_seconds),
                refetch_interval: Duration::from_secs(config.refetch_interval_seconds),
                unreachable_grace: Duration::from_secs(config.unreachable_grace_seconds),
            },
        );
        Ok(Issuer {
            config,
            algorithms,
            keys,
        })
    }

    /// Verifies a parsed token of this issuer: header policy, key, signature, claims.
    pub async fn verify(
        &self,
        parsed: &jwt::Parsed<'_>,
        expect: &Expect<'_>,
        extra_algs: Option<&[String]>,
    ) -> Result<(), Failure> {
        let alg = jwt::check_alg(&parsed.header.alg, &self.algorithms)?;
        if let Some(supported) = extra_algs
            && !supported.is_empty()
            && !supported.iter().any(|a| a == &parsed.header.alg)
        {
            return Err(Refusal::Algorithm(
                "the provider does not sign ID tokens with this algorithm",
            )
            .into());
        }
        jwt::check_header(&parsed.header, &parsed.claims, expect)?;
        let key = self
            .keys
            .key(parsed.header.kid.as_deref(), alg)
            .await
            .map_err(|e| match e {
                KeyError::UnknownKey | KeyError::Ambiguous => Failure::Refused(Refusal::UnknownKey),
                KeyError::AlgorithmMismatch => Failure::Refused(Refusal::Algorithm(
                    "the key named by the token is for another algorithm",
                )),
                KeyError::Unavailable(reason) => Failure::Unavailable {
                    issuer: self.config.name.clone(),
                    reason,
                },
            })?;
        let signature = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            parsed.signature,
        )
        .map_err(|_| Refusal::Signature)?;
        if !key.verify(alg, parsed.signed.as_bytes(), &signature) {
            return Err(Refusal::Signature.into());
        }
        jwt::check_claims(
            &parsed.claims,
            &self.config.issuer,
            expect,
            jiff::Timestamp::now().as_second(),
            self.config.skew(),
        )?;
        Ok(())
    }
}

/// The verified claims of an access token and the issuer that signed it.
pub struct Verified<'a> {
    /// The issuer.
    pub issuer: &'a Issuer,
    /// The claims.
    pub claims: Map<String, Value>,
}

/// Verifies a bearer JWT against the configured issuers.
pub async fn verify_access_token<'a>(
    issuers: &'a [Issuer],
    token: &str,
) -> Result<Verified<'a>, Failure> {
    let parsed = jwt::parse(token)?;
    let iss = jwt::peek_issuer(&parsed.claims).ok_or(Refusal::MissingClaim("iss"))?;
    let issuer = issuers
        .iter()
        .find(|i| i.config.issuer == iss)
        .ok_or(Refusal::UntrustedIssuer)?;
    let expect = Expect::AccessToken {
        audiences: &issuer.config.audience,
        require_typ: issuer.config.require_typ,
    };
    issuer.verify(&parsed, &expect, None).await?;
    Ok(Verified {
        issuer,
        claims: parsed.claims,
    })
}
