//! Shared pieces of the benchmarks: a minimal discovery + JWKS server on loopback and
//! tokens signed with fixed benchmark keys (`fixtures/keys.json`, made for this purpose).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The benchmark keys.
pub fn keys() -> Value {
    serde_json::from_str(include_str!("../fixtures/keys.json")).expect("fixture keys")
}

/// Serves `/.well-known/openid-configuration` and `/jwks` for the benchmark keys on
/// `127.0.0.1:0`; returns the issuer URL.
pub async fn jwks_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let jwks: Vec<Value> = keys()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["jwk"].clone())
        .collect();
    let jwks = json!({ "keys": jwks }).to_string();
    let discovery = json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks") }).to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let (jwks, discovery) = (jwks.clone(), discovery.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                let body = if req.starts_with("GET /jwks") {
                    jwks
                } else {
                    discovery
                };
                let res = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(res.as_bytes()).await;
            });
        }
    });
    issuer
}

/// An access token for `email` signed with the benchmark key of `alg`, valid for an hour.
pub fn token(issuer: &str, alg: &str, email: &str, account: &str) -> String {
    let k = keys()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["alg"] == alg)
        .cloned()
        .expect("alg");
    let pem = k["pem"].as_str().unwrap().as_bytes();
    let key = match alg {
        "RS256" => jsonwebtoken::EncodingKey::from_rsa_pem(pem),
        "ES256" => jsonwebtoken::EncodingKey::from_ec_pem(pem),
        _ => jsonwebtoken::EncodingKey::from_ed_pem(pem),
    }
    .expect("key");
    let now = jiff::Timestamp::now().as_second();
    let header = json!({"alg": alg, "typ": "at+jwt", "kid": k["kid"]});
    let claims = json!({"iss": issuer, "aud": "casedesk-api", "sub": email, "email": email,
        "casedesk_account": account, "casedesk_roles": ["admin", "case-admin"],
        "scope": "cases:read cases:write", "iat": now, "exp": now + 3600, "jti": "bench", "client_id": "bench"});
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let alg: jsonwebtoken::Algorithm = alg.parse().unwrap();
    format!(
        "{signed}.{}",
        jsonwebtoken::crypto::sign(signed.as_bytes(), &key, alg).unwrap()
    )
}

/// Issuer settings for the benchmark server.
pub fn issuer_config(issuer: &str) -> casedesk_auth::IssuerConfig {
    let mut c = casedesk_auth::IssuerConfig::new("bench", issuer, "casedesk-api");
    c.provisioning = casedesk_auth::oidc::Provisioning::JustInTime;
    c
}

/// When a benchmark case's error happened: an hour before now. Dates follow the clock so the
/// benchmarks hold on any day they run.
pub fn error_time() -> String {
    (casedesk_core::now() - jiff::SignedDuration::from_hours(1)).to_string()
}

/// A mailer that sends nothing, for benchmarks of other parts.
pub fn mail_off() -> std::sync::Arc<casedesk_mail::Mailer> {
    let cfg = casedesk_mail::MailConfig {
        transport: casedesk_mail::TransportKind::Off,
        ..Default::default()
    };
    match casedesk_mail::Mailer::new(cfg, std::path::Path::new(".")) {
        Ok(m) => std::sync::Arc::new(m),
        Err(e) => unreachable!("the default mail settings are valid: {e}"),
    }
}
