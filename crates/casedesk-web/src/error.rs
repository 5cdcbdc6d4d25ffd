//! The one place where domain errors become HTTP answers: RFC 9457 problem+json.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use casedesk_core::{DomainError, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    /// Dotted path of the field, e.g. `identifiers.redirect_uri`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Identifies the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened, for a person.
    pub detail: String,
    /// Every invalid field, on validation failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldProblem>>,
    /// The case's current status, on lifecycle conflicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
    /// The scope that was missing, on `insufficient_scope`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
}

/// An error answered as problem+json.
#[derive(Debug)]
pub enum ApiError {
    /// A domain error.
    Domain(DomainError),
    /// No bearer credential (`missing`), or one that was refused, with the reason.
    Unauthenticated { described: String, missing: bool },
    /// The identity provider's keys cannot be had, so a JWT cannot be checked.
    ProviderUnavailable { issuer: String },
    /// The request body is not the JSON expected.
    BadJson(String),
    /// The body is larger than allowed.
    TooLarge,
    /// The body did not arrive within `http.body_timeout_seconds`.
    BodyTimeout,
    /// The body could not be read to its end (the connection closed, the length was wrong).
    UnreadableBody,
    /// The body is of a kind the route does not take.
    UnsupportedMediaType { sent: String, accepted: String },
    /// A received message is larger than the mail gate accepts.
    MessageTooLarge { limit: usize },
    /// A request budget is spent; `wait` is how long until the next request may go.
    TooManyRequests { detail: String, wait_seconds: u64 },
    /// An uploaded file is larger than its limit (counted while it arrived).
    FileTooLarge {
        field: String,
        file_name: String,
        limit: u64,
        har_limit: u64,
    },
}

impl ApiError {
    /// The error of a body that could not be read, from the reader's words: too large, too
    /// slow, or cut off.
    pub fn unreadable_body(words: &str) -> ApiError {
        if words.contains(BODY_TIMED_OUT) {
            ApiError::BodyTimeout
        } else if words.contains("length limit") {
            ApiError::TooLarge
        } else {
            ApiError::UnreadableBody
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError::Domain(e)
    }
}

/// A problem of `kind` (the last part of its type URI).
pub(crate) fn problem(status: StatusCode, kind: &str, title: &str, detail: String) -> Problem {
    Problem {
        kind: format!("https://casedesk.dev/problems/{kind}"),
        title: title.into(),
        status: status.as_u16(),
        detail,
        errors: None,
        current_status: None,
        required_scope: None,
    }
}

fn fields(errs: Vec<FieldError>) -> Vec<FieldProblem> {
    errs.into_iter()
        .map(|e| FieldProblem {
            field: e.field,
            message: e.message,
        })
        .collect()
}

/// A byte count in words.
fn size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MB", bytes / (1024 * 1024))
    } else if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{bytes} bytes")
    }
}

/// Capitalises the first letter and ends with a full stop.
fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}

/// How long a client is asked to wait after a 503.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// Adds `Retry-After` to a 503, so clients and load balancers come back instead of failing.
pub fn with_retry_after(mut res: Response) -> Response {
    if res.status() == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    res
}

/// Builds the response for a problem, with extra headers.
pub fn respond(p: Problem, www_authenticate: Option<String>) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&p).unwrap_or_default();
    let mut res = with_retry_after((status, body).into_response());
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(v) = www_authenticate.and_then(|v| HeaderValue::from_str(&v).ok()) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Unauthenticated { described, missing } => {
                // RFC 6750 §3.1: a request without credentials gets no error code.
                let challenge = if missing {
                    "Bearer realm=\"casedesk\"".to_owned()
                } else {
                    format!(
                        "Bearer realm=\"casedesk\", error=\"invalid_token\", error_description=\"{}\"",
                        described.replace(['"', '\\'], "'")
                    )
                };
                respond(
                    problem(
                        StatusCode::UNAUTHORIZED,
                        "unauthenticated",
                        "Authentication required",
                        sentence(&described),
                    ),
                    Some(challenge),
                )
            }
            ApiError::ProviderUnavailable { issuer } => {
                let mut res = respond(
                    problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "provider-unavailable",
                        "The identity provider cannot be reached",
                        format!(
                            "casedesk cannot fetch the signing keys of the issuer {issuer}, so it cannot check this token. Retry shortly, or use an API token."
                        ),
                    ),
                    None,
                );
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
                res
            }
            ApiError::TooManyRequests {
                detail,
                wait_seconds,
            } => {
                let mut res = respond(
                    problem(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate-limited",
                        "Too many requests",
                        detail,
                    ),
                    None,
                );
                if let Ok(v) = HeaderValue::from_str(&wait_seconds.max(1).to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
                res
            }
            ApiError::BadJson(msg) => {
                let mut p = problem(
                    StatusCode::BAD_REQUEST,
                    "malformed-body",
                    "The request body is not valid JSON",
                    msg,
                );
                p.errors = Some(vec![FieldProblem {
                    field: "body".into(),
                    message: "must be one JSON value".into(),
                }]);
                respond(p, None)
            }
            ApiError::UnreadableBody => {
                let mut res = respond(
                    problem(
                        StatusCode::BAD_REQUEST,
                        "unreadable-body",
                        "The request body could not be read",
                        "The body ended before its declared length, or the connection broke while it arrived; nothing was changed. Send it again.".into(),
                    ),
                    None,
                );
                unread_body(&mut res);
                res
            }
            ApiError::BodyTimeout => {
                let mut res = respond(
                    problem(
                        StatusCode::REQUEST_TIMEOUT,
                        "body-timeout",
                        "The request body arrived too slowly",
                        "The whole body must arrive within the server's time for it (http.body_timeout_seconds); nothing was changed. Send it again.".into(),
                    ),
                    None,
                );
                unread_body(&mut res);
                res
            }
            ApiError::UnsupportedMediaType { sent, accepted } => {
                let mut p = problem(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "The body is of a kind this route does not take",
                    if sent.is_empty() {
                        format!(
                            "The request has a body but no Content-Type; send it as {accepted}."
                        )
                    } else {
                        format!("The body was sent as {sent}; this route takes {accepted}.")
                    },
                );
                p.errors = Some(vec![FieldProblem {
                    field: "Content-Type".into(),
                    message: format!("must be {accepted}"),
                }]);
                respond(p, None)
            }
            ApiError::TooLarge => respond(
                problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    "The request body is too large",
                    format!(
                        "JSON bodies may be at most {} bytes; an upload may carry ten files, each within its limit (2 MB by default, 25 MB for a HAR capture)",
                        crate::limits::MAX_JSON_BODY
                    ),
                ),
                None,
            ),
            ApiError::MessageTooLarge { limit } => {
                let mut p = problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "message-too-large",
                    "The message is too large",
                    format!(
                        "casedesk accepts messages of at most {limit} bytes; nothing was recorded. Send large files through the case page instead."
                    ),
                );
                p.errors = Some(vec![FieldProblem {
                    field: "message".into(),
                    message: format!("must be at most {limit} bytes"),
                }]);
                respond(p, None)
            }
            ApiError::FileTooLarge {
                field,
                file_name,
                limit,
                har_limit,
            } => {
                let mut p = problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "file-too-large",
                    "A file is too large",
                    format!(
                        "{file_name} is over the limit of {} for this kind of file; nothing was stored. Files may be at most {}, HAR captures (.har) at most {}.",
                        size(limit),
                        size(limit.min(har_limit)),
                        size(har_limit)
                    ),
                );
                p.errors = Some(vec![FieldProblem {
                    field,
                    message: format!("must be at most {}", size(limit)),
                }]);
                respond(p, None)
            }
            ApiError::Domain(e) => domain_response(e),
        }
    }
}

/// Status, problem type, title and detail of a domain error: the JSON API answers them as
/// problem+json, the web pages as HTML, with the same words.
pub fn describe(e: &DomainError) -> (StatusCode, &'static str, &'static str, String) {
    match e {
        DomainError::NotFound { entity } => (
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("There is no {entity} here that you can see."),
        ),
        DomainError::Validation(errs) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Some fields are missing or invalid",
            format!(
                "{} field(s) need attention; nothing was changed.",
                errs.len()
            ),
        ),
        DomainError::Forbidden(msg) => (
            StatusCode::FORBIDDEN,
            "forbidden",
            "Permission missing",
            msg.clone(),
        ),
        DomainError::InsufficientScope(scope) => (
            StatusCode::FORBIDDEN,
            "insufficient-scope",
            "Token scope missing",
            format!(
                "The credential used lacks the {} scope. Use a token that carries it.",
                scope.key()
            ),
        ),
        DomainError::InvalidTransition { message, .. } => (
            StatusCode::CONFLICT,
            "invalid-transition",
            "Not allowed in the case's current status",
            message.clone(),
        ),
        DomainError::Conflict(msg) => (StatusCode::CONFLICT, "conflict", "Conflict", msg.clone()),
        DomainError::Gone(msg) => (StatusCode::GONE, "gone", "Deleted", msg.clone()),
        DomainError::Unavailable(msg) => {
            tracing::warn!(error = %msg, "the database is not answering");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable",
                format!(
                    "The database is not answering; the request may not have been carried out. Try again in {RETRY_AFTER_SECONDS} seconds (a request with an Idempotency-Key is safe to repeat)."
                ),
            )
        }
        DomainError::Internal(msg) => {
            tracing::error!(error = %msg, "internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong on our side",
                "The request could not be completed. It is safe to retry; if it keeps failing, tell your casedesk operator.".into(),
            )
        }
    }
}

fn domain_response(e: DomainError) -> Response {
    let (status, kind, title, detail) = describe(&e);
    let mut p = problem(status, kind, title, detail);
    let mut challenge = None;
    match e {
        DomainError::Validation(errs) => p.errors = Some(fields(errs)),
        DomainError::InsufficientScope(scope) => {
            p.required_scope = Some(scope.key().into());
            challenge = Some(format!(
                "Bearer realm=\"casedesk\", error=\"insufficient_scope\", scope=\"{}\"",
                scope.key()
            ));
        }
        DomainError::InvalidTransition { status, .. } => {
            p.current_status = Some(status.key().into())
        }
        _ => {}
    }
    respond(p, challenge)
}

/// Answers a panic inside a handler with a problem instead of dropping the connection.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    domain_response(DomainError::Internal("panic".into()))
}

/// The last word on every answer: a 4xx or 5xx that some layer answered in another form
/// (axum's 405, a rejection in plain text, an empty body) becomes problem+json with the same
/// status and headers. Pages keep their HTML.
pub async fn problems_only(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    // A made-up method may be long; the answer names at most its start.
    let method: String = req.method().as_str().chars().take(24).collect();
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let kind = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if kind.starts_with("application/problem+json") || kind.starts_with("text/html") {
        return res;
    }
    let (parts, _) = res.into_parts();
    let p = match status {
        StatusCode::METHOD_NOT_ALLOWED => problem(
            status,
            "method-not-allowed",
            "Method not allowed",
            format!(
                "This address does not take {method}; the Allow header lists the methods it takes."
            ),
        ),
        StatusCode::NOT_FOUND => problem(
            status,
            "not-found",
            "Not found",
            "There is no resource here that you can see.".into(),
        ),
        s if s.is_server_error() => {
            tracing::error!(status = s.as_u16(), "an answer without a problem body");
            problem(
                s,
                "internal",
                "Something went wrong on our side",
                "The request could not be completed. It is safe to retry; if it keeps failing, tell your casedesk operator.".into(),
            )
        }
        s => problem(
            s,
            "bad-request",
            s.canonical_reason().unwrap_or("Bad request"),
            "The request could not be understood; nothing was changed.".into(),
        ),
    };
    let mut fresh = respond(p, None);
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(k.clone(), v.clone());
        }
    }
    fresh
}

/// A body that did not arrive in time.
#[derive(Debug)]
pub struct BodyTimedOut;

/// Words of [`BodyTimedOut`], by which a failed read is recognised after extractors wrap it.
pub const BODY_TIMED_OUT: &str = "the request body did not arrive in time";

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(BODY_TIMED_OUT)
    }
}

/// Marks an answer given before the request's body was read to its end: the connection
/// closes after it, so a client does not send its next request into the unread rest.
pub fn unread_body(res: &mut Response) {
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// Any route that does not exist.
pub async fn not_found() -> ApiError {
    ApiError::Domain(casedesk_core::DomainError::NotFound { entity: "resource" })
}
