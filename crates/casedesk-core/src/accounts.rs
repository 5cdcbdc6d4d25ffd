//! Customer accounts, their support plans and their tenants.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{DomainError, Timestamp};

/// The support plan an account has bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Plan {
    /// Documentation and community only; no SLA.
    SelfService,
    /// Standard enterprise: Silver.
    Silver,
    /// Standard enterprise: Gold.
    Gold,
    /// Standard enterprise: Home Grown.
    HomeGrown,
    /// Premium enterprise: Enterprise.
    Enterprise,
    /// Premium enterprise: Platinum.
    Platinum,
}

/// The three tiers of plans, which decide limits such as elevated contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanTier {
    /// Self-service.
    SelfService,
    /// Silver, Gold, Home Grown.
    Standard,
    /// Enterprise, Platinum.
    Premium,
}

impl Plan {
    /// Every plan, in the order they are offered.
    pub const ALL: [Plan; 6] = [
        Plan::SelfService,
        Plan::Silver,
        Plan::Gold,
        Plan::HomeGrown,
        Plan::Enterprise,
        Plan::Platinum,
    ];

    /// The stable key used by the CLI, the API and the database.
    pub fn key(self) -> &'static str {
        match self {
            Plan::SelfService => "self-service",
            Plan::Silver => "silver",
            Plan::Gold => "gold",
            Plan::HomeGrown => "home-grown",
            Plan::Enterprise => "enterprise",
            Plan::Platinum => "platinum",
        }
    }

    /// The plan's tier.
    pub fn tier(self) -> PlanTier {
        match self {
            Plan::SelfService => PlanTier::SelfService,
            Plan::Silver | Plan::Gold | Plan::HomeGrown => PlanTier::Standard,
            Plan::Enterprise | Plan::Platinum => PlanTier::Premium,
        }
    }
}

impl std::str::FromStr for Plan {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL.into_iter().find(|p| p.key() == s).ok_or_else(|| {
            DomainError::field(
                "plan",
                "must be one of self-service, silver, gold, home-grown, enterprise, platinum",
            )
        })
    }
}

/// A company with a support contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Identifier.
    pub id: Uuid,
    /// Unique display name.
    pub name: String,
    /// Support plan.
    pub plan: Plan,
    /// The customer success manager: the email of a support engineer or manager, if named.
    pub csm: Option<String>,
    /// Whether the requester's own address gets a copy of the case's mail when the case email
    /// is another address (off unless the account asks for it).
    pub copy_requester: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Where a tenant runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// North and South America.
    Americas,
    /// Europe.
    Eu,
    /// Asia and Pacific.
    Apac,
}

impl Region {
    /// Every region.
    pub const ALL: [Region; 3] = [Region::Americas, Region::Eu, Region::Apac];

    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            Region::Americas => "americas",
            Region::Eu => "eu",
            Region::Apac => "apac",
        }
    }
}

impl std::str::FromStr for Region {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "americas" => Ok(Region::Americas),
            "eu" => Ok(Region::Eu),
            "apac" => Ok(Region::Apac),
            _ => Err(DomainError::field(
                "region",
                "must be one of americas, eu, apac",
            )),
        }
    }
}

/// What a tenant is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Serves real users.
    Production,
    /// Pre-production.
    Staging,
    /// Development.
    Development,
}

impl Environment {
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Staging => "staging",
            Environment::Development => "development",
        }
    }
}

impl std::str::FromStr for Environment {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "production" => Ok(Environment::Production),
            "staging" => Ok(Environment::Staging),
            "development" => Ok(Environment::Development),
            _ => Err(DomainError::field(
                "environment",
                "must be one of production, staging, development",
            )),
        }
    }
}

/// One of an account's environments on the identity platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    /// Identifier.
    pub id: Uuid,
    /// Owning account.
    pub account_id: Uuid,
    /// Slug, unique on the platform.
    pub slug: String,
    /// Region it runs in.
    pub region: Region,
    /// Environment.
    pub environment: Environment,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Checks a tenant slug: lowercase letters, digits and hyphens, 2 to 63 characters.
pub fn validate_slug(slug: &str) -> Result<(), String> {
    let ok_chars = slug
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !(2..=63).contains(&slug.len()) || !ok_chars || slug.starts_with('-') || slug.ends_with('-')
    {
        return Err("must be 2 to 63 lowercase letters, digits or hyphens, not starting or ending with a hyphen".into());
    }
    Ok(())
}
