//! The SLA's background work: the scanner that records warnings and breaches when they are
//! due (and queues their notices), and the reapply pass that brings open cases in line after
//! a policy, calendar or settings change.

use serde_json::{Value, json};

use super::writes::{CasePatch, ServiceStore};
use crate::audit::{Actor, AuditRecord};
use crate::cases::{EventKind, NewEvent, Status};
use crate::jobs::NewJob;
use crate::sla::SlaWrite;
use crate::sla::case::{Firing, context, fire, firing_events, pauses, step, timers};
use crate::sla::clock::{Alert, Happening};
use crate::{Result, Timestamp};

/// Times a case is re-read when a person changed it while the scanner was at it.
const RETRIES: usize = 3;

/// Records the warnings and breaches due by `now` on up to `limit` cases; how many cases
/// were looked at, and the cases that failed (one broken case must not stop the others).
pub async fn scan(
    store: &dyn ServiceStore,
    now: Timestamp,
    limit: u32,
) -> Result<(usize, Vec<(i64, crate::DomainError)>)> {
    let due = store.sla_alerts_due(now, limit).await?;
    let mut failed = Vec::new();
    for n in &due {
        if let Err(e) = fire_case(store, *n, now).await {
            failed.push((*n, e));
        }
    }
    Ok((due.len(), failed))
}

fn alert_key(a: Alert) -> &'static str {
    match a {
        Alert::Warning => "warning",
        Alert::Breach => "breach",
    }
}

fn firing_json(f: &Firing) -> Value {
    json!({
        "alert": alert_key(f.alert),
        "target": f.target.key(),
        "cycle": f.cycle,
        "at": f.at.to_string(),
        "due_at": f.due_at.map(|t| t.to_string()),
    })
}

/// Records what is due on one case: a timeline event (internal) and log entries for the
/// alerts, and one notice job, in one transaction with the case at the version read.
pub async fn fire_case(store: &dyn ServiceStore, number: i64, now: Timestamp) -> Result<bool> {
    for _ in 0..RETRIES {
        let Some(case) = store.get_case(number).await? else {
            return Ok(false);
        };
        let ctx = context(store, case.account_id, case.fields.priority).await?;
        let log = store.sla_log(number).await?;
        let pct = ctx.settings.warning_percent;
        let firings = fire(&log, &ctx.calendars, now, pct);
        if firings.is_empty() {
            // A stale timer (the case moved on): just recompute it.
            let (due_at, alert_at) = timers(&log, &ctx.calendars, now, pct);
            let w = SlaWrite {
                events: vec![],
                due_at,
                alert_at,
            };
            if store.set_sla(number, case.version, &w).await? {
                return Ok(false);
            }
            continue;
        }
        let events = firing_events(&firings);
        let mut all = log.clone();
        all.extend_from_slice(&events);
        let (due_at, alert_at) = timers(&all, &ctx.calendars, now, pct);
        let breach = firings.iter().any(|f| f.alert == Alert::Breach);
        let alerts: Vec<Value> = firings.iter().map(firing_json).collect();
        let kind = if breach {
            EventKind::SlaBreached
        } else {
            EventKind::SlaWarning
        };
        let event = NewEvent {
            actor_id: None,
            kind,
            public: false,
            data: json!({"alerts": alerts}),
            at: now,
        };
        let notice = NewJob::new(
            crate::sla::NOTIFY,
            json!({"case": number, "kind": kind.key(), "alerts": alerts}),
        )
        .max_attempts(10);
        let patch = CasePatch {
            sla: Some(SlaWrite {
                events,
                due_at,
                alert_at,
            }),
            jobs: vec![notice],
            ..CasePatch::default()
        };
        let audit = AuditRecord::new(
            Actor::system("job:sla.scan"),
            &format!("case.{}", kind.key()),
            format!("case:{number}"),
        )
        .account(Some(case.account_id))
        .summary(json!({"alerts": firings.iter().map(|f| format!("{} {}", f.target.key(), alert_key(f.alert))).collect::<Vec<_>>()}))
        .internal();
        if store
            .update_case(number, case.version, &patch, &event, &audit)
            .await?
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Brings open cases numbered above `after` in line with the policies, calendars and
/// settings in force, up to `limit` of them: a changed goal is logged as applied (and counts
/// from each cycle's start), and the timers are recomputed. The last number seen, if any.
pub async fn reapply(store: &dyn ServiceStore, after: i64, limit: u32) -> Result<Option<i64>> {
    let numbers = store.open_case_numbers(after, limit).await?;
    let now = crate::now();
    for n in &numbers {
        for _ in 0..RETRIES {
            let Some(case) = store.get_case(*n).await? else {
                break;
            };
            let log = store.sla_log(*n).await?;
            if log.is_empty() || case.status == Status::Closed {
                break;
            }
            let ctx = context(store, case.account_id, case.fields.priority).await?;
            // Only goals that differ from the logged ones are applied.
            let hs = [Happening::Retargeted(ctx.policy)];
            let w = step(&log, pauses(case.status, &ctx.settings), &hs, now, &ctx);
            if store.set_sla(*n, case.version, &w).await? {
                break;
            }
        }
    }
    Ok(numbers.last().copied())
}
