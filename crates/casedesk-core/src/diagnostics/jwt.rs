//! The JWT explainer's rules: reading the question, the token's shape and header, and its
//! claims. Every check that can run runs, and each failure has a stable code; fetching the
//! issuer's keys and checking the signature happen in `casedesk-auth`, which calls these.
//!
//! The token is never stored or logged: only its fingerprint (the first 12 hex digits of its
//! SHA-256) and the report leave the explainer, and the signature is never echoed.

use base64::Engine;
use jiff::Timestamp;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::{DomainError, FieldError, Result};

/// Longest token read.
pub const MAX_TOKEN: usize = 16 * 1024;
/// Clock skew allowed by default, in seconds.
pub const DEFAULT_LEEWAY: i64 = 60;
/// Most clock skew a caller may ask for.
pub const MAX_LEEWAY: i64 = 300;
/// Signing algorithms the explainer accepts from an identity provider.
pub const ALLOWED_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// What the caller asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The token as pasted.
    pub token: String,
    /// The issuer expected (keys are fetched for it); else the token's `iss` is used.
    pub issuer: Option<String>,
    /// The audience expected.
    pub audience: Option<String>,
    /// Clock skew allowed, in seconds.
    pub leeway: i64,
    /// A case to record the report on.
    pub case: Option<i64>,
}

/// Reads `{token, issuer?, audience?, leeway_seconds?, case?}`, naming every bad field.
pub fn read_question(v: &Value) -> Result<Question> {
    let mut errors = crate::error::unknown_fields(
        v,
        &["token", "issuer", "audience", "leeway_seconds", "case"],
    );
    if !v.is_object() {
        return Err(DomainError::field("body", "must be a JSON object"));
    }
    let token = match v.get("token") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= MAX_TOKEN => s.clone(),
        Some(Value::String(s)) if s.len() > MAX_TOKEN => {
            errors.push(FieldError::new(
                "token",
                format!("must be at most {MAX_TOKEN} characters"),
            ));
            String::new()
        }
        _ => {
            errors.push(FieldError::new(
                "token",
                "is required: the token to explain, with or without `Bearer `",
            ));
            String::new()
        }
    };
    let mut text = |name: &str, max: usize| match v.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= max => {
            Some(s.trim().to_owned())
        }
        Some(_) => {
            errors.push(FieldError::new(
                name,
                format!("must be a text of 1 to {max} characters"),
            ));
            None
        }
    };
    let issuer = text("issuer", 1000);
    let audience = text("audience", 1000);
    if let Some(i) = &issuer
        && url::Url::parse(i).is_err()
    {
        errors.push(FieldError::new(
            "issuer",
            "must be the issuer's absolute URL, such as https://login.example.com/oauth2/default",
        ));
    }
    let leeway = match v.get("leeway_seconds") {
        None | Some(Value::Null) => DEFAULT_LEEWAY,
        Some(n) => match n.as_i64() {
            Some(n) if (0..=MAX_LEEWAY).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "leeway_seconds",
                    format!("must be a whole number from 0 to {MAX_LEEWAY}"),
                ));
                DEFAULT_LEEWAY
            }
        },
    };
    let case = match v.get("case") {
        None | Some(Value::Null) => None,
        Some(n) => match n.as_i64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                errors.push(FieldError::new("case", "must be a case number"));
                None
            }
        },
    };
    if errors.is_empty() {
        Ok(Question {
            token,
            issuer,
            audience,
            leeway,
            case,
        })
    } else {
        Err(DomainError::Validation(errors))
    }
}

/// One reason a token fails (or a warning).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Stable code, such as `expired` or `kid_not_found`.
    pub code: String,
    /// What it means for the caller, in words.
    pub message: String,
    /// Values behind it (both issuers, both audiences, by how long…).
    pub details: Value,
}

impl Finding {
    /// A finding with details.
    pub fn new(code: &str, message: impl Into<String>, details: Value) -> Self {
        Finding {
            code: code.to_owned(),
            message: message.into(),
            details,
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message, "details": self.details})
    }
}

/// What the token's text shows, before any key is fetched.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    /// `Bearer ` or whitespace was removed.
    pub stripped: bool,
    /// Fingerprint: the first 12 hex digits of the SHA-256 of the token.
    pub fingerprint: String,
    /// The decoded header.
    pub header: Map<String, Value>,
    /// The decoded claims (untrusted until the signature verifies).
    pub claims: Option<Map<String, Value>>,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: String,
    /// The signature's bytes.
    pub signature: Vec<u8>,
    /// Reasons it fails.
    pub failures: Vec<Finding>,
    /// Things to know that do not make it fail.
    pub warnings: Vec<Finding>,
    /// No key check can run (not a JWS, no usable `alg`).
    pub fatal: bool,
}

/// The first 12 hex digits of the SHA-256 of a token: enough to tell two apart.
pub fn fingerprint(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))[..12].to_owned()
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

/// Reads the token's shape and header.
pub fn inspect(raw: &str) -> Inspection {
    let mut out = Inspection::default();
    let trimmed = raw.trim();
    let token = match trimmed.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => trimmed[7..].trim(),
        _ => trimmed,
    };
    out.stripped = token != raw;
    out.fingerprint = fingerprint(token);
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            out.failures.push(Finding::new(
                "jwe_not_supported",
                "This is an encrypted token (JWE, five parts); its contents cannot be inspected here. Ask for the signed access token.",
                json!({}),
            ));
            out.fatal = true;
            return out;
        }
        n => {
            out.failures.push(Finding::new(
                "malformed_token",
                format!(
                    "This is not a JWT: a JWT has three parts separated by dots, this has {n}."
                ),
                json!({"parts": n}),
            ));
            out.fatal = true;
            return out;
        }
    }
    let header_bytes = b64(parts[0]);
    let header = header_bytes
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok());
    let Some(Value::Object(header)) = header else {
        out.failures.push(Finding::new(
            "malformed_token",
            "The first part is not a base64url-encoded JSON object, so this is not a JWT header.",
            json!({"part": "header"}),
        ));
        out.fatal = true;
        return out;
    };
    if header_bytes.as_deref().is_some_and(has_duplicate_member) {
        out.failures.push(Finding::new(
            "header_duplicate_member",
            "The header names a member twice; it is ambiguous and refused.",
            json!({}),
        ));
    }
    out.header = header;
    match b64(parts[1]).and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
        Some(Value::Object(c)) => out.claims = Some(c),
        _ => out.failures.push(Finding::new(
            "malformed_token",
            "The second part is not a base64url-encoded JSON object of claims.",
            json!({"part": "claims"}),
        )),
    }
    match b64(parts[2]) {
        Some(s) => out.signature = s,
        None => out.failures.push(Finding::new(
            "malformed_token",
            "The signature is not base64url.",
            json!({"part": "signature"}),
        )),
    }
    out.signing_input = format!("{}.{}", parts[0], parts[1]);
    check_header(&mut out);
    out
}

/// A duplicate member name at the top level of a JSON object.
fn has_duplicate_member(json: &[u8]) -> bool {
    struct Dup(bool);
    impl<'de> serde::de::Visitor<'de> for &mut Dup {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> std::result::Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(k) = m.next_key::<String>()? {
                m.next_value::<serde::de::IgnoredAny>()?;
                if !seen.insert(k) {
                    self.0 = true;
                }
            }
            Ok(())
        }
    }
    let mut d = Dup(false);
    let mut de = serde_json::Deserializer::from_slice(json);
    let _ = serde::Deserializer::deserialize_map(&mut de, &mut d);
    d.0
}

fn check_header(out: &mut Inspection) {
    let h = &out.header;
    match h.get("alg").and_then(Value::as_str) {
        None => {
            out.failures.push(Finding::new(
                "alg_missing",
                "The header names no algorithm (alg); such a token is always refused.",
                json!({}),
            ));
            out.fatal = true;
        }
        Some(a) if a.eq_ignore_ascii_case("none") => {
            out.failures.push(Finding::new(
                "alg_none",
                "The token is unsigned (alg none); it is always refused.",
                json!({"alg": a}),
            ));
            out.fatal = true;
        }
        Some(a) if !ALLOWED_ALGS.contains(&a) => {
            out.failures.push(Finding::new(
                "alg_not_allowed",
                format!(
                    "The token is signed with {a}; identity providers' tokens are accepted only with {}.{}",
                    ALLOWED_ALGS.join(", "),
                    if a.starts_with("HS") {
                        " A shared-secret (HS) signature cannot come from an identity provider's published keys."
                    } else {
                        ""
                    }
                ),
                json!({"alg": a, "allowed": ALLOWED_ALGS}),
            ));
            out.fatal = true;
        }
        Some(_) => {}
    }
    if let Some(crit) = h.get("crit") {
        out.failures.push(Finding::new(
            "crit_unsupported",
            "The token requires header extensions (crit) that are not supported.",
            json!({"crit": crit}),
        ));
    }
    for k in ["jku", "x5u", "jwk", "x5c"] {
        if h.contains_key(k) {
            out.warnings.push(Finding::new(
                "untrusted_key_reference",
                format!("The header carries {k}; it is ignored: keys come only from the issuer's jwks_uri."),
                json!({"member": k}),
            ));
        }
    }
    if let Some(kid) = h.get("kid") {
        match kid.as_str() {
            Some(k) if k.len() <= 256 => {}
            _ => {
                out.failures.push(Finding::new(
                    "malformed_token",
                    "The key id (kid) must be a text of at most 256 characters.",
                    json!({"part": "kid"}),
                ));
                out.fatal = true;
            }
        }
    }
    let typ = h.get("typ").and_then(Value::as_str);
    let id_token_like = out
        .claims
        .as_ref()
        .is_some_and(|c| c.contains_key("nonce") || c.contains_key("at_hash"));
    match typ {
        Some(t) if t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt") => {}
        _ if id_token_like => out.failures.push(Finding::new(
            "looks_like_id_token",
            "This looks like an ID token (it has nonce or at_hash); APIs expect the access token. Send the access_token, not the id_token.",
            json!({"typ": typ}),
        )),
        None => out.warnings.push(Finding::new(
            "typ_absent",
            "The header has no typ; access tokens following RFC 9068 say at+jwt. Some providers omit it.",
            json!({}),
        )),
        Some(t) => out.warnings.push(Finding::new(
            "typ_mismatch",
            format!("The header says typ {t}; access tokens following RFC 9068 say at+jwt."),
            json!({"typ": t}),
        )),
    }
}

/// A duration in words: `4 min 10 s`.
pub fn words(secs: i64) -> String {
    let s = secs.unsigned_abs();
    let (d, h, m, r) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d} d"));
    }
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 && d == 0 {
        parts.push(format!("{m} min"));
    }
    if (r > 0 || parts.is_empty()) && d == 0 && h == 0 {
        parts.push(format!("{r} s"));
    }
    parts.join(" ")
}

/// A NumericDate claim in whole seconds: RFC 7519 §2 allows fractions, which are floored here
/// so that every time check runs on them; `None` for anything but a finite number.
pub fn numeric_date(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                // Saturates far outside any real date; the checks still compare correctly.
                .map(|f| f.floor().clamp(i64::MIN as f64, i64::MAX as f64) as i64)
        }),
        _ => None,
    }
}

/// A NumericDate to the fraction, for the comparisons (a token expired half a second ago is
/// expired).
fn claim_instant(claims: &Map<String, Value>, k: &str) -> Option<f64> {
    claims
        .get(k)
        .and_then(Value::as_f64)
        .filter(|f| f.is_finite())
}

fn claim_time(claims: &Map<String, Value>, k: &str) -> Option<i64> {
    claims.get(k).and_then(numeric_date)
}

fn time_of(secs: i64) -> String {
    Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| secs.to_string())
}

/// Claims shown as they are in a report: those the checks read or a person needs to follow
/// the verdict. They name systems, not people.
const SHOWN_CLAIMS: [&str; 13] = [
    "iss",
    "aud",
    "azp",
    "client_id",
    "exp",
    "nbf",
    "iat",
    "auth_time",
    "scope",
    "scp",
    "typ",
    "acr",
    "amr",
];
/// Claims that identify a person: shown as a keyed hash, so two reports of one user can be
/// told apart from two users without the report naming anyone.
const PERSONAL_CLAIMS: [&str; 10] = [
    "sub",
    "email",
    "preferred_username",
    "upn",
    "unique_name",
    "name",
    "oid",
    "uid",
    "username",
    "phone_number",
];
/// Header members shown in a report; anything else is named without its value.
const SHOWN_HEADER: [&str; 10] = [
    "alg", "kid", "typ", "cty", "crit", "jku", "x5u", "x5t", "x5t#S256", "zip",
];

/// The claims as a report shows them: the claims that explain the verdict, personal claims as
/// `keyed:<h8>`, and the names (never the values) of the rest.
pub fn report_claims(claims: &Map<String, Value>, tag: &super::secrets::Tag) -> Value {
    let mut out = Map::new();
    let mut hidden = Vec::new();
    for (k, v) in claims {
        if SHOWN_CLAIMS.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        } else if PERSONAL_CLAIMS.contains(&k.as_str()) {
            let text = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            let h = tag.h8(&text).unwrap_or_default();
            out.insert(k.clone(), Value::String(format!("keyed:{h}")));
        } else {
            hidden.push(Value::String(k.clone()));
        }
    }
    if !hidden.is_empty() {
        out.insert("not_shown".into(), Value::Array(hidden));
    }
    Value::Object(out)
}

/// The header as a report shows it: the members that explain key selection, the names of the
/// rest (an embedded `jwk` is named, not echoed).
pub fn report_header(header: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    let mut hidden = Vec::new();
    for (k, v) in header {
        if SHOWN_HEADER.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        } else {
            hidden.push(Value::String(k.clone()));
        }
    }
    if !hidden.is_empty() {
        out.insert("not_shown".into(), Value::Array(hidden));
    }
    Value::Object(out)
}

/// The claims' times as ISO 8601 with "in/ago" words.
pub fn times(claims: &Map<String, Value>, now: Timestamp) -> Value {
    let mut out = Map::new();
    for k in ["iat", "nbf", "exp", "auth_time"] {
        if let Some(t) = claim_time(claims, k) {
            let delta = t.saturating_sub(now.as_second());
            let rel = if delta >= 0 {
                format!("in {}", words(delta))
            } else {
                format!("{} ago", words(delta))
            };
            out.insert(k.into(), json!({"at": time_of(t), "relative": rel}));
        }
    }
    Value::Object(out)
}

/// The claim checks, each failure with its code; `issuer` is the issuer keys were (or would
/// be) fetched for.
pub fn check_claims(
    claims: &Map<String, Value>,
    issuer: Option<&str>,
    audience: Option<&str>,
    now: Timestamp,
    leeway: i64,
) -> (Vec<Finding>, Vec<Finding>) {
    let mut fail = Vec::new();
    let mut warn = Vec::new();
    let now_s = now.as_second();
    let now_f = now.as_millisecond() as f64 / 1000.0;
    let leeway_f = leeway as f64;
    for k in ["exp", "nbf", "iat"] {
        if let Some(v) = claims.get(k)
            && !v.is_number()
        {
            fail.push(Finding::new(
                &format!("claim_type_invalid:{k}"),
                format!("{k} must be a number of seconds since 1970 (a NumericDate), not {v}."),
                json!({"claim": k, "value": v}),
            ));
        }
    }
    match claim_time(claims, "exp") {
        None if !claims.contains_key("exp") => fail.push(Finding::new(
            "claim_missing:exp",
            "The token has no expiry (exp).",
            json!({"claim": "exp"}),
        )),
        Some(exp)
            if claim_instant(claims, "exp").is_some_and(|e| now_f > e + leeway_f) =>
        {
            fail.push(Finding::new(
            "expired",
            format!(
                "The token expired {} ago, at {} (leeway {leeway} s).",
                words(now_s.saturating_sub(exp)),
                time_of(exp)
            ),
            json!({"exp": time_of(exp), "seconds_ago": now_s.saturating_sub(exp), "leeway_seconds": leeway}),
        ))
        }
        _ => {}
    }
    if let Some(nbf) = claim_time(claims, "nbf")
        && claim_instant(claims, "nbf").is_some_and(|n| n > now_f + leeway_f)
    {
        fail.push(Finding::new(
            "not_yet_valid",
            format!(
                "The token is valid only from {} ({} from now); a clock is off by about that much.",
                time_of(nbf),
                words(nbf.saturating_sub(now_s))
            ),
            json!({"nbf": time_of(nbf), "seconds_ahead": nbf.saturating_sub(now_s), "leeway_seconds": leeway}),
        ));
    }
    if let Some(iat) = claim_time(claims, "iat")
        && claim_instant(claims, "iat").is_some_and(|i| i > now_f + leeway_f)
    {
        fail.push(Finding::new(
            "iat_in_future",
            format!(
                "The token says it was issued in the future ({} ahead): the issuer's clock or ours is off.",
                words(iat.saturating_sub(now_s))
            ),
            json!({"iat": time_of(iat), "seconds_ahead": iat.saturating_sub(now_s)}),
        ));
    }
    match (claims.get("iss").and_then(Value::as_str), issuer) {
        (None, _) => fail.push(Finding::new(
            "iss_missing",
            "The token names no issuer (iss).",
            json!({}),
        )),
        (Some(got), Some(want)) if got != want => {
            let hint = if got.trim_end_matches('/') == want.trim_end_matches('/') {
                " They differ only by a trailing slash, and issuers are compared exactly."
            } else if got.replacen("http://", "https://", 1)
                == want.replacen("http://", "https://", 1)
            {
                " They differ only by http and https."
            } else if got.starts_with(want) || want.starts_with(got) {
                " One is a prefix of the other: an organisation URL against one of its authorization servers?"
            } else {
                ""
            };
            fail.push(Finding::new(
                "iss_mismatch",
                format!("The token was issued by {got}, but {want} is expected.{hint}"),
                json!({"token": got, "expected": want}),
            ));
        }
        _ => {}
    }
    let aud: Vec<String> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    if aud.is_empty() {
        fail.push(Finding::new(
            "aud_missing",
            "The token names no audience (aud).",
            json!({}),
        ));
    } else if let Some(want) = audience
        && !aud.iter().any(|a| a == want)
    {
        fail.push(Finding::new(
            "aud_mismatch",
            format!(
                "The token is for {}, but {want} is expected.",
                aud.join(", ")
            ),
            json!({"token": aud, "expected": want}),
        ));
    }
    if !claims.contains_key("sub") {
        fail.push(Finding::new(
            "claim_missing:sub",
            "The token names no subject (sub).",
            json!({"claim": "sub"}),
        ));
    }
    for k in ["client_id", "jti", "iat"] {
        if !claims.contains_key(k) {
            warn.push(Finding::new(
                &format!("claim_missing:{k}"),
                format!("RFC 9068 access tokens carry {k}; this one does not."),
                json!({"claim": k}),
            ));
        }
    }
    (fail, warn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(header: Value, claims: Value) -> String {
        let e = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.c2ln", e(&header), e(&claims))
    }

    fn codes(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|x| x.code.as_str()).collect()
    }

    #[test]
    fn shapes() {
        assert_eq!(codes(&inspect("abc").failures), ["malformed_token"]);
        assert_eq!(codes(&inspect("a.b.c.d.e").failures), ["jwe_not_supported"]);
        let t = tok(json!({"alg": "none"}), json!({}));
        let i = inspect(&format!("Bearer {t}"));
        assert!(i.stripped);
        assert_eq!(codes(&i.failures), ["alg_none"]);
        assert!(i.fatal);
        let i = inspect(&tok(
            json!({"alg": "HS256", "jku": "https://evil"}),
            json!({}),
        ));
        assert_eq!(codes(&i.failures), ["alg_not_allowed"]);
        assert_eq!(
            codes(&i.warnings),
            ["untrusted_key_reference", "typ_absent"]
        );
        let i = inspect(&tok(
            json!({"alg": "RS256", "typ": "JWT"}),
            json!({"nonce": "n"}),
        ));
        assert_eq!(codes(&i.failures), ["looks_like_id_token"]);
        let dup = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"RS256","alg":"none"}"#);
        let i = inspect(&format!("{dup}.e30.c2ln"));
        assert!(
            codes(&i.failures).contains(&"header_duplicate_member"),
            "{:?}",
            i.failures
        );
    }

    #[test]
    fn claims() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let c = json!({"iss": "https://idp.example/", "aud": ["api://x"], "exp": 1_800_000_000 - 250,
                       "nbf": 1_800_000_000 + 600, "iat": "yesterday"});
        let (fail, warn) = check_claims(
            c.as_object().unwrap(),
            Some("https://idp.example"),
            Some("api://default"),
            now,
            60,
        );
        assert_eq!(
            codes(&fail),
            [
                "claim_type_invalid:iat",
                "expired",
                "not_yet_valid",
                "iss_mismatch",
                "aud_mismatch",
                "claim_missing:sub"
            ]
        );
        assert!(
            fail[1].message.contains("4 min 10 s ago"),
            "{}",
            fail[1].message
        );
        assert!(fail[3].message.contains("trailing slash"));
        assert_eq!(
            codes(&warn),
            ["claim_missing:client_id", "claim_missing:jti",]
        );
        assert_eq!(words(3_725), "1 h 2 min");
        assert_eq!(words(59), "59 s");
    }

    #[test]
    fn fractional_and_extreme_numeric_dates_are_checked() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let c = json!({"iss": "i", "aud": "a", "sub": "s", "exp": 1_733_000_000.5,
                       "nbf": 1_800_000_900.25, "iat": 1.9e9});
        let (fail, _) = check_claims(c.as_object().unwrap(), Some("i"), None, now, 60);
        assert_eq!(codes(&fail), ["expired", "not_yet_valid", "iat_in_future"]);
        let t = times(c.as_object().unwrap(), now);
        assert_eq!(t["exp"]["at"], "2024-11-30T20:53:20Z");
        for exp in [
            json!(-9_223_372_036_854_775_808i64),
            json!(-1e300),
            json!(1e300),
        ] {
            let c = json!({"iss": "i", "aud": "a", "sub": "s", "exp": exp, "nbf": exp, "iat": exp});
            let (fail, _) = check_claims(c.as_object().unwrap(), Some("i"), None, now, 60);
            assert!(!fail.is_empty(), "{c}");
            let _ = times(c.as_object().unwrap(), now);
        }
    }

    #[test]
    fn a_fraction_of_a_second_past_exp_is_expired() {
        let now = Timestamp::from_millisecond(1_800_000_000_700).unwrap();
        for (exp, expired) in [
            (1_800_000_000.2, true),
            (1_800_000_000.7, false),
            (1_800_000_001.0, false),
        ] {
            let c = json!({"iss": "i", "aud": "a", "sub": "s", "exp": exp});
            let (fail, _) = check_claims(c.as_object().unwrap(), Some("i"), None, now, 0);
            assert_eq!(codes(&fail).contains(&"expired"), expired, "exp {exp}");
        }
    }

    #[test]
    fn a_report_names_no_person() {
        let tag = crate::diagnostics::secrets::Tag::keyed(&[3; 32]).unwrap();
        let c = json!({"iss": "https://idp.example", "sub": "00u1alice", "email": "alice@example.com",
                       "exp": 1, "given_name": "Alice", "groups": ["admins"]});
        let r = report_claims(c.as_object().unwrap(), &tag);
        assert_eq!(r["iss"], "https://idp.example");
        assert_eq!(r["exp"], 1);
        let sub = r["sub"].as_str().unwrap();
        assert!(sub.starts_with("keyed:") && sub.len() == 14, "{sub}");
        assert_ne!(r["sub"], r["email"]);
        assert_eq!(r["not_shown"], json!(["given_name", "groups"]));
        let text = r.to_string();
        for secret in ["alice", "Alice", "admins"] {
            assert!(!text.contains(secret), "{text}");
        }
        let h = json!({"alg": "RS256", "kid": "k1", "jwk": {"n": "abc"}});
        assert_eq!(
            report_header(h.as_object().unwrap()),
            json!({"alg": "RS256", "kid": "k1", "not_shown": ["jwk"]})
        );
    }

    #[test]
    fn questions() {
        let e = read_question(&json!({"token": "", "leeway_seconds": 999, "x": 1})).unwrap_err();
        let DomainError::Validation(v) = e else {
            panic!()
        };
        let fields: Vec<&str> = v.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["x", "token", "leeway_seconds"]);
        let q = read_question(&json!({"token": "a.b.c", "issuer": "https://idp.example"})).unwrap();
        assert_eq!(q.leeway, 60);
    }
}
