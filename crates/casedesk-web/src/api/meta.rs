//! Health, the caller, intake reference data and the fallback.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use casedesk_core::cases::intake::{
    AVAILABILITIES, CHECKLIST_ITEMS, CLIENT_PURPOSES, CONTEXT_FIELDS, DEPLOYMENT_MODELS, Need,
    STAGE_RULES,
};
use casedesk_core::cases::{ImpactScope, Priority};
use serde_json::{Value, json};

use super::dto::MeDto;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::Caller;

/// Whether the database answers within a second (the ping waits no longer, whatever the
/// pool's settings, so a health check never hangs).
async fn database_answers(st: &AppState) -> bool {
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(1), st.store.ping()).await,
        Ok(Ok(()))
    )
}

/// Health: the process answers; the body says whether the database does (a 503 when not).
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "Alive, and the database answers"), (status = 503, description = "Alive, but the database does not answer")))]
pub async fn healthz(State(st): State<AppState>) -> Response {
    let db = st.store.backend();
    if database_answers(&st).await {
        (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": db, "database_status": "up"})),
        )
            .into_response()
    } else {
        database_down(json!({"status": "unavailable", "database": db, "database_status": "down"}))
    }
}

/// The 503 of a health check: a problem (as every error of casedesk), with the check's own
/// fields beside its members, and `Retry-After`.
fn database_down(extra: Value) -> Response {
    let p = crate::error::problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Temporarily unavailable",
        "The database does not answer.".into(),
    );
    let mut body = serde_json::to_value(&p).unwrap_or_else(|_| json!({}));
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let mut res = crate::error::with_retry_after(
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response(),
    );
    res.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/problem+json"),
    );
    res
}

/// Readiness, for load balancers: 200 while this node can serve requests (its database
/// answers), else a 503 with `Retry-After`, so traffic goes to other nodes meanwhile.
#[utoipa::path(get, path = "/readyz", tag = "meta", responses((status = 200, description = "Ready"), (status = 503, description = "Not ready: the database does not answer")))]
pub async fn readyz(State(st): State<AppState>) -> Response {
    if database_answers(&st).await {
        (StatusCode::OK, Json(json!({"status": "ready"}))).into_response()
    } else {
        database_down(json!({"status": "not ready"}))
    }
}

/// The caller and the scopes of their credential.
#[utoipa::path(get, path = "/api/v1/me", tag = "meta", responses((status = 200, body = MeDto), (status = 401, body = Problem)), security(("bearer" = [])))]
pub async fn me(State(st): State<AppState>, Caller(p): Caller) -> Result<Json<MeDto>, ApiError> {
    let account = match p.user.account_id {
        Some(a) => st
            .store
            .find_account(&a.to_string())
            .await?
            .map(|a| json!({"name": a.name, "plan": a.plan.key(), "csm": a.csm})),
        None => None,
    };
    let u = p.user;
    Ok(Json(MeDto {
        email: u.email,
        role: u.role.key().into(),
        account_id: u.account_id.map(|a| a.to_string()),
        case_admin: u.case_admin,
        elevated: u.elevated,
        queues: u.queues,
        scopes: p.scopes.iter().map(|s| s.key().to_owned()).collect(),
        account,
    }))
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
        "stages": STAGE_RULES.iter().map(|r| {
            let one_of: Vec<&str> = r.identifiers.iter().filter(|(_, _, n)| *n == Need::OneOf).map(|(k, _, _)| *k).collect();
            let mut v = json!({"key": r.key, "title": r.title, "description": r.description,
                "required_identifiers": r.required(),
                "identifiers": r.identifiers.iter().map(|(k, l, n)| json!({"key": k, "label": l, "need": n})).collect::<Vec<_>>()});
            match r.key {
                "onboarding" => {
                    v["conditional"] = json!({"redirect_uri": "required when client_purpose is interactive_web"});
                    v["client_purposes"] = json!(CLIENT_PURPOSES);
                }
                "production" => v["deployment_models"] = json!(DEPLOYMENT_MODELS),
                _ => {
                    v["one_of"] = json!(one_of);
                    v["availability"] = json!(AVAILABILITIES);
                }
            }
            v
        }).collect::<Vec<_>>(),
        "context": CONTEXT_FIELDS.iter().map(|(k, d)| json!({"key": k, "prompt": d})).collect::<Vec<_>>(),
        "checklist": CHECKLIST_ITEMS.iter().map(|(k, d)| json!({"key": k, "statement": d})).collect::<Vec<_>>(),
    })))
}
