//! What an operator configures per trusted issuer.

use std::time::Duration;

use casedesk_core::users::Role;
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};

/// Sign-in settings: trusted OpenID Connect issuers, local passwords and sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Trusted issuers; bearer JWTs from any of them are accepted.
    pub issuers: Vec<IssuerConfig>,
    /// Local email-and-password sign-in; unset means on only when no issuer offers web
    /// sign-in.
    pub local_accounts: Option<bool>,
    /// The address browsers use to reach casedesk, e.g. `https://support.example.com`;
    /// needed for web sign-in through a provider (the redirect URI is built from it).
    pub public_url: Option<String>,
    /// How long a browser session lasts.
    pub session_hours: u64,
    /// How password sign-in slows down after failures.
    pub throttle: ThrottleConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuers: vec![],
            local_accounts: None,
            public_url: None,
            session_hours: 12,
            throttle: ThrottleConfig::default(),
        }
    }
}

/// Password sign-in throttling, per email (known or not): after `free_failures` failures
/// in a row, each attempt waits `first_wait_seconds`, doubling, at most
/// `longest_wait_seconds`; a browser the user signed in with before is never held back.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Failures allowed before any wait.
    pub free_failures: u32,
    /// The first wait, in seconds.
    pub first_wait_seconds: u64,
    /// The longest wait, in seconds.
    pub longest_wait_seconds: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        let p = casedesk_core::identity::ThrottlePolicy::default();
        ThrottleConfig {
            free_failures: p.free,
            first_wait_seconds: p.base.as_secs(),
            longest_wait_seconds: p.cap.as_secs(),
        }
    }
}

impl ThrottleConfig {
    /// The policy these settings describe.
    pub fn policy(&self) -> casedesk_core::identity::ThrottlePolicy {
        casedesk_core::identity::ThrottlePolicy {
            free: self.free_failures,
            base: Duration::from_secs(self.first_wait_seconds.max(1)),
            cap: Duration::from_secs(
                self.longest_wait_seconds
                    .max(self.first_wait_seconds)
                    .max(1),
            ),
            ..Default::default()
        }
    }
}

/// Whether users unknown to casedesk are created from a valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Provisioning {
    /// The user must already exist (created with the CLI); the token may still change roles.
    #[default]
    Existing,
    /// Create the user on their first valid token, with the roles its claims carry.
    JustInTime,
}

/// Which claims carry what casedesk needs to know about the caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimNames {
    /// The user's email address.
    pub email: String,
    /// The customer account, by casedesk id or name (customer roles only).
    pub account: String,
    /// Roles and flags: a list, or a space-separated string.
    pub roles: String,
    /// Queues of an agent: a list, or a space-separated string.
    pub queues: String,
    /// Granted scopes: a space-separated string (RFC 9068) or a list (`scp`).
    pub scope: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        ClaimNames {
            email: "email".into(),
            account: "casedesk_account".into(),
            roles: "casedesk_roles".into(),
            queues: "casedesk_queues".into(),
            scope: "scope".into(),
        }
    }
}

/// The values in the roles claim that mean each casedesk role or flag.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoleValues {
    /// Super admin of a customer account.
    pub super_admin: String,
    /// Admin of a customer account.
    pub admin: String,
    /// The case-admin permission of an admin.
    pub case_admin: String,
    /// The elevated-support-contact flag of an admin.
    pub elevated: String,
    /// Support engineer.
    pub agent: String,
    /// Support manager.
    pub manager: String,
}

impl Default for RoleValues {
    fn default() -> Self {
        RoleValues {
            super_admin: "super-admin".into(),
            admin: "admin".into(),
            case_admin: "case-admin".into(),
            elevated: "elevated".into(),
            agent: "agent".into(),
            manager: "manager".into(),
        }
    }
}

/// One trusted OpenID Connect issuer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Short name, used in sign-in URLs (`/auth/oidc/{name}/start`) and logs.
    pub name: String,
    /// Issuer identifier; its discovery document must name exactly this issuer.
    pub issuer: String,
    /// Audiences accepted in access tokens (one must appear in `aud`).
    pub audience: Vec<String>,
    /// Signature algorithms accepted; HMAC and `none` are never accepted.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Require `typ: at+jwt` (RFC 9068) on access tokens; turn off for providers that send
    /// access tokens without it.
    #[serde(default = "yes")]
    pub require_typ: bool,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds (at most 300).
    #[serde(default = "default_skew")]
    pub clock_skew_seconds: u64,
    /// Longest time keys are trusted without asking the provider again, in seconds.
    #[serde(default = "default_key_cache")]
    pub key_cache_seconds: u64,
    /// Least time between two fetches caused by unknown key ids, in seconds.
    #[serde(default = "default_refetch")]
    pub refetch_interval_seconds: u64,
    /// How long the last keys keep working when the provider cannot be reached, in seconds.
    #[serde(default = "default_grace")]
    pub unreachable_grace_seconds: u64,
    /// Timeout of each request to the provider, in seconds.
    #[serde(default = "default_timeout")]
    pub http_timeout_seconds: u64,
    /// Whether unknown users are created from a valid token.
    #[serde(default)]
    pub provisioning: Provisioning,
    /// Claim names.
    #[serde(default)]
    pub claims: ClaimNames,
    /// Role values.
    #[serde(default)]
    pub role_values: RoleValues,
    /// Roles this issuer may grant; unset means all. A customer's own provider should be
    /// limited to `super-admin` and `admin`.
    #[serde(default)]
    pub allowed_roles: Option<Vec<Role>>,
    /// Customer accounts (ids or names) this issuer may sign users into; unset means all.
    /// Users of these accounts who exist already are bound to this issuer at their first
    /// sign-in through it.
    #[serde(default)]
    pub accounts: Option<Vec<String>>,
    /// Bind a user who exists already (created with the CLI, or signing in with a password)
    /// to this issuer at their first sign-in through it, by the email of the token. Off by
    /// default: turn it on only for a provider trusted for every user casedesk has, such as
    /// the support team's own. Users created from this issuer's tokens are always bound.
    #[serde(default)]
    pub link_existing_users: bool,
    /// OAuth client id for web sign-in; without it the issuer only serves bearer tokens.
    #[serde(default)]
    pub client_id: Option<String>,
    /// OAuth client secret for web sign-in (sent with HTTP Basic authentication).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes asked for at web sign-in.
    #[serde(default = "default_login_scopes")]
    pub login_scopes: Vec<String>,
    /// Button text on the sign-in page.
    #[serde(default)]
    pub display_name: Option<String>,
}

fn default_algorithms() -> Vec<String> {
    ["RS256", "PS256", "ES256", "EdDSA"]
        .map(String::from)
        .to_vec()
}
fn yes() -> bool {
    true
}
fn default_skew() -> u64 {
    60
}
fn default_key_cache() -> u64 {
    600
}
fn default_refetch() -> u64 {
    30
}
fn default_grace() -> u64 {
    3600
}
fn default_timeout() -> u64 {
    5
}
fn default_login_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

/// A configuration that cannot work, named by its setting.
#[derive(Debug, thiserror::Error)]
#[error("auth.issuers[{name}].{setting}: {message}")]
pub struct ConfigError {
    /// Issuer name.
    pub name: String,
    /// Setting.
    pub setting: &'static str,
    /// What is wrong.
    pub message: String,
}

impl IssuerConfig {
    /// A configuration with defaults for everything but the issuer and audience.
    pub fn new(name: &str, issuer: &str, audience: &str) -> Self {
        IssuerConfig {
            name: name.into(),
            issuer: issuer.into(),
            audience: vec![audience.into()],
            algorithms: default_algorithms(),
            require_typ: true,
            clock_skew_seconds: default_skew(),
            key_cache_seconds: default_key_cache(),
            refetch_interval_seconds: default_refetch(),
            unreachable_grace_seconds: default_grace(),
            http_timeout_seconds: default_timeout(),
            provisioning: Provisioning::default(),
            claims: ClaimNames::default(),
            role_values: RoleValues::default(),
            allowed_roles: None,
            accounts: None,
            link_existing_users: false,
            client_id: None,
            client_secret: None,
            login_scopes: default_login_scopes(),
            display_name: None,
        }
    }

    fn err(&self, setting: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            name: self.name.clone(),
            setting,
            message: message.into(),
        }
    }

    /// Checks the settings and returns the algorithms as the crate's type.
    pub fn validate(&self) -> Result<Vec<Algorithm>, ConfigError> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.err("name", "use letters, digits, - and _ only"));
        }
        let url = url::Url::parse(&self.issuer)
            .map_err(|e| self.err("issuer", format!("not a URL: {e}")))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(self.err("issuer", "must be https (http only for a loopback address)"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.err("issuer", "must not have a query or fragment"));
        }
        if self.audience.is_empty() || self.audience.iter().any(String::is_empty) {
            return Err(self.err("audience", "name at least one non-empty audience"));
        }
        if self.clock_skew_seconds > 300 {
            return Err(self.err("clock_skew_seconds", "must be at most 300"));
        }
        if self.key_cache_seconds == 0 || self.key_cache_seconds > 86_400 {
            return Err(self.err("key_cache_seconds", "must be 1 to 86400"));
        }
        if self.http_timeout_seconds == 0 || self.http_timeout_seconds > 60 {
            return Err(self.err("http_timeout_seconds", "must be 1 to 60"));
        }
        if self.client_id.is_some() != self.client_secret.is_some() {
            return Err(self.err("client_secret", "client_id and client_secret go together"));
        }
        let mut algs = Vec::new();
        for a in &self.algorithms {
            let alg = match a.as_str() {
                "RS256" => Algorithm::RS256,
                "RS384" => Algorithm::RS384,
                "RS512" => Algorithm::RS512,
                "PS256" => Algorithm::PS256,
                "PS384" => Algorithm::PS384,
                "PS512" => Algorithm::PS512,
                "ES256" => Algorithm::ES256,
                "ES384" => Algorithm::ES384,
                "EdDSA" => Algorithm::EdDSA,
                other => {
                    return Err(self.err(
                        "algorithms",
                        format!(
                            "{other:?} is not accepted; use asymmetric algorithms such as RS256, PS256, ES256, EdDSA"
                        ),
                    ));
                }
            };
            algs.push(alg);
        }
        if algs.is_empty() {
            return Err(self.err("algorithms", "name at least one algorithm"));
        }
        Ok(algs)
    }

    /// The clock skew as a duration.
    pub fn skew(&self) -> Duration {
        Duration::from_secs(self.clock_skew_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_none_and_plain_http_are_refused() {
        let mut c = IssuerConfig::new("idp", "https://id.example.com", "api");
        assert!(c.validate().is_ok());
        c.algorithms = vec!["HS256".into()];
        assert!(c.validate().unwrap_err().to_string().contains("algorithms"));
        c.algorithms = vec!["none".into()];
        assert!(c.validate().is_err());
        let c = IssuerConfig::new("idp", "http://id.example.com", "api");
        assert!(c.validate().unwrap_err().to_string().contains("issuer"));
        let c = IssuerConfig::new("idp", "http://127.0.0.1:9000", "api");
        assert!(c.validate().is_ok());
    }
}
