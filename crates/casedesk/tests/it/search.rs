//! Self-help: suggestions ranked from the knowledge base, by visibility; "this solved it" and
//! the deflection report; full-text case search with the permissions of the case list.

use casedesk_core::kb::{self, search};
use casedesk_testkit::{Backend, TestApp, acme_case, actor, both, globex_case, spawn_app};
use serde_json::{Value, json};

async fn suggest(app: &TestApp, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = app
        .client
        .post(format!("{}/api/v1/solutions/suggest", app.base))
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn ids(v: &Value) -> Vec<String> {
    v["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn suggestions_rank_known_queries_and_respect_visibility(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    kb::import(app.store.as_ref(), &actor(), &kb::starter_files())
        .await
        .unwrap();

    // A known query: the right entry first, at most five, each with a snippet and a link.
    let (status, v) = suggest(
        &app,
        None,
        json!({"subject": "redirect_uri_mismatch after deploying to production",
               "description": "The sign-in page says the redirect URI is not registered.",
               "issue_area": "sign-in-and-redirects"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let got = ids(&v);
    assert_eq!(
        got.first().map(String::as_str),
        Some("redirect-uri-mismatch"),
        "{got:?}"
    );
    assert!(got.len() <= 5);
    let first = &v["suggestions"][0];
    assert!(!first["snippet"].as_str().unwrap().is_empty(), "{first}");
    assert_eq!(first["link"], "/api/v1/kb/entries/redirect-uri-mismatch");
    assert_eq!(first["kind"], "article");

    // The whole relevance set, through the same engine on this backend.
    let set = search::relevance_set().unwrap();
    let (ndcg, recall, _) =
        search::evaluate(app.store.as_ref(), &casedesk_search::KbIndex::new(), &set)
            .await
            .unwrap();
    assert!(
        ndcg >= 0.8 && recall >= 0.8,
        "nDCG@5 {ndcg}, recall@5 {recall}"
    );

    // Visibility: the internal guide reaches support only; customer entries need a sign-in.
    let internal =
        json!({"subject": "handling an escalated case acknowledge within the hour call summary"});
    let (_, agent) = suggest(&app, Some(&w.agent), internal.clone()).await;
    assert!(
        ids(&agent).contains(&"escalation-internal-guide".to_owned()),
        "{agent}"
    );
    for t in [Some(w.ops.as_str()), Some(w.globex.as_str()), None] {
        let (status, v) = suggest(&app, t, internal.clone()).await;
        assert_eq!(status, 200);
        assert!(
            !ids(&v).contains(&"escalation-internal-guide".to_owned()),
            "{t:?}: {v}"
        );
    }
    let review = json!({"subject": "security review evidence audit log retention package"});
    let (_, customer) = suggest(&app, Some(&w.ops), review.clone()).await;
    assert!(ids(&customer).contains(&"security-review-evidence".to_owned()));
    let (_, anon) = suggest(&app, None, review).await;
    assert!(!ids(&anon).contains(&"security-review-evidence".to_owned()));

    // Drafts are never suggested; publishing indexes the entry, a later draft takes it out.
    let entry = json!({"kind": "article", "title": "Quokkaflow exports stall",
        "summary": "What to do when quokkaflow exports stall.", "body": "Restart the quokkaflow export.",
        "issue_areas": ["other"], "tags": [], "visibility": "public", "state": "draft"});
    let path = "/api/v1/kb/entries/quokkaflow-exports";
    assert_eq!(app.put(path, &w.manager, entry.clone()).await.status, 201);
    let q = json!({"subject": "quokkaflow"});
    assert!(ids(&suggest(&app, Some(&w.manager), q.clone()).await.1).is_empty());
    let mut published = entry.clone();
    published["state"] = json!("published");
    assert_eq!(
        app.put(path, &w.manager, published.clone()).await.status,
        200
    );
    assert_eq!(
        ids(&suggest(&app, None, q.clone()).await.1),
        ["quokkaflow-exports"]
    );
    let mut internal_now = published;
    internal_now["visibility"] = json!("internal");
    assert_eq!(app.put(path, &w.manager, internal_now).await.status, 200);
    assert!(ids(&suggest(&app, Some(&w.ops), q.clone()).await.1).is_empty());
    assert_eq!(
        ids(&suggest(&app, Some(&w.agent), q).await.1),
        ["quokkaflow-exports"]
    );

    // Bad input names the field.
    for (body, field) in [
        (json!({}), "subject"),
        (json!({"subject": "  ", "description": ""}), "subject"),
        (json!({"subject": "x".repeat(201)}), "subject"),
        (json!({"subject": 7}), "subject"),
        (
            json!({"subject": "jwks", "issue_area": "astrology"}),
            "issue_area",
        ),
        (json!(["jwks"]), "body"),
    ] {
        let (status, v) = suggest(&app, Some(&w.ops), body.clone()).await;
        assert_eq!(status, 422, "{body}: {v}");
        assert_eq!(v["errors"][0]["field"], field, "{body}: {v}");
    }
    // Only stop words: nothing to look up, nothing found.
    let (status, v) = suggest(&app, None, json!({"subject": "how do I do this?"})).await;
    assert_eq!((status, ids(&v).len()), (200, 0));
}
both!(suggestions_rank_known_queries_and_respect_visibility);

async fn deflections_are_recorded_and_reported(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    kb::import(app.store.as_ref(), &actor(), &kb::starter_files())
        .await
        .unwrap();
    let solved = json!({"entry_id": "clock-skew-tokens", "subject": "token not yet valid",
        "description": "iat is in the future", "issue_area": "tokens-and-jwks"});
    let r = app
        .post("/api/v1/solutions/deflections", &w.ops, solved.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["entry_id"], "clock-skew-tokens");
    assert_eq!(r.json["subject"], "token not yet valid");
    let cases = app.get("/api/v1/cases", &w.ops).await;
    assert_eq!(
        cases.json["items"].as_array().unwrap().len(),
        0,
        "no case is opened"
    );

    // An entry the customer cannot read, support staff, bad fields: refused, nothing kept.
    let mut hidden = solved.clone();
    hidden["entry_id"] = json!("escalation-internal-guide");
    let r = app
        .post("/api/v1/solutions/deflections", &w.ops, hidden)
        .await;
    assert_eq!(
        (r.status, r.error_fields()),
        (422, vec!["entry_id".to_owned()])
    );
    assert_eq!(
        app.post("/api/v1/solutions/deflections", &w.agent, solved.clone())
            .await
            .status,
        403
    );
    let mut bad = solved.clone();
    bad["issue_area"] = json!("astrology");
    let r = app.post("/api/v1/solutions/deflections", &w.ops, bad).await;
    assert_eq!(
        (r.status, r.error_fields()),
        (422, vec!["issue_area".to_owned()])
    );

    // One deflection and one case in their areas: the report divides them.
    app.open_case(&w.ops, acme_case("Redirect refused")).await;
    let r = app.get("/api/v1/reports/deflection", &w.manager).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        (r.json["deflections"].as_u64(), r.json["cases"].as_u64()),
        (Some(1), Some(1))
    );
    let areas = r.json["areas"].as_array().unwrap();
    let area = |k: &str| {
        areas
            .iter()
            .find(|a| a["issue_area"] == k)
            .cloned()
            .unwrap()
    };
    assert_eq!(area("tokens-and-jwks")["rate"], 1.0);
    assert_eq!(area("sign-in-and-redirects")["rate"], 0.0);
    assert_eq!(r.json["rate"], 0.5);
    // A period before any of it is empty; only managers read the report.
    let r = app
        .get(
            "/api/v1/reports/deflection?since=2020-01-01T00:00:00Z&until=2020-02-01T00:00:00Z",
            &w.manager,
        )
        .await;
    assert_eq!(
        (r.json["deflections"].as_u64(), r.json["rate"].clone()),
        (Some(0), Value::Null)
    );
    for t in [&w.agent, &w.ops, &w.super_admin] {
        assert_eq!(app.get("/api/v1/reports/deflection", t).await.status, 403);
    }
    let r = app
        .get("/api/v1/reports/deflection?since=yesterday", &w.manager)
        .await;
    assert_eq!(
        (r.status, r.error_fields()),
        (422, vec!["since".to_owned()])
    );
}
both!(deflections_are_recorded_and_reported);

async fn case_search_applies_the_case_list_permissions(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let mut a = acme_case("Tokens rejected after key rotation");
    a["description"] =
        json!("Since the signing keys rotated this morning our API refuses every token.");
    let acme = app.open_case(&w.ops, a).await;
    let mut g = globex_case("Tokens rejected after key rotation");
    g["description"] = json!("Since the signing keys rotated our API refuses every token.");
    let globex = app.open_case(&w.globex, g).await;
    let other = app
        .open_case(&w.ops, acme_case("Marketplace lease expired"))
        .await;
    let r = app
        .post(
            &format!("/api/v1/cases/{acme}/replies"),
            &w.agent,
            json!({"body": "Fetch the quasarkey set again."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = app
        .post(
            &format!("/api/v1/cases/{acme}/notes"),
            &w.agent,
            json!({"body": "Customer cached nebulakey material."}),
        )
        .await;
    assert!(r.status < 300, "{}", r.json);

    let found = |token: String, q: &'static str| {
        let app = &app;
        async move {
            let a = app.get(&format!("/api/v1/cases?q={q}"), &token).await;
            assert_eq!(a.status, 200, "{q}: {}", a.json);
            a.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["number"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    // Stemmed: "rotating" finds "rotation" and "rotated"; every word must appear.
    assert_eq!(found(w.ops.clone(), "rotating").await, [acme]);
    assert_eq!(
        found(w.ops.clone(), "rotating+marketplace").await,
        Vec::<i64>::new()
    );
    assert_eq!(found(w.ops.clone(), "marketplace").await, [other]);
    // Another account's cases never appear, whoever searches in Acme.
    assert_eq!(found(w.globex.clone(), "rotating").await, [globex]);
    assert_eq!(found(w.secops.clone(), "rotating").await, [acme]);
    assert_eq!(
        found(w.teammate.clone(), "rotating").await,
        Vec::<i64>::new(),
        "not their case"
    );
    // Public replies are searched for everyone who sees the case; internal notes only for support.
    assert_eq!(found(w.ops.clone(), "quasarkey").await, [acme]);
    assert_eq!(found(w.ops.clone(), "nebulakey").await, Vec::<i64>::new());
    assert_eq!(
        found(w.secops.clone(), "nebulakey").await,
        Vec::<i64>::new()
    );
    assert_eq!(found(w.agent.clone(), "nebulakey").await, [acme]);
    assert_eq!(found(w.manager.clone(), "nebulakey").await, [acme]);
    assert_eq!(
        found(w.other_agent.clone(), "rotating").await,
        Vec::<i64>::new(),
        "not their queue"
    );
    let mut both_accounts = found(w.manager.clone(), "rotating").await;
    both_accounts.sort();
    assert_eq!(both_accounts, [acme, globex]);
    // With other filters, and by due time (Globex's Platinum first response is due sooner).
    assert_eq!(
        found(w.agent.clone(), "rotating&sort=sla_due").await,
        [globex, acme]
    );
    assert_eq!(
        found(w.agent.clone(), "rotating&tenant=acme-prod").await,
        [acme]
    );

    let a = app.get("/api/v1/cases?q=%29%29%29", &w.ops).await;
    assert_eq!((a.status, a.error_fields()), (422, vec!["q".to_owned()]));
    // Quotes, operators and column names are read as words, never as query syntax.
    for q in [
        "%22rotating",
        "rotating*",
        "NEAR%28rotating",
        "acct%3Aa0+pub%3Arotating",
        "-rotating",
    ] {
        let a = app.get(&format!("/api/v1/cases?q={q}"), &w.globex).await;
        assert_eq!(a.status, 200, "{q}: {}", a.json);
        assert!(
            a.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["number"] != acme),
            "{q}"
        );
    }
}
both!(case_search_applies_the_case_list_permissions);
