//! The reads every created case causes on SQLite, through rusqlite connections of their own
//! on tokio's blocking threads. Through sqlx, a read is a pool checkout and a hand-off to
//! the connection's worker thread and back for each statement and row; measured at c16,
//! reading each new case's acknowledgement to send it (and the runner's "is anything due"
//! check) that way cost more server CPU than sending it (bench/README.md). Here a read is
//! one hand-off to a blocking thread, on a connection kept for the next one.

use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use casedesk_core::DomainError;
use casedesk_core::mail::{MailRecord, MailState};
use rusqlite::{Connection, OpenFlags};
use uuid::Uuid;

use crate::common::{MAIL_OUT_COLS, ts, uuid};
use crate::sqlite_writer::db;

/// Connections kept between reads: as many as the job runner's workers read at once under
/// load (opening one parses the whole schema, which costs more than many reads), each with a
/// small page cache.
const IDLE_MAX: usize = 32;

/// Read-only connections to the database file, opened when needed and kept for reuse.
#[derive(Clone)]
pub(crate) struct Reader {
    path: Arc<Path>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Reader {
    /// A reader of `path` (already migrated); it opens no connection until the first read.
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: Arc::from(path),
            idle: Arc::default(),
        }
    }

    /// Runs `f` on a connection of its own, on a blocking thread.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, DomainError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DomainError> + Send + 'static,
    {
        let (path, idle) = (self.path.clone(), self.idle.clone());
        tokio::task::spawn_blocking(move || {
            let kept = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let conn = match kept {
                Some(c) => c,
                None => open(&path)?,
            };
            let out = f(&conn);
            // A connection whose read failed may be the cause (a file replaced under it):
            // it is dropped rather than kept.
            if out.is_ok() {
                let mut idle = idle.lock().unwrap_or_else(PoisonError::into_inner);
                if idle.len() < IDLE_MAX {
                    idle.push(conn);
                }
            }
            out
        })
        .await
        .map_err(|_| DomainError::Internal("a database read stopped".into()))?
    }
}

fn open(path: &Path) -> Result<Connection, DomainError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(db)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
    conn.pragma_update(None, "cache_size", "-512").map_err(db)?;
    conn.set_prepared_statement_cache_capacity(8);
    Ok(conn)
}

/// The message and its text, its columns in the order [`MAIL_OUT_COLS`] names them.
static MAIL_READ: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {MAIL_OUT_COLS}, message FROM mail_out WHERE id = ?1"));

/// A stored message and its text, as `get_mail` answers it.
pub(crate) fn mail(
    conn: &Connection,
    id: Uuid,
) -> Result<Option<(MailRecord, String)>, DomainError> {
    let mut st = conn.prepare_cached(&MAIL_READ).map_err(db)?;
    let mut rows = st.query([id.to_string()]).map_err(db)?;
    let Some(r) = rows.next().map_err(db)? else {
        return Ok(None);
    };
    let state: String = r.get(6).map_err(db)?;
    let record = MailRecord {
        id: uuid(&r.get::<_, String>(0).map_err(db)?)?,
        case_number: r.get(1).map_err(db)?,
        kind: r.get(2).map_err(db)?,
        recipient: r.get(3).map_err(db)?,
        subject: r.get(4).map_err(db)?,
        message_id: r.get(5).map_err(db)?,
        state: MailState::parse(&state)
            .ok_or_else(|| DomainError::Internal(format!("bad mail state {state}")))?,
        attempts: u32::try_from(r.get::<_, i64>(7).map_err(db)?).unwrap_or(0),
        last_error: r.get(8).map_err(db)?,
        detail: r.get(9).map_err(db)?,
        created_at: ts(r.get(10).map_err(db)?),
        sent_at: r.get::<_, Option<i64>>(11).map_err(db)?.map(ts),
        next_attempt_at: r.get::<_, Option<i64>>(12).map_err(db)?.map(ts),
        attempt_log: Vec::new(),
    };
    let message: String = r.get(13).map_err(db)?;
    Ok(Some((record, message)))
}

/// Whether a queued job is due at `now` (microseconds).
pub(crate) fn job_due(conn: &Connection, now: i64) -> Result<bool, DomainError> {
    let mut st = conn
        .prepare_cached("SELECT 1 FROM jobs WHERE state = 'queued' AND run_at <= ?1 LIMIT 1")
        .map_err(db)?;
    st.exists([now]).map_err(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(dir: &tempfile::TempDir) -> std::path::PathBuf {
        let path = dir.path().join("t.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (a INTEGER);")
            .unwrap();
        path
    }

    /// A read sees what another connection committed just before, and reads one after
    /// another reuse one connection instead of opening (and parsing the schema) again.
    #[tokio::test]
    async fn reads_see_the_last_commit_on_a_kept_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = table(&dir);
        let writer = Connection::open(&path).unwrap();
        let r = Reader::new(&path);
        for a in 1..=20_i64 {
            writer
                .execute("INSERT INTO t (a) VALUES (?1)", [a])
                .unwrap();
            let seen = r
                .read(|c| {
                    c.query_row("SELECT MAX(a) FROM t", (), |row| row.get::<_, i64>(0))
                        .map_err(db)
                })
                .await
                .unwrap();
            assert_eq!(seen, a);
        }
        assert_eq!(r.idle.lock().unwrap().len(), 1);
    }

    /// A reader never writes, and a failed read gives an error (its connection not kept).
    #[tokio::test]
    async fn a_reader_cannot_write_and_a_failed_read_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let r = Reader::new(&table(&dir));
        let wrote = r
            .read(|c| c.execute("INSERT INTO t (a) VALUES (1)", ()).map_err(db))
            .await;
        assert!(wrote.is_err());
        assert_eq!(r.idle.lock().unwrap().len(), 0);
        let gone = Reader::new(&dir.path().join("missing.db"));
        assert!(gone.read(|_| Ok(())).await.is_err());
    }
}
