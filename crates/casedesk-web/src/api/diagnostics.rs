//! Identity diagnostics: explainers a customer or an agent runs while describing a problem.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use casedesk_core::diagnostics::{self, redirect::Explanation};

use super::body;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};

/// Whether a redirect URI matches one registered: `{registered: [uris], used}`. Answers the
/// verdict (`match`, `match_loopback_port`, `mismatch`), the closest registered URI, each
/// part compared with its reason, problems of the used URI alone, and what to do. Stores
/// nothing.
#[utoipa::path(post, path = "/api/v1/diagnostics/redirect-uri", tag = "diagnostics",
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn redirect_uri(
    Caller(_p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Explanation>, ApiError> {
    let v = body::value(&body::bytes(raw)?)?;
    Ok(Json(diagnostics::explain_redirect(&v)?))
}
