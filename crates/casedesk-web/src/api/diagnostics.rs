//! Identity diagnostics: explainers a customer or an agent runs while describing a problem.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use casedesk_core::diagnostics::{self, redirect::Explanation};

use super::body;
use crate::error::{ApiError, Problem};
use crate::session::Caller;

/// Whether a redirect URI matches one registered: `{registered: [uris], used}`. Answers the
/// verdict (`match`, `match_loopback_port`, `mismatch`, or `invalid` for a URI no
/// authorization server accepts), the closest registered URI, each part compared with its
/// reason, the problems of the used URI alone (`{code, message}`, worst first), and what to
/// do. Stores nothing.
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

/// Every reason a JWT fails: `{token, issuer?, audience?, leeway_seconds?, case?}`. The
/// issuer's discovery document and keys are fetched (5 s, size-capped, public addresses
/// only), the signature checked, and each failure named by a stable code with its values.
/// The token is never stored or logged: the answer carries its fingerprint, and with `case`
/// only this report is recorded on the case's timeline.
#[utoipa::path(post, path = "/api/v1/diagnostics/jwt", tag = "diagnostics",
    responses((status = 200, body = Object, description = "The report: header, claims (trusted only when the signature verified), times, keys, failures and warnings"),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn jwt(
    axum::extract::State(st): axum::extract::State<crate::AppState>,
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let v = body::value(&body::bytes(raw)?)?;
    let q = diagnostics::jwt::read_question(&v)?;
    // A case is checked before anything is fetched, so a refusal costs the issuer nothing.
    if let Some(n) = q.case {
        diagnostics::check_report_case(st.store.as_ref(), &p, n).await?;
    }
    let report = st.jwt_explainer.explain(&q, casedesk_core::now()).await;
    if let Some(n) = q.case {
        casedesk_core::service::record_report(st.store.as_ref(), &p, n, "jwt", &report).await?;
    }
    Ok(Json(report))
}
