//! Browser sign-in: local passwords and OpenID Connect, server-side sessions behind an
//! HttpOnly, SameSite=Lax cookie, and CSRF protection on every form post.
//!
//! CSRF: forms carry a token that must match — before sign-in, a random cookie (double
//! submit); after, the session's own token. Posts whose `Sec-Fetch-Site` or `Origin` show
//! another site are refused before that.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use casedesk_auth::oidc::{login, mapping};
use casedesk_auth::password::verify_password;
use casedesk_auth::tokens::{hash_token, random_b64, same_secret};
use casedesk_core::audit::{Actor, AuditRecord, Origin};
use casedesk_core::diagnostics::secrets::Tag;
use casedesk_core::identity::{LOGIN_FLOW_TTL, Session};
use casedesk_core::users::{User, normalize_email};
use casedesk_core::{DomainError, now};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::session::{CSRF_COOKIE, SESSION_COOKIE, cookie, origin_of, same_origin, session_of};

/// Name of the cookie binding an OpenID Connect login to the browser that started it.
pub const STATE_COOKIE: &str = "casedesk_oidc_state";

fn secure(st: &AppState) -> bool {
    st.auth
        .config()
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

fn set_cookie(
    st: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u64>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    if secure(st) {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("casedesk_invalid=1"))
}

fn clear_cookie(name: &str, path: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}=; Path={path}; HttpOnly; SameSite=Lax; Max-Age=0"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("casedesk_invalid=1"))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A sign-in page in the frame of every page; `body` is markup built here (every value in
/// it escaped).
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    crate::ui::respond(
        status,
        crate::ui::layout(None, title, "", maud::PreEscaped(body.to_owned())),
    )
}

fn redirect(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// Only local paths are returned to, so sign-in cannot be turned into an open redirect.
pub(crate) fn local_path(p: Option<&str>) -> String {
    match p {
        Some(p)
            if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && p.len() < 512 =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Records a refused sign-in (nothing else changes, so it is written on its own).
async fn audit_refusal(
    st: &AppState,
    origin: &Origin,
    who: &str,
    account: Option<uuid::Uuid>,
    method: &str,
    reason: &str,
) {
    let a = AuditRecord::new(
        Actor::system("anonymous"),
        "signin.failure",
        format!("user:{who}"),
    )
    .account(account)
    .origin(origin)
    .summary(json!({"method": method, "reason": reason}));
    if let Err(e) = st.store.append_audit(&a).await {
        tracing::error!(error = %e, "could not record a refused sign-in in the audit trail");
    }
}

async fn start_session(
    st: &AppState,
    user: &User,
    issuer: Option<String>,
    to: &str,
    origin: &Origin,
) -> Result<Response, DomainError> {
    let secret = random_b64(32)?;
    let created = now();
    let hours = st.auth.config().session_hours;
    let expires = created
        .checked_add(Duration::from_secs(hours * 3600))
        .map_err(|e| DomainError::Internal(e.to_string()))?;
    let method = match &issuer {
        Some(i) => format!("oidc:{i}"),
        None => "password".into(),
    };
    let audit = AuditRecord::new(
        Actor::user(user),
        "signin.success",
        format!("user:{}", user.email),
    )
    .account(user.account_id)
    .origin(origin)
    .summary(json!({"method": method}));
    st.store
        .create_session(
            &Session {
                hash: hash_token(&secret),
                user_id: user.id,
                csrf: random_b64(24)?,
                issuer,
                created_at: created,
                expires_at: expires,
            },
            &audit,
        )
        .await?;
    let mut res = redirect(to);
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(st, SESSION_COOKIE, &secret, "/", Some(hours * 3600)),
    );
    res.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(CSRF_COOKIE, "/auth"));
    Ok(res)
}

fn internal(e: DomainError) -> Response {
    tracing::error!(error = %e, "sign-in failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "<p>Sign-in could not be completed. Try again in a moment.</p>",
    )
}

fn login_form(st: &AppState, csrf: &str, message: Option<&str>, return_to: &str) -> String {
    let mut body = String::new();
    if let Some(m) = message {
        body.push_str(&format!(
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(m)
        ));
    }
    if st.auth.local_accounts() {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/auth/login\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <input type=\"hidden\" name=\"return_to\" value=\"{}\">\
             <label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\
             <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>",
            escape(csrf),
            escape(return_to)
        ));
    }
    for i in st
        .auth
        .issuers()
        .iter()
        .filter(|i| i.config.client_id.is_some())
    {
        let label = i
            .config
            .display_name
            .clone()
            .unwrap_or_else(|| i.config.name.clone());
        body.push_str(&format!(
            "<p><a class=\"button\" href=\"/auth/oidc/{}/start?return_to={}\">Sign in with {}</a></p>",
            escape(&i.config.name),
            escape(&url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()),
            escape(&label)
        ));
    }
    if body.is_empty() {
        body.push_str("<p>No way to sign in is configured. Ask your casedesk operator.</p>");
    }
    body
}

/// Where to go after signing in.
#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

/// `GET /auth/login`: the sign-in page.
pub async fn login_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let existing = cookie(&headers, CSRF_COOKIE).filter(|c| c.len() >= 32 && c.len() <= 64);
    let csrf = match existing {
        Some(c) => c,
        None => match random_b64(24) {
            Ok(c) => c,
            Err(e) => return internal(e),
        },
    };
    let back = local_path(q.return_to.as_deref());
    let mut res = page(
        StatusCode::OK,
        "Sign in",
        &login_form(&st, &csrf, None, &back),
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&st, CSRF_COOKIE, &csrf, "/auth", Some(3600)),
    );
    res
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

/// A posted sign-in form: its headers, the client's address, where it came from, and its
/// fields; a form too large is answered with a page titled `title`.
struct Posted {
    ip: Option<IpAddr>,
    headers: HeaderMap,
    origin: Origin,
    f: HashMap<String, String>,
}

async fn posted(req: Request, title: &str) -> Result<Posted, Response> {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = req.headers().clone();
    let origin = origin_of(&headers, ip);
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), 16 * 1024).await else {
        return Err(page(
            StatusCode::PAYLOAD_TOO_LARGE,
            title,
            "<p>The form is too large.</p>",
        ));
    };
    Ok(Posted {
        ip,
        headers,
        origin,
        f: form(&bytes),
    })
}

/// `POST /auth/login`: checks a local password, with per-address limits and per-user lockout.
pub async fn login_submit(State(st): State<AppState>, req: Request) -> Response {
    let Posted {
        ip,
        headers,
        origin,
        f,
    } = match posted(req, "Sign in").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ip = ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let csrf_cookie = cookie(&headers, CSRF_COOKIE).unwrap_or_default();
    let back = local_path(f.get("return_to").map(String::as_str));
    let fail = |status: StatusCode, msg: &str| {
        page(
            status,
            "Sign in",
            &login_form(&st, &csrf_cookie, Some(msg), &back),
        )
    };
    if !st.auth.local_accounts() {
        return fail(
            StatusCode::NOT_FOUND,
            "Sign-in with a password is turned off here.",
        );
    }
    let sent = f.get("csrf").map(String::as_str).unwrap_or("");
    if !same_origin(&headers) || csrf_cookie.is_empty() || !same_secret(sent, &csrf_cookie) {
        return fail(
            StatusCode::FORBIDDEN,
            "This form has expired or came from another site. Please try again.",
        );
    }
    if !st.limiter.allow(crate::limits::client_key(ip)) {
        let who = f
            .get("email")
            .map(|e| e.chars().take(200).collect::<String>())
            .unwrap_or_default();
        audit_refusal(
            &st,
            &origin,
            &who,
            None,
            "password",
            "too many attempts from this address",
        )
        .await;
        let mut res = fail(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts from your address. Wait a few minutes and try again.",
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("300"));
        return res;
    }
    let email =
        normalize_email(f.get("email").map(String::as_str).unwrap_or("")).unwrap_or_default();
    let password = f.get("password").cloned().unwrap_or_default();
    // One answer for every refusal: a wrong password, an unknown email and an email held back
    // after failures read the same and take the same time, so none tells whether an account
    // exists.
    const REFUSED: &str = "The email or the password is wrong. After several failed attempts, \
        sign-in for an email slows down for a while; if you are sure of your password, wait a \
        minute and try again, or use a browser you signed in with before.";
    let policy = st.auth.config().throttle.policy();
    let key = throttle_key(&st, &email);
    let t = now();
    let (found, throttle) =
        match tokio::try_join!(st.store.local_credentials(&email), st.store.throttle(&key)) {
            Ok(v) => v,
            Err(e) => return internal(e),
        };
    let (failures, last) = throttle.unwrap_or((0, t));
    let failures = policy.counted(failures, last, t);
    // The user's own browser is never held back, so failing on purpose cannot keep them out.
    let known_browser = found
        .as_ref()
        .is_some_and(|(u, _)| device_of(&st, &headers) == Some(u.id));
    let held = !known_browser && policy.wait(failures, last, t).is_some();
    let off = found.as_ref().is_some_and(|(u, _)| !u.active());
    // A deactivated user's password is not checked: the answer and its time are a wrong
    // password's.
    let hash = if held || off {
        None
    } else {
        found.as_ref().and_then(|(_, c)| c.password_hash.clone())
    };
    let ok = verify_password(password, hash).await;
    let user = match found {
        Some((user, _)) if ok => user,
        found => {
            let (who, account, reason) = match &found {
                None => (email.clone(), None, "no user has this email"),
                Some((u, _)) if off => (u.email.clone(), u.account_id, "the user is deactivated"),
                Some((u, _)) if held => (
                    u.email.clone(),
                    u.account_id,
                    "held back after repeated failures",
                ),
                Some((u, _)) => (u.email.clone(), u.account_id, "wrong password"),
            };
            // An attempt held back is not checked, so it does not count either.
            if !held && let Err(e) = st.store.set_throttle(&key, failures + 1, t).await {
                return internal(e);
            }
            audit_refusal(&st, &origin, &who, account, "password", reason).await;
            tracing::info!(known = found.is_some(), held, "failed password sign-in");
            return fail(StatusCode::UNAUTHORIZED, REFUSED);
        }
    };
    if failures > 0
        && let Err(e) = st.store.set_throttle(&key, 0, t).await
    {
        return internal(e);
    }
    let mut res = start_session(&st, &user, None, &back, &origin)
        .await
        .unwrap_or_else(internal);
    if let Some(c) = device_cookie(&st, user.id) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// The throttle key of an email: a keyed hash, so the table never holds the emails people
/// typed (some type a password into the email field).
fn throttle_key(st: &AppState, email: &str) -> String {
    Tag::keyed(&st.secrets.derive("casedesk-signin-throttle"))
        .ok()
        .and_then(|t| t.mac(email))
        .unwrap_or_else(|| hash_token(email))
}

/// The cookie that marks a browser a user signed in with: their id and when, signed with the
/// server key. It lets that browser past the throttle, nothing more.
const DEVICE_COOKIE: &str = "casedesk_device";
/// How long a browser stays known.
const DEVICE_DAYS: u64 = 180;

fn device_mac(st: &AppState, payload: &str) -> Option<String> {
    Tag::keyed(&st.secrets.derive("casedesk-signin-device"))
        .ok()?
        .mac(payload)
}

fn device_cookie(st: &AppState, user: uuid::Uuid) -> Option<HeaderValue> {
    let payload = format!("{}.{}", user.simple(), now().as_second());
    let value = format!("{payload}.{}", device_mac(st, &payload)?);
    Some(set_cookie(
        st,
        DEVICE_COOKIE,
        &value,
        "/auth",
        Some(DEVICE_DAYS * 86_400),
    ))
}

/// The user a browser's device cookie names, when its signature holds and it is recent.
fn device_of(st: &AppState, headers: &HeaderMap) -> Option<uuid::Uuid> {
    let raw = cookie(headers, DEVICE_COOKIE)?;
    let (payload, mac) = raw.rsplit_once('.')?;
    if !same_secret(mac, &device_mac(st, payload)?) {
        return None;
    }
    let (id, at) = payload.split_once('.')?;
    let at: i64 = at.parse().ok()?;
    let age = now().as_second().saturating_sub(at);
    let days = i64::try_from(DEVICE_DAYS).unwrap_or(i64::MAX);
    (0..days.saturating_mul(86_400))
        .contains(&age)
        .then(|| uuid::Uuid::parse_str(id).ok())
        .flatten()
}

/// `POST /auth/logout`: ends the session; the form must carry the session's CSRF token.
pub async fn logout(State(st): State<AppState>, req: Request) -> Response {
    let Posted {
        headers, origin, f, ..
    } = match posted(req, "Sign out").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let session = match session_of(&st, &headers).await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let Some((user, session)) = session else {
        return redirect("/auth/login");
    };
    let sent = f
        .get("csrf")
        .map(String::as_str)
        .or_else(|| headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
        .unwrap_or("");
    if !same_origin(&headers) || !same_secret(sent, &session.csrf) {
        return page(
            StatusCode::FORBIDDEN,
            "Sign out",
            "<p>This form has expired or came from another site. Reload the page and try again.</p>",
        );
    }
    let audit = AuditRecord::new(
        Actor::user(&user),
        "signout",
        format!("user:{}", user.email),
    )
    .account(user.account_id)
    .origin(&origin);
    if let Err(e) = st.store.delete_session(&session.hash, &audit).await {
        return internal(e);
    }
    let mut res = redirect("/auth/login");
    res.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(SESSION_COOKIE, "/"));
    // Back after signing out must not show the last case from the browser's memory.
    res.headers_mut().insert(
        header::HeaderName::from_static("clear-site-data"),
        header::HeaderValue::from_static("\"cache\""),
    );
    res
}

/// `GET /auth/session`: the signed-in user and the CSRF token forms must carry.
pub async fn session(State(st): State<AppState>, headers: HeaderMap) -> Response {
    match session_of(&st, &headers).await {
        Ok(Some((u, s))) => {
            let mut res = Json(json!({
                "email": u.email,
                "role": u.role.key(),
                "account_id": u.account_id.map(|a| a.to_string()),
                "issuer": s.issuer,
                "csrf_token": s.csrf,
                "expires_at": s.expires_at.to_string(),
            }))
            .into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Ok(None) => crate::error::ApiError::Unauthenticated {
            described: "no one is signed in in this browser".into(),
            missing: true,
        }
        .into_response(),
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
}

fn redirect_uri(st: &AppState) -> Option<String> {
    st.auth
        .config()
        .public_url
        .as_deref()
        .map(|u| format!("{}/auth/oidc/callback", u.trim_end_matches('/')))
}

/// `GET /auth/oidc/{issuer}/start`: sends the browser to the provider.
pub async fn oidc_start(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<StartQuery>,
) -> Response {
    let Some(issuer) = st
        .auth
        .issuer(&name)
        .filter(|i| i.config.client_id.is_some())
    else {
        return page(
            StatusCode::NOT_FOUND,
            "Sign in",
            "<p>There is no such way to sign in.</p>",
        );
    };
    let Some(redirect_to) = redirect_uri(&st) else {
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign in",
            "<p>Sign-in through a provider needs auth.public_url to be configured.</p>",
        );
    };
    let hint = q.login_hint.as_deref().filter(|h| h.len() < 256);
    let started = match login::start(
        issuer,
        &redirect_to,
        &local_path(q.return_to.as_deref()),
        hint,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return provider_error(&e),
    };
    if let Err(e) = st.store.create_login_flow(&started.flow).await {
        return internal(e);
    }
    let mut res = redirect(&started.authorize_url);
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            &st,
            STATE_COOKIE,
            &started.state,
            "/auth/oidc",
            Some(LOGIN_FLOW_TTL.as_secs()),
        ),
    );
    res
}

fn provider_error(e: &login::LoginError) -> Response {
    tracing::warn!(error = %e, "web sign-in through a provider failed");
    let (status, msg) = match e {
        login::LoginError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The identity provider cannot be reached. Try again in a moment.",
        ),
        login::LoginError::NotConfigured => {
            (StatusCode::NOT_FOUND, "There is no such way to sign in.")
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            "The identity provider's answer could not be accepted. Start the sign-in again.",
        ),
    };
    page(
        status,
        "Sign in",
        &format!(
            "<p class=\"error\">{}</p><p><a href=\"/auth/login\">Back to sign-in</a></p>",
            escape(msg)
        ),
    )
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/oidc/callback`: the provider sends the browser back with a code.
pub async fn oidc_callback(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let origin = origin_of(&headers, Some(peer.ip()));
    let again = |status: StatusCode, msg: &str| {
        let mut res = page(
            status,
            "Sign in",
            &format!(
                "<p class=\"error\">{}</p><p><a href=\"/auth/login\">Back to sign-in</a></p>",
                escape(msg)
            ),
        );
        res.headers_mut()
            .append(header::SET_COOKIE, clear_cookie(STATE_COOKIE, "/auth/oidc"));
        res
    };
    if let Some(err) = q.error.as_deref() {
        let err: String = err
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return again(
            StatusCode::UNAUTHORIZED,
            &format!("The identity provider did not sign you in ({err})."),
        );
    }
    let (Some(code), Some(state)) = (q.code.as_deref(), q.state.as_deref()) else {
        return again(StatusCode::BAD_REQUEST, "The sign-in answer is incomplete.");
    };
    // The state must be the one this browser was given, and unused.
    let bound = cookie(&headers, STATE_COOKIE).is_some_and(|c| same_secret(&c, state));
    let flow = match st.store.take_login_flow(&hash_token(state)).await {
        Ok(f) => f,
        Err(e) => return internal(e),
    };
    let Some(flow) = flow.filter(|_| bound) else {
        return again(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was started in another browser.",
        );
    };
    if now().duration_since(flow.created_at).unsigned_abs() > LOGIN_FLOW_TTL {
        return again(StatusCode::BAD_REQUEST, "This sign-in has expired.");
    }
    let Some(issuer) = st.auth.issuer(&flow.issuer) else {
        return again(StatusCode::BAD_REQUEST, "This sign-in has expired.");
    };
    let Some(redirect_to) = redirect_uri(&st) else {
        return again(
            StatusCode::SERVICE_UNAVAILABLE,
            "auth.public_url is not configured.",
        );
    };
    let method = format!("oidc:{}", issuer.config.name);
    let claims = match login::finish(issuer, st.auth.http(), &flow, code, &redirect_to).await {
        Ok(c) => c,
        Err(e) => {
            audit_refusal(
                &st,
                &origin,
                "unknown",
                None,
                &method,
                "the provider's answer was refused",
            )
            .await;
            return provider_error(&e);
        }
    };
    // Signed in already in this browser: signing in with the provider too binds its identity
    // to that user (an explicit act of the user).
    let signed_in = match session_of(&st, &headers).await {
        Ok(s) => s.map(|(u, _)| u),
        Err(e) => return internal(e),
    };
    let user = match mapping::resolve_user(
        st.store.as_ref(),
        st.auth.limits(),
        &issuer.config,
        &claims,
        signed_in.as_ref(),
    )
    .await
    {
        Ok(u) => u,
        Err(DomainError::Forbidden(m)) => {
            let who = claims
                .get(&issuer.config.claims.email)
                .and_then(|v| v.as_str())
                .unwrap_or("unknown")
                .chars()
                .take(200)
                .collect::<String>();
            audit_refusal(&st, &origin, &who, None, &method, &m).await;
            return again(StatusCode::FORBIDDEN, &m);
        }
        Err(e) => return internal(e),
    };
    let mut res = match start_session(
        &st,
        &user,
        Some(issuer.config.name.clone()),
        &flow.return_to,
        &origin,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    res.headers_mut()
        .append(header::SET_COOKIE, clear_cookie(STATE_COOKIE, "/auth/oidc"));
    res
}

/// An invitation link's parts: whose it is, until when, and its token.
#[derive(Deserialize)]
pub struct Welcome {
    u: Option<String>,
    x: Option<String>,
    t: Option<String>,
}

const WELCOME_GONE: &str = "<p>This link does not work: it has been used already, it is older than \
    its invitation allowed, or it was not copied whole. If you chose your password, \
    <a href=\"/auth/login\">sign in</a>; otherwise ask the person who added you to send a new \
    invitation.</p>";

/// The user an invitation link still opens for, with the password it was made for.
async fn invited(
    st: &AppState,
    w: &Welcome,
) -> Result<Option<(User, Option<String>)>, DomainError> {
    let (Some(u), Some(x), Some(t)) = (&w.u, &w.x, &w.t) else {
        return Ok(None);
    };
    let (Ok(id), Ok(x)) = (u.parse::<uuid::Uuid>(), x.parse::<i64>()) else {
        return Ok(None);
    };
    if !st.auth.local_accounts() {
        return Ok(None);
    }
    let Some(user) = st.store.get_user(id).await? else {
        return Ok(None);
    };
    let Some((user, creds)) = st.store.local_credentials(&user.email).await? else {
        return Ok(None);
    };
    let key = st.secrets.derive(casedesk_core::identity::INVITE_KEY);
    let ok = casedesk_core::identity::invite_ok(
        &key,
        user.id,
        x,
        creds.password_hash.as_deref(),
        t,
        now(),
    );
    Ok((ok && user.active()).then_some((user, creds.password_hash)))
}

fn welcome_form(user: &User, w: &Welcome, message: Option<&str>) -> String {
    let hidden = |name: &str, v: &Option<String>| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(v.as_deref().unwrap_or(""))
        )
    };
    format!(
        "{}<p>Choose the password you will sign in with as <strong>{}</strong>. It needs at least {} characters; a few unrelated words make a good one.</p>\
         <form method=\"post\" action=\"/auth/welcome\">{}{}{}\
         <input type=\"text\" name=\"username\" value=\"{}\" autocomplete=\"username\" hidden>\
         <label for=\"password\">New password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"{}\" required>\
         <label for=\"repeat\">The same password again</label><input id=\"repeat\" name=\"repeat\" type=\"password\" autocomplete=\"new-password\" minlength=\"{}\" required>\
         <button type=\"submit\">Set my password and sign in</button></form>",
        message
            .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
            .unwrap_or_default(),
        escape(&user.email),
        casedesk_auth::password::MIN_PASSWORD_LEN,
        hidden("u", &w.u),
        hidden("x", &w.x),
        hidden("t", &w.t),
        escape(&user.email),
        casedesk_auth::password::MIN_PASSWORD_LEN,
        casedesk_auth::password::MIN_PASSWORD_LEN,
    )
}

/// `GET /auth/welcome`: an invited user chooses their password.
pub async fn welcome_page(State(st): State<AppState>, Query(w): Query<Welcome>) -> Response {
    match invited(&st, &w).await {
        Ok(Some((user, _))) => page(StatusCode::OK, "Welcome", &welcome_form(&user, &w, None)),
        Ok(None) => page(StatusCode::GONE, "This link no longer works", WELCOME_GONE),
        Err(e) => internal(e),
    }
}

/// `POST /auth/welcome`: sets the invited user's password, which ends the link, and signs
/// them in.
pub async fn welcome_submit(State(st): State<AppState>, req: Request) -> Response {
    let Posted {
        headers, origin, f, ..
    } = match posted(req, "Welcome").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    // The link is the secret, so a form from another site cannot carry it; the check also
    // keeps another site from signing a browser in as someone else.
    if !same_origin(&headers) {
        return page(
            StatusCode::FORBIDDEN,
            "Welcome",
            "<p>This form came from another site. Open the link from your invitation again.</p>",
        );
    }
    let w = Welcome {
        u: f.get("u").cloned(),
        x: f.get("x").cloned(),
        t: f.get("t").cloned(),
    };
    let (user, was) = match invited(&st, &w).await {
        Ok(Some(found)) => found,
        Ok(None) => return page(StatusCode::GONE, "This link no longer works", WELCOME_GONE),
        Err(e) => return internal(e),
    };
    let password = f.get("password").cloned().unwrap_or_default();
    if password.is_empty() {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Welcome",
            &welcome_form(&user, &w, Some("Type your new password, twice.")),
        );
    }
    if f.get("repeat") != Some(&password) {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Welcome",
            &welcome_form(
                &user,
                &w,
                Some("The two passwords differ. Type the same one twice."),
            ),
        );
    }
    let hash = match casedesk_auth::password::hash_password(password).await {
        Ok(h) => h,
        Err(DomainError::Validation(errs)) => {
            let m = errs
                .first()
                .map(|e| format!("The password {}.", e.message))
                .unwrap_or_default();
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Welcome",
                &welcome_form(&user, &w, Some(&m)),
            );
        }
        Err(e) => return internal(e),
    };
    let audit = AuditRecord::new(
        Actor::user(&user),
        "user.set_password",
        format!("user:{}", user.email),
    )
    .account(user.account_id)
    .origin(&origin)
    .summary(json!({"via": "invitation"}));
    match st
        .store
        .replace_password(user.id, was.as_deref(), &hash, &audit)
        .await
    {
        Ok(true) => {}
        // Another use of the same link came first.
        Ok(false) => return page(StatusCode::GONE, "This link no longer works", WELCOME_GONE),
        Err(e) => return internal(e),
    }
    start_session(&st, &user, None, "/", &origin)
        .await
        .unwrap_or_else(internal)
}
