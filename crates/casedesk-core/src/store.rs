//! The storage interface. `casedesk-store` implements it for SQLite and PostgreSQL; the
//! store contract tests run the same suite against both.

use async_trait::async_trait;
use uuid::Uuid;

use crate::Result;
use crate::accounts::{Account, Tenant};
use crate::cases::{
    Case, CaseEvent, CasePatch, CaseQuery, CaseSummary, CreateOutcome, IdempotencyKey, NewCase,
    NewEvent, Status,
};
use crate::identity::{LocalCredentials, LoginFlow, Session};
use crate::taxonomy::IssueArea;
use crate::users::{Role, Scope, User};

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

/// Persistence for everything casedesk keeps.
#[async_trait]
pub trait Store: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;

    /// Stores a new account; a duplicate name is a conflict.
    async fn create_account(&self, account: &Account) -> Result<()>;
    /// Finds an account by id or by exact name.
    async fn find_account(&self, id_or_name: &str) -> Result<Option<Account>>;
    /// Every account, oldest first.
    async fn list_accounts(&self) -> Result<Vec<Account>>;

    /// Stores a new tenant; a duplicate slug is a conflict.
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()>;
    /// The tenants of an account.
    async fn list_tenants(&self, account_id: Uuid) -> Result<Vec<Tenant>>;

    /// Stores a new user with their queues; a duplicate email is a conflict. When
    /// `elevated_cap` is given and the user is elevated, the store refuses (conflict) if the
    /// account already has that many elevated contacts, checked in the same transaction.
    async fn create_user(&self, user: &User, elevated_cap: Option<u32>) -> Result<()>;
    /// A user by id.
    async fn get_user(&self, id: Uuid) -> Result<Option<User>>;
    /// A user by (lowercase) email.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>>;
    /// The users of an account.
    async fn list_account_users(&self, account_id: Uuid) -> Result<Vec<User>>;

    /// Stores a token hash.
    async fn create_token(&self, token: &TokenRecord) -> Result<()>;
    /// The user and record of a token, by hash.
    async fn find_token(&self, hash: &str) -> Result<Option<(User, TokenRecord)>>;
    /// Tokens of one user (or of everyone), newest first; never their hashes' owners' others.
    async fn list_tokens(&self, user_id: Option<Uuid>) -> Result<Vec<TokenRecord>>;
    /// Deletes a token (only if it belongs to `user_id`, when given); whether one was deleted.
    async fn revoke_token(&self, id: Uuid, user_id: Option<Uuid>) -> Result<bool>;
    /// Records that a token was used.
    async fn touch_token(&self, id: Uuid, at: crate::Timestamp) -> Result<()>;

    /// Replaces a user's role, flags and queues (roles given by an identity provider).
    async fn update_user_access(&self, user: &User) -> Result<()>;
    /// How many users have a role.
    async fn count_users_with_role(&self, role: Role) -> Result<u64>;
    /// A user's local password state, by (lowercase) email.
    async fn local_credentials(&self, email: &str) -> Result<Option<(User, LocalCredentials)>>;
    /// Sets (or clears) a local password and resets the failure counter.
    async fn set_password(&self, user_id: Uuid, hash: Option<&str>) -> Result<()>;
    /// Stores the failure counter and lock after a sign-in attempt.
    async fn record_sign_in(
        &self,
        user_id: Uuid,
        failed_attempts: u32,
        locked_until: Option<crate::Timestamp>,
    ) -> Result<()>;

    /// Stores a browser session.
    async fn create_session(&self, session: &Session) -> Result<()>;
    /// A live session and its user, by hash.
    async fn find_session(
        &self,
        hash: &str,
        now: crate::Timestamp,
    ) -> Result<Option<(User, Session)>>;
    /// Ends a session.
    async fn delete_session(&self, hash: &str) -> Result<()>;
    /// Stores a pending OpenID Connect login.
    async fn create_login_flow(&self, flow: &LoginFlow) -> Result<()>;
    /// Removes and returns a pending login, so each `state` is used once.
    async fn take_login_flow(&self, state_hash: &str) -> Result<Option<LoginFlow>>;

    /// The issue-area taxonomy.
    async fn issue_areas(&self) -> Result<Vec<IssueArea>>;

    /// Stores a case with its `created` event, atomically with its idempotency key.
    async fn create_case(
        &self,
        case: &NewCase,
        event: &NewEvent,
        key: Option<&IdempotencyKey>,
    ) -> Result<CreateOutcome>;
    /// A case by number.
    async fn get_case(&self, number: i64) -> Result<Option<Case>>;
    /// A page of cases, newest first.
    async fn list_cases(&self, query: &CaseQuery) -> Result<Vec<CaseSummary>>;
    /// Applies a change and appends its event if the case is still at `expected_version`;
    /// `None` when another change came first.
    async fn update_case(
        &self,
        number: i64,
        expected_version: i64,
        patch: &CasePatch,
        event: &NewEvent,
    ) -> Result<Option<Case>>;
    /// The timeline of a case, oldest first.
    async fn list_events(&self, number: i64, include_internal: bool) -> Result<Vec<CaseEvent>>;

    /// Bulk import for data generators and migrations from other tools: each case with the
    /// status it has reached, one `created` event each, all in one transaction; no idempotency.
    async fn import_cases(&self, cases: &[(NewCase, Status)]) -> Result<Vec<i64>>;
}
