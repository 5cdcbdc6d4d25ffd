//! ServiceStore: the writes that span features (here, a create replayed by its idempotency key).

use super::*;

async fn idempotency_keys_replay_and_detect_reuse(b: Backend) {
    let (s, _db) = store(b).await;
    let f = fixture(s.as_ref()).await;
    let key = IdempotencyKey {
        user_id: f.requester.id,
        key: "k".into(),
        fingerprint: "fp1".into(),
    };
    let e = event(f.requester.id, EventKind::Created, true);
    let CreateOutcome::Created(number) = s
        .create_case(&new_case(&f, "a"), &e, Some(&key), &a(), None)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        s.create_case(&new_case(&f, "a"), &e, Some(&key), &a(), None)
            .await
            .unwrap(),
        CreateOutcome::Replayed(number)
    );
    let other = IdempotencyKey {
        fingerprint: "fp2".into(),
        ..key.clone()
    };
    assert_eq!(
        s.create_case(&new_case(&f, "b"), &e, Some(&other), &a(), None)
            .await
            .unwrap(),
        CreateOutcome::KeyReused
    );
}
both!(idempotency_keys_replay_and_detect_reuse);
