//! The bearer-token extractor.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use casedesk_auth::{Refusal, authenticate};
use casedesk_core::users::Principal;

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(ApiError::Unauthenticated {
                described: "Send an API token as Authorization: Bearer <token>.",
            });
        };
        match authenticate(state.store.as_ref(), token).await? {
            Ok(p) => Ok(Caller(p)),
            Err(Refusal::Unknown) => Err(ApiError::Unauthenticated {
                described: "The token is unknown or was revoked.",
            }),
        }
    }
}
