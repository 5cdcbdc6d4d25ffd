//! SQLite's group commits on a thread of their own, through a rusqlite connection to the same
//! file. The sqlx driver hands every statement to its worker thread and waits for the answer:
//! measured with `perf` at 560 creates/s, those hand-offs (about 60 thread switches per created
//! case) took most of the server's CPU while SQLite itself took 2 %. Here a whole group (its
//! `BEGIN IMMEDIATE`, every statement, the `COMMIT`) costs one hand-off. The caller holds the
//! store's writer lock meanwhile, so these writes take their turn with the sqlx ones.

use std::path::Path;
use std::sync::mpsc;

use std::time::Duration;
use tokio::sync::oneshot;

use casedesk_core::DomainError;
use casedesk_core::audit::AuditRecord;
use casedesk_core::cases::{CreateOutcome, IdempotencyKey};
use casedesk_core::jobs::{Claim, Finish};
use casedesk_core::mail::{
    AttemptOutcome, INVITATION_KEPT_AS, INVITATION_KIND, MailResult, MailState,
};
use rusqlite::config::DbConfig;
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::common::{
    AUDIT_INSERT_ONE, Arg, CASE_INSERT_SQLITE_UNINDEXED, CASES_INDEX_SQLITE, CONTACT_INSERT,
    KEY_INSERT, KEY_REPLAY, case_created_audit, micros,
};
use crate::ops::{
    Ending, FINISH_DONE, JobRow, MAIL_ATTEMPT_AFTER, MAIL_ATTEMPT_CLOSE, MAIL_INSERT_ONE,
    MAIL_RESULT, audit_args, chain_after, claim_sql, finish_update,
};

/// A group of audit entries in one statement, from a JSON array of rows (one statement and
/// one parameter for any number of entries, so a group goes in whole or not at all).
pub(crate) const AUDIT_INSERT_MANY: &str = "INSERT INTO audit_log (seq, at, actor_id, actor, account_id, action, target, summary, source_ip, request_id, customer_visible, prev_hash, hash) \
     SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), \
     json_extract(value, '$[4]'), json_extract(value, '$[5]'), json_extract(value, '$[6]'), json_extract(value, '$[7]'), \
     json_extract(value, '$[8]'), json_extract(value, '$[9]'), json_extract(value, '$[10]'), json_extract(value, '$[11]'), \
     json_extract(value, '$[12]') FROM json_each($1) ORDER BY key";

/// The audit chain's head on SQLite: its last row.
pub(crate) const HEAD_READ: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";

/// A write that shares its transaction with the others queued meanwhile: `write` runs its
/// statements in the open transaction (again, in one of its own, if a neighbour failed), and
/// `answer` delivers the outcome once the transaction committed or failed.
trait Step: Send {
    fn write(&mut self, conn: &Connection, group: &mut Group) -> Result<(), DomainError>;
    fn answer(self: Box<Self>, r: Result<(), DomainError>);
}

/// A [`Step`] made of a closure and the channel its caller waits on.
struct Reply<T, F> {
    f: F,
    out: Option<T>,
    reply: oneshot::Sender<Result<T, DomainError>>,
}

impl<T, F> Step for Reply<T, F>
where
    T: Send,
    F: FnMut(&Connection, &mut Group) -> Result<T, DomainError> + Send,
{
    fn write(&mut self, conn: &Connection, group: &mut Group) -> Result<(), DomainError> {
        // A step also runs code of other crates (a create composes its messages here): one
        // that panicked must fail its own write, not end the thread every write goes through.
        let f = &mut self.f;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn, group)))
            .unwrap_or_else(|_| Err(DomainError::Internal("a database write failed".into())));
        self.out = Some(r?);
        Ok(())
    }

    fn answer(mut self: Box<Self>, r: Result<(), DomainError>) {
        let out = r.and_then(|()| {
            self.out
                .take()
                .ok_or_else(|| DomainError::Internal("a write without its result".into()))
        });
        let _ = self.reply.send(out);
    }
}

/// Steps written in one transaction at most.
const BATCH_MAX: usize = 128;

/// The writer thread: runs work on its connection, in the order sent. The steps queued while
/// a transaction is written (creates, the ends of jobs, claims) go into the next one together:
/// one `BEGIN IMMEDIATE … COMMIT`, and one copy of each page they share into the log.
#[derive(Clone)]
pub(crate) struct Writer {
    work: mpsc::Sender<Box<dyn Step>>,
}

impl Writer {
    /// Opens a second connection to `path` (already migrated) and starts its thread, which
    /// ends when the last handle is dropped. The thread holds `lock` (the store's writer
    /// lock) over each of its transactions, so they take turns with the sqlx writes.
    pub(crate) fn open(
        path: &Path,
        lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    ) -> Result<Self, DomainError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(db)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
        // The settings of the sqlx connections (see `SqliteStore::connect`), but for these.
        for (name, value) in [
            ("foreign_keys", "ON"),
            ("synchronous", "NORMAL"),
            ("cache_size", "-4000"),
            // The log is reused from its start once copied; beyond this it is also cut back,
            // by the commit that starts it again. Creating at concurrency 16 the log runs to
            // 50–90 MB between restarts: at 32 MiB nearly every restart cut it (a truncate,
            // and a discard on such file systems, on this one thread) and the file then grew
            // again, which cost 3–9 % of the creates and 7–10 ms of their p99.
            ("journal_size_limit", "134217728"),
            // A statement's undo journal past 64 KiB (a group's search index, written at
            // once) otherwise goes to a temporary file that is created and deleted on this
            // thread; a deleted inode is skipped by ext4 (without a journal) for every new
            // file for a minute or more, outbox messages included. This thread's statements
            // are bounded (by key, batches of at most 128), so memory holds them.
            ("temp_store", "MEMORY"),
        ] {
            conn.pragma_update(None, name, value).map_err(db)?;
        }
        // Checkpoints (copying the log into the database, with its fsync) run on a thread of
        // their own, so the writer's commits never pay for them; the writer checkpoints only
        // if that thread falls far behind.
        conn.pragma_update(None, "wal_autocheckpoint", "20000")
            .map_err(db)?;
        conn.set_prepared_statement_cache_capacity(64);
        // A claim's `LIMIT` is a parameter, and SQLite plans a statement again whenever such
        // a parameter is bound to another number unless its plans are held stable: that was
        // 1.7 % of the server's CPU creating cases at concurrency 16. This connection only
        // writes by key and claims by the due index, so no plan of its needs the values.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(db)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let checkpoints = Connection::open_with_flags(path, flags).map_err(db)?;
        checkpoints
            .busy_timeout(Duration::from_secs(10))
            .map_err(db)?;
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_until(&checkpoints, &stopped))
            .map_err(|e| {
                DomainError::Internal(format!("cannot start the SQLite checkpointer: {e}"))
            })?;
        let (work, rx) = mpsc::channel::<Box<dyn Step>>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                serve(conn, &rx, &lock);
                drop(stop);
            })
            .map_err(|e| DomainError::Internal(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Self { work })
    }

    /// Runs `f` inside the next shared transaction and answers its result once that
    /// committed. `f` may run twice: if another step of its transaction fails, the others
    /// are written again, each in a transaction of its own.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, DomainError>
    where
        T: Send + 'static,
        F: FnMut(&Connection, &mut Group) -> Result<T, DomainError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let step = Reply {
            f,
            out: None,
            reply,
        };
        self.work.send(Box::new(step)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> DomainError {
    DomainError::Internal("the database writer stopped".into())
}

/// The writer thread's loop: whatever is queued, in order, up to [`BATCH_MAX`] steps a
/// transaction.
fn serve(mut conn: Connection, rx: &mpsc::Receiver<Box<dyn Step>>, lock: &tokio::sync::Mutex<()>) {
    let mut group = Group::default();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        commit_steps(&mut conn, lock, &mut group, batch);
    }
}

/// Writes `steps` in one transaction and answers them. If one fails, the transaction is
/// rolled back and each is written again alone, so one bad step does not fail its
/// neighbours; if the transaction cannot begin or commit (the database busy past the
/// timeout), every step gets that error at once.
fn commit_steps(
    conn: &mut Connection,
    lock: &tokio::sync::Mutex<()>,
    group: &mut Group,
    mut steps: Vec<Box<dyn Step>>,
) {
    if steps.is_empty() {
        return;
    }
    let _turn = lock.blocking_lock();
    match write_steps(conn, group, &mut steps) {
        Ok(()) => {
            for s in steps {
                s.answer(Ok(()));
            }
        }
        Err((e, by_step)) => {
            // Rolled back: what this thread remembered of the chain may not be there.
            group.head = None;
            if by_step && steps.len() > 1 {
                for mut s in steps {
                    let r = write_steps(conn, group, std::slice::from_mut(&mut s));
                    if r.is_err() {
                        group.head = None;
                    }
                    s.answer(r.map_err(|(e, _)| e));
                }
            } else {
                for s in steps {
                    s.answer(Err(crate::common::again(&e)));
                }
            }
        }
    }
}

/// One transaction over `steps`; an error says whether a step (rather than the database)
/// refused.
fn write_steps(
    conn: &mut Connection,
    group: &mut Group,
    steps: &mut [Box<dyn Step>],
) -> Result<(), (DomainError, bool)> {
    group.unindexed.clear();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| (db(e), false))?;
    for s in steps.iter_mut() {
        s.write(&tx, group).map_err(|e| (e, true))?;
    }
    // Last, so the search index writes what it gathers in memory once, at the commit.
    if !group.unindexed.is_empty() {
        let numbers = serde_json::to_string(&group.unindexed)
            .map_err(|e| (DomainError::Internal(format!("case numbers: {e}")), false))?;
        exec(&tx, CASES_INDEX_SQLITE, &[Value::Text(numbers)]).map_err(|e| (e, false))?;
    }
    tx.commit().map_err(|e| (db(e), false))
}

/// How often the checkpointer copies the log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Runs a passive checkpoint every [`CHECKPOINT_EVERY`] until the writer thread ends.
/// Passive: it copies what no reader still needs and never waits for, or blocks, a writer.
fn checkpoint_until(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    // A plain sleep, not `recv_timeout`: that waits for a deadline on the monotonic clock,
    // which a moved clock (libfaketime in the tests) puts a year away.
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if !matches!(stopped.try_recv(), Err(mpsc::TryRecvError::Empty)) {
            return;
        }
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", (), |_| Ok(()));
        if let Err(e) = done {
            tracing::warn!(error = %e, "a checkpoint of the SQLite log failed; trying again");
        }
    }
}

/// Maps a rusqlite error as `common::internal` maps a sqlx one: busy means unavailable.
pub(crate) fn db(e: rusqlite::Error) -> DomainError {
    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) {
        tracing::warn!(error = %e, "the database is not answering");
        return DomainError::Unavailable("the database is not answering".into());
    }
    tracing::error!(error = %e, "database error");
    DomainError::Internal("the database failed to answer".into())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

pub(crate) fn value(a: Arg) -> Value {
    match a {
        Arg::Str(s) => Value::Text(s),
        Arg::I64(i) => Value::Integer(i),
        Arg::Bool(b) => Value::Integer(i64::from(b)),
        Arg::OptStr(s) => s.map_or(Value::Null, Value::Text),
        Arg::OptI64(i) => i.map_or(Value::Null, Value::Integer),
    }
}

/// Binds each `$n` of a statement to `args[n - 1]`, as the sqlx backends number them
/// (SQLite numbers `$n` parameters in the order they first appear, not by `n`).
fn bind(st: &mut rusqlite::CachedStatement<'_>, args: &[Value]) -> rusqlite::Result<()> {
    for i in 1..=st.parameter_count() {
        let n = st
            .parameter_name(i)
            .and_then(|p| p.strip_prefix('$'))
            .and_then(|p| p.parse::<usize>().ok());
        let v = n
            .and_then(|n| args.get(n.wrapping_sub(1)))
            .ok_or(rusqlite::Error::InvalidParameterCount(i, args.len()))?;
        st.raw_bind_parameter(i, v)?;
    }
    Ok(())
}

/// Runs one statement written with `$n` parameters; answers the rows it changed.
fn exec(conn: &Connection, sql: &str, args: &[Value]) -> Result<usize, DomainError> {
    let mut st = conn.prepare_cached(sql).map_err(db)?;
    bind(&mut st, args).map_err(db)?;
    st.raw_execute().map_err(db)
}

/// Runs `sql` (statements separated by `;`, none with a `;` in a literal) with `$n`
/// parameters; answers the first column of the rows of every statement.
fn run_sql(conn: &Connection, sql: &str, args: &[Value]) -> rusqlite::Result<Vec<Value>> {
    let mut out = Vec::new();
    for one in sql.split(';').filter(|s| !s.trim().is_empty()) {
        let mut st = conn.prepare_cached(one)?;
        bind(&mut st, args)?;
        let mut rows = st.raw_query();
        while let Some(r) = rows.next()? {
            if r.as_ref().column_count() > 0 {
                out.push(r.get::<_, Value>(0)?);
            }
        }
    }
    Ok(out)
}

/// One create, its case already turned into the insert's arguments.
pub(crate) struct Create {
    pub(crate) case_args: Vec<Value>,
    pub(crate) contacts: Vec<String>,
    pub(crate) key: Option<IdempotencyKey>,
    pub(crate) created_at: i64,
    pub(crate) audit: AuditRecord,
    /// Its messages, written with it.
    pub(crate) mails: Option<casedesk_core::mail::Compose>,
}

/// The chain's last entry, as the writer left it.
pub(crate) type Head = Option<(i64, String)>;

/// What the writer thread carries from step to step.
#[derive(Default)]
pub(crate) struct Group {
    /// The audit chain's head as this thread last wrote it: the next entry need not read it
    /// (a stale one, after another process appended, is caught by the insert).
    pub(crate) head: Head,
    /// The cases created in the open transaction, indexed for search before it commits.
    unindexed: Vec<i64>,
}

/// Writes one create in the writer's open transaction: the case with its event, SLA log,
/// team contacts, messages and idempotency key (or the outcome of the earlier create with
/// the same key), and its audit entry chained after the group's head; its search row follows
/// with the group's.
pub(crate) fn write_create(
    conn: &Connection,
    c: &Create,
    group: &mut Group,
) -> Result<CreateOutcome, DomainError> {
    if let Some(k) = &c.key
        && let Some(done) = replay(conn, k)?
    {
        return Ok(done);
    }
    let number = match run_sql(conn, CASE_INSERT_SQLITE_UNINDEXED, &c.case_args)
        .map_err(db)?
        .first()
    {
        Some(Value::Integer(n)) => *n,
        _ => return Err(DomainError::Internal("the new case got no number".into())),
    };
    // Composed here, where the number is known, in the transaction that stores the case.
    if let Some(compose) = &c.mails {
        for m in compose(number) {
            insert_mail(conn, &m)?;
        }
    }
    for user in &c.contacts {
        exec(
            conn,
            CONTACT_INSERT,
            &[Value::Integer(number), Value::Text(user.clone())],
        )?;
    }
    if let Some(k) = &c.key {
        let args = [
            Value::Text(k.user_id.to_string()),
            Value::Text(k.key.clone()),
            Value::Text(k.fingerprint.clone()),
            Value::Integer(number),
            Value::Integer(c.created_at),
        ];
        exec(conn, KEY_INSERT, &args)?;
    }
    group.head = write_audit(
        conn,
        &[case_created_audit(&c.audit, number)],
        group.head.take(),
    )?;
    group.unindexed.push(number);
    Ok(CreateOutcome::Created(number))
}

fn replay(conn: &Connection, k: &IdempotencyKey) -> Result<Option<CreateOutcome>, DomainError> {
    let mut st = conn.prepare_cached(KEY_REPLAY).map_err(db)?;
    bind(
        &mut st,
        &[
            Value::Text(k.user_id.to_string()),
            Value::Text(k.key.clone()),
        ],
    )
    .map_err(db)?;
    let mut rows = st.raw_query();
    let Some(r) = rows.next().map_err(db)? else {
        return Ok(None);
    };
    let fingerprint: String = r.get(0).map_err(db)?;
    Ok(Some(if fingerprint == k.fingerprint {
        CreateOutcome::Replayed(r.get(1).map_err(db)?)
    } else {
        CreateOutcome::KeyReused
    }))
}

/// Chains `recs` after `hint` (the head this writer left) or, without one or when another
/// process appended since (the first sequence number is taken), after the head read here.
fn write_audit(conn: &Connection, recs: &[AuditRecord], hint: Head) -> Result<Head, DomainError> {
    if recs.is_empty() {
        return Ok(hint);
    }
    let mut start = hint;
    loop {
        let hinted = start.is_some();
        let head = match start.take() {
            Some(h) => h,
            None => read_head(conn)?,
        };
        // One statement, so an entry refused for a stale hint leaves nothing behind. (Not a
        // savepoint: FTS5 writes its pending index to disk at every one.)
        match link(conn, recs, head) {
            Ok(h) => return Ok(Some(h)),
            Err(e) if hinted && is_unique_violation(&e) => continue,
            Err(e) => return Err(db(e)),
        }
    }
}

fn read_head(conn: &Connection) -> Result<(i64, String), DomainError> {
    let mut st = conn.prepare_cached(HEAD_READ).map_err(db)?;
    let mut rows = st.query(()).map_err(db)?;
    match rows.next().map_err(db)? {
        Some(r) => Ok((r.get(0).map_err(db)?, r.get(1).map_err(db)?)),
        None => Ok((0, casedesk_core::audit::GENESIS.to_owned())),
    }
}

/// Writes `recs` into the chain after `head`; answers the new head. Entry by entry (a
/// prepared statement costs nothing per row in process): a stale head fails on the first
/// entry, whose number another process took, so nothing is left half written.
fn link(
    conn: &Connection,
    recs: &[AuditRecord],
    head: (i64, String),
) -> rusqlite::Result<(i64, String)> {
    let rows = chain_after(recs, head.clone());
    let new_head = rows.last().map_or(head, |(s, _, h, _)| (*s, h.clone()));
    let mut st = conn.prepare_cached(AUDIT_INSERT_ONE)?;
    for row in &rows {
        let args: Vec<Value> = audit_args(row).into_iter().map(value).collect();
        bind(&mut st, &args)?;
        st.raw_execute()?;
    }
    Ok(new_head)
}

/// Whether the writer thread takes this ending: the two every created case causes (its
/// fan-out when it only queues messages, and each message's result).
pub(crate) fn on_thread(e: &Ending) -> bool {
    matches!(e, Ending::Mail(..)) || matches!(e, Ending::FanOut(_, ds, _) if ds.is_empty())
}

/// Writes endings [`on_thread`] takes in the writer's open transaction, each fenced by its
/// own lease; answers, for each, whether it was still its job's.
pub(crate) fn write_endings(tx: &Connection, endings: &[Ending]) -> Result<Vec<bool>, DomainError> {
    let mut out = Vec::with_capacity(endings.len());
    for e in endings {
        out.push(match e {
            Ending::FanOut(c, ds, ms) if ds.is_empty() => {
                let ended = finish(tx, c, &Finish::Done)?;
                if ended {
                    for m in ms {
                        insert_mail(tx, m)?;
                    }
                }
                ended
            }
            Ending::Mail(c, r, f) => mail_result(tx, c, r, f)?,
            _ => {
                return Err(DomainError::Internal(
                    "an ending the writer does not take".into(),
                ));
            }
        });
    }
    Ok(out)
}

/// A message to send (the trigger `mail_out_send` writes its job).
fn insert_mail(conn: &Connection, m: &casedesk_core::mail::NewMail) -> Result<(), DomainError> {
    let args = [
        Value::from(m.id.to_string()),
        Value::from(m.case_number),
        Value::from(m.kind.clone()),
        Value::from(m.recipient.clone()),
        Value::from(m.subject.clone()),
        Value::from(m.message_id.clone()),
        Value::from(m.message.clone()),
        Value::from(micros(m.created_at)),
    ];
    exec(conn, MAIL_INSERT_ONE, &args).map(|_| ())
}

/// Claims up to `limit` due jobs for `node` under the lease `token` until `until`.
pub(crate) fn claim_jobs(
    tx: &Connection,
    node: &str,
    token: &str,
    until: i64,
    now: i64,
    limit: u32,
) -> Result<Vec<Claim>, DomainError> {
    let mut jobs = Vec::new();
    {
        let mut st = tx.prepare_cached(&claim_sql("")).map_err(db)?;
        let args = [
            Value::from(node.to_owned()),
            Value::from(token.to_owned()),
            Value::from(until),
            Value::from(now),
            Value::from(i64::from(limit)),
        ];
        bind(&mut st, &args).map_err(db)?;
        let mut rows = st.raw_query();
        while let Some(r) = rows.next().map_err(db)? {
            jobs.push(job_row(r).map_err(db)?);
        }
    }
    jobs.into_iter()
        .map(|j| {
            Ok(Claim {
                job: j.job()?,
                token: token.to_owned(),
            })
        })
        .collect()
}

/// Reads a row of [`JOB_COLS`](crate::ops::JOB_COLS).
fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        payload: r.get(2)?,
        state: r.get(3)?,
        attempts: r.get(4)?,
        max_attempts: r.get(5)?,
        run_at: r.get(6)?,
        last_error: r.get(7)?,
        locked_by: r.get(8)?,
        lease_until: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

/// Ends a claimed job; false when its lease was lost (as `ops_impl`'s `finish_in`).
fn finish(conn: &Connection, c: &Claim, f: &Finish) -> Result<bool, DomainError> {
    let now = micros(casedesk_core::now());
    let (id, token) = (
        Value::from(c.job.id.to_string()),
        Value::from(c.token.clone()),
    );
    let n = match f {
        Finish::Done => exec(conn, FINISH_DONE, &[id, token])?,
        other => {
            let (sql, run_at, err) = finish_update(other, now);
            let args = [now.into(), run_at.into(), err.into(), id, token];
            exec(conn, sql, &args)?
        }
    };
    Ok(n == 1)
}

/// A message's result (as `ops_impl`'s `mail_result_in`, which says why).
fn mail_result(
    conn: &Connection,
    c: &Claim,
    r: &MailResult,
    f: &Finish,
) -> Result<bool, DomainError> {
    let ended = finish(conn, c, f)?;
    let outcome = Value::from(AttemptOutcome::of(r.state).key().to_owned());
    let (id, at) = (Value::from(r.id.to_string()), Value::from(micros(r.at)));
    let (error, detail) = (Value::from(r.error.clone()), Value::from(r.detail.clone()));
    let closed = if r.attempt == 0 {
        if !ended {
            return Ok(false);
        }
        let started = Value::from(micros(r.started_at));
        let args = [
            id.clone(),
            started,
            at.clone(),
            outcome,
            error.clone(),
            detail.clone(),
        ];
        exec(conn, MAIL_ATTEMPT_AFTER, &args)?;
        1
    } else {
        let attempt = Value::from(i64::from(r.attempt));
        let args = [
            outcome,
            at.clone(),
            error.clone(),
            detail.clone(),
            id.clone(),
            attempt,
        ];
        exec(conn, MAIL_ATTEMPT_CLOSE, &args)?
    };
    if !(ended || (closed == 1 && r.state == MailState::Sent)) {
        return Ok(false);
    }
    let args = [
        Value::from(r.state.key().to_owned()),
        error,
        detail,
        at,
        id,
        Value::from(r.next_attempt_at.map(micros)),
        Value::from(r.attempt == 0),
        Value::from(INVITATION_KIND.to_owned()),
        Value::from(INVITATION_KEPT_AS.to_owned()),
    ];
    exec(conn, MAIL_RESULT, &args)?;
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(dir: &tempfile::TempDir) -> std::path::PathBuf {
        let path = dir.path().join("w.db");
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.execute_batch("CREATE TABLE t (a INTEGER, b INTEGER)")
            .unwrap();
        path
    }

    #[tokio::test]
    async fn parameters_bind_by_their_number_not_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let w = Writer::open(&table(&dir), Default::default()).unwrap();
        let read = w
            .write(|c, _| {
                let args = [Value::Integer(1), Value::Integer(2)];
                exec(c, "INSERT INTO t (a, b) VALUES ($2, $1)", &args)?;
                run_sql(c, "SELECT a FROM t; SELECT b FROM t", &[]).map_err(db)
            })
            .await
            .unwrap();
        assert_eq!(read, vec![Value::Integer(2), Value::Integer(1)]);
    }

    #[tokio::test]
    async fn the_checkpointer_copies_commits_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = table(&dir);
        let w = Writer::open(&path, Default::default()).unwrap();
        w.write(|c, _| {
            exec(
                c,
                "INSERT INTO t (a, b) VALUES ($1, $1)",
                &[Value::Integer(7)],
            )
        })
        .await
        .unwrap();
        // The database file alone, without its log: what a checkpoint has copied.
        let mut copied = 0;
        for _ in 0..50 {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            let alone = dir.path().join("alone.db");
            std::fs::copy(&path, &alone).unwrap();
            copied = Connection::open(&alone)
                .unwrap()
                .query_row("SELECT COUNT(*) FROM t", (), |r| r.get::<_, i64>(0))
                .unwrap();
            std::fs::remove_file(&alone).unwrap();
            if copied == 1 {
                break;
            }
        }
        assert_eq!(copied, 1, "no writer checkpoints below 20,000 pages");
    }

    /// Opens a writer on `path` and queues `step(1)` to `step(5)` while its lock is held, so
    /// they go into one transaction once it is free; answers the writer and each step's
    /// result, in the steps' order.
    async fn five_in_one_group<T, F>(
        path: &Path,
        step: impl Fn(i64) -> F,
    ) -> (Writer, Vec<Result<T, DomainError>>)
    where
        T: Send + 'static,
        F: FnMut(&Connection, &mut Group) -> Result<T, DomainError> + Send + 'static,
    {
        let lock = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        let w = Writer::open(path, lock.clone()).unwrap();
        let turn = lock.lock().await;
        let tasks: Vec<_> = (1..=5)
            .map(|a| {
                let (w, f) = (w.clone(), step(a));
                tokio::spawn(async move { w.write(f).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(turn);
        let mut out = vec![];
        for t in tasks {
            out.push(t.await.unwrap());
        }
        (w, out)
    }

    /// Steps queued together share a transaction, but one that fails leaves nothing behind
    /// and fails alone: its neighbours are written again without it.
    #[tokio::test]
    async fn a_failing_step_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (w, results) = five_in_one_group(&table(&dir), |a| {
            move |c: &Connection, _: &mut Group| {
                exec(
                    c,
                    "INSERT INTO t (a, b) VALUES ($1, $1)",
                    &[Value::Integer(a)],
                )?;
                if a == 3 {
                    exec(c, "INSERT INTO missing (a) VALUES (3)", &[])?;
                }
                Ok(a)
            }
        })
        .await;
        let ok: Vec<i64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .copied()
            .collect();
        assert_eq!(ok, vec![1, 2, 4, 5]);
        assert!(results[2].is_err());
        let rows = w
            .write(|c, _| run_sql(c, "SELECT a FROM t ORDER BY a", &[]).map_err(db))
            .await
            .unwrap();
        let want: Vec<Value> = [1, 2, 4, 5].into_iter().map(Value::Integer).collect();
        assert_eq!(rows, want, "the failed step's first insert is not kept");
    }

    /// The cases of a group are found by search once each: when a neighbour fails, each is
    /// indexed by the transaction that writes it again, and the failed one's row is gone with
    /// its case.
    #[tokio::test]
    async fn a_group_indexes_its_cases_even_when_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "PRAGMA journal_mode = WAL; \
                 CREATE TABLE cases (number INTEGER PRIMARY KEY AUTOINCREMENT, account_id TEXT NOT NULL, \
                   subject TEXT NOT NULL, description TEXT NOT NULL); \
                 CREATE VIRTUAL TABLE case_search USING fts5(acct, pub, internal, content = '', contentless_delete = 1);",
            )
            .unwrap();
        let (w, results) = five_in_one_group(&path, |a| {
            move |c: &Connection, g: &mut Group| {
                let n = match run_sql(
                    c,
                    "INSERT INTO cases (account_id, subject, description) VALUES ('x', $1, 'd') RETURNING number",
                    &[Value::Text(format!("wombat{a}"))],
                )
                .map_err(db)?
                .first()
                {
                    Some(Value::Integer(n)) => *n,
                    _ => return Err(DomainError::Internal("no number".into())),
                };
                if a == 3 {
                    exec(c, "INSERT INTO missing (a) VALUES (3)", &[])?;
                }
                g.unindexed.push(n);
                Ok(n)
            }
        })
        .await;
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        let found = w
            .write(|c, _| {
                let mut out = vec![];
                for a in 1..=5 {
                    let rows = run_sql(
                        c,
                        "SELECT count(*) FROM case_search WHERE case_search MATCH $1",
                        &[Value::Text(format!("wombat{a}"))],
                    )
                    .map_err(db)?;
                    out.push(rows);
                }
                exec(
                    c,
                    "INSERT INTO case_search (case_search) VALUES ('integrity-check')",
                    &[],
                )?;
                Ok(out)
            })
            .await
            .unwrap();
        let once = vec![Value::Integer(1)];
        let none = vec![Value::Integer(0)];
        assert_eq!(
            found,
            vec![once.clone(), once.clone(), none, once.clone(), once],
            "each written case found once by its word, the refused one not at all"
        );
    }

    /// A statement that rewrites many pages in the writer's transaction keeps its undo
    /// journal in memory: no temporary file is created (and deleted) on the writer thread.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_large_statement_makes_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = table(&dir);
        // About 400 KiB of rows, committed before, so rewriting them all is journalled.
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE big (a INTEGER UNIQUE, b INTEGER CHECK (b >= 0)); \
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
                 INSERT INTO big (a, b) SELECT i, i FROM n",
            )
            .unwrap();
        let w = Writer::open(&path, Default::default()).unwrap();
        let open_temporary = w
            .write(|c, _| {
                // Another write first, so the rewrite (which a constraint could stop halfway)
                // runs in a transaction with changes: SQLite journals it for its own undo.
                exec(c, "INSERT INTO t (a, b) VALUES (0, 0)", &[])?;
                exec(c, "UPDATE big SET b = b + 1", &[])?;
                // SQLite's temporary files are unlinked at once and stay open until commit.
                let fds = std::fs::read_dir("/proc/self/fd")
                    .map_err(|e| DomainError::Internal(format!("cannot list open files: {e}")))?;
                Ok(fds
                    .filter_map(|f| std::fs::read_link(f.ok()?.path()).ok())
                    .filter(|l| l.to_string_lossy().contains("etilqs_"))
                    .count())
            })
            .await
            .unwrap();
        assert_eq!(open_temporary, 0, "the statement journal went to a file");
    }

    /// A step that panics fails alone, and the thread goes on writing.
    #[tokio::test]
    async fn a_step_that_panics_does_not_stop_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let w = Writer::open(&table(&dir), Default::default()).unwrap();
        let boom = w
            .write(|_, _| -> Result<(), DomainError> { panic!("a composer gone wrong") })
            .await;
        assert!(matches!(boom, Err(DomainError::Internal(_))), "{boom:?}");
        let n = w
            .write(|c, _| {
                exec(
                    c,
                    "INSERT INTO t (a, b) VALUES ($1, $1)",
                    &[Value::Integer(1)],
                )
            })
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    /// The writer thread opens the file itself, read-write: a URL that would have the sqlx
    /// connections open something else is refused before anything is opened.
    #[tokio::test]
    async fn urls_the_writer_cannot_honour_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.db");
        let file = file.display();
        for url in [
            "sqlite::memory:".to_owned(),
            format!("sqlite://{file}?mode=ro"),
            format!("sqlite://{file}?mode=memory"),
            format!("sqlite://{file}?cache=shared&immutable=1"),
            format!("sqlite://{file}?vfs=unix-none"),
        ] {
            let e = crate::SqliteStore::connect(&url, &crate::DbConfig::default())
                .await
                .err()
                .unwrap();
            match e {
                DomainError::Validation(f) => assert_eq!(f[0].field, "database_url", "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
        let fine = format!("sqlite://{file}?mode=rwc");
        assert!(
            crate::SqliteStore::connect(&fine, &crate::DbConfig::default())
                .await
                .is_ok()
        );
    }
}
