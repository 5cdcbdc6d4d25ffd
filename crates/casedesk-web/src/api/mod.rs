//! `/api/v1/` routes, by feature area.

pub mod body;
pub mod cases;
pub mod dto;
pub mod meta;
pub mod tokens;

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::AppState;

/// The routes under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/me", get(meta::me))
        .route("/intake", get(meta::intake))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route("/cases", post(cases::create_case).get(cases::list_cases))
        .route("/cases/{number}", get(cases::get_case))
        .route("/cases/{number}/events", get(cases::list_events))
        .route("/cases/{number}/replies", post(cases::reply))
        .route("/cases/{number}/notes", post(cases::note))
        .route("/cases/{number}/request-info", post(cases::request_info))
        .route("/cases/{number}/hold", post(cases::hold))
        .route("/cases/{number}/resume", post(cases::resume))
        .route(
            "/cases/{number}/propose-resolution",
            post(cases::propose_resolution),
        )
        .route(
            "/cases/{number}/confirm-resolution",
            post(cases::confirm_resolution),
        )
        .route("/cases/{number}/escalate", post(cases::escalate))
        .route("/cases/{number}/assignee", put(cases::assign))
        .route("/cases/{number}/priority", put(cases::change_priority))
        .route("/cases/{number}/team-contacts", post(cases::add_contact))
        .route(
            "/cases/{number}/team-contacts/{email}",
            delete(cases::remove_contact),
        )
        .route("/cases/{number}/summaries", post(cases::summary))
}
