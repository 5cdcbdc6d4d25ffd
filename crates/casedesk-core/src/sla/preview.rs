//! The preview a calendar editor needs: when would a target starting at an instant fall due,
//! and how much business time lies between two instants. Served to managers by the API and,
//! without a server, by `casedesk sla due|between`.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::calendar::Calendar;
use super::policy::MAX_GOAL_MINUTES;
use crate::users::{Principal, Role, Scope};
use crate::{DomainError, FieldError, Result};

/// Reads the `calendar` of a question: a calendar object, `"24x7"`, or an IANA zone name
/// (Monday–Friday 08:00–18:00 there). Field errors are named under `calendar.`.
pub fn calendar_of(v: Option<&Value>) -> Result<Calendar> {
    match v {
        Some(Value::String(s)) if s == "24x7" => Ok(Calendar::always_open()),
        Some(Value::String(zone)) => Calendar::office_hours(zone).map_err(|_| {
            DomainError::field(
                "calendar",
                "must be a calendar, \"24x7\", or an IANA time zone name such as Europe/Berlin",
            )
        }),
        Some(obj @ Value::Object(_)) => Calendar::from_json(obj).map_err(|e| match e {
            DomainError::Validation(errs) => DomainError::Validation(
                errs.into_iter()
                    .map(|f| FieldError::new(format!("calendar.{}", f.field), f.message))
                    .collect(),
            ),
            other => other,
        }),
        _ => Err(DomainError::field(
            "calendar",
            "is required: a calendar, \"24x7\", or an IANA time zone name",
        )),
    }
}

/// The question's calendar, its problems added to `errs`.
fn calendar_field(v: &Value, errs: &mut Vec<FieldError>) -> Option<Calendar> {
    match calendar_of(v.get("calendar")) {
        Ok(c) => Some(c),
        Err(DomainError::Validation(f)) => {
            errs.extend(f);
            None
        }
        Err(e) => {
            errs.push(FieldError::new("calendar", e.to_string()));
            None
        }
    }
}

fn instant(v: &Value, field: &str, errs: &mut Vec<FieldError>) -> Option<Timestamp> {
    match v
        .get(field)
        .and_then(Value::as_str)
        .map(str::parse::<Timestamp>)
    {
        Some(Ok(t)) => Some(t),
        _ => {
            errs.push(FieldError::new(
                field,
                "must be an RFC 3339 time with an offset, such as 2026-11-20T17:30:00+01:00",
            ));
            None
        }
    }
}

fn check_fields(v: &Value, allowed: &[&str]) -> Result<Vec<FieldError>> {
    let Some(obj) = v.as_object() else {
        return Err(DomainError::field("body", "must be a JSON object"));
    };
    Ok(obj
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| FieldError::new(k.as_str(), "is not a field of this question"))
        .collect())
}

fn intervals(list: &[(Timestamp, Timestamp)]) -> Value {
    list.iter()
        .map(|(a, b)| json!({"from": a.to_string(), "to": b.to_string()}))
        .collect()
}

fn minutes(d: SignedDuration) -> Value {
    // Whole minutes when exact, else with the fraction.
    let secs = d.as_secs();
    if secs % 60 == 0 {
        json!(secs / 60)
    } else {
        json!(d.as_secs_f64() / 60.0)
    }
}

/// Only managers keep the SLA's calendars, policies and settings (and preview calendars).
pub fn require_manager(p: &Principal) -> Result<()> {
    if p.user.role != Role::Manager {
        return Err(DomainError::Forbidden(
            "Only support managers can see and change SLA calendars, policies and settings.".into(),
        ));
    }
    crate::permissions::require_scope(p, Scope::Admin)
}

/// `{"calendar", "start", "target_minutes"}` → when the target falls due, and the open
/// stretches it counts.
pub fn due(v: &Value) -> Result<Value> {
    let mut errs = check_fields(v, &["calendar", "start", "target_minutes"])?;
    let cal = calendar_field(v, &mut errs);
    let start = instant(v, "start", &mut errs);
    let target = match v.get("target_minutes").and_then(Value::as_u64) {
        Some(m) if (1..=u64::from(MAX_GOAL_MINUTES)).contains(&m) => Some(m),
        _ => {
            errs.push(FieldError::new(
                "target_minutes",
                format!("must be a whole number of minutes from 1 to {MAX_GOAL_MINUTES}"),
            ));
            None
        }
    };
    let (Some(cal), Some(start), Some(target), true) = (cal, start, target, errs.is_empty()) else {
        return Err(DomainError::Validation(errs));
    };
    let amount = SignedDuration::from_mins(i64::try_from(target).unwrap_or(i64::MAX));
    let due = cal.add(start, amount)?;
    Ok(json!({
        "calendar": cal.to_json(),
        "start": start.to_string(),
        "target_minutes": target,
        "due_at": due.to_string(),
        "due_local": due.to_zoned(cal.time_zone().clone()).to_string(),
        "counted": intervals(&cal.open_intervals(start, due)),
    }))
}

/// `{"calendar", "from", "to"}` → the business time between the two instants.
pub fn between(v: &Value) -> Result<Value> {
    let mut errs = check_fields(v, &["calendar", "from", "to"])?;
    let cal = calendar_field(v, &mut errs);
    let from = instant(v, "from", &mut errs);
    let to = instant(v, "to", &mut errs);
    if let (Some(a), Some(b)) = (from, to)
        && b < a
    {
        errs.push(FieldError::new("to", "must not be before from"));
    }
    let (Some(cal), Some(from), Some(to), true) = (cal, from, to, errs.is_empty()) else {
        return Err(DomainError::Validation(errs));
    };
    if to.duration_since(from) > SignedDuration::from_hours(24 * 3 * 366) {
        return Err(DomainError::field(
            "to",
            "must be within three years of from",
        ));
    }
    let d = cal.business_between(from, to);
    Ok(json!({
        "calendar": cal.to_json(),
        "from": from.to_string(),
        "to": to.to_string(),
        "business_minutes": minutes(d),
        "counted": intervals(&cal.open_intervals(from, to)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_answers_in_utc_and_local_time() {
        let a = due(
            &json!({"calendar": "Europe/Berlin", "start": "2026-11-20T17:30:00+01:00",
            "target_minutes": 480}),
        )
        .unwrap();
        assert_eq!(a["due_at"], "2026-11-23T14:30:00Z");
        assert_eq!(a["due_local"], "2026-11-23T15:30:00+01:00[Europe/Berlin]");
        assert_eq!(a["counted"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn between_counts_only_open_hours() {
        let a = between(&json!({"calendar": {"time_zone": "Asia/Kolkata",
            "hours": {"mon": ["09:30-13:00", "14:00-18:30"]}},
            "from": "2026-11-23T00:00:00Z", "to": "2026-11-24T00:00:00Z"}))
        .unwrap();
        assert_eq!(a["business_minutes"], 8 * 60);
    }

    #[test]
    fn every_bad_field_is_named() {
        let Err(DomainError::Validation(f)) = due(&json!({"calendar": {"time_zone": "Nowhere",
            "hours": "24x7"}, "start": "yesterday", "target_minutes": 0, "x": 1}))
        else {
            panic!()
        };
        let fields: Vec<&str> = f.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["x", "calendar.time_zone", "start", "target_minutes"]
        );
        let Err(DomainError::Validation(f)) = between(&json!({"calendar": "24x7",
            "from": "2026-11-24T00:00:00Z", "to": "2026-11-23T00:00:00Z"}))
        else {
            panic!()
        };
        assert_eq!(f[0].field, "to");
    }
}
