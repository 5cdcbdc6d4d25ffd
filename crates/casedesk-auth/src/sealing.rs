//! Secrets casedesk must be able to read back (webhook signing secrets) are sealed with
//! AES-256-GCM under the server key before they are stored; the database alone never holds
//! them in the clear. Each sealed value is `v1.<base64 nonce ‖ ciphertext ‖ tag>`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use casedesk_core::webhooks::SecretBox;
use casedesk_core::{DomainError, Result};

/// Bytes of a server key.
pub const KEY_LEN: usize = 32;

/// Seals and opens secrets with one server key; generates webhook secrets.
pub struct ServerKey {
    key: LessSafeKey,
    derive: aws_lc_rs::hmac::Key,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

impl ServerKey {
    /// A key from 32 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| DomainError::field("secret_key", "must be 32 bytes"))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            derive: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, bytes),
        })
    }

    /// A key from its base64 text form.
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| DomainError::field("secret_key", "must be base64"))?;
        if bytes.len() != KEY_LEN {
            return Err(DomainError::field(
                "secret_key",
                "must be 32 bytes (44 characters of base64)",
            ));
        }
        Self::new(&bytes)
    }

    /// A new random key in base64, for a new installation.
    pub fn generate_base64() -> Result<String> {
        let mut b = [0u8; KEY_LEN];
        getrandom::fill(&mut b).map_err(|e| DomainError::Internal(format!("random: {e}")))?;
        Ok(STANDARD.encode(b))
    }
}

impl SecretBox for ServerKey {
    fn derive(&self, purpose: &str) -> [u8; 32] {
        let tag = aws_lc_rs::hmac::sign(&self.derive, purpose.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(&tag.as_ref()[..32]);
        out
    }

    fn generate(&self) -> Result<String> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| DomainError::Internal(format!("random: {e}")))?;
        Ok(format!("whsec_{}", STANDARD.encode(b)))
    }

    fn seal(&self, secret: &str) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| DomainError::Internal(format!("random: {e}")))?;
        let mut data = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(b"casedesk-secret"),
                &mut data,
            )
            .map_err(|_| DomainError::Internal("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("v1.{}", STANDARD.encode(out)))
    }

    fn open(&self, sealed: &str) -> Result<String> {
        let bad = || {
            DomainError::Internal(
                "a stored secret cannot be opened with this server key (was secret_key changed, or do the nodes use different keys?)".into(),
            )
        };
        let raw = sealed
            .strip_prefix("v1.")
            .and_then(|b| STANDARD.decode(b).ok())
            .ok_or_else(bad)?;
        if raw.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(b"casedesk-secret"), &mut buf)
            .map_err(|_| bad())?;
        String::from_utf8(plain.to_vec()).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let k = ServerKey::from_base64(&ServerKey::generate_base64().unwrap()).unwrap();
        let s = k.generate().unwrap();
        assert!(s.starts_with("whsec_"));
        let sealed = k.seal(&s).unwrap();
        assert!(!sealed.contains(&s[6..]), "the secret must not be readable");
        assert_eq!(k.open(&sealed).unwrap(), s);
        let other = ServerKey::from_base64(&ServerKey::generate_base64().unwrap()).unwrap();
        assert!(other.open(&sealed).is_err());
        assert!(ServerKey::from_base64("c2hvcnQ=").is_err());
    }
}
