//! Service status: the public status page, incidents (managers open and update them), the
//! intake's view of incidents in a tenant's region, links between cases and incidents, and
//! email subscriptions.

use super::extract::{Path, Query};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use casedesk_core::DomainError;
use casedesk_core::permissions::is_support;
use casedesk_core::status::{self, Incident};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::body;
use super::extract::number;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::Caller;

type ApiResult<T> = Result<T, ApiError>;

fn incident_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ApiError::Domain(DomainError::NotFound { entity: "incident" }))
}

/// Options of the status page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageParams {
    /// `true`: also the last resolved incidents.
    pub history: Option<bool>,
}

/// The status page as JSON, no sign-in needed: each region's components and their state
/// (the worst impact among the open incidents naming them), and the open incidents with
/// their updates.
#[utoipa::path(get, path = "/api/v1/status", tag = "status", params(PageParams),
    responses((status = 200, body = Object)), security(()))]
pub async fn page(
    State(st): State<AppState>,
    Query(q): Query<PageParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        status::page(st.store.as_ref(), &st.status, q.history.unwrap_or(false)).await?,
    ))
}

/// One incident with its updates (public).
#[utoipa::path(get, path = "/api/v1/status/incidents/{id}", tag = "status", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)), security(()))]
pub async fn incident(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Incident>> {
    st.store
        .get_incident(incident_id(&id)?)
        .await?
        .map(Json)
        .ok_or(ApiError::Domain(DomainError::NotFound {
            entity: "incident",
        }))
}

/// Open an incident (managers): `{title, impact, regions, components, issue_areas, body,
/// state}`. Subscribers are told by a job written with it.
#[utoipa::path(post, path = "/api/v1/status/incidents", tag = "status",
    responses((status = 201, body = Object), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn open(
    State(st): State<AppState>,
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Incident>)> {
    let v = body::value(&body::bytes(raw)?)?;
    let i = status::open_incident(st.store.as_ref(), &st.status, &p, &v).await?;
    st.forget_open_incidents().await;
    Ok((StatusCode::CREATED, Json(i)))
}

/// Post an update (managers): `{body, state, impact}`. `state: resolved` ends the incident
/// and posts the update on every open linked case.
#[utoipa::path(post, path = "/api/v1/status/incidents/{id}/updates", tag = "status", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Already resolved"), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Incident>> {
    let v = body::value(&body::bytes(raw)?)?;
    let i = status::update_incident(st.store.as_ref(), &p, incident_id(&id)?, &v).await?;
    st.forget_open_incidents().await;
    Ok(Json(i))
}

/// The cases linked to an incident that the caller may see (support staff).
#[utoipa::path(get, path = "/api/v1/status/incidents/{id}/cases", tag = "status", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn incident_cases(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !is_support(&p) {
        return Err(DomainError::Forbidden(
            "Only support staff see the cases linked to an incident.".into(),
        )
        .into());
    }
    let mut items = Vec::new();
    for n in st.store.incident_case_numbers(incident_id(&id)?).await? {
        if casedesk_core::service::get_case(st.store.as_ref(), &p, n)
            .await
            .is_ok()
        {
            items.push(n);
        }
    }
    Ok(Json(json!({ "items": items })))
}

/// Where the intake asks.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ActiveParams {
    /// The tenant the case is about (its slug).
    pub tenant: Option<String>,
    /// The issue area chosen; matching incidents come first and say so.
    pub issue_area: Option<String>,
}

/// The open incidents in a tenant's region, for the intake form to show before a case is
/// written.
#[utoipa::path(get, path = "/api/v1/status/active", tag = "status", params(ActiveParams),
    responses((status = 200, body = Object), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn active(
    State(st): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<ActiveParams>,
) -> ApiResult<Json<Value>> {
    let Some(tenant) = q.tenant.as_deref().filter(|t| !t.is_empty()) else {
        return Err(DomainError::field("tenant", "is required").into());
    };
    let items = status::active_for_tenant(
        st.store.as_ref(),
        &st.status,
        &p,
        tenant,
        q.issue_area.as_deref(),
    )
    .await?;
    Ok(Json(json!({ "items": items })))
}

/// Link a case to an incident: `{incident_id}`. Support links any case it may see; a
/// customer may accept an offered link (an open incident the case matches).
#[utoipa::path(post, path = "/api/v1/cases/{number}/incidents", tag = "status", params(("number" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn link(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(n): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Incident>> {
    let v = body::value(&body::bytes(raw)?)?;
    Ok(Json(
        status::link_case(st.store.as_ref(), &st.status, &p, number(&n)?, &v).await?,
    ))
}

/// The incidents a case is linked to.
#[utoipa::path(get, path = "/api/v1/cases/{number}/incidents", tag = "status", params(("number" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn case_incidents(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(n): Path<String>,
) -> ApiResult<Json<Value>> {
    let items = status::case_incidents(st.store.as_ref(), &p, number(&n)?).await?;
    Ok(Json(json!({ "items": items })))
}

/// Unlink a case from an incident (support staff).
#[utoipa::path(delete, path = "/api/v1/cases/{number}/incidents/{id}", tag = "status",
    params(("number" = i64, Path), ("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn unlink(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path((n, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    status::unlink_case(st.store.as_ref(), &p, number(&n)?, incident_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Subscribe the caller's address to incidents: `{regions}` (empty or absent: all).
#[utoipa::path(put, path = "/api/v1/status/subscription", tag = "status",
    responses((status = 200, body = Object), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn subscribe(
    State(st): State<AppState>,
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<status::Subscription>> {
    let raw = body::bytes(raw)?;
    let v = if raw.is_empty() {
        json!({})
    } else {
        body::value(&raw)?
    };
    Ok(Json(
        status::subscribe(st.store.as_ref(), &st.status, &p, &v).await?,
    ))
}

/// The caller's subscription.
#[utoipa::path(get, path = "/api/v1/status/subscription", tag = "status",
    responses((status = 200, body = Object), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn subscription(
    State(st): State<AppState>,
    Caller(p): Caller,
) -> ApiResult<Json<status::Subscription>> {
    status::my_subscription(st.store.as_ref(), &p)
        .await?
        .map(Json)
        .ok_or(ApiError::Domain(DomainError::NotFound {
            entity: "subscription",
        }))
}

/// End the caller's subscription.
#[utoipa::path(delete, path = "/api/v1/status/subscription", tag = "status",
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn unsubscribe(State(st): State<AppState>, Caller(p): Caller) -> ApiResult<StatusCode> {
    status::unsubscribe(st.store.as_ref(), &p).await?;
    Ok(StatusCode::NO_CONTENT)
}
