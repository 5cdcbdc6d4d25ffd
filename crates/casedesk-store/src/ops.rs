//! SQL of jobs, webhooks and the audit trail, shared by both backends like `common.rs`.
//! The audit chain's head: on PostgreSQL the `audit_head` row, locked by each writer
//! (`$head_read`) and moved on (`$head_write`); on SQLite, whose writers take turns, the last
//! row, with `sqlite_sequence` as the anchor that shows a deleted tail (`$head_anchor`).
//! `$skip` is ` FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers on several nodes claim
//! different jobs.

/// The end of a claimed job, waiting for the group commit.
pub(crate) enum Ending {
    /// A webhook attempt.
    Attempt(
        casedesk_core::jobs::Claim,
        Box<casedesk_core::webhooks::AttemptRecord>,
        casedesk_core::jobs::Finish,
    ),
    /// A plain end with its follow-ups.
    Finish(
        casedesk_core::jobs::Claim,
        casedesk_core::jobs::Finish,
        casedesk_core::service::FollowUp,
    ),
    /// A fan-out: deliveries written, the dispatching job done.
    FanOut(
        casedesk_core::jobs::Claim,
        Vec<casedesk_core::webhooks::NewDelivery>,
        Vec<casedesk_core::mail::NewMail>,
    ),
    /// One sending attempt of a message.
    Mail(
        casedesk_core::jobs::Claim,
        Box<casedesk_core::mail::MailResult>,
        casedesk_core::jobs::Finish,
    ),
}

/// An ending and who waits for it.
pub(crate) struct AttemptJob {
    pub(crate) ending: Ending,
    pub(crate) reply: tokio::sync::oneshot::Sender<Result<bool, casedesk_core::DomainError>>,
}

/// Attempts written in one transaction at most.
pub(crate) const ATTEMPTS_PER_COMMIT: usize = 64;

/// A queue of attempts and `committers` tasks writing from it.
pub(crate) fn attempt_queue() -> (
    tokio::sync::mpsc::Sender<AttemptJob>,
    std::sync::Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<AttemptJob>>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    (tx, std::sync::Arc::new(tokio::sync::Mutex::new(rx)))
}

/// Parked audit entries linked in one transaction at most (PostgreSQL).
pub(crate) const CHAIN_BATCH: usize = 1000;

/// How often a PostgreSQL node links what it and other nodes parked; readers of the trail
/// do not wait for it (they link first).
pub(crate) const CHAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Parks a JSON array of entries, in its order (PostgreSQL).
pub(crate) const AUDIT_PARK: &str = concat!(
    "INSERT INTO audit_pending (at, actor_id, actor, account_id, action, target, summary, source_ip, request_id, customer_visible) ",
    "SELECT (x->>0)::bigint, x->>1, x->>2, x->>3, x->>4, x->>5, x->>6, x->>7, x->>8, (x->>9)::boolean ",
    "FROM json_array_elements($1::json) WITH ORDINALITY AS e(x, n) ORDER BY n"
);

/// Takes the oldest parked entries (PostgreSQL, under the head's lock).
pub(crate) const AUDIT_UNPARK: &str = concat!(
    "DELETE FROM audit_pending WHERE id IN (SELECT id FROM audit_pending ORDER BY id LIMIT $1) ",
    "RETURNING id, at, actor_id, actor, account_id, action, target, summary, source_ip, request_id, customer_visible"
);

/// Ends a job that did its work, fenced by its lease: a finished job is deleted (keeping it
/// would cost every write twice over, and its effects are the record).
pub(crate) const FINISH_DONE: &str =
    "DELETE FROM jobs WHERE id = $1 AND lease_token = $2 AND state = 'running'";

/// Ends a failed job for another try at `$2`, or dead-letters it after its last attempt.
pub(crate) const FINISH_RETRY: &str = "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, locked_by = NULL, lease_token = NULL, lease_until = NULL, updated_at = $1, run_at = $2, last_error = $3 WHERE id = $4 AND lease_token = $5 AND state = 'running'";

/// Dead-letters a job that retrying cannot help.
pub(crate) const FINISH_DEAD: &str = "UPDATE jobs SET state = 'dead', locked_by = NULL, lease_token = NULL, lease_until = NULL, updated_at = $1, run_at = $2, last_error = $3 WHERE id = $4 AND lease_token = $5 AND state = 'running'";

/// Queues a job that was not run again, without counting the attempt.
pub(crate) const FINISH_RELEASE: &str = "UPDATE jobs SET state = 'queued', attempts = attempts - 1, locked_by = NULL, lease_token = NULL, lease_until = NULL, updated_at = $1, run_at = $2, last_error = COALESCE($3, last_error) WHERE id = $4 AND lease_token = $5 AND state = 'running'";

/// The statement of a [`Finish`](casedesk_core::jobs::Finish) other than `Done`, with its
/// `run_at` and error (`$2`, `$3`); `$1` is now, `$4` and `$5` the job and its lease.
pub(crate) fn finish_update(
    f: &casedesk_core::jobs::Finish,
    now: i64,
) -> (&'static str, i64, Option<String>) {
    use casedesk_core::jobs::Finish;
    match f {
        Finish::Retry { at, error } => (
            FINISH_RETRY,
            crate::common::micros(*at),
            Some(error.clone()),
        ),
        Finish::Dead { error } => (FINISH_DEAD, now, Some(error.clone())),
        Finish::Done | Finish::Release => (FINISH_RELEASE, now, None),
    }
}

/// A message's attempt that was not written before it began (the outbox), written with its
/// result: `$1` the message, `$2`…`$6` start, end, outcome, error, detail.
pub(crate) const MAIL_ATTEMPT_AFTER: &str = concat!(
    "INSERT INTO mail_attempts (mail_id, attempt, started_at, ended_at, outcome, error, detail) ",
    "SELECT id, attempts + 1, $2, $3, $4, $5, $6 FROM mail_out WHERE id = $1",
);

/// Closes an attempt recorded before it began.
pub(crate) const MAIL_ATTEMPT_CLOSE: &str = concat!(
    "UPDATE mail_attempts SET outcome = $1, ended_at = $2, error = $3, detail = $4 ",
    "WHERE mail_id = $5 AND attempt = $6 AND outcome IN ('sending', 'interrupted')",
);

/// A message's result in one statement: the count of an attempt written only now, the state
/// (unless a bounce failed the message meanwhile), and the text of an invitation that has
/// gone (or never will), whose link sets a password and so is not kept.
pub(crate) const MAIL_RESULT: &str = concat!(
    "UPDATE mail_out SET attempts = attempts + $7, ",
    "state = CASE WHEN state = 'failed' THEN state ELSE $1 END, ",
    "last_error = CASE WHEN state = 'failed' THEN last_error ELSE $2 END, ",
    "detail = CASE WHEN state = 'failed' THEN detail ELSE COALESCE($3, detail) END, ",
    "sent_at = CASE WHEN state <> 'failed' AND $1 = 'sent' THEN $4 ELSE sent_at END, ",
    "next_attempt_at = CASE WHEN state = 'failed' THEN next_attempt_at ELSE $6 END, ",
    "message = CASE WHEN kind = $8 AND (state = 'failed' OR $1 IN ('sent', 'failed')) THEN $9 ELSE message END ",
    "WHERE id = $5",
);

/// One message and (by SQLite's trigger `mail_out_send`) its `mail.send` job.
pub(crate) const MAIL_INSERT_ONE: &str = concat!(
    "INSERT INTO mail_out (id, case_number, kind, recipient, subject, message_id, message, state, attempts, created_at) ",
    "VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8)",
);

/// One entry linked into the audit chain: its number, the hash before it, its hash, its record.
pub(crate) type Linked<'a> = (i64, String, String, &'a casedesk_core::audit::AuditRecord);

/// Hashes `recs` into the chain after `head`, in their order.
pub(crate) fn chain_after(
    recs: &[casedesk_core::audit::AuditRecord],
    head: (i64, String),
) -> Vec<Linked<'_>> {
    let (mut seq, mut prev) = head;
    let mut rows = Vec::with_capacity(recs.len());
    for r in recs {
        seq += 1;
        let hash = casedesk_core::audit::chain_hash(&prev, seq, r);
        rows.push((seq, std::mem::replace(&mut prev, hash.clone()), hash, r));
    }
    rows
}

/// The arguments of [`AUDIT_INSERT_ONE`](crate::common::AUDIT_INSERT_ONE) for one entry.
pub(crate) fn audit_args((seq, prev_hash, hash, r): &Linked<'_>) -> Vec<crate::common::Arg> {
    use crate::common::Arg;
    vec![
        Arg::I64(*seq),
        Arg::I64(crate::common::micros(r.at)),
        Arg::OptStr(r.actor.user_id.map(|u| u.to_string())),
        Arg::Str(r.actor.label.clone()),
        Arg::OptStr(r.account_id.map(|u| u.to_string())),
        Arg::Str(r.action.clone()),
        Arg::Str(r.target.clone()),
        Arg::Str(r.summary.clone()),
        Arg::OptStr(r.source_ip.clone()),
        Arg::OptStr(r.request_id.clone()),
        Arg::Bool(r.customer_visible),
        Arg::Str(prev_hash.clone()),
        Arg::Str(hash.clone()),
    ]
}

/// Entries as the JSON array of rows each backend's many-row insert reads.
pub(crate) fn audit_json(rows: &[Linked<'_>]) -> String {
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|(seq, prev_hash, hash, r)| {
            serde_json::json!([
                seq,
                crate::common::micros(r.at),
                r.actor.user_id.map(|u| u.to_string()),
                r.actor.label,
                r.account_id.map(|u| u.to_string()),
                r.action,
                r.target,
                r.summary,
                r.source_ip,
                r.request_id,
                r.customer_visible,
                prev_hash,
                hash,
            ])
        })
        .collect();
    serde_json::Value::Array(json).to_string()
}

/// The columns of a job, in the order [`JobRow`] reads them.
pub(crate) const JOB_COLS: &str = "id, kind, payload, state, attempts, max_attempts, run_at, last_error, locked_by, lease_until, created_at, updated_at";

/// Claims up to `$5` due jobs for node `$1` under lease `$2` until `$3` (`$4` is now);
/// `skip` is the backend's row-lock clause.
pub(crate) fn claim_sql(skip: &str) -> String {
    format!(
        concat!(
            "UPDATE jobs SET state = 'running', locked_by = $1, lease_token = $2, lease_until = $3, ",
            "attempts = attempts + 1, updated_at = $4 WHERE id IN (SELECT id FROM jobs ",
            "WHERE state = 'queued' AND run_at <= $4 ORDER BY run_at LIMIT $5{skip}) RETURNING {cols}"
        ),
        skip = skip,
        cols = JOB_COLS
    )
}

/// A job's row as stored, before it is checked (both drivers read into it).
pub(crate) struct JobRow {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) payload: String,
    pub(crate) state: String,
    pub(crate) attempts: i64,
    pub(crate) max_attempts: i64,
    pub(crate) run_at: i64,
    pub(crate) last_error: Option<String>,
    pub(crate) locked_by: Option<String>,
    pub(crate) lease_until: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl JobRow {
    /// The job the row holds.
    pub(crate) fn job(self) -> Result<casedesk_core::jobs::Job, casedesk_core::DomainError> {
        use crate::common::ts;
        use casedesk_core::DomainError;
        let state = casedesk_core::jobs::JobState::parse(&self.state)
            .ok_or_else(|| DomainError::Internal(format!("bad job state {}", self.state)))?;
        Ok(casedesk_core::jobs::Job {
            id: crate::common::uuid(&self.id)?,
            kind: self.kind,
            payload: serde_json::from_str(&self.payload)
                .map_err(|e| DomainError::Internal(format!("bad job payload: {e}")))?,
            state,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            max_attempts: u32::try_from(self.max_attempts).unwrap_or(1),
            run_at: ts(self.run_at),
            last_error: self.last_error,
            locked_by: self.locked_by,
            lease_until: self.lease_until.map(ts),
            created_at: ts(self.created_at),
            updated_at: ts(self.updated_at),
        })
    }
}

/// Implements the inherent `*_op` methods the `Store` impl delegates to.
#[macro_export]
#[doc(hidden)]
macro_rules! ops_impl {
    ($store:ident, $db:ty, $head_read:expr, $head_write:literal, $head_anchor:literal, $skip:literal, $audit_insert_many:expr) => {
        pub(crate) mod ops_impl {
            use super::$store;
            use $crate::common::*;
            use casedesk_core::audit::{Actor, AuditEntry, AuditRecord, Checkpoint};
            use casedesk_core::jobs::{Claim, Finish, Job, JobCount, JobQuery, JobState, NewJob};
            use casedesk_core::service::FollowUp;
            use casedesk_core::webhooks::AttemptRecord;
            use casedesk_core::audit::AuditFilter;
            use casedesk_core::webhooks::NewDelivery;
            use casedesk_core::webhooks::{Attempt, Delivery, DeliveryState, Endpoint, EndpointChange, Notice, SecretRecord};
            use casedesk_core::{DomainError, Result, Timestamp};
            use sqlx::Row;
            use uuid::Uuid;

            type Db = $db;
            pub(crate) type DbRow = <Db as sqlx::Database>::Row;
            pub(crate) type Tx = sqlx::Transaction<'static, Db>;

            use $crate::ops::JOB_COLS;
            const EP_COLS: &str = "id, account_id, url, description, event_types, enabled, disabled_reason, failure_streak, created_at, updated_at";
            const DL_COLS: &str = "id, endpoint_id, event_type, payload, case_number, state, attempts, last_status, created_at, delivered_at";
            const AUDIT_COLS: &str = "seq, at, actor_id, actor, account_id, action, target, summary, source_ip, request_id, customer_visible, prev_hash, hash";

            pub(crate) fn g<T>(r: &DbRow, c: &str) -> Result<T>
            where
                T: for<'a> sqlx::Decode<'a, Db> + sqlx::Type<Db>,
            {
                r.try_get(c).map_err(internal)
            }

            fn job_from_row(r: &DbRow) -> Result<Job> {
                $crate::ops::JobRow {
                    id: g(r, "id")?,
                    kind: g(r, "kind")?,
                    payload: g(r, "payload")?,
                    state: g(r, "state")?,
                    attempts: g(r, "attempts")?,
                    max_attempts: g(r, "max_attempts")?,
                    run_at: g(r, "run_at")?,
                    last_error: g(r, "last_error")?,
                    locked_by: g(r, "locked_by")?,
                    lease_until: g(r, "lease_until")?,
                    created_at: g(r, "created_at")?,
                    updated_at: g(r, "updated_at")?,
                }
                .job()
            }

            fn endpoint_from_row(r: &DbRow) -> Result<Endpoint> {
                let types: String = g(r, "event_types")?;
                Ok(Endpoint {
                    id: uuid(&g::<String>(r, "id")?)?,
                    account_id: opt_uuid(g(r, "account_id")?)?,
                    url: g(r, "url")?,
                    description: g(r, "description")?,
                    event_types: types.split_whitespace().map(str::to_owned).collect(),
                    enabled: g(r, "enabled")?,
                    disabled_reason: g(r, "disabled_reason")?,
                    failure_streak: g(r, "failure_streak")?,
                    created_at: ts(g(r, "created_at")?),
                    updated_at: ts(g(r, "updated_at")?),
                })
            }

            fn delivery_from_row(r: &DbRow) -> Result<Delivery> {
                let state: String = g(r, "state")?;
                Ok(Delivery {
                    id: g(r, "id")?,
                    endpoint_id: uuid(&g::<String>(r, "endpoint_id")?)?,
                    event_type: g(r, "event_type")?,
                    payload: g(r, "payload")?,
                    case_number: g(r, "case_number")?,
                    state: DeliveryState::parse(&state).ok_or_else(|| DomainError::Internal(format!("bad delivery state {state}")))?,
                    attempts: u32::try_from(g::<i64>(r, "attempts")?).unwrap_or(0),
                    last_status: g::<Option<i64>>(r, "last_status")?.and_then(|s| u16::try_from(s).ok()),
                    created_at: ts(g(r, "created_at")?),
                    delivered_at: g::<Option<i64>>(r, "delivered_at")?.map(ts),
                })
            }

            fn audit_from_row(r: &DbRow) -> Result<AuditEntry> {
                Ok(AuditEntry {
                    seq: g(r, "seq")?,
                    record: record_from_row(r)?,
                    prev_hash: g(r, "prev_hash")?,
                    hash: g(r, "hash")?,
                })
            }

            /// The record of a chained or parked entry.
            fn record_from_row(r: &DbRow) -> Result<AuditRecord> {
                Ok(AuditRecord {
                    at: ts(g(r, "at")?),
                    actor: Actor { user_id: opt_uuid(g(r, "actor_id")?)?, label: g(r, "actor")? },
                    account_id: opt_uuid(g(r, "account_id")?)?,
                    action: g(r, "action")?,
                    target: g(r, "target")?,
                    summary: g(r, "summary")?,
                    source_ip: g(r, "source_ip")?,
                    request_id: g(r, "request_id")?,
                    customer_visible: g(r, "customer_visible")?,
                })
            }

            fn random_token() -> String {
                Uuid::new_v4().simple().to_string()
            }

            /// Ends a claimed job inside `tx`; false when the lease was lost.
            async fn finish_in(tx: &mut Tx, c: &Claim, f: &Finish) -> Result<bool> {
                let now = micros(casedesk_core::now());
                let (id, token) = (c.job.id.to_string(), c.token.clone());
                let q = match f {
                    Finish::Done => sqlx::query($crate::ops::FINISH_DONE).bind(id).bind(token),
                    other => {
                        let (sql, run_at, err) = $crate::ops::finish_update(other, now);
                        sqlx::query(sql).bind(now).bind(run_at).bind(err).bind(id).bind(token)
                    }
                };
                let n = q.execute(&mut **tx).await.map_err(internal)?.rows_affected();
                Ok(n == 1)
            }

            /// Ends `claims` as done in one statement (each fenced by its lease token);
            /// answers the ids that were still theirs.
            async fn finish_done_many(tx: &mut Tx, claims: &[&Claim]) -> Result<std::collections::HashSet<Uuid>> {
                let mut ended = std::collections::HashSet::new();
                for chunk in claims.chunks(200) {
                    let mut sql = String::from("DELETE FROM jobs WHERE state = 'running' AND (id, lease_token) IN (VALUES ");
                    for i in 0..chunk.len() {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        sql.push_str(&format!("(${}, ${})", 2 * i + 1, 2 * i + 2));
                    }
                    sql.push_str(") RETURNING id");
                    let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
                    for c in chunk {
                        q = q.bind(c.job.id.to_string()).bind(c.token.clone());
                    }
                    for id in q.fetch_all(&mut **tx).await.map_err(internal)? {
                        ended.insert(uuid(&id)?);
                    }
                }
                Ok(ended)
            }

            /// Links parked audit entries every [`CHAIN_EVERY`](crate::ops::CHAIN_EVERY),
            /// this node's and those a stopped node left behind.
            #[allow(dead_code, reason = "SQLite links each entry in the transaction that writes it")]
            pub(crate) async fn chain_forever(store: $store) {
                loop {
                    tokio::time::sleep($crate::ops::CHAIN_EVERY).await;
                    if let Err(e) = store.chain_pending().await {
                        tracing::warn!(error = %e, "linking audit entries into the chain failed; retrying");
                    }
                }
            }

            /// Group commit of job endings: each finished job (a webhook attempt, a fan-out, a
            /// plain end) would otherwise be a transaction (and, on PostgreSQL, a flush) of its
            /// own; endings that arrive while one transaction is written share the next, each
            /// still fenced by its own lease token.
            /// Several committers may share one queue (PostgreSQL commits in parallel; SQLite
            /// has one writer, so one committer).
            pub(crate) async fn attempt_commit(
                store: $store,
                rx: std::sync::Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<$crate::ops::AttemptJob>>>,
            ) {
                loop {
                    let mut jobs = Vec::new();
                    {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else { return };
                        jobs.push(first);
                        while jobs.len() < $crate::ops::ATTEMPTS_PER_COMMIT {
                            match rx.try_recv() {
                                Ok(j) => jobs.push(j),
                                Err(_) => break,
                            }
                        }
                    }
                    let jobs = store.endings_on_thread(jobs).await;
                    if jobs.is_empty() {
                        continue;
                    }
                    let endings: Vec<&$crate::ops::Ending> = jobs.iter().map(|j| &j.ending).collect();
                    match write_endings_tx(&store, &endings).await {
                        Ok(out) => {
                            for (j, done) in jobs.into_iter().zip(out) {
                                let _ = j.reply.send(Ok(done));
                            }
                        }
                        // One ending that cannot be written must not fail the others with it
                        // (their jobs would wait out their leases and run again): each is
                        // written again alone. Not when the database is away.
                        Err(e) if jobs.len() > 1 && !matches!(e, DomainError::Unavailable(_)) => {
                            for j in jobs {
                                let r = write_endings_tx(&store, &[&j.ending])
                                    .await
                                    .and_then(|mut o| o.pop().ok_or_else(|| DomainError::Internal("an ending without its result".into())));
                                let _ = j.reply.send(r);
                            }
                        }
                        Err(e) => {
                            for j in jobs {
                                let _ = j.reply.send(Err($crate::common::again(&e)));
                            }
                        }
                    }
                }
            }

            /// Writes `endings` in one transaction; answers, for each, whether its job was
            /// still its claim's.
            async fn write_endings_tx(store: &$store, endings: &[&$crate::ops::Ending]) -> Result<Vec<bool>> {
                let (mut tx, _w) = store.begin().await?;
                let mut out = Vec::with_capacity(endings.len());
                // Fan-outs that only queue messages (the common case: no webhook
                // endpoint) are written together: one statement ends their jobs, one
                // writes their messages, whatever their number.
                let mut bulk = Vec::new();
                for (i, j) in endings.iter().enumerate() {
                    if let $crate::ops::Ending::FanOut(c, ds, ms) = j
                        && ds.is_empty()
                    {
                        bulk.push((i, c, ms));
                    }
                }
                let ended = finish_done_many(&mut tx, &bulk.iter().map(|b| b.1).collect::<Vec<_>>()).await?;
                let mails: Vec<casedesk_core::mail::NewMail> = bulk
                    .iter()
                    .filter(|b| ended.contains(&b.1.job.id))
                    .flat_map(|b| b.2.iter().cloned())
                    .collect();
                $store::insert_mails(&mut tx, &mails).await?;
                for j in endings {
                    out.push(match j {
                        $crate::ops::Ending::Attempt(c, r, f) => $store::record_attempt_in(&mut tx, c, r, f).await?,
                        $crate::ops::Ending::Finish(c, f, follow) => $store::finish_in_tx(&mut tx, c, f, follow).await?,
                        $crate::ops::Ending::FanOut(c, ds, _) if ds.is_empty() => ended.contains(&c.job.id),
                        $crate::ops::Ending::FanOut(c, ds, ms) => $store::fan_out_in(&mut tx, c, ds, ms).await?,
                        $crate::ops::Ending::Mail(c, r, f) => $store::mail_result_in(&mut tx, c, r, f).await?,
                    });
                }
                tx.commit().await.map_err(internal)?;
                Ok(out)
            }

            impl $store {
                /// Hands a job's ending to the group commit and waits until it is written.
                async fn batched(&self, ending: $crate::ops::Ending) -> Result<bool> {
                    let (reply, answer) = tokio::sync::oneshot::channel();
                    let job = $crate::ops::AttemptJob { ending, reply };
                    if self.attempts.send(job).await.is_err() {
                        return Err(DomainError::Internal("the database writer stopped".into()));
                    }
                    answer.await.map_err(|_| DomainError::Internal("the database writer stopped".into()))?
                }

                /// Appends audit entries to the chain; call it last in a transaction. On
                /// PostgreSQL they wait in `audit_pending` for [`Self::chain_pending`].
                pub(crate) async fn write_audit(tx: &mut Tx, recs: &[AuditRecord]) -> Result<()> {
                    Self::write_audit_after(tx, recs, None).await.map(|_| ())
                }

                /// [`Self::write_audit`] that may start from `hint`, the head this process wrote
                /// last, sparing the read of the head. Returns the new head (none on
                /// PostgreSQL, where the entries are chained later).
                ///
                /// A hint is only kept after its transaction committed, so it can be stale only
                /// by falling behind (another process appended since); then the first entry's
                /// sequence number is taken, the insert fails on the primary key, and the head
                /// is read and the entries hashed again. A wrong hint costs a statement, never a
                /// broken chain.
                pub(crate) async fn write_audit_after(
                    tx: &mut Tx,
                    recs: &[AuditRecord],
                    hint: Option<(i64, String)>,
                ) -> Result<Option<(i64, String)>> {
                    if recs.is_empty() {
                        return Ok(hint);
                    }
                    if !$head_write.is_empty() {
                        // PostgreSQL: every node's writers would queue on the head row until
                        // their commits; parked entries take no shared lock.
                        Self::park_audit(tx, recs).await?;
                        return Ok(None);
                    }
                    let mut start = hint;
                    loop {
                        let hinted = start.is_some();
                        let head = match start.take() {
                            Some(h) => h,
                            None => Self::read_head(tx).await?,
                        };
                        match Self::link(tx, recs, head).await {
                            Ok(h) => return Ok(Some(h)),
                            Err(e) if hinted && is_unique_violation(&e) => continue,
                            Err(e) => return Err(internal(e)),
                        }
                    }
                }

                /// The chain's head as the transaction sees it (locked on PostgreSQL).
                async fn read_head(tx: &mut Tx) -> Result<(i64, String)> {
                    let head = sqlx::query($head_read)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(internal)?;
                    Ok(match head {
                        Some(h) => (g(&h, "seq")?, g(&h, "hash")?),
                        None => (0, casedesk_core::audit::GENESIS.to_owned()),
                    })
                }

                /// Writes `recs` into the chain after `head`; answers the new head.
                async fn link(
                    tx: &mut Tx,
                    recs: &[AuditRecord],
                    head: (i64, String),
                ) -> std::result::Result<(i64, String), sqlx::Error> {
                    let rows = $crate::ops::chain_after(recs, head.clone());
                    let (seq, prev) = rows.last().map_or(head, |(s, _, h, _)| (*s, h.clone()));
                    match rows.as_slice() {
                        [one] => {
                            bind_args(sqlx::query(AUDIT_INSERT_ONE), $crate::ops::audit_args(one))
                                .execute(&mut **tx)
                                .await?;
                        }
                        // A group: one statement and one parameter for any number of
                        // entries (a statement per group size would crowd the cache).
                        _ => {
                            sqlx::query($audit_insert_many)
                                .bind($crate::ops::audit_json(&rows))
                                .execute(&mut **tx)
                                .await?;
                        }
                    }
                    if !$head_write.is_empty() {
                        sqlx::query($head_write)
                            .bind(seq)
                            .bind(&prev)
                            .execute(&mut **tx)
                            .await?;
                    }
                    Ok((seq, prev))
                }

                /// Parks entries for the chainer (PostgreSQL), in their order.
                async fn park_audit(tx: &mut Tx, recs: &[AuditRecord]) -> Result<()> {
                    let json: Vec<serde_json::Value> = recs
                        .iter()
                        .map(|r| {
                            serde_json::json!([
                                micros(r.at), r.actor.user_id.map(|u| u.to_string()), r.actor.label,
                                r.account_id.map(|u| u.to_string()), r.action, r.target, r.summary,
                                r.source_ip, r.request_id, r.customer_visible,
                            ])
                        })
                        .collect();
                    sqlx::query($crate::ops::AUDIT_PARK)
                        .bind(serde_json::Value::Array(json).to_string())
                        .execute(&mut **tx)
                        .await
                        .map_err(internal)?;
                    Ok(())
                }

                /// Links every parked entry into the chain (PostgreSQL; nothing to do on
                /// SQLite), a bounded batch per transaction under the head's lock, so only
                /// chainers ever wait for one another. Readers of the trail call it first, so
                /// they see what was written before they asked. Answers how many it linked.
                pub(crate) async fn chain_pending(&self) -> Result<u64> {
                    if $head_write.is_empty() {
                        return Ok(0);
                    }
                    let mut total = 0u64;
                    loop {
                        // A plain read first: an idle trail costs no lock.
                        let any: Option<i64> = sqlx::query_scalar("SELECT id FROM audit_pending LIMIT 1")
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(internal)?;
                        if any.is_none() {
                            return Ok(total);
                        }
                        let (mut tx, _w) = self.begin().await?;
                        let head = Self::read_head(&mut tx).await?;
                        let rows = sqlx::query($crate::ops::AUDIT_UNPARK)
                            .bind(i64::try_from($crate::ops::CHAIN_BATCH).unwrap_or(1000))
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(internal)?;
                        let mut parked = Vec::with_capacity(rows.len());
                        for r in &rows {
                            let id: i64 = g(r, "id")?;
                            parked.push((id, record_from_row(r)?));
                        }
                        parked.sort_by_key(|(id, _)| *id);
                        let recs: Vec<AuditRecord> = parked.into_iter().map(|(_, r)| r).collect();
                        if !recs.is_empty() {
                            Self::link(&mut tx, &recs, head).await.map_err(internal)?;
                        }
                        tx.commit().await.map_err(internal)?;
                        total += recs.len() as u64;
                        if recs.len() < $crate::ops::CHAIN_BATCH {
                            return Ok(total);
                        }
                    }
                }

                /// Writes a job; a second queued or running job with the same unique key is
                /// silently not written.
                pub(crate) async fn insert_job(tx: &mut Tx, j: &NewJob) -> Result<()> {
                    let now = micros(casedesk_core::now());
                    sqlx::query(
                        "INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, unique_key, created_at, updated_at) \
                         VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING",
                    )
                    .bind(j.id.to_string())
                    .bind(&j.kind)
                    .bind(j.payload.to_string())
                    .bind(i64::from(j.max_attempts))
                    .bind(micros(j.run_at))
                    .bind(j.unique_key.as_deref())
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
                    Ok(())
                }

                pub(crate) async fn append_audit_op(&self, a: &AuditRecord) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    Self::write_audit(&mut tx, std::slice::from_ref(a)).await?;
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn audit_page_op(&self, after: i64, limit: u32, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
                    self.chain_pending().await?;
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 \
                         AND ($2 IS NULL OR (account_id = $2 AND customer_visible = $3)) \
                         AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5) ORDER BY seq LIMIT $6"
                    )))
                    .bind(after)
                    .bind(f.account_id.map(|a| a.to_string()))
                    .bind(true)
                    .bind(f.since.map(micros))
                    .bind(f.until.map(micros))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter().map(audit_from_row).collect()
                }

                pub(crate) async fn audit_head_op(&self) -> Result<Option<(i64, String)>> {
                    self.chain_pending().await?;
                    let r = sqlx::query($head_anchor)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    match r {
                        Some(r) => {
                            let seq: i64 = g(&r, "seq")?;
                            Ok((seq > 0).then(|| (seq, g::<String>(&r, "hash").unwrap_or_default())))
                        }
                        None => Ok(None),
                    }
                }

                pub(crate) async fn audit_checkpoint_op(&self) -> Result<Option<Checkpoint>> {
                    let r = sqlx::query("SELECT seq, hash, at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    r.map(|r| Ok(Checkpoint { seq: g(&r, "seq")?, hash: g(&r, "hash")?, at: ts(g(&r, "at")?) }))
                        .transpose()
                }

                pub(crate) async fn prune_audit_op(&self, before: Timestamp, a: &AuditRecord) -> Result<u64> {
                    self.chain_pending().await?;
                    let (mut tx, _w) = self.begin().await?;
                    let last = sqlx::query("SELECT seq, hash FROM audit_log WHERE at < $1 ORDER BY seq DESC LIMIT 1")
                        .bind(micros(before))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(internal)?;
                    let Some(last) = last else { return Ok(0) };
                    let (seq, hash): (i64, String) = (g(&last, "seq")?, g(&last, "hash")?);
                    // The entry recording the pruning comes first, so the chain's last row (its
                    // head on SQLite) is never among those deleted.
                    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE seq <= $1")
                        .bind(seq)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(internal)?;
                    let mut rec = a.clone();
                    rec.summary = serde_json::json!({"through_seq": seq, "through_hash": hash, "deleted": count, "before": before.to_string()}).to_string();
                    Self::write_audit(&mut tx, &[rec]).await?;
                    let n = sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
                        .bind(seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    sqlx::query("INSERT INTO audit_checkpoints (seq, hash, at) VALUES ($1, $2, $3)")
                        .bind(seq)
                        .bind(&hash)
                        .bind(micros(casedesk_core::now()))
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    tx.commit().await.map_err(internal)?;
                    Ok(n)
                }

                pub(crate) async fn enqueue_job_op(&self, j: &NewJob) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    Self::insert_job(&mut tx, j).await?;
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn claim_jobs_op(&self, node: &str, now: Timestamp, lease: std::time::Duration, limit: u32) -> Result<Vec<Claim>> {
                    // A plain read first: most wake-ups find nothing due, and a claim is a write
                    // transaction that would queue behind (and hold up) the case writers.
                    let due = match self.due_on_reader(micros(now)).await? {
                        Some(due) => due,
                        None => sqlx::query_scalar::<_, i64>(
                            "SELECT CAST(1 AS BIGINT) FROM jobs WHERE state = 'queued' AND run_at <= $1 LIMIT 1",
                        )
                        .bind(micros(now))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?
                        .is_some(),
                    };
                    if !due {
                        return Ok(Vec::new());
                    }
                    let token = random_token();
                    let until = micros(now).saturating_add(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2));
                    if let Some(claimed) = self.claim_on_thread(node, &token, until, micros(now), limit).await? {
                        return Ok(claimed);
                    }
                    let (mut tx, _w) = self.begin().await?;
                    let rows = sqlx::query(sqlx::AssertSqlSafe($crate::ops::claim_sql($skip)))
                    .bind(node)
                    .bind(&token)
                    .bind(until)
                    .bind(micros(now))
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(internal)?;
                    tx.commit().await.map_err(internal)?;
                    rows.iter()
                        .map(|r| Ok(Claim { job: job_from_row(r)?, token: token.clone() }))
                        .collect()
                }

                /// Jobs whose worker died go back to the queue (their attempt counts). Apart from
                /// the claim, so the claim walks the (state, run_at) index in order.
                pub(crate) async fn release_expired_op(&self, now: Timestamp) -> Result<u64> {
                    let (mut tx, _w) = self.begin().await?;
                    let n = sqlx::query(
                        "UPDATE jobs SET state = 'queued', locked_by = NULL, lease_token = NULL, lease_until = NULL, updated_at = $1 \
                         WHERE state = 'running' AND lease_until < $1",
                    )
                    .bind(micros(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?
                    .rows_affected();
                    tx.commit().await.map_err(internal)?;
                    Ok(n)
                }

                pub(crate) async fn extend_lease_op(&self, c: &Claim, until: Timestamp) -> Result<bool> {
                    let (mut tx, _w) = self.begin().await?;
                    let held = Self::lease_in(&mut tx, c, until).await?;
                    tx.commit().await.map_err(internal)?;
                    Ok(held)
                }

                /// Extends a running job's lease to `until`; `false` when it was lost.
                pub(crate) async fn lease_in(tx: &mut Tx, c: &Claim, until: Timestamp) -> Result<bool> {
                    let n = sqlx::query(
                        "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_token = $3 AND state = 'running'",
                    )
                    .bind(micros(until))
                    .bind(c.job.id.to_string())
                    .bind(&c.token)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?
                    .rows_affected();
                    Ok(n == 1)
                }

                pub(crate) async fn finish_job_op(&self, c: &Claim, f: &Finish, follow: &FollowUp) -> Result<bool> {
                    self.batched($crate::ops::Ending::Finish(c.clone(), f.clone(), follow.clone())).await
                }

                pub(crate) async fn finish_in_tx(tx: &mut Tx, c: &Claim, f: &Finish, follow: &FollowUp) -> Result<bool> {
                    if !finish_in(tx, c, f).await? {
                        return Ok(false);
                    }
                    for j in &follow.jobs {
                        Self::insert_job(tx, j).await?;
                    }
                    Self::insert_mails(tx, &follow.mails).await?;
                    Self::write_audit(tx, &follow.audit).await?;
                    Ok(true)
                }

                pub(crate) async fn list_jobs_op(&self, q: &JobQuery) -> Result<Vec<Job>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {JOB_COLS} FROM jobs WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR kind = $2) \
                         AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
                    )))
                    .bind(q.state.map(|s| s.key()))
                    .bind(q.kind.as_deref())
                    .bind(q.before.map(|b| b.to_string()))
                    .bind(i64::from(q.limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter().map(job_from_row).collect()
                }

                pub(crate) async fn get_job_op(&self, id: Uuid) -> Result<Option<Job>> {
                    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1")))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    r.as_ref().map(job_from_row).transpose()
                }

                pub(crate) async fn set_job_state_op(&self, id: Uuid, from: JobState, to: JobState, a: &AuditRecord) -> Result<Option<Job>> {
                    let now = micros(casedesk_core::now());
                    let (mut tx, _w) = self.begin().await?;
                    let requeue = to == JobState::Queued;
                    let n = sqlx::query(
                        "UPDATE jobs SET state = $1, attempts = CASE WHEN $2 THEN 0 ELSE attempts END, \
                         run_at = CASE WHEN $2 THEN $3 ELSE run_at END, updated_at = $3 WHERE id = $4 AND state = $5",
                    )
                    .bind(to.key())
                    .bind(requeue)
                    .bind(now)
                    .bind(id.to_string())
                    .bind(from.key())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict_or_internal(e, "another job with the same key is already queued"))?
                    .rows_affected();
                    if n == 0 {
                        return Ok(None);
                    }
                    let mut a = a.clone();
                    a.summary = serde_json::json!({"from": from.key(), "to": to.key()}).to_string();
                    Self::write_audit(&mut tx, &[a]).await?;
                    tx.commit().await.map_err(internal)?;
                    self.get_job_op(id).await
                }

                pub(crate) async fn job_counts_op(&self, now: Timestamp) -> Result<Vec<JobCount>> {
                    let rows = sqlx::query(
                        "SELECT kind, state, COUNT(*) AS n, MIN(CASE WHEN state = 'queued' AND run_at <= $1 THEN run_at END) AS oldest \
                         FROM jobs WHERE state IN ('queued', 'running', 'dead') GROUP BY kind, state",
                    )
                    .bind(micros(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            let state: String = g(r, "state")?;
                            let oldest: Option<i64> = g(r, "oldest")?;
                            Ok(JobCount {
                                kind: g(r, "kind")?,
                                state: JobState::parse(&state).ok_or_else(|| DomainError::Internal(format!("bad job state {state}")))?,
                                count: u64::try_from(g::<i64>(r, "n")?).unwrap_or(0),
                                oldest_due_seconds: oldest.map(|o| (micros(now) - o).max(0) as f64 / 1e6),
                            })
                        })
                        .collect()
                }

                pub(crate) async fn prune_jobs_op(&self, before: Timestamp, now: Timestamp) -> Result<u64> {
                    let (mut tx, _w) = self.begin().await?;
                    let n = sqlx::query("DELETE FROM jobs WHERE state IN ('done', 'cancelled') AND updated_at < $1")
                        .bind(micros(before))
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?
                        .rows_affected();
                    sqlx::query("DELETE FROM webhook_deliveries WHERE created_at < $1 AND state <> 'pending'")
                        .bind(micros(before))
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                        .bind(micros(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    let ttl = i64::try_from(casedesk_core::identity::LOGIN_FLOW_TTL.as_micros()).unwrap_or(i64::MAX);
                    sqlx::query("DELETE FROM login_flows WHERE created_at < $1")
                        .bind(micros(now).saturating_sub(ttl))
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    tx.commit().await.map_err(internal)?;
                    Ok(n)
                }

                async fn insert_secret(tx: &mut Tx, s: &SecretRecord) -> Result<()> {
                    sqlx::query("INSERT INTO webhook_secrets (id, endpoint_id, sealed, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(s.id.to_string())
                        .bind(s.endpoint_id.to_string())
                        .bind(&s.sealed)
                        .bind(micros(s.created_at))
                        .bind(s.expires_at.map(micros))
                        .execute(&mut **tx)
                        .await
                        .map_err(internal)?;
                    Ok(())
                }

                pub(crate) async fn create_endpoint_op(&self, ep: &Endpoint, s: &SecretRecord, a: &AuditRecord) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    sqlx::query(
                        "INSERT INTO webhook_endpoints (id, account_id, url, description, event_types, enabled, disabled_reason, failure_streak, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(ep.id.to_string())
                    .bind(ep.account_id.map(|a| a.to_string()))
                    .bind(&ep.url)
                    .bind(ep.description.as_deref())
                    .bind(ep.event_types.join(" "))
                    .bind(ep.enabled)
                    .bind(ep.disabled_reason.as_deref())
                    .bind(ep.failure_streak)
                    .bind(micros(ep.created_at))
                    .bind(micros(ep.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                    Self::insert_secret(&mut tx, s).await?;
                    Self::write_audit(&mut tx, std::slice::from_ref(a)).await?;
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn get_endpoint_op(&self, id: Uuid) -> Result<Option<Endpoint>> {
                    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {EP_COLS} FROM webhook_endpoints WHERE id = $1")))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    r.as_ref().map(endpoint_from_row).transpose()
                }

                pub(crate) async fn list_endpoints_op(&self, account: Option<Uuid>) -> Result<Vec<Endpoint>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {EP_COLS} FROM webhook_endpoints WHERE (account_id = $1 OR ($1 IS NULL AND account_id IS NULL)) ORDER BY id"
                    )))
                    .bind(account.map(|a| a.to_string()))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter().map(endpoint_from_row).collect()
                }

                pub(crate) async fn update_endpoint_op(&self, ep: &Endpoint, a: &AuditRecord) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    sqlx::query(
                        "UPDATE webhook_endpoints SET url = $1, description = $2, event_types = $3, enabled = $4, disabled_reason = $5, \
                         failure_streak = $6, updated_at = $7 WHERE id = $8",
                    )
                    .bind(&ep.url)
                    .bind(ep.description.as_deref())
                    .bind(ep.event_types.join(" "))
                    .bind(ep.enabled)
                    .bind(ep.disabled_reason.as_deref())
                    .bind(ep.failure_streak)
                    .bind(micros(ep.updated_at))
                    .bind(ep.id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                    Self::write_audit(&mut tx, std::slice::from_ref(a)).await?;
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn delete_endpoint_op(&self, id: Uuid, a: &AuditRecord) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    // Deliveries and attempts go with it (ON DELETE CASCADE); their queued jobs
                    // find no delivery and end.
                    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    Self::write_audit(&mut tx, std::slice::from_ref(a)).await?;
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn add_secret_op(&self, s: &SecretRecord, others: Timestamp, a: &AuditRecord) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    sqlx::query("UPDATE webhook_secrets SET expires_at = $1 WHERE endpoint_id = $2 AND (expires_at IS NULL OR expires_at > $1)")
                        .bind(micros(others))
                        .bind(s.endpoint_id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    sqlx::query("DELETE FROM webhook_secrets WHERE endpoint_id = $1 AND expires_at < $2")
                        .bind(s.endpoint_id.to_string())
                        .bind(micros(s.created_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    Self::insert_secret(&mut tx, s).await?;
                    Self::write_audit(&mut tx, std::slice::from_ref(a)).await?;
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn live_secrets_op(&self, ep: Uuid, now: Timestamp) -> Result<Vec<SecretRecord>> {
                    let rows = sqlx::query(
                        "SELECT id, endpoint_id, sealed, created_at, expires_at FROM webhook_secrets \
                         WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at DESC, id DESC",
                    )
                    .bind(ep.to_string())
                    .bind(micros(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            Ok(SecretRecord {
                                id: uuid(&g::<String>(r, "id")?)?,
                                endpoint_id: uuid(&g::<String>(r, "endpoint_id")?)?,
                                sealed: g(r, "sealed")?,
                                created_at: ts(g(r, "created_at")?),
                                expires_at: g::<Option<i64>>(r, "expires_at")?.map(ts),
                            })
                        })
                        .collect()
                }

                pub(crate) async fn enabled_endpoints_op(&self) -> Result<Vec<Endpoint>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {EP_COLS} FROM webhook_endpoints WHERE enabled = $1 ORDER BY id"
                    )))
                    .bind(true)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter().map(endpoint_from_row).collect()
                }

                pub(crate) async fn fan_out_op(&self, c: &Claim, ds: &[NewDelivery], ms: &[casedesk_core::mail::NewMail]) -> Result<bool> {
                    self.batched($crate::ops::Ending::FanOut(c.clone(), ds.to_vec(), ms.to_vec())).await
                }

                pub(crate) async fn mail_result_op(&self, c: &Claim, r: &casedesk_core::mail::MailResult, f: &Finish) -> Result<bool> {
                    self.batched($crate::ops::Ending::Mail(c.clone(), Box::new(r.clone()), f.clone())).await
                }

                pub(crate) async fn begin_mail_attempt_op(
                    &self,
                    c: &Claim,
                    id: Uuid,
                    at: casedesk_core::Timestamp,
                    lease_until: casedesk_core::Timestamp,
                    stale_before: casedesk_core::Timestamp,
                ) -> Result<casedesk_core::mail::AttemptStart> {
                    use casedesk_core::mail::AttemptStart;
                    let id = id.to_string();
                    let (mut tx, _w) = self.begin().await?;
                    if !Self::lease_in(&mut tx, c, lease_until).await? {
                        return Ok(AttemptStart::LeaseLost);
                    }
                    let open: Option<(i64, i64)> = sqlx::query_as(
                        "SELECT attempt, started_at FROM mail_attempts WHERE mail_id = $1 AND outcome = 'sending' \
                         ORDER BY attempt DESC LIMIT 1",
                    )
                    .bind(&id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(internal)?;
                    if let Some((attempt, started)) = open {
                        if started >= micros(stale_before) {
                            // Its node may still be writing the result: nothing is written.
                            return Ok(AttemptStart::InFlight {
                                attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
                                started_at: ts(started),
                            });
                        }
                        sqlx::query(
                            "UPDATE mail_attempts SET outcome = 'interrupted', ended_at = $1, error = $2 \
                             WHERE mail_id = $3 AND attempt = $4 AND outcome = 'sending'",
                        )
                        .bind(micros(at))
                        .bind(casedesk_core::mail::INTERRUPTED)
                        .bind(&id)
                        .bind(attempt)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    }
                    let n: Option<i64> = sqlx::query_scalar("UPDATE mail_out SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts")
                        .bind(&id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(internal)?;
                    let Some(n) = n else {
                        return Err(DomainError::NotFound { entity: "message" });
                    };
                    sqlx::query("INSERT INTO mail_attempts (mail_id, attempt, started_at, outcome) VALUES ($1, $2, $3, 'sending')")
                        .bind(&id)
                        .bind(n)
                        .bind(micros(at))
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    tx.commit().await.map_err(internal)?;
                    Ok(AttemptStart::Begun(u32::try_from(n).unwrap_or(u32::MAX)))
                }

                pub(crate) async fn mail_result_in(tx: &mut Tx, c: &Claim, r: &casedesk_core::mail::MailResult, f: &Finish) -> Result<bool> {
                    let ended = finish_in(tx, c, f).await?;
                    let outcome = casedesk_core::mail::AttemptOutcome::of(r.state);
                    if r.attempt == 0 {
                        // An attempt not written before it began: written now, by the job's owner.
                        if !ended {
                            return Ok(false);
                        }
                        sqlx::query($crate::ops::MAIL_ATTEMPT_AFTER)
                        .bind(r.id.to_string())
                        .bind(micros(r.started_at))
                        .bind(micros(r.at))
                        .bind(outcome.key())
                        .bind(r.error.as_deref())
                        .bind(r.detail.as_deref())
                        .execute(&mut **tx)
                        .await
                        .map_err(internal)?;
                    }
                    // What the attempt did is true whoever holds the job now; an attempt
                    // another node already called interrupted gets its real outcome too.
                    let closed = if r.attempt == 0 { 1 } else { sqlx::query($crate::ops::MAIL_ATTEMPT_CLOSE)
                    .bind(outcome.key())
                    .bind(micros(r.at))
                    .bind(r.error.as_deref())
                    .bind(r.detail.as_deref())
                    .bind(r.id.to_string())
                    .bind(i64::from(r.attempt))
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?
                    .rows_affected() };
                    // The message's state follows the job that owns it, except that a message
                    // the relay took is sent whoever owns the job.
                    let owns = ended || (closed == 1 && r.state == casedesk_core::mail::MailState::Sent);
                    if !owns {
                        return Ok(false);
                    }
                    sqlx::query($crate::ops::MAIL_RESULT)
                    .bind(r.state.key())
                    .bind(r.error.as_deref())
                    .bind(r.detail.as_deref())
                    .bind(micros(r.at))
                    .bind(r.id.to_string())
                    .bind(r.next_attempt_at.map(micros))
                    .bind(i64::from(r.attempt == 0))
                    .bind(casedesk_core::mail::INVITATION_KIND)
                    .bind(casedesk_core::mail::INVITATION_KEPT_AS)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
                    Ok(ended)
                }

                /// Writes messages and each one's `mail.send` job in one statement (on SQLite
                /// the trigger `mail_out_send` writes the jobs; on PostgreSQL the statement does).
                pub(crate) async fn insert_mails(tx: &mut Tx, ms: &[casedesk_core::mail::NewMail]) -> Result<()> {
                    // Bind parameters stay well under both backends' limits.
                    for chunk in ms.chunks(100) {
                        let mut sql = String::new();
                        if $store::MAIL_JOBS_IN_STATEMENT {
                            sql.push_str("WITH m AS (");
                        }
                        sql.push_str(
                            "INSERT INTO mail_out (id, case_number, kind, recipient, subject, message_id, message, state, attempts, created_at) VALUES ",
                        );
                        for i in 0..chunk.len() {
                            let b = i * 8;
                            if i > 0 {
                                sql.push_str(", ");
                            }
                            sql.push_str(&format!(
                                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, 'queued', 0, ${})",
                                b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8
                            ));
                        }
                        if $store::MAIL_JOBS_IN_STATEMENT {
                            // PostgreSQL: the jobs in the same statement, without a trigger
                            // call per row; UUIDv7 job ids made from the message ids.
                            sql.push_str(&format!(
                                " RETURNING id, created_at) INSERT INTO jobs (id, kind, payload, state, attempts, max_attempts, run_at, created_at, updated_at) \
                                 SELECT substr(id, 1, 14) || '7' || substr(md5(id), 1, 3) || '-' || substr(md5(id), 4, 4) || '-' || substr(md5(id), 8, 12), \
                                 '{}', json_build_object('mail', id)::text, 'queued', 0, {}, created_at, created_at, created_at FROM m",
                                casedesk_core::mail::SEND,
                                casedesk_core::mail::SEND_ATTEMPTS
                            ));
                        }
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for m in chunk {
                            q = q
                                .bind(m.id.to_string())
                                .bind(m.case_number)
                                .bind(m.kind.clone())
                                .bind(m.recipient.clone())
                                .bind(m.subject.clone())
                                .bind(m.message_id.clone())
                                .bind(m.message.clone())
                                .bind(micros(m.created_at));
                        }
                        q.execute(&mut **tx).await.map_err(internal)?;
                    }
                    Ok(())
                }

                pub(crate) async fn fan_out_in(tx: &mut Tx, c: &Claim, ds: &[NewDelivery], ms: &[casedesk_core::mail::NewMail]) -> Result<bool> {
                    if !finish_in(tx, c, &Finish::Done).await? {
                        return Ok(false);
                    }
                    Self::insert_mails(tx, ms).await?;
                    for d in ds {
                        // An endpoint deleted since the dispatcher read the list gets nothing
                        // (rather than failing the fan-out, and the endings written with it).
                        let written = sqlx::query(
                            "INSERT INTO webhook_deliveries (id, endpoint_id, event_type, payload, case_number, state, attempts, created_at) \
                             SELECT $1, $2, $3, $4, $5, 'pending', 0, $6 \
                             WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $2)",
                        )
                        .bind(&d.id)
                        .bind(d.endpoint_id.to_string())
                        .bind(&d.event_type)
                        .bind(&d.payload)
                        .bind(d.case_number)
                        .bind(micros(d.created_at))
                        .execute(&mut **tx)
                        .await
                        .map_err(internal)?;
                        if written.rows_affected() == 1 {
                            Self::insert_job(tx, &d.job).await?;
                        }
                    }
                    Ok(true)
                }

                pub(crate) async fn get_delivery_op(&self, id: &str) -> Result<Option<Delivery>> {
                    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {DL_COLS} FROM webhook_deliveries WHERE id = $1")))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(internal)?;
                    r.as_ref().map(delivery_from_row).transpose()
                }

                pub(crate) async fn list_deliveries_op(&self, ep: Uuid, before: Option<&str>, limit: u32) -> Result<Vec<Delivery>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {DL_COLS} FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
                    )))
                    .bind(ep.to_string())
                    .bind(before)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter().map(delivery_from_row).collect()
                }

                pub(crate) async fn list_attempts_op(&self, id: &str) -> Result<Vec<Attempt>> {
                    let rows = sqlx::query("SELECT at, status_code, latency_ms, error, manual FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id")
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            Ok(Attempt {
                                at: ts(g(r, "at")?),
                                status_code: g::<Option<i64>>(r, "status_code")?.and_then(|s| u16::try_from(s).ok()),
                                latency_ms: u64::try_from(g::<i64>(r, "latency_ms")?).unwrap_or(0),
                                error: g(r, "error")?,
                                manual: g(r, "manual")?,
                            })
                        })
                        .collect()
                }

                pub(crate) async fn record_attempt_op(&self, c: &Claim, rec: &AttemptRecord, f: &Finish) -> Result<bool> {
                    self.batched($crate::ops::Ending::Attempt(c.clone(), Box::new(rec.clone()), f.clone())).await
                }

                /// Writes one attempt inside an open transaction (the SQLite group commit puts
                /// many in one); false, with nothing written, when the lease was lost.
                pub(crate) async fn record_attempt_in(tx: &mut Tx, c: &Claim, rec: &AttemptRecord, f: &Finish) -> Result<bool> {
                    if !finish_in(tx, c, f).await? {
                        return Ok(false);
                    }
                    let a = &rec.attempt;
                    if rec.state != DeliveryState::Skipped {
                        sqlx::query("INSERT INTO webhook_attempts (delivery_id, at, status_code, latency_ms, error, manual) VALUES ($1, $2, $3, $4, $5, $6)")
                            .bind(&rec.delivery_id)
                            .bind(micros(a.at))
                            .bind(a.status_code.map(i64::from))
                            .bind(i64::try_from(a.latency_ms).unwrap_or(i64::MAX))
                            .bind(a.error.as_deref())
                            .bind(a.manual)
                            .execute(&mut **tx)
                            .await
                            .map_err(internal)?;
                    }
                    let delivered = (rec.state == DeliveryState::Delivered).then(|| micros(a.at));
                    let tried = i64::from(rec.state != DeliveryState::Skipped);
                    sqlx::query(
                        "UPDATE webhook_deliveries SET state = $1, attempts = attempts + $2, last_status = COALESCE($3, last_status), \
                         delivered_at = COALESCE($4, delivered_at) WHERE id = $5",
                    )
                    .bind(rec.state.key())
                    .bind(tried)
                    .bind(a.status_code.map(i64::from))
                    .bind(delivered)
                    .bind(&rec.delivery_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
                    let ep = rec.endpoint_id.to_string();
                    match &rec.endpoint {
                        EndpointChange::Unchanged => {}
                        // A no-op for a healthy endpoint, so concurrent successes do not
                        // queue on its row.
                        EndpointChange::Healthy => {
                            sqlx::query("UPDATE webhook_endpoints SET failure_streak = 0 WHERE id = $1 AND failure_streak <> 0")
                                .bind(&ep)
                                .execute(&mut **tx)
                                .await
                                .map_err(internal)?;
                        }
                        EndpointChange::Failing => {
                            sqlx::query("UPDATE webhook_endpoints SET failure_streak = failure_streak + 1 WHERE id = $1")
                                .bind(&ep)
                                .execute(&mut **tx)
                                .await
                                .map_err(internal)?;
                        }
                        EndpointChange::Disable { reason } => {
                            let n = sqlx::query(
                                "UPDATE webhook_endpoints SET failure_streak = failure_streak + 1, enabled = $1, disabled_reason = $2, updated_at = $3 \
                                 WHERE id = $4 AND enabled = $5",
                            )
                            .bind(false)
                            .bind(reason)
                            .bind(micros(a.at))
                            .bind(&ep)
                            .bind(true)
                            .execute(&mut **tx)
                            .await
                            .map_err(internal)?
                            .rows_affected();
                            // Only the attempt that disabled it tells the owner.
                            if n == 1 {
                                let url: String = sqlx::query_scalar("SELECT url FROM webhook_endpoints WHERE id = $1")
                                    .bind(&ep)
                                    .fetch_one(&mut **tx)
                                    .await
                                    .map_err(internal)?;
                                let message = format!("casedesk stopped sending events to the webhook endpoint {url}: {reason}. Fix the receiver, then enable the endpoint again and redeliver what it missed.");
                                sqlx::query("INSERT INTO notices (id, account_id, kind, message, created_at) VALUES ($1, $2, $3, $4, $5)")
                                    .bind(Uuid::now_v7().to_string())
                                    .bind(rec.account_id.map(|a| a.to_string()))
                                    .bind("webhook.disabled")
                                    .bind(&message)
                                    .bind(micros(a.at))
                                    .execute(&mut **tx)
                                    .await
                                    .map_err(internal)?;
                                let audit = AuditRecord::new(Actor::system("job:webhook.deliver"), "webhook.disabled", format!("webhook:{ep}"))
                                    .account(rec.account_id)
                                    .summary(serde_json::json!({"reason": reason, "delivery": rec.delivery_id}));
                                Self::write_audit(tx, &[audit]).await?;
                            }
                        }
                    }
                    Ok(true)
                }

                pub(crate) async fn redeliver_op(&self, id: &str, j: &NewJob, a: &AuditRecord) -> Result<()> {
                    let (mut tx, _w) = self.begin().await?;
                    sqlx::query("UPDATE webhook_deliveries SET state = 'pending' WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(internal)?;
                    Self::insert_job(&mut tx, j).await?;
                    Self::write_audit(&mut tx, std::slice::from_ref(a)).await?;
                    tx.commit().await.map_err(internal)
                }

                pub(crate) async fn list_notices_op(&self, account: Option<Uuid>) -> Result<Vec<Notice>> {
                    let rows = sqlx::query(
                        "SELECT id, account_id, kind, message, created_at FROM notices \
                         WHERE (account_id = $1 OR ($1 IS NULL AND account_id IS NULL)) ORDER BY created_at DESC LIMIT 100",
                    )
                    .bind(account.map(|a| a.to_string()))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            Ok(Notice {
                                id: uuid(&g::<String>(r, "id")?)?,
                                account_id: opt_uuid(g(r, "account_id")?)?,
                                kind: g(r, "kind")?,
                                message: g(r, "message")?,
                                created_at: ts(g(r, "created_at")?),
                            })
                        })
                        .collect()
                }
            }
        }
    };
}
