//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{
    audit, cases, diagnostics, dto, identities, jobs, kb, mail, meta, sla, solutions, status,
    tokens, webhooks,
};
use crate::error::{FieldProblem, Problem};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "casedesk", description = "Support cases for customers of an identity platform."),
    paths(
        meta::healthz, meta::me, meta::intake,
        cases::create_case, cases::list_cases, cases::get_case, cases::list_events,
        cases::reply, cases::note, cases::request_info, cases::hold, cases::resume,
        cases::propose_resolution, cases::confirm_resolution, cases::escalate, cases::assign,
        cases::change_priority, cases::add_contact, cases::remove_contact, cases::summary,
        tokens::list, tokens::create, tokens::revoke,
        identities::list, identities::link, identities::unlink,
        jobs::list, jobs::get, jobs::retry, jobs::cancel,
        sla::due, sla::between, sla::calendars, sla::calendar, sla::put_calendar, sla::policies, sla::put_policy, sla::get_settings, sla::put_settings, cases::get_sla, cases::explain_sla,
        webhooks::list, webhooks::create, webhooks::get, webhooks::update, webhooks::delete, webhooks::rotate,
        webhooks::deliveries, webhooks::delivery, webhooks::redeliver, webhooks::notices,
        audit::export,
        mail::ingest, mail::case_mail, mail::original, mail::get_intake, mail::put_intake,
        kb::list, kb::get, kb::put, kb::versions,
        solutions::suggest, solutions::deflect, solutions::report, diagnostics::redirect_uri,
        status::page, status::incident, status::open, status::update, status::incident_cases, status::active,
        status::link, status::case_incidents, status::unlink, status::subscribe, status::subscription, status::unsubscribe,
    ),
    components(schemas(Problem, FieldProblem, dto::CaseInput, dto::CaseDto, dto::CaseList, dto::CaseSummaryDto,
        dto::EventList, dto::EventDto, dto::MeDto,
        tokens::TokenDto, tokens::NewTokenDto, tokens::TokenList, tokens::TokenInput,
        identities::IdentityDto, identities::IdentityList, identities::LinkInput)),
    modifiers(&Bearer),
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
