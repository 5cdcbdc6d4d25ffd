//! The SLA of one case: which clock happenings a case change is, what it appends to the
//! clock log, when the case's next timer fires, and the answers of `…/sla` and
//! `…/sla/explain`.
//!
//! Two columns of the case row are kept from the log in the transaction that appends to it:
//! `sla_due_at` (the earliest due time of a running cycle, for queue views) and `sla_alert_at`
//! (the next warning or breach to record, for the scanner). Both are derived, never truth;
//! the reapply job recomputes them when a policy, a calendar or the settings change.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use uuid::Uuid;

use super::clock::{
    Alert, Calendars, ClockEvent, ClockEventKind, Clocks, Cycle, CycleState, Happening, derive,
};
use super::policy::{Basis, Policy, Target};
use super::settings::{SlaSettings, account_calendars, policy_for, sla_settings};
use super::store::{SlaStore, SlaWrite};
use crate::accounts::Plan;
use crate::cases::{EventKind, NewEvent, Priority, Status};
use crate::{DomainError, Result};

/// Everything needed to run one case's clocks.
#[derive(Debug, Clone)]
pub struct Context {
    /// The account's plan.
    pub plan: Plan,
    /// The goals for the case's plan and priority.
    pub policy: Policy,
    /// Whether the policy was edited by a manager (else built in).
    pub policy_edited: bool,
    /// The calendar's name.
    pub calendar: String,
    /// Why that calendar applies.
    pub calendar_why: &'static str,
    /// Every version of the calendar.
    pub calendars: Calendars,
    /// Warning share, on-hold pausing, duty managers.
    pub settings: SlaSettings,
}

/// The SLA context of a case of `account_id` at `priority`.
pub async fn context(
    store: &dyn SlaStore,
    account_id: Uuid,
    priority: Priority,
) -> Result<Context> {
    let account = store
        .find_account(&account_id.to_string())
        .await?
        .ok_or(DomainError::NotFound { entity: "account" })?;
    let (policy, policy_edited) = policy_for(store, account.plan, priority).await?;
    let (calendar, calendar_why, calendars) = account_calendars(store, account_id).await?;
    Ok(Context {
        plan: account.plan,
        policy,
        policy_edited,
        calendar,
        calendar_why,
        calendars,
        settings: sla_settings(store).await?,
    })
}

/// Whether clocks stand still in `status`: pending always, on-hold when configured.
pub fn pauses(status: Status, settings: &SlaSettings) -> bool {
    status == Status::Pending || (status == Status::OnHold && settings.on_hold_pauses)
}

/// The clock happenings of one case change, in the order they apply.
///
/// - A public message of support (reply, information request, proposed resolution, or a
///   resume with a message) is an agent reply. Internal notes, assignments, status changes
///   without a message and call summaries are not.
/// - A public reply of the customer side is a customer reply; it is applied after the case
///   left pending (so a next-response cycle starts running) or was reopened.
/// - Entering or leaving a pausing status pauses or resumes every clock.
pub fn happenings(
    from: Status,
    to: Status,
    event: &NewEvent,
    support: bool,
    retarget: Option<Policy>,
    settings: &SlaSettings,
) -> Vec<Happening> {
    let mut out = Vec::new();
    let has_body = event.data.get("body").is_some_and(|b| b.is_string());
    let agent_message = support
        && event.public
        && match event.kind {
            EventKind::Reply | EventKind::InfoRequested | EventKind::ResolutionProposed => true,
            EventKind::Resumed => has_body,
            _ => false,
        };
    if agent_message {
        out.push(Happening::AgentReply);
    }
    let (was, now) = (pauses(from, settings), pauses(to, settings));
    if was && !now {
        out.push(Happening::Resumed);
    }
    if from == Status::Solved && to != Status::Solved && to != Status::Closed {
        out.push(Happening::Reopened);
    }
    if !support && event.public && matches!(event.kind, EventKind::Reply | EventKind::Reopened) {
        out.push(Happening::CustomerReply);
    }
    if !was && now {
        out.push(Happening::Paused);
    }
    if to == Status::Solved && from != Status::Solved {
        out.push(Happening::Solved);
    }
    if to == Status::Closed && from != Status::Closed {
        out.push(Happening::Closed);
    }
    if let Some(p) = retarget {
        out.push(Happening::Retargeted(p));
    }
    out
}

/// Whether an agent has replied publicly, as far as the log shows: the first response was
/// met, or a next-response cycle started.
fn agent_replied(log: &[ClockEvent]) -> bool {
    log.iter().any(|e| {
        (e.target == Target::FirstResponse && e.kind == ClockEventKind::Met)
            || (e.target == Target::NextResponse && e.kind == ClockEventKind::Started)
    })
}

/// Applies happenings at `at` to a case whose log is `log` and whose clocks were paused or not.
pub fn step(
    log: &[ClockEvent],
    paused: bool,
    hs: &[Happening],
    at: Timestamp,
    ctx: &Context,
) -> SlaWrite {
    let mut clocks = Clocks::from_log(log, agent_replied(log), paused);
    let events: Vec<ClockEvent> = hs.iter().flat_map(|h| clocks.on(*h, at)).collect();
    let mut all = log.to_vec();
    all.extend_from_slice(&events);
    let (due_at, alert_at) = timers(&all, &ctx.calendars, at, ctx.settings.warning_percent);
    SlaWrite {
        events,
        due_at,
        alert_at,
    }
}

fn logged(log: &[ClockEvent], c: &Cycle, kind: ClockEventKind) -> bool {
    log.iter()
        .any(|e| e.target == c.target && e.cycle == c.cycle && e.kind == kind)
}

/// What is due for recording in each cycle, and when: a breach not yet logged (at the instant
/// it happened, even when the cycle was met late), else the warning while it runs.
fn pending_alerts(
    log: &[ClockEvent],
    cycles: Vec<Cycle>,
    cals: &Calendars,
    percent: u8,
) -> Vec<(Cycle, Alert, Timestamp)> {
    let mut out = Vec::new();
    for c in cycles {
        if logged(log, &c, ClockEventKind::Breached) {
            continue;
        }
        if let Some(b) = c.breached_at {
            out.push((c, Alert::Breach, b));
            continue;
        }
        let alerts = c.alerts(cals, percent);
        let warned = logged(log, &c, ClockEventKind::Warned);
        for (a, t) in alerts {
            if a == Alert::Warning && warned {
                continue;
            }
            out.push((c.clone(), a, t));
        }
    }
    out
}

/// The earliest running due time (for queue views) and the next timer (for the scanner).
pub fn timers(
    log: &[ClockEvent],
    cals: &Calendars,
    now: Timestamp,
    percent: u8,
) -> (Option<Timestamp>, Option<Timestamp>) {
    let cycles = derive(log, cals, now);
    let due = cycles
        .iter()
        .filter(|c| c.stopped_at.is_none())
        .filter_map(|c| c.due_at)
        .min();
    let alert = pending_alerts(log, cycles, cals, percent)
        .into_iter()
        .map(|(_, _, t)| t)
        .min();
    (due, alert)
}

/// One warning or breach the scanner records.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// Which alert.
    pub alert: Alert,
    /// The cycle's target.
    pub target: Target,
    /// The cycle.
    pub cycle: u32,
    /// When the threshold was crossed.
    pub at: Timestamp,
    /// The cycle's due time.
    pub due_at: Option<Timestamp>,
}

/// The warnings and breaches due by `now`, as log entries, once each: a breach makes a
/// warning of the same cycle that was not sent yet pointless, so it is not sent.
pub fn fire(log: &[ClockEvent], cals: &Calendars, now: Timestamp, percent: u8) -> Vec<Firing> {
    let due: Vec<_> = pending_alerts(log, derive(log, cals, now), cals, percent)
        .into_iter()
        .filter(|(_, _, t)| *t <= now)
        .collect();
    let mut out: Vec<Firing> = Vec::new();
    for (c, alert, at) in &due {
        let breach_too = due
            .iter()
            .any(|(d, a, _)| *a == Alert::Breach && d.target == c.target && d.cycle == c.cycle);
        if *alert == Alert::Warning && breach_too {
            continue;
        }
        out.push(Firing {
            alert: *alert,
            target: c.target,
            cycle: c.cycle,
            at: *at,
            due_at: c.due_at,
        });
    }
    out
}

/// The log entries recording firings.
pub fn firing_events(f: &[Firing]) -> Vec<ClockEvent> {
    f.iter()
        .map(|f| ClockEvent {
            target: f.target,
            cycle: f.cycle,
            kind: match f.alert {
                Alert::Warning => ClockEventKind::Warned,
                Alert::Breach => ClockEventKind::Breached,
            },
            at: f.at,
        })
        .collect()
}

fn minutes(d: SignedDuration) -> i64 {
    // Whole minutes passed (towards zero).
    d.as_secs() / 60
}

fn minutes_left(d: SignedDuration) -> i64 {
    // Rounded up, as a countdown shows it: "1 minute left" until none is.
    let s = d.as_secs() + i64::from(d.subsec_nanos() > 0);
    s.div_euclid(60) + i64::from(s.rem_euclid(60) > 0)
}

fn ts(t: Option<Timestamp>) -> Value {
    t.map(|t| json!(t.to_string())).unwrap_or(Value::Null)
}

/// The log as it reads now: on an open case, a goal of the policy in force that the log does
/// not apply yet (a manager changed it and the reapply job has not reached the case) counts
/// as applied now, so a change shows at once.
pub fn current(log: &[ClockEvent], ctx: &Context, open: bool, now: Timestamp) -> Vec<ClockEvent> {
    let mut out = log.to_vec();
    if open && !log.is_empty() {
        // The same re-targeting a priority change does: only goals that differ are applied.
        let mut clocks = Clocks::from_log(log, false, false);
        out.extend(clocks.on(Happening::Retargeted(ctx.policy), now));
    }
    out
}

/// The SLA summary shown on a case: per target, its newest cycle.
pub fn summary(log: &[ClockEvent], ctx: &Context, now: Timestamp) -> Value {
    let cycles = derive(log, &ctx.calendars, now);
    let mut targets = Vec::new();
    for t in Target::ALL {
        let Some(c) = cycles
            .iter()
            .filter(|c| c.target == t)
            .max_by_key(|c| c.cycle)
        else {
            continue;
        };
        targets.push(json!({
            "target": t.key(),
            "cycle": c.cycle,
            "state": state_key(c.state),
            "basis": basis_key(c.goal.basis),
            "goal_minutes": c.goal.minutes,
            "started_at": c.started_at.to_string(),
            "due_at": ts(c.due_at),
            "stopped_at": ts(c.stopped_at),
            "breached_at": ts(c.breached_at),
            "elapsed_minutes": minutes(c.elapsed),
            "business_minutes_left": minutes_left(c.remaining),
        }));
    }
    let next_due = cycles
        .iter()
        .filter(|c| c.stopped_at.is_none())
        .filter_map(|c| c.due_at)
        .min();
    json!({
        "calendar": ctx.calendar,
        "next_due_at": ts(next_due),
        "targets": targets,
    })
}

fn state_key(s: CycleState) -> &'static str {
    match s {
        CycleState::Running => "running",
        CycleState::Paused => "paused",
        CycleState::Met => "met",
        CycleState::Breached => "breached",
        CycleState::Stopped => "stopped",
    }
}

fn basis_key(b: Basis) -> &'static str {
    match b {
        Basis::Business => "business",
        Basis::Calendar => "24x7",
    }
}

/// Intervals shown in an explanation, at most this many per cycle (a long-open case on
/// office hours has two a weekday).
const MAX_INTERVALS: usize = 400;

/// How every figure was reached: the policy, the calendar and, per cycle, its runs, pauses
/// and the open intervals counted.
pub fn explain(
    log: &[ClockEvent],
    ctx: &Context,
    priority: Priority,
    now: Timestamp,
) -> Result<Value> {
    let cycles = derive(log, &ctx.calendars, now);
    let cal = ctx.calendars.at(now);
    let mut out = Vec::new();
    for c in &cycles {
        let counted = c.counted(&ctx.calendars);
        let shown: Vec<Value> = counted
            .iter()
            .take(MAX_INTERVALS)
            .map(|(a, b)| {
                json!({"from": a.to_string(), "to": b.to_string(),
                    "minutes": minutes(b.duration_since(*a))})
            })
            .collect();
        out.push(json!({
            "target": c.target.key(),
            "cycle": c.cycle,
            "state": state_key(c.state),
            "goal": {"minutes": c.goal.minutes, "basis": basis_key(c.goal.basis)},
            "started_at": c.started_at.to_string(),
            "stopped_at": ts(c.stopped_at),
            "due_at": ts(c.due_at),
            "breached_at": ts(c.breached_at),
            "elapsed_minutes": minutes(c.elapsed),
            "business_minutes_left": minutes_left(c.remaining),
            "pauses": c.pauses.iter().map(|(a, b)| json!({"from": a.to_string(), "to": ts(*b)})).collect::<Vec<_>>(),
            "counted": shown,
            "counted_truncated": counted.len() > MAX_INTERVALS,
        }));
    }
    let log_json =
        serde_json::to_value(log).map_err(|e| DomainError::Internal(format!("sla log: {e}")))?;
    Ok(json!({
        "now": now.to_string(),
        "policy": {
            "plan": ctx.plan.key(),
            "priority": priority.key(),
            "source": if ctx.policy_edited { "edited by a manager" } else { "built-in default" },
            "goals": ctx.policy.to_json(),
        },
        "calendar": {
            "name": ctx.calendar,
            "why": ctx.calendar_why,
            "time_zone": cal.zone(),
            "in_force": cal.to_json(),
        },
        "settings": {
            "warning_percent": ctx.settings.warning_percent,
            "on_hold_pauses": ctx.settings.on_hold_pauses,
        },
        "rules": [
            "First response starts when the case is opened and is met by the first public message of support.",
            "Next response starts at a public customer reply after support has replied, and is met by support's next public message.",
            "Resolution starts when the case is opened and is met when a resolution is proposed; a reopened case starts a new cycle.",
            "Clocks stand still while the case waits on the customer (pending), and while on hold only if configured.",
            "A priority or policy change applies the new goal from each cycle's original start.",
            "Business goals count only the open hours of the calendar version in force at each moment.",
        ],
        "cycles": out,
        "log": log_json,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::calendar::Calendar;
    use crate::sla::policy::default_policy;
    use serde_json::json;

    fn ctx() -> Context {
        Context {
            plan: Plan::Gold,
            policy: default_policy(Plan::Gold, Priority::P3),
            policy_edited: false,
            calendar: "eu".into(),
            calendar_why: "test",
            calendars: Calendars::single(Calendar::office_hours("Europe/Berlin").unwrap()),
            settings: SlaSettings::default(),
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_friday_p3_warns_monday_and_breaches_monday_afternoon_once() {
        let c = ctx();
        let created = t("2026-11-20T16:30:00Z"); // Friday 17:30 in Berlin
        let w = step(&[], false, &[Happening::Created(c.policy)], created, &c);
        // First response (Gold P3: 8 business hours) is due Monday 15:30 Berlin.
        assert_eq!(w.due_at, Some(t("2026-11-23T14:30:00Z")));
        // 75 % of 8 h is 6 h: 30 min on Friday and 5.5 h on Monday from 08:00.
        assert_eq!(w.alert_at, Some(t("2026-11-23T12:30:00Z")));
        let mut log = w.events.clone();
        let f = fire(&log, &c.calendars, t("2026-11-23T12:31:00Z"), 75);
        assert!(f.iter().all(|f| f.alert == Alert::Warning));
        assert!(f.iter().any(|f| f.target == Target::FirstResponse));
        log.extend(firing_events(&f));
        // Warned once: the next alert is the breach.
        let (_, next) = timers(&log, &c.calendars, t("2026-11-23T12:31:00Z"), 75);
        assert_eq!(next, Some(t("2026-11-23T14:30:00Z")));
        let f = fire(&log, &c.calendars, t("2026-11-23T14:30:00Z"), 75);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].alert, Alert::Breach);
        log.extend(firing_events(&f));
        assert!(fire(&log, &c.calendars, t("2026-11-23T15:00:00Z"), 75).is_empty());
    }

    #[test]
    fn a_late_reply_still_records_the_breach_once() {
        let c = ctx();
        let created = t("2026-11-20T16:30:00Z");
        let mut log = step(&[], false, &[Happening::Created(c.policy)], created, &c).events;
        let late = t("2026-11-23T16:00:00Z");
        let w = step(&log, false, &[Happening::AgentReply], late, &c);
        log.extend(w.events);
        // The breach happened at the due time, before the reply met the cycle.
        assert!(w.alert_at.is_some_and(|a| a <= late));
        let f = fire(&log, &c.calendars, late, 75);
        let fr: Vec<_> = f
            .iter()
            .filter(|f| f.target == Target::FirstResponse)
            .collect();
        assert_eq!(fr.len(), 1);
        assert_eq!(fr[0].alert, Alert::Breach);
        assert_eq!(fr[0].at, t("2026-11-23T14:30:00Z"));
    }

    #[test]
    fn happenings_follow_the_documented_rules() {
        let s = SlaSettings::default();
        let ev = |kind, public, data: Value| NewEvent {
            actor_id: None,
            kind,
            public,
            data,
            at: t("2026-11-20T10:00:00Z"),
        };
        // An internal note is not a response.
        let n = ev(EventKind::Note, false, json!({"body": "x"}));
        assert!(happenings(Status::Open, Status::Open, &n, true, None, &s).is_empty());
        // Asking for information responds, then pauses.
        let r = ev(EventKind::InfoRequested, true, json!({"body": "x"}));
        assert_eq!(
            happenings(Status::Open, Status::Pending, &r, true, None, &s),
            [Happening::AgentReply, Happening::Paused]
        );
        // The customer's answer resumes the clocks, then counts as their reply.
        let c = ev(EventKind::Reopened, true, json!({"body": "x"}));
        assert_eq!(
            happenings(Status::Pending, Status::Open, &c, false, None, &s),
            [Happening::Resumed, Happening::CustomerReply]
        );
        // On hold pauses only when configured.
        let h = ev(EventKind::OnHold, true, json!({"reason": "x"}));
        assert!(happenings(Status::Open, Status::OnHold, &h, true, None, &s).is_empty());
        let paused = SlaSettings {
            on_hold_pauses: true,
            ..SlaSettings::default()
        };
        assert_eq!(
            happenings(Status::Open, Status::OnHold, &h, true, None, &paused),
            [Happening::Paused]
        );
    }
}
