//! The audit trail's export as a download (NDJSON, oldest first), for the API's route and the
//! audit page's link alike.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use casedesk_core::audit::{self, AuditRecord};
use casedesk_core::{DomainError, FieldError, Timestamp};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

/// Filters of an export.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ExportFilters {
    /// Entries at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Entries before this time (RFC 3339).
    pub until: Option<String>,
    /// Managers: only this account (id or name).
    pub account: Option<String>,
}

const PAGE: u32 = 1000;

/// The export as NDJSON for `p` (the API's route and the audit page's link).
pub(crate) async fn export_as(
    st: AppState,
    p: casedesk_core::users::Principal,
    f: ExportFilters,
) -> Result<Response, ApiError> {
    let mut errs = Vec::new();
    let mut time = |field: &str, v: &Option<String>| -> Option<Timestamp> {
        let s = v.as_deref()?;
        s.parse::<Timestamp>()
            .map_err(|_| {
                errs.push(FieldError::new(
                    field,
                    "must be an RFC 3339 time such as 2026-11-01T00:00:00Z",
                ))
            })
            .ok()
    };
    let since = time("since", &f.since);
    let until = time("until", &f.until);
    if !errs.is_empty() {
        return Err(DomainError::Validation(errs).into());
    }
    let account = match f.account.as_deref() {
        None => None,
        Some(a) => match st.store.find_account(a).await? {
            Some(acc) => Some(acc.id),
            None => {
                return Err(DomainError::field(
                    "account",
                    format!("no account has the id or name {a:?}"),
                )
                .into());
            }
        },
    };
    let filter = audit::export_filter(&p, account, since, until)?;
    // The export itself is recorded before any entry leaves.
    let rec = AuditRecord::by(&p, "audit.export", "audit")
        .account(filter.account_id.or(p.user.account_id))
        .summary(json!({"since": f.since, "until": f.until, "account": filter.account_id}));
    st.store.append_audit(&rec).await?;
    let store = st.store.clone();
    let stream = futures_util::stream::unfold(Some(0i64), move |after| {
        let store = store.clone();
        let filter = filter.clone();
        async move {
            let after = after?;
            match store.audit_page(after, PAGE, &filter).await {
                Ok(page) if page.is_empty() => None,
                Ok(page) => {
                    let mut buf = Vec::new();
                    for e in &page {
                        if serde_json::to_writer(&mut buf, &e.exported()).is_ok() {
                            buf.push(b'\n');
                        }
                    }
                    let next = page.last().map(|e| e.seq);
                    Some((Ok::<_, std::io::Error>(buf), next))
                }
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    let mut res = Body::from_stream(stream).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"casedesk-audit.jsonl\""),
    );
    Ok(res)
}
