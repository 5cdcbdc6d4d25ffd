//! The web UI: server-rendered pages for customers (`portal`), support engineers
//! (`console`) and managers (`manage`, `reports`), over the same domain services as the JSON
//! API. Markup is built with maud (compiled into the binary, escaped by default); the one
//! stylesheet and the one script are served from `/assets/`, and every page works without
//! the script. Forms post back to the page's own routes with the session's CSRF token.

pub mod assets;
mod cases;
mod charts;
mod console;
mod forms;
mod manage;
mod portal;
mod reports;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use casedesk_core::DomainError;
use casedesk_core::users::{Principal, Role, Scope};
use maud::{DOCTYPE, Markup, html};

use crate::AppState;
use crate::signin;

pub use forms::Fields;

/// The pages and their form posts.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
        .route("/", get(portal::home))
        .route("/support", get(portal::support).post(portal::submit))
        .route("/support/suggest", get(portal::suggest))
        .route("/support/solved", post(portal::solved))
        .route("/cases", get(cases::list))
        .route("/cases/{number}", get(cases::show))
        .route("/cases/{number}/created", get(cases::created))
        .route("/cases/{number}/act/{action}", post(cases::act))
        .route("/cases/{number}/incident", post(cases::link_incident))
        .route(
            "/cases/{number}/files",
            post(cases::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/cases/{number}/files/{id}", get(cases::download))
        .route("/cases/{number}/diagnose/{tool}", post(cases::diagnose))
        .route("/kb", get(portal::kb_list))
        .route("/kb/{id}", get(portal::kb_entry))
        .route("/status", get(portal::status))
        .route("/status/subscription", post(portal::subscribe))
        .route("/console", get(console::queue))
        .route("/console/held", get(console::held))
        .route("/console/held/{id}/{decision}", post(console::decide_held))
        .route("/manage", get(manage::index))
        .route(
            "/manage/users",
            get(manage::users).post(manage::create_user),
        )
        .route("/manage/users/access", post(manage::set_access))
        .route("/manage/sla", get(manage::sla).post(manage::put_policy))
        .route("/manage/sla/calendar", post(manage::put_calendar))
        .route("/manage/sla/settings", post(manage::put_settings))
        .route("/manage/queues", get(manage::queues))
        .route("/manage/kb", get(manage::kb))
        .route(
            "/manage/kb/edit",
            get(manage::kb_edit).post(manage::kb_save),
        )
        .route(
            "/manage/incidents",
            get(manage::incidents).post(manage::open_incident),
        )
        .route("/manage/incidents/{id}", post(manage::update_incident))
        .route(
            "/manage/webhooks",
            get(manage::webhooks).post(manage::create_webhook),
        )
        .route("/manage/webhooks/{id}", get(manage::webhook))
        .route("/manage/webhooks/{id}/redeliver", post(manage::redeliver))
        .route("/manage/jobs", get(manage::jobs))
        .route("/manage/jobs/{id}/retry", post(manage::retry_job))
        .route("/manage/audit", get(manage::audit))
        .route("/manage/reports", get(reports::page))
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
    fn role(&self) -> Role {
        self.p.user.role
    }
    fn support(&self) -> bool {
        matches!(self.role(), Role::Agent | Role::Manager)
    }
    fn manager(&self) -> bool {
        self.role() == Role::Manager
    }
}

/// The viewer of a request, if someone is signed in.
pub async fn viewer_of(st: &AppState, parts: &Parts) -> Result<Option<Viewer>, DomainError> {
    let Some((user, session)) = signin::session_of(st, &parts.headers).await? else {
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
            origin: signin::origin_of(&parts.headers, ip),
        },
        csrf: session.csrf,
    }))
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        match viewer_of(st, parts).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => {
                let back = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
                Err(redirect(&format!("/auth/login?return_to={back}")))
            }
            Err(e) => Err(failure(None, e)),
        }
    }
}

/// A viewer who may be anonymous (the knowledge base and the status page are public).
pub struct MaybeViewer(pub Option<Viewer>);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        viewer_of(st, parts)
            .await
            .map(MaybeViewer)
            .map_err(|e| failure(None, e))
    }
}

/// A `303 See Other` to a local path (after a form post, and to sign in).
pub fn redirect(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// The security headers every page carries: nothing but casedesk's own scripts, styles and
/// forms; never framed; never cached (pages show case data).
fn harden(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// Marks an answer given before the request's body was read to its end: the connection
/// closes after it, so a client does not send its next request into the unread rest.
pub fn unread_body(res: &mut Response) {
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// An HTML answer.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut res = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        markup.into_string(),
    )
        .into_response();
    harden(&mut res);
    res
}

/// Every queue of the taxonomy, sorted.
pub async fn all_queues(st: &AppState) -> casedesk_core::Result<Vec<String>> {
    let mut q: Vec<String> = st
        .store
        .issue_areas()
        .await?
        .into_iter()
        .map(|a| a.queue)
        .collect();
    q.sort();
    q.dedup();
    Ok(q)
}

/// One navigation entry: path, label, and the `current` key that marks it.
type NavItem = (&'static str, &'static str, &'static str);

fn nav_for(v: Option<&Viewer>) -> Vec<NavItem> {
    let mut items: Vec<NavItem> = Vec::new();
    match v.map(|v| (v.role(), v.p.user.has_case_access())) {
        Some((Role::Agent | Role::Manager, _)) => {
            items.push(("/console", "Queues", "console"));
            items.push(("/cases", "All cases", "cases"));
        }
        Some((_, true)) => {
            items.push(("/support", "Get support", "support"));
            items.push(("/cases", "My cases", "cases"));
        }
        _ => {}
    }
    items.push(("/kb", "Knowledge base", "kb"));
    items.push(("/status", "Status", "status"));
    if v.is_some_and(|v| v.p.user.is_administrator()) {
        items.push(("/manage", "Manage", "manage"));
    }
    items
}

/// The frame of every page: skip link, navigation, who is signed in, the content.
pub fn layout(v: Option<&Viewer>, title: &str, current: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · casedesk" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "casedesk" }
                    nav aria-label="Main" {
                        ul {
                            @for (href, label, key) in nav_for(v) {
                                li { a href=(href) aria-current=[(key == current).then_some("page")] { (label) } }
                            }
                        }
                    }
                    div.who {
                        @if let Some(v) = v {
                            span { (v.p.user.email) " · " (role_label(v.role())) }
                            form method="post" action="/auth/logout" {
                                input type="hidden" name="csrf" value=(v.csrf);
                                button.secondary type="submit" { "Sign out" }
                            }
                        } @else {
                            a href="/auth/login" { "Sign in" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A person's word for a role.
pub fn role_label(r: Role) -> &'static str {
    match r {
        Role::SuperAdmin => "super admin",
        Role::Admin => "admin",
        Role::Agent => "support engineer",
        Role::Manager => "support manager",
    }
}

/// A page that could not be shown, with the reason in words (the 403 names the missing
/// permission and who can grant it).
pub fn failure(v: Option<&Viewer>, e: DomainError) -> Response {
    let (status, _, title, detail) = crate::error::describe(&e);
    let fields = match &e {
        DomainError::Validation(errs) => errs.clone(),
        _ => Vec::new(),
    };
    respond(
        status,
        layout(
            v,
            title,
            "",
            html! {
                div.notice.bad role="alert" {
                    p { (detail) }
                    @if !fields.is_empty() {
                        ul { @for f in &fields { li { strong { (f.field) } ": " (f.message) } } }
                    }
                }
                p { a href="/" { "Back to the start page" } }
            },
        ),
    )
}

/// A form posted by a signed-in viewer from our own pages, with the session's CSRF token;
/// anything else is refused before the handler runs.
pub struct Posted {
    /// Who posted it.
    pub v: Viewer,
    /// Its fields.
    pub f: Fields,
}

impl axum::extract::FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, st: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let v = Viewer::from_request_parts(&mut parts, st).await?;
        let Ok(bytes) = axum::body::to_bytes(body, crate::MAX_JSON_BODY).await else {
            return Err(failure(
                Some(&v),
                DomainError::field("body", "the form is larger than 1 MB"),
            ));
        };
        let f = Fields::parse(&bytes);
        match form_allowed(&v, &parts.headers, &f) {
            Some(refused) => Err(refused),
            None => Ok(Posted { v, f }),
        }
    }
}

/// Refuses a form that may not act for the viewer: one not sent from our own pages with
/// the session's CSRF token.
pub fn form_allowed(v: &Viewer, headers: &HeaderMap, f: &Fields) -> Option<Response> {
    if casedesk_auth::tokens::same_secret(f.get("csrf"), &v.csrf) {
        cross_site(v, headers)
    } else {
        Some(expired_form(v))
    }
}

/// Refuses a post a browser marks as coming from another site. Uploads ask this before
/// reading their body; their CSRF token comes with the body.
pub fn cross_site(v: &Viewer, headers: &HeaderMap) -> Option<Response> {
    (!signin::same_origin(headers)).then(|| expired_form(v))
}

fn expired_form(v: &Viewer) -> Response {
    failure(
        Some(v),
        DomainError::Forbidden(
            "This form has expired or came from another site. Reload the page and try again."
                .into(),
        ),
    )
}

/// `<time>` showing an instant in UTC, readable without the script.
pub fn when(t: casedesk_core::Timestamp) -> Markup {
    let s = t.strftime("%Y-%m-%d %H:%M UTC").to_string();
    html! { time datetime=(t.to_string()) { (s) } }
}

/// A live countdown to an SLA due time (the script keeps it current).
pub fn due(t: casedesk_core::Timestamp) -> Markup {
    let left = t.as_second() - casedesk_core::now().as_second();
    let class = if left < 0 {
        "due overdue"
    } else if left < 3600 {
        "due soon"
    } else {
        "due"
    };
    html! { time class=(class) datetime=(t.to_string()) title=(t.strftime("%Y-%m-%d %H:%M UTC").to_string()) { (span_words(left)) } }
}

fn span_words(left: i64) -> String {
    let s = left.unsigned_abs();
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    let span = if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else {
        format!("{m} min")
    };
    if left < 0 {
        format!("overdue by {span}")
    } else {
        format!("in {span}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdown_words() {
        assert_eq!(span_words(90), "in 1 min");
        assert_eq!(span_words(-3 * 3600 - 120), "overdue by 3 h 2 min");
        assert_eq!(span_words(2 * 86_400 + 3600), "in 2 d 1 h");
    }
}
