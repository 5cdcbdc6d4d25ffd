//! MailStore: sent and received mail, written with their causes.

use super::*;

/// A message about case `n` to `to`, its subject ending in `what`.
fn message(n: i64, to: &str, what: &str) -> casedesk_core::mail::NewMail {
    let id = Uuid::now_v7();
    casedesk_core::mail::NewMail {
        id,
        case_number: Some(n),
        kind: "acknowledged".into(),
        recipient: to.into(),
        subject: format!("[casedesk #{n}] {what}"),
        message_id: format!("<case-{n}.{}@casedesk.test>", id.simple()),
        message: format!("Subject: [casedesk #{n}] {what}\r\n\r\nbody\r\n"),
        created_at: casedesk_core::now(),
    }
}

async fn mail_out_and_in_are_written_with_their_causes(b: Backend) {
    use casedesk_core::jobs::{Claim, Finish};
    use casedesk_core::mail::{
        AttemptOutcome, AttemptStart, InboundOutcome, InboundRecord, MailResult, MailState,
    };
    use casedesk_core::service::FollowUp;
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let CreateOutcome::Created(n) = s
        .create_case(
            &new_case(&f, "mail"),
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
    let mail = |to: &str| message(n, to, "mail");
    // A public case event queues its dispatch job (which writes the messages) in the
    // transaction of the event, even with no webhook endpoint; an internal note does not.
    let jobs = |kind: &'static str| {
        let s = s.clone();
        async move { jobs_of(s.as_ref(), kind).await.len() }
    };
    assert_eq!(jobs("case.event").await, 1);
    let c = s.get_case(n).await.unwrap().unwrap();
    s.update_case(
        n,
        c.version,
        &CasePatch::default(),
        &event(f.contact.id, EventKind::Note, false),
        &a(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        jobs("case.event").await,
        1,
        "internal events are not mailed"
    );

    // A job's follow-up writes messages and their sending jobs with its end.
    s.enqueue_job(&casedesk_core::jobs::NewJob::new("t.mail", json!({})))
        .await
        .unwrap();
    let claims: Vec<Claim> = s
        .claim_jobs(
            "a",
            casedesk_core::now(),
            std::time::Duration::from_secs(30),
            10,
        )
        .await
        .unwrap();
    let mine = claims.iter().find(|c| c.job.kind == "t.mail").unwrap();
    let (m1, m2) = (mail("req@acme.example"), mail("mate@acme.example"));
    let follow = FollowUp {
        mails: vec![m1.clone(), m2.clone()],
        ..Default::default()
    };
    assert!(s.finish_job(mine, &Finish::Done, &follow).await.unwrap());
    assert_eq!(jobs(casedesk_core::mail::SEND).await, 2);
    let log = s.list_mail(n).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|m| m.state == MailState::Queued && m.attempts == 0)
    );
    let (rec, text) = s.get_mail(m1.id).await.unwrap().unwrap();
    assert_eq!(
        (rec.recipient.as_str(), text.as_str()),
        ("req@acme.example", m1.message.as_str())
    );

    // A sending attempt's result is recorded with the end of its job, fenced by the lease.
    let claims = s
        .claim_jobs(
            "a",
            casedesk_core::now(),
            std::time::Duration::from_secs(30),
            10,
        )
        .await
        .unwrap();
    let send = claims
        .iter()
        .find(|c| c.job.payload["mail"] == json!(m1.id.to_string()))
        .unwrap();
    let now = casedesk_core::now;
    let later = |secs: i64| {
        now()
            .checked_add(jiff::SignedDuration::from_secs(secs))
            .unwrap()
    };
    let outcomes = |r: &casedesk_core::mail::MailRecord| {
        r.attempt_log
            .iter()
            .map(|a| (a.attempt, a.outcome))
            .collect::<Vec<_>>()
    };
    let mut stale = send.clone();
    stale.token = "not-the-lease".into();
    // A message as the mail log shows it, with its attempts.
    let logged = |id: Uuid| {
        let s = s.clone();
        async move {
            s.list_mail(n)
                .await
                .unwrap()
                .into_iter()
                .find(|m| m.id == id)
                .unwrap()
        }
    };

    // An attempt is written before anything is handed over, and only under the job's lease.
    assert_eq!(
        s.begin_mail_attempt(&stale, m1.id, now(), later(60), later(-600))
            .await
            .unwrap(),
        AttemptStart::LeaseLost
    );
    assert_eq!(s.get_mail(m1.id).await.unwrap().unwrap().0.attempts, 0);
    assert_eq!(
        s.begin_mail_attempt(send, m1.id, now(), later(60), later(-600))
            .await
            .unwrap(),
        AttemptStart::Begun(1)
    );
    let rec = logged(m1.id).await;
    assert_eq!(
        (rec.attempts, outcomes(&rec)),
        (1, vec![(1, AttemptOutcome::Sending)])
    );
    // A worker that finds it open while its node may still be writing the result waits
    // (and writes nothing); once it is stale, it is called interrupted and the next begins.
    assert!(matches!(
        s.begin_mail_attempt(send, m1.id, now(), later(60), later(-600))
            .await
            .unwrap(),
        AttemptStart::InFlight { attempt: 1, .. }
    ));
    assert_eq!(
        s.begin_mail_attempt(send, m1.id, now(), later(60), later(1))
            .await
            .unwrap(),
        AttemptStart::Begun(2)
    );
    let rec = logged(m1.id).await;
    assert_eq!(
        outcomes(&rec),
        vec![
            (1, AttemptOutcome::Interrupted),
            (2, AttemptOutcome::Sending)
        ]
    );
    assert_eq!(
        rec.attempt_log[0].error.as_deref(),
        Some(casedesk_core::mail::INTERRUPTED)
    );
    let result = |attempt: u32, state: MailState| MailResult {
        id: m1.id,
        attempt,
        started_at: now(),
        state,
        error: (state != MailState::Sent).then(|| "451 later".to_owned()),
        detail: (state == MailState::Sent).then(|| "relay 250 ok".to_owned()),
        at: now(),
        next_attempt_at: None,
    };
    // A result that arrives after the job moved on still tells what its attempt did, but
    // leaves the message to the job's owner…
    assert!(
        !s.mail_result(&stale, &result(2, MailState::Retrying), &Finish::Done)
            .await
            .unwrap()
    );
    let rec = logged(m1.id).await;
    assert_eq!(
        (rec.state, outcomes(&rec)[1]),
        (MailState::Queued, (2, AttemptOutcome::Retrying))
    );
    // …unless the relay took it: then the message is sent whoever owns the job.
    assert!(
        !s.mail_result(&stale, &result(1, MailState::Sent), &Finish::Done)
            .await
            .unwrap()
    );
    let rec = logged(m1.id).await;
    assert_eq!(
        (rec.state, outcomes(&rec)[0]),
        (MailState::Sent, (1, AttemptOutcome::Sent))
    );
    // The owner's own result ends the job.
    assert_eq!(
        s.begin_mail_attempt(send, m1.id, now(), later(60), later(-600))
            .await
            .unwrap(),
        AttemptStart::Begun(3)
    );
    assert!(
        s.mail_result(send, &result(3, MailState::Sent), &Finish::Done)
            .await
            .unwrap()
    );
    let rec = logged(m1.id).await;
    assert_eq!(
        (rec.state, rec.attempts, rec.detail.as_deref()),
        (MailState::Sent, 3, Some("relay 250 ok"))
    );
    assert_eq!(
        outcomes(&rec),
        vec![
            (1, AttemptOutcome::Sent),
            (2, AttemptOutcome::Retrying),
            (3, AttemptOutcome::Sent)
        ]
    );
    assert!(rec.attempt_log.iter().all(|a| a.ended_at.is_some()));
    assert!(rec.sent_at.is_some());
    assert_eq!(s.get_mail(m1.id).await.unwrap().unwrap().0.attempts, 3);

    // Where a repeat is harmless (the outbox), an attempt is written with its result (number
    // 0 asks for the next one), and only by the job's owner.
    let m2_send = claims
        .iter()
        .find(|c| c.job.payload["mail"] == json!(m2.id.to_string()))
        .unwrap();
    {
        let quick = |state: MailState| MailResult {
            id: m2.id,
            attempt: 0,
            started_at: now(),
            state,
            error: None,
            detail: Some("outbox x.eml".into()),
            at: now(),
            next_attempt_at: None,
        };
        let mut stale2 = (*m2_send).clone();
        stale2.token = "not-the-lease".into();
        assert!(
            !s.mail_result(&stale2, &quick(MailState::Sent), &Finish::Done)
                .await
                .unwrap()
        );
        assert_eq!(s.get_mail(m2.id).await.unwrap().unwrap().0.attempts, 0);
        assert!(
            s.mail_result(m2_send, &quick(MailState::Sent), &Finish::Done)
                .await
                .unwrap()
        );
        let rec2 = logged(m2.id).await;
        assert_eq!(
            (rec2.state, rec2.attempts, outcomes(&rec2)),
            (MailState::Sent, 1, vec![(1, AttemptOutcome::Sent)])
        );
    }

    // Received mail: recorded once per Message-ID; the notice answering it is queued with it.
    let received = |id: Option<&str>| InboundRecord {
        id: Uuid::now_v7(),
        received_at: casedesk_core::now(),
        sender: Some("stranger@elsewhere.example".into()),
        subject: "hello".into(),
        message_id: id.map(str::to_owned),
        case_number: Some(n),
        outcome: InboundOutcome::RefusedSender,
        detail: json!({"reason": "not on the case"}),
        raw: b"From: stranger@elsewhere.example\r\n\r\n\xff binary stays binary\r\n".to_vec(),
        replaces_held: false,
        fingerprint: None,
        counts: true,
    };
    let first = received(Some("m1@elsewhere.example"));
    let mut notice = mail("stranger@elsewhere.example");
    notice.case_number = None;
    assert!(s.record_inbound(&first, Some(&notice)).await.unwrap());
    assert_eq!(
        jobs(casedesk_core::mail::SEND).await,
        1,
        "both messages sent (their jobs done), the notice queued"
    );
    let again = received(Some("m1@elsewhere.example"));
    let mut notice2 = mail("stranger@elsewhere.example");
    notice2.case_number = None;
    assert!(
        !s.record_inbound(&again, Some(&notice2)).await.unwrap(),
        "same Message-ID"
    );
    assert!(
        s.get_mail(notice2.id).await.unwrap().is_none(),
        "and its notice was not written"
    );
    assert!(
        s.record_inbound(&received(None), None).await.unwrap(),
        "no Message-ID: always new"
    );
    let found = s
        .find_inbound("m1@elsewhere.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id, found.outcome.as_str()),
        (first.id, "refused_sender")
    );
    let (_, raw) = s.get_inbound(first.id).await.unwrap().unwrap();
    assert_eq!(raw, first.raw, "the original is kept byte for byte");
    assert_eq!(s.list_inbound(n).await.unwrap().len(), 2);

    // A posted reply records its message in the transaction of the case change.
    let c = s.get_case(n).await.unwrap().unwrap();
    let mut posted = received(Some("m2@acme.example"));
    posted.outcome = InboundOutcome::Posted;
    let patch = CasePatch {
        inbound: Some(posted.clone()),
        ..CasePatch::default()
    };
    s.update_case(
        n,
        c.version,
        &patch,
        &event(f.requester.id, EventKind::Reply, true),
        &a(),
    )
    .await
    .unwrap()
    .unwrap();
    let c = s.get_case(n).await.unwrap().unwrap();
    let events_before = s.list_events(n, true).await.unwrap().len();
    let dup = s
        .update_case(
            n,
            c.version,
            &patch,
            &event(f.requester.id, EventKind::Reply, true),
            &a(),
        )
        .await;
    assert!(matches!(dup, Err(DomainError::Conflict(_))), "{dup:?}");
    assert_eq!(
        s.list_events(n, true).await.unwrap().len(),
        events_before,
        "nothing posted twice"
    );

    // Held mail: listed by its outcome, decided once. A release replaces the held row (it
    // keeps its id and its original); a second decision finds nothing held.
    let mut held = received(Some("h1@acme.example"));
    held.outcome = InboundOutcome::Held;
    held.detail = json!({"hold": {"kind": "flood"}});
    held.fingerprint = Some("f00d".into());
    held.sender = Some("ops@acme.example".into());
    assert!(s.record_inbound(&held, None).await.unwrap());
    let listed = s.list_inbound_by_outcome("held", None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![held.id]
    );
    let since = casedesk_core::now() - jiff::SignedDuration::from_mins(5);
    let q = |fp: Option<&'static str>, case: Option<i64>, since, cap| {
        casedesk_core::mail::RecentQuery {
            sender: "ops@acme.example",
            case,
            fingerprint: fp,
            since,
            cap,
        }
    };
    let recent = s
        .recent_inbound(&q(Some("f00d"), Some(n), since, 10))
        .await
        .unwrap();
    assert_eq!(recent.from_sender, 1, "held mail counts against its sender");
    assert!(
        recent.on_case >= 2,
        "posted and held on the case: {recent:?}"
    );
    assert!(recent.repeated, "the same fingerprint from the sender");
    assert!(
        !s.recent_inbound(&q(Some("beef"), Some(n), since, 10))
            .await
            .unwrap()
            .repeated
    );
    // Mail whose sender was found false does not count against anyone's allowance.
    let mut forged = received(Some("forged-1@elsewhere.example"));
    forged.outcome = InboundOutcome::Held;
    forged.sender = Some("ops@acme.example".into());
    forged.fingerprint = Some("f00d".into());
    forged.counts = false;
    assert!(s.record_inbound(&forged, None).await.unwrap());
    let again = s
        .recent_inbound(&q(None, Some(n), since, 10))
        .await
        .unwrap();
    assert_eq!(
        (again.from_sender, again.on_case),
        (recent.from_sender, recent.on_case)
    );
    let capped = s.recent_inbound(&q(None, Some(n), since, 1)).await.unwrap();
    assert_eq!(
        (capped.from_sender, capped.on_case),
        (1, 1),
        "counts stop at the cap"
    );
    let later = s
        .recent_inbound(&q(
            Some("f00d"),
            None,
            casedesk_core::now() + jiff::SignedDuration::from_mins(1),
            10,
        ))
        .await
        .unwrap();
    assert!(!later.repeated);
    assert_eq!(
        (later.from_sender, later.on_case),
        (0, 0),
        "outside the window"
    );
    let mut decided = held.clone();
    decided.outcome = InboundOutcome::Posted;
    decided.detail = json!({"review": {"decision": "released"}});
    decided.raw = Vec::new();
    decided.replaces_held = true;
    assert!(s.record_inbound(&decided, None).await.unwrap());
    assert!(
        !s.record_inbound(&decided, None).await.unwrap(),
        "decided once"
    );
    let (now_posted, raw) = s.get_inbound(held.id).await.unwrap().unwrap();
    assert_eq!(now_posted.outcome, "posted");
    assert_eq!(raw, held.raw, "the original kept when it was held stays");
    assert!(
        s.list_inbound_by_outcome("held", None, 10)
            .await
            .unwrap()
            .iter()
            .all(|m| m.id != held.id),
        "released: no longer held"
    );
    let mut other = received(Some("h2@acme.example"));
    other.outcome = InboundOutcome::Held;
    assert!(s.record_inbound(&other, None).await.unwrap());
    assert!(
        s.review_held(
            other.id,
            "discarded",
            &json!({"review": {"decision": "discarded"}}),
            &a()
        )
        .await
        .unwrap()
    );
    assert!(
        !s.review_held(other.id, "discarded", &json!({}), &a())
            .await
            .unwrap(),
        "no longer held"
    );
    assert_eq!(
        s.list_inbound_by_outcome("discarded", None, 10)
            .await
            .unwrap()[0]
            .id,
        other.id
    );

    // A delivery report fails the message it names, by its Message-ID, and cancels its
    // waiting attempt; an id we never sent changes nothing.
    let bounced = s
        .bounce_mail(&m2.message_id, "bounced (failed): status 5.1.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((bounced.id, bounced.state), (m2.id, MailState::Failed));
    assert_eq!(
        bounced.last_error.as_deref(),
        Some("bounced (failed): status 5.1.1")
    );
    assert!(
        s.bounce_mail("<never@casedesk.example>", "x")
            .await
            .unwrap()
            .is_none()
    );

    // Email intake per account.
    assert_eq!(s.email_intake(f.account.id).await.unwrap(), None);
    s.set_email_intake(f.account.id, r#"{"enabled":true}"#, &a())
        .await
        .unwrap();
    assert_eq!(
        s.email_intake(f.account.id).await.unwrap().as_deref(),
        Some(r#"{"enabled":true}"#)
    );
}
both!(mail_out_and_in_are_written_with_their_causes);

/// A case created with its messages: they are written with it (each with its sending job),
/// composed from the number it got; its `created` event then queues no dispatch unless an
/// endpoint may receive it, and a dispatch queued for an endpoint says the messages are
/// written, so they are not written twice.
async fn a_new_case_is_written_with_its_messages(b: Backend) {
    use casedesk_core::mail::Compose;
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let compose: Compose = std::sync::Arc::new(|n| {
        ["one@acme.example", "two@acme.example"]
            .iter()
            .map(|to| message(n, to, "opened"))
            .collect()
    });
    let create = |with: Option<Compose>| {
        let (s, f) = (s.clone(), f.clone());
        async move {
            match s
                .create_case(
                    &new_case(&f, "written with its mail"),
                    &event(f.requester.id, EventKind::Created, true),
                    None,
                    &a(),
                    with,
                )
                .await
                .unwrap()
            {
                CreateOutcome::Created(n) => n,
                other => panic!("{other:?}"),
            }
        }
    };
    let n = create(Some(compose.clone())).await;
    let mails = s.list_mail(n).await.unwrap();
    let mut to: Vec<_> = mails.iter().map(|m| m.recipient.clone()).collect();
    to.sort();
    assert_eq!(to, ["one@acme.example", "two@acme.example"], "{b:?}");
    assert!(
        mails
            .iter()
            .all(|m| m.subject == format!("[casedesk #{n}] opened")),
        "composed from the number the case got: {mails:?}"
    );
    assert_eq!(
        jobs_of(s.as_ref(), "mail.send").await.len(),
        2,
        "each message has its job"
    );
    assert!(
        jobs_of(s.as_ref(), "case.event").await.is_empty(),
        "nothing left for the dispatcher without an endpoint ({b:?})"
    );

    // Without the messages, the dispatcher writes them, as before.
    let m = create(None).await;
    assert!(s.list_mail(m).await.unwrap().is_empty());
    let queued = jobs_of(s.as_ref(), "case.event").await;
    assert_eq!(queued.len(), 1, "{b:?}");
    assert_eq!(queued[0].payload["case"], json!(m));
    assert_eq!(queued[0].payload["mails_planned"], json!(false), "{b:?}");

    // With an enabled endpoint, the event is dispatched for it, marked as mailed.
    let ep = endpoint(&f, "https://hooks.acme.example/casedesk");
    s.create_endpoint(&ep, &secret(ep.id, "sealed"), &a())
        .await
        .unwrap();
    let k = create(Some(compose)).await;
    assert_eq!(s.list_mail(k).await.unwrap().len(), 2);
    let queued = jobs_of(s.as_ref(), "case.event").await;
    let job = queued
        .iter()
        .find(|j| j.payload["case"] == json!(k))
        .expect("a dispatch for the endpoint");
    assert_eq!(job.payload["mails_planned"], json!(true), "{b:?}");
}
both!(a_new_case_is_written_with_its_messages);

/// Two handles on one database (as two processes would be) create cases at once, one with
/// messages composed from the number and one without: every case keeps a number of its own
/// and each message names the case it was written with, even where a number one handle had
/// counted on was taken by the other.
async fn messages_name_their_case_across_writers(b: Backend) {
    use casedesk_core::mail::Compose;
    let (s, db) = store(b).await;
    let s2 = casedesk_store::connect(&db.url).await.unwrap();
    let f = fixture(s.as_ref()).await;
    let compose: Compose = std::sync::Arc::new(|n| vec![message(n, "one@acme.example", "opened")]);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (st, f, compose) = if i % 2 == 0 {
            (s.clone(), f.clone(), Some(compose.clone()))
        } else {
            (s2.clone(), f.clone(), None)
        };
        set.spawn(async move {
            let with = compose.is_some();
            let e = event(f.requester.id, EventKind::Created, true);
            match st
                .create_case(&new_case(&f, &format!("c{i}")), &e, None, &a(), compose)
                .await
                .unwrap()
            {
                CreateOutcome::Created(n) => (n, with),
                other => panic!("{other:?}"),
            }
        });
    }
    let mut numbers = vec![];
    while let Some(r) = set.join_next().await {
        numbers.push(r.unwrap());
    }
    let mut distinct: Vec<i64> = numbers.iter().map(|(n, _)| *n).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 40, "{b:?}: {numbers:?}");
    for (n, with) in numbers {
        let mails = s.list_mail(n).await.unwrap();
        if with {
            assert_eq!(mails.len(), 1, "{b:?}: case {n}");
            assert_eq!(mails[0].subject, format!("[casedesk #{n}] opened"), "{b:?}");
        } else {
            assert!(mails.is_empty(), "{b:?}: case {n}");
        }
        let c = s.get_case(n).await.unwrap().unwrap();
        assert_eq!(c.number, n);
    }
}
both!(messages_name_their_case_across_writers);
