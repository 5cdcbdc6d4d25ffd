//! SLA clocks as an append-only log, and every figure derived from it.
//!
//! Semantics (the same text is in ARCHITECTURE.md):
//! - **First response** starts when the case is created and is met by the first public reply
//!   of an agent. Internal notes, automatic acknowledgements and status changes do not count.
//! - **Next response** starts at a public customer reply that follows an agent's public reply
//!   (a cycle per such reply, while none is running) and is met by the next public agent reply.
//! - **Resolution** starts at creation and is met when the case is solved; a reopening starts
//!   a new cycle.
//! - Every running clock pauses while the case is pending (waiting on the customer) and
//!   resumes when it leaves pending; on-hold pauses too only when configured.
//! - A priority change applies the new goals to every cycle from its original start.
//! - A cycle past its due time and not met is breached; the breach is logged once, and
//!   meeting the cycle later keeps it breached.
//! - Closing a case stops every cycle that still runs, unmet.
//!
//! The log holds, per target and cycle: `applied` (the goal), `started`, `paused`, `resumed`,
//! `met`, `breached` and `stopped`. Due times are never stored as truth: they are derived from
//! the log and the calendars, so a change to a calendar or a policy shows at once.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::calendar::Calendar;
use super::policy::{Basis, Goal, Policy, Target};

/// What happened to a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClockEventKind {
    /// The goal in force from now on (at creation, or after a priority or policy change).
    Applied {
        /// The goal.
        goal: Goal,
    },
    /// A cycle began.
    Started,
    /// The case began waiting on the customer.
    Paused,
    /// The case stopped waiting on the customer.
    Resumed,
    /// The cycle was met.
    Met,
    /// The cycle passed its due time unmet (logged once).
    Breached,
    /// The warning share of the goal was used up and the warning sent (logged once).
    Warned,
    /// The cycle ended unmet without breaching the customer's trust in it: the case closed.
    Stopped,
}

/// One entry of a case's SLA log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockEvent {
    /// Which target.
    pub target: Target,
    /// Which cycle of it, from 1.
    pub cycle: u32,
    /// What happened.
    #[serde(flatten)]
    pub kind: ClockEventKind,
    /// When.
    pub at: Timestamp,
}

/// The calendars a case's business time is counted on, each from the instant it took
/// effect, so every interval is counted with the calendar in force then.
#[derive(Debug, Clone)]
pub struct Calendars {
    versions: Vec<(Timestamp, Calendar)>,
}

impl Calendars {
    /// One calendar, in force since always.
    pub fn single(c: Calendar) -> Self {
        Calendars {
            versions: vec![(Timestamp::MIN, c)],
        }
    }

    /// Versions ordered by the instant they took effect; the first covers all time before it.
    pub fn from_versions(mut versions: Vec<(Timestamp, Calendar)>) -> Option<Self> {
        versions.sort_by_key(|(t, _)| *t);
        let first = versions.first_mut()?;
        first.0 = Timestamp::MIN;
        Some(Calendars { versions })
    }

    fn spans(&self) -> impl Iterator<Item = (Timestamp, Timestamp, &Calendar)> {
        self.versions.iter().enumerate().map(|(i, (from, c))| {
            let until = self
                .versions
                .get(i + 1)
                .map(|v| v.0)
                .unwrap_or(Timestamp::MAX);
            (*from, until, c)
        })
    }

    /// Business time between two instants, each piece counted with its calendar.
    pub fn business_between(&self, a: Timestamp, b: Timestamp) -> SignedDuration {
        let mut total = SignedDuration::ZERO;
        for (from, until, c) in self.spans() {
            let (s, e) = (a.max(from), b.min(until));
            if s < e {
                total += c.business_between(s, e);
            }
        }
        total
    }

    /// When `amount` of business time has passed since `start`.
    pub fn add(&self, start: Timestamp, amount: SignedDuration) -> crate::Result<Timestamp> {
        let mut left = amount;
        let mut at = start;
        for (from, until, c) in self.spans() {
            if until <= at {
                continue;
            }
            at = at.max(from);
            if until == Timestamp::MAX {
                return c.add(at, left);
            }
            let here = c.business_between(at, until);
            if here >= left {
                return c.add(at, left);
            }
            left -= here;
            at = until;
        }
        Ok(at)
    }

    /// The calendar in force at `t`.
    pub fn at(&self, t: Timestamp) -> &Calendar {
        let i = self.versions.partition_point(|(from, _)| *from <= t);
        // The first version covers all time before it, so `i` is at least 1 for any `t`.
        &self.versions[i.saturating_sub(1)].1
    }

    /// The open intervals between two instants, each piece from its calendar.
    pub fn open_intervals(&self, a: Timestamp, b: Timestamp) -> Vec<(Timestamp, Timestamp)> {
        self.spans()
            .filter(|(from, until, _)| *from < b && a < *until)
            .flat_map(|(from, until, c)| c.open_intervals(a.max(from), b.min(until)))
            .collect()
    }
}

/// Where a cycle stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleState {
    /// Counting.
    Running,
    /// Waiting on the customer; not counting.
    Paused,
    /// Met in time.
    Met,
    /// Past its due time (met late or not at all).
    Breached,
    /// Ended unmet when the case closed, before its due time.
    Stopped,
}

/// One cycle of one target, with every figure derived from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cycle {
    /// Target.
    pub target: Target,
    /// Cycle number, from 1.
    pub cycle: u32,
    /// The goal in force.
    pub goal: Goal,
    /// State now.
    pub state: CycleState,
    /// When it started.
    pub started_at: Timestamp,
    /// When it was met or stopped.
    pub stopped_at: Option<Timestamp>,
    /// When it falls (or fell) due; unknown while paused.
    pub due_at: Option<Timestamp>,
    /// When it breached, if it did.
    pub breached_at: Option<Timestamp>,
    /// Counted time so far (business time for business goals).
    pub elapsed: SignedDuration,
    /// Goal minus elapsed; negative once breached.
    pub remaining: SignedDuration,
    /// The stretches that ran, pauses excluded (see [`Cycle::counted`] for the open hours
    /// within them).
    pub runs: Vec<(Timestamp, Timestamp)>,
    /// The pauses.
    pub pauses: Vec<(Timestamp, Option<Timestamp>)>,
    /// While running: when the current stretch began (the start, or the last resumption).
    pub running_since: Option<Timestamp>,
}

/// Derives every cycle of a log as of `now`. Business goals count on `calendars`, calendar
/// goals around the clock.
pub fn derive(log: &[ClockEvent], calendars: &Calendars, now: Timestamp) -> Vec<Cycle> {
    let always = Calendars::single(Calendar::always_open());
    let mut keys: Vec<(Target, u32)> = log
        .iter()
        .filter(|e| e.kind == ClockEventKind::Started)
        .map(|e| (e.target, e.cycle))
        .collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::with_capacity(keys.len());
    for (target, cycle) in keys {
        // Goals apply to the target as a whole: the latest one applied counts for every cycle.
        let Some(goal) = log
            .iter()
            .filter(|e| e.target == target && e.at <= now)
            .filter_map(|e| match e.kind {
                ClockEventKind::Applied { goal } => Some(goal),
                _ => None,
            })
            .next_back()
        else {
            continue;
        };
        let cal = match goal.basis {
            Basis::Business => calendars,
            Basis::Calendar => &always,
        };
        let mine = log
            .iter()
            .filter(|e| e.target == target && e.cycle == cycle && e.at <= now);
        let (mut started, mut stopped, mut met, mut breached) = (None, None, false, None);
        let mut pauses: Vec<(Timestamp, Option<Timestamp>)> = Vec::new();
        for e in mine {
            match e.kind {
                ClockEventKind::Started => started = Some(e.at),
                ClockEventKind::Paused => {
                    if pauses.last().is_none_or(|p| p.1.is_some()) {
                        pauses.push((e.at, None));
                    }
                }
                ClockEventKind::Resumed => {
                    if let Some(p) = pauses.last_mut().filter(|p| p.1.is_none()) {
                        p.1 = Some(e.at);
                    }
                }
                ClockEventKind::Met => {
                    met = true;
                    stopped = stopped.or(Some(e.at));
                }
                ClockEventKind::Stopped => stopped = stopped.or(Some(e.at)),
                ClockEventKind::Breached => breached = breached.or(Some(e.at)),
                ClockEventKind::Applied { .. } | ClockEventKind::Warned => {}
            }
        }
        let Some(start) = started else { continue };
        let end = stopped.unwrap_or(now).max(start);
        // Running stretches: from the start, cut by the pauses, up to the end.
        let mut runs = Vec::new();
        let mut from = start;
        for (p, r) in &pauses {
            let p = (*p).clamp(start, end);
            if from < p {
                runs.push((from, p));
            }
            from = r.unwrap_or(Timestamp::MAX).max(p);
        }
        let paused_now = stopped.is_none() && pauses.last().is_some_and(|p| p.1.is_none());
        if from < end {
            runs.push((from, end));
        }
        let elapsed: SignedDuration = runs.iter().map(|(a, b)| cal.business_between(*a, *b)).sum();
        // The due time: from the start of the current stretch, what the goal leaves after
        // what counted before it. Unknown while paused (it depends on when the customer
        // answers).
        let due = if paused_now {
            None
        } else if stopped.is_some() {
            due_along(&runs, None, start, goal.duration(), cal)
        } else {
            let closed: Vec<_> = runs.iter().copied().filter(|(a, _)| *a < from).collect();
            due_along(&closed, Some(from), start, goal.duration(), cal)
        };
        let horizon = if stopped.is_some() { end } else { now };
        let late = due.filter(|d| *d < horizon);
        let breached_at = breached.or(late);
        let state = match (met, stopped.is_some(), paused_now, breached_at.is_some()) {
            (_, _, _, true) => CycleState::Breached,
            (true, _, _, false) => CycleState::Met,
            (false, true, _, false) => CycleState::Stopped,
            (false, false, true, false) => CycleState::Paused,
            (false, false, false, false) => CycleState::Running,
        };
        out.push(Cycle {
            target,
            cycle,
            goal,
            state,
            started_at: start,
            stopped_at: stopped,
            due_at: due,
            breached_at,
            elapsed,
            remaining: goal.duration() - elapsed,
            running_since: (stopped.is_none() && !paused_now).then_some(from),
            runs,
            pauses,
        });
    }
    out
}

impl Cycle {
    /// The stretches that counted, clipped to the open hours of the calendar in force: what
    /// an explanation shows.
    pub fn counted(&self, calendars: &Calendars) -> Vec<(Timestamp, Timestamp)> {
        self.runs
            .iter()
            .flat_map(|(a, b)| match self.goal.basis {
                Basis::Calendar => vec![(*a, *b)],
                Basis::Business => calendars.open_intervals(*a, *b),
            })
            .collect()
    }
}

/// The default share of a goal at which the warning goes out.
pub const DEFAULT_WARNING_PERCENT: u8 = 75;

impl Cycle {
    /// When this cycle warns (at `percent` of its goal) and breaches, as far as known now:
    /// nothing once it was met, stopped or breached (the breach was logged), and nothing while
    /// it is paused (the instants depend on when it resumes). For a business-hours goal both
    /// instants lie in the calendar's open hours, so the people warned are at work; a goal
    /// counted around the clock warns at any hour.
    pub fn alerts(&self, calendars: &Calendars, percent: u8) -> Vec<(Alert, Timestamp)> {
        if self.state != CycleState::Running {
            return Vec::new();
        }
        let always = Calendars::single(Calendar::always_open());
        let cal = match self.goal.basis {
            Basis::Business => calendars,
            Basis::Calendar => &always,
        };
        let mut out = Vec::new();
        let share = self.goal.duration() * i32::from(percent.min(100)) / 100;
        let Some(since) = self.running_since else {
            return out;
        };
        let closed: Vec<_> = self.runs.iter().copied().filter(|r| r.0 < since).collect();
        if let Some(at) = due_along(&closed, Some(since), self.started_at, share, cal) {
            out.push((Alert::Warning, at));
        }
        if let Some(due) = self.due_at {
            out.push((Alert::Breach, due));
        }
        out
    }
}

/// A notice a running cycle gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alert {
    /// The share of the goal has passed.
    Warning,
    /// The goal has passed unmet.
    Breach,
}

/// When the goal runs out: along the stretches that counted (if it ran out there, that is the
/// due time, even if long past), else from `open` (the stretch running now), else from the end
/// of the last stretch, as if the cycle had kept running.
fn due_along(
    runs: &[(Timestamp, Timestamp)],
    open: Option<Timestamp>,
    start: Timestamp,
    goal: SignedDuration,
    cal: &Calendars,
) -> Option<Timestamp> {
    let mut left = goal;
    for (a, b) in runs {
        let here = cal.business_between(*a, *b);
        if here >= left {
            return cal.add(*a, left).ok();
        }
        left -= here;
    }
    let from = open.or(runs.last().map(|r| r.1)).unwrap_or(start);
    cal.add(from, left).ok()
}

/// What happened on a case, as far as its SLA is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happening {
    /// The case was opened under `policy`.
    Created(Policy),
    /// An agent replied publicly (a person, not an automatic message).
    AgentReply,
    /// The customer (requester or team contact) replied publicly.
    CustomerReply,
    /// The case began waiting on the customer, or on a third party when on-hold pauses.
    Paused,
    /// The case stopped waiting.
    Resumed,
    /// A resolution was proposed (the case is solved).
    Solved,
    /// The customer reopened the case.
    Reopened,
    /// The case was closed.
    Closed,
    /// New goals (a priority change, or the policy was edited).
    Retargeted(Policy),
}

/// The state of a case's clocks needed to turn happenings into log entries.
#[derive(Debug, Clone, Default)]
pub struct Clocks {
    /// Latest cycle per target and whether it still runs (started, not met or stopped).
    cycles: [(u32, bool); 3],
    paused: bool,
    agent_replied: bool,
    policy: Policy,
}

fn ix(t: Target) -> usize {
    match t {
        Target::FirstResponse => 0,
        Target::NextResponse => 1,
        Target::Resolution => 2,
    }
}

impl Clocks {
    /// Rebuilds the state from a log (as stored).
    pub fn from_log(log: &[ClockEvent], agent_replied: bool, paused: bool) -> Self {
        let mut c = Clocks {
            paused,
            agent_replied,
            ..Default::default()
        };
        for e in log {
            let slot = &mut c.cycles[ix(e.target)];
            match e.kind {
                ClockEventKind::Started => *slot = (e.cycle, true),
                ClockEventKind::Met | ClockEventKind::Stopped if slot.0 == e.cycle => {
                    slot.1 = false
                }
                ClockEventKind::Applied { goal } => match e.target {
                    Target::FirstResponse => c.policy.first_response = Some(goal),
                    Target::NextResponse => c.policy.next_response = Some(goal),
                    Target::Resolution => c.policy.resolution = Some(goal),
                },
                _ => {}
            }
        }
        c
    }

    /// The log entries `h` at `at` adds; updates the state.
    pub fn on(&mut self, h: Happening, at: Timestamp) -> Vec<ClockEvent> {
        let mut out = Vec::new();
        match h {
            Happening::Created(p) => {
                self.apply(p, at, &mut out);
                self.start(Target::FirstResponse, at, &mut out);
                self.start(Target::Resolution, at, &mut out);
            }
            Happening::AgentReply => {
                self.agent_replied = true;
                self.meet(Target::FirstResponse, at, &mut out);
                self.meet(Target::NextResponse, at, &mut out);
            }
            Happening::CustomerReply => {
                if self.agent_replied && !self.cycles[ix(Target::NextResponse)].1 {
                    self.start(Target::NextResponse, at, &mut out);
                    if self.paused {
                        // Replies usually end a pause first; if not, the new cycle waits too.
                        self.push(Target::NextResponse, ClockEventKind::Paused, at, &mut out);
                    }
                }
            }
            Happening::Paused if !self.paused => {
                self.paused = true;
                for t in Target::ALL {
                    self.push(t, ClockEventKind::Paused, at, &mut out);
                }
            }
            Happening::Resumed if self.paused => {
                self.paused = false;
                for t in Target::ALL {
                    self.push(t, ClockEventKind::Resumed, at, &mut out);
                }
            }
            Happening::Paused | Happening::Resumed => {}
            Happening::Solved => {
                self.meet(Target::Resolution, at, &mut out);
                // Nobody waits on support any more; an unanswered reply's clock ends unmet.
                self.push(Target::NextResponse, ClockEventKind::Stopped, at, &mut out);
                self.close(Target::NextResponse);
            }
            Happening::Reopened => {
                if !self.cycles[ix(Target::Resolution)].1 {
                    self.start(Target::Resolution, at, &mut out);
                }
            }
            Happening::Closed => {
                for t in Target::ALL {
                    self.push(t, ClockEventKind::Stopped, at, &mut out);
                    self.close(t);
                }
            }
            Happening::Retargeted(p) => self.apply(p, at, &mut out),
        }
        out
    }

    fn apply(&mut self, p: Policy, at: Timestamp, out: &mut Vec<ClockEvent>) {
        for t in Target::ALL {
            if let Some(goal) = p.goal(t)
                && self.policy.goal(t) != Some(goal)
            {
                let cycle = self.cycles[ix(t)].0.max(1);
                out.push(ClockEvent {
                    target: t,
                    cycle,
                    kind: ClockEventKind::Applied { goal },
                    at,
                });
            }
        }
        self.policy = p;
    }

    fn start(&mut self, t: Target, at: Timestamp, out: &mut Vec<ClockEvent>) {
        if self.policy.goal(t).is_none() {
            return;
        }
        let next = self.cycles[ix(t)].0 + 1;
        self.cycles[ix(t)] = (next, true);
        out.push(ClockEvent {
            target: t,
            cycle: next,
            kind: ClockEventKind::Started,
            at,
        });
    }

    fn meet(&mut self, t: Target, at: Timestamp, out: &mut Vec<ClockEvent>) {
        self.push(t, ClockEventKind::Met, at, out);
        self.close(t);
    }

    fn close(&mut self, t: Target) {
        self.cycles[ix(t)].1 = false;
    }

    /// Logs `kind` on the running cycle of `t`, if one runs.
    fn push(&self, t: Target, kind: ClockEventKind, at: Timestamp, out: &mut Vec<ClockEvent>) {
        let (cycle, running) = self.cycles[ix(t)];
        if running {
            out.push(ClockEvent {
                target: t,
                cycle,
                kind,
                at,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Plan;
    use crate::cases::Priority;
    use crate::sla::policy::default_policy;

    fn berlin(s: &str) -> Timestamp {
        s.parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
            .unwrap()
            .timestamp()
    }

    fn office() -> Calendars {
        Calendars::single(Calendar::office_hours("Europe/Berlin").unwrap())
    }

    /// Runs happenings through the clocks and returns the log.
    fn run(steps: &[(&str, Happening)]) -> Vec<ClockEvent> {
        let mut c = Clocks::default();
        steps
            .iter()
            .flat_map(|(t, h)| c.on(*h, berlin(t)))
            .collect()
    }

    fn cycle(cycles: &[Cycle], t: Target, n: u32) -> Cycle {
        cycles
            .iter()
            .find(|c| c.target == t && c.cycle == n)
            .cloned()
            .unwrap()
    }

    const GOLD_P3: fn() -> Policy = || default_policy(Plan::Gold, Priority::P3);

    #[test]
    fn first_response_is_met_by_an_agent_reply_only() {
        let log = run(&[
            ("2026-11-20T17:30", Happening::Created(GOLD_P3())),
            ("2026-11-23T09:00", Happening::CustomerReply),
            ("2026-11-23T10:00", Happening::AgentReply),
        ]);
        let cycles = derive(&log, &office(), berlin("2026-11-23T12:00"));
        let fr = cycle(&cycles, Target::FirstResponse, 1);
        assert_eq!(fr.state, CycleState::Met);
        assert_eq!(fr.due_at, Some(berlin("2026-11-23T15:30")));
        assert_eq!(fr.elapsed, SignedDuration::from_mins(30 + 120));
        // No agent had replied before the customer's message: no next-response cycle.
        assert!(cycles.iter().all(|c| c.target != Target::NextResponse));
    }

    #[test]
    fn a_customer_reply_after_an_agent_reply_starts_next_response() {
        let log = run(&[
            ("2026-11-23T09:00", Happening::Created(GOLD_P3())),
            ("2026-11-23T09:30", Happening::AgentReply),
            ("2026-11-23T11:00", Happening::CustomerReply),
            ("2026-11-23T11:30", Happening::CustomerReply),
        ]);
        let cycles = derive(&log, &office(), berlin("2026-11-23T12:00"));
        let nr = cycle(&cycles, Target::NextResponse, 1);
        assert_eq!(nr.state, CycleState::Running);
        assert_eq!(nr.started_at, berlin("2026-11-23T11:00"));
        // Standard P3: two business days of 8 h = 16 h from Monday 11:00: 7 h on Monday and
        // 9 more on Tuesday.
        assert_eq!(nr.due_at, Some(berlin("2026-11-24T17:00")));
        assert_eq!(
            cycles.len(),
            3,
            "the second reply does not start another cycle"
        );
    }

    #[test]
    fn pending_pauses_and_shifts_the_due_time_by_the_pause() {
        let log = run(&[
            ("2026-11-23T09:00", Happening::Created(GOLD_P3())),
            ("2026-11-23T10:00", Happening::Paused),
        ]);
        let now = berlin("2026-11-24T12:00");
        let cycles = derive(&log, &office(), now);
        let fr = cycle(&cycles, Target::FirstResponse, 1);
        assert_eq!(fr.state, CycleState::Paused);
        assert_eq!(fr.due_at, None);
        assert_eq!(fr.remaining, SignedDuration::from_hours(7));
        let mut log = log;
        log.extend(Clocks::from_log(&log, false, true).on(Happening::Resumed, now));
        let fr = cycle(&derive(&log, &office(), now), Target::FirstResponse, 1);
        // 1 h counted before the pause, 7 h left from Tuesday 12:00: 6 h Tuesday, 1 h Wednesday.
        assert_eq!(fr.due_at, Some(berlin("2026-11-25T09:00")));
        assert_eq!(fr.pauses.len(), 1);
    }

    #[test]
    fn a_priority_change_recomputes_from_the_original_start() {
        let mut c = Clocks::default();
        let mut log = c.on(Happening::Created(GOLD_P3()), berlin("2026-11-23T09:00"));
        log.extend(c.on(
            Happening::Retargeted(default_policy(Plan::Gold, Priority::P2)),
            berlin("2026-11-23T10:00"),
        ));
        let fr = cycle(
            &derive(&log, &office(), berlin("2026-11-23T10:30")),
            Target::FirstResponse,
            1,
        );
        assert_eq!(fr.started_at, berlin("2026-11-23T09:00"));
        assert_eq!(fr.due_at, Some(berlin("2026-11-23T13:00")));
    }

    #[test]
    fn a_breach_stays_a_breach_when_met_late() {
        let p1 = default_policy(Plan::Platinum, Priority::P1);
        let log = run(&[
            ("2026-11-21T03:00", Happening::Created(p1)),
            ("2026-11-21T04:00", Happening::AgentReply),
        ]);
        let cycles = derive(&log, &office(), berlin("2026-11-21T05:00"));
        let fr = cycle(&cycles, Target::FirstResponse, 1);
        // 30 minutes around the clock, on a Saturday night.
        assert_eq!(fr.due_at, Some(berlin("2026-11-21T03:30")));
        assert_eq!(fr.state, CycleState::Breached);
        assert_eq!(fr.breached_at, Some(berlin("2026-11-21T03:30")));
        assert_eq!(fr.remaining, SignedDuration::from_mins(-30));
    }

    #[test]
    fn reopening_starts_a_new_resolution_cycle_and_closing_stops_all() {
        let log = run(&[
            ("2026-11-23T09:00", Happening::Created(GOLD_P3())),
            ("2026-11-23T09:30", Happening::AgentReply),
            ("2026-11-23T10:00", Happening::Solved),
            ("2026-11-23T11:00", Happening::Reopened),
            ("2026-11-23T11:30", Happening::CustomerReply),
            ("2026-11-23T12:00", Happening::Closed),
        ]);
        let cycles = derive(&log, &office(), berlin("2026-11-23T13:00"));
        assert_eq!(cycle(&cycles, Target::Resolution, 1).state, CycleState::Met);
        let r2 = cycle(&cycles, Target::Resolution, 2);
        assert_eq!(r2.state, CycleState::Stopped);
        assert_eq!(r2.elapsed, SignedDuration::from_hours(1));
        assert_eq!(
            cycle(&cycles, Target::NextResponse, 1).state,
            CycleState::Stopped
        );
    }

    #[test]
    fn business_time_counts_with_the_calendar_in_force() {
        // Until Tuesday noon the team worked 08:00–18:00; from then on 10:00–14:00.
        let short = Calendar::from_json(&serde_json::json!({"time_zone": "Europe/Berlin",
            "hours": {"mon": ["10:00-14:00"], "tue": ["10:00-14:00"], "wed": ["10:00-14:00"],
                      "thu": ["10:00-14:00"], "fri": ["10:00-14:00"]}}))
        .unwrap();
        let cals = Calendars::from_versions(vec![
            (
                Timestamp::MIN,
                Calendar::office_hours("Europe/Berlin").unwrap(),
            ),
            (berlin("2026-11-24T12:00"), short),
        ])
        .unwrap();
        let a = berlin("2026-11-23T08:00");
        // Monday 10 h + Tuesday 08:00–12:00 4 h under the old hours, then 12:00–14:00 2 h.
        assert_eq!(
            cals.business_between(a, berlin("2026-11-25T00:00")),
            SignedDuration::from_hours(16)
        );
        // 18 h from Monday 08:00: 16 h by Tuesday 14:00, 2 h more on Wednesday from 10:00.
        assert_eq!(
            cals.add(a, SignedDuration::from_hours(18)).unwrap(),
            berlin("2026-11-25T12:00")
        );
    }

    #[test]
    fn warnings_fall_at_three_quarters_in_working_hours() {
        // Gold P3: 8 business hours from Friday 17:30 → due Monday 15:30; 6 h (75 %) are
        // reached Monday 13:30.
        let log = run(&[("2026-11-20T17:30", Happening::Created(GOLD_P3()))]);
        let cal = office();
        let c = cycle(
            &derive(&log, &cal, berlin("2026-11-21T12:00")),
            Target::FirstResponse,
            1,
        );
        assert_eq!(
            c.alerts(&cal, DEFAULT_WARNING_PERCENT),
            vec![
                (Alert::Warning, berlin("2026-11-23T13:30")),
                (Alert::Breach, berlin("2026-11-23T15:30")),
            ]
        );
        // A P1 on a premium plan counts around the clock: 30 min → warning after 22.5 min,
        // at night.
        let log = run(&[(
            "2026-11-21T03:00",
            Happening::Created(default_policy(Plan::Platinum, Priority::P1)),
        )]);
        let c = cycle(
            &derive(&log, &cal, berlin("2026-11-21T03:05")),
            Target::FirstResponse,
            1,
        );
        assert_eq!(
            c.alerts(&cal, 75)[0],
            (Alert::Warning, berlin("2026-11-21T03:22:30"))
        );
        // Met or paused cycles announce nothing.
        let log = run(&[
            ("2026-11-23T09:00", Happening::Created(GOLD_P3())),
            ("2026-11-23T09:10", Happening::Paused),
        ]);
        let cycles = derive(&log, &cal, berlin("2026-11-23T10:00"));
        assert!(cycles.iter().all(|c| c.alerts(&cal, 75).is_empty()));
    }
}
