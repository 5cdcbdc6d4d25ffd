//! Properties of business-time arithmetic over generated calendars, in zones with
//! daylight-saving changes and with half- and three-quarter-hour offsets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use casedesk_core::sla::clock::{Calendars, Clocks, Happening, derive};
use casedesk_core::sla::{Calendar, Goal, Policy, Target};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const ZONES: [&str; 6] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "UTC",
];

/// A calendar: a zone, up to two intervals a day on quarter hours (some days closed, at least
/// one day open), up to six holidays in 2026–2027, or 24×7 with holidays.
fn calendar() -> impl Strategy<Value = Calendar> {
    let day = prop::collection::vec((0u16..96, 1u16..40), 0..=2);
    (
        0..ZONES.len(),
        prop::collection::vec(day, 7),
        prop::collection::vec(0i64..730, 0..6),
        prop::bool::weighted(0.1),
    )
        .prop_filter_map("never open", |(z, week, holidays, always)| {
            let mut hours = Map::new();
            for (i, day) in week.iter().enumerate() {
                let mut ivs: Vec<(u16, u16)> = Vec::new();
                for (start, len) in day {
                    let s = start * 15;
                    let e = (s + len * 15).min(1440);
                    if ivs.iter().all(|(a, b)| e <= *a || s >= *b) && s < e {
                        ivs.push((s, e));
                    }
                }
                if !ivs.is_empty() {
                    let key = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][i];
                    let items: Vec<Value> = ivs
                        .iter()
                        .map(|(a, b)| {
                            json!(format!(
                                "{:02}:{:02}-{:02}:{:02}",
                                a / 60,
                                a % 60,
                                b / 60,
                                b % 60
                            ))
                        })
                        .collect();
                    hours.insert(key.into(), Value::Array(items));
                }
            }
            let base: jiff::civil::Date = "2026-01-01".parse().unwrap();
            let holidays: Vec<String> = holidays
                .iter()
                .map(|d| {
                    base.checked_add(jiff::Span::new().days(*d))
                        .unwrap()
                        .to_string()
                })
                .collect();
            let hours = if always {
                json!("24x7")
            } else {
                Value::Object(hours)
            };
            Calendar::from_json(
                &json!({"time_zone": ZONES[z], "hours": hours, "holidays": holidays}),
            )
            .ok()
        })
}

/// An instant in 2026 or 2027, on a whole minute.
fn instant() -> impl Strategy<Value = Timestamp> {
    (0i64..(730 * 24 * 60)).prop_map(|m| {
        "2026-01-01T00:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .checked_add(SignedDuration::from_mins(m))
            .unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn business_time_to_the_due_time_equals_the_target(
        c in calendar(), start in instant(), minutes in 1i64..(60 * 60)
    ) {
        let target = SignedDuration::from_mins(minutes);
        if let Ok(due) = c.add(start, target) {
            prop_assert!(due > start);
            prop_assert_eq!(c.business_between(start, due), target);
            // And no earlier instant would do: a minute before, some time is still missing.
            let before = due.checked_sub(SignedDuration::from_secs(1)).unwrap();
            prop_assert!(c.business_between(start, before) < target);
        }
    }

    #[test]
    fn the_due_time_never_decreases_as_the_target_grows(
        c in calendar(), start in instant(), a in 0i64..3000, b in 0i64..3000
    ) {
        let (small, large) = (a.min(b), a.max(b));
        let d1 = c.add(start, SignedDuration::from_mins(small));
        let d2 = c.add(start, SignedDuration::from_mins(large));
        if let (Ok(d1), Ok(d2)) = (d1, d2) {
            prop_assert!(d1 <= d2);
        }
    }

    #[test]
    fn business_time_adds_up_over_any_split(
        c in calendar(), a in instant(), x in instant(), y in instant()
    ) {
        let mut t = [a, x, y];
        t.sort();
        prop_assert_eq!(
            c.business_between(t[0], t[2]),
            c.business_between(t[0], t[1]) + c.business_between(t[1], t[2])
        );
    }

    #[test]
    fn a_pause_shifts_the_due_time_by_exactly_the_paused_business_time(
        c in calendar(), start in instant(), to_pause in 1i64..(5 * 24 * 60),
        pause in 1i64..(5 * 24 * 60), minutes in 1i64..(40 * 60)
    ) {
        let goal = Goal::business(u32::try_from(minutes).unwrap());
        let policy = Policy { first_response: Some(goal), next_response: None, resolution: None };
        let paused_at = start.checked_add(SignedDuration::from_mins(to_pause)).unwrap();
        let resumed_at = paused_at.checked_add(SignedDuration::from_mins(pause)).unwrap();
        let cals = Calendars::single(c.clone());
        let mut clocks = Clocks::default();
        let mut log = clocks.on(Happening::Created(policy), start);
        log.extend(clocks.on(Happening::Paused, paused_at));
        log.extend(clocks.on(Happening::Resumed, resumed_at));
        let now = resumed_at;
        let cycle = derive(&log, &cals, now)
            .into_iter()
            .find(|c| c.target == Target::FirstResponse)
            .unwrap();
        // A running cycle warns no later than it falls due, and after three quarters of it.
        let alerts = cycle.alerts(&cals, 75);
        if let [(_, warn), (_, due)] = alerts.as_slice() {
            prop_assert!(warn <= due);
            prop_assert!(*warn > start);
        }
        let Ok(unpaused) = c.add(start, goal.duration()) else { return Ok(()) };
        if unpaused <= paused_at {
            // Due before the pause: the pause changes nothing.
            prop_assert_eq!(cycle.due_at, Some(unpaused));
        } else if let Some(due) = cycle.due_at {
            let counted = c.business_between(start, paused_at) + c.business_between(resumed_at, due);
            prop_assert_eq!(counted, goal.duration());
            prop_assert_eq!(
                c.business_between(start, due) - c.business_between(paused_at, resumed_at),
                goal.duration()
            );
        }
    }
}
