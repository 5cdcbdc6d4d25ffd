//! WebhookStore: endpoints and their secrets (deliveries and attempts are written by jobs,
//! through the integration tests' real receiver).

use casedesk_core::webhooks::{Endpoint, SecretRecord};

use super::*;

fn secret(endpoint_id: Uuid, sealed: &str) -> SecretRecord {
    SecretRecord {
        id: Uuid::now_v7(),
        endpoint_id,
        sealed: sealed.into(),
        created_at: casedesk_core::now(),
        expires_at: None,
    }
}

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
