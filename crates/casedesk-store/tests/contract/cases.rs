//! CaseStore: reading cases and listing them by visibility (written through the ServiceStore).

use super::*;

async fn cases_round_trip_and_versions_guard_updates(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let nc = new_case(&f, "round trip");
    let CreateOutcome::Created(number) = s
        .create_case(
            &nc,
            &event(f.requester.id, EventKind::Created, true),
            None,
            &a(),
            None,
        )
        .await
        .unwrap()
    else {
        panic!("not created")
    };
    assert_eq!(number, 1001, "numbers start at 1001 on both backends");
    let c = s.get_case(number).await.unwrap().unwrap();
    assert_eq!(c.fields, nc.fields);
    assert_eq!(c.created_at, nc.created_at);
    assert_eq!(c.tenant, "acme-prod");
    assert_eq!(c.requester, "req@acme.example");
    assert_eq!(c.team_contacts, nc.team_contacts);
    assert_eq!(c.status, Status::New);

    let patch = CasePatch {
        status: Some(Status::Open),
        priority: Some(Priority::P1),
        escalated: Some(true),
        ..Default::default()
    };
    let u = s
        .update_case(
            c.number,
            c.version,
            &patch,
            &event(f.requester.id, EventKind::Reply, true),
            &a(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (u.status, u.fields.priority, u.escalated, u.version),
        (Status::Open, Priority::P1, true, c.version + 1)
    );
    // A change based on the old version is refused and records nothing.
    let stale = s
        .update_case(
            c.number,
            c.version,
            &CasePatch::default(),
            &event(f.requester.id, EventKind::Note, false),
            &a(),
        )
        .await
        .unwrap();
    assert!(stale.is_none());
    let u = s
        .update_case(
            c.number,
            u.version,
            &CasePatch {
                remove_contact: Some(f.contact.id),
                ..Default::default()
            },
            &event(f.requester.id, EventKind::Note, false),
            &a(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(u.team_contacts.is_empty());

    let public: Vec<EventKind> = s
        .list_events(c.number, false)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    let all: Vec<EventKind> = s
        .list_events(c.number, true)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(public, [EventKind::Created, EventKind::Reply]);
    assert_eq!(all, [EventKind::Created, EventKind::Reply, EventKind::Note]);
    assert_eq!(
        s.list_events(c.number, true).await.unwrap()[0]
            .actor
            .as_deref(),
        Some("req@acme.example")
    );
}
both!(cases_round_trip_and_versions_guard_updates);

async fn listing_by_visibility_filters_and_cursor(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let mut batch = Vec::new();
    for (i, st) in [Status::New, Status::Open, Status::Closed, Status::Pending]
        .into_iter()
        .enumerate()
    {
        let mut c = new_case(&f, &format!("imported {i}"));
        if i % 2 == 1 {
            c.team_contacts.clear();
        }
        batch.push((c, st));
    }
    let numbers = s.import_cases(&batch).await.unwrap();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]));
    let q = |visibility: Visibility| CaseQuery {
        visibility,
        limit: 10,
        ..query_all()
    };
    let nums = |rows: Vec<CaseSummary>| rows.iter().map(|r| r.number).collect::<Vec<_>>();
    let all = nums(s.list_cases(&q(Visibility::All)).await.unwrap());
    assert_eq!(all, numbers.iter().rev().copied().collect::<Vec<_>>());
    let mate = nums(
        s.list_cases(&q(Visibility::Mine {
            user_id: f.contact.id,
        }))
        .await
        .unwrap(),
    );
    assert_eq!(mate, [numbers[2], numbers[0]]);
    let mut closed = q(Visibility::Account {
        account_id: f.account.id,
    });
    closed.statuses = vec![Status::Closed];
    assert_eq!(nums(s.list_cases(&closed).await.unwrap()), [numbers[2]]);
    let mut page = q(Visibility::Queues {
        queues: vec!["integrations".into()],
        user_id: f.requester.id,
    });
    page.before = Some(numbers[2]);
    page.limit = 1;
    assert_eq!(nums(s.list_cases(&page).await.unwrap()), [numbers[1]]);
    let none = q(Visibility::Account {
        account_id: Uuid::now_v7(),
    });
    assert!(s.list_cases(&none).await.unwrap().is_empty());
    // The account filter keeps to one account within what the caller sees, and every row
    // names its account and plan.
    let mut own = q(Visibility::All);
    own.account = Some(f.account.id);
    let rows = s.list_cases(&own).await.unwrap();
    assert_eq!(rows.len(), numbers.len());
    assert!(
        rows.iter()
            .all(|r| r.account == f.account.name && r.plan == f.account.plan.key())
    );
    own.account = Some(Uuid::now_v7());
    assert!(s.list_cases(&own).await.unwrap().is_empty());
    let statuses: Vec<Value> = s
        .list_events(numbers[2], false)
        .await
        .unwrap()
        .iter()
        .map(|e| e.data["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("closed")]);
}
both!(listing_by_visibility_filters_and_cursor);

/// Imported history: each event at its own time, the assignee and the rating written, the
/// report reading the answer times, and nothing announced (no job for any of it).
async fn history_is_imported_with_its_times_and_announces_nothing(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    // The support engineer who answers (reports count support's answers only).
    let agent = User {
        id: Uuid::now_v7(),
        account_id: None,
        email: "agent@support.example".into(),
        role: Role::Agent,
        case_admin: false,
        elevated: false,
        queues: vec![],
        created_at: casedesk_core::now(),
        deactivated_at: None,
    };
    s.create_user(&agent, None, &a()).await.unwrap();
    let opened = casedesk_core::now() - jiff::SignedDuration::from_hours(72);
    let mut c = new_case(&f, "from the past");
    c.created_at = opened;
    c.team_contacts.clear();
    let at = |m: i64| opened + jiff::SignedDuration::from_mins(m);
    let h = casedesk_core::service::HistoricCase {
        case: c,
        status: Status::Closed,
        assignee: Some(agent.id),
        events: vec![
            NewEvent {
                actor_id: Some(agent.id),
                kind: EventKind::Reply,
                public: true,
                data: serde_json::json!({"body": "On it."}),
                at: at(42),
            },
            NewEvent {
                actor_id: Some(agent.id),
                kind: EventKind::ResolutionProposed,
                public: true,
                data: serde_json::json!({"body": "Fixed."}),
                at: at(300),
            },
            NewEvent {
                actor_id: Some(f.requester.id),
                kind: EventKind::ResolutionConfirmed,
                public: true,
                data: serde_json::json!({}),
                at: at(400),
            },
        ],
        rating: Some(casedesk_core::satisfaction::Rating {
            case_number: 0,
            rating: 4,
            comment: None,
            rated_by: f.requester.email.clone(),
            rated_at: at(410),
        }),
    };
    let n = s.import_history(std::slice::from_ref(&h)).await.unwrap()[0];
    let case = s.get_case(n).await.unwrap().unwrap();
    assert_eq!(case.status, Status::Closed);
    assert_eq!(case.assignee_id, Some(agent.id));
    assert_eq!(case.created_at, opened);
    let events = s.list_events(n, true).await.unwrap();
    assert_eq!(events.len(), 4, "created and the three after it");
    assert_eq!(events[1].at, at(42));
    let rows = s
        .report_rows(opened, casedesk_core::now(), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].first_response_at, Some(at(42)));
    assert_eq!(rows[0].resolved_at, Some(at(300)));
    assert_eq!(rows[0].assignee.as_deref(), Some("agent@support.example"));
    assert_eq!(rows[0].account, "Acme");
    assert_eq!(s.rating(n).await.unwrap().map(|r| r.rating), Some(4));
    let jobs = s
        .list_jobs(&casedesk_core::jobs::JobQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(jobs.is_empty(), "history is not announced: {jobs:?}");
}
both!(history_is_imported_with_its_times_and_announces_nothing);

/// Lists walk their own indexes however the cases came: after a burst of new cases with a
/// running clock in one queue (as the API creates them), the page of another queue reads that
/// queue's indexes, by due time and newest first, rather than walking the primary key down
/// through the burst and filtering (PostgreSQL's choice before, with `ANALYZE` or without).
/// Fresh statistics; with `vacuum`, on PostgreSQL, a table as autovacuum leaves it too (the
/// text index's pending entries merged).
async fn analyze(b: Backend, url: &str, vacuum: bool) {
    use sqlx::Connection;
    match b {
        Backend::Postgres => {
            let mut c = sqlx::postgres::PgConnection::connect(url).await.unwrap();
            let sql = if vacuum { "VACUUM ANALYZE" } else { "ANALYZE" };
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
        Backend::Sqlite => {
            let mut c = sqlx::sqlite::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("ANALYZE").execute(&mut c).await.unwrap();
        }
    }
}

async fn lists_walk_their_indexes_after_a_burst_in_one_queue(b: Backend) {
    let (s, db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    // Older cases waiting on the customer, imported the way the benchmark generates them.
    let mut batch = vec![];
    for i in 0..600 {
        let mut c = new_case(&f, &format!("waiting {i}"));
        c.queue = "general".into();
        batch.push((
            c,
            if i % 2 == 0 {
                Status::Pending
            } else {
                Status::Open
            },
        ));
    }
    s.import_cases(&batch).await.unwrap();
    // Then a burst of newer ones in another queue, created one by one, each with a clock.
    let due = casedesk_core::now() + std::time::Duration::from_secs(3600);
    let mut set = tokio::task::JoinSet::new();
    for w in 0..8 {
        let (s, f) = (s.clone(), f.clone());
        set.spawn(async move {
            for i in 0..400 {
                let mut c = new_case(&f, &format!("burst {w}.{i}"));
                c.queue = "identity".into();
                c.sla.due_at = Some(due);
                let e = event(f.requester.id, EventKind::Created, true);
                s.create_case(&c, &e, None, &a(), None).await.unwrap();
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    analyze(b, &db.url, false).await;
    let agent = Uuid::now_v7();
    let query = |sort: CaseSort, statuses: Vec<Status>| CaseQuery {
        account: None,
        visibility: Visibility::Queues {
            queues: vec!["general".into()],
            user_id: agent,
        },
        statuses,
        priorities: vec![],
        issue_area: None,
        stage: None,
        tenant: None,
        queue: None,
        assignee: Some(None),
        escalated: None,
        text: None,
        text_internal: false,
        text_account: None,
        before: None,
        sort,
        after_due: None,
        limit: 51,
    };
    let open = vec![Status::New, Status::Open, Status::Pending, Status::OnHold];
    // The agent console's unassigned view, then the plain newest-first queue page.
    for (q, index) in [
        (query(CaseSort::SlaDue, open.clone()), "cases_queue_waiting"),
        (query(CaseSort::Newest, vec![]), "cases_queue"),
    ] {
        let plan = casedesk_store::explain_case_list(&db.url, &q)
            .await
            .unwrap()
            .join("\n");
        assert!(plan.contains(index), "{b:?}: {index} not used:\n{plan}");
        let walks_the_key = match b {
            Backend::Postgres => plan.contains("Scan Backward using cases_pkey"),
            Backend::Sqlite => plan.contains("SCAN c\n") || plan.ends_with("SCAN c"),
        };
        assert!(!walks_the_key, "{b:?}: walks every case:\n{plan}");
        let page = s.list_cases(&q).await.unwrap();
        assert_eq!(page.len(), 51, "{b:?}");
        assert!(page.iter().all(|c| c.queue == "general"), "{b:?}");
    }
}
both!(lists_walk_their_indexes_after_a_burst_in_one_queue);

/// Every case, newest first, no filter.
fn query_all() -> CaseQuery {
    CaseQuery {
        account: None,
        visibility: Visibility::All,
        statuses: vec![],
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
        sort: CaseSort::Newest,
        after_due: None,
        limit: 50,
    }
}

/// A search after a burst of new cases that lack its words: on PostgreSQL the walk of each
/// branch's newest cases is cut short and the text index drives (the planner, believing the
/// matches spread evenly, would walk the whole burst); on SQLite the FTS index drives. Every
/// page is the newest matches, and paging goes through all of them.
async fn searches_use_the_text_index_after_a_burst_without_the_words(b: Backend) {
    let (s, db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    // Older cases: one in two hundred mentions kerberos; all mention a token. Enough of them
    // that PostgreSQL reads the text index rather than every row of a small table.
    let mut batch = vec![];
    for i in 0..20_000 {
        let mut c = new_case(
            &f,
            &format!(
                "token {i} {}",
                if i % 200 == 0 {
                    "kerberos ticket"
                } else {
                    "other"
                }
            ),
        );
        // The oldest thousand-and-one in a queue that receives nothing newer.
        c.queue = if i <= 1000 { "legacy" } else { "general" }.into();
        batch.push((c, Status::Open));
    }
    s.import_cases(&batch).await.unwrap();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (s, f) = (s.clone(), f.clone());
        set.spawn(async move {
            for i in 0..150 {
                let mut c = new_case(&f, &format!("token burst {w}.{i}"));
                c.queue = "identity".into();
                let e = event(f.requester.id, EventKind::Created, true);
                s.create_case(&c, &e, None, &a(), None).await.unwrap();
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    analyze(b, &db.url, true).await;
    let all = s
        .list_cases(&CaseQuery {
            limit: 25_000,
            ..query_all()
        })
        .await
        .unwrap();
    let numbers_with = |word: &str| -> Vec<i64> {
        all.iter()
            .filter(|c| c.subject.contains(word))
            .map(|c| c.number)
            .collect()
    };
    let kerberos = numbers_with("kerberos");
    assert_eq!(kerberos.len(), 100);
    let agent = Uuid::now_v7();
    let search = |visibility: Visibility, text: &str, before: Option<i64>| CaseQuery {
        visibility,
        text: Some(text.into()),
        text_internal: true,
        before,
        limit: 26,
        ..query_all()
    };
    let queues = Visibility::Queues {
        queues: vec!["legacy".into(), "general".into(), "identity".into()],
        user_id: agent,
    };
    for (who, visible) in [("agent", queues), ("manager", Visibility::All)] {
        let vis = || visible.clone();
        // Every page of a word the burst lacks: the newest matches, then the next ones.
        let mut got = vec![];
        let mut before = None;
        loop {
            let page = s
                .list_cases(&search(vis(), "kerberos", before))
                .await
                .unwrap();
            got.extend(page.iter().map(|c| c.number));
            if page.len() < 26 {
                break;
            }
            before = page.last().map(|c| c.number);
        }
        assert_eq!(
            got, kerberos,
            "{b:?} {who}: every match, newest first, once"
        );
        // A word the burst has: its newest cases.
        let page = s.list_cases(&search(vis(), "token", None)).await.unwrap();
        let newest: Vec<i64> = numbers_with("token").into_iter().take(26).collect();
        assert_eq!(
            page.iter().map(|c| c.number).collect::<Vec<_>>(),
            newest,
            "{b:?} {who}"
        );
        let plan = casedesk_store::explain_case_list(&db.url, &search(vis(), "kerberos", None))
            .await
            .unwrap()
            .join("\n");
        match b {
            Backend::Postgres => {
                assert!(
                    plan.contains("Bitmap Index Scan on case_search_all"),
                    "{who}: the text index does not drive:\n{plan}"
                );
                // Walks of the newest cases stop at their cut: a queue's at its index
                // condition, all cases' at the primary key's. (The plans are the kept ones,
                // made without the values, so each value shows as a parameter.)
                let bounded = plan
                    .split("-- ")
                    .find(|p| p.starts_with("Bounded"))
                    .unwrap_or_default();
                let stop = if who == "agent" {
                    "AND ((- number) <= (- $"
                } else {
                    "Index Cond: (number >= $"
                };
                assert!(
                    bounded.contains(stop),
                    "{who}: the walk does not stop at its cut:\n{plan}"
                );
                // Each case walked is checked against the words parsed once for the
                // statement, not parsed again for it.
                assert!(
                    bounded.contains("Filter: (doc_all @@ $")
                        && !bounded
                            .lines()
                            .any(|l| l.contains("Filter:") && l.contains("websearch_to_tsquery")),
                    "{who}: the words are parsed for every case:\n{plan}"
                );
                let text = plan
                    .split("-- ")
                    .find(|p| p.starts_with("TextDriven"))
                    .unwrap_or_default();
                assert!(
                    !text.contains("Scan Backward using cases_pkey")
                        && !text.contains("Seq Scan on cases"),
                    "{who}: walks every case:\n{plan}"
                );
                // Bounded by the branches' newest case, the text index's matches are cut at
                // the primary key before any is read.
                let text = plan
                    .split("-- ")
                    .find(|p| p.starts_with("TextDriven(Some"))
                    .unwrap_or_default();
                assert!(
                    text.contains("BitmapAnd") && text.contains("Index Cond: (case_number <= "),
                    "{who}: the bound does not cut the matches:\n{plan}"
                );
            }
            Backend::Sqlite => {
                assert!(plan.contains("case_search VIRTUAL TABLE"), "{who}:\n{plan}");
                assert!(
                    !plan.contains("SCAN c\n") && !plan.ends_with("SCAN c"),
                    "{who}:\n{plan}"
                );
            }
        }
    }
    // An agent whose one queue holds only the oldest cases: every case above its newest is
    // invisible to them, so the search cuts the text's matches there. Its newest case is a
    // match, and stays one.
    let archivist = Visibility::Queues {
        queues: vec!["legacy".into()],
        user_id: Uuid::now_v7(),
    };
    let legacy: Vec<i64> = all
        .iter()
        .filter(|c| c.queue == "legacy" && c.subject.contains("kerberos"))
        .map(|c| c.number)
        .collect();
    assert_eq!(legacy.len(), 6, "{b:?}");
    let page = s
        .list_cases(&search(archivist.clone(), "kerberos", None))
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|c| c.number).collect::<Vec<_>>(),
        legacy,
        "{b:?}: the archivist's matches, newest first"
    );
    let page = s
        .list_cases(&search(archivist.clone(), "token", None))
        .await
        .unwrap();
    assert_eq!(page.len(), 26, "{b:?}");
    assert!(page.iter().all(|c| c.queue == "legacy"), "{b:?}");
    // The bound is read before the matches. While another session keeps swapping the
    // archivist's newest match for a much newer one in another queue, each in one statement,
    // every page holds exactly one of the two: all passes read one snapshot. (SQLite runs a
    // search as one statement.)
    if matches!(b, Backend::Postgres) {
        use sqlx::Connection;
        let (old, new) = (legacy[0], kerberos[0]);
        assert!(
            new > old,
            "the newer match is above the archivist's newest case"
        );
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swapper = {
            let (url, stop) = (db.url.clone(), stop.clone());
            tokio::spawn(async move {
                let mut c = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
                let mut swaps = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    sqlx::query(
                        "UPDATE cases SET queue = CASE queue WHEN 'legacy' THEN 'general' \
                         ELSE 'legacy' END WHERE number IN ($1, $2)",
                    )
                    .bind(old)
                    .bind(new)
                    .execute(&mut c)
                    .await
                    .unwrap();
                    swaps += 1;
                }
                swaps
            })
        };
        for _ in 0..300 {
            let page = s
                .list_cases(&search(archivist.clone(), "kerberos", None))
                .await
                .unwrap();
            let numbers: Vec<i64> = page.iter().map(|c| c.number).collect();
            let held = numbers.iter().filter(|n| **n == old || **n == new).count();
            assert_eq!(held, 1, "a page from no committed state: {numbers:?}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(swapper.await.unwrap() > 100, "the swaps ran alongside");
    }
}
both!(searches_use_the_text_index_after_a_burst_without_the_words);

/// A search of words too common to index finds nothing on either database (SQLite used to
/// drop the search and list every case).
async fn a_search_of_only_common_words_finds_nothing(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let e = event(f.requester.id, EventKind::Created, true);
    s.create_case(&new_case(&f, "the login of the day"), &e, None, &a(), None)
        .await
        .unwrap();
    let q = |text: &str| CaseQuery {
        text: Some(text.into()),
        ..query_all()
    };
    assert_eq!(s.list_cases(&q("login")).await.unwrap().len(), 1, "{b:?}");
    for text in ["the", "the of", "and or"] {
        assert!(
            s.list_cases(&q(text)).await.unwrap().is_empty(),
            "{b:?}: {text}"
        );
    }
}
both!(a_search_of_only_common_words_finds_nothing);

/// Every case is found by its words at once, however it was stored: created many at a time
/// (on SQLite the writer indexes a group commit's cases together, so a create refused in
/// the group must not take its neighbours' rows with it, nor leave one of its own), or
/// imported.
async fn every_new_case_is_searchable_when_its_create_answers(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let mut set = tokio::task::JoinSet::new();
    for w in 0..16 {
        let (s, f) = (s.clone(), f.clone());
        set.spawn(async move {
            let mut out = vec![];
            for i in 0..6 {
                let word = format!("quokka{w}x{i}");
                let mut c = new_case(&f, &format!("sign-in loop {word}"));
                // One create in the burst names a tenant that does not exist: refused.
                let refused = w == 7 && i == 3;
                if refused {
                    c.tenant_id = Uuid::now_v7();
                }
                let e = event(f.requester.id, EventKind::Created, true);
                let r = s.create_case(&c, &e, None, &a(), None).await;
                match (refused, r) {
                    (false, Ok(CreateOutcome::Created(n))) => out.push((word, Some(n))),
                    (true, Err(_)) => out.push((word, None)),
                    (refused, other) => panic!("{word} (refused: {refused}): {other:?}"),
                }
            }
            out
        });
    }
    let mut expected = vec![];
    while let Some(r) = set.join_next().await {
        expected.extend(r.unwrap());
    }
    let imported = s
        .import_cases(&[(new_case(&f, "imported wombat trouble"), Status::Open)])
        .await
        .unwrap();
    expected.push(("wombat".into(), Some(imported[0])));
    assert_eq!(expected.len(), 97);
    for (word, number) in expected {
        let found = s
            .list_cases(&CaseQuery {
                text: Some(word.clone()),
                ..query_all()
            })
            .await
            .unwrap();
        let found: Vec<i64> = found.iter().map(|c| c.number).collect();
        assert_eq!(
            found,
            number.into_iter().collect::<Vec<_>>(),
            "{b:?}: {word}"
        );
    }
}
both!(every_new_case_is_searchable_when_its_create_answers);
