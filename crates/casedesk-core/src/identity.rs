//! Signing in: browser sessions, pending OpenID Connect logins, local passwords with
//! lockout, and the management of API tokens. Hashing and the provider protocol live in
//! `casedesk-auth`; the rules and records live here.

use std::time::Duration;

use uuid::Uuid;

use crate::acts::AuditRecord;
use crate::directory::DirectoryStore;
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

/// Purpose of the key invitation links are signed with (derived from the server key).
pub const INVITE_KEY: &str = "user-invitation-links";
/// How long an invitation's link lets its user choose a password.
pub const INVITE_VALID_DAYS: i64 = 7;

fn invite_purpose(expires: i64, password_hash: Option<&str>) -> String {
    format!("invite\n{expires}\n{}", password_hash.unwrap_or(""))
}

/// The token of the link that lets a user choose their password until `expires` (Unix
/// seconds). It signs the password the user has when it is made, so it stops working the
/// moment a password is set: each link is good for one use.
pub fn invite_token(
    key: &[u8; 32],
    user_id: Uuid,
    expires: i64,
    password_hash: Option<&str>,
) -> String {
    crate::links::token(key, &invite_purpose(expires, password_hash), user_id)
}

/// Whether an invitation link still opens: not expired, and the user's password is still the
/// one it was made for.
pub fn invite_ok(
    key: &[u8; 32],
    user_id: Uuid,
    expires: i64,
    password_hash: Option<&str>,
    token: &str,
    now: Timestamp,
) -> bool {
    now.as_second() < expires
        && crate::links::ok(key, &invite_purpose(expires, password_hash), user_id, token)
}

/// A local password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCredentials {
    /// PHC string (argon2id); `None` when the user has no local password.
    pub password_hash: Option<String>,
}

/// An identity at a trusted issuer bound to one user: tokens of that issuer with that subject
/// stand for the user, and no other issuer or subject does because it names the same email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The issuer identifier (`iss`).
    pub issuer: String,
    /// The subject at that issuer (`sub`).
    pub subject: String,
    /// The user it stands for.
    pub user_id: Uuid,
    /// The issuer's configured name, for people.
    pub issuer_name: String,
    /// When it was bound.
    pub created_at: Timestamp,
}

/// Throttling of password sign-in, kept per email whether or not a user has it, so that it
/// tells nothing about which emails have accounts. After `free` failures in a row each further
/// attempt waits `base · 2^(n − free)`, at most `cap`; the count is forgotten `forget_after`
/// the last failure. A browser the user signed in with before is not held back, so nobody can
/// keep a user out by failing on purpose.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures allowed before any wait.
    pub free: u32,
    /// The first wait.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
    /// When the count starts over.
    pub forget_after: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free: 5,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(300),
            forget_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl ThrottlePolicy {
    /// The failures that still count at `now`.
    pub fn counted(&self, failures: u32, last: Timestamp, now: Timestamp) -> u32 {
        let since = now.duration_since(last);
        if since.is_negative() || Duration::try_from(since).is_ok_and(|d| d < self.forget_after) {
            failures
        } else {
            0
        }
    }

    /// How long an attempt at `now` must still wait after `failures` failures, the last at
    /// `last`; `None` when it may go ahead.
    pub fn wait(&self, failures: u32, last: Timestamp, now: Timestamp) -> Option<Duration> {
        let n = self.counted(failures, last, now);
        if n < self.free {
            return None;
        }
        let exp = (n - self.free).min(20);
        let wait = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let elapsed = Duration::try_from(now.duration_since(last)).unwrap_or(Duration::ZERO);
        wait.checked_sub(elapsed).filter(|d| !d.is_zero())
    }
}

/// Only support managers bind identities to users by hand (a customer's super admin could
/// otherwise bind a provider they run to a user).
fn require_manager(p: &Principal) -> Result<()> {
    if p.user.role != Role::Manager {
        return Err(DomainError::Forbidden(
            "Only a support manager can link or unlink a user's sign-in identities.".into(),
        ));
    }
    crate::permissions::require_scope(p, Scope::Admin)
}

/// The identities bound to a user (support managers).
pub async fn identities(
    store: &dyn IdentityStore,
    p: &Principal,
    email: &str,
) -> Result<Vec<Identity>> {
    require_manager(p)?;
    let user = crate::directory::resolve_user(store, email, "email").await?;
    store.identities_of(user.id).await
}

/// Binds the subject `subject` of a trusted issuer (`issuer` its identifier, `issuer_name`
/// its configured name) to a user: from then on that issuer's tokens for that subject stand
/// for the user (support managers). A subject bound to someone else is refused.
pub async fn link(
    store: &dyn IdentityStore,
    p: &Principal,
    email: &str,
    issuer: &str,
    issuer_name: &str,
    subject: &str,
) -> Result<Identity> {
    require_manager(p)?;
    let subject = subject.trim();
    if subject.is_empty() || subject.len() > 255 {
        return Err(DomainError::field(
            "subject",
            "must be the user's subject (sub) at the issuer, 1 to 255 characters",
        ));
    }
    let user = crate::directory::resolve_user(store, email, "email").await?;
    let identity = Identity {
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
        user_id: user.id,
        issuer_name: issuer_name.to_owned(),
        created_at: crate::now(),
    };
    let audit = crate::audit::AuditRecord::by(p, "user.identity_linked", format!("user:{}", user.email))
        .account(user.account_id)
        .summary(serde_json::json!({"issuer": issuer, "issuer_name": issuer_name, "subject": subject, "how": "linked by a support manager"}));
    if store.link_identity(&identity, &audit).await? {
        return Ok(identity);
    }
    match store.find_identity(issuer, subject).await? {
        Some(u) if u.id == user.id => Ok(identity),
        _ => Err(DomainError::Conflict(format!(
            "the subject {subject} of {issuer_name} is bound to another user; unlink it there first"
        ))),
    }
}

/// Unbinds an identity from a user (support managers); not bound to them answers not found.
pub async fn unlink(
    store: &dyn IdentityStore,
    p: &Principal,
    email: &str,
    issuer: &str,
    subject: &str,
) -> Result<()> {
    require_manager(p)?;
    let user = crate::directory::resolve_user(store, email, "email").await?;
    let bound = store.identities_of(user.id).await?;
    let Some(i) = bound
        .iter()
        .find(|i| i.issuer == issuer && i.subject == subject)
    else {
        return Err(DomainError::NotFound { entity: "identity" });
    };
    let audit = crate::audit::AuditRecord::by(
        p,
        "user.identity_unlinked",
        format!("user:{}", user.email),
    )
    .account(user.account_id)
    .summary(
        serde_json::json!({"issuer": i.issuer, "issuer_name": i.issuer_name, "subject": i.subject}),
    );
    store.unlink_identity(issuer, subject, &audit).await?;
    Ok(())
}

/// The API tokens a caller may see: their own.
pub async fn list_tokens(
    store: &dyn IdentityStore,
    caller: &Principal,
) -> Result<Vec<TokenRecord>> {
    crate::permissions::require_scope(caller, Scope::Tokens)?;
    store.list_tokens(Some(caller.user.id)).await
}

/// Revokes one of the caller's tokens; another user's token answers not-found.
pub async fn revoke_token(store: &dyn IdentityStore, caller: &Principal, id: Uuid) -> Result<()> {
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
                Scope::TrustRead => {
                    "only customer administrators and support managers may hold it".to_owned()
                }
                Scope::GrantsRead if user.role != crate::users::Role::Manager => {
                    "only support managers may hold it (it lists who may enter customers' tenants)"
                        .to_owned()
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
pub async fn has_manager(store: &dyn IdentityStore) -> Result<bool> {
    Ok(store.count_users_with_role(Role::Manager).await? > 0)
}

/// A stored API token (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Identifier.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// Scopes granted.
    pub scopes: Vec<Scope>,
    /// A name the owner chose, e.g. "nightly export".
    pub label: Option<String>,
    /// When it was created.
    pub created_at: crate::Timestamp,
    /// When it last authenticated a request (updated at most once a minute).
    pub last_used_at: Option<crate::Timestamp>,
}

/// Credentials and sign-in state: tokens, passwords, linked identities, sessions.
#[async_trait::async_trait]
pub trait IdentityStore: DirectoryStore {
    /// Stores a token hash.
    async fn create_token(&self, token: &TokenRecord, audit: &AuditRecord) -> Result<()>;

    /// The user and record of a token, by hash.
    async fn find_token(&self, hash: &str) -> Result<Option<(User, TokenRecord)>>;

    /// Tokens of one user (or of everyone), newest first; never their hashes' owners' others.
    async fn list_tokens(&self, user_id: Option<Uuid>) -> Result<Vec<TokenRecord>>;

    /// Deletes a token (only if it belongs to `user_id`, when given); whether one was deleted.
    async fn revoke_token(
        &self,
        id: Uuid,
        user_id: Option<Uuid>,
        audit: &AuditRecord,
    ) -> Result<bool>;

    /// Records that a token was used.
    async fn touch_token(&self, id: Uuid, at: crate::Timestamp) -> Result<()>;

    /// A user's local password state, by (lowercase) email.
    async fn local_credentials(&self, email: &str) -> Result<Option<(User, LocalCredentials)>>;

    /// Sets (or clears) a local password.
    async fn set_password(
        &self,
        user_id: Uuid,
        hash: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<()>;

    /// Sets a password in place of `was` (the hash the user has now, or none) and ends the
    /// user's sessions, in one transaction; false, changing nothing, when the password is no
    /// longer `was` because another change came first.
    async fn replace_password(
        &self,
        user_id: Uuid,
        was: Option<&str>,
        hash: &str,
        audit: &AuditRecord,
    ) -> Result<bool>;

    /// Failed password sign-ins under a throttle key (a keyed hash of an email) and when the
    /// last one was.
    async fn throttle(&self, key: &str) -> Result<Option<(u32, crate::Timestamp)>>;

    /// Stores the failures under a key; zero forgets it.
    async fn set_throttle(&self, key: &str, failures: u32, at: crate::Timestamp) -> Result<()>;

    /// Forgets throttle keys whose last failure is older than `before`; how many.
    async fn prune_throttle(&self, before: crate::Timestamp) -> Result<u64>;

    /// The user an issuer's subject is bound to.
    async fn find_identity(&self, issuer: &str, subject: &str) -> Result<Option<User>>;

    /// The identities bound to a user.
    async fn identities_of(&self, user_id: Uuid) -> Result<Vec<Identity>>;

    /// Binds an identity to its user; false when that issuer's subject is bound already.
    async fn link_identity(&self, identity: &Identity, audit: &AuditRecord) -> Result<bool>;

    /// Unbinds an identity; false when it was not bound.
    async fn unlink_identity(
        &self,
        issuer: &str,
        subject: &str,
        audit: &AuditRecord,
    ) -> Result<bool>;

    /// Stores a browser session.
    async fn create_session(&self, session: &Session, audit: &AuditRecord) -> Result<()>;

    /// A live session and its user, by hash.
    async fn find_session(
        &self,
        hash: &str,
        now: crate::Timestamp,
    ) -> Result<Option<(User, Session)>>;

    /// Ends a session.
    async fn delete_session(&self, hash: &str, audit: &AuditRecord) -> Result<()>;

    /// Stores a pending OpenID Connect login.
    async fn create_login_flow(&self, flow: &LoginFlow) -> Result<()>;

    /// Removes and returns a pending login, so each `state` is used once.
    async fn take_login_flow(&self, state_hash: &str) -> Result<Option<LoginFlow>>;

    /// Creates a user (as [`DirectoryStore::create_user`]) and writes their invitation with
    /// them, in one transaction.
    async fn invite_user(
        &self,
        user: &User,
        elevated_cap: Option<u32>,
        audit: &AuditRecord,
        invitation: &crate::mail::NewMail,
    ) -> Result<()>;

    /// Writes a new invitation of an existing user, with its audit entry.
    async fn invite_again(
        &self,
        audit: &AuditRecord,
        invitation: &crate::mail::NewMail,
    ) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_opens_once_and_only_until_it_expires() {
        let key = [7u8; 32];
        let (u, other) = (Uuid::now_v7(), Uuid::now_v7());
        let now = crate::now();
        let exp = now.as_second() + 60;
        let t = invite_token(&key, u, exp, None);
        assert!(invite_ok(&key, u, exp, None, &t, now));
        assert!(!invite_ok(&key, other, exp, None, &t, now), "another user");
        assert!(
            !invite_ok(&key, u, exp + 1, None, &t, now),
            "a later expiry"
        );
        assert!(
            !invite_ok(&key, u, exp, Some("$argon2id$set"), &t, now),
            "used"
        );
        assert!(!invite_ok(&[8u8; 32], u, exp, None, &t, now), "another key");
        let later = now + jiff::SignedDuration::from_secs(61);
        assert!(!invite_ok(&key, u, exp, None, &t, later), "expired");
        assert!(!invite_ok(&key, u, exp, None, "", now));
    }

    #[test]
    fn waits_grow_after_the_free_attempts_and_are_forgotten() {
        let p = ThrottlePolicy::default();
        let t = crate::now();
        let at = |secs: u64| t.checked_add(Duration::from_secs(secs)).unwrap();
        assert_eq!(p.wait(4, t, t), None);
        assert_eq!(p.wait(5, t, t), Some(Duration::from_secs(2)));
        assert_eq!(p.wait(5, t, at(2)), None);
        assert_eq!(p.wait(8, t, at(1)), Some(Duration::from_secs(15)));
        assert_eq!(p.wait(40, t, t), Some(Duration::from_secs(300)));
        assert_eq!(p.wait(40, t, at(299)), Some(Duration::from_secs(1)));
        assert_eq!(p.wait(40, t, at(300)), None);
        assert_eq!(p.counted(40, t, at(24 * 3600)), 0);
    }
}
