//! The agent console: queue views sorted by the next SLA due time, with live countdowns.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use casedesk_core::DomainError;
use casedesk_core::cases::service::{self, ListFilters};
use maud::html;

use super::{Viewer, failure, layout, respond};
use crate::AppState;

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
        match super::all_queues(&st).await {
            Ok(q) => q,
            Err(e) => return failure(Some(&v), e),
        }
    } else {
        v.p.user.queues.clone()
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
                @for qn in &queues { (tab("queue", format!("/console?view=queue&queue={qn}"), format!("Queue: {qn}"))) }
            }
        }
        p.lead { "Open cases, the next SLA due time first. Countdowns update live." }
        @if rows.is_empty() { p { "Nothing here right now." } } @else { (super::cases::table(&rows, true)) }
    };
    respond(StatusCode::OK, layout(Some(&v), &title, "console", body))
}
