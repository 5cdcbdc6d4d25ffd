//! Background jobs, for support managers: list, inspect, retry a dead one, cancel.

use super::extract::{Path, Query};
use axum::Json;
use axum::extract::State;
use casedesk_core::jobs::{self, Job, JobQuery, JobState};
use casedesk_core::{DomainError, FieldError};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::Caller;

/// Filters of the job list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct JobFilters {
    /// queued, running, done, dead or cancelled.
    pub state: Option<String>,
    /// A job kind, e.g. `webhook.deliver`.
    pub kind: Option<String>,
    /// Page size (1–200, default 50).
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
}

fn job_id(s: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| DomainError::NotFound { entity: "job" }.into())
}

/// List jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobFilters),
    responses((status = 200, description = "`{items, next}`"), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Caller(p): Caller,
    Query(f): Query<JobFilters>,
) -> Result<Json<Value>, ApiError> {
    let mut errs = Vec::new();
    let state = match f.state.as_deref() {
        None => None,
        Some(s) => JobState::parse(s).or_else(|| {
            errs.push(FieldError::new(
                "state",
                "must be queued, running, done, dead or cancelled",
            ));
            None
        }),
    };
    let limit = f.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        errs.push(FieldError::new("limit", "must be between 1 and 200"));
    }
    let before = match f.cursor.as_deref() {
        None => None,
        Some(c) => Uuid::parse_str(c).map(Some).unwrap_or_else(|_| {
            errs.push(FieldError::new(
                "cursor",
                "must be the next value of a previous page",
            ));
            None
        }),
    };
    if !errs.is_empty() {
        return Err(DomainError::Validation(errs).into());
    }
    let q = JobQuery {
        state,
        kind: f.kind,
        before,
        limit: limit + 1,
    };
    let mut items = jobs::list(st.store.as_ref(), &p, &q).await?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|j| j.id.to_string())
    } else {
        None
    };
    Ok(Json(json!({"items": items, "next": next})))
}

/// One job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, description = "The job"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(jobs::get(st.store.as_ref(), &p, job_id(&id)?).await?))
}

/// Queue a dead or cancelled job again, with fresh attempts.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, description = "The job, queued"), (status = 409, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn retry(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(
        jobs::retry(st.store.as_ref(), &p, job_id(&id)?).await?,
    ))
}

/// Cancel a queued or dead job.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, description = "The job, cancelled"), (status = 409, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn cancel(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(
        jobs::cancel(st.store.as_ref(), &p, job_id(&id)?).await?,
    ))
}
