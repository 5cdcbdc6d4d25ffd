//! Support access grants as case changes: granting, revoking and expiring each write the grant,
//! a public timeline event (so the webhook and the audit follow) and, for a new grant, the job
//! that ends it at its expiry, in one transaction.

use serde_json::{Value, json};
use uuid::Uuid;

use super::change::case_audit;
use super::writes::{CasePatch, ServiceStore};
use crate::audit::{Actor, AuditRecord};
use crate::cases::lifecycle::{Action, next_status};
use crate::cases::store::not_found;
use crate::cases::{Case, EventKind, NewEvent};
use crate::grants::{self, AccessGrant, EndReason, GrantChange};
use crate::jobs::NewJob;
use crate::permissions::{can_see, is_support, require_case_access, require_scope};
use crate::users::{Principal, Role, Scope};
use crate::{DomainError, Result, Timestamp, now};

const RETRIES: usize = 5;

/// The customer side that may open and end grants on a case: its requester, its team contacts
/// and the account's super admins.
fn may_grant(p: &Principal, case: &Case) -> bool {
    let u = &p.user;
    u.role.is_customer()
        && u.account_id == Some(case.account_id)
        && (case.requester_id == u.id
            || case.team_contacts.iter().any(|c| c.user_id == u.id)
            || u.role == Role::SuperAdmin)
}

/// The case, if the caller may see it or may grant on it (a super admin sees every case of
/// their account for this); otherwise not found.
async fn case_for(store: &dyn ServiceStore, p: &Principal, number: i64) -> Result<Case> {
    require_case_access(p)?;
    let case = store.get_case(number).await?.ok_or_else(not_found)?;
    if can_see(p, &case) || may_grant(p, &case) {
        Ok(case)
    } else {
        Err(not_found())
    }
}

/// Applies a grant's change to the current case, retrying when another change came first.
/// Unlike other case changes, a super admin of the account may make it on any of its cases.
async fn write(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
    build: impl Fn(&Case) -> Result<(CasePatch, NewEvent)>,
) -> Result<Case> {
    for _ in 0..RETRIES {
        let case = case_for(store, p, number).await?;
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

/// The grants of a case the caller may see, newest first.
pub async fn case_grants(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
) -> Result<Vec<AccessGrant>> {
    case_for(store, p, number).await?;
    require_scope(p, Scope::CasesRead)?;
    store.case_grants(number).await
}

/// Lets support into the case's tenant for `hours` (the plan may cap them).
pub async fn grant(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
    body: &Value,
) -> Result<AccessGrant> {
    let case = case_for(store, p, number).await?;
    require_scope(p, Scope::CasesWrite)?;
    if !may_grant(p, &case) {
        return Err(DomainError::Forbidden(
            "Only the requester, a team contact or a super admin of the account can let support into the tenant.".into(),
        ));
    }
    let account = store
        .find_account(&case.account_id.to_string())
        .await?
        .ok_or_else(not_found)?;
    let req = grants::parse_request(body, account.plan)?;
    next_status(case.status, Action::Annotate)?;
    let at = now();
    let expires_at = at + jiff::SignedDuration::from_hours(i64::from(req.hours));
    let g = AccessGrant {
        id: Uuid::now_v7(),
        case_number: number,
        account_id: case.account_id,
        tenant: case.tenant.clone(),
        scope: req.scope,
        note: req.note.clone(),
        granted_by: p.user.email.clone(),
        granted_at: at,
        expires_at,
        ended_at: None,
        ended_by: None,
        end_reason: None,
    };
    write(store, p, number, |c| {
        next_status(c.status, Action::Annotate)?;
        let patch = CasePatch {
            grants: vec![GrantChange::Open(g.clone())],
            jobs: vec![
                NewJob::new(grants::EXPIRE, json!({"grant": g.id, "case": number})).at(expires_at),
            ],
            ..CasePatch::default()
        };
        let event = NewEvent {
            actor_id: Some(p.user.id),
            kind: EventKind::AccessGranted,
            public: true,
            data: json!({"grant": g.id, "tenant": g.tenant, "scope": g.scope.key(),
                         "hours": req.hours, "expires_at": expires_at, "note": g.note}),
            at,
        };
        Ok((patch, event))
    })
    .await?;
    Ok(g)
}

/// Ends a grant before its time: the customer side that may grant, or support on the case.
pub async fn revoke(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
    id: Uuid,
) -> Result<AccessGrant> {
    let case = case_for(store, p, number).await?;
    require_scope(p, Scope::CasesWrite)?;
    if !(may_grant(p, &case) || (is_support(p) && can_see(p, &case))) {
        return Err(DomainError::Forbidden(
            "Only the requester, a team contact or a super admin of the account (or support on the case) can end a grant.".into(),
        ));
    }
    let no_grant = || DomainError::NotFound {
        entity: "access grant",
    };
    let g = store
        .grant(id)
        .await?
        .filter(|g| g.case_number == number)
        .ok_or_else(no_grant)?;
    let at = now();
    if !g.active_at(at) {
        return Err(DomainError::Conflict(format!(
            "the grant already ended ({})",
            g.state(at).replace('_', " ")
        )));
    }
    write(store, p, number, |_| {
        let patch = CasePatch {
            grants: vec![GrantChange::End {
                id,
                at,
                by: Some(p.user.email.clone()),
                reason: EndReason::Revoked,
            }],
            ..CasePatch::default()
        };
        let event = NewEvent {
            actor_id: Some(p.user.id),
            kind: EventKind::AccessRevoked,
            public: true,
            data: json!({"grant": id, "tenant": g.tenant, "scope": g.scope.key()}),
            at,
        };
        Ok((patch, event))
    })
    .await?;
    store.grant(id).await?.ok_or_else(no_grant)
}

/// Ends a grant whose time ran out (the `grant.expire` job); nothing when it already ended.
/// A grant not yet due answers its expiry, for the job to run again then.
pub async fn expire(store: &dyn ServiceStore, id: Uuid) -> Result<Option<Timestamp>> {
    for _ in 0..RETRIES {
        let Some(g) = store.grant(id).await? else {
            return Ok(None);
        };
        if g.ended_at.is_some() {
            return Ok(None);
        }
        let at = now();
        if g.expires_at > at {
            return Ok(Some(g.expires_at));
        }
        let Some(case) = store.get_case(g.case_number).await? else {
            return Ok(None);
        };
        let patch = CasePatch {
            grants: vec![GrantChange::End {
                id,
                at,
                by: None,
                reason: EndReason::Expired,
            }],
            ..CasePatch::default()
        };
        let event = NewEvent {
            actor_id: None,
            kind: EventKind::AccessExpired,
            public: true,
            data: json!({"grant": id, "tenant": g.tenant, "scope": g.scope.key(), "reason": "expired"}),
            at,
        };
        let audit = AuditRecord::new(
            Actor::system("job:grant.expire"),
            "case.access_expired",
            format!("case:{}", case.number),
        )
        .account(Some(case.account_id))
        .summary(event.data.clone());
        match store
            .update_case(case.number, case.version, &patch, &event, &audit)
            .await
        {
            Ok(Some(_)) => return Ok(None),
            Ok(None) => continue,
            // Revoked in the meantime: nothing left to do.
            Err(DomainError::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Err(DomainError::Conflict(
        "the case kept changing; the grant's expiry is retried".into(),
    ))
}

/// The grants in force (of one tenant when given), for the identity platform: a manager
/// whose credential carries `grants:read` (every manager's browser session does; a token
/// must be given it). Each names the agents who may use it: the
/// assignee, else the agents of the case's queue.
pub async fn active(
    store: &dyn ServiceStore,
    p: &Principal,
    tenant: Option<&str>,
) -> Result<Vec<Value>> {
    if p.user.role != Role::Manager {
        return Err(DomainError::Forbidden(
            "Only support managers and the identity platform's credential (a manager's token with grants:read) can list access grants.".into(),
        ));
    }
    require_scope(p, Scope::GrantsRead)?;
    let at = now();
    let list = store.active_grants(tenant, at, 500).await?;
    if list.is_empty() {
        return Ok(vec![]);
    }
    let support = store.support_users().await?;
    let mut out = Vec::with_capacity(list.len());
    for g in list {
        let Some(case) = store.get_case(g.case_number).await? else {
            continue;
        };
        let agents: Vec<String> = match &case.assignee {
            Some(a) => vec![a.clone()],
            None => support
                .iter()
                .filter(|u| u.role == Role::Agent && u.queues.contains(&case.queue))
                .map(|u| u.email.clone())
                .collect(),
        };
        out.push(json!({
            "id": g.id, "case": g.case_number, "tenant": g.tenant, "scope": g.scope.key(),
            "granted_by": g.granted_by, "granted_at": g.granted_at, "expires_at": g.expires_at,
            "agents": agents,
        }));
    }
    Ok(out)
}

/// A grant as the API shows it on its case.
pub fn grant_json(g: &AccessGrant) -> Value {
    json!({
        "id": g.id, "case": g.case_number, "tenant": g.tenant, "scope": g.scope.key(),
        "note": g.note, "granted_by": g.granted_by, "granted_at": g.granted_at,
        "expires_at": g.expires_at, "ended_at": g.ended_at, "ended_by": g.ended_by,
        "state": g.state(now()),
    })
}
