//! `sla-scan`: the SLA scanner's query on a filled database. Gives every open case a next SLA
//! timer spread over the coming 30 days, prints the query plan on the backend, then times the
//! scanner's query for the cases due in the next five minutes.

use std::time::Instant;

use anyhow::Context;
use sqlx::{Connection, Row};

fn spread_sql(now_us: i64) -> String {
    // Deterministic spread: every open case gets a timer in the next 30 days, by its number.
    format!(
        "UPDATE cases SET sla_alert_at = {now_us} + ((number * 7919) % 2592000) * 1000000, \
         sla_due_at = {now_us} + ((number * 7919) % 2592000) * 1000000 + 3600000000 \
         WHERE status <> 'closed'"
    )
}

pub async fn sla_scan(url: &str, runs: usize) -> anyhow::Result<()> {
    let store = casedesk_store::connect(url)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("open database")?;
    let now = casedesk_core::now();
    let now_us = now.as_microsecond() as i64;
    let until = now + jiff::SignedDuration::from_mins(5);
    let until_us = until.as_microsecond() as i64;
    let sql = casedesk_store::SLA_ALERTS_DUE
        .replace("$1", &until_us.to_string())
        .replace("$2", "500");
    let (total, open, plan) = if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await?;
        sqlx::query(sqlx::AssertSqlSafe(spread_sql(now_us)))
            .execute(&mut c)
            .await?;
        sqlx::query("ANALYZE cases").execute(&mut c).await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
            .fetch_one(&mut c)
            .await?;
        let open: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE sla_alert_at IS NOT NULL")
                .fetch_one(&mut c)
                .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, BUFFERS) {sql}"
        )))
        .fetch_all(&mut c)
        .await?;
        let plan: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .collect();
        (total, open, plan)
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query(sqlx::AssertSqlSafe(spread_sql(now_us)))
            .execute(&mut c)
            .await?;
        sqlx::query("ANALYZE").execute(&mut c).await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
            .fetch_one(&mut c)
            .await?;
        let open: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE sla_alert_at IS NOT NULL")
                .fetch_one(&mut c)
                .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .fetch_all(&mut c)
            .await?;
        let plan: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>("detail").ok())
            .collect();
        (total, open, plan)
    };
    println!("cases: {total}, with an SLA timer: {open}");
    println!("plan of: {}", casedesk_store::SLA_ALERTS_DUE);
    for l in &plan {
        println!("  {l}");
    }
    let mut found = 0;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        found = store
            .sla_alerts_due(until, 500)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .len();
        times.push(t.elapsed());
    }
    let (p50, p99, max) = spread(&mut times);
    println!(
        "due in the next 5 minutes: {found} cases; query over {runs} runs: p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );

    // An agent's queue view by next due time (first page of active cases in one queue).
    use casedesk_core::cases::{CaseQuery, CaseSort, Status, Visibility};
    let q = CaseQuery {
        account: None,
        visibility: Visibility::Queues {
            queues: vec!["identity".into()],
            user_id: uuid::Uuid::nil(),
        },
        statuses: Status::ALL
            .into_iter()
            .filter(|s| *s != Status::Closed)
            .collect(),
        priorities: vec![],
        issue_area: None,
        stage: None,
        tenant: None,
        queue: None,
        assignee: None,
        escalated: None,
        text: None,
        text_internal: false,
        text_account: None,
        before: None,
        sort: CaseSort::SlaDue,
        after_due: None,
        limit: 26,
    };
    let mut times = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs.min(50) {
        let t = Instant::now();
        rows = store
            .list_cases(&q)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .len();
        times.push(t.elapsed());
    }
    let (p50, p99, max) = spread(&mut times);
    println!(
        "queue view by due time (identity, active, {rows} rows): p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );
    Ok(())
}

fn spread(
    times: &mut [std::time::Duration],
) -> (
    std::time::Duration,
    std::time::Duration,
    std::time::Duration,
) {
    times.sort();
    let pick = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
    (pick(0.5), pick(0.99), pick(1.0))
}
