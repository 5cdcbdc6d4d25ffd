//! The security headers every answer carries, whatever route or error produced it.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// One year, the usual HSTS lifetime.
const HSTS: &str = "max-age=31536000";

fn apply(h: &mut HeaderMap, https: bool) {
    // Answers hold case data: never stored by a browser or a proxy unless a route says so
    // (the compiled-in assets do).
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    // JSON and plain text are data, never a document to render or frame; pages set their own.
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    if https {
        h.entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static(HSTS));
    }
}

/// Adds the headers to every answer of the main address; HSTS when casedesk is reached over
/// https (its `public_url`).
pub async fn secure_main(State(Https(https)): State<Https>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    apply(res.headers_mut(), https);
    res
}

/// The same for the metrics address (plain HTTP on an internal network).
pub async fn secure(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    apply(res.headers_mut(), false);
    res
}

/// Whether casedesk is reached over https (its `public_url` says so).
#[derive(Debug, Clone, Copy)]
pub struct Https(pub bool);
