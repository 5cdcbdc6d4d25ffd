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
mod sqlite_reader;
mod sqlite_writer;
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
    if is_postgres(url) {
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

/// The database's plan for the page of cases `q` asks for, one step a line (`EXPLAIN` on
/// PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite), so tests and the benchmark can check that
/// lists walk their indexes on real data.
pub async fn explain_case_list(
    url: &str,
    q: &casedesk_core::cases::CaseQuery,
) -> Result<Vec<String>, DomainError> {
    use sqlx::Connection;
    if is_postgres(url) {
        use common::Pass;
        use sqlx::Row;
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .map_err(common::internal)?;
        // A search runs in passes (see `Pass`): each one's plan, the bounded walk with the
        // cuts the database gives now.
        let passes = if q.text.is_some() && q.sort == casedesk_core::cases::CaseSort::Newest {
            let windows = vec![common::SEARCH_WALK_WHOLE, common::SEARCH_WINDOW, 1];
            let (sql, args) = common::list_sql_pass(q, "postgres", &Pass::Cuts(windows.clone()));
            let row = common::bind_args(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
                .fetch_one(&mut conn)
                .await
                .map_err(common::internal)?;
            let values = (0..row.len())
                .map(|i| row.try_get::<Option<i64>, _>(i).map_err(common::internal))
                .collect::<Result<Vec<_>, _>>()?;
            let (mut cuts, _) = common::split_cuts(values, windows.len());
            cuts.pop();
            let first = cuts.pop().unwrap_or_default();
            let whole = cuts.pop().unwrap_or_default();
            vec![
                Pass::Cuts(windows),
                Pass::Bounded(first),
                Pass::Bounded(whole),
                Pass::TextDriven(None),
                Pass::TextDriven(Some(1)),
            ]
        } else {
            vec![Pass::Whole]
        };
        // A search's passes run with the plans the database keeps, made without the values
        // (see `search_in_passes`): explained the same way, as prepared statements executed
        // with `plan_cache_mode = force_generic_plan`. (`EXPLAIN` of the statement itself
        // would plan it for the values.)
        let generic = !matches!(passes.as_slice(), [Pass::Whole]);
        if generic {
            sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
                .execute(&mut conn)
                .await
                .map_err(common::internal)?;
        }
        let mut lines = Vec::new();
        for (i, pass) in passes.iter().enumerate() {
            let (sql, args) = common::list_sql_pass(q, "postgres", pass);
            let explain = if generic {
                // Both lists written with their parentheses, which an empty list may not have.
                let list = |items: Vec<String>| {
                    if items.is_empty() {
                        String::new()
                    } else {
                        format!("({})", items.join(", "))
                    }
                };
                let types = args.iter().map(|a| a.pg_type().to_owned()).collect();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "PREPARE pass{i}{} AS {sql}",
                    list(types)
                )))
                .execute(&mut conn)
                .await
                .map_err(common::internal)?;
                // `EXPLAIN EXECUTE` takes no bound parameters: the values written out.
                let values = args.iter().map(common::Arg::pg_literal).collect();
                (
                    format!("EXPLAIN EXECUTE pass{i}{}", list(values)),
                    Vec::new(),
                )
            } else {
                (format!("EXPLAIN {sql}"), args)
            };
            let q = common::bind_args(sqlx::query(sqlx::AssertSqlSafe(explain.0)), explain.1);
            lines.push(format!("-- {pass:?}"));
            lines.extend(plan_lines(
                &q.fetch_all(&mut conn).await.map_err(common::internal)?,
                0,
            )?);
        }
        Ok(lines)
    } else {
        let (sql, args) = common::list_sql(q, "sqlite");
        let mut conn = sqlx::SqliteConnection::connect(url)
            .await
            .map_err(common::internal)?;
        let q = common::bind_args(
            sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}"))),
            args,
        );
        // The `detail` column of `EXPLAIN QUERY PLAN`.
        plan_lines(&q.fetch_all(&mut conn).await.map_err(common::internal)?, 3)
    }
}

/// Column `col` of each row of a plan.
fn plan_lines<R>(rows: &[R], col: usize) -> Result<Vec<String>, DomainError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.iter()
        .map(|r| r.try_get::<String, _>(col).map_err(common::internal))
        .collect()
}

/// Whether `url` names a PostgreSQL database.
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}
