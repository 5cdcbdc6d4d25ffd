//! The stylesheet and the script, compiled into the binary and served by casedesk itself
//! (no CDN, no font download: the UI works offline).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");

/// A validator that changes with the content (the binary's version is not enough while
/// developing).
fn etag(body: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

/// The validators, computed once.
static CSS_TAG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| etag(CSS));
static JS_TAG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| etag(JS));

fn serve(headers: &HeaderMap, body: &'static str, tag: &str, kind: &'static str) -> Response {
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == tag);
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
            body,
        )
            .into_response()
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300, must-revalidate"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// `GET /assets/app.css`.
pub async fn css(headers: HeaderMap) -> Response {
    serve(&headers, CSS, &CSS_TAG, "text/css; charset=utf-8")
}

/// `GET /assets/app.js`.
pub async fn js(headers: HeaderMap) -> Response {
    serve(&headers, JS, &JS_TAG, "text/javascript; charset=utf-8")
}

/// Bytes of JavaScript and CSS a page loads (every page loads both files).
pub const PAGE_ASSET_BYTES: usize = CSS.len() + JS.len();
