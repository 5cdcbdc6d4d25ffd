//! What the API answers and accepts, as documented in `/openapi.json`.

pub use crate::requests::paging::{decode_cursor, encode_cursor};
use casedesk_core::cases::{Case, CaseEvent, CaseSummary};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// How to reach the requester.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactDto {
    /// Case email.
    pub email: String,
    /// Preferred phone number.
    pub phone: String,
    /// Preferred contact time zone (IANA name).
    pub timezone: String,
}

/// The body of `POST /api/v1/cases`. Unknown fields are rejected; every problem is reported
/// at once. Which `identifiers` are required depends on `stage` (see `GET /api/v1/intake`).
///
/// Documentation only: intake validates the raw JSON in `casedesk-core` so that every
/// problem is reported at once; a test keeps these field names equal to the accepted ones.
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "describes the request body in the OpenAPI document"
)]
pub struct CaseInput {
    /// P1 production down, P2 production impaired, P3 normal, P4 question.
    #[schema(example = "P2")]
    pub priority: String,
    /// One-line summary.
    pub subject: String,
    /// What happens, with error codes or log lines.
    pub description: String,
    /// Steps to reproduce and troubleshooting already done.
    pub steps_to_reproduce: Option<String>,
    /// Slug of the impacted tenant (one of your account's).
    pub tenant: String,
    /// Issue-area key, e.g. `sign-in-and-redirects`.
    pub issue_area: String,
    /// `all_users`, `some_users`, `one_user` or `admins_only`.
    pub scope: String,
    /// Business impact.
    pub business_impact: Option<String>,
    /// How to reach you.
    pub contact: ContactDto,
    /// Emails of admins of your account who receive every email of the case.
    pub team_contacts: Option<Vec<String>>,
    /// `onboarding`, `production` or `advanced`.
    pub stage: String,
    /// Stage identifiers: onboarding needs organization_id, application_key, client_purpose,
    /// error_message, occurred_at (and redirect_uri for interactive_web); production needs
    /// environment, deployment_model, review_needed_by; advanced needs product, availability
    /// and one of edition, entitlement_id, activation_id, membership_id, provider_id, scim_connection_id.
    #[schema(value_type = Object)]
    pub identifiers: Map<String, Value>,
    /// Context that speeds resolution (correlation_id, token_flow, endpoint_path, …).
    #[schema(value_type = Object)]
    pub context: Option<Map<String, Value>>,
    /// Pre-submission checklist, each item true (confirmed) or false.
    #[schema(value_type = Object)]
    pub checklist: Option<Map<String, Value>>,
    /// Number of a closed case this one follows up.
    pub follow_up_of: Option<i64>,
}

/// A stored case.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseDto {
    /// Case number.
    pub number: i64,
    /// Lifecycle status: new, open, pending, on_hold, solved, closed.
    pub status: String,
    /// P1–P4.
    pub priority: String,
    /// Subject.
    pub subject: String,
    /// Description.
    pub description: String,
    /// Steps to reproduce.
    pub steps_to_reproduce: Option<String>,
    /// Tenant slug.
    pub tenant: String,
    /// Issue area.
    pub issue_area: String,
    /// Who is affected.
    pub scope: String,
    /// Business impact.
    pub business_impact: Option<String>,
    /// Contact.
    pub contact: ContactDto,
    /// Team contacts' emails.
    pub team_contacts: Vec<String>,
    /// Rollout stage.
    pub stage: String,
    /// Stage identifiers.
    #[schema(value_type = Object)]
    pub identifiers: Map<String, Value>,
    /// Context.
    #[schema(value_type = Object)]
    pub context: Map<String, Value>,
    /// Checklist: every item, confirmed or not.
    #[schema(value_type = Object)]
    pub checklist: Map<String, Value>,
    /// Requester's email.
    pub requester: String,
    /// Queue the case was routed to.
    pub queue: String,
    /// Assigned support engineer.
    pub assignee: Option<String>,
    /// Escalated by the customer.
    pub escalated: bool,
    /// The closed case this follows up.
    pub follow_up_of: Option<i64>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// SLA clocks: per target its newest cycle's state (running, paused, met, breached,
    /// stopped), due time and business minutes left; `GET …/sla/explain` shows the working.
    #[schema(value_type = Object)]
    pub sla: Value,
    /// Only in the answer to a create: open incidents the case matches, which its requester
    /// may link it to (`POST …/incidents`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub incident_offers: Option<Vec<Value>>,
    /// Only in the answer to a create of a production-stage security review: the Trust
    /// Center documents whose topics include the case's issue area.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub trust_offers: Option<Vec<Value>>,
    /// Only in the answer to a multipart create: the files stored with the case, and what
    /// secrets were removed from them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub attachments: Option<Vec<Value>>,
    /// Only in the answer to a create: secrets found in the case's texts and replaced by a
    /// marker before storage, with the advice to rotate them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub secrets_removed: Option<Value>,
}

impl CaseDto {
    /// The answer for a case with its SLA summary.
    pub fn with_sla(c: Case, sla: Value) -> Self {
        let mut d = CaseDto::from(c);
        d.sla = sla;
        d
    }
}

impl From<Case> for CaseDto {
    fn from(c: Case) -> Self {
        let f = c.fields;
        CaseDto {
            number: c.number,
            status: c.status.key().into(),
            priority: f.priority.key().into(),
            subject: f.subject,
            description: f.description,
            steps_to_reproduce: f.steps_to_reproduce,
            tenant: c.tenant,
            issue_area: f.issue_area,
            scope: f.scope.key().into(),
            business_impact: f.business_impact,
            contact: ContactDto {
                email: f.contact.email,
                phone: f.contact.phone,
                timezone: f.contact.timezone,
            },
            team_contacts: c.team_contacts.into_iter().map(|t| t.email).collect(),
            stage: f.stage.key().into(),
            identifiers: f.identifiers,
            context: f.context,
            checklist: f.checklist,
            requester: c.requester,
            queue: c.queue,
            assignee: c.assignee,
            escalated: c.escalated,
            follow_up_of: c.follow_up_of,
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
            sla: Value::Null,
            incident_offers: None,
            trust_offers: None,
            attachments: None,
            secrets_removed: None,
        }
    }
}

/// One row of a case list.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseSummaryDto {
    /// Case number.
    pub number: i64,
    /// Subject.
    pub subject: String,
    /// Status.
    pub status: String,
    /// Priority.
    pub priority: String,
    /// Tenant slug.
    pub tenant: String,
    /// Issue area.
    pub issue_area: String,
    /// Stage.
    pub stage: String,
    /// Queue.
    pub queue: String,
    /// Requester email.
    pub requester: String,
    /// Assignee email.
    pub assignee: Option<String>,
    /// Escalated.
    pub escalated: bool,
    /// Created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// The earliest due time of a running SLA clock (queue views sort by it).
    pub sla_due_at: Option<String>,
}

impl From<CaseSummary> for CaseSummaryDto {
    fn from(c: CaseSummary) -> Self {
        CaseSummaryDto {
            number: c.number,
            subject: c.subject,
            status: c.status.key().into(),
            priority: c.priority.key().into(),
            tenant: c.tenant,
            issue_area: c.issue_area,
            stage: c.stage.key().into(),
            queue: c.queue,
            requester: c.requester,
            assignee: c.assignee,
            escalated: c.escalated,
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
            sla_due_at: c.sla_due_at.map(|t| t.to_string()),
        }
    }
}

/// A page of cases.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseList {
    /// The cases, newest first.
    pub items: Vec<CaseSummaryDto>,
    /// Cursor of the next page (pass as `cursor`), absent on the last page.
    pub next: Option<String>,
}

/// A timeline event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDto {
    /// Identifier.
    pub id: i64,
    /// created, reply, note, info_requested, on_hold, resumed, resolution_proposed,
    /// resolution_confirmed, reopened, escalated, assigned, priority_changed, contact_added,
    /// contact_removed, summary, sla_warning, sla_breached.
    pub kind: String,
    /// Who did it.
    pub actor: Option<String>,
    /// `public` or `internal`.
    pub visibility: String,
    /// Details: body, from/to status, reason…
    #[schema(value_type = Object)]
    pub data: Value,
    /// When (RFC 3339).
    pub at: String,
}

impl From<CaseEvent> for EventDto {
    fn from(e: CaseEvent) -> Self {
        EventDto {
            id: e.id,
            kind: e.kind.key().into(),
            actor: e.actor,
            visibility: if e.public { "public" } else { "internal" }.into(),
            data: e.data,
            at: e.at.to_string(),
        }
    }
}

/// A case's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// Events, oldest first.
    pub items: Vec<EventDto>,
}

/// A message: a reply, a note, an information request or a resolution proposal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// The text.
    pub body: String,
}

/// An optional message.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionalMessage {
    /// The text.
    pub body: Option<String>,
}

/// A reason (hold, escalation).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    /// Why.
    pub reason: String,
}

/// A customer's confirmation of a resolution.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// Optional closing words.
    pub comment: Option<String>,
}

/// An assignment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// Email of a support engineer or manager, or null to unassign.
    pub assignee: Option<String>,
}

/// A priority change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityBody {
    /// P1–P4.
    pub priority: String,
    /// Why it changes.
    pub reason: String,
}

/// A team contact.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    /// Email of an admin of the case's account.
    pub email: String,
}

/// Summary of a call or chat with the customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryBody {
    /// `call` or `chat`.
    pub channel: String,
    /// What was concluded.
    pub conclusions: String,
    /// Agreed next steps.
    pub next_steps: Option<String>,
    /// Keep it internal (default: visible to the customer, who took part).
    #[serde(default)]
    pub internal: bool,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeDto {
    /// Email.
    pub email: String,
    /// super-admin, admin, agent or manager.
    pub role: String,
    /// Account id, for customer admins.
    pub account_id: Option<String>,
    /// Holds case-admin.
    pub case_admin: bool,
    /// Elevated support contact.
    pub elevated: bool,
    /// Queues (agents).
    pub queues: Vec<String>,
    /// Scopes of the credential used.
    pub scopes: Vec<String>,
    /// For customer admins: their account's name, plan and customer success manager.
    #[schema(value_type = Option<Object>)]
    pub account: Option<Value>,
}
