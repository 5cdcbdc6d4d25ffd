//! SLA calendar previews, for support managers editing calendars.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use casedesk_core::sla::preview;
use serde_json::Value;

use crate::api::body;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};

/// When a target starting at `start` falls due on a calendar: `{calendar, start,
/// target_minutes}`. `calendar` is a calendar object, `"24x7"`, or an IANA zone name
/// (weekdays 08:00–18:00 there).
#[utoipa::path(post, path = "/api/v1/sla/due", tag = "sla",
    responses((status = 200, description = "`{due_at, due_local, counted, …}`"), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn due(
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    preview::require_manager(&p)?;
    let v = body::value(&body::bytes(raw)?)?;
    Ok(Json(preview::due(&v)?))
}

/// The business time between two instants on a calendar: `{calendar, from, to}`.
#[utoipa::path(post, path = "/api/v1/sla/between", tag = "sla",
    responses((status = 200, description = "`{business_minutes, counted, …}`"), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn between(
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    preview::require_manager(&p)?;
    let v = body::value(&body::bytes(raw)?)?;
    Ok(Json(preview::between(&v)?))
}
