//! SLA policies: for a plan and a priority, the targets a case must meet.
//!
//! The defaults below are what a new install starts with; managers edit them. The issue that
//! asked for SLA clocks fixed the first-response targets and the P1 next-response targets;
//! the other next-response and all resolution targets are our choice, kept in proportion
//! (a next response within twice the first-response time, resolution in working days).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::accounts::{Plan, PlanTier};
use crate::cases::Priority;
use crate::{DomainError, FieldError};

/// The three things a case is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// From creation to the first public reply of an agent.
    FirstResponse,
    /// From a customer's public reply (after an agent's) to the next public agent reply.
    NextResponse,
    /// From creation (or a reopening) until the case is solved.
    Resolution,
}

impl Target {
    /// Every target, in the order a case shows them.
    pub const ALL: [Target; 3] = [
        Target::FirstResponse,
        Target::NextResponse,
        Target::Resolution,
    ];

    /// The stable key used by the API and the database.
    pub fn key(self) -> &'static str {
        match self {
            Target::FirstResponse => "first_response",
            Target::NextResponse => "next_response",
            Target::Resolution => "resolution",
        }
    }

    /// The target named by `key`.
    pub fn from_key(key: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.key() == key)
    }
}

/// Whether a goal counts business hours of the account's calendar or every minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Only the open hours of the account's business calendar count.
    Business,
    /// Every minute counts, day and night (24×7).
    Calendar,
}

/// One target's goal: so many minutes, counted on a basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Goal {
    /// Length of the goal in minutes.
    pub minutes: u32,
    /// How the minutes are counted.
    pub basis: Basis,
}

impl Goal {
    /// Minutes of business time.
    pub const fn business(minutes: u32) -> Goal {
        Goal {
            minutes,
            basis: Basis::Business,
        }
    }

    /// Minutes of elapsed time, around the clock.
    pub const fn around_the_clock(minutes: u32) -> Goal {
        Goal {
            minutes,
            basis: Basis::Calendar,
        }
    }

    /// The goal as a duration.
    pub fn duration(self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_mins(i64::from(self.minutes))
    }
}

/// The goals of one plan and priority; a missing goal is not measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Policy {
    /// First response.
    pub first_response: Option<Goal>,
    /// Next response.
    pub next_response: Option<Goal>,
    /// Resolution.
    pub resolution: Option<Goal>,
}

/// The longest goal a manager may set: 90 days.
pub const MAX_GOAL_MINUTES: u32 = 90 * 24 * 60;

impl Policy {
    /// The goal of `t`.
    pub fn goal(&self, t: Target) -> Option<Goal> {
        match t {
            Target::FirstResponse => self.first_response,
            Target::NextResponse => self.next_response,
            Target::Resolution => self.resolution,
        }
    }

    /// Reads a policy as managers write it: `{"first_response": {"minutes": 120, "basis":
    /// "business"}, "next_response": null, …}`.
    pub fn from_json(v: &Value) -> crate::Result<Policy> {
        let Some(obj) = v.as_object() else {
            return Err(DomainError::field("policy", "must be an object"));
        };
        let mut errors = Vec::new();
        let mut p = Policy::default();
        for (k, g) in obj {
            let Some(t) = Target::from_key(k) else {
                errors.push(FieldError::new(
                    k.as_str(),
                    "is not a target; use first_response, next_response or resolution",
                ));
                continue;
            };
            if g.is_null() {
                continue;
            }
            let minutes = g.get("minutes").and_then(Value::as_u64);
            let basis = match g.get("basis").and_then(Value::as_str) {
                Some("business") => Some(Basis::Business),
                Some("calendar") => Some(Basis::Calendar),
                _ => None,
            };
            let extra = g
                .as_object()
                .map(|o| o.keys().any(|k| k != "minutes" && k != "basis"))
                .unwrap_or(true);
            match (minutes, basis) {
                (Some(m), Some(b)) if !extra && (1..=u64::from(MAX_GOAL_MINUTES)).contains(&m) => {
                    let goal = Goal {
                        minutes: u32::try_from(m).unwrap_or(MAX_GOAL_MINUTES),
                        basis: b,
                    };
                    match t {
                        Target::FirstResponse => p.first_response = Some(goal),
                        Target::NextResponse => p.next_response = Some(goal),
                        Target::Resolution => p.resolution = Some(goal),
                    }
                }
                (Some(_), Some(_)) if !extra => errors.push(FieldError::new(
                    format!("{k}.minutes"),
                    format!("must be between 1 and {MAX_GOAL_MINUTES} (90 days)"),
                )),
                _ => errors.push(FieldError::new(
                    k.as_str(),
                    "must be null or {\"minutes\": N, \"basis\": \"business\" or \"calendar\"}",
                )),
            }
        }
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(DomainError::Validation(errors))
        }
    }

    /// The policy as [`Policy::from_json`] reads it.
    pub fn to_json(&self) -> Value {
        let g = |g: Option<Goal>| {
            g.map(|g| {
                json!({"minutes": g.minutes, "basis": match g.basis {
                Basis::Business => "business", Basis::Calendar => "calendar" }})
            })
        };
        json!({
            "first_response": g(self.first_response),
            "next_response": g(self.next_response),
            "resolution": g(self.resolution),
        })
    }
}

const HOUR: u32 = 60;
/// A business day of the default calendar (08:00–18:00 counts as a working day of 8 hours of
/// goal time; the two remaining hours are slack for breaks).
const BUSINESS_DAY: u32 = 8 * HOUR;

/// The goals a new install gives `plan` at `priority`.
pub fn default_policy(plan: Plan, priority: Priority) -> Policy {
    use Priority::*;
    let (c, b) = (Goal::around_the_clock, Goal::business);
    match (plan.tier(), priority) {
        (PlanTier::SelfService, _) => Policy::default(),
        (PlanTier::Premium, P1) => Policy {
            first_response: Some(c(30)),
            next_response: Some(c(HOUR)),
            resolution: Some(c(24 * HOUR)),
        },
        (PlanTier::Premium, P2) => Policy {
            first_response: Some(b(2 * HOUR)),
            next_response: Some(b(4 * HOUR)),
            resolution: Some(b(3 * BUSINESS_DAY)),
        },
        (PlanTier::Premium, P3) => Policy {
            first_response: Some(b(8 * HOUR)),
            next_response: Some(b(BUSINESS_DAY)),
            resolution: Some(b(10 * BUSINESS_DAY)),
        },
        (PlanTier::Premium, P4) => Policy {
            first_response: Some(b(24 * HOUR)),
            next_response: Some(b(2 * BUSINESS_DAY)),
            resolution: Some(b(20 * BUSINESS_DAY)),
        },
        (PlanTier::Standard, P1) => Policy {
            first_response: Some(c(HOUR)),
            next_response: Some(c(2 * HOUR)),
            resolution: Some(c(48 * HOUR)),
        },
        (PlanTier::Standard, P2) => Policy {
            first_response: Some(b(4 * HOUR)),
            next_response: Some(b(BUSINESS_DAY)),
            resolution: Some(b(5 * BUSINESS_DAY)),
        },
        (PlanTier::Standard, P3) => Policy {
            first_response: Some(b(BUSINESS_DAY)),
            next_response: Some(b(2 * BUSINESS_DAY)),
            resolution: Some(b(15 * BUSINESS_DAY)),
        },
        (PlanTier::Standard, P4) => Policy {
            first_response: Some(b(2 * BUSINESS_DAY)),
            next_response: Some(b(3 * BUSINESS_DAY)),
            resolution: Some(b(30 * BUSINESS_DAY)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_plan_tiers() {
        let p = default_policy(Plan::Platinum, Priority::P1);
        assert_eq!(p.first_response, Some(Goal::around_the_clock(30)));
        assert_eq!(p.next_response, Some(Goal::around_the_clock(60)));
        assert_eq!(
            default_policy(Plan::Enterprise, Priority::P3).first_response,
            Some(Goal::business(480))
        );
        assert_eq!(
            default_policy(Plan::Enterprise, Priority::P4).first_response,
            Some(Goal::business(24 * 60))
        );
        assert_eq!(
            default_policy(Plan::HomeGrown, Priority::P2).first_response,
            Some(Goal::business(240))
        );
        assert_eq!(
            default_policy(Plan::Silver, Priority::P4).first_response,
            Some(Goal::business(2 * 480))
        );
        assert_eq!(
            default_policy(Plan::Gold, Priority::P1).next_response,
            Some(Goal::around_the_clock(120))
        );
        assert_eq!(
            default_policy(Plan::SelfService, Priority::P1),
            Policy::default()
        );
    }

    #[test]
    fn policies_round_trip_and_refuse_nonsense() {
        let p = default_policy(Plan::Gold, Priority::P2);
        assert_eq!(Policy::from_json(&p.to_json()).unwrap(), p);
        let Err(DomainError::Validation(f)) = Policy::from_json(&json!({
            "first_response": {"minutes": 0, "basis": "business"},
            "next_response": {"minutes": 10, "basis": "weekly"},
            "speed": 3,
        })) else {
            panic!()
        };
        let fields: Vec<&str> = f.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["first_response.minutes", "next_response", "speed"]);
    }
}
