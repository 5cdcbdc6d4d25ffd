//! Pages around the case: the support routes with the checks before opening a case, and the
//! Trust Center (documents, the NDA, downloads).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use casedesk_core::routes::{self, Affected};
use casedesk_core::users::Role;
use casedesk_core::{DomainError, trust};
use maud::{Markup, html};
use serde_json::Value;

use super::forms::{self, Errors, Fields, Kind, field};
use super::page::{Posted, failure, layout, redirect, respond, when};
use crate::AppState;
use crate::session::{MaybeViewer, Viewer};

fn affected_of(s: Option<&String>) -> Option<Affected> {
    match s.map(String::as_str) {
        Some("all") => Some(Affected::All),
        Some("some") => Some(Affected::Some),
        Some("one") => Some(Affected::One),
        _ => None,
    }
}

fn key_of(a: Affected) -> &'static str {
    match a {
        Affected::All => "all",
        Affected::Some => "some",
        Affected::One => "one",
    }
}

/// The first question of the checks, as a small form (also at the top of Get support).
pub fn first_question(chosen: Option<Affected>) -> Markup {
    html! {
        form.inline method="get" action="/support/routes#checks" {
            fieldset {
                legend { "Is it all users or a few?" }
                @for (k, label) in [("all", "All users"), ("some", "Some users"), ("one", "One user")] {
                    label.check { input type="radio" name="affected" value=(k) required checked[chosen.map(key_of) == Some(k)]; (label) }
                }
            }
            button.secondary type="submit" { "Show the checks" }
        }
    }
}

/// `GET /support/routes`: which channel fits, the rollout paths, the checklist and the checks.
pub async fn routes_page(
    State(st): State<AppState>,
    MaybeViewer(v): MaybeViewer,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let account = match v.as_ref().and_then(|v| v.p.user.account_id) {
        Some(a) => match st.store.find_account(&a.to_string()).await {
            Ok(a) => a,
            Err(e) => return failure(v.as_ref(), e),
        },
        None => None,
    };
    let page = routes::page(account.as_ref());
    let affected = affected_of(q.get("affected"));
    respond(
        StatusCode::OK,
        layout(
            v.as_ref(),
            "Where to get help",
            "routes",
            body(v.as_ref(), &page, affected, None),
        ),
    )
}

fn body(
    v: Option<&Viewer>,
    page: &Value,
    affected: Option<Affected>,
    flash: Option<&str>,
) -> Markup {
    let arr = |k: &str| page[k].as_array().cloned().unwrap_or_default();
    let text = |x: &Value, k: &str| x[k].as_str().unwrap_or("").to_owned();
    let signed_in_customer = v.is_some_and(|v| v.p.user.role.is_customer());
    html! {
        @if let Some(m) = flash { div.notice.ok role="status" { p { (m) } } }
        @if let Some(a) = page["account"].as_str() {
            p.lead { "For " (a) " on the " (page["plan"]["key"].as_str().unwrap_or("")) " plan: where each kind of question gets the fastest answer." }
        } @else {
            p.lead { "Where each kind of question gets the fastest answer. " a href="/auth/login?return_to=%2Fsupport%2Froutes" { "Sign in" } " to see your plan and your customer success manager." }
        }
        section aria-labelledby="channels-h" {
            h2 #channels-h { "Choose the right channel" }
            ul.cards {
                @for c in arr("channels") {
                    li.panel {
                        h3 { (text(&c, "title")) @if c["sla"] == true { " " span.badge { "SLA applies" } } }
                        p { (text(&c, "when")) }
                        @if c["key"] == "csm" {
                            @if let Some(e) = c["contact"]["email"].as_str() {
                                p { "Your customer success manager: " strong { (c["contact"]["name"].as_str().unwrap_or(e)) } " · " a href=(format!("mailto:{e}")) { (e) } }
                            } @else if page["signed_in"] == true {
                                p.muted { "Your account has no customer success manager named yet; open a case and we will route you." }
                            }
                        } @else if let Some(l) = c["link"].as_str() {
                            p { a href=(l) { "Go" } }
                        }
                    }
                }
            }
            p.notice { (text(page, "sla_note")) }
        }
        section aria-labelledby="paths-h" {
            h2 #paths-h { "Which rollout path fits" }
            @for pth in arr("paths") {
                details.panel {
                    summary { (text(&pth, "title")) }
                    p { (text(&pth, "description")) }
                    p { "What the case needs:" }
                    ul {
                        @for n in pth["needs"].as_array().cloned().unwrap_or_default() {
                            li { (text(&n, "label")) " · " (match n["need"].as_str() { Some("required") => "required", Some("when_interactive_web") => "required for interactive web clients", _ => "at least one of these" }) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="checklist-h" {
            h2 #checklist-h { "The checklist" }
            p { "The case form asks you to confirm each of these; confirming them first often finds the cause." }
            ul { @for c in arr("checklist") { li { (text(&c, "statement")) } } }
        }
        section #checks aria-labelledby="checks-h" {
            h2 #checks-h { "Checks before opening a case" }
            (first_question(affected))
            @if let Some(a) = affected {
                @let action = if signed_in_customer { "post" } else { "get" };
                @let target = if signed_in_customer { "/support/checks" } else { "/support" };
                form method=(action) action=(target) {
                    @if let Some(v) = v.filter(|_| signed_in_customer) { (forms::csrf(&v.csrf)) }
                    input type="hidden" name="affected" value=(key_of(a));
                    @if !signed_in_customer { input type="hidden" name="scope" value=(match a { Affected::All => "all_users", Affected::Some => "some_users", Affected::One => "one_user" }); }
                    fieldset {
                        legend { (if a == Affected::All { "When every user is affected, the cause is usually shared. Check:" } else { "When a few users are affected, the cause is usually on their side. Check:" }) }
                        @for c in a.checks() {
                            div.check-item {
                                label.check { input type="checkbox" name="checked" value=(c.key); strong { (c.label) } }
                                p.hint { (c.help) }
                                @if c.key == "service_status" { p { a href="/status" { "Open the status page" } } }
                                @if signed_in_customer {
                                    button.secondary type="submit" name="fixed_by" value=(c.key) { "This fixed it" }
                                }
                            }
                        }
                    }
                    fieldset {
                        legend { "Does it happen every time?" }
                        label.check { input type="radio" name="frequency" value="every_time"; "Every time" }
                        label.check { input type="radio" name="frequency" value="intermittent"; "Now and then" }
                    }
                    fieldset {
                        legend { "In every browser?" }
                        label.check { input type="radio" name="browsers" value="all"; "All browsers" }
                        label.check { input type="radio" name="browsers" value="one"; "Only one" }
                    }
                    button type="submit" { "Still broken: open a case with these answers" }
                }
            }
        }
    }
}

/// `POST /support/checks`: "this fixed it" is recorded; otherwise the case form opens with
/// the answers filled in.
pub async fn checks(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let mut obj = serde_json::Map::new();
    for (k, x) in &f.0 {
        match k.as_str() {
            "affected" | "frequency" | "browsers" | "fixed_by" | "issue_area" => {
                obj.insert(k.clone(), Value::String(x.clone()));
            }
            "checked" => {
                let list = obj.entry("checked").or_insert_with(|| Value::Array(vec![]));
                if let Value::Array(a) = list {
                    a.push(Value::String(x.clone()));
                }
            }
            _ => {}
        }
    }
    let areas = match st.store.issue_areas().await {
        Ok(a) => a,
        Err(e) => return failure(Some(&v), e),
    };
    let answers = match routes::parse_answers(&Value::Object(obj), &areas) {
        Ok(a) => a,
        Err(e) => return failure(Some(&v), e),
    };
    if answers.fixed_by.is_none() {
        return redirect(&format!("/support?{}", routes::form_query(&answers)));
    }
    if let Err(e) = routes::record_fix(st.store.as_ref(), &v.p, &answers).await {
        return failure(Some(&v), e);
    }
    let account = match v.p.user.account_id {
        Some(a) => st.store.find_account(&a.to_string()).await.ok().flatten(),
        None => None,
    };
    let page = routes::page(account.as_ref());
    respond(
        StatusCode::OK,
        layout(
            Some(&v),
            "Where to get help",
            "routes",
            body(
                Some(&v),
                &page,
                None,
                Some(
                    "Good to hear it is fixed. We noted which check did it, so others find it sooner.",
                ),
            ),
        ),
    )
}

fn may_read_trust(v: &Viewer) -> Result<(), DomainError> {
    match v.p.user.role {
        Role::Manager => Ok(()),
        Role::SuperAdmin | Role::Admin if v.p.user.account_id.is_some() => Ok(()),
        _ => Err(DomainError::Forbidden(
            "The Trust Center is for customer administrators and support managers.".into(),
        )),
    }
}

/// `GET /trust`: the documents, the account's standing with the NDA, and (for a super admin
/// whose account has not accepted it) the agreement to accept.
pub async fn trust_page(State(st): State<AppState>, v: Viewer) -> Response {
    trust_view(
        &st,
        &v,
        &Errors::default(),
        &Fields::default(),
        None,
        StatusCode::OK,
    )
    .await
}

async fn trust_view(
    st: &AppState,
    v: &Viewer,
    errors: &Errors,
    values: &Fields,
    flash: Option<&str>,
    status: StatusCode,
) -> Response {
    if let Err(e) = may_read_trust(v) {
        return failure(Some(v), e);
    }
    let docs = match trust::list(st.store.as_ref(), &v.p).await {
        Ok(d) => d,
        Err(e) => return failure(Some(v), e),
    };
    let accepted = match trust::nda_accepted(st.store.as_ref(), &v.p).await {
        Ok(a) => a,
        Err(e) => return failure(Some(v), e),
    };
    let manager = v.p.user.role == Role::Manager;
    let open = |requires: bool| !requires || manager || accepted.is_some();
    let body = html! {
        @if let Some(m) = flash { div.notice.ok role="status" { p { (m) } } }
        (forms::summary(errors))
        p.lead { "Evidence for your security review: audit reports, penetration-test summaries and policies. Every download is recorded with who made it." }
        @if !manager {
            @if let Some(a) = &accepted {
                p.notice.ok { "Your account accepted the non-disclosure agreement (version " (a.version) ") on " (when(a.accepted_at)) ", by " (a.name) ", " (a.title) "." }
            } @else {
                div.notice.warn {
                    p { "Documents marked NDA open once a super admin of your account accepts the non-disclosure agreement (version " (trust::NDA_VERSION) ")." }
                }
                @if v.p.user.role == Role::SuperAdmin {
                    details.panel open {
                        summary { "Read and accept the agreement" }
                        pre.body { (trust::NDA_TEXT) }
                        form method="post" action="/trust/nda" {
                            (forms::csrf(&v.csrf))
                            (field("name", "Your full name", None, values.get("name"), Kind::Input("text"), true, errors))
                            (field("title", "Your job title", None, values.get("title"), Kind::Input("text"), true, errors))
                            label.check { input type="checkbox" name="accept" value="true" required; "I accept this agreement for my account" }
                            @if let Some(e) = errors.of("accept") { span.field-error { (e) } }
                            button type="submit" { "Accept the agreement" }
                        }
                    }
                }
            }
        }
        @if docs.is_empty() { p { "No documents are published yet." } }
        ul.cards {
            @for d in &docs {
                li.panel {
                    h2 { (d.title) @if d.requires_nda { " " span.badge { "NDA" } } }
                    p { (d.summary) }
                    p.muted { "Topics: " (d.topics.join(", ")) " · " (format!("{:.1} KB", d.size as f64 / 1024.0)) " · published " (when(d.published_at)) }
                    p.muted { "SHA-256 " code { (d.sha256) } }
                    @if open(d.requires_nda) {
                        p { a.button href=(format!("/trust/documents/{}", d.id)) { "Download " (d.file_name) } }
                    } @else {
                        p.muted { "Opens once your account has accepted the non-disclosure agreement." }
                    }
                }
            }
        }
    };
    respond(status, layout(Some(v), "Trust Center", "trust", body))
}

/// `POST /trust/nda`: a super admin accepts the NDA for the account.
pub async fn accept(State(st): State<AppState>, Posted { v, f }: Posted) -> Response {
    let body = serde_json::json!({
        "accept": f.checked("accept"),
        "name": f.get("name"),
        "title": f.get("title"),
    });
    match trust::accept_nda(st.store.as_ref(), &v.p, &body).await {
        Ok(_) => {
            trust_view(
                &st,
                &v,
                &Errors::default(),
                &Fields::default(),
                Some("The agreement is accepted for your account."),
                StatusCode::OK,
            )
            .await
        }
        Err(DomainError::Validation(errs)) => {
            trust_view(
                &st,
                &v,
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

/// `GET /trust/documents/{id}`: the download (audited), or the page saying what is missing.
pub async fn download(State(st): State<AppState>, v: Viewer, Path(raw): Path<String>) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(&raw) else {
        return failure(
            Some(&v),
            DomainError::NotFound {
                entity: "Trust Center document",
            },
        );
    };
    match trust::download(st.store.as_ref(), st.store.as_ref(), &v.p, id).await {
        Ok((doc, bytes)) => crate::requests::files::trust_file(&doc, bytes),
        Err(e) => failure(Some(&v), e),
    }
}

/// `GET /manage/trust`: publish a document, and the ones published.
pub async fn manage_trust(State(st): State<AppState>, v: Viewer) -> Response {
    manage_view(&st, &v, &Errors::default(), None, StatusCode::OK).await
}

async fn manage_view(
    st: &AppState,
    v: &Viewer,
    errors: &Errors,
    flash: Option<&str>,
    status: StatusCode,
) -> Response {
    if v.p.user.role != Role::Manager {
        return failure(
            Some(v),
            DomainError::Forbidden("Only support managers publish Trust Center documents.".into()),
        );
    }
    let (docs, areas) = match async {
        Ok::<_, DomainError>((
            trust::list(st.store.as_ref(), &v.p).await?,
            st.store.issue_areas().await?,
        ))
    }
    .await
    {
        Ok(x) => x,
        Err(e) => return failure(Some(v), e),
    };
    let body = html! {
        @if let Some(m) = flash { div.notice.ok role="status" { p { (m) } } }
        (forms::summary(errors))
        section.panel aria-labelledby="publish-h" {
            h2 #publish-h { "Publish a document" }
            form method="post" action="/manage/trust" enctype="multipart/form-data" {
                (forms::csrf(&v.csrf))
                (field("title", "Title", None, "", Kind::Input("text"), true, errors))
                (field("summary", "What it shows", None, "", Kind::Area, true, errors))
                label for="trust-file" { "File" span.hint { "A PDF or a plain-text document, at most " (trust::MAX_DOCUMENT_BYTES / (1024 * 1024)) " MB." } }
                input #trust-file type="file" name="file" required;
                @if let Some(e) = errors.of("file") { span.field-error { (e) } }
                fieldset {
                    legend { "Topics (the issue areas it answers)" }
                    @for a in &areas { label.check { input type="checkbox" name="topics" value=(a.key); (a.name) } }
                    @if let Some(e) = errors.of("topics") { span.field-error { (e) } }
                }
                input type="hidden" name="requires_nda" value="false";
                label.check { input type="checkbox" name="requires_nda" value="true"; "Only for accounts that accepted the NDA" }
                button type="submit" { "Publish" }
            }
        }
        h2 { "Published" }
        @if docs.is_empty() { p { "Nothing yet." } }
        div.table-wrap tabindex="0" role="region" aria-label="Published documents" { table {
            thead { tr { th scope="col" { "Title" } th scope="col" { "NDA" } th scope="col" { "Topics" } th scope="col" { "Published" } th scope="col" { "By" } } }
            tbody { @for d in &docs { tr {
                td { a href=(format!("/trust/documents/{}", d.id)) { (d.title) } }
                td { (if d.requires_nda { "yes" } else { "no" }) }
                td { (d.topics.join(", ")) }
                td { (when(d.published_at)) }
                td { (d.published_by) }
            } } }
        } }
    };
    respond(
        status,
        layout(Some(v), "Trust Center documents", "manage", body),
    )
}

/// `POST /manage/trust`: publishes the uploaded document.
pub async fn publish(
    State(st): State<AppState>,
    v: Viewer,
    headers: axum::http::HeaderMap,
    mp: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    if let Some(refused) = super::page::cross_site(&v, &headers) {
        return refused;
    }
    // The form sends requires_nda=false first and, when the box is ticked, true after it:
    // the last part wins.
    let (form, csrf) = match crate::requests::files::read_document_form(mp).await {
        Ok(x) => x,
        Err(crate::error::ApiError::Domain(DomainError::Validation(errs))) => {
            return manage_view(
                &st,
                &v,
                &Errors(errs),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(e) => {
            let words = match super::page::upload_problem(e) {
                Ok(w) => w,
                Err(e) => return failure(Some(&v), e),
            };
            return manage_view(
                &st,
                &v,
                &Errors(vec![casedesk_core::FieldError::new("file", words)]),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    if !casedesk_auth::tokens::same_secret(csrf.as_deref().unwrap_or(""), &v.csrf) {
        return failure(
            Some(&v),
            DomainError::Forbidden(
                "This form has expired or came from another site. Reload the page and try again."
                    .into(),
            ),
        );
    }
    match trust::publish(st.store.as_ref(), &v.p, form).await {
        Ok(d) => {
            manage_view(
                &st,
                &v,
                &Errors::default(),
                Some(&format!("Published \u{201c}{}\u{201d}.", d.title)),
                StatusCode::OK,
            )
            .await
        }
        Err(DomainError::Validation(errs)) => {
            manage_view(
                &st,
                &v,
                &Errors(errs),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => failure(Some(&v), e),
    }
}
