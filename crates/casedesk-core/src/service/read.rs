//! Reading a case the caller may see: its timeline and its SLA.

use serde_json::{Value, json};

use super::writes::ServiceStore;
use crate::cases::{Case, CaseEvent, Status, get_case};
use crate::permissions::{self};
use crate::sla::case as sla_case;
use crate::users::Principal;
use crate::{DomainError, Result, now};

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
