//! The web UI: server-rendered pages for customers (`portal`), support engineers
//! (`console`) and managers (`manage`, `reports`), over the same domain services as the JSON
//! API. Markup is built with maud (compiled into the binary, escaped by default); the one
//! stylesheet and the one script are served from `/assets/`, and every page works without
//! the script. Forms post back to the page's own routes with the session's CSRF token.

pub mod assets;
mod cases;
mod charts;
mod console;
mod forms;
mod manage;
mod markdown;
mod page;
mod portal;
mod reports;
mod support;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub use forms::Fields;
pub use page::{layout, respond};

/// The pages and their form posts.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
        .route("/", get(portal::home))
        .route("/support", get(portal::support).post(portal::submit))
        .route("/support/suggest", get(portal::suggest))
        .route("/support/solved", post(portal::solved))
        .route("/support/routes", get(support::routes_page))
        .route("/support/checks", post(support::checks))
        .route("/trust", get(support::trust_page))
        .route("/trust/nda", post(support::accept))
        .route("/trust/documents/{id}", get(support::download))
        .route(
            "/manage/trust",
            get(support::manage_trust)
                .post(support::publish)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/cases", get(cases::list))
        .route("/cases/{number}", get(cases::show))
        .route("/cases/{number}/created", get(cases::created))
        .route("/cases/{number}/act/{action}", post(cases::act))
        .route("/cases/{number}/incident", post(cases::link_incident))
        .route(
            "/cases/{number}/grants/{id}/revoke",
            post(cases::revoke_grant),
        )
        .route("/cases/{number}/satisfaction", post(cases::rate))
        .route(
            "/cases/{number}/files",
            post(cases::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/cases/{number}/files/{id}", get(cases::download))
        .route("/cases/{number}/diagnose/{tool}", post(cases::diagnose))
        .route("/kb", get(portal::kb_list))
        .route("/kb/{id}", get(portal::kb_entry))
        .route("/status", get(portal::status))
        .route("/status/subscription", post(portal::subscribe))
        .route("/status/subscribe", post(portal::subscribe_by_email))
        .route(
            "/status/{link}",
            get(portal::subscriber_link).post(portal::subscriber_act),
        )
        .route("/console", get(console::queue))
        .route("/console/held", get(console::held))
        .route("/console/assign", post(console::assign_many))
        .route("/console/held/{id}/{decision}", post(console::decide_held))
        .route("/manage", get(manage::index))
        .route(
            "/manage/users",
            get(manage::users).post(manage::create_user),
        )
        .route("/manage/users/access", post(manage::set_access))
        .route("/manage/users/role", post(manage::set_role))
        .route("/manage/users/active", post(manage::set_active))
        .route("/manage/users/invite", post(manage::invite_again))
        .route("/manage/accounts", get(manage::accounts))
        .route("/manage/accounts/{id}", post(manage::save_account))
        .route("/manage/sla", get(manage::sla).post(manage::put_policy))
        .route("/manage/sla/calendar", post(manage::put_calendar))
        .route("/manage/sla/settings", post(manage::put_settings))
        .route(
            "/manage/sla/account-calendar",
            post(manage::put_account_calendar),
        )
        .route("/manage/queues", get(manage::queues))
        .route(
            "/manage/replies",
            get(manage::replies).post(manage::save_reply),
        )
        .route("/manage/replies/delete", post(manage::delete_reply))
        .route("/manage/kb", get(manage::kb))
        .route(
            "/manage/kb/edit",
            get(manage::kb_edit).post(manage::kb_save),
        )
        .route(
            "/manage/incidents",
            get(manage::incidents).post(manage::open_incident),
        )
        .route("/manage/incidents/{id}", post(manage::update_incident))
        .route(
            "/manage/webhooks",
            get(manage::webhooks).post(manage::create_webhook),
        )
        .route(
            "/manage/webhooks/{id}",
            get(manage::webhook).post(manage::save_webhook),
        )
        .route(
            "/manage/webhooks/{id}/enabled",
            post(manage::enable_webhook),
        )
        .route("/manage/webhooks/{id}/rotate", post(manage::rotate_webhook))
        .route("/manage/webhooks/{id}/delete", post(manage::delete_webhook))
        .route("/manage/webhooks/{id}/redeliver", post(manage::redeliver))
        .route("/manage/jobs", get(manage::jobs))
        .route("/manage/jobs/{id}/retry", post(manage::retry_job))
        .route("/manage/audit", get(manage::audit))
        .route("/manage/reports", get(reports::page))
        .route("/manage/reports.csv", get(reports::csv))
        .layer(axum::middleware::from_fn(form_address_opened))
}

/// Whether a request comes from a browser that wants a page.
fn wants_page(uri: &axum::http::Uri, headers: &axum::http::HeaderMap) -> bool {
    !uri.path().starts_with("/api/")
        && headers
            .get(axum::http::header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// A form's address opened as a page (Enter in the address bar, a bookmark, the way back
/// after signing in again) leads to the page the form is on rather than to a bare 405.
async fn form_address_opened(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let opened = req.method() == axum::http::Method::GET && wants_page(req.uri(), req.headers());
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    if opened && res.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED {
        let parent = path
            .rsplit_once('/')
            .map(|(p, _)| p)
            .filter(|p| !p.is_empty())
            .unwrap_or("/");
        return page::redirect(parent);
    }
    res
}

/// An address that names nothing: a page for a browser (it asks for HTML and the address is
/// not the API's), problem+json for everyone else.
pub async fn fallback(
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    crate::session::MaybeViewer(v): crate::session::MaybeViewer,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if wants_page(&uri, &headers) {
        page::failure(
            v.as_ref(),
            casedesk_core::DomainError::NotFound { entity: "page" },
        )
    } else {
        crate::error::ApiError::Domain(casedesk_core::DomainError::NotFound { entity: "resource" })
            .into_response()
    }
}
