//! The SLA state of a million open cases on one core: every cycle of every case derived from
//! its clock log (due time, elapsed business time, state), as a queue view or the breach
//! report would need it.
//!
//! `cargo bench -p casedesk-core --bench sla_state` (CASES=… to change the count).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use casedesk_core::accounts::Plan;
use casedesk_core::cases::Priority;
use casedesk_core::sla::clock::{Calendars, ClockEvent, Clocks, Happening, derive};
use casedesk_core::sla::{Calendar, CycleState, default_policy};
use jiff::{SignedDuration, Timestamp};

fn main() {
    let cases: usize = std::env::var("CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let zones = [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",
        "Asia/Kolkata",
        "Pacific/Chatham",
        "America/Los_Angeles",
        "Asia/Tokyo",
        "Europe/London",
    ];
    let calendars: Vec<Calendars> = zones
        .iter()
        .map(|z| Calendars::single(Calendar::office_hours(z).unwrap()))
        .collect();
    let plans = [
        Plan::Silver,
        Plan::Gold,
        Plan::HomeGrown,
        Plan::Enterprise,
        Plan::Platinum,
    ];
    // A fixed instant as data: the SLA arithmetic takes "now" as an argument, so the figures
    // do not depend on the day the benchmark runs.
    let now: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Open cases created over the last 30 days, each with its own history.
    let t0 = Instant::now();
    let mut logs: Vec<(usize, Vec<ClockEvent>)> = Vec::with_capacity(cases);
    for _ in 0..cases {
        let plan = plans[(next() % 5) as usize];
        let priority = Priority::ALL[(next() % 4) as usize];
        let created = now - SignedDuration::from_mins((next() % (30 * 24 * 60)) as i64 + 1);
        let mut clocks = Clocks::default();
        let mut log = clocks.on(Happening::Created(default_policy(plan, priority)), created);
        let mut t = created;
        for _ in 0..(next() % 5) {
            let step = SignedDuration::from_mins((next() % (24 * 60)) as i64 + 1);
            if t + step >= now {
                break;
            }
            t += step;
            let h = match next() % 4 {
                0 => Happening::AgentReply,
                1 => Happening::CustomerReply,
                2 => Happening::Paused,
                _ => Happening::Resumed,
            };
            log.extend(clocks.on(h, t));
        }
        logs.push(((next() % zones.len() as u64) as usize, log));
    }
    let built = t0.elapsed();
    // Warm the calendars' indexes (built once per calendar, at first use).
    for c in &calendars {
        let _ = c.business_between(now, now + SignedDuration::from_hours(1));
    }

    let t1 = Instant::now();
    let (mut cycles, mut running, mut breached) = (0usize, 0usize, 0usize);
    for (cal, log) in &logs {
        for c in derive(log, &calendars[*cal], now) {
            cycles += 1;
            match c.state {
                CycleState::Running => running += 1,
                CycleState::Breached => breached += 1,
                _ => {}
            }
        }
    }
    let took = t1.elapsed();
    println!(
        "{cases} open cases ({cycles} cycles: {running} running, {breached} breached), one core: \
         {:.3} s, {:.2} µs per case (logs generated in {:.1} s)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / cases as f64,
        built.as_secs_f64()
    );
}
