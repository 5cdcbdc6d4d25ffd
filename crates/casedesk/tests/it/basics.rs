use casedesk_testkit::{Backend, acme_case, both, spawn_app};
use serde_json::json;

async fn create_answers_201_with_number_location_and_the_stored_case(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let mut body = acme_case("Sign-in fails after redirect");
    body["team_contacts"] = json!(["Teammate@Acme.example"]);
    let a = app.post("/api/v1/cases", &w.ops, body).await;
    assert_eq!(a.status, 201, "{}", a.json);
    let n = a.json["number"].as_i64().unwrap();
    assert!(n > 1000);
    assert_eq!(a.headers["location"], format!("/api/v1/cases/{n}").as_str());
    let c = &a.json;
    assert_eq!(c["status"], "new");
    assert_eq!(c["priority"], "P2");
    assert_eq!(c["tenant"], "acme-prod");
    assert_eq!(c["queue"], "identity");
    assert_eq!(c["requester"], "ops@acme.example");
    assert_eq!(c["team_contacts"], json!(["teammate@acme.example"]));
    assert_eq!(
        c["identifiers"]["redirect_uri"],
        "https://app.acme.example/callback"
    );
    assert_eq!(c["context"]["token_flow"], "authorization_code");
    assert_eq!(c["checklist"]["redirect_uris_exact"], false);
    assert_eq!(c["checklist"]["tenant_registered"], true);
    assert_eq!(c["contact"]["timezone"], "Europe/Berlin");
    assert!(c["created_at"].as_str().unwrap().ends_with('Z'));

    let g = app.get(&format!("/api/v1/cases/{n}"), &w.ops).await;
    assert_eq!(g.status, 200);
    // The SLA's minutes left move with the clock; its due times do not.
    let (mut got, mut posted) = (g.json.clone(), a.json.clone());
    let due = |v: &serde_json::Value| {
        v["sla"]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["due_at"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(due(&got), due(&posted));
    assert_eq!(due(&got).len(), 2, "first response and resolution run");
    got["sla"] = json!(null);
    posted["sla"] = json!(null);
    // The create answer adds the open incidents the case matches (none here).
    let offers = posted.as_object_mut().unwrap().remove("incident_offers");
    assert_eq!(offers, Some(json!([])));
    assert_eq!(got, posted, "GET answers exactly what POST stored");

    let ev = app.get(&format!("/api/v1/cases/{n}/events"), &w.ops).await;
    assert_eq!(ev.json["items"][0]["kind"], "created");
    assert_eq!(ev.json["items"][0]["actor"], "ops@acme.example");

    let n2 = app.open_case(&w.ops, acme_case("second")).await;
    assert!(n2 > n, "case numbers increase");
}
both!(create_answers_201_with_number_location_and_the_stored_case);

async fn health_metrics_openapi_and_unknown_routes(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let h = app.call("GET", "/healthz", None, None).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.json["status"], "ok");

    app.get("/api/v1/cases", &w.ops).await;
    let m = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("casedesk_http_requests_total"), "{m}");
    assert!(m.contains("route=\"/api/v1/cases\""), "{m}");
    assert!(
        m.contains("casedesk_http_request_duration_seconds_bucket"),
        "{m}"
    );

    let o = app.call("GET", "/openapi.json", None, None).await;
    assert_eq!(o.status, 200);
    for path in [
        "/api/v1/cases",
        "/api/v1/cases/{number}",
        "/api/v1/cases/{number}/replies",
        "/api/v1/cases/{number}/escalate",
    ] {
        assert!(
            o.json["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    // The documented create body names exactly the fields intake accepts.
    let props = o.json["components"]["schemas"]["CaseInput"]["properties"]
        .as_object()
        .unwrap();
    let mut documented: Vec<&str> = props.keys().map(String::as_str).collect();
    documented.sort_unstable();
    let mut accepted = casedesk_core::cases::intake::CASE_FIELDS.to_vec();
    accepted.sort_unstable();
    assert_eq!(documented, accepted);

    let nf = app.get("/api/v1/nothing-here", &w.ops).await;
    assert_eq!(nf.status, 404);
    assert_eq!(nf.content_type(), "application/problem+json");

    let intake = app.get("/api/v1/intake", &w.ops).await;
    assert_eq!(intake.json["priorities"][0]["key"], "P1");
    assert!(
        intake.json["priorities"][0]["meaning"]
            .as_str()
            .unwrap()
            .len()
            > 20
    );
    let areas: Vec<&str> = intake.json["issue_areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        areas,
        [
            "sign-in-and-redirects",
            "applications-and-clients",
            "tokens-and-jwks",
            "webhooks",
            "scim-and-provisioning",
            "enterprise-identity-providers",
            "marketplace-and-licensing",
            "device-trust",
            "security-review",
            "other"
        ]
    );
}
both!(health_metrics_openapi_and_unknown_routes);

async fn tokens_authenticate_and_scopes_limit(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let none = app.call("GET", "/api/v1/cases", None, None).await;
    assert_eq!(none.status, 401);
    // RFC 6750 §3.1: no credential, no error code; a refused one says invalid_token.
    let challenge =
        |a: &casedesk_testkit::Answer| a.headers["www-authenticate"].to_str().unwrap().to_owned();
    assert_eq!(challenge(&none), "Bearer realm=\"casedesk\"");
    let bad = app.get("/api/v1/cases", "cdk_not-a-real-token").await;
    assert_eq!(bad.status, 401);
    assert!(challenge(&bad).contains("error=\"invalid_token\""));
    assert!(challenge(&bad).contains("unknown or was revoked"));
    assert!(
        !bad.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("cdk_not-a-real-token"),
        "never echo the token"
    );

    let read_only = app
        .token(
            "ops@acme.example",
            &[casedesk_core::users::Scope::CasesRead],
        )
        .await;
    assert_eq!(app.get("/api/v1/cases", &read_only).await.status, 200);
    let denied = app.post("/api/v1/cases", &read_only, acme_case("x")).await;
    assert_eq!(denied.status, 403);
    assert!(
        denied.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    assert_eq!(denied.json["required_scope"], "cases:write");

    let me = app.get("/api/v1/me", &w.secops).await;
    assert_eq!(me.json["email"], "secops@acme.example");
    assert_eq!(me.json["elevated"], true);
    assert_eq!(
        app.get("/api/v1/me", &w.super_admin).await.json["case_admin"],
        true,
        "super admins hold case-admin"
    );
}
both!(tokens_authenticate_and_scopes_limit);

/// Tokens are stored hashed: the database never holds the secret.
async fn tokens_are_stored_hashed(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let hash = casedesk_auth::hash_token(&w.ops);
    let found = app.store.find_token(&hash).await.unwrap();
    assert_eq!(found.unwrap().0.email, "ops@acme.example");
    assert!(
        app.store.find_token(&w.ops).await.unwrap().is_none(),
        "the plain token is not a key"
    );
}
both!(tokens_are_stored_hashed);
