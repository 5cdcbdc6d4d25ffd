//! Support cases: the record, its intake rules, its lifecycle and its timeline.

pub mod intake;
pub mod lifecycle;
pub mod status;
pub mod store;

pub use status::Status;
pub use store::{CaseStore, get_case};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{DomainError, Timestamp};

/// How urgent a case is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Production down.
    P1,
    /// Production impaired.
    P2,
    /// Normal.
    P3,
    /// Question.
    P4,
}

impl Priority {
    /// Every priority, most urgent first.
    pub const ALL: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }

    /// Short label.
    pub fn label(self) -> &'static str {
        match self {
            Priority::P1 => "Production down",
            Priority::P2 => "Production impaired",
            Priority::P3 => "Normal",
            Priority::P4 => "Question",
        }
    }

    /// What the level means, shown at intake so requesters choose well.
    pub fn meaning(self) -> &'static str {
        match self {
            Priority::P1 => {
                "Your production tenant is unusable: nobody can sign in, or tokens cannot be issued or validated, and there is no workaround."
            }
            Priority::P2 => {
                "Production works but is seriously degraded: some users or applications fail, or a workaround is costly."
            }
            Priority::P3 => {
                "A problem that does not block production, such as a failing staging setup or a feature misbehaving with a workaround."
            }
            Priority::P4 => {
                "A question about how something works, a request for guidance, or a minor issue."
            }
        }
    }

    /// Parses a stable key.
    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.key() == s)
    }
}

/// Who is affected by the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImpactScope {
    /// Every user.
    AllUsers,
    /// Some users.
    SomeUsers,
    /// A single user.
    OneUser,
    /// Only administrators.
    AdminsOnly,
}

impl ImpactScope {
    /// Every scope.
    pub const ALL: [ImpactScope; 4] = [
        ImpactScope::AllUsers,
        ImpactScope::SomeUsers,
        ImpactScope::OneUser,
        ImpactScope::AdminsOnly,
    ];

    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            ImpactScope::AllUsers => "all_users",
            ImpactScope::SomeUsers => "some_users",
            ImpactScope::OneUser => "one_user",
            ImpactScope::AdminsOnly => "admins_only",
        }
    }

    /// Parses a stable key.
    pub fn parse(s: &str) -> Option<ImpactScope> {
        ImpactScope::ALL.into_iter().find(|p| p.key() == s)
    }
}

/// The rollout stage, which decides the identifiers support needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Tenant, application or client setup.
    Onboarding,
    /// Security review and launch readiness.
    Production,
    /// Marketplace, device trust, enterprise providers, SCIM.
    Advanced,
}

impl Stage {
    /// Every stage.
    pub const ALL: [Stage; 3] = [Stage::Onboarding, Stage::Production, Stage::Advanced];

    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            Stage::Onboarding => "onboarding",
            Stage::Production => "production",
            Stage::Advanced => "advanced",
        }
    }

    /// Parses a stable key.
    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|p| p.key() == s)
    }
}

/// How to reach the requester.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Case email.
    pub email: String,
    /// Preferred phone.
    pub phone: String,
    /// Preferred contact time zone (IANA name).
    pub timezone: String,
}

/// An admin of the case's account who receives every email of the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamContact {
    /// The user.
    pub user_id: Uuid,
    /// Their email.
    pub email: String,
}

/// The intake fields of a case, as the requester gave them (normalised).
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFields {
    /// Priority.
    pub priority: Priority,
    /// Subject line.
    pub subject: String,
    /// Detailed description.
    pub description: String,
    /// Steps to reproduce and troubleshooting done.
    pub steps_to_reproduce: Option<String>,
    /// Issue area key.
    pub issue_area: String,
    /// Who is affected.
    pub scope: ImpactScope,
    /// Business impact.
    pub business_impact: Option<String>,
    /// How to reach the requester.
    pub contact: Contact,
    /// Rollout stage.
    pub stage: Stage,
    /// Stage identifiers.
    pub identifiers: Map<String, Value>,
    /// Context that speeds resolution.
    pub context: Map<String, Value>,
    /// Pre-submission checklist: every item, confirmed or not.
    pub checklist: Map<String, Value>,
}

/// A stored case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Case number, unique and increasing.
    pub number: i64,
    /// Owning account.
    pub account_id: Uuid,
    /// Tenant impacted.
    pub tenant_id: Uuid,
    /// Tenant slug.
    pub tenant: String,
    /// Requester.
    pub requester_id: Uuid,
    /// Requester's email.
    pub requester: String,
    /// Assigned agent.
    pub assignee_id: Option<Uuid>,
    /// Assigned agent's email.
    pub assignee: Option<String>,
    /// Queue.
    pub queue: String,
    /// Lifecycle status.
    pub status: Status,
    /// Escalated by the customer.
    pub escalated: bool,
    /// The intake fields (priority reflects changes).
    pub fields: CaseFields,
    /// Team contacts.
    pub team_contacts: Vec<TeamContact>,
    /// A closed case this one follows up.
    pub follow_up_of: Option<i64>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version, bumped by every change.
    pub version: i64,
}

/// One row of a case list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseSummary {
    /// Case number.
    pub number: i64,
    /// Subject.
    pub subject: String,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority: Priority,
    /// Tenant slug.
    pub tenant: String,
    /// Issue area.
    pub issue_area: String,
    /// Stage.
    pub stage: Stage,
    /// Queue.
    pub queue: String,
    /// Requester email.
    pub requester: String,
    /// Assignee email.
    pub assignee: Option<String>,
    /// Escalated.
    pub escalated: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// The earliest due time of a running SLA clock.
    pub sla_due_at: Option<Timestamp>,
    /// The account's name.
    pub account: String,
    /// The account's plan key.
    pub plan: String,
}

/// Which cases a caller may list; decided by [`crate::permissions`].
#[derive(Debug, Clone, PartialEq)]
pub enum Visibility {
    /// Cases the user opened or is a team contact on.
    Mine { user_id: Uuid },
    /// Every case of one account.
    Account { account_id: Uuid },
    /// Cases in these queues, or assigned to the user.
    Queues { queues: Vec<String>, user_id: Uuid },
    /// Everything.
    All,
}

/// A filtered, paginated case listing.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseQuery {
    /// Only this account's cases (within what the caller may see).
    pub account: Option<Uuid>,
    /// What the caller may see.
    pub visibility: Visibility,
    /// Only these statuses (empty: all).
    pub statuses: Vec<Status>,
    /// Only these priorities (empty: all).
    pub priorities: Vec<Priority>,
    /// Only this issue area.
    pub issue_area: Option<String>,
    /// Only this stage.
    pub stage: Option<Stage>,
    /// Only this tenant slug.
    pub tenant: Option<String>,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only cases assigned to this user (`Some(None)`: unassigned).
    pub assignee: Option<Option<Uuid>>,
    /// Only escalated (or not).
    pub escalated: Option<bool>,
    /// Words that must all appear in the subject, description or public replies (the full-text
    /// index stems them).
    pub text: Option<String>,
    /// Whether `text` may also match internal notes (support staff).
    pub text_internal: bool,
    /// The customer's account, which a text search never leaves (none for support).
    pub text_account: Option<Uuid>,
    /// Keyset cursor: only cases numbered below this (newest-first order).
    pub before: Option<i64>,
    /// Order of the page.
    pub sort: CaseSort,
    /// Keyset cursor of the by-due-time order: only cases after this one.
    pub after_due: Option<DueKey>,
    /// Page size.
    pub limit: u32,
}

/// A place in the by-due-time order: the last case of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueKey {
    /// Its due time; `None` puts it among the cases without a running clock.
    pub due: Option<Timestamp>,
    /// Its number (due times tie; numbers do not).
    pub number: i64,
}

/// Where the next page of a case list starts, in the list's own order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageCursor {
    /// Newest first: cases numbered below this.
    Before(i64),
    /// By due time: cases after this one.
    AfterDue(DueKey),
}

/// How a case list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaseSort {
    /// Newest first.
    #[default]
    Newest,
    /// Next SLA due time first; cases with no running clock last, newest first among them.
    SlaDue,
}

/// What a timeline event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The case was opened.
    Created,
    /// A public reply.
    Reply,
    /// An internal note (support only).
    Note,
    /// Support asked the customer for information.
    InfoRequested,
    /// Put on hold, waiting on a third party.
    OnHold,
    /// Work resumed.
    Resumed,
    /// A resolution was proposed.
    ResolutionProposed,
    /// The customer confirmed the resolution.
    ResolutionConfirmed,
    /// A customer reply reopened the case.
    Reopened,
    /// The customer escalated the case.
    Escalated,
    /// The assignee changed.
    Assigned,
    /// The priority changed.
    PriorityChanged,
    /// A team contact was added.
    ContactAdded,
    /// A team contact was removed.
    ContactRemoved,
    /// Summary of a call or chat.
    Summary,
    /// An SLA clock used up its warning share (internal).
    SlaWarning,
    /// An SLA clock passed its due time unmet (internal; recorded once per cycle).
    SlaBreached,
    /// An incident the case is linked to was resolved (the status update, public).
    IncidentUpdate,
    /// Files were attached (public unless support attached them internally).
    AttachmentsAdded,
    /// The evidence summary of a scrubbed HAR capture (internal).
    HarEvidence,
    /// Retention deleted the case's attachments after it closed.
    AttachmentsDeleted,
    /// The report of a diagnostic run on the case (never its input).
    DiagnosticReport,
    /// The case email, phone or time zone changed.
    ContactChanged,
    /// The customer let support into the case's tenant for a bounded time.
    AccessGranted,
    /// A support access grant was ended before its time.
    AccessRevoked,
    /// A support access grant ran out (or ended with the case).
    AccessExpired,
    /// The customer rated the closed case.
    SatisfactionRated,
}

impl EventKind {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Reply => "reply",
            EventKind::Note => "note",
            EventKind::InfoRequested => "info_requested",
            EventKind::OnHold => "on_hold",
            EventKind::Resumed => "resumed",
            EventKind::ResolutionProposed => "resolution_proposed",
            EventKind::ResolutionConfirmed => "resolution_confirmed",
            EventKind::Reopened => "reopened",
            EventKind::Escalated => "escalated",
            EventKind::Assigned => "assigned",
            EventKind::PriorityChanged => "priority_changed",
            EventKind::ContactAdded => "contact_added",
            EventKind::ContactRemoved => "contact_removed",
            EventKind::Summary => "summary",
            EventKind::SlaWarning => "sla_warning",
            EventKind::SlaBreached => "sla_breached",
            EventKind::IncidentUpdate => "incident_update",
            EventKind::AttachmentsAdded => "attachments_added",
            EventKind::HarEvidence => "har_evidence",
            EventKind::AttachmentsDeleted => "attachments_deleted",
            EventKind::DiagnosticReport => "diagnostic_report",
            EventKind::ContactChanged => "contact_changed",
            EventKind::AccessGranted => "access_granted",
            EventKind::AccessRevoked => "access_revoked",
            EventKind::AccessExpired => "access_expired",
            EventKind::SatisfactionRated => "satisfaction_rated",
        }
    }

    /// Parses a stable key.
    pub fn parse(s: &str) -> Result<EventKind, DomainError> {
        serde_json::from_value(Value::String(s.to_owned()))
            .map_err(|_| DomainError::Internal(format!("unknown event kind {s}")))
    }
}

/// An event about to be appended to a timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Who did it.
    pub actor_id: Option<Uuid>,
    /// What happened.
    pub kind: EventKind,
    /// Visible to the customer.
    pub public: bool,
    /// Details (body, from/to status, reason…).
    pub data: Value,
    /// When.
    pub at: Timestamp,
}

/// A timeline event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseEvent {
    /// Identifier, increasing within the case.
    pub id: i64,
    /// The case.
    pub case_number: i64,
    /// Who did it (email), if a person did.
    pub actor: Option<String>,
    /// What happened.
    pub kind: EventKind,
    /// Visible to the customer.
    pub public: bool,
    /// Details.
    pub data: Value,
    /// When.
    pub at: Timestamp,
}

/// A client-chosen key that makes a retried create return the first result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// Whose key (keys are per user).
    pub user_id: Uuid,
    /// The SHA-256 (hex) of the key the client sent.
    pub key: String,
    /// Fingerprint of the request body, to detect reuse with a different request.
    pub fingerprint: String,
}

/// Result of storing a new case.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    /// A new case was stored under this number.
    Created(i64),
    /// The idempotency key was seen before with the same request: the first case.
    Replayed(i64),
    /// The idempotency key was seen before with a different request.
    KeyReused,
}
