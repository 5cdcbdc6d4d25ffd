//! AuditStore: the chain, across writers and grouped commits.

use super::*;

async fn audit_entries_chain_without_gaps(b: Backend) {
    let (s, _db) = store(b).await;
    for _ in 0..3 {
        s.append_audit(&a()).await.unwrap();
    }
    let page = s.audit_page(0, 10, &Default::default()).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(page[0].prev_hash, casedesk_core::audit::GENESIS);
    assert_eq!(page[1].prev_hash, page[0].hash);
    assert_eq!(
        s.audit_head().await.unwrap(),
        Some((3, page[2].hash.clone()))
    );
    let r = casedesk_core::audit::verify_store(s.as_ref())
        .await
        .unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.checked, 3);
}
both!(audit_entries_chain_without_gaps);

/// Creates are written in groups that remember the chain's head between commits; other
/// writers, a second handle on the same database (as a second process would be) and groups of
/// several entries must still leave one whole chain, each create's entry naming its case.
async fn audit_chain_stays_whole_across_writers_and_groups(b: Backend) {
    let (s, db) = store(b).await;
    let s2 = casedesk_store::connect(&db.url).await.unwrap();
    let f = fixture(s.as_ref()).await;
    let creates = |st: Arc<dyn Store>, n: usize| {
        let cases: Vec<NewCase> = (0..n).map(|i| new_case(&f, &format!("c{i}"))).collect();
        let actor = f.requester.id;
        async move {
            let mut set = tokio::task::JoinSet::new();
            for c in cases {
                let st = st.clone();
                set.spawn(async move {
                    // An empty target: the store names the case it numbered.
                    let audit = AuditRecord::new(
                        casedesk_core::audit::Actor::system("contract"),
                        "case.create",
                        "",
                    );
                    st.create_case(
                        &c,
                        &event(actor, EventKind::Created, true),
                        None,
                        &audit,
                        None,
                    )
                    .await
                    .unwrap()
                });
            }
            let mut numbers = vec![];
            while let Some(r) = set.join_next().await {
                match r.unwrap() {
                    CreateOutcome::Created(n) => numbers.push(n),
                    other => panic!("{other:?}"),
                }
            }
            numbers
        }
    };
    let mut numbers = creates(s.clone(), 20).await;
    s2.append_audit(&a()).await.unwrap();
    numbers.extend(creates(s.clone(), 3).await);
    s.append_audit(&a()).await.unwrap();
    let (x, y) = tokio::join!(creates(s.clone(), 10), creates(s2.clone(), 10));
    numbers.extend(x);
    numbers.extend(y);
    numbers.extend(creates(s.clone(), 1).await);

    let r = casedesk_core::audit::verify_store(s.as_ref())
        .await
        .unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let page = s.audit_page(0, 1000, &Default::default()).await.unwrap();
    assert_eq!(r.checked, page.len() as u64);
    let mut targets: Vec<String> = page
        .iter()
        .filter(|e| e.record.action == "case.create")
        .map(|e| e.record.target.clone())
        .collect();
    targets.sort();
    let mut expected: Vec<String> = numbers.iter().map(|n| format!("case:{n}")).collect();
    expected.sort();
    assert_eq!(targets, expected, "one entry per created case, naming it");
}
both!(audit_chain_stays_whole_across_writers_and_groups);

/// On PostgreSQL a session holding the chain's head (a node stopped while linking) holds up
/// no write: writers park their entries, only the linking waits for the head, and once the
/// head is free the parked entries join one whole chain without any reader asking.
#[tokio::test]
async fn a_held_chain_head_holds_up_no_write_on_postgres() {
    use sqlx::Connection;
    let (s, db) = store(Backend::Postgres).await;
    let f = fixture(s.as_ref()).await;
    let before = s
        .audit_page(0, 1000, &Default::default())
        .await
        .unwrap()
        .len();
    let mut holder = sqlx::postgres::PgConnection::connect(&db.url)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")
        .execute(&mut holder)
        .await
        .unwrap();
    // Each of these waited for the head (and failed after the lock timeout) before.
    for i in 0..5 {
        created(s.as_ref(), &f, &format!("while held {i}")).await;
    }
    s.append_audit(&a()).await.unwrap();
    let parked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_pending")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    assert_eq!(
        parked, 6,
        "the entries wait, parked, while the head is held"
    );
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();

    // The node's chainer links them by itself.
    let mut left = parked;
    for _ in 0..100 {
        left = sqlx::query_scalar("SELECT COUNT(*) FROM audit_pending")
            .fetch_one(&mut holder)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(left, 0, "the chainer linked the parked entries");
    let r = casedesk_core::audit::verify_store(s.as_ref())
        .await
        .unwrap();
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    let page = s.audit_page(0, 1000, &Default::default()).await.unwrap();
    assert_eq!(page.len(), before + 6);
    assert_eq!(r.checked, page.len() as u64);
    assert_eq!(r.head.map(|h| h.0), page.last().map(|e| e.seq));
}
