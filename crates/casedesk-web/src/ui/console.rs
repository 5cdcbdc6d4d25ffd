//! The agent console: queue views sorted by the next SLA due time, with live countdowns.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use casedesk_core::DomainError;
use casedesk_core::service::{self, ListFilters};
use maud::html;

use super::forms;
use super::page::{Posted, failure, layout, layout_wide, redirect, respond, when};
use crate::AppState;
use crate::session::Viewer;

/// Views are counted up to this many cases ("100+" beyond).
const COUNTED: u32 = 100;

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
    let view = q
        .get("view")
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .unwrap_or("mine");
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
    if view == "queue" && !queues.iter().any(|q| Some(q) == queue.as_ref()) {
        return failure(Some(&v), DomainError::NotFound { entity: "queue" });
    }
    // A customer success manager hears of their accounts' P1 cases and escalations here too.
    let watched = match service::csm_cases(st.store.as_ref(), &v.p).await {
        Ok(w) => w,
        Err(e) => return failure(Some(&v), e),
    };
    // How many open cases each view holds (read as pages of at most COUNTED).
    let count = |key: String, mut f: ListFilters, breaching: bool| {
        let st = st.clone();
        let p = v.p.clone();
        async move {
            if let Some(n) = st.view_counts.get(p.user.id, &key) {
                return Ok::<usize, DomainError>(n);
            }
            f.limit = Some(COUNTED);
            let (mut rows, _) = service::list_cases(st.store.as_ref(), &p, &f).await?;
            if breaching {
                let horizon = casedesk_core::now().as_second() + SOON_SECONDS;
                rows.retain(|c| c.sla_due_at.is_some_and(|d| d.as_second() <= horizon));
            }
            st.view_counts.put(p.user.id, &key, rows.len());
            Ok(rows.len())
        }
    };
    let open = || ListFilters {
        status: Some("new,open,pending,on_hold".into()),
        sort: Some("sla_due".into()),
        ..Default::default()
    };
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    let views = [
        (
            "mine",
            ListFilters {
                assignee: Some("me".into()),
                ..open()
            },
            false,
        ),
        (
            "unassigned",
            ListFilters {
                assignee: Some("none".into()),
                ..open()
            },
            false,
        ),
        (
            "breaching",
            ListFilters {
                status: Some("new,open".into()),
                ..open()
            },
            true,
        ),
    ];
    for (key, f, breaching) in views {
        match count(key.to_owned(), f, breaching).await {
            Ok(c) => counts.insert(key.to_owned(), c),
            Err(e) => return failure(Some(&v), e),
        };
    }
    for qn in &queues {
        match count(
            format!("queue:{qn}"),
            ListFilters {
                queue: Some(qn.clone()),
                ..open()
            },
            false,
        )
        .await
        {
            Ok(c) => counts.insert(format!("queue:{qn}"), c),
            Err(e) => return failure(Some(&v), e),
        };
    }
    let shown = |k: &str| match counts.get(k) {
        Some(&c) if c >= COUNTED as usize => format!("{c}+"),
        Some(c) => c.to_string(),
        None => String::new(),
    };
    let tab = |key: &str, href: String, label: String| {
        let current =
            key == view && (view != "queue" || queue.as_deref() == href.split("queue=").nth(1));
        let counted = if key == "queue" {
            shown(&format!(
                "queue:{}",
                href.split("queue=").nth(1).unwrap_or("")
            ))
        } else {
            shown(key)
        };
        html! { li { a href=(href) aria-current=[current.then_some("page")] { (label) " " span.count { "(" (counted) ")" } } } }
    };
    let assignees = match st.store.support_users().await {
        Ok(u) => u,
        Err(e) => return failure(Some(&v), e),
    };
    let back = match view {
        "queue" => format!(
            "/console?view=queue&queue={}",
            queue.as_deref().unwrap_or("")
        ),
        other => format!("/console?view={other}"),
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
        @if let Some(done) = q.get("assigned") {
            div.notice.ok role="status" { p { (done) " case(s) assigned."
                @if let Some(failed) = q.get("failed").filter(|f| *f != "0") { " " (failed) " could not be: they changed meanwhile or are not yours to assign." } } }
        }
        p.lead { "Open cases, the next SLA due time first. Countdowns update live." }
        @if rows.is_empty() { p { "Nothing here right now." } } @else {
            form.bulk #bulk method="post" action="/console/assign" {
                (forms::csrf(&v.csrf))
                input type="hidden" name="back" value=(back);
                div {
                    label for="bulk-assignee" { "Assign the ticked cases to" }
                    select #bulk-assignee name="assignee" {
                        option value="me" { "me" }
                        @for u in &assignees { @if u.id != v.p.user.id { option value=(u.email) { (u.email) } } }
                        option value="" { "nobody (unassign)" }
                    }
                }
                button type="submit" { "Assign" }
            }
            (super::cases::selectable_table(&rows, "bulk"))
        }
    };
    respond(
        StatusCode::OK,
        layout_wide(Some(&v), &title, "console", body),
    )
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

/// `POST /console/assign`: assigns every ticked case at once; each is a change of its own,
/// recorded like one made on the case, and a case that changed meanwhile is counted, not
/// forced.
pub async fn assign_many(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    if !v.support() {
        return failure(
            Some(&v),
            DomainError::Forbidden("The queues are for support engineers.".into()),
        );
    }
    let assignee = match f.get("assignee") {
        "" => None,
        "me" => Some(v.p.user.email.clone()),
        other => Some(other.to_owned()),
    };
    let mut numbers: Vec<i64> = f
        .all("case")
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers.truncate(200);
    if numbers.is_empty() {
        return failure(
            Some(&v),
            DomainError::field("case", "tick at least one case to assign"),
        );
    }
    let (mut done, mut failed) = (0, 0);
    for n in numbers {
        // Already theirs: nothing to record.
        if let Ok(case) = service::get_case(st.store.as_ref(), &v.p, n).await
            && case.assignee == assignee
        {
            done += 1;
            continue;
        }
        let cmd = casedesk_core::service::Command::Assign {
            assignee: assignee.clone(),
        };
        match service::act(st.store.as_ref(), &v.p, n, cmd).await {
            Ok(_) => done += 1,
            // A wrong assignee is wrong for every case: say so at once.
            Err(DomainError::Validation(errs)) if errs.iter().any(|e| e.field == "assignee") => {
                return failure(Some(&v), DomainError::Validation(errs));
            }
            Err(_) => failed += 1,
        }
    }
    st.view_counts.forget(v.p.user.id);
    let back = f.get("back");
    // Only back to a view of the console: never another site.
    let plain = back
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/?=&-_.%:".contains(c));
    let back = if plain && back.starts_with("/console?") && !back.contains("//") {
        back
    } else {
        "/console?view=mine"
    };
    redirect(&format!("{back}&assigned={done}&failed={failed}"))
}
