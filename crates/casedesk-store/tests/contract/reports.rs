//! ReportStore: the rows reports are computed from.

use super::*;

async fn report_rows_cover_the_cases_of_the_period(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let before = casedesk_core::now();
    for subject in ["one", "two"] {
        created(s.as_ref(), &f, subject).await;
    }
    let after = casedesk_core::now()
        .checked_add(jiff::SignedDuration::from_secs(1))
        .unwrap();
    let rows = s.report_rows(before, after, 100).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.plan == "gold" && r.issue_area == "webhooks")
    );
    assert!(
        rows.iter()
            .all(|r| r.priority == Priority::P2 && !r.breached)
    );
    assert!(
        rows.iter()
            .all(|r| r.first_response_at.is_none() && r.resolved_at.is_none())
    );
    assert_eq!(s.report_rows(before, after, 1).await.unwrap().len(), 1);
    let later = after
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap();
    assert!(s.report_rows(after, later, 100).await.unwrap().is_empty());
}
both!(report_rows_cover_the_cases_of_the_period);
