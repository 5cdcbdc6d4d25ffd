//! SQLite backend: WAL journal, `synchronous=NORMAL` (an acknowledged commit survives a
//! process crash; only an OS crash or power loss can drop the last commits), and every write
//! in `BEGIN IMMEDIATE` so writers queue on the busy timeout instead of failing.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use casedesk_core::DomainError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::common::internal;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    // SQLite has one writer at a time. Queueing writers here, in FIFO order, beats letting
    // them collide on the file lock, where SQLite's busy handler makes losers sleep for
    // whole milliseconds. Other processes on the same file still wait on `busy_timeout`.
    writer: Arc<Mutex<()>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it.
    pub async fn connect(url: &str) -> Result<Self, DomainError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| {
                DomainError::field("database_url", format!("is not a valid SQLite URL: {e}"))
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("cache_size", "-8000");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(opts)
            .await
            .map_err(internal)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| DomainError::Internal(format!("migration failed: {e}")))?;
        Ok(Self {
            pool,
            writer: Arc::new(Mutex::new(())),
        })
    }

    /// Starts a write transaction; the guard is held until it commits or rolls back.
    async fn begin(
        &self,
    ) -> Result<(Transaction<'static, Sqlite>, Option<OwnedMutexGuard<()>>), DomainError> {
        let guard = self.writer.clone().lock_owned().await;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(internal)?;
        Ok((tx, Some(guard)))
    }
}

crate::store_impl!(SqliteStore, sqlx::Sqlite, "sqlite");
