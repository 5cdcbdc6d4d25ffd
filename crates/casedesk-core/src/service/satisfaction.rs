//! Satisfaction after close: a rating is a change of its closed case (a timeline event and an
//! audit entry), stored once.

use serde_json::{Value, json};

use super::change::change_case;
use super::writes::{CasePatch, ServiceStore};
use crate::cases::store::not_found;
use crate::cases::{EventKind, NewEvent, Status};
use crate::permissions::{can_see, require_case_access, require_scope};
use crate::satisfaction::{self, Rating};
use crate::users::{Principal, Role, Scope};
use crate::{DomainError, Result, Timestamp, now};

/// Rates a closed case: its requester or a team contact, once.
pub async fn rate(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
    body: &Value,
) -> Result<Rating> {
    require_case_access(p)?;
    require_scope(p, Scope::CasesWrite)?;
    let case = store.get_case(number).await?.ok_or_else(not_found)?;
    if !can_see(p, &case) {
        return Err(not_found());
    }
    let (rating, comment) = satisfaction::parse(body)?;
    let u = &p.user;
    let on_case = case.requester_id == u.id || case.team_contacts.iter().any(|c| c.user_id == u.id);
    if !u.role.is_customer() || !on_case {
        return Err(DomainError::Forbidden(
            "Only the requester or a team contact of the case can rate it.".into(),
        ));
    }
    if case.status != Status::Closed {
        return Err(DomainError::InvalidTransition {
            message: format!(
                "case {number} is {}; it can be rated once it is closed",
                case.status.key().replace('_', " ")
            ),
            status: case.status,
        });
    }
    if store.rating(number).await?.is_some() {
        return Err(DomainError::Conflict(format!(
            "case {number} has already been rated; a case is rated once"
        )));
    }
    let r = Rating {
        case_number: number,
        rating,
        comment,
        rated_by: u.email.clone(),
        rated_at: now(),
    };
    change_case(store, p, number, 5, |_| {
        let mut data = json!({"rating": r.rating});
        if let Some(c) = &r.comment {
            data["comment"] = json!(c);
        }
        Ok((
            CasePatch {
                rating: Some(r.clone()),
                ..CasePatch::default()
            },
            NewEvent {
                actor_id: Some(u.id),
                kind: EventKind::SatisfactionRated,
                public: true,
                data,
                at: r.rated_at,
            },
        ))
    })
    .await?;
    Ok(r)
}

/// The case's rating, for whoever may see the case.
pub async fn rating_of(
    store: &dyn ServiceStore,
    p: &Principal,
    number: i64,
) -> Result<Option<Rating>> {
    crate::cases::get_case(store, p, number).await?;
    store.rating(number).await
}

/// The satisfaction report over `[since, until)` (managers).
pub async fn report(
    store: &dyn ServiceStore,
    p: &Principal,
    since: Timestamp,
    until: Timestamp,
) -> Result<Value> {
    if p.user.role != Role::Manager {
        return Err(DomainError::Forbidden(
            "Only support managers can read the satisfaction report.".into(),
        ));
    }
    require_scope(p, Scope::CasesRead)?;
    let rows = store.rated_cases(since, until, 100_000).await?;
    let mut v = satisfaction::report(&rows);
    v["since"] = json!(since);
    v["until"] = json!(until);
    Ok(v)
}
