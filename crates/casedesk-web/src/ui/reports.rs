//! The reports page: volume, first-response and resolution times and SLA attainment by
//! plan, priority and issue area over a chosen period, with charts drawn by casedesk.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use casedesk_core::reports::{self, Figures};
use casedesk_core::{DomainError, FieldError, Timestamp};
use maud::{Markup, html};

use super::charts;
use super::page::{failure, layout, respond};
use crate::AppState;
use crate::session::Viewer;

fn day(raw: Option<&String>, field: &str, default: Timestamp) -> Result<Timestamp, FieldError> {
    match raw.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s
            .parse::<jiff::civil::Date>()
            .ok()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp())
            .ok_or_else(|| FieldError::new(field, "must be a date such as 2026-11-01")),
    }
}

fn table(caption: &str, groups: &[Figures]) -> Markup {
    let opt = |v: Option<f64>, digits: usize| {
        v.map(|x| format!("{x:.digits$}"))
            .unwrap_or_else(|| "–".into())
    };
    html! {
        div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" {
            table {
                caption { (caption) }
                thead { tr { th scope="col" { "Group" } th scope="col" { "Cases" } th scope="col" { "First response, median (min)" } th scope="col" { "Resolution, median (h)" } th scope="col" { "SLA attainment" } } }
                tbody {
                    @for g in groups {
                        tr {
                            th scope="row" { (g.key) }
                            td { (g.cases) }
                            td { (opt(g.first_response_median_minutes, 0)) }
                            td { (opt(g.resolution_median_hours, 1)) }
                            td { (g.sla_attainment.map(|a| format!("{:.1} %", a * 100.0)).unwrap_or_else(|| "–".into())) }
                        }
                    }
                }
            }
        }
    }
}

fn group_section(id: &str, name: &str, groups: &[Figures]) -> Markup {
    let attainment: Vec<(String, f64)> = groups
        .iter()
        .map(|g| (g.key.clone(), g.sla_attainment.unwrap_or(0.0) * 100.0))
        .collect();
    let first: Vec<(String, f64)> = groups
        .iter()
        .map(|g| {
            (
                g.key.clone(),
                g.first_response_median_minutes.unwrap_or(0.0),
            )
        })
        .collect();
    let resolution: Vec<(String, f64)> = groups
        .iter()
        .map(|g| (g.key.clone(), g.resolution_median_hours.unwrap_or(0.0)))
        .collect();
    html! {
        section aria-labelledby=(format!("{id}-h")) {
            h2 id=(format!("{id}-h")) { "By " (name) }
            (charts::bars(&format!("{id}-sla"), &format!("SLA attainment by {name}"), &attainment, " %"))
            (charts::bars(&format!("{id}-fr"), &format!("Median first response by {name}, minutes"), &first, " min"))
            (charts::bars(&format!("{id}-res"), &format!("Median resolution by {name}, hours"), &resolution, " h"))
            (table(&format!("Figures by {name}"), groups))
        }
    }
}

/// `GET /manage/reports?since=YYYY-MM-DD&until=YYYY-MM-DD` (until inclusive; the last 30
/// days by default).
pub async fn page(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let now = casedesk_core::now();
    let today = now
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(now);
    let end_default = today
        .checked_add(jiff::SignedDuration::from_hours(24))
        .unwrap_or(now);
    let start_default = today
        .checked_sub(jiff::SignedDuration::from_hours(29 * 24))
        .unwrap_or(now);
    let since = day(q.get("since"), "since", start_default);
    // `until` names the last day included.
    let until = day(q.get("until"), "until", today).map(|t| {
        t.checked_add(jiff::SignedDuration::from_hours(24))
            .unwrap_or(end_default)
    });
    let (since, until) = match (since, until) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let errs = [a.err(), b.err()].into_iter().flatten().collect();
            return failure(Some(&v), DomainError::Validation(errs));
        }
    };
    let r = match reports::report(st.store.as_ref(), &v.p, since, until).await {
        Ok(r) => r,
        Err(e) => return failure(Some(&v), e),
    };
    let csat =
        match casedesk_core::service::satisfaction::report(st.store.as_ref(), &v.p, since, until)
            .await
        {
            Ok(r) => r,
            Err(e) => return failure(Some(&v), e),
        };
    let date = |t: Timestamp| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string();
    let last_day = until
        .checked_sub(jiff::SignedDuration::from_hours(24))
        .unwrap_or(until);
    let body = html! {
        form.filters method="get" action="/manage/reports" {
            div { label for="r-since" { "From" } input #r-since type="date" name="since" value=(date(since)); }
            div { label for="r-until" { "To (included)" } input #r-until type="date" name="until" value=(date(last_day)); }
            button type="submit" { "Show" }
        }
        @if r.truncated { p.notice.warn { "The period holds more cases than a report reads; the figures cover its first " (reports::MAX_ROWS) "." } }
        section aria-labelledby="vol-h" {
            h2 #vol-h { "Case volume" }
            p { "Cases opened: " (r.total.cases) ", counted " (if r.weekly { "per week" } else { "per day" }) "." }
            (charts::columns("volume", if r.weekly { "Cases opened per week" } else { "Cases opened per day" }, &r.volume))
            (table("All cases of the period", std::slice::from_ref(&r.total)))
        }
        (group_section("plan", "plan", &r.by_plan))
        (group_section("priority", "priority", &r.by_priority))
        (group_section("area", "issue area", &r.by_issue_area))
        (satisfaction_section(&csat))
    };
    respond(StatusCode::OK, layout(Some(&v), "Reports", "manage", body))
}

/// Satisfaction of the period: ratings given, their average and distribution, and by plan,
/// priority, issue area and assignee. No rating: said so, not drawn as zero.
fn satisfaction_section(r: &serde_json::Value) -> Markup {
    let count = r["count"].as_u64().unwrap_or(0);
    let avg = |v: &serde_json::Value| {
        v.as_f64()
            .map(|a| format!("{a:.2}"))
            .unwrap_or_else(|| "no ratings".into())
    };
    let groups = [
        ("by_plan", "Plan"),
        ("by_priority", "Priority"),
        ("by_issue_area", "Issue area"),
        ("by_assignee", "Assignee"),
    ];
    html! {
        section #satisfaction aria-labelledby="csat-h" {
            h2 #csat-h { "Satisfaction" }
            @if count == 0 {
                p { "No case was rated in this period." }
            } @else {
                p { (count) " rating(s), average " strong { (avg(&r["average"])) } " of 5." }
                div.table-wrap tabindex="0" role="region" aria-label="Ratings by score" { table {
                    thead { tr { @for k in ["1", "2", "3", "4", "5"] { th scope="col" { (k) " of 5" } } } }
                    tbody { tr { @for k in ["1", "2", "3", "4", "5"] { td { (r["distribution"][k].as_u64().unwrap_or(0)) } } } }
                } }
                @for (key, label) in groups {
                    div.table-wrap tabindex="0" role="region" aria-label=(format!("Satisfaction by {}", label.to_lowercase())) { table {
                        thead { tr { th scope="col" { (label) } th scope="col" { "Ratings" } th scope="col" { "Average" } } }
                        tbody { @for g in r[key].as_array().cloned().unwrap_or_default() { tr {
                            td { (g["key"].as_str().unwrap_or("")) } td { (g["count"].as_u64().unwrap_or(0)) } td { (avg(&g["average"])) }
                        } } }
                    } }
                }
            }
        }
    }
}
