//! The sign-in identities bound to a user: which issuer's subject stands for them. Support
//! managers list, link and unlink them; everyone else gets a 403 that says so.

use super::extract::Path;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use casedesk_core::identity::{self, Identity};
use casedesk_core::{DomainError, FieldError};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::body;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::Caller;

/// An identity at a trusted issuer bound to a user.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityDto {
    /// The issuer's configured name.
    pub issuer: String,
    /// The issuer identifier (`iss`).
    pub issuer_url: String,
    /// The subject (`sub`) at that issuer.
    pub subject: String,
    /// When it was bound (RFC 3339).
    pub linked_at: String,
}

/// A user's identities.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityList {
    /// Oldest first.
    pub items: Vec<IdentityDto>,
}

impl From<Identity> for IdentityDto {
    fn from(i: Identity) -> Self {
        IdentityDto {
            issuer: i.issuer_name,
            issuer_url: i.issuer,
            subject: i.subject,
            linked_at: i.created_at.to_string(),
        }
    }
}

/// The issuer identifier of a configured issuer name, or a field error.
fn issuer_url(st: &AppState, name: &str) -> Result<String, DomainError> {
    st.auth
        .issuer(name)
        .map(|i| i.config.issuer.clone())
        .ok_or_else(|| {
            let known: Vec<&str> = st
                .auth
                .issuers()
                .iter()
                .map(|i| i.config.name.as_str())
                .collect();
            DomainError::field(
                "issuer",
                if known.is_empty() {
                    "names no issuer: none is configured".to_owned()
                } else {
                    format!("must be a configured issuer: {}", known.join(", "))
                },
            )
        })
}

/// The identities bound to a user (support managers).
#[utoipa::path(get, path = "/api/v1/users/{email}/identities", tag = "users",
    params(("email" = String, Path)),
    responses((status = 200, body = IdentityList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(email): Path<String>,
) -> Result<Json<IdentityList>, ApiError> {
    let items = identity::identities(st.store.as_ref(), &p, &email).await?;
    Ok(Json(IdentityList {
        items: items.into_iter().map(IdentityDto::from).collect(),
    }))
}

/// Body of `POST /api/v1/users/{email}/identities`.
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the body; the handler validates the JSON itself"
)]
pub struct LinkInput {
    /// The configured name of the issuer.
    pub issuer: String,
    /// The user's subject (`sub`) at that issuer.
    pub subject: String,
}

/// Binds an issuer's subject to a user, so that issuer's tokens for that subject stand for
/// them (support managers). A subject bound to another user answers 409.
#[utoipa::path(post, path = "/api/v1/users/{email}/identities", tag = "users",
    params(("email" = String, Path)), request_body = LinkInput,
    responses((status = 201, body = IdentityDto), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn link(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(email): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IdentityDto>), ApiError> {
    let v = body::value(&body::bytes(raw)?)?;
    let Value::Object(map) = v else {
        return Err(DomainError::field("body", "must be a JSON object").into());
    };
    let mut errors: Vec<FieldError> = map
        .keys()
        .filter(|k| !["issuer", "subject"].contains(&k.as_str()))
        .map(|k| FieldError::new(k.clone(), "is not a field of an identity"))
        .collect();
    let text = |k: &str, errors: &mut Vec<FieldError>| match map.get(k) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => {
            errors.push(FieldError::new(k, "is required, as text"));
            None
        }
    };
    let name = text("issuer", &mut errors);
    let subject = text("subject", &mut errors);
    let url = match &name {
        Some(n) => match issuer_url(&st, n) {
            Ok(u) => Some(u),
            Err(DomainError::Validation(mut v)) => {
                errors.append(&mut v);
                None
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let (Some(name), Some(subject), Some(url), true) = (name, subject, url, errors.is_empty())
    else {
        return Err(DomainError::Validation(errors).into());
    };
    let i = identity::link(st.store.as_ref(), &p, &email, &url, &name, &subject).await?;
    Ok((StatusCode::CREATED, Json(i.into())))
}

/// Unbinds an identity from a user (support managers).
#[utoipa::path(delete, path = "/api/v1/users/{email}/identities/{issuer}/{subject}", tag = "users",
    params(("email" = String, Path), ("issuer" = String, Path), ("subject" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn unlink(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path((email, issuer, subject)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let url = issuer_url(&st, &issuer)?;
    identity::unlink(st.store.as_ref(), &p, &email, &url, &subject).await?;
    Ok(StatusCode::NO_CONTENT)
}
