//! `mail.send`: one stored message handed to the transport, its result recorded on the case's
//! mail log with the end of the job; a failure the relay calls temporary is retried with
//! backoff, a permanent one ends the message.

use std::sync::Arc;

use async_trait::async_trait;
use casedesk_core::jobs::{Claim, Finish, FollowUp, backoff};
use casedesk_core::mail::{MailResult, MailState};
use casedesk_core::store::Store;
use casedesk_core::{DomainError, Result};
use casedesk_mail::Mailer;

use crate::config::JobsConfig;
use crate::runner::{Handled, Handler, after};

/// Sends one message.
pub struct MailSender {
    store: Arc<dyn Store>,
    mailer: Arc<Mailer>,
    cfg: JobsConfig,
}

impl MailSender {
    /// The handler.
    pub fn new(store: Arc<dyn Store>, mailer: Arc<Mailer>, cfg: JobsConfig) -> Self {
        Self { store, mailer, cfg }
    }
}

#[async_trait]
impl Handler for MailSender {
    async fn run(&self, claim: &Claim) -> Result<Handled> {
        let id = claim.job.payload["mail"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| DomainError::Internal("mail.send without a message id".into()))?;
        let Some((mail, message)) = self.store.get_mail(id).await? else {
            return Ok(Handled::Finish(Finish::Done, FollowUp::default()));
        };
        if mail.state == MailState::Sent {
            return Ok(Handled::Finish(Finish::Done, FollowUp::default()));
        }
        let outcome = self.mailer.send(id, &mail.recipient, &message).await;
        let last = claim.job.attempts >= claim.job.max_attempts;
        let (result, finish, label) = match outcome {
            Ok(detail) => (
                MailResult {
                    id,
                    state: MailState::Sent,
                    error: None,
                    detail: Some(detail),
                    at: casedesk_core::now(),
                },
                Finish::Done,
                "sent",
            ),
            Err(f) if f.permanent || last => (
                MailResult {
                    id,
                    state: MailState::Failed,
                    error: Some(f.error.clone()),
                    detail: None,
                    at: casedesk_core::now(),
                },
                Finish::Dead { error: f.error },
                "failed",
            ),
            Err(f) => {
                let delay = backoff(
                    claim.job.attempts,
                    self.cfg.retry_base_seconds,
                    self.cfg.retry_cap_seconds,
                    crate::random_unit(),
                );
                (
                    MailResult {
                        id,
                        state: MailState::Retrying,
                        error: Some(f.error.clone()),
                        detail: None,
                        at: casedesk_core::now(),
                    },
                    Finish::Retry {
                        at: after(delay),
                        error: f.error,
                    },
                    "retrying",
                )
            }
        };
        if label != "sent" {
            tracing::warn!(mail = %id, case = ?mail.case_number, result = label, error = ?result.error, "message not sent");
        }
        metrics::counter!("casedesk_mail_sent_total", "result" => label).increment(1);
        if !self.store.mail_result(claim, &result, &finish).await? {
            tracing::warn!(mail = %id, "lease lost before the result was recorded");
        }
        Ok(Handled::Recorded)
    }
}
