//! People: account administrators, support agents and managers, and the scopes of API tokens.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::scope::Scope;
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
    /// When it was deactivated; a deactivated user neither signs in nor calls the API.
    pub deactivated_at: Option<Timestamp>,
}

impl std::str::FromStr for Scope {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|x| x.key() == s)
            .ok_or_else(|| {
                DomainError::field(
                    "scope",
                    "must be one of cases:read, cases:write, tokens, admin, mail:ingest, grants:read, trust:read",
                )
            })
    }
}

impl User {
    /// Whether the user may sign in and act (not deactivated).
    pub fn active(&self) -> bool {
        self.deactivated_at.is_none()
    }

    /// Whether the user may work with cases at all (the case routes still check each case).
    pub fn has_case_access(&self) -> bool {
        !self.role.is_customer() || self.case_admin || self.role == Role::SuperAdmin
    }

    /// Whether the user holds administrative authority (managers, and super admins for their
    /// own account).
    pub fn is_administrator(&self) -> bool {
        matches!(self.role, Role::Manager | Role::SuperAdmin)
    }

    /// The scopes a credential of this user may carry when it is created.
    pub fn grantable_scopes(&self) -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| match s {
                Scope::CasesRead | Scope::CasesWrite => self.has_case_access(),
                Scope::Tokens => true,
                Scope::Admin => self.is_administrator(),
                Scope::MailIngest | Scope::GrantsRead => self.role == Role::Manager,
                Scope::TrustRead => self.role == Role::Manager || self.account_id.is_some(),
            })
            .collect()
    }

    /// Limits a credential's scopes to what the user holds now, so a token issued before a
    /// role change never exceeds the user. Case scopes stay: every case route also checks the
    /// user's permission and answers with a 403 that names what is missing.
    pub fn effective_scopes(&self, granted: &[Scope]) -> Vec<Scope> {
        granted
            .iter()
            .copied()
            .filter(|s| *s != Scope::Admin || self.is_administrator())
            .filter(|s| {
                !matches!(s, Scope::MailIngest | Scope::GrantsRead) || self.role == Role::Manager
            })
            .collect()
    }
}

/// Where a request came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// Client address, as seen by casedesk.
    pub ip: Option<String>,
    /// The `x-request-id` of the request.
    pub request_id: Option<String>,
    /// How the caller authenticated when it matters for a review: `issuer:<name>` for a
    /// bearer JWT of a trusted issuer. The audit trail names it beside the actor.
    pub via: Option<String>,
}

/// The authenticated caller of a request: a user, limited by the scopes of the credential used.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user: User,
    /// Scopes of the credential; a token never grants more than its user holds.
    pub scopes: Vec<Scope>,
    /// Where the request came from (for the audit trail).
    pub origin: Origin,
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
    // Only what a message can be addressed to (casedesk mails every address it keeps): a
    // host name of two labels or more, and a local part of dot-separated atoms (RFC 5322),
    // letters of any script allowed (RFC 6531). No quoted or commented forms.
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let domain_ok = domain.split('.').count() >= 2 && domain.split('.').all(label_ok);
    let atom_ok = |a: &str| {
        !a.is_empty()
            && a.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || "!#$%&'*+-/=?^_`{|}~".contains(c)
                    || (!c.is_ascii() && c.is_alphanumeric())
            })
    };
    let local_ok = local.len() <= 64 && local.split('.').all(atom_ok);
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
        // Accepted before, but no message could be addressed to them.
        for odd in [
            "a..b@x.example",
            ".a@x.example",
            "a.@x.example",
            "a@-x.example",
            "a@x-.example",
            "a(comment)@x.example",
            "a@x..example",
            "a\\b@x.example",
            "a;b@x.example",
            "a,b@x.example",
            "\"a b\"@x.example",
            "a<b@x.example",
        ] {
            assert!(normalize_email(odd).is_err(), "{odd}");
        }
        for fine in [
            "o'brien+tag@x.example",
            "first.last@sub.x-y.example",
            "jörg@x.example",
        ] {
            assert!(normalize_email(fine).is_ok(), "{fine}");
        }
    }
}
