//! Changing a case: the commands of the requester and of support, checked against the
//! lifecycle, with the SLA's part and the effects composed into one write.

use serde_json::{Value, json};

use super::writes::{CasePatch, ServiceStore};
use crate::audit::AuditRecord;
use crate::cases::lifecycle::{Action, next_status};
use crate::cases::store::not_found;
use crate::cases::{Case, EventKind, NewEvent, Priority, Status};
use crate::permissions::{
    self, can_see, require_case_access, require_customer, require_scope, require_support,
};
use crate::sla::SlaWrite;
use crate::sla::case::{self as sla_case, happenings, pauses, step};
use crate::users::{Principal, Scope, normalize_email};
use crate::{DomainError, FieldError, Result, Timestamp, now};

/// Longest text of a reply, note or reason, in characters.
pub const MAX_BODY: usize = 20_000;

/// Times an action is retried when another change to the same case came first.
const CONCURRENCY_RETRIES: usize = 5;

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
    /// Change the case email, phone or time zone (fields not given stay).
    ChangeContact { contact: Value },
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
pub(super) fn scrub_fields(f: &mut crate::cases::CaseFields) -> Result<Option<Value>> {
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
        Command::Assign { .. }
        | Command::AddContact { .. }
        | Command::RemoveContact { .. }
        | Command::ChangeContact { .. } => {
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
        Command::ChangeContact { contact } => match contact.as_object() {
            Some(o) if !o.is_empty() => {
                let unknown: Vec<FieldError> = o
                    .keys()
                    .filter(|k| !crate::cases::intake::CONTACT_FIELDS.contains(&k.as_str()))
                    .map(|k| {
                        FieldError::new(
                            k.clone(),
                            "is not a field of the contact: email, phone or timezone",
                        )
                    })
                    .collect();
                if unknown.is_empty() {
                    Ok(())
                } else {
                    Err(DomainError::Validation(unknown))
                }
            }
            _ => Err(DomainError::field(
                "body",
                "must be an object with at least one of email, phone and timezone",
            )),
        },
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
        if patch.status == Some(Status::Closed) {
            end_with_case(store, &case, event.at, &mut patch).await?;
        }
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

/// A closing case ends its grants in force: each ends with the change that closes it, and
/// the timeline says so.
async fn end_with_case(
    store: &dyn ServiceStore,
    case: &Case,
    at: Timestamp,
    patch: &mut CasePatch,
) -> Result<()> {
    for g in store.case_grants(case.number).await? {
        if !g.active_at(at) {
            continue;
        }
        patch.grants.push(crate::grants::GrantChange::End {
            id: g.id,
            at,
            by: None,
            reason: crate::grants::EndReason::CaseClosed,
        });
        patch.also.push(NewEvent {
            actor_id: None,
            kind: EventKind::AccessExpired,
            public: true,
            data: json!({"grant": g.id, "tenant": g.tenant, "scope": g.scope.key(), "reason": "case_closed"}),
            at,
        });
    }
    Ok(())
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
            assign(store, assignee.as_deref(), &mut patch, &mut data).await?;
            EventKind::Assigned
        }
        Command::ChangePriority { priority, reason } => {
            require_support(p, "change the priority")?;
            next_status(case.status, Action::Annotate)?;
            change_priority(case, priority, reason, &mut patch, &mut data)?;
            EventKind::PriorityChanged
        }
        Command::AddContact { email } | Command::RemoveContact { email } => {
            next_status(case.status, Action::Annotate)?;
            let adding = matches!(cmd, Command::AddContact { .. });
            change_contacts(store, case, email, adding, &mut patch, &mut data).await?;
            if adding {
                EventKind::ContactAdded
            } else {
                EventKind::ContactRemoved
            }
        }
        Command::ChangeContact { contact } => {
            if !support && case.requester_id != p.user.id {
                return Err(DomainError::Forbidden(
                    "Only the requester of the case or support can change its case email, phone or time zone.".into(),
                ));
            }
            next_status(case.status, Action::Annotate)?;
            change_contact(case, contact, &mut patch, &mut data)?;
            EventKind::ContactChanged
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

/// Assigns the case to a support engineer or manager (`None` unassigns).
async fn assign(
    store: &dyn ServiceStore,
    assignee: Option<&str>,
    patch: &mut CasePatch,
    data: &mut Value,
) -> Result<()> {
    match assignee {
        Some(email) => {
            let email = normalize_email(email).map_err(|m| DomainError::field("assignee", m))?;
            let user = store.find_user_by_email(&email).await?;
            let Some(user) = user.filter(|u| permissions::can_be_assigned(u.role)) else {
                return Err(DomainError::field(
                    "assignee",
                    "is not a support engineer or manager",
                ));
            };
            if !user.active() {
                return Err(DomainError::field(
                    "assignee",
                    format!(
                        "{} is deactivated; choose someone who still works cases",
                        user.email
                    ),
                ));
            }
            data["assignee"] = json!(user.email);
            patch.assignee = Some(Some(user.id));
        }
        None => {
            data["assignee"] = Value::Null;
            patch.assignee = Some(None);
        }
    }
    Ok(())
}

/// A new priority, with the reason; the same priority again is refused.
fn change_priority(
    case: &Case,
    priority: &str,
    reason: &str,
    patch: &mut CasePatch,
    data: &mut Value,
) -> Result<()> {
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
    Ok(())
}

/// A new contact: the case's, with the given fields replaced, checked as the intake checks it.
fn change_contact(
    case: &Case,
    given: &Value,
    patch: &mut CasePatch,
    data: &mut Value,
) -> Result<()> {
    let old = &case.fields.contact;
    let mut merged = json!({"email": old.email, "phone": old.phone, "timezone": old.timezone});
    if let Some(o) = given.as_object() {
        for (k, v) in o {
            merged[k] = v.clone();
        }
    }
    // Named as the request names them: `email`, not the case's `contact.email`.
    let new = crate::cases::intake::check_contact(&merged).map_err(|errs| {
        DomainError::Validation(
            errs.into_iter()
                .map(|e| {
                    let field = e
                        .field
                        .strip_prefix("contact.")
                        .unwrap_or(&e.field)
                        .to_owned();
                    FieldError::new(field, e.message)
                })
                .collect(),
        )
    })?;
    if new == *old {
        return Err(DomainError::field(
            "body",
            "changes nothing: the case already has this email, phone and time zone",
        ));
    }
    let mut from = json!({});
    let mut to = json!({});
    for (k, a, b) in [
        ("email", &old.email, &new.email),
        ("phone", &old.phone, &new.phone),
        ("timezone", &old.timezone, &new.timezone),
    ] {
        if a != b {
            from[k] = json!(a);
            to[k] = json!(b);
        }
    }
    data["from"] = from;
    data["to"] = to;
    patch.contact = Some(new);
    Ok(())
}

/// Adds or removes a team contact: an administrator of the case's account.
async fn change_contacts(
    store: &dyn ServiceStore,
    case: &Case,
    email: &str,
    adding: bool,
    patch: &mut CasePatch,
    data: &mut Value,
) -> Result<()> {
    let email = normalize_email(email).map_err(|m| DomainError::field("email", m))?;
    if adding {
        let user = store.find_user_by_email(&email).await?;
        let Some(user) = user.filter(|u| {
            u.role.is_customer() && u.account_id == Some(case.account_id) && u.active()
        }) else {
            return Err(DomainError::field(
                "email",
                "is not an active administrator of the case's account; team contacts must be admins of the same account",
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
    Ok(())
}
