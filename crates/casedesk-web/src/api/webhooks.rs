//! Webhook endpoints, their deliveries and attempts, redelivery, and notices.

use super::extract::{Path, Query};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use casedesk_core::DomainError;
use casedesk_core::webhooks::{self, Endpoint};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::body;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::Caller;

fn endpoint_id(s: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| {
        DomainError::NotFound {
            entity: "webhook endpoint",
        }
        .into()
    })
}

fn dto(ep: &Endpoint) -> Value {
    json!({
        "id": ep.id,
        "owner": if ep.account_id.is_some() { "account" } else { "internal" },
        "url": ep.url,
        "description": ep.description,
        "event_types": ep.event_types,
        "enabled": ep.enabled,
        "disabled_reason": ep.disabled_reason,
        "failure_streak": ep.failure_streak,
        "created_at": ep.created_at,
        "updated_at": ep.updated_at,
    })
}

/// The endpoints the caller manages.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, description = "`{items}`"), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>, Caller(p): Caller) -> Result<Json<Value>, ApiError> {
    let items: Vec<Value> = webhooks::list(st.store.as_ref(), &p)
        .await?
        .iter()
        .map(dto)
        .collect();
    Ok(Json(json!({"items": items})))
}

/// Create an endpoint: `{url, description?, event_types?, enabled?}`. The answer carries
/// the signing secret, shown this once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 201, description = "The endpoint and its `secret`"), (status = 422, body = Problem), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let v = body::value(&body::bytes(raw)?)?;
    let (ep, secret) = webhooks::create(
        st.store.as_ref(),
        st.secrets.as_ref(),
        &p,
        &v,
        &st.url_policy,
    )
    .await?;
    let mut out = dto(&ep);
    out["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// One endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, description = "The endpoint"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(dto(&webhooks::get(
        st.store.as_ref(),
        &p,
        endpoint_id(&id)?,
    )
    .await?)))
}

/// Change an endpoint; `{"enabled": true}` enables a disabled one again.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, description = "The endpoint"), (status = 422, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = endpoint_id(&id)?;
    let v = body::value(&body::bytes(raw)?)?;
    Ok(Json(dto(&webhooks::update(
        st.store.as_ref(),
        &p,
        id,
        &v,
        &st.url_policy,
    )
    .await?)))
}

/// Delete an endpoint with its log.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(st.store.as_ref(), &p, endpoint_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of a rotation.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateInput {
    overlap_hours: Option<u32>,
}

/// Issue a new signing secret; the old ones keep signing for `overlap_hours` (default 24).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, description = "`{secret, previous_secrets_expire_at}`"), (status = 422, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn rotate(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = endpoint_id(&id)?;
    let input: RotateInput = body::parse(&body::bytes(raw)?)?;
    let (secret, until) = webhooks::rotate(
        st.store.as_ref(),
        st.secrets.as_ref(),
        &p,
        id,
        input.overlap_hours,
    )
    .await?;
    Ok(Json(
        json!({"secret": secret, "previous_secrets_expire_at": until}),
    ))
}

/// Page of deliveries.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeliveryPage {
    /// Page size (1–100, default 50).
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
}

/// An endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path), DeliveryPage),
    responses((status = 200, description = "`{items, next}`"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn deliveries(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<DeliveryPage>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(DomainError::field("limit", "must be between 1 and 100").into());
    }
    let mut items = webhooks::deliveries(
        st.store.as_ref(),
        &p,
        endpoint_id(&id)?,
        q.cursor.as_deref(),
        limit + 1,
    )
    .await?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|d| d.id.clone())
    } else {
        None
    };
    Ok(Json(json!({"items": items, "next": next})))
}

/// One delivery with every attempt (time, status, latency, error).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries/{delivery}", tag = "webhooks", params(("id" = String, Path), ("delivery" = String, Path)),
    responses((status = 200, description = "The delivery and its `attempts`"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delivery(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path((id, did)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (d, attempts) = webhooks::delivery(st.store.as_ref(), &p, endpoint_id(&id)?, &did).await?;
    let mut v = serde_json::to_value(&d).map_err(|e| DomainError::Internal(e.to_string()))?;
    v["attempts"] = json!(attempts);
    Ok(Json(v))
}

/// Send a delivery again, with the same `webhook-id`.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks", params(("id" = String, Path), ("delivery" = String, Path)),
    responses((status = 202, description = "Queued"), (status = 404, body = Problem), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn redeliver(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path((id, did)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    webhooks::redeliver(st.store.as_ref(), &p, endpoint_id(&id)?, &did).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Notices for the caller's account (super admins) or for support (managers), such as an
/// endpoint casedesk disabled.
#[utoipa::path(get, path = "/api/v1/notices", tag = "webhooks",
    responses((status = 200, description = "`{items}`"), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn notices(
    State(st): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"items": webhooks::notices(st.store.as_ref(), &p).await?}),
    ))
}
