//! Signing in: browser sessions, pending OpenID Connect logins, local passwords with
//! lockout, and the management of API tokens. Hashing and the provider protocol live in
//! `casedesk-auth`; the rules and records live here.

use std::time::Duration;

use uuid::Uuid;

use crate::store::{Store, TokenRecord};
use crate::users::{Principal, Role, Scope, User};
use crate::{DomainError, Result, Timestamp};

/// A signed-in browser. The cookie holds a random secret; the database keeps its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie value, hex.
    pub hash: String,
    /// Who signed in.
    pub user_id: Uuid,
    /// Token every state-changing form must echo (CSRF protection).
    pub csrf: String,
    /// Issuer that vouched for the user; `None` for a local password.
    pub issuer: Option<String>,
    /// When it began.
    pub created_at: Timestamp,
    /// When it ends regardless of use.
    pub expires_at: Timestamp,
}

/// An authorization-code login waiting for the provider to send the browser back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFlow {
    /// SHA-256 of the `state` parameter, hex.
    pub state_hash: String,
    /// Name of the configured issuer.
    pub issuer: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// PKCE verifier, sent with the code.
    pub verifier: String,
    /// Local path to return to after sign-in.
    pub return_to: String,
    /// When it began; flows older than [`LOGIN_FLOW_TTL`] are refused.
    pub created_at: Timestamp,
}

/// How long a browser may take at the provider.
pub const LOGIN_FLOW_TTL: Duration = Duration::from_secs(600);

/// A local password and its failure counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCredentials {
    /// PHC string (argon2id); `None` when the user has no local password.
    pub password_hash: Option<String>,
    /// Failed attempts since the last success or lockout.
    pub failed_attempts: u32,
    /// Sign-in refused until then.
    pub locked_until: Option<Timestamp>,
}

/// Lockout rule for local passwords.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures in a row that lock the user out.
    pub max_failures: u32,
    /// How long the lock lasts.
    pub lock_for: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            lock_for: Duration::from_secs(15 * 60),
        }
    }
}

impl LockoutPolicy {
    /// The time left on a lock, if the user is locked at `now`.
    pub fn locked_for(&self, creds: &LocalCredentials, now: Timestamp) -> Option<Duration> {
        let until = creds.locked_until?;
        let left = until.duration_since(now);
        (left.is_positive())
            .then(|| Duration::try_from(left).ok())
            .flatten()
    }

    /// The counter and lock after one more failure at `now`.
    pub fn after_failure(
        &self,
        creds: &LocalCredentials,
        now: Timestamp,
    ) -> (u32, Option<Timestamp>) {
        let failed = creds.failed_attempts.saturating_add(1);
        if failed >= self.max_failures {
            let until = now.checked_add(self.lock_for).ok();
            (0, until)
        } else {
            (failed, None)
        }
    }
}

/// The API tokens a caller may see: their own.
pub async fn list_tokens(store: &dyn Store, caller: &Principal) -> Result<Vec<TokenRecord>> {
    crate::permissions::require_scope(caller, Scope::Tokens)?;
    store.list_tokens(Some(caller.user.id)).await
}

/// Revokes one of the caller's tokens; another user's token answers not-found.
pub async fn revoke_token(store: &dyn Store, caller: &Principal, id: Uuid) -> Result<()> {
    crate::permissions::require_scope(caller, Scope::Tokens)?;
    let audit = crate::audit::AuditRecord::by(caller, "token.revoke", format!("token:{id}"));
    if store.revoke_token(id, Some(caller.user.id), &audit).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound { entity: "token" })
    }
}

/// Checks the scopes asked for a new token of `user`, all errors at once; empty means every
/// scope the user may hold, further limited to `ceiling` (the scopes of the credential that
/// asks, so a token never mints a stronger one).
pub fn scopes_for_new_token(
    user: &User,
    asked: &[Scope],
    ceiling: Option<&[Scope]>,
) -> Result<Vec<Scope>> {
    let grantable: Vec<Scope> = user
        .grantable_scopes()
        .into_iter()
        .filter(|s| ceiling.is_none_or(|c| c.contains(s)))
        .collect();
    let mut scopes = if asked.is_empty() {
        grantable.clone()
    } else {
        asked.to_vec()
    };
    scopes.sort_unstable();
    scopes.dedup();
    let refused: Vec<crate::FieldError> = scopes
        .iter()
        .filter(|s| !grantable.contains(s))
        .map(|s| {
            let why = match s {
                Scope::Admin if !user.is_administrator() => {
                    "only managers and super admins may hold it".to_owned()
                }
                Scope::MailIngest if user.role != crate::users::Role::Manager => {
                    "only support managers may hold it (it posts mail on behalf of others)"
                        .to_owned()
                }
                Scope::CasesRead | Scope::CasesWrite if !user.has_case_access() => {
                    "the user has no case access; a super admin can grant case-admin".to_owned()
                }
                _ => "the credential used for this request does not carry it".to_owned(),
            };
            crate::FieldError::new("scopes", format!("{} cannot be granted: {why}", s.key()))
        })
        .collect();
    if !refused.is_empty() {
        return Err(DomainError::Validation(refused));
    }
    if scopes.is_empty() {
        return Err(DomainError::field("scopes", "no scope is left to grant"));
    }
    Ok(scopes)
}

/// Whether a manager exists yet (the CLI bootstrap creates the first one only).
pub async fn has_manager(store: &dyn Store) -> Result<bool> {
    Ok(store.count_users_with_role(Role::Manager).await? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(failed: u32, locked: Option<Timestamp>) -> LocalCredentials {
        LocalCredentials {
            password_hash: None,
            failed_attempts: failed,
            locked_until: locked,
        }
    }

    #[test]
    fn the_fifth_failure_locks_and_the_lock_runs_out() {
        let p = LockoutPolicy::default();
        let now = crate::now();
        assert_eq!(p.after_failure(&creds(0, None), now), (1, None));
        let (n, until) = p.after_failure(&creds(4, None), now);
        assert_eq!(n, 0);
        let until = until.unwrap();
        let locked = creds(0, Some(until));
        assert!(p.locked_for(&locked, now).unwrap() > Duration::from_secs(14 * 60));
        let later = until.checked_add(Duration::from_secs(1)).unwrap();
        assert_eq!(p.locked_for(&locked, later), None);
    }
}
