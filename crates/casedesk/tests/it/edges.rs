//! The API's edges: every error is problem+json in our words with one field-path syntax,
//! bodies are JSON or refused, security headers on every answer, and `/metrics` stays the
//! same size whatever clients send.

use casedesk_testkit::{Backend, Options, acme_case, both, spawn_app, spawn_app_with};
use serde_json::{Value, json};

/// Sends a raw request: the status, the content type and the body as JSON (or null).
async fn raw(
    app: &casedesk_testkit::TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = app.client.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{}{path}", app.base),
    );
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(c) = content_type {
        r = r.header("content-type", c);
    }
    if !body.is_empty() {
        r = r.body(body.to_owned());
    }
    let res = r.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let json = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, headers, json)
}

/// A request and what it must get: method, path, content type, body, status, the field
/// named in the problem (if any).
type Probe<'a> = (
    &'a str,
    String,
    Option<&'a str>,
    String,
    u16,
    Option<&'a str>,
);

fn is_problem(h: &reqwest::header::HeaderMap) -> bool {
    h.get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"))
}

async fn every_error_is_a_problem_in_our_words(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("Edges")).await;
    let ops = Some(w.ops.as_str());
    let json = Some("application/json");
    // (method, path, content type, body, status, field with the problem (if any))
    let cases: Vec<Probe> = vec![
        (
            "DELETE",
            "/api/v1/cases".into(),
            None,
            String::new(),
            405,
            None,
        ),
        (
            "BREW",
            "/api/v1/cases".into(),
            None,
            String::new(),
            405,
            None,
        ),
        (
            "GET",
            "/api/v1/cases/%FF".into(),
            None,
            String::new(),
            404,
            None,
        ),
        (
            "GET",
            format!("/api/v1/cases/0{n}"),
            None,
            String::new(),
            404,
            None,
        ),
        (
            "GET",
            format!("/api/v1/cases/+{n}"),
            None,
            String::new(),
            404,
            None,
        ),
        (
            "GET",
            format!("/api/v1/cases/0{n}/mail"),
            None,
            String::new(),
            404,
            None,
        ),
        (
            "POST",
            format!("/api/v1/cases/{n}/replies"),
            json,
            "[]".into(),
            422,
            Some("body"),
        ),
        (
            "POST",
            format!("/api/v1/cases/{n}/replies"),
            json,
            r#"["a list read as the reply's fields"]"#.into(),
            422,
            Some("body"),
        ),
        (
            "POST",
            format!("/api/v1/cases/{n}/attachments"),
            Some("multipart/form-data"),
            "abc".into(),
            422,
            Some("body"),
        ),
        (
            "GET",
            "/api/v1/cases?limit=abc".into(),
            None,
            String::new(),
            422,
            Some("limit"),
        ),
        (
            "GET",
            "/api/v1/cases?nonsense=1".into(),
            None,
            String::new(),
            422,
            Some("nonsense"),
        ),
        (
            "GET",
            "/api/v1/cases?q=a%00b".into(),
            None,
            String::new(),
            422,
            Some("q"),
        ),
        (
            "GET",
            "/api/v1/cases?q=a%01b".into(),
            None,
            String::new(),
            200,
            None,
        ),
        (
            "GET",
            "/api/v1/cases?tenant=a%00b".into(),
            None,
            String::new(),
            422,
            Some("tenant"),
        ),
        (
            "GET",
            "/api/v1/users/a%00b@x.example/identities".into(),
            None,
            String::new(),
            404,
            None,
        ),
        (
            "GET",
            "/api/v1/jobs?limit=-1".into(),
            None,
            String::new(),
            422,
            Some("limit"),
        ),
        (
            "GET",
            "/api/v1/audit?since=yesterday".into(),
            None,
            String::new(),
            422,
            Some("since"),
        ),
        (
            "POST",
            format!("/api/v1/cases/{n}/replies"),
            Some("text/plain"),
            r#"{"body":"hi"}"#.into(),
            415,
            Some("Content-Type"),
        ),
        (
            "POST",
            format!("/api/v1/cases/{n}/replies"),
            json,
            r#"{"body":"one","body":"two"}"#.into(),
            422,
            Some("body"),
        ),
        (
            "POST",
            format!("/api/v1/cases/{n}/replies"),
            json,
            r#"{"body":"a\u0000b"}"#.into(),
            422,
            Some("body"),
        ),
        (
            "POST",
            format!("/api/v1/cases/{n}/replies"),
            json,
            r#"{"body": "unfinished"#.into(),
            400,
            Some("body"),
        ),
    ];
    for (method, path, ct, body, status, field) in cases {
        let (s, h, j) = raw(&app, method, &path, ops, ct, &body).await;
        assert_eq!(s, status, "{method} {path}: {j}");
        assert_eq!(
            h.get("x-content-type-options").unwrap(),
            "nosniff",
            "{method} {path}"
        );
        assert_eq!(
            h.get("cache-control").unwrap(),
            "no-store",
            "{method} {path}"
        );
        if s >= 400 {
            assert!(is_problem(&h), "{method} {path}: {h:?}");
            assert_eq!(j["status"], s, "{method} {path}: {j}");
            let detail = j["detail"].as_str().unwrap_or_default();
            assert!(!detail.is_empty(), "{method} {path}: {j}");
            let messages: Vec<&str> = j["errors"]
                .as_array()
                .map(|a| a.iter().filter_map(|e| e["message"].as_str()).collect())
                .unwrap_or_default();
            for words in messages.iter().chain([&detail]) {
                for parser_words in [
                    "Failed to",
                    "expected one of",
                    "invalid digit",
                    "serde",
                    "Error parsing",
                    "`",
                ] {
                    assert!(!words.contains(parser_words), "{method} {path}: {j}");
                }
            }
        }
        if let Some(f) = field {
            let fields: Vec<&str> = j["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path}: {j}"))
                .iter()
                .map(|e| e["field"].as_str().unwrap())
                .collect();
            assert!(fields.contains(&f), "{method} {path}: {j}");
        }
    }
    // A 405 says which methods the route takes.
    let (_, h, j) = raw(&app, "PATCH", "/api/v1/cases", ops, None, "").await;
    assert!(
        h.get("allow").unwrap().to_str().unwrap().contains("GET"),
        "{h:?}"
    );
    assert!(j["detail"].as_str().unwrap().contains("PATCH"), "{j}");

    // One path syntax: list items by index in brackets.
    let mut body = acme_case("Brackets");
    body["team_contacts"] = json!(["teammate@acme.example", "nobody@elsewhere.example"]);
    let a = app.post("/api/v1/cases", &w.ops, body).await;
    assert_eq!(a.status, 422, "{}", a.json);
    assert_eq!(a.error_fields(), ["team_contacts[1]"]);

    // Subjects are one line of visible text.
    for subject in [
        "Line\r\nX-Injected: 1",
        "Invoice \u{202E}fdp.exe",
        "NUL\u{0}here",
    ] {
        let a = app.post("/api/v1/cases", &w.ops, acme_case(subject)).await;
        assert_eq!(a.status, 422, "{subject:?}: {}", a.json);
        assert_eq!(a.error_fields(), ["subject"], "{subject:?}");
    }

    // A read-only token may look at its subscription, not change it.
    let read_only = app
        .post(
            "/api/v1/tokens",
            &w.ops,
            json!({"label": "reader", "scopes": ["cases:read"]}),
        )
        .await;
    assert_eq!(read_only.status, 201, "{}", read_only.json);
    let reader = read_only.json["token"].as_str().unwrap();
    let a = app
        .put("/api/v1/status/subscription", reader, json!({}))
        .await;
    assert_eq!(a.status, 403, "{}", a.json);
    assert_eq!(a.json["required_scope"], "cases:write");
    // Nor record that an article solved their problem.
    let a = app
        .post(
            "/api/v1/solutions/deflections",
            reader,
            json!({"entry_id": "rotate-client-secrets", "subject": "s", "description": "d",
                "issue_area": "sign-in-and-redirects"}),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.json);
    // Support staff are held to their token's scopes as well.
    let agent_reader = app
        .post(
            "/api/v1/tokens",
            &w.agent,
            json!({"label": "reader", "scopes": ["cases:read"]}),
        )
        .await;
    let agent_reader = agent_reader.json["token"].as_str().unwrap();
    let a = app
        .post(
            &format!("/api/v1/cases/{n}/incidents"),
            agent_reader,
            json!({"incident_id": uuid::Uuid::now_v7().to_string()}),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.json);
    assert_eq!(a.json["required_scope"], "cases:write");
}
both!(every_error_is_a_problem_in_our_words);

async fn metrics_stay_the_same_size_whatever_is_sent(b: Backend) {
    let app = spawn_app(b).await;
    let size = || async {
        app.client
            .get(format!("{}/metrics", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // Each route and method once, so that every series the test can make exists.
    for i in 0..20 {
        raw(
            &app,
            &format!("MADEUP{i}"),
            &format!("/nowhere/{i}"),
            None,
            None,
            "",
        )
        .await;
        raw(&app, &format!("MADEUP{i}"), "/api/v1/cases", None, None, "").await;
        raw(&app, "GET", &format!("/api/v1/cases/{i}"), None, None, "").await;
    }
    size().await;
    let before = size().await;
    for i in 20..400 {
        raw(
            &app,
            &format!("VERB{i}"),
            &format!("/made/up/{i}"),
            None,
            None,
            "",
        )
        .await;
        raw(&app, &format!("VERB{i}"), "/api/v1/cases", None, None, "").await;
        raw(&app, "GET", &format!("/api/v1/cases/{i}"), None, None, "").await;
    }
    let after = size().await;
    assert!(!after.contains("VERB"), "a made-up method is not a label");
    assert!(!after.contains("/made/up"), "a made-up path is not a label");
    // The request series (the job runner's own series come and go with its work).
    let series = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("casedesk_http_"))
            .count()
    };
    assert!(
        series(&after) == series(&before),
        "{} series before, {} after",
        series(&before),
        series(&after)
    );
    assert!(after.contains(r#"method="other""#), "{after}");
    assert!(after.contains(r#"status="4xx""#), "{after}");
}
both!(metrics_stay_the_same_size_whatever_is_sent);

async fn metrics_may_need_a_token(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            metrics: casedesk_web::metrics::MetricsConfig {
                token: Some("scraper-secret-0123456789".into()),
                listen: None,
            },
            ..Default::default()
        },
    )
    .await;
    let (s, h, j) = raw(&app, "GET", "/metrics", None, None, "").await;
    assert_eq!(s, 401, "{j}");
    assert!(is_problem(&h));
    let (s, _, _) = raw(
        &app,
        "GET",
        "/metrics",
        Some("wrong-token-0123456789"),
        None,
        "",
    )
    .await;
    assert_eq!(s, 401);
    let r = app
        .client
        .get(format!("{}/metrics", app.base))
        .bearer_auth("scraper-secret-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("casedesk_http_requests_total")
    );
}
both!(metrics_may_need_a_token);

/// `metrics.listen` moves `/metrics` to an address of its own (the binary as operators run
/// it), and `metrics.token` guards it there.
#[tokio::test]
async fn metrics_may_have_an_address_of_their_own() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_at = free.local_addr().unwrap();
    drop(free);
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_casedesk"))
        .arg("serve")
        .env("CASEDESK_LISTEN", "127.0.0.1:0")
        .env("CASEDESK_DATA", dir.path())
        .env_remove("CASEDESK_DATABASE_URL")
        .env("CASEDESK_METRICS__LISTEN", metrics_at.to_string())
        .env("CASEDESK_METRICS__TOKEN", "scraper-secret-0123456789")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let l = lines.next_line().await.unwrap().expect("listening line");
        if let Some(rest) = l.strip_prefix("casedesk listening on ") {
            break rest.split(' ').next().unwrap().to_owned();
        }
    };
    let client = reqwest::Client::new();
    let main = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(
        main.status(),
        404,
        "the main address no longer serves /metrics"
    );
    let url = format!("http://{metrics_at}/metrics");
    let mut anon = None;
    for _ in 0..50 {
        if let Ok(r) = client.get(&url).send().await {
            anon = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let anon = anon.expect("the metrics address answers");
    assert_eq!(anon.status(), 401);
    let ok = client
        .get(&url)
        .bearer_auth("scraper-secret-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.text()
            .await
            .unwrap()
            .contains("casedesk_http_requests_total")
    );
    let health = client
        .get(format!("http://{metrics_at}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
