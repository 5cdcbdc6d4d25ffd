//! A short-lived in-memory cache in front of either backend, for what every request reads
//! and rarely changes: the caller's token, the issue areas, an account's tenants and users,
//! and users and accounts by email and name (bearer JWTs name both on every request).
//!
//! Changes made through this process invalidate at once. Changes made by another process (a
//! second node, the CLI) show within [`DIRECTORY_TTL`]; a token's roles and scopes within
//! [`TOKEN_TTL`]. A token that is not found is never cached, so a new token works at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use casedesk_core::Result;
use casedesk_core::accounts::{Account, Tenant};
use casedesk_core::cases::{
    Case, CaseEvent, CasePatch, CaseQuery, CaseSummary, CreateOutcome, IdempotencyKey, NewCase,
    NewEvent, Status,
};
use casedesk_core::identity::{LocalCredentials, LoginFlow, Session};
use casedesk_core::store::{Store, TokenRecord};
use casedesk_core::taxonomy::IssueArea;
use casedesk_core::users::{Role, User};
use uuid::Uuid;

/// How long a token's user and scopes are reused.
pub const TOKEN_TTL: Duration = Duration::from_secs(5);
/// How long an account's tenants and users, and the issue areas, are reused.
pub const DIRECTORY_TTL: Duration = Duration::from_secs(5);
/// Entries kept per map before it is emptied, so memory stays bounded.
const MAX_ENTRIES: usize = 10_000;

struct Timed<K, V>(Mutex<HashMap<K, (Instant, V)>>, Duration);

impl<K: std::hash::Hash + Eq, V: Clone> Timed<K, V> {
    fn new(ttl: Duration) -> Self {
        Timed(Mutex::new(HashMap::new()), ttl)
    }
    fn get<Q: std::hash::Hash + Eq + ?Sized>(&self, k: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
    {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(k)
            .filter(|(at, _)| at.elapsed() < self.1)
            .map(|(_, v)| v.clone())
    }
    fn put(&self, k: K, v: V) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(k, (Instant::now(), v));
    }
    fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
    fn forget(&self, k: &K) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(k);
    }
}

/// The caching decorator.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    tokens: Timed<String, (User, TokenRecord)>,
    areas: Timed<(), Vec<IssueArea>>,
    tenants: Timed<Uuid, Vec<Tenant>>,
    users: Timed<Uuid, Vec<User>>,
    by_email: Timed<String, User>,
    accounts: Timed<String, Account>,
}

impl CachedStore {
    /// Wraps a store.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        CachedStore {
            inner,
            tokens: Timed::new(TOKEN_TTL),
            areas: Timed::new(DIRECTORY_TTL),
            tenants: Timed::new(DIRECTORY_TTL),
            users: Timed::new(DIRECTORY_TTL),
            by_email: Timed::new(DIRECTORY_TTL),
            accounts: Timed::new(DIRECTORY_TTL),
        }
    }
}

#[async_trait]
impl Store for CachedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn create_account(&self, account: &Account) -> Result<()> {
        self.inner.create_account(account).await
    }
    async fn find_account(&self, id_or_name: &str) -> Result<Option<Account>> {
        // Bearer JWTs name their account on every request.
        if let Some(a) = self.accounts.get(id_or_name) {
            return Ok(Some(a));
        }
        let v = self.inner.find_account(id_or_name).await?;
        if let Some(a) = &v {
            self.accounts.put(id_or_name.to_owned(), a.clone());
        }
        Ok(v)
    }
    async fn list_accounts(&self) -> Result<Vec<Account>> {
        self.inner.list_accounts().await
    }
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        let r = self.inner.create_tenant(tenant).await;
        self.tenants.forget(&tenant.account_id);
        r
    }
    async fn list_tenants(&self, account_id: Uuid) -> Result<Vec<Tenant>> {
        if let Some(v) = self.tenants.get(&account_id) {
            return Ok(v);
        }
        let v = self.inner.list_tenants(account_id).await?;
        self.tenants.put(account_id, v.clone());
        Ok(v)
    }
    async fn create_user(&self, user: &User, elevated_cap: Option<u32>) -> Result<()> {
        let r = self.inner.create_user(user, elevated_cap).await;
        if let Some(a) = user.account_id {
            self.users.forget(&a);
        }
        r
    }
    async fn get_user(&self, id: Uuid) -> Result<Option<User>> {
        self.inner.get_user(id).await
    }
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>> {
        // Bearer JWTs name their user by email on every request.
        if let Some(u) = self.by_email.get(email) {
            return Ok(Some(u));
        }
        let v = self.inner.find_user_by_email(email).await?;
        if let Some(u) = &v {
            self.by_email.put(email.to_owned(), u.clone());
        }
        Ok(v)
    }
    async fn list_account_users(&self, account_id: Uuid) -> Result<Vec<User>> {
        if let Some(v) = self.users.get(&account_id) {
            return Ok(v);
        }
        let v = self.inner.list_account_users(account_id).await?;
        self.users.put(account_id, v.clone());
        Ok(v)
    }
    async fn create_token(&self, token: &TokenRecord) -> Result<()> {
        self.inner.create_token(token).await
    }
    async fn find_token(&self, hash: &str) -> Result<Option<(User, TokenRecord)>> {
        if let Some(v) = self.tokens.get(hash) {
            return Ok(Some(v));
        }
        let v = self.inner.find_token(hash).await?;
        if let Some(found) = &v {
            self.tokens.put(hash.to_owned(), found.clone());
        }
        Ok(v)
    }
    async fn list_tokens(&self, user_id: Option<Uuid>) -> Result<Vec<TokenRecord>> {
        self.inner.list_tokens(user_id).await
    }
    async fn revoke_token(&self, id: Uuid, user_id: Option<Uuid>) -> Result<bool> {
        let r = self.inner.revoke_token(id, user_id).await;
        // Entries are keyed by hash, which a revocation does not name; revocations are rare.
        self.tokens.clear();
        r
    }
    async fn touch_token(&self, id: Uuid, at: casedesk_core::Timestamp) -> Result<()> {
        self.inner.touch_token(id, at).await
    }
    async fn update_user_access(&self, user: &User) -> Result<()> {
        let r = self.inner.update_user_access(user).await;
        self.tokens.clear();
        self.by_email.forget(&user.email);
        if let Some(a) = user.account_id {
            self.users.forget(&a);
        }
        r
    }
    async fn count_users_with_role(&self, role: Role) -> Result<u64> {
        self.inner.count_users_with_role(role).await
    }
    async fn local_credentials(&self, email: &str) -> Result<Option<(User, LocalCredentials)>> {
        self.inner.local_credentials(email).await
    }
    async fn set_password(&self, user_id: Uuid, hash: Option<&str>) -> Result<()> {
        self.inner.set_password(user_id, hash).await
    }
    async fn record_sign_in(
        &self,
        user_id: Uuid,
        failed_attempts: u32,
        locked_until: Option<casedesk_core::Timestamp>,
    ) -> Result<()> {
        self.inner
            .record_sign_in(user_id, failed_attempts, locked_until)
            .await
    }
    async fn create_session(&self, session: &Session) -> Result<()> {
        self.inner.create_session(session).await
    }
    async fn find_session(
        &self,
        hash: &str,
        now: casedesk_core::Timestamp,
    ) -> Result<Option<(User, Session)>> {
        self.inner.find_session(hash, now).await
    }
    async fn delete_session(&self, hash: &str) -> Result<()> {
        self.inner.delete_session(hash).await
    }
    async fn create_login_flow(&self, flow: &LoginFlow) -> Result<()> {
        self.inner.create_login_flow(flow).await
    }
    async fn take_login_flow(&self, state_hash: &str) -> Result<Option<LoginFlow>> {
        self.inner.take_login_flow(state_hash).await
    }
    async fn issue_areas(&self) -> Result<Vec<IssueArea>> {
        if let Some(v) = self.areas.get(&()) {
            return Ok(v);
        }
        let v = self.inner.issue_areas().await?;
        self.areas.put((), v.clone());
        Ok(v)
    }
    async fn create_case(
        &self,
        case: &NewCase,
        event: &NewEvent,
        key: Option<&IdempotencyKey>,
    ) -> Result<CreateOutcome> {
        self.inner.create_case(case, event, key).await
    }
    async fn get_case(&self, number: i64) -> Result<Option<Case>> {
        self.inner.get_case(number).await
    }
    async fn list_cases(&self, query: &CaseQuery) -> Result<Vec<CaseSummary>> {
        self.inner.list_cases(query).await
    }
    async fn update_case(
        &self,
        number: i64,
        expected_version: i64,
        patch: &CasePatch,
        event: &NewEvent,
    ) -> Result<Option<Case>> {
        self.inner
            .update_case(number, expected_version, patch, event)
            .await
    }
    async fn list_events(&self, number: i64, include_internal: bool) -> Result<Vec<CaseEvent>> {
        self.inner.list_events(number, include_internal).await
    }
    async fn import_cases(&self, cases: &[(NewCase, Status)]) -> Result<Vec<i64>> {
        self.inner.import_cases(cases).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let t: Timed<u8, u8> = Timed::new(Duration::from_millis(30));
        t.put(1, 10);
        assert_eq!(t.get(&1), Some(10));
        t.forget(&1);
        assert_eq!(t.get(&1), None);
        t.put(2, 20);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(t.get(&2), None, "expired");
    }
}
