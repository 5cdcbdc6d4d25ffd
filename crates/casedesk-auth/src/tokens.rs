//! API tokens: 32 random bytes, shown once as `cdk_<base64url>`, and stored only as SHA-256.
//! A slow password hash is not needed: the tokens carry 256 bits of entropy, so a leaked
//! hash cannot be brute-forced, and a fast hash keeps every request cheap.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
    let secret = format!("{TOKEN_PREFIX}{}", random_b64(32)?);
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

/// `n` random bytes as base64url, for secrets (tokens, session ids, OAuth state).
pub fn random_b64(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)
        .map_err(|e| DomainError::Internal(format!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Compares two secrets in constant time (for CSRF tokens and OAuth state).
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
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
