//! PostgreSQL backend: several stateless casedesk nodes may share one database. Case
//! numbers come from an identity column, so they are unique across nodes; migrations take
//! sqlx's advisory lock, so nodes may start together.

use std::time::Duration;

use casedesk_core::DomainError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use crate::common::internal;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    attempts: tokio::sync::mpsc::Sender<crate::ops::AttemptJob>,
}

impl PgStore {
    /// Whether a change of a user first locks the rows of their group (see `update_user_access`).
    pub(crate) const LOCK_USER_GROUP: bool = true;

    /// Whether `insert_mails` writes the messages' jobs itself: a data-modifying WITH, cheaper than a PL/pgSQL trigger call per row.
    pub(crate) const MAIL_JOBS_IN_STATEMENT: bool = true;

    /// Connects and migrates.
    pub async fn connect(url: &str, cfg: &crate::DbConfig) -> Result<Self, DomainError> {
        let opts: PgConnectOptions = url.parse().map_err(|e| {
            DomainError::field(
                "database_url",
                format!("is not a valid PostgreSQL URL: {e}"),
            )
        })?;
        // Migrations on a connection of their own, without the request's time limits: a
        // migration of a large database may rightly take minutes.
        {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect_with(&opts)
                .await
                .map_err(internal)?;
            MIGRATOR
                .run(&mut conn)
                .await
                .map_err(|e| DomainError::Internal(format!("migration failed: {e}")))?;
            let _ = conn.close().await;
        }
        let bounded = opts.options([
            ("lock_timeout", format!("{}ms", cfg.lock_timeout_ms)),
            (
                "statement_timeout",
                format!("{}ms", cfg.statement_timeout_ms),
            ),
            (
                "idle_in_transaction_session_timeout",
                format!("{}ms", cfg.idle_in_transaction_timeout_ms),
            ),
            // Every statement casedesk sends reads a page's worth of rows: starting parallel
            // workers costs it several milliseconds more than it could save.
            ("max_parallel_workers_per_gather", "0".to_owned()),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(cfg.max_connections)
            .acquire_timeout(Duration::from_millis(cfg.acquire_timeout_ms))
            .connect_with(bounded)
            .await
            .map_err(internal)?;
        let (attempts, rx) = crate::ops::attempt_queue();
        let store = Self { pool, attempts };
        // Parallel committers: PostgreSQL flushes concurrent commits together.
        for _ in 0..4 {
            tokio::spawn(ops_impl::attempt_commit(store.clone(), rx.clone()));
        }
        tokio::spawn(ops_impl::chain_forever(store.clone()));
        Ok(store)
    }

    /// PostgreSQL writes every job ending through sqlx (SQLite hands some to its writer thread).
    async fn endings_on_thread(
        &self,
        jobs: Vec<crate::ops::AttemptJob>,
    ) -> Vec<crate::ops::AttemptJob> {
        jobs
    }

    /// PostgreSQL reads a message through sqlx (SQLite on its reader).
    async fn mail_on_reader(
        &self,
        _id: uuid::Uuid,
    ) -> Result<Option<Option<(casedesk_core::mail::MailRecord, String)>>, DomainError> {
        Ok(None)
    }

    /// PostgreSQL checks for due jobs through sqlx (SQLite on its reader).
    async fn due_on_reader(&self, _now: i64) -> Result<Option<bool>, DomainError> {
        Ok(None)
    }

    /// PostgreSQL claims through sqlx (SQLite on its writer thread).
    async fn claim_on_thread(
        &self,
        _node: &str,
        _token: &str,
        _until: i64,
        _now: i64,
        _limit: u32,
    ) -> Result<Option<Vec<casedesk_core::jobs::Claim>>, DomainError> {
        Ok(None)
    }

    /// PostgreSQL commits each create on its own; concurrent commits are grouped by the server.
    async fn batched_create(
        &self,
        _c: &casedesk_core::service::NewCase,
        _e: &casedesk_core::cases::NewEvent,
        _k: Option<&casedesk_core::cases::IdempotencyKey>,
        _a: &casedesk_core::audit::AuditRecord,
        mails: Option<casedesk_core::mail::Compose>,
    ) -> Result<crate::common::Batched, DomainError> {
        Ok(crate::common::Batched::Not(mails))
    }

    /// Starts a write transaction (PostgreSQL needs no writer guard).
    async fn begin(&self) -> Result<(Transaction<'static, Postgres>, Option<()>), DomainError> {
        Ok((self.pool.begin().await.map_err(internal)?, None))
    }
}

crate::store_impl!(
    PgStore,
    sqlx::Postgres,
    "postgres",
    "string_agg",
    "json_agg",
    "json_build_object",
    "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
    "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
    "SELECT seq, hash FROM audit_head WHERE id = 1",
    " FOR UPDATE SKIP LOCKED",
    "INSERT INTO audit_log (seq, at, actor_id, actor, account_id, action, target, summary, source_ip, request_id, customer_visible, prev_hash, hash) \
     SELECT (x->>0)::bigint, (x->>1)::bigint, x->>2, x->>3, x->>4, x->>5, x->>6, x->>7, x->>8, x->>9, (x->>10)::boolean, x->>11, x->>12 \
     FROM json_array_elements($1::json) AS x",
    crate::common::CASE_INSERT_PG
);
