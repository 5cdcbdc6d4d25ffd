//! Support access grants: a customer lets support into one tenant for a bounded time, tied to
//! one case, and can end it at any time. The identity platform asks which grants are in force.
//!
//! A grant changes its case (a public timeline event, an audit entry, a webhook event), so the
//! writes go through the orchestration (`service::grants`); this module holds the grant, its
//! rules and what the store keeps.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::accounts::{Plan, PlanTier};
use crate::{DomainError, FieldError, Result, Timestamp};

/// The job that ends a grant at its expiry.
pub const EXPIRE: &str = "grant.expire";
/// The longest grant any plan allows, in hours (a week).
pub const MAX_HOURS: u32 = 168;
/// Longest note, in characters.
pub const MAX_NOTE: usize = 2_000;

/// What support may do in the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantScope {
    /// Look, change nothing.
    Read,
    /// Look and change settings.
    ReadWrite,
}

impl GrantScope {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            GrantScope::Read => "read",
            GrantScope::ReadWrite => "read_write",
        }
    }

    /// Parses a stable key.
    pub fn parse(s: &str) -> Option<GrantScope> {
        match s {
            "read" => Some(GrantScope::Read),
            "read_write" => Some(GrantScope::ReadWrite),
            _ => None,
        }
    }
}

/// Why a grant ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Someone ended it.
    Revoked,
    /// Its time ran out.
    Expired,
    /// Its case closed.
    CaseClosed,
}

impl EndReason {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            EndReason::Revoked => "revoked",
            EndReason::Expired => "expired",
            EndReason::CaseClosed => "case_closed",
        }
    }

    /// Parses a stable key.
    pub fn parse(s: &str) -> Option<EndReason> {
        match s {
            "revoked" => Some(EndReason::Revoked),
            "expired" => Some(EndReason::Expired),
            "case_closed" => Some(EndReason::CaseClosed),
            _ => None,
        }
    }
}

/// A grant, in force or ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessGrant {
    /// Identifier.
    pub id: Uuid,
    /// The case it is tied to.
    pub case_number: i64,
    /// The account whose tenant it opens.
    pub account_id: Uuid,
    /// The tenant's slug (the case's tenant).
    pub tenant: String,
    /// What support may do.
    pub scope: GrantScope,
    /// What the customer wrote about it.
    pub note: String,
    /// Who granted it (email).
    pub granted_by: String,
    /// When.
    pub granted_at: Timestamp,
    /// When it ends by itself.
    pub expires_at: Timestamp,
    /// When it ended, if it has.
    pub ended_at: Option<Timestamp>,
    /// Who ended it (email), when a person did.
    pub ended_by: Option<String>,
    /// Why it ended.
    pub end_reason: Option<EndReason>,
}

impl AccessGrant {
    /// Whether the grant is in force at `at`.
    pub fn active_at(&self, at: Timestamp) -> bool {
        self.ended_at.is_none() && self.expires_at > at
    }

    /// `active`, `revoked`, `expired` or `case_closed`, at `at`.
    pub fn state(&self, at: Timestamp) -> &'static str {
        match self.end_reason {
            Some(r) => r.key(),
            None if self.expires_at <= at => "expired",
            None => "active",
        }
    }
}

/// A change to the grants, written with the case change that records it.
#[derive(Debug, Clone, PartialEq)]
pub enum GrantChange {
    /// A new grant.
    Open(AccessGrant),
    /// A grant ends; the store refuses (conflict) when it had already ended.
    End {
        /// The grant.
        id: Uuid,
        /// When.
        at: Timestamp,
        /// Who ended it, when a person did.
        by: Option<String>,
        /// Why.
        reason: EndReason,
    },
}

/// The longest grant a plan allows, in hours: a day on self-service, three on the standard
/// plans, a week on the premium ones.
pub fn hours_cap(plan: Plan) -> u32 {
    match plan.tier() {
        PlanTier::SelfService => 24,
        PlanTier::Standard => 72,
        PlanTier::Premium => MAX_HOURS,
    }
}

/// A validated request for a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    /// How long, in hours.
    pub hours: u32,
    /// What support may do.
    pub scope: GrantScope,
    /// The customer's note (may be empty).
    pub note: String,
}

/// Reads `{"hours", "scope", "note"}`, every fault at once; `cap` is the plan's limit.
pub fn parse_request(v: &Value, plan: Plan) -> Result<GrantRequest> {
    let cap = hours_cap(plan);
    let Some(obj) = v.as_object() else {
        return Err(DomainError::field("body", "must be a JSON object"));
    };
    let mut errs = Vec::new();
    for k in obj.keys() {
        if !matches!(k.as_str(), "hours" | "scope" | "note") {
            errs.push(FieldError::new(k, "is not a field of an access grant"));
        }
    }
    let hours = match obj.get("hours") {
        None | Some(Value::Null) => {
            errs.push(FieldError::new(
                "hours",
                "is required: how long support may stay, 1 to 168 hours",
            ));
            0
        }
        Some(h) => match h.as_u64() {
            Some(h) if (1..=u64::from(cap)).contains(&h) => h as u32,
            Some(h) if (1..=u64::from(MAX_HOURS)).contains(&h) => {
                errs.push(FieldError::new(
                    "hours",
                    format!(
                        "the {} plan allows grants of at most {cap} hours",
                        plan.key()
                    ),
                ));
                0
            }
            _ => {
                errs.push(FieldError::new(
                    "hours",
                    format!("must be a whole number from 1 to {cap}"),
                ));
                0
            }
        },
    };
    let scope = match obj.get("scope") {
        None | Some(Value::Null) => {
            errs.push(FieldError::new("scope", "is required: read or read_write"));
            None
        }
        Some(s) => {
            let g = s.as_str().and_then(GrantScope::parse);
            if g.is_none() {
                errs.push(FieldError::new("scope", "must be read or read_write"));
            }
            g
        }
    };
    let note = match obj.get("note") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.chars().count() > MAX_NOTE {
                errs.push(FieldError::new(
                    "note",
                    format!("must be at most {MAX_NOTE} characters"),
                ));
            } else if let Err(m) = crate::cases::intake::check_characters(t, true) {
                errs.push(FieldError::new("note", m));
            }
            t.to_owned()
        }
        Some(_) => {
            errs.push(FieldError::new("note", "must be text"));
            String::new()
        }
    };
    match scope {
        Some(scope) if errs.is_empty() => Ok(GrantRequest { hours, scope, note }),
        _ => Err(DomainError::Validation(errs)),
    }
}

/// What the store keeps of grants (they are written with their case change).
#[async_trait::async_trait]
pub trait GrantStore: Send + Sync {
    /// The grants of a case, newest first.
    async fn case_grants(&self, number: i64) -> Result<Vec<AccessGrant>>;

    /// A grant by id.
    async fn grant(&self, id: Uuid) -> Result<Option<AccessGrant>>;

    /// Grants in force at `at` (of one tenant when given), soonest expiry first.
    async fn active_grants(
        &self,
        tenant: Option<&str>,
        at: Timestamp,
        limit: u32,
    ) -> Result<Vec<AccessGrant>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_is_read_with_every_fault_named() {
        let ok = parse_request(
            &json!({"hours": 4, "scope": "read", "note": "look at the JWKS"}),
            Plan::Gold,
        )
        .unwrap();
        assert_eq!(ok.hours, 4);
        assert_eq!(ok.scope, GrantScope::Read);
        let Err(DomainError::Validation(e)) = parse_request(
            &json!({"hours": 0, "scope": "admin", "extra": 1}),
            Plan::Gold,
        ) else {
            panic!("accepted")
        };
        let fields: Vec<&str> = e.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["extra", "hours", "scope"]);
    }

    #[test]
    fn the_plan_caps_the_hours() {
        assert!(parse_request(&json!({"hours": 168, "scope": "read"}), Plan::Platinum).is_ok());
        let Err(DomainError::Validation(e)) =
            parse_request(&json!({"hours": 100, "scope": "read"}), Plan::Gold)
        else {
            panic!("accepted")
        };
        assert!(e[0].message.contains("at most 72 hours"), "{e:?}");
        assert!(parse_request(&json!({"hours": 169, "scope": "read"}), Plan::Platinum).is_err());
        assert!(parse_request(&json!({"hours": 2.5, "scope": "read"}), Plan::Platinum).is_err());
    }

    #[test]
    fn a_grant_is_in_force_until_it_ends_or_runs_out() {
        let now = crate::now();
        let mut g = AccessGrant {
            id: Uuid::now_v7(),
            case_number: 1,
            account_id: Uuid::now_v7(),
            tenant: "t".into(),
            scope: GrantScope::Read,
            note: String::new(),
            granted_by: "a@b.example".into(),
            granted_at: now,
            expires_at: now + jiff::SignedDuration::from_hours(1),
            ended_at: None,
            ended_by: None,
            end_reason: None,
        };
        assert!(g.active_at(now));
        assert_eq!(g.state(now), "active");
        assert!(!g.active_at(g.expires_at));
        assert_eq!(g.state(g.expires_at), "expired");
        g.ended_at = Some(now);
        g.end_reason = Some(EndReason::Revoked);
        assert!(!g.active_at(now));
        assert_eq!(g.state(now), "revoked");
    }
}
