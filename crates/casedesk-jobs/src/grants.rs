//! `grant.expire`: a support access grant ends at its expiry, with a timeline event (and so a
//! webhook event and an audit entry) on its case.

use std::sync::Arc;

use async_trait::async_trait;
use casedesk_core::jobs::{Claim, Finish, NewJob};
use casedesk_core::service::FollowUp;
use casedesk_core::store::Store;
use casedesk_core::{DomainError, Result};
use uuid::Uuid;

use crate::registry::{Handled, Handler};

/// Ends a grant whose time ran out (queued with the grant, for its expiry).
pub struct Expire {
    store: Arc<dyn Store>,
}

impl Expire {
    /// A handler over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Handler for Expire {
    async fn run(&self, claim: &Claim) -> Result<Handled> {
        let id = claim
            .job
            .payload
            .get("grant")
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| DomainError::Internal("job payload lacks grant".into()))?;
        let follow = match casedesk_core::service::grants::expire(self.store.as_ref(), id).await? {
            None => FollowUp::default(),
            // Claimed before its time (a clock ahead on another node): again at the expiry.
            Some(at) => FollowUp {
                jobs: vec![
                    NewJob::new(casedesk_core::grants::EXPIRE, claim.job.payload.clone()).at(at),
                ],
                ..FollowUp::default()
            },
        };
        Ok(Handled::Finish(Finish::Done, follow))
    }
}
