//! Manager screens (and a super admin's for their own account): users and permissions,
//! plans, SLA policies and calendars, queues and routing, the knowledge-base editor, status
//! incidents, webhooks and their deliveries, jobs, and the audit trail.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use casedesk_core::accounts::Plan;
use casedesk_core::admin::{self, Access, NewUser};
use casedesk_core::cases::Priority;
use casedesk_core::jobs::{self, JobQuery, JobState};
use casedesk_core::users::{Role, User};
use casedesk_core::{DomainError, webhooks};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::forms::{self, Errors, Fields, Kind, field};
use super::page::incident_card;
use super::page::{Posted, failure, layout, redirect, respond, role_label, when};
use crate::AppState;
use crate::session::Viewer;

type Q = Query<std::collections::HashMap<String, String>>;

fn managers_only(v: &Viewer) -> Option<Response> {
    if v.manager() {
        None
    } else {
        Some(failure(
            Some(v),
            DomainError::Forbidden("Only support managers can use this screen.".into()),
        ))
    }
}

fn administrators_only(v: &Viewer) -> Option<Response> {
    if v.p.user.is_administrator() {
        None
    } else {
        Some(failure(
            Some(v),
            DomainError::Forbidden(
                "Only a super admin of the account or a support manager can use this screen."
                    .into(),
            ),
        ))
    }
}

fn page(v: &Viewer, title: &str, body: Markup) -> Response {
    page_with_status(v, title, StatusCode::OK, body)
}

fn page_with_status(v: &Viewer, title: &str, status: StatusCode, body: Markup) -> Response {
    respond(status, layout(Some(v), title, "manage", body))
}

/// `GET /manage`: what needs attention now (cases about to breach, failing webhooks, dead
/// jobs), then the screens this person may use.
pub async fn index(State(st): State<AppState>, v: Viewer) -> Response {
    if let Some(r) = administrators_only(&v) {
        return r;
    }
    let manager = v.manager();
    let store = st.store.as_ref();
    let now = casedesk_core::now();
    let attention = async {
        let endpoints = webhooks::list(store, &v.p).await?;
        let failing: Vec<_> = endpoints
            .into_iter()
            .filter(|e| !e.enabled || e.failure_streak > 0)
            .collect();
        let (at_risk, dead) = if manager {
            let f = casedesk_core::service::ListFilters {
                status: Some("new,open".into()),
                sort: Some("sla_due".into()),
                limit: Some(100),
                ..Default::default()
            };
            let (rows, _) = casedesk_core::service::list_cases(store, &v.p, &f).await?;
            let horizon = now.as_second() + 2 * 3600;
            let risk = rows
                .iter()
                .filter(|c| c.sla_due_at.is_some_and(|d| d.as_second() <= horizon))
                .count();
            let dead: u64 = store
                .job_counts(now)
                .await?
                .iter()
                .filter(|c| c.state == JobState::Dead)
                .map(|c| c.count)
                .sum();
            (Some(risk), Some(dead))
        } else {
            (None, None)
        };
        Ok::<_, DomainError>((failing, at_risk, dead))
    };
    let (failing, at_risk, dead) = match attention.await {
        Ok(a) => a,
        Err(e) => return failure(Some(&v), e),
    };
    let calm = failing.is_empty() && at_risk.unwrap_or(0) == 0 && dead.unwrap_or(0) == 0;
    page(
        &v,
        "Manage",
        html! {
            section aria-labelledby="attention-h" {
                h2 #attention-h { "Needs attention" }
                @if calm { p.notice.ok { "Nothing needs attention right now." } }
                ul.attention {
                    @if let Some(n) = at_risk.filter(|n| *n > 0) {
                        li.notice.warn { strong { (n) " case(s)" } " breach an SLA within two hours or already have. " a href="/console?view=breaching" { "See them" } }
                    }
                    @for e in &failing {
                        li.notice.bad {
                            "Webhook " strong { (e.url) } ": "
                            (if e.enabled { format!("{} failed deliveries in a row", e.failure_streak) } else { format!("disabled ({})", e.disabled_reason.as_deref().unwrap_or("by hand")) })
                            ". " a href=(format!("/manage/webhooks/{}", e.id)) { "Open it" }
                        }
                    }
                    @if let Some(n) = dead.filter(|n| *n > 0) {
                        li.notice.bad { strong { (n) " job(s)" } " gave up after their last attempt. " a href="/manage/jobs?state=dead" { "Look at them" } }
                    }
                }
            }
            h2 { "Screens" }
            ul {
                li { a href="/manage/users" { "Users and permissions" } }
                @if manager {
                    li { a href="/manage/accounts" { "Accounts and customer success managers" } }
                    li { a href="/manage/trust" { "Trust Center documents" } }
                    li { a href="/manage/sla" { "Plans, SLA policies and calendars" } }
                    li { a href="/manage/queues" { "Queues and routing" } }
                    li { a href="/manage/kb" { "Knowledge base" } }
                    li { a href="/manage/replies" { "Saved replies" } }
                    li { a href="/manage/incidents" { "Status incidents" } }
                }
                li { a href="/manage/webhooks" { "Webhooks and deliveries" } }
                @if manager {
                    li { a href="/manage/jobs" { "Background jobs" } }
                }
                li { a href="/manage/audit" { "Audit trail" } }
                @if manager { li { a href="/manage/reports" { "Reports" } } }
            }
        },
    )
}

/// `GET /manage/replies`: the saved replies support engineers insert (managers write them).
pub async fn replies(State(st): State<AppState>, v: Viewer) -> Response {
    replies_page(
        &st,
        &v,
        &Errors::default(),
        &Fields::default(),
        None,
        StatusCode::OK,
    )
    .await
}

async fn replies_page(
    st: &AppState,
    v: &Viewer,
    errors: &Errors,
    values: &Fields,
    flash: Option<&str>,
    status: StatusCode,
) -> Response {
    if let Some(r) = managers_only(v) {
        return r;
    }
    let list = match casedesk_core::kb::replies::list(st.store.as_ref(), &v.p).await {
        Ok(l) => l,
        Err(e) => return failure(Some(v), e),
    };
    // A refused edit reopens its own form with what was typed.
    let editing = values.get("id");
    page_with_status(
        v,
        "Saved replies",
        status,
        html! {
            @if let Some(m) = flash { div.notice.ok role="status" { p { (m) } } }
            (forms::summary(errors))
            p { "Support engineers insert these into a reply and edit them before sending. In braces, filled from the case: "
                code { "{requester}" } ", " code { "{case}" } ", " code { "{subject}" } ", " code { "{tenant}" } ", " code { "{agent}" } "." }
            @if list.is_empty() { p { "No saved reply yet." } }
            @for r in &list {
                @let id = r.id.to_string();
                @let mine = editing == id;
                details.panel open[mine] {
                    summary { (r.title) " " span.muted { "· " (r.updated_by) ", " (when(r.updated_at)) } }
                    form method="post" action="/manage/replies" {
                        (forms::csrf(&v.csrf))
                        input type="hidden" name="id" value=(id);
                        (field(&format!("title-{id}"), "Title", None, if mine { values.get("title") } else { &r.title }, Kind::Input("text"), true, errors))
                        (field(&format!("body-{id}"), "Text", None, if mine { values.get("body") } else { &r.body }, Kind::Area, true, errors))
                        button type="submit" { "Save" }
                    }
                    form method="post" action="/manage/replies/delete" {
                        (forms::csrf(&v.csrf))
                        input type="hidden" name="id" value=(id);
                        button.danger type="submit" aria-label=(format!("Delete the saved reply {}", r.title)) { "Delete" }
                    }
                }
            }
            h2 { "New saved reply" }
            form method="post" action="/manage/replies" {
                (forms::csrf(&v.csrf))
                (field("title", "Title", Some("What it is for, as agents see it in the list."), if editing.is_empty() { values.get("title") } else { "" }, Kind::Input("text"), true, errors))
                (field("body", "Text", None, if editing.is_empty() { values.get("body") } else { "" }, Kind::Area, true, errors))
                button type="submit" { "Add saved reply" }
            }
        },
    )
}

/// `POST /manage/replies`: adds a saved reply, or saves a new text for one.
pub async fn save_reply(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let id = match f.opt("id").map(|i| uuid::Uuid::parse_str(&i)) {
        None => None,
        Some(Ok(i)) => Some(i),
        Some(Err(_)) => {
            return failure(
                Some(&v),
                DomainError::NotFound {
                    entity: "saved reply",
                },
            );
        }
    };
    // An existing reply's fields carry its id in their names, so its errors land on its form.
    let (title, body) = match id {
        Some(i) => (
            f.get(&format!("title-{i}")).to_owned(),
            f.get(&format!("body-{i}")).to_owned(),
        ),
        None => (f.get("title").to_owned(), f.get("body").to_owned()),
    };
    match casedesk_core::kb::replies::save(st.store.as_ref(), &v.p, id, &title, &body).await {
        Ok(r) => {
            let m = format!("Saved: {}.", r.title);
            replies_page(
                &st,
                &v,
                &Errors::default(),
                &Fields::default(),
                Some(&m),
                StatusCode::OK,
            )
            .await
        }
        Err(DomainError::Validation(errs)) => {
            let errs = errs
                .into_iter()
                .map(|e| match id {
                    Some(i) => {
                        casedesk_core::FieldError::new(format!("{}-{i}", e.field), e.message)
                    }
                    None => e,
                })
                .collect();
            let mut values = Fields(vec![("title".into(), title), ("body".into(), body)]);
            if let Some(i) = id {
                values.0.push(("id".into(), i.to_string()));
            }
            replies_page(
                &st,
                &v,
                &Errors(errs),
                &values,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}

/// `POST /manage/replies/delete`.
pub async fn delete_reply(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(f.get("id")) else {
        return failure(
            Some(&v),
            DomainError::NotFound {
                entity: "saved reply",
            },
        );
    };
    match casedesk_core::kb::replies::delete(st.store.as_ref(), &v.p, id).await {
        Ok(()) => {
            replies_page(
                &st,
                &v,
                &Errors::default(),
                &Fields::default(),
                Some("Deleted."),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}

/// The roles a user may be given: their own side's.
fn roles_of_side(u: &User) -> [Role; 2] {
    if u.role.is_customer() {
        [Role::SuperAdmin, Role::Admin]
    } else {
        [Role::Agent, Role::Manager]
    }
}

fn user_row(v: &Viewer, u: &User, queues: &[String], listed: Option<&str>) -> Markup {
    let customer = u.role.is_customer();
    let me = u.id == v.p.user.id;
    let back = html! { @if let Some(a) = listed { input type="hidden" name="account" value=(a); } };
    html! {
        tr {
            td data-label="Email" { (u.email) @if me { " (you)" } }
            td data-label="Role" {
                @if me {
                    (role_label(u.role))
                } @else {
                    form.row-act method="post" action="/manage/users/role" {
                        (forms::csrf(&v.csrf))
                        input type="hidden" name="email" value=(u.email);
                        (back)
                        @let id = forms::id_of(&format!("role-{}", u.email));
                        label.visually-hidden for=(id) { "Role of " (u.email) }
                        select id=(id) name="role" {
                            @for r in roles_of_side(u) { option value=(r.key()) selected[r == u.role] { (role_label(r)) } }
                        }
                        button.secondary type="submit" aria-label=(format!("Change the role of {}", u.email)) { "Change" }
                    }
                }
            }
            td data-label="Access" {
                form method="post" action="/manage/users/access" {
                    (forms::csrf(&v.csrf))
                    input type="hidden" name="email" value=(u.email);
                    (back)
                    @if customer {
                        label.check for=(forms::id_of(&format!("ca-{}", u.email))) {
                            input type="checkbox" id=(forms::id_of(&format!("ca-{}", u.email))) name="case_admin" value="true" checked[u.case_admin] disabled[u.role == Role::SuperAdmin];
                            "case-admin"
                        }
                        label.check for=(forms::id_of(&format!("el-{}", u.email))) {
                            input type="checkbox" id=(forms::id_of(&format!("el-{}", u.email))) name="elevated" value="true" checked[u.elevated];
                            "elevated support contact"
                        }
                    } @else {
                        fieldset {
                            legend { "Queues of " (u.email) }
                            @for q in queues {
                                @let id = forms::id_of(&format!("q-{}-{q}", u.email));
                                label.check for=(id) { input type="checkbox" id=(id) name="queues" value=(q) checked[u.queues.contains(q)]; (q) }
                            }
                        }
                    }
                    button.secondary type="submit" aria-label=(format!("Save access of {}", u.email)) { "Save" }
                }
            }
            td data-label="Status" {
                @match u.deactivated_at {
                    Some(at) => { span.badge.bad { "Deactivated" } " " (when(at)) }
                    None => { span.badge.ok { "Active" } }
                }
                @if !me {
                    form.row-act method="post" action="/manage/users/active" {
                        (forms::csrf(&v.csrf))
                        input type="hidden" name="email" value=(u.email);
                        input type="hidden" name="active" value=(if u.active() { "false" } else { "true" });
                        (back)
                        @if u.active() {
                            button.secondary type="submit" aria-label=(format!("Deactivate {}", u.email)) { "Deactivate" }
                        } @else {
                            button.secondary type="submit" aria-label=(format!("Reactivate {}", u.email)) { "Reactivate" }
                        }
                    }
                    @if u.active() {
                        form.row-act method="post" action="/manage/users/invite" {
                            (forms::csrf(&v.csrf))
                            input type="hidden" name="email" value=(u.email);
                            (back)
                            button.secondary type="submit" aria-label=(format!("Invite again: {}", u.email)) { "Invite again" }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /manage/users[?account=name]`.
pub async fn users(State(st): State<AppState>, v: Viewer, Query(q): Q) -> Response {
    users_page(
        &st,
        &v,
        q.get("account").cloned(),
        &Errors::default(),
        None,
        StatusCode::OK,
        &Fields::default(),
    )
    .await
}

/// A line at the top of the users page: what a change did, or why a row's change was refused.
enum Note {
    Done(String),
    Refused(String),
}

async fn users_page(
    st: &AppState,
    v: &Viewer,
    account: Option<String>,
    errors: &Errors,
    note: Option<Note>,
    status: StatusCode,
    values: &Fields,
) -> Response {
    if let Some(r) = administrators_only(v) {
        return r;
    }
    let store = st.store.as_ref();
    let read = async {
        let queues = super::page::all_queues(st).await?;
        let accounts = if v.manager() {
            store.list_accounts().await?
        } else {
            Vec::new()
        };
        Ok::<_, DomainError>((queues, accounts))
    };
    let (queues, accounts) = match read.await {
        Ok(r) => r,
        Err(e) => return failure(Some(v), e),
    };
    let chosen = if v.manager() {
        account
            .as_deref()
            .and_then(|a| {
                accounts
                    .iter()
                    .find(|x| x.name == a || x.id.to_string() == a)
            })
            .map(|a| a.id)
    } else {
        v.p.user.account_id
    };
    let note = match note {
        None if v.manager()
            && chosen.is_none()
            && account.as_deref().is_some_and(|a| !a.is_empty()) =>
        {
            Some(Note::Refused(format!(
                "No account is named {}; these are the support staff.",
                account.as_deref().unwrap_or_default()
            )))
        }
        n => n,
    };
    let users = match chosen {
        Some(a) => store.list_account_users(a).await,
        None => store.support_users().await,
    };
    let users = match users {
        Ok(u) => u,
        Err(e) => return failure(Some(v), e),
    };
    let roles: Vec<(String, String)> = if v.manager() {
        [Role::SuperAdmin, Role::Admin, Role::Agent, Role::Manager]
            .iter()
            .map(|r| (r.key().to_owned(), role_label(*r).to_owned()))
            .collect()
    } else {
        vec![(Role::Admin.key().to_owned(), "admin".to_owned())]
    };
    // The account whose users are listed, by name, so that a change returns to the same list.
    let listed = match chosen {
        Some(id) if v.manager() => accounts.iter().find(|a| a.id == id).map(|a| a.name.clone()),
        _ => None,
    };
    let invite_how = if st.auth.local_accounts() {
        " (with a link to choose their password)"
    } else {
        " (to sign in with your organisation's sign-in)"
    };
    let account_choices: Vec<(String, String)> = accounts
        .iter()
        .map(|a| (a.name.clone(), format!("{} ({})", a.name, a.plan.key())))
        .collect();
    let body = html! {
        @match &note {
            Some(Note::Done(m)) => { div.notice.ok role="status" { p { (m) } } }
            Some(Note::Refused(m)) => { div.notice.bad role="alert" { p { (m) } } }
            None => {}
        }
        (forms::summary(errors))
        @if v.manager() {
            form.filters method="get" action="/manage/users" {
                div { label for="u-account" { "Users of" }
                    select #u-account name="account" {
                        option value="" { "Support staff" }
                        @for (k, l) in &account_choices { option value=(k) selected[account.as_deref() == Some(k.as_str())] { (l) } }
                    } }
                button type="submit" { "Show" }
            }
        }
        p { "Admins need " strong { "case-admin" } " to open and see cases; an " strong { "elevated support contact" } " sees every case of the account. The plan caps how many elevated contacts an account has." }
        p { "Deactivating a user ends their sessions and API tokens at once; what they wrote stays theirs, and they can be reactivated. Nobody changes their own role or deactivates themselves." }
        div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" {
            table.stack {
                thead { tr { th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Access" } th scope="col" { "Status" } } }
                tbody { @for u in &users { (user_row(v, u, &queues, listed.as_deref())) } }
            }
        }
        h2 { "Invite a user" }
        form method="post" action="/manage/users" {
            (forms::csrf(&v.csrf))
            (field("email", "Email", None, values.get("email"), Kind::Input("email"), true, errors))
            (field("role", "Role", None, values.opt("role").as_deref().unwrap_or("admin"), Kind::Select(&roles), true, errors))
            @if v.manager() {
                (field("account", "Account (customer admins)", None, account.as_deref().unwrap_or(""), Kind::Select(&account_choices), false, errors))
            }
            label.check for="new-case-admin" { input #new-case-admin type="checkbox" name="case_admin" value="true" checked[values.checked("case_admin")]; "case-admin" }
            label.check for="new-elevated" { input #new-elevated type="checkbox" name="elevated" value="true" checked[values.checked("elevated")]; "elevated support contact" }
            @if v.manager() {
                fieldset { legend { "Queues (support staff)" }
                    @for q in &queues { label.check for=(format!("new-q-{q}")) { input id=(format!("new-q-{q}")) type="checkbox" name="queues" value=(q) checked[values.all("queues").contains(q)]; (q) } }
                }
            }
            label.check for="new-invite" { input #new-invite type="checkbox" name="invite" value="true" checked[values.0.is_empty() || values.checked("invite")]; "Email them an invitation" (invite_how) }
            button type="submit" { "Add user" }
        }
    };
    respond(
        status,
        layout(Some(v), "Users and permissions", "manage", body),
    )
}

/// `POST /manage/users`: adds a user.
pub async fn create_user(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let role = match f.get("role").parse::<Role>() {
        Ok(r) => r,
        Err(_) => {
            let errs = Errors(vec![casedesk_core::FieldError::new(
                "role",
                "choose a role",
            )]);
            return users_page(
                &st,
                &v,
                f.opt("account"),
                &errs,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                &f,
            )
            .await;
        }
    };
    let input = NewUser {
        account: f.opt("account").filter(|_| role.is_customer()),
        email: f.get("email").to_owned(),
        role,
        case_admin: f.checked("case_admin"),
        elevated: f.checked("elevated"),
        queues: f.all("queues"),
    };
    let invite = |u: &User| invitation(&st, &v, u, None);
    let with: Option<admin::Invitation<'_>> = f.checked("invite").then_some(&invite);
    match admin::create_user_as(st.store.as_ref(), st.auth.limits(), &v.p, input, with).await {
        Ok(u) => {
            let back = f.opt("account").filter(|_| role.is_customer());
            users_page(
                &st,
                &v,
                back,
                &Errors::default(),
                Some(Note::Done(if f.checked("invite") {
                    format!("{} was added and an invitation is on its way.", u.email)
                } else {
                    format!("{} was added.", u.email)
                })),
                StatusCode::OK,
                &Fields::default(),
            )
            .await
        }
        Err(e @ (DomainError::Validation(_) | DomainError::Conflict(_))) => {
            let errs = match e {
                DomainError::Validation(errs) => errs,
                // The one conflict of a new user: the address is taken (in any account, so the
                // words do not say whose).
                _ => vec![casedesk_core::FieldError::new(
                    "email",
                    "already belongs to a user of casedesk; if they should be in your account, ask support",
                )],
            };
            users_page(
                &st,
                &v,
                f.opt("account"),
                &Errors(errs),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                &f,
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}

/// `POST /manage/users/access`: changes one user's permissions or queues.
pub async fn set_access(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let access = Access {
        case_admin: f.checked("case_admin"),
        elevated: f.checked("elevated"),
        queues: f.all("queues"),
    };
    match admin::set_access(
        st.store.as_ref(),
        st.auth.limits(),
        &v.p,
        f.get("email"),
        access,
    )
    .await
    {
        Ok(u) => users_after(&st, &v, &f, format!("Access of {} saved.", u.email)).await,
        Err(e) => users_refused(&st, &v, &f, e).await,
    }
}

/// `POST /manage/users/role`: moves a user between super admin and admin, or between
/// support engineer and support manager.
pub async fn set_role(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let role = match f.get("role").parse::<Role>() {
        Ok(r) => r,
        Err(e) => return users_refused(&st, &v, &f, e).await,
    };
    match admin::set_role(st.store.as_ref(), &v.p, f.get("email"), role).await {
        Ok((u, false)) => {
            let msg = format!(
                "{} is already {}; nothing changed.",
                u.email,
                with_article(role_label(u.role))
            );
            users_after(&st, &v, &f, msg).await
        }
        Ok((u, true)) => {
            let msg = format!("{} is now {}.", u.email, with_article(role_label(u.role)));
            users_after(&st, &v, &f, msg).await
        }
        Err(e) => users_refused(&st, &v, &f, e).await,
    }
}

/// `POST /manage/users/active`: deactivates or reactivates a user.
pub async fn set_active(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let active = match f.get("active") {
        "true" => true,
        "false" => false,
        _ => {
            let e = DomainError::field("active", "must be true or false");
            return users_refused(&st, &v, &f, e).await;
        }
    };
    match admin::set_active(
        st.store.as_ref(),
        st.auth.limits(),
        &v.p,
        f.get("email"),
        active,
    )
    .await
    {
        Ok((u, false)) => {
            let state = if u.active() { "active" } else { "deactivated" };
            let msg = format!("{} is already {state}; nothing changed.", u.email);
            users_after(&st, &v, &f, msg).await
        }
        Ok((u, true)) if u.active() => {
            users_after(&st, &v, &f, format!("{} can sign in again.", u.email)).await
        }
        Ok((u, true)) => {
            let msg = format!(
                "{} is deactivated: their sessions and API tokens have ended. What they wrote stays theirs{}.",
                u.email,
                if u.role.is_customer() {
                    ""
                } else {
                    "; reassign the open cases they were working from the console"
                }
            );
            users_after(&st, &v, &f, msg).await
        }
        Err(e) => users_refused(&st, &v, &f, e).await,
    }
}

/// `POST /manage/users/invite`: sends a user a new invitation (where passwords are on, a link
/// to choose a new password).
pub async fn invite_again(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let email = casedesk_core::users::normalize_email(f.get("email")).unwrap_or_default();
    let hash = match st.store.local_credentials(&email).await {
        Ok(found) => found.and_then(|(_, c)| c.password_hash),
        Err(e) => return failure(Some(&v), e),
    };
    let compose = |u: &User| invitation(&st, &v, u, hash.as_deref());
    match admin::invite_again(st.store.as_ref(), &v.p, &email, &compose).await {
        Ok(u) => {
            users_after(
                &st,
                &v,
                &f,
                format!("A new invitation to {} is on its way.", u.email),
            )
            .await
        }
        Err(e) => users_refused(&st, &v, &f, e).await,
    }
}

/// "a super admin", "an admin".
fn with_article(words: &str) -> String {
    let an = words.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {words}", if an { "an" } else { "a" })
}

/// The users page after a change, on the list the change was made from.
async fn users_after(st: &AppState, v: &Viewer, f: &Fields, done: String) -> Response {
    users_page(
        st,
        v,
        f.opt("account"),
        &Errors::default(),
        Some(Note::Done(done)),
        StatusCode::OK,
        &Fields::default(),
    )
    .await
}

/// The users page with a row's refusal in words at the top (the row's form has no field to
/// point at), on the list the change was made from.
async fn users_refused(st: &AppState, v: &Viewer, f: &Fields, e: DomainError) -> Response {
    let (status, words) = match e {
        DomainError::Validation(errs) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            errs.iter()
                .map(|e| {
                    let m = forms::message_words(&e.message);
                    // "must be …" alone does not say what must.
                    if m.starts_with("must ") || m.starts_with("is ") {
                        format!("{} {m}", forms::label_of(&e.field).to_lowercase())
                    } else {
                        m
                    }
                })
                .collect::<Vec<_>>(),
        ),
        DomainError::Conflict(m) => (StatusCode::CONFLICT, vec![m]),
        e => return failure(Some(v), e),
    };
    let mut text = format!("Not changed: {}", words.join("; "));
    if !text.ends_with('.') {
        text.push('.');
    }
    users_page(
        st,
        v,
        f.opt("account"),
        &Errors::default(),
        Some(Note::Refused(text)),
        status,
        &Fields::default(),
    )
    .await
}

/// The invitation of a user being added: the link to choose a password where local passwords
/// are on, else where to sign in.
fn invitation(
    st: &AppState,
    v: &Viewer,
    u: &User,
    password_hash: Option<&str>,
) -> casedesk_core::Result<casedesk_core::mail::NewMail> {
    use casedesk_core::identity::{INVITE_KEY, INVITE_VALID_DAYS, invite_token};
    let expires = casedesk_core::now() + jiff::SignedDuration::from_hours(24 * INVITE_VALID_DAYS);
    let link = st.auth.local_accounts().then(|| {
        let key = st.secrets.derive(INVITE_KEY);
        let x = expires.as_second();
        (
            format!(
                "{}/auth/welcome?u={}&x={x}&t={}",
                st.mailer.base_url(),
                u.id,
                invite_token(&key, u.id, x, password_hash)
            ),
            expires.strftime("%a %-d %b %Y %H:%M UTC").to_string(),
        )
    });
    let as_what = match u.role {
        Role::SuperAdmin | Role::Admin => format!(
            "{} of your company's account",
            with_article(role_label(u.role))
        ),
        r => with_article(role_label(r)),
    };
    st.mailer
        .invitation(
            &u.email,
            &v.p.user.email,
            &as_what,
            link.as_ref().map(|(l, until)| (l.as_str(), until.as_str())),
        )
        .map_err(|_| DomainError::field("email", "cannot be written to: check the address"))
}

fn goal_text(g: &Value) -> String {
    match (g["minutes"].as_f64(), g["basis"].as_str()) {
        (Some(m), Some(b)) => {
            // The same words as the case page and the reports.
            let b = if b == "business" {
                "business hours"
            } else {
                "around the clock"
            };
            format!("{}, {b}", super::page::minutes_words(m))
        }
        _ => "none".into(),
    }
}

/// `GET /manage/sla`.
pub async fn sla(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    // `?plan=&priority=` (a row's Edit link) fills the form with that policy as it stands, so
    // saving one target keeps the others.
    let mut values = Fields::default();
    if let (Some(plan), Some(priority)) = (q.get("plan"), q.get("priority"))
        && let Ok(list) = casedesk_core::sla::settings::list_policies(st.store.as_ref(), &v.p).await
    {
        values.0.push(("plan".into(), plan.clone()));
        values.0.push(("priority".into(), priority.clone()));
        if let Some(p) = list["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|p| p["plan"] == plan.as_str() && p["priority"] == priority.as_str())
        }) {
            for t in TARGETS {
                let g = &p["policy"][t];
                if let Some(m) = g["minutes"].as_u64() {
                    values.0.push((format!("{t}.minutes"), m.to_string()));
                }
                if let Some(b) = g["basis"].as_str() {
                    values.0.push((format!("{t}.basis"), b.to_owned()));
                }
            }
        }
    }
    sla_page(&st, &v, &Errors::default(), None, StatusCode::OK, &values).await
}

/// The three targets of a policy.
const TARGETS: [&str; 3] = ["first_response", "next_response", "resolution"];

async fn sla_page(
    st: &AppState,
    v: &Viewer,
    errors: &Errors,
    flash: Option<String>,
    status: StatusCode,
    values: &Fields,
) -> Response {
    if let Some(r) = managers_only(v) {
        return r;
    }
    use casedesk_core::sla::settings;
    let store = st.store.as_ref();
    let (policies, calendars, cfg) = match (
        settings::list_policies(store, &v.p).await,
        settings::list_calendars(store, &v.p).await,
        settings::get_settings(store, &v.p).await,
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return failure(Some(v), e),
    };
    let empty = Vec::new();
    // Stored calendars, then the built-in region calendars not overridden by one.
    let mut calendar_rows: Vec<(String, String, Value, bool)> = calendars["items"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_owned(),
                c["since"].as_str().unwrap_or("").to_owned(),
                c["calendar"].clone(),
                false,
            )
        })
        .collect();
    for region in casedesk_core::accounts::Region::ALL {
        if !calendar_rows.iter().any(|r| r.0 == region.key())
            && let Ok(c) = settings::region_calendar(region)
        {
            calendar_rows.push((region.key().to_owned(), String::new(), c.to_json(), true));
        }
    }
    let (accounts, managers) = match (
        settings::accounts_calendars(store, &v.p).await,
        store.support_users().await,
    ) {
        (Ok(a), Ok(u)) => (
            a,
            u.into_iter()
                .filter(|u| u.role == Role::Manager)
                .map(|u| u.email)
                .collect::<Vec<_>>(),
        ),
        (Err(e), _) | (_, Err(e)) => return failure(Some(v), e),
    };
    let plans: Vec<(String, String)> = Plan::ALL
        .iter()
        .map(|p| (p.key().to_owned(), p.key().replace('_', " ")))
        .collect();
    let priorities: Vec<(String, String)> = Priority::ALL
        .iter()
        .map(|p| (p.key().to_owned(), format!("{} {}", p.key(), p.label())))
        .collect();
    let bases = vec![
        ("business".to_owned(), "business hours".to_owned()),
        ("calendar".to_owned(), "around the clock".to_owned()),
    ];
    let body = html! {
        @if let Some(m) = flash { div.notice.ok role="status" { p { (m) } } }
        (forms::summary(errors))
        h2 { "SLA policies by plan and priority" }
        div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" {
            table {
                thead { tr { th scope="col" { "Plan" } th scope="col" { "Priority" } th scope="col" { "First response" } th scope="col" { "Next response" } th scope="col" { "Resolution" } th scope="col" { "Edited" } th scope="col" { "Change" } } }
                tbody {
                    @for p in policies["items"].as_array().unwrap_or(&empty) {
                        tr {
                            td { (p["plan"].as_str().unwrap_or("")) } td { (p["priority"].as_str().unwrap_or("")) }
                            td { (goal_text(&p["policy"]["first_response"])) } td { (goal_text(&p["policy"]["next_response"])) } td { (goal_text(&p["policy"]["resolution"])) }
                            td { (p["edited_at"].as_str().unwrap_or("built-in default")) }
                            td { a href=(format!("/manage/sla?plan={}&priority={}#change", p["plan"].as_str().unwrap_or(""), p["priority"].as_str().unwrap_or(""))) aria-label=(format!("Edit {} {}", p["plan"].as_str().unwrap_or(""), p["priority"].as_str().unwrap_or(""))) { "Edit" } }
                        }
                    }
                }
            }
        }
        h3 #change { "Change a policy" }
        p.hint { "Choose Edit on a row to start from its targets as they stand." }
        form method="post" action="/manage/sla" {
            (forms::csrf(&v.csrf))
            (field("plan", "Plan", None, values.get("plan"), Kind::Select(&plans), true, errors))
            (field("priority", "Priority", None, values.get("priority"), Kind::Select(&priorities), true, errors))
            @for (t, label) in [("first_response", "First response"), ("next_response", "Next response"), ("resolution", "Resolution")] {
                @let basis = values.opt(&format!("{t}.basis")).unwrap_or_else(|| "business".into());
                fieldset {
                    legend { (label) }
                    (field(&format!("{t}.minutes"), "Minutes", Some("Empty means no target."), values.get(&format!("{t}.minutes")), Kind::Input("number"), false, errors))
                    (field(&format!("{t}.basis"), "Counted in", None, &basis, Kind::Select(&bases), false, errors))
                    label.check { input type="checkbox" name=(format!("{t}.remove")) value="true" checked[values.checked(&format!("{t}.remove"))]; "Remove this target" }
                }
            }
            button type="submit" { "Save policy" }
        }
        h2 #calendars { "Calendars" }
        p { "Business-hours goals count only a calendar's open hours. Each save is a new version in force from now; open cases are recomputed with it." }
        @for (name, since, spec, built_in) in &calendar_rows {
            details.panel open[values.get("form") == name.as_str()] {
                summary { (name) " · " (calendar_words(spec))
                    @if *built_in { " " span.badge { "built in" } } @else { " " span.muted { "(since " (since) ")" } } }
                @if *built_in { p.hint { "Built in for the region. Saving stores your own version under the same name, which then applies instead." } }
                (calendar_form(v, name, spec, values, errors))
            }
        }
        details.panel open[values.get("form") == "new"] {
            summary { "New calendar" }
            (calendar_form(v, "new", &serde_json::from_str(NEW_CALENDAR).unwrap_or(Value::Null), values, errors))
        }
        h2 #account-calendars { "Calendar of each account" }
        p.hint { "An account counts on the calendar chosen for it, else on its region's." }
        div.table-wrap tabindex="0" role="region" aria-label="Calendar of each account" { table.stack {
            thead { tr { th scope="col" { "Account" } th scope="col" { "Counts on" } th scope="col" { "Change" } } }
            tbody { @for (acc, cal, why) in &accounts {
                tr {
                    td data-label="Account" { (acc.name) }
                    td data-label="Counts on" { (cal) " " span.muted { "(" (why) ")" } }
                    td data-label="Change" {
                        form.inline method="post" action="/manage/sla/account-calendar" {
                            (forms::csrf(&v.csrf))
                            input type="hidden" name="account" value=(acc.name);
                            label.visually-hidden for=(format!("acal-{}", acc.id)) { "Calendar of " (acc.name) }
                            select id=(format!("acal-{}", acc.id)) name="calendar" {
                                option value="" { "the region's" }
                                @for (name, _, _, _) in &calendar_rows { option value=(name) selected[why.starts_with("chosen") && *cal == *name] { (name) } }
                            }
                            button.secondary type="submit" aria-label=(format!("Save the calendar of {}", acc.name)) { "Save" }
                        }
                    }
                }
            } }
        } }
        h2 #settings { "Settings" }
        form method="post" action="/manage/sla/settings" {
            (forms::csrf(&v.csrf))
            @let posted = !values.get("warning_percent").is_empty();
            (field("warning_percent", "Warn at this share of a goal (percent)", Some("1 to 99: the assignee and duty managers are told when this much of the time is used."),
                &if posted { values.get("warning_percent").to_owned() } else { cfg["warning_percent"].to_string() }, Kind::Input("number"), true, errors))
            label.check for="on_hold_pauses" {
                input #on_hold_pauses type="checkbox" name="on_hold_pauses" value="true" checked[if posted { values.checked("on_hold_pauses") } else { cfg["on_hold_pauses"] == true }];
                "On hold stops the clocks too (waiting on the customer always does)"
            }
            fieldset {
                legend { "Duty managers (told of warnings and breaches; none ticked: every manager)" }
                @let duty: Vec<String> = if posted { values.all("duty_managers") } else { cfg["duty_managers"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default() };
                @for m in &managers {
                    label.check for=(forms::id_of(&format!("duty-{m}"))) { input id=(forms::id_of(&format!("duty-{m}"))) type="checkbox" name="duty_managers" value=(m) checked[duty.contains(m)]; (m) }
                }
                @if let Some(e) = errors.of("duty_managers") { span.field-error { (forms::message_words(e)) } }
            }
            button type="submit" { "Save settings" }
        }
    };
    respond(
        status,
        layout(Some(v), "Plans, SLA policies and calendars", "manage", body),
    )
}

/// `POST /manage/sla`: replaces one plan and priority's policy.
pub async fn put_policy(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let mut policy = serde_json::Map::new();
    let mut errs = Vec::new();
    for t in ["first_response", "next_response", "resolution"] {
        if let Some(m) = f.opt(&format!("{t}.minutes")) {
            match m.parse::<u64>() {
                Ok(m) => {
                    policy.insert(
                        t.into(),
                        json!({"minutes": m, "basis": f.get(&format!("{t}.basis"))}),
                    );
                }
                Err(_) => errs.push(casedesk_core::FieldError::new(
                    format!("{t}.minutes"),
                    "must be a whole number of minutes",
                )),
            }
        }
    }
    for k in ["plan", "priority"] {
        if f.get(k).is_empty() {
            errs.push(casedesk_core::FieldError::new(k, "is required"));
        }
    }
    // A target left empty that the policy has is removed only when asked: an empty field is
    // more often a target nobody meant to touch.
    if errs.is_empty() {
        match casedesk_core::sla::settings::list_policies(st.store.as_ref(), &v.p).await {
            Ok(list) => {
                let current = list["items"].as_array().and_then(|items| {
                    items
                        .iter()
                        .find(|p| p["plan"] == f.get("plan") && p["priority"] == f.get("priority"))
                        .cloned()
                });
                for t in TARGETS {
                    let has = current
                        .as_ref()
                        .is_some_and(|p| p["policy"][t]["minutes"].is_u64());
                    let empty = f.opt(&format!("{t}.minutes")).is_none();
                    let remove = f.checked(&format!("{t}.remove"));
                    if has && empty && !remove {
                        errs.push(casedesk_core::FieldError::new(
                            format!("{t}.minutes"),
                            format!(
                                "is empty, which would remove this target (now {}); give minutes, or tick Remove this target",
                                goal_text(&current.as_ref().map(|p| p["policy"][t].clone()).unwrap_or_default())
                            ),
                        ));
                    }
                    if remove {
                        policy.remove(t);
                    }
                }
            }
            Err(e) => return failure(Some(&v), e),
        }
    }
    if !errs.is_empty() {
        return sla_page(
            &st,
            &v,
            &Errors(errs),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            &f,
        )
        .await;
    }
    match casedesk_core::sla::settings::put_policy(
        st.store.as_ref(),
        &v.p,
        f.get("plan"),
        f.get("priority"),
        &Value::Object(policy),
    )
    .await
    {
        Ok(_) => {
            sla_page(
                &st,
                &v,
                &Errors::default(),
                Some(format!(
                    "Policy for {} {} saved; open cases are being recomputed.",
                    f.get("plan"),
                    f.get("priority")
                )),
                StatusCode::OK,
                &Fields::default(),
            )
            .await
        }
        Err(DomainError::Validation(errs)) => {
            sla_page(
                &st,
                &v,
                &Errors(errs),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                &f,
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}

/// What the new-calendar form starts from: weekdays 08:00–18:00 in Berlin, no holidays.
const NEW_CALENDAR: &str = r#"{
  "time_zone": "Europe/Berlin",
  "hours": {"mon": ["08:00-18:00"], "tue": ["08:00-18:00"], "wed": ["08:00-18:00"],
            "thu": ["08:00-18:00"], "fri": ["08:00-18:00"]},
  "holidays": []
}"#;

/// A value of an audit entry's details in words: text as it is, a list as its items.
fn audit_value(x: &Value) -> String {
    match x {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(audit_value).collect::<Vec<_>>().join(", "),
        Value::Null => "none".into(),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| format!("{}: {}", k.replace('_', " "), audit_value(v)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// Weekdays as calendars name them, with their words.
const WEEK: [(&str, &str); 7] = [
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
];

/// A calendar in a line: its zone and when it is open.
fn calendar_words(c: &Value) -> String {
    let zone = c["time_zone"].as_str().unwrap_or("");
    if c["hours"] == "24x7" {
        return format!("{zone}, around the clock");
    }
    let open: Vec<String> = WEEK
        .iter()
        .filter_map(|(k, label)| {
            c["hours"][k].as_array().filter(|l| !l.is_empty()).map(|l| {
                format!(
                    "{} {}",
                    &label[..3],
                    l.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect();
    format!("{zone}, {}", open.join("; "))
}

/// One calendar as fields: its zone, around the clock or the hours of each day, holidays.
/// `key` is the calendar's name, or `new`; every field is named `{key}.…` so a refusal lands
/// on the form it came from.
fn calendar_form(v: &Viewer, key: &str, c: &Value, values: &Fields, errors: &Errors) -> Markup {
    let mine = values.get("form") == key;
    let val = |field: &str, stored: String| -> String {
        if mine {
            values.get(&format!("{key}.{field}")).to_owned()
        } else {
            stored
        }
    };
    let always = if mine {
        values.checked(&format!("{key}.always"))
    } else {
        c["hours"] == "24x7"
    };
    let holidays = c["holidays"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    html! {
        form method="post" action="/manage/sla/calendar" {
            (forms::csrf(&v.csrf))
            input type="hidden" name="form" value=(key);
            @if key == "new" {
                (field("new.name", "Name", Some("Lowercase letters, digits and dashes; a region's key (americas, eu, apac) replaces its built-in calendar."), &val("name", String::new()), Kind::Input("text"), true, errors))
            }
            (field(&format!("{key}.time_zone"), "Time zone", Some("A time zone name such as Europe/Berlin or America/New_York."), &val("time_zone", c["time_zone"].as_str().unwrap_or("").to_owned()), Kind::Input("text"), true, errors))
            label.check for=(forms::id_of(&format!("{key}.always"))) {
                input id=(forms::id_of(&format!("{key}.always"))) type="checkbox" name=(format!("{key}.always")) value="true" checked[always];
                "Open around the clock (the hours below do not apply)"
            }
            fieldset {
                legend { "Open hours (HH:MM-HH:MM; several separated by commas; empty: closed)" }
                @for (day, label) in WEEK {
                    @let stored = c["hours"][day].as_array().map(|l| l.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default();
                    (field(&format!("{key}.{day}"), label, None, &val(day, stored), Kind::Input("text"), false, errors))
                }
                @if let Some(e) = errors.of(&format!("{key}.hours")) { span.field-error { (forms::message_words(e)) } }
            }
            (field(&format!("{key}.holidays"), "Holidays (closed all day)", Some("One date per line, such as 2026-12-25."), &val("holidays", holidays), Kind::Area, false, errors))
            button type="submit" { @if key == "new" { "Create calendar" } @else { "Save calendar " (key) } }
        }
    }
}

/// The calendar the form `key` describes, as the calendar settings read it.
fn calendar_of(f: &Fields, key: &str) -> Value {
    let get = |field: &str| f.get(&format!("{key}.{field}")).trim().to_owned();
    let hours = if f.checked(&format!("{key}.always")) {
        json!("24x7")
    } else {
        let mut days = serde_json::Map::new();
        for (day, _) in WEEK {
            let ranges: Vec<Value> = get(day)
                .split([',', ';'])
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| json!(r))
                .collect();
            if !ranges.is_empty() {
                days.insert(day.to_owned(), Value::Array(ranges));
            }
        }
        Value::Object(days)
    };
    let holidays: Vec<Value> = get("holidays")
        .split(|c: char| c == '\n' || c == ',' || c.is_whitespace())
        .filter(|d| !d.is_empty())
        .map(|d| json!(d))
        .collect();
    json!({"time_zone": get("time_zone"), "hours": hours, "holidays": holidays})
}

/// A calendar error at the field of the form it came from (`hours.mon[0]` is Monday's).
fn calendar_error(key: &str, e: casedesk_core::FieldError) -> casedesk_core::FieldError {
    let f = e.field.as_str();
    let at = if let Some(rest) = f.strip_prefix("hours.") {
        let day = rest.split('[').next().unwrap_or("");
        if WEEK.iter().any(|(d, _)| *d == day) {
            day.to_owned()
        } else {
            "hours".to_owned()
        }
    } else if f.starts_with("holidays") {
        "holidays".to_owned()
    } else if f == "time_zone" || f == "hours" || f == "name" {
        f.to_owned()
    } else {
        "hours".to_owned()
    };
    casedesk_core::FieldError::new(format!("{key}.{at}"), e.message)
}

/// `POST /manage/sla/calendar`: a new version of a calendar, or a new calendar.
pub async fn put_calendar(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let key = f.get("form").trim().to_owned();
    let name = if key == "new" {
        f.get("new.name").trim().to_owned()
    } else {
        key.clone()
    };
    let spec = calendar_of(&f, &key);
    // A new calendar never replaces one: that is what the calendar's own form is for.
    if key == "new" && v.manager() {
        match st.store.calendar_versions(&name).await {
            Ok(versions) if !versions.is_empty() => {
                let errs = Errors(vec![casedesk_core::FieldError::new(
                    "new.name",
                    format!(
                        "a calendar named {name} exists already; change it in its own form above"
                    ),
                )]);
                return sla_page(&st, &v, &errs, None, StatusCode::UNPROCESSABLE_ENTITY, &f).await;
            }
            Ok(_) => {}
            Err(e) => return failure(Some(&v), e),
        }
    }
    let saved =
        casedesk_core::sla::settings::put_calendar(st.store.as_ref(), &v.p, &name, &spec).await;
    match saved {
        Ok(_) => {
            let m = format!("Calendar {name} saved; open cases are being recomputed.");
            sla_page(
                &st,
                &v,
                &Errors::default(),
                Some(m),
                StatusCode::OK,
                &Fields::default(),
            )
            .await
        }
        Err(DomainError::Validation(errs)) => {
            let errs = errs.into_iter().map(|e| calendar_error(&key, e)).collect();
            sla_page(
                &st,
                &v,
                &Errors(errs),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                &f,
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}

/// `POST /manage/sla/account-calendar`: the calendar an account counts on (empty: its
/// region's).
pub async fn put_account_calendar(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let calendar = f.opt("calendar");
    match casedesk_core::sla::settings::set_account_calendar_as(
        st.store.as_ref(),
        &v.p,
        f.get("account"),
        calendar.as_deref(),
    )
    .await
    {
        Ok(()) => {
            let m = format!(
                "{} now counts on {}; its open cases are being recomputed.",
                f.get("account"),
                calendar.as_deref().unwrap_or("its region's calendar")
            );
            sla_page(
                &st,
                &v,
                &Errors::default(),
                Some(m),
                StatusCode::OK,
                &Fields::default(),
            )
            .await
        }
        Err(DomainError::Validation(errs)) => {
            sla_page(
                &st,
                &v,
                &Errors(errs),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                &Fields::default(),
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}

/// `POST /manage/sla/settings`.
pub async fn put_settings(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let percent = f.get("warning_percent").trim();
    let spec = json!({
        "warning_percent": percent.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::String(percent.to_owned())),
        "on_hold_pauses": f.checked("on_hold_pauses"),
        "duty_managers": f.all("duty_managers"),
    });
    match casedesk_core::sla::settings::put_settings(st.store.as_ref(), &v.p, &spec).await {
        Ok(_) => {
            sla_page(
                &st,
                &v,
                &Errors::default(),
                Some("SLA settings saved; open cases are being recomputed.".into()),
                StatusCode::OK,
                &Fields::default(),
            )
            .await
        }
        Err(DomainError::Validation(errs)) => {
            sla_page(
                &st,
                &v,
                &Errors(errs),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                &f,
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}

/// `GET /manage/queues`: how issue areas route to queues, and who works each queue.
pub async fn queues(State(st): State<AppState>, v: Viewer) -> Response {
    if let Some(r) = managers_only(&v) {
        return r;
    }
    let read = async {
        Ok::<_, DomainError>((
            st.store.issue_areas().await?,
            st.store.support_users().await?,
            super::page::all_queues(&st).await?,
        ))
    };
    let (areas, staff, queues) = match read.await {
        Ok(r) => r,
        Err(e) => return failure(Some(&v), e),
    };
    page(
        &v,
        "Queues and routing",
        html! {
            h2 { "Routing: issue area → queue" }
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr { th scope="col" { "Issue area" } th scope="col" { "What it covers" } th scope="col" { "Queue" } } }
                tbody { @for a in &areas { tr { td { (a.name) br; code { (a.key) } } td { (a.description) } td { (a.queue) } } } }
            } }
            h2 { "Who works each queue" }
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr { th scope="col" { "Queue" } th scope="col" { "Support engineers" } } }
                tbody { @for q in &queues { tr {
                    td { a href=(format!("/console?view=queue&queue={q}")) { (q) } }
                    td { (staff.iter().filter(|u| u.role == Role::Manager || u.queues.contains(q)).map(|u| u.email.as_str()).collect::<Vec<_>>().join(", ")) }
                } } }
            } }
            p { "Change who works a queue on " a href="/manage/users" { "Users and permissions" } "." }
        },
    )
}

/// `GET /manage/kb`: every entry, drafts included.
pub async fn kb(State(st): State<AppState>, v: Viewer) -> Response {
    if let Some(r) = managers_only(&v) {
        return r;
    }
    let list = match casedesk_core::kb::list(st.store.as_ref(), Some(&v.p)).await {
        Ok(l) => l,
        Err(e) => return failure(Some(&v), e),
    };
    page(
        &v,
        "Knowledge base",
        html! {
            p { a.button href="/manage/kb/edit" { "New entry" } }
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr { th scope="col" { "Title" } th scope="col" { "Kind" } th scope="col" { "Visibility" } th scope="col" { "State" } th scope="col" { "Version" } } }
                tbody { @for e in &list { tr {
                    td { a href=(format!("/manage/kb/edit?id={}", e.entry.id)) { (e.entry.title) } }
                    td { (e.entry.kind.key()) } td { (e.entry.visibility.key()) } td { (e.entry.state.key()) } td { (e.version) }
                } } }
            } }
        },
    )
}

/// `GET /manage/kb/edit[?id=…]`: the editor.
pub async fn kb_edit(State(st): State<AppState>, v: Viewer, Query(q): Q) -> Response {
    if let Some(r) = managers_only(&v) {
        return r;
    }
    let mut values = Fields::default();
    if let Some(id) = q.get("id") {
        match casedesk_core::kb::get(st.store.as_ref(), Some(&v.p), id).await {
            Ok(e) => {
                let t = e.entry;
                values.0 = vec![
                    ("id".into(), t.id),
                    ("kind".into(), t.kind.key().to_owned()),
                    ("title".into(), t.title),
                    ("summary".into(), t.summary),
                    ("body".into(), t.body),
                    ("url".into(), t.url.unwrap_or_default()),
                    ("issue_areas".into(), t.issue_areas.join(", ")),
                    ("tags".into(), t.tags.join(", ")),
                    ("visibility".into(), t.visibility.key().to_owned()),
                    ("state".into(), t.state.key().to_owned()),
                ];
            }
            Err(e) => return failure(Some(&v), e),
        }
    }
    kb_form(&v, &values, &Errors::default(), StatusCode::OK)
}

fn kb_form(v: &Viewer, values: &Fields, errors: &Errors, status: StatusCode) -> Response {
    let val = |k: &str| values.get(k).to_owned();
    let opts = |l: &[&str]| -> Vec<(String, String)> {
        l.iter()
            .map(|s| ((*s).to_owned(), (*s).to_owned()))
            .collect()
    };
    let existing = !values.get("id").is_empty() && errors.0.is_empty();
    let body = html! {
        (forms::summary(errors))
        form method="post" action="/manage/kb/edit" {
            (forms::csrf(&v.csrf))
            @if existing { input type="hidden" name="id" value=(val("id")); p { "Entry " code { (val("id")) } } }
            @else { (field("id", "Identifier", Some("Lowercase words joined by dashes; it becomes the address."), &val("id"), Kind::Input("text"), true, errors)) }
            (field("title", "Title", None, &val("title"), Kind::Input("text"), true, errors))
            (field("summary", "Summary", None, &val("summary"), Kind::Input("text"), true, errors))
            (field("kind", "Kind", None, &val("kind"), Kind::Select(&opts(&["article", "link", "community"])), true, errors))
            (field("body", "Body", Some("Paragraphs separated by a blank line."), &val("body"), Kind::Area, false, errors))
            (field("url", "Address of the page (links and community answers)", None, &val("url"), Kind::Input("url"), false, errors))
            (field("issue_areas", "Issue areas", Some("Keys, separated by commas."), &val("issue_areas"), Kind::Input("text"), false, errors))
            (field("tags", "Tags", Some("Separated by commas."), &val("tags"), Kind::Input("text"), false, errors))
            (field("visibility", "Who may read it", None, &val("visibility"), Kind::Select(&opts(&["public", "customers", "internal"])), true, errors))
            (field("state", "State", None, &val("state"), Kind::Select(&opts(&["draft", "published"])), true, errors))
            button type="submit" { "Save" }
        }
    };
    respond(
        status,
        layout(Some(v), "Edit knowledge-base entry", "manage", body),
    )
}

/// `POST /manage/kb/edit`: saves a new version.
pub async fn kb_save(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let list = |k: &str| -> Vec<String> {
        f.get(k)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut entry = json!({
        "kind": f.get("kind"), "title": f.get("title"), "summary": f.get("summary"),
        "body": f.get("body").replace("\r\n", "\n"), "issue_areas": list("issue_areas"), "tags": list("tags"),
        "visibility": f.get("visibility"), "state": f.get("state"),
    });
    if let Some(u) = f.opt("url") {
        entry["url"] = json!(u);
    }
    let id = f.get("id").trim().to_owned();
    if id.is_empty() {
        let errs = Errors(vec![casedesk_core::FieldError::new("id", "is required")]);
        return kb_form(&v, &f, &errs, StatusCode::UNPROCESSABLE_ENTITY);
    }
    match casedesk_core::kb::put(st.store.as_ref(), &v.p, &id, &entry).await {
        Ok(_) => redirect("/manage/kb"),
        Err(DomainError::Validation(errs)) => {
            kb_form(&v, &f, &Errors(errs), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => failure(Some(&v), e),
    }
}

const IMPACTS: [&str; 4] = ["maintenance", "degraded", "partial_outage", "major_outage"];
const STATES: [&str; 4] = ["investigating", "identified", "monitoring", "resolved"];

fn choices(l: &[&str]) -> Vec<(String, String)> {
    l.iter()
        .map(|s| ((*s).to_owned(), s.replace('_', " ")))
        .collect()
}

/// `GET /manage/incidents`.
pub async fn incidents(State(st): State<AppState>, v: Viewer) -> Response {
    incidents_page(&st, &v, &Errors::default(), StatusCode::OK).await
}

async fn incidents_page(
    st: &AppState,
    v: &Viewer,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    if let Some(r) = managers_only(v) {
        return r;
    }
    let read = async {
        Ok::<_, DomainError>((
            st.store.list_incidents(true, 100).await?,
            st.store.issue_areas().await?,
        ))
    };
    let (open, areas) = match read.await {
        Ok(r) => r,
        Err(e) => return failure(Some(v), e),
    };
    let body = html! {
        (forms::summary(errors))
        h2 { "Open incidents" }
        @if open.is_empty() { p { "None." } }
        @for i in &open {
            (incident_card(&json!(i)))
            details {
                summary { "Post an update to " (i.title) }
                form method="post" action=(format!("/manage/incidents/{}", i.id)) {
                    (forms::csrf(&v.csrf))
                    (field(&format!("u-{}.body", i.id), "Update", None, "", Kind::Area, true, errors))
                    (field(&format!("u-{}.state", i.id), "State", None, i.state.key(), Kind::Select(&choices(&STATES)), true, errors))
                    (field(&format!("u-{}.impact", i.id), "Impact", None, i.impact.key(), Kind::Select(&choices(&IMPACTS)), true, errors))
                    button type="submit" { "Post update" }
                }
            }
        }
        h2 { "Open an incident" }
        form method="post" action="/manage/incidents" {
            (forms::csrf(&v.csrf))
            (field("title", "Title", None, "", Kind::Input("text"), true, errors))
            (field("impact", "Impact", None, "", Kind::Select(&choices(&IMPACTS)), true, errors))
            (field("body", "First update", None, "", Kind::Area, true, errors))
            fieldset { legend { "Regions (none: all)" }
                @for r in &st.status.regions { label.check for=(format!("reg-{r}")) { input id=(format!("reg-{r}")) type="checkbox" name="regions" value=(r); (r) } } }
            fieldset { legend { "Components" }
                @for c in &st.status.components { label.check for=(format!("comp-{}", c.key)) { input id=(format!("comp-{}", c.key)) type="checkbox" name="components" value=(c.key); (c.name) } }
                @if let Some(e) = errors.of("components") { span.field-error { (e) } } }
            fieldset { legend { "Issue areas it touches" }
                @for a in &areas { label.check for=(format!("ia-{}", a.key)) { input id=(format!("ia-{}", a.key)) type="checkbox" name="issue_areas" value=(a.key); (a.name) } } }
            button type="submit" { "Open incident" }
        }
    };
    respond(status, layout(Some(v), "Status incidents", "manage", body))
}

/// `POST /manage/incidents`.
pub async fn open_incident(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let q = json!({"title": f.get("title"), "impact": f.get("impact"), "body": f.get("body"),
        "regions": f.all("regions"), "components": f.all("components"), "issue_areas": f.all("issue_areas")});
    match casedesk_core::status::open_incident(st.store.as_ref(), &st.status, &v.p, &q).await {
        Ok(_) => {
            st.forget_open_incidents().await;
            redirect("/manage/incidents")
        }
        Err(DomainError::Validation(errs)) => {
            incidents_page(&st, &v, &Errors(errs), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => failure(Some(&v), e),
    }
}

/// `POST /manage/incidents/{id}`: an update.
pub async fn update_incident(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Posted { v, f }: Posted,
) -> Response {
    let Ok(uid) = uuid::Uuid::parse_str(&id) else {
        return failure(Some(&v), DomainError::NotFound { entity: "incident" });
    };
    let g = |k: &str| f.get(&format!("u-{id}.{k}")).to_owned();
    let q = json!({"body": g("body"), "state": g("state"), "impact": g("impact")});
    match casedesk_core::status::update_incident(st.store.as_ref(), &v.p, uid, &q).await {
        Ok(_) => {
            st.forget_open_incidents().await;
            redirect("/manage/incidents")
        }
        Err(DomainError::Validation(errs)) => {
            let errs = errs
                .into_iter()
                .map(|e| casedesk_core::FieldError::new(format!("u-{id}.{}", e.field), e.message))
                .collect();
            incidents_page(&st, &v, &Errors(errs), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => failure(Some(&v), e),
    }
}

/// `GET /manage/webhooks`.
pub async fn webhooks(State(st): State<AppState>, v: Viewer) -> Response {
    webhooks_page(
        &st,
        &v,
        &Errors::default(),
        None,
        StatusCode::OK,
        &Fields::default(),
    )
    .await
}

async fn webhooks_page(
    st: &AppState,
    v: &Viewer,
    errors: &Errors,
    secret: Option<String>,
    status: StatusCode,
    values: &Fields,
) -> Response {
    if let Some(r) = administrators_only(v) {
        return r;
    }
    let list = match webhooks::list(st.store.as_ref(), &v.p).await {
        Ok(l) => l,
        Err(e) => return failure(Some(v), e),
    };
    let types: &[&str] = if v.manager() {
        &webhooks::INTERNAL_TYPES
    } else {
        &webhooks::CUSTOMER_TYPES
    };
    let body = html! {
        @if let Some(s) = secret {
            div.notice.ok role="status" {
                p { "Endpoint created. Its signing secret is shown this once; store it now:" }
                p { code { (s) } }
            }
        }
        (forms::summary(errors))
        div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
            thead { tr { th scope="col" { "Address" } th scope="col" { "Events" } th scope="col" { "State" } th scope="col" { "Failures in a row" } } }
            tbody { @for e in &list { tr {
                td { a href=(format!("/manage/webhooks/{}", e.id)) { (e.url) } @if let Some(d) = &e.description { br; span.muted { (d) } } }
                td { (if e.event_types.is_empty() { "all".to_owned() } else { e.event_types.join(", ") }) }
                td { (if e.enabled { "enabled".to_owned() } else { format!("disabled: {}", e.disabled_reason.as_deref().unwrap_or("")) }) }
                td { (e.failure_streak) }
            } } }
        } }
        h2 { "Add an endpoint" }
        form method="post" action="/manage/webhooks" {
            (forms::csrf(&v.csrf))
            (field("url", "Address (https)", None, values.get("url"), Kind::Input("url"), true, errors))
            (field("description", "Description", None, values.get("description"), Kind::Input("text"), false, errors))
            @let ticked = values.all("event_types");
            fieldset { legend { "Events (none: all)" }
                @for t in types { label.check for=(forms::id_of(&format!("et-{t}"))) { input id=(forms::id_of(&format!("et-{t}"))) type="checkbox" name="event_types" value=(t) checked[ticked.iter().any(|x| x == t)]; (t) } }
                @if let Some(e) = errors.of("event_types") { span.field-error { (forms::message_words(e)) } } }
            button type="submit" { "Add endpoint" }
        }
    };
    respond(status, layout(Some(v), "Webhooks", "manage", body))
}

/// `POST /manage/webhooks`.
pub async fn create_webhook(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let mut q = json!({"url": f.get("url"), "event_types": f.all("event_types")});
    if let Some(d) = f.opt("description") {
        q["description"] = json!(d);
    }
    match webhooks::create(
        st.store.as_ref(),
        st.secrets.as_ref(),
        &v.p,
        &q,
        &st.url_policy,
    )
    .await
    {
        Ok((_, secret)) => {
            webhooks_page(
                &st,
                &v,
                &Errors::default(),
                Some(secret),
                StatusCode::CREATED,
                &Fields::default(),
            )
            .await
        }
        Err(DomainError::Validation(errs)) => {
            webhooks_page(
                &st,
                &v,
                &Errors(errs),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                &f,
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}

/// `GET /manage/webhooks/{id}`: an endpoint's settings (edit, disable, rotate, delete) and
/// its recent deliveries.
pub async fn webhook(State(st): State<AppState>, v: Viewer, Path(id): Path<String>) -> Response {
    endpoint_page(
        &st,
        &v,
        &id,
        &Errors::default(),
        &Fields::default(),
        None,
        StatusCode::OK,
    )
    .await
}

/// What a webhook page says after an action: a notice, or a secret shown once.
enum Said {
    Notice(String),
    Secret(String, String),
}

async fn endpoint_page(
    st: &AppState,
    v: &Viewer,
    id: &str,
    errors: &Errors,
    values: &Fields,
    said: Option<Said>,
    status: StatusCode,
) -> Response {
    if let Some(r) = administrators_only(v) {
        return r;
    }
    let Ok(uid) = uuid::Uuid::parse_str(id) else {
        return failure(Some(v), DomainError::NotFound { entity: "webhook" });
    };
    let ep = match webhooks::get(st.store.as_ref(), &v.p, uid).await {
        Ok(e) => e,
        Err(e) => return failure(Some(v), e),
    };
    let list = match webhooks::deliveries(st.store.as_ref(), &v.p, uid, None, 100).await {
        Ok(l) => l,
        Err(e) => return failure(Some(v), e),
    };
    let types: &[&str] = if ep.account_id.is_none() {
        &webhooks::INTERNAL_TYPES
    } else {
        &webhooks::CUSTOMER_TYPES
    };
    // After a refusal the form shows what was sent; otherwise the endpoint as it is.
    let posted = values.0.iter().any(|(k, _)| k == "url");
    let url = if posted {
        values.get("url").to_owned()
    } else {
        ep.url.clone()
    };
    let description = if posted {
        values.get("description").to_owned()
    } else {
        ep.description.clone().unwrap_or_default()
    };
    let ticked = if posted {
        values.all("event_types")
    } else {
        ep.event_types.clone()
    };
    let base = format!("/manage/webhooks/{}", ep.id);
    page_with_status(
        v,
        &format!("Webhook {}", ep.url),
        status,
        html! {
            @match said {
                Some(Said::Notice(m)) => { div.notice.ok role="status" { p { (m) } } }
                Some(Said::Secret(secret, until)) => {
                    div.notice.ok role="status" {
                        p { "New signing secret, shown this once; store it now:" }
                        p { code { (secret) } }
                        p { "The previous secret keeps signing until " (until) ", so your receiver can switch without missing a delivery." }
                    }
                }
                None => {}
            }
            (forms::summary(errors))
            p {
                "State: " strong { (if ep.enabled { "enabled".to_owned() } else { format!("disabled ({})", ep.disabled_reason.as_deref().unwrap_or("by hand")) }) }
                " · failures in a row: " (ep.failure_streak)
            }
            section.panel aria-labelledby="ep-edit-h" {
                h2 #ep-edit-h { "Settings" }
                form method="post" action=(base.clone()) {
                    (forms::csrf(&v.csrf))
                    (field("url", "Address (https)", None, &url, Kind::Input("url"), true, errors))
                    (field("description", "Description", None, &description, Kind::Input("text"), false, errors))
                    fieldset { legend { "Events (none: all)" }
                        @for t in types { label.check for=(forms::id_of(&format!("ep-{t}"))) { input id=(forms::id_of(&format!("ep-{t}"))) type="checkbox" name="event_types" value=(t) checked[ticked.iter().any(|x| x == t)]; (t) } }
                        @if let Some(e) = errors.of("event_types") { span.field-error { (forms::message_words(e)) } } }
                    button type="submit" { "Save" }
                }
                form.inline method="post" action=(format!("{base}/enabled")) {
                    (forms::csrf(&v.csrf))
                    @if ep.enabled {
                        input type="hidden" name="enabled" value="false";
                        button.secondary type="submit" { "Disable" }
                    } @else {
                        input type="hidden" name="enabled" value="true";
                        button type="submit" { "Enable again" }
                    }
                }
            }
            section.panel aria-labelledby="ep-rotate-h" {
                h2 #ep-rotate-h { "Signing secret" }
                form method="post" action=(format!("{base}/rotate")) {
                    (forms::csrf(&v.csrf))
                    (field("overlap_hours", "Hours the old secret keeps signing", Some("0 to 168; 24 when empty."), values.get("overlap_hours"), Kind::Input("number"), false, errors))
                    button.secondary type="submit" { "Issue a new secret" }
                }
            }
            section.panel aria-labelledby="ep-delete-h" {
                h2 #ep-delete-h { "Delete" }
                form method="post" action=(format!("{base}/delete")) {
                    (forms::csrf(&v.csrf))
                    p { "Deliveries not yet sent are skipped; the history stays in the audit trail." }
                    label.check for="ep-confirm" { input #ep-confirm type="checkbox" name="confirm" value="yes" required; "Yes, delete this endpoint" }
                    @if let Some(e) = errors.of("confirm") { span.field-error { (forms::message_words(e)) } }
                    button.danger type="submit" { "Delete endpoint" }
                }
            }
            h2 { "Recent deliveries" }
            @if list.is_empty() { p { "No delivery yet." } }
            div.table-wrap tabindex="0" role="region" aria-label="Deliveries" { table.stack {
                thead { tr { th scope="col" { "Delivery" } th scope="col" { "Event" } th scope="col" { "Case" } th scope="col" { "State" } th scope="col" { "Attempts" } th scope="col" { "Last status" } th scope="col" { "Created" } th scope="col" { "Action" } } }
                tbody { @for d in &list { tr {
                    td data-label="Delivery" { code { (d.id) } } td data-label="Event" { (d.event_type) }
                    td data-label="Case" { @if let Some(n) = d.case_number { a href=(format!("/cases/{n}")) { "#" (n) } } }
                    td data-label="State" { (d.state.key()) } td data-label="Attempts" { (d.attempts) }
                    td data-label="Last status" { (d.last_status.map(|s| s.to_string()).unwrap_or_default()) } td data-label="Created" { (when(d.created_at)) }
                    td data-label="Action" {
                        form method="post" action=(format!("{base}/redeliver")) {
                            (forms::csrf(&v.csrf))
                            input type="hidden" name="delivery" value=(d.id);
                            button.secondary type="submit" aria-label=(format!("Send delivery {} again", d.id)) { "Send again" }
                        }
                    }
                } } }
            } }
            p { a href="/manage/webhooks" { "All endpoints" } }
        },
    )
}

/// The endpoint a webhook form names, for an administrator; else the answer to give.
fn endpoint_id(v: &Viewer, id: &str) -> Result<uuid::Uuid, Box<Response>> {
    if let Some(r) = administrators_only(v) {
        return Err(Box::new(r));
    }
    uuid::Uuid::parse_str(id).map_err(|_| {
        Box::new(failure(
            Some(v),
            DomainError::NotFound { entity: "webhook" },
        ))
    })
}

/// The endpoint's page after an action: what it did, or the refusal at its fields with what
/// was posted.
async fn endpoint_after(
    st: &AppState,
    v: &Viewer,
    id: &str,
    f: &Fields,
    done: Result<Said, DomainError>,
) -> Response {
    match done {
        Ok(said) => {
            endpoint_page(
                st,
                v,
                id,
                &Errors::default(),
                &Fields::default(),
                Some(said),
                StatusCode::OK,
            )
            .await
        }
        Err(DomainError::Validation(errs)) => {
            endpoint_page(
                st,
                v,
                id,
                &Errors(errs),
                f,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => failure(Some(v), e),
    }
}

/// `POST /manage/webhooks/{id}`: saves an endpoint's address, description and events.
pub async fn save_webhook(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Posted { v, f }: Posted,
) -> Response {
    let uid = match endpoint_id(&v, &id) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let mut body = json!({"url": f.get("url"), "event_types": f.all("event_types")});
    body["description"] = f.opt("description").map_or(Value::Null, Value::String);
    let done = webhooks::update(st.store.as_ref(), &v.p, uid, &body, &st.url_policy)
        .await
        .map(|_| Said::Notice("Saved.".into()));
    endpoint_after(&st, &v, &id, &f, done).await
}

/// `POST /manage/webhooks/{id}/enabled`: disables an endpoint, or enables it again.
pub async fn enable_webhook(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Posted { v, f }: Posted,
) -> Response {
    let uid = match endpoint_id(&v, &id) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let on = f.get("enabled") == "true";
    let done = webhooks::update(
        st.store.as_ref(),
        &v.p,
        uid,
        &json!({"enabled": on}),
        &st.url_policy,
    )
    .await
    .map(|_| {
        Said::Notice(if on {
            "Enabled: deliveries start again.".into()
        } else {
            "Disabled: nothing is sent until it is enabled again.".into()
        })
    });
    endpoint_after(&st, &v, &id, &Fields::default(), done).await
}

/// `POST /manage/webhooks/{id}/rotate`: a new signing secret, shown once.
pub async fn rotate_webhook(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Posted { v, f }: Posted,
) -> Response {
    let uid = match endpoint_id(&v, &id) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let done = match f.opt("overlap_hours").map(|h| h.parse::<u32>()) {
        Some(Err(_)) => Err(DomainError::field(
            "overlap_hours",
            "must be a whole number of hours from 0 to 168",
        )),
        hours => webhooks::rotate(
            st.store.as_ref(),
            st.secrets.as_ref(),
            &v.p,
            uid,
            hours.and_then(Result::ok),
        )
        .await
        .map(|(secret, until)| {
            Said::Secret(secret, until.strftime("%Y-%m-%d %H:%M UTC").to_string())
        }),
    };
    endpoint_after(&st, &v, &id, &f, done).await
}

/// `POST /manage/webhooks/{id}/delete`: deletes an endpoint once the box is ticked.
pub async fn delete_webhook(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Posted { v, f }: Posted,
) -> Response {
    let uid = match endpoint_id(&v, &id) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    if f.get("confirm") != "yes" {
        let refused = Err(DomainError::field(
            "confirm",
            "tick the box to delete the endpoint",
        ));
        return endpoint_after(&st, &v, &id, &Fields::default(), refused).await;
    }
    match webhooks::delete(st.store.as_ref(), &v.p, uid).await {
        Ok(()) => redirect("/manage/webhooks?deleted=1"),
        Err(e) => failure(Some(&v), e),
    }
}

/// `POST /manage/webhooks/{id}/redeliver`: sends a delivery again, with the same id.
pub async fn redeliver(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Posted { v, f }: Posted,
) -> Response {
    let Ok(uid) = uuid::Uuid::parse_str(&id) else {
        return failure(Some(&v), DomainError::NotFound { entity: "webhook" });
    };
    match webhooks::redeliver(st.store.as_ref(), &v.p, uid, f.get("delivery")).await {
        Ok(()) => redirect(&format!("/manage/webhooks/{uid}")),
        Err(e) => failure(Some(&v), e),
    }
}

/// `GET /manage/jobs[?state=dead]`.
pub async fn jobs(State(st): State<AppState>, v: Viewer, Query(q): Q) -> Response {
    if let Some(r) = managers_only(&v) {
        return r;
    }
    let state = match q.get("state").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match JobState::parse(s) {
            Some(state) => Some(state),
            None => {
                return failure(
                    Some(&v),
                    DomainError::field("state", "must be queued, running, done, dead or cancelled"),
                );
            }
        },
    };
    let query = JobQuery {
        state,
        kind: q.get("kind").cloned().filter(|k| !k.is_empty()),
        before: None,
        limit: 100,
    };
    let (list, counts) = match (
        jobs::list(st.store.as_ref(), &v.p, &query).await,
        st.store.job_counts(casedesk_core::now()).await,
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return failure(Some(&v), e),
    };
    page(
        &v,
        "Background jobs",
        html! {
            h2 { "By kind and state" }
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr { th scope="col" { "Kind" } th scope="col" { "State" } th scope="col" { "Jobs" } th scope="col" { "Oldest due (s ago)" } } }
                tbody { @for c in &counts { tr {
                    td { (c.kind) } td { a href=(format!("/manage/jobs?state={}", c.state.key())) { (c.state.key()) } } td { (c.count) }
                    td { (c.oldest_due_seconds.map(|s| format!("{s:.0}")).unwrap_or_default()) }
                } } }
            } }
            h2 { "Jobs" @if let Some(s) = q.get("state") { " (" (s) ")" } }
            div.table-wrap tabindex="0" role="region" aria-label="Scrollable table" { table {
                thead { tr { th scope="col" { "Kind" } th scope="col" { "State" } th scope="col" { "Attempts" } th scope="col" { "Runs at" } th scope="col" { "Last error" } th scope="col" { "" } } }
                tbody { @for j in &list { tr {
                    td { (j.kind) } td { (j.state.key()) } td { (j.attempts) "/" (j.max_attempts) } td { (when(j.run_at)) }
                    td { (j.last_error.as_deref().unwrap_or("")) }
                    td { @if matches!(j.state, JobState::Dead | JobState::Cancelled) {
                        form method="post" action=(format!("/manage/jobs/{}/retry", j.id)) {
                            (forms::csrf(&v.csrf)) button.secondary type="submit" aria-label=(format!("Retry job {}", j.id)) { "Retry" }
                        }
                    } }
                } } }
            } }
        },
    )
}

/// `POST /manage/jobs/{id}/retry`.
pub async fn retry_job(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Posted { v, .. }: Posted,
) -> Response {
    let Ok(uid) = uuid::Uuid::parse_str(&id) else {
        return failure(Some(&v), DomainError::NotFound { entity: "job" });
    };
    match jobs::retry(st.store.as_ref(), &v.p, uid).await {
        Ok(_) => redirect("/manage/jobs"),
        Err(e) => failure(Some(&v), e),
    }
}

/// `GET /manage/audit?since=…&until=…&q=…[&export=1]`: recent entries matching the words,
/// and the export of the period as NDJSON.
pub async fn audit(State(st): State<AppState>, v: Viewer, Query(q): Q) -> Response {
    use casedesk_core::audit;
    if let Some(r) = administrators_only(&v) {
        return r;
    }
    let get = |k: &str| {
        q.get(k)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let day = |k: &str| -> Result<Option<casedesk_core::Timestamp>, casedesk_core::FieldError> {
        match get(k) {
            None => Ok(None),
            Some(s) => s
                .parse::<jiff::civil::Date>()
                .ok()
                .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map(|z| Some(z.timestamp()))
                .ok_or_else(|| {
                    casedesk_core::FieldError::new(k, "must be a date such as 2026-11-01")
                }),
        }
    };
    let (since, until) = match (day("since"), day("until")) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            return failure(
                Some(&v),
                DomainError::Validation([a.err(), b.err()].into_iter().flatten().collect()),
            );
        }
    };
    if get("export").is_some() {
        let f = crate::requests::export::ExportFilters {
            since: since.map(|t| t.to_string()),
            until: until.map(|t| t.to_string()),
            account: None,
        };
        return match crate::requests::export::export_as(st.clone(), v.p.clone(), f).await {
            Ok(r) => r,
            Err(crate::error::ApiError::Domain(e)) => failure(Some(&v), e),
            Err(e) => axum::response::IntoResponse::into_response(e),
        };
    }
    let filter = match audit::export_filter(&v.p, None, since, until) {
        Ok(f) => f,
        Err(e) => return failure(Some(&v), e),
    };
    let words = get("q").unwrap_or_default().to_lowercase();
    // Paging goes back in time: `before` is the oldest entry of the page above.
    let before = get("before")
        .and_then(|b| b.parse::<i64>().ok())
        .filter(|b| *b > 0);
    const PAGE: usize = 50;
    // The trail is read oldest first, in pages of 1,000, at most SCAN entries: from the start
    // date when one is given, else the SCAN entries before the page asked for. The newest
    // PAGE matches of those are shown, and whether older ones exist.
    const SCAN: i64 = 50_000;
    let mut after = if since.is_some() {
        0
    } else {
        match (before, st.store.audit_head().await) {
            (Some(b), _) => (b - 1 - SCAN).max(0),
            (None, Ok(head)) => head.map_or(0, |(seq, _)| (seq - SCAN).max(0)),
            (None, Err(e)) => return failure(Some(&v), e),
        }
    };
    let mut shown: std::collections::VecDeque<audit::AuditEntry> =
        std::collections::VecDeque::new();
    let mut older = false;
    'scan: for _ in 0..SCAN / 1000 {
        let page = match st.store.audit_page(after, 1000, &filter).await {
            Ok(p) => p,
            Err(e) => return failure(Some(&v), e),
        };
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page {
            if before.is_some_and(|b| e.seq >= b) {
                break 'scan;
            }
            let r = &e.record;
            let hay =
                format!("{} {} {} {}", r.action, r.target, r.summary, r.actor.label).to_lowercase();
            if words.is_empty() || words.split_whitespace().all(|w| hay.contains(w)) {
                shown.push_back(e);
                if shown.len() > PAGE {
                    shown.pop_front();
                    older = true;
                }
            }
        }
    }
    let query = |extra: &str| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for k in ["q", "since", "until"] {
            if let Some(x) = get(k) {
                q.append_pair(k, &x);
            }
        }
        let q = q.finish();
        format!(
            "/manage/audit?{q}{}{extra}",
            if q.is_empty() { "" } else { "&" }
        )
    };
    let older_href = shown.front().map(|e| query(&format!("before={}", e.seq)));
    let export_href = format!(
        "/manage/audit?export=1&since={}&until={}",
        get("since").unwrap_or_default(),
        get("until").unwrap_or_default()
    );
    let detail = |raw: &str| -> Markup {
        let v: Value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
        match v.as_object() {
            Some(o) if !o.is_empty() => html! {
                dl.facts.compact { @for (k, x) in o { dt { (k.replace('_', " ")) } dd { (audit_value(x)) } } }
            },
            _ if !raw.is_empty() && raw != "{}" && raw != "null" => html! { (raw) },
            _ => html! { span.muted { "–" } },
        }
    };
    page(
        &v,
        "Audit trail",
        html! {
            form.filters method="get" action="/manage/audit" role="search" {
                div { label for="a-q" { "Words" } input #a-q type="search" name="q" value=(words); }
                div { label for="a-since" { "From" } input #a-since type="date" name="since" value=(get("since").unwrap_or_default()); }
                div { label for="a-until" { "Before" } input #a-until type="date" name="until" value=(get("until").unwrap_or_default()); }
                button type="submit" { "Search" }
            }
            p { a.button.secondary href=(export_href) { "Export this period (NDJSON)" } }
            p.muted { "Newest first, " (PAGE) " to a page. Search looks at up to 50,000 entries at a time. The trail is append-only and hash-chained; the export carries each entry's hash so it can be checked." }
            @if shown.is_empty() { p { "No entry matches." } } @else {
                div.table-wrap tabindex="0" role="region" aria-label="Audit entries" { table.stack.audit {
                    thead { tr { th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Details" } } }
                    tbody { @for e in shown.iter().rev() { tr {
                        td data-label="#" { (e.seq) } td data-label="When" { (when(e.record.at)) } td data-label="Who" { (e.record.actor.label) } td data-label="Action" { code { (e.record.action) } }
                        td data-label="Target" { (e.record.target) } td data-label="Details" { (detail(&e.record.summary)) }
                    } } }
                } }
            }
            nav.pager aria-label="Audit pages" {
                @if before.is_some() { a href=(query("")) { "Newest entries" } " " }
                @if let (true, Some(h)) = (older, &older_href) { a href=(h) { "Older entries" } }
            }
        },
    )
}

/// `GET /manage/accounts`: every account with its plan, its customer success manager and its
/// mail preference, each changeable (managers).
pub async fn accounts(State(st): State<AppState>, v: Viewer) -> Response {
    accounts_view(&st, &v, None, &Errors::default(), StatusCode::OK).await
}

async fn accounts_view(
    st: &AppState,
    v: &Viewer,
    flash: Option<&str>,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    if !v.manager() {
        return failure(
            Some(v),
            DomainError::Forbidden("Only support managers manage accounts.".into()),
        );
    }
    let (accounts, staff) = match async {
        Ok::<_, DomainError>((
            st.store.list_accounts().await?,
            st.store.support_users().await?,
        ))
    }
    .await
    {
        Ok(x) => x,
        Err(e) => return failure(Some(v), e),
    };
    let choices: Vec<(String, String)> = staff
        .iter()
        .map(|u| {
            (
                u.email.clone(),
                format!("{} ({})", u.email, role_label(u.role)),
            )
        })
        .collect();
    respond(
        status,
        layout(
            Some(v),
            "Accounts",
            "manage",
            html! {
                @if let Some(m) = flash { div.notice.ok role="status" { p { (m) } } }
                (forms::summary(errors))
                p.lead { "The customer success manager hears of the account's P1 cases and escalations, by email and in the console, and customers see them on the support routes and case pages." }
                div.table-wrap tabindex="0" role="region" aria-label="Accounts" { table {
                    thead { tr { th scope="col" { "Account" } th scope="col" { "Plan" } th scope="col" { "Customer success manager and mail" } } }
                    tbody { @for a in &accounts { tr {
                        td { (a.name) }
                        td { (a.plan.key()) }
                        td {
                            form method="post" action=(format!("/manage/accounts/{}", a.id)) {
                                (forms::csrf(&v.csrf))
                                (field(&format!("csm-{}", a.id), &format!("CSM of {}", a.name), Some("Leave empty for none."), a.csm.as_deref().unwrap_or(""), Kind::Select(&choices), false, errors))
                                label.check { input type="checkbox" name="copy_requester" value="true" checked[a.copy_requester]; "Copy the requester on mail sent to another case email" }
                                button.secondary type="submit" { "Save" }
                            }
                        }
                    } } }
                } }
            },
        ),
    )
}

/// `POST /manage/accounts/{id}`: saves an account's CSM and mail preference.
pub async fn save_account(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Posted { v, f }: Posted,
) -> Response {
    let csm = f.opt(&format!("csm-{id}"));
    let body = serde_json::json!({"csm": csm, "copy_requester": f.checked("copy_requester")});
    match casedesk_core::admin::update_account(st.store.as_ref(), &v.p, &id, &body).await {
        Ok(a) => {
            accounts_view(
                &st,
                &v,
                Some(&format!("Saved {}.", a.name)),
                &Errors::default(),
                StatusCode::OK,
            )
            .await
        }
        Err(DomainError::Validation(errs)) => {
            let errs = errs
                .into_iter()
                .map(|e| {
                    casedesk_core::FieldError::new(
                        if e.field == "csm" {
                            format!("csm-{id}")
                        } else {
                            e.field
                        },
                        e.message,
                    )
                })
                .collect();
            accounts_view(
                &st,
                &v,
                None,
                &Errors(errs),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_read_as_people_say_them() {
        assert_eq!(
            goal_text(&json!({"minutes": 240, "basis": "business"})),
            "4 h, business hours"
        );
        assert_eq!(
            goal_text(&json!({"minutes": 30, "basis": "calendar"})),
            "30 min, around the clock"
        );
        assert_eq!(
            goal_text(&json!({"minutes": 90, "basis": "business"})),
            "1 h 30 min, business hours"
        );
        assert_eq!(goal_text(&Value::Null), "none");
    }
}
