//! SQL of reports: each case of a period with its first response, its resolution and
//! whether a clock breached, expanded once per backend by `store_impl!`.

/// Implements the inherent `report_rows_op` the `Store` impl delegates to.
#[macro_export]
#[doc(hidden)]
macro_rules! reports_impl {
    ($store:ident) => {
        pub(crate) mod reports_impl {
            use super::$store;
            use $crate::common::*;
            use casedesk_core::reports::ReportRow;
            use casedesk_core::{DomainError, Result, Timestamp};

            use super::ops_impl::g;

            impl $store {
                pub(crate) async fn report_rows_op(&self, since: Timestamp, until: Timestamp, limit: u32) -> Result<Vec<ReportRow>> {
                    // The first response is support's first public answer; the events index
                    // by case keeps each lookup to the case's own events.
                    let rows = sqlx::query(
                        "SELECT ac.plan, ac.name AS account_name, (SELECT u.email FROM users u WHERE u.id = c.assignee_id) AS assignee, c.priority, c.issue_area, c.created_at, \
                         (SELECT MIN(e.at) FROM case_events e JOIN users u ON u.id = e.actor_id \
                           WHERE e.case_number = c.number AND e.kind IN ('reply', 'info_requested', 'resolution_proposed') \
                           AND u.role IN ('agent', 'manager')) AS first_response_at, \
                         (SELECT MIN(e.at) FROM case_events e WHERE e.case_number = c.number \
                           AND e.kind IN ('resolution_proposed', 'resolution_confirmed')) AS resolved_at, \
                         CAST(CASE WHEN EXISTS (SELECT 1 FROM case_events e WHERE e.case_number = c.number \
                           AND e.kind = 'sla_breached') THEN 1 ELSE 0 END AS BIGINT) AS breached \
                         FROM cases c JOIN accounts ac ON ac.id = c.account_id \
                         WHERE c.created_at >= $1 AND c.created_at < $2 ORDER BY c.created_at LIMIT $3",
                    )
                    .bind(micros(since))
                    .bind(micros(until))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(internal)?;
                    rows.iter()
                        .map(|r| {
                            let p: String = g(r, "priority")?;
                            Ok(ReportRow {
                                plan: g(r, "plan")?,
                                priority: casedesk_core::cases::Priority::parse(&p)
                                    .ok_or_else(|| DomainError::Internal(format!("bad priority in database: {p}")))?,
                                issue_area: g(r, "issue_area")?,
                                created_at: ts(g(r, "created_at")?),
                                first_response_at: g::<Option<i64>>(r, "first_response_at")?.map(ts),
                                resolved_at: g::<Option<i64>>(r, "resolved_at")?.map(ts),
                                breached: g::<i64>(r, "breached")? != 0,
                                account: g(r, "account_name")?,
                                assignee: g(r, "assignee")?,
                            })
                        })
                        .collect()
                }
            }
        }
    };
}
