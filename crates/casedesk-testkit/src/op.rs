//! A real OpenID provider for tests: panva's `oidc-provider` (from npm, installed by
//! `scripts/test` into `crates/casedesk-testkit/op/node_modules`) run by Node.js on a random
//! loopback port. Tokens come from it through the real authorization code flow; tests that
//! need a token the provider would never issue (alg none, a future `nbf`) sign one with the
//! provider's own private keys, which it hands out under `/test/keys`.

use std::process::Stdio;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The audience the provider's casedesk resources carry.
pub const AUDIENCE: &str = "casedesk-api";
/// Resource indicator of the RS256-signed casedesk API.
pub const API: &str = "https://casedesk.test/api";
/// Client id and secret casedesk uses for web sign-in.
pub const WEB_CLIENT: (&str, &str) = ("casedesk-web", "casedesk-web-secret");

/// A private signing key of the provider.
#[derive(Debug, Clone)]
pub struct ProviderKey {
    /// Key id.
    pub kid: String,
    /// RS256, PS256, ES256 or EdDSA.
    pub alg: String,
    /// PKCS#8 PEM.
    pub pem: String,
    /// SPKI PEM of the public key.
    pub public_pem: String,
}

/// A running provider; killed when dropped.
pub struct Provider {
    /// Its issuer identifier (`http://127.0.0.1:port`).
    pub issuer: String,
    child: Option<Child>,
    http: reqwest::Client,
    /// The login (the provider's `sub`) of each email given to `set_user`.
    logins: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
    }
}

pub(crate) fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("op")
}

impl Provider {
    /// Starts the provider, with `redirect_uris` registered for the casedesk-web client.
    pub async fn start(redirect_uris: &[String]) -> Provider {
        let dir = dir();
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "the test OpenID provider is not installed; run the tests with scripts/test, which runs `npm ci` in {}",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .args(redirect_uris)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start node (scripts/test installs it)");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("provider did not start within 30 s")
            .expect("read provider output")
            .expect("provider exited");
        let v: Value = serde_json::from_str(&line).expect("provider ready line");
        Provider {
            issuer: v["issuer"].as_str().expect("issuer").to_owned(),
            child: Some(child),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            logins: Default::default(),
        }
    }

    /// Stops the provider (its port then refuses connections).
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Sets the claims of a user the provider can sign in (by `login`, which becomes `sub`).
    pub async fn set_user(&self, login: &str, claims: Value) {
        if let Some(email) = claims["email"].as_str() {
            self.logins
                .lock()
                .expect("logins")
                .insert(email.to_owned(), login.to_owned());
        }
        let r = self
            .http
            .put(format!("{}/test/users/{login}", self.issuer))
            .json(&claims)
            .send()
            .await
            .expect("set user");
        assert!(r.status().is_success());
    }

    /// JWKS fetches the provider has served so far.
    pub async fn jwks_fetches(&self) -> u64 {
        let v: Value = self
            .http
            .get(format!("{}/test/stats", self.issuer))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json");
        v["jwks"].as_u64().unwrap_or(0)
    }

    /// The current private signing keys.
    pub async fn keys(&self) -> Vec<ProviderKey> {
        let v: Value = self
            .http
            .get(format!("{}/test/keys", self.issuer))
            .send()
            .await
            .expect("keys")
            .json()
            .await
            .expect("keys json");
        v["keys"]
            .as_array()
            .expect("keys array")
            .iter()
            .map(|k| ProviderKey {
                kid: k["kid"].as_str().unwrap_or_default().into(),
                alg: k["alg"].as_str().unwrap_or_default().into(),
                pem: k["pem"].as_str().unwrap_or_default().into(),
                public_pem: k["public_pem"].as_str().unwrap_or_default().into(),
            })
            .collect()
    }

    /// The RS256 key.
    pub async fn rsa_key(&self) -> ProviderKey {
        self.keys()
            .await
            .into_iter()
            .find(|k| k.alg == "RS256")
            .expect("RS256 key")
    }

    /// New signing keys; `keep_old` keeps publishing the previous ones.
    pub async fn rotate(&self, keep_old: bool) {
        let r = self
            .http
            .post(format!("{}/test/rotate", self.issuer))
            .json(&json!({ "keep_old": keep_old }))
            .send()
            .await
            .expect("rotate");
        assert!(r.status().is_success());
    }

    /// Sets the `Cache-Control: max-age` of the JWKS.
    pub async fn set_jwks_max_age(&self, seconds: u64) {
        self.http
            .post(format!("{}/test/jwks-cache", self.issuer))
            .json(&json!({ "max_age": seconds }))
            .send()
            .await
            .expect("jwks cache");
    }

    /// An access token for `login` through the authorization code flow with PKCE (the
    /// provider signs the user in from `login_hint`, as a test login page would).
    pub async fn access_token(&self, login: &str, scope: &str, resource: &str) -> String {
        let tokens = self.code_flow(login, scope, resource).await;
        tokens["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// The token response of a code flow for `login`.
    pub async fn code_flow(&self, login: &str, scope: &str, resource: &str) -> Value {
        let jar = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("client");
        let verifier = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes().repeat(2));
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let mut url = reqwest::Url::parse(&format!("{}/auth", self.issuer)).expect("url");
        url.query_pairs_mut()
            .append_pair("client_id", "test-cli")
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", "http://127.0.0.1/callback")
            .append_pair("scope", &format!("openid email casedesk {scope}"))
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("login_hint", login)
            .append_pair("resource", resource)
            .append_pair("state", "test-state");
        let mut next = url.to_string();
        let code = loop {
            let r = jar.get(&next).send().await.expect("authorize step");
            let loc = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("provider answered {} without a redirect", r.status()));
            let loc = if loc.starts_with('/') {
                format!("{}{loc}", self.issuer)
            } else {
                loc
            };
            if loc.starts_with("http://127.0.0.1/callback") {
                let u = reqwest::Url::parse(&loc).expect("callback url");
                break u
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_else(|| panic!("no code in {loc}"));
            }
            next = loc;
        };
        let r = jar
            .post(format!("{}/token", self.issuer))
            .basic_auth("test-cli", Some("test-cli-secret"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1/callback"),
                ("code_verifier", &verifier),
                ("resource", resource),
            ])
            .send()
            .await
            .expect("token request");
        let status = r.status();
        let v: Value = r.json().await.expect("token json");
        assert!(status.is_success(), "token endpoint: {v}");
        v
    }

    /// Claims like the provider's access tokens, for `email`, valid for an hour; the subject
    /// is the user's login when `set_user` named them, as in the provider's own tokens.
    pub fn claims(&self, email: &str, roles: &[&str], account: Option<&str>) -> Value {
        let now = jiff::Timestamp::now().as_second();
        let sub = self
            .logins
            .lock()
            .expect("logins")
            .get(email)
            .cloned()
            .unwrap_or_else(|| email.to_owned());
        let mut c = json!({
            "iss": self.issuer, "aud": AUDIENCE, "sub": sub, "email": email,
            "casedesk_roles": roles, "scope": "cases:read cases:write tokens",
            "iat": now, "exp": now + 3600, "jti": uuid::Uuid::new_v4().to_string(), "client_id": "test-cli",
        });
        if let Some(a) = account {
            c["casedesk_account"] = json!(a);
        }
        c
    }
}

/// Signs a token by hand: header members in `header` replace the defaults
/// (`alg` of the key, `typ: at+jwt`, its `kid`).
pub fn sign_with(key: &ProviderKey, header: Value, claims: Value) -> String {
    let alg: jsonwebtoken::Algorithm = key.alg.parse().expect("alg");
    let ek = match key.alg.as_str() {
        "RS256" | "PS256" => jsonwebtoken::EncodingKey::from_rsa_pem(key.pem.as_bytes()),
        "ES256" => jsonwebtoken::EncodingKey::from_ec_pem(key.pem.as_bytes()),
        _ => jsonwebtoken::EncodingKey::from_ed_pem(key.pem.as_bytes()),
    }
    .expect("encoding key");
    let mut h = json!({"alg": key.alg, "typ": "at+jwt", "kid": key.kid});
    if let (Some(h), Some(o)) = (h.as_object_mut(), header.as_object()) {
        for (k, v) in o {
            h.insert(k.clone(), v.clone());
        }
    }
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(h.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = jsonwebtoken::crypto::sign(signed.as_bytes(), &ek, alg).expect("sign");
    format!("{signed}.{sig}")
}

/// Builds the issuer settings casedesk needs for this provider, with web sign-in.
pub fn issuer_config(p: &Provider) -> casedesk_auth::IssuerConfig {
    let mut c = casedesk_auth::IssuerConfig::new("test-op", &p.issuer, AUDIENCE);
    c.provisioning = casedesk_auth::oidc::Provisioning::JustInTime;
    // The test provider stands for the support team's own, trusted for every user.
    c.link_existing_users = true;
    c.display_name = Some("Test provider".into());
    c.client_id = Some(WEB_CLIENT.0.into());
    c.client_secret = Some(WEB_CLIENT.1.into());
    c.login_scopes = vec!["openid".into(), "email".into(), "casedesk".into()];
    c
}

/// A token with `alg: none` and an empty signature.
pub fn unsigned(claims: &Value) -> String {
    let e = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        e(&json!({"alg": "none", "typ": "at+jwt"})),
        e(claims)
    )
}

/// The classic confusion attack: HS256 with the provider's public key (PEM) as the secret.
pub fn hmac_with_public_key(key: &ProviderKey, claims: &Value) -> String {
    let h = jsonwebtoken::Header {
        typ: Some("at+jwt".into()),
        kid: Some(key.kid.clone()),
        ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
    };
    let k = jsonwebtoken::EncodingKey::from_secret(key.public_pem.as_bytes());
    jsonwebtoken::encode(&h, claims, &k).expect("hs256")
}
