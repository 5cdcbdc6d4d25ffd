//! The HTTP edge of casedesk: JSON under `/api/v1/`, problem+json errors, `/openapi.json`,
//! `/healthz` and `/metrics`. Handlers only translate between HTTP and the domain services
//! in `casedesk-core`; every rule lives there.

pub mod api;
pub mod error;
pub mod headers;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod requests;
pub mod server;
pub mod session;
pub mod signin;
mod state;
pub mod ui;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use limits::{MAX_JSON_BODY, upload_limit};
pub use state::{AppParts, AppState, report_tag};

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(api::meta::healthz))
        .route("/readyz", get(api::meta::readyz))
        .route("/metrics", get(metrics::render))
        .route("/openapi.json", get(openapi::document))
        .route(
            "/auth/login",
            get(signin::login_page).post(signin::login_submit),
        )
        .route(
            "/auth/welcome",
            get(signin::welcome_page).post(signin::welcome_submit),
        )
        .route("/auth/logout", post(signin::logout))
        .route("/auth/session", get(signin::session))
        .route("/auth/oidc/{issuer}/start", get(signin::oidc_start))
        .route("/auth/oidc/callback", get(signin::oidc_callback))
        .nest(
            "/api/v1",
            api::routes()
                .layer(axum::middleware::from_fn(api::body::json_only))
                .layer(axum::middleware::from_fn_with_state(
                    state.rate_limiter.clone(),
                    limits::limit,
                )),
        )
        .merge(ui::routes())
        .fallback(ui::fallback)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            server::body_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refuse_oversized,
        ))
        .layer(axum::middleware::from_fn(error::problems_only))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::middleware::from_fn_with_state(
            headers::Https(
                state
                    .auth
                    .config()
                    .public_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://")),
            ),
            headers::secure_main,
        ))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Refuses a body whose declared length is over the limit before reading any of it, so a
/// client learns at once instead of after uploading megabytes. Bodies without a length are
/// still capped while they are read. Uploads (multipart) may carry up to ten files and a HAR
/// capture; each file is held to its own limit while it is read.
async fn refuse_oversized(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let multipart = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let limit = if req.uri().path() == "/api/v1/inbound/email" {
        api::mail::MAX_MESSAGE_BODY as u64
    } else if multipart {
        upload_limit(&st.attachments)
    } else {
        MAX_JSON_BODY as u64
    };
    if declared.is_some_and(|n| n > limit) {
        return error::ApiError::TooLarge.into_response();
    }
    next.run(req).await
}

/// Serves the application on `listener` until `shutdown` completes, then drains requests;
/// every connection is held to the state's [`server::HttpLimits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.http;
    server::serve_with(listener, router(state), limits, shutdown).await
}
