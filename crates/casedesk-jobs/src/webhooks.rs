//! Handlers: a case event fanned out to the endpoints that may receive it, one signed
//! delivery attempt, and housekeeping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use casedesk_core::audit::{Actor, AuditRecord};
use casedesk_core::jobs::{Claim, Finish, NewJob};
use casedesk_core::service::FollowUp;
use casedesk_core::store::Store;
use casedesk_core::webhooks::{
    self, Attempt, AttemptRecord, DeliveryState, Endpoint, EndpointChange, NewDelivery, SecretBox,
};
use casedesk_core::{DomainError, Result};

use crate::config::{JobsConfig, WebhookConfig};
use crate::registry::{Handled, Handler, after};
use crate::signing::signature_header;

fn field<'a>(c: &'a Claim, k: &str) -> Result<&'a serde_json::Value> {
    c.job
        .payload
        .get(k)
        .ok_or_else(|| DomainError::Internal(format!("job payload lacks {k}")))
}

/// `case.event`: writes one delivery per (endpoint, event type) that may receive the event,
/// and the messages the event sends by email, in the transaction that ends the job, so an
/// event is fanned out exactly once.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    max_attempts: u32,
    mailer: Option<Arc<casedesk_mail::Mailer>>,
    // Every enabled endpoint, reused for events written before the list was read (so no
    // endpoint that existed when an event happened is missed) and for at most a second. A
    // burst of events then costs one read, and events that go nowhere cost none.
    endpoints: tokio::sync::Mutex<Option<EndpointList>>,
}

/// The enabled endpoints as read: when (for the age limit), the database time of the read
/// (only events written before it may use the list), and the list.
type EndpointList = (Instant, casedesk_core::Timestamp, Arc<Vec<Endpoint>>);

/// How long the dispatcher reuses the list of enabled endpoints.
const ENDPOINTS_TTL: Duration = Duration::from_secs(1);

impl Dispatcher {
    /// A dispatcher whose deliveries get `max_attempts` attempts, and which writes the
    /// messages of each event when `mailer` sends mail.
    pub fn new(
        store: Arc<dyn Store>,
        max_attempts: u32,
        mailer: Option<Arc<casedesk_mail::Mailer>>,
    ) -> Self {
        Self {
            store,
            max_attempts,
            mailer: mailer.filter(|m| m.enabled()),
            endpoints: tokio::sync::Mutex::new(None),
        }
    }

    async fn enabled(&self, written: casedesk_core::Timestamp) -> Result<Arc<Vec<Endpoint>>> {
        let mut cached = self.endpoints.lock().await;
        if let Some((at, read_at, list)) = cached.as_ref()
            && at.elapsed() < ENDPOINTS_TTL
            && *read_at > written
        {
            return Ok(list.clone());
        }
        let read_at = casedesk_core::now();
        let list = Arc::new(self.store.enabled_endpoints().await?);
        *cached = Some((Instant::now(), read_at, list.clone()));
        Ok(list)
    }

    /// The messages of `event` (the duty managers are read only for an escalation).
    async fn mails(
        &self,
        case: &casedesk_core::cases::Case,
        event: &casedesk_core::cases::CaseEvent,
    ) -> Result<Vec<casedesk_core::mail::NewMail>> {
        let Some(mailer) = &self.mailer else {
            return Ok(vec![]);
        };
        if !event.public {
            return Ok(vec![]);
        }
        let actor_is_support = match &event.actor {
            Some(a) => self
                .store
                .find_user_by_email(a)
                .await?
                .is_some_and(|u| !u.role.is_customer()),
            None => false,
        };
        let duty_managers = if event.kind == casedesk_core::cases::EventKind::Escalated {
            crate::sla::recipients(self.store.as_ref(), case).await?.1
        } else {
            vec![]
        };
        // The account (cached) says where the customer side's mail goes and who its CSM is.
        let account = self
            .store
            .find_account(&case.account_id.to_string())
            .await?;
        let parties = casedesk_mail::mailer::Parties {
            duty_managers,
            csm: account.as_ref().and_then(|a| a.csm.clone()),
            copy_requester: account.is_some_and(|a| a.copy_requester),
        };
        Ok(mailer.event_mails(case, event, actor_is_support, &parties))
    }
}

#[async_trait]
impl Handler for Dispatcher {
    async fn run(&self, claim: &Claim) -> Result<Handled> {
        let endpoints = self.enabled(claim.job.created_at).await?;
        if endpoints.is_empty() && self.mailer.is_none() {
            return Ok(Handled::Finish(Finish::Done, FollowUp::default()));
        }
        let event_id = field(claim, "event")?.as_i64().unwrap_or(0);
        let Some((event, case)) = self.store.event_with_case(event_id).await? else {
            return Ok(Handled::Finish(Finish::Done, FollowUp::default()));
        };
        let targets = endpoints
            .iter()
            .filter(|e| e.account_id.is_none() || e.account_id == Some(case.account_id));
        let types = webhooks::event_types(&event);
        let now = casedesk_core::now();
        let mut out = Vec::new();
        for ep in targets {
            for t in &types {
                if !webhooks::receives(ep, t, &event) {
                    continue;
                }
                let id = webhooks::new_message_id();
                out.push(NewDelivery {
                    job: webhooks::delivery_job(&id, false, self.max_attempts),
                    id,
                    endpoint_id: ep.id,
                    event_type: (*t).to_owned(),
                    payload: webhooks::payload(t, &case, &event).to_string(),
                    case_number: Some(case.number),
                    created_at: now,
                });
            }
        }
        // A new case written with its messages: the endpoints are all this job is for.
        let planned =
            claim.job.payload.get("mails_planned") == Some(&serde_json::Value::Bool(true));
        let mails = if planned {
            vec![]
        } else {
            self.mails(&case, &event).await?
        };
        if !self.store.fan_out(claim, &out, &mails).await? {
            tracing::warn!(job = %claim.job.id, "lease lost before the fan-out was written");
        }
        Ok(Handled::Recorded)
    }
}

/// `webhook.deliver`: one signed attempt of a delivery, logged with its outcome.
pub struct WebhookSender {
    store: Arc<dyn Store>,
    sbox: Arc<dyn SecretBox>,
    http: casedesk_auth::net::Outbound,
    schedule: Vec<u64>,
    max_body: usize,
}

impl WebhookSender {
    /// A sender with its own HTTP client (no redirects, timeouts, address guard).
    pub fn new(
        store: Arc<dyn Store>,
        sbox: Arc<dyn SecretBox>,
        cfg: &WebhookConfig,
    ) -> Result<Self> {
        let http = casedesk_auth::net::Outbound::new(
            cfg.url_policy(),
            casedesk_auth::net::Limits {
                connect: Duration::from_secs(cfg.connect_timeout_seconds),
                total: Duration::from_secs(cfg.timeout_seconds),
            },
            concat!("casedesk-webhooks/", env!("CARGO_PKG_VERSION")),
            64,
        )
        .map_err(|e| DomainError::Internal(format!("webhook client: {e}")))?;
        Ok(Self {
            store,
            sbox,
            http,
            schedule: cfg.retry_schedule_seconds.clone(),
            max_body: cfg.max_response_bytes,
        })
    }

    /// Sends once; the status, or what went wrong.
    async fn send(
        &self,
        url: &str,
        id: &str,
        body: &str,
        signature_secrets: &[String],
    ) -> (Option<u16>, Option<String>, Option<Duration>) {
        let request = match self.http.post(url) {
            Ok(r) => r,
            Err(m) => return (None, Some(format!("not sent: the endpoint URL {m}")), None),
        };
        let ts = casedesk_core::now().as_second();
        let sig = match signature_header(signature_secrets, id, ts, body.as_bytes()) {
            Ok(s) => s,
            Err(e) => return (None, Some(e.to_string()), None),
        };
        let res = request
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body.to_owned())
            .send()
            .await;
        match res {
            Ok(mut r) => {
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(3600)));
                // Read (and drop) at most the cap, so a huge answer cannot hold a worker.
                let mut read = 0usize;
                let mut snippet = Vec::new();
                while read < self.max_body {
                    match r.chunk().await {
                        Ok(Some(c)) => {
                            if snippet.len() < 200 {
                                snippet.extend_from_slice(&c[..c.len().min(200 - snippet.len())]);
                            }
                            read += c.len();
                        }
                        _ => break,
                    }
                }
                if (200..300).contains(&status) {
                    (Some(status), None, None)
                } else {
                    let mut text = String::from_utf8_lossy(&snippet).replace(['\n', '\r'], " ");
                    // The receiver's answer is stored in the delivery log: no secret in it.
                    let _ = casedesk_core::diagnostics::secrets::scrub_in_place(
                        &mut text,
                        &casedesk_core::diagnostics::secrets::Tag::Plain,
                        &mut Default::default(),
                    );
                    let err = if text.trim().is_empty() {
                        format!("answered HTTP {status}")
                    } else {
                        format!("answered HTTP {status}: {}", text.trim())
                    };
                    (Some(status), Some(err), retry_after)
                }
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out".to_owned()
                } else if e.is_connect() {
                    format!("could not connect: {}", root_cause(&e))
                } else {
                    format!("request failed: {}", root_cause(&e))
                };
                (None, Some(what), None)
            }
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[async_trait]
impl Handler for WebhookSender {
    async fn run(&self, claim: &Claim) -> Result<Handled> {
        let id = field(claim, "delivery")?.as_str().unwrap_or("").to_owned();
        let manual = claim
            .job
            .payload
            .get("manual")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let Some(d) = self.store.get_delivery(&id).await? else {
            // The endpoint was deleted with its deliveries.
            return Ok(Handled::Finish(Finish::Done, FollowUp::default()));
        };
        let Some(ep) = self.store.get_endpoint(d.endpoint_id).await? else {
            return Ok(Handled::Finish(Finish::Done, FollowUp::default()));
        };
        let now = casedesk_core::now();
        let mut rec = AttemptRecord {
            delivery_id: d.id.clone(),
            endpoint_id: ep.id,
            account_id: ep.account_id,
            attempt: Attempt {
                at: now,
                status_code: None,
                latency_ms: 0,
                error: None,
                manual,
            },
            state: DeliveryState::Skipped,
            endpoint: EndpointChange::Unchanged,
        };
        if !ep.enabled || (d.state == DeliveryState::Delivered && !manual) {
            if d.state == DeliveryState::Delivered {
                rec.state = DeliveryState::Delivered;
            }
            self.store
                .record_attempt(claim, &rec, &Finish::Done)
                .await?;
            return Ok(Handled::Recorded);
        }
        let mut secrets = Vec::new();
        for s in self.store.live_secrets(ep.id, now).await? {
            secrets.push(self.sbox.open(&s.sealed)?);
        }
        if secrets.is_empty() {
            return Err(DomainError::Internal(
                "the endpoint has no live signing secret".into(),
            ));
        }
        let started = Instant::now();
        let (status, error, retry_after) = self.send(&ep.url, &d.id, &d.payload, &secrets).await;
        rec.attempt.status_code = status;
        rec.attempt.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        rec.attempt.error.clone_from(&error);
        let last = claim.job.attempts >= claim.job.max_attempts;
        let finish = match (&error, status) {
            (None, _) => {
                rec.state = DeliveryState::Delivered;
                // A healthy endpoint's row is left alone, so busy endpoints do not queue on it.
                rec.endpoint = if ep.failure_streak == 0 {
                    EndpointChange::Unchanged
                } else {
                    EndpointChange::Healthy
                };
                metrics::counter!("casedesk_webhook_deliveries_total", "result" => "delivered")
                    .increment(1);
                Finish::Done
            }
            (Some(e), Some(410)) => {
                rec.state = DeliveryState::Failed;
                rec.endpoint = EndpointChange::Disable {
                    reason: "it answered 410 Gone, which asks senders to stop".into(),
                };
                metrics::counter!("casedesk_webhook_deliveries_total", "result" => "failed")
                    .increment(1);
                Finish::Dead { error: e.clone() }
            }
            (Some(e), _) if manual => {
                rec.state = DeliveryState::Failed;
                rec.endpoint = EndpointChange::Failing;
                metrics::counter!("casedesk_webhook_deliveries_total", "result" => "failed")
                    .increment(1);
                Finish::Dead { error: e.clone() }
            }
            (Some(e), _) if last => {
                rec.state = DeliveryState::Failed;
                rec.endpoint = EndpointChange::Disable {
                    reason: format!(
                        "all {} attempts of delivery {} failed (the last one {e})",
                        claim.job.attempts, d.id
                    ),
                };
                metrics::counter!("casedesk_webhook_deliveries_total", "result" => "failed")
                    .increment(1);
                Finish::Dead { error: e.clone() }
            }
            (Some(e), _) => {
                rec.state = DeliveryState::Pending;
                rec.endpoint = EndpointChange::Failing;
                metrics::counter!("casedesk_webhook_deliveries_total", "result" => "retrying")
                    .increment(1);
                let mut delay = casedesk_core::jobs::scheduled_backoff(
                    &self.schedule,
                    claim.job.attempts,
                    crate::registry::random_unit(),
                );
                // A receiver that asks for time (429, 503) gets at least what it asked.
                if let Some(ra) = retry_after {
                    delay = delay.max(ra);
                }
                Finish::Retry {
                    at: after(delay),
                    error: e.clone(),
                }
            }
        };
        if !self.store.record_attempt(claim, &rec, &finish).await? {
            tracing::warn!(delivery = %d.id, "lease lost before the attempt was recorded");
        }
        Ok(Handled::Recorded)
    }
}

/// `maintenance`: prunes the audit trail behind a checkpoint, old jobs and deliveries, and
/// expired sessions; deletes the attachments of cases closed longer than their retention;
/// then schedules its next run.
pub struct Maintenance {
    store: Arc<dyn Store>,
    cfg: JobsConfig,
    files: Option<(
        Arc<dyn casedesk_core::attachments::Blobs>,
        casedesk_core::attachments::AttachmentConfig,
    )>,
}

impl Maintenance {
    /// Housekeeping with these retention settings.
    pub fn new(store: Arc<dyn Store>, cfg: JobsConfig) -> Self {
        Self {
            store,
            cfg,
            files: None,
        }
    }

    /// Also deletes attachments under `cfg`'s retention.
    pub fn with_attachments(
        mut self,
        blobs: Arc<dyn casedesk_core::attachments::Blobs>,
        cfg: casedesk_core::attachments::AttachmentConfig,
    ) -> Self {
        self.files = Some((blobs, cfg));
        self
    }
}

fn days_ago(days: u32) -> casedesk_core::Timestamp {
    let now = casedesk_core::now();
    now.checked_sub(jiff::SignedDuration::from_hours(i64::from(days) * 24))
        .unwrap_or(now)
}

#[async_trait]
impl Handler for Maintenance {
    fn standing(&self, at_start: bool) -> Option<NewJob> {
        let every = if at_start {
            Duration::ZERO
        } else {
            Duration::from_secs(self.cfg.maintenance_interval_seconds)
        };
        Some(
            NewJob::new(casedesk_core::jobs::MAINTENANCE, serde_json::json!({}))
                .at(after(every))
                .max_attempts(3)
                .unique(casedesk_core::jobs::MAINTENANCE),
        )
    }

    async fn run(&self, _claim: &Claim) -> Result<Handled> {
        let template =
            AuditRecord::new(Actor::system("job:maintenance"), "audit.pruned", "audit").internal();
        let pruned = self
            .store
            .prune_audit(days_ago(self.cfg.audit_retention_days), &template)
            .await?;
        let jobs = self
            .store
            .prune_jobs(days_ago(self.cfg.keep_finished_days), casedesk_core::now())
            .await?;
        // Sign-in failures are forgotten a day after the last one, like the throttle does.
        let forget = casedesk_core::identity::ThrottlePolicy::default().forget_after;
        let throttled = self
            .store
            .prune_throttle(
                casedesk_core::now()
                    .checked_sub(forget)
                    .unwrap_or_else(|_| casedesk_core::now()),
            )
            .await?;
        let cases = match &self.files {
            Some((blobs, cfg)) => {
                casedesk_core::attachments::sweep(
                    self.store.as_ref(),
                    blobs.as_ref(),
                    cfg,
                    casedesk_core::now(),
                )
                .await?
            }
            None => 0,
        };
        if pruned > 0 || jobs > 0 || cases > 0 || throttled > 0 {
            tracing::info!(
                audit_entries = pruned,
                jobs,
                sign_in_throttle_keys = throttled,
                cases_with_attachments_deleted = cases,
                "housekeeping pruned old records"
            );
        }
        let next = NewJob::new(casedesk_core::jobs::MAINTENANCE, serde_json::json!({}))
            .at(after(Duration::from_secs(
                self.cfg.maintenance_interval_seconds,
            )))
            .max_attempts(3)
            .unique(casedesk_core::jobs::MAINTENANCE);
        Ok(Handled::Finish(
            Finish::Done,
            FollowUp {
                jobs: vec![next],
                audit: vec![],
                mails: vec![],
            },
        ))
    }
}
