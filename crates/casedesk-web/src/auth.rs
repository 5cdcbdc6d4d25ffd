//! The bearer-credential extractor: API tokens and JWTs from trusted issuers.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use casedesk_auth::AuthError;
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
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("bearer "))
            .and_then(|_| header.get(7..))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(ApiError::Unauthenticated {
                described: "send an API token or an access token as Authorization: Bearer <token>"
                    .into(),
                missing: true,
            });
        };
        match state.auth.authenticate(token).await {
            Ok(mut p) => {
                let ip = parts
                    .extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0.ip());
                let via = p.origin.via.take();
                p.origin = crate::signin::origin_of(&parts.headers, ip);
                p.origin.via = via;
                Ok(Caller(p))
            }
            Err(AuthError::Refused(r)) => Err(ApiError::Unauthenticated {
                described: r.description(),
                missing: false,
            }),
            Err(AuthError::Unavailable { issuer }) => Err(ApiError::ProviderUnavailable { issuer }),
            Err(AuthError::Domain(e)) => Err(e.into()),
        }
    }
}

/// A caller who may be anonymous: no `Authorization` header is `None`; a header that does
/// not authenticate is still refused (a wrong token is never read as "no token").
pub struct MaybeCaller(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(MaybeCaller(None));
        }
        let Caller(p) = Caller::from_request_parts(parts, state).await?;
        Ok(MaybeCaller(Some(p)))
    }
}
