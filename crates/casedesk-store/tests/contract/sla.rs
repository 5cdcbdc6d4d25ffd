//! SlaStore: calendars and policies, the clock log and the timers.

use super::*;

async fn sla_calendars_keep_versions_and_policies_upsert(b: Backend) {
    let (s, _db) = store(b).await;
    assert!(s.calendar_versions("eu").await.unwrap().is_empty());
    let t1 = jiff::Timestamp::from_second(1_790_000_000).unwrap();
    let t2 = jiff::Timestamp::from_second(1_790_100_000).unwrap();
    s.put_calendar("eu", r#"{"v":2}"#, t2, &a()).await.unwrap();
    s.put_calendar("eu", r#"{"v":1}"#, t1, &a()).await.unwrap();
    s.put_calendar("apac", r#"{"v":9}"#, t1, &a())
        .await
        .unwrap();
    assert_eq!(
        s.calendar_versions("eu").await.unwrap(),
        vec![(t1, r#"{"v":1}"#.to_owned()), (t2, r#"{"v":2}"#.to_owned())]
    );
    let list = s.list_calendars().await.unwrap();
    assert_eq!(
        list,
        vec![
            ("apac".to_owned(), t1, r#"{"v":9}"#.to_owned()),
            ("eu".to_owned(), t2, r#"{"v":2}"#.to_owned())
        ]
    );
    s.put_policy("gold", "P3", "{}", t1, &a()).await.unwrap();
    s.put_policy("gold", "P3", r#"{"x":1}"#, t2, &a())
        .await
        .unwrap();
    assert_eq!(
        s.list_policies().await.unwrap(),
        vec![("gold".into(), "P3".into(), r#"{"x":1}"#.into(), t2)]
    );
    // Each change wrote its audit entry.
    assert_eq!(
        casedesk_core::audit::verify_store(s.as_ref())
            .await
            .unwrap()
            .checked,
        5
    );
    // An account's chosen calendar: none, one, none again; an unknown account is not found.
    let f = fixture(s.as_ref()).await;
    assert_eq!(s.account_calendar(f.account.id).await.unwrap(), None);
    s.set_account_calendar(f.account.id, Some("eu"), &a())
        .await
        .unwrap();
    assert_eq!(
        s.account_calendar(f.account.id).await.unwrap().as_deref(),
        Some("eu")
    );
    s.set_account_calendar(f.account.id, None, &a())
        .await
        .unwrap();
    assert_eq!(s.account_calendar(f.account.id).await.unwrap(), None);
    assert!(matches!(
        s.set_account_calendar(Uuid::now_v7(), Some("eu"), &a())
            .await,
        Err(DomainError::NotFound { .. })
    ));
}
both!(sla_calendars_keep_versions_and_policies_upsert);

async fn sla_log_and_timers_are_written_with_the_case(b: Backend) {
    use casedesk_core::sla::{ClockEvent, ClockEventKind, Goal, SlaWrite, Target};
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let t = |sec: i64| jiff::Timestamp::from_second(1_790_000_000 + sec).unwrap();
    let ev = |target, kind, at| ClockEvent {
        target,
        cycle: 1,
        kind,
        at,
    };
    let first = vec![
        ev(
            Target::FirstResponse,
            ClockEventKind::Applied {
                goal: Goal::around_the_clock(60),
            },
            t(0),
        ),
        ev(Target::FirstResponse, ClockEventKind::Started, t(0)),
    ];
    let mut timed = Vec::new();
    for (i, alert) in [300, 100, 200].into_iter().enumerate() {
        let mut nc = new_case(&f, &format!("timed {i}"));
        nc.sla = SlaWrite {
            events: first.clone(),
            due_at: Some(t(alert + 1000)),
            alert_at: Some(t(alert)),
        };
        let CreateOutcome::Created(n) = s
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
        timed.push(n);
    }
    // A case without clocks (imported) has no log and no timer.
    let untimed = s
        .import_cases(&[(new_case(&f, "imported"), Status::Open)])
        .await
        .unwrap()[0];
    assert!(s.sla_log(untimed).await.unwrap().is_empty());
    assert_eq!(
        s.sla_log(timed[0]).await.unwrap(),
        first,
        "in order, exactly"
    );

    // The scanner's query: due ones only, soonest first.
    assert_eq!(
        s.sla_alerts_due(t(250), 10).await.unwrap(),
        vec![timed[1], timed[2]]
    );
    assert_eq!(s.sla_alerts_due(t(250), 1).await.unwrap(), vec![timed[1]]);
    assert!(s.sla_alerts_due(t(50), 10).await.unwrap().is_empty());

    // Timers and log entries move with a change, fenced by the case's version.
    let c = s.get_case(timed[1]).await.unwrap().unwrap();
    let met = ev(Target::FirstResponse, ClockEventKind::Met, t(120));
    let w = SlaWrite {
        events: vec![met],
        due_at: None,
        alert_at: None,
    };
    assert!(
        !s.set_sla(c.number, c.version + 1, &w).await.unwrap(),
        "stale version"
    );
    assert_eq!(
        s.sla_log(c.number).await.unwrap().len(),
        2,
        "nothing written"
    );
    let patch = CasePatch {
        sla: Some(w.clone()),
        ..Default::default()
    };
    s.update_case(
        c.number,
        c.version,
        &patch,
        &event(f.requester.id, EventKind::Reply, true),
        &a(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(s.sla_log(c.number).await.unwrap().last(), Some(&met));
    assert_eq!(
        s.sla_alerts_due(t(250), 10).await.unwrap(),
        vec![timed[2]],
        "a met clock has no timer"
    );
    let c = s.get_case(timed[2]).await.unwrap().unwrap();
    let later = SlaWrite {
        events: vec![],
        due_at: Some(t(5000)),
        alert_at: Some(t(4000)),
    };
    assert!(s.set_sla(c.number, c.version, &later).await.unwrap());
    assert!(s.sla_alerts_due(t(250), 10).await.unwrap().is_empty());

    // Open cases in number order, paged.
    let open = s.open_case_numbers(0, 100).await.unwrap();
    assert_eq!(open.len(), 4);
    assert_eq!(s.open_case_numbers(open[1], 2).await.unwrap(), open[2..4]);

    // Settings are one row, replaced.
    assert_eq!(s.sla_settings().await.unwrap(), None);
    s.put_sla_settings(r#"{"warning_percent":50}"#, &a())
        .await
        .unwrap();
    s.put_sla_settings(r#"{"warning_percent":60}"#, &a())
        .await
        .unwrap();
    assert_eq!(
        s.sla_settings().await.unwrap().as_deref(),
        Some(r#"{"warning_percent":60}"#)
    );
}
both!(sla_log_and_timers_are_written_with_the_case);
