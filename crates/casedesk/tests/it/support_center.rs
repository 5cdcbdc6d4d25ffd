//! The support center around the case, over HTTP on both databases: the case email receives
//! the case's mail, the support routes and the checks before a case, the customer success
//! manager, support access grants, satisfaction after close and the Trust Center — each for
//! every role, and never across accounts.

use std::time::Duration;

use casedesk_testkit::{Backend, TestApp, acme_case, both, globex_case, spawn_app};
use serde_json::{Value, json};

/// The `To:` of each message in the outbox with its `X-Casedesk-Kind`.
fn sent(app: &TestApp) -> Vec<(String, String)> {
    app.outbox()
        .iter()
        .map(|m| {
            let header = |name: &str| {
                m.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            };
            (header("To:"), header("X-Casedesk-Kind:"))
        })
        .collect()
}

/// The audit entries of one action, from the JSON Lines export as `token` may read it.
async fn audit_of(app: &TestApp, token: &str, action: &str) -> Vec<Value> {
    let r = app
        .client
        .get(format!("{}/api/v1/audit", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["action"] == action)
        .collect()
}

async fn events_of(app: &TestApp, token: &str, n: i64) -> Vec<Value> {
    let a = app.get(&format!("/api/v1/cases/{n}/events"), token).await;
    assert_eq!(a.status, 200, "{}", a.json);
    a.json["items"].as_array().unwrap().clone()
}

async fn wait_event(app: &TestApp, token: &str, n: i64, kind: &str) -> Value {
    for _ in 0..200 {
        if let Some(e) = events_of(app, token, n)
            .await
            .into_iter()
            .find(|e| e["kind"] == kind)
        {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {kind} event on case {n}");
}

async fn close(app: &TestApp, agent: &str, requester: &str, n: i64) {
    let a = app
        .post(
            &format!("/api/v1/cases/{n}/propose-resolution"),
            agent,
            json!({"body": "Fixed the redirect URI."}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let a = app
        .post(
            &format!("/api/v1/cases/{n}/confirm-resolution"),
            requester,
            json!({}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
}

async fn case_email_receives_the_case_s_mail(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    // The super admin opens a case whose case email is a shared mailbox.
    let mut body = acme_case("Sign-in fails for the whole team");
    body["contact"]["email"] = json!("identity-team@acme.example");
    let n = app.open_case(&w.super_admin, body).await;
    app.wait_outbox("the acknowledgement", |a| !a.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to: Vec<String> = sent(&app).into_iter().map(|(t, _)| t).collect();
    assert!(
        to.iter().any(|t| t.contains("identity-team@acme.example")),
        "{to:?}"
    );
    assert!(
        !to.iter().any(|t| t.contains("owner@acme.example")),
        "no copy unless the account asks: {to:?}"
    );

    // The account asks for copies (its super admin may; an admin may not).
    let refused = app
        .call(
            "PATCH",
            "/api/v1/accounts/Acme",
            Some(&w.ops),
            Some(&json!({"copy_requester": true})),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.json);
    let other = app
        .call(
            "PATCH",
            "/api/v1/accounts/Acme",
            Some(&w.globex),
            Some(&json!({"copy_requester": true})),
        )
        .await;
    assert_eq!(
        other.status, 404,
        "another account's is not found: {}",
        other.json
    );
    let ok = app
        .call(
            "PATCH",
            "/api/v1/accounts/Acme",
            Some(&w.super_admin),
            Some(&json!({"copy_requester": true})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    assert_eq!(ok.json["copy_requester"], true);
    let no_csm = app
        .call(
            "PATCH",
            "/api/v1/accounts/Acme",
            Some(&w.super_admin),
            Some(&json!({"csm": "ana@support.example"})),
        )
        .await;
    assert_eq!(
        no_csm.status, 403,
        "only managers name the CSM: {}",
        no_csm.json
    );
    let a = app
        .post(
            &format!("/api/v1/cases/{n}/replies"),
            &w.agent,
            json!({"body": "Looking at it."}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    app.wait_outbox("the reply to the case email and to the requester", |_| {
        let replies: Vec<String> = sent(&app)
            .into_iter()
            .filter(|(_, k)| k == "reply")
            .map(|(t, _)| t)
            .collect();
        replies
            .iter()
            .any(|t| t.contains("identity-team@acme.example"))
            && replies.iter().any(|t| t.contains("owner@acme.example"))
    })
    .await;

    // Changing the case email: the requester or support, recorded; nobody else.
    let path = format!("/api/v1/cases/{n}/contact");
    let bad = app
        .put(
            &path,
            &w.super_admin,
            json!({"email": "not an address", "fax": "1"}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.json);
    assert_eq!(
        bad.error_fields(),
        ["fax"],
        "unknown fields first, nothing changed"
    );
    let bad = app
        .put(&path, &w.super_admin, json!({"email": "not an address"}))
        .await;
    assert_eq!(
        bad.error_fields(),
        ["email"],
        "named as the request names it"
    );
    let own = app
        .put(
            &path,
            &w.super_admin,
            json!({"email": app.mailer.config().from_address()}),
        )
        .await;
    assert_eq!(
        own.error_fields(),
        ["email"],
        "casedesk's own address is no case email"
    );
    assert_eq!(
        app.put(&path, &w.globex, json!({"email": "x@globex.example"}))
            .await
            .status,
        404
    );
    assert_eq!(
        app.put(&path, &w.other_agent, json!({"email": "x@acme.example"}))
            .await
            .status,
        404,
        "an agent of another queue"
    );
    let secops = app
        .put(&path, &w.secops, json!({"email": "secops@acme.example"}))
        .await;
    assert_eq!(
        secops.status, 403,
        "an elevated contact sees it but is not its requester: {}",
        secops.json
    );
    let a = app
        .put(&path, &w.super_admin, json!({"email": "desk@acme.example"}))
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["contact"]["email"], "desk@acme.example");
    assert_eq!(
        a.json["contact"]["timezone"], "Europe/Berlin",
        "the other fields stay"
    );
    let same = app
        .put(&path, &w.super_admin, json!({"email": "desk@acme.example"}))
        .await;
    assert_eq!(same.error_fields(), ["body"]);
    let a = app
        .put(&path, &w.agent, json!({"timezone": "America/New_York"}))
        .await;
    assert_eq!(a.status, 200, "support may change it: {}", a.json);
    wait_event(&app, &w.super_admin, n, "contact_changed").await;
    let changes: Vec<Value> = events_of(&app, &w.super_admin, n)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "contact_changed")
        .collect();
    assert_eq!(changes.len(), 2);
    let e = changes
        .iter()
        .find(|e| e["data"]["to"]["email"].is_string())
        .unwrap();
    assert_eq!(e["visibility"], "public");
    assert_eq!(e["data"]["to"]["email"], "desk@acme.example");
    assert_eq!(e["data"]["from"]["email"], "identity-team@acme.example");
    let audit = audit_of(&app, &w.manager, "case.contact_changed").await;
    assert_eq!(audit.len(), 2, "{audit:?}");
}
both!(case_email_receives_the_case_s_mail);

async fn the_csm_is_named_shown_and_told(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let body = json!({"csm": "ana@support.example"});
    for (token, status) in [
        (&w.agent, 403),
        (&w.ops, 403),
        (&w.super_admin, 403),
        (&w.globex, 404),
    ] {
        let a = app
            .call("PATCH", "/api/v1/accounts/Acme", Some(token), Some(&body))
            .await;
        assert_eq!(a.status, status, "{}", a.json);
        assert_eq!(a.content_type(), "application/problem+json");
    }
    let customer = app
        .call(
            "PATCH",
            "/api/v1/accounts/Acme",
            Some(&w.manager),
            Some(&json!({"csm": "ops@acme.example"})),
        )
        .await;
    assert_eq!(
        customer.error_fields(),
        ["csm"],
        "a customer is no CSM: {}",
        customer.json
    );
    let unknown = app
        .call(
            "PATCH",
            "/api/v1/accounts/Acme",
            Some(&w.manager),
            Some(&json!({"csm": "nobody@support.example", "plan": "gold"})),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.error_fields(), ["plan"]);
    let a = app
        .call(
            "PATCH",
            "/api/v1/accounts/Acme",
            Some(&w.manager),
            Some(&body),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["csm"], "ana@support.example");
    let list = app.get("/api/v1/accounts", &w.manager).await;
    assert_eq!(list.json["items"][0]["csm"], "ana@support.example");
    assert_eq!(
        app.get("/api/v1/accounts", &w.super_admin).await.status,
        403
    );

    // Customers see their CSM; another account sees none of it.
    let me = app.get("/api/v1/me", &w.viewer).await;
    assert_eq!(me.json["account"]["csm"], "ana@support.example");
    let routes = app.get("/api/v1/support/routes", &w.ops).await;
    let csm = routes.json["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "csm")
        .unwrap()
        .clone();
    assert_eq!(csm["contact"]["email"], "ana@support.example");
    let globex = app.get("/api/v1/support/routes", &w.globex).await;
    assert!(
        !globex.json.to_string().contains("ana@support.example"),
        "{}",
        globex.json
    );
    assert!(
        !app.get("/api/v1/me", &w.globex)
            .await
            .json
            .to_string()
            .contains("ana@support.example")
    );

    // The CSM hears of a P1 and of an escalation; not of a P2 or of Globex's P1.
    let mut p1 = acme_case("Production sign-in down");
    p1["priority"] = json!("P1");
    let n1 = app.open_case(&w.ops, p1).await;
    let n2 = app
        .open_case(&w.ops, acme_case("Question about scopes"))
        .await;
    let mut gp1 = globex_case("Globex down");
    gp1["priority"] = json!("P1");
    app.open_case(&w.globex, gp1).await;
    let a = app
        .post(
            &format!("/api/v1/cases/{n2}/escalate"),
            &w.ops,
            json!({"reason": "No answer for two days"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let all = app
        .wait_outbox("two CSM alerts", |a| {
            a.iter()
                .filter(|m| m.contains("X-Casedesk-Kind: csm_alert"))
                .count()
                >= 2
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let alerts: Vec<&String> = all
        .iter()
        .filter(|m| m.contains("X-Casedesk-Kind: csm_alert"))
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert!(alerts.iter().all(|m| m.contains("ana@support.example")));
    assert!(alerts.iter().any(|m| m.contains(&format!("#{n1}"))));
    assert!(alerts.iter().any(|m| m.contains(&format!("#{n2}"))));
    assert!(!alerts.iter().any(|m| m.contains("Globex")));

    // The CSM reads the cases they are told of, even outside their queues; another agent of
    // another queue still does not.
    let kai = app
        .call(
            "PATCH",
            "/api/v1/accounts/Globex",
            Some(&w.manager),
            Some(&json!({"csm": "kai@support.example"})),
        )
        .await;
    assert_eq!(kai.status, 200);
    let mut gp1 = globex_case("Globex second P1");
    gp1["priority"] = json!("P1");
    let g = app.open_case(&w.globex, gp1).await;
    assert_eq!(
        app.get(&format!("/api/v1/cases/{g}"), &w.other_agent)
            .await
            .status,
        200,
        "Kai is Globex's CSM"
    );
    assert_eq!(
        app.get(&format!("/api/v1/cases/{n1}"), &w.other_agent)
            .await
            .status,
        404,
        "but not Acme's"
    );
    let reply = app
        .post(
            &format!("/api/v1/cases/{g}/replies"),
            &w.other_agent,
            json!({"body": "hi"}),
        )
        .await;
    assert_eq!(
        reply.status, 404,
        "reading is not working the case: {}",
        reply.json
    );

    // The CLI names one too (and removes it).
    let url = app.db.url.as_str();
    let out = crate::cli::json_of(&crate::cli::casedesk(
        &[
            "--database-url",
            url,
            "account",
            "set",
            "--name",
            "Globex",
            "--csm",
            "kai@support.example",
            "--json",
        ],
        &[],
    ));
    assert_eq!(out["csm"], "kai@support.example");
    let out = crate::cli::json_of(&crate::cli::casedesk(
        &[
            "--database-url",
            url,
            "account",
            "set",
            "--name",
            "Globex",
            "--no-csm",
            "--json",
        ],
        &[],
    ));
    assert_eq!(out["csm"], Value::Null);
    let refused = crate::cli::casedesk(
        &[
            "--database-url",
            url,
            "account",
            "set",
            "--name",
            "Globex",
            "--csm",
            "ops@globex.example",
        ],
        &[],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a support engineer"));
}
both!(the_csm_is_named_shown_and_told);

async fn routes_and_checks_before_a_case(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let anon = app.call("GET", "/api/v1/support/routes", None, None).await;
    assert_eq!(anon.status, 200);
    assert_eq!(anon.json["signed_in"], false);
    assert!(anon.json["sla_note"].as_str().unwrap().contains("no SLA"));
    let paths = anon.json["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 3);
    // The paths come from the same rules as the form.
    let intake = app.get("/api/v1/intake", &w.ops).await;
    for (p, s) in paths.iter().zip(intake.json["stages"].as_array().unwrap()) {
        assert_eq!(p["stage"], s["key"]);
        let needed: Vec<&str> = p["needs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["need"] == "required")
            .map(|n| {
                n["field"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("identifiers.")
            })
            .collect();
        let required: Vec<&str> = s["required_identifiers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        assert_eq!(needed, required);
    }
    let mine = app.get("/api/v1/support/routes", &w.ops).await;
    assert_eq!(mine.json["account"], "Acme");
    assert_eq!(mine.json["plan"]["key"], "gold");

    let ask = json!({"affected": "some", "checked": ["cookies_cleared", "no_back_button"], "frequency": "intermittent", "browsers": "one", "issue_area": "sign-in-and-redirects"});
    let a = app
        .call("POST", "/api/v1/support/checks", None, Some(&ask))
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["prefill"]["scope"], "some_users");
    assert_eq!(a.json["prefill"]["context"]["frequency"], "intermittent");
    assert!(
        a.json["open_case"]
            .as_str()
            .unwrap()
            .starts_with("/support?scope=some_users")
    );
    // The prefill is a valid case context: a case opened with it is accepted.
    let mut body = acme_case("Some users loop back to the sign-in page");
    body["scope"] = a.json["prefill"]["scope"].clone();
    body["context"] = a.json["prefill"]["context"].clone();
    body["steps_to_reproduce"] = a.json["prefill"]["steps_to_reproduce"].clone();
    app.open_case(&w.ops, body).await;

    let bad = app
        .call(
            "POST",
            "/api/v1/support/checks",
            None,
            Some(&json!({"affected": "everyone", "checked": "x", "zip": 1})),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_fields(), ["zip", "affected", "checked"]);
    let long = app
        .call(
            "POST",
            "/api/v1/support/checks",
            None,
            Some(&json!({"affected": "all", "checked": vec![1; 100000]})),
        )
        .await;
    assert_eq!(long.status, 422);
    assert_eq!(
        long.json["errors"].as_array().unwrap().len(),
        1,
        "a long list is one error, not one per item"
    );
    let fixed = json!({"affected": "all", "checked": ["certificates"], "fixed_by": "clock_sync"});
    assert_eq!(
        app.call("POST", "/api/v1/support/checks", None, Some(&fixed))
            .await
            .status,
        401
    );
    assert_eq!(
        app.post("/api/v1/support/checks", &w.agent, fixed.clone())
            .await
            .status,
        403
    );
    let a = app.post("/api/v1/support/checks", &w.ops, fixed).await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(a.json["deflection"]["entry_id"], "check:clock_sync");
    let report = app.get("/api/v1/reports/deflection", &w.manager).await;
    assert_eq!(report.json["deflections"], 1, "{}", report.json);
}
both!(routes_and_checks_before_a_case);

async fn access_grants_for_every_role(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let mut body = acme_case("Please look at our tenant");
    body["team_contacts"] = json!(["teammate@acme.example"]);
    let n = app.open_case(&w.ops, body).await;
    let path = format!("/api/v1/cases/{n}/access-grants");
    let ask = json!({"hours": 4, "scope": "read", "note": "JWKS settings"});
    for (token, status) in [
        (&w.agent, 403),
        (&w.manager, 403),
        (&w.viewer, 403),
        (&w.globex, 404),
        (&w.secops, 403),
    ] {
        let a = app.post(&path, token, ask.clone()).await;
        assert_eq!(a.status, status, "{}", a.json);
        assert_eq!(a.content_type(), "application/problem+json");
    }
    let viewer = app.post(&path, &w.viewer, ask.clone()).await;
    assert!(
        viewer.json["detail"]
            .as_str()
            .unwrap()
            .contains("case-admin"),
        "{}",
        viewer.json
    );
    let bad = app
        .post(
            &path,
            &w.ops,
            json!({"hours": 100, "scope": "admin", "colour": "red"}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_fields(), ["colour", "hours", "scope"]);
    assert!(
        bad.json.to_string().contains("at most 72 hours"),
        "the Gold plan caps it: {}",
        bad.json
    );
    assert!(
        app.get(&path, &w.ops).await.json["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a refused grant opened nothing"
    );

    let g = app.post(&path, &w.ops, ask.clone()).await;
    assert_eq!(g.status, 201, "{}", g.json);
    assert_eq!(g.json["tenant"], "acme-prod");
    assert_eq!(g.json["state"], "active");
    let id = g.json["id"].as_str().unwrap().to_owned();
    let by_contact = app
        .post(
            &path,
            &w.teammate,
            json!({"hours": 1, "scope": "read_write"}),
        )
        .await;
    assert_eq!(
        by_contact.status, 201,
        "a team contact may: {}",
        by_contact.json
    );
    let by_owner = app
        .post(&path, &w.super_admin, json!({"hours": 2, "scope": "read"}))
        .await;
    assert_eq!(
        by_owner.status, 201,
        "a super admin of the account may: {}",
        by_owner.json
    );

    // The identity platform's view.
    let active = app
        .get("/api/v1/access-grants/active?tenant=acme-prod", &w.manager)
        .await;
    assert_eq!(active.status, 200, "{}", active.json);
    let items = active.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let mine = items.iter().find(|i| i["id"] == id.as_str()).unwrap();
    assert_eq!(mine["case"], n);
    assert_eq!(mine["granted_by"], "ops@acme.example");
    assert_eq!(
        mine["agents"],
        json!(["ana@support.example"]),
        "the agents of the case's queue"
    );
    assert!(
        app.get(
            "/api/v1/access-grants/active?tenant=globex-prod",
            &w.manager
        )
        .await
        .json["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        app.get("/api/v1/access-grants/active", &w.agent)
            .await
            .status,
        403
    );
    assert_eq!(
        app.get("/api/v1/access-grants/active", &w.ops).await.status,
        403
    );
    assert_eq!(
        app.get("/api/v1/access-grants/active?colour=red", &w.manager)
            .await
            .status,
        422
    );
    let platform = app
        .token(
            "mia@support.example",
            &[casedesk_core::users::Scope::GrantsRead],
        )
        .await;
    assert_eq!(
        app.get("/api/v1/access-grants/active", &platform)
            .await
            .json["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let tokens_only = app
        .token(
            "mia@support.example",
            &[casedesk_core::users::Scope::Tokens],
        )
        .await;
    let a = app.get("/api/v1/access-grants/active", &tokens_only).await;
    assert_eq!(a.status, 403);
    assert!(a.json.to_string().contains("grants:read"), "{}", a.json);
    let refused = app
        .post("/api/v1/tokens", &w.ops, json!({"scopes": ["grants:read"]}))
        .await;
    assert_eq!(
        refused.status, 422,
        "a customer cannot hold grants:read: {}",
        refused.json
    );

    // Globex never sees Acme's grants.
    assert_eq!(app.get(&path, &w.globex).await.status, 404);
    assert_eq!(
        app.call("DELETE", &format!("{path}/{id}"), Some(&w.globex), None)
            .await
            .status,
        404
    );

    // The customer ends it; the timeline, the audit and a webhook event say so.
    let a = app
        .call("DELETE", &format!("{path}/{id}"), Some(&w.ops), None)
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["state"], "revoked");
    assert_eq!(
        app.call("DELETE", &format!("{path}/{id}"), Some(&w.ops), None)
            .await
            .status,
        409
    );
    assert_eq!(
        app.call(
            "DELETE",
            &format!("{path}/{}", uuid::Uuid::now_v7()),
            Some(&w.ops),
            None
        )
        .await
        .status,
        404
    );
    let granted = wait_event(&app, &w.ops, n, "access_granted").await;
    assert_eq!(granted["visibility"], "public");
    wait_event(&app, &w.ops, n, "access_revoked").await;
    assert_eq!(
        audit_of(&app, &w.manager, "case.access_granted")
            .await
            .len(),
        3
    );
    assert_eq!(
        audit_of(&app, &w.manager, "case.access_revoked")
            .await
            .len(),
        1
    );

    // Closing the case ends the grants still in force.
    close(&app, &w.agent, &w.ops, n).await;
    let list = app.get(&path, &w.ops).await;
    let states: Vec<&str> = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "case_closed").count(),
        2,
        "{states:?}"
    );
    let ended = events_of(&app, &w.ops, n)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "access_expired")
        .count();
    assert_eq!(ended, 2);
    assert!(
        app.get("/api/v1/access-grants/active", &w.manager)
            .await
            .json["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        app.post(&path, &w.ops, ask).await.status,
        409,
        "a closed case takes no grant"
    );
}
both!(access_grants_for_every_role);

async fn a_grant_ends_by_itself_at_its_expiry(b: Backend) {
    use casedesk_core::grants::{AccessGrant, GrantChange, GrantScope};
    let app = spawn_app(b).await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("Short look")).await;
    // A grant whose time has run out, written as the service writes one, with its job due now.
    let case = app.store.get_case(n).await.unwrap().unwrap();
    let now = casedesk_core::now();
    let g = AccessGrant {
        id: uuid::Uuid::now_v7(),
        case_number: n,
        account_id: case.account_id,
        tenant: case.tenant.clone(),
        scope: GrantScope::Read,
        note: String::new(),
        granted_by: "ops@acme.example".into(),
        granted_at: now - jiff::SignedDuration::from_hours(2),
        expires_at: now - jiff::SignedDuration::from_secs(1),
        ended_at: None,
        ended_by: None,
        end_reason: None,
    };
    let patch = casedesk_core::service::CasePatch {
        grants: vec![GrantChange::Open(g.clone())],
        jobs: vec![casedesk_core::jobs::NewJob::new(
            casedesk_core::grants::EXPIRE,
            json!({"grant": g.id, "case": n}),
        )],
        ..Default::default()
    };
    let event = casedesk_core::cases::NewEvent {
        actor_id: Some(case.requester_id),
        kind: casedesk_core::cases::EventKind::AccessGranted,
        public: true,
        data: json!({"grant": g.id, "tenant": g.tenant, "scope": "read"}),
        at: now,
    };
    let audit = casedesk_core::audit::AuditRecord::new(
        casedesk_testkit::actor(),
        "case.access_granted",
        format!("case:{n}"),
    );
    app.store
        .update_case(n, case.version, &patch, &event, &audit)
        .await
        .unwrap()
        .unwrap();
    let e = wait_event(&app, &w.ops, n, "access_expired").await;
    assert_eq!(e["data"]["reason"], "expired");
    assert_eq!(e["visibility"], "public");
    let list = app
        .get(&format!("/api/v1/cases/{n}/access-grants"), &w.ops)
        .await;
    assert_eq!(list.json["items"][0]["state"], "expired");
    assert!(list.json["items"][0]["ended_at"].is_string());
}
both!(a_grant_ends_by_itself_at_its_expiry);

async fn satisfaction_after_close(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let mut body = acme_case("Rate me");
    body["team_contacts"] = json!(["teammate@acme.example"]);
    let n = app.open_case(&w.ops, body).await;
    let path = format!("/api/v1/cases/{n}/satisfaction");
    let early = app.post(&path, &w.ops, json!({"rating": 5})).await;
    assert_eq!(early.status, 409, "{}", early.json);
    assert!(
        early.json["detail"].as_str().unwrap().contains("new"),
        "names the status: {}",
        early.json
    );
    let a = app
        .put(
            &format!("/api/v1/cases/{n}/assignee"),
            &w.agent,
            json!({"assignee": "ana@support.example"}),
        )
        .await;
    assert_eq!(a.status, 200);
    close(&app, &w.agent, &w.ops, n).await;
    let closing = app
        .wait_outbox("the closing mail", |a| {
            a.iter().any(|m| m.contains("X-Casedesk-Kind: closed"))
        })
        .await;
    assert!(
        closing
            .iter()
            .any(|m| m.contains("X-Casedesk-Kind: closed") && m.contains("Rate the case"))
    );
    for (token, status) in [
        (&w.agent, 403),
        (&w.manager, 403),
        (&w.globex, 404),
        (&w.secops, 403),
        (&w.viewer, 403),
    ] {
        let a = app.post(&path, token, json!({"rating": 5})).await;
        assert_eq!(a.status, status, "{}", a.json);
    }
    let bad = app
        .post(&path, &w.ops, json!({"rating": 6, "stars": 2}))
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_fields(), ["stars", "rating"]);
    assert_eq!(app.get(&path, &w.ops).await.json["rating"], Value::Null);
    let a = app
        .post(
            &path,
            &w.teammate,
            json!({"rating": 4, "comment": "Quick and clear"}),
        )
        .await;
    assert_eq!(a.status, 201, "a team contact may rate: {}", a.json);
    assert_eq!(
        app.post(&path, &w.ops, json!({"rating": 1})).await.status,
        409,
        "once per case"
    );
    let read = app.get(&path, &w.agent).await;
    assert_eq!(read.json["rating"]["rating"], 4);
    assert_eq!(app.get(&path, &w.globex).await.status, 404);
    wait_event(&app, &w.ops, n, "satisfaction_rated").await;

    let report = app.get("/api/v1/reports/satisfaction", &w.manager).await;
    assert_eq!(report.status, 200, "{}", report.json);
    assert_eq!(report.json["count"], 1);
    assert_eq!(report.json["average"], 4.0);
    assert_eq!(report.json["distribution"]["4"], 1);
    assert_eq!(report.json["by_plan"][0]["key"], "gold");
    assert_eq!(report.json["by_assignee"][0]["key"], "ana@support.example");
    assert_eq!(
        app.get("/api/v1/reports/satisfaction", &w.agent)
            .await
            .status,
        403
    );
    assert_eq!(
        app.get("/api/v1/reports/satisfaction", &w.super_admin)
            .await
            .status,
        403
    );
    let bad = app
        .get("/api/v1/reports/satisfaction?since=yesterday", &w.manager)
        .await;
    assert_eq!(bad.error_fields(), ["since"]);
    let empty = app
        .get(
            &format!(
                "/api/v1/reports/satisfaction?until={}",
                casedesk_testkit::hours_ago(24 * 400)
            ),
            &w.manager,
        )
        .await;
    assert_eq!(empty.json["count"], 0);
    assert_eq!(empty.json["average"], Value::Null);
}
both!(satisfaction_after_close);

async fn publish(
    app: &TestApp,
    token: &str,
    parts: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in parts {
        form = form.text((*k).to_owned(), (*v).to_owned());
    }
    if let Some((name, bytes)) = file {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
        );
    }
    let r = app
        .client
        .post(format!("{}/api/v1/trust/documents", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn trust_center_documents_nda_and_downloads(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let pdf: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";
    let fields = [
        ("title", "Penetration test summary 2026"),
        ("summary", "Scope, method and findings of this year's test."),
        ("requires_nda", "true"),
        ("topics", "security-review,tokens-and-jwks"),
    ];
    for token in [&w.agent, &w.super_admin, &w.ops] {
        let (status, body) = publish(&app, token, &fields, Some(("pentest.pdf", pdf))).await;
        assert_eq!(status, 403, "{body}");
    }
    let (status, body) = publish(
        &app,
        &w.manager,
        &[
            ("title", ""),
            ("requires_nda", "maybe"),
            ("topics", "cooking"),
        ],
        Some(("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00")),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let f: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        f,
        ["title", "summary", "requires_nda", "topics", "file"],
        "{body}"
    );
    let (status, body) = publish(&app, &w.manager, &fields, None).await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("file"))
    );
    let (status, nda_doc) = publish(&app, &w.manager, &fields, Some(("pentest.pdf", pdf))).await;
    assert_eq!(status, 201, "{nda_doc}");
    let open_fields = [
        ("title", "Information security policy"),
        ("summary", "How we protect customer data."),
        ("requires_nda", "false"),
        ("topics", "security-review"),
    ];
    let (status, open_doc) = publish(
        &app,
        &w.manager,
        &open_fields,
        Some(("policy.txt", b"Policy text.\n")),
    )
    .await;
    assert_eq!(status, 201, "{open_doc}");

    // Any customer administrator reads the list (case-admin or not); agents do not.
    for token in [&w.ops, &w.viewer, &w.globex, &w.manager] {
        let a = app.get("/api/v1/trust/documents", token).await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(a.json["items"].as_array().unwrap().len(), 2);
    }
    assert_eq!(
        app.get("/api/v1/trust/documents", &w.agent).await.status,
        403
    );
    let nda_content = format!(
        "/api/v1/trust/documents/{}/content",
        nda_doc["id"].as_str().unwrap()
    );
    let (status, _, bytes) = app
        .download(
            &format!(
                "/api/v1/trust/documents/{}/content",
                open_doc["id"].as_str().unwrap()
            ),
            &w.viewer,
        )
        .await;
    assert_eq!(
        (status, bytes.as_slice()),
        (200, b"Policy text.\n".as_slice())
    );
    let refused = app.get(&nda_content, &w.ops).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.content_type(), "application/problem+json");
    assert!(
        refused.json["detail"]
            .as_str()
            .unwrap()
            .contains("non-disclosure"),
        "{}",
        refused.json
    );

    // Only a super admin accepts, for the account; it opens nothing to another account.
    let accept = json!({"accept": true, "name": "Owen Owner", "title": "CISO"});
    assert_eq!(
        app.post("/api/v1/trust/nda", &w.ops, accept.clone())
            .await
            .status,
        403
    );
    let bad = app
        .post(
            "/api/v1/trust/nda",
            &w.super_admin,
            json!({"accept": false, "name": "", "extra": 1}),
        )
        .await;
    assert_eq!(bad.error_fields(), ["extra", "accept", "name", "title"]);
    let a = app
        .post("/api/v1/trust/nda", &w.super_admin, accept.clone())
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(a.json["version"], casedesk_core::trust::NDA_VERSION);
    assert_eq!(
        app.post("/api/v1/trust/nda", &w.super_admin, accept)
            .await
            .status,
        200,
        "accepted already"
    );
    let (status, headers, bytes) = app.download(&nda_content, &w.ops).await;
    assert_eq!((status, bytes.as_slice()), (200, pdf));
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(
        app.get(&nda_content, &w.globex).await.status,
        403,
        "Acme's acceptance is not Globex's"
    );
    assert_eq!(
        app.get("/api/v1/trust/nda", &w.globex).await.json["accepted"],
        false
    );
    assert_eq!(
        app.get("/api/v1/trust/nda", &w.viewer).await.json["accepted"],
        true
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/trust/documents/{}/content", uuid::Uuid::now_v7()),
            &w.ops
        )
        .await
        .status,
        404
    );

    // Every download is audited with who, which document and which account.
    let downloads = audit_of(&app, &w.manager, "trust.document_downloaded").await;
    assert_eq!(downloads.len(), 2, "{downloads:?}");
    let text = serde_json::to_string(&downloads).unwrap();
    assert!(
        text.contains("ops@acme.example") && text.contains("viewer@acme.example"),
        "{text}"
    );
    assert!(
        downloads.iter().all(|d| d["account_id"].is_string()),
        "the account of each download: {text}"
    );
    // The customer's super admin sees the downloads of their account in their own export.
    assert_eq!(
        audit_of(&app, &w.super_admin, "trust.document_downloaded")
            .await
            .len(),
        2
    );
    let accepted = audit_of(&app, &w.manager, "trust.nda_accepted").await;
    assert!(
        serde_json::to_string(&accepted)
            .unwrap()
            .contains("Owen Owner")
    );

    // A production-stage security review is offered the documents on its topic.
    let mut review = acme_case("Security review before launch");
    review["issue_area"] = json!("security-review");
    review["stage"] = json!("production");
    review["identifiers"] = json!({"environment": "production", "deployment_model": "cloud", "review_needed_by": casedesk_testkit::date_in_days(20)});
    let a = app.post("/api/v1/cases", &w.ops, review).await;
    assert_eq!(a.status, 201, "{}", a.json);
    let offers = a.json["trust_offers"].as_array().unwrap();
    assert_eq!(offers.len(), 2);
    assert!(offers.iter().any(|o| o["requires_nda"] == true));
    let plain = app
        .post("/api/v1/cases", &w.ops, acme_case("Not a review"))
        .await;
    assert!(plain.json.get("trust_offers").is_none(), "{}", plain.json);
}
both!(trust_center_documents_nda_and_downloads);

async fn suggestions_know_their_limits(b: Backend) {
    use casedesk_core::kb;
    let app = spawn_app(b).await;
    let w = app.world().await;
    kb::import(
        app.store.as_ref(),
        &casedesk_testkit::actor(),
        &kb::starter_files(),
    )
    .await
    .unwrap();
    let ask = |body: Value| {
        let app = &app;
        async move {
            let a = app
                .call("POST", "/api/v1/solutions/suggest", None, Some(&body))
                .await;
            assert_eq!(a.status, 200, "{}", a.json);
            a.json
        }
    };
    // A question the starter set answers: a strong match, no status pointer.
    let strong =
        ask(json!({"subject": "refresh token reuse detected invalid_grant after rotation"})).await;
    assert_eq!(strong["no_strong_match"], false, "{strong}");
    assert_eq!(strong["message"], Value::Null);
    assert_eq!(strong["status"], Value::Null);
    assert!(strong["suggestions"][0]["coverage"].as_f64().unwrap() > 0.5);
    // A topic no entry covers: the entries that share a word are still listed, but marked.
    let weak =
        ask(json!({"subject": "invoice currency change for our subscription billing address"}))
            .await;
    assert_eq!(weak["no_strong_match"], true, "{weak}");
    assert!(
        weak["message"]
            .as_str()
            .unwrap()
            .contains("No strong match")
    );
    // An outage-like question points to the status page and its open incidents.
    let incident = json!({"title": "Sign-in errors in the EU", "impact": "major_outage", "regions": ["eu"], "components": ["sign-in"], "body": "We are looking into failed sign-ins."});
    let a = app
        .post("/api/v1/status/incidents", &w.manager, incident)
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let outage = ask(json!({"subject": "all users cannot sign in, login page returns 503"})).await;
    assert_eq!(outage["status"]["link"], "/status", "{outage}");
    assert_eq!(
        outage["status"]["open_incidents"][0]["title"],
        "Sign-in errors in the EU"
    );
    if outage["no_strong_match"] == true {
        assert!(outage["message"].as_str().unwrap().contains("status page"));
    }
}
both!(suggestions_know_their_limits);
