//! Webhooks: endpoints that receive case events, signed the Standard Webhooks way.
//!
//! An endpoint belongs to a customer account (it receives the public events of that
//! account's cases, of the customer event types only) or is internal (every event of every
//! case, support-side types included). Each event becomes one delivery per endpoint, with its
//! own `webhook-id` kept across retries; each try is logged as an attempt.

use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::AuditRecord;
use crate::cases::{Case, CaseEvent, EventKind};
use crate::jobs::{Claim, Finish, NewJob, WEBHOOK_DELIVERY};
use crate::outbound::{UrlPolicy, check_url};
use crate::permissions::require_scope;
use crate::users::{Principal, Role, Scope};
use crate::{DomainError, FieldError, Result, Timestamp};

/// Event types a customer endpoint may receive.
pub const CUSTOMER_TYPES: [&str; 12] = [
    "case.created",
    "case.status_changed",
    "case.replied",
    "case.resolution_proposed",
    "case.closed",
    "case.escalated",
    "case.incident_updated",
    "case.attachment_added",
    "case.contact_changed",
    "case.access_granted",
    "case.access_revoked",
    "case.access_expired",
];

/// Event types only internal endpoints receive.
pub const INTERNAL_TYPES: [&str; 9] = [
    "case.note_added",
    "case.assigned",
    "case.priority_changed",
    "case.team_contact_added",
    "case.team_contact_removed",
    "case.summary_added",
    "case.sla_warning",
    "case.sla_breached",
    "case.satisfaction_rated",
];

/// Longest body text carried in a payload; the rest is on the case.
const MAX_TEXT: usize = 8_000;
/// Most endpoints per account (and internal).
const MAX_ENDPOINTS: usize = 20;
/// Longest overlap of an old secret after a rotation.
pub const MAX_OVERLAP_HOURS: u32 = 168;

/// The webhook event types of a timeline event.
pub fn event_types(e: &CaseEvent) -> Vec<&'static str> {
    let status_changed = e.data.get("to").is_some() && e.data.get("from").is_some();
    let mut t = match e.kind {
        EventKind::Created => vec!["case.created"],
        EventKind::Reply | EventKind::Reopened | EventKind::InfoRequested => vec!["case.replied"],
        EventKind::Note => vec!["case.note_added"],
        EventKind::OnHold | EventKind::Resumed => vec![],
        EventKind::ResolutionProposed => vec!["case.resolution_proposed"],
        EventKind::ResolutionConfirmed => vec!["case.closed"],
        EventKind::Escalated => vec!["case.escalated"],
        EventKind::Assigned => vec!["case.assigned"],
        EventKind::PriorityChanged => vec!["case.priority_changed"],
        EventKind::ContactAdded => vec!["case.team_contact_added"],
        EventKind::ContactRemoved => vec!["case.team_contact_removed"],
        EventKind::Summary => vec!["case.summary_added"],
        EventKind::SlaWarning => vec!["case.sla_warning"],
        EventKind::SlaBreached => vec!["case.sla_breached"],
        EventKind::IncidentUpdate => vec!["case.incident_updated"],
        EventKind::AttachmentsAdded => vec!["case.attachment_added"],
        EventKind::ContactChanged => vec!["case.contact_changed"],
        EventKind::AccessGranted => vec!["case.access_granted"],
        EventKind::AccessRevoked => vec!["case.access_revoked"],
        EventKind::AccessExpired => vec!["case.access_expired"],
        EventKind::SatisfactionRated => vec!["case.satisfaction_rated"],
        // The evidence is for agents in casedesk; retention is housekeeping.
        EventKind::HarEvidence | EventKind::AttachmentsDeleted | EventKind::DiagnosticReport => {
            vec![]
        }
    };
    if status_changed && e.kind != EventKind::PriorityChanged {
        t.push("case.status_changed");
    }
    t
}

/// Whether an endpoint of this ownership receives this event type of this event.
pub fn receives(ep: &Endpoint, event_type: &str, e: &CaseEvent) -> bool {
    let allowed = match ep.account_id {
        Some(_) => e.public && CUSTOMER_TYPES.contains(&event_type),
        None => true,
    };
    allowed && (ep.event_types.is_empty() || ep.event_types.iter().any(|t| t == event_type))
}

fn clip(v: &Value) -> Value {
    match v.as_str() {
        Some(s) if s.chars().count() > MAX_TEXT => {
            Value::String(s.chars().take(MAX_TEXT).collect())
        }
        _ => v.clone(),
    }
}

/// The JSON body of one delivery: `{type, timestamp, data}`, kept small (long texts are cut
/// and marked, the case has the rest).
pub fn payload(event_type: &str, case: &Case, e: &CaseEvent) -> Value {
    let mut ev = json!({
        "id": e.id,
        "kind": e.kind.key(),
        "actor": e.actor,
        "at": e.at.to_string(),
        "public": e.public,
    });
    if let Value::Object(d) = &e.data {
        for (k, v) in d {
            let clipped = clip(v);
            if clipped != *v {
                ev["truncated"] = json!(true);
            }
            ev[k.as_str()] = clipped;
        }
    }
    json!({
        "type": event_type,
        "timestamp": e.at.to_string(),
        "data": {
            "case": {
                "number": case.number,
                "subject": case.fields.subject,
                "status": case.status.key(),
                "priority": case.fields.priority.key(),
                "tenant": case.tenant,
                "escalated": case.escalated,
            },
            "event": ev,
        }
    })
}

/// A configured receiver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    /// Identifier.
    pub id: Uuid,
    /// Owning customer account; none for an internal endpoint.
    pub account_id: Option<Uuid>,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The owner's note.
    pub description: Option<String>,
    /// Types it wants (empty: every type it may receive).
    pub event_types: Vec<String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Why casedesk disabled it, if it did.
    pub disabled_reason: Option<String>,
    /// Failed attempts since the last success.
    pub failure_streak: i64,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A signing secret, sealed with the server key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// Identifier.
    pub id: Uuid,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// `whsec_…`, sealed.
    pub sealed: String,
    /// Created.
    pub created_at: Timestamp,
    /// After a rotation, the old secret signs until this time.
    pub expires_at: Option<Timestamp>,
}

/// Generates, seals and opens signing secrets (the server key stays outside the domain).
pub trait SecretBox: Send + Sync {
    /// A new `whsec_` secret.
    fn generate(&self) -> Result<String>;
    /// Encrypts a secret for storage.
    fn seal(&self, secret: &str) -> Result<String>;
    /// Decrypts a stored secret.
    fn open(&self, sealed: &str) -> Result<String>;
    /// A 32-byte key for `purpose`, derived from the server key (the same on every node).
    fn derive(&self, purpose: &str) -> [u8; 32];
}

/// State of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not yet delivered; attempts continue.
    Pending,
    /// Answered 2xx.
    Delivered,
    /// Every attempt failed (or the endpoint answered 410).
    Failed,
    /// Not sent: the endpoint was disabled or deleted.
    Skipped,
}

impl DeliveryState {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Skipped => "skipped",
        }
    }

    /// Parses a stable key.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
            DeliveryState::Skipped,
        ]
        .into_iter()
        .find(|d| d.key() == s)
    }
}

/// One message for one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// The `webhook-id`: `msg_` and 32 hex digits, the same on every attempt.
    pub id: String,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// Event type.
    pub event_type: String,
    /// The exact body sent.
    pub payload: String,
    /// The case.
    pub case_number: Option<i64>,
    /// State.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// Last HTTP status.
    pub last_status: Option<u16>,
    /// Created.
    pub created_at: Timestamp,
    /// When it was answered 2xx.
    pub delivered_at: Option<Timestamp>,
}

/// One try of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// When it was sent.
    pub at: Timestamp,
    /// HTTP status, if an answer came.
    pub status_code: Option<u16>,
    /// Time to the answer (or failure), in milliseconds.
    pub latency_ms: u64,
    /// What went wrong.
    pub error: Option<String>,
    /// Asked for by a person.
    pub manual: bool,
}

/// What a delivery attempt changes on its endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointChange {
    /// Nothing (a skipped delivery, a manual retry).
    Unchanged,
    /// A success: the failure streak ends.
    Healthy,
    /// A failure: the streak grows.
    Failing,
    /// Disabled, with the reason shown to its owner (in a notice and on the endpoint).
    Disable { reason: String },
}

/// A message for the owners of an account (or, with none, for support managers).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// Identifier.
    pub id: Uuid,
    /// The account it is for.
    #[serde(skip)]
    pub account_id: Option<Uuid>,
    /// What it is about, e.g. `webhook.disabled`.
    pub kind: String,
    /// The message.
    pub message: String,
    /// When.
    pub created_at: Timestamp,
}

/// A new delivery id.
pub fn new_message_id() -> String {
    format!("msg_{}", Uuid::new_v4().simple())
}

/// The job that makes a delivery's next attempt.
pub fn delivery_job(delivery_id: &str, manual: bool, max_attempts: u32) -> NewJob {
    NewJob::new(
        WEBHOOK_DELIVERY,
        json!({"delivery": delivery_id, "manual": manual}),
    )
    .max_attempts(max_attempts)
}

// ----- who may manage which endpoint -----

fn manages(p: &Principal, ep: &Endpoint) -> bool {
    match ep.account_id {
        Some(a) => p.user.role == Role::SuperAdmin && p.user.account_id == Some(a),
        None => p.user.role == Role::Manager,
    }
}

fn not_found() -> DomainError {
    DomainError::NotFound {
        entity: "webhook endpoint",
    }
}

/// The account whose endpoints the caller manages (`None`: internal), or a 403.
fn owner_of(p: &Principal) -> Result<Option<Uuid>> {
    require_scope(p, Scope::Admin)?;
    match p.user.role {
        Role::SuperAdmin => Ok(p.user.account_id),
        Role::Manager => Ok(None),
        _ => Err(DomainError::Forbidden(
            "Only a super admin of the account (for its endpoints) or a support manager (for internal endpoints) can manage webhooks.".into(),
        )),
    }
}

/// An endpoint the caller manages; anything else is not found.
pub async fn get(store: &dyn WebhookStore, p: &Principal, id: Uuid) -> Result<Endpoint> {
    owner_of(p)?;
    match store.get_endpoint(id).await? {
        Some(ep) if manages(p, &ep) => Ok(ep),
        _ => Err(not_found()),
    }
}

/// The endpoints the caller manages.
pub async fn list(store: &dyn WebhookStore, p: &Principal) -> Result<Vec<Endpoint>> {
    let owner = owner_of(p)?;
    store.list_endpoints(owner).await
}

/// Input of create and update (every field optional on update).
#[derive(Debug, Default)]
pub struct EndpointInput {
    /// URL.
    pub url: Option<String>,
    /// Description.
    pub description: Option<Option<String>>,
    /// Event types.
    pub event_types: Option<Vec<String>>,
    /// Enabled.
    pub enabled: Option<bool>,
}

/// Reads an endpoint body, naming every bad field.
pub fn parse_input(body: &Value, policy: &UrlPolicy, customer: bool) -> Result<EndpointInput> {
    let Value::Object(map) = body else {
        return Err(DomainError::field("body", "must be a JSON object"));
    };
    let mut errs = Vec::new();
    let mut input = EndpointInput::default();
    for (k, v) in map {
        match k.as_str() {
            "url" => match v.as_str() {
                Some(s) => match check_url(s.trim(), policy) {
                    Ok(u) => input.url = Some(u.to_string()),
                    Err(m) => errs.push(FieldError::new("url", m)),
                },
                None => errs.push(FieldError::new("url", "must be a string")),
            },
            "description" => match v {
                Value::Null => input.description = Some(None),
                // Shown on pages and in lists: one line, and no character that reorders it.
                Value::String(s) if s.chars().count() <= 500 => {
                    match crate::cases::intake::check_characters(s, false) {
                        Ok(()) => {
                            input.description =
                                Some(Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
                        }
                        Err(m) => errs.push(FieldError::new("description", m)),
                    }
                }
                _ => errs.push(FieldError::new(
                    "description",
                    "must be text of at most 500 characters",
                )),
            },
            "event_types" => match v.as_array() {
                Some(items) => {
                    let mut types = Vec::new();
                    for (i, t) in items.iter().enumerate() {
                        let s = t.as_str().unwrap_or("");
                        let known = CUSTOMER_TYPES.contains(&s)
                            || crate::status::EVENT_TYPES.contains(&s)
                            || (!customer && INTERNAL_TYPES.contains(&s));
                        if known {
                            if !types.iter().any(|x| x == s) {
                                types.push(s.to_owned());
                            }
                        } else {
                            let list = if customer {
                                format!(
                                    "{}, {}",
                                    CUSTOMER_TYPES.join(", "),
                                    crate::status::EVENT_TYPES.join(", ")
                                )
                            } else {
                                format!(
                                    "{}, {}, {}",
                                    CUSTOMER_TYPES.join(", "),
                                    INTERNAL_TYPES.join(", "),
                                    crate::status::EVENT_TYPES.join(", ")
                                )
                            };
                            errs.push(FieldError::new(
                                format!("event_types[{i}]"),
                                format!("must be one of {list}"),
                            ));
                        }
                    }
                    input.event_types = Some(types);
                }
                None => errs.push(FieldError::new(
                    "event_types",
                    "must be a list of event types (empty: all)",
                )),
            },
            "enabled" => match v.as_bool() {
                Some(b) => input.enabled = Some(b),
                None => errs.push(FieldError::new("enabled", "must be true or false")),
            },
            other => errs.push(FieldError::new(
                other,
                "is not a field of a webhook endpoint",
            )),
        }
    }
    if errs.is_empty() {
        Ok(input)
    } else {
        Err(DomainError::Validation(errs))
    }
}

/// Creates an endpoint owned by the caller's account (or internal, for a manager); the
/// answer carries the signing secret, shown this once.
pub async fn create(
    store: &dyn WebhookStore,
    sbox: &dyn SecretBox,
    p: &Principal,
    body: &Value,
    policy: &UrlPolicy,
) -> Result<(Endpoint, String)> {
    let owner = owner_of(p)?;
    let input = parse_input(body, policy, owner.is_some())?;
    let Some(url) = input.url else {
        return Err(DomainError::field("url", "is required"));
    };
    if store.list_endpoints(owner).await?.len() >= MAX_ENDPOINTS {
        return Err(DomainError::Conflict(format!(
            "at most {MAX_ENDPOINTS} endpoints are allowed; delete one first"
        )));
    }
    let at = crate::now();
    let ep = Endpoint {
        id: Uuid::now_v7(),
        account_id: owner,
        url,
        description: input.description.flatten(),
        event_types: input.event_types.unwrap_or_default(),
        enabled: input.enabled.unwrap_or(true),
        disabled_reason: None,
        failure_streak: 0,
        created_at: at,
        updated_at: at,
    };
    let secret = sbox.generate()?;
    let rec = SecretRecord {
        id: Uuid::now_v7(),
        endpoint_id: ep.id,
        sealed: sbox.seal(&secret)?,
        created_at: at,
        expires_at: None,
    };
    let audit = AuditRecord::by(p, "webhook.create", format!("webhook:{}", ep.id))
        .account(owner)
        .summary(json!({"url": ep.url, "event_types": ep.event_types, "enabled": ep.enabled}));
    store.create_endpoint(&ep, &rec, &audit).await?;
    Ok((ep, secret))
}

/// Changes an endpoint; enabling it again clears the failure streak.
pub async fn update(
    store: &dyn WebhookStore,
    p: &Principal,
    id: Uuid,
    body: &Value,
    policy: &UrlPolicy,
) -> Result<Endpoint> {
    let mut ep = get(store, p, id).await?;
    let input = parse_input(body, policy, ep.account_id.is_some())?;
    let mut changed = serde_json::Map::new();
    if let Some(u) = input.url {
        changed.insert("url".into(), json!(u));
        ep.url = u;
    }
    if let Some(d) = input.description {
        changed.insert("description".into(), json!(d));
        ep.description = d;
    }
    if let Some(t) = input.event_types {
        changed.insert("event_types".into(), json!(t));
        ep.event_types = t;
    }
    if let Some(e) = input.enabled {
        changed.insert("enabled".into(), json!(e));
        if e && !ep.enabled {
            ep.failure_streak = 0;
            ep.disabled_reason = None;
        }
        ep.enabled = e;
    }
    ep.updated_at = crate::now();
    let audit = AuditRecord::by(p, "webhook.update", format!("webhook:{id}"))
        .account(ep.account_id)
        .summary(Value::Object(changed));
    store.update_endpoint(&ep, &audit).await?;
    Ok(ep)
}

/// Deletes an endpoint; its pending deliveries are skipped.
pub async fn delete(store: &dyn WebhookStore, p: &Principal, id: Uuid) -> Result<()> {
    let ep = get(store, p, id).await?;
    let audit = AuditRecord::by(p, "webhook.delete", format!("webhook:{id}"))
        .account(ep.account_id)
        .summary(json!({"url": ep.url}));
    store.delete_endpoint(id, &audit).await
}

/// Issues a new secret; the previous ones keep signing for `overlap_hours` (so receivers
/// can switch without losing a delivery), then expire.
pub async fn rotate(
    store: &dyn WebhookStore,
    sbox: &dyn SecretBox,
    p: &Principal,
    id: Uuid,
    overlap_hours: Option<u32>,
) -> Result<(String, Timestamp)> {
    let ep = get(store, p, id).await?;
    let hours = overlap_hours.unwrap_or(24);
    if hours > MAX_OVERLAP_HOURS {
        return Err(DomainError::field(
            "overlap_hours",
            format!("must be at most {MAX_OVERLAP_HOURS}"),
        ));
    }
    let at = crate::now();
    let until = at
        .checked_add(jiff::SignedDuration::from_hours(i64::from(hours)))
        .map_err(|e| DomainError::Internal(e.to_string()))?;
    let secret = sbox.generate()?;
    let rec = SecretRecord {
        id: Uuid::now_v7(),
        endpoint_id: ep.id,
        sealed: sbox.seal(&secret)?,
        created_at: at,
        expires_at: None,
    };
    let audit = AuditRecord::by(p, "webhook.rotate_secret", format!("webhook:{id}"))
        .account(ep.account_id)
        .summary(json!({"old_secrets_expire_at": until.to_string()}));
    store.add_secret(&rec, until, &audit).await?;
    Ok((secret, until))
}

/// A page of an endpoint's deliveries, newest first.
pub async fn deliveries(
    store: &dyn WebhookStore,
    p: &Principal,
    id: Uuid,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Delivery>> {
    get(store, p, id).await?;
    store.list_deliveries(id, before, limit.clamp(1, 100)).await
}

/// One delivery of an endpoint with its attempts.
pub async fn delivery(
    store: &dyn WebhookStore,
    p: &Principal,
    id: Uuid,
    delivery_id: &str,
) -> Result<(Delivery, Vec<Attempt>)> {
    get(store, p, id).await?;
    match store.get_delivery(delivery_id).await? {
        Some(d) if d.endpoint_id == id => {
            let attempts = store.list_attempts(delivery_id).await?;
            Ok((d, attempts))
        }
        _ => Err(DomainError::NotFound { entity: "delivery" }),
    }
}

/// Sends a delivery again (same `webhook-id` and body, a fresh signature and timestamp).
pub async fn redeliver(
    store: &dyn WebhookStore,
    p: &Principal,
    id: Uuid,
    delivery_id: &str,
) -> Result<()> {
    let ep = get(store, p, id).await?;
    if !ep.enabled {
        return Err(DomainError::Conflict(
            "the endpoint is disabled; enable it before redelivering".into(),
        ));
    }
    let (d, _) = delivery(store, p, id, delivery_id).await?;
    let audit = AuditRecord::by(p, "webhook.redeliver", format!("delivery:{}", d.id))
        .account(ep.account_id);
    store
        .redeliver(&d.id, &delivery_job(&d.id, true, 1), &audit)
        .await
}

/// Notices for the caller: their account's (super admins) or support's (managers).
pub async fn notices(store: &dyn WebhookStore, p: &Principal) -> Result<Vec<Notice>> {
    let owner = owner_of(p)?;
    store.list_notices(owner).await
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

/// Webhook endpoints, their secrets, deliveries and attempts.
#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, public: bool) -> CaseEvent {
        CaseEvent {
            id: 1,
            case_number: 7,
            actor: None,
            kind,
            public,
            data: json!({"grant": "g"}),
            at: crate::now(),
        }
    }

    fn endpoint(account: Option<Uuid>) -> Endpoint {
        Endpoint {
            id: Uuid::nil(),
            account_id: account,
            url: "https://hooks.example/".into(),
            description: None,
            event_types: vec![],
            enabled: true,
            disabled_reason: None,
            failure_streak: 0,
            created_at: crate::now(),
            updated_at: crate::now(),
        }
    }

    #[test]
    fn a_description_is_one_line_without_reordering_characters() {
        let policy = UrlPolicy::default();
        for bad in ["Billing \u{202E}kooh", "two\nlines"] {
            let r = parse_input(&json!({"description": bad}), &policy, true);
            assert!(
                matches!(&r, Err(DomainError::Validation(e)) if e[0].field == "description"),
                "{bad:?}: {r:?}"
            );
        }
        let ok = parse_input(&json!({"description": " Ticket bridge "}), &policy, true);
        assert!(matches!(ok, Ok(i) if i.description == Some(Some("Ticket bridge".into()))));
    }

    #[test]
    fn grants_reach_customer_endpoints_and_ratings_stay_internal() {
        let customer = endpoint(Some(Uuid::now_v7()));
        let internal = endpoint(None);
        for (kind, t) in [
            (EventKind::AccessGranted, "case.access_granted"),
            (EventKind::AccessRevoked, "case.access_revoked"),
            (EventKind::AccessExpired, "case.access_expired"),
            (EventKind::ContactChanged, "case.contact_changed"),
        ] {
            let e = event(kind, true);
            assert_eq!(event_types(&e), [t]);
            assert!(receives(&customer, t, &e), "{t}");
            assert!(receives(&internal, t, &e), "{t}");
        }
        let rated = event(EventKind::SatisfactionRated, true);
        assert_eq!(event_types(&rated), ["case.satisfaction_rated"]);
        assert!(!receives(&customer, "case.satisfaction_rated", &rated));
        assert!(receives(&internal, "case.satisfaction_rated", &rated));
    }
}
