//! Case pages for both sides: the list (My cases, or the account's for elevated contacts,
//! or everything support may see), the case page (the customer's view, or the agent's
//! workspace with internal notes, evidence, diagnostics and the SLA explanation), and the
//! actions posted from it.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use casedesk_core::DomainError;
use casedesk_core::cases::{Case, CaseEvent, CaseSummary, EventKind, Priority, Status};
use casedesk_core::permissions;
use casedesk_core::service::{self, Command, ListFilters};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::forms::{self, Errors, Fields, Kind, field};
use super::page::{Posted, due, failure, layout, local, minutes_words, redirect, respond, when};
use crate::AppState;
use crate::error::ApiError;
use crate::requests::files::{Parts, prepare_all, read_form, serve_file};
use crate::session::Viewer;

fn not_found() -> DomainError {
    DomainError::NotFound { entity: "case" }
}

fn parse_number(raw: &str) -> Result<i64, DomainError> {
    raw.trim_start_matches('#').parse().map_err(|_| not_found())
}

/// A person's word for a status.
pub fn status_label(s: Status) -> &'static str {
    match s {
        Status::New => "new",
        Status::Open => "open",
        Status::Pending => "waiting on you",
        Status::OnHold => "on hold",
        Status::Solved => "solved: please confirm",
        Status::Closed => "closed",
    }
}

fn status_badge(s: Status, support: bool) -> Markup {
    let word = if support {
        s.key().replace('_', " ")
    } else {
        status_label(s).to_owned()
    };
    html! { span.badge { (word) } }
}

fn priority_badge(p: Priority) -> Markup {
    html! { span class=(format!("badge {}", p.key())) title=(p.label()) { (p.key()) } }
}

/// The rows of a case list, with live SLA countdowns for support.
pub fn table(rows: &[CaseSummary], support: bool) -> Markup {
    html! {
        div.table-wrap tabindex="0" role="region" aria-label="Cases" {
            table.stack {
                thead { tr {
                    th scope="col" { "Case" } th scope="col" { "Subject" } th scope="col" { "Priority" } th scope="col" { "Status" }
                    @if support { th scope="col" { "Account" } th scope="col" { "Plan" } }
                    th scope="col" { "Tenant" } th scope="col" { "Issue area" }
                    @if support { th scope="col" { "Queue" } th scope="col" { "Assignee" } th scope="col" { "Next SLA due" } }
                    @else { th scope="col" { "Requester" } th scope="col" { "Updated" } }
                } }
                tbody {
                    @for c in rows {
                        tr {
                            td data-label="Case" { a href=(format!("/cases/{}", c.number)) { "#" (c.number) } }
                            td data-label="Subject" { (c.subject) @if c.escalated { " " span.badge.P1 { "escalated" } } }
                            td data-label="Priority" { (priority_badge(c.priority)) }
                            td data-label="Status" { (status_badge(c.status, support)) }
                            @if support {
                                td data-label="Account" { (c.account) }
                                td data-label="Plan" { (plan_words(&c.plan)) }
                            }
                            td data-label="Tenant" { (c.tenant) }
                            td data-label="Issue area" { (c.issue_area) }
                            @if support {
                                td data-label="Queue" { (c.queue) }
                                td data-label="Assignee" { (c.assignee.as_deref().unwrap_or("unassigned")) }
                                td data-label="Next SLA due" { @if let Some(d) = c.sla_due_at { (due(d)) } @else { span.muted { "no clock running" } } }
                            } @else {
                                td data-label="Requester" { (c.requester) }
                                td data-label="Updated" { (when(c.updated_at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The support list with a box on each row, tied to the form `form` (bulk actions).
pub fn selectable_table(rows: &[CaseSummary], form: &str) -> Markup {
    html! {
        div.table-wrap tabindex="0" role="region" aria-label="Cases" {
            table.stack {
                thead { tr {
                    th scope="col" { span.visually-hidden { "Select" } }
                    th scope="col" { "Case" } th scope="col" { "Subject" } th scope="col" { "Priority" } th scope="col" { "Status" }
                    th scope="col" { "Account" } th scope="col" { "Plan" } th scope="col" { "Tenant" } th scope="col" { "Issue area" }
                    th scope="col" { "Queue" } th scope="col" { "Assignee" } th scope="col" { "Next SLA due" }
                } }
                tbody {
                    @for c in rows {
                        tr {
                            td data-label="Select" { input type="checkbox" name="case" value=(c.number) form=(form) aria-label=(format!("Select case {}", c.number)); }
                            td data-label="Case" { a href=(format!("/cases/{}", c.number)) { "#" (c.number) } }
                            td data-label="Subject" { (c.subject) @if c.escalated { " " span.badge.P1 { "escalated" } } }
                            td data-label="Priority" { (priority_badge(c.priority)) }
                            td data-label="Status" { (status_badge(c.status, true)) }
                            td data-label="Account" { (c.account) }
                            td data-label="Plan" { (plan_words(&c.plan)) }
                            td data-label="Tenant" { (c.tenant) }
                            td data-label="Issue area" { (c.issue_area) }
                            td data-label="Queue" { (c.queue) }
                            td data-label="Assignee" { (c.assignee.as_deref().unwrap_or("unassigned")) }
                            td data-label="Next SLA due" { @if let Some(d) = c.sla_due_at { (due(d)) } @else { span.muted { "no clock running" } } }
                        }
                    }
                }
            }
        }
    }
}

/// An identifier's or context value as people read it: a time on the reader's clock, a
/// choice in words; what the customer typed stays as typed.
fn fact_value(key: &str, v: &Value, support: bool, zone: &str) -> Markup {
    let Some(text) = v.as_str() else {
        return html! { (v.to_string()) };
    };
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return if support {
            when(t)
        } else {
            super::page::when_in(t, zone)
        };
    }
    let choice = matches!(
        key,
        "client_purpose"
            | "deployment_model"
            | "environment"
            | "availability"
            | "token_flow"
            | "affected"
            | "frequency"
            | "browsers"
            | "deployment"
            | "sign_in_progress"
    );
    html! { (if choice { text.replace('_', " ") } else { text.to_owned() }) }
}

/// A plan key as words (`premium_plus` → "premium plus").
pub fn plan_words(key: &str) -> String {
    key.replace('_', " ")
}

/// `GET /cases`: My cases, with filters and search.
pub async fn list(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let get = |k: &str| {
        q.get(k)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let support = v.support();
    let view = get("view");
    let filters = ListFilters {
        view: view.clone(),
        status: get("status"),
        priority: get("priority"),
        issue_area: get("issue_area"),
        tenant: get("tenant"),
        q: get("q"),
        cursor: get("cursor").and_then(|c| crate::requests::paging::decode_cursor(&c)),
        limit: Some(25),
        ..Default::default()
    };
    let (rows, next) = match service::list_cases(st.store.as_ref(), &v.p, &filters).await {
        Ok(r) => r,
        Err(e) => return super::page::refused(&st, &v, e).await,
    };
    let areas = match st.store.issue_areas().await {
        Ok(a) => a,
        Err(e) => return failure(Some(&v), e),
    };
    let elevated = v.p.user.elevated;
    let title = if support {
        "All cases"
    } else if elevated && view.as_deref() != Some("mine") {
        "Cases of your account"
    } else {
        "My cases"
    };
    let sel = |k: &str, val: &str| get(k).as_deref() == Some(val);
    let mut next_q: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| *k != "cursor")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(n) = next {
        next_q.push(("cursor".into(), crate::requests::paging::encode_cursor(n)));
    }
    let next_href = format!(
        "/cases?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(next_q)
            .finish()
    );
    let body = html! {
        form.filters method="get" action="/cases" role="search" aria-label="Filter cases" {
            div { label for="f-q" { "Search" } input #f-q type="search" name="q" value=(get("q").unwrap_or_default()); }
            div { label for="f-status" { "Status" }
                select #f-status name="status" {
                    option value="" { "Any" }
                    option value="active" selected[sel("status", "active")] { "Not closed" }
                    @for s in Status::ALL { option value=(s.key()) selected[sel("status", s.key())] { (s.key().replace('_', " ")) } }
                } }
            div { label for="f-priority" { "Priority" }
                select #f-priority name="priority" {
                    option value="" { "Any" }
                    @for p in Priority::ALL { option value=(p.key()) selected[sel("priority", p.key())] { (p.key()) } }
                } }
            div { label for="f-area" { "Issue area" }
                select #f-area name="issue_area" {
                    option value="" { "Any" }
                    @for a in &areas { option value=(a.key) selected[sel("issue_area", &a.key)] { (a.name) } }
                } }
            div { label for="f-tenant" { "Tenant" } input #f-tenant type="text" name="tenant" value=(get("tenant").unwrap_or_default()); }
            @if elevated {
                div { label for="f-view" { "Show" }
                    select #f-view name="view" {
                        option value="all" { "All cases of the account" }
                        option value="mine" selected[sel("view", "mine")] { "Only mine" }
                    } }
            }
            button type="submit" { "Apply" }
        }
        @if rows.is_empty() { p { "No cases match." } } @else { (table(&rows, support)) }
        @if next.is_some() { p { a href=(next_href) { "Next page" } } }
    };
    respond(StatusCode::OK, layout(Some(&v), title, "cases", body))
}

/// `GET /cases/{n}/created`: the confirmation with the case number.
pub async fn created(State(st): State<AppState>, v: Viewer, Path(raw): Path<String>) -> Response {
    let case = match parse_number(&raw) {
        Ok(n) => service::get_case(st.store.as_ref(), &v.p, n).await,
        Err(e) => Err(e),
    };
    let case = match case {
        Ok(c) => c,
        Err(e) => return failure(Some(&v), e),
    };
    // Open incidents this case matches: linking it means hearing when the incident ends.
    let read = async {
        let linked = st.store.case_incident_ids(case.number).await?;
        let offers =
            casedesk_core::status::offers_for_case(st.store.as_ref(), &st.status, &case).await?;
        Ok::<_, DomainError>(
            offers
                .into_iter()
                .filter(|i| !linked.contains(&i.id))
                .collect::<Vec<_>>(),
        )
    };
    let offers = match read.await {
        Ok(o) => o,
        Err(e) => return failure(Some(&v), e),
    };
    respond(
        StatusCode::OK,
        layout(
            Some(&v),
            "Your case is open",
            "support",
            html! {
                div.notice.ok role="status" {
                    p { "Case number " strong #case-number { "#" (case.number) } ": " (case.fields.subject) }
                    p { "A confirmation is on its way to " (case.fields.contact.email) ". Reply to it to add to the case." }
                }
                @if !offers.is_empty() {
                    section aria-labelledby="offers-h" {
                        h2 #offers-h { "This may be a known incident" }
                        @for i in &offers {
                            (super::page::incident_card(&json!(i)))
                            form method="post" action=(format!("/cases/{}/incident", case.number)) {
                                (forms::csrf(&v.csrf))
                                input type="hidden" name="incident_id" value=(i.id.to_string());
                                button.secondary type="submit" { "Link my case to this incident" }
                            }
                        }
                    }
                }
                p { a.button href=(format!("/cases/{}", case.number)) { "Go to the case" } " " a.button.secondary href="/cases" { "My cases" } }
            },
        ),
    )
}

/// `GET /cases/{n}`: the case page.
pub async fn show(
    State(st): State<AppState>,
    v: Viewer,
    Path(raw): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    // Without the script, a saved reply is inserted by asking for the page with it.
    let mut values = Fields::default();
    if let Some(id) = q.get("saved") {
        values.0.push(("saved".into(), id.clone()));
    }
    match parse_number(&raw) {
        Ok(n) => {
            page(
                &st,
                &v,
                n,
                &Errors::default(),
                &values,
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}

fn kind_label(k: EventKind) -> String {
    match k {
        EventKind::SlaBreached => return "SLA breached".into(),
        EventKind::SlaWarning => return "SLA due soon".into(),
        _ => {}
    }
    let s = k.key().replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// The case's mail for support: each message sent (to whom, its state, attempts, the next
/// attempt of one that waits, the last error) and each received (from whom, what became of
/// it; held mail links to the review).
fn mail_log(
    sent: &[casedesk_core::mail::MailRecord],
    received: &[casedesk_core::mail::InboundSummary],
) -> Markup {
    use casedesk_core::mail::{AttemptOutcome, MailState};
    html! {
        details.panel #mail {
            summary { h2 { "Mail (" (sent.len()) " sent, " (received.len()) " received)" } }
            @if !sent.is_empty() {
                div.table-wrap tabindex="0" role="region" aria-label="Mail sent" { table {
                    thead { tr { th scope="col" { "Queued" } th scope="col" { "Kind" } th scope="col" { "To" } th scope="col" { "State" } th scope="col" { "Attempts" } th scope="col" { "Next attempt" } th scope="col" { "Last error" } } }
                    tbody { @for m in sent { tr {
                        td { (super::page::when(m.created_at)) }
                        td { (m.kind.replace('_', " ")) }
                        td { (m.recipient) }
                        td { @if m.state == MailState::Failed { strong { (m.state.key()) } } @else { (m.state.key()) } }
                        td {
                            (m.attempts)
                            @let lost = m.attempt_log.iter().filter(|a| a.outcome == AttemptOutcome::Interrupted).count();
                            @if lost > 0 { " (" (lost) " without a result: the relay may have a copy)" }
                        }
                        td { @if let Some(t) = m.next_attempt_at { (super::page::when(t)) } }
                        td { (m.last_error.as_deref().unwrap_or("")) }
                    } } }
                } }
            }
            @if !received.is_empty() {
                div.table-wrap tabindex="0" role="region" aria-label="Mail received" { table {
                    thead { tr { th scope="col" { "Received" } th scope="col" { "From" } th scope="col" { "Outcome" } th scope="col" { "Sender checks" } } }
                    tbody { @for m in received { tr {
                        td { (super::page::when(m.received_at)) }
                        td { (m.sender.as_deref().unwrap_or("(none)")) }
                        td {
                            @if m.outcome == "held" { a href="/console/held" { "held" } } @else { (m.outcome.replace('_', " ")) }
                        }
                        td { (m.detail["authentication"]["trust"].as_str().unwrap_or("")) }
                    } } }
                } }
            }
        }
    }
}

/// The words of an event: the texts it carries, then its files.
fn event_body(e: &CaseEvent) -> Markup {
    let d = &e.data;
    let texts: Vec<(&str, String)> = [
        ("", "body"),
        ("Reason: ", "reason"),
        ("Comment: ", "comment"),
        ("Conclusions: ", "conclusions"),
        ("Next steps: ", "next_steps"),
        ("Assignee: ", "assignee"),
        ("Contact: ", "email"),
        ("Channel: ", "channel"),
    ]
    .iter()
    .filter_map(|(label, k)| {
        d.get(*k)
            .and_then(Value::as_str)
            .map(|s| (*label, s.to_owned()))
    })
    .collect();
    let files: Vec<&str> = d
        .get("files")
        .or_else(|| d.get("attachments"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("file_name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let change = match (
        d.get("from").and_then(Value::as_str),
        d.get("to").and_then(Value::as_str),
    ) {
        (Some(a), Some(b)) => Some(format!("{} → {}", a.replace('_', " "), b.replace('_', " "))),
        _ => None,
    };
    if matches!(e.kind, EventKind::SlaBreached | EventKind::SlaWarning) {
        return sla_alert_words(e);
    }
    if e.kind == EventKind::DiagnosticReport {
        let what = if d["diagnostic"] == "jwt" {
            "JWT explained"
        } else {
            "Redirect URI compared"
        };
        return html! { p { strong { (what) } } (report_view(&d["report"])) };
    }
    let extra = support_center_words(e);
    let change = if extra.is_some() { None } else { change };
    html! {
        @if let Some(x) = extra { p { (x) } }
        @for (label, t) in &texts { p.body { (label) (t) } }
        @if let Some(c) = change { p.muted { (if e.kind == EventKind::PriorityChanged { "Priority: " } else { "Status: " }) (c) } }
        @if !files.is_empty() { p { "Files: " (files.join(", ")) } }
        @if let Some(n) = d.get("secrets_removed") {
            p.notice.warn { "Secrets were removed from this before it was stored: " (n.get("advice").and_then(Value::as_str).unwrap_or("rotate the credentials that were shared.")) }
        }
    }
}

/// A diagnostic's report as people read it: the verdict in words and colour, the redirect
/// URI part by part, why a token fails, what is wrong, and what to do. The same on the result
/// page and on the timeline.
fn report_view(report: &Value) -> Markup {
    let empty = Vec::new();
    let (ok, words) = match (
        report.get("verdict").and_then(Value::as_str),
        report.get("valid").and_then(Value::as_bool),
    ) {
        (Some("match"), _) => (
            true,
            "The redirect URI matches a registered one.".to_owned(),
        ),
        (Some("match_loopback_port"), _) => (
            true,
            "The redirect URI matches: a loopback address may use any port.".to_owned(),
        ),
        (Some("mismatch"), _) => (
            false,
            "The redirect URI does not match any registered one.".to_owned(),
        ),
        (Some("invalid"), _) => (
            false,
            "The redirect URI can never be accepted, whatever is registered.".to_owned(),
        ),
        (Some(other), _) => (false, other.replace('_', " ")),
        (None, Some(true)) => (true, "The token is valid.".to_owned()),
        (None, Some(false)) => (false, "The token fails.".to_owned()),
        (None, None) => (false, "No verdict.".to_owned()),
    };
    let parts = report["parts"].as_array().unwrap_or(&empty);
    let failures = report["failures"].as_array().unwrap_or(&empty);
    let warnings = report["warnings"].as_array().unwrap_or(&empty);
    let problems = report["problems"].as_array().unwrap_or(&empty);
    let advice = report.get("advice").or_else(|| report.get("what_to_do"));
    let text = |x: &Value| x.as_str().map(str::to_owned).unwrap_or_default();
    html! {
        div.report {
            p class=(if ok { "notice ok" } else { "notice bad" }) role="status" { strong { (words) } }
            @if let Some(c) = report["closest"].as_str() { p { "Closest registered URI: " code { (c) } } }
            @if !parts.is_empty() {
                div.table-wrap tabindex="0" role="region" aria-label="The URI part by part" { table {
                    thead { tr { th scope="col" { "Part" } th scope="col" { "Registered" } th scope="col" { "Used" } th scope="col" { "Verdict" } } }
                    tbody { @for x in parts {
                        @let same = x["verdict"] == "same";
                        tr {
                            td { (text(&x["part"])) } td { code { (text(&x["registered"])) } } td { code { (text(&x["used"])) } }
                            td { span class=(if same { "badge ok" } else { "badge bad" }) { (text(&x["verdict"]).replace('_', " ")) }
                                 @if let Some(h) = x["hint"].as_str() { " " (h) } }
                        }
                    } }
                } }
            }
            @if !failures.is_empty() {
                h3 { "Why it fails" }
                ul { @for x in failures { li { code { (text(&x["code"])) } ": " (text(&x["message"])) } } }
            }
            @if !warnings.is_empty() {
                h3 { "Worth a look" }
                ul { @for x in warnings { li { code { (text(&x["code"])) } ": " (text(&x["message"])) } } }
            }
            @if !problems.is_empty() {
                h3 { "What is wrong with the used URI" }
                ul { @for x in problems { li { code { (text(&x["code"])) } ": " (text(&x["message"])) } } }
            }
            @if let Some(a) = advice { p { (a.as_str().map(str::to_owned).unwrap_or_else(|| a.to_string())) } }
        }
    }
}

/// The sentence of a contact change, an access grant's life or a rating.
fn support_center_words(e: &CaseEvent) -> Option<String> {
    let d = &e.data;
    let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let scope = |v: &str| {
        if v == "read_write" {
            "read and change"
        } else {
            "read only"
        }
    };
    match e.kind {
        EventKind::ContactChanged => {
            let parts: Vec<String> = ["email", "phone", "timezone"]
                .iter()
                .filter_map(|k| {
                    let to = d["to"].get(*k)?.as_str()?;
                    let from = d["from"].get(*k).and_then(Value::as_str).unwrap_or("");
                    let what = match *k {
                        "email" => "Case email",
                        "phone" => "Phone",
                        _ => "Time zone",
                    };
                    Some(format!("{what}: {from} → {to}"))
                })
                .collect();
            Some(parts.join("; "))
        }
        EventKind::AccessGranted => Some(format!(
            "Support may enter tenant {} ({}) until {}.",
            s("tenant"),
            scope(&s("scope")),
            s("expires_at")
        )),
        EventKind::AccessRevoked => Some(format!(
            "Support's access to tenant {} was ended.",
            s("tenant")
        )),
        EventKind::AccessExpired if s("reason") == "case_closed" => Some(format!(
            "Support's access to tenant {} ended with the case.",
            s("tenant")
        )),
        EventKind::AccessExpired => Some(format!(
            "Support's access to tenant {} ran out.",
            s("tenant")
        )),
        EventKind::SatisfactionRated => Some(format!(
            "Rated {} of 5.",
            d.get("rating").and_then(Value::as_u64).unwrap_or(0)
        )),
        _ => None,
    }
}

/// The case's events; customers read their times on the requester's clock, support in UTC.
fn timeline(events: &[CaseEvent], support: bool, zone: &str) -> Markup {
    html! {
        ol.timeline {
            @for e in events.iter().filter(|e| e.kind != EventKind::HarEvidence) {
                @let class = match (!e.public, e.kind == EventKind::SlaBreached) {
                    (true, true) => Some("internal breached"),
                    (true, false) => Some("internal"),
                    (false, true) => Some("breached"),
                    (false, false) => None,
                };
                li class=[class] {
                    div.meta {
                        strong { (kind_label(e.kind)) }
                        @if !e.public { " " span.badge.internal { "Internal: support only" } }
                        " · " (e.actor.as_deref().unwrap_or("casedesk")) " · " @if support { (when(e.at)) } @else { (super::page::when_in(e.at, zone)) }
                    }
                    @if support || e.public { (event_body(e)) }
                }
            }
        }
    }
}

fn target_words(key: &str) -> String {
    match key {
        "first_response" => "First response".into(),
        "next_response" => "Next response".into(),
        "resolution" => "Resolution".into(),
        other => other.replace('_', " "),
    }
}

fn basis_words(key: &str) -> &'static str {
    if key == "business" {
        "business hours"
    } else {
        "around the clock"
    }
}

fn instant(v: &Value) -> Option<jiff::Timestamp> {
    v.as_str().and_then(|d| d.parse::<jiff::Timestamp>().ok())
}

/// The case's clocks. Customers read a promise in their own time zone ("we will answer by
/// Mon 16:00 your time"); support reads the same with the goal, the state in colour and the
/// requester's clock beside it.
fn sla_panel(sla: &Value, support: bool, zone: &str) -> Markup {
    let empty = Vec::new();
    let targets = sla["targets"].as_array().unwrap_or(&empty);
    html! {
        section.panel #sla aria-labelledby="sla-h" {
            h2 #sla-h { "Service level" }
            @if targets.is_empty() { p { "No service-level clock applies to this case." } }
            ul.sla-list {
                @for t in targets {
                    @let state = t["state"].as_str().unwrap_or("");
                    @let key = t["target"].as_str().unwrap_or("");
                    @let basis = basis_words(t["basis"].as_str().unwrap_or(""));
                    @let goal = t["goal_minutes"].as_f64().map(minutes_words).unwrap_or_default();
                    li {
                        strong { (target_words(key)) } ": "
                        @match state {
                            "running" => {
                                @if let Some(d) = instant(&t["due_at"]) {
                                    @if support {
                                        "due " (due(d)) " · " (local(d, zone)) " requester's time"
                                    } @else {
                                        (if key == "resolution" { "we aim to resolve this by " } else { "we will answer by " })
                                        strong { (local(d, zone)) } " your time (" (basis) "), " (due(d))
                                    }
                                } @else { "running" }
                            }
                            "paused" => { "paused while we wait for your answer" }
                            "met" => {
                                span.badge.ok { "met" }
                                @if let Some(m) = instant(&t["stopped_at"]) { " at " (when(m)) }
                            }
                            "breached" => {
                                span.badge.bad { "breached" }
                                @if let Some(b) = instant(&t["breached_at"]) { " " span.breach { "at " (when(b)) } }
                                @if let Some(m) = instant(&t["stopped_at"]) { ", answered at " (when(m)) }
                            }
                            other => { (other) }
                        }
                        @if support { " " span.muted { "(goal " (goal) ", " (basis) ")" } }
                    }
                }
            }
        }
    }
}

/// How the due times were reached, step by step: the policy and calendar, then per cycle its
/// start, pauses, the open intervals counted, and where it ended (met, breached, or due).
fn sla_explanation(x: &Value) -> Markup {
    let empty = Vec::new();
    let cycles = x["cycles"].as_array().unwrap_or(&empty);
    let rules = x["rules"].as_array().unwrap_or(&empty);
    html! {
        details.panel #sla-explained {
            summary { "How the due times were computed" }
            ol.steps {
                li { "Policy for plan " strong { (plan_words(x["policy"]["plan"].as_str().unwrap_or(""))) } ", priority " strong { (x["policy"]["priority"].as_str().unwrap_or("")) } " (" (x["policy"]["source"].as_str().unwrap_or("")) ")." }
                li { "Calendar " strong { (x["calendar"]["name"].as_str().unwrap_or("")) } " in " (x["calendar"]["time_zone"].as_str().unwrap_or("")) ": " (x["calendar"]["why"].as_str().unwrap_or("")) }
                @if x["settings"]["on_hold_pauses"] == true { li { "On hold stops the clocks, as the settings say." } }
            }
            @if cycles.is_empty() { p { "No clock has started." } }
            @for c in cycles {
                @let state = c["state"].as_str().unwrap_or("");
                @let counted = c["counted"].as_array().unwrap_or(&empty);
                @let pauses = c["pauses"].as_array().unwrap_or(&empty);
                @let basis = basis_words(c["goal"]["basis"].as_str().unwrap_or(""));
                h3 { (target_words(c["target"].as_str().unwrap_or(""))) @if c["cycle"].as_u64().unwrap_or(1) > 1 { ", cycle " (c["cycle"]) } }
                ol.steps {
                    li { "Goal " strong { (c["goal"]["minutes"].as_f64().map(minutes_words).unwrap_or_default()) } ", counted in " (basis) "." }
                    li { "Started " @if let Some(t) = instant(&c["started_at"]) { (when(t)) } "." }
                    @for p in pauses {
                        li { "Paused " @if let Some(t) = instant(&p["from"]) { (when(t)) } " until "
                            @if let Some(t) = instant(&p["to"]) { (when(t)) } @else { "now" } ", waiting on the customer." }
                    }
                    li {
                        (counted.len()) " open interval(s) counted, " (c["elapsed_minutes"].as_f64().map(minutes_words).unwrap_or_default()) " in all"
                        @if c["counted_truncated"] == true { " (the first are listed)" } ":"
                        @if !counted.is_empty() {
                            div.table-wrap tabindex="0" role="region" aria-label="Intervals counted" { table {
                                thead { tr { th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Counted" } } }
                                tbody { @for i in counted.iter().take(50) { tr {
                                    td { @if let Some(t) = instant(&i["from"]) { (when(t)) } }
                                    td { @if let Some(t) = instant(&i["to"]) { (when(t)) } }
                                    td { (i["minutes"].as_f64().map(minutes_words).unwrap_or_default()) }
                                } } }
                            } }
                            @if counted.len() > 50 { p.muted { "… and " (counted.len() - 50) " more." } }
                        }
                    }
                    li {
                        @match state {
                            "met" => { span.badge.ok { "Met" } @if let Some(t) = instant(&c["stopped_at"]) { " at " (when(t)) } "." }
                            "breached" => { span.badge.bad { "Breached" } @if let Some(t) = instant(&c["breached_at"]) { " " span.breach { "at " (when(t)) } } "." }
                            "running" => { "Running: due " @if let Some(t) = instant(&c["due_at"]) { (when(t)) } "." }
                            "paused" => { "Paused now; the due time moves on when the customer answers." }
                            _ => { "Stopped." }
                        }
                    }
                }
            }
            @if !rules.is_empty() {
                h3 { "The rules" }
                ul { @for r in rules { li { (r.as_str().unwrap_or("")) } } }
            }
        }
    }
}

/// An SLA alert on the timeline: which clock, and when it was (or will be) due.
fn sla_alert_words(e: &CaseEvent) -> Markup {
    let empty = Vec::new();
    let alerts = e.data["alerts"].as_array().unwrap_or(&empty);
    html! {
        ul {
            @for a in alerts {
                @let breach = a["alert"] == "breach";
                li class=[breach.then_some("breach")] {
                    (target_words(a["target"].as_str().unwrap_or("")))
                    @if breach { " breached" } @else { " is close to its due time" }
                    @if let Some(d) = instant(&a["due_at"]) { ": due " (when(d)) }
                    "."
                }
            }
        }
    }
}

/// A value of the evidence in a line: text as it is, an object as its named values.
fn brief(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(brief).collect::<Vec<_>>().join(" → "),
        Value::Object(o) => o
            .iter()
            .filter(|(_, x)| !x.is_null())
            .map(|(k, x)| format!("{k}: {}", brief(x)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn evidence_panel(events: &[CaseEvent]) -> Markup {
    let har: Vec<&CaseEvent> = events
        .iter()
        .filter(|e| e.kind == EventKind::HarEvidence)
        .collect();
    html! {
        @if !har.is_empty() {
            section.panel aria-labelledby="evidence-h" {
                h2 #evidence-h { "HAR evidence" }
                @for e in har {
                    @let s = e.data.get("summary").unwrap_or(&e.data);
                    h3 { (e.data.get("file_name").and_then(Value::as_str).unwrap_or("capture")) }
                    dl.facts {
                        @for key in ["flow", "broke_at", "token_flow", "user_agent", "clock_skew_seconds", "entries"] {
                            @if let Some(x) = s.get(key).filter(|x| !x.is_null()) {
                                dt { (key.replace('_', " ")) }
                                dd { (brief(x)) }
                            }
                        }
                    }
                    @for (key, title) in [("oauth_errors", "OAuth errors"), ("failures", "Failing requests"), ("correlation_ids", "Correlation IDs"), ("redirect_uris", "Redirect URIs")] {
                        @if let Some(list) = s.get(key).and_then(Value::as_array).filter(|l| !l.is_empty()) {
                            h3 { (title) }
                            ul { @for item in list.iter().take(10) { li { code { (brief(item)) } } } }
                        }
                    }
                }
            }
        }
    }
}

/// One action form: its fields are named `{action}.{field}`, so its errors land at its own
/// fields on a page with many forms.
fn action_form(v: &Viewer, n: i64, action: &str, button: &str, fields: Markup) -> Markup {
    html! {
        form method="post" action=(format!("/cases/{n}/act/{action}")) {
            (forms::csrf(&v.csrf))
            (fields)
            button type="submit" { (button) }
        }
    }
}

/// What the case page shows, each read once, after the case itself was read and shown to be
/// visible to the viewer.
struct Shown {
    case: Case,
    events: Vec<CaseEvent>,
    sla: Value,
    explain: Option<Value>,
    files: Vec<casedesk_core::attachments::Attachment>,
    incidents: Vec<casedesk_core::status::Incident>,
    agents: Vec<casedesk_core::users::User>,
    articles: Vec<casedesk_core::kb::StoredEntry>,
    replies: Vec<casedesk_core::kb::replies::SavedReply>,
    mail: Option<(
        Vec<casedesk_core::mail::MailRecord>,
        Vec<casedesk_core::mail::InboundSummary>,
    )>,
    account: Option<casedesk_core::accounts::Account>,
    grants: Vec<casedesk_core::grants::AccessGrant>,
    rating: Option<casedesk_core::satisfaction::Rating>,
    trust_offers: Vec<casedesk_core::trust::TrustDocument>,
}

async fn shown(st: &AppState, v: &Viewer, n: i64) -> casedesk_core::Result<Shown> {
    let store = st.store.as_ref();
    let case = service::get_case(store, &v.p, n).await?;
    let support = v.support();
    let (sla, explain) = service::sla_of(store, &case, support).await?;
    let (agents, articles, replies) = if support {
        (
            store.support_users().await?,
            published(casedesk_core::kb::list(store, Some(&v.p)).await?),
            casedesk_core::kb::replies::list(store, &v.p).await?,
        )
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    // A customer success manager reads their accounts' cases outside their queues; the
    // mail log stays with those who work the case.
    let mail = if support {
        match casedesk_core::mail::case_mail(store, &v.p, n).await {
            Ok(m) => Some(m),
            Err(casedesk_core::DomainError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let account = store.find_account(&case.account_id.to_string()).await?;
    let trust_offers = if support {
        Vec::new()
    } else {
        casedesk_core::trust::offers(store, &case).await?
    };
    Ok(Shown {
        mail,
        account,
        grants: store.case_grants(n).await?,
        rating: store.rating(n).await?,
        trust_offers,
        events: service::events_of(store, &v.p, &case).await?,
        files: casedesk_core::attachments::list_of(store, &v.p, &case).await?,
        incidents: casedesk_core::status::incidents_of(store, n).await?,
        sla,
        explain,
        agents,
        articles,
        replies,
        case,
    })
}

/// The published entries among `list` (support may link those).
fn published(list: Vec<casedesk_core::kb::StoredEntry>) -> Vec<casedesk_core::kb::StoredEntry> {
    list.into_iter()
        .filter(|e| e.entry.state == casedesk_core::kb::EntryState::Published)
        .collect()
}

/// The case page, with `errors` and `values` of a refused action.
async fn page(
    st: &AppState,
    v: &Viewer,
    n: i64,
    errors: &Errors,
    values: &Fields,
    flash: Option<&str>,
    status: StatusCode,
) -> Response {
    let support = v.support();
    let Shown {
        case,
        events,
        sla,
        explain,
        files,
        incidents,
        agents,
        articles,
        replies,
        mail,
        account,
        grants,
        rating,
        trust_offers,
    } = match shown(st, v, n).await {
        Ok(s) => s,
        Err(e) => return super::page::refused(st, v, e).await,
    };
    let val = |k: &str| values.get(k).to_owned();
    let area = |k: &str, label: &str, required: bool| {
        field(k, label, None, &val(k), Kind::Area, required, errors)
    };
    let closed = case.status == Status::Closed;
    let f = &case.fields;
    let facts = html! {
        dl.facts #facts {
            dt { "Status" } dd { (status_badge(case.status, support)) @if case.escalated { " " span.badge.P1 { "escalated" } } }
            dt { "Priority" } dd { (priority_badge(f.priority)) " " (f.priority.label()) }
            dt { "Tenant" } dd { (case.tenant) }
            dt { "Issue area" } dd { (f.issue_area) }
            dt { "Stage" } dd { (f.stage.key()) }
            dt { "Who is affected" } dd { (f.scope.key().replace('_', " ")) }
            dt { "Requester" } dd { (case.requester) }
            dt { "Contact" } dd { (f.contact.email) ", " (f.contact.phone) " (" (f.contact.timezone) ")" }
            @if let Some(a) = &account {
                @if support {
                    dt { "Account" } dd { (a.name) " · " (a.plan.key()) }
                }
                dt { "Customer success manager" } dd { (a.csm.as_deref().unwrap_or("none named")) }
            }
            dt { "Queue" } dd { (case.queue) }
            dt { "Assignee" } dd { (case.assignee.as_deref().unwrap_or("not yet assigned")) }
            dt { "Opened" } dd { @if support { (when(case.created_at)) } @else { (super::page::when_in(case.created_at, &f.contact.timezone)) } }
            @if let Some(prev) = case.follow_up_of { dt { "Follows up" } dd { a href=(format!("/cases/{prev}")) { "#" (prev) } } }
            @for i in &incidents { dt { "Incident" } dd { a href="/status" { (i.title) } " (" (i.state.key()) ")" } }
        }
    };
    let details = html! {
        details.panel open[support] {
            summary { "What was reported" }
            p.body { (f.description) }
            @if let Some(s) = &f.steps_to_reproduce { h3 { "Steps to reproduce" } p.body { (s) } }
            @if let Some(s) = &f.business_impact { h3 { "Business impact" } p.body { (s) } }
            h3 { "Identifiers" }
            dl.facts { @for (k, x) in &f.identifiers { dt { (super::forms::label_of(k)) } dd { (fact_value(k, x, support, &f.contact.timezone)) } } }
            @if !f.context.is_empty() {
                h3 { "Context" }
                dl.facts { @for (k, x) in &f.context { dt { (super::forms::label_of(k)) } dd { (fact_value(k, x, support, &f.contact.timezone)) } } }
            }
            h3 { "Checklist" }
            ul { @for (k, x) in &f.checklist { li { (if x.as_bool() == Some(true) { "Confirmed: " } else { "Not confirmed: " }) (k.replace('_', " ")) } } }
        }
    };
    let files_panel = html! {
        section.panel aria-labelledby="files-h" {
            h2 #files-h { "Attachments" }
            @if files.is_empty() { p { "None yet." } }
            ul {
                @for a in &files {
                    li {
                        @if a.deleted_at.is_some() { (a.file_name) " (deleted after the retention period)" }
                        @else { a href=(format!("/cases/{n}/files/{}", a.id)) { (a.file_name) } " · " (format!("{:.1} KB", a.size as f64 / 1024.0)) }
                        @if !a.public { " " span.badge.internal { "internal" } }
                    }
                }
            }
            @if !closed {
                form method="post" action=(format!("/cases/{n}/files")) enctype="multipart/form-data" {
                    (forms::csrf(&v.csrf))
                    label for="upload" { "Add files" span.hint { "Up to " (st.attachments.max_file_bytes / 1048576) " MB each; .har captures up to " (st.attachments.max_har_bytes / 1048576) " MB, scrubbed before they are stored." } }
                    input #upload type="file" name="file" multiple data-max=(st.attachments.max_file_bytes) data-max-har=(st.attachments.max_har_bytes) aria-describedby="upload-sizes";
                    ul #upload-sizes .filelist aria-live="polite" {}
                    @if let Some(e) = errors.of("files") { span.field-error { (e) } }
                    @if support { label.check for="upload-internal" { input #upload-internal type="checkbox" name="internal" value="true"; "Internal: support only" } }
                    button type="submit" { "Upload" }
                }
            }
        }
    };
    let customer_actions = html! {
        @if !closed {
            section aria-labelledby="reply-h" {
                h2 #reply-h { @if case.status == Status::Solved { "Not solved? Reopen it with a reply" } @else { "Reply" } }
                (action_form(v, n, "reply", "Send reply", area("reply.body", "Your reply", true)))
            }
            @if case.status == Status::Solved {
                section aria-labelledby="confirm-h" {
                    h2 #confirm-h { "Confirm the resolution" }
                    (action_form(v, n, "confirm", "Confirm and close the case", area("confirm.comment", "Comment (optional)", false)))
                }
            }
            @if !case.escalated && matches!(case.status, Status::New | Status::Open | Status::Pending | Status::OnHold) {
                details.panel {
                    summary { "Escalate this case" }
                    p { "The duty manager is notified. Tell us why it needs more attention." }
                    (action_form(v, n, "escalate", "Escalate", area("escalate.reason", "Reason", true)))
                }
            }
            details.panel {
                summary { "Team contacts" }
                ul { @for c in &case.team_contacts { li {
                    (c.email) " "
                    form method="post" action=(format!("/cases/{n}/act/remove_contact")) {
                        (forms::csrf(&v.csrf)) input type="hidden" name="remove_contact.email" value=(c.email);
                        button.secondary type="submit" aria-label=(format!("Remove {}", c.email)) { "Remove" }
                    }
                } } }
                (action_form(v, n, "add_contact", "Add contact", field("add_contact.email", "Email of an admin of your account", None, &val("add_contact.email"), Kind::Input("email"), true, errors)))
            }
        }
    };
    let priorities: Vec<(String, String)> = Priority::ALL
        .iter()
        .map(|p| (p.key().to_owned(), format!("{} {}", p.key(), p.label())))
        .collect();
    let agent_choices: Vec<(String, String)> = agents
        .iter()
        .map(|u| {
            (
                u.email.clone(),
                format!("{} ({})", u.email, super::page::role_label(u.role)),
            )
        })
        .collect();
    let article_choices: Vec<(String, String)> = articles
        .iter()
        .map(|e| (e.entry.id.clone(), e.entry.title.clone()))
        .collect();
    let fill = casedesk_core::kb::replies::Fill {
        requester: &case.requester,
        case: case.number,
        subject: &f.subject,
        tenant: &case.tenant,
        agent: &v.p.user.email,
    };
    let filled: Vec<(String, String, String)> = replies
        .iter()
        .map(|r| {
            (
                r.id.to_string(),
                r.title.clone(),
                casedesk_core::kb::replies::fill(&r.body, &fill),
            )
        })
        .collect();
    // The text to start from: what was sent back with an error, else a saved reply asked for.
    let start = values.opt("write.body").or_else(|| {
        filled
            .iter()
            .find(|(id, _, _)| values.get("saved") == id)
            .map(|(_, _, text)| text.clone())
    });
    let mode = values.opt("write.as").unwrap_or_else(|| "reply".into());
    let modes = [
        (
            "reply",
            "Public reply",
            "the customer sees it and gets it by email",
        ),
        ("note", "Internal note", "support only; never sent"),
        (
            "request_info",
            "Ask for information",
            "public; the case waits on the customer",
        ),
        (
            "propose",
            "Propose a resolution",
            "public; the customer confirms or reopens",
        ),
    ];
    let composer = html! {
        section.panel #composer aria-labelledby="composer-h" {
            h3 #composer-h { "Write" }
            @if !filled.is_empty() || !articles.is_empty() {
                div.inserts {
                    @if !filled.is_empty() {
                        form.inline method="get" action=(format!("/cases/{n}")) {
                            label for="saved" { "Saved reply" }
                            select #saved name="saved" {
                                @for (id, title, text) in &filled { option value=(id) data-text=(text) { (title) } }
                            }
                            button.secondary type="submit" #insert-saved { "Insert" }
                        }
                    }
                    @if !articles.is_empty() {
                        div.inline.article-pick {
                            label for="article-pick" { "Article" span.hint { "Type to search, then insert its link." } }
                            input #article-pick type="search" list="article-list" autocomplete="off";
                            datalist #article-list {
                                @for e in &articles { option value=(e.entry.title) data-href=(format!("/kb/{}", e.entry.id)) {} }
                            }
                            button.secondary type="button" #insert-article hidden { "Insert link" }
                        }
                    }
                }
            }
            form method="post" action=(format!("/cases/{n}/act/write")) #write-form {
                (forms::csrf(&v.csrf))
                fieldset.switch {
                    legend { "Who sees it" }
                    @for (key, label, hint) in modes {
                        label.check for=(format!("write-as-{key}")) {
                            input id=(format!("write-as-{key}")) type="radio" name="write.as" value=(key) checked[mode == key];
                            strong { (label) } " " span.muted { "(" (hint) ")" }
                        }
                    }
                }
                (field("write.body", "Message", None, start.as_deref().unwrap_or(""), Kind::Area, true, errors))
                button type="submit" { "Send" }
            }
        }
    };
    let agent_actions = html! {
        @if !closed {
            section aria-labelledby="work-h" {
                h2 #work-h { "Work the case" }
                @if case.assignee_id != Some(v.p.user.id) {
                    form method="post" action=(format!("/cases/{n}/act/assign")) {
                        (forms::csrf(&v.csrf))
                        input type="hidden" name="assign.assignee" value="me";
                        button.secondary type="submit" { "Assign to me" }
                    }
                }
                (composer)
                @if matches!(case.status, Status::Pending | Status::OnHold) {
                    details {
                        summary { "Resume work" }
                        (action_form(v, n, "resume", "Resume", area("resume.body", "Message (optional)", false)))
                    }
                } @else {
                    details {
                        summary { "Put on hold (waiting on a third party)" }
                        (action_form(v, n, "hold", "Put on hold", area("hold.reason", "Reason", true)))
                    }
                }
                details {
                    summary { "Assign" }
                    (action_form(v, n, "assign", "Assign", field("assign.assignee", "Assignee", Some("Leave empty to unassign."), case.assignee.as_deref().unwrap_or(""), Kind::Select(&agent_choices), false, errors)))
                }
                details {
                    summary { "Change priority" }
                    (action_form(v, n, "priority", "Change priority", html! {
                        (field("priority.priority", "Priority", None, f.priority.key(), Kind::Select(&priorities), true, errors))
                        (area("priority.reason", "Reason", true))
                    }))
                }
                details {
                    summary { "Link an article" }
                    (action_form(v, n, "link_article", "Link article", html! {
                        (field("link_article.entry", "Article", None, &val("link_article.entry"), Kind::Select(&article_choices), true, errors))
                        label.check for="link-internal" { input #link-internal type="checkbox" name="link_article.internal" value="true"; "Internal: for support only" }
                    }))
                }
                details {
                    summary { "Record a call or chat summary" }
                    (action_form(v, n, "summary", "Record summary", html! {
                        (field("summary.channel", "Channel", None, &val("summary.channel"), Kind::Select(&[("call".into(), "Call".into()), ("chat".into(), "Chat".into())]), true, errors))
                        (area("summary.conclusions", "Conclusions", true))
                        (area("summary.next_steps", "Next steps", false))
                        label.check for="summary-internal" { input #summary-internal type="checkbox" name="summary.internal" value="true"; "Internal: for support only" }
                    }))
                }
            }
        }
    };
    let diagnostics = html! {
        section.panel aria-labelledby="diag-h" {
            h2 #diag-h { "Diagnostics" }
            details {
                summary { "Compare a redirect URI" }
                form method="post" action=(format!("/cases/{n}/diagnose/redirect")) {
                    (forms::csrf(&v.csrf))
                    (field("registered", "Registered URIs (one per line)", None, f.identifiers.get("redirect_uri").and_then(Value::as_str).unwrap_or(""), Kind::Area, true, errors))
                    (field("used", "URI the application sent", None, "", Kind::Input("text"), true, errors))
                    button type="submit" { "Compare" }
                }
            }
            details {
                summary { "Explain a JWT" }
                p.hint { "The token is checked against its issuer's published keys. It is never stored; only the report is added to the case." }
                form method="post" action=(format!("/cases/{n}/diagnose/jwt")) {
                    (forms::csrf(&v.csrf))
                    (field("token", "Token", None, "", Kind::Area, true, errors))
                    (field("issuer", "Expected issuer", None, "", Kind::Input("url"), false, errors))
                    (field("audience", "Expected audience", None, "", Kind::Input("text"), false, errors))
                    button type="submit" { "Explain" }
                }
            }
        }
    };
    let now = casedesk_core::now();
    let u = &v.p.user;
    let may_grant = u.role.is_customer()
        && u.account_id == Some(case.account_id)
        && (case.requester_id == u.id
            || case.team_contacts.iter().any(|c| c.user_id == u.id)
            || u.role == casedesk_core::users::Role::SuperAdmin);
    let on_case = case.requester_id == u.id || case.team_contacts.iter().any(|c| c.user_id == u.id);
    let cap = account
        .as_ref()
        .map(|a| casedesk_core::grants::hours_cap(a.plan))
        .unwrap_or(24);
    let hour_choices: Vec<(String, String)> = [1u32, 4, 8, 24, 72, 168]
        .iter()
        .filter(|h| **h <= cap)
        .map(|h| {
            (
                h.to_string(),
                if *h < 24 {
                    format!("{h} hours")
                } else {
                    format!("{} days", h / 24)
                },
            )
        })
        .collect();
    let scope_choices: Vec<(String, String)> = vec![
        ("read".into(), "Read only".into()),
        ("read_write".into(), "Read and change settings".into()),
    ];
    let grants_panel = html! {
        section.panel #grants aria-labelledby="grants-h" {
            h2 #grants-h { "Support access" }
            @if grants.is_empty() { p { "Support has not been let into " (case.tenant) " for this case." } }
            ul {
                @for g in &grants {
                    li {
                        strong { (g.scope.key().replace('_', " ")) } " access to " (g.tenant) " · " (g.state(now).replace('_', " "))
                        " · granted by " (g.granted_by) " · ends " (when(g.ended_at.unwrap_or(g.expires_at)))
                        @if g.active_at(now) && (may_grant || support) {
                            form method="post" action=(format!("/cases/{n}/grants/{}/revoke", g.id)) {
                                (forms::csrf(&v.csrf))
                                button.secondary type="submit" { "End access now" }
                            }
                        }
                    }
                }
            }
            @if may_grant && !closed {
                details open[errors.0.iter().any(|e| e.field.starts_with("grant."))] {
                    summary { "Let support into " (case.tenant) }
                    p.hint { "For a bounded time, tied to this case; you can end it at any time, and it ends when the case closes. Your plan allows up to " (cap) " hours." }
                    (action_form(v, n, "grant", "Grant access", html! {
                        (field("grant.hours", "For how long", None, &val("grant.hours"), Kind::Select(&hour_choices), true, errors))
                        (field("grant.scope", "What support may do", None, &val("grant.scope"), Kind::Select(&scope_choices), true, errors))
                        (area("grant.note", "Note for support (optional)", false))
                    }))
                }
            }
        }
    };
    let contact_panel = html! {
        @if !closed && (support || case.requester_id == u.id) {
            details.panel open[errors.0.iter().any(|e| e.field.starts_with("contact."))] {
                summary { "Change the case email, phone or time zone" }
                p.hint { "Every email of the case goes to the case email." }
                (action_form(v, n, "contact", "Save contact", html! {
                    (field("contact.email", "Case email", None, &values.opt("contact.email").unwrap_or_else(|| f.contact.email.clone()), Kind::Input("email"), true, errors))
                    (field("contact.phone", "Phone", None, &values.opt("contact.phone").unwrap_or_else(|| f.contact.phone.clone()), Kind::Input("tel"), true, errors))
                    (field("contact.timezone", "Time zone", Some("A time zone name such as Europe/Berlin."), &values.opt("contact.timezone").unwrap_or_else(|| f.contact.timezone.clone()), Kind::Input("text"), true, errors))
                }))
            }
        }
    };
    let rating_panel = html! {
        @if closed {
            section.panel #rate aria-labelledby="rate-h" {
                h2 #rate-h { "How did we do?" }
                @if let Some(r) = &rating {
                    p { "Rated " strong { (r.rating) " of 5" } " by " (r.rated_by) " · " (when(r.rated_at)) }
                    @if let Some(c) = &r.comment { p.body { (c) } }
                } @else if on_case && u.role.is_customer() {
                    form method="post" action=(format!("/cases/{n}/satisfaction")) {
                        (forms::csrf(&v.csrf))
                        fieldset {
                            legend { "Your rating" }
                            @for (r, label) in [(5, "5 · excellent"), (4, "4 · good"), (3, "3 · fair"), (2, "2 · poor"), (1, "1 · very poor")] {
                                label.check { input type="radio" name="rating" value=(r) required; (label) }
                            }
                        }
                        @if let Some(e) = errors.of("rating") { span.field-error { (e) } }
                        (field("comment", "What should we keep doing, or do better? (optional)", None, &val("comment"), Kind::Area, false, errors))
                        button type="submit" { "Send rating" }
                    }
                } @else {
                    p { "Not rated yet." }
                }
            }
        }
    };
    let trust_panel = html! {
        @if !trust_offers.is_empty() {
            section.panel aria-labelledby="trust-h" {
                h2 #trust-h { "Evidence for your review" }
                p { "These Trust Center documents answer questions of a security review:" }
                ul { @for d in &trust_offers { li { a href="/trust" { (d.title) } @if d.requires_nda { " " span.badge { "NDA" } } } } }
            }
        }
    };
    // The agent workspace: who this customer is, before anything else.
    let others = match (&account, support) {
        (Some(a), true) => {
            let filters = ListFilters {
                account: Some(a.id),
                status: Some("new,open,pending,on_hold".into()),
                sort: Some("sla_due".into()),
                limit: Some(11),
                ..Default::default()
            };
            match service::list_cases(st.store.as_ref(), &v.p, &filters).await {
                Ok((rows, _)) => rows
                    .into_iter()
                    .filter(|c| c.number != case.number)
                    .take(10)
                    .collect(),
                Err(e) => return failure(Some(v), e),
            }
        }
        _ => Vec::new(),
    };
    let next_due = sla["next_due_at"]
        .as_str()
        .and_then(|d| d.parse::<jiff::Timestamp>().ok());
    let case_bar = html! {
        @if let (Some(a), true) = (&account, support) {
            dl.case-bar {
                div { dt { "Account" } dd { (a.name) } }
                div { dt { "Plan" } dd { (plan_words(a.plan.key())) } }
                div { dt { "SLA tier" } dd { (f.priority.key()) " · " (f.priority.label()) } }
                div { dt { "Customer success manager" } dd { (a.csm.as_deref().unwrap_or("none named")) } }
                div { dt { "Requester's time" } dd { (local(casedesk_core::now(), &f.contact.timezone)) } }
                div { dt { "Next SLA due" } dd { @if let Some(d) = next_due { (due(d)) } @else { "no clock running" } } }
                div { dt { "Other open cases" } dd { a href="#others" { (others.len()) } } }
            }
        }
    };
    let others_panel = html! {
        @if support && account.is_some() {
            section.panel #others aria-labelledby="others-h" {
                h2 #others-h { "Other open cases of this account" }
                @if others.is_empty() { p { "None." } } @else {
                    ul { @for c in &others { li {
                        a href=(format!("/cases/{}", c.number)) { "#" (c.number) } " " (c.subject) " · " (priority_badge(c.priority)) " " (status_badge(c.status, true))
                    } } }
                }
            }
        }
    };
    let title = format!("#{} {}", case.number, f.subject);
    let body = html! {
        @if let Some(m) = flash { div.notice.ok role="status" { p { (m) } } }
        (case_bar)
        (forms::summary(errors))
        div.cols {
            div {
                (details)
                h2 #timeline { "Timeline" }
                (timeline(&events, support, &f.contact.timezone))
                @if closed {
                    p.notice { "This case is closed and read-only. Open a new case to follow up; mention #" (case.number) "." }
                }
                (rating_panel)
                @if support { (agent_actions) } @else { (customer_actions) }
                (contact_panel)
                @if let Some((sent, received)) = &mail { (mail_log(sent, received)) }
            }
            aside aria-label="Case facts" {
                section.panel { h2 { "Facts" } (facts) }
                (sla_panel(&sla, support, &f.contact.timezone))
                @if let Some(x) = &explain { (sla_explanation(x)) }
                (others_panel)
                @if support { (evidence_panel(&events)) }
                (trust_panel)
                (grants_panel)
                (files_panel)
                (diagnostics)
            }
        }
    };
    let current = if support { "console" } else { "cases" };
    respond(status, layout(Some(v), &title, current, body))
}

/// The command an action form asks for; `Err` names a field.
fn command(
    v: &Viewer,
    action: &str,
    f: &Fields,
    article: Option<&casedesk_core::kb::StoredEntry>,
) -> Result<Command, DomainError> {
    let g = |k: &str| f.get(&format!("{action}.{k}")).to_owned();
    let o = |k: &str| f.opt(&format!("{action}.{k}"));
    Ok(match action {
        "reply" => Command::Reply { body: g("body") },
        "write" => match f.get("write.as") {
            "note" => Command::Note { body: g("body") },
            "request_info" => Command::RequestInfo { body: g("body") },
            "propose" => Command::ProposeResolution { body: g("body") },
            "reply" | "" => Command::Reply { body: g("body") },
            _ => {
                return Err(DomainError::field(
                    "as",
                    "choose a public reply, an internal note, a request for information or a proposed resolution",
                ));
            }
        },
        "note" => Command::Note { body: g("body") },
        "request_info" => Command::RequestInfo { body: g("body") },
        "hold" => Command::Hold {
            reason: g("reason"),
        },
        "resume" => Command::Resume { body: o("body") },
        "propose" => Command::ProposeResolution { body: g("body") },
        "confirm" => Command::ConfirmResolution {
            comment: o("comment"),
        },
        "escalate" => Command::Escalate {
            reason: g("reason"),
        },
        "assign" => Command::Assign {
            assignee: o("assignee").map(|a| if a == "me" { v.p.user.email.clone() } else { a }),
        },
        "priority" => Command::ChangePriority {
            priority: g("priority"),
            reason: g("reason"),
        },
        "add_contact" => Command::AddContact { email: g("email") },
        "remove_contact" => Command::RemoveContact { email: g("email") },
        "contact" => {
            let mut c = Map::new();
            for k in ["email", "phone", "timezone"] {
                if let Some(x) = o(k) {
                    c.insert(k.into(), Value::String(x));
                }
            }
            Command::ChangeContact {
                contact: Value::Object(c),
            }
        }
        "summary" => Command::Summary {
            channel: g("channel"),
            conclusions: g("conclusions"),
            next_steps: o("next_steps"),
            internal: f.checked("summary.internal"),
        },
        "link_article" => {
            let Some(e) = article else {
                return Err(DomainError::field("entry", "choose a published article"));
            };
            let body = format!(
                "An article that may help: {}\n{}\n/kb/{}",
                e.entry.title, e.entry.summary, e.entry.id
            );
            if f.checked("link_article.internal") {
                Command::Note { body }
            } else {
                Command::Reply { body }
            }
        }
        _ => return Err(DomainError::NotFound { entity: "action" }),
    })
}

/// `POST /cases/{n}/act/{action}`: one action; back to the case, or the case with the
/// errors at the action's fields.
pub async fn act(
    State(st): State<AppState>,
    Path((raw, action)): Path<(String, String)>,
    Posted { v, f }: Posted,
) -> Response {
    let n = match parse_number(&raw) {
        Ok(n) => n,
        Err(e) => return failure(Some(&v), e),
    };
    // The article to link, if it is one the viewer may read and it is published.
    let article = if action == "link_article" {
        match casedesk_core::kb::get(st.store.as_ref(), Some(&v.p), f.get("link_article.entry"))
            .await
        {
            Ok(e) => published(vec![e]).pop(),
            Err(DomainError::NotFound { .. }) => None,
            Err(e) => return failure(Some(&v), e),
        }
    } else {
        None
    };
    let result = if action == "grant" {
        let mut body = Map::new();
        if let Some(h) = f.opt("grant.hours") {
            body.insert(
                "hours".into(),
                h.parse::<u64>()
                    .map(Value::from)
                    .unwrap_or(Value::String(h)),
            );
        }
        if let Some(s) = f.opt("grant.scope") {
            body.insert("scope".into(), Value::String(s));
        }
        if let Some(note) = f.opt("grant.note") {
            body.insert("note".into(), Value::String(note));
        }
        service::grants::grant(st.store.as_ref(), &v.p, n, &Value::Object(body))
            .await
            .map(|_| ())
    } else {
        match command(&v, &action, &f, article.as_ref()) {
            Ok(cmd) => service::act(st.store.as_ref(), &v.p, n, cmd)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(_) => {
            // An assignment changes what the person's console tabs count.
            st.view_counts.forget(v.p.user.id);
            redirect(&format!("/cases/{n}#timeline"))
        }
        Err(DomainError::Validation(errs)) => {
            let errs = errs
                .into_iter()
                .map(|e| casedesk_core::FieldError::new(format!("{action}.{}", e.field), e.message))
                .collect();
            page(
                &st,
                &v,
                n,
                &Errors(errs),
                &f,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}

/// `POST /cases/{n}/grants/{id}/revoke`: ends a support access grant.
pub async fn revoke_grant(
    State(st): State<AppState>,
    Path((raw, id)): Path<(String, String)>,
    Posted { v, .. }: Posted,
) -> Response {
    let n = match parse_number(&raw) {
        Ok(n) => n,
        Err(e) => return failure(Some(&v), e),
    };
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return failure(
            Some(&v),
            DomainError::NotFound {
                entity: "access grant",
            },
        );
    };
    match service::grants::revoke(st.store.as_ref(), &v.p, n, id).await {
        Ok(_) => redirect(&format!("/cases/{n}#grants")),
        Err(e) => failure(Some(&v), e),
    }
}

/// `POST /cases/{n}/satisfaction`: the customer's rating of the closed case.
pub async fn rate(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Posted { v, f }: Posted,
) -> Response {
    let n = match parse_number(&raw) {
        Ok(n) => n,
        Err(e) => return failure(Some(&v), e),
    };
    let mut body = Map::new();
    if let Some(r) = f.opt("rating") {
        body.insert(
            "rating".into(),
            r.parse::<u64>()
                .map(Value::from)
                .unwrap_or(Value::String(r)),
        );
    }
    if let Some(c) = f.opt("comment") {
        body.insert("comment".into(), Value::String(c));
    }
    match service::satisfaction::rate(st.store.as_ref(), &v.p, n, &Value::Object(body)).await {
        Ok(_) => {
            page(
                &st,
                &v,
                n,
                &Errors::default(),
                &Fields::default(),
                Some("Thank you: your rating was recorded."),
                StatusCode::OK,
            )
            .await
        }
        Err(DomainError::Validation(errs)) => {
            page(
                &st,
                &v,
                n,
                &Errors(errs),
                &f,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}

/// `POST /cases/{n}/incident`: links the case to an open incident it matches (a customer
/// accepting the offer, or support).
pub async fn link_incident(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Posted { v, f }: Posted,
) -> Response {
    let n = match parse_number(&raw) {
        Ok(n) => n,
        Err(e) => return failure(Some(&v), e),
    };
    let q = json!({"incident_id": f.get("incident_id")});
    match casedesk_core::status::link_case(st.store.as_ref(), &st.status, &v.p, n, &q).await {
        Ok(_) => redirect(&format!("/cases/{n}")),
        Err(e) => failure(Some(&v), e),
    }
}

/// `POST /cases/{n}/files`: attach files from the case page.
pub async fn upload(
    State(st): State<AppState>,
    v: Viewer,
    headers: HeaderMap,
    Path(raw): Path<String>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let n = match parse_number(&raw) {
        Ok(n) => n,
        Err(e) => return failure(Some(&v), e),
    };
    // Who may attach is settled before a byte of the upload is read.
    let case: Case = match st.store.get_case(n).await {
        Ok(Some(c)) => c,
        Ok(None) => return failure(Some(&v), not_found()),
        Err(e) => return failure(Some(&v), e),
    };
    if let Err(e) = casedesk_core::attachments::check_attach(&v.p, &case, false) {
        return failure(Some(&v), e);
    }
    if let Some(r) = super::page::cross_site(&v, &headers) {
        return r;
    }
    let form = match read_form(mp, &st.attachments, Parts::Web).await {
        Ok(f) => f,
        Err(e) => return refused(&st, &v, n, e).await,
    };
    let f = Fields(form.texts);
    if let Some(r) = super::page::form_allowed(&v, &headers, &f) {
        return r;
    }
    let internal = f.checked("internal") && permissions::is_support(&v.p);
    if form.files.is_empty() {
        return refused(
            &st,
            &v,
            n,
            DomainError::field("files", "choose at least one file").into(),
        )
        .await;
    }
    let prepared = match prepare_all(&st, &v.p, case.account_id, form.files, !internal).await {
        Ok(p) => p,
        Err(e) => return refused(&st, &v, n, e).await,
    };
    match casedesk_core::service::attach(st.store.as_ref(), &v.p, n, &prepared, !internal).await {
        Ok(_) => redirect(&format!("/cases/{n}#files-h")),
        Err(e) => failure(Some(&v), e),
    }
}

/// The case page again, with why the upload was refused at its field.
async fn refused(st: &AppState, v: &Viewer, n: i64, e: ApiError) -> Response {
    let msg = match super::page::upload_problem(e) {
        Ok(m) => m,
        Err(e) => return failure(Some(v), e),
    };
    let errs = Errors(vec![casedesk_core::FieldError::new("files", msg)]);
    let mut res = page(
        st,
        v,
        n,
        &errs,
        &Fields::default(),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    crate::error::unread_body(&mut res);
    res
}

/// `GET /cases/{n}/files/{id}`: a download, for the signed-in viewer.
pub async fn download(
    State(st): State<AppState>,
    v: Viewer,
    Path((raw, id)): Path<(String, String)>,
) -> Response {
    let n = match parse_number(&raw) {
        Ok(n) => n,
        Err(e) => return failure(Some(&v), e),
    };
    match serve_file(&st, &v.p, n, &id).await {
        Ok(r) => r,
        Err(ApiError::Domain(e)) => failure(Some(&v), e),
        Err(e) => e.into_response(),
    }
}

/// `POST /cases/{n}/diagnose/{tool}`: the redirect-URI comparison or the JWT explainer,
/// beside the case; the JWT report is recorded on the case.
pub async fn diagnose(
    State(st): State<AppState>,
    Path((raw, tool)): Path<(String, String)>,
    Posted { v, f }: Posted,
) -> Response {
    let n = match parse_number(&raw) {
        Ok(n) => n,
        Err(e) => return failure(Some(&v), e),
    };
    // The case is checked before anything is fetched, as the API does.
    if let Err(e) = casedesk_core::diagnostics::check_report_case(st.store.as_ref(), &v.p, n).await
    {
        return failure(Some(&v), e);
    }
    let report: Result<Value, DomainError> = match tool.as_str() {
        "redirect" => {
            let registered: Vec<String> = f
                .get("registered")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            casedesk_core::diagnostics::explain_redirect(
                &json!({"registered": registered, "used": f.get("used")}),
            )
            .and_then(|x| serde_json::to_value(x).map_err(|e| DomainError::Internal(e.to_string())))
        }
        "jwt" => {
            let mut q = json!({"token": f.get("token"), "case": n});
            if let Some(i) = f.opt("issuer") {
                q["issuer"] = json!(i);
            }
            if let Some(a) = f.opt("audience") {
                q["audience"] = json!(a);
            }
            match casedesk_core::diagnostics::jwt::read_question(&q) {
                Ok(q) => {
                    let report = st.jwt_explainer.explain(&q, casedesk_core::now()).await;
                    casedesk_core::service::record_report(
                        st.store.as_ref(),
                        &v.p,
                        n,
                        "jwt",
                        &report,
                    )
                    .await
                    .map(|_| report)
                }
                Err(e) => Err(e),
            }
        }
        _ => Err(DomainError::NotFound {
            entity: "diagnostic",
        }),
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return failure(Some(&v), e),
    };
    let pretty = serde_json::to_string_pretty(&report).unwrap_or_default();
    respond(
        StatusCode::OK,
        layout(
            Some(&v),
            if tool == "jwt" {
                "JWT explained"
            } else {
                "Redirect URI compared"
            },
            if v.support() { "console" } else { "cases" },
            html! {
                p { "For case " a href=(format!("/cases/{n}")) { "#" (n) } "." }
                (report_view(&report))
                details { summary { "The whole report" } pre { (pretty) } }
            },
        ),
    )
}
