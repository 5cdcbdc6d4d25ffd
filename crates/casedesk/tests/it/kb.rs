//! The knowledge base: the starter set imported, entries by visibility, versions kept.

use casedesk_core::kb;
use casedesk_testkit::{Backend, actor, both, spawn_app, test_db};
use serde_json::Value;

fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn anonymous(app: &casedesk_testkit::TestApp, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn entries_are_read_by_visibility_and_keep_their_versions(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let s = app.store.as_ref();
    let r = kb::import(s, &actor(), &kb::starter_files()).await.unwrap();
    assert!(r.created.len() >= 30 && r.updated.is_empty(), "{r:?}");
    let again = kb::import(s, &actor(), &kb::starter_files()).await.unwrap();
    assert_eq!(
        (again.created.len(), again.unchanged),
        (0, r.created.len()),
        "importing twice changes nothing"
    );

    // Without signing in: public entries only. Customers add theirs; support sees internal.
    let (status, anon) = anonymous(&app, "/api/v1/kb/entries").await;
    assert_eq!(status, 200);
    let anon = ids(&anon);
    assert!(anon.contains(&"redirect-uri-mismatch".to_owned()));
    assert!(
        !anon.contains(&"security-review-evidence".to_owned()),
        "customers-only"
    );
    assert!(
        !anon.contains(&"escalation-internal-guide".to_owned()),
        "internal"
    );
    let customer = ids(&app.get("/api/v1/kb/entries", &w.ops).await.json);
    assert!(customer.contains(&"security-review-evidence".to_owned()));
    assert!(!customer.contains(&"escalation-internal-guide".to_owned()));
    let globex = ids(&app.get("/api/v1/kb/entries", &w.globex).await.json);
    assert!(!globex.contains(&"escalation-internal-guide".to_owned()));
    let agent = ids(&app.get("/api/v1/kb/entries", &w.agent).await.json);
    assert!(agent.contains(&"escalation-internal-guide".to_owned()));
    assert_eq!(agent.len(), r.created.len());

    // One entry: an internal one does not exist for customers or anonymous readers.
    let path = "/api/v1/kb/entries/escalation-internal-guide";
    assert_eq!(anonymous(&app, path).await.0, 404);
    assert_eq!(app.get(path, &w.ops).await.status, 404);
    let e = app.get(path, &w.agent).await;
    assert_eq!(
        (
            e.status,
            e.json["kind"].as_str(),
            e.json["version"].as_i64()
        ),
        (200, Some("article"), Some(1))
    );
    let (status, link) = anonymous(&app, "/api/v1/kb/entries/rfc8252-native-apps").await;
    assert_eq!(
        (status, link["url"].as_str()),
        (200, Some("https://www.rfc-editor.org/rfc/rfc8252"))
    );
    // A credential that does not authenticate is refused, not read as anonymous.
    let r = app
        .client
        .get(format!("{}/api/v1/kb/entries", app.base))
        .bearer_auth("cd_not_a_token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A changed entry gets a new version; the earlier one is kept (managers see them).
    let (name, text) = kb::starter_files()
        .into_iter()
        .find(|(n, _)| n == "which-priority")
        .unwrap();
    let changed = text.replace(
        "Choosing the priority of a case",
        "How to choose the priority of a case",
    );
    let r = kb::import(s, &actor(), &[(name.clone(), changed)])
        .await
        .unwrap();
    assert_eq!(r.updated, ["which-priority"]);
    let v = app
        .get("/api/v1/kb/entries/which-priority/versions", &w.manager)
        .await;
    assert_eq!(v.status, 200, "{}", v.json);
    let items = v.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        (items[0]["version"].as_i64(), items[0]["title"].as_str()),
        (Some(2), Some("How to choose the priority of a case"))
    );
    assert_eq!(items[1]["title"], "Choosing the priority of a case");
    assert_eq!(
        app.get("/api/v1/kb/entries/which-priority/versions", &w.agent)
            .await
            .status,
        403
    );

    // A file that does not read stops the whole import, naming the file and the key.
    let bad = kb::import(
        s,
        &actor(),
        &[
            (name, text.replace("How to", "x")),
            ("broken".into(), "---\nid: broken\n---\n".into()),
        ],
    )
    .await
    .unwrap_err();
    let casedesk_core::DomainError::Validation(errs) = bad else {
        panic!("{bad:?}")
    };
    assert!(errs.iter().any(|e| e.field == "broken.kind"), "{errs:?}");
    assert!(app.store.kb_entry("broken").await.unwrap().is_none());
}
both!(entries_are_read_by_visibility_and_keep_their_versions);

async fn casedesk_kb_import_loads_the_starter_set(b: Backend) {
    let db = test_db(b).await;
    let out = crate::cli::casedesk(&["--database-url", &db.url, "kb", "import", "--json"], &[]);
    let r = crate::cli::json_of(&out);
    assert!(r["created"].as_array().unwrap().len() >= 30, "{r}");
    let out = crate::cli::casedesk(&["--database-url", &db.url, "kb", "import", "--json"], &[]);
    assert_eq!(
        crate::cli::json_of(&out)["created"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
both!(casedesk_kb_import_loads_the_starter_set);

async fn managers_write_entries_by_api(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let entry = serde_json::json!({
        "kind": "article", "title": "Rotating a webhook secret without missed deliveries",
        "summary": "Rotate, deploy the new secret, and accept both during the overlap.",
        "body": "Rotate the secret of the endpoint.\nBoth secrets sign during the overlap; verify with either.",
        "issue_areas": ["webhooks"], "tags": ["webhook", "secret", "rotation"],
        "visibility": "customers", "state": "draft"
    });
    let path = "/api/v1/kb/entries/webhook-secret-rotation";
    let r = app.put(path, &w.manager, entry.clone()).await;
    assert_eq!(
        (r.status, r.json["version"].as_i64()),
        (201, Some(1)),
        "{}",
        r.json
    );
    // A draft: only managers read it.
    assert_eq!(app.get(path, &w.ops).await.status, 404);
    assert_eq!(app.get(path, &w.agent).await.status, 404);
    let mut published = entry.clone();
    published["state"] = serde_json::json!("published");
    let r = app.put(path, &w.manager, published).await;
    assert_eq!((r.status, r.json["version"].as_i64()), (200, Some(2)));
    let r = app.get(path, &w.ops).await;
    assert_eq!(
        (r.status, r.json["updated_by"].as_str()),
        (200, Some("mia@support.example"))
    );
    assert_eq!(
        anonymous(&app, path).await.0,
        404,
        "customers-only, not public"
    );

    // Only managers write; bad fields are named and nothing changes.
    for t in [&w.agent, &w.ops, &w.super_admin] {
        assert_eq!(app.put(path, t, entry.clone()).await.status, 403);
    }
    let mut bad = entry.clone();
    bad["kind"] = serde_json::json!("video");
    bad["issue_areas"] = serde_json::json!(["nowhere"]);
    bad["title"] = serde_json::json!("two\nlines");
    bad["colour"] = serde_json::json!("red");
    let r = app.put(path, &w.manager, bad).await;
    assert_eq!(r.status, 422, "{}", r.json);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["colour", "issue_areas", "kind", "title"]);
    assert_eq!(app.get(path, &w.manager).await.json["version"], 2);
}
both!(managers_write_entries_by_api);
