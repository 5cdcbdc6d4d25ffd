//! Prometheus metrics: request counts and latency by route template, method and status
//! class. Every label value comes from a closed set, so `/metrics` stays the same size
//! whatever clients send.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// Who may read `/metrics`, and where (`[metrics]` in the configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A bearer credential the scraper must send; unset, anyone who reaches the address may
    /// read the metrics.
    pub token: Option<String>,
    /// A second address serving only `/metrics` and `/healthz` (say, one the load balancer
    /// does not expose); set, the main address no longer serves `/metrics`.
    pub listen: Option<String>,
}

impl MetricsConfig {
    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(t) = &self.token
            && (t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err("metrics.token must be at least 16 visible ASCII characters".into());
        }
        if let Some(l) = &self.listen
            && l.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(format!(
                "metrics.listen: {l:?} is not an address such as 127.0.0.1:9090"
            ));
        }
        Ok(())
    }
}

/// How `/metrics` is guarded, as the server holds it: the token only as its hash.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess {
    token_sha256: Option<String>,
    on_main: bool,
}

impl MetricsAccess {
    /// From the configuration.
    pub fn new(cfg: &MetricsConfig) -> Self {
        MetricsAccess {
            token_sha256: cfg
                .token
                .as_deref()
                .map(|t| casedesk_auth::fingerprint(t.as_bytes())),
            on_main: cfg.listen.is_none(),
        }
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(want) = &self.token_sha256 else {
            return true;
        };
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .is_some_and(|t| {
                casedesk_auth::tokens::same_secret(&casedesk_auth::fingerprint(t.as_bytes()), want)
            })
    }
}

/// The process-wide recorder (the one global the house style allows); installed once.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// The method as a label: the methods the API answers, and `other` for any made-up one.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The status as a label: its class.
fn status_label(code: u16) -> &'static str {
    match code {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Records one request.
pub async fn track(req: Request, next: Next) -> Response {
    let _ = handle();
    let start = Instant::now();
    // The route template, never the raw path: case numbers and made-up paths are not labels.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let res = next.run(req).await;
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status_label(res.status().as_u16()).to_owned()),
    ];
    metrics::counter!("casedesk_http_requests_total", &labels).increment(1);
    metrics::histogram!("casedesk_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    res
}

fn exposition(access: &MetricsAccess, headers: &HeaderMap) -> Response {
    if !access.allows(headers) {
        return ApiError::Unauthenticated {
            described: "/metrics needs the scraper's token (metrics.token) as a bearer credential"
                .into(),
            missing: !headers.contains_key(header::AUTHORIZATION),
        }
        .into_response();
    }
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// `GET /metrics` on the main address, in the Prometheus text format.
pub async fn render(State(access): State<Arc<MetricsAccess>>, headers: HeaderMap) -> Response {
    if !access.on_main {
        return crate::error::not_found().await.into_response();
    }
    exposition(&access, &headers)
}

/// The router of the separate metrics address: `/metrics` and a bare `/healthz`.
pub fn router(cfg: &MetricsConfig) -> Router {
    let access = MetricsAccess::new(cfg);
    Router::new()
        .route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let access = access.clone();
                async move { exposition(&access, &headers) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .fallback(crate::error::not_found)
        .layer(axum::middleware::from_fn(crate::error::problems_only))
        .layer(axum::middleware::from_fn(crate::headers::secure))
}
