//! SLA calendar previews, for support managers editing calendars.

use super::extract::Path;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use casedesk_core::sla::{preview, settings};
use serde_json::Value;

use crate::AppState;
use crate::api::body;
use crate::error::{ApiError, Problem};
use crate::session::Caller;

/// A preview question from a manager, with a stored calendar's name replaced by the calendar.
async fn question(
    st: &AppState,
    p: &casedesk_core::users::Principal,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Value, ApiError> {
    preview::require_manager(p)?;
    let mut v = body::value(&body::bytes(raw)?)?;
    settings::resolve(st.store.as_ref(), &mut v).await?;
    Ok(v)
}

/// When a target starting at `start` falls due on a calendar: `{calendar, start,
/// target_minutes}`. `calendar` is a calendar object, the name of a stored calendar,
/// `"24x7"`, or an IANA zone name (weekdays 08:00–18:00 there).
#[utoipa::path(post, path = "/api/v1/sla/due", tag = "sla",
    responses((status = 200, description = "`{due_at, due_local, counted, …}`"), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn due(
    State(st): State<AppState>,
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(preview::due(&question(&st, &p, raw).await?)?))
}

/// The business time between two instants on a calendar: `{calendar, from, to}`.
#[utoipa::path(post, path = "/api/v1/sla/between", tag = "sla",
    responses((status = 200, description = "`{business_minutes, counted, …}`"), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn between(
    State(st): State<AppState>,
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(preview::between(&question(&st, &p, raw).await?)?))
}

/// Every calendar, newest version.
#[utoipa::path(get, path = "/api/v1/sla/calendars", tag = "sla",
    responses((status = 200, description = "`{items: [{name, since, calendar}]}`"), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn calendars(
    State(st): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(settings::list_calendars(st.store.as_ref(), &p).await?))
}

/// One calendar with every version.
#[utoipa::path(get, path = "/api/v1/sla/calendars/{name}", tag = "sla",
    responses((status = 200, description = "`{name, since, calendar, versions}`"), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn calendar(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        settings::get_calendar(st.store.as_ref(), &p, &name).await?,
    ))
}

/// Create or change a calendar; the new version is in force from now, earlier times keep
/// the version that was in force then. Body: `{time_zone, hours, holidays?}`.
#[utoipa::path(put, path = "/api/v1/sla/calendars/{name}", tag = "sla",
    responses((status = 200, description = "`{name, since, calendar}`"), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn put_calendar(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(name): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let v = body::value(&body::bytes(raw)?)?;
    Ok(Json(
        settings::put_calendar(st.store.as_ref(), &p, &name, &v).await?,
    ))
}

/// The policy of every plan and priority, and whether it was edited.
#[utoipa::path(get, path = "/api/v1/sla/policies", tag = "sla",
    responses((status = 200, description = "`{items: [{plan, priority, policy, edited_at}]}`"), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn policies(
    State(st): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(settings::list_policies(st.store.as_ref(), &p).await?))
}

/// Replace the policy of a plan and priority: `{first_response, next_response, resolution}`,
/// each `null` or `{minutes, basis: business|calendar}`.
#[utoipa::path(put, path = "/api/v1/sla/policies/{plan}/{priority}", tag = "sla",
    responses((status = 200, description = "`{plan, priority, policy, edited_at}`"), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn put_policy(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path((plan, priority)): Path<(String, String)>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let v = body::value(&body::bytes(raw)?)?;
    Ok(Json(
        settings::put_policy(st.store.as_ref(), &p, &plan, &priority, &v).await?,
    ))
}

/// The SLA settings: warning share, whether on-hold pauses clocks, duty managers.
#[utoipa::path(get, path = "/api/v1/sla/settings", tag = "sla",
    responses((status = 200, description = "`{warning_percent, on_hold_pauses, duty_managers}`"), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_settings(
    State(st): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(settings::get_settings(st.store.as_ref(), &p).await?))
}

/// Replace the SLA settings; open cases are recomputed at once by a background job.
#[utoipa::path(put, path = "/api/v1/sla/settings", tag = "sla",
    responses((status = 200, description = "The settings in force"), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn put_settings(
    State(st): State<AppState>,
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let v = body::value(&body::bytes(raw)?)?;
    Ok(Json(
        settings::put_settings(st.store.as_ref(), &p, &v).await?,
    ))
}
