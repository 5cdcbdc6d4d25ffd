//! Who is asking: the bearer-credential extractors of the API (`Caller`: API tokens and JWTs
//! from trusted issuers) and the session extractors of the pages (`Viewer`: the browser
//! session cookie), with the cookies and the request origin they read. Both `api` and `ui`
//! stand on this module; it knows neither.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use casedesk_auth::AuthError;
use casedesk_auth::tokens::hash_token;
use casedesk_core::identity::Session;
use casedesk_core::users::{Origin, Principal, Role, Scope, User};
use casedesk_core::{DomainError, now};

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
                p.origin = origin_of(&parts.headers, ip);
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

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "casedesk_session";

/// Name of the pre-sign-in CSRF cookie.
pub const CSRF_COOKIE: &str = "casedesk_csrf";

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Refuses posts a browser marks as coming from another site.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    match (get("origin"), get("host")) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// The signed-in user of a request, if any.
pub async fn session_of(
    st: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(User, Session)>, DomainError> {
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    if secret.len() > 100 {
        return Ok(None);
    }
    Ok(st
        .store
        .find_session(&hash_token(&secret), now())
        .await?
        .filter(|(u, _)| u.active()))
}

/// Where a request came from, for the audit trail.
pub fn origin_of(headers: &HeaderMap, ip: Option<IpAddr>) -> Origin {
    Origin {
        ip: ip.map(|i| i.to_string()),
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(100).collect()),
        via: None,
    }
}

/// A signed-in person looking at a page: the user as a principal, and the CSRF token the
/// page's forms carry.
pub struct Viewer {
    /// The user, with every scope their role may hold (a browser session is the user).
    pub p: Principal,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Viewer {
    pub(crate) fn role(&self) -> Role {
        self.p.user.role
    }
    pub(crate) fn support(&self) -> bool {
        matches!(self.role(), Role::Agent | Role::Manager)
    }
    pub(crate) fn manager(&self) -> bool {
        self.role() == Role::Manager
    }
}

/// The viewer of a request, if someone is signed in.
pub async fn viewer_of(st: &AppState, parts: &Parts) -> Result<Option<Viewer>, DomainError> {
    let Some((user, session)) = session_of(st, &parts.headers).await? else {
        return Ok(None);
    };
    let ip = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let scopes = user
        .grantable_scopes()
        .into_iter()
        .filter(|s| *s != Scope::MailIngest)
        .collect();
    Ok(Some(Viewer {
        p: Principal {
            user,
            scopes,
            origin: origin_of(&parts.headers, ip),
        },
        csrf: session.csrf,
    }))
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Unseen;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Unseen> {
        match viewer_of(st, parts).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => {
                let back = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                Err(Unseen::SignIn {
                    back: back.to_owned(),
                })
            }
            Err(e) => Err(Unseen::Failed(e)),
        }
    }
}

/// A viewer who may be anonymous (the knowledge base and the status page are public).
pub struct MaybeViewer(pub Option<Viewer>);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = Unseen;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Unseen> {
        viewer_of(st, parts)
            .await
            .map(MaybeViewer)
            .map_err(Unseen::Failed)
    }
}

/// Why a page was not shown to a viewer: nobody is signed in (sign in, then come back to
/// `back`), or the session could not be read. The UI renders it (`ui::page`).
#[derive(Debug)]
pub enum Unseen {
    /// Nobody is signed in.
    SignIn {
        /// The path and query to return to.
        back: String,
    },
    /// The session could not be read.
    Failed(DomainError),
}
