//! `mail.send`: one stored message handed to the transport, its result recorded on the case's
//! mail log with the end of the job. A failure the relay calls temporary (or a relay that
//! cannot be reached) is retried like a mail server retries: the pause doubling up to
//! `[mail.retry] max_interval_seconds`, for `give_up_after_hours` (five days by default)
//! after the message was queued; the next attempt shows in the mail log. A permanent one
//! ends the message at once.

use std::sync::Arc;

use async_trait::async_trait;
use casedesk_core::jobs::{Claim, Finish};
use casedesk_core::mail::{AttemptStart, MailResult, MailState};
use casedesk_core::service::FollowUp;
use casedesk_core::store::Store;
use casedesk_core::{DomainError, Result};
use casedesk_mail::Mailer;

use crate::registry::{Handled, Handler, after};

/// How long a result that needs no record before its attempt is tried again while the
/// database is away (a lost one only means the message is written to the outbox again).
const QUICK_RECORD: std::time::Duration = std::time::Duration::from_secs(5);
/// How long past its node's lease an open attempt is still given, for clocks that differ
/// between nodes.
const STALE_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);
/// Recording stops this long before the lease ends, so no other worker starts meanwhile.
const RECORD_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// `t` moved by `d`, later or `earlier`; `t` itself past the calendar's ends.
fn shifted(
    t: casedesk_core::Timestamp,
    d: std::time::Duration,
    earlier: bool,
) -> casedesk_core::Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .map(|d| if earlier { -d } else { d })
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(t)
}

/// Sends one message.
pub struct MailSender {
    store: Arc<dyn Store>,
    mailer: Arc<Mailer>,
}

impl MailSender {
    /// The handler.
    pub fn new(store: Arc<dyn Store>, mailer: Arc<Mailer>) -> Self {
        Self { store, mailer }
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
        // Sent, or failed by a delivery report while it waited: nothing more to do.
        if matches!(mail.state, MailState::Sent | MailState::Failed) {
            return Ok(Handled::Finish(Finish::Done, FollowUp::default()));
        }
        // Through a relay, the attempt may rightly outlast the lease (a relay may take ten
        // minutes to accept a message), and its result may wait for the database: the lease is
        // extended over both, in the transaction that records the attempt before anything is
        // handed over. So no other worker starts a second attempt while this one is open or
        // still writing what came of it; one that finds an attempt left open past that knows
        // its node is gone, calls it interrupted, and sends again.
        let retry = &self.mailer.config().retry;
        let deadline = self.mailer.attempt_deadline();
        let began = casedesk_core::now();
        let (attempt, leased_until) = if self.mailer.repeat_is_harmless() {
            // The outbox overwrites the message's own file: a repeat after a lost result sends
            // nothing twice, so the attempt is written with its result, in the group commit,
            // and creation pays no transaction of its own for it.
            (0, std::time::Instant::now() + QUICK_RECORD)
        } else {
            let hold = deadline + std::time::Duration::from_secs(retry.result_window_seconds);
            let leased_until = std::time::Instant::now() + hold;
            let start = self
                .store
                .begin_mail_attempt(
                    claim,
                    id,
                    began,
                    after(hold),
                    shifted(began, hold + STALE_MARGIN, true),
                )
                .await?;
            match start {
                AttemptStart::Begun(n) => (n, leased_until),
                AttemptStart::LeaseLost => {
                    tracing::warn!(mail = %id, "lease lost before sending; another worker has the message");
                    return Ok(Handled::Recorded);
                }
                AttemptStart::InFlight {
                    attempt,
                    started_at,
                } => {
                    let at = shifted(started_at, hold + STALE_MARGIN, false);
                    return Ok(Handled::Finish(
                        Finish::Retry {
                            at,
                            error: format!(
                                "attempt {attempt} has no result yet; its node may still be writing it"
                            ),
                        },
                        FollowUp::default(),
                    ));
                }
            }
        };
        let outcome =
            match tokio::time::timeout(deadline, self.mailer.send(id, &mail.recipient, &message))
                .await
            {
                Ok(o) => o,
                Err(_) => Err(casedesk_mail::Failure {
                    permanent: false,
                    error: format!("the attempt did not finish within {} s", deadline.as_secs()),
                }),
            };
        let now = casedesk_core::now();
        let age = now.duration_since(mail.created_at).unsigned_abs();
        let pause = retry.next_pause(claim.job.attempts, age, crate::registry::random_unit());
        let (result, finish, label) = match outcome {
            Ok(detail) => (
                MailResult {
                    id,
                    attempt,
                    started_at: began,
                    state: MailState::Sent,
                    error: None,
                    detail: Some(detail),
                    at: now,
                    next_attempt_at: None,
                },
                Finish::Done,
                "sent",
            ),
            Err(f)
                if f.permanent
                    || pause.is_none()
                    || claim.job.attempts >= claim.job.max_attempts =>
            {
                let error = if f.permanent {
                    f.error
                } else {
                    format!(
                        "{} (given up: still not accepted {} hours after it was queued)",
                        f.error, retry.give_up_after_hours
                    )
                };
                (
                    MailResult {
                        id,
                        attempt,
                        started_at: began,
                        state: MailState::Failed,
                        error: Some(error.clone()),
                        detail: None,
                        at: now,
                        next_attempt_at: None,
                    },
                    Finish::Dead { error },
                    "failed",
                )
            }
            Err(f) => {
                let delay = pause.unwrap_or_default();
                let at = after(delay);
                (
                    MailResult {
                        id,
                        attempt,
                        started_at: began,
                        state: MailState::Retrying,
                        error: Some(f.error.clone()),
                        detail: None,
                        at: now,
                        next_attempt_at: Some(at),
                    },
                    Finish::Retry { at, error: f.error },
                    "retrying",
                )
            }
        };
        if label != "sent" {
            tracing::warn!(mail = %id, case = ?mail.case_number, result = label, error = ?result.error, "message not sent");
        }
        metrics::counter!("casedesk_mail_sent_total", "result" => label).increment(1);
        // A message the relay took must not go out again because the database blinked while
        // its result was written: that write is tried again, in this process, for as long as
        // the lease keeps other workers off the message.
        let mut pause = std::time::Duration::from_millis(100);
        loop {
            match self.store.mail_result(claim, &result, &finish).await {
                Ok(true) => break,
                Ok(false) => {
                    tracing::warn!(mail = %id, "the job moved on before the result was written; the attempt's outcome is kept");
                    break;
                }
                Err(e) if std::time::Instant::now() + pause + RECORD_MARGIN < leased_until => {
                    tracing::warn!(mail = %id, result = label, error = %e, "the result waits for the database");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Handled::Recorded)
    }
}
