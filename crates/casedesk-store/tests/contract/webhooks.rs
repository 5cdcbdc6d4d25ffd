//! WebhookStore: endpoints and their secrets (deliveries and attempts are written by jobs,
//! through the integration tests' real receiver).

use casedesk_core::webhooks::Endpoint;

use super::*;

async fn endpoints_and_secrets_round_trip_per_account(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let now = casedesk_core::now();
    let mut ep = Endpoint {
        id: Uuid::now_v7(),
        account_id: Some(f.account.id),
        url: "https://hooks.acme.example/casedesk".into(),
        description: Some("ünïcode ✓".into()),
        event_types: vec!["case.created".into()],
        enabled: true,
        disabled_reason: None,
        failure_streak: 0,
        created_at: now,
        updated_at: now,
    };
    s.create_endpoint(&ep, &secret(ep.id, "sealed-1"), &a())
        .await
        .unwrap();
    assert_eq!(s.get_endpoint(ep.id).await.unwrap().as_ref(), Some(&ep));
    assert_eq!(s.list_endpoints(Some(f.account.id)).await.unwrap().len(), 1);
    assert!(
        s.list_endpoints(Some(Uuid::now_v7()))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.enabled_endpoints()
            .await
            .unwrap()
            .iter()
            .any(|e| e.id == ep.id)
    );

    // A rotation: the new secret signs, the old one until it expires.
    let expire = now
        .checked_add(jiff::SignedDuration::from_hours(24))
        .unwrap();
    s.add_secret(&secret(ep.id, "sealed-2"), expire, &a())
        .await
        .unwrap();
    let live = s.live_secrets(ep.id, now).await.unwrap();
    assert_eq!(live.len(), 2);
    assert_eq!(live[0].sealed, "sealed-2", "newest first");
    let later = expire
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let live = s.live_secrets(ep.id, later).await.unwrap();
    assert_eq!(
        live.iter().map(|x| x.sealed.as_str()).collect::<Vec<_>>(),
        vec!["sealed-2"]
    );

    ep.enabled = false;
    ep.disabled_reason = Some("paused".into());
    s.update_endpoint(&ep, &a()).await.unwrap();
    let read = s.get_endpoint(ep.id).await.unwrap().unwrap();
    assert!(!read.enabled);
    assert!(
        !s.enabled_endpoints()
            .await
            .unwrap()
            .iter()
            .any(|e| e.id == ep.id)
    );

    s.delete_endpoint(ep.id, &a()).await.unwrap();
    assert_eq!(s.get_endpoint(ep.id).await.unwrap(), None);
    assert!(s.live_secrets(ep.id, now).await.unwrap().is_empty());
}
both!(endpoints_and_secrets_round_trip_per_account);

/// A fan-out written after one of its endpoints was deleted (the dispatcher read the list
/// before) ends its job and skips that endpoint, rather than failing, and with it the other
/// job endings written in the same transaction.
async fn a_fan_out_skips_an_endpoint_deleted_meanwhile(b: Backend) {
    use casedesk_core::jobs::JobQuery;
    use casedesk_core::webhooks::{NewDelivery, delivery_job, new_message_id};
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let now = casedesk_core::now();
    let (gone, kept) = (
        endpoint(&f, "https://a.acme.example/h"),
        endpoint(&f, "https://b.acme.example/h"),
    );
    for e in [&gone, &kept] {
        s.create_endpoint(e, &secret(e.id, "sealed"), &a())
            .await
            .unwrap();
    }
    let n = created(s.as_ref(), &f, "fanned out").await;
    let claims = s
        .claim_jobs(
            "n",
            casedesk_core::now(),
            std::time::Duration::from_secs(30),
            10,
        )
        .await
        .unwrap();
    let claim = claims
        .iter()
        .find(|c| c.job.kind == "case.event")
        .expect("the event's dispatch");
    s.delete_endpoint(gone.id, &a()).await.unwrap();
    let delivery = |to: Uuid| {
        let id = new_message_id();
        NewDelivery {
            job: delivery_job(&id, false, 5),
            id,
            endpoint_id: to,
            event_type: "case.created".into(),
            payload: "{}".into(),
            case_number: Some(n),
            created_at: now,
        }
    };
    let ended = s
        .fan_out(claim, &[delivery(gone.id), delivery(kept.id)], &[])
        .await
        .unwrap();
    assert!(ended, "{b:?}");
    assert_eq!(
        s.list_deliveries(kept.id, None, 10).await.unwrap().len(),
        1,
        "{b:?}"
    );
    let jobs = s
        .list_jobs(&JobQuery {
            kind: Some("webhook.deliver".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        jobs.len(),
        1,
        "one delivery job, for the endpoint still there"
    );
}
both!(a_fan_out_skips_an_endpoint_deleted_meanwhile);

/// Job endings written together fail alone: one that the database refuses (here a message
/// for a case that does not exist) leaves the others recorded, so their jobs do not wait out
/// their leases and run a second time.
async fn an_ending_the_database_refuses_fails_alone(b: Backend) {
    use casedesk_core::jobs::{Finish, NewJob};
    use casedesk_core::mail::NewMail;
    use casedesk_core::service::FollowUp;
    use casedesk_core::webhooks::{NewDelivery, delivery_job, new_message_id};
    let (s, _db) = store(b).await;
    for _ in 0..21 {
        s.enqueue_job(&NewJob::new("t.end", json!({})))
            .await
            .unwrap();
    }
    let mut claims = s
        .claim_jobs(
            "n",
            casedesk_core::now(),
            std::time::Duration::from_secs(30),
            32,
        )
        .await
        .unwrap();
    assert_eq!(claims.len(), 21);
    let bad = claims.pop().unwrap();
    let mut set = tokio::task::JoinSet::new();
    for c in claims {
        let s = s.clone();
        set.spawn(async move { s.finish_job(&c, &Finish::Done, &FollowUp::default()).await });
    }
    let refused = {
        let s = s.clone();
        tokio::spawn(async move {
            let id = new_message_id();
            let d = NewDelivery {
                job: delivery_job(&id, false, 5),
                id,
                endpoint_id: Uuid::now_v7(),
                event_type: "case.created".into(),
                payload: "{}".into(),
                case_number: None,
                created_at: casedesk_core::now(),
            };
            let m = NewMail {
                id: Uuid::now_v7(),
                case_number: Some(987_654_321),
                kind: "acknowledged".into(),
                recipient: "ops@acme.example".into(),
                subject: "no such case".into(),
                message_id: "<none@casedesk.test>".into(),
                message: "Subject: x\r\n\r\nx\r\n".into(),
                created_at: casedesk_core::now(),
            };
            s.fan_out(&bad, &[d], &[m]).await
        })
    };
    let mut ended = 0;
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap().ok(), Some(true), "{b:?}");
        ended += 1;
    }
    assert_eq!(ended, 20);
    assert!(refused.await.unwrap().is_err(), "{b:?}");
}
both!(an_ending_the_database_refuses_fails_alone);
