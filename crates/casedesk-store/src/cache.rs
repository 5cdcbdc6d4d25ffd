//! A short-lived in-memory cache in front of either backend, for what every request reads
//! and rarely changes: the caller's token, the issue areas, an account's tenants and users.
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
use casedesk_core::store::{Store, TokenRecord};
use casedesk_core::taxonomy::IssueArea;
use casedesk_core::users::{Scope, User};
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
    fn get(&self, k: &K) -> Option<V> {
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
    tokens: Timed<String, (User, Vec<Scope>)>,
    areas: Timed<(), Vec<IssueArea>>,
    tenants: Timed<Uuid, Vec<Tenant>>,
    users: Timed<Uuid, Vec<User>>,
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
        self.inner.find_account(id_or_name).await
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
        self.inner.find_user_by_email(email).await
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
    async fn find_token(&self, hash: &str) -> Result<Option<(User, Vec<Scope>)>> {
        if let Some(v) = self.tokens.get(&hash.to_owned()) {
            return Ok(Some(v));
        }
        let v = self.inner.find_token(hash).await?;
        if let Some(found) = &v {
            self.tokens.put(hash.to_owned(), found.clone());
        }
        Ok(v)
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
