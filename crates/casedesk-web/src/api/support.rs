//! The support center around the case: the support-routes page and the checks before opening
//! a case, accounts (their CSM and mail preference), support access grants, and satisfaction
//! after close.

use super::extract::{Path, Query};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use casedesk_core::service::{grants, satisfaction};
use casedesk_core::{DomainError, FieldError, Timestamp, routes};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::body;
use super::extract::number;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::{Caller, MaybeCaller};

type ApiResult<T> = Result<T, ApiError>;

/// The caller's account, for a customer.
async fn account_of(
    st: &AppState,
    p: Option<&casedesk_core::users::Principal>,
) -> ApiResult<Option<casedesk_core::accounts::Account>> {
    match p.and_then(|p| p.user.account_id) {
        Some(a) => Ok(st.store.find_account(&a.to_string()).await?),
        None => Ok(None),
    }
}

/// Where a question belongs for the caller's plan: community answers, documentation, the
/// account's customer success manager, or a case (the only channel with an SLA); the rollout
/// paths with what each needs, the checklist, and the checks before opening a case. Signed
/// out (or as support staff): the general version.
#[utoipa::path(get, path = "/api/v1/support/routes", tag = "support",
    responses((status = 200, body = Object)), security((), ("bearer" = [])))]
pub async fn routes_page(
    State(st): State<AppState>,
    MaybeCaller(p): MaybeCaller,
) -> ApiResult<Json<Value>> {
    let account = account_of(&st, p.as_ref()).await?;
    Ok(Json(routes::page(account.as_ref())))
}

/// The checks before opening a case: `{"affected": "all"|"some"|"one", "checked": [keys],
/// "frequency", "browsers", "issue_area", "fixed_by": key}`. Without `fixed_by`: what the
/// answers put on the case, and the link that opens the form with them. With `fixed_by` (a
/// signed-in customer): recorded as a deflection, 201.
#[utoipa::path(post, path = "/api/v1/support/checks", tag = "support",
    responses((status = 200, body = Object, description = "`prefill` (scope, context, steps_to_reproduce) and `open_case`"),
        (status = 201, body = Object, description = "This fixed it: the deflection recorded"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security((), ("bearer" = [])))]
pub async fn checks(
    State(st): State<AppState>,
    MaybeCaller(p): MaybeCaller,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let v = body::value(&body::bytes(raw)?)?;
    let areas = st.store.issue_areas().await?;
    let answers = routes::parse_answers(&v, &areas)?;
    if answers.fixed_by.is_some() {
        let Some(p) = p else {
            return Err(ApiError::Unauthenticated {
                described: "sign in to record that a check fixed the problem (Authorization: Bearer <token>)".into(),
                missing: true,
            });
        };
        let d = routes::record_fix(st.store.as_ref(), &p, &answers).await?;
        return Ok((
            StatusCode::CREATED,
            Json(json!({"fixed": true, "deflection": d})),
        ));
    }
    Ok((
        StatusCode::OK,
        Json(json!({
            "fixed": false,
            "prefill": routes::prefill(&answers),
            "open_case": format!("/support?{}", routes::form_query(&answers)),
        })),
    ))
}

fn account_json(a: &casedesk_core::accounts::Account) -> Value {
    json!({"id": a.id, "name": a.name, "plan": a.plan.key(), "csm": a.csm,
           "copy_requester": a.copy_requester, "created_at": a.created_at})
}

/// Every account with its plan and customer success manager (managers).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts",
    responses((status = 200, body = Object), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn accounts(State(st): State<AppState>, Caller(p): Caller) -> ApiResult<Json<Value>> {
    if p.user.role != casedesk_core::users::Role::Manager {
        return Err(DomainError::Forbidden("Only support managers list accounts.".into()).into());
    }
    casedesk_core::permissions::require_scope(&p, casedesk_core::users::Scope::Admin)?;
    let items: Vec<Value> = st
        .store
        .list_accounts()
        .await?
        .iter()
        .map(account_json)
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// Change an account: `{"csm": "ana@support.example" | null, "copy_requester": true|false}`.
/// Managers name the customer success manager; the account's super admins may change whether
/// the requester is copied on mail sent to another case email.
#[utoipa::path(patch, path = "/api/v1/accounts/{account}", tag = "accounts", params(("account" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update_account(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(account): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let v = body::value(&body::bytes(raw)?)?;
    let a = casedesk_core::admin::update_account(st.store.as_ref(), &p, &account, &v).await?;
    Ok(Json(account_json(&a)))
}

/// The support access grants of a case, newest first.
#[utoipa::path(get, path = "/api/v1/cases/{number}/access-grants", tag = "grants", params(("number" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn case_grants(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(n): Path<String>,
) -> ApiResult<Json<Value>> {
    let items: Vec<Value> = grants::case_grants(st.store.as_ref(), &p, number(&n)?)
        .await?
        .iter()
        .map(grants::grant_json)
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// Let support into the case's tenant: `{"hours": 1..168, "scope": "read"|"read_write",
/// "note": "..."}` by the requester, a team contact or a super admin of the account. The plan
/// may cap the hours (self-service 24, standard 72, premium 168).
#[utoipa::path(post, path = "/api/v1/cases/{number}/access-grants", tag = "grants", params(("number" = i64, Path)),
    responses((status = 201, body = Object, description = "`id`, `tenant`, `expires_at`"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn grant(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(n): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let n = number(&n)?;
    let v = body::value(&body::bytes(raw)?)?;
    let g = grants::grant(st.store.as_ref(), &p, n, &v).await?;
    Ok((StatusCode::CREATED, Json(grants::grant_json(&g))))
}

/// End a grant before its time.
#[utoipa::path(delete, path = "/api/v1/cases/{number}/access-grants/{id}", tag = "grants",
    params(("number" = i64, Path), ("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path((n, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let n = number(&n)?;
    let id = Uuid::parse_str(&id).map_err(|_| DomainError::NotFound {
        entity: "access grant",
    })?;
    let g = grants::revoke(st.store.as_ref(), &p, n, id).await?;
    Ok(Json(grants::grant_json(&g)))
}

/// Filter of the active grants.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ActiveParams {
    /// Only grants into this tenant (its slug).
    pub tenant: Option<String>,
}

/// The grants in force, for the identity platform (a manager, or a manager's token with
/// `grants:read`): `items` with `id`, `case`, `tenant`, `scope`, `granted_by`, `expires_at`
/// and `agents` (the assignee, else the agents of the case's queue).
#[utoipa::path(get, path = "/api/v1/access-grants/active", tag = "grants", params(ActiveParams),
    responses((status = 200, body = Object), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn active(
    State(st): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<ActiveParams>,
) -> ApiResult<Json<Value>> {
    let tenant = q.tenant.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let items = grants::active(st.store.as_ref(), &p, tenant).await?;
    Ok(Json(json!({ "items": items })))
}

/// Rate a closed case: `{"rating": 1..5, "comment": "..."}`, by its requester or a team
/// contact, once.
#[utoipa::path(post, path = "/api/v1/cases/{number}/satisfaction", tag = "satisfaction", params(("number" = i64, Path)),
    responses((status = 201, body = Object), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The case is not closed (its status is named), or was rated already"),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn rate(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(n): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let n = number(&n)?;
    let v = body::value(&body::bytes(raw)?)?;
    let r = satisfaction::rate(st.store.as_ref(), &p, n, &v).await?;
    Ok((StatusCode::CREATED, Json(json!(r))))
}

/// The case's rating (`null` before one is given).
#[utoipa::path(get, path = "/api/v1/cases/{number}/satisfaction", tag = "satisfaction", params(("number" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn rating(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(n): Path<String>,
) -> ApiResult<Json<Value>> {
    let r = satisfaction::rating_of(st.store.as_ref(), &p, number(&n)?).await?;
    Ok(Json(json!({ "rating": r })))
}

/// The period of a report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// Start (RFC 3339); 30 days before `until` by default.
    pub since: Option<String>,
    /// End, exclusive (RFC 3339); now by default.
    pub until: Option<String>,
}

/// Reads a report period, every fault at once.
pub fn period(
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(Timestamp, Timestamp), DomainError> {
    let mut errs = Vec::new();
    let mut time = |field: &str, v: Option<&str>| -> Option<Timestamp> {
        v?.parse::<Timestamp>()
            .map_err(|_| {
                errs.push(FieldError::new(
                    field,
                    "must be a date and time with its offset, such as 2026-11-01T00:00:00Z, between the years 0001 and 9998",
                ))
            })
            .ok()
    };
    let until = time("until", until);
    let since = time("since", since);
    if !errs.is_empty() {
        return Err(DomainError::Validation(errs));
    }
    let until = until.unwrap_or_else(casedesk_core::now);
    let since = since.unwrap_or_else(|| {
        until
            .checked_sub(jiff::SignedDuration::from_hours(24 * 30))
            .unwrap_or(until)
    });
    if since >= until {
        return Err(DomainError::field("since", "must be before until"));
    }
    Ok((since, until))
}

/// Satisfaction over a period (managers): count, average, the distribution of ratings, and
/// count and average by plan, priority, issue area and assignee.
#[utoipa::path(get, path = "/api/v1/reports/satisfaction", tag = "satisfaction", params(Period),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn report(
    State(st): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<Period>,
) -> ApiResult<Json<Value>> {
    let (since, until) = period(q.since.as_deref(), q.until.as_deref())?;
    Ok(Json(
        satisfaction::report(st.store.as_ref(), &p, since, until).await?,
    ))
}
