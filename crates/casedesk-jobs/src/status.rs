//! Service status jobs: an incident's update told to its subscribers (webhook endpoints that
//! name the status event types, and people subscribed by email), and a resolution posted to
//! every case linked to the incident.

use std::sync::Arc;

use async_trait::async_trait;
use casedesk_core::audit::{Actor, AuditRecord};
use casedesk_core::cases::{EventKind, Status};
use casedesk_core::jobs::{Claim, Finish};
use casedesk_core::service::{CasePatch, FollowUp};
use casedesk_core::status::{self, Incident, IncidentState, IncidentUpdate};
use casedesk_core::store::Store;
use casedesk_core::webhooks::NewDelivery;
use casedesk_core::{DomainError, Result, webhooks};
use uuid::Uuid;

use crate::registry::{Handled, Handler};

fn ids(claim: &Claim) -> Result<(Uuid, Uuid)> {
    let get = |k: &str| {
        claim
            .job
            .payload
            .get(k)
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| DomainError::Internal(format!("job payload lacks {k}")))
    };
    Ok((get("incident")?, get("update")?))
}

async fn incident_and_update(
    store: &dyn Store,
    claim: &Claim,
) -> Result<Option<(Incident, IncidentUpdate)>> {
    let (id, update) = ids(claim)?;
    let Some(i) = store.get_incident(id).await? else {
        return Ok(None);
    };
    let Some(u) = i.updates.iter().find(|u| u.id == update).cloned() else {
        return Ok(None);
    };
    Ok(Some((i, u)))
}

/// `status.notify`: one webhook delivery per endpoint that names the event type, one
/// message per email subscriber of an affected region, written with the end of the job.
pub struct Notify {
    store: Arc<dyn Store>,
    mailer: Option<Arc<casedesk_mail::Mailer>>,
    max_attempts: u32,
    link_key: [u8; 32],
}

impl Notify {
    /// A handler writing deliveries with `max_attempts` attempts, and messages when `mailer`
    /// sends mail.
    /// `link_key` signs the stop links of subscribers without an account
    /// ([`status::LINK_KEY`]).
    pub fn new(
        store: Arc<dyn Store>,
        mailer: Option<Arc<casedesk_mail::Mailer>>,
        max_attempts: u32,
        link_key: [u8; 32],
    ) -> Self {
        Self {
            store,
            mailer: mailer.filter(|m| m.enabled()),
            max_attempts,
            link_key,
        }
    }
}

#[async_trait]
impl Handler for Notify {
    async fn run(&self, claim: &Claim) -> Result<Handled> {
        let Some((incident, update)) = incident_and_update(self.store.as_ref(), claim).await?
        else {
            return Ok(Handled::Finish(Finish::Done, FollowUp::default()));
        };
        let first = claim
            .job
            .payload
            .get("first")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let event_type = if update.state == IncidentState::Resolved {
            status::EVENT_TYPES[2]
        } else if first {
            status::EVENT_TYPES[0]
        } else {
            status::EVENT_TYPES[1]
        };
        let now = casedesk_core::now();
        let payload = status::payload(event_type, &incident, &update).to_string();
        // Status goes only to endpoints that asked for it by name: an endpoint taking "every
        // type" was set up for cases.
        let deliveries: Vec<NewDelivery> = self
            .store
            .enabled_endpoints()
            .await?
            .into_iter()
            .filter(|ep| ep.event_types.iter().any(|t| t == event_type))
            .map(|ep| {
                let id = webhooks::new_message_id();
                NewDelivery {
                    job: webhooks::delivery_job(&id, false, self.max_attempts),
                    id,
                    endpoint_id: ep.id,
                    event_type: event_type.to_owned(),
                    payload: payload.clone(),
                    case_number: None,
                    created_at: now,
                }
            })
            .collect();
        let mut mails = Vec::new();
        if let Some(mailer) = &self.mailer {
            for s in self.store.subscriptions(None).await? {
                let affected =
                    s.regions.is_empty() || s.regions.iter().any(|r| incident.regions.contains(r));
                if !affected {
                    continue;
                }
                match mailer.status_mail(&s.email, &incident, &update, None) {
                    Ok(m) => mails.push(m),
                    // One bad address must not keep the others from hearing of it.
                    Err(e) => {
                        tracing::warn!(subscriber = %s.id, error = %e, "status message not composed")
                    }
                }
            }
            // Subscribers without an account, once they confirmed: each message carries
            // the link that stops them.
            for s in self.store.email_subscribers().await? {
                let affected =
                    s.regions.is_empty() || s.regions.iter().any(|r| incident.regions.contains(r));
                if !affected {
                    continue;
                }
                let stop = format!(
                    "{}/status/stop?s={}&t={}",
                    mailer.base_url(),
                    s.id,
                    status::link_token(&self.link_key, status::STOP, s.id)
                );
                match mailer.status_mail(&s.email, &incident, &update, Some(&stop)) {
                    Ok(m) => mails.push(m),
                    Err(e) => {
                        tracing::warn!(subscriber = %s.id, error = %e, "status message not composed")
                    }
                }
            }
        }
        if !self.store.fan_out(claim, &deliveries, &mails).await? {
            tracing::warn!(job = %claim.job.id, "lease lost before the status fan-out was written");
        }
        Ok(Handled::Recorded)
    }
}

/// `status.resolve`: the resolution is posted on every open case linked to the incident,
/// once per case even when the job runs again.
pub struct Resolve {
    store: Arc<dyn Store>,
}

impl Resolve {
    /// A handler over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    async fn post(&self, number: i64, incident: &Incident, update: &IncidentUpdate) -> Result<()> {
        let mut event = status::case_event(incident, update);
        event.data["update"] = serde_json::json!(update.id);
        for _ in 0..5 {
            let Some(case) = self.store.get_case(number).await? else {
                return Ok(());
            };
            if case.status == Status::Closed {
                return Ok(());
            }
            let posted = self
                .store
                .list_events(number, false)
                .await?
                .iter()
                .any(|e| {
                    e.kind == EventKind::IncidentUpdate && e.data["update"] == event.data["update"]
                });
            if posted {
                return Ok(());
            }
            let audit = AuditRecord::new(
                Actor::system("status"),
                "case.incident_update",
                format!("case:{number}"),
            )
            .summary(serde_json::json!({"incident": incident.id}));
            if self
                .store
                .update_case(number, case.version, &CasePatch::default(), &event, &audit)
                .await?
                .is_some()
            {
                return Ok(());
            }
        }
        Err(DomainError::Conflict(format!(
            "case {number} kept changing; the incident update is retried"
        )))
    }
}

#[async_trait]
impl Handler for Resolve {
    async fn run(&self, claim: &Claim) -> Result<Handled> {
        let Some((incident, update)) = incident_and_update(self.store.as_ref(), claim).await?
        else {
            return Ok(Handled::Finish(Finish::Done, FollowUp::default()));
        };
        for number in self.store.incident_case_numbers(incident.id).await? {
            self.post(number, &incident, &update).await?;
        }
        Ok(Handled::Finish(Finish::Done, FollowUp::default()))
    }
}
