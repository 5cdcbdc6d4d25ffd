//! SQLite backend: WAL journal, `synchronous=NORMAL` (an acknowledged commit survives a
//! process crash; only an OS crash or power loss can drop the last commits), and every write
//! in `BEGIN IMMEDIATE` so writers queue on the busy timeout instead of failing.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use casedesk_core::DomainError;
use casedesk_core::audit::AuditRecord;
use casedesk_core::cases::{CreateOutcome, IdempotencyKey, NewEvent, Status};
use casedesk_core::service::NewCase;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc, oneshot};

use crate::common::{case_insert_args, internal, micros};
use crate::sqlite_writer::{
    Create, Head, Writer, claim_jobs, on_thread, write_creates, write_endings,
};

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// One create waiting for the group commit.
struct CreateJob {
    case: NewCase,
    event: NewEvent,
    key: Option<IdempotencyKey>,
    audit: AuditRecord,
    reply: oneshot::Sender<Result<CreateOutcome, DomainError>>,
}

/// Creates taken into one transaction at most.
const GROUP_MAX: usize = 64;

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    creates: mpsc::Sender<CreateJob>,
    attempts: mpsc::Sender<crate::ops::AttemptJob>,
    // SQLite has one writer at a time. Queueing writers here, in FIFO order, beats letting
    // them collide on the file lock, where SQLite's busy handler makes losers sleep for
    // whole milliseconds. Other processes on the same file still wait on `busy_timeout`.
    writer: Arc<Mutex<()>>,
    /// The thread that writes the group commits (see `sqlite_writer`).
    thread: Writer,
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
        let thread = Writer::open(&path)?;
        let writer = Arc::new(Mutex::new(()));
        let (creates, rx) = mpsc::channel(1024);
        tokio::spawn(group_commit(thread.clone(), writer.clone(), rx));
        let (attempts, arx) = crate::ops::attempt_queue();
        let store = Self {
            pool,
            creates,
            attempts,
            writer,
            thread,
        };
        tokio::spawn(ops_impl::attempt_commit(store.clone(), arx));
        Ok(store)
    }

    /// Hands a create to the group-commit task and waits until its transaction committed.
    async fn batched_create(
        &self,
        c: &NewCase,
        e: &NewEvent,
        k: Option<&IdempotencyKey>,
        a: &AuditRecord,
    ) -> Result<Option<CreateOutcome>, DomainError> {
        let (reply, answer) = oneshot::channel();
        let job = CreateJob {
            case: c.clone(),
            event: e.clone(),
            key: k.cloned(),
            audit: a.clone(),
            reply,
        };
        if self.creates.send(job).await.is_err() {
            return Err(DomainError::Internal("the database writer stopped".into()));
        }
        match answer.await {
            Ok(r) => r.map(Some),
            Err(_) => Err(DomainError::Internal("the database writer stopped".into())),
        }
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
        let _guard = self.writer.lock().await;
        match self
            .thread
            .run(move |conn| write_endings(conn, &endings))
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
        let _guard = self.writer.lock().await;
        self.thread
            .run(move |conn| claim_jobs(conn, &node, &token, until, now, limit))
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

/// Group commit: creates that arrive while a transaction is being written wait and are then
/// written together in the next one. One `BEGIN … COMMIT` is shared by up to [`GROUP_MAX`]
/// cases, which is what lets one SQLite writer keep up with many concurrent requests; the
/// group is written on the writer thread (see `sqlite_writer`). Every create is answered only
/// after its transaction committed, so nothing acknowledged is lost.
async fn group_commit(thread: Writer, writer: Arc<Mutex<()>>, mut rx: mpsc::Receiver<CreateJob>) {
    // The audit head this task wrote last: while creates follow one another, the next group
    // need not read it (a stale one is caught by the insert, see `sqlite_writer::write_audit`).
    let mut head = None;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < GROUP_MAX {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let _guard = writer.lock().await;
        match write_group(&thread, &jobs, head.take()).await {
            Ok((outcomes, h)) => {
                head = h;
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            // One bad create must not fail its neighbours: retry each in its own transaction.
            Err(_) if jobs.len() > 1 => {
                for job in jobs {
                    let r = write_group(&thread, std::slice::from_ref(&job), None)
                        .await
                        .and_then(|(mut o, _)| {
                            o.pop()
                                .ok_or_else(|| DomainError::Internal("empty group".into()))
                        });
                    let _ = job.reply.send(r);
                }
            }
            // A group of one: its own error, so a busy database still answers 503.
            Err(e) => {
                if let Some(job) = jobs.into_iter().next() {
                    let _ = job.reply.send(Err(e));
                }
            }
        }
    }
}

/// Writes one group in one transaction; answers the outcomes and the audit head after it.
async fn write_group(
    thread: &Writer,
    jobs: &[CreateJob],
    head: Head,
) -> Result<(Vec<CreateOutcome>, Head), DomainError> {
    let group = jobs
        .iter()
        .map(|j| {
            Ok(Create {
                case_args: case_insert_args(&j.case, Status::New, &j.event)?,
                contacts: j
                    .case
                    .team_contacts
                    .iter()
                    .map(|t| t.user_id.to_string())
                    .collect(),
                key: j.key.clone(),
                created_at: micros(j.case.created_at),
                audit: j.audit.clone(),
            })
        })
        .collect::<Result<Vec<_>, DomainError>>()?;
    thread
        .run(move |conn| write_creates(conn, group, head))
        .await
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
