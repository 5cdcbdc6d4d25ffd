//! People: account administrators, support agents and managers, and the scopes of API tokens.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{DomainError, Timestamp};

/// What a user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Super admin of a customer account.
    SuperAdmin,
    /// Administrator of a customer account.
    Admin,
    /// Support engineer working the cases of their queues.
    Agent,
    /// Support manager: everything an agent can, on every queue.
    Manager,
}

impl Role {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super-admin",
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Manager => "manager",
        }
    }

    /// Whether the role belongs to a customer account (rather than to the support team).
    pub fn is_customer(self) -> bool {
        matches!(self, Role::SuperAdmin | Role::Admin)
    }
}

impl std::str::FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "super-admin" => Ok(Role::SuperAdmin),
            "admin" => Ok(Role::Admin),
            "agent" => Ok(Role::Agent),
            "manager" => Ok(Role::Manager),
            _ => Err(DomainError::field(
                "role",
                "must be one of super-admin, admin, agent, manager",
            )),
        }
    }
}

/// A person who signs in to casedesk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Identifier.
    pub id: Uuid,
    /// Customer account for admins; `None` for the support team.
    pub account_id: Option<Uuid>,
    /// Email address, unique, stored lowercase.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Holds the case-admin permission (may open and manage cases).
    pub case_admin: bool,
    /// Elevated support contact: sees and manages all cases of the account.
    pub elevated: bool,
    /// Queues an agent works (managers work all).
    pub queues: Vec<String>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A permission an API token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Read cases and their timelines.
    #[serde(rename = "cases:read")]
    CasesRead,
    /// Open cases and act on them.
    #[serde(rename = "cases:write")]
    CasesWrite,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 2] = [Scope::CasesRead, Scope::CasesWrite];

    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            Scope::CasesRead => "cases:read",
            Scope::CasesWrite => "cases:write",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|x| x.key() == s)
            .ok_or_else(|| DomainError::field("scope", "must be one of cases:read, cases:write"))
    }
}

/// The authenticated caller of a request: a user, limited by the scopes of the credential used.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user: User,
    /// Scopes of the credential; a token never grants more than its user holds.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Whether the credential carries `scope`.
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Normalises and checks an email address (a pragmatic check, not full RFC 5322).
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let e = raw.trim().to_ascii_lowercase();
    let Some((local, domain)) = e.split_once('@') else {
        return Err("must be an email address such as ops@example.com".into());
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c == '@' || c.is_control());
    if !domain_ok || !local_ok || e.len() > 254 {
        return Err("must be an email address such as ops@example.com".into());
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email(" Ops@Acme.Example ").as_deref(),
            Ok("ops@acme.example")
        );
        assert!(normalize_email("ops").is_err());
        assert!(normalize_email("ops@localhost").is_err());
        assert!(normalize_email("a b@acme.example").is_err());
        assert!(normalize_email("@acme.example").is_err());
    }
}
