//! Links sent by email that open one thing without signing in: an HMAC of what the link is
//! for and whose it is, under a key derived from the server key. Nothing is stored, every
//! node computes the same token, and a token opens only its own record for its own purpose.

use uuid::Uuid;

fn mac(key: &[u8; 32], purpose: &str, id: Uuid) -> Option<hmac::Hmac<sha2::Sha256>> {
    use hmac::Mac;
    // HMAC takes a key of any length, so this never fails with 32 bytes.
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(purpose.as_bytes());
    mac.update(b"\n");
    mac.update(id.as_bytes());
    Some(mac)
}

/// The token of the link that opens `id` for `purpose`.
pub fn token(key: &[u8; 32], purpose: &str, id: Uuid) -> String {
    use base64::Engine;
    use hmac::Mac;
    mac(key, purpose, id)
        .map(|m| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Whether `token` is the link token of `id` for `purpose` (compared in constant time).
pub fn ok(key: &[u8; 32], purpose: &str, id: Uuid, token: &str) -> bool {
    use base64::Engine;
    use hmac::Mac;
    match (
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim()),
        mac(key, purpose, id),
    ) {
        (Ok(bytes), Some(mac)) => mac.verify_slice(&bytes).is_ok(),
        _ => false,
    }
}
