//! Identity diagnostics over HTTP: the redirect-URI explainer.

use casedesk_testkit::{Backend, both, spawn_app};
use serde_json::json;

async fn redirect_uri_explainer_names_the_part_that_differs(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let path = "/api/v1/diagnostics/redirect-uri";
    let registered = json!([
        "https://app.acme.example/callback",
        "http://127.0.0.1:8400/cb"
    ]);

    let r = app
        .post(
            path,
            &w.ops,
            json!({"registered": registered, "used": "https://app.acme.example/callback"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["verdict"].as_str()),
        (200, Some("match")),
        "{}",
        r.json
    );

    let r = app
        .post(
            path,
            &w.agent,
            json!({"registered": registered, "used": "https://app.acme.example:443/callback/"}),
        )
        .await;
    assert_eq!(r.json["verdict"], "mismatch", "{}", r.json);
    assert_eq!(r.json["closest"], "https://app.acme.example/callback");
    let parts = r.json["parts"].as_array().unwrap();
    let verdict = |name: &str| parts.iter().find(|p| p["part"] == name).unwrap()["verdict"].clone();
    assert_eq!(verdict("port"), "equivalent_not_identical");
    assert_eq!(verdict("path"), "differs");
    assert_eq!(verdict("host"), "same");

    let r = app
        .post(
            path,
            &w.ops,
            json!({"registered": registered, "used": "http://127.0.0.1:53122/cb"}),
        )
        .await;
    assert_eq!(r.json["verdict"], "match_loopback_port", "{}", r.json);

    // Bad input names the field; without a credential it is refused.
    for (body, field) in [
        (json!({"used": "https://x.example/cb"}), "registered"),
        (
            json!({"registered": [], "used": "https://x.example/cb"}),
            "registered",
        ),
        (
            json!({"registered": [7], "used": "https://x.example/cb"}),
            "registered[0]",
        ),
        (json!({"registered": ["https://x.example/cb"]}), "used"),
        (
            json!({"registered": ["https://x.example/cb"], "used": "x".repeat(1001)}),
            "used",
        ),
        (
            json!({"registered": ["https://x.example/cb"], "used": "https://x.example/cb", "colour": 1}),
            "colour",
        ),
    ] {
        let r = app.post(path, &w.ops, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.json);
        assert_eq!(r.error_fields(), [field], "{body}");
    }
    let r = app
        .call(
            "POST",
            path,
            None,
            Some(&json!({"registered": registered, "used": "x"})),
        )
        .await;
    assert_eq!(r.status, 401);
}
both!(redirect_uri_explainer_names_the_part_that_differs);
