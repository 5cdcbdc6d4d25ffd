//! SLA jobs: the recurring scanner that records due warnings and breaches, the reapply pass
//! after a policy, calendar or settings change, and the notice of one warning or breach.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use casedesk_core::audit::{Actor, AuditRecord};
use casedesk_core::jobs::{Claim, Finish, NewJob};
use casedesk_core::service::{FollowUp, timers};
use casedesk_core::sla::settings::sla_settings;
use casedesk_core::sla::{self};
use casedesk_core::store::Store;
use casedesk_core::users::Role;
use casedesk_core::{DomainError, Result};
use serde_json::{Value, json};

use crate::registry::{Handled, Handler, after};

/// Cases the scanner handles per run; more due cases make it run again at once.
const SCAN_BATCH: u32 = 500;
/// Open cases the reapply pass recomputes per job; the rest follow in the next job.
const REAPPLY_BATCH: u32 = 200;

/// The next scan, `every` from now (one queued at a time, across nodes).
pub fn scan_job(every: Duration) -> NewJob {
    NewJob::new(sla::SCAN, json!({}))
        .at(after(every))
        .max_attempts(3)
        .unique(sla::SCAN)
}

/// `sla.scan`: records warnings and breaches due now, then schedules itself again.
pub struct Scanner {
    store: Arc<dyn Store>,
    every: Duration,
}

impl Scanner {
    /// A scanner running every `every`.
    pub fn new(store: Arc<dyn Store>, every: Duration) -> Self {
        Self { store, every }
    }
}

#[async_trait]
impl Handler for Scanner {
    fn standing(&self, at_start: bool) -> Option<NewJob> {
        Some(scan_job(if at_start { Duration::ZERO } else { self.every }))
    }

    async fn run(&self, _claim: &Claim) -> Result<Handled> {
        let (seen, failed) =
            timers::scan(self.store.as_ref(), casedesk_core::now(), SCAN_BATCH).await?;
        for (case, e) in &failed {
            tracing::warn!(case, error = %e, "could not record SLA alerts");
        }
        // A full batch means more are due: look again at once.
        let next = if seen as u32 >= SCAN_BATCH && failed.len() < seen {
            Duration::ZERO
        } else {
            self.every
        };
        Ok(Handled::Finish(
            Finish::Done,
            FollowUp {
                jobs: vec![scan_job(next)],
                audit: vec![],
                mails: vec![],
            },
        ))
    }
}

/// `sla.reapply`: recomputes a batch of open cases, then queues the next batch.
pub struct Reapply {
    store: Arc<dyn Store>,
}

impl Reapply {
    /// The handler.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Handler for Reapply {
    async fn run(&self, claim: &Claim) -> Result<Handled> {
        let after_n = claim.job.payload["after"].as_i64().unwrap_or(0);
        let last = timers::reapply(self.store.as_ref(), after_n, REAPPLY_BATCH).await?;
        let jobs = match last {
            Some(n) => vec![NewJob::new(sla::REAPPLY, json!({"after": n})).max_attempts(20)],
            None => vec![],
        };
        Ok(Handled::Finish(
            Finish::Done,
            FollowUp {
                jobs,
                audit: vec![],
                mails: vec![],
            },
        ))
    }
}

/// `sla.notify`: tells the assignee (or, unassigned, the agents of the case's queue) and the
/// duty managers of a warning or breach. Who was told is recorded in the audit trail with
/// the end of the job; delivery by email comes with the email channel.
pub struct Notify {
    store: Arc<dyn Store>,
    mailer: Arc<casedesk_mail::Mailer>,
}

impl Notify {
    /// The handler.
    pub fn new(store: Arc<dyn Store>, mailer: Arc<casedesk_mail::Mailer>) -> Self {
        Self { store, mailer }
    }
}

/// The alerts of a notice in words: `first response (due 2026-11-23T15:00:00Z)`.
fn alerts_in_words(alerts: &Value) -> String {
    let parts: Vec<String> = alerts
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    let target = x["target"].as_str().unwrap_or("a target").replace('_', " ");
                    match x["due_at"].as_str() {
                        Some(d) => format!("{target} (due {d})"),
                        None => target,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if parts.is_empty() {
        "An SLA target of this case".into()
    } else {
        let mut s = parts.join(", ");
        if let Some(first) = s.get(..1) {
            s = first.to_uppercase() + &s[1..];
        }
        s
    }
}

/// The people a notice of `case` goes to: (the people working it, the duty managers).
pub async fn recipients(
    store: &dyn Store,
    case: &casedesk_core::cases::Case,
) -> Result<(Vec<String>, Vec<String>)> {
    let staff = store.support_users().await?;
    let workers: Vec<String> = match &case.assignee {
        Some(a) => vec![a.clone()],
        None => staff
            .iter()
            .filter(|u| u.role == Role::Agent && u.queues.contains(&case.queue))
            .map(|u| u.email.clone())
            .collect(),
    };
    let settings = sla_settings(store).await?;
    let duty = if settings.duty_managers.is_empty() {
        staff
            .iter()
            .filter(|u| u.role == Role::Manager)
            .map(|u| u.email.clone())
            .collect()
    } else {
        settings.duty_managers
    };
    Ok((workers, duty))
}

#[async_trait]
impl Handler for Notify {
    async fn run(&self, claim: &Claim) -> Result<Handled> {
        let p = &claim.job.payload;
        let number = p["case"]
            .as_i64()
            .ok_or_else(|| DomainError::Internal("sla.notify without a case".into()))?;
        let Some(case) = self.store.get_case(number).await? else {
            return Ok(Handled::Finish(Finish::Done, FollowUp::default()));
        };
        let (workers, duty) = recipients(self.store.as_ref(), &case).await?;
        let kind = p["kind"].as_str().unwrap_or("sla_warning");
        let alert = if kind == "sla_breached" {
            "breach"
        } else {
            "warning"
        };
        metrics::counter!("casedesk_sla_alerts_total", "alert" => alert).increment(1);
        let audit = AuditRecord::new(
            Actor::system("job:sla.notify"),
            &format!("case.{kind}.notified"),
            format!("case:{number}"),
        )
        .account(Some(case.account_id))
        .summary(json!({
            "alerts": p.get("alerts").cloned().unwrap_or(Value::Null),
            "to": workers,
            "duty_managers": duty,
        }))
        .internal();
        let mail_kind = if alert == "breach" {
            casedesk_mail::outbound::MailKind::SlaBreached
        } else {
            casedesk_mail::outbound::MailKind::SlaWarning
        };
        let words = alerts_in_words(&p["alerts"]);
        let mut to: Vec<String> = workers.into_iter().chain(duty).collect();
        to.sort();
        to.dedup();
        let mails = if self.mailer.enabled() {
            self.mailer
                .case_mails(mail_kind, &case, None, None, Some(words), &to)
        } else {
            vec![]
        };
        Ok(Handled::Finish(
            Finish::Done,
            FollowUp {
                jobs: vec![],
                audit: vec![audit],
                mails,
            },
        ))
    }
}
