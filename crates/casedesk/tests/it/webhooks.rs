//! Webhooks end to end: a real receiver on loopback (verifying with the independent
//! `standardwebhooks` package) that fails, stalls or is down; isolation between accounts;
//! secret rotation; the delivery log, redelivery and auto-disable.

use std::collections::{BTreeMap, BTreeSet};

use casedesk_core::users::Role;
use casedesk_testkit::hooks::{Behaviour, Received, Receiver};
use casedesk_testkit::{
    Backend, Options, TestApp, acme_case, both, reserve, spawn_app, spawn_with, test_db,
};
use serde_json::{Value, json};

/// Creates an endpoint; its id and secret.
async fn endpoint(app: &TestApp, token: &str, url: &str, types: Value) -> (String, String) {
    let a = app
        .post(
            "/api/v1/webhooks",
            token,
            json!({"url": url, "event_types": types, "description": "test"}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let secret = a.json["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    (a.json["id"].as_str().unwrap().to_owned(), secret)
}

fn types_of(log: &[Received], path: &str) -> BTreeSet<String> {
    log.iter()
        .filter(|r| r.path == path && (200..300).contains(&r.status))
        .map(|r| r.body["type"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn deliveries_are_signed_retried_with_one_id_and_isolated(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let globex_owner = app
        .user_with_token(
            Some("Globex"),
            "owner@globex.example",
            Role::SuperAdmin,
            false,
            false,
            &[],
        )
        .await;
    let rx = Receiver::start(0).await;
    let (acme_ep, acme_secret) = endpoint(&app, &w.super_admin, &rx.url("/acme"), json!([])).await;
    let (_, globex_secret) = endpoint(&app, &globex_owner, &rx.url("/globex"), json!([])).await;
    let (_, internal_secret) = endpoint(&app, &w.manager, &rx.url("/internal"), json!([])).await;
    // Acme's receiver fails the first two attempts of every message; the internal one
    // stalls past casedesk's 2 s timeout on the first attempt.
    rx.configure(
        "/acme",
        &Behaviour {
            secrets: vec![acme_secret.clone()],
            fail_first: 2,
            ..Default::default()
        },
    )
    .await;
    rx.configure(
        "/globex",
        &Behaviour {
            secrets: vec![globex_secret],
            ..Default::default()
        },
    )
    .await;
    rx.configure(
        "/internal",
        &Behaviour {
            secrets: vec![internal_secret],
            slow_first: 1,
            delay_ms: 3_000,
            ..Default::default()
        },
    )
    .await;

    let n = app.open_case(&w.ops, acme_case("Webhook case")).await;
    let r = app
        .post(
            &format!("/api/v1/cases/{n}/replies"),
            &w.agent,
            json!({"body": "Looking into it"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = app
        .post(
            &format!("/api/v1/cases/{n}/notes"),
            &w.agent,
            json!({"body": "SECRET-INTERNAL-NOTE"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = app
        .post(
            &format!("/api/v1/cases/{n}/escalate"),
            &w.ops,
            json!({"reason": "Blocked launch"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);

    let want_customer: BTreeSet<String> = [
        "case.created",
        "case.replied",
        "case.status_changed",
        "case.escalated",
    ]
    .map(String::from)
    .into();
    let log = rx
        .wait_for(60, "every event at both receivers", |log| {
            types_of(log, "/acme") == want_customer
                && types_of(log, "/internal").contains("case.note_added")
                && types_of(log, "/internal").is_superset(&want_customer)
                // The stalled first attempt is logged when the receiver finally answers.
                && log.iter().filter(|r| r.path == "/internal" && r.body["type"] == "case.created").count() >= 2
        })
        .await;

    // Every request carried a valid Standard Webhooks signature.
    assert!(
        log.iter().all(|r| r.verified),
        "unverified deliveries: {log:#?}"
    );
    // Retries keep the webhook-id: each Acme message was tried three times under one id.
    let mut by_id: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
    for r in log.iter().filter(|r| r.path == "/acme") {
        by_id.entry(&r.id).or_default().push(r);
    }
    assert_eq!(by_id.len(), 4, "one message per event type: {by_id:#?}");
    for (id, tries) in &by_id {
        assert!(id.starts_with("msg_"));
        let statuses: Vec<u16> = tries.iter().map(|t| t.status).collect();
        assert_eq!(statuses, vec![503, 503, 204], "{id}");
        let bodies: BTreeSet<String> = tries.iter().map(|t| t.body.to_string()).collect();
        assert_eq!(bodies.len(), 1, "the same body on every attempt");
    }
    // The customer never sees the internal note, in any delivery.
    for r in log.iter().filter(|r| r.path == "/acme") {
        assert!(
            !r.body.to_string().contains("SECRET-INTERNAL-NOTE"),
            "{r:#?}"
        );
        assert!(shape(&r.body), "{r:#?}");
        assert_eq!(r.body["data"]["case"]["number"], n);
    }
    // The stalled first attempt was retried under the same id.
    let internal_created: Vec<&Received> = log
        .iter()
        .filter(|r| r.path == "/internal" && r.body["type"] == "case.created")
        .collect();
    assert!(
        internal_created.len() >= 2
            && internal_created
                .iter()
                .all(|r| r.id == internal_created[0].id)
    );
    // Another account's endpoint hears nothing about Acme's case.
    assert!(
        log.iter().all(|r| r.path != "/globex"),
        "globex got {log:#?}"
    );

    // The delivery log shows each attempt with status, latency and error.
    let page = app
        .get(
            &format!("/api/v1/webhooks/{acme_ep}/deliveries"),
            &w.super_admin,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.json);
    let items = page.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let did = items[0]["id"].as_str().unwrap();
    let d = app
        .get(
            &format!("/api/v1/webhooks/{acme_ep}/deliveries/{did}"),
            &w.super_admin,
        )
        .await;
    assert_eq!(d.json["state"], "delivered", "{}", d.json);
    let attempts = d.json["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{}", d.json);
    assert_eq!(attempts[0]["status_code"], 503);
    assert!(attempts[0]["error"].as_str().unwrap().contains("503"));
    assert_eq!(attempts[2]["status_code"], 204);
    assert!(attempts[2]["error"].is_null());
    assert!(attempts.iter().all(|a| a["latency_ms"].is_u64()));

    // Isolation of the management routes: another account's admin gets 404, a non-super
    // admin gets 403, and the secret is never stored readable.
    let other = app
        .get(&format!("/api/v1/webhooks/{acme_ep}"), &globex_owner)
        .await;
    assert_eq!(other.status, 404);
    let other = app
        .get(
            &format!("/api/v1/webhooks/{acme_ep}/deliveries/{did}"),
            &globex_owner,
        )
        .await;
    assert_eq!(other.status, 404);
    let listed = app.get("/api/v1/webhooks", &globex_owner).await;
    assert_eq!(listed.json["items"].as_array().unwrap().len(), 1);
    let denied = app
        .post("/api/v1/webhooks", &w.ops, json!({"url": rx.url("/x")}))
        .await;
    assert_eq!(denied.status, 403, "{}", denied.json);
    let sealed = app
        .store
        .live_secrets(
            uuid::Uuid::parse_str(&acme_ep).unwrap(),
            casedesk_core::now(),
        )
        .await
        .unwrap();
    assert_eq!(sealed.len(), 1);
    assert!(!sealed[0].sealed.contains(&acme_secret[6..]));
    assert!(
        !app.get(&format!("/api/v1/webhooks/{acme_ep}"), &w.super_admin)
            .await
            .json
            .to_string()
            .contains(&acme_secret[6..])
    );
}
both!(deliveries_are_signed_retried_with_one_id_and_isolated);

async fn rotated_secrets_overlap_then_expire(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let rx = Receiver::start(0).await;
    let (ep, old) = endpoint(&app, &w.super_admin, &rx.url("/r"), json!(["case.created"])).await;
    rx.configure(
        "/r",
        &Behaviour {
            secrets: vec![old.clone()],
            ..Default::default()
        },
    )
    .await;
    app.open_case(&w.ops, acme_case("Before rotation")).await;
    rx.wait_for(30, "the first delivery", |l| l.len() == 1)
        .await;

    let r = app
        .post(
            &format!("/api/v1/webhooks/{ep}/rotate-secret"),
            &w.super_admin,
            json!({"overlap_hours": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let new = r.json["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    // A receiver that has switched to the new secret verifies; one still on the old does too.
    rx.configure(
        "/r",
        &Behaviour {
            secrets: vec![new.clone()],
            ..Default::default()
        },
    )
    .await;
    app.open_case(&w.ops, acme_case("After rotation")).await;
    let log = rx
        .wait_for(30, "the second delivery", |l| l.len() == 2)
        .await;
    assert!(log[1].verified);
    assert_eq!(
        log[1].signature.as_deref().unwrap().split(' ').count(),
        2,
        "both secrets sign during the overlap"
    );
    rx.configure(
        "/r",
        &Behaviour {
            secrets: vec![old.clone()],
            ..Default::default()
        },
    )
    .await;
    app.open_case(&w.ops, acme_case("Old secret")).await;
    let log = rx
        .wait_for(30, "the third delivery", |l| l.len() == 3)
        .await;
    assert!(
        log[2].verified,
        "the old secret still verifies during the overlap"
    );

    // With no overlap the old secret stops signing at once.
    let r = app
        .post(
            &format!("/api/v1/webhooks/{ep}/rotate-secret"),
            &w.super_admin,
            json!({"overlap_hours": 0}),
        )
        .await;
    let newest = r.json["secret"].as_str().unwrap().to_owned();
    rx.configure(
        "/r",
        &Behaviour {
            secrets: vec![new.clone(), newest.clone()],
            ..Default::default()
        },
    )
    .await;
    app.open_case(&w.ops, acme_case("Newest only")).await;
    let log = rx
        .wait_for(30, "the fourth delivery", |l| l.len() == 4)
        .await;
    assert_eq!(log[3].signature.as_deref().unwrap().split(' ').count(), 1);
    assert_eq!(
        log[3].verified_with,
        Some(1),
        "signed by the newest secret only"
    );
    let bad = app
        .post(
            &format!("/api/v1/webhooks/{ep}/rotate-secret"),
            &w.super_admin,
            json!({"overlap_hours": 1000}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_fields(), vec!["overlap_hours"]);
}
both!(rotated_secrets_overlap_then_expire);

async fn failing_endpoints_are_disabled_with_a_notice_and_redelivered_by_hand(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    // A receiver that is down: its port is free but nothing listens.
    let mut rx = Receiver::start(0).await;
    let port = rx.port;
    rx.stop().await;
    let (ep, secret) = endpoint(
        &app,
        &w.super_admin,
        &format!("http://127.0.0.1:{port}/down"),
        json!(["case.created"]),
    )
    .await;
    let (gone_ep, _) = endpoint(
        &app,
        &w.manager,
        &format!("http://127.0.0.1:{port}/gone"),
        json!(["case.created"]),
    )
    .await;
    app.open_case(&w.ops, acme_case("Nobody listens")).await;

    // Six attempts a second apart, then the delivery fails and the endpoint is disabled.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let disabled = loop {
        let e = app
            .get(&format!("/api/v1/webhooks/{ep}"), &w.super_admin)
            .await;
        if e.json["enabled"] == false {
            break e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not disabled: {}",
            e.json
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(
        disabled.json["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("attempts"),
        "{}",
        disabled.json
    );
    let page = app
        .get(&format!("/api/v1/webhooks/{ep}/deliveries"), &w.super_admin)
        .await;
    let d = &page.json["items"][0];
    assert_eq!(d["state"], "failed");
    assert_eq!(d["attempts"], 6);
    let did = d["id"].as_str().unwrap().to_owned();
    let detail = app
        .get(
            &format!("/api/v1/webhooks/{ep}/deliveries/{did}"),
            &w.super_admin,
        )
        .await;
    assert!(
        detail.json["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["error"].as_str().unwrap().contains("connect"))
    );
    // The account's super admin is told; another account is not.
    let notices = app.get("/api/v1/notices", &w.super_admin).await;
    assert_eq!(notices.status, 200);
    let items = notices.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", notices.json);
    assert_eq!(items[0]["kind"], "webhook.disabled");
    assert!(
        items[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}/down"))
    );
    let globex_owner = app
        .user_with_token(
            Some("Globex"),
            "owner@globex.example",
            Role::SuperAdmin,
            false,
            false,
            &[],
        )
        .await;
    assert_eq!(
        app.get("/api/v1/notices", &globex_owner).await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // Redelivery is refused while disabled; once the receiver is back and the endpoint is
    // enabled, the same message (same webhook-id) arrives.
    let refused = app
        .post(
            &format!("/api/v1/webhooks/{ep}/deliveries/{did}/redeliver"),
            &w.super_admin,
            json!({}),
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.json);
    let rx = Receiver::start(port).await;
    rx.configure(
        "/down",
        &Behaviour {
            secrets: vec![secret],
            ..Default::default()
        },
    )
    .await;
    rx.configure(
        "/gone",
        &Behaviour {
            status: Some(410),
            ..Default::default()
        },
    )
    .await;
    let on = app
        .call(
            "PATCH",
            &format!("/api/v1/webhooks/{ep}"),
            Some(&w.super_admin),
            Some(&json!({"enabled": true})),
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.json);
    assert_eq!(on.json["failure_streak"], 0);
    let again = app
        .post(
            &format!("/api/v1/webhooks/{ep}/deliveries/{did}/redeliver"),
            &w.super_admin,
            json!({}),
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.json);
    let log = rx
        .wait_for(30, "the redelivery", |l| {
            l.iter().any(|r| r.path == "/down")
        })
        .await;
    let got = log.iter().find(|r| r.path == "/down").unwrap();
    assert_eq!(got.id, did, "a redelivery keeps the webhook-id");
    assert!(got.verified);

    // An endpoint that answers 410 Gone is disabled after its first answer.
    app.call(
        "PATCH",
        &format!("/api/v1/webhooks/{gone_ep}"),
        Some(&w.manager),
        Some(&json!({"enabled": true})),
    )
    .await;
    app.open_case(&w.ops, acme_case("Gone")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let e = app
            .get(&format!("/api/v1/webhooks/{gone_ep}"), &w.manager)
            .await;
        if e.json["enabled"] == false
            && e.json["disabled_reason"]
                .as_str()
                .unwrap_or("")
                .contains("410")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not disabled on 410: {}",
            e.json
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let manager_notices = app.get("/api/v1/notices", &w.manager).await;
    assert!(
        manager_notices.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["message"].as_str().unwrap().contains("/gone"))
    );
}
both!(failing_endpoints_are_disabled_with_a_notice_and_redelivered_by_hand);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_by_default() {
    let db = std::sync::Arc::new(test_db(Backend::Sqlite).await);
    let opts = Options {
        webhooks: Default::default(),
        ..Options::default()
    };
    let app = spawn_with(reserve().await, db, opts).await;
    let w = app.world().await;
    for (url, why) in [
        ("https://127.0.0.1:9/hook", "loopback"),
        ("https://10.0.0.5/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://localhost/hook", "local"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://[::ffff:a9fe:a9fe]/hook", "link-local"),
        ("https://[64:ff9b::a00:5]/hook", "private"),
        ("https://[2002:a00:5::1]/hook", "private"),
        (
            "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
            "loopback",
        ),
        ("https://2130706433/hook", "loopback"),
        ("http://hooks.example.com/hook", "https"),
        ("not a url", "absolute"),
    ] {
        let a = app
            .post("/api/v1/webhooks", &w.super_admin, json!({"url": url}))
            .await;
        assert_eq!(a.status, 422, "{url}: {}", a.json);
        assert_eq!(a.content_type(), "application/problem+json");
        assert_eq!(a.error_fields(), vec!["url"], "{url}");
        assert!(
            a.json["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(why),
            "{url}: {}",
            a.json
        );
    }
    let bad = app
        .post("/api/v1/webhooks", &w.super_admin, json!({"url": "https://hooks.example.com/x", "event_types": ["case.note_added"], "colour": 1}))
        .await;
    assert_eq!(bad.status, 422);
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        vec!["colour", "event_types[0]"],
        "customers cannot subscribe to internal events"
    );
    assert!(
        app.get("/api/v1/webhooks", &w.super_admin).await.json["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// The body of a delivery, as Standard Webhooks describes it.
fn shape(v: &Value) -> bool {
    v["type"].is_string() && v["timestamp"].is_string() && v["data"].is_object()
}

/// A listener that counts the connections made to it.
async fn trap() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = n.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = l.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (port, n)
}

/// The guard holds at send time too: an endpoint saved while private addresses were allowed
/// is not contacted by a node that refuses them, and the attempt says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_refuses_private_addresses_whatever_was_saved() {
    let db = std::sync::Arc::new(test_db(Backend::Sqlite).await);
    let mut open = spawn_with(reserve().await, db.clone(), Options::default()).await;
    let w = open.world().await;
    let (port, connections) = trap().await;
    let (ep, _) = endpoint(
        &open,
        &w.super_admin,
        &format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        json!(["case.created"]),
    )
    .await;
    open.stop_jobs().await;
    let mut strict = Options::default();
    strict.webhooks.allow_private_networks = false;
    let app = spawn_with(reserve().await, db, strict).await;
    app.open_case(&w.ops, acme_case("Guarded delivery")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let attempt = loop {
        let page = app
            .get(&format!("/api/v1/webhooks/{ep}/deliveries"), &w.super_admin)
            .await;
        if let Some(did) = page.json["items"][0]["id"].as_str() {
            let d = app
                .get(
                    &format!("/api/v1/webhooks/{ep}/deliveries/{did}"),
                    &w.super_admin,
                )
                .await;
            if let Some(a) = d.json["attempts"].as_array().and_then(|a| a.first()) {
                break a.clone();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no attempt: {}",
            page.json
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let error = attempt["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("not sent") && error.contains("loopback"),
        "{attempt}"
    );
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing connected to the private address"
    );
}
