//! Case operations: permission checks, lifecycle rules and storage, in that order.
//! The HTTP layer calls these and only maps inputs and outputs.

use serde_json::{Value, json};
use uuid::Uuid;

use super::writes::{CasePatch, NewCase, ServiceStore};
use crate::audit::AuditRecord;
use crate::cases::intake::{IntakeContext, validate};
use crate::cases::lifecycle::{Action, next_status};
use crate::cases::{
    Case, CaseEvent, CaseQuery, CaseSort, CaseSummary, CreateOutcome, DueKey, EventKind,
    IdempotencyKey, NewEvent, PageCursor, Priority, Stage, Status, TeamContact,
};
use crate::permissions::{
    self, can_see, require_case_access, require_customer, require_scope, require_support,
};
use crate::sla::case::{self as sla_case, happenings, pauses, step};
use crate::sla::{Happening, SlaWrite};
use crate::users::{Principal, Scope, normalize_email};
use crate::{DomainError, FieldError, Result, now};

/// Longest text of a reply, note or reason, in characters.
pub const MAX_BODY: usize = 20_000;
const MAX_PAGE: u32 = 100;
const DEFAULT_PAGE: u32 = 25;
/// Times an action is retried when another change to the same case came first.
const CONCURRENCY_RETRIES: usize = 5;

fn not_found() -> DomainError {
    DomainError::NotFound { entity: "case" }
}

/// Opens a case for a customer. Returns the case and whether it is a replay of an earlier
/// request with the same idempotency key.
pub async fn create_case(
    store: &dyn ServiceStore,
    p: &Principal,
    body: &Value,
    idempotency: Option<(String, String)>,
) -> Result<(Case, bool, Value, Option<Value>)> {
    // The permission first: its 403 says what is missing and who can grant it.
    require_case_access(p)?;
    require_scope(p, Scope::CasesWrite)?;
    require_customer(p, "open cases; support staff work the cases customers open")?;
    let account_id = p
        .user
        .account_id
        .ok_or_else(|| DomainError::Forbidden(permissions::MISSING_CASE_ADMIN.into()))?;

    let key = match idempotency {
        Some((key, fingerprint)) => {
            if key.is_empty() || key.len() > 200 {
                return Err(DomainError::field(
                    "Idempotency-Key",
                    "must be 1 to 200 characters",
                ));
            }
            // Kept as a hash: a client may put anything in the header, a token included, and
            // the key is only ever compared.
            Some(IdempotencyKey {
                user_id: p.user.id,
                key: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes())),
                fingerprint,
            })
        }
        None => None,
    };

    let (tenants, areas, users) = (
        store.list_tenants(account_id).await?,
        store.issue_areas().await?,
        store.list_account_users(account_id).await?,
    );
    let at = now();
    let intake = validate(
        body,
        &IntakeContext {
            tenants: &tenants,
            areas: &areas,
            account_users: &users,
            now: at,
        },
    )
    .map_err(DomainError::Validation)?;

    if let Some(n) = intake.follow_up_of {
        let original = store.get_case(n).await?;
        match original {
            Some(c) if can_see(p, &c) && c.status == Status::Closed => {}
            Some(c) if can_see(p, &c) => {
                return Err(DomainError::field(
                    "follow_up_of",
                    format!(
                        "case {n} is {}; only closed cases get follow-ups — reply on it instead",
                        c.status.key()
                    ),
                ));
            }
            _ => {
                return Err(DomainError::field(
                    "follow_up_of",
                    format!("there is no case {n} that you can see"),
                ));
            }
        }
    }

    let tenant = tenants
        .get(intake.tenant_index)
        .ok_or_else(|| DomainError::Internal("tenant index".into()))?;
    let mut team_contacts = intake
        .team_contact_indexes
        .iter()
        .filter_map(|i| users.get(*i))
        .map(|u| TeamContact {
            user_id: u.id,
            email: u.email.clone(),
        })
        .collect::<Vec<_>>();
    // Stored contacts are listed by email; answer in the same order as a later read.
    team_contacts.sort_by(|a, b| a.email.cmp(&b.email));
    let mut fields = intake.fields;
    let removed = scrub_fields(&mut fields)?;
    let mut new = NewCase {
        account_id,
        requester_id: p.user.id,
        tenant_id: tenant.id,
        queue: intake.queue,
        fields,
        team_contacts,
        follow_up_of: intake.follow_up_of,
        created_at: at,
        sla: SlaWrite::default(),
    };
    // The clocks start with the case, in the same transaction.
    let ctx = sla_case::context(store, account_id, new.fields.priority).await?;
    new.sla = step(&[], false, &[Happening::Created(ctx.policy)], at, &ctx);
    let sla = sla_case::summary(&new.sla.events, &ctx, at);
    let mut event = NewEvent {
        actor_id: Some(p.user.id),
        kind: EventKind::Created,
        public: true,
        data: json!({"status": Status::New.key(), "priority": new.fields.priority.key(), "queue": new.queue}),
        at,
    };
    if let Some(n) = &removed {
        event.data["secrets_removed"] = n.clone();
    }
    // The store writes the number it assigns into the target.
    let audit = AuditRecord::by(p, "case.create", "")
        .account(Some(account_id))
        .summary(json!({"priority": new.fields.priority.key(), "queue": new.queue, "tenant": tenant.slug, "issue_area": new.fields.issue_area}));
    match store.create_case(&new, &event, key.as_ref(), &audit).await? {
        // The answer is built from what was stored, sparing a read back.
        CreateOutcome::Created(number) => Ok((
            Case {
                number,
                account_id,
                tenant_id: new.tenant_id,
                tenant: tenant.slug.clone(),
                requester_id: p.user.id,
                requester: p.user.email.clone(),
                assignee_id: None,
                assignee: None,
                queue: new.queue,
                status: Status::New,
                escalated: false,
                fields: new.fields,
                team_contacts: new.team_contacts,
                follow_up_of: new.follow_up_of,
                created_at: at,
                updated_at: at,
                version: 1,
            },
            false,
            sla,
            removed,
        )),
        CreateOutcome::Replayed(number) => {
            let case = store.get_case(number).await?.ok_or_else(not_found)?;
            let sla = case_sla(store, &case).await?;
            Ok((case, true, sla, None))
        }
        CreateOutcome::KeyReused => Err(DomainError::Conflict(
            "this Idempotency-Key was already used with a different request; use a new key for a new case".into(),
        )),
    }
}

/// A case the caller may see.
pub async fn get_case(store: &dyn ServiceStore, p: &Principal, number: i64) -> Result<Case> {
    // The permission first: its 403 says what is missing and who can grant it.
    require_case_access(p)?;
    require_scope(p, Scope::CasesRead)?;
    let case = store.get_case(number).await?.ok_or_else(not_found)?;
    if can_see(p, &case) {
        Ok(case)
    } else {
        Err(not_found())
    }
}

/// The SLA summary of a case (see [`crate::sla::case::summary`]).
pub async fn case_sla(store: &dyn ServiceStore, case: &Case) -> Result<Value> {
    Ok(sla_of(store, case, false).await?.0)
}

/// The SLA summary of a case already read and, with `explain`, how each figure was reached,
/// from one read of its clock log and context (the agent's workspace shows both).
pub async fn sla_of(
    store: &dyn ServiceStore,
    case: &Case,
    explain: bool,
) -> Result<(Value, Option<Value>)> {
    let ctx = sla_case::context(store, case.account_id, case.fields.priority).await?;
    let at = now();
    let stored = store.sla_log(case.number).await?;
    let log = sla_case::current(&stored, &ctx, case.status != Status::Closed, at);
    let summary = sla_case::summary(&log, &ctx, at);
    if !explain {
        return Ok((summary, None));
    }
    let mut v = sla_case::explain(&log, &ctx, case.fields.priority, at)?;
    // The explanation shows the log as stored; a goal not yet logged is named apart.
    v["log"] = serde_json::to_value(&stored)
        .map_err(|e| DomainError::Internal(format!("sla log: {e}")))?;
    v["pending_changes"] = serde_json::to_value(&log[stored.len()..])
        .map_err(|e| DomainError::Internal(format!("sla log: {e}")))?;
    v["case"] = json!(case.number);
    v["status"] = json!(case.status.key());
    Ok((summary, Some(v)))
}

/// `GET …/sla`: the SLA summary of a case the caller may see.
pub async fn get_sla(store: &dyn ServiceStore, p: &Principal, number: i64) -> Result<Value> {
    let case = get_case(store, p, number).await?;
    case_sla(store, &case).await
}

/// `GET …/sla/explain`: how each figure of a case's SLA was reached.
pub async fn explain_sla(store: &dyn ServiceStore, p: &Principal, number: i64) -> Result<Value> {
    let case = get_case(store, p, number).await?;
    sla_of(store, &case, true)
        .await?
        .1
        .ok_or_else(|| DomainError::Internal("no SLA explanation".into()))
}

/// The timeline of a case; customers see only public events.
pub async fn list_events(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
) -> Result<Vec<CaseEvent>> {
    let case = get_case(store, p, number).await?;
    events_of(store, p, &case).await
}

/// The timeline of a case the caller was shown by [`get_case`].
pub async fn events_of(
    store: &dyn ServiceStore,
    p: &Principal,
    case: &Case,
) -> Result<Vec<CaseEvent>> {
    store
        .list_events(case.number, permissions::is_support(p))
        .await
}

/// Filters a caller may put on a case list (all optional).
#[derive(Debug, Clone, Default)]
pub struct ListFilters {
    /// `mine`: only cases I opened, am a contact on, or (support) am assigned.
    pub view: Option<String>,
    /// Comma-separated statuses; `active` means every status but closed.
    pub status: Option<String>,
    /// Comma-separated priorities.
    pub priority: Option<String>,
    /// Issue area key.
    pub issue_area: Option<String>,
    /// Stage key.
    pub stage: Option<String>,
    /// Tenant slug.
    pub tenant: Option<String>,
    /// Queue.
    pub queue: Option<String>,
    /// Assignee email, `me`, or `none`.
    pub assignee: Option<String>,
    /// `true` or `false`.
    pub escalated: Option<String>,
    /// Words to find.
    pub q: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<PageCursor>,
    /// `newest` (default) or `sla_due` (next SLA due time first).
    pub sort: Option<String>,
}

fn split(s: &Option<String>) -> Vec<&str> {
    s.as_deref()
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// A page of the cases the caller may see, and the cursor of the next page.
pub async fn list_cases(
    store: &dyn ServiceStore,
    p: &Principal,
    f: &ListFilters,
) -> Result<(Vec<CaseSummary>, Option<PageCursor>)> {
    require_case_access(p)?;
    require_scope(p, Scope::CasesRead)?;
    let mut errors = Vec::new();
    let mine = match f.view.as_deref() {
        None | Some("all") => false,
        Some("mine") => true,
        Some(_) => {
            errors.push(FieldError::new("view", "must be mine or all"));
            false
        }
    };
    let visibility = permissions::visibility(p, mine)?;

    let mut statuses = Vec::new();
    for s in split(&f.status) {
        if s == "active" {
            statuses.extend(Status::ALL.into_iter().filter(|s| *s != Status::Closed));
        } else if let Some(st) = Status::parse(s) {
            statuses.push(st);
        } else {
            errors.push(FieldError::new("status", "must be a comma-separated list of new, open, pending, on_hold, solved, closed or active"));
        }
    }
    let mut priorities = Vec::new();
    for s in split(&f.priority) {
        match Priority::parse(s) {
            Some(pr) => priorities.push(pr),
            None => errors.push(FieldError::new(
                "priority",
                "must be a comma-separated list of P1, P2, P3, P4",
            )),
        }
    }
    let stage = match f.stage.as_deref() {
        None => None,
        Some(s) => Stage::parse(s).or_else(|| {
            errors.push(FieldError::new(
                "stage",
                "must be onboarding, production or advanced",
            ));
            None
        }),
    };
    let assignee = match f.assignee.as_deref() {
        None => None,
        Some("none") => Some(None),
        Some("me") => Some(Some(p.user.id)),
        Some(email) => match normalize_email(email) {
            Ok(e) => match store.find_user_by_email(&e).await? {
                Some(u) => Some(Some(u.id)),
                // An unknown assignee matches nothing rather than erroring, so the answer
                // does not reveal which addresses have accounts.
                None => Some(Some(Uuid::nil())),
            },
            Err(m) => {
                errors.push(FieldError::new(
                    "assignee",
                    format!("must be me, none, or an {m}"),
                ));
                None
            }
        },
    };
    let escalated = match f.escalated.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.push(FieldError::new("escalated", "must be true or false"));
            None
        }
    };
    let limit = match f.limit {
        None => DEFAULT_PAGE,
        Some(l) if (1..=MAX_PAGE).contains(&l) => l,
        Some(_) => {
            errors.push(FieldError::new(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
            DEFAULT_PAGE
        }
    };
    // Control characters separate words like spaces do: no index reads them, and FTS5 stops
    // a quoted word at a NUL.
    let text =
        f.q.as_deref()
            .map(|s| s.replace(char::is_control, " "))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
        errors.push(FieldError::new("q", "must be at most 200 characters"));
    } else if text
        .as_ref()
        .is_some_and(|t| !t.chars().any(char::is_alphanumeric))
    {
        errors.push(FieldError::new("q", "must contain a word to search for"));
    }
    let sort = match f.sort.as_deref() {
        None | Some("newest") => CaseSort::Newest,
        Some("sla_due") => CaseSort::SlaDue,
        Some(_) => {
            errors.push(FieldError::new("sort", "must be newest or sla_due"));
            CaseSort::Newest
        }
    };
    // A cursor continues the order it was handed out in.
    let (before, after_due) = match (sort, f.cursor) {
        (_, None) => (None, None),
        (CaseSort::Newest, Some(PageCursor::Before(n))) => (Some(n), None),
        (CaseSort::SlaDue, Some(PageCursor::AfterDue(k))) => (None, Some(k)),
        (_, Some(_)) => {
            errors.push(FieldError::new(
                "cursor",
                "belongs to a list in another order; start again without it",
            ));
            (None, None)
        }
    };
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors));
    }
    let text_account = match visibility {
        crate::cases::Visibility::Mine { .. } | crate::cases::Visibility::Account { .. } => {
            p.user.account_id
        }
        _ => None,
    };
    let query = CaseQuery {
        text_account,
        text_internal: matches!(
            visibility,
            crate::cases::Visibility::Queues { .. } | crate::cases::Visibility::All
        ),
        visibility,
        statuses,
        priorities,
        issue_area: f.issue_area.clone(),
        stage,
        tenant: f.tenant.clone(),
        queue: f.queue.clone(),
        assignee,
        escalated,
        text,
        before,
        sort,
        after_due,
        limit: limit + 1,
    };
    let mut rows = store.list_cases(&query).await?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| match sort {
            CaseSort::Newest => PageCursor::Before(r.number),
            CaseSort::SlaDue => PageCursor::AfterDue(DueKey {
                due: r.sla_due_at,
                number: r.number,
            }),
        })
    } else {
        None
    };
    Ok((rows, next))
}

/// Checks an intake body for `account` as if a case admin of it submitted it, storing
/// nothing (the email intake's defaults are checked this way before they are enabled).
pub async fn check_intake(
    store: &dyn ServiceStore,
    account_id: uuid::Uuid,
    body: &Value,
) -> Result<()> {
    let (tenants, areas, users) = (
        store.list_tenants(account_id).await?,
        store.issue_areas().await?,
        store.list_account_users(account_id).await?,
    );
    validate(
        body,
        &IntakeContext {
            tenants: &tenants,
            areas: &areas,
            account_users: &users,
            now: now(),
        },
    )
    .map(|_| ())
    .map_err(DomainError::Validation)
}

/// Something a person does to a case.
#[derive(Debug, Clone)]
pub enum Command {
    /// A public reply.
    Reply { body: String },
    /// An internal note (support only, never shown to customers).
    Note { body: String },
    /// Ask the customer for information (→ pending).
    RequestInfo { body: String },
    /// Wait on a third party (→ on-hold).
    Hold { reason: String },
    /// Resume a pending or on-hold case (→ open).
    Resume { body: Option<String> },
    /// Propose a resolution (→ solved).
    ProposeResolution { body: String },
    /// The customer confirms the resolution (→ closed).
    ConfirmResolution { comment: Option<String> },
    /// The customer escalates, with a reason.
    Escalate { reason: String },
    /// Assign to an agent by email, or unassign.
    Assign { assignee: Option<String> },
    /// Change the priority, with a reason.
    ChangePriority { priority: String, reason: String },
    /// Add a team contact (an admin of the same account).
    AddContact { email: String },
    /// Remove a team contact.
    RemoveContact { email: String },
    /// Record a call or chat summary.
    Summary {
        channel: String,
        conclusions: String,
        next_steps: Option<String>,
        internal: bool,
    },
}

fn text(field: &str, v: &str) -> Result<String> {
    let t = v.trim();
    if t.is_empty() {
        return Err(DomainError::field(field, "must not be empty"));
    }
    if t.chars().count() > MAX_BODY {
        return Err(DomainError::field(
            field,
            format!("must be at most {MAX_BODY} characters"),
        ));
    }
    Ok(t.to_owned())
}

fn opt_text(field: &str, v: &Option<String>) -> Result<Option<String>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => text(field, s).map(Some),
    }
}

/// Validates a command's input before anything is read, so bad input never reaches storage.
/// Secrets in a case's texts are replaced before storage; what was removed, for the author.
fn scrub_fields(f: &mut crate::cases::CaseFields) -> Result<Option<Value>> {
    use crate::diagnostics::secrets::{Found, Tag, scrub_in_place};
    let mut found = Found::default();
    let mut names: Vec<String> = Vec::new();
    let mut one = |name: &str, text: &mut String, found: &mut Found| -> Result<()> {
        if scrub_in_place(text, &Tag::Plain, found)? {
            names.push(name.to_owned());
        }
        Ok(())
    };
    one("subject", &mut f.subject, &mut found)?;
    one("description", &mut f.description, &mut found)?;
    if let Some(t) = f.steps_to_reproduce.as_mut() {
        one("steps_to_reproduce", t, &mut found)?;
    }
    if let Some(t) = f.business_impact.as_mut() {
        one("business_impact", t, &mut found)?;
    }
    for (group, map) in [
        ("identifiers", &mut f.identifiers),
        ("context", &mut f.context),
    ] {
        for (k, v) in map.iter_mut() {
            if let Value::String(t) = v {
                one(&format!("{group}.{k}"), t, &mut found)?;
            }
        }
    }
    // A secret found in one field is taken out of the others too (a password quoted again in
    // the steps, a token pasted as a connection name).
    if !found.is_empty() {
        let known = found.known();
        let mut again = |name: &str, text: &mut String, found: &mut Found| {
            if let Some(t) = found.scrub_with(&known, text, &Tag::Plain) {
                *text = t;
                names.push(name.to_owned());
            }
        };
        again("subject", &mut f.subject, &mut found);
        again("description", &mut f.description, &mut found);
        if let Some(t) = f.steps_to_reproduce.as_mut() {
            again("steps_to_reproduce", t, &mut found);
        }
        if let Some(t) = f.business_impact.as_mut() {
            again("business_impact", t, &mut found);
        }
        for (group, map) in [
            ("identifiers", &mut f.identifiers),
            ("context", &mut f.context),
        ] {
            for (k, v) in map.iter_mut() {
                if let Value::String(t) = v {
                    again(&format!("{group}.{k}"), t, &mut found);
                }
            }
        }
        names.sort();
        names.dedup();
    }
    Ok(notice(found, names))
}

fn notice(found: crate::diagnostics::secrets::Found, fields: Vec<String>) -> Option<Value> {
    if found.is_empty() {
        return None;
    }
    let mut n = found.notice();
    n["fields"] = json!(fields);
    Some(n)
}

/// The texts of an action, scrubbed of secrets.
fn scrub_command(cmd: Command) -> Result<(Command, Option<Value>)> {
    use crate::diagnostics::secrets::{Found, Tag, scrub_in_place};
    let mut found = Found::default();
    let mut names = Vec::new();
    let mut cmd = cmd;
    let texts: Vec<(&str, &mut String)> = match &mut cmd {
        Command::Reply { body }
        | Command::Note { body }
        | Command::RequestInfo { body }
        | Command::ProposeResolution { body } => vec![("body", body)],
        Command::Hold { reason } | Command::Escalate { reason } => vec![("reason", reason)],
        Command::ChangePriority { reason, .. } => vec![("reason", reason)],
        Command::Resume { body } => body.as_mut().map(|b| ("body", b)).into_iter().collect(),
        Command::ConfirmResolution { comment } => comment
            .as_mut()
            .map(|b| ("comment", b))
            .into_iter()
            .collect(),
        Command::Summary {
            conclusions,
            next_steps,
            ..
        } => {
            let mut v = vec![("conclusions", conclusions)];
            if let Some(n) = next_steps.as_mut() {
                v.push(("next_steps", n));
            }
            v
        }
        Command::Assign { .. } | Command::AddContact { .. } | Command::RemoveContact { .. } => {
            vec![]
        }
    };
    let mut texts = texts;
    for (name, text) in texts.iter_mut() {
        if scrub_in_place(text, &Tag::Plain, &mut found)? {
            names.push((*name).to_owned());
        }
    }
    if !found.is_empty() {
        let known = found.known();
        for (name, text) in texts.iter_mut() {
            if let Some(t) = found.scrub_with(&known, text, &Tag::Plain) {
                **text = t;
                names.push((*name).to_owned());
            }
        }
        names.sort();
        names.dedup();
    }
    Ok((cmd, notice(found, names)))
}

fn check_input(cmd: &Command) -> Result<()> {
    match cmd {
        Command::Reply { body }
        | Command::Note { body }
        | Command::RequestInfo { body }
        | Command::ProposeResolution { body } => text("body", body).map(|_| ()),
        Command::Hold { reason } | Command::Escalate { reason } => {
            text("reason", reason).map(|_| ())
        }
        Command::Resume { body } => opt_text("body", body).map(|_| ()),
        Command::ConfirmResolution { comment } => opt_text("comment", comment).map(|_| ()),
        Command::Assign { assignee } => match assignee {
            Some(a) => normalize_email(a)
                .map(|_| ())
                .map_err(|m| DomainError::field("assignee", m)),
            None => Ok(()),
        },
        Command::ChangePriority { priority, reason } => {
            let mut errs = Vec::new();
            if Priority::parse(priority).is_none() {
                errs.push(FieldError::new("priority", "must be one of P1, P2, P3, P4"));
            }
            if let Err(DomainError::Validation(mut e)) = text("reason", reason) {
                errs.append(&mut e);
            }
            if errs.is_empty() {
                Ok(())
            } else {
                Err(DomainError::Validation(errs))
            }
        }
        Command::AddContact { email } | Command::RemoveContact { email } => normalize_email(email)
            .map(|_| ())
            .map_err(|m| DomainError::field("email", m)),
        Command::Summary {
            channel,
            conclusions,
            next_steps,
            ..
        } => {
            let mut errs = Vec::new();
            if !matches!(channel.as_str(), "call" | "chat") {
                errs.push(FieldError::new("channel", "must be call or chat"));
            }
            if let Err(DomainError::Validation(mut e)) = text("conclusions", conclusions) {
                errs.append(&mut e);
            }
            if let Err(DomainError::Validation(mut e)) = opt_text("next_steps", next_steps) {
                errs.append(&mut e);
            }
            if errs.is_empty() {
                Ok(())
            } else {
                Err(DomainError::Validation(errs))
            }
        }
    }
}

/// Applies a command to a case the caller may see, retrying if another change came first.
pub async fn act(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
    cmd: Command,
) -> Result<Case> {
    act_with(store, p, number, cmd, None).await
}

/// A reply that arrived by email: `act` whose event carries `via` (sender verification,
/// attachments, the received message's id) under `email`, and which records the received
/// message in the same transaction (a second delivery of it then conflicts and posts nothing).
pub async fn act_by_email(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
    cmd: Command,
    via: Value,
    received: crate::mail::InboundRecord,
    files: &[crate::attachments::Prepared],
) -> Result<Case> {
    act_with(store, p, number, cmd, Some((via, received, files))).await
}

async fn act_with(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
    cmd: Command,
    email: Option<(
        Value,
        crate::mail::InboundRecord,
        &[crate::attachments::Prepared],
    )>,
) -> Result<Case> {
    // The permission first: its 403 says what is missing and who can grant it. By email,
    // the people on the case answer whether or not they hold case-admin.
    if email.is_none() {
        require_case_access(p)?;
    }
    require_scope(p, Scope::CasesWrite)?;
    check_input(&cmd)?;
    let (cmd, removed) = scrub_command(cmd)?;
    for _ in 0..CONCURRENCY_RETRIES {
        let case = store.get_case(number).await?.ok_or_else(not_found)?;
        let allowed = match email {
            Some(_) => permissions::may_answer_by_email(p, &case),
            None => can_see(p, &case),
        };
        if !allowed {
            return Err(not_found());
        }
        let (mut patch, mut event) = plan(store, p, &case, &cmd).await?;
        if let Some(n) = &removed {
            event.data["secrets_removed"] = n.clone();
        }
        if let Some((via, received, files)) = &email {
            event.data["email"] = via.clone();
            patch.inbound = Some(received.clone());
            // Files of the message are stored with the reply, like an upload's.
            patch.attachments = files.iter().map(|f| f.attachment.clone()).collect();
            patch.also = files
                .iter()
                .filter_map(|f| crate::attachments::evidence_event(p, f))
                .collect();
            patch.context = crate::attachments::fill_context(&case, files);
        }
        patch.sla = sla_change(store, p, &case, &patch, &event).await?;
        let audit = case_audit(p, &case, &event);
        if let Some(updated) = store
            .update_case(number, case.version, &patch, &event, &audit)
            .await?
        {
            return Ok(updated);
        }
    }
    Err(DomainError::Conflict(
        "the case is being changed by someone else right now; try again".into(),
    ))
}

/// Applies a change built from the current case, retrying (up to `tries` times) when
/// another change came first; a case the caller may not see is not found.
pub(crate) async fn change_case(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
    tries: usize,
    build: impl Fn(&Case) -> Result<(CasePatch, NewEvent)>,
) -> Result<Case> {
    for _ in 0..tries {
        let case = store.get_case(number).await?.ok_or_else(not_found)?;
        if !can_see(p, &case) {
            return Err(not_found());
        }
        let (patch, event) = build(&case)?;
        let audit = case_audit(p, &case, &event);
        if let Some(c) = store
            .update_case(number, case.version, &patch, &event, &audit)
            .await?
        {
            return Ok(c);
        }
    }
    Err(DomainError::Conflict(
        "the case is being changed by someone else right now; try again".into(),
    ))
}

/// What a change does to the case's SLA clocks, written with it; `None` when nothing.
async fn sla_change(
    store: &dyn ServiceStore,
    p: &Principal,
    case: &Case,
    patch: &CasePatch,
    event: &NewEvent,
) -> Result<Option<SlaWrite>> {
    let to = patch.status.unwrap_or(case.status);
    let priority = patch.priority.unwrap_or(case.fields.priority);
    let ctx = sla_case::context(store, case.account_id, priority).await?;
    let retarget = patch.priority.map(|_| ctx.policy);
    let hs = happenings(
        case.status,
        to,
        event,
        permissions::is_support(p),
        retarget,
        &ctx.settings,
    );
    if hs.is_empty() {
        return Ok(None);
    }
    let log = store.sla_log(case.number).await?;
    if log.is_empty() {
        // No clocks (an imported case, or a plan without targets when it was opened).
        return Ok(None);
    }
    Ok(Some(step(
        &log,
        pauses(case.status, &ctx.settings),
        &hs,
        event.at,
        &ctx,
    )))
}

/// The audit entry of a case change: what changed, never the text written (replies and
/// notes stay on the timeline, where their own visibility rules apply).
pub(crate) fn case_audit(p: &Principal, case: &Case, e: &NewEvent) -> AuditRecord {
    let mut summary = serde_json::Map::new();
    if let Value::Object(d) = &e.data {
        for (k, v) in d {
            match k.as_str() {
                "body" | "conclusions" | "next_steps" | "comment" | "reason" => {
                    let chars = v.as_str().map(|s| s.chars().count()).unwrap_or(0);
                    summary.insert(format!("{k}_chars"), json!(chars));
                }
                _ => {
                    summary.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let a = AuditRecord::by(
        p,
        &format!("case.{}", e.kind.key()),
        format!("case:{}", case.number),
    )
    .account(Some(case.account_id))
    .summary(Value::Object(summary));
    if e.public { a } else { a.internal() }
}

fn status_change(patch: &mut CasePatch, data: &mut Value, from: Status, to: Status) {
    if from != to {
        patch.status = Some(to);
        data["from"] = json!(from.key());
        data["to"] = json!(to.key());
    }
}

/// Decides what a command changes and what the timeline records.
async fn plan(
    store: &dyn ServiceStore,
    p: &Principal,
    case: &Case,
    cmd: &Command,
) -> Result<(CasePatch, NewEvent)> {
    let support = permissions::is_support(p);
    let mut patch = CasePatch::default();
    let mut data = json!({});
    let mut public = true;
    let kind = match cmd {
        Command::Reply { body } => {
            let action = if support {
                Action::AgentReply
            } else {
                Action::CustomerReply
            };
            let to = next_status(case.status, action)?;
            data["body"] = json!(text("body", body)?);
            status_change(&mut patch, &mut data, case.status, to);
            if !support && matches!(case.status, Status::Pending | Status::Solved) {
                EventKind::Reopened
            } else {
                EventKind::Reply
            }
        }
        Command::Note { body } => {
            require_support(p, "add internal notes")?;
            next_status(case.status, Action::Annotate)?;
            data["body"] = json!(text("body", body)?);
            public = false;
            EventKind::Note
        }
        Command::RequestInfo { body } => {
            require_support(p, "request information from the customer")?;
            let to = next_status(case.status, Action::RequestInfo)?;
            data["body"] = json!(text("body", body)?);
            status_change(&mut patch, &mut data, case.status, to);
            EventKind::InfoRequested
        }
        Command::Hold { reason } => {
            require_support(p, "put cases on hold")?;
            let to = next_status(case.status, Action::Hold)?;
            data["reason"] = json!(text("reason", reason)?);
            status_change(&mut patch, &mut data, case.status, to);
            EventKind::OnHold
        }
        Command::Resume { body } => {
            require_support(p, "resume cases")?;
            let to = next_status(case.status, Action::Resume)?;
            if let Some(b) = opt_text("body", body)? {
                data["body"] = json!(b);
            }
            status_change(&mut patch, &mut data, case.status, to);
            EventKind::Resumed
        }
        Command::ProposeResolution { body } => {
            require_support(p, "propose a resolution")?;
            let to = next_status(case.status, Action::ProposeResolution)?;
            data["body"] = json!(text("body", body)?);
            status_change(&mut patch, &mut data, case.status, to);
            EventKind::ResolutionProposed
        }
        Command::ConfirmResolution { comment } => {
            require_customer(p, "confirm a resolution")?;
            let to = next_status(case.status, Action::ConfirmResolution)?;
            if let Some(c) = opt_text("comment", comment)? {
                data["comment"] = json!(c);
            }
            status_change(&mut patch, &mut data, case.status, to);
            EventKind::ResolutionConfirmed
        }
        Command::Escalate { reason } => {
            require_customer(p, "escalate a case")?;
            next_status(case.status, Action::Escalate)?;
            if case.escalated {
                return Err(DomainError::InvalidTransition {
                    message: format!(
                        "case {} is already escalated; the duty manager has been notified",
                        case.number
                    ),
                    status: case.status,
                });
            }
            data["reason"] = json!(text("reason", reason)?);
            patch.escalated = Some(true);
            EventKind::Escalated
        }
        Command::Assign { assignee } => {
            require_support(p, "assign cases")?;
            next_status(case.status, Action::Annotate)?;
            public = false;
            match assignee {
                Some(email) => {
                    let email =
                        normalize_email(email).map_err(|m| DomainError::field("assignee", m))?;
                    let user = store.find_user_by_email(&email).await?;
                    let Some(user) = user.filter(|u| permissions::can_be_assigned(u.role)) else {
                        return Err(DomainError::field(
                            "assignee",
                            "is not a support engineer or manager",
                        ));
                    };
                    data["assignee"] = json!(user.email);
                    patch.assignee = Some(Some(user.id));
                }
                None => {
                    data["assignee"] = Value::Null;
                    patch.assignee = Some(None);
                }
            }
            EventKind::Assigned
        }
        Command::ChangePriority { priority, reason } => {
            require_support(p, "change the priority")?;
            next_status(case.status, Action::Annotate)?;
            let to = Priority::parse(priority)
                .ok_or_else(|| DomainError::field("priority", "must be one of P1, P2, P3, P4"))?;
            if to == case.fields.priority {
                return Err(DomainError::field(
                    "priority",
                    format!("the case is already {}", to.key()),
                ));
            }
            data["from"] = json!(case.fields.priority.key());
            data["to"] = json!(to.key());
            data["reason"] = json!(text("reason", reason)?);
            patch.priority = Some(to);
            EventKind::PriorityChanged
        }
        Command::AddContact { email } | Command::RemoveContact { email } => {
            next_status(case.status, Action::Annotate)?;
            let email = normalize_email(email).map_err(|m| DomainError::field("email", m))?;
            let adding = matches!(cmd, Command::AddContact { .. });
            if adding {
                let user = store.find_user_by_email(&email).await?;
                let Some(user) =
                    user.filter(|u| u.role.is_customer() && u.account_id == Some(case.account_id))
                else {
                    return Err(DomainError::field(
                        "email",
                        "is not an administrator of the case's account; team contacts must be admins of the same account",
                    ));
                };
                if case.team_contacts.iter().any(|c| c.user_id == user.id) {
                    return Err(DomainError::field(
                        "email",
                        "is already a team contact of this case",
                    ));
                }
                patch.add_contact = Some(user.id);
            } else {
                let Some(c) = case.team_contacts.iter().find(|c| c.email == email) else {
                    return Err(DomainError::field(
                        "email",
                        "is not a team contact of this case",
                    ));
                };
                patch.remove_contact = Some(c.user_id);
            }
            data["email"] = json!(email);
            if adding {
                EventKind::ContactAdded
            } else {
                EventKind::ContactRemoved
            }
        }
        Command::Summary {
            channel,
            conclusions,
            next_steps,
            internal,
        } => {
            require_support(p, "record call or chat summaries")?;
            next_status(case.status, Action::Annotate)?;
            data["channel"] = json!(channel);
            data["conclusions"] = json!(text("conclusions", conclusions)?);
            if let Some(n) = opt_text("next_steps", next_steps)? {
                data["next_steps"] = json!(n);
            }
            public = !internal;
            EventKind::Summary
        }
    };
    Ok((
        patch,
        NewEvent {
            actor_id: Some(p.user.id),
            kind,
            public,
            data,
            at: now(),
        },
    ))
}
