//! The storage interface. `casedesk-store` implements it for SQLite and PostgreSQL; the
//! store contract tests run the same suite against both.

use async_trait::async_trait;
use uuid::Uuid;

use crate::accounts::{Account, Tenant};
use crate::audit::{AuditEntry, AuditRecord, Checkpoint};
use crate::cases::{
    Case, CaseEvent, CasePatch, CaseQuery, CaseSummary, CreateOutcome, IdempotencyKey, NewCase,
    NewEvent, Status,
};
use crate::identity::{Identity, LocalCredentials, LoginFlow, Session};
use crate::jobs::{Claim, Finish, FollowUp, Job, JobCount, JobQuery, JobState, NewJob};
use crate::sla::{ClockEvent, SlaWrite};
use crate::taxonomy::IssueArea;
use crate::users::{Role, Scope, User};
use crate::webhooks::{
    Attempt, Delivery, DeliveryState, Endpoint, EndpointChange, Notice, SecretRecord,
};
use crate::{Result, Timestamp};

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

/// Which audit entries to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this account's entries, and only those its export may show.
    pub account_id: Option<Uuid>,
    /// Not before.
    pub since: Option<crate::Timestamp>,
    /// Before.
    pub until: Option<crate::Timestamp>,
}

/// A new delivery to write with its first job.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// The `webhook-id`.
    pub id: String,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// Event type.
    pub event_type: String,
    /// Exact body.
    pub payload: String,
    /// The case.
    pub case_number: Option<i64>,
    /// Written.
    pub created_at: crate::Timestamp,
    /// Its first attempt.
    pub job: NewJob,
}

/// Everything one delivery attempt writes, in one transaction with the end of its job.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// The delivery.
    pub delivery_id: String,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// The account owning the endpoint.
    pub account_id: Option<Uuid>,
    /// The attempt.
    pub attempt: Attempt,
    /// The delivery's state afterwards.
    pub state: DeliveryState,
    /// What happens to the endpoint.
    pub endpoint: EndpointChange,
}

/// Persistence for everything casedesk keeps.
#[async_trait]
pub trait Store: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;

    /// Stores a new account; a duplicate name is a conflict.
    async fn create_account(&self, account: &Account, audit: &AuditRecord) -> Result<()>;
    /// Finds an account by id or by exact name.
    async fn find_account(&self, id_or_name: &str) -> Result<Option<Account>>;
    /// Every account, oldest first.
    async fn list_accounts(&self) -> Result<Vec<Account>>;

    /// Stores a new tenant; a duplicate slug is a conflict.
    async fn create_tenant(&self, tenant: &Tenant, audit: &AuditRecord) -> Result<()>;
    /// The tenants of an account.
    async fn list_tenants(&self, account_id: Uuid) -> Result<Vec<Tenant>>;
    /// A tenant by its (unique) slug.
    async fn find_tenant(&self, slug: &str) -> Result<Option<Tenant>>;

    /// Stores a new user with their queues; a duplicate email is a conflict. When
    /// `elevated_cap` is given and the user is elevated, the store refuses (conflict) if the
    /// account already has that many elevated contacts, checked in the same transaction.
    async fn create_user(
        &self,
        user: &User,
        elevated_cap: Option<u32>,
        audit: &AuditRecord,
    ) -> Result<()>;
    /// A user by id.
    async fn get_user(&self, id: Uuid) -> Result<Option<User>>;
    /// A user by (lowercase) email.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>>;
    /// The users of an account.
    async fn list_account_users(&self, account_id: Uuid) -> Result<Vec<User>>;

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

    /// Replaces a user's role, flags and queues (roles given by an identity provider).
    async fn update_user_access(&self, user: &User, audit: &AuditRecord) -> Result<()>;
    /// How many users have a role.
    async fn count_users_with_role(&self, role: Role) -> Result<u64>;
    /// A user's local password state, by (lowercase) email.
    async fn local_credentials(&self, email: &str) -> Result<Option<(User, LocalCredentials)>>;
    /// Sets (or clears) a local password.
    async fn set_password(
        &self,
        user_id: Uuid,
        hash: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<()>;
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

    /// The issue-area taxonomy.
    async fn issue_areas(&self) -> Result<Vec<IssueArea>>;

    /// Stores a case with its `created` event, atomically with its idempotency key.
    async fn create_case(
        &self,
        case: &NewCase,
        event: &NewEvent,
        key: Option<&IdempotencyKey>,
        audit: &AuditRecord,
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
        audit: &AuditRecord,
    ) -> Result<Option<Case>>;
    /// The timeline of a case, oldest first.
    async fn list_events(&self, number: i64, include_internal: bool) -> Result<Vec<CaseEvent>>;

    /// Bulk import for data generators and migrations from other tools: each case with the
    /// status it has reached, one `created` event each, all in one transaction; no idempotency,
    /// and no `case.event` jobs (imported history is not announced to webhooks).
    async fn import_cases(&self, cases: &[(NewCase, Status)]) -> Result<Vec<i64>>;
    // ----- audit trail -----

    /// Appends an entry on its own (a refused sign-in changes nothing else).
    async fn append_audit(&self, audit: &AuditRecord) -> Result<()>;
    /// Entries after `after_seq`, in order, at most `limit`.
    async fn audit_page(
        &self,
        after_seq: i64,
        limit: u32,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>>;
    /// The last sequence number and hash the store recorded.
    async fn audit_head(&self) -> Result<Option<(i64, String)>>;
    /// The newest retention checkpoint.
    async fn audit_checkpoint(&self) -> Result<Option<Checkpoint>>;
    /// Deletes entries older than `before`, recording a checkpoint and an `audit.pruned`
    /// entry (`audit` is its template); the number deleted.
    async fn prune_audit(&self, before: crate::Timestamp, audit: &AuditRecord) -> Result<u64>;

    // ----- jobs -----

    /// Writes a job on its own.
    async fn enqueue_job(&self, job: &NewJob) -> Result<()>;
    /// Queues again the jobs whose lease ran out (their worker died); how many.
    async fn release_expired(&self, now: crate::Timestamp) -> Result<u64>;
    /// Extends a running job's lease to `until` (a step that may rightly take longer than a
    /// lease, such as waiting for a relay to accept a message); `false` when the lease was lost.
    async fn extend_lease(&self, claim: &Claim, until: crate::Timestamp) -> Result<bool>;
    /// Claims up to `limit` due jobs for `node`.
    async fn claim_jobs(
        &self,
        node: &str,
        now: crate::Timestamp,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<Claim>>;
    /// Ends a claimed job and writes its follow-ups; false when the lease was lost.
    async fn finish_job(&self, claim: &Claim, finish: &Finish, follow: &FollowUp) -> Result<bool>;
    /// A page of jobs, newest first.
    async fn list_jobs(&self, q: &JobQuery) -> Result<Vec<Job>>;
    /// One job.
    async fn get_job(&self, id: Uuid) -> Result<Option<Job>>;
    /// Moves a job from `from` to `to` (retry resets its attempts); `None` if it had moved.
    async fn set_job_state(
        &self,
        id: Uuid,
        from: JobState,
        to: JobState,
        audit: &AuditRecord,
    ) -> Result<Option<Job>>;
    /// Queued, running and dead jobs by kind.
    async fn job_counts(&self, now: crate::Timestamp) -> Result<Vec<JobCount>>;
    /// Deletes finished and cancelled jobs older than `before`; expired sessions and logins.
    async fn prune_jobs(&self, before: crate::Timestamp, now: crate::Timestamp) -> Result<u64>;

    // ----- webhooks -----

    /// Stores an endpoint with its first secret.
    async fn create_endpoint(
        &self,
        ep: &Endpoint,
        secret: &SecretRecord,
        audit: &AuditRecord,
    ) -> Result<()>;
    /// An endpoint.
    async fn get_endpoint(&self, id: Uuid) -> Result<Option<Endpoint>>;
    /// The endpoints of an account (`None`: internal ones).
    async fn list_endpoints(&self, account_id: Option<Uuid>) -> Result<Vec<Endpoint>>;
    /// Saves a changed endpoint.
    async fn update_endpoint(&self, ep: &Endpoint, audit: &AuditRecord) -> Result<()>;
    /// Deletes an endpoint, its secrets and its log; pending deliveries are skipped.
    async fn delete_endpoint(&self, id: Uuid, audit: &AuditRecord) -> Result<()>;
    /// Adds a secret; the others expire at `others_expire` unless they expire sooner.
    async fn add_secret(
        &self,
        secret: &SecretRecord,
        others_expire: crate::Timestamp,
        audit: &AuditRecord,
    ) -> Result<()>;
    /// Secrets that still sign at `now`, newest first.
    async fn live_secrets(
        &self,
        endpoint_id: Uuid,
        now: crate::Timestamp,
    ) -> Result<Vec<SecretRecord>>;
    /// Every enabled endpoint (the dispatcher keeps them for a second and picks per case).
    async fn enabled_endpoints(&self) -> Result<Vec<Endpoint>>;
    /// A timeline event and its case, in one read (the dispatcher needs both for every event).
    async fn event_with_case(&self, id: i64) -> Result<Option<(crate::cases::CaseEvent, Case)>>;
    /// Writes deliveries and messages with their jobs and ends the dispatching job, atomically.
    async fn fan_out(
        &self,
        claim: &Claim,
        deliveries: &[NewDelivery],
        mails: &[crate::mail::NewMail],
    ) -> Result<bool>;
    /// A delivery.
    async fn get_delivery(&self, id: &str) -> Result<Option<Delivery>>;
    /// An endpoint's deliveries, newest first, before the delivery `before`.
    async fn list_deliveries(
        &self,
        endpoint_id: Uuid,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Delivery>>;
    /// A delivery's attempts, oldest first.
    async fn list_attempts(&self, delivery_id: &str) -> Result<Vec<Attempt>>;
    /// Logs an attempt, updates delivery and endpoint (disabling it with a notice and an
    /// audit entry when told) and ends the job, atomically; false when the lease was lost.
    async fn record_attempt(
        &self,
        claim: &Claim,
        rec: &AttemptRecord,
        finish: &Finish,
    ) -> Result<bool>;
    /// Queues another attempt of a delivery.
    async fn redeliver(&self, delivery_id: &str, job: &NewJob, audit: &AuditRecord) -> Result<()>;
    /// Notices for an account (`None`: for support managers), newest first.
    async fn list_notices(&self, account_id: Option<Uuid>) -> Result<Vec<Notice>>;

    /// Saves a version of SLA calendar `name` (as `Calendar::to_json` writes it), in force from
    /// `from`.
    async fn put_calendar(
        &self,
        name: &str,
        spec: &str,
        from: Timestamp,
        audit: &AuditRecord,
    ) -> Result<()>;
    /// Every version of calendar `name`, oldest first (empty when there is no such calendar).
    async fn calendar_versions(&self, name: &str) -> Result<Vec<(Timestamp, String)>>;
    /// The newest version of every calendar, by name: (name, in force since, spec).
    async fn list_calendars(&self) -> Result<Vec<(String, Timestamp, String)>>;
    /// Saves the edited policy of a plan and priority.
    async fn put_policy(
        &self,
        plan: &str,
        priority: &str,
        spec: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> Result<()>;
    /// The edited policies: (plan, priority, spec, when edited).
    async fn list_policies(&self) -> Result<Vec<(String, String, String, Timestamp)>>;
    /// Chooses the calendar of an account (`None`: its region's).
    async fn set_account_calendar(
        &self,
        account_id: Uuid,
        calendar: Option<&str>,
        audit: &AuditRecord,
    ) -> Result<()>;
    /// The calendar chosen for an account, if one was.
    async fn account_calendar(&self, account_id: Uuid) -> Result<Option<String>>;

    /// The SLA settings as stored (`None`: defaults).
    async fn sla_settings(&self) -> Result<Option<String>>;
    /// Replaces the SLA settings; open cases are recomputed by a job written with them.
    async fn put_sla_settings(&self, spec: &str, audit: &AuditRecord) -> Result<()>;

    /// The SLA clock log of a case, oldest first.
    async fn sla_log(&self, number: i64) -> Result<Vec<ClockEvent>>;
    /// Appends to a case's clock log and sets its timers if the case is still at
    /// `expected_version` (and moves the version on, so a change computed from the older log
    /// is retried), without a timeline event; false when another change came first.
    async fn set_sla(&self, number: i64, expected_version: i64, sla: &SlaWrite) -> Result<bool>;
    /// Cases whose next SLA timer is at or before `until`, soonest first (through the
    /// `cases_sla_alert` index).
    async fn sla_alerts_due(&self, until: Timestamp, limit: u32) -> Result<Vec<i64>>;
    /// Numbers of cases that are not closed, above `after`, in order.
    async fn open_case_numbers(&self, after: i64, limit: u32) -> Result<Vec<i64>>;
    /// Support engineers and managers, with their queues.
    async fn support_users(&self) -> Result<Vec<User>>;

    // --- the email channel
    /// Records the end of one sending attempt with the end of its job.
    async fn mail_result(
        &self,
        claim: &Claim,
        result: &crate::mail::MailResult,
        finish: &Finish,
    ) -> Result<bool>;
    /// The messages of a case, oldest first.
    async fn list_mail(&self, number: i64) -> Result<Vec<crate::mail::MailRecord>>;
    /// One message and its text as sent.
    async fn get_mail(&self, id: Uuid) -> Result<Option<(crate::mail::MailRecord, String)>>;
    /// Records a received message and the notice that answers it (with its job); `false`,
    /// writing nothing, when a message with the same `Message-ID` was recorded before.
    async fn record_inbound(
        &self,
        received: &crate::mail::InboundRecord,
        notice: Option<&crate::mail::NewMail>,
    ) -> Result<bool>;
    /// A number that changes with every change to the knowledge base (ranked indexes are
    /// rebuilt when it moves).
    async fn kb_generation(&self) -> Result<i64>;
    /// Records a deflection.
    async fn record_deflection(&self, d: &crate::kb::search::Deflection) -> Result<()>;
    /// (issue area, deflections, cases opened) over `[since, until)`, by issue area.
    async fn deflection_counts(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<(String, u64, u64)>>;

    // --- service status
    /// Stores a new incident with its first update and the jobs that announce it.
    async fn create_incident(
        &self,
        incident: &crate::status::Incident,
        jobs: &[NewJob],
        audit: &AuditRecord,
    ) -> Result<()>;
    /// Saves an open incident's new state and its update with the jobs that announce it;
    /// false, writing nothing, when the incident was resolved meanwhile.
    async fn add_incident_update(
        &self,
        incident: &crate::status::Incident,
        update: &crate::status::IncidentUpdate,
        jobs: &[NewJob],
        audit: &AuditRecord,
    ) -> Result<bool>;
    /// An incident with its updates.
    async fn get_incident(&self, id: Uuid) -> Result<Option<crate::status::Incident>>;
    /// Incidents (only open ones, or all), newest first, with their updates.
    async fn list_incidents(
        &self,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<crate::status::Incident>>;
    /// Links a case to an incident (linking twice changes nothing).
    async fn link_incident(
        &self,
        id: Uuid,
        number: i64,
        by: Uuid,
        audit: &AuditRecord,
    ) -> Result<()>;
    /// Unlinks a case; whether it was linked.
    async fn unlink_incident(&self, id: Uuid, number: i64, audit: &AuditRecord) -> Result<bool>;
    /// The incidents a case is linked to.
    async fn case_incident_ids(&self, number: i64) -> Result<Vec<Uuid>>;
    /// The cases linked to an incident.
    async fn incident_case_numbers(&self, id: Uuid) -> Result<Vec<i64>>;
    /// Saves a person's email subscription (replacing theirs).
    async fn put_subscription(&self, s: &crate::status::Subscription) -> Result<()>;
    /// The email subscriptions: everyone's, or one person's.
    async fn subscriptions(
        &self,
        user_id: Option<Uuid>,
    ) -> Result<Vec<crate::status::Subscription>>;
    /// Ends a person's subscription; whether there was one.
    async fn delete_subscription(&self, user_id: Uuid) -> Result<bool>;

    /// The received message with this `Message-ID`.
    async fn find_inbound(&self, message_id: &str) -> Result<Option<crate::mail::InboundSummary>>;
    /// A received message and its original.
    async fn get_inbound(&self, id: Uuid)
    -> Result<Option<(crate::mail::InboundSummary, Vec<u8>)>>;
    /// The received messages of a case, oldest first.
    async fn list_inbound(&self, number: i64) -> Result<Vec<crate::mail::InboundSummary>>;
    /// Received messages with outcome `outcome`, newest first, older than `before`.
    async fn list_inbound_by_outcome(
        &self,
        outcome: &str,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<crate::mail::InboundSummary>>;
    /// Decides on a held message: its outcome and details replaced, with the audit entry;
    /// `false` when it is no longer held.
    async fn review_held(
        &self,
        id: Uuid,
        outcome: &str,
        detail: &serde_json::Value,
        audit: &AuditRecord,
    ) -> Result<bool>;
    /// The flood breaker's view of a received message's sender and case since `q.since`.
    async fn recent_inbound(
        &self,
        q: &crate::mail::RecentQuery<'_>,
    ) -> Result<crate::mail::RecentInbound>;
    /// The message casedesk sent with `message_id`, if any.
    async fn mail_by_message_id(&self, message_id: &str)
    -> Result<Option<crate::mail::MailRecord>>;
    /// How many notices went to `recipient` since `since` (at most a few are counted).
    async fn notices_since(&self, recipient: &str, since: crate::Timestamp) -> Result<u32>;
    /// Marks the sent message with `message_id` failed (a delivery report named it); answers
    /// the message when there is one.
    async fn bounce_mail(
        &self,
        message_id: &str,
        error: &str,
    ) -> Result<Option<crate::mail::MailRecord>>;
    /// An account's email intake (JSON), if set.
    async fn email_intake(&self, account_id: Uuid) -> Result<Option<String>>;
    /// Sets an account's email intake.
    async fn set_email_intake(
        &self,
        account_id: Uuid,
        spec: &str,
        audit: &AuditRecord,
    ) -> Result<()>;

    // --- the knowledge base
    /// Writes an entry's new version (the earlier ones are kept); a conflict when another
    /// writer stored that version first.
    async fn put_kb_entry(&self, entry: &crate::kb::StoredEntry, audit: &AuditRecord)
    -> Result<()>;
    /// An entry's current version.
    async fn kb_entry(&self, id: &str) -> Result<Option<crate::kb::StoredEntry>>;
    /// Every entry's current version.
    async fn kb_entries(&self) -> Result<Vec<crate::kb::StoredEntry>>;
    /// Every version of an entry, newest first.
    async fn kb_versions(&self, id: &str) -> Result<Vec<crate::kb::StoredEntry>>;

    // --- attachments
    /// One attachment of a case (deleted ones too, with `deleted_at`).
    async fn get_attachment(
        &self,
        number: i64,
        id: Uuid,
    ) -> Result<Option<crate::attachments::Attachment>>;
    /// The attachments of a case, oldest first.
    async fn list_attachments(&self, number: i64) -> Result<Vec<crate::attachments::Attachment>>;
    /// Closed cases that still have attachments: number, plan, when closed.
    async fn closed_cases_with_attachments(
        &self,
        limit: u32,
    ) -> Result<Vec<(i64, String, crate::Timestamp)>>;
    /// Marks a case's attachments deleted and appends `event`, in one transaction; answers
    /// the content hashes no live attachment uses any more.
    async fn delete_attachments(&self, number: i64, event: &NewEvent) -> Result<Vec<String>>;

    /// The cases opened in `[since, until)`, oldest first, at most `limit`, as reports see
    /// them.
    async fn report_rows(
        &self,
        since: crate::Timestamp,
        until: crate::Timestamp,
        limit: u32,
    ) -> Result<Vec<crate::reports::ReportRow>>;
}
