//! The job runner: claims due jobs in batches under a lease, runs each with the handler of
//! its kind (at most `workers` at once), records the outcome, and on shutdown lets running
//! jobs finish for a grace period before releasing the rest for another process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use casedesk_core::Timestamp;
use casedesk_core::jobs::{Claim, Finish, backoff};
use casedesk_core::service::FollowUp;
use casedesk_core::store::Store;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::config::JobsConfig;
use crate::registry::{Handled, Handler, Registry, after};

/// Claims and runs jobs until stopped.
pub struct Runner {
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    cfg: JobsConfig,
    node: String,
    handlers: Registry,
}

/// Stops a started runner.
pub struct RunnerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunnerHandle {
    /// Stops claiming, lets running jobs finish within the grace period, releases the rest.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

type Running = Arc<Mutex<HashMap<Uuid, Claim>>>;

impl Runner {
    /// A runner without handlers.
    pub fn new(store: Arc<dyn Store>, wake: Arc<Notify>, cfg: JobsConfig) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into());
        Self {
            store,
            wake,
            cfg,
            node: format!(
                "{host}:{}:{}",
                std::process::id(),
                &Uuid::new_v4().simple().to_string()[..8]
            ),
            handlers: Registry::default(),
        }
    }

    /// Adds the handler of a kind.
    pub fn handle(mut self, kind: &str, h: Arc<dyn Handler>) -> Self {
        self.handlers.add(kind, h);
        self
    }

    /// Starts the claim loop on the current runtime.
    pub fn start(self) -> RunnerHandle {
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(self.run(rx));
        RunnerHandle { stop, task }
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let sem = Arc::new(Semaphore::new(this.cfg.workers));
        let running: Running = Arc::default();
        let mut tasks = JoinSet::new();
        let poll = Duration::from_millis(this.cfg.poll_interval_ms);
        let lease = Duration::from_secs(this.cfg.lease_seconds);
        let mut last_sample = Instant::now() - Duration::from_secs(3600);
        let mut seen_gauges: Vec<(String, &'static str)> = Vec::new();
        this.ensure_standing(true).await;
        loop {
            if *stop.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            if last_sample.elapsed() > Duration::from_secs(5) {
                last_sample = Instant::now();
                match this.store.release_expired(casedesk_core::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(
                        jobs = n,
                        "took back jobs whose worker stopped before finishing"
                    ),
                    Err(e) => tracing::warn!(error = %e, "could not take back expired jobs"),
                }
                this.sample(&mut seen_gauges).await;
            }
            let free = sem.available_permits();
            let mut claimed = 0;
            if free > 0 {
                let limit = u32::try_from(free.min(64)).unwrap_or(64);
                match this
                    .store
                    .claim_jobs(&this.node, casedesk_core::now(), lease, limit)
                    .await
                {
                    Ok(claims) => {
                        claimed = claims.len();
                        for c in claims {
                            let Ok(permit) = sem.clone().acquire_owned().await else {
                                break;
                            };
                            running
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .insert(c.job.id, c.clone());
                            let (me, running) = (this.clone(), running.clone());
                            tasks.spawn(async move {
                                me.run_one(&c).await;
                                running
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .remove(&c.job.id);
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming jobs failed; retrying");
                        tokio::time::sleep(poll).await;
                    }
                }
            }
            // A full batch suggests more are due: claim again at once.
            if claimed > 0 && claimed == free.min(64) {
                continue;
            }
            if free == 0 || claimed > 0 {
                // Wait for a worker to free up (or new work).
                tokio::select! {
                    _ = tasks.join_next(), if !tasks.is_empty() => {}
                    () = this.wake.notified() => {}
                    () = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            tokio::select! {
                () = this.wake.notified() => {
                    // Let the burst that woke us gather, then claim it in one go.
                    tokio::time::sleep(Duration::from_millis(this.cfg.claim_delay_ms)).await;
                }
                () = tokio::time::sleep(poll) => {}
                _ = stop.changed() => {}
            }
        }
        // Graceful shutdown: running jobs get the grace period, the rest go back to the queue.
        let grace = Duration::from_secs(this.cfg.shutdown_grace_seconds);
        let _ =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let left: Vec<Claim> = running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, c)| c)
            .collect();
        for c in left {
            match this
                .store
                .finish_job(&c, &Finish::Release, &FollowUp::default())
                .await
            {
                Ok(_) => tracing::info!(job = %c.job.id, kind = c.job.kind, "released at shutdown"),
                Err(e) => {
                    tracing::warn!(job = %c.job.id, error = %e, "could not release at shutdown; its lease will expire")
                }
            }
        }
    }

    /// Makes sure each handler's standing job (housekeeping, the SLA scanner) is queued;
    /// idempotent across nodes, and it brings back one that was lost.
    async fn ensure_standing(&self, at_start: bool) {
        for job in self.handlers.standing(at_start) {
            if let Err(e) = self.store.enqueue_job(&job).await {
                tracing::warn!(error = %e, kind = job.kind, "could not queue a standing job");
            }
        }
    }

    /// Queue depth and the age of the oldest due job, per kind, for `/metrics`.
    async fn sample(&self, seen: &mut Vec<(String, &'static str)>) {
        let Ok(counts) = self.store.job_counts(casedesk_core::now()).await else {
            return;
        };
        for (kind, state) in seen.iter() {
            metrics::gauge!("casedesk_jobs", "kind" => kind.clone(), "state" => *state).set(0.0);
            metrics::gauge!("casedesk_jobs_oldest_due_seconds", "kind" => kind.clone()).set(0.0);
        }
        for c in counts {
            let state = c.state.key();
            metrics::gauge!("casedesk_jobs", "kind" => c.kind.clone(), "state" => state)
                .set(c.count as f64);
            if let Some(age) = c.oldest_due_seconds {
                metrics::gauge!("casedesk_jobs_oldest_due_seconds", "kind" => c.kind.clone())
                    .set(age);
            }
            if !seen.iter().any(|(k, s)| *k == c.kind && *s == state) {
                seen.push((c.kind, state));
            }
        }
        // Cheap when one is queued already; brings housekeeping back if it was lost.
        self.ensure_standing(false).await;
    }

    async fn run_one(&self, c: &Claim) {
        let kind = c.job.kind.clone();
        let started = Instant::now();
        let waited = seconds_since(c.job.run_at);
        metrics::histogram!("casedesk_jobs_latency_seconds", "kind" => kind.clone()).record(waited);
        metrics::counter!("casedesk_jobs_attempts_total", "kind" => kind.clone()).increment(1);
        let outcome = if c.job.attempts > c.job.max_attempts {
            // Claimed again after leases ran out more often than it may be tried.
            Ok(Handled::Finish(
                Finish::Dead {
                    error: "its worker stopped before finishing it on every attempt".into(),
                },
                FollowUp::default(),
            ))
        } else {
            match self.handlers.get(&kind) {
                Some(h) => h.run(c).await,
                None => Ok(Handled::Finish(
                    Finish::Dead {
                        error: format!("no handler for jobs of kind {kind}"),
                    },
                    FollowUp::default(),
                )),
            }
        };
        let (finish, follow) = match outcome {
            Ok(Handled::Recorded) => {
                self.observe(&kind, started, None, false);
                return;
            }
            Ok(Handled::Finish(f, follow)) => (f, follow),
            Err(e) => {
                let delay = backoff(
                    c.job.attempts,
                    self.cfg.retry_base_seconds,
                    self.cfg.retry_cap_seconds,
                    crate::registry::random_unit(),
                );
                (
                    Finish::Retry {
                        at: after(delay),
                        error: e.to_string(),
                    },
                    FollowUp::default(),
                )
            }
        };
        let last = c.job.attempts >= c.job.max_attempts;
        self.observe(&kind, started, Some(&finish), last);
        if matches!(finish, Finish::Retry { .. } | Finish::Dead { .. }) {
            let dead = last || matches!(finish, Finish::Dead { .. });
            tracing::warn!(job = %c.job.id, kind, attempt = c.job.attempts, dead, "job failed");
        }
        match self.store.finish_job(c, &finish, &follow).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job = %c.job.id, kind, "lease lost before the job finished; another worker has it")
            }
            Err(e) => {
                tracing::error!(job = %c.job.id, kind, error = %e, "could not record the end of a job; it will run again when its lease expires")
            }
        }
    }

    fn observe(&self, kind: &str, started: Instant, finish: Option<&Finish>, last: bool) {
        metrics::histogram!("casedesk_jobs_duration_seconds", "kind" => kind.to_owned())
            .record(started.elapsed().as_secs_f64());
        match finish {
            Some(Finish::Retry { .. }) if !last => {
                metrics::counter!("casedesk_jobs_failures_total", "kind" => kind.to_owned())
                    .increment(1)
            }
            Some(Finish::Retry { .. } | Finish::Dead { .. }) => {
                metrics::counter!("casedesk_jobs_failures_total", "kind" => kind.to_owned())
                    .increment(1);
                metrics::counter!("casedesk_jobs_dead_total", "kind" => kind.to_owned())
                    .increment(1);
            }
            _ => {}
        }
    }
}

/// Seconds from `t` to now (0 if in the future).
fn seconds_since(t: Timestamp) -> f64 {
    let d = casedesk_core::now().as_microsecond() - t.as_microsecond();
    d.max(0) as f64 / 1e6
}
