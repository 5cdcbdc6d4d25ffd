//! The audit trail as JSON Lines: a super admin exports their account's, a manager anyone's.

use super::extract::Query;
use axum::extract::State;
use axum::response::Response;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::requests::export::{ExportFilters, export_as};
use crate::session::Caller;

/// Export the audit trail as JSON Lines (`application/x-ndjson`), oldest first. Each line
/// carries its chain hash, so two exports can be compared.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(ExportFilters),
    responses((status = 200, description = "One JSON object per line", content_type = "application/x-ndjson"),
        (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn export(
    State(st): State<AppState>,
    Caller(p): Caller,
    Query(f): Query<ExportFilters>,
) -> Result<Response, ApiError> {
    export_as(st, p, f).await
}
