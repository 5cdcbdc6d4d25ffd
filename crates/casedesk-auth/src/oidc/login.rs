//! Web sign-in through a provider: the authorization code flow with PKCE (S256), `state`
//! and `nonce`. The ID token is checked by the same pipeline as bearer tokens.
//!
//! Hand-written rather than through the `openidconnect` crate: the flow is two requests,
//! and this way the ID token goes through our own discovery and JWKS cache instead of a
//! second JWT stack, and no second HTTP client is pulled in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use casedesk_core::identity::LoginFlow;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::jwt::{self, Expect};
use super::keys::read_limited;
use super::{Failure, Issuer};
use crate::error::Refusal;
use crate::tokens::{hash_token, random_b64};

/// A login about to be sent to the provider.
pub struct Started {
    /// Where to send the browser.
    pub authorize_url: String,
    /// The `state` value, also put in a cookie to bind the login to this browser.
    pub state: String,
    /// What to store until the provider sends the browser back.
    pub flow: LoginFlow,
}

/// Why a login could not finish.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The issuer has no client configured.
    #[error("this issuer is not set up for web sign-in")]
    NotConfigured,
    /// Discovery or keys cannot be fetched.
    #[error("the identity provider cannot be reached: {0}")]
    Unavailable(String),
    /// The provider refused the code.
    #[error("the identity provider refused the sign-in: {0}")]
    Exchange(String),
    /// The ID token was refused.
    #[error("the ID token was refused: {}", .0.description())]
    IdToken(Refusal),
    /// Randomness failed.
    #[error("internal: {0}")]
    Internal(String),
}

/// Starts a login: builds the authorization URL and the flow record.
pub async fn start(
    issuer: &Issuer,
    redirect_uri: &str,
    return_to: &str,
    login_hint: Option<&str>,
) -> Result<Started, LoginError> {
    let client_id = issuer
        .config
        .client_id
        .as_deref()
        .ok_or(LoginError::NotConfigured)?;
    let d = issuer
        .keys
        .discovery()
        .await
        .map_err(|e| LoginError::Unavailable(format!("{e:?}")))?;
    let endpoint = d.authorization_endpoint.as_deref().ok_or_else(|| {
        LoginError::Unavailable("the provider publishes no authorization endpoint".into())
    })?;
    let rand = |n| random_b64(n).map_err(|e| LoginError::Internal(e.to_string()));
    let state = rand(32)?;
    let nonce = rand(32)?;
    let verifier = rand(32)?;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(endpoint)
        .map_err(|e| LoginError::Unavailable(format!("bad authorization endpoint: {e}")))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &issuer.config.login_scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(h) = login_hint {
            q.append_pair("login_hint", h);
        }
    }
    Ok(Started {
        authorize_url: url.into(),
        flow: LoginFlow {
            state_hash: hash_token(&state),
            issuer: issuer.config.name.clone(),
            nonce,
            verifier,
            return_to: return_to.to_owned(),
            created_at: casedesk_core::now(),
        },
        state,
    })
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

/// Exchanges the code and verifies the ID token; returns its claims.
pub async fn finish(
    issuer: &Issuer,
    http: &crate::net::Outbound,
    flow: &LoginFlow,
    code: &str,
    redirect_uri: &str,
) -> Result<Map<String, Value>, LoginError> {
    let (Some(client_id), Some(secret)) = (&issuer.config.client_id, &issuer.config.client_secret)
    else {
        return Err(LoginError::NotConfigured);
    };
    let d = issuer
        .keys
        .discovery()
        .await
        .map_err(|e| LoginError::Unavailable(format!("{e:?}")))?;
    let endpoint = d.token_endpoint.as_deref().ok_or_else(|| {
        LoginError::Unavailable("the provider publishes no token endpoint".into())
    })?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_verifier", &flow.verifier)
        .finish();
    // RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding.
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut res = http
        .post(endpoint)
        .map_err(LoginError::Unavailable)?
        .basic_auth(enc(client_id), Some(enc(secret)))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| LoginError::Unavailable(e.without_url().to_string()))?;
    let status = res.status();
    let bytes = read_limited(&mut res, endpoint)
        .await
        .map_err(LoginError::Unavailable)?;
    if !status.is_success() {
        let err: Option<Map<String, Value>> = serde_json::from_slice(&bytes).ok();
        let code = err
            .as_ref()
            .and_then(|m| m.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        return Err(LoginError::Exchange(format!("{status}: {code}")));
    }
    let tr: TokenResponse = serde_json::from_slice(&bytes)
        .map_err(|e| LoginError::Exchange(format!("the token response is not valid: {e}")))?;
    let id_token = tr
        .id_token
        .ok_or_else(|| LoginError::Exchange("the token response has no ID token".into()))?;
    let parsed = jwt::parse(&id_token).map_err(LoginError::IdToken)?;
    let expect = Expect::IdToken {
        client_id,
        nonce: &flow.nonce,
    };
    match issuer
        .verify(
            &parsed,
            &expect,
            Some(&d.id_token_signing_alg_values_supported),
        )
        .await
    {
        Ok(()) => Ok(parsed.claims),
        Err(Failure::Refused(r)) => Err(LoginError::IdToken(r)),
        Err(Failure::Unavailable { reason, .. }) => Err(LoginError::Unavailable(reason)),
    }
}
