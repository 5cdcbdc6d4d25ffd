//! Reading cases: the case store's reads, and the one permission-checked read every feature
//! uses before it touches a case.

use crate::cases::{Case, CaseEvent, CaseQuery, CaseSummary};
use crate::permissions::{can_see, require_case_access, require_scope};
use crate::users::{Principal, Scope};
use crate::{DomainError, Result};

/// Reading cases and their timelines (writes that span features are the service's).
#[async_trait::async_trait]
pub trait CaseStore: crate::directory::DirectoryStore {
    /// A case by number.
    async fn get_case(&self, number: i64) -> Result<Option<Case>>;

    /// A page of cases, newest first.
    async fn list_cases(&self, query: &CaseQuery) -> Result<Vec<CaseSummary>>;

    /// The timeline of a case, oldest first.
    async fn list_events(&self, number: i64, include_internal: bool) -> Result<Vec<CaseEvent>>;

    /// A timeline event and its case, in one read (the dispatcher needs both for every event).
    async fn event_with_case(&self, id: i64) -> Result<Option<(crate::cases::CaseEvent, Case)>>;

    /// Numbers of cases that are not closed, above `after`, in order.
    async fn open_case_numbers(&self, after: i64, limit: u32) -> Result<Vec<i64>>;
}

/// The answer for a case that does not exist or that the caller may not see.
pub(crate) fn not_found() -> DomainError {
    DomainError::NotFound { entity: "case" }
}

/// A case, if the caller may see it (otherwise "not found", so numbers reveal nothing).
pub async fn get_case(store: &dyn CaseStore, p: &Principal, number: i64) -> Result<Case> {
    // The permission first: its 403 says what is missing and who can grant it.
    require_case_access(p)?;
    require_scope(p, Scope::CasesRead)?;
    let case = store.get_case(number).await?.ok_or_else(not_found)?;
    if can_see(p, &case) || csm_of(store, p, &case).await? {
        Ok(case)
    } else {
        Err(not_found())
    }
}

/// Whether the caller is the customer success manager of the case's account: they read the
/// cases they are told of (P1s and escalations) even outside their queues; acting on them
/// still takes the queue or the assignment.
async fn csm_of(store: &dyn CaseStore, p: &Principal, case: &Case) -> Result<bool> {
    if !crate::permissions::is_support(p) {
        return Ok(false);
    }
    Ok(store
        .accounts_of_csm(p.user.id)
        .await?
        .iter()
        .any(|a| a.id == case.account_id))
}
