//! The JWT pipeline without I/O: shape, header policy, claims. Key lookup and the signature
//! check sit between these steps in [`super::Issuer::verify`].
//!
//! The header is parsed here rather than by `jsonwebtoken`, whose `Algorithm` has no `none`
//! and which checks neither `typ` nor `iat`: every refusal gets its own reason.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::Refusal;

/// Longest token looked at; real access tokens are a few KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A token split and decoded, not yet trusted.
#[derive(Debug)]
pub struct Parsed<'a> {
    /// The header.
    pub header: Header,
    /// The claims.
    pub claims: Map<String, Value>,
    /// `header.payload`, what the signature covers.
    pub signed: &'a str,
    /// The signature, base64url.
    pub signature: &'a str,
}

/// The header members casedesk looks at.
#[derive(Debug, Clone)]
pub struct Header {
    /// `alg` as written.
    pub alg: String,
    /// `kid`.
    pub kid: Option<String>,
    /// `typ`.
    pub typ: Option<String>,
    /// Whether `crit` is present (no extension is supported, so any is refused).
    pub crit: bool,
}

/// Splits and decodes a compact JWS.
pub fn parse(token: &str) -> Result<Parsed<'_>, Refusal> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Refusal::Malformed("the token is too long"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err(Refusal::Malformed(
                "encrypted tokens (JWE) are not accepted",
            ));
        }
        _ => return Err(Refusal::Malformed("the token is not a JWT")),
    }
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let header =
        decode_object(h).ok_or(Refusal::Malformed("the token header is not a JSON object"))?;
    let claims =
        decode_object(p).ok_or(Refusal::Malformed("the token payload is not a JSON object"))?;
    let text = |k: &str| header.get(k).and_then(Value::as_str).map(str::to_owned);
    let alg = text("alg").ok_or(Refusal::Algorithm("the token names no algorithm"))?;
    let kid = text("kid");
    if kid.as_ref().is_some_and(|k| k.len() > 256) {
        return Err(Refusal::Malformed("the key id is too long"));
    }
    let signed_len = h.len() + 1 + p.len();
    Ok(Parsed {
        header: Header {
            alg,
            kid,
            typ: text("typ"),
            crit: header.contains_key("crit"),
        },
        claims,
        signed: &token[..signed_len],
        signature: s,
    })
}

/// Decodes base64url JSON into an object, refusing duplicate member names (a header with
/// two `alg`s must not mean different things to different parsers).
fn decode_object(b64: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let NoDuplicates(map) = serde::Deserialize::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(map)
}

struct NoDuplicates(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for NoDuplicates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NoDuplicates;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<NoDuplicates, A::Error> {
                let mut m = Map::new();
                while let Some((k, v)) = a.next_entry::<String, Value>()? {
                    if m.insert(k, v).is_some() {
                        return Err(serde::de::Error::custom("duplicate member"));
                    }
                }
                Ok(NoDuplicates(m))
            }
        }
        d.deserialize_map(V)
    }
}

/// Maps the header's `alg` to an accepted algorithm, or says why not.
pub fn check_alg(alg: &str, allowed: &[Algorithm]) -> Result<Algorithm, Refusal> {
    if alg.eq_ignore_ascii_case("none") {
        return Err(Refusal::Algorithm(
            "unsigned tokens (alg none) are never accepted",
        ));
    }
    if alg.starts_with("HS") {
        return Err(Refusal::Algorithm(
            "HMAC-signed tokens are not accepted from an identity provider",
        ));
    }
    let parsed: Algorithm = alg
        .parse()
        .map_err(|_| Refusal::Algorithm("the token's algorithm is not accepted"))?;
    if allowed.contains(&parsed) {
        Ok(parsed)
    } else {
        Err(Refusal::Algorithm("the token's algorithm is not accepted"))
    }
}

/// What kind of token is being checked.
pub enum Expect<'a> {
    /// An API access token (RFC 9068).
    AccessToken {
        /// Audiences accepted.
        audiences: &'a [String],
        /// Whether `typ` must be `at+jwt`.
        require_typ: bool,
    },
    /// An ID token from web sign-in.
    IdToken {
        /// The client id, which must be an audience.
        client_id: &'a str,
        /// The nonce sent in the authorization request.
        nonce: &'a str,
    },
}

/// Header checks that need no key: `crit` and the token type.
pub fn check_header(
    h: &Header,
    claims: &Map<String, Value>,
    expect: &Expect,
) -> Result<(), Refusal> {
    if h.crit {
        return Err(Refusal::Malformed(
            "the token requires an extension casedesk does not support",
        ));
    }
    if let Expect::AccessToken { require_typ, .. } = expect {
        let typ = h.typ.as_deref().map(str::to_ascii_lowercase);
        let is_at = matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt"));
        if !is_at && (claims.contains_key("nonce") || claims.contains_key("at_hash")) {
            return Err(Refusal::Type(
                "this is an ID token; send the access token instead",
            ));
        }
        if *require_typ && !is_at {
            return Err(Refusal::Type(
                "the token is not an access token (typ must be at+jwt)",
            ));
        }
    }
    Ok(())
}

/// Claim checks, after the signature verified. `now` is seconds since the epoch.
pub fn check_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    expect: &Expect,
    now: i64,
    skew: Duration,
) -> Result<(), Refusal> {
    let skew = i64::try_from(skew.as_secs()).unwrap_or(300);
    match claims.get("iss") {
        Some(Value::String(s)) if s == issuer => {}
        Some(_) => return Err(Refusal::Issuer),
        None => return Err(Refusal::MissingClaim("iss")),
    }
    let (audiences, azp_client): (Vec<&str>, Option<&str>) = match expect {
        Expect::AccessToken { audiences, .. } => {
            (audiences.iter().map(String::as_str).collect(), None)
        }
        Expect::IdToken { client_id, .. } => (vec![client_id], Some(client_id)),
    };
    let token_aud: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err(Refusal::ClaimType("aud")),
        None => return Err(Refusal::MissingClaim("aud")),
    };
    if !token_aud.iter().any(|a| audiences.contains(a)) {
        return Err(Refusal::Audience);
    }
    let exp = numeric(claims, "exp")?.ok_or(Refusal::MissingClaim("exp"))?;
    if now > exp.saturating_add(skew) {
        return Err(Refusal::Expired);
    }
    if let Some(nbf) = numeric(claims, "nbf")?
        && nbf > now.saturating_add(skew)
    {
        return Err(Refusal::NotYetValid);
    }
    if let Some(iat) = numeric(claims, "iat")?
        && iat > now.saturating_add(skew)
    {
        return Err(Refusal::IssuedInFuture);
    }
    match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(_) => return Err(Refusal::ClaimType("sub")),
        None => return Err(Refusal::MissingClaim("sub")),
    }
    if let Expect::IdToken { nonce, .. } = expect {
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(Refusal::Nonce);
        }
        if token_aud.len() > 1 && claims.get("azp").and_then(Value::as_str) != azp_client {
            return Err(Refusal::Audience);
        }
    }
    Ok(())
}

/// A NumericDate claim; a string or other type is refused, not ignored.
fn numeric(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.floor() as i64))
            .map(Some)
            .ok_or(Refusal::ClaimType(name)),
        Some(_) => Err(Refusal::ClaimType(name)),
    }
}

/// A claim as a list of strings: an array of strings, or one space-separated string.
pub fn string_list(claims: &Map<String, Value>, name: &str) -> Option<Vec<String>> {
    match claims.get(name)? {
        Value::String(s) => Some(s.split_whitespace().map(str::to_owned).collect()),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

/// Unverified peek at `iss`, to choose which configured issuer's keys to use. Keys are only
/// ever fetched for configured issuers, so a forged `iss` gains nothing.
pub fn peek_issuer(claims: &Map<String, Value>) -> Option<&str> {
    claims.get("iss").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    fn token(header: &str, claims: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(claims))
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    const AT: Expect<'static> = Expect::AccessToken {
        audiences: &[],
        require_typ: true,
    };

    #[test]
    fn shapes_and_headers_are_refused_with_their_reason() {
        assert_eq!(
            parse("abc").unwrap_err(),
            Refusal::Malformed("the token is not a JWT")
        );
        assert!(matches!(parse("a.b.c.d.e"), Err(Refusal::Malformed(m)) if m.contains("JWE")));
        let dup = token(r#"{"alg":"RS256","alg":"none"}"#, "{}");
        assert!(matches!(parse(&dup), Err(Refusal::Malformed(_))));
        let t = token(r#"{"alg":"none"}"#, "{}");
        let p = parse(&t).unwrap();
        assert!(
            matches!(check_alg(&p.header.alg, &[Algorithm::RS256]), Err(Refusal::Algorithm(m)) if m.contains("none"))
        );
        assert!(
            matches!(check_alg("HS256", &[Algorithm::RS256]), Err(Refusal::Algorithm(m)) if m.contains("HMAC"))
        );
        assert!(check_alg("ES256", &[Algorithm::RS256]).is_err());
        assert_eq!(
            check_alg("RS256", &[Algorithm::RS256]),
            Ok(Algorithm::RS256)
        );
        let idt = token(r#"{"alg":"RS256","typ":"JWT"}"#, r#"{"nonce":"n"}"#);
        let p = parse(&idt).unwrap();
        assert!(
            matches!(check_header(&p.header, &p.claims, &AT), Err(Refusal::Type(m)) if m.contains("ID token"))
        );
        let plain = token(r#"{"alg":"RS256"}"#, "{}");
        let p = parse(&plain).unwrap();
        assert!(check_header(&p.header, &p.claims, &AT).is_err());
        let lax = Expect::AccessToken {
            audiences: &[],
            require_typ: false,
        };
        assert!(check_header(&p.header, &p.claims, &lax).is_ok());
        let crit = token(r#"{"alg":"RS256","typ":"at+jwt","crit":["x"]}"#, "{}");
        let p = parse(&crit).unwrap();
        assert!(check_header(&p.header, &p.claims, &AT).is_err());
    }

    #[test]
    fn claims_are_checked_with_skew() {
        let aud = vec!["api".to_owned()];
        let e = Expect::AccessToken {
            audiences: &aud,
            require_typ: true,
        };
        let skew = Duration::from_secs(60);
        let good = claims(
            serde_json::json!({"iss":"https://i","aud":["x","api"],"exp":1000,"iat":900,"sub":"s"}),
        );
        assert_eq!(check_claims(&good, "https://i", &e, 950, skew), Ok(()));
        assert_eq!(
            check_claims(&good, "https://i", &e, 1059, skew),
            Ok(()),
            "inside the skew"
        );
        assert_eq!(
            check_claims(&good, "https://i", &e, 1061, skew),
            Err(Refusal::Expired)
        );
        assert_eq!(
            check_claims(&good, "https://i/", &e, 950, skew),
            Err(Refusal::Issuer)
        );
        assert_eq!(
            check_claims(&good, "https://i", &e, 830, skew),
            Err(Refusal::IssuedInFuture)
        );
        let other = vec!["nope".to_owned()];
        let e2 = Expect::AccessToken {
            audiences: &other,
            require_typ: true,
        };
        assert_eq!(
            check_claims(&good, "https://i", &e2, 950, skew),
            Err(Refusal::Audience)
        );
        let nbf = claims(
            serde_json::json!({"iss":"https://i","aud":"api","exp":5000,"nbf":2000,"sub":"s"}),
        );
        assert_eq!(
            check_claims(&nbf, "https://i", &e, 1000, skew),
            Err(Refusal::NotYetValid)
        );
        let string_exp =
            claims(serde_json::json!({"iss":"https://i","aud":"api","exp":"5000","sub":"s"}));
        assert_eq!(
            check_claims(&string_exp, "https://i", &e, 1000, skew),
            Err(Refusal::ClaimType("exp"))
        );
        let no_exp = claims(serde_json::json!({"iss":"https://i","aud":"api","sub":"s"}));
        assert_eq!(
            check_claims(&no_exp, "https://i", &e, 1000, skew),
            Err(Refusal::MissingClaim("exp"))
        );
        let id = Expect::IdToken {
            client_id: "web",
            nonce: "n1",
        };
        let idc = claims(
            serde_json::json!({"iss":"https://i","aud":"web","exp":5000,"sub":"s","nonce":"n2"}),
        );
        assert_eq!(
            check_claims(&idc, "https://i", &id, 1000, skew),
            Err(Refusal::Nonce)
        );
    }
}
