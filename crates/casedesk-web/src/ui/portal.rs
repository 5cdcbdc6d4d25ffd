//! The customer portal: the start page, *Get support* (checklist, active incidents,
//! suggestions while typing, the case form), the knowledge base and the status page.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use casedesk_core::DomainError;
use casedesk_core::cases::intake::{
    ADVANCED_ANY_OF, AVAILABILITIES, CHECKLIST_ITEMS, CLIENT_PURPOSES, CONTEXT_FIELDS,
    DEPLOYMENT_MODELS, ENVIRONMENTS, context_choices,
};
use casedesk_core::cases::{ImpactScope, Priority};
use casedesk_core::kb::{self, search};
use casedesk_core::permissions;
use casedesk_core::service;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::forms::{self, Errors, Fields, Kind, field};
use super::page::{Posted, failure, layout, redirect, respond};
use crate::AppState;
use crate::error::ApiError;
use crate::requests::files::{Parts, prepare_all, read_form};
use crate::session::{MaybeViewer, Viewer};

fn choices(list: &[&str]) -> Vec<(String, String)> {
    list.iter()
        .map(|s| ((*s).to_owned(), s.replace('_', " ")))
        .collect()
}

/// `GET /`: each person's start page.
pub async fn home(State(st): State<AppState>, MaybeViewer(v): MaybeViewer) -> Response {
    match v {
        None => redirect("/auth/login"),
        Some(v) if v.support() => redirect("/console"),
        Some(v) if v.p.user.has_case_access() => redirect("/support"),
        Some(v) => {
            super::page::refused(
                &st,
                &v,
                DomainError::Forbidden(permissions::MISSING_CASE_ADMIN.into()),
            )
            .await
        }
    }
}

/// Identifiers of each rollout stage, with their labels.
/// A rollout stage: key, label, and its identifiers with their labels.
type StageFields = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const STAGE_FIELDS: [StageFields; 3] = [
    (
        "onboarding",
        "Onboarding: tenant, application or client setup",
        &[
            ("organization_id", "Organization ID"),
            ("application_key", "Application key"),
            ("client_purpose", "Client purpose"),
            ("redirect_uri", "Redirect URI"),
            ("error_message", "Exact error message"),
            ("occurred_at", "When it happened"),
        ],
    ),
    (
        "production",
        "Production: security review and launch readiness",
        &[
            ("environment", "Environment"),
            ("deployment_model", "Deployment model"),
            ("review_needed_by", "Review needed by"),
        ],
    ),
    (
        "advanced",
        "Advanced features: marketplace, devices, enterprise providers, SCIM",
        &[
            ("product", "Product"),
            ("availability", "Availability"),
            ("edition", "Edition"),
            ("entitlement_id", "Entitlement ID"),
            ("activation_id", "Activation ID"),
            ("membership_id", "Membership ID"),
            ("provider_id", "Provider ID"),
            ("scim_connection_id", "SCIM connection ID"),
        ],
    ),
];

/// What the case form needs besides the values: the account's tenants, teammates and the
/// issue areas.
struct FormData {
    tenants: Vec<casedesk_core::accounts::Tenant>,
    teammates: Vec<String>,
    areas: Vec<casedesk_core::taxonomy::IssueArea>,
}

async fn form_data(st: &AppState, v: &Viewer) -> casedesk_core::Result<FormData> {
    let account =
        v.p.user
            .account_id
            .ok_or_else(|| DomainError::Forbidden(permissions::MISSING_CASE_ADMIN.into()))?;
    let tenants = st.store.list_tenants(account).await?;
    let teammates = st
        .store
        .list_account_users(account)
        .await?
        .into_iter()
        .filter(|u| u.id != v.p.user.id && u.has_case_access())
        .map(|u| u.email)
        .collect();
    let areas = st.store.issue_areas().await?;
    Ok(FormData {
        tenants,
        teammates,
        areas,
    })
}

/// Open incidents in the regions of the account's tenants.
async fn incidents_for(
    st: &AppState,
    v: &Viewer,
    data: &FormData,
) -> casedesk_core::Result<Vec<Value>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for t in &data.tenants {
        let list = casedesk_core::status::active_for_tenant(
            st.store.as_ref(),
            &st.status,
            &v.p,
            &t.slug,
            None,
        )
        .await?;
        for i in list {
            let id = i["id"].as_str().unwrap_or_default().to_owned();
            if seen.insert(id) {
                out.push(i);
            }
        }
    }
    Ok(out)
}

/// `GET /support`: Get support.
pub async fn support(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(e) = permissions::require_case_access(&v.p).and_then(|_| {
        permissions::require_customer(
            &v.p,
            "open cases; support staff work the cases customers open",
        )
    }) {
        return super::page::refused(&st, &v, e).await;
    }
    let data = match form_data(&st, &v).await {
        Ok(d) => d,
        Err(e) => return failure(Some(&v), e),
    };
    let mut values = Fields::default();
    values
        .0
        .push(("contact.email".into(), v.p.user.email.clone()));
    if data.tenants.len() == 1 {
        values
            .0
            .push(("tenant".into(), data.tenants[0].slug.clone()));
    }
    // The answers of the checks before opening a case (the support routes page) arrive as
    // the query and fill the fields they name; the form checks them like typed values.
    for (k, x) in q {
        let known = matches!(
            k.as_str(),
            "scope"
                | "issue_area"
                | "steps_to_reproduce"
                | "context.affected"
                | "context.frequency"
                | "context.browsers"
        );
        if known && x.chars().count() <= 2_000 {
            values.0.retain(|(n, _)| *n != k);
            values.0.push((k, x));
        }
    }
    support_page(&st, &v, &data, &values, &Errors::default(), StatusCode::OK).await
}

async fn support_page(
    st: &AppState,
    v: &Viewer,
    data: &FormData,
    values: &Fields,
    errors: &Errors,
    status: StatusCode,
) -> Response {
    let incidents = match incidents_for(st, v, data).await {
        Ok(i) => i,
        Err(e) => return failure(Some(v), e),
    };
    let body = html! {
        p.lead { "Describe what is happening. While you type, we look for articles that may already answer it." }
        @if values.get("context.affected").is_empty() {
            details.panel #first-checks {
                summary { "Before you start: a few checks that often find the cause" }
                (super::support::first_question(None))
                p.hint { "The answers fill in who is affected and what you already checked. " a href="/support/routes" { "Where to get help" } " explains every channel." }
            }
        }
        @if !incidents.is_empty() {
            section aria-labelledby="incidents-h" {
                h2 #incidents-h { "Active incidents in your regions" }
                p { "If your problem matches one of these, you may not need a case: we are on it and post updates on the " a href="/status" { "status page" } "." }
                @for i in &incidents { (super::page::incident_card(i)) }
            }
        }
        (forms::summary(errors))
        (case_form(v, data, values, errors, &st.attachments))
    };
    respond(status, layout(Some(v), "Get support", "support", body))
}

fn case_form(
    v: &Viewer,
    data: &FormData,
    values: &Fields,
    errors: &Errors,
    limits: &casedesk_core::attachments::AttachmentConfig,
) -> Markup {
    let val = |n: &str| values.get(n).to_owned();
    let priorities: Vec<(String, String)> = Priority::ALL
        .iter()
        .map(|p| (p.key().to_owned(), format!("{}: {}", p.key(), p.label())))
        .collect();
    let tenants: Vec<(String, String)> = data
        .tenants
        .iter()
        .map(|t| {
            (
                t.slug.clone(),
                format!("{} ({}, {})", t.slug, t.region.key(), t.environment.key()),
            )
        })
        .collect();
    let areas: Vec<(String, String)> = data
        .areas
        .iter()
        .map(|a| (a.key.clone(), a.name.clone()))
        .collect();
    let scopes: Vec<(String, String)> = ImpactScope::ALL
        .iter()
        .map(|s| (s.key().to_owned(), s.key().replace('_', " ")))
        .collect();
    let stages: Vec<(String, String)> = STAGE_FIELDS
        .iter()
        .map(|(k, l, _)| ((*k).to_owned(), (*l).to_owned()))
        .collect();
    let mb = |b: u64| b / (1024 * 1024);
    html! {
        form #case-form method="post" action="/support" enctype="multipart/form-data" novalidate {
            (forms::csrf(&v.csrf))
            fieldset {
                legend { "Before you send: the checklist" }
                p.hint { "Tick what you have confirmed. Unticked items are recorded as not confirmed; they do not stop the case." }
                @for (k, statement) in CHECKLIST_ITEMS {
                    @let name = format!("checklist.{k}");
                    label.check for=(forms::id_of(&name)) {
                        input type="checkbox" id=(forms::id_of(&name)) name=(name) value="true" checked[values.checked(&name)];
                        (statement)
                    }
                }
            }
            fieldset {
                legend { "The problem" }
                (field("subject", "Subject", Some("One line: what fails, where."), &val("subject"), Kind::Input("text"), true, errors))
                (field("description", "Description", Some("Error codes, log lines, what you expected and what happened."), &val("description"), Kind::Area, true, errors))
                (field("issue_area", "Issue area", None, &val("issue_area"), Kind::Select(&areas), true, errors))
                details {
                    summary { "What the issue areas cover" }
                    dl.facts { @for a in &data.areas { dt { (a.name) } dd { (a.description) } } }
                }
                section #suggestions-region aria-labelledby="suggestions-h" {
                    h2 #suggestions-h { "Recommended solutions" }
                    div #suggestions .suggestions aria-live="polite" {
                        p.muted { "Suggestions appear here as you describe the problem." }
                    }
                }
                (field("steps_to_reproduce", "Steps to reproduce and what you tried", None, &val("steps_to_reproduce"), Kind::Area, false, errors))
                (field("priority", "Priority", Some("P1: production down · P2: production impaired · P3: normal · P4: a question"), &val("priority"), Kind::Select(&priorities), true, errors))
                (field("tenant", "Tenant impacted", None, &val("tenant"), Kind::Select(&tenants), true, errors))
                (field("scope", "Who is affected", None, &val("scope"), Kind::Select(&scopes), true, errors))
                (field("business_impact", "Business impact", None, &val("business_impact"), Kind::Area, false, errors))
            }
            fieldset {
                legend { "How to reach you" }
                (field("contact.email", "Case email", None, &val("contact.email"), Kind::Input("email"), true, errors))
                (field("contact.phone", "Phone", Some("With the country code, e.g. +49 30 1234567."), &val("contact.phone"), Kind::Input("tel"), true, errors))
                (field("contact.timezone", "Time zone", Some("A time zone name such as Europe/Berlin or America/New_York."), &val("contact.timezone"), Kind::Input("text"), true, errors))
                @if !data.teammates.is_empty() {
                    fieldset {
                        legend { "Team contacts (they receive every email of the case)" }
                        @for email in &data.teammates {
                            @let id = forms::id_of(&format!("team-{email}"));
                            label.check for=(id) {
                                input type="checkbox" id=(id) name="team_contacts" value=(email) checked[values.all("team_contacts").contains(email)];
                                (email)
                            }
                        }
                        @if let Some(e) = errors.of("team_contacts") { span.field-error { (e) } }
                    }
                }
            }
            fieldset {
                legend { "Rollout stage" }
                (field("stage", "Stage", Some("The stage decides which identifiers we need."), &val("stage"), Kind::Select(&stages), true, errors))
                p.hint #stage-first hidden { "Choose a stage above: its identifiers appear here." }
                @for (stage, label, ids) in STAGE_FIELDS {
                    fieldset data-stage=(stage) {
                        legend { (label) }
                        @if stage == "advanced" {
                            p.hint { "Give at least one of: " (ADVANCED_ANY_OF.join(", ").replace('_', " ")) "." }
                        }
                        @for (k, l) in ids.iter() {
                            @let name = format!("identifiers.{k}");
                            @let required = matches!(*k, "organization_id" | "application_key" | "client_purpose" | "error_message" | "occurred_at" | "environment" | "deployment_model" | "review_needed_by" | "product" | "availability");
                            @if *k == "redirect_uri" {
                                div #redirect-uri-field {
                                    (field(&name, l, Some("Required for interactive web clients: the exact URI registered."), &val(&name), Kind::Input("url"), false, errors))
                                }
                            } @else if *k == "client_purpose" {
                                (field(&name, l, None, &val(&name), Kind::Select(&choices(&CLIENT_PURPOSES)), required, errors))
                            } @else if *k == "environment" {
                                (field(&name, l, None, &val(&name), Kind::Select(&choices(&ENVIRONMENTS)), required, errors))
                            } @else if *k == "deployment_model" {
                                (field(&name, l, None, &val(&name), Kind::Select(&choices(&DEPLOYMENT_MODELS)), required, errors))
                            } @else if *k == "availability" {
                                (field(&name, l, None, &val(&name), Kind::Select(&choices(&AVAILABILITIES)), required, errors))
                            } @else if *k == "occurred_at" {
                                (field(&name, l, Some("In your time zone above."), &val(&name), Kind::Input("datetime-local"), required, errors))
                            } @else if *k == "review_needed_by" {
                                (field(&name, l, None, &val(&name), Kind::Input("date"), required, errors))
                            } @else {
                                (field(&name, l, None, &val(&name), Kind::Input("text"), required, errors))
                            }
                        }
                    }
                }
            }
            details open[CONTEXT_FIELDS.iter().any(|(k, _)| !values.get(&format!("context.{k}")).is_empty())] {
                summary { "Context that speeds things up (optional)" }
                @for (k, prompt) in CONTEXT_FIELDS {
                    @let name = format!("context.{k}");
                    @if let Some(list) = context_choices(k) {
                        (field(&name, prompt, None, &val(&name), Kind::Select(&choices(list)), false, errors))
                    } @else {
                        (field(&name, prompt, None, &val(&name), Kind::Input("text"), false, errors))
                    }
                }
            }
            fieldset {
                legend { "Attachments" }
                label for="files" { "Files" span.hint { "Up to 10 files, " (mb(limits.max_file_bytes)) " MB each; a HAR capture (.har) up to " (mb(limits.max_har_bytes)) " MB. Captures are scrubbed of cookies, tokens and passwords before anything is stored." } }
                input #files type="file" name="file" multiple data-max=(limits.max_file_bytes) data-max-har=(limits.max_har_bytes)
                    aria-describedby=(if errors.of("files").is_some() { "files-sizes files-error" } else { "files-sizes" }) aria-invalid=[errors.of("files").map(|_| "true")];
                ul #files-sizes .filelist aria-live="polite" {}
                @if let Some(e) = errors.of("files") { span.field-error #files-error { (forms::message_words(e)) } }
            }
            button type="submit" { "Open the case" }
        }
    }
}

/// The case JSON from the form: only what was filled in, and only the identifiers of the
/// chosen stage (a form that hides the others may still send them).
fn case_json(f: &Fields) -> Value {
    let mut v = Map::new();
    for k in [
        "priority",
        "subject",
        "description",
        "steps_to_reproduce",
        "tenant",
        "issue_area",
        "scope",
        "business_impact",
        "stage",
    ] {
        if let Some(x) = f.opt(k) {
            v.insert(k.into(), json!(x));
        }
    }
    let tz = f.opt("contact.timezone");
    let mut contact = Map::new();
    for k in ["email", "phone", "timezone"] {
        if let Some(x) = f.opt(&format!("contact.{k}")) {
            contact.insert(k.into(), json!(x));
        }
    }
    v.insert("contact".into(), Value::Object(contact));
    let team: Vec<String> = f.all("team_contacts");
    if !team.is_empty() {
        v.insert("team_contacts".into(), json!(team));
    }
    let stage = f.get("stage");
    let mut ids = Map::new();
    if let Some((_, _, fields)) = STAGE_FIELDS.iter().find(|(s, _, _)| *s == stage) {
        for (k, _) in fields.iter() {
            if let Some(x) = f.opt(&format!("identifiers.{k}")) {
                let x = if *k == "occurred_at" {
                    local_time(&x, tz.as_deref())
                } else {
                    x
                };
                ids.insert((*k).into(), json!(x));
            }
        }
        v.insert("identifiers".into(), Value::Object(ids));
    }
    let mut context = Map::new();
    for (k, _) in CONTEXT_FIELDS {
        if let Some(x) = f.opt(&format!("context.{k}")) {
            context.insert(k.into(), json!(x));
        }
    }
    if !context.is_empty() {
        v.insert("context".into(), Value::Object(context));
    }
    let checklist: Map<String, Value> = CHECKLIST_ITEMS
        .iter()
        .map(|(k, _)| ((*k).to_owned(), json!(f.checked(&format!("checklist.{k}")))))
        .collect();
    v.insert("checklist".into(), Value::Object(checklist));
    Value::Object(v)
}

/// A browser's local date and time (`2026-11-20T14:03`) in the requester's time zone, as
/// RFC 3339; anything else is passed on for intake to judge.
fn local_time(raw: &str, tz: Option<&str>) -> String {
    if raw.parse::<jiff::Timestamp>().is_ok() {
        return raw.to_owned();
    }
    let Ok(civil) = raw.parse::<jiff::civil::DateTime>() else {
        return raw.to_owned();
    };
    let zone = tz
        .and_then(|t| jiff::tz::TimeZone::get(t).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    civil
        .to_zoned(zone)
        .map(|z| z.timestamp().to_string())
        .unwrap_or_else(|_| raw.to_owned())
}

/// `POST /support`: opens the case, or shows the form again with every error at its field.
pub async fn submit(
    State(st): State<AppState>,
    v: Viewer,
    headers: HeaderMap,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    if let Some(r) = super::page::cross_site(&v, &headers) {
        return r;
    }
    let form = match read_form(mp, &st.attachments, Parts::Web).await {
        Ok(f) => f,
        Err(e) => return upload_refused(&st, &v, e).await,
    };
    let fields = Fields(form.texts);
    if let Some(r) = super::page::form_allowed(&v, &headers, &fields) {
        return r;
    }
    let data = match form_data(&st, &v).await {
        Ok(d) => d,
        Err(e) => return failure(Some(&v), e),
    };
    let value = case_json(&fields);
    // The case is checked before any file is stored, so a refused form stores nothing.
    let account = v.p.user.account_id.unwrap_or_default();
    if let Err(e) = service::check_intake(st.store.as_ref(), account, &value).await {
        return refused_form(&st, &v, &data, &fields, files_not_kept(e, &form.files)).await;
    }
    let prepared = if form.files.is_empty() {
        Vec::new()
    } else {
        match prepare_all(&st, &v.p, account, form.files, true).await {
            Ok(p) => p,
            Err(e) => return refused_api(&st, &v, &data, &fields, e).await,
        }
    };
    let created = service::create_case(st.store.as_ref(), &v.p, &value, None, st.composer()).await;
    let case = match created {
        Ok((case, ..)) => case,
        Err(e) => return refused_form(&st, &v, &data, &fields, e).await,
    };
    if !prepared.is_empty()
        && let Err(e) =
            casedesk_core::service::attach(st.store.as_ref(), &v.p, case.number, &prepared, true)
                .await
    {
        return failure(Some(&v), e);
    }
    redirect(&format!("/cases/{}/created", case.number))
}

/// A browser cannot refill a file field, so a form sent back for other reasons says which
/// files were not kept instead of dropping them without a word.
fn files_not_kept(e: DomainError, files: &[casedesk_core::attachments::Upload]) -> DomainError {
    match e {
        DomainError::Validation(mut errs) if !files.is_empty() => {
            let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
            errs.push(casedesk_core::FieldError::new(
                "files",
                format!(
                    "{} not kept, because the form needs changes first; choose the file(s) again before you send",
                    names.join(", ")
                ),
            ));
            DomainError::Validation(errs)
        }
        e => e,
    }
}

async fn refused_form(
    st: &AppState,
    v: &Viewer,
    data: &FormData,
    fields: &Fields,
    e: DomainError,
) -> Response {
    match e {
        DomainError::Validation(errs) => {
            support_page(
                st,
                v,
                data,
                fields,
                &Errors(errs),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        e => failure(Some(v), e),
    }
}

/// A refused upload names its file at the attachments field.
async fn refused_api(
    st: &AppState,
    v: &Viewer,
    data: &FormData,
    fields: &Fields,
    e: ApiError,
) -> Response {
    let message = match super::page::upload_problem(e) {
        Ok(m) => m,
        Err(e) => return failure(Some(v), e),
    };
    let errs = Errors(vec![casedesk_core::FieldError::new("files", message)]);
    support_page(st, v, data, fields, &errs, StatusCode::UNPROCESSABLE_ENTITY).await
}

async fn upload_refused(st: &AppState, v: &Viewer, e: ApiError) -> Response {
    let mut res = match form_data(st, v).await {
        Ok(data) => refused_api(st, v, &data, &Fields::default(), e).await,
        Err(e) => failure(Some(v), e),
    };
    crate::error::unread_body(&mut res);
    res
}

/// The words of a suggestion question.
#[derive(Deserialize)]
pub struct Ask {
    subject: Option<String>,
    description: Option<String>,
    issue_area: Option<String>,
}

/// `GET /support/suggest`: the suggestions for what was typed so far, as a fragment.
pub async fn suggest(
    State(st): State<AppState>,
    MaybeViewer(v): MaybeViewer,
    Query(q): Query<Ask>,
) -> Response {
    let subject = q.subject.unwrap_or_default();
    let description = q.description.unwrap_or_default();
    let area = q.issue_area.filter(|a| !a.is_empty());
    let fragment = |m: Markup| respond(StatusCode::OK, m);
    if subject.trim().len() + description.trim().len() < 3 {
        return fragment(
            html! { p.muted { "Suggestions appear here as you describe the problem." } },
        );
    }
    let mut ask = json!({"subject": subject.chars().take(300).collect::<String>(), "description": description.chars().take(4000).collect::<String>()});
    if let Some(a) = &area {
        ask["issue_area"] = json!(a);
    }
    let p = v.as_ref().map(|v| &v.p);
    let (hits, outage) = match search::question(st.store.as_ref(), &ask).await {
        Ok(q) => (
            search::suggest(st.store.as_ref(), st.kb_index.as_ref(), p, &q).await,
            search::outage_like(&q),
        ),
        Err(e) => (Err(e), false),
    };
    let hits = match hits {
        Ok(h) => h,
        Err(e) => {
            // Half-typed words may not make a question yet; anything else is worth a log line.
            if !matches!(e, DomainError::Validation(_)) {
                tracing::warn!(error = %e, "suggestions failed");
            }
            return fragment(html! { p.muted { "No suggestions for this yet." } });
        }
    };
    let strong = search::strong_match(&hits);
    fragment(html! {
        @if outage {
            p.notice.warn { "This reads like an outage. " a href="/status" { "Check the status page" } " for an incident in your region first; if there is none, open the case as P1 if production is down." }
        }
        @if hits.is_empty() {
            p.muted { "No article matches yet. Keep describing the problem, or open the case." }
        } @else {
            @if !strong {
                p.muted #no-strong-match { "No strong match: these entries share only a few words with your description. Open the case if none of them fits." }
            }
            ul {
                @for h in &hits {
                    li {
                        a href=(format!("/kb/{}", h.id)) target="_blank" { (h.title) }
                        " " span.badge { (h.kind.key()) }
                        p.muted { (h.summary) }
                        // The suggestions sit inside the case form, where a form of their own
                        // would be dropped by the parser (and its fields join the case): the
                        // button posts the case form's own subject, description, issue area
                        // and CSRF token to "this solved it", without its checks.
                        @if v.is_some() {
                            button.secondary type="submit" name="entry_id" value=(h.id)
                                formaction="/support/solved" formmethod="post"
                                formenctype="application/x-www-form-urlencoded" formnovalidate {
                                "This solved it"
                            }
                        }
                    }
                }
            }
        }
    })
}

/// `POST /support/solved`: "this solved it" is recorded; no case is opened.
pub async fn solved(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let mut ask = json!({"entry_id": f.get("entry_id"), "subject": f.get("subject"), "description": f.get("description")});
    if let Some(a) = f.opt("issue_area") {
        ask["issue_area"] = json!(a);
    }
    match search::record_deflection(st.store.as_ref(), &v.p, &ask).await {
        Ok(d) => respond(
            StatusCode::OK,
            layout(
                Some(&v),
                "Glad that helped",
                "support",
                html! {
                    div.notice.ok role="status" { p { "We noted that " a href=(format!("/kb/{}", d.entry_id)) { "the article" } " solved it. No case was opened." } }
                    p { a href="/support" { "Something else? Get support" } }
                },
            ),
        ),
        Err(e) => failure(Some(&v), e),
    }
}

/// `GET /kb`: the knowledge base the viewer may read, searchable.
pub async fn kb_list(
    State(st): State<AppState>,
    MaybeViewer(v): MaybeViewer,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let p = v.as_ref().map(|v| &v.p);
    let words = q.get("q").map(|s| s.trim().to_owned()).unwrap_or_default();
    let area = q
        .get("area")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let areas = match st.store.issue_areas().await {
        Ok(a) => a,
        Err(e) => return failure(v.as_ref(), e),
    };
    // An area that is not one of ours is not a page: the address never becomes a heading.
    if let Some(a) = &area
        && !areas.iter().any(|x| x.key == *a)
    {
        return failure(
            v.as_ref(),
            DomainError::NotFound {
                entity: "issue area",
            },
        );
    }
    let name_of = |key: &str| {
        areas
            .iter()
            .find(|a| a.key == key)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| key.replace('-', " "))
    };
    let body = if words.is_empty() {
        match kb::list(st.store.as_ref(), p).await {
            Ok(list) => {
                let published: Vec<_> = list
                    .iter()
                    .filter(|e| e.entry.state == kb::EntryState::Published)
                    .collect();
                let item = |e: &&kb::StoredEntry| {
                    html! {
                        li { a href=(format!("/kb/{}", e.entry.id)) { (e.entry.title) } " " span.badge { (e.entry.kind.key()) } br; span.muted { (e.entry.summary) } }
                    }
                };
                html! {
                    nav aria-label="Issue areas" {
                        ul.tabs {
                            li { a href="/kb" aria-current=[area.is_none().then_some("page")] { "All areas" } }
                            @for a in &areas {
                                li { a href=(format!("/kb?area={}", a.key)) aria-current=[(area.as_deref() == Some(a.key.as_str())).then_some("page")] { (a.name) } }
                            }
                        }
                    }
                    @if let Some(key) = &area {
                        @let inside: Vec<_> = published.iter().filter(|e| e.entry.issue_areas.contains(key)).collect();
                        h2 { (name_of(key)) }
                        @if inside.is_empty() { p { "No article in this area yet." } }
                        ul { @for e in &inside { (item(e)) } }
                        (still_stuck(Some(key)))
                    } @else {
                        @for a in &areas {
                            @let inside: Vec<_> = published.iter().filter(|e| e.entry.issue_areas.contains(&a.key)).collect();
                            @if !inside.is_empty() {
                                section aria-labelledby=(format!("area-{}", a.key)) {
                                    h2 id=(format!("area-{}", a.key)) { (a.name) }
                                    p.muted { (a.description) }
                                    ul { @for e in inside.iter().take(5) { (item(e)) } }
                                    @if inside.len() > 5 { p { a href=(format!("/kb?area={}", a.key)) { "All " (inside.len()) " in " (a.name) } } }
                                }
                            }
                        }
                        @let general: Vec<_> = published.iter().filter(|e| e.entry.issue_areas.is_empty()).collect();
                        @if !general.is_empty() {
                            section aria-labelledby="area-general" {
                                h2 #area-general { "General" }
                                ul { @for e in &general { (item(e)) } }
                            }
                        }
                    }
                }
            }
            Err(e) => return failure(v.as_ref(), e),
        }
    } else {
        let ask = json!({"subject": words.chars().take(300).collect::<String>()});
        let hits = match search::question(st.store.as_ref(), &ask).await {
            Ok(q) => search::suggest(st.store.as_ref(), st.kb_index.as_ref(), p, &q).await,
            Err(e) => Err(e),
        };
        match hits {
            Ok(h) if h.is_empty() => html! { p { "Nothing matches these words." } },
            Ok(h) => {
                html! { ul { @for e in &h { li { a href=(format!("/kb/{}", e.id)) { (e.title) } br; span.muted { (e.summary) } } } } }
            }
            Err(e) => return failure(v.as_ref(), e),
        }
    };
    respond(
        StatusCode::OK,
        layout(
            v.as_ref(),
            "Knowledge base",
            "kb",
            html! {
                form.filters method="get" action="/kb" role="search" {
                    div { label for="kb-q" { "Search the knowledge base" } input #kb-q type="search" name="q" value=(words); }
                    button type="submit" { "Search" }
                }
                (body)
            },
        ),
    )
}

/// "Still stuck?": the way from an article to a case, the form opened on its issue area.
fn still_stuck(area: Option<&str>) -> Markup {
    let href = match area {
        Some(a) => format!(
            "/support?issue_area={}",
            url::form_urlencoded::byte_serialize(a.as_bytes()).collect::<String>()
        ),
        None => "/support".to_owned(),
    };
    html! {
        div.panel.still-stuck {
            p { strong { "Still stuck?" } " " a href=(href) { "Open a case" } " and we pick it up from here; the form starts in this issue area." }
        }
    }
}

/// `GET /kb/{id}`: one entry.
pub async fn kb_entry(
    State(st): State<AppState>,
    MaybeViewer(v): MaybeViewer,
    Path(id): Path<String>,
) -> Response {
    let e = match kb::get(st.store.as_ref(), v.as_ref().map(|v| &v.p), &id).await {
        Ok(e) => e,
        Err(e) => return failure(v.as_ref(), e),
    };
    let t = &e.entry;
    respond(
        StatusCode::OK,
        layout(
            v.as_ref(),
            &t.title,
            "kb",
            html! {
                p.lead { (t.summary) }
                p.muted { span.badge { (t.kind.key()) } " Updated " (super::page::when(e.updated_at)) " · version " (e.version) }
                div.article { (super::markdown::render(&t.body)) }
                @if let Some(u) = &t.url { p { a href=(u) rel="noopener noreferrer" { "Read the full page" } } }
                @if !t.issue_areas.is_empty() {
                    p { "Filed under: "
                        @for (i, a) in t.issue_areas.iter().enumerate() { @if i > 0 { ", " } a href=(format!("/kb?area={a}")) { (a.replace('-', " ")) } } }
                }
                (still_stuck(t.issue_areas.first().map(String::as_str)))
                p { a href="/kb" { "All articles" } }
            },
        ),
    )
}

/// `GET /status`: service status per region and component, open incidents, recent history.
pub async fn status(State(st): State<AppState>, MaybeViewer(v): MaybeViewer) -> Response {
    let page = match casedesk_core::status::page(st.store.as_ref(), &st.status, true).await {
        Ok(p) => p,
        Err(e) => return failure(v.as_ref(), e),
    };
    let empty = Vec::new();
    let regions = page["regions"].as_array().unwrap_or(&empty);
    let open = page["incidents"].as_array().unwrap_or(&empty);
    let resolved = page["resolved"].as_array().unwrap_or(&empty);
    let word = |s: &Value| s.as_str().unwrap_or("").replace('_', " ");
    let subscription = match &v {
        Some(viewer) => {
            match casedesk_core::status::my_subscription(st.store.as_ref(), &viewer.p).await {
                Ok(s) => s,
                Err(e) => return failure(v.as_ref(), e),
            }
        }
        None => None,
    };
    respond(
        StatusCode::OK,
        layout(
            v.as_ref(),
            "Service status",
            "status",
            html! {
                @let overall = page["state"].as_str().unwrap_or("operational");
                @let (overall_word, overall_class, _) = super::page::state_words(overall);
                div class=(format!("status-banner {overall_class}")) role="status" {
                    p { strong { (if overall == "operational" { "All systems operational".to_owned() } else { format!("{overall_word} in some regions") }) } }
                    p.muted { "Updated " (super::page::when(casedesk_core::now())) }
                }
                section aria-labelledby="open-h" {
                    h2 #open-h { "Open incidents" }
                    @if open.is_empty() { p { "No open incidents." } }
                    @for i in open { (super::page::incident_card(i)) }
                }
                section aria-labelledby="grid-h" {
                    h2 #grid-h { "Components by region" }
                    @let components = regions.first().and_then(|r| r["components"].as_array()).cloned().unwrap_or_default();
                    div.table-wrap tabindex="0" role="region" aria-label="Components by region" {
                        table.status-grid {
                            thead { tr { th scope="col" { "Component" } @for r in regions { th scope="col" { (word(&r["key"])) " " (super::page::state_badge(r["state"].as_str().unwrap_or(""))) } } } }
                            tbody {
                                @for (k, c) in components.iter().enumerate() {
                                    tr {
                                        th scope="row" { (c["name"].as_str().unwrap_or("")) }
                                        @for r in regions {
                                            @let state = r["components"][k]["state"].as_str().unwrap_or("");
                                            td { (super::page::state_badge(state)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                section.panel aria-labelledby="subscribe-h" {
                    h2 #subscribe-h { "Email me about incidents" }
                    @if let Some(v) = &v {
                        @if let Some(sub) = &subscription {
                            p { "You receive incident updates at " (sub.email) " for "
                                (if sub.regions.is_empty() { "every region".to_owned() } else { sub.regions.join(", ") }) "." }
                        }
                        form method="post" action="/status/subscription" {
                            (forms::csrf(&v.csrf))
                            fieldset {
                                legend { "Regions (none ticked: every region)" }
                                @for r in &st.status.regions {
                                    label.check for=(format!("sub-{r}")) {
                                        input id=(format!("sub-{r}")) type="checkbox" name="regions" value=(r)
                                            checked[subscription.as_ref().is_some_and(|s| s.regions.contains(r))];
                                        (r)
                                    }
                                }
                            }
                            button type="submit" name="do" value="subscribe" { @if subscription.is_some() { "Save" } @else { "Subscribe" } }
                            @if subscription.is_some() { button.secondary type="submit" name="do" value="unsubscribe" { "Unsubscribe" } }
                        }
                    } @else {
                        (anonymous_subscribe(&st.status.regions, &Fields::default(), &Errors::default(), None))
                    }
                }
                section aria-labelledby="resolved-h" {
                    h2 #resolved-h { "Recently resolved" }
                    @if resolved.is_empty() { p { "Nothing resolved recently." } }
                    @for i in resolved {
                        details.panel {
                            summary { (i["title"].as_str().unwrap_or("")) " · resolved "
                                @if let Some(t) = i["resolved_at"].as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()) { (super::page::when(t)) } }
                            (super::page::incident_card(i))
                        }
                    }
                }
            },
        ),
    )
}

/// The subscription form for people without an account: an address and regions; nothing is
/// sent to the address but the confirmation until its owner confirms.
fn anonymous_subscribe(
    regions: &[String],
    values: &Fields,
    errors: &Errors,
    flash: Option<&str>,
) -> Markup {
    let ticked = values.all("regions");
    html! {
        @if let Some(m) = flash { div.notice.ok role="status" { p { (m) } } }
        (forms::summary(errors))
        p { "No account needed. We send one message to confirm the address; updates start once you confirm, and every message has a link to stop them." }
        form method="post" action="/status/subscribe" {
            (field("email", "Email", None, values.get("email"), Kind::Input("email"), true, errors))
            fieldset {
                legend { "Regions (none ticked: every region)" }
                @for r in regions {
                    label.check for=(format!("anon-{r}")) {
                        input id=(format!("anon-{r}")) type="checkbox" name="regions" value=(r) checked[ticked.contains(r)];
                        (r)
                    }
                }
                @if let Some(e) = errors.of("regions") { span.field-error { (forms::message_words(e)) } }
            }
            button type="submit" { "Send me the confirmation" }
        }
    }
}

/// `POST /status/subscribe`: an address subscribes without an account. It gets one message
/// with a link to confirm; nothing else is sent to it until the link is used. The answer is
/// the same whether the address was new, waiting or already confirmed.
pub async fn subscribe_by_email(
    State(st): State<AppState>,
    MaybeViewer(v): MaybeViewer,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = Fields::parse(&body);
    let title = "Service status emails";
    let answer = |status: StatusCode, content: Markup| {
        respond(status, layout(v.as_ref(), title, "status", content))
    };
    if !crate::session::same_origin(&headers) {
        return answer(
            StatusCode::FORBIDDEN,
            html! { div.notice.bad role="alert" { p { "This form came from another site. Open the status page and try again." } } },
        );
    }
    if !st.mailer.enabled() {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            html! { div.notice.bad role="alert" { p { "This desk sends no email, so it cannot send status updates. The status page itself is always current." } } p { a href="/status" { "Back to the status page" } } },
        );
    }
    if !st
        .subscribe_limiter
        .allow_ip(crate::limits::client_key(peer.ip()))
    {
        return answer(
            StatusCode::TOO_MANY_REQUESTS,
            html! { div.notice.bad role="alert" { p { "Too many requests from your address; please wait a few minutes." } } },
        );
    }
    let ask = json!({"email": f.get("email"), "regions": f.all("regions")});
    let now = casedesk_core::now();
    let (sub, send) =
        match casedesk_core::status::request_by_email(st.store.as_ref(), &st.status, &ask, now)
            .await
        {
            Ok(r) => r,
            Err(DomainError::Validation(errs)) => {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    anonymous_subscribe(&st.status.regions, &f, &Errors(errs), None),
                );
            }
            Err(e) => return failure(v.as_ref(), e),
        };
    // A domain that had its share of confirmations this hour gets no more; the answer is
    // the same, so the form tells nothing.
    let send = send
        && st
            .subscribe_limiter
            .allow_domain(sub.email.rsplit('@').next().unwrap_or(""));
    let confirmation = if send {
        let key = st.secrets.derive(casedesk_core::status::LINK_KEY);
        let link = |path: &str, purpose: &str| {
            format!(
                "{}/status/{path}?s={}&t={}",
                st.mailer.base_url(),
                sub.id,
                casedesk_core::status::link_token(&key, purpose, sub.id)
            )
        };
        match st.mailer.status_confirmation(
            &sub.email,
            &link("confirm", casedesk_core::status::CONFIRM),
            &link("stop", casedesk_core::status::STOP),
        ) {
            Ok(m) => Some(m),
            Err(_) => {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    anonymous_subscribe(
                        &st.status.regions,
                        &f,
                        &Errors(vec![casedesk_core::FieldError::new(
                            "email",
                            "cannot be written to: check the address",
                        )]),
                        None,
                    ),
                );
            }
        }
    } else {
        None
    };
    // A confirmed address is left as it is; a waiting one takes the regions just given.
    if (send || sub.confirmed_at.is_none())
        && let Err(e) = st
            .store
            .put_email_subscriber(&sub, confirmation.as_ref())
            .await
    {
        return failure(v.as_ref(), e);
    }
    answer(
        StatusCode::OK,
        html! {
            div.notice.ok role="status" {
                p { strong { "Check your inbox." } " If " (sub.email) " can receive mail, a message with a confirmation link is on its way (at most one a day). Updates start once you confirm." }
            }
            p { a href="/status" { "Back to the status page" } }
        },
    )
}

/// The subscriber a link names, when its token is right.
async fn linked_subscriber(
    st: &AppState,
    q: &Fields,
    purpose: &str,
) -> Option<casedesk_core::status::EmailSubscriber> {
    let id = uuid::Uuid::parse_str(q.get("s")).ok()?;
    let key = st.secrets.derive(casedesk_core::status::LINK_KEY);
    if !casedesk_core::status::link_ok(&key, purpose, id, q.get("t")) {
        return None;
    }
    st.store.get_email_subscriber(id).await.ok().flatten()
}

fn query_fields(q: &std::collections::HashMap<String, String>) -> Fields {
    Fields(q.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// `GET /status/{confirm|stop}?s=…&t=…`: asks before acting, because mail scanners open links
/// on their own; the button posts the same link.
pub async fn subscriber_link(
    State(st): State<AppState>,
    MaybeViewer(v): MaybeViewer,
    Path(what): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let purpose = match what.as_str() {
        "confirm" => casedesk_core::status::CONFIRM,
        "stop" => casedesk_core::status::STOP,
        _ => return failure(v.as_ref(), DomainError::NotFound { entity: "page" }),
    };
    let f = query_fields(&q);
    let Some(sub) = linked_subscriber(&st, &f, purpose).await else {
        return link_unknown(v.as_ref());
    };
    let (question, button) = if purpose == casedesk_core::status::CONFIRM {
        (
            format!("Send service status emails to {}?", sub.email),
            "Yes, send them",
        )
    } else {
        (
            format!("Stop service status emails to {}?", sub.email),
            "Stop them",
        )
    };
    respond(
        StatusCode::OK,
        layout(
            v.as_ref(),
            "Service status emails",
            "status",
            html! {
                p { (question) }
                form method="post" action=(format!("/status/{what}")) {
                    input type="hidden" name="s" value=(f.get("s"));
                    input type="hidden" name="t" value=(f.get("t"));
                    button type="submit" { (button) }
                }
            },
        ),
    )
}

fn link_unknown(v: Option<&Viewer>) -> Response {
    respond(
        StatusCode::NOT_FOUND,
        layout(
            v,
            "Service status emails",
            "status",
            html! {
                div.notice.bad role="alert" { p { "This link is not valid, or the address was already removed. You can subscribe again on the status page." } }
                p { a href="/status" { "The status page" } }
            },
        ),
    )
}

/// `POST /status/{confirm|stop}`: confirms an address or removes it. Mail programs that offer
/// one-click unsubscribe post the stop link with its query.
pub async fn subscriber_act(
    State(st): State<AppState>,
    MaybeViewer(v): MaybeViewer,
    Path(what): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let mut f = Fields::parse(&body);
    if f.get("s").is_empty() {
        f = query_fields(&q);
    }
    let purpose = match what.as_str() {
        "confirm" => casedesk_core::status::CONFIRM,
        "stop" => casedesk_core::status::STOP,
        _ => return failure(v.as_ref(), DomainError::NotFound { entity: "page" }),
    };
    let Some(sub) = linked_subscriber(&st, &f, purpose).await else {
        return link_unknown(v.as_ref());
    };
    let done = if purpose == casedesk_core::status::CONFIRM {
        st.store.confirm_email_subscriber(sub.id, casedesk_core::now()).await.map(|_| {
            format!("Confirmed: {} receives service status emails from now on. Every message has a link to stop them.", sub.email)
        })
    } else {
        st.store
            .delete_email_subscriber(sub.id)
            .await
            .map(|_| format!("Done: {} gets no more service status emails.", sub.email))
    };
    match done {
        Ok(m) => respond(
            StatusCode::OK,
            layout(
                v.as_ref(),
                "Service status emails",
                "status",
                html! {
                    div.notice.ok role="status" { p { (m) } }
                    p { a href="/status" { "The status page" } }
                },
            ),
        ),
        Err(e) => failure(v.as_ref(), e),
    }
}

/// `POST /status/subscription`: subscribes to incident emails, or ends the subscription.
pub async fn subscribe(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let done = if f.get("do") == "unsubscribe" {
        casedesk_core::status::unsubscribe(st.store.as_ref(), &v.p).await
    } else {
        casedesk_core::status::subscribe(
            st.store.as_ref(),
            &st.status,
            &v.p,
            &json!({"regions": f.all("regions")}),
        )
        .await
        .map(|_| ())
    };
    match done {
        Ok(()) => redirect("/status#subscribe-h"),
        Err(e) => failure(Some(&v), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_chosen_stage_s_identifiers_are_sent() {
        let f = Fields(vec![
            ("stage".into(), "production".into()),
            ("identifiers.environment".into(), "prod".into()),
            ("identifiers.organization_id".into(), "org_1".into()),
            ("checklist.jwks_validation".into(), "true".into()),
            ("context.frequency".into(), "".into()),
        ]);
        let v = case_json(&f);
        assert_eq!(v["identifiers"], json!({"environment": "prod"}));
        assert_eq!(v["checklist"]["jwks_validation"], json!(true));
        assert_eq!(v["checklist"]["tenant_registered"], json!(false));
        assert!(v.get("context").is_none());
    }

    #[test]
    fn a_local_time_is_read_in_the_requester_s_zone() {
        assert_eq!(
            local_time("2026-11-20T14:03", Some("Europe/Berlin")),
            "2026-11-20T13:03:00Z"
        );
        assert_eq!(local_time("2026-11-20T14:03", None), "2026-11-20T14:03:00Z");
        assert_eq!(local_time("yesterday", None), "yesterday");
    }
}
