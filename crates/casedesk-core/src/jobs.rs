//! Background work kept in the database: a job is written in the same transaction as the
//! change that causes it, claimed by one worker at a time under a lease, retried with
//! backoff, and dead-lettered with its last error after its last attempt.

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::audit::AuditRecord;
use crate::permissions::require_scope;
use crate::users::{Principal, Role, Scope};
use crate::{DomainError, Result, Timestamp};

/// Kind of the job that hands a case event to webhooks (and later email and SLA timers).
pub const CASE_EVENT: &str = "case.event";
/// Kind of one webhook delivery attempt.
pub const WEBHOOK_DELIVERY: &str = "webhook.deliver";
/// Kind of the recurring housekeeping job (audit retention, old jobs, expired sessions).
pub const MAINTENANCE: &str = "maintenance";

/// Attempts before a job is dead-lettered, unless its kind says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its time and a worker.
    Queued,
    /// Claimed by a worker under a lease.
    Running,
    /// Finished (a successful job is then deleted; its effects are the record).
    Done,
    /// Gave up after its last attempt (or could not be run); keeps the last error.
    Dead,
    /// Cancelled by a manager.
    Cancelled,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Dead,
        JobState::Cancelled,
    ];

    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses a stable key.
    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|j| j.key() == s)
    }
}

/// A job to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Identifier.
    pub id: Uuid,
    /// What to do (a handler name).
    pub kind: String,
    /// Its input.
    pub payload: Value,
    /// Not before.
    pub run_at: Timestamp,
    /// Attempts before the dead letter.
    pub max_attempts: u32,
    /// At most one queued or running job holds the same key (recurring jobs).
    pub unique_key: Option<String>,
}

impl NewJob {
    /// A job of `kind` to run now.
    pub fn new(kind: &str, payload: Value) -> Self {
        Self {
            id: Uuid::now_v7(),
            kind: kind.into(),
            payload,
            run_at: crate::now(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            unique_key: None,
        }
    }

    /// Runs at `at` instead (timers).
    pub fn at(mut self, at: Timestamp) -> Self {
        self.run_at = at;
        self
    }

    /// Sets the attempt limit.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Makes it unique among queued and running jobs.
    pub fn unique(mut self, key: &str) -> Self {
        self.unique_key = Some(key.into());
        self
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Identifier.
    pub id: Uuid,
    /// Handler name.
    pub kind: String,
    /// Input.
    pub payload: Value,
    /// State.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Not before (the next attempt, while queued).
    pub run_at: Timestamp,
    /// Last failure.
    pub last_error: Option<String>,
    /// The node holding the lease, while running.
    pub locked_by: Option<String>,
    /// Lease end, while running.
    pub lease_until: Option<Timestamp>,
    /// Written.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A job claimed by a worker; `token` fences its completion, so a worker whose lease ran
/// out cannot finish a job another worker has taken over.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The job, as claimed (attempts already counts this one).
    pub job: Job,
    /// The lease token.
    pub token: String,
}

/// How a claimed job ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    /// It did its work.
    Done,
    /// It failed; try again at `at`, or dead-letter if it was the last attempt.
    Retry { at: Timestamp, error: String },
    /// It failed in a way retrying cannot fix.
    Dead { error: String },
    /// It was not run (shutdown): queue it again without counting the attempt.
    Release,
}

/// A page of the job list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobQuery {
    /// Only this state.
    pub state: Option<JobState>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only jobs created before this id (newest first; UUIDv7 ids sort by time).
    pub before: Option<Uuid>,
    /// Page size.
    pub limit: u32,
}

/// Queued, running and dead jobs by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobCount {
    /// Kind.
    pub kind: String,
    /// State.
    pub state: JobState,
    /// How many.
    pub count: u64,
    /// Age of the oldest queued job that is due, in seconds (queued only).
    pub oldest_due_seconds: Option<f64>,
}

/// Delay before attempt `attempt + 1` after `attempt` failures: `base · 2^(attempt-1)`,
/// capped, then "equal jitter" — half fixed, half random — so retries of many jobs that
/// failed together spread out instead of arriving together. `random` is in `[0, 1)`.
pub fn backoff(attempt: u32, base_secs: f64, cap_secs: f64, random: f64) -> std::time::Duration {
    let exp = base_secs * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
    let d = exp.min(cap_secs).max(0.0);
    let jittered = d / 2.0 + d / 2.0 * random.clamp(0.0, 1.0);
    std::time::Duration::from_secs_f64(jittered)
}

/// Delay from a fixed schedule (webhooks): entry `attempt - 1`, the last entry repeating,
/// with ±20 % jitter.
pub fn scheduled_backoff(schedule: &[u64], attempt: u32, random: f64) -> std::time::Duration {
    let i = (attempt.saturating_sub(1) as usize).min(schedule.len().saturating_sub(1));
    let d = schedule.get(i).copied().unwrap_or(60) as f64;
    std::time::Duration::from_secs_f64(d * (0.8 + 0.4 * random.clamp(0.0, 1.0)))
}

fn require_manager(p: &Principal) -> Result<()> {
    if p.user.role != Role::Manager {
        return Err(DomainError::Forbidden(
            "Only support managers can see and manage background jobs.".into(),
        ));
    }
    require_scope(p, Scope::Admin)
}

/// A page of jobs, newest first (managers).
pub async fn list(store: &dyn JobStore, p: &Principal, q: &JobQuery) -> Result<Vec<Job>> {
    require_manager(p)?;
    store.list_jobs(q).await
}

/// One job (managers).
pub async fn get(store: &dyn JobStore, p: &Principal, id: Uuid) -> Result<Job> {
    require_manager(p)?;
    store
        .get_job(id)
        .await?
        .ok_or(DomainError::NotFound { entity: "job" })
}

/// Queues a dead or cancelled job again with fresh attempts (managers).
pub async fn retry(store: &dyn JobStore, p: &Principal, id: Uuid) -> Result<Job> {
    require_manager(p)?;
    let audit = AuditRecord::by(p, "job.retry", format!("job:{id}")).internal();
    retry_as(store, id, &audit).await
}

/// Cancels a queued or dead job (managers). A running job finishes its attempt first.
pub async fn cancel(store: &dyn JobStore, p: &Principal, id: Uuid) -> Result<Job> {
    require_manager(p)?;
    let audit = AuditRecord::by(p, "job.cancel", format!("job:{id}")).internal();
    cancel_as(store, id, &audit).await
}

/// [`retry`] without the permission check (the command line).
pub async fn retry_as(store: &dyn JobStore, id: Uuid, audit: &AuditRecord) -> Result<Job> {
    let job = store
        .get_job(id)
        .await?
        .ok_or(DomainError::NotFound { entity: "job" })?;
    if !matches!(job.state, JobState::Dead | JobState::Cancelled) {
        return Err(DomainError::Conflict(format!(
            "job {id} is {}; only dead or cancelled jobs can be retried",
            job.state.key()
        )));
    }
    store
        .set_job_state(id, job.state, JobState::Queued, audit)
        .await?
        .ok_or_else(|| DomainError::Conflict(format!("job {id} changed meanwhile; try again")))
}

/// [`cancel`] without the permission check (the command line).
pub async fn cancel_as(store: &dyn JobStore, id: Uuid, audit: &AuditRecord) -> Result<Job> {
    let job = store
        .get_job(id)
        .await?
        .ok_or(DomainError::NotFound { entity: "job" })?;
    if !matches!(job.state, JobState::Queued | JobState::Dead) {
        return Err(DomainError::Conflict(format!(
            "job {id} is {}; only queued or dead jobs can be cancelled",
            job.state.key()
        )));
    }
    store
        .set_job_state(id, job.state, JobState::Cancelled, audit)
        .await?
        .ok_or_else(|| DomainError::Conflict(format!("job {id} changed meanwhile; try again")))
}

/// The job table: the outbox every feature writes its later work into.
#[async_trait::async_trait]
pub trait JobStore: Send + Sync {
    /// Writes a job on its own.
    async fn enqueue_job(&self, job: &NewJob) -> Result<()>;

    /// Queues again the jobs whose lease ran out (their worker died); how many.
    async fn release_expired(&self, now: crate::Timestamp) -> Result<u64>;

    /// Extends a running job's lease to `until` (a step that may rightly take longer than a
    /// lease, such as waiting for a relay to accept a message); `false` when the lease was lost.
    async fn extend_lease(&self, claim: &Claim, until: crate::Timestamp) -> Result<bool>;

    /// Claims up to `limit` due jobs for `node`.
    async fn claim_jobs(
        &self,
        node: &str,
        now: crate::Timestamp,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<Claim>>;

    /// A page of jobs, newest first.
    async fn list_jobs(&self, q: &JobQuery) -> Result<Vec<Job>>;

    /// One job.
    async fn get_job(&self, id: Uuid) -> Result<Option<Job>>;

    /// Moves a job from `from` to `to` (retry resets its attempts); `None` if it had moved.
    async fn set_job_state(
        &self,
        id: Uuid,
        from: JobState,
        to: JobState,
        audit: &AuditRecord,
    ) -> Result<Option<Job>>;

    /// Queued, running and dead jobs by kind.
    async fn job_counts(&self, now: crate::Timestamp) -> Result<Vec<JobCount>>;

    /// Deletes finished and cancelled jobs older than `before`; expired sessions and logins.
    async fn prune_jobs(&self, before: crate::Timestamp, now: crate::Timestamp) -> Result<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered_within_half() {
        let d = |a, r| backoff(a, 2.0, 60.0, r).as_secs_f64();
        assert_eq!(d(1, 1.0), 2.0);
        assert_eq!(d(1, 0.0), 1.0);
        assert_eq!(d(3, 1.0), 8.0);
        assert_eq!(d(30, 1.0), 60.0);
        assert!((30.0..=60.0).contains(&d(30, 0.5)));
    }

    #[test]
    fn scheduled_backoff_follows_the_schedule_and_repeats_its_last_step() {
        let s = [5, 300, 1800];
        assert_eq!(scheduled_backoff(&s, 1, 0.5).as_secs(), 5);
        assert_eq!(scheduled_backoff(&s, 2, 0.5).as_secs(), 300);
        assert_eq!(scheduled_backoff(&s, 9, 0.5).as_secs(), 1800);
        assert!(scheduled_backoff(&s, 2, 0.0).as_secs() == 240);
    }
}
