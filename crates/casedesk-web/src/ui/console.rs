//! The agent console: queue views sorted by the next SLA due time, with live countdowns.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use casedesk_core::DomainError;
use casedesk_core::service::{self, ListFilters};
use maud::html;

use super::forms;
use super::page::{Posted, failure, layout, redirect, respond, when};
use crate::AppState;
use crate::session::Viewer;

/// How soon a due time counts as "breaching soon".
const SOON_SECONDS: i64 = 2 * 3600;

/// `GET /console?view=mine|unassigned|breaching|queue&queue=…`.
pub async fn queue(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !v.support() {
        return failure(
            Some(&v),
            DomainError::Forbidden("The queues are for support engineers.".into()),
        );
    }
    let view = q.get("view").map(String::as_str).unwrap_or("mine");
    let queue = q.get("queue").cloned().filter(|s| !s.is_empty());
    let mut f = ListFilters {
        status: Some("new,open,pending,on_hold".into()),
        sort: Some("sla_due".into()),
        limit: Some(50),
        ..Default::default()
    };
    match view {
        "mine" => f.assignee = Some("me".into()),
        "unassigned" => f.assignee = Some("none".into()),
        "queue" => f.queue = queue.clone(),
        "breaching" => f.status = Some("new,open".into()),
        _ => {
            return failure(
                Some(&v),
                DomainError::field("view", "must be mine, unassigned, queue or breaching"),
            );
        }
    }
    let (mut rows, _) = match service::list_cases(st.store.as_ref(), &v.p, &f).await {
        Ok(r) => r,
        Err(e) => return failure(Some(&v), e),
    };
    if view == "breaching" {
        let horizon = casedesk_core::now().as_second() + SOON_SECONDS;
        rows.retain(|c| c.sla_due_at.is_some_and(|d| d.as_second() <= horizon));
    }
    let queues: Vec<String> = if v.manager() {
        match super::page::all_queues(&st).await {
            Ok(q) => q,
            Err(e) => return failure(Some(&v), e),
        }
    } else {
        v.p.user.queues.clone()
    };
    // A customer success manager hears of their accounts' P1 cases and escalations here too.
    let watched = match service::csm_cases(st.store.as_ref(), &v.p).await {
        Ok(w) => w,
        Err(e) => return failure(Some(&v), e),
    };
    let tab = |key: &str, href: String, label: String| {
        let current =
            key == view && (view != "queue" || queue.as_deref() == href.split("queue=").nth(1));
        html! { li { a href=(href) aria-current=[current.then_some("page")] { (label) } } }
    };
    let title = match view {
        "mine" => "Assigned to me".to_owned(),
        "unassigned" => "Unassigned".to_owned(),
        "breaching" => "Breaching soon".to_owned(),
        _ => format!("Queue {}", queue.as_deref().unwrap_or("")),
    };
    let body = html! {
        nav aria-label="Queue views" {
            ul.tabs {
                (tab("mine", "/console?view=mine".into(), "Mine".into()))
                (tab("unassigned", "/console?view=unassigned".into(), "Unassigned".into()))
                (tab("breaching", "/console?view=breaching".into(), "Breaching soon".into()))
                li { a href="/console/held" { "Held mail" } }
                @for qn in &queues { (tab("queue", format!("/console?view=queue&queue={qn}"), format!("Queue: {qn}"))) }
            }
        }
        @if !watched.is_empty() {
            section.panel #csm aria-labelledby="csm-h" {
                h2 #csm-h { "Your accounts: P1 and escalated cases (" (watched.len()) ")" }
                p.hint { "You are the customer success manager of these cases' accounts." }
                (super::cases::table(&watched, true))
            }
        }
        p.lead { "Open cases, the next SLA due time first. Countdowns update live." }
        @if rows.is_empty() { p { "Nothing here right now." } } @else { (super::cases::table(&rows, true)) }
    };
    respond(StatusCode::OK, layout(Some(&v), &title, "console", body))
}

/// `GET /console/held`: received mail held for review (a sender our border did not verify,
/// a flood, a machine's acknowledgement), with the verdicts and what it would do, each with
/// Release and Discard.
pub async fn held(State(st): State<AppState>, v: Viewer) -> Response {
    use casedesk_core::mail::{self, InboundOutcome};
    if !v.support() {
        return failure(
            Some(&v),
            DomainError::Forbidden("Held mail is for support engineers.".into()),
        );
    }
    let rows = match mail::inbound_by_outcome(
        st.store.as_ref(),
        &v.p,
        InboundOutcome::Held,
        mail::INBOUND_PAGE_MAX,
        None,
    )
    .await
    {
        Ok((rows, _)) => rows,
        Err(e) => return failure(Some(&v), e),
    };
    let text = |x: &serde_json::Value| x.as_str().unwrap_or("").to_owned();
    let verdict = |x: &serde_json::Value| x.as_str().unwrap_or("none").to_owned();
    let body = html! {
        p.lead { "Mail that was not posted as its sender until someone here decides. Release posts it as the sender's reply (or opens the case it asks for); Discard keeps it out of the case for good. Both are recorded." }
        @if rows.is_empty() { p { "No mail is held." } } @else {
            div.table-wrap tabindex="0" role="region" aria-label="Held mail" { table {
                thead { tr {
                    th scope="col" { "Received" } th scope="col" { "From" } th scope="col" { "Subject" }
                    th scope="col" { "Would" } th scope="col" { "Why it is held" } th scope="col" { "Sender checks" } th scope="col" { "Decide" }
                } }
                tbody { @for m in &rows {
                    @let hold = &m.detail["hold"];
                    @let auth = &m.detail["authentication"];
                    tr {
                        td { (when(m.received_at)) }
                        td { (m.sender.as_deref().unwrap_or("(none)")) }
                        td { (m.subject) }
                        td { @match (text(&hold["action"]).as_str(), m.case_number) {
                            ("reply", Some(n)) => { "reply on " a href=(format!("/cases/{n}")) { "case " (n) } }
                            ("open_case", _) => { "open a case" }
                            (other, _) => { (other) }
                        } " as " (text(&hold["as"])) }
                        td { (text(&hold["reason"])) }
                        td { @if text(&auth["trust"]) == "unchecked" { "not checked (no mail.authserv_id)" } @else { "SPF " (verdict(&auth["spf"])) ", DKIM " (verdict(&auth["dkim"])) ", DMARC " (verdict(&auth["dmarc"])) } }
                        td {
                            form method="post" action=(format!("/console/held/{}/release", m.id)) {
                                (forms::csrf(&v.csrf)) button type="submit" aria-label=(format!("Release the message from {}", m.sender.as_deref().unwrap_or(""))) { "Release" }
                            }
                            form method="post" action=(format!("/console/held/{}/discard", m.id)) {
                                (forms::csrf(&v.csrf)) button.secondary type="submit" aria-label=(format!("Discard the message from {}", m.sender.as_deref().unwrap_or(""))) { "Discard" }
                            }
                        }
                    }
                } }
            } }
        }
    };
    respond(
        StatusCode::OK,
        layout(Some(&v), "Held mail", "console", body),
    )
}

/// `POST /console/held/{id}/{release|discard}`.
pub async fn decide_held(
    State(st): State<AppState>,
    axum::extract::Path((id, decision)): axum::extract::Path<(String, String)>,
    Posted { v, .. }: Posted,
) -> Response {
    let Ok(uid) = uuid::Uuid::parse_str(&id) else {
        return failure(Some(&v), DomainError::NotFound { entity: "message" });
    };
    let done = match decision.as_str() {
        "release" => {
            let sink = casedesk_core::attachments::Sink {
                blobs: st.blobs.as_ref(),
                secrets: st.secrets.as_ref(),
                config: &st.attachments,
            };
            casedesk_mail::gate::release(st.store.as_ref(), &st.mailer, &v.p, uid, None, Some(sink))
                .await
                .map(|_| ())
                .map_err(|e| match e {
                    casedesk_mail::gate::GateError::Domain(d) => d,
                    casedesk_mail::gate::GateError::Refused(r) => {
                        DomainError::field("message", r.to_string())
                    }
                })
        }
        "discard" => casedesk_core::mail::discard_held(st.store.as_ref(), &v.p, uid, None)
            .await
            .map(|_| ()),
        _ => Err(DomainError::NotFound { entity: "page" }),
    };
    match done {
        Ok(()) => redirect("/console/held"),
        Err(e) => failure(Some(&v), e),
    }
}
