//! Who may do what, decided here and nowhere else.

use crate::cases::{Case, Visibility};
use crate::users::{Principal, Role, Scope};
use crate::{DomainError, Result};

/// The message for an admin without the case-admin permission.
pub const MISSING_CASE_ADMIN: &str = "You need the case-admin permission to see or open support cases. A super admin of your account can grant it to you.";

/// Fails unless the credential carries `scope`.
pub fn require_scope(p: &Principal, scope: Scope) -> Result<()> {
    if p.has_scope(scope) {
        Ok(())
    } else {
        Err(DomainError::InsufficientScope(scope))
    }
}

/// Fails unless the caller may use cases at all (customers need case-admin).
pub fn require_case_access(p: &Principal) -> Result<()> {
    if p.user.role.is_customer() && !p.user.case_admin {
        return Err(DomainError::Forbidden(MISSING_CASE_ADMIN.into()));
    }
    Ok(())
}

/// Whether the caller is on the support side.
pub fn is_support(p: &Principal) -> bool {
    matches!(p.user.role, Role::Agent | Role::Manager)
}

/// Fails unless the caller is support staff.
pub fn require_support(p: &Principal, what: &str) -> Result<()> {
    if is_support(p) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(format!(
            "Only support engineers can {what}."
        )))
    }
}

/// Fails unless the caller is the customer side of the case.
pub fn require_customer(p: &Principal, what: &str) -> Result<()> {
    if p.user.role.is_customer() {
        Ok(())
    } else {
        Err(DomainError::Forbidden(format!(
            "Only the customer can {what}."
        )))
    }
}

/// Whether the caller may see this case. Callers who may not get a 404, as if it did not exist.
pub fn can_see(p: &Principal, case: &Case) -> bool {
    let u = &p.user;
    match u.role {
        Role::SuperAdmin | Role::Admin => {
            u.case_admin
                && u.account_id == Some(case.account_id)
                && (u.elevated
                    || case.requester_id == u.id
                    || case.team_contacts.iter().any(|c| c.user_id == u.id))
        }
        Role::Agent => case.assignee_id == Some(u.id) || u.queues.contains(&case.queue),
        Role::Manager => true,
    }
}

/// Whether `p` may answer `case` by email: support staff who may see it; on the customer side
/// the requester and the team contacts, with or without the case-admin permission (the brief:
/// team contacts receive every email of the case and can answer by email). Opening a case
/// still needs case-admin.
pub fn may_answer_by_email(p: &Principal, case: &Case) -> bool {
    if is_support(p) {
        return can_see(p, case);
    }
    p.user.account_id == Some(case.account_id)
        && (case.requester_id == p.user.id
            || case.team_contacts.iter().any(|c| c.user_id == p.user.id))
}

/// The cases a caller may list. `mine_only` narrows an elevated contact to My cases.
pub fn visibility(p: &Principal, mine_only: bool) -> Result<Visibility> {
    require_case_access(p)?;
    let u = &p.user;
    Ok(match u.role {
        Role::SuperAdmin | Role::Admin => match u.account_id {
            Some(account_id) if u.elevated && !mine_only => Visibility::Account { account_id },
            Some(_) => Visibility::Mine { user_id: u.id },
            None => return Err(DomainError::Forbidden(MISSING_CASE_ADMIN.into())),
        },
        // "Mine" for support staff: the cases assigned to them, whatever their queues.
        Role::Agent | Role::Manager if mine_only => Visibility::Queues {
            queues: vec![],
            user_id: u.id,
        },
        Role::Agent => Visibility::Queues {
            queues: u.queues.clone(),
            user_id: u.id,
        },
        Role::Manager => Visibility::All,
    })
}

/// Whether an assignee is acceptable: support staff.
pub fn can_be_assigned(role: Role) -> bool {
    matches!(role, Role::Agent | Role::Manager)
}

/// Elevated support contacts allowed per account, by plan tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ElevatedLimits {
    /// Self-service plans.
    pub self_service: u32,
    /// Standard enterprise plans.
    pub standard: u32,
    /// Premium enterprise plans.
    pub premium: u32,
}

impl Default for ElevatedLimits {
    fn default() -> Self {
        Self {
            self_service: 5,
            standard: 10,
            premium: 20,
        }
    }
}

impl ElevatedLimits {
    /// The cap for a plan.
    pub fn for_plan(&self, plan: crate::accounts::Plan) -> u32 {
        use crate::accounts::PlanTier;
        match plan.tier() {
            PlanTier::SelfService => self.self_service,
            PlanTier::Standard => self.standard,
            PlanTier::Premium => self.premium,
        }
    }
}
