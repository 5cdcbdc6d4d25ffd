//! One detector for secrets in free text: case descriptions, replies, received email, text
//! attachments and every string of a HAR file. What it finds is replaced by a marker before the
//! text is stored, and the kinds found are reported so the author can be told to rotate them.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use base64::Engine;
use hmac::{Hmac, Mac};
use regex::{Captures, Regex};
use sha2::Sha256;

use crate::{DomainError, Result};

/// How a redacted value is tagged.
#[derive(Clone)]
pub enum Tag {
    /// `[REDACTED:<rule>]`: free text, where nothing needs to be linked.
    Plain,
    /// `[REDACTED:<rule>:<h8>]`, `h8` the first 8 hex digits of HMAC-SHA256(key, value):
    /// equal values stay linkable within one case, and a short password cannot be found again
    /// by hashing guesses without the key.
    Keyed(Hmac<Sha256>),
}

impl Tag {
    /// A keyed tag from 32 bytes of key.
    pub fn keyed(key: &[u8; 32]) -> Result<Tag> {
        Hmac::<Sha256>::new_from_slice(key)
            .map(Tag::Keyed)
            .map_err(|_| DomainError::Internal("tag key".into()))
    }

    /// The first 8 hex digits of the keyed hash (empty for a plain tag).
    pub fn h8(&self, value: &str) -> Option<String> {
        match self {
            Tag::Plain => None,
            Tag::Keyed(mac) => {
                let mut m = mac.clone();
                m.update(value.as_bytes());
                let out = m.finalize().into_bytes();
                Some(hex::encode(&out[..4]))
            }
        }
    }

    /// The marker that replaces `value` found by `rule`.
    pub fn marker(&self, rule: &str, value: &str) -> String {
        match self.h8(value) {
            Some(h) => format!("[REDACTED:{rule}:{h}]"),
            None => format!("[REDACTED:{rule}]"),
        }
    }
}

/// What was found, by rule, and the JWT claims kept as evidence.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Found {
    /// Hits per rule.
    pub counts: BTreeMap<&'static str, usize>,
    /// Header and allow-listed claims of each JWT found (its signature and the rest dropped).
    pub tokens: Vec<serde_json::Value>,
}

impl Found {
    /// Counts one hit of `rule`.
    pub fn hit(&mut self, rule: &'static str) {
        *self.counts.entry(rule).or_default() += 1;
    }

    /// Nothing was found.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Redacts `value` found by `rule`: counts the hit, keeps a JWT's header and allowed
    /// claims as evidence (whatever rule found it), and answers the marker that replaces it.
    pub fn redact(&mut self, rule: &'static str, value: &str, tag: &Tag) -> String {
        self.hit(rule);
        if value.starts_with("eyJ")
            && value.matches('.').count() >= 2
            && self.tokens.len() < MAX_TOKENS
            && let Some(t) = jwt_evidence(value, tag)
            && !self.tokens.contains(&t)
        {
            self.tokens.push(t);
        }
        tag.marker(rule, value)
    }

    /// Adds another report's hits.
    pub fn merge(&mut self, other: Found) {
        for (k, v) in other.counts {
            *self.counts.entry(k).or_default() += v;
        }
        self.tokens.extend(other.tokens);
    }

    /// What a person is told: the kinds removed, in words, and the advice.
    pub fn notice(&self) -> serde_json::Value {
        let kinds: Vec<serde_json::Value> = self
            .counts
            .iter()
            .map(|(rule, n)| serde_json::json!({"kind": rule, "what": describe(rule), "count": n}))
            .collect();
        serde_json::json!({
            "removed": kinds,
            "advice": "casedesk removed these values before storing your text. Anyone who saw \
                       them before may still use them: revoke or rotate each one (sign out the \
                       session, rotate the client secret or key, change the password).",
        })
    }
}

/// A rule's name in words.
pub fn describe(rule: &str) -> &'static str {
    match rule {
        "jwt" => "a signed or encrypted token (JWT)",
        "private_key" => "a private key",
        "authorization" => "a credential after Bearer, Basic, SSWS or DPoP",
        "url_password" => "a password inside a URL",
        "aws_access_key" => "an AWS access key ID",
        "api_token" => "a casedesk API token or webhook secret",
        "saml" => "a SAML message",
        "secret_parameter" => "the value of a secret-named field (password, client_secret, token…)",
        "cookie" => "a cookie value",
        "header" => "a credential header value",
        "pii" => "a person's email or login name",
        "body_dropped" => "a response or request body that could not be scrubbed safely",
        _ => "a secret",
    }
}

/// Most tokens whose claims are kept as evidence from one text or file.
const MAX_TOKENS: usize = 20;

/// Names whose values are credentials wherever they appear (compared in lower case).
pub const SECRET_NAMES: [&str; 27] = [
    "access_token",
    "id_token",
    "refresh_token",
    "token",
    "code",
    "code_verifier",
    "client_secret",
    "client_assertion",
    "assertion",
    "device_code",
    "user_code",
    "samlrequest",
    "samlresponse",
    "relaystate",
    "password",
    "passwd",
    "pwd",
    "passcode",
    "otp",
    "answer",
    "sessiontoken",
    "statetoken",
    "statehandle",
    "interaction_handle",
    "authenticity_token",
    "api_key",
    "apikey",
];

/// Whether a field, parameter or JSON member of this name holds a credential.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    SECRET_NAMES.contains(&n.as_str())
        || ["secret", "private_key", "client_secret"].contains(&n.as_str())
        || n.starts_with("csrf")
        || n.starts_with("xsrf")
        || n.starts_with("_csrf")
        || n.starts_with("credentials.")
        || n.ends_with("password")
        || n.ends_with("_secret")
        || n.ends_with("_token")
}

/// Whether a name holds a person's identity (tagged, so one user can still be followed).
pub fn is_pii_name(name: &str) -> bool {
    matches!(
        name.trim().to_ascii_lowercase().as_str(),
        "email" | "login" | "username" | "login_hint" | "user"
    )
}

/// Whether a name is hashed rather than removed: not a credential, but matching it across the
/// authorize request, the callback and the error explains `state` and `nonce` mismatches.
pub fn is_hashed_name(name: &str) -> bool {
    matches!(name.trim().to_ascii_lowercase().as_str(), "state" | "nonce")
}

const PATTERN: &str = concat!(
    // PEM private keys, to their end (or the end of the text when cut short).
    r"(?P<pem>-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z))",
    // JWS (three segments) and JWE (five), the header being base64url JSON.
    r"|(?P<jwt>\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?)",
    // A credential after its scheme word.
    r"|(?P<scheme>\b(?i:bearer|basic|ssws|dpop)[ \t]+)(?P<cred>[A-Za-z0-9._~+/=-]{12,})",
    // scheme://user:password@host
    r"|(?P<urlcred>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)(?P<urlpw>[^/\s@]+)@",
    r"|(?P<aws>\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)",
    r"|(?P<cdk>\b(?:cdk|whsec)_[A-Za-z0-9+/=_-]{16,})",
    // Base64 SAML protocol messages (<samlp:… or <saml:…).
    r"|(?P<saml>\bPHNhbWxw[A-Za-z0-9+/=]{16,}|\bPHNhbWw6[A-Za-z0-9+/=]{16,})",
    // name = value, name: value, "name": "value" for secret-named fields.
    r#"|(?P<key>\b(?i:client_secret|client_assertion|password|passwd|pwd|passcode|api[_-]?key|apikey|access_token|refresh_token|id_token|private_key|device_code|code_verifier|sessiontoken|samlresponse|samlrequest|secret)["']?[ \t]*[:=][ \t]*["']?)(?P<val>[^\s"'&,;<>\[][^\s"'&,;<>]{2,})"#,
    // An authorization code or token in a URL's query or fragment.
    r#"|(?P<qk>[?&#](?i:code|token)=)(?P<qv>[^&#\s"'<>\[][^&#\s"'<>]{3,})"#,
);

static DETECTOR: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(PATTERN).ok());

fn detector() -> Result<&'static Regex> {
    DETECTOR
        .as_ref()
        .ok_or_else(|| DomainError::Internal("secret detector did not compile".into()))
}

/// Scrubs `text`: every secret found is replaced by a marker. Returns `None` when nothing was
/// found (the text is kept as it is).
pub fn scrub(text: &str, tag: &Tag, found: &mut Found) -> Result<Option<String>> {
    let re = detector()?;
    if !re.is_match(text) {
        return Ok(None);
    }
    let mut hit = false;
    let out = re.replace_all(text, |c: &Captures| {
        let whole = c.get(0).map_or("", |m| m.as_str());
        if let Some(m) = c.name("pem") {
            hit = true;
            return found.redact("private_key", m.as_str(), tag);
        }
        if let Some(m) = c.name("jwt") {
            hit = true;
            return found.redact("jwt", m.as_str(), tag);
        }
        if let (Some(s), Some(v)) = (c.name("scheme"), c.name("cred")) {
            if !looks_like_credential(s.as_str(), v.as_str()) {
                return whole.to_owned();
            }
            hit = true;
            return format!(
                "{}{}",
                s.as_str(),
                found.redact("authorization", v.as_str(), tag)
            );
        }
        if let (Some(p), Some(v)) = (c.name("urlcred"), c.name("urlpw")) {
            hit = true;
            return format!(
                "{}{}@",
                p.as_str(),
                found.redact("url_password", v.as_str(), tag)
            );
        }
        for (group, rule) in [
            ("aws", "aws_access_key"),
            ("cdk", "api_token"),
            ("saml", "saml"),
        ] {
            if let Some(m) = c.name(group) {
                hit = true;
                return found.redact(rule, m.as_str(), tag);
            }
        }
        for (k, v) in [("key", "val"), ("qk", "qv")] {
            if let (Some(k), Some(v)) = (c.name(k), c.name(v)) {
                hit = true;
                return format!(
                    "{}{}",
                    k.as_str(),
                    found.redact("secret_parameter", v.as_str(), tag)
                );
            }
        }
        whole.to_owned()
    });
    Ok(hit.then(|| out.into_owned()))
}

/// Scrubs a text in place; true when something was removed.
pub fn scrub_in_place(text: &mut String, tag: &Tag, found: &mut Found) -> Result<bool> {
    match scrub(text, tag, found)? {
        Some(s) => {
            *text = s;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Prose says "basic authentication" or "bearer tokens"; a credential has a digit or a mark,
/// and Basic is base64 of `user:password`.
fn looks_like_credential(scheme: &str, value: &str) -> bool {
    if scheme.trim().eq_ignore_ascii_case("basic") {
        return base64::engine::general_purpose::STANDARD
            .decode(value)
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(value.trim_end_matches('='))
            })
            .map(|b| b.contains(&b':'))
            .unwrap_or(false);
    }
    value.len() >= 16
        && value
            .chars()
            .any(|c| c.is_ascii_digit() || "._~+/-=".contains(c))
}

/// Claims of a JWT that are kept as evidence: who issued it, for whom, when; never the subject
/// or personal claims.
pub const KEPT_CLAIMS: [&str; 9] = [
    "iss",
    "aud",
    "azp",
    "client_id",
    "exp",
    "iat",
    "nbf",
    "scope",
    "typ",
];

/// The header (`alg`, `kid`, `typ`) and kept claims of a JWT, with its tag; `None` when the
/// header does not decode.
pub fn jwt_evidence(token: &str, tag: &Tag) -> Option<serde_json::Value> {
    let mut parts = token.split('.');
    let dec = |s: &str| -> Option<serde_json::Value> {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice::<serde_json::Value>(&b).ok()
    };
    let header = dec(parts.next()?)?;
    let mut h = serde_json::Map::new();
    for k in ["alg", "kid", "typ", "enc"] {
        if let Some(v) = header.get(k).filter(|v| v.is_string()) {
            h.insert(k.to_owned(), v.clone());
        }
    }
    let segments = token.split('.').count();
    let mut claims = serde_json::Map::new();
    if segments == 3
        && let Some(payload) = parts.next().and_then(dec)
    {
        for k in KEPT_CLAIMS {
            if let Some(v) = payload.get(k) {
                claims.insert(k.to_owned(), v.clone());
            }
        }
        for k in ["nonce", "at_hash"] {
            if payload.get(k).is_some() {
                claims.insert(format!("has_{k}"), serde_json::Value::Bool(true));
            }
        }
    }
    let mut out = serde_json::json!({"header": h, "claims": claims,
        "encrypted": segments == 5});
    if let (Some(h8), Some(o)) = (tag.h8(token), out.as_object_mut()) {
        o.insert("tag".into(), serde_json::Value::String(h8));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> (String, Found) {
        let mut f = Found::default();
        let out = scrub(text, &Tag::Plain, &mut f)
            .unwrap()
            .unwrap_or_else(|| text.to_owned());
        (out, f)
    }

    const JWT: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwic3ViIjoiYWxpY2UiLCJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLWJ5dGVz";

    #[test]
    fn finds_each_kind_and_keeps_the_rest() {
        let cases = [
            (format!("token was {JWT} today"), "jwt", "today"),
            (
                "Authorization: Bearer ya29.a0AfH6SMBx-long_token".into(),
                "authorization",
                "Bearer ",
            ),
            (
                "Basic dXNlcjpwYXNzd29yZA==".into(),
                "authorization",
                "Basic ",
            ),
            (
                "db at postgres://app:hunter2@db.internal/x".into(),
                "url_password",
                "postgres://app:",
            ),
            (
                "key AKIAABCDEFGHIJKLMNOP used".into(),
                "aws_access_key",
                "used",
            ),
            (
                "client_secret=s3cr3t-value&x=1".into(),
                "secret_parameter",
                "&x=1",
            ),
            (
                r#"{"password": "correct horse"}"#.into(),
                "secret_parameter",
                "password",
            ),
            (
                "https://app/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=x".into(),
                "secret_parameter",
                "&state=x",
            ),
            (
                "use cdk_0123456789abcdef0123 now".into(),
                "api_token",
                "now",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIB\n-----END RSA PRIVATE KEY-----\nok"
                    .into(),
                "private_key",
                "ok",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq cut here".into(),
                "private_key",
                "",
            ),
            (
                "SAMLResponse PHNhbWxwOlJlc3BvbnNlIHhtbG5zOnNhbWxwPSJ1cm46b2FzaXM=".into(),
                "saml",
                "",
            ),
        ];
        for (text, rule, kept) in cases {
            let (out, f) = s(&text);
            assert_eq!(f.counts.get(rule), Some(&1), "{text} → {out} {f:?}");
            assert!(out.contains(&format!("[REDACTED:{rule}]")), "{out}");
            assert!(out.contains(kept), "{out} lost {kept}");
        }
    }

    #[test]
    fn prose_is_left_alone() {
        for text in [
            "We use basic authentication and bearer tokens for the API.",
            "The password policy requires 12 characters.",
            "Error code: E0000011 while exchanging the authorization code.",
            "See https://docs.example.com/oauth2/token?grant=1 for details",
            "client_secret is rotated monthly",
        ] {
            let mut f = Found::default();
            assert_eq!(scrub(text, &Tag::Plain, &mut f).unwrap(), None, "{text}");
        }
    }

    #[test]
    fn scrubbing_twice_changes_nothing_more() {
        let (once, _) = s(&format!("password={JWT} and Bearer abcdefghijklmnop1234"));
        let mut f = Found::default();
        assert_eq!(scrub(&once, &Tag::Plain, &mut f).unwrap(), None, "{once}");
    }

    #[test]
    fn keyed_tags_link_equal_values_only() {
        let tag = Tag::keyed(&[7; 32]).unwrap();
        let other = Tag::keyed(&[8; 32]).unwrap();
        assert_eq!(tag.marker("cookie", "abc"), tag.marker("cookie", "abc"));
        assert_ne!(tag.marker("cookie", "abc"), tag.marker("cookie", "abd"));
        assert_ne!(tag.marker("cookie", "abc"), other.marker("cookie", "abc"));
        assert!(tag.marker("cookie", "abc").starts_with("[REDACTED:cookie:"));
    }

    #[test]
    fn jwt_evidence_keeps_only_allowed_claims() {
        let mut f = Found::default();
        scrub(JWT, &Tag::Plain, &mut f).unwrap();
        let t = &f.tokens[0];
        assert_eq!(t["header"]["kid"], "k1");
        assert_eq!(t["claims"]["iss"], "https://idp.example");
        assert_eq!(t["claims"]["exp"], 1_700_000_000);
        assert!(t["claims"].get("sub").is_none(), "the subject is personal");
    }

    #[test]
    fn names() {
        for n in [
            "password",
            "Client_Secret",
            "csrf_token",
            "SAMLResponse",
            "x_token",
            "new_password",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in ["state", "redirect_uri", "error", "client_id", "scope"] {
            assert!(!is_secret_name(n), "{n}");
        }
    }
}
