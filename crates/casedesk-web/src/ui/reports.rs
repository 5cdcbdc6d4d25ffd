//! The reports page: volume, first-response and resolution times and SLA attainment by
//! plan, priority and issue area over a chosen period, with charts drawn by casedesk.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use casedesk_core::reports::{self, Figures};
use casedesk_core::{DomainError, FieldError, Timestamp};
use maud::{Markup, html};

use super::charts;
use super::page::{failure, layout, minutes_words, respond};
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

fn percent(a: f64) -> String {
    format!("{:.1} %", a * 100.0)
}

fn or_none(v: Option<String>) -> String {
    v.unwrap_or_else(|| "no data".into())
}

fn table(caption: &str, first: &str, groups: &[Figures]) -> Markup {
    html! {
        div.table-wrap tabindex="0" role="region" aria-label=(caption) {
            table.stack {
                caption { (caption) }
                thead { tr { th scope="col" { (first) } th scope="col" { "Cases" } th scope="col" { "Median first response" } th scope="col" { "Median resolution" } th scope="col" { "SLA met" } } }
                tbody {
                    @for g in groups {
                        tr {
                            th scope="row" data-label=(first) { (g.key) }
                            td data-label="Cases" { (g.cases) }
                            td data-label="Median first response" { (or_none(g.first_response_median_minutes.map(minutes_words))) }
                            td data-label="Median resolution" { (or_none(g.resolution_median_hours.map(|h| minutes_words(h * 60.0)))) }
                            td data-label="SLA met" { (or_none(g.sla_attainment.map(percent))) }
                        }
                    }
                }
            }
        }
    }
}

fn group_section(id: &str, name: &str, groups: &[Figures]) -> Markup {
    let pick = |f: &dyn Fn(&Figures) -> Option<f64>| -> Vec<(String, Option<f64>)> {
        groups.iter().map(|g| (g.key.clone(), f(g))).collect()
    };
    let attainment = pick(&|g| g.sla_attainment.map(|a| a * 100.0));
    let first = pick(&|g| g.first_response_median_minutes);
    let resolution = pick(&|g| g.resolution_median_hours.map(|h| h * 60.0));
    let label = {
        let mut c = name.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    html! {
        section aria-labelledby=(format!("{id}-h")) {
            h2 id=(format!("{id}-h")) { "By " (name) }
            @if groups.is_empty() { p.muted { "No case was opened in this period." } } @else {
                div.chart-grid {
                    (charts::bars(&format!("SLA met, by {name}"), &attainment, |v| format!("{v:.1} %")))
                    (charts::bars(&format!("Median first response, by {name}"), &first, minutes_words))
                    (charts::bars(&format!("Median resolution, by {name}"), &resolution, minutes_words))
                }
                (table(&format!("Figures by {name}"), &label, groups))
            }
        }
    }
}

/// The trend of the period: cases, first response and SLA met per day (or week), a day
/// without cases shown as no data.
fn trend_section(r: &reports::Report) -> Markup {
    let per = if r.weekly { "week" } else { "day" };
    let cases: Vec<(String, Option<f64>)> = r
        .volume
        .iter()
        .map(|(k, n)| (k.clone(), Some(*n as f64)))
        .collect();
    let first: Vec<(String, Option<f64>)> = r
        .trend
        .iter()
        .map(|g| (g.key.clone(), g.first_response_median_minutes))
        .collect();
    let met: Vec<(String, Option<f64>)> = r
        .trend
        .iter()
        .map(|g| (g.key.clone(), g.sla_attainment.map(|a| a * 100.0)))
        .collect();
    let busiest = r.volume.iter().max_by_key(|(_, n)| *n);
    let with_cases = r.trend.iter().filter(|g| g.cases > 0).count();
    html! {
        section aria-labelledby="trend-h" {
            h2 #trend-h { "Over the period" }
            div.chart-grid {
                (charts::columns(&format!("Cases opened per {per}"),
                    &format!("{} cases in {} {per}s{}.", r.total.cases, r.volume.len(),
                        busiest.filter(|b| b.1 > 0).map(|(k, n)| format!("; the busiest, {k}, had {n}")).unwrap_or_default()),
                    &cases, |v| if (v - 1.0).abs() < f64::EPSILON { "1 case".to_owned() } else { format!("{v:.0} cases") }))
                (charts::columns(&format!("Median first response per {per}"),
                    &format!("{with_cases} of {} {per}s had cases; a gap is a {per} without one.", r.trend.len()),
                    &first, minutes_words))
                (charts::columns(&format!("SLA met per {per}"),
                    &format!("Share of the {per}'s cases whose clocks all held."),
                    &met, |v| format!("{v:.1} %")))
            }
            details {
                summary { "The figures of each " (per) }
                (table(&format!("Figures per {per}"), if r.weekly { "Week of" } else { "Day" }, &r.trend))
            }
        }
    }
}

fn deflection_section(areas: &[casedesk_core::kb::search::AreaDeflection]) -> Markup {
    let (d, c) = areas
        .iter()
        .fold((0u64, 0u64), |(d, c), a| (d + a.deflections, c + a.cases));
    let rates: Vec<(String, Option<f64>)> = areas
        .iter()
        .map(|a| {
            (
                if a.issue_area.is_empty() {
                    "none given".to_owned()
                } else {
                    a.issue_area.clone()
                },
                a.rate.map(|r| r * 100.0),
            )
        })
        .collect();
    html! {
        section #deflection aria-labelledby="defl-h" {
            h2 #defl-h { "Self-service" }
            @if d + c == 0 {
                p { "No case was opened and no article was marked as the answer in this period." }
            } @else {
                p { "Deflection rate: " strong { (percent(d as f64 / (d + c) as f64)) } ". "
                    (d) " question(s) answered by an article or a check (\"This solved it\") against " (c) " case(s) opened." }
                (charts::bars("Deflection rate, by issue area", &rates, |v| format!("{v:.1} %")))
            }
        }
    }
}

/// The period a report asks for: `since` and `until` as days (until included), the last 30
/// days by default; answered as `[since, until)`.
fn period(
    q: &std::collections::HashMap<String, String>,
) -> Result<(Timestamp, Timestamp), DomainError> {
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
    let until = day(q.get("until"), "until", today).map(|t| {
        t.checked_add(jiff::SignedDuration::from_hours(24))
            .unwrap_or(end_default)
    });
    match (since, until) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => Err(DomainError::Validation(
            [a.err(), b.err()].into_iter().flatten().collect(),
        )),
    }
}

/// The period of a report: two days (the last one included), with their errors.
fn period_form(since: &str, until: &str, errors: &super::forms::Errors) -> Markup {
    use super::forms::{Kind, field};
    html! {
        form.filters method="get" action="/manage/reports" {
            (field("since", "From", None, since, Kind::Input("date"), false, errors))
            (field("until", "To (included)", None, until, Kind::Input("date"), false, errors))
            button type="submit" { "Show" }
        }
    }
}

/// A CSV cell: quoted when it must be, and never read as a formula by a spreadsheet.
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// `GET /manage/reports.csv`: the report's figures as CSV, one line per group of every
/// view (all, day or week, plan, priority, issue area, account, support engineer).
pub async fn csv(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let (since, until) = match period(&q) {
        Ok(p) => p,
        Err(e) => return failure(Some(&v), e),
    };
    let r = match reports::report(st.store.as_ref(), &v.p, since, until).await {
        Ok(r) => r,
        Err(e) => return failure(Some(&v), e),
    };
    let mut out = String::from(
        "view,group,cases,first_response_median_minutes,resolution_median_hours,sla_met_share\r\n",
    );
    let views: [(&str, &[Figures]); 7] = [
        ("all", std::slice::from_ref(&r.total)),
        (if r.weekly { "week" } else { "day" }, &r.trend),
        ("plan", &r.by_plan),
        ("priority", &r.by_priority),
        ("issue_area", &r.by_issue_area),
        ("account", &r.by_account),
        ("support_engineer", &r.by_assignee),
    ];
    let num =
        |v: Option<f64>, digits: usize| v.map(|x| format!("{x:.digits$}")).unwrap_or_default();
    for (view, groups) in views {
        for g in groups {
            out.push_str(&format!(
                "{view},{},{},{},{},{}\r\n",
                cell(&g.key),
                g.cases,
                num(g.first_response_median_minutes, 1),
                num(g.resolution_median_hours, 2),
                num(g.sla_attainment, 4)
            ));
        }
    }
    let name = format!(
        "attachment; filename=\"casedesk-report-{}-{}.csv\"",
        since.strftime("%Y-%m-%d"),
        until
            .checked_sub(jiff::SignedDuration::from_hours(24))
            .unwrap_or(until)
            .strftime("%Y-%m-%d")
    );
    let mut res = (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        out,
    )
        .into_response();
    if let Ok(h) = axum::http::HeaderValue::from_str(&name) {
        res.headers_mut()
            .insert(axum::http::header::CONTENT_DISPOSITION, h);
    }
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}

/// `GET /manage/reports?since=YYYY-MM-DD&until=YYYY-MM-DD` (until inclusive; the last 30
/// days by default).
pub async fn page(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    // A period that cannot be read is said at its fields, with the dates as typed.
    let refused = |errs: Vec<casedesk_core::FieldError>| {
        let errors = super::forms::Errors(errs);
        let typed = |k: &str| q.get(k).cloned().unwrap_or_default();
        respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            layout(
                Some(&v),
                "Reports",
                "manage",
                html! {
                    (super::forms::summary(&errors))
                    (period_form(&typed("since"), &typed("until"), &errors))
                },
            ),
        )
    };
    let (since, until) = match period(&q) {
        Ok(p) => p,
        Err(DomainError::Validation(errs)) => return refused(errs),
        Err(e) => return failure(Some(&v), e),
    };
    let r = match reports::report(st.store.as_ref(), &v.p, since, until).await {
        Ok(r) => r,
        Err(DomainError::Validation(errs)) => return refused(errs),
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
    let deflection =
        match casedesk_core::kb::search::deflection_report(st.store.as_ref(), &v.p, since, until)
            .await
        {
            Ok(d) => d,
            Err(e) => return failure(Some(&v), e),
        };
    let csv = format!(
        "/manage/reports.csv?since={}&until={}",
        date(since),
        date(last_day)
    );
    let body = html! {
        (period_form(&date(since), &date(last_day), &super::forms::Errors::default()))
        p { a href=(csv) download { "Download these figures (CSV)" } }
        @if r.truncated { p.notice.warn { "The period holds more cases than a report reads; the figures cover its first " (reports::MAX_ROWS) "." } }
        section aria-labelledby="vol-h" {
            h2 #vol-h { "All cases" }
            @if r.total.cases == 0 {
                p { "No case was opened in this period." }
            } @else {
                dl.figures {
                    div { dt { "Cases opened" } dd { (r.total.cases) } }
                    div { dt { "Median first response" } dd { (or_none(r.total.first_response_median_minutes.map(minutes_words))) } }
                    div { dt { "Median resolution" } dd { (or_none(r.total.resolution_median_hours.map(|h| minutes_words(h * 60.0)))) } }
                    div { dt { "SLA met" } dd { (or_none(r.total.sla_attainment.map(percent))) } }
                }
            }
        }
        (trend_section(&r))
        (group_section("plan", "plan", &r.by_plan))
        (group_section("priority", "priority", &r.by_priority))
        (group_section("area", "issue area", &r.by_issue_area))
        (group_section("account", "account", &r.by_account))
        (group_section("agent", "support engineer", &r.by_assignee))
        (deflection_section(&deflection))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("Acme"), "Acme");
        assert_eq!(cell("Acme, Inc."), "\"Acme, Inc.\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("-1,2"), "\"'-1,2\"");
    }
}
