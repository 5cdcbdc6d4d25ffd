//! The writes that span features. The model's case knows nothing of SLA clocks, jobs, mail or
//! attachments; a change that carries them is composed here, and the store writes it in one
//! transaction.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::acts::AuditRecord;
use crate::attachments::AttachmentStore;
use crate::audit::AuditStore;
use crate::cases::{
    Case, CaseFields, CaseStore, CreateOutcome, IdempotencyKey, NewEvent, Priority, Status,
    TeamContact,
};
use crate::directory::DirectoryStore;
use crate::grants::GrantStore;
use crate::jobs::{Claim, Finish, JobStore, NewJob};
use crate::mail::MailStore;
use crate::satisfaction::SatisfactionStore;
use crate::sla::SlaStore;
use crate::webhooks::NewDelivery;
use crate::{Result, Timestamp};

/// A validated case, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCase {
    /// Owning account.
    pub account_id: Uuid,
    /// Who opened it.
    pub requester_id: Uuid,
    /// Tenant impacted.
    pub tenant_id: Uuid,
    /// Queue it was routed to.
    pub queue: String,
    /// The intake fields.
    pub fields: CaseFields,
    /// Team contacts.
    pub team_contacts: Vec<TeamContact>,
    /// A closed case this one follows up.
    pub follow_up_of: Option<i64>,
    /// Creation time.
    pub created_at: Timestamp,
    /// The SLA clocks it starts (empty for imported cases: SLA applies only to cases logged
    /// through casedesk).
    pub sla: crate::sla::SlaWrite,
}

/// A change to a case's mutable fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CasePatch {
    /// New status.
    pub status: Option<Status>,
    /// New priority.
    pub priority: Option<Priority>,
    /// New assignee (`Some(None)` unassigns).
    pub assignee: Option<Option<Uuid>>,
    /// Set the escalation flag.
    pub escalated: Option<bool>,
    /// Add a team contact.
    pub add_contact: Option<Uuid>,
    /// Remove a team contact.
    pub remove_contact: Option<Uuid>,
    /// SLA log entries and timers to write with the change.
    pub sla: Option<crate::sla::SlaWrite>,
    /// Jobs to queue with the change (notices of SLA warnings and breaches).
    pub jobs: Vec<crate::jobs::NewJob>,
    /// The received message this change posts, recorded with it.
    pub inbound: Option<crate::mail::InboundRecord>,
    /// Attachments stored with the change (their content is already stored).
    pub attachments: Vec<crate::attachments::NewAttachment>,
    /// The case's new context (empty fields filled from evidence).
    pub context: Option<Map<String, Value>>,
    /// Further events appended after the change's own, in order.
    pub also: Vec<NewEvent>,
    /// The new case email, phone and time zone.
    pub contact: Option<crate::cases::Contact>,
    /// Support access grants opened or ended with the change.
    pub grants: Vec<crate::grants::GrantChange>,
    /// The customer's rating, stored once per case (a second one is a conflict).
    pub rating: Option<crate::satisfaction::Rating>,
}

/// What a finished job also writes, in the same transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FollowUp {
    /// Jobs to add.
    pub jobs: Vec<NewJob>,
    /// Audit entries.
    pub audit: Vec<AuditRecord>,
    /// Messages to send (each with its sending job).
    pub mails: Vec<crate::mail::NewMail>,
}

/// A case of imported history (the demo's past, or a move from another tool): the case as
/// it was opened, the status it reached, who works it, what happened since (each event at its
/// own time) and its rating.
#[derive(Debug, Clone)]
pub struct HistoricCase {
    /// The case as opened (`created_at` is when).
    pub case: NewCase,
    /// The status it has reached.
    pub status: Status,
    /// The support engineer it is assigned to.
    pub assignee: Option<Uuid>,
    /// What happened after it was opened, oldest first.
    pub events: Vec<NewEvent>,
    /// The customer's rating, for a closed case.
    pub rating: Option<crate::satisfaction::Rating>,
}

/// The writes that span features, each in one transaction: a case with its SLA clocks, a change with its effects, a finished job with what it queues.
#[async_trait::async_trait]
pub trait ServiceStore:
    DirectoryStore
    + CaseStore
    + SlaStore
    + MailStore
    + AttachmentStore
    + AuditStore
    + JobStore
    + GrantStore
    + SatisfactionStore
{
    /// Stores a case with its `created` event, atomically with its idempotency key and, when
    /// `mails` is given, the messages it composes from the new number (the event is then
    /// marked, so the dispatcher writes them only here).
    async fn create_case(
        &self,
        case: &NewCase,
        event: &NewEvent,
        key: Option<&IdempotencyKey>,
        audit: &AuditRecord,
        mails: Option<crate::mail::Compose>,
    ) -> Result<CreateOutcome>;

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

    /// Bulk import for data generators and migrations from other tools: each case with the
    /// status it has reached, one `created` event each, all in one transaction; no idempotency,
    /// and no `case.event` jobs (imported history is not announced to webhooks).
    async fn import_cases(&self, cases: &[(NewCase, Status)]) -> Result<Vec<i64>>;

    /// Imports cases with their history, each event at its own time, in one transaction; like
    /// `import_cases`, nothing of it is announced (no webhook, no email, no SLA timer).
    async fn import_history(&self, cases: &[HistoricCase]) -> Result<Vec<i64>>;

    /// Ends a claimed job and writes its follow-ups; false when the lease was lost.
    async fn finish_job(&self, claim: &Claim, finish: &Finish, follow: &FollowUp) -> Result<bool>;

    /// Writes deliveries and messages with their jobs and ends the dispatching job, atomically.
    async fn fan_out(
        &self,
        claim: &Claim,
        deliveries: &[NewDelivery],
        mails: &[crate::mail::NewMail],
    ) -> Result<bool>;
}
