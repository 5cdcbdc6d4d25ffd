//! Satisfaction after close: the customer rates a closed case once, and managers read the
//! results by plan, priority, issue area and assignee.
//!
//! A rating is recorded on its case's timeline, so it is written through the orchestration
//! (`service::satisfaction`); this module holds the rating, its rules and the report.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::{DomainError, FieldError, Result, Timestamp};

/// Longest comment, in characters.
pub const MAX_COMMENT: usize = 4_000;

/// A customer's rating of a closed case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rating {
    /// The case.
    pub case_number: i64,
    /// 1 (poor) to 5 (excellent).
    pub rating: u8,
    /// What the customer wrote, if anything.
    pub comment: Option<String>,
    /// Who rated (email).
    pub rated_by: String,
    /// When.
    pub rated_at: Timestamp,
}

/// A rating with what the report groups it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedCase {
    /// The rating.
    pub rating: u8,
    /// The account's plan key.
    pub plan: String,
    /// The case's priority key.
    pub priority: String,
    /// The case's issue area.
    pub issue_area: String,
    /// The assignee's email, if the case had one.
    pub assignee: Option<String>,
}

/// Reads `{"rating": 1..5, "comment": "..."}`, every fault at once.
pub fn parse(v: &Value) -> Result<(u8, Option<String>)> {
    let Some(obj) = v.as_object() else {
        return Err(DomainError::field("body", "must be a JSON object"));
    };
    let mut errs = Vec::new();
    for k in obj.keys() {
        if !matches!(k.as_str(), "rating" | "comment") {
            errs.push(FieldError::new(k, "is not a field of a rating"));
        }
    }
    let rating = match obj.get("rating").and_then(Value::as_u64) {
        Some(r @ 1..=5) => r as u8,
        _ => {
            errs.push(FieldError::new(
                "rating",
                "must be a whole number from 1 (poor) to 5 (excellent)",
            ));
            0
        }
    };
    let comment = match obj.get("comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.chars().count() > MAX_COMMENT {
                errs.push(FieldError::new(
                    "comment",
                    format!("must be at most {MAX_COMMENT} characters"),
                ));
            } else if let Err(m) = crate::cases::intake::check_characters(t, true) {
                errs.push(FieldError::new("comment", m));
            }
            (!t.is_empty()).then(|| t.to_owned())
        }
        Some(_) => {
            errs.push(FieldError::new("comment", "must be text"));
            None
        }
    };
    if errs.is_empty() {
        Ok((rating, comment))
    } else {
        Err(DomainError::Validation(errs))
    }
}

#[derive(Default)]
struct Tally {
    count: u64,
    sum: u64,
}

impl Tally {
    fn add(&mut self, r: u8) {
        self.count += 1;
        self.sum += u64::from(r);
    }
    fn average(&self) -> Option<f64> {
        // Two decimals: a mean of ratings says no more than that.
        (self.count > 0).then(|| (self.sum as f64 / self.count as f64 * 100.0).round() / 100.0)
    }
}

fn groups(m: BTreeMap<String, Tally>) -> Value {
    Value::Array(
        m.into_iter()
            .map(|(k, t)| json!({"key": k, "count": t.count, "average": t.average()}))
            .collect(),
    )
}

/// The satisfaction report: count, average, the distribution of ratings, and count and average
/// by plan, priority, issue area and assignee (`unassigned` for none). No rating: average null.
pub fn report(rows: &[RatedCase]) -> Value {
    let mut all = Tally::default();
    let mut dist = [0u64; 5];
    let (mut plan, mut priority, mut area, mut assignee) = (
        BTreeMap::<String, Tally>::new(),
        BTreeMap::<String, Tally>::new(),
        BTreeMap::<String, Tally>::new(),
        BTreeMap::<String, Tally>::new(),
    );
    for r in rows.iter().filter(|r| (1..=5).contains(&r.rating)) {
        all.add(r.rating);
        dist[usize::from(r.rating - 1)] += 1;
        plan.entry(r.plan.clone()).or_default().add(r.rating);
        priority
            .entry(r.priority.clone())
            .or_default()
            .add(r.rating);
        area.entry(r.issue_area.clone()).or_default().add(r.rating);
        assignee
            .entry(r.assignee.clone().unwrap_or_else(|| "unassigned".into()))
            .or_default()
            .add(r.rating);
    }
    json!({
        "count": all.count,
        "average": all.average(),
        "distribution": {"1": dist[0], "2": dist[1], "3": dist[2], "4": dist[3], "5": dist[4]},
        "by_plan": groups(plan),
        "by_priority": groups(priority),
        "by_issue_area": groups(area),
        "by_assignee": groups(assignee),
    })
}

/// What the store keeps of ratings (written with their case change).
#[async_trait::async_trait]
pub trait SatisfactionStore: Send + Sync {
    /// The rating of a case, if it has one.
    async fn rating(&self, number: i64) -> Result<Option<Rating>>;

    /// Ratings given in `[since, until)`, with what the report groups by (at most `limit`).
    async fn rated_cases(
        &self,
        since: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<RatedCase>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(rating: u8, plan: &str, assignee: Option<&str>) -> RatedCase {
        RatedCase {
            rating,
            plan: plan.into(),
            priority: "P2".into(),
            issue_area: "webhooks".into(),
            assignee: assignee.map(str::to_owned),
        }
    }

    #[test]
    fn a_rating_is_one_to_five_with_an_optional_comment() {
        assert_eq!(parse(&json!({"rating": 5})).unwrap(), (5, None));
        assert_eq!(
            parse(&json!({"rating": 2, "comment": " slow "})).unwrap(),
            (2, Some("slow".into()))
        );
        for bad in [
            json!({"rating": 0}),
            json!({"rating": 6}),
            json!({"rating": "5"}),
            json!({}),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
        let Err(DomainError::Validation(e)) = parse(&json!({"rating": 9, "stars": 1})) else {
            panic!("accepted")
        };
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn the_report_counts_averages_and_groups() {
        let r = report(&[
            row(5, "gold", Some("ana@support.example")),
            row(4, "gold", None),
            row(1, "platinum", Some("ana@support.example")),
        ]);
        assert_eq!(r["count"], 3);
        assert_eq!(r["average"], 3.33);
        assert_eq!(r["distribution"]["1"], 1);
        assert_eq!(r["distribution"]["5"], 1);
        assert_eq!(
            r["by_plan"][0],
            json!({"key": "gold", "count": 2, "average": 4.5})
        );
        assert_eq!(r["by_assignee"][1]["key"], "unassigned");
        assert_eq!(report(&[])["average"], Value::Null);
    }
}
