//! API tokens of the caller: list, create, revoke. Another user's token answers 404.

use super::extract::Path;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use casedesk_core::admin::token_record;
use casedesk_core::identity;
use casedesk_core::identity::TokenRecord;
use casedesk_core::permissions::require_scope;
use casedesk_core::users::Scope;
use casedesk_core::{DomainError, FieldError};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::body;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::Caller;

/// An API token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDto {
    /// Identifier, for revoking.
    pub id: String,
    /// The owner's name for it.
    pub label: Option<String>,
    /// Scopes it carries.
    pub scopes: Vec<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it last authenticated a request (to the minute).
    pub last_used_at: Option<String>,
}

/// A new token; `token` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewTokenDto {
    /// The token record.
    #[serde(flatten)]
    pub record: TokenDto,
    /// The secret, shown once; casedesk keeps only its hash.
    pub token: String,
}

/// The caller's tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    /// Newest first.
    pub items: Vec<TokenDto>,
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the body; the handler validates the JSON itself"
)]
pub struct TokenInput {
    /// A name, e.g. "nightly export" (at most 100 characters).
    pub label: Option<String>,
    /// Scopes; empty or absent means every scope the caller's credential may pass on.
    pub scopes: Option<Vec<String>>,
}

impl From<TokenRecord> for TokenDto {
    fn from(t: TokenRecord) -> Self {
        TokenDto {
            id: t.id.to_string(),
            label: t.label,
            scopes: t.scopes.iter().map(|s| s.key().to_owned()).collect(),
            created_at: t.created_at.to_string(),
            last_used_at: t.last_used_at.map(|t| t.to_string()),
        }
    }
}

/// List the caller's API tokens.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = TokenList), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<TokenList>, ApiError> {
    let items = identity::list_tokens(st.store.as_ref(), &p).await?;
    Ok(Json(TokenList {
        items: items.into_iter().map(TokenDto::from).collect(),
    }))
}

/// Create an API token for the caller. It never carries more than the caller's own
/// credential, nor more than the caller's role allows.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenInput,
    responses((status = 201, body = NewTokenDto), (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require_scope(&p, Scope::Tokens)?;
    let raw = body::bytes(raw)?;
    let value = body::value(&raw)?;
    let Value::Object(map) = value else {
        return Err(DomainError::field("body", "must be a JSON object").into());
    };
    let mut errors = Vec::new();
    for k in map.keys() {
        if k != "label" && k != "scopes" {
            errors.push(FieldError::new(k.clone(), "is not a field of a token"));
        }
    }
    let label = match map.get("label") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new("label", "must be a string"));
            None
        }
    };
    let mut scopes = Vec::new();
    match map.get("scopes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                match v.as_str().map(str::parse::<Scope>) {
                    Some(Ok(s)) => scopes.push(s),
                    _ => errors.push(FieldError::new(
                        format!("scopes[{i}]"),
                        "must be one of cases:read, cases:write, tokens, admin, mail:ingest, grants:read, trust:read",
                    )),
                }
            }
        }
        Some(_) => errors.push(FieldError::new("scopes", "must be a list of scopes")),
    }
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors).into());
    }
    let new = casedesk_auth::generate_token()?;
    let record = token_record(&p.user, &scopes, Some(&p.scopes), label, new.hash)?;
    let audit = casedesk_core::admin::token_audit(
        casedesk_core::audit::AuditRecord::by(&p, "token.create", format!("token:{}", record.id)),
        &p.user,
        &record,
    );
    st.store.create_token(&record, &audit).await?;
    let dto = NewTokenDto {
        record: record.into(),
        token: new.secret,
    };
    Ok((StatusCode::CREATED, Json(dto)).into_response())
}

/// Revoke one of the caller's API tokens; it stops working at once on this node.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(st): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| DomainError::NotFound { entity: "token" })?;
    identity::revoke_token(st.store.as_ref(), &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
