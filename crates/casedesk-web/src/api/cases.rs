//! Case routes.

use super::extract::{Path, Query, number};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use casedesk_core::DomainError;
use casedesk_core::service::{self, Command, ListFilters};
use serde::Deserialize;
use utoipa::IntoParams;

use super::body;
use super::dto::*;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::Caller;

type ApiResult<T> = Result<T, ApiError>;

/// Open a case.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = CaseInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retrying with the same key returns the first case instead of opening a second")),
    responses((status = 201, body = CaseDto, description = "Opened; Location names it. The answer adds `incident_offers`: open incidents the case matches, which its requester may link it to; and, for a production-stage security review, `trust_offers`: the Trust Center documents on its topic"),
        (status = 422, body = Problem, description = "Every invalid field, by dotted path"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_case(
    State(st): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    use axum::extract::FromRequest;
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    // A multipart create carries the case as its `case` part and files beside it; every
    // file is prepared (a HAR capture scrubbed) before the case is stored, so a refused
    // file opens nothing.
    let (raw, prepared) = if multipart {
        let mp = axum::extract::Multipart::from_request(req, &st).await;
        let form = crate::requests::files::read_form(
            mp,
            &st.attachments,
            crate::requests::files::Parts::Case,
        )
        .await?;
        let case = form.case.ok_or_else(|| {
            DomainError::field(
                "case",
                "is required: the case, as JSON, in a part named case",
            )
        })?;
        let account = p.user.account_id.unwrap_or_default();
        let prepared = if form.files.is_empty() {
            Vec::new()
        } else {
            casedesk_core::permissions::require_case_access(&p)?;
            crate::requests::files::prepare_all(&st, &p, account, form.files, true).await?
        };
        (Bytes::from(case), prepared)
    } else {
        // The route takes uploads, so the JSON limit is applied here, while reading.
        let raw = axum::body::to_bytes(req.into_body(), crate::limits::MAX_JSON_BODY)
            .await
            .map_err(|e| ApiError::unreadable_body(&e.to_string()))?;
        (raw, Vec::new())
    };
    let value = body::value(&raw)?;
    refuse_own_address(
        &st,
        value.get("contact").and_then(|c| c.get("email")),
        "contact.email",
    )?;
    let key = match headers.get("idempotency-key") {
        Some(v) => {
            let k = v
                .to_str()
                .map_err(|_| DomainError::field("Idempotency-Key", "must be visible ASCII"))?;
            // The fingerprint is of the parsed JSON, so whitespace differences don't matter.
            Some((
                k.to_owned(),
                casedesk_auth::fingerprint(value.to_string().as_bytes()),
            ))
        }
        None => None,
    };
    let (case, replayed, sla, removed) =
        service::create_case(st.store.as_ref(), &p, &value, key, st.composer()).await?;
    let location = format!("/api/v1/cases/{}", case.number);
    // Open incidents this case matches: the requester may link the case to one and be told
    // when it is resolved.
    let open = st.open_incidents().await?;
    let offers: Vec<serde_json::Value> = casedesk_core::status::offers_among(
        st.store.as_ref(),
        &st.status,
        &open,
        &case,
    )
    .await?
    .into_iter()
    .map(|i| {
        serde_json::json!({"id": i.id, "title": i.title, "state": i.state, "impact": i.impact,
                    "started_at": i.started_at, "link": format!("{location}/incidents")})
    })
    .collect();
    let (case, files) = if prepared.is_empty() || replayed {
        (case, None)
    } else {
        let number = case.number;
        let case =
            casedesk_core::service::attach(st.store.as_ref(), &p, number, &prepared, true).await?;
        (
            case,
            Some(crate::requests::files::uploaded(&p, number, &prepared)),
        )
    };
    let trust_offers: Vec<serde_json::Value> =
        casedesk_core::trust::offers(st.store.as_ref(), &case)
            .await?
            .iter()
            .map(casedesk_core::trust::summary)
            .collect();
    let mut dto = CaseDto::with_sla(case, sla);
    dto.incident_offers = Some(offers);
    dto.trust_offers = (!trust_offers.is_empty()).then_some(trust_offers);
    dto.attachments = files;
    dto.secrets_removed = removed;
    let mut res = (StatusCode::CREATED, Json(dto)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    if replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(res)
}

/// Filters of the case list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `mine` (opened by me, or I am a team contact; for support: assigned to me) or `all`.
    view: Option<String>,
    /// Comma-separated statuses; `active` means all but closed.
    status: Option<String>,
    /// Comma-separated priorities.
    priority: Option<String>,
    /// Issue-area key.
    issue_area: Option<String>,
    /// Rollout stage.
    stage: Option<String>,
    /// Tenant slug.
    tenant: Option<String>,
    /// Queue.
    queue: Option<String>,
    /// Assignee email, `me` or `none`.
    assignee: Option<String>,
    /// `true` or `false`.
    escalated: Option<String>,
    /// Words to look for in subject and description.
    q: Option<String>,
    /// Page size, 1–100 (default 25).
    limit: Option<String>,
    /// The `next` value of the previous page.
    cursor: Option<String>,
    /// `newest` (default) or `sla_due`: the next SLA due time first, cases without a running
    /// clock last.
    sort: Option<String>,
}

/// List the cases the caller may see, newest first or by next SLA due time.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(ListParams),
    responses((status = 200, body = CaseList), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_cases(
    State(st): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<ListParams>,
) -> ApiResult<Json<CaseList>> {
    let limit = match q.limit.as_deref() {
        None => None,
        Some(l) => Some(l.parse::<u32>().map_err(|_| {
            DomainError::field("limit", "must be a whole number between 1 and 100")
        })?),
    };
    let cursor =
        match q.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                DomainError::field("cursor", "is not a cursor this API handed out")
            })?),
        };
    let filters = ListFilters {
        view: q.view,
        status: q.status,
        priority: q.priority,
        issue_area: q.issue_area,
        stage: q.stage,
        tenant: q.tenant,
        queue: q.queue,
        assignee: q.assignee,
        escalated: q.escalated,
        q: q.q,
        limit,
        cursor,
        sort: q.sort,
        account: None,
    };
    let (rows, next) = service::list_cases(st.store.as_ref(), &p, &filters).await?;
    Ok(Json(CaseList {
        items: rows.into_iter().map(Into::into).collect(),
        next: next.map(encode_cursor),
    }))
}

/// Get a case.
#[utoipa::path(get, path = "/api/v1/cases/{number}", tag = "cases", params(("number" = i64, Path)),
    responses((status = 200, body = CaseDto), (status = 404, body = Problem, description = "No such case, or not yours")),
    security(("bearer" = [])))]
pub async fn get_case(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(n): Path<String>,
) -> ApiResult<Json<CaseDto>> {
    let case = service::get_case(st.store.as_ref(), &p, number(&n)?).await?;
    let sla = service::case_sla(st.store.as_ref(), &case).await?;
    Ok(Json(CaseDto::with_sla(case, sla)))
}

/// The SLA of a case: per target its newest cycle's state, due time and business time left.
#[utoipa::path(get, path = "/api/v1/cases/{number}/sla", tag = "sla", params(("number" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem, description = "No such case, or not yours")),
    security(("bearer" = [])))]
pub async fn get_sla(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(n): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        service::get_sla(st.store.as_ref(), &p, number(&n)?).await?,
    ))
}

/// How the SLA of a case was computed: the policy, the calendar, and per cycle the intervals
/// counted, the pauses, and the clock log they derive from.
#[utoipa::path(get, path = "/api/v1/cases/{number}/sla/explain", tag = "sla", params(("number" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem, description = "No such case, or not yours")),
    security(("bearer" = [])))]
pub async fn explain_sla(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(n): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        service::explain_sla(st.store.as_ref(), &p, number(&n)?).await?,
    ))
}

/// The case timeline; customers see public events only.
#[utoipa::path(get, path = "/api/v1/cases/{number}/events", tag = "cases", params(("number" = i64, Path)),
    responses((status = 200, body = EventList), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn list_events(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(n): Path<String>,
) -> ApiResult<Json<EventList>> {
    let events = service::list_events(st.store.as_ref(), &p, number(&n)?).await?;
    Ok(Json(EventList {
        items: events.into_iter().map(Into::into).collect(),
    }))
}

async fn act(
    st: &AppState,
    p: &casedesk_core::users::Principal,
    n: &str,
    cmd: Command,
) -> ApiResult<Json<CaseDto>> {
    let case = service::act(st.store.as_ref(), p, number(n)?, cmd).await?;
    let sla = service::case_sla(st.store.as_ref(), &case).await?;
    Ok(Json(CaseDto::with_sla(case, sla)))
}

macro_rules! action {
    ($(#[$doc:meta])* $name:ident, $method:ident, $path:literal, $body:ty, |$b:ident| $cmd:expr) => {
        $(#[$doc])*
        #[utoipa::path($method, path = $path, tag = "cases", params(("number" = i64, Path)), request_body = $body,
            responses((status = 200, body = CaseDto, description = "The case after the change"),
                (status = 403, body = Problem), (status = 404, body = Problem),
                (status = 409, body = Problem, description = "Not allowed in the current status, which is named"),
                (status = 422, body = Problem)),
            security(("bearer" = [])))]
        pub async fn $name(
            State(st): State<AppState>,
            Caller(p): Caller,
            Path(n): Path<String>,
            raw: Result<Bytes, BytesRejection>,
        ) -> ApiResult<Json<CaseDto>> {
            let raw = body::bytes(raw)?;
            let $b: $body = body::parse(&raw)?;
            act(&st, &p, &n, $cmd).await
        }
    };
}

action!(/// Public reply. A customer reply reopens a pending or solved case; an agent's first reply opens a new one.
    reply, post, "/api/v1/cases/{number}/replies", MessageBody, |b| Command::Reply { body: b.body });
action!(/// Internal note, visible to support only.
    note, post, "/api/v1/cases/{number}/notes", MessageBody, |b| Command::Note { body: b.body });
action!(/// Ask the customer for information (→ pending).
    request_info, post, "/api/v1/cases/{number}/request-info", MessageBody, |b| Command::RequestInfo { body: b.body });
action!(/// Wait on a third party (→ on_hold).
    hold, post, "/api/v1/cases/{number}/hold", ReasonBody, |b| Command::Hold { reason: b.reason });
action!(/// Resume a pending or on-hold case (→ open).
    resume, post, "/api/v1/cases/{number}/resume", OptionalMessage, |b| Command::Resume { body: b.body });
action!(/// Propose a resolution (→ solved).
    propose_resolution, post, "/api/v1/cases/{number}/propose-resolution", MessageBody, |b| Command::ProposeResolution { body: b.body });
action!(/// The customer confirms the proposed resolution (→ closed).
    confirm_resolution, post, "/api/v1/cases/{number}/confirm-resolution", ConfirmBody, |b| Command::ConfirmResolution { comment: b.comment });
action!(/// The customer escalates the case with a reason.
    escalate, post, "/api/v1/cases/{number}/escalate", ReasonBody, |b| Command::Escalate { reason: b.reason });
action!(/// Assign to a support engineer, or unassign with null.
    assign, put, "/api/v1/cases/{number}/assignee", AssignBody, |b| Command::Assign { assignee: b.assignee });
action!(/// Change the priority, with a reason.
    change_priority, put, "/api/v1/cases/{number}/priority", PriorityBody, |b| Command::ChangePriority { priority: b.priority, reason: b.reason });
action!(/// Add a team contact (an admin of the case's account).
    add_contact, post, "/api/v1/cases/{number}/team-contacts", ContactBody, |b| Command::AddContact { email: b.email });
action!(/// Record the summary of a call or chat.
    summary, post, "/api/v1/cases/{number}/summaries", SummaryBody, |b| Command::Summary {
        channel: b.channel, conclusions: b.conclusions, next_steps: b.next_steps, internal: b.internal });

/// Change the case email, phone or time zone: `{"email", "phone", "timezone"}`, any of them
/// (the others stay). The requester or support; recorded on the timeline.
#[utoipa::path(put, path = "/api/v1/cases/{number}/contact", tag = "cases", params(("number" = i64, Path)),
    responses((status = 200, body = CaseDto, description = "The case after the change"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn change_contact(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(n): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<CaseDto>> {
    let contact = body::value(&body::bytes(raw)?)?;
    refuse_own_address(&st, contact.get("email"), "email")?;
    act(&st, &p, &n, Command::ChangeContact { contact }).await
}

/// A case email may not be casedesk's own address: every message of the case would come back
/// to the mail gate instead of reaching a person.
pub(crate) fn refuse_own_address(
    st: &AppState,
    email: Option<&serde_json::Value>,
    field: &str,
) -> Result<(), DomainError> {
    match email.and_then(serde_json::Value::as_str) {
        Some(e) if st.mailer.is_own_address(e) => Err(DomainError::field(
            field,
            "is casedesk's own address; give an address where a person reads the case's mail",
        )),
        _ => Ok(()),
    }
}

/// Remove a team contact.
#[utoipa::path(delete, path = "/api/v1/cases/{number}/team-contacts/{email}", tag = "cases",
    params(("number" = i64, Path), ("email" = String, Path)),
    responses((status = 200, body = CaseDto), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn remove_contact(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path((n, email)): Path<(String, String)>,
) -> ApiResult<Json<CaseDto>> {
    act(&st, &p, &n, Command::RemoveContact { email }).await
}
