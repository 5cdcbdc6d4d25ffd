//! Storage for casedesk: every store trait of `casedesk-core` (one per feature; [`Store`] is
//! their sum), implemented for SQLite (the embedded default) and PostgreSQL (scale-out), each
//! with its own migrations.
//!
//! Both backends encode ids as UUID text and times as integer microseconds, so the SQL of
//! the two implementations is shared: each feature's SQL is a macro (`ops_impl!`,
//! `mail_impl!`, …) and `store_impl!` (in `backend`) assembles them, one `impl` block per
//! trait; only opening a connection and starting a write transaction differ. No sqlx type
//! leaves this crate.

mod attachments;
mod backend;
mod blobs;
mod cache;
mod common;
mod kb;
mod mail;
mod ops;
mod postgres;
mod reports;
mod sqlite;
mod status;
mod support;

use std::sync::Arc;

use casedesk_core::DomainError;
use casedesk_core::store::Store;

pub use blobs::{LocalBlobs, ObjectBlobs, blobs_for};
pub use cache::{CachedStore, DIRECTORY_TTL, TOKEN_TTL};
pub use common::DbConfig;
/// The SLA scanner's query, for the benchmark that prints its plan.
pub use common::SLA_ALERTS_DUE;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Opens the database named by `url` (`sqlite://…` or `postgres://…`), applies migrations,
/// and puts the short-lived cache of [`CachedStore`] in front.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, DomainError> {
    connect_with(url, Arc::default(), &DbConfig::default()).await
}

/// [`connect`], notifying `wake` after each write that queued a job (the job runner of this
/// process waits on it).
pub async fn connect_with(
    url: &str,
    wake: Arc<tokio::sync::Notify>,
    cfg: &DbConfig,
) -> Result<Arc<dyn Store>, DomainError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(CachedStore::new(
            Arc::new(PgStore::connect(url, cfg).await?),
            wake,
        )))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(CachedStore::new(
            Arc::new(SqliteStore::connect(url, cfg).await?),
            wake,
        )))
    } else {
        Err(DomainError::field(
            "database_url",
            "must start with sqlite:// or postgres://",
        ))
    }
}

/// The migration versions of each backend, for the parity check.
pub fn migration_versions() -> (Vec<i64>, Vec<i64>) {
    (
        sqlite::MIGRATOR.iter().map(|m| m.version).collect(),
        postgres::MIGRATOR.iter().map(|m| m.version).collect(),
    )
}
