//! Health, the caller, intake reference data and the fallback.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use casedesk_core::cases::intake::{
    ADVANCED_ANY_OF, AVAILABILITIES, CHECKLIST_ITEMS, CLIENT_PURPOSES, CONTEXT_FIELDS,
    DEPLOYMENT_MODELS,
};
use casedesk_core::cases::{ImpactScope, Priority};
use serde_json::{Value, json};

use super::dto::MeDto;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::Caller;

/// Liveness: the process answers and the database responds.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "Alive"), (status = 503, description = "Database unreachable")))]
pub async fn healthz(State(st): State<AppState>) -> Response {
    match st.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": st.store.backend()})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "database": st.store.backend()})),
        )
            .into_response(),
    }
}

/// The caller and the scopes of their credential.
#[utoipa::path(get, path = "/api/v1/me", tag = "meta", responses((status = 200, body = MeDto), (status = 401, body = Problem)), security(("bearer" = [])))]
pub async fn me(Caller(p): Caller) -> Json<MeDto> {
    let u = p.user;
    Json(MeDto {
        email: u.email,
        role: u.role.key().into(),
        account_id: u.account_id.map(|a| a.to_string()),
        case_admin: u.case_admin,
        elevated: u.elevated,
        queues: u.queues,
        scopes: p.scopes.iter().map(|s| s.key().to_owned()).collect(),
    })
}

/// What intake asks for: priorities and their meaning, issue areas, scopes, stages with
/// their required identifiers, context prompts and the checklist.
#[utoipa::path(get, path = "/api/v1/intake", tag = "meta", responses((status = 200, description = "Intake reference", body = Object)), security(("bearer" = [])))]
pub async fn intake(
    State(st): State<AppState>,
    Caller(_p): Caller,
) -> Result<Json<Value>, ApiError> {
    let areas = st.store.issue_areas().await.map_err(ApiError::from)?;
    Ok(Json(json!({
        "priorities": Priority::ALL.iter().map(|p| json!({"key": p.key(), "label": p.label(), "meaning": p.meaning()})).collect::<Vec<_>>(),
        "issue_areas": areas.iter().map(|a| json!({"key": a.key, "name": a.name, "description": a.description, "queue": a.queue})).collect::<Vec<_>>(),
        "scopes": ImpactScope::ALL.iter().map(|s| s.key()).collect::<Vec<_>>(),
        "stages": [
            {"key": "onboarding", "description": "Tenant, application or client setup: registration, first sign-in, redirect URIs.",
             "required_identifiers": ["organization_id", "application_key", "client_purpose", "error_message", "occurred_at"],
             "conditional": {"redirect_uri": "required when client_purpose is interactive_web"},
             "client_purposes": CLIENT_PURPOSES},
            {"key": "production", "description": "Security review and launch readiness: JWKS validation, deployment posture, tenant isolation, audit retention, webhook delivery, evidence.",
             "required_identifiers": ["environment", "deployment_model", "review_needed_by"],
             "deployment_models": DEPLOYMENT_MODELS},
            {"key": "advanced", "description": "Marketplace installation, seats, activation, offline lease, device trust, enterprise OIDC providers, SCIM.",
             "required_identifiers": ["product", "availability"], "one_of": ADVANCED_ANY_OF, "availability": AVAILABILITIES},
        ],
        "context": CONTEXT_FIELDS.iter().map(|(k, d)| json!({"key": k, "prompt": d})).collect::<Vec<_>>(),
        "checklist": CHECKLIST_ITEMS.iter().map(|(k, d)| json!({"key": k, "statement": d})).collect::<Vec<_>>(),
    })))
}
