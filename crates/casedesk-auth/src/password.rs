//! Local passwords: argon2id with the crate's defaults (19 MiB, 2 passes), as PHC strings.
//! Hashing takes tens of milliseconds of CPU, so it runs on the blocking pool.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use casedesk_core::{DomainError, Result};

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

/// Hashes a password after checking its length.
pub async fn hash_password(password: String) -> Result<String> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_LEN..=1024).contains(&n) {
        return Err(DomainError::field(
            "password",
            format!("must be {MIN_PASSWORD_LEN} to 1024 characters"),
        ));
    }
    // Spaces count toward the length, but a password of spaces alone is no secret.
    if password.chars().filter(|c| !c.is_whitespace()).count() < MIN_PASSWORD_LEN / 2 {
        return Err(DomainError::field(
            "password",
            format!(
                "must have at least {} characters that are not spaces",
                MIN_PASSWORD_LEN / 2
            ),
        ));
    }
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| DomainError::Internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| DomainError::Internal(format!("password hashing task: {e}")))?
}

/// Checks a password against a stored hash. Without a hash, a fixed dummy hash is checked
/// instead, so an unknown email costs as much time as a wrong password.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    let known = hash.is_some();
    let ok = tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(|| dummy_hash().to_owned());
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false);
    ok && known
}

/// A random password for bootstrap and demo users: 24 characters of base64url.
pub fn generate_password() -> Result<String> {
    crate::tokens::random_b64(18)
}

/// argon2id of a random string nobody knows, made once; only used to spend the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = crate::tokens::random_b64(18).unwrap_or_default();
        Argon2::default()
            .hash_password(secret.as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_only_against_its_own_hash() {
        let h = hash_password("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), Some(h.clone())).await);
        assert!(!verify_password("correct horse batterx".into(), Some(h)).await);
        assert!(!verify_password("anything".into(), None).await);
        assert!(hash_password("short".into()).await.is_err());
    }
}
