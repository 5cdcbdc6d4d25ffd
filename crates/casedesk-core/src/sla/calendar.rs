//! Business calendars and the arithmetic of business time.
//!
//! Business time is real elapsed time inside a calendar's open intervals. The intervals are
//! written in the wall-clock time of the calendar's zone and turned into instants day by day
//! with that day's offset, so they follow daylight-saving changes: 08:00–18:00 in Berlin is
//! 07:00–17:00 UTC in winter and 06:00–16:00 UTC in summer. An interval that spans a
//! transition counts the real time that passed (an hour less or more). A wall-clock time that
//! does not exist (clocks jump forward) is moved forward by the length of the jump; one that
//! happens twice (clocks fall back) is taken at its first occurrence.
//!
//! A 24×7 calendar without holidays is plain elapsed time; one with holidays is open all day
//! on every other day.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use crate::{DomainError, FieldError};

/// Minutes in a day; an interval may end at `24:00`.
const DAY_MINUTES: u16 = 24 * 60;

/// How far ahead a due time may lie; past it, a target is refused rather than searched for.
pub const HORIZON_DAYS: i32 = 3 * 366;

/// Weekday keys, Monday first, as written in a calendar.
pub const WEEKDAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One open interval of a day, in minutes after local midnight: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Opening minute.
    pub start: u16,
    /// Closing minute (up to 1440, which is midnight at the end of the day).
    pub end: u16,
}

/// A validated business calendar.
#[derive(Debug, Clone)]
pub struct Calendar {
    zone_name: String,
    tz: TimeZone,
    /// Open intervals per weekday, Monday first, sorted and apart; `None` is 24×7.
    week: Option<[Vec<Interval>; 7]>,
    holidays: BTreeSet<Date>,
    /// The open intervals of some years around first use, as instants with running totals,
    /// built once and shared by clones: it turns both questions into binary searches.
    index: Arc<OnceLock<Index>>,
}

/// Open intervals as instants (microseconds) with the business time before each.
#[derive(Debug)]
struct Index {
    /// Instants inside `[from, until)` are answered from the index.
    from: i64,
    until: i64,
    starts: Vec<i64>,
    ends: Vec<i64>,
    /// Business microseconds before interval `i` (since `from`).
    before: Vec<i64>,
    /// Business microseconds up to the end of interval `i`.
    after: Vec<i64>,
}

/// Days before and after the first query that the index covers.
const INDEX_DAYS_BEFORE: i64 = 800;
const INDEX_DAYS_AFTER: i64 = 1200;

impl Index {
    /// Business time from the index's start to `t` (inside the window).
    fn to(&self, t: i64) -> i64 {
        let i = self.starts.partition_point(|s| *s <= t);
        if i == 0 {
            return 0;
        }
        let i = i - 1;
        self.before[i] + (t.min(self.ends[i]) - self.starts[i])
    }

    /// The instant at which the running total reaches `total`, if inside the window.
    fn at(&self, total: i64) -> Option<i64> {
        let i = self.after.partition_point(|end_total| *end_total < total);
        (i < self.starts.len()).then(|| self.starts[i] + (total - self.before[i]))
    }

    fn covers(&self, t: i64) -> bool {
        self.from <= t && t < self.until
    }
}

impl PartialEq for Calendar {
    fn eq(&self, other: &Self) -> bool {
        self.zone_name == other.zone_name
            && self.week == other.week
            && self.holidays == other.holidays
    }
}

/// Parses `HH:MM` (00:00–24:00) into minutes after midnight.
fn minute_of(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn weekday_index(d: Weekday) -> usize {
    usize::try_from(d.to_monday_zero_offset()).unwrap_or(0)
}

impl Calendar {
    /// Plain elapsed time: open always, no holidays.
    pub fn always_open() -> Calendar {
        Calendar {
            zone_name: "UTC".into(),
            tz: TimeZone::UTC,
            week: None,
            holidays: BTreeSet::new(),
            index: Arc::default(),
        }
    }

    /// Monday–Friday 08:00–18:00 in `zone` (an IANA name), no holidays.
    pub fn office_hours(zone: &str) -> crate::Result<Calendar> {
        let day = vec!["08:00-18:00"];
        Calendar::from_json(&json!({
            "time_zone": zone,
            "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day},
        }))
    }

    /// Reads and checks a calendar as managers write it:
    /// `{"time_zone": "Europe/Berlin", "hours": {"mon": ["08:00-12:00", "13:00-18:00"], …},
    /// "holidays": ["2026-12-25"]}`, or `"hours": "24x7"`. Every problem is reported by field;
    /// a calendar that is never open is refused here, so no computation can search for an
    /// opening that never comes.
    pub fn from_json(v: &Value) -> crate::Result<Calendar> {
        let mut errors = Vec::new();
        let Some(obj) = v.as_object() else {
            return Err(DomainError::field("calendar", "must be an object"));
        };
        for k in obj.keys() {
            if !matches!(k.as_str(), "time_zone" | "hours" | "holidays") {
                errors.push(FieldError::new(k.as_str(), "is not a calendar field"));
            }
        }
        let zone_name = obj.get("time_zone").and_then(Value::as_str).unwrap_or("");
        let tz = match TimeZone::get(zone_name) {
            Ok(tz) => Some(tz),
            Err(_) => {
                errors.push(FieldError::new(
                    "time_zone",
                    "must be an IANA time zone name, such as Europe/Berlin",
                ));
                None
            }
        };
        let week = match obj.get("hours") {
            Some(Value::String(s)) if s == "24x7" => None,
            Some(Value::Object(days)) => Some(parse_week(days, &mut errors)),
            _ => {
                errors.push(FieldError::new(
                    "hours",
                    "must be \"24x7\" or an object of weekdays (mon…sun) to lists of \"HH:MM-HH:MM\"",
                ));
                None
            }
        };
        let mut holidays = BTreeSet::new();
        match obj.get("holidays") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, h) in items.iter().enumerate() {
                    match h.as_str().and_then(|s| s.parse::<Date>().ok()) {
                        Some(d) => {
                            holidays.insert(d);
                        }
                        None => errors.push(FieldError::new(
                            format!("holidays[{i}]"),
                            "must be a date written YYYY-MM-DD",
                        )),
                    }
                }
            }
            Some(_) => errors.push(FieldError::new("holidays", "must be a list of dates")),
        }
        if let Some(w) = &week
            && errors.is_empty()
            && w.iter().all(Vec::is_empty)
        {
            errors.push(FieldError::new(
                "hours",
                "opens on no day of the week; a business calendar needs some open hours",
            ));
        }
        match (errors.is_empty(), tz) {
            (true, Some(tz)) => Ok(Calendar {
                zone_name: zone_name.to_owned(),
                tz,
                week,
                holidays,
                index: Arc::default(),
            }),
            _ => Err(DomainError::Validation(errors)),
        }
    }

    /// The calendar as [`Calendar::from_json`] reads it.
    pub fn to_json(&self) -> Value {
        let hours = match &self.week {
            None => json!("24x7"),
            Some(w) => {
                let mut m = Map::new();
                for (i, day) in w.iter().enumerate() {
                    if !day.is_empty() {
                        m.insert(
                            WEEKDAY_KEYS[i].to_owned(),
                            day.iter()
                                .map(|iv| format!("{}-{}", hhmm(iv.start), hhmm(iv.end)))
                                .collect(),
                        );
                    }
                }
                Value::Object(m)
            }
        };
        let holidays: Vec<String> = self.holidays.iter().map(Date::to_string).collect();
        json!({"time_zone": self.zone_name, "hours": hours, "holidays": holidays})
    }

    /// The IANA zone name.
    pub fn zone(&self) -> &str {
        &self.zone_name
    }

    /// The time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Open around the clock, no holidays: business time is elapsed time.
    pub fn is_continuous(&self) -> bool {
        self.week.is_none() && self.holidays.is_empty()
    }

    /// The instant of `minute` on local day `d`.
    fn instant(&self, d: Date, minute: u16) -> Option<Timestamp> {
        let (d, minute) = if minute >= DAY_MINUTES {
            (d.tomorrow().ok()?, minute - DAY_MINUTES)
        } else {
            (d, minute)
        };
        let h = i8::try_from(minute / 60).ok()?;
        let m = i8::try_from(minute % 60).ok()?;
        let dt = DateTime::from_parts(d, jiff::civil::Time::new(h, m, 0, 0).ok()?);
        self.tz.to_ambiguous_timestamp(dt).compatible().ok()
    }

    /// The open intervals of local day `d` as instants.
    fn day_intervals(&self, d: Date) -> Vec<(Timestamp, Timestamp)> {
        if self.holidays.contains(&d) {
            return Vec::new();
        }
        let full = [Interval {
            start: 0,
            end: DAY_MINUTES,
        }];
        let day: &[Interval] = match &self.week {
            None => &full,
            Some(w) => &w[weekday_index(d.weekday())],
        };
        day.iter()
            .filter_map(|iv| Some((self.instant(d, iv.start)?, self.instant(d, iv.end)?)))
            .filter(|(a, b)| a < b)
            .collect()
    }

    fn local_date(&self, t: Timestamp) -> Date {
        t.to_zoned(self.tz.clone()).date()
    }

    fn index(&self, around: Timestamp) -> &Index {
        self.index.get_or_init(|| {
            let day = 86_400_000_000i64;
            let t = around.as_microsecond();
            let (from, until) = (t - INDEX_DAYS_BEFORE * day, t + INDEX_DAYS_AFTER * day);
            let (a, b) = (
                Timestamp::from_microsecond(from).unwrap_or(around),
                Timestamp::from_microsecond(until).unwrap_or(around),
            );
            let mut ix = Index {
                from,
                until,
                starts: Vec::new(),
                ends: Vec::new(),
                before: Vec::new(),
                after: Vec::new(),
            };
            let mut total = 0;
            for (s, e) in self.walk_intervals(a, b) {
                let (s, e) = (s.as_microsecond(), e.as_microsecond());
                ix.starts.push(s);
                ix.ends.push(e);
                ix.before.push(total);
                total += e - s;
                ix.after.push(total);
            }
            ix
        })
    }

    /// Business time between two instants (zero when `b` is not after `a`).
    pub fn business_between(&self, a: Timestamp, b: Timestamp) -> SignedDuration {
        if b <= a {
            return SignedDuration::ZERO;
        }
        if self.is_continuous() {
            return b.duration_since(a);
        }
        let ix = self.index(a);
        let (ma, mb) = (a.as_microsecond(), b.as_microsecond());
        if ix.covers(ma) && ix.covers(mb) {
            return SignedDuration::from_micros(ix.to(mb) - ix.to(ma));
        }
        self.walk_between(a, b)
    }

    /// The instant at which `amount` of business time has passed since `start`. With no
    /// amount, `start` itself. Refused only when that lies beyond [`HORIZON_DAYS`].
    pub fn add(&self, start: Timestamp, amount: SignedDuration) -> crate::Result<Timestamp> {
        if amount <= SignedDuration::ZERO || self.is_continuous() {
            return self.walk_add(start, amount);
        }
        let ix = self.index(start);
        let m = start.as_microsecond();
        // Whole microseconds only: finer parts of a duration go the long way.
        let micros = i64::try_from(amount.as_micros()).ok();
        if let (true, Some(d)) = (ix.covers(m), micros)
            && SignedDuration::from_micros(d) == amount
            && let Some(t) = ix.at(ix.to(m) + d)
            && ix.covers(t)
            && let Ok(t) = Timestamp::from_microsecond(t)
        {
            return Ok(t);
        }
        self.walk_add(start, amount)
    }

    /// Business time between two instants, day by day.
    fn walk_between(&self, a: Timestamp, b: Timestamp) -> SignedDuration {
        self.walk_intervals(a, b)
            .iter()
            .map(|(s, e)| e.duration_since(*s))
            .sum()
    }

    /// [`Calendar::add`], day by day.
    fn walk_add(&self, start: Timestamp, amount: SignedDuration) -> crate::Result<Timestamp> {
        if amount <= SignedDuration::ZERO {
            return Ok(start);
        }
        if self.is_continuous() {
            return start
                .checked_add(amount)
                .map_err(|_| DomainError::Internal("a due time out of range".into()));
        }
        let mut left = amount;
        let mut d = self
            .local_date(start)
            .yesterday()
            .unwrap_or(self.local_date(start));
        for _ in 0..=HORIZON_DAYS {
            for (s, e) in self.day_intervals(d) {
                let from = s.max(start);
                if e <= from {
                    continue;
                }
                let len = e.duration_since(from);
                if len >= left {
                    return from
                        .checked_add(left)
                        .map_err(|_| DomainError::Internal("a due time out of range".into()));
                }
                left -= len;
            }
            d = d
                .tomorrow()
                .map_err(|_| DomainError::Internal("a due time out of range".into()))?;
        }
        Err(DomainError::field(
            "target",
            format!(
                "does not fall due within {} years on this calendar",
                HORIZON_DAYS / 366
            ),
        ))
    }

    /// The open intervals that lie between `a` and `b`, clipped to them: what an explanation
    /// shows as counted.
    pub fn open_intervals(&self, a: Timestamp, b: Timestamp) -> Vec<(Timestamp, Timestamp)> {
        self.walk_intervals(a, b)
    }

    fn walk_intervals(&self, a: Timestamp, b: Timestamp) -> Vec<(Timestamp, Timestamp)> {
        if b <= a {
            return Vec::new();
        }
        if self.is_continuous() {
            return vec![(a, b)];
        }
        let mut out: Vec<(Timestamp, Timestamp)> = Vec::new();
        let mut d = self.local_date(a).yesterday().unwrap_or(self.local_date(a));
        let last = self.local_date(b);
        while d <= last {
            for (s, e) in self.day_intervals(d) {
                let (s, e) = (s.max(a), e.min(b));
                if s < e {
                    // Days that meet at midnight (24×7 with holidays) read as one interval.
                    match out.last_mut() {
                        Some(prev) if prev.1 == s => prev.1 = e,
                        _ => out.push((s, e)),
                    }
                }
            }
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
        out
    }
}

fn parse_week(days: &Map<String, Value>, errors: &mut Vec<FieldError>) -> [Vec<Interval>; 7] {
    let mut week: [Vec<Interval>; 7] = Default::default();
    for (key, list) in days {
        let Some(i) = WEEKDAY_KEYS.iter().position(|k| k == key) else {
            errors.push(FieldError::new(
                format!("hours.{key}"),
                "is not a weekday; use mon, tue, wed, thu, fri, sat or sun",
            ));
            continue;
        };
        let Some(items) = list.as_array() else {
            errors.push(FieldError::new(
                format!("hours.{key}"),
                "must be a list of \"HH:MM-HH:MM\"",
            ));
            continue;
        };
        let mut day = Vec::new();
        for (j, item) in items.iter().enumerate() {
            let field = format!("hours.{key}[{j}]");
            let parsed = item.as_str().and_then(|s| {
                let (a, b) = s.split_once('-')?;
                Some((minute_of(a.trim())?, minute_of(b.trim())?))
            });
            match parsed {
                Some((start, end)) if start < end => day.push(Interval { start, end }),
                Some(_) => errors.push(FieldError::new(field, "must close after it opens")),
                None => errors.push(FieldError::new(
                    field,
                    "must be written HH:MM-HH:MM, between 00:00 and 24:00",
                )),
            }
        }
        day.sort_by_key(|iv| iv.start);
        if day.windows(2).any(|w| w[1].start < w[0].end) {
            errors.push(FieldError::new(
                format!("hours.{key}"),
                "has intervals that overlap",
            ));
        }
        week[i] = day;
    }
    week
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str, zone: &str) -> Timestamp {
        s.parse::<DateTime>()
            .unwrap()
            .to_zoned(TimeZone::get(zone).unwrap())
            .unwrap()
            .timestamp()
    }

    fn local(t: Timestamp, zone: &str) -> String {
        t.to_zoned(TimeZone::get(zone).unwrap())
            .datetime()
            .to_string()
    }

    fn hours(h: i64) -> SignedDuration {
        SignedDuration::from_hours(h)
    }

    #[test]
    fn friday_evening_p3_in_berlin_is_due_monday_afternoon() {
        let c = Calendar::office_hours("Europe/Berlin").unwrap();
        let due = c
            .add(at("2026-11-20T17:30", "Europe/Berlin"), hours(8))
            .unwrap();
        assert_eq!(local(due, "Europe/Berlin"), "2026-11-23T15:30:00");
    }

    #[test]
    fn a_case_opened_before_hours_starts_counting_at_opening() {
        let c = Calendar::office_hours("America/New_York").unwrap();
        let due = c
            .add(at("2026-03-03T06:10", "America/New_York"), hours(2))
            .unwrap();
        assert_eq!(local(due, "America/New_York"), "2026-03-03T10:00:00");
        // Saturday night: nothing until Monday 08:00.
        let due = c
            .add(
                at("2026-03-07T23:00", "America/New_York"),
                SignedDuration::from_mins(30),
            )
            .unwrap();
        assert_eq!(local(due, "America/New_York"), "2026-03-09T08:30:00");
    }

    #[test]
    fn hours_follow_daylight_saving_changes() {
        // Berlin moves to summer time on Sunday 2026-03-29: business hours keep their local
        // times, so Friday 17:00 + 2 h is Monday 09:00 local, 07:00 UTC (08:00 UTC before).
        let c = Calendar::office_hours("Europe/Berlin").unwrap();
        let due = c
            .add(at("2026-03-27T17:00", "Europe/Berlin"), hours(2))
            .unwrap();
        assert_eq!(local(due, "Europe/Berlin"), "2026-03-30T09:00:00");
        assert_eq!(due.to_string(), "2026-03-30T07:00:00Z");
        // Sydney leaves summer time on Sunday 2026-04-05.
        let c = Calendar::office_hours("Australia/Sydney").unwrap();
        let due = c
            .add(at("2026-04-03T16:00", "Australia/Sydney"), hours(4))
            .unwrap();
        assert_eq!(local(due, "Australia/Sydney"), "2026-04-06T10:00:00");
    }

    #[test]
    fn a_24x7_day_across_a_transition_counts_real_time() {
        let c = Calendar::from_json(&json!({"time_zone": "America/New_York", "hours": {
            "sun": ["00:00-24:00"]}}))
        .unwrap();
        // 2026-03-08 is 23 hours long in New York; 2026-11-01 is 25.
        let spring = c.business_between(
            at("2026-03-07T12:00", "America/New_York"),
            at("2026-03-09T12:00", "America/New_York"),
        );
        assert_eq!(spring, hours(23));
        let fall = c.business_between(
            at("2026-10-31T12:00", "America/New_York"),
            at("2026-11-02T12:00", "America/New_York"),
        );
        assert_eq!(fall, hours(25));
    }

    #[test]
    fn half_and_three_quarter_hour_zones() {
        let c = Calendar::office_hours("Asia/Kolkata").unwrap();
        let due = c
            .add("2026-06-01T02:00:00Z".parse().unwrap(), hours(1))
            .unwrap();
        // 08:00 in Kolkata is 02:30 UTC.
        assert_eq!(due.to_string(), "2026-06-01T03:30:00Z");
        let c = Calendar::office_hours("Pacific/Chatham").unwrap();
        let start = at("2026-06-01T07:00", "Pacific/Chatham");
        let due = c.add(start, hours(1)).unwrap();
        assert_eq!(local(due, "Pacific/Chatham"), "2026-06-01T09:00:00");
        assert_eq!(c.business_between(start, due), hours(1));
    }

    #[test]
    fn holidays_and_split_days() {
        let c = Calendar::from_json(&json!({
            "time_zone": "Europe/Berlin",
            "hours": {"thu": ["09:00-12:00", "13:00-17:00"], "fri": ["09:00-12:00", "13:00-17:00"],
                      "mon": ["09:00-12:00", "13:00-17:00"]},
            "holidays": ["2026-12-25"]
        }))
        .unwrap();
        // Thursday 24 Dec 11:00: one hour before lunch, four after, then Christmas Friday is
        // closed, so the last hour is Monday 09:00–10:00.
        let due = c
            .add(at("2026-12-24T11:00", "Europe/Berlin"), hours(6))
            .unwrap();
        assert_eq!(local(due, "Europe/Berlin"), "2026-12-28T10:00:00");
        let shown = c.open_intervals(at("2026-12-24T11:00", "Europe/Berlin"), due);
        assert_eq!(shown.len(), 3);
        assert_eq!(c.to_json()["holidays"], json!(["2026-12-25"]));
        assert_eq!(Calendar::from_json(&c.to_json()).unwrap(), c);
    }

    #[test]
    fn a_calendar_that_never_opens_is_refused() {
        let e =
            Calendar::from_json(&json!({"time_zone": "Europe/Berlin", "hours": {}})).unwrap_err();
        assert!(e.to_string().contains("invalid"), "{e}");
        let DomainError::Validation(f) = e else {
            panic!()
        };
        assert_eq!(f[0].field, "hours");
        let DomainError::Validation(f) = Calendar::from_json(&json!({
            "time_zone": "Mars/Olympus", "hours": {"mon": ["18:00-08:00", "9-10"], "xyz": []},
            "holidays": ["25.12.2026"], "color": "red"
        }))
        .unwrap_err() else {
            panic!()
        };
        let fields: Vec<&str> = f.iter().map(|e| e.field.as_str()).collect();
        for want in [
            "color",
            "time_zone",
            "hours.mon[0]",
            "hours.mon[1]",
            "hours.xyz",
            "holidays[0]",
        ] {
            assert!(fields.contains(&want), "{want} missing from {fields:?}");
        }
    }

    #[test]
    fn a_calendar_open_only_on_holidays_errs_instead_of_looping() {
        let c = Calendar::from_json(
            &json!({"time_zone": "UTC", "hours": {"mon": ["08:00-09:00"]},
            "holidays": ["2026-06-01"]}),
        )
        .unwrap();
        // Only one Monday is a holiday: still due the next one.
        let due = c
            .add("2026-05-31T00:00:00Z".parse().unwrap(), hours(1))
            .unwrap();
        assert_eq!(due.to_string(), "2026-06-08T09:00:00Z");
        // A target far beyond the horizon is refused.
        assert!(c.add(due, hours(1000)).is_err());
    }

    #[test]
    fn continuous_calendars_are_elapsed_time() {
        let c = Calendar::always_open();
        let a: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            c.add(a, hours(30)).unwrap().to_string(),
            "2026-01-02T06:00:00Z"
        );
        assert_eq!(
            c.business_between(a, "2026-01-02T00:00:00Z".parse().unwrap()),
            hours(24)
        );
    }

    #[test]
    fn the_index_answers_exactly_as_walking_day_by_day() {
        let cals = [
            Calendar::office_hours("Europe/Berlin").unwrap(),
            Calendar::office_hours("Pacific/Chatham").unwrap(),
            Calendar::from_json(&json!({"time_zone": "America/New_York",
                "hours": {"mon": ["00:00-02:30", "23:00-24:00"], "sun": ["01:00-03:00"],
                          "wed": ["09:15-09:30"]},
                "holidays": ["2026-03-09", "2027-11-01"]}))
            .unwrap(),
            Calendar::from_json(&json!({"time_zone": "Australia/Sydney", "hours": "24x7",
                "holidays": ["2026-04-05", "2026-10-04"]}))
            .unwrap(),
        ];
        // A fixed pseudo-random walk over 2024–2030, reaching outside the index too.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let base = Timestamp::from_second(1_704_067_200).unwrap(); // 2024-01-01
        for c in &cals {
            let _ = c.business_between(
                Timestamp::from_second(1_790_000_000).unwrap(),
                Timestamp::from_second(1_790_000_001).unwrap(),
            );
            for _ in 0..3000 {
                let a =
                    base + SignedDuration::from_secs(i64::try_from(next() % 220_000_000).unwrap());
                let b = a + SignedDuration::from_secs(i64::try_from(next() % 5_000_000).unwrap());
                assert_eq!(c.business_between(a, b), c.walk_between(a, b), "{a} {b}");
                let d = SignedDuration::from_secs(i64::try_from(next() % 400_000).unwrap());
                assert_eq!(c.add(a, d).ok(), c.walk_add(a, d).ok(), "{a} + {d:?}");
            }
        }
    }
}
