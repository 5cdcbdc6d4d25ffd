use casedesk_testkit::{Backend, TestApp, acme_case, both, globex_case, spawn_app};
use serde_json::{Value, json};

/// Every case route with a body that would succeed for an allowed caller.
pub(crate) fn case_routes(n: i64) -> Vec<(&'static str, String, Option<Value>)> {
    let b = format!("/api/v1/cases/{n}");
    vec![
        ("GET", b.clone(), None),
        ("GET", format!("{b}/events"), None),
        (
            "POST",
            format!("{b}/replies"),
            Some(json!({"body": "hello"})),
        ),
        ("POST", format!("{b}/notes"), Some(json!({"body": "note"}))),
        (
            "POST",
            format!("{b}/request-info"),
            Some(json!({"body": "?"})),
        ),
        ("POST", format!("{b}/hold"), Some(json!({"reason": "r"}))),
        ("POST", format!("{b}/resume"), Some(json!({}))),
        (
            "POST",
            format!("{b}/propose-resolution"),
            Some(json!({"body": "done"})),
        ),
        ("POST", format!("{b}/confirm-resolution"), Some(json!({}))),
        (
            "POST",
            format!("{b}/escalate"),
            Some(json!({"reason": "r"})),
        ),
        (
            "PUT",
            format!("{b}/assignee"),
            Some(json!({"assignee": null})),
        ),
        (
            "PUT",
            format!("{b}/priority"),
            Some(json!({"priority": "P1", "reason": "r"})),
        ),
        (
            "POST",
            format!("{b}/team-contacts"),
            Some(json!({"email": "teammate@acme.example"})),
        ),
        (
            "DELETE",
            format!("{b}/team-contacts/teammate@acme.example"),
            None,
        ),
        (
            "POST",
            format!("{b}/summaries"),
            Some(json!({"channel": "call", "conclusions": "c"})),
        ),
    ]
}

pub(crate) async fn expect_all(
    app: &TestApp,
    token: &str,
    n: i64,
    want: u16,
    who: &str,
) -> Vec<Value> {
    let mut bodies = Vec::new();
    for (method, path, body) in case_routes(n) {
        let a = app.call(method, &path, Some(token), body.as_ref()).await;
        assert_eq!(a.status, want, "{who} {method} {path}: {}", a.json);
        assert_eq!(a.content_type(), "application/problem+json");
        bodies.push(a.json);
    }
    bodies
}

async fn another_accounts_case_is_404_on_every_route_exactly_like_a_missing_one(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let n = app
        .open_case(&w.ops, acme_case("Acme private outage"))
        .await;
    let theirs = expect_all(&app, &w.globex, n, 404, "other account").await;
    let missing = expect_all(&app, &w.globex, 987_654, 404, "missing").await;
    assert_eq!(
        theirs, missing,
        "a foreign case answers exactly like a missing one"
    );
    // The wrong-queue agent and the Acme super admin who is not on the case are outsiders too.
    expect_all(&app, &w.other_agent, n, 404, "agent of another queue").await;
    expect_all(&app, &w.super_admin, n, 404, "super admin not on the case").await;
    // Nothing changed.
    let c = app.get(&format!("/api/v1/cases/{n}"), &w.ops).await.json;
    assert_eq!(c["status"], "new");
    assert_eq!(c["escalated"], false);
    assert_eq!(
        app.get(&format!("/api/v1/cases/{n}/events"), &w.manager)
            .await
            .json["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Lists and searches never show another account's cases.
    let g = app.open_case(&w.globex, globex_case("Globex thing")).await;
    for (token, visible, hidden) in [(&w.globex, g, n), (&w.secops, n, g)] {
        for q in [
            "",
            "?q=outage",
            "?q=Globex",
            "?tenant=acme-prod",
            "?tenant=globex-prod",
            "?status=new",
            "?limit=100",
        ] {
            let l = app.get(&format!("/api/v1/cases{q}"), token).await;
            assert_eq!(l.status, 200);
            let numbers: Vec<i64> = l.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["number"].as_i64().unwrap())
                .collect();
            assert!(!numbers.contains(&hidden), "{q}: saw a foreign case");
            if q.is_empty() {
                assert_eq!(numbers, [visible]);
            }
        }
    }
    // A follow-up cannot point at another account's case.
    let mut f = globex_case("follow-up of theirs");
    f["follow_up_of"] = json!(n);
    let a = app.post("/api/v1/cases", &w.globex, f).await;
    assert_eq!(a.status, 422);
    // Nor can a case name another account's tenant or admins.
    let mut t = globex_case("wrong tenant");
    t["tenant"] = json!("acme-prod");
    t["team_contacts"] = json!(["ops@acme.example"]);
    let a = app.post("/api/v1/cases", &w.globex, t).await;
    assert_eq!(a.error_fields(), ["tenant", "team_contacts[0]"]);
    assert!(
        !a.json.to_string().contains("acme-dev"),
        "the error must not list another account's tenants"
    );
}
both!(another_accounts_case_is_404_on_every_route_exactly_like_a_missing_one);

async fn admin_without_case_admin_gets_403_naming_the_permission(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("x")).await;
    let bodies = expect_all(&app, &w.viewer, n, 403, "viewer").await;
    assert!(bodies[0]["detail"].as_str().unwrap().contains("case-admin"));
    assert!(
        bodies[0]["detail"]
            .as_str()
            .unwrap()
            .contains("super admin")
    );
    for (method, path) in [("GET", "/api/v1/cases"), ("POST", "/api/v1/cases")] {
        let a = app
            .call(method, path, Some(&w.viewer), Some(&acme_case("x")))
            .await;
        assert_eq!(a.status, 403, "{method} {path}");
        assert!(a.json["detail"].as_str().unwrap().contains("case-admin"));
    }
}
both!(admin_without_case_admin_gets_403_naming_the_permission);

async fn who_sees_which_cases(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let mut with_contact = acme_case("ops case with teammate");
    with_contact["team_contacts"] = json!(["teammate@acme.example"]);
    let a = app.open_case(&w.ops, with_contact).await;
    let c = app.open_case(&w.super_admin, acme_case("owner case")).await;
    let mut commerce = acme_case("licensing");
    commerce["issue_area"] = json!("marketplace-and-licensing");
    let d = app.open_case(&w.ops, commerce).await;

    let seen = |token: String, query: &'static str| {
        let app = &app;
        async move {
            let l = app.get(&format!("/api/v1/cases{query}"), &token).await;
            assert_eq!(l.status, 200, "{}", l.json);
            l.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["number"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(seen(w.ops.clone(), "").await, [d, a], "requester: My cases");
    assert_eq!(seen(w.teammate.clone(), "").await, [a], "team contact");
    assert_eq!(
        seen(w.super_admin.clone(), "").await,
        [c],
        "super admin without elevation: own cases"
    );
    assert_eq!(
        seen(w.secops.clone(), "").await,
        [d, c, a],
        "elevated: every account case"
    );
    assert_eq!(
        seen(w.secops.clone(), "?view=mine").await,
        Vec::<i64>::new(),
        "elevated, My cases"
    );
    assert_eq!(
        seen(w.agent.clone(), "").await,
        [c, a],
        "agent: identity queue"
    );
    assert_eq!(
        seen(w.other_agent.clone(), "").await,
        [d],
        "agent: commerce queue"
    );
    assert_eq!(
        seen(w.manager.clone(), "").await,
        [d, c, a],
        "manager: everything"
    );

    // An agent sees a case outside their queues once it is assigned to them.
    app.put(
        &format!("/api/v1/cases/{d}/assignee"),
        &w.manager,
        json!({"assignee": "ana@support.example"}),
    )
    .await;
    assert_eq!(seen(w.agent.clone(), "").await, [d, c, a]);
    assert_eq!(seen(w.agent.clone(), "?assignee=me").await, [d]);
    assert_eq!(seen(w.manager.clone(), "?assignee=none").await, [c, a]);
    assert_eq!(
        app.get(&format!("/api/v1/cases/{d}"), &w.agent)
            .await
            .status,
        200
    );

    // Elevated and team contacts may act on cases they did not open.
    assert_eq!(
        app.post(
            &format!("/api/v1/cases/{a}/replies"),
            &w.teammate,
            json!({"body": "also seeing it"})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/cases/{c}/escalate"),
            &w.secops,
            json!({"reason": "urgent"})
        )
        .await
        .status,
        200
    );
}
both!(who_sees_which_cases);

async fn elevated_contacts_are_capped_by_plan(b: Backend) {
    let app = spawn_app(b).await;
    let s = app.store.as_ref();
    casedesk_core::admin::create_account(
        s,
        "Tiny",
        casedesk_core::accounts::Plan::SelfService,
        &casedesk_testkit::actor(),
    )
    .await
    .unwrap();
    let limits = casedesk_core::permissions::ElevatedLimits {
        self_service: 2,
        standard: 10,
        premium: 20,
    };
    for i in 0..3 {
        let r = casedesk_core::admin::create_user(
            s,
            &limits,
            casedesk_core::admin::NewUser {
                account: Some("Tiny".into()),
                email: format!("e{i}@tiny.example"),
                role: casedesk_core::users::Role::Admin,
                case_admin: true,
                elevated: true,
                queues: vec![],
            },
            &casedesk_testkit::actor(),
        )
        .await;
        if i < 2 {
            assert!(r.is_ok(), "{r:?}");
        } else {
            assert!(
                matches!(r, Err(casedesk_core::DomainError::Validation(ref errs))
                    if errs.iter().any(|e| e.field == "elevated" && e.message.contains("allows 2 "))),
                "{r:?}"
            );
        }
    }
    assert_eq!(limits.for_plan(casedesk_core::accounts::Plan::Gold), 10);
    assert_eq!(
        casedesk_core::permissions::ElevatedLimits::default()
            .for_plan(casedesk_core::accounts::Plan::Platinum),
        20
    );
}
both!(elevated_contacts_are_capped_by_plan);
