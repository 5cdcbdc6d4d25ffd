//! Attachment routes: multipart upload (counted while it arrives), listing and download.

use super::extract::{Path, Query};
use axum::Json;
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use casedesk_core::DomainError;
use casedesk_core::attachments::{self};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use super::extract::number;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::requests::files::{Parts, prepare_all, read_form, serve_file, uploaded};
use crate::session::Caller;

type ApiResult<T> = Result<T, ApiError>;

/// Options of an upload.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// `true`: visible to support only (support engineers only).
    internal: Option<bool>,
}

/// Attach files to a case.
#[utoipa::path(post, path = "/api/v1/cases/{number}/attachments", tag = "attachments",
    params(("number" = i64, Path), UploadParams),
    request_body(content_type = "multipart/form-data", description = "One `file` part per file (at most 10). Files are limited to 2 MB by default; a `.har` capture to 25 MB, and it is scrubbed of cookies, credentials, tokens and codes before anything is stored"),
    responses((status = 201, description = "Stored: each file with its type read from its bytes, its SHA-256, what secrets were removed and, for support, a HAR capture's evidence summary"),
        (status = 413, body = Problem, description = "A file over its limit, named; nothing was stored"),
        (status = 422, body = Problem, description = "A HAR capture that does not parse, an empty file, an unknown part"),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "The case is closed")),
    security(("bearer" = [])))]
pub async fn upload(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(raw): Path<String>,
    Query(q): Query<UploadParams>,
    mp: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let n = number(&raw)?;
    let internal = q.internal.unwrap_or(false);
    // Who may attach is settled before a byte of the upload is read.
    let case = st
        .store
        .get_case(n)
        .await?
        .ok_or(DomainError::NotFound { entity: "case" })?;
    attachments::check_attach(&p, &case, internal)?;
    let form = read_form(mp, &st.attachments, Parts::Files).await?;
    if form.files.is_empty() {
        return Err(DomainError::field("files", "send at least one `file` part").into());
    }
    let prepared = prepare_all(&st, &p, case.account_id, form.files, !internal).await?;
    casedesk_core::service::attach(st.store.as_ref(), &p, n, &prepared, !internal).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"case": n, "attachments": uploaded(&p, n, &prepared)})),
    )
        .into_response())
}

/// List a case's attachments (deleted ones show when).
#[utoipa::path(get, path = "/api/v1/cases/{number}/attachments", tag = "attachments",
    params(("number" = i64, Path)),
    responses((status = 200, description = "The attachments the caller may see"), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(raw): Path<String>,
) -> ApiResult<Json<Value>> {
    let n = number(&raw)?;
    let list = attachments::list(st.store.as_ref(), &p, n).await?;
    let items: Vec<Value> = list
        .into_iter()
        .map(|a| {
            let url = format!("/api/v1/cases/{n}/attachments/{}", a.id);
            let mut v = serde_json::to_value(&a).unwrap_or(Value::Null);
            if let Some(o) = v.as_object_mut() {
                o.insert("url".into(), json!(url));
            }
            v
        })
        .collect();
    Ok(Json(json!({"items": items})))
}

/// Download an attachment.
#[utoipa::path(get, path = "/api/v1/cases/{number}/attachments/{id}", tag = "attachments",
    params(("number" = i64, Path), ("id" = String, Path)),
    responses((status = 200, description = "The content, as an attachment, never rendered by the browser"),
        (status = 404, body = Problem), (status = 410, body = Problem, description = "Deleted by retention")),
    security(("bearer" = [])))]
pub async fn download(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path((raw, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    serve_file(&st, &p, number(&raw)?, &id).await
}
