//! Recommended solutions: suggestions while a customer describes a problem, "this solved
//! it", and the deflection report for managers.

use super::extract::Query;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use casedesk_core::kb::search;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body;
use crate::AppState;
use crate::error::{ApiError, Problem};
use crate::session::{Caller, MaybeCaller};

/// The five entries that best answer `{subject, description, issue_area}`, among those the
/// caller may read (public ones without signing in), each with a snippet.
#[utoipa::path(post, path = "/api/v1/solutions/suggest", tag = "kb",
    responses((status = 200, body = Object, description = "suggestions (id, kind, title, summary, url, snippet, score, coverage, link); no_strong_match and its message when the best entry covers half of the question or less; status (the status page and its open incidents) when the question reads like an outage"),
        (status = 422, body = Problem)),
    security((), ("bearer" = [])))]
pub async fn suggest(
    State(st): State<AppState>,
    MaybeCaller(p): MaybeCaller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let v = body::value(&body::bytes(raw)?)?;
    let q = search::question(st.store.as_ref(), &v).await?;
    let hits = search::suggest(st.store.as_ref(), st.kb_index.as_ref(), p.as_ref(), &q).await?;
    let strong = search::strong_match(&hits);
    let outage = search::outage_like(&q);
    // An outage-like question points to the service's status first: its open incidents
    // (public, every region) answer it better than any article.
    let status = if outage {
        let open = st.open_incidents().await?;
        Some(json!({
            "link": "/status",
            "api": "/api/v1/status",
            "open_incidents": open.iter().map(|i| json!({"id": i.id, "title": i.title, "impact": i.impact, "regions": i.regions, "started_at": i.started_at})).collect::<Vec<_>>(),
        }))
    } else {
        None
    };
    let message = match (strong, outage) {
        (true, _) => None,
        (false, true) => Some(
            "No strong match: this reads like an outage. Check the status page for an incident in your region; if there is none, open a case (P1 if production is down).",
        ),
        (false, false) => Some(
            "No strong match: none of these entries covers most of your question. Open a case and an engineer will answer it.",
        ),
    };
    let items: Vec<Value> = hits
        .into_iter()
        .map(|h| {
            let link = format!("/api/v1/kb/entries/{}", h.id);
            let mut v = json!(h);
            v["link"] = json!(link);
            v
        })
        .collect();
    Ok(Json(json!({
        "suggestions": items,
        "no_strong_match": !strong,
        "message": message,
        "status": status,
    })))
}

/// "This solved it": `{entry_id, subject, description, issue_area}` records that the entry
/// answered the caller's question; no case is opened.
#[utoipa::path(post, path = "/api/v1/solutions/deflections", tag = "kb",
    responses((status = 201, body = Object), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn deflect(
    State(st): State<AppState>,
    Caller(p): Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<search::Deflection>), ApiError> {
    let v = body::value(&body::bytes(raw)?)?;
    let d = search::record_deflection(st.store.as_ref(), &p, &v).await?;
    Ok((StatusCode::CREATED, Json(d)))
}

/// The period of a report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Period {
    /// Start (RFC 3339); 30 days before `until` by default.
    pub since: Option<String>,
    /// End, exclusive (RFC 3339); now by default.
    pub until: Option<String>,
}

/// Deflections, cases opened and the deflection rate (deflections over deflections plus
/// cases) by issue area over a period (managers).
#[utoipa::path(get, path = "/api/v1/reports/deflection", tag = "kb", params(Period),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn report(
    State(st): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<Period>,
) -> Result<Json<Value>, ApiError> {
    let (since, until) = super::support::period(q.since.as_deref(), q.until.as_deref())?;
    let areas = search::deflection_report(st.store.as_ref(), &p, since, until).await?;
    let (d, c) = areas
        .iter()
        .fold((0u64, 0u64), |(d, c), a| (d + a.deflections, c + a.cases));
    Ok(Json(json!({
        "since": since,
        "until": until,
        "deflections": d,
        "cases": c,
        "rate": (d + c > 0).then(|| d as f64 / (d + c) as f64),
        "areas": areas,
    })))
}
