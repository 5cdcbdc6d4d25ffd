//! SQLite backend: WAL journal, `synchronous=NORMAL` (an acknowledged commit survives a
//! process crash; only an OS crash or power loss can drop the last commits), and every write
//! in `BEGIN IMMEDIATE` so writers queue on the busy timeout instead of failing.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use casedesk_core::DomainError;
use casedesk_core::audit::AuditRecord;
use casedesk_core::cases::{IdempotencyKey, NewEvent, Status};
use casedesk_core::service::NewCase;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc};

use crate::common::{case_insert_args, internal, micros};
use crate::sqlite_reader::Reader;
use crate::sqlite_writer::{Create, Writer, claim_jobs, on_thread, write_create, write_endings};

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    attempts: mpsc::Sender<crate::ops::AttemptJob>,
    // SQLite has one writer at a time. Queueing writers here, in FIFO order, beats letting
    // them collide on the file lock, where SQLite's busy handler makes losers sleep for
    // whole milliseconds. Other processes on the same file still wait on `busy_timeout`.
    writer: Arc<Mutex<()>>,
    /// The thread that writes the group commits (see `sqlite_writer`).
    thread: Writer,
    /// The reads every created case causes (see `sqlite_reader`).
    reader: Reader,
}

impl SqliteStore {
    /// Whether a change of a user first locks the rows of their group (see `update_user_access`).
    pub(crate) const LOCK_USER_GROUP: bool = false;

    /// Whether `insert_mails` writes the messages' jobs itself: the trigger `mail_out_send` writes them (a trigger costs nothing extra in process).
    pub(crate) const MAIL_JOBS_IN_STATEMENT: bool = false;

    /// Opens (creating if needed) the database file and migrates it.
    pub async fn connect(url: &str, cfg: &crate::DbConfig) -> Result<Self, DomainError> {
        check_open_options(url)?;
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| {
                DomainError::field("database_url", format!("is not a valid SQLite URL: {e}"))
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("cache_size", "-4000")
            // Checkpoint less often: fewer rewrites of hot index pages, fewer stalls.
            .pragma("wal_autocheckpoint", "4000");
        let path = opts.get_filename().to_path_buf();
        // sqlx names an in-memory database `file:sqlx-in-memory-…`; the writer thread's own
        // connection could not share it.
        let name = path.to_string_lossy();
        if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
            return Err(DomainError::field(
                "database_url",
                "names no file: casedesk keeps its SQLite database in a file",
            ));
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .acquire_timeout(Duration::from_millis(cfg.acquire_timeout_ms))
            .connect_with(opts)
            .await
            .map_err(internal)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| DomainError::Internal(format!("migration failed: {e}")))?;
        let writer = Arc::new(Mutex::new(()));
        let thread = Writer::open(&path, writer.clone())?;
        let reader = Reader::new(&path);
        let (attempts, arx) = crate::ops::attempt_queue();
        let store = Self {
            pool,
            attempts,
            writer,
            thread,
            reader,
        };
        tokio::spawn(ops_impl::attempt_commit(store.clone(), arx));
        Ok(store)
    }

    /// Hands a create to the writer thread, where it shares a transaction with whatever
    /// else is queued (see `sqlite_writer::Writer::write`), and waits until that committed.
    async fn batched_create(
        &self,
        c: &NewCase,
        e: &NewEvent,
        k: Option<&IdempotencyKey>,
        a: &AuditRecord,
        mails: Option<casedesk_core::mail::Compose>,
    ) -> Result<crate::common::Batched, DomainError> {
        let create = Create {
            case_args: case_insert_args(c, Status::New, e, mails.is_some())?
                .into_iter()
                .map(crate::sqlite_writer::value)
                .collect(),
            contacts: c
                .team_contacts
                .iter()
                .map(|t| t.user_id.to_string())
                .collect(),
            key: k.cloned(),
            created_at: micros(c.created_at),
            audit: a.clone(),
            mails,
        };
        self.thread
            .write(move |conn, group| write_create(conn, &create, group))
            .await
            .map(crate::common::Batched::Done)
    }

    /// Writes the endings the writer thread takes (see `sqlite_writer::on_thread`) and
    /// answers their waiters; hands back the others for the sqlx transaction.
    async fn endings_on_thread(
        &self,
        jobs: Vec<crate::ops::AttemptJob>,
    ) -> Vec<crate::ops::AttemptJob> {
        let (fast, rest): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|j| on_thread(&j.ending));
        if fast.is_empty() {
            return rest;
        }
        let (endings, replies): (Vec<_>, Vec<_>) =
            fast.into_iter().map(|j| (j.ending, j.reply)).unzip();
        match self
            .thread
            .write(move |conn, _| write_endings(conn, &endings))
            .await
        {
            Ok(done) => {
                for (reply, d) in replies.into_iter().zip(done) {
                    let _ = reply.send(Ok(d));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(DomainError::Internal(e.to_string())));
                }
            }
        }
        rest
    }

    /// Claims due jobs on the writer thread (see `sqlite_writer::claim_jobs`).
    async fn claim_on_thread(
        &self,
        node: &str,
        token: &str,
        until: i64,
        now: i64,
        limit: u32,
    ) -> Result<Option<Vec<casedesk_core::jobs::Claim>>, DomainError> {
        let (node, token) = (node.to_owned(), token.to_owned());
        self.thread
            .write(move |conn, _| claim_jobs(conn, &node, &token, until, now, limit))
            .await
            .map(Some)
    }

    /// Reads a message to send on the reader (see `sqlite_reader`).
    async fn mail_on_reader(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<Option<(casedesk_core::mail::MailRecord, String)>>, DomainError> {
        self.reader
            .read(move |conn| crate::sqlite_reader::mail(conn, id))
            .await
            .map(Some)
    }

    /// Whether a job is due, on the reader (see `sqlite_reader`).
    async fn due_on_reader(&self, now: i64) -> Result<Option<bool>, DomainError> {
        self.reader
            .read(move |conn| crate::sqlite_reader::job_due(conn, now))
            .await
            .map(Some)
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

/// Refuses URL options that would make the sqlx connections open the file otherwise than the
/// writer thread does (read-write, the default VFS): honoured by one and not the other, a
/// "read-only" server would still create cases, or the two would write different databases.
fn check_open_options(url: &str) -> Result<(), DomainError> {
    let Some((_, query)) = url.split_once('?') else {
        return Ok(());
    };
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let shared = match key {
            "mode" => matches!(value, "rw" | "rwc"),
            "immutable" | "vfs" => false,
            _ => true,
        };
        if !shared {
            return Err(DomainError::field(
                "database_url",
                format!(
                    "`{key}={value}` is not supported: {}",
                    "casedesk opens its SQLite file read-write from two connections that must open it alike"
                ),
            ));
        }
    }
    Ok(())
}

crate::store_impl!(
    SqliteStore,
    sqlx::Sqlite,
    "sqlite",
    "group_concat",
    "json_group_array",
    "json_object",
    crate::sqlite_writer::HEAD_READ,
    "",
    "SELECT s.seq AS seq, COALESCE((SELECT a.hash FROM audit_log a WHERE a.seq = s.seq), '') AS hash \
     FROM sqlite_sequence s WHERE s.name = 'audit_log'",
    "",
    crate::sqlite_writer::AUDIT_INSERT_MANY,
    crate::common::CASE_INSERT_SQLITE
);
