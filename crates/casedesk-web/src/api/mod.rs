//! `/api/v1/` routes, by feature area.

pub mod attachments;
pub mod audit;
pub mod body;
pub mod cases;
pub mod diagnostics;
pub mod dto;
pub mod extract;
pub mod identities;
pub mod jobs;
pub mod kb;
pub mod mail;
pub mod meta;
pub mod sla;
pub mod solutions;
pub mod status;
pub mod support;
pub mod tokens;
pub mod trust;
pub mod webhooks;

use axum::Router;
use axum::routing::{delete, get, patch, post, put};

use crate::AppState;

/// The routes under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/me", get(meta::me))
        .route("/intake", get(meta::intake))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route(
            "/users/{email}/identities",
            get(identities::list).post(identities::link),
        )
        .route(
            "/users/{email}/identities/{issuer}/{subject}",
            delete(identities::unlink),
        )
        .route("/sla/due", post(sla::due))
        .route("/sla/between", post(sla::between))
        .route("/sla/calendars", get(sla::calendars))
        .route(
            "/sla/calendars/{name}",
            get(sla::calendar).put(sla::put_calendar),
        )
        .route("/sla/policies", get(sla::policies))
        .route("/sla/policies/{plan}/{priority}", put(sla::put_policy))
        .route(
            "/sla/settings",
            get(sla::get_settings).put(sla::put_settings),
        )
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::get))
        .route("/jobs/{id}/retry", post(jobs::retry))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/webhooks/{id}/rotate-secret", post(webhooks::rotate))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route(
            "/webhooks/{id}/deliveries/{delivery}",
            get(webhooks::delivery),
        )
        .route(
            "/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/notices", get(webhooks::notices))
        .route("/audit", get(audit::export))
        .route(
            "/cases",
            post(cases::create_case)
                .layer(axum::extract::DefaultBodyLimit::disable())
                .get(cases::list_cases),
        )
        .route("/cases/{number}", get(cases::get_case))
        .route("/cases/{number}/events", get(cases::list_events))
        .route("/cases/{number}/sla", get(cases::get_sla))
        .route("/cases/{number}/sla/explain", get(cases::explain_sla))
        .route("/cases/{number}/replies", post(cases::reply))
        .route("/cases/{number}/notes", post(cases::note))
        .route("/cases/{number}/request-info", post(cases::request_info))
        .route("/cases/{number}/hold", post(cases::hold))
        .route("/cases/{number}/resume", post(cases::resume))
        .route(
            "/cases/{number}/propose-resolution",
            post(cases::propose_resolution),
        )
        .route(
            "/cases/{number}/confirm-resolution",
            post(cases::confirm_resolution),
        )
        .route("/cases/{number}/escalate", post(cases::escalate))
        .route("/cases/{number}/assignee", put(cases::assign))
        .route("/cases/{number}/priority", put(cases::change_priority))
        .route("/cases/{number}/team-contacts", post(cases::add_contact))
        .route(
            "/cases/{number}/team-contacts/{email}",
            delete(cases::remove_contact),
        )
        .route("/cases/{number}/summaries", post(cases::summary))
        .route("/cases/{number}/contact", put(cases::change_contact))
        .route(
            "/cases/{number}/access-grants",
            get(support::case_grants).post(support::grant),
        )
        .route(
            "/cases/{number}/access-grants/{id}",
            delete(support::revoke),
        )
        .route("/access-grants/active", get(support::active))
        .route(
            "/cases/{number}/satisfaction",
            get(support::rating).post(support::rate),
        )
        .route("/reports/satisfaction", get(support::report))
        .route("/support/routes", get(support::routes_page))
        .route("/support/checks", post(support::checks))
        .route("/accounts", get(support::accounts))
        .route("/accounts/{account}", patch(support::update_account))
        // The document limit is applied while the file arrives (`read_document_form`).
        .route(
            "/trust/documents",
            post(trust::publish)
                .layer(axum::extract::DefaultBodyLimit::disable())
                .get(trust::list),
        )
        .route("/trust/documents/{id}/content", get(trust::content))
        .route("/trust/nda", get(trust::nda).post(trust::accept))
        .route("/cases/{number}/mail", get(mail::case_mail))
        .route(
            "/inbound/email",
            post(mail::ingest)
                .layer(axum::extract::DefaultBodyLimit::max(mail::MAX_MESSAGE_BODY))
                .get(mail::list),
        )
        .route("/inbound/email/{id}", get(mail::original))
        .route("/inbound/email/{id}/release", post(mail::release))
        .route("/inbound/email/{id}/discard", post(mail::discard))
        // Uploads count each file against its own limit while reading (see
        // `attachments::read_form`); the JSON limit does not apply to them.
        .route(
            "/cases/{number}/attachments",
            post(attachments::upload)
                .get(attachments::list)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/cases/{number}/attachments/{id}",
            get(attachments::download),
        )
        .route("/kb/entries", get(kb::list))
        .route("/kb/entries/{id}", get(kb::get).put(kb::put))
        .route("/kb/entries/{id}/versions", get(kb::versions))
        .route("/solutions/suggest", post(solutions::suggest))
        .route("/solutions/deflections", post(solutions::deflect))
        .route("/reports/deflection", get(solutions::report))
        .route("/diagnostics/redirect-uri", post(diagnostics::redirect_uri))
        .route("/diagnostics/jwt", post(diagnostics::jwt))
        .route("/status", get(status::page))
        .route("/status/active", get(status::active))
        .route("/status/incidents", post(status::open))
        .route("/status/incidents/{id}", get(status::incident))
        .route("/status/incidents/{id}/updates", post(status::update))
        .route("/status/incidents/{id}/cases", get(status::incident_cases))
        .route(
            "/status/subscription",
            get(status::subscription)
                .put(status::subscribe)
                .delete(status::unsubscribe),
        )
        .route(
            "/cases/{number}/incidents",
            get(status::case_incidents).post(status::link),
        )
        .route("/cases/{number}/incidents/{id}", delete(status::unlink))
        .route(
            "/accounts/{account}/email-intake",
            get(mail::get_intake).put(mail::put_intake),
        )
}
