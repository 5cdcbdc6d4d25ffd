use casedesk_testkit::{Backend, acme_case, both, spawn_app};

async fn a_retried_create_with_the_same_key_returns_the_first_case(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let body = acme_case("retry me");
    let key = [("Idempotency-Key", "6f1c9a2e-retry")];
    let first = app
        .call_with("POST", "/api/v1/cases", Some(&w.ops), Some(&body), &key)
        .await;
    assert_eq!(first.status, 201);
    let second = app
        .call_with("POST", "/api/v1/cases", Some(&w.ops), Some(&body), &key)
        .await;
    assert_eq!(second.status, 201);
    assert_eq!(second.json["number"], first.json["number"]);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(second.headers["location"], first.headers["location"]);

    // The same key with a different request is refused, not silently answered.
    let other = app
        .call_with(
            "POST",
            "/api/v1/cases",
            Some(&w.ops),
            Some(&acme_case("different")),
            &key,
        )
        .await;
    assert_eq!(other.status, 409, "{}", other.json);

    // Keys are per user: another user's identical key opens their own case.
    let theirs = app
        .call_with(
            "POST",
            "/api/v1/cases",
            Some(&w.teammate),
            Some(&body),
            &key,
        )
        .await;
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.json["number"], first.json["number"]);

    // Concurrent retries with one key open exactly one case.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let client = app.client.clone();
        let url = format!("{}/api/v1/cases", app.base);
        let token = w.ops.clone();
        set.spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "burst-1")
                .json(&acme_case("burst"))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: serde_json::Value = r.json().await.unwrap();
            (status, v["number"].as_i64())
        });
    }
    let mut numbers = std::collections::BTreeSet::new();
    while let Some(r) = set.join_next().await {
        let (status, number) = r.unwrap();
        assert_eq!(status, 201);
        numbers.insert(number.unwrap());
    }
    assert_eq!(numbers.len(), 1, "one case for one key: {numbers:?}");

    let list = app.get("/api/v1/cases?q=burst", &w.ops).await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);
}
both!(a_retried_create_with_the_same_key_returns_the_first_case);
