//! The casedesk domain: accounts, people, cases, their lifecycle and who may do what.
//!
//! Nothing here speaks HTTP or SQL. The modules stand in layers, each importing only below
//! itself (`scripts/layers.py` checks it): the model (`error`, `accounts`, `users`, `acts`,
//! `permissions`, `directory`, `cases`), the mechanisms every feature writes through (`jobs`,
//! `outbound`, `links`), the features (`sla`, `mail`, `attachments`, `kb`, `status`, `webhooks`,
//! `audit`, `identity`, `admin`, `diagnostics`, `reports`), the orchestration of a case change
//! across them (`service`), and [`store::Store`], the sum of the store trait each of them
//! declares, which `casedesk-store` implements for SQLite and PostgreSQL.

pub mod accounts;
pub mod acts;
pub mod admin;
pub mod attachments;
pub mod audit;
pub mod cases;
pub mod diagnostics;
pub mod directory;
pub mod error;
pub mod grants;
pub mod identity;
pub mod jobs;
pub mod kb;
pub mod links;
pub mod mail;
pub mod outbound;
pub mod permissions;
pub mod reports;
pub mod routes;
pub mod satisfaction;
pub mod scope;
pub mod service;
pub mod sla;
pub mod status;
pub mod store;
pub mod taxonomy;
pub mod trust;
pub mod users;
pub mod webhooks;

pub use error::{DomainError, FieldError, Result};

/// A point in time; stored as microseconds since the Unix epoch.
pub type Timestamp = jiff::Timestamp;

/// Current time, truncated to whole microseconds so what is stored equals what is answered.
pub fn now() -> Timestamp {
    let t = jiff::Timestamp::now();
    let micros = t.as_microsecond();
    jiff::Timestamp::from_microsecond(micros).unwrap_or(t)
}

/// The UTC calendar date `days` after the day of `at` (before it when negative): dates
/// without a zone, such as the day a review is needed by, are read in UTC.
pub fn utc_date_after(at: Timestamp, days: i64) -> jiff::civil::Date {
    let day = at.to_zoned(jiff::tz::TimeZone::UTC).date();
    day.saturating_add(jiff::Span::new().days(days))
}
