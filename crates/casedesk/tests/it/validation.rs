use casedesk_testkit::{Backend, TestApp, acme_case, both, spawn_app};
use serde_json::{Value, json};

async fn rejected(app: &TestApp, token: &str, body: Value) -> Vec<String> {
    let a = app.post("/api/v1/cases", token, body).await;
    assert_eq!(a.status, 422, "{}", a.json);
    assert_eq!(a.content_type(), "application/problem+json");
    for e in a.json["errors"].as_array().unwrap() {
        assert!(
            e["message"].as_str().unwrap().len() > 5,
            "each error says why: {e}"
        );
    }
    a.error_fields()
}

async fn count_cases(app: &TestApp, manager: &str) -> usize {
    app.get("/api/v1/cases?limit=100", manager).await.json["items"]
        .as_array()
        .unwrap()
        .len()
}

async fn every_intake_rule_is_enforced_and_nothing_is_stored(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let t = &w.ops;

    // Everything missing: every required field at once.
    let f = rejected(&app, t, json!({})).await;
    assert_eq!(
        f,
        [
            "priority",
            "subject",
            "description",
            "tenant",
            "issue_area",
            "scope",
            "contact",
            "stage"
        ]
    );

    // Unknown fields at every level.
    let mut v = acme_case("x");
    v["severity"] = json!("high");
    v["contact"]["pager"] = json!("1");
    v["identifiers"]["kid"] = json!("k1");
    v["context"]["mood"] = json!("bad");
    v["checklist"]["all_good"] = json!(true);
    assert_eq!(
        rejected(&app, t, v).await,
        [
            "severity",
            "contact.pager",
            "identifiers.kid",
            "context.mood",
            "checklist.all_good"
        ]
    );

    // Enumerations and formats.
    let mut v = acme_case("x");
    v["priority"] = json!("urgent");
    v["scope"] = json!("everyone");
    v["stage"] = json!("launch");
    v["issue_area"] = json!("billing");
    v["tenant"] = json!("nope-prod");
    assert_eq!(
        rejected(&app, t, v).await,
        ["priority", "tenant", "issue_area", "scope", "stage"]
    );

    let mut v = acme_case("x");
    v["contact"] = json!({"email": "not-an-email", "phone": "abc", "timezone": "Berlin"});
    v["team_contacts"] = json!(["nobody@acme.example", "ana@support.example", 7]);
    assert_eq!(
        rejected(&app, t, v).await,
        [
            "contact.email",
            "contact.phone",
            "contact.timezone",
            "team_contacts[0]",
            "team_contacts[1]",
            "team_contacts[2]"
        ]
    );

    // Types and lengths.
    let mut v = acme_case("x");
    v["subject"] = json!(42);
    v["description"] = json!("  ");
    v["steps_to_reproduce"] = json!(["a"]);
    v["checklist"]["tenant_registered"] = json!("yes");
    v["context"]["endpoint_path"] = json!("oauth2/token");
    v["context"]["frequency"] = json!("sometimes");
    assert_eq!(
        rejected(&app, t, v).await,
        [
            "subject",
            "description",
            "steps_to_reproduce",
            "context.endpoint_path",
            "context.frequency",
            "checklist.tenant_registered"
        ]
    );
    let mut v = acme_case(&"s".repeat(201));
    v["description"] = json!("d".repeat(20_001));
    assert_eq!(rejected(&app, t, v).await, ["subject", "description"]);

    // Onboarding: required identifiers; redirect URI only for interactive web, and absolute.
    let mut v = acme_case("x");
    v["identifiers"] = json!({});
    assert_eq!(
        rejected(&app, t, v.clone()).await,
        [
            "identifiers.organization_id",
            "identifiers.application_key",
            "identifiers.client_purpose",
            "identifiers.error_message",
            "identifiers.occurred_at"
        ]
    );
    // Error times below are fixed past instants, data for the format and UTC checks: a
    // past time never expires. A time in the future is refused.
    v["identifiers"] = json!({"organization_id": "o", "application_key": "a", "client_purpose": "interactive_web", "error_message": "e", "occurred_at": casedesk_testkit::hours_ago(-1)});
    assert_eq!(
        rejected(&app, t, v.clone()).await,
        ["identifiers.redirect_uri", "identifiers.occurred_at"]
    );
    v["identifiers"]["occurred_at"] = json!("2026-11-20T14:03:00Z");
    assert_eq!(
        rejected(&app, t, v.clone()).await,
        ["identifiers.redirect_uri"]
    );
    v["identifiers"]["redirect_uri"] = json!("app.acme.example/callback");
    assert_eq!(
        rejected(&app, t, v.clone()).await,
        ["identifiers.redirect_uri"]
    );
    v["identifiers"]["redirect_uri"] = json!("https://app.acme.example/callback");
    v["identifiers"]["occurred_at"] = json!("20/11/2026 14:03");
    assert_eq!(
        rejected(&app, t, v.clone()).await,
        ["identifiers.occurred_at"]
    );
    v["identifiers"]["occurred_at"] = json!("2026-11-20T15:03:00+01:00");
    v["identifiers"]["client_purpose"] = json!("robot");
    assert_eq!(
        rejected(&app, t, v.clone()).await,
        ["identifiers.client_purpose"]
    );
    v["identifiers"]["client_purpose"] = json!("automation");
    v["identifiers"]
        .as_object_mut()
        .unwrap()
        .remove("redirect_uri");
    let ok = app.post("/api/v1/cases", t, v).await;
    assert_eq!(
        ok.status, 201,
        "automation clients need no redirect URI: {}",
        ok.json
    );
    assert_eq!(
        ok.json["identifiers"]["occurred_at"], "2026-11-20T14:03:00Z",
        "times are normalised to UTC"
    );

    // Production stage.
    let mut v = acme_case("x");
    v["stage"] = json!("production");
    v["identifiers"] = json!({});
    assert_eq!(
        rejected(&app, t, v.clone()).await,
        [
            "identifiers.environment",
            "identifiers.deployment_model",
            "identifiers.review_needed_by"
        ]
    );
    v["identifiers"] = json!({"environment": "prod", "deployment_model": "cloud", "review_needed_by": "next week"});
    assert_eq!(
        rejected(&app, t, v.clone()).await,
        ["identifiers.environment", "identifiers.review_needed_by"]
    );
    // The review date is read against today: two days ago is past, yesterday is still
    // accepted (the requester's today may be UTC's yesterday), a month ahead is fine.
    v["identifiers"] = json!({"environment": "production", "deployment_model": "self_hosted", "review_needed_by": casedesk_testkit::date_in_days(-2)});
    let past = app.post("/api/v1/cases", t, v.clone()).await;
    assert_eq!(past.status, 422, "{}", past.json);
    assert_eq!(
        past.json["errors"][0]["field"],
        "identifiers.review_needed_by"
    );
    assert!(
        past.json["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("in the past"),
        "{}",
        past.json
    );
    for days in [-1, 30] {
        v["identifiers"]["review_needed_by"] = json!(casedesk_testkit::date_in_days(days));
        let ok = app.post("/api/v1/cases", t, v.clone()).await;
        assert_eq!(ok.status, 201, "{days} days from today: {}", ok.json);
    }

    // Advanced stage.
    let mut v = acme_case("x");
    v["stage"] = json!("advanced");
    v["identifiers"] = json!({"product": "seats"});
    assert_eq!(
        rejected(&app, t, v.clone()).await,
        ["identifiers.availability", "identifiers"]
    );
    v["identifiers"] =
        json!({"product": "seats", "availability": "beta", "scim_connection_id": "scim_1"});
    assert_eq!(
        rejected(&app, t, v.clone()).await,
        ["identifiers.availability"]
    );
    v["identifiers"]["availability"] = json!("preview");
    assert_eq!(app.post("/api/v1/cases", t, v).await.status, 201);

    let stored = count_cases(&app, &w.manager).await;
    assert_eq!(stored, 4, "only the four valid requests created cases");
}
both!(every_intake_rule_is_enforced_and_nothing_is_stored);

async fn malformed_bodies_get_problems_not_panics(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let raw = |body: &'static str| {
        let app = &app;
        let token = w.ops.clone();
        async move {
            app.client
                .post(format!("{}/api/v1/cases", app.base))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = raw("{not json").await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = raw("[1,2]").await;
    assert_eq!(r.status(), 422);
    let r = raw("").await;
    assert_eq!(
        r.status(),
        422,
        "an empty body is an empty object: every field missing"
    );

    // A body over the limit is refused from its Content-Length, before it is read. Spoken
    // over a raw socket: an HTTP client still sending the body would race the early answer.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut sock = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"subject\": \"",
            w.ops,
            2 * 1024 * 1024
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.read(&mut buf).await.unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]).to_lowercase();
        assert!(answer.starts_with("http/1.1 413"), "{answer}");
        assert!(
            answer.contains("content-type: application/problem+json"),
            "{answer}"
        );
    }
    // Without a declared length the body is capped while it is read: still a 413 problem.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let sock = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let (mut rd, mut wr) = sock.into_split();
        let head = format!(
            "POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            w.ops
        );
        let chunk = 1024 * 1024 + 100;
        // The server may answer and close before the upload ends; write errors are expected.
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(head.as_bytes()).await;
            let _ = wr.write_all(format!("{chunk:x}\r\n").as_bytes()).await;
            let _ = wr.write_all(&vec![b' '; chunk]).await;
            let _ = wr.write_all(b"\r\n0\r\n\r\n").await;
        });
        let mut buf = vec![0u8; 4096];
        let n = rd.read(&mut buf).await.unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]).to_lowercase();
        assert!(answer.starts_with("http/1.1 413"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
        writer.abort();
    }

    let n = app.open_case(&w.ops, acme_case("x")).await;
    let a = app
        .post(
            &format!("/api/v1/cases/{n}/replies"),
            &w.ops,
            json!({"body": "hi", "cc": "x"}),
        )
        .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.error_fields(), ["cc"]);
    let a = app
        .post(&format!("/api/v1/cases/{n}/replies"), &w.ops, json!({}))
        .await;
    assert_eq!(a.error_fields(), ["body"]);
    let a = app
        .post(
            &format!("/api/v1/cases/{n}/replies"),
            &w.ops,
            json!({"body": 5}),
        )
        .await;
    assert_eq!(a.error_fields(), ["body"]);
    let a = app
        .post(
            &format!("/api/v1/cases/{n}/replies"),
            &w.ops,
            json!({"body": "   "}),
        )
        .await;
    assert_eq!(a.error_fields(), ["body"]);
    let a = app
        .post(
            &format!("/api/v1/cases/{n}/summaries"),
            &w.agent,
            json!({"channel": "fax", "conclusions": ""}),
        )
        .await;
    assert_eq!(a.error_fields(), ["channel", "conclusions"]);
    let a = app.get("/api/v1/cases/abc", &w.ops).await;
    assert_eq!(a.status, 404);
    let a = app.get("/api/v1/cases/-1", &w.ops).await;
    assert_eq!(a.status, 404);
    let events = app.get(&format!("/api/v1/cases/{n}/events"), &w.ops).await;
    assert_eq!(
        events.json["items"].as_array().unwrap().len(),
        1,
        "rejected actions change nothing"
    );
}
both!(malformed_bodies_get_problems_not_panics);
