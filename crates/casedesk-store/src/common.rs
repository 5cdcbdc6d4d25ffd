//! SQL and row mapping shared by both backends, expanded once per backend by `store_impl!` (in `backend`).

use casedesk_core::cases::{ImpactScope, Priority, Stage, Status};
use casedesk_core::{DomainError, Timestamp};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Maps a database error to the domain's internal error (details go to the log only).
pub(crate) fn internal<E: std::fmt::Display + 'static>(e: E) -> DomainError {
    if let Some(db) = (&e as &dyn std::any::Any).downcast_ref::<sqlx::Error>()
        && unavailable(db)
    {
        tracing::warn!(error = %e, "the database is not answering");
        return DomainError::Unavailable("the database is not answering".into());
    }
    tracing::error!(error = %e, "database error");
    DomainError::Internal("the database failed to answer".into())
}

/// Whether an error says the database cannot answer now (rather than that the request or the
/// data is wrong): no connection within the wait allowed, a connection lost, the server
/// shutting down or starting, or a lock or statement over its time limit. Such a request
/// changed nothing and may be repeated.
fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            // PostgreSQL: connection exceptions (08…), shutdown and start-up (57P0…), too many
            // connections, lock_timeout, statement_timeout, idle-in-transaction timeout.
            // SQLite: busy.
            c.starts_with("08")
                || c.starts_with("57P0")
                || matches!(
                    c.as_ref(),
                    "53300" | "55P03" | "57014" | "25P03" | "5" | "517"
                )
        }),
        _ => false,
    }
}

/// A unique-constraint violation becomes a conflict with `msg`; anything else is internal.
pub(crate) fn conflict_or_internal(e: sqlx::Error, msg: &str) -> DomainError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            DomainError::Conflict(msg.to_owned())
        }
        _ => internal(e),
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The columns of `mail_out` a [`MailRecord`](casedesk_core::mail::MailRecord) is read from.
pub(crate) const MAIL_OUT_COLS: &str = "id, case_number, kind, recipient, subject, message_id, state, attempts, last_error, detail, created_at, sent_at, next_attempt_at";

pub(crate) fn ts(micros: i64) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn uuid(s: &str) -> Result<Uuid, DomainError> {
    Uuid::parse_str(s).map_err(|e| DomainError::Internal(format!("bad uuid in database: {e}")))
}

pub(crate) fn opt_uuid(s: Option<String>) -> Result<Option<Uuid>, DomainError> {
    s.as_deref().map(uuid).transpose()
}

fn bad(what: &str, v: &str) -> DomainError {
    DomainError::Internal(format!("bad {what} in database: {v}"))
}

pub(crate) fn status(s: &str) -> Result<Status, DomainError> {
    Status::parse(s).ok_or_else(|| bad("status", s))
}
pub(crate) fn priority(s: &str) -> Result<Priority, DomainError> {
    Priority::parse(s).ok_or_else(|| bad("priority", s))
}
pub(crate) fn stage(s: &str) -> Result<Stage, DomainError> {
    Stage::parse(s).ok_or_else(|| bad("stage", s))
}
pub(crate) fn scope(s: &str) -> Result<ImpactScope, DomainError> {
    ImpactScope::parse(s).ok_or_else(|| bad("scope", s))
}
pub(crate) fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, DomainError> {
    s.parse().map_err(|_| bad(what, s))
}

pub(crate) fn json_map(s: &str) -> Result<Map<String, Value>, DomainError> {
    match serde_json::from_str(s) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(bad("json object", s)),
    }
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String, DomainError> {
    serde_json::to_string(v).map_err(|e| DomainError::Internal(format!("json: {e}")))
}

/// A value bound to a dynamically built query.
pub(crate) enum Arg {
    Str(String),
    I64(i64),
    Bool(bool),
    OptStr(Option<String>),
    OptI64(Option<i64>),
}

impl Arg {
    /// The PostgreSQL type it is bound as, for a `PREPARE` written by hand.
    pub(crate) fn pg_type(&self) -> &'static str {
        match self {
            Arg::Str(_) | Arg::OptStr(_) => "text",
            Arg::I64(_) | Arg::OptI64(_) => "bigint",
            Arg::Bool(_) => "boolean",
        }
    }

    /// The value as a PostgreSQL literal (standard-conforming strings), where a statement
    /// takes no parameters.
    pub(crate) fn pg_literal(&self) -> String {
        let text = |s: &str| format!("'{}'", s.replace('\'', "''"));
        match self {
            Arg::Str(s) | Arg::OptStr(Some(s)) => text(s),
            Arg::I64(i) | Arg::OptI64(Some(i)) => i.to_string(),
            Arg::Bool(b) => b.to_string(),
            Arg::OptStr(None) | Arg::OptI64(None) => "NULL".into(),
        }
    }
}

/// Binds a built statement's arguments, in the order they were pushed.
pub(crate) fn bind_args<'q, DB>(
    mut q: sqlx::query::Query<'q, DB, DB::Arguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, DB, DB::Arguments>
where
    DB: sqlx::Database,
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    bool: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    Option<String>: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    Option<i64>: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    for a in args {
        q = match a {
            Arg::Str(s) => q.bind(s),
            Arg::I64(i) => q.bind(i),
            Arg::Bool(b) => q.bind(b),
            Arg::OptStr(s) => q.bind(s),
            Arg::OptI64(i) => q.bind(i),
        };
    }
    q
}

/// The case query with its team contacts folded into one column (`id email` lines, ordered
/// by email), so reading a case is one round trip. `$agg` is the backend's string
/// aggregate: both accept `agg(text, separator ORDER BY …)`.
#[macro_export]
#[doc(hidden)]
macro_rules! case_select {
    ($agg:literal) => {
        concat!(
            "SELECT c.number, c.account_id, c.tenant_id, t.slug AS tenant, c.requester_id, ",
            "r.email AS requester, c.assignee_id, a.email AS assignee, c.queue, c.status, c.priority, c.stage, ",
            "c.issue_area, c.subject, c.description, c.steps_to_reproduce, c.scope, c.business_impact, c.contact, ",
            "c.identifiers, c.context, c.checklist, c.escalated, c.follow_up_of, c.created_at, c.updated_at, c.version, ",
            "(SELECT ", $agg, "(cc.user_id || ' ' || u.email, '\n' ORDER BY u.email) FROM case_contacts cc ",
            "JOIN users u ON u.id = cc.user_id WHERE cc.case_number = c.number) AS contacts ",
            "FROM cases c JOIN tenants t ON t.id = c.tenant_id JOIN users r ON r.id = c.requester_id ",
            "LEFT JOIN users a ON a.id = c.assignee_id WHERE c.number = $1"
        )
    };
}

/// Parses the `contacts` column of [`case_select!`].
pub(crate) fn parse_contacts(
    s: Option<String>,
) -> Result<Vec<casedesk_core::cases::TeamContact>, DomainError> {
    s.unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (id, email) = l.split_once(' ').ok_or_else(|| bad("contact", l))?;
            Ok(casedesk_core::cases::TeamContact {
                user_id: uuid(id)?,
                email: email.to_owned(),
            })
        })
        .collect()
}

/// The fields of a list row, as `'key', value` pairs for the backend's JSON object function.
pub(crate) const SUMMARY_FIELDS: &str = "'number', p.number, 'subject', p.subject, 'status', p.status, \
    'priority', p.priority, 'tenant', p.tenant, 'issue_area', p.issue_area, 'stage', p.stage, 'queue', p.queue, \
    'requester', p.requester, 'assignee', p.assignee, 'escalated', p.escalated, 'created_at', p.created_at, \
    'updated_at', p.updated_at, 'sla_due_at', p.sla_due_at, 'account', p.account, 'plan', p.plan";

/// Decodes a page of list rows from its JSON array (`None`: no rows).
pub(crate) fn summaries_from_json(
    page: Option<&str>,
) -> Result<Vec<casedesk_core::cases::CaseSummary>, DomainError> {
    let Some(page) = page else {
        return Ok(Vec::new());
    };
    let rows: Vec<Value> =
        serde_json::from_str(page).map_err(|e| bad("list page", &e.to_string()))?;
    rows.iter()
        .map(|r| {
            let s = |k: &str| {
                r[k].as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(k, &r.to_string()))
            };
            let i = |k: &str| r[k].as_i64().ok_or_else(|| bad(k, &r.to_string()));
            Ok(casedesk_core::cases::CaseSummary {
                number: i("number")?,
                subject: s("subject")?,
                status: status(&s("status")?)?,
                priority: priority(&s("priority")?)?,
                tenant: s("tenant")?,
                issue_area: s("issue_area")?,
                stage: stage(&s("stage")?)?,
                queue: s("queue")?,
                requester: s("requester")?,
                assignee: r["assignee"].as_str().map(str::to_owned),
                // SQLite stores booleans as 0/1, PostgreSQL as true/false.
                escalated: r["escalated"]
                    .as_bool()
                    .unwrap_or(r["escalated"].as_i64() == Some(1)),
                created_at: ts(i("created_at")?),
                updated_at: ts(i("updated_at")?),
                sla_due_at: r["sla_due_at"].as_i64().map(ts),
                account: s("account")?,
                plan: s("plan")?,
            })
        })
        .collect()
}

pub(crate) const SUMMARY_SELECT: &str = "SELECT c.number, c.subject, c.status, c.priority, t.slug AS tenant, \
    c.issue_area, c.stage, c.queue, r.email AS requester, a.email AS assignee, c.escalated, c.created_at, c.updated_at, c.sla_due_at, \
    ac.name AS account, ac.plan AS plan \
    FROM cases c JOIN tenants t ON t.id = c.tenant_id JOIN users r ON r.id = c.requester_id \
    JOIN accounts ac ON ac.id = c.account_id LEFT JOIN users a ON a.id = c.assignee_id";

/// The columns and values of a new case ($1–$19, its SLA timers $25–$26); the event that
/// records it follows as $20–$24 (and $28, whether the create writes the case's messages
/// itself), and its first SLA log entries (a JSON array, one row) as $27.
macro_rules! case_values {
    () => {
        "INSERT INTO cases (account_id, tenant_id, requester_id, queue, status, priority, \
         stage, issue_area, subject, description, steps_to_reproduce, scope, business_impact, contact, identifiers, \
         context, checklist, follow_up_of, created_at, updated_at, sla_due_at, sla_alert_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, $25, $26) RETURNING number"
    };
}

/// A new case's row in the SQLite search index, for the cases `WHERE` picks (the trigger
/// `case_search_message` rebuilds the row when a message is added).
macro_rules! case_index_sqlite {
    ($which:literal) => {
        concat!(
            "INSERT INTO case_search (rowid, acct, pub, internal) \
             SELECT number, 'a' || replace(account_id, '-', ''), subject || char(10) || description, '' \
             FROM cases WHERE ",
            $which
        )
    };
}

/// The statements of a new case on SQLite after its row: its first event (which takes the
/// number the case just got), and the case's first SLA log entries.
macro_rules! case_event_sqlite {
    () => {
        concat!(
            "; INSERT INTO case_events (case_number, actor_id, kind, public, data, at, mails_planned) \
             VALUES (last_insert_rowid(), $20, $21, $22, $23, $24, $28)",
            // The event's insert has replaced `last_insert_rowid()` by now (the jobs its trigger
            // writes do not).
            "; INSERT INTO sla_events (case_number, seq, events) \
             SELECT case_number, 1, $27 FROM case_events WHERE id = last_insert_rowid() AND $27 <> '[]'"
        )
    };
}

/// A case, its search row and its first event in one round trip to the database: SQLite
/// runs the statements of one query string in turn, PostgreSQL chains them in one statement
/// (its search index is kept by a trigger). Every statement a create sends is paid while the
/// single SQLite writer waits; the round trip saved here pays for the audit entry's.
pub(crate) const CASE_INSERT_SQLITE: &str = concat!(
    case_values!(),
    // Indexing the case sets `last_insert_rowid()` to its number again.
    "; ",
    case_index_sqlite!("number = last_insert_rowid()"),
    case_event_sqlite!()
);

/// [`CASE_INSERT_SQLITE`] without the search row: the writer thread indexes the cases of
/// a group commit together ([`CASES_INDEX_SQLITE`]). A statement that writes to FTS5 in an
/// open transaction first writes out what the index holds in memory (at the savepoint each
/// such statement opens), so indexing case by case made one index segment per case, each
/// merged again later: 6 % of the server's CPU when creating at concurrency 16.
pub(crate) const CASE_INSERT_SQLITE_UNINDEXED: &str = concat!(case_values!(), case_event_sqlite!());

/// The search rows of the cases whose numbers `$1` holds (a JSON array).
pub(crate) const CASES_INDEX_SQLITE: &str =
    case_index_sqlite!("number IN (SELECT value FROM json_each($1))");

/// The arguments of [`CASE_INSERT_SQLITE`] and [`CASE_INSERT_PG`], `$1` to `$28`;
/// `mails_planned` marks an event whose messages the create writes itself.
pub(crate) fn case_insert_args(
    c: &casedesk_core::service::NewCase,
    status: casedesk_core::cases::Status,
    event: &casedesk_core::cases::NewEvent,
    mails_planned: bool,
) -> Result<Vec<Arg>, DomainError> {
    let f = &c.fields;
    Ok(vec![
        Arg::Str(c.account_id.to_string()),
        Arg::Str(c.tenant_id.to_string()),
        Arg::Str(c.requester_id.to_string()),
        Arg::Str(c.queue.clone()),
        Arg::Str(status.key().to_owned()),
        Arg::Str(f.priority.key().to_owned()),
        Arg::Str(f.stage.key().to_owned()),
        Arg::Str(f.issue_area.clone()),
        Arg::Str(f.subject.clone()),
        Arg::Str(f.description.clone()),
        Arg::OptStr(f.steps_to_reproduce.clone()),
        Arg::Str(f.scope.key().to_owned()),
        Arg::OptStr(f.business_impact.clone()),
        Arg::Str(to_json(&f.contact)?),
        Arg::Str(to_json(&f.identifiers)?),
        Arg::Str(to_json(&f.context)?),
        Arg::Str(to_json(&f.checklist)?),
        Arg::OptI64(c.follow_up_of),
        Arg::I64(micros(c.created_at)),
        Arg::OptStr(event.actor_id.map(|u| u.to_string())),
        Arg::Str(event.kind.key().to_owned()),
        Arg::Bool(event.public),
        Arg::Str(to_json(&event.data)?),
        Arg::I64(micros(event.at)),
        Arg::OptI64(c.sla.due_at.map(micros)),
        Arg::OptI64(c.sla.alert_at.map(micros)),
        Arg::Str(to_json(&c.sla.events)?),
        Arg::Bool(mails_planned),
    ])
}

/// See [`CASE_INSERT_SQLITE`].
pub(crate) const CASE_INSERT_PG: &str = concat!(
    "WITH c AS (",
    case_values!(),
    "), e AS (INSERT INTO case_events (case_number, actor_id, kind, public, data, at, mails_planned) \
     SELECT number, $20, $21, $22, $23, $24, $28 FROM c), \
     s AS (INSERT INTO sla_events (case_number, seq, events) SELECT number, 1, $27 FROM c WHERE $27 <> '[]') \
     SELECT number FROM c"
);

/// A team contact of a case.
pub(crate) const CONTACT_INSERT: &str =
    "INSERT INTO case_contacts (case_number, user_id) VALUES ($1, $2)";

/// An idempotency key and the case it created.
pub(crate) const KEY_INSERT: &str = concat!(
    "INSERT INTO idempotency_keys (user_id, key, fingerprint, case_number, created_at) ",
    "VALUES ($1, $2, $3, $4, $5)",
);

/// The case an idempotency key created, and the fingerprint of the request that made it.
pub(crate) const KEY_REPLAY: &str =
    "SELECT fingerprint, case_number FROM idempotency_keys WHERE user_id = $1 AND key = $2";

/// One audit entry (a group of them goes in as JSON, see each backend's `store_impl!`).
pub(crate) const AUDIT_INSERT_ONE: &str = "INSERT INTO audit_log (seq, at, actor_id, actor, account_id, action, target, \
    summary, source_ip, request_id, customer_visible, prev_hash, hash) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

pub(crate) const EVENT_INSERT: &str = "INSERT INTO case_events (case_number, actor_id, kind, public, data, at) VALUES ($1, $2, $3, $4, $5, $6)";

/// The audit entry of a created case, with the number the store assigned.
pub(crate) fn case_created_audit(
    a: &casedesk_core::audit::AuditRecord,
    number: i64,
) -> casedesk_core::audit::AuditRecord {
    let mut a = a.clone();
    if a.target.is_empty() {
        a.target = format!("case:{number}");
    }
    a
}

/// The scanner's query: the cases whose next SLA timer is due, walked in the partial index
/// `cases_sla_alert` from its start (the benchmark prints its plan on both databases).
pub const SLA_ALERTS_DUE: &str = "SELECT number FROM cases WHERE sla_alert_at IS NOT NULL AND sla_alert_at <= $1 ORDER BY sla_alert_at LIMIT $2";

pub(crate) const USER_SELECT: &str = "SELECT id, account_id, email, role, case_admin, elevated, created_at, deactivated_at FROM users";

/// The bound arguments of a statement as it is built; each push answers its placeholder.
struct Args(Vec<Arg>);

impl Args {
    fn push(&mut self, a: Arg) -> String {
        self.0.push(a);
        format!("${}", self.0.len())
    }
}

/// What each branch of a listing repeats: the filters, the order and the page.
struct Shape<'a> {
    filters: &'a [String],
    by_due: bool,
    limit: &'a str,
    /// Open cases only: names the condition of the per-queue partial index.
    open_only: &'static str,
    /// The resume condition of the half with a running clock, by due time.
    due_half: &'a str,
    /// The resume condition of the half without one.
    waiting_half: &'a str,
}

impl Shape<'_> {
    fn and_filters(&self, first: String) -> String {
        let mut all = vec![first];
        all.extend(self.filters.iter().cloned());
        all.join(" AND ")
    }

    /// One branch: the numbers of a page of cases matching `cond` and the filters, newest
    /// first by `order`.
    fn branch(&self, from: &str, cond: String, order: &str, k: usize) -> String {
        let (limit, open_only, due_half, waiting_half) =
            (self.limit, self.open_only, self.due_half, self.waiting_half);
        if self.by_due {
            // Two halves, each walking an index in its own order: the cases with a running
            // clock by due time (a queue's through `cases_queue_due`), then the others newest
            // first. One `ORDER BY COALESCE(…)` would read and sort every match.
            format!(
                "SELECT number, due FROM (SELECT number, due FROM (SELECT c.number AS number, c.sla_due_at AS due FROM {from} \
                 WHERE {} AND c.sla_due_at IS NOT NULL{due_half} ORDER BY c.sla_due_at, c.number LIMIT {limit}) AS d{k} \
                 UNION ALL SELECT number, due FROM (SELECT c.number AS number, c.sla_due_at AS due FROM {from} \
                 WHERE {} AND c.sla_due_at IS NULL{open_only}{waiting_half} ORDER BY {order} LIMIT {limit}) AS n{k}) AS b{k}",
                self.and_filters(cond.clone()),
                self.and_filters(cond)
            )
        } else {
            format!(
                "SELECT number FROM (SELECT c.number AS number FROM {from} WHERE {} ORDER BY {order} LIMIT {limit}) AS b{k}",
                self.and_filters(cond)
            )
        }
    }
}

/// Builds the query and arguments of a case listing.
///
/// Filters refer to the `cases` row alone, so they can be repeated inside each branch.
/// Visibilities that are a union (My cases: requester or contact; an agent: each queue or
/// assignee) become one branch per index, each walking its index in case-number order and
/// stopping after a page, so a page costs about a page of index reads however many cases
/// exist. A single `OR` would make the planner collect every match and sort them.
pub(crate) fn list_sql(q: &casedesk_core::cases::CaseQuery, backend: &str) -> (String, Vec<Arg>) {
    list_sql_pass(q, backend, &Pass::Whole)
}

/// How many of a branch's newest cases the first pass of a search on PostgreSQL reads.
pub(crate) const SEARCH_WINDOW: i64 = 200;
/// A customer's or an account's cases, when fewer than this, are walked whole from the start
/// (the walk stops at a page): cheaper than gathering every match of the text, and a window
/// first would walk the newest of them twice when the words are rare.
pub(crate) const SEARCH_WALK_WHOLE: i64 = 3000;

/// The passes of a search on PostgreSQL. A branch that walks its index newest first and
/// checks each case's text is fast while matches are dense among its newest cases and slow
/// when they are not (a burst of new cases without the words): the planner assumes the
/// matches are spread evenly and cannot tell. So a search first walks only the newest
/// [`SEARCH_WINDOW`] cases of each branch, and only when that cannot prove its page is
/// complete does it start from the text index instead.
#[derive(Debug, Clone)]
pub(crate) enum Pass {
    /// The listing as written: every list, and a search on SQLite.
    Whole,
    /// One row: for each window n and each branch (window by window), the number of the
    /// branch's n-th newest case (the text aside), or NULL when it has fewer.
    Cuts(Vec<i64>),
    /// Each branch walks down to its cut only (none: all of it).
    Bounded(Vec<Option<i64>>),
    /// Driven by the text index: each match, newest first, checked for visibility and filters;
    /// with a bound, only the matches at or below that number (none above it is visible).
    TextDriven(Option<i64>),
}

/// Splits the row of a [`Pass::Cuts`] statement over `windows` windows: each window's cuts,
/// one a branch, and the newest case of all (its last column).
pub(crate) fn split_cuts(
    mut values: Vec<Option<i64>>,
    windows: usize,
) -> (Vec<Vec<Option<i64>>>, Option<i64>) {
    let top = values.pop().flatten();
    let per = (values.len() / windows.max(1)).max(1);
    (values.chunks(per).map(<[_]>::to_vec).collect(), top)
}

/// Builds the statement of one pass of a case listing.
pub(crate) fn list_sql_pass(
    q: &casedesk_core::cases::CaseQuery,
    backend: &str,
    pass: &Pass,
) -> (String, Vec<Arg>) {
    use casedesk_core::cases::Visibility;
    let mut args = Args(Vec::new());
    let (mut filters, fts_driven) = filters_of(q, backend, pass, &mut args);
    // The page size is written into the SQL (it is a validated number, not user text): a
    // bound LIMIT makes SQLite re-prepare the statement on every run.
    let limit = q.limit.to_string();
    let by_due = q.sort == casedesk_core::cases::CaseSort::SlaDue;
    // Open cases without a running clock (waiting on the customer, solved) have their own
    // partial index per queue; naming its condition lets the planner use it when the page
    // asks for open cases only.
    let open_only =
        if !q.statuses.is_empty() && !q.statuses.contains(&casedesk_core::cases::Status::Closed) {
            " AND c.status <> 'closed'"
        } else {
            ""
        };
    let (due_half, waiting_half, due_resume) = resume_after(q.after_due, backend, &mut args);
    // Newest first. PostgreSQL orders a branch by `-c.number`, which only the branch's own
    // index (`cases_queue`, `cases_assignee`, … on `(…, (-number))`) yields: asked for
    // `c.number DESC`, its planner may walk the primary key from the newest case instead,
    // filtering, which is cheap only while matches are spread evenly; after many new cases
    // in another queue it walks all of them.
    let newest = if backend == "sqlite" {
        "c.number DESC"
    } else {
        "-c.number"
    };
    if let Some(m) = fts_driven {
        let sql = search_page(q, &m, &filters, due_resume, by_due, &limit, &mut args);
        return (sql, args.0);
    }
    if let Pass::TextDriven(bound) = pass {
        return (text_driven(q, &filters, *bound, &limit, &mut args), args.0);
    }
    // Each branch: what it reads, its condition and its order.
    let specs: Option<Vec<(&str, String, &str)>> = match &q.visibility {
        Visibility::Mine { user_id } => {
            let u = args.push(Arg::Str(user_id.to_string()));
            Some(vec![
                ("cases c", format!("c.requester_id = {u}"), newest),
                (
                    "case_contacts cc JOIN cases c ON c.number = cc.case_number",
                    format!("cc.user_id = {u}"),
                    "cc.case_number DESC",
                ),
            ])
        }
        Visibility::Queues { queues, user_id } => {
            let u = args.push(Arg::Str(user_id.to_string()));
            let mut b = vec![("cases c", format!("c.assignee_id = {u}"), newest)];
            for queue in queues {
                let qa = args.push(Arg::Str(queue.clone()));
                b.push(("cases c", format!("c.queue = {qa}"), newest));
            }
            Some(b)
        }
        Visibility::Account { account_id } => {
            let a = args.push(Arg::Str(account_id.to_string()));
            filters.insert(0, format!("c.account_id = {a}"));
            None
        }
        Visibility::All => None,
    };
    // A listing without branches is one branch over all of `cases` for the passes.
    let one = || vec![("cases c", "TRUE".to_owned(), "c.number DESC")];
    match pass {
        Pass::Cuts(windows) => {
            let specs = specs.unwrap_or_else(one);
            let cuts: Vec<String> = windows
                .iter()
                .flat_map(|window| {
                    specs.iter().map(move |(from, cond, order)| (window, from, cond, order))
                })
                .enumerate()
                .map(|(k, (window, from, cond, order))| {
                    let mut all = vec![cond.clone()];
                    all.extend(filters.iter().cloned());
                    format!(
                        "(SELECT c.number FROM {from} WHERE {} ORDER BY {order} OFFSET {} LIMIT 1) AS cut{k}",
                        all.join(" AND "),
                        window - 1
                    )
                })
                .collect();
            // Last, the newest case of all, so a search can tell how far the newest cases
            // lie above every branch (see `search_in_passes`).
            return (
                format!(
                    "SELECT {}, (SELECT max(number) FROM cases) AS top",
                    cuts.join(", ")
                ),
                args.0,
            );
        }
        Pass::Bounded(cuts) => {
            let bs = specs
                .unwrap_or_else(one)
                .into_iter()
                .enumerate()
                .map(|(k, (from, cond, order))| {
                    let cut = cuts.get(k).copied().flatten();
                    walk_then_match(q, from, cond, order, cut, &filters, &limit, k, &mut args)
                })
                .collect();
            return (assemble(Some(bs), Vec::new(), None, false, &limit), args.0);
        }
        _ => {}
    }
    let shape = Shape {
        filters: &filters,
        by_due,
        limit: &limit,
        open_only,
        due_half: &due_half,
        waiting_half: &waiting_half,
    };
    let branches = specs.map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(k, (from, cond, order))| shape.branch(from, cond, order, k))
            .collect()
    });
    let sql = assemble(branches, filters, due_resume, by_due, &limit);
    (sql, args.0)
}

/// One branch of [`Pass::Bounded`]: the branch's cases newest first down to `cut` (all of
/// them without one), each then looked up in the text index on its own, until a page matches.
/// The inner `LIMIT` keeps the walk apart (so the planner cannot start from the text index,
/// gathering every match however few cases the branch has), and the lateral lookup stops at
/// the page instead of matching the whole walk at once.
#[allow(clippy::too_many_arguments)]
fn walk_then_match(
    q: &casedesk_core::cases::CaseQuery,
    from: &str,
    cond: String,
    order: &str,
    cut: Option<i64>,
    filters: &[String],
    limit: &str,
    k: usize,
    args: &mut Args,
) -> String {
    let (key, desc) = match order.strip_suffix(" DESC") {
        Some(key) => (key, " DESC"),
        None => (order, ""),
    };
    let mut conds = vec![cond];
    conds.extend(filters.iter().cloned());
    if let Some(c) = cut {
        let c = args.push(Arg::I64(c));
        // In the walked index's own terms, so the walk stops there.
        conds.push(if key == "-c.number" {
            format!("-c.number <= -{c}")
        } else {
            format!("{key} >= {c}")
        });
    }
    let col = if q.text_internal {
        "doc_all"
    } else {
        "doc_public"
    };
    let t = args.push(Arg::Str(q.text.clone().unwrap_or_default()));
    // Past the longest walk: the cut bounds the walk; this only fences it (and leaves room for
    // cases created since the cut was read).
    let fence = SEARCH_WALK_WHOLE * 2;
    // The query as a subquery, parsed once for the statement: written as a call beside the
    // column, a generic plan parses and stems the words again for every case it checks, which
    // was half of a walk's time.
    format!(
        "SELECT number FROM (SELECT w.number FROM (SELECT c.number AS number, {key} AS k FROM {from} WHERE {} \
         ORDER BY {order} LIMIT {fence}) AS w CROSS JOIN LATERAL (SELECT 1 FROM case_search s \
         WHERE s.case_number = w.number AND s.{col} @@ (SELECT websearch_to_tsquery('english', {t})) LIMIT 1) AS x \
         ORDER BY w.k{desc} LIMIT {limit}) AS b{k}",
        conds.join(" AND ")
    )
}

/// A search on PostgreSQL driven by the text index: every match (kept apart from the rest of
/// the plan, so the planner cannot turn it back into a walk of the newest cases), newest
/// first, each checked for visibility and the filters.
fn text_driven(
    q: &casedesk_core::cases::CaseQuery,
    filters: &[String],
    bound: Option<i64>,
    limit: &str,
    args: &mut Args,
) -> String {
    let col = if q.text_internal {
        "doc_all"
    } else {
        "doc_public"
    };
    let t = args.push(Arg::Str(q.text.clone().unwrap_or_default()));
    // The bound as a range of the primary key, which the planner intersects with the text
    // index's matches before it reads a row: the many matches among newer cases nobody here
    // may see (a burst in another queue) then cost neither a read nor a check.
    let below = match bound {
        Some(b) => format!(" AND case_number <= {}", args.push(Arg::I64(b))),
        None => String::new(),
    };
    let mut conds: Vec<String> = visible_to(q, args).into_iter().collect();
    conds.extend(filters.iter().cloned());
    if conds.is_empty() {
        conds.push("TRUE".into());
    }
    // The matches newest first, each case looked up on its own (a lateral subquery is not
    // merged into a join the planner could run as a hash of every visible case) until a page
    // is found.
    format!(
        "{SUMMARY_SELECT} WHERE c.number IN (WITH m AS MATERIALIZED (SELECT case_number FROM case_search \
         WHERE {col} @@ websearch_to_tsquery('english', {t}){below}) \
         SELECT n.case_number FROM (SELECT case_number FROM m ORDER BY case_number DESC) AS n \
         CROSS JOIN LATERAL (SELECT 1 FROM cases c WHERE c.number = n.case_number AND {} LIMIT 1) AS v \
         ORDER BY n.case_number DESC LIMIT {limit}) ORDER BY c.number DESC LIMIT {limit}",
        conds.join(" AND ")
    )
}

/// The conditions every branch repeats, and the FTS5 expression when a search on SQLite
/// drives the listing.
fn filters_of(
    q: &casedesk_core::cases::CaseQuery,
    backend: &str,
    pass: &Pass,
    args: &mut Args,
) -> (Vec<String>, Option<String>) {
    let mut filters: Vec<String> = Vec::new();
    if !q.statuses.is_empty() {
        let ps: Vec<String> = q
            .statuses
            .iter()
            .map(|s| args.push(Arg::Str(s.key().into())))
            .collect();
        filters.push(format!("c.status IN ({})", ps.join(", ")));
    }
    if !q.priorities.is_empty() {
        let ps: Vec<String> = q
            .priorities
            .iter()
            .map(|s| args.push(Arg::Str(s.key().into())))
            .collect();
        filters.push(format!("c.priority IN ({})", ps.join(", ")));
    }
    if let Some(v) = &q.issue_area {
        filters.push(format!("c.issue_area = {}", args.push(Arg::Str(v.clone()))));
    }
    if let Some(v) = q.stage {
        filters.push(format!("c.stage = {}", args.push(Arg::Str(v.key().into()))));
    }
    if let Some(a) = q.account {
        filters.push(format!(
            "c.account_id = {}",
            args.push(Arg::Str(a.to_string()))
        ));
    }
    if let Some(v) = &q.tenant {
        filters.push(format!(
            "c.tenant_id IN (SELECT id FROM tenants WHERE slug = {})",
            args.push(Arg::Str(v.clone()))
        ));
    }
    if let Some(v) = &q.queue {
        filters.push(format!("c.queue = {}", args.push(Arg::Str(v.clone()))));
    }
    match q.assignee {
        Some(Some(id)) => filters.push(format!(
            "c.assignee_id = {}",
            args.push(Arg::Str(id.to_string()))
        )),
        Some(None) => filters.push("c.assignee_id IS NULL".into()),
        None => {}
    }
    if let Some(v) = q.escalated {
        filters.push(format!("c.escalated = {}", args.push(Arg::Bool(v))));
    }
    // On SQLite a search walks the full-text index newest first and stops after a page,
    // checking each match against the caller's visibility. A customer's account is a token in
    // the index, so their search meets only their account's cases, however many others match.
    let mut fts_driven: Option<String> = None;
    if let Some(text) = &q.text {
        if backend == "sqlite" {
            match fts5_case_match(text, q.text_internal, q.text_account) {
                Some(m) => fts_driven = Some(args.push(Arg::Str(m))),
                // Only words too common to index (`the`, `of`): nothing matches, as on
                // PostgreSQL, rather than a list that ignores the search.
                None => filters.push("1 = 0".into()),
            }
        } else if matches!(pass, Pass::Whole) {
            let a = args.push(Arg::Str(text.clone()));
            let col = if q.text_internal {
                "doc_all"
            } else {
                "doc_public"
            };
            filters.push(format!(
                "c.number IN (SELECT case_number FROM case_search WHERE {col} @@ websearch_to_tsquery('english', {a}))"
            ));
        }
    }
    if let Some(b) = q.before {
        let b = args.push(Arg::I64(b));
        // Both forms, so the walk starts at the cursor on either kind of index.
        filters.push(if backend == "sqlite" {
            format!("c.number < {b}")
        } else {
            format!("c.number < {b} AND -c.number > -{b}")
        });
    }
    (filters, fts_driven)
}

/// By due time, a page resumes after the previous page's last case: in the half with a
/// running clock after its (due, number), or among the cases without one below its number.
/// Each half says its own part, so it still walks its index. Answers the two halves' parts
/// and the condition of the whole.
fn resume_after(
    after_due: Option<casedesk_core::cases::DueKey>,
    backend: &str,
    args: &mut Args,
) -> (String, String, Option<String>) {
    match after_due {
        None => (String::new(), String::new(), None),
        Some(casedesk_core::cases::DueKey {
            due: Some(d),
            number,
        }) => {
            let d = args.push(Arg::I64(micros(d)));
            let n = args.push(Arg::I64(number));
            (
                format!(" AND (c.sla_due_at > {d} OR (c.sla_due_at = {d} AND c.number > {n}))"),
                String::new(),
                Some(format!(
                    "(c.sla_due_at IS NULL OR c.sla_due_at > {d} OR (c.sla_due_at = {d} AND c.number > {n}))"
                )),
            )
        }
        Some(casedesk_core::cases::DueKey { due: None, number }) => {
            let n = args.push(Arg::I64(number));
            (
                " AND 1 = 0".to_owned(),
                if backend == "sqlite" {
                    format!(" AND c.number < {n}")
                } else {
                    format!(" AND -c.number > -{n}")
                },
                Some(format!("(c.sla_due_at IS NULL AND c.number < {n})")),
            )
        }
    }
}

/// The visibility of `q` as one condition on `c` (none when everything is visible), for a
/// search driven by the text index, which checks each match rather than walking branches.
fn visible_to(q: &casedesk_core::cases::CaseQuery, args: &mut Args) -> Option<String> {
    use casedesk_core::cases::Visibility;
    match &q.visibility {
        Visibility::Queues { queues, user_id } => {
            let u = args.push(Arg::Str(user_id.to_string()));
            let mut any = vec![format!("c.assignee_id = {u}")];
            if !queues.is_empty() {
                let qs: Vec<String> = queues
                    .iter()
                    .map(|x| args.push(Arg::Str(x.clone())))
                    .collect();
                any.push(format!("c.queue IN ({})", qs.join(", ")));
            }
            Some(format!("({})", any.join(" OR ")))
        }
        Visibility::Account { account_id } => {
            let a = args.push(Arg::Str(account_id.to_string()));
            Some(format!("c.account_id = {a}"))
        }
        Visibility::Mine { user_id } => {
            let u = args.push(Arg::Str(user_id.to_string()));
            Some(format!(
                "(c.requester_id = {u} OR EXISTS (SELECT 1 FROM case_contacts cc WHERE cc.case_number = c.number AND cc.user_id = {u}))"
            ))
        }
        Visibility::All => None,
    }
}

/// A page of a search on SQLite, driven by the full-text index (`m` its match argument).
fn search_page(
    q: &casedesk_core::cases::CaseQuery,
    m: &str,
    filters: &[String],
    due_resume: Option<String>,
    by_due: bool,
    limit: &str,
    args: &mut Args,
) -> String {
    let mut sql = String::from(SUMMARY_SELECT);
    let mut conds = vec![format!("case_search MATCH {m}")];
    conds.extend(visible_to(q, args));
    if let Some(b) = q.before {
        // Said of the index's rowid too, so the walk starts below the cursor.
        conds.push(format!("case_search.rowid < {}", args.push(Arg::I64(b))));
    }
    conds.extend(filters.iter().cloned());
    conds.extend(due_resume);
    let inner = format!(
        // CROSS JOIN keeps the index as the outer loop: walked from the other side, each
        // case would be probed with the whole expression.
        "SELECT case_search.rowid FROM case_search CROSS JOIN cases c ON c.number = case_search.rowid WHERE {}",
        conds.join(" AND ")
    );
    if by_due {
        sql.push_str(&format!(
            " WHERE c.number IN ({inner}) ORDER BY {} LIMIT {limit}",
            due_order("c.sla_due_at", "c.number")
        ));
    } else {
        sql.push_str(&format!(
            " WHERE c.number IN ({inner} ORDER BY case_search.rowid DESC LIMIT {limit}) ORDER BY c.number DESC LIMIT {limit}"
        ));
    }
    sql
}

/// The listing around its branches (or its filters, when one index serves the visibility).
fn assemble(
    branches: Option<Vec<String>>,
    mut filters: Vec<String>,
    due_resume: Option<String>,
    by_due: bool,
    limit: &str,
) -> String {
    let mut sql = String::from(SUMMARY_SELECT);
    // A case in two branches (assigned to me and in my queue; requester and contact) is
    // counted once: `UNION`, not `UNION ALL`, or the page would come back short.
    match branches {
        Some(b) if by_due => {
            sql.push_str(" WHERE c.number IN (SELECT number FROM (");
            sql.push_str(&b.join(" UNION "));
            sql.push_str(&format!(
                ") AS branches ORDER BY {} LIMIT {limit})",
                due_order("due", "number")
            ));
        }
        Some(b) => {
            // Only the newest page of the union is joined and decoded.
            sql.push_str(" WHERE c.number IN (SELECT number FROM (");
            sql.push_str(&b.join(" UNION "));
            sql.push_str(&format!(
                ") AS branches ORDER BY number DESC LIMIT {limit})"
            ));
        }
        None => {
            filters.extend(due_resume);
            if !filters.is_empty() {
                sql.push_str(" WHERE ");
                sql.push_str(&filters.join(" AND "));
            }
        }
    }
    if by_due {
        sql.push_str(&format!(
            " ORDER BY {} LIMIT {limit}",
            due_order("c.sla_due_at", "c.number")
        ));
    } else {
        sql.push_str(&format!(" ORDER BY c.number DESC LIMIT {limit}"));
    }
    sql
}

/// The FTS5 expression of a case search: every word must appear (each quoted, so no word
/// is read as an operator), in the public text or, for support, in the internal notes too;
/// on an account's cases only, when given.
pub(crate) fn fts5_case_match(
    text: &str,
    internal: bool,
    account: Option<uuid::Uuid>,
) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .filter(|w| !casedesk_core::kb::search::is_stopword(&w.to_lowercase()))
        .take(8)
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    if words.is_empty() {
        return None;
    }
    let cols = if internal { "{pub internal}" } else { "{pub}" };
    let body = format!("{cols} : ({})", words.join(" AND "));
    Some(match account {
        Some(a) => format!("acct : \"a{}\" AND {body}", a.simple()),
        None => body,
    })
}

/// The by-due-time order: running clocks by due time (older case first on a tie), then the
/// cases without one, newest first.
fn due_order(due: &str, number: &str) -> String {
    format!(
        "COALESCE({due}, 9223372036854775807), CASE WHEN {due} IS NULL THEN -{number} ELSE {number} END"
    )
}

/// The order of a listed page inside its JSON array (the same as the query's).
pub(crate) fn page_order(q: &casedesk_core::cases::CaseQuery) -> String {
    match q.sort {
        casedesk_core::cases::CaseSort::Newest => "p.number DESC".into(),
        casedesk_core::cases::CaseSort::SlaDue => due_order("p.sla_due_at", "p.number"),
    }
}

/// How casedesk waits on its database. An outage is answered within `acquire_timeout_ms`
/// with a 503; on PostgreSQL every session is bounded, so a node that stalls with a
/// transaction open holds its locks for a bounded time and the other nodes' waits end.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DbConfig {
    /// Longest wait for a connection (a new one included) before the request gets a 503.
    pub acquire_timeout_ms: u64,
    /// PostgreSQL: connections per node.
    pub max_connections: u32,
    /// PostgreSQL `lock_timeout`: longest wait for a row another session holds.
    pub lock_timeout_ms: u64,
    /// PostgreSQL `statement_timeout`: longest statement (migrations are not bounded).
    pub statement_timeout_ms: u64,
    /// PostgreSQL `idle_in_transaction_session_timeout`: a session that sits this long in
    /// an open transaction is ended by the server, and its locks with it.
    pub idle_in_transaction_timeout_ms: u64,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            acquire_timeout_ms: 1_000,
            max_connections: 16,
            lock_timeout_ms: 2_000,
            statement_timeout_ms: 60_000,
            idle_in_transaction_timeout_ms: 10_000,
        }
    }
}

impl DbConfig {
    /// Checks the settings; the message names the field.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(50..=60_000).contains(&self.acquire_timeout_ms) {
            return Err("database.acquire_timeout_ms: must be 50 to 60000".into());
        }
        if !(1..=1_000).contains(&self.max_connections) {
            return Err("database.max_connections: must be 1 to 1000".into());
        }
        for (name, v) in [
            ("lock_timeout_ms", self.lock_timeout_ms),
            ("statement_timeout_ms", self.statement_timeout_ms),
            (
                "idle_in_transaction_timeout_ms",
                self.idle_in_transaction_timeout_ms,
            ),
        ] {
            if !(100..=3_600_000).contains(&v) {
                return Err(format!("database.{name}: must be 100 to 3600000"));
            }
        }
        Ok(())
    }
}

/// What a backend's create batcher did with a create: answered it, or handed it back, with
/// its messages, to be written on its own.
pub(crate) enum Batched {
    Done(casedesk_core::cases::CreateOutcome),
    Not(Option<casedesk_core::mail::Compose>),
}

/// The same error again, for each waiter of a write that failed as a whole (the database
/// away stays "unavailable", so each waiter still answers 503).
pub(crate) fn again(e: &DomainError) -> DomainError {
    match e {
        DomainError::Unavailable(m) => DomainError::Unavailable(m.clone()),
        other => DomainError::Internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::Arg;

    #[test]
    fn cuts_split_window_by_window_with_the_newest_case_last() {
        let (cuts, top) = super::split_cuts(vec![Some(9), None, Some(7), Some(8), Some(20)], 2);
        assert_eq!(cuts, vec![vec![Some(9), None], vec![Some(7), Some(8)]]);
        assert_eq!(top, Some(20));
    }

    #[test]
    fn a_literal_keeps_its_quotes_inside_the_string() {
        assert_eq!(Arg::Str("it's".into()).pg_literal(), "'it''s'");
        // Standard-conforming strings: a backslash is itself, not an escape.
        assert_eq!(Arg::Str("a\\'b".into()).pg_literal(), "'a\\''b'");
        assert_eq!(Arg::OptStr(None).pg_literal(), "NULL");
        assert_eq!(Arg::OptI64(Some(-3)).pg_literal(), "-3");
        assert_eq!(Arg::Bool(false).pg_literal(), "false");
    }
}
