//! The Trust Center: evidence documents managers publish, the non-disclosure agreement a
//! super admin accepts for the account, and audited downloads.

use super::extract::Path;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use casedesk_core::DomainError;
use casedesk_core::trust;
use serde_json::{Value, json};
use uuid::Uuid;

use super::body;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::Caller;

type ApiResult<T> = Result<T, ApiError>;

/// Publish a document (managers): multipart with `file` (PDF or plain text, at most 10 MB),
/// `title`, `summary`, `requires_nda` (`true` or `false`) and `topics` (issue-area keys).
#[utoipa::path(post, path = "/api/v1/trust/documents", tag = "trust",
    responses((status = 201, body = Object, description = "The document, with its `id`"),
        (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn publish(
    State(st): State<AppState>,
    Caller(p): Caller,
    mp: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // Refused before the upload is read when the caller may not publish.
    if p.user.role != casedesk_core::users::Role::Manager {
        return Err(DomainError::Forbidden(
            "Only support managers can publish Trust Center documents.".into(),
        )
        .into());
    }
    let (form, _) = crate::requests::files::read_document_form(mp).await?;
    let d = trust::publish(st.store.as_ref(), &p, form).await?;
    Ok((StatusCode::CREATED, Json(trust::summary(&d))))
}

/// The documents (any signed-in customer administrator; managers), with the caller's
/// account's standing with the NDA.
#[utoipa::path(get, path = "/api/v1/trust/documents", tag = "trust",
    responses((status = 200, body = Object), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>, Caller(p): Caller) -> ApiResult<Json<Value>> {
    let docs = trust::list(st.store.as_ref(), &p).await?;
    let accepted = trust::nda_accepted(st.store.as_ref(), &p).await?;
    Ok(Json(json!({
        "items": docs.iter().map(trust::summary).collect::<Vec<_>>(),
        "nda": {"version": trust::NDA_VERSION, "accepted": accepted.is_some()},
    })))
}

/// A document's content. One that requires the NDA answers 403 until the caller's account
/// has accepted the current version. Every download is audited.
#[utoipa::path(get, path = "/api/v1/trust/documents/{id}/content", tag = "trust", params(("id" = String, Path)),
    responses((status = 200, description = "The file"), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn content(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = Uuid::parse_str(&id).map_err(|_| DomainError::NotFound {
        entity: "Trust Center document",
    })?;
    let (doc, bytes) = trust::download(st.store.as_ref(), st.store.as_ref(), &p, id).await?;
    Ok(crate::requests::files::trust_file(&doc, bytes))
}

/// The NDA: its text and version, and whether the caller's account accepted it.
#[utoipa::path(get, path = "/api/v1/trust/nda", tag = "trust",
    responses((status = 200, body = Object), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn nda(State(st): State<AppState>, Caller(p): Caller) -> ApiResult<Json<Value>> {
    trust::list(st.store.as_ref(), &p).await?;
    let account = match p.user.account_id {
        Some(a) => st.store.find_account(&a.to_string()).await?,
        None => None,
    };
    let accepted = trust::nda_accepted(st.store.as_ref(), &p).await?;
    Ok(Json(trust::nda_status(account.as_ref(), accepted.as_ref())))
}

/// Accept the NDA for the caller's account: `{"accept": true, "name": "...", "title": "..."}`
/// by a super admin. 201 when recorded; 200 with the first acceptance when the account had
/// accepted this version already.
#[utoipa::path(post, path = "/api/v1/trust/nda", tag = "trust",
    responses((status = 201, body = Object), (status = 200, body = Object), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn accept(
    State(st): State<AppState>,
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let v = body::value(&body::bytes(raw)?)?;
    let (a, new) = trust::accept_nda(st.store.as_ref(), &p, &v).await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!(a))))
}
