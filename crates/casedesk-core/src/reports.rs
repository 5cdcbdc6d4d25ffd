//! Reports for support managers: case volume, first-response and resolution times, and SLA
//! attainment, by plan, priority and issue area over a period.

use serde::Serialize;

use crate::cases::Priority;
use crate::users::{Principal, Role};
use crate::{DomainError, FieldError, Result, Timestamp};

/// Most cases one report reads; a longer period is reported on its first cases and says so.
pub const MAX_ROWS: u32 = 500_000;
/// Longest period of one report.
pub const MAX_DAYS: i64 = 731;

/// One case as the report sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    /// The account's plan key.
    pub plan: String,
    /// Priority.
    pub priority: Priority,
    /// Issue area key.
    pub issue_area: String,
    /// When it was opened.
    pub created_at: Timestamp,
    /// Support's first public answer (reply, information request or proposed resolution).
    pub first_response_at: Option<Timestamp>,
    /// The first proposed or confirmed resolution.
    pub resolved_at: Option<Timestamp>,
    /// Whether an SLA clock of the case breached.
    pub breached: bool,
    /// The account's name.
    pub account: String,
    /// The support engineer the case is assigned to, if any.
    pub assignee: Option<String>,
}

/// Figures of one group of cases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// The group's key (a plan, a priority, an issue area, or `all`).
    pub key: String,
    /// Cases opened in the period.
    pub cases: u64,
    /// Median minutes to the first response, over the cases that got one.
    pub first_response_median_minutes: Option<f64>,
    /// Median hours to resolution, over the cases resolved.
    pub resolution_median_hours: Option<f64>,
    /// Share of cases without a breached SLA clock, 0–1.
    pub sla_attainment: Option<f64>,
}

/// A report over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Start of the period (inclusive).
    pub since: Timestamp,
    /// End of the period (exclusive).
    pub until: Timestamp,
    /// Cases opened per day (`YYYY-MM-DD`), or per week when the period is long.
    pub volume: Vec<(String, u64)>,
    /// Whether volume is per week.
    pub weekly: bool,
    /// Every case of the period.
    pub total: Figures,
    /// By plan.
    pub by_plan: Vec<Figures>,
    /// By priority.
    pub by_priority: Vec<Figures>,
    /// By issue area.
    pub by_issue_area: Vec<Figures>,
    /// By account.
    pub by_account: Vec<Figures>,
    /// By assigned support engineer (`unassigned` for none).
    pub by_assignee: Vec<Figures>,
    /// The figures of each day (or week) of the period, oldest first; a day without cases
    /// has none.
    pub trend: Vec<Figures>,
    /// Whether the period held more cases than a report reads.
    pub truncated: bool,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn figures<'a>(key: &str, rows: impl Iterator<Item = &'a ReportRow>) -> Figures {
    let mut cases = 0u64;
    let mut first = Vec::new();
    let mut resolution = Vec::new();
    let mut met = 0u64;
    for r in rows {
        cases += 1;
        if let Some(t) = r.first_response_at {
            first.push(t.duration_since(r.created_at).as_secs_f64() / 60.0);
        }
        if let Some(t) = r.resolved_at {
            resolution.push(t.duration_since(r.created_at).as_secs_f64() / 3600.0);
        }
        if !r.breached {
            met += 1;
        }
    }
    Figures {
        key: key.to_owned(),
        cases,
        first_response_median_minutes: median(first),
        resolution_median_hours: median(resolution),
        sla_attainment: (cases > 0).then(|| met as f64 / cases as f64),
    }
}

fn grouped(rows: &[ReportRow], key: impl Fn(&ReportRow) -> &str) -> Vec<Figures> {
    let mut groups: std::collections::BTreeMap<&str, Vec<&ReportRow>> = Default::default();
    for r in rows {
        groups.entry(key(r)).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(k, members)| figures(k, members.into_iter()))
        .collect()
}

/// Computes a report from its rows (pure: the arithmetic is tested without a database).
pub fn compute(rows: &[ReportRow], since: Timestamp, until: Timestamp, truncated: bool) -> Report {
    let days = until.duration_since(since).as_secs() / 86_400;
    let weekly = days > 62;
    let zone = jiff::tz::TimeZone::UTC;
    let bucket = |t: Timestamp| {
        let d = t.to_zoned(zone.clone()).date();
        let d = if weekly {
            let back = i64::from(d.weekday().to_monday_zero_offset());
            d.checked_sub(jiff::Span::new().days(back)).unwrap_or(d)
        } else {
            d
        };
        d.to_string()
    };
    let mut volume: Vec<(String, u64)> = Vec::new();
    let mut day = since;
    while day < until {
        volume.push((bucket(day), 0));
        day = day
            .checked_add(jiff::SignedDuration::from_hours(24))
            .unwrap_or(until);
    }
    volume.dedup_by(|a, b| a.0 == b.0);
    let slots: std::collections::HashMap<String, usize> = volume
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.clone(), i))
        .collect();
    let mut per_slot: Vec<Vec<&ReportRow>> = vec![Vec::new(); volume.len()];
    for r in rows {
        if let Some(&i) = slots.get(&bucket(r.created_at)) {
            volume[i].1 += 1;
            per_slot[i].push(r);
        }
    }
    let trend = volume
        .iter()
        .zip(per_slot)
        .map(|((k, _), members)| figures(k, members.into_iter()))
        .collect();
    Report {
        since,
        until,
        volume,
        weekly,
        total: figures("all", rows.iter()),
        by_plan: grouped(rows, |r| &r.plan),
        by_priority: grouped(rows, |r| r.priority.key()),
        by_issue_area: grouped(rows, |r| &r.issue_area),
        by_account: grouped(rows, |r| &r.account),
        by_assignee: grouped(rows, |r| r.assignee.as_deref().unwrap_or("unassigned")),
        trend,
        truncated,
    }
}

/// The report of the cases opened in `[since, until)`, for support managers.
pub async fn report(
    store: &dyn ReportStore,
    p: &Principal,
    since: Timestamp,
    until: Timestamp,
) -> Result<Report> {
    if p.user.role != Role::Manager {
        return Err(DomainError::Forbidden(
            "Only support managers can see reports.".into(),
        ));
    }
    if since >= until {
        return Err(DomainError::Validation(vec![FieldError::new(
            "until",
            "must be after the start of the period",
        )]));
    }
    if until.duration_since(since).as_secs() > MAX_DAYS * 86_400 {
        return Err(DomainError::Validation(vec![FieldError::new(
            "since",
            format!("a report covers at most {MAX_DAYS} days"),
        )]));
    }
    let rows = store.report_rows(since, until, MAX_ROWS + 1).await?;
    let truncated = rows.len() > MAX_ROWS as usize;
    let rows = &rows[..rows.len().min(MAX_ROWS as usize)];
    Ok(compute(rows, since, until, truncated))
}

/// The rows reports are computed from.
#[async_trait::async_trait]
pub trait ReportStore: Send + Sync {
    /// The cases opened in `[since, until)`, oldest first, at most `limit`, as reports see
    /// them.
    async fn report_rows(
        &self,
        since: crate::Timestamp,
        until: crate::Timestamp,
        limit: u32,
    ) -> Result<Vec<crate::reports::ReportRow>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn row(plan: &str, p: Priority, at: &str, first_min: Option<i64>, breached: bool) -> ReportRow {
        let created = t(at);
        ReportRow {
            plan: plan.into(),
            priority: p,
            issue_area: "sign-in".into(),
            created_at: created,
            first_response_at: first_min
                .and_then(|m| created.checked_add(jiff::SignedDuration::from_mins(m)).ok()),
            resolved_at: None,
            breached,
            account: "Acme".into(),
            assignee: None,
        }
    }

    #[test]
    fn figures_by_group_and_day() {
        let rows = vec![
            row(
                "premium",
                Priority::P1,
                "2026-11-02T10:00:00Z",
                Some(10),
                false,
            ),
            row(
                "premium",
                Priority::P2,
                "2026-11-02T11:00:00Z",
                Some(30),
                true,
            ),
            row(
                "standard",
                Priority::P2,
                "2026-11-04T09:00:00Z",
                None,
                false,
            ),
        ];
        let r = compute(
            &rows,
            t("2026-11-01T00:00:00Z"),
            t("2026-11-08T00:00:00Z"),
            false,
        );
        assert!(!r.weekly);
        assert_eq!(r.volume.len(), 7);
        assert_eq!(r.volume[1], ("2026-11-02".to_owned(), 2));
        assert_eq!(r.volume[3], ("2026-11-04".to_owned(), 1));
        assert_eq!(r.total.cases, 3);
        assert_eq!(r.total.first_response_median_minutes, Some(20.0));
        let premium = &r.by_plan[0];
        assert_eq!((premium.key.as_str(), premium.cases), ("premium", 2));
        assert_eq!(premium.sla_attainment, Some(0.5));
        assert_eq!(r.by_priority.len(), 2);
        assert_eq!(r.by_account[0].cases, 3);
        assert_eq!(r.by_assignee[0].key, "unassigned");
        // The trend keeps a day without cases as no data, not as zero.
        assert_eq!(r.trend.len(), 7);
        assert_eq!(r.trend[1].first_response_median_minutes, Some(20.0));
        assert_eq!(r.trend[1].sla_attainment, Some(0.5));
        assert_eq!(r.trend[0].sla_attainment, None);
        assert_eq!(r.trend[0].first_response_median_minutes, None);
    }

    #[test]
    fn a_long_period_is_counted_by_week() {
        let rows = vec![row(
            "premium",
            Priority::P3,
            "2026-03-04T10:00:00Z",
            None,
            false,
        )];
        let r = compute(
            &rows,
            t("2026-01-01T00:00:00Z"),
            t("2026-07-01T00:00:00Z"),
            false,
        );
        assert!(r.weekly);
        assert!(r.volume.iter().any(|(k, n)| k == "2026-03-02" && *n == 1));
    }
}
