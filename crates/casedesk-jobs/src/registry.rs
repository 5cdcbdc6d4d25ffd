//! What the runner knows of handlers: one trait, and a registry from job kind to handler. The
//! runner never names a handler; each handler says what it does with a claimed job and which
//! job of its kind must always be queued.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use casedesk_core::jobs::{Claim, Finish, NewJob};
use casedesk_core::service::FollowUp;
use casedesk_core::{DomainError, Timestamp};

/// What a handler did with its job.
#[derive(Debug)]
pub enum Handled {
    /// The runner ends the job this way, writing the follow-ups with it.
    Finish(Finish, FollowUp),
    /// The handler already ended the job in its own transaction (with its results).
    Recorded,
}

/// Runs jobs of one kind.
#[async_trait]
pub trait Handler: Send + Sync {
    /// Does the work of a claimed job. An error is retried with backoff.
    async fn run(&self, claim: &Claim) -> Result<Handled, DomainError>;

    /// A job of this kind that must always be queued (a recurring job that reschedules
    /// itself, such as housekeeping): queued at start (`at_start`) and checked again from
    /// time to time, one at a time across nodes.
    fn standing(&self, _at_start: bool) -> Option<NewJob> {
        None
    }
}

/// The handlers of a runner, by job kind.
#[derive(Default)]
pub(crate) struct Registry {
    handlers: HashMap<String, Arc<dyn Handler>>,
}

impl Registry {
    /// Adds (or replaces) the handler of a kind.
    pub fn add(&mut self, kind: &str, h: Arc<dyn Handler>) {
        self.handlers.insert(kind.to_owned(), h);
    }

    /// The handler of a kind.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn Handler>> {
        self.handlers.get(kind)
    }

    /// The standing jobs of every handler.
    pub fn standing(&self, at_start: bool) -> Vec<NewJob> {
        let mut kinds: Vec<&String> = self.handlers.keys().collect();
        kinds.sort();
        kinds
            .into_iter()
            .filter_map(|k| self.handlers.get(k).and_then(|h| h.standing(at_start)))
            .collect()
    }
}

/// Now plus `d`.
pub(crate) fn after(d: Duration) -> Timestamp {
    let now = casedesk_core::now();
    now.checked_add(jiff::SignedDuration::try_from(d).unwrap_or_default())
        .unwrap_or(now)
}

/// A number in `[0, 1)` for jitter.
pub(crate) fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}
