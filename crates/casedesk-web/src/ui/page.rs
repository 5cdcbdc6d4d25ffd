//! What every page shares: the layout and navigation, answers (HTML, redirects, the error
//! page), form posts with their CSRF check, and how times are shown.

use super::forms::Fields;
use crate::AppState;
use crate::error::ApiError;
use crate::session::same_origin;

use crate::session::{Unseen, Viewer};
use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use casedesk_core::DomainError;
use casedesk_core::users::Role;
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

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
    if v.is_none_or(|v| v.p.user.role.is_customer()) {
        items.push(("/support/routes", "Where to get help", "routes"));
    }
    items.push(("/kb", "Knowledge base", "kb"));
    items.push(("/status", "Status", "status"));
    if v.is_some_and(|v| {
        v.p.user.role == Role::Manager
            || (v.p.user.role.is_customer() && v.p.user.account_id.is_some())
    }) {
        items.push(("/trust", "Trust Center", "trust"));
    }
    if v.is_some_and(|v| v.p.user.is_administrator()) {
        items.push(("/manage", "Manage", "manage"));
    }
    items
}

/// The frame of every page: skip link, navigation, who is signed in, the content.
pub fn layout(v: Option<&Viewer>, title: &str, current: &str, content: Markup) -> Markup {
    frame(v, title, current, content, false)
}

/// [`layout`] using the whole width of the window (the queues: many columns).
pub fn layout_wide(v: Option<&Viewer>, title: &str, current: &str, content: Markup) -> Markup {
    frame(v, title, current, content, true)
}

fn frame(v: Option<&Viewer>, title: &str, current: &str, content: Markup, wide: bool) -> Markup {
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
                main #main tabindex="-1" class=[wide.then_some("wide")] {
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
    failure_with(v, e, html! {})
}

/// A refusal that says who can lift it: an admin without case-admin is told the super
/// admins of their own account by name.
pub async fn refused(st: &AppState, v: &Viewer, e: DomainError) -> Response {
    let missing = matches!(&e, DomainError::Forbidden(m) if m == casedesk_core::permissions::MISSING_CASE_ADMIN);
    let extra = match (missing, v.p.user.account_id) {
        (true, Some(account)) => match st.store.list_account_users(account).await {
            Ok(users) => {
                let admins: Vec<String> = users
                    .into_iter()
                    .filter(|u| u.role == Role::SuperAdmin && u.active())
                    .map(|u| u.email)
                    .collect();
                html! {
                    @if admins.is_empty() {
                        p { "Your account has no super admin yet; ask your support manager to name one." }
                    } @else {
                        p { "Ask your account's super admin for case-admin: "
                            @for (i, a) in admins.iter().enumerate() { @if i > 0 { ", " } a href=(format!("mailto:{a}")) { (a) } } "." }
                    }
                    p { "Until then, the " a href="/kb" { "knowledge base" } " and the " a href="/status" { "status page" } " are open to you." }
                }
            }
            Err(_) => html! {},
        },
        _ => html! {},
    };
    failure_with(Some(v), e, extra)
}

fn failure_with(v: Option<&Viewer>, e: DomainError, extra: Markup) -> Response {
    let (status, _, title, detail) = crate::error::describe(&e);
    let fields = match &e {
        DomainError::Validation(errs) => errs.clone(),
        _ => Vec::new(),
    };
    crate::error::with_retry_after(respond(
        status,
        layout(
            v,
            title,
            "",
            html! {
                div.notice.bad role="alert" {
                    p { (detail) }
                    @if !fields.is_empty() {
                        ul { @for f in &fields { li { strong { (super::forms::label_of(&f.field)) } ": " (super::forms::message_words(&f.message)) } } }
                    }
                }
                (extra)
                p { a href="/" { "Back to the start page" } }
            },
        ),
    ))
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
        let v = Viewer::from_request_parts(&mut parts, st)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(bytes) = axum::body::to_bytes(body, crate::limits::MAX_JSON_BODY).await else {
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
    (!same_origin(headers)).then(|| expired_form(v))
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

/// `<time>` showing an instant on the clock of `zone` (the requester's), with UTC on hover.
pub fn when_in(t: casedesk_core::Timestamp, zone: &str) -> Markup {
    html! { time datetime=(t.to_string()) title=(t.strftime("%Y-%m-%d %H:%M UTC").to_string()) { (local(t, zone)) } }
}

/// An instant as a clock in a time zone (`Mon 16 Nov 16:00 EST`); an unknown zone reads as
/// UTC, so a page never fails on a contact's time zone.
pub fn local(t: casedesk_core::Timestamp, zone: &str) -> String {
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    t.to_zoned(tz).strftime("%a %-d %b %H:%M %Z").to_string()
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

/// A length of time in the words every page uses ("45 s", "12 min", "2 h 15 min",
/// "3 d 4 h"), so a goal, a median and a countdown read alike.
pub fn minutes_words(minutes: f64) -> String {
    if !minutes.is_finite() || minutes < 0.0 {
        return "–".into();
    }
    if minutes < 1.0 {
        return format!("{} s", (minutes * 60.0).round() as u64);
    }
    if minutes < 10.0 {
        let tenth = (minutes * 10.0).round() / 10.0;
        return if tenth.fract() == 0.0 {
            format!("{tenth:.0} min")
        } else {
            format!("{tenth:.1} min")
        };
    }
    let m = minutes.round() as u64;
    let (d, h, mm) = (m / 1440, m % 1440 / 60, m % 60);
    match (d, h, mm) {
        (0, 0, mm) => format!("{mm} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, mm) => format!("{h} h {mm} min"),
        // Whole days round to the hour: a minute more or less says nothing at that scale.
        (d, h, mm) => {
            let h = h + u64::from(mm >= 30);
            if h == 0 {
                format!("{d} d")
            } else if h == 24 {
                format!("{} d", d + 1)
            } else {
                format!("{d} d {h} h")
            }
        }
    }
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

impl IntoResponse for Unseen {
    fn into_response(self) -> Response {
        match self {
            Unseen::SignIn { back } => {
                let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
                redirect(&format!("/auth/login?return_to={back}"))
            }
            Unseen::Failed(e) => failure(None, e),
        }
    }
}

/// A component state in words, with the class that colours it (never colour alone: the
/// word and its mark are always there).
pub fn state_words(key: &str) -> (&'static str, &'static str, &'static str) {
    match key {
        "operational" => ("Operational", "state-ok", "✓"),
        "maintenance" => ("Maintenance", "state-info", "🛠"),
        "degraded" => ("Degraded", "state-warn", "!"),
        "partial_outage" => ("Partial outage", "state-partial", "!!"),
        "major_outage" => ("Major outage", "state-bad", "✕"),
        _ => ("Unknown", "state-info", "?"),
    }
}

/// A state as a coloured badge with its mark and word.
pub fn state_badge(key: &str) -> Markup {
    let (word, class, mark) = state_words(key);
    html! { span class=(format!("badge state {class}")) { span aria-hidden="true" { (mark) " " } (word) } }
}

/// One incident as a card: title, impact, where, when it began and every update with its
/// time, newest first.
pub fn incident_card(i: &Value) -> Markup {
    let empty = Vec::new();
    let updates = i["updates"].as_array().unwrap_or(&empty);
    let list = |k: &str| {
        i[k].as_array()
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let at = |v: &Value| v.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let resolved = !i["resolved_at"].is_null();
    html! {
        article class=(if resolved { "incident resolved" } else { "incident" }) {
            h3 { (i["title"].as_str().unwrap_or("Incident")) " " (state_badge(if resolved { "operational" } else { i["impact"].as_str().unwrap_or("") })) }
            p.muted {
                "Regions: " (list("regions"))
                @let components = list("components");
                @if !components.is_empty() { " · components: " (components) }
                @if let Some(t) = at(&i["started_at"]) { " · began " (when(t)) }
                @if let Some(t) = at(&i["resolved_at"]) { " · resolved " (when(t)) }
            }
            @if !updates.is_empty() {
                ol.updates reversed {
                    @for u in updates.iter().rev() {
                        li {
                            strong { (u["state"].as_str().unwrap_or("").replace('_', " ")) }
                            @if let Some(t) = at(&u["at"]) { " · " (when(t)) }
                            p.body { (u["body"].as_str().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

/// Why an upload was refused, in words for the files field; an error that is not about the
/// files (the store failing, say) is handed back for the error page.
pub fn upload_problem(e: ApiError) -> Result<String, DomainError> {
    match e {
        ApiError::FileTooLarge {
            file_name, limit, ..
        } => Ok(format!(
            "{file_name} is larger than the {} MB allowed; nothing was stored",
            limit / (1024 * 1024)
        )),
        ApiError::Domain(DomainError::Validation(errs)) => Ok(errs
            .into_iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    super::forms::label_of(&f.field),
                    super::forms::message_words(&f.message)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")),
        ApiError::Domain(e) => Err(e),
        ApiError::TooLarge => Ok("the upload is larger than allowed".into()),
        _ => Ok("the upload could not be read".into()),
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

    #[test]
    fn a_local_clock_names_its_zone() {
        let t: casedesk_core::Timestamp = "2026-11-16T21:00:00Z".parse().unwrap();
        assert_eq!(local(t, "America/New_York"), "Mon 16 Nov 16:00 EST");
        assert_eq!(local(t, "Not/AZone"), "Mon 16 Nov 21:00 UTC");
    }

    #[test]
    fn durations_read_alike_at_every_scale() {
        assert_eq!(minutes_words(0.25), "15 s");
        assert_eq!(minutes_words(4.0), "4 min");
        assert_eq!(minutes_words(4.46), "4.5 min");
        assert_eq!(minutes_words(45.2), "45 min");
        assert_eq!(minutes_words(120.0), "2 h");
        assert_eq!(minutes_words(135.0), "2 h 15 min");
        assert_eq!(minutes_words(1440.0), "1 d");
        assert_eq!(minutes_words(3.0 * 1440.0 + 250.0), "3 d 4 h");
        assert_eq!(minutes_words(2.0 * 1440.0 + 23.0 * 60.0 + 45.0), "3 d");
        assert_eq!(minutes_words(f64::NAN), "–");
    }
}
