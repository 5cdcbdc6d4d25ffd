//! Knowledge-base routes: entries readers may see (public ones without signing in) and the
//! earlier versions of an entry (managers).

use super::extract::Path;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use casedesk_core::kb;
use serde_json::{Value, json};

use super::body;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::{Caller, MaybeCaller};

/// The entries the caller may read (public ones without a credential), by title.
#[utoipa::path(get, path = "/api/v1/kb/entries", tag = "kb",
    responses((status = 200, body = Object, description = "items: entries with version")),
    security((), ("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    MaybeCaller(p): MaybeCaller,
) -> Result<Json<Value>, ApiError> {
    let items = kb::list(st.store.as_ref(), p.as_ref()).await?;
    Ok(Json(json!({ "items": items })))
}

/// One entry, if the caller may read it.
#[utoipa::path(get, path = "/api/v1/kb/entries/{id}", tag = "kb", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)),
    security((), ("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    MaybeCaller(p): MaybeCaller,
    Path(id): Path<String>,
) -> Result<Json<kb::StoredEntry>, ApiError> {
    Ok(Json(kb::get(st.store.as_ref(), p.as_ref(), &id).await?))
}

/// Every version of an entry, newest first (managers).
#[utoipa::path(get, path = "/api/v1/kb/entries/{id}/versions", tag = "kb", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn versions(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let items = kb::versions(st.store.as_ref(), &p, &id).await?;
    Ok(Json(json!({ "items": items })))
}

/// Create or change an entry (managers): `{kind, title, summary, body, url, issue_areas, tags,
/// visibility, state}`; each change is a new version.
#[utoipa::path(put, path = "/api/v1/kb/entries/{id}", tag = "kb", params(("id" = String, Path)),
    responses((status = 201, body = Object, description = "Created"), (status = 200, body = Object, description = "A new version"),
        (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn put(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<kb::StoredEntry>), ApiError> {
    let v = body::value(&body::bytes(raw)?)?;
    let (e, created) = kb::put(st.store.as_ref(), &p, &id, &v).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(e)))
}
