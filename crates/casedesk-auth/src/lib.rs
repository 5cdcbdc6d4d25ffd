//! Credentials. This issue brings API tokens; OpenID Connect sign-in and bearer JWTs arrive
//! here later, behind the same [`authenticate`] seam.
//!
//! API tokens are 32 random bytes, shown once as `cdk_<base64url>`, and stored only as
//! SHA-256. A slow password hash is not needed: the tokens carry 256 bits of entropy, so a
//! leaked hash cannot be brute-forced, and a fast hash keeps every request cheap.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use casedesk_core::store::Store;
use casedesk_core::users::Principal;
use casedesk_core::{DomainError, Result};
use sha2::{Digest, Sha256};

/// The prefix of every casedesk API token, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "cdk_";

/// A freshly generated token: the secret to show once, and the hash to store.
pub struct NewToken {
    /// The token, shown to its owner once.
    pub secret: String,
    /// SHA-256 of the token, hex; what the database keeps.
    pub hash: String,
}

/// Generates a new random API token.
pub fn generate_token() -> Result<NewToken> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| DomainError::Internal(format!("no randomness: {e}")))?;
    let secret = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_token(&secret);
    Ok(NewToken { secret, hash })
}

/// SHA-256 of a token, hex.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A stable fingerprint of a request body, for idempotency keys.
pub fn fingerprint(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Why a credential was refused; never contains the credential. OpenID Connect will add
/// the reasons a JWT fails (expired, audience, issuer, unknown key, signature, algorithm).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The token is not one casedesk issued, or was revoked.
    Unknown,
}

/// Resolves a bearer credential to the caller.
pub async fn authenticate(
    store: &dyn Store,
    bearer: &str,
) -> Result<std::result::Result<Principal, Refusal>> {
    if !bearer.starts_with(TOKEN_PREFIX) || bearer.len() > 200 {
        return Ok(Err(Refusal::Unknown));
    }
    Ok(match store.find_token(&hash_token(bearer)).await? {
        Some((user, scopes)) => Ok(Principal { user, scopes }),
        None => Err(Refusal::Unknown),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = generate_token().ok();
        let b = generate_token().ok();
        let (Some(a), Some(b)) = (a, b) else {
            panic!("randomness")
        };
        assert!(a.secret.starts_with(TOKEN_PREFIX));
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.hash, hash_token(&a.secret));
        assert!(!a.hash.contains(&a.secret[4..]));
        assert_eq!(a.hash.len(), 64);
    }
}
