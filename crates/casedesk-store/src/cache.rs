//! A short-lived in-memory cache in front of either backend, for what every request reads
//! and rarely changes: the caller's token or browser session, the issue areas, an account's tenants and users,
//! and users and accounts by email and name (bearer JWTs name both on every request).
//!
//! Changes made through this process invalidate at once. Changes made by another process (a
//! second node, the CLI) show within [`DIRECTORY_TTL`]; a token's roles and scopes within
//! [`TOKEN_TTL`]; a sign-out on another node ends the session here within [`TOKEN_TTL`]. A
//! token or session that is not found is never cached, so a new one works at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use casedesk_core::Result;
use casedesk_core::Timestamp;
use casedesk_core::accounts::{Account, Tenant};
use casedesk_core::audit::AuditFilter;
use casedesk_core::audit::{AuditEntry, AuditRecord, Checkpoint};
use casedesk_core::cases::{
    Case, CaseEvent, CaseQuery, CaseSummary, CreateOutcome, IdempotencyKey, NewEvent, Status,
};
use casedesk_core::identity::TokenRecord;
use casedesk_core::identity::{Identity, LocalCredentials, LoginFlow, Session};
use casedesk_core::jobs::{Claim, Finish, Job, JobCount, JobQuery, JobState, NewJob};
use casedesk_core::mail::{InboundRecord, InboundSummary, MailRecord, MailResult, NewMail};
use casedesk_core::service::CasePatch;
use casedesk_core::service::FollowUp;
use casedesk_core::service::NewCase;
use casedesk_core::store::Store;
use casedesk_core::taxonomy::IssueArea;
use casedesk_core::users::{Role, User};
use casedesk_core::webhooks::AttemptRecord;
use casedesk_core::webhooks::NewDelivery;
use casedesk_core::webhooks::{Attempt, Delivery, Endpoint, Notice, SecretRecord};
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
    sessions: Timed<String, (User, Session)>,
    areas: Timed<(), Vec<IssueArea>>,
    tenants: Timed<Uuid, Vec<Tenant>>,
    users: Timed<Uuid, Vec<User>>,
    by_email: Timed<String, User>,
    identities: Timed<(String, String), User>,
    accounts: Timed<String, Account>,
    // SLA settings: read on every case change, changed rarely (by managers).
    sla_settings: Timed<(), Option<String>>,
    policies: Timed<(), Vec<(String, String, String, Timestamp)>>,
    calendars: Timed<String, Vec<(Timestamp, String)>>,
    account_calendars: Timed<Uuid, Option<String>>,
    // Wakes this process's job workers after a write that queued work, so a webhook leaves
    // at once instead of at the next poll; other nodes find it when they poll.
    wake: Arc<tokio::sync::Notify>,
}

impl CachedStore {
    /// Wraps a store; `wake` is notified after writes that queue jobs.
    pub fn new(inner: Arc<dyn Store>, wake: Arc<tokio::sync::Notify>) -> Self {
        CachedStore {
            inner,
            wake,
            tokens: Timed::new(TOKEN_TTL),
            sessions: Timed::new(TOKEN_TTL),
            areas: Timed::new(DIRECTORY_TTL),
            tenants: Timed::new(DIRECTORY_TTL),
            users: Timed::new(DIRECTORY_TTL),
            by_email: Timed::new(DIRECTORY_TTL),
            identities: Timed::new(DIRECTORY_TTL),
            accounts: Timed::new(DIRECTORY_TTL),
            sla_settings: Timed::new(DIRECTORY_TTL),
            policies: Timed::new(DIRECTORY_TTL),
            calendars: Timed::new(DIRECTORY_TTL),
            account_calendars: Timed::new(DIRECTORY_TTL),
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
}

#[async_trait]
impl casedesk_core::directory::DirectoryStore for CachedStore {
    async fn create_account(&self, account: &Account, audit: &AuditRecord) -> Result<()> {
        self.inner.create_account(account, audit).await
    }

    async fn set_account_profile(
        &self,
        account_id: Uuid,
        csm: Option<Uuid>,
        copy_requester: bool,
        audit: &AuditRecord,
    ) -> Result<()> {
        let r = self
            .inner
            .set_account_profile(account_id, csm, copy_requester, audit)
            .await;
        // Keyed by id and by name: emptied whole.
        self.accounts.clear();
        r
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

    async fn accounts_of_csm(&self, user_id: Uuid) -> Result<Vec<Account>> {
        self.inner.accounts_of_csm(user_id).await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>> {
        self.inner.list_accounts().await
    }

    async fn create_tenant(&self, tenant: &Tenant, audit: &AuditRecord) -> Result<()> {
        let r = self.inner.create_tenant(tenant, audit).await;
        self.tenants.forget(&tenant.account_id);
        r
    }

    async fn find_tenant(&self, slug: &str) -> Result<Option<Tenant>> {
        self.inner.find_tenant(slug).await
    }

    async fn list_tenants(&self, account_id: Uuid) -> Result<Vec<Tenant>> {
        if let Some(v) = self.tenants.get(&account_id) {
            return Ok(v);
        }
        let v = self.inner.list_tenants(account_id).await?;
        self.tenants.put(account_id, v.clone());
        Ok(v)
    }

    async fn create_user(
        &self,
        user: &User,
        elevated_cap: Option<u32>,
        audit: &AuditRecord,
    ) -> Result<()> {
        let r = self.inner.create_user(user, elevated_cap, audit).await;
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

    async fn update_user_access(
        &self,
        before: &User,
        user: &User,
        keep: &casedesk_core::directory::Keep,
        audit: &AuditRecord,
    ) -> Result<()> {
        let r = self
            .inner
            .update_user_access(before, user, keep, audit)
            .await;
        self.tokens.clear();
        self.sessions.clear();
        self.by_email.forget(&user.email);
        self.identities.clear();
        if let Some(a) = user.account_id {
            self.users.forget(&a);
        }
        r
    }

    async fn count_users_with_role(&self, role: Role) -> Result<u64> {
        self.inner.count_users_with_role(role).await
    }

    async fn issue_areas(&self) -> Result<Vec<IssueArea>> {
        if let Some(v) = self.areas.get(&()) {
            return Ok(v);
        }
        let v = self.inner.issue_areas().await?;
        self.areas.put((), v.clone());
        Ok(v)
    }

    async fn support_users(&self) -> Result<Vec<User>> {
        self.inner.support_users().await
    }
}

#[async_trait]
impl casedesk_core::identity::IdentityStore for CachedStore {
    async fn create_token(&self, token: &TokenRecord, audit: &AuditRecord) -> Result<()> {
        self.inner.create_token(token, audit).await
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

    async fn revoke_token(
        &self,
        id: Uuid,
        user_id: Option<Uuid>,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let r = self.inner.revoke_token(id, user_id, audit).await;
        // Entries are keyed by hash, which a revocation does not name; revocations are rare.
        self.tokens.clear();
        r
    }

    async fn touch_token(&self, id: Uuid, at: casedesk_core::Timestamp) -> Result<()> {
        self.inner.touch_token(id, at).await
    }

    async fn local_credentials(&self, email: &str) -> Result<Option<(User, LocalCredentials)>> {
        self.inner.local_credentials(email).await
    }

    async fn set_password(
        &self,
        user_id: Uuid,
        hash: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<()> {
        self.inner.set_password(user_id, hash, audit).await
    }

    async fn replace_password(
        &self,
        user_id: Uuid,
        was: Option<&str>,
        hash: &str,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let r = self.inner.replace_password(user_id, was, hash, audit).await;
        // The user's sessions ended with it.
        self.sessions.clear();
        r
    }

    async fn throttle(&self, key: &str) -> Result<Option<(u32, Timestamp)>> {
        self.inner.throttle(key).await
    }

    async fn set_throttle(&self, key: &str, failures: u32, at: Timestamp) -> Result<()> {
        self.inner.set_throttle(key, failures, at).await
    }

    async fn prune_throttle(&self, before: Timestamp) -> Result<u64> {
        self.inner.prune_throttle(before).await
    }

    async fn find_identity(&self, issuer: &str, subject: &str) -> Result<Option<User>> {
        // Bearer JWTs name their subject on every request, like their email.
        let key = (issuer.to_owned(), subject.to_owned());
        if let Some(u) = self.identities.get(&key) {
            return Ok(Some(u));
        }
        let v = self.inner.find_identity(issuer, subject).await?;
        if let Some(u) = &v {
            self.identities.put(key, u.clone());
        }
        Ok(v)
    }

    async fn identities_of(&self, user_id: Uuid) -> Result<Vec<Identity>> {
        self.inner.identities_of(user_id).await
    }

    async fn link_identity(&self, identity: &Identity, audit: &AuditRecord) -> Result<bool> {
        self.inner.link_identity(identity, audit).await
    }

    async fn unlink_identity(
        &self,
        issuer: &str,
        subject: &str,
        audit: &AuditRecord,
    ) -> Result<bool> {
        let r = self.inner.unlink_identity(issuer, subject, audit).await;
        self.identities.clear();
        r
    }

    async fn create_session(&self, session: &Session, audit: &AuditRecord) -> Result<()> {
        self.inner.create_session(session, audit).await
    }

    async fn find_session(
        &self,
        hash: &str,
        now: casedesk_core::Timestamp,
    ) -> Result<Option<(User, Session)>> {
        if let Some(v) = self.sessions.get(hash).filter(|(_, s)| s.expires_at > now) {
            return Ok(Some(v));
        }
        let v = self.inner.find_session(hash, now).await?;
        if let Some(found) = &v {
            self.sessions.put(hash.to_owned(), found.clone());
        }
        Ok(v)
    }

    async fn delete_session(&self, hash: &str, audit: &AuditRecord) -> Result<()> {
        let r = self.inner.delete_session(hash, audit).await;
        // After the delete, so a lookup racing with it cannot cache the session again.
        self.sessions.forget(&hash.to_owned());
        r
    }

    async fn create_login_flow(&self, flow: &LoginFlow) -> Result<()> {
        self.inner.create_login_flow(flow).await
    }

    async fn take_login_flow(&self, state_hash: &str) -> Result<Option<LoginFlow>> {
        self.inner.take_login_flow(state_hash).await
    }

    async fn invite_again(
        &self,
        audit: &AuditRecord,
        invitation: &casedesk_core::mail::NewMail,
    ) -> Result<()> {
        self.inner.invite_again(audit, invitation).await
    }

    async fn invite_user(
        &self,
        user: &User,
        elevated_cap: Option<u32>,
        audit: &AuditRecord,
        invitation: &casedesk_core::mail::NewMail,
    ) -> Result<()> {
        let r = self
            .inner
            .invite_user(user, elevated_cap, audit, invitation)
            .await;
        if let Some(a) = user.account_id {
            self.users.forget(&a);
        }
        r
    }
}

#[async_trait]
impl casedesk_core::cases::CaseStore for CachedStore {
    async fn get_case(&self, number: i64) -> Result<Option<Case>> {
        self.inner.get_case(number).await
    }

    async fn list_cases(&self, query: &CaseQuery) -> Result<Vec<CaseSummary>> {
        self.inner.list_cases(query).await
    }

    async fn list_events(&self, number: i64, include_internal: bool) -> Result<Vec<CaseEvent>> {
        self.inner.list_events(number, include_internal).await
    }

    async fn event_with_case(&self, id: i64) -> Result<Option<(CaseEvent, Case)>> {
        self.inner.event_with_case(id).await
    }

    async fn open_case_numbers(&self, after: i64, limit: u32) -> Result<Vec<i64>> {
        self.inner.open_case_numbers(after, limit).await
    }
}

#[async_trait]
impl casedesk_core::service::ServiceStore for CachedStore {
    async fn create_case(
        &self,
        case: &NewCase,
        event: &NewEvent,
        key: Option<&IdempotencyKey>,
        audit: &AuditRecord,
        mails: Option<casedesk_core::mail::Compose>,
    ) -> Result<CreateOutcome> {
        let r = self.inner.create_case(case, event, key, audit, mails).await;
        self.wake.notify_one();
        r
    }

    async fn update_case(
        &self,
        number: i64,
        expected_version: i64,
        patch: &CasePatch,
        event: &NewEvent,
        audit: &AuditRecord,
    ) -> Result<Option<Case>> {
        let r = self
            .inner
            .update_case(number, expected_version, patch, event, audit)
            .await;
        self.wake.notify_one();
        r
    }

    async fn import_cases(&self, cases: &[(NewCase, Status)]) -> Result<Vec<i64>> {
        self.inner.import_cases(cases).await
    }

    async fn import_history(
        &self,
        cases: &[casedesk_core::service::HistoricCase],
    ) -> Result<Vec<i64>> {
        self.inner.import_history(cases).await
    }

    async fn finish_job(&self, c: &Claim, f: &Finish, follow: &FollowUp) -> Result<bool> {
        let r = self.inner.finish_job(c, f, follow).await;
        if !follow.jobs.is_empty() {
            self.wake.notify_one();
        }
        r
    }

    async fn fan_out(&self, c: &Claim, d: &[NewDelivery], m: &[NewMail]) -> Result<bool> {
        let r = self.inner.fan_out(c, d, m).await;
        if !d.is_empty() || !m.is_empty() {
            self.wake.notify_one();
        }
        r
    }
}

#[async_trait]
impl casedesk_core::audit::AuditStore for CachedStore {
    async fn append_audit(&self, a: &AuditRecord) -> Result<()> {
        self.inner.append_audit(a).await
    }

    async fn audit_page(&self, after: i64, limit: u32, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        self.inner.audit_page(after, limit, f).await
    }

    async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        self.inner.audit_head().await
    }

    async fn audit_checkpoint(&self) -> Result<Option<Checkpoint>> {
        self.inner.audit_checkpoint().await
    }

    async fn prune_audit(&self, before: Timestamp, a: &AuditRecord) -> Result<u64> {
        self.inner.prune_audit(before, a).await
    }
}

#[async_trait]
impl casedesk_core::jobs::JobStore for CachedStore {
    async fn enqueue_job(&self, j: &NewJob) -> Result<()> {
        let r = self.inner.enqueue_job(j).await;
        self.wake.notify_one();
        r
    }

    async fn claim_jobs(
        &self,
        node: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claim>> {
        self.inner.claim_jobs(node, now, lease, limit).await
    }

    async fn extend_lease(&self, c: &Claim, until: Timestamp) -> Result<bool> {
        self.inner.extend_lease(c, until).await
    }

    async fn release_expired(&self, now: Timestamp) -> Result<u64> {
        self.inner.release_expired(now).await
    }

    async fn list_jobs(&self, q: &JobQuery) -> Result<Vec<Job>> {
        self.inner.list_jobs(q).await
    }

    async fn get_job(&self, id: Uuid) -> Result<Option<Job>> {
        self.inner.get_job(id).await
    }

    async fn set_job_state(
        &self,
        id: Uuid,
        from: JobState,
        to: JobState,
        a: &AuditRecord,
    ) -> Result<Option<Job>> {
        let r = self.inner.set_job_state(id, from, to, a).await;
        self.wake.notify_one();
        r
    }

    async fn job_counts(&self, now: Timestamp) -> Result<Vec<JobCount>> {
        self.inner.job_counts(now).await
    }

    async fn prune_jobs(&self, before: Timestamp, now: Timestamp) -> Result<u64> {
        self.inner.prune_jobs(before, now).await
    }
}

#[async_trait]
impl casedesk_core::webhooks::WebhookStore for CachedStore {
    async fn create_endpoint(
        &self,
        ep: &Endpoint,
        s: &SecretRecord,
        a: &AuditRecord,
    ) -> Result<()> {
        self.inner.create_endpoint(ep, s, a).await
    }

    async fn get_endpoint(&self, id: Uuid) -> Result<Option<Endpoint>> {
        self.inner.get_endpoint(id).await
    }

    async fn list_endpoints(&self, account: Option<Uuid>) -> Result<Vec<Endpoint>> {
        self.inner.list_endpoints(account).await
    }

    async fn update_endpoint(&self, ep: &Endpoint, a: &AuditRecord) -> Result<()> {
        self.inner.update_endpoint(ep, a).await
    }

    async fn delete_endpoint(&self, id: Uuid, a: &AuditRecord) -> Result<()> {
        self.inner.delete_endpoint(id, a).await
    }

    async fn add_secret(&self, s: &SecretRecord, others: Timestamp, a: &AuditRecord) -> Result<()> {
        self.inner.add_secret(s, others, a).await
    }

    async fn live_secrets(&self, ep: Uuid, now: Timestamp) -> Result<Vec<SecretRecord>> {
        self.inner.live_secrets(ep, now).await
    }

    async fn enabled_endpoints(&self) -> Result<Vec<Endpoint>> {
        self.inner.enabled_endpoints().await
    }

    async fn get_delivery(&self, id: &str) -> Result<Option<Delivery>> {
        self.inner.get_delivery(id).await
    }

    async fn list_deliveries(
        &self,
        ep: Uuid,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        self.inner.list_deliveries(ep, before, limit).await
    }

    async fn list_attempts(&self, id: &str) -> Result<Vec<Attempt>> {
        self.inner.list_attempts(id).await
    }

    async fn record_attempt(&self, c: &Claim, r: &AttemptRecord, f: &Finish) -> Result<bool> {
        self.inner.record_attempt(c, r, f).await
    }

    async fn redeliver(&self, id: &str, j: &NewJob, a: &AuditRecord) -> Result<()> {
        let r = self.inner.redeliver(id, j, a).await;
        self.wake.notify_one();
        r
    }

    async fn list_notices(&self, account: Option<Uuid>) -> Result<Vec<Notice>> {
        self.inner.list_notices(account).await
    }
}

#[async_trait]
impl casedesk_core::sla::SlaStore for CachedStore {
    async fn put_calendar(
        &self,
        name: &str,
        spec: &str,
        from: casedesk_core::Timestamp,
        audit: &AuditRecord,
    ) -> Result<()> {
        let r = self.inner.put_calendar(name, spec, from, audit).await;
        self.calendars.clear();
        self.wake.notify_one();
        r
    }

    async fn calendar_versions(
        &self,
        name: &str,
    ) -> Result<Vec<(casedesk_core::Timestamp, String)>> {
        if let Some(v) = self.calendars.get(name) {
            return Ok(v);
        }
        let v = self.inner.calendar_versions(name).await?;
        self.calendars.put(name.to_owned(), v.clone());
        Ok(v)
    }

    async fn list_calendars(&self) -> Result<Vec<(String, casedesk_core::Timestamp, String)>> {
        self.inner.list_calendars().await
    }

    async fn set_account_calendar(
        &self,
        account_id: Uuid,
        calendar: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<()> {
        let r = self
            .inner
            .set_account_calendar(account_id, calendar, audit)
            .await;
        self.account_calendars.forget(&account_id);
        self.wake.notify_one();
        r
    }

    async fn account_calendar(&self, account_id: Uuid) -> Result<Option<String>> {
        if let Some(v) = self.account_calendars.get(&account_id) {
            return Ok(v);
        }
        let v = self.inner.account_calendar(account_id).await?;
        self.account_calendars.put(account_id, v.clone());
        Ok(v)
    }

    async fn put_policy(
        &self,
        plan: &str,
        priority: &str,
        spec: &str,
        at: casedesk_core::Timestamp,
        audit: &AuditRecord,
    ) -> Result<()> {
        let r = self.inner.put_policy(plan, priority, spec, at, audit).await;
        self.policies.clear();
        self.wake.notify_one();
        r
    }

    async fn list_policies(
        &self,
    ) -> Result<Vec<(String, String, String, casedesk_core::Timestamp)>> {
        if let Some(v) = self.policies.get(&()) {
            return Ok(v);
        }
        let v = self.inner.list_policies().await?;
        self.policies.put((), v.clone());
        Ok(v)
    }

    async fn sla_settings(&self) -> Result<Option<String>> {
        if let Some(v) = self.sla_settings.get(&()) {
            return Ok(v);
        }
        let v = self.inner.sla_settings().await?;
        self.sla_settings.put((), v.clone());
        Ok(v)
    }

    async fn put_sla_settings(&self, spec: &str, audit: &AuditRecord) -> Result<()> {
        let r = self.inner.put_sla_settings(spec, audit).await;
        self.sla_settings.clear();
        self.wake.notify_one();
        r
    }

    async fn sla_log(&self, number: i64) -> Result<Vec<casedesk_core::sla::ClockEvent>> {
        self.inner.sla_log(number).await
    }

    async fn set_sla(
        &self,
        number: i64,
        expected_version: i64,
        sla: &casedesk_core::sla::SlaWrite,
    ) -> Result<bool> {
        self.inner.set_sla(number, expected_version, sla).await
    }

    async fn sla_alerts_due(&self, until: Timestamp, limit: u32) -> Result<Vec<i64>> {
        self.inner.sla_alerts_due(until, limit).await
    }
}

#[async_trait]
impl casedesk_core::mail::MailStore for CachedStore {
    async fn begin_mail_attempt(
        &self,
        c: &Claim,
        id: Uuid,
        at: Timestamp,
        lease_until: Timestamp,
        stale_before: Timestamp,
    ) -> Result<casedesk_core::mail::AttemptStart> {
        self.inner
            .begin_mail_attempt(c, id, at, lease_until, stale_before)
            .await
    }

    async fn mail_result(&self, c: &Claim, r: &MailResult, f: &Finish) -> Result<bool> {
        self.inner.mail_result(c, r, f).await
    }

    async fn list_mail(&self, n: i64) -> Result<Vec<MailRecord>> {
        self.inner.list_mail(n).await
    }

    async fn get_mail(&self, id: Uuid) -> Result<Option<(MailRecord, String)>> {
        self.inner.get_mail(id).await
    }

    async fn record_inbound(&self, m: &InboundRecord, n: Option<&NewMail>) -> Result<bool> {
        let r = self.inner.record_inbound(m, n).await;
        if n.is_some() {
            self.wake.notify_one();
        }
        r
    }

    async fn find_inbound(&self, id: &str) -> Result<Option<InboundSummary>> {
        self.inner.find_inbound(id).await
    }

    async fn get_inbound(&self, id: Uuid) -> Result<Option<(InboundSummary, Vec<u8>)>> {
        self.inner.get_inbound(id).await
    }

    async fn list_inbound(&self, n: i64) -> Result<Vec<InboundSummary>> {
        self.inner.list_inbound(n).await
    }

    async fn list_inbound_by_outcome(
        &self,
        o: &str,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<InboundSummary>> {
        self.inner.list_inbound_by_outcome(o, before, limit).await
    }

    async fn review_held(
        &self,
        id: Uuid,
        o: &str,
        d: &serde_json::Value,
        audit: &AuditRecord,
    ) -> Result<bool> {
        self.inner.review_held(id, o, d, audit).await
    }

    async fn recent_inbound(
        &self,
        q: &casedesk_core::mail::RecentQuery<'_>,
    ) -> Result<casedesk_core::mail::RecentInbound> {
        self.inner.recent_inbound(q).await
    }

    async fn mail_by_message_id(&self, m: &str) -> Result<Option<MailRecord>> {
        self.inner.mail_by_message_id(m).await
    }

    async fn notices_since(&self, r: &str, since: casedesk_core::Timestamp) -> Result<u32> {
        self.inner.notices_since(r, since).await
    }

    async fn bounce_mail(&self, m: &str, e: &str) -> Result<Option<MailRecord>> {
        self.inner.bounce_mail(m, e).await
    }

    async fn email_intake(&self, a: Uuid) -> Result<Option<String>> {
        self.inner.email_intake(a).await
    }

    async fn set_email_intake(&self, a: Uuid, spec: &str, audit: &AuditRecord) -> Result<()> {
        self.inner.set_email_intake(a, spec, audit).await
    }
}

#[async_trait]
impl casedesk_core::kb::KbStore for CachedStore {
    async fn put_kb_entry(
        &self,
        e: &casedesk_core::kb::StoredEntry,
        audit: &AuditRecord,
    ) -> Result<()> {
        self.inner.put_kb_entry(e, audit).await
    }

    async fn kb_entry(&self, id: &str) -> Result<Option<casedesk_core::kb::StoredEntry>> {
        self.inner.kb_entry(id).await
    }

    async fn kb_entries(&self) -> Result<Vec<casedesk_core::kb::StoredEntry>> {
        self.inner.kb_entries().await
    }

    async fn kb_versions(&self, id: &str) -> Result<Vec<casedesk_core::kb::StoredEntry>> {
        self.inner.kb_versions(id).await
    }

    async fn kb_generation(&self) -> Result<i64> {
        self.inner.kb_generation().await
    }

    async fn record_deflection(&self, d: &casedesk_core::kb::search::Deflection) -> Result<()> {
        self.inner.record_deflection(d).await
    }

    async fn deflection_counts(
        &self,
        since: casedesk_core::Timestamp,
        until: casedesk_core::Timestamp,
    ) -> Result<Vec<(String, u64, u64)>> {
        self.inner.deflection_counts(since, until).await
    }
}

#[async_trait]
impl casedesk_core::status::StatusStore for CachedStore {
    async fn create_incident(
        &self,
        i: &casedesk_core::status::Incident,
        jobs: &[NewJob],
        audit: &AuditRecord,
    ) -> Result<()> {
        self.inner.create_incident(i, jobs, audit).await?;
        self.wake.notify_one();
        Ok(())
    }

    async fn add_incident_update(
        &self,
        i: &casedesk_core::status::Incident,
        u: &casedesk_core::status::IncidentUpdate,
        jobs: &[NewJob],
        audit: &AuditRecord,
    ) -> Result<bool> {
        let done = self.inner.add_incident_update(i, u, jobs, audit).await?;
        if done {
            self.wake.notify_one();
        }
        Ok(done)
    }

    async fn get_incident(&self, id: Uuid) -> Result<Option<casedesk_core::status::Incident>> {
        self.inner.get_incident(id).await
    }

    async fn list_incidents(
        &self,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<casedesk_core::status::Incident>> {
        self.inner.list_incidents(open_only, limit).await
    }

    async fn link_incident(
        &self,
        id: Uuid,
        number: i64,
        by: Uuid,
        audit: &AuditRecord,
    ) -> Result<()> {
        self.inner.link_incident(id, number, by, audit).await
    }

    async fn unlink_incident(&self, id: Uuid, number: i64, audit: &AuditRecord) -> Result<bool> {
        self.inner.unlink_incident(id, number, audit).await
    }

    async fn case_incident_ids(&self, number: i64) -> Result<Vec<Uuid>> {
        self.inner.case_incident_ids(number).await
    }

    async fn incident_case_numbers(&self, id: Uuid) -> Result<Vec<i64>> {
        self.inner.incident_case_numbers(id).await
    }

    async fn put_subscription(&self, s: &casedesk_core::status::Subscription) -> Result<()> {
        self.inner.put_subscription(s).await
    }

    async fn subscriptions(
        &self,
        user_id: Option<Uuid>,
    ) -> Result<Vec<casedesk_core::status::Subscription>> {
        self.inner.subscriptions(user_id).await
    }

    async fn delete_subscription(&self, user_id: Uuid) -> Result<bool> {
        self.inner.delete_subscription(user_id).await
    }

    async fn email_subscriber(
        &self,
        email: &str,
    ) -> Result<Option<casedesk_core::status::EmailSubscriber>> {
        self.inner.email_subscriber(email).await
    }

    async fn get_email_subscriber(
        &self,
        id: Uuid,
    ) -> Result<Option<casedesk_core::status::EmailSubscriber>> {
        self.inner.get_email_subscriber(id).await
    }

    async fn put_email_subscriber(
        &self,
        s: &casedesk_core::status::EmailSubscriber,
        m: Option<&casedesk_core::mail::NewMail>,
    ) -> Result<()> {
        let r = self.inner.put_email_subscriber(s, m).await;
        if m.is_some() {
            self.wake.notify_one();
        }
        r
    }

    async fn confirm_email_subscriber(&self, id: Uuid, at: Timestamp) -> Result<bool> {
        self.inner.confirm_email_subscriber(id, at).await
    }

    async fn delete_email_subscriber(&self, id: Uuid) -> Result<bool> {
        self.inner.delete_email_subscriber(id).await
    }

    async fn email_subscribers(&self) -> Result<Vec<casedesk_core::status::EmailSubscriber>> {
        self.inner.email_subscribers().await
    }
}

#[async_trait]
impl casedesk_core::kb::replies::ReplyStore for CachedStore {
    async fn saved_replies(&self) -> Result<Vec<casedesk_core::kb::replies::SavedReply>> {
        self.inner.saved_replies().await
    }

    async fn put_saved_reply(
        &self,
        r: &casedesk_core::kb::replies::SavedReply,
        audit: &AuditRecord,
    ) -> Result<()> {
        self.inner.put_saved_reply(r, audit).await
    }

    async fn delete_saved_reply(&self, id: Uuid, audit: &AuditRecord) -> Result<bool> {
        self.inner.delete_saved_reply(id, audit).await
    }
}

#[async_trait]
impl casedesk_core::attachments::AttachmentStore for CachedStore {
    async fn get_attachment(
        &self,
        number: i64,
        id: Uuid,
    ) -> Result<Option<casedesk_core::attachments::Attachment>> {
        self.inner.get_attachment(number, id).await
    }

    async fn list_attachments(
        &self,
        number: i64,
    ) -> Result<Vec<casedesk_core::attachments::Attachment>> {
        self.inner.list_attachments(number).await
    }

    async fn closed_cases_with_attachments(
        &self,
        limit: u32,
    ) -> Result<Vec<(i64, String, casedesk_core::Timestamp)>> {
        self.inner.closed_cases_with_attachments(limit).await
    }

    async fn delete_attachments(
        &self,
        number: i64,
        event: &casedesk_core::cases::NewEvent,
    ) -> Result<Vec<String>> {
        self.inner.delete_attachments(number, event).await
    }
}

#[async_trait]
impl casedesk_core::reports::ReportStore for CachedStore {
    async fn report_rows(
        &self,
        since: casedesk_core::Timestamp,
        until: casedesk_core::Timestamp,
        limit: u32,
    ) -> Result<Vec<casedesk_core::reports::ReportRow>> {
        self.inner.report_rows(since, until, limit).await
    }
}

#[async_trait]
impl casedesk_core::grants::GrantStore for CachedStore {
    async fn case_grants(&self, number: i64) -> Result<Vec<casedesk_core::grants::AccessGrant>> {
        self.inner.case_grants(number).await
    }

    async fn grant(&self, id: Uuid) -> Result<Option<casedesk_core::grants::AccessGrant>> {
        self.inner.grant(id).await
    }

    async fn active_grants(
        &self,
        tenant: Option<&str>,
        at: Timestamp,
        limit: u32,
    ) -> Result<Vec<casedesk_core::grants::AccessGrant>> {
        self.inner.active_grants(tenant, at, limit).await
    }
}

#[async_trait]
impl casedesk_core::satisfaction::SatisfactionStore for CachedStore {
    async fn rating(&self, number: i64) -> Result<Option<casedesk_core::satisfaction::Rating>> {
        self.inner.rating(number).await
    }

    async fn rated_cases(
        &self,
        since: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<casedesk_core::satisfaction::RatedCase>> {
        self.inner.rated_cases(since, until, limit).await
    }
}

#[async_trait]
impl casedesk_core::trust::TrustStore for CachedStore {
    async fn put_document(
        &self,
        doc: &casedesk_core::trust::TrustDocument,
        content: &[u8],
        audit: &AuditRecord,
    ) -> Result<()> {
        self.inner.put_document(doc, content, audit).await
    }

    async fn documents(&self) -> Result<Vec<casedesk_core::trust::TrustDocument>> {
        self.inner.documents().await
    }

    async fn document_content(&self, id: Uuid) -> Result<Option<Vec<u8>>> {
        self.inner.document_content(id).await
    }

    async fn accept_nda(
        &self,
        a: &casedesk_core::trust::NdaAcceptance,
        audit: &AuditRecord,
    ) -> Result<bool> {
        self.inner.accept_nda(a, audit).await
    }

    async fn nda_acceptance(
        &self,
        account_id: Uuid,
        version: &str,
    ) -> Result<Option<casedesk_core::trust::NdaAcceptance>> {
        self.inner.nda_acceptance(account_id, version).await
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
