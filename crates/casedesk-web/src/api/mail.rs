//! Email routes: the mail gate that MTAs hand received messages to, the mail log of a case,
//! a received message's original, and each account's email intake.

use super::extract::Path;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use casedesk_core::DomainError;
use casedesk_core::mail;
use casedesk_core::permissions::require_scope;
use casedesk_core::users::Scope;
use serde_json::{Value, json};

use super::body;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::Caller;

/// Largest message the gate route reads; the configured limit (`mail.max_inbound_bytes`)
/// is checked against the message itself and answered in words.
pub const MAX_MESSAGE_BODY: usize = 64 * 1024 * 1024;

/// Hand one received message (RFC 5322, as the MTA received it) to casedesk. It is threaded
/// onto its case by our `Message-ID`s, then by the subject tag, and posted as a reply by its
/// sender; or recorded with the reason it was not. A second delivery of the same
/// `Message-ID` does nothing again.
#[utoipa::path(post, path = "/api/v1/inbound/email", tag = "email",
    request_body(content = String, content_type = "message/rfc822"),
    responses((status = 200, body = Object, description = "What became of the message: posted, opened, automatic, refused_sender, refused_closed, no_case, ignored"),
        (status = 413, body = Problem, description = "Larger than mail.max_inbound_bytes"),
        (status = 422, body = Problem, description = "Not an email message"),
        (status = 403, body = Problem, description = "The credential lacks mail:ingest")),
    security(("bearer" = [])))]
pub async fn ingest(
    State(st): State<AppState>,
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require_scope(&p, Scope::MailIngest)?;
    let raw = raw.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(ref f)
            if f.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::MessageTooLarge {
                limit: st.mailer.config().max_inbound_bytes,
            }
        }
        other => ApiError::unreadable_body(&other.body_text()),
    })?;
    let sink = casedesk_core::attachments::Sink {
        blobs: st.blobs.as_ref(),
        secrets: st.secrets.as_ref(),
        config: &st.attachments,
    };
    match casedesk_mail::gate::ingest(st.store.as_ref(), &st.mailer, &raw, Some(sink)).await {
        Ok(done) => {
            metrics::counter!("casedesk_mail_received_total", "outcome" => done.outcome.clone())
                .increment(1);
            Ok(Json(done).into_response())
        }
        Err(casedesk_mail::gate::GateError::Refused(r)) => {
            metrics::counter!("casedesk_mail_received_total", "outcome" => "refused").increment(1);
            Err(match r {
                casedesk_mail::inbound::Refusal::TooLarge { limit, .. } => {
                    ApiError::MessageTooLarge { limit }
                }
                other => ApiError::Domain(DomainError::field("message", other.to_string())),
            })
        }
        Err(casedesk_mail::gate::GateError::Domain(e)) => Err(e.into()),
    }
}

/// The messages sent on a case (to whom, when, the result) and received for it.
#[utoipa::path(get, path = "/api/v1/cases/{number}/mail", tag = "email", params(("number" = i64, Path)),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn case_mail(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(n): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let n = super::extract::number(&n)?;
    let (sent, received) = mail::case_mail(st.store.as_ref(), &p, n).await?;
    Ok(Json(json!({"sent": sent, "received": received})))
}

/// The original of a received message, as it arrived.
#[utoipa::path(get, path = "/api/v1/inbound/email/{id}", tag = "email", params(("id" = String, Path)),
    responses((status = 200, content_type = "message/rfc822", body = String), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn original(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = id
        .parse()
        .map_err(|_| ApiError::Domain(DomainError::NotFound { entity: "message" }))?;
    let (_, raw) = mail::inbound_original(st.store.as_ref(), &p, id).await?;
    let mut res = (StatusCode::OK, raw).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"message.eml\""),
    );
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}

/// The filters of the received-mail list.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboundParams {
    /// What became of the messages: `held` (the review queue; the default), `posted`,
    /// `opened`, `automatic`, `refused_sender`, `refused_closed`, `no_case`, `ignored`,
    /// `discarded`.
    state: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<String>,
    /// The `next` value of the previous page.
    cursor: Option<String>,
}

/// Received messages in one state, newest first: `state=held` is the mail waiting for support
/// to release or discard it (a sender our border did not verify, a flood, a machine's
/// acknowledgement), with the verdicts and the reason it was held.
#[utoipa::path(get, path = "/api/v1/inbound/email", tag = "email", params(InboundParams),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Caller(p): Caller,
    super::extract::Query(q): super::extract::Query<InboundParams>,
) -> Result<Json<Value>, ApiError> {
    let state = q.state.as_deref().unwrap_or("held");
    let outcome = mail::InboundOutcome::parse(state).ok_or_else(|| {
        DomainError::field(
            "state",
            "must be one of held, posted, opened, automatic, refused_sender, refused_closed, no_case, ignored, discarded",
        )
    })?;
    let limit = match q.limit.as_deref() {
        None => 50,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=mail::INBOUND_PAGE_MAX).contains(n))
            .ok_or_else(|| {
                DomainError::field("limit", "must be a whole number between 1 and 200")
            })?,
    };
    let before = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<uuid::Uuid>()
                .map_err(|_| DomainError::field("cursor", "is not a cursor this API handed out"))?,
        ),
    };
    let (items, next) =
        mail::inbound_by_outcome(st.store.as_ref(), &p, outcome, limit, before).await?;
    Ok(Json(json!({"items": items, "next": next})))
}

/// What support may say with a decision on held mail.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Review {
    note: Option<String>,
}

fn review_note(raw: Result<Bytes, BytesRejection>) -> Result<Option<String>, ApiError> {
    let raw = body::bytes(raw)?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let r: Review = body::parse(&raw)?;
    match r.note {
        Some(n) if n.chars().count() > 2000 => {
            Err(DomainError::field("note", "must be at most 2000 characters").into())
        }
        Some(n) if n.contains('\0') => {
            Err(DomainError::field("note", "must not contain NUL characters").into())
        }
        n => Ok(n.filter(|n| !n.trim().is_empty())),
    }
}

/// Release a held message: it is posted as its sender's reply (or opens its case) as if it
/// had passed the checks; who released it is recorded. Body (optional): `{"note": "…"}`.
#[utoipa::path(post, path = "/api/v1/inbound/email/{id}/release", tag = "email", params(("id" = String, Path)),
    responses((status = 200, body = Object, description = "What became of the message once released"),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "The message is not held")),
    security(("bearer" = [])))]
pub async fn release(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = id
        .parse()
        .map_err(|_| ApiError::Domain(DomainError::NotFound { entity: "message" }))?;
    let note = review_note(raw)?;
    let sink = casedesk_core::attachments::Sink {
        blobs: st.blobs.as_ref(),
        secrets: st.secrets.as_ref(),
        config: &st.attachments,
    };
    match casedesk_mail::gate::release(
        st.store.as_ref(),
        &st.mailer,
        &p,
        id,
        note.as_deref(),
        Some(sink),
    )
    .await
    {
        Ok(done) => Ok(Json(done).into_response()),
        Err(casedesk_mail::gate::GateError::Refused(r)) => Err(ApiError::Domain(
            DomainError::field("message", r.to_string()),
        )),
        Err(casedesk_mail::gate::GateError::Domain(e)) => Err(e.into()),
    }
}

/// Discard a held message: it is never posted; it stays listed as discarded with who decided.
/// Body (optional): `{"note": "…"}`.
#[utoipa::path(post, path = "/api/v1/inbound/email/{id}/discard", tag = "email", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem), (status = 409, body = Problem, description = "The message is not held")),
    security(("bearer" = [])))]
pub async fn discard(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<mail::InboundSummary>, ApiError> {
    let id = id
        .parse()
        .map_err(|_| ApiError::Domain(DomainError::NotFound { entity: "message" }))?;
    let note = review_note(raw)?;
    Ok(Json(
        mail::discard_held(st.store.as_ref(), &p, id, note.as_deref()).await?,
    ))
}

/// Whether an account opens cases from email, and the intake fields they start from.
#[utoipa::path(get, path = "/api/v1/accounts/{account}/email-intake", tag = "email", params(("account" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_intake(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(account): Path<String>,
) -> Result<Json<mail::EmailIntake>, ApiError> {
    Ok(Json(
        mail::email_intake(st.store.as_ref(), &p, &account).await?,
    ))
}

/// Set an account's email intake: `{"enabled": true, "defaults": {…intake fields…}}`. Enabling
/// checks that the defaults, with a message's subject, text and sender, pass the intake.
#[utoipa::path(put, path = "/api/v1/accounts/{account}/email-intake", tag = "email", params(("account" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn put_intake(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(account): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<mail::EmailIntake>, ApiError> {
    let v = body::value(&body::bytes(raw)?)?;
    Ok(Json(
        casedesk_core::service::put_email_intake(st.store.as_ref(), &p, &account, &v).await?,
    ))
}
