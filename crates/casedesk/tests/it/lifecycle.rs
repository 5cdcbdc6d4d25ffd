use casedesk_testkit::{Backend, TestApp, acme_case, both, spawn_app};
use serde_json::{Value, json};

async fn status(app: &TestApp, n: i64, token: &str) -> String {
    app.get(&format!("/api/v1/cases/{n}"), token).await.json["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn step(app: &TestApp, token: &str, n: i64, action: &str, body: Value, expect: &str) {
    let a = app
        .post(&format!("/api/v1/cases/{n}/{action}"), token, body)
        .await;
    assert_eq!(a.status, 200, "{action}: {}", a.json);
    assert_eq!(a.json["status"], expect, "{action}");
}

async fn refused(
    app: &TestApp,
    token: &str,
    method: &str,
    n: i64,
    action: &str,
    body: Value,
    current: &str,
) {
    let a = app
        .call(
            method,
            &format!("/api/v1/cases/{n}/{action}"),
            Some(token),
            Some(&body),
        )
        .await;
    assert_eq!(a.status, 409, "{action} in {current}: {}", a.json);
    assert_eq!(a.content_type(), "application/problem+json");
    assert_eq!(a.json["current_status"], current, "{action}");
    assert!(
        a.json["detail"].as_str().unwrap().contains(current),
        "{}",
        a.json["detail"]
    );
}

fn msg(s: &str) -> Value {
    json!({"body": s})
}

async fn every_allowed_transition(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("lifecycle")).await;
    assert_eq!(status(&app, n, &w.ops).await, "new");
    step(
        &app,
        &w.ops,
        n,
        "replies",
        msg("more detail from the customer"),
        "new",
    )
    .await;
    step(&app, &w.agent, n, "replies", msg("looking into it"), "open").await;
    step(
        &app,
        &w.agent,
        n,
        "request-info",
        msg("please send a HAR"),
        "pending",
    )
    .await;
    step(&app, &w.ops, n, "replies", msg("here it is"), "open").await;
    step(
        &app,
        &w.agent,
        n,
        "hold",
        json!({"reason": "waiting on the platform team"}),
        "on_hold",
    )
    .await;
    step(&app, &w.agent, n, "resume", json!({}), "open").await;
    step(
        &app,
        &w.agent,
        n,
        "request-info",
        msg("which browser?"),
        "pending",
    )
    .await;
    step(
        &app,
        &w.agent,
        n,
        "hold",
        json!({"reason": "vendor"}),
        "on_hold",
    )
    .await;
    step(
        &app,
        &w.agent,
        n,
        "request-info",
        msg("still there?"),
        "pending",
    )
    .await;
    step(
        &app,
        &w.agent,
        n,
        "resume",
        json!({"body": "we found it"}),
        "open",
    )
    .await;
    step(
        &app,
        &w.agent,
        n,
        "hold",
        json!({"reason": "vendor"}),
        "on_hold",
    )
    .await;
    step(
        &app,
        &w.agent,
        n,
        "propose-resolution",
        msg("fixed the URI"),
        "solved",
    )
    .await;
    step(
        &app,
        &w.ops,
        n,
        "replies",
        msg("still broken for one user"),
        "open",
    )
    .await;
    step(
        &app,
        &w.agent,
        n,
        "propose-resolution",
        msg("fixed for that user too"),
        "solved",
    )
    .await;
    step(
        &app,
        &w.ops,
        n,
        "confirm-resolution",
        json!({"comment": "thanks"}),
        "closed",
    )
    .await;

    let kinds: Vec<String> = app
        .get(&format!("/api/v1/cases/{n}/events"), &w.ops)
        .await
        .json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "reply",
            "reply",
            "info_requested",
            "reopened",
            "on_hold",
            "resumed",
            "info_requested",
            "on_hold",
            "info_requested",
            "resumed",
            "on_hold",
            "resolution_proposed",
            "reopened",
            "resolution_proposed",
            "resolution_confirmed"
        ]
    );

    // A customer reply on a pending case is recorded as reopening it, with from/to.
    let events = app
        .get(&format!("/api/v1/cases/{n}/events"), &w.agent)
        .await
        .json;
    let reopened = &events["items"][4];
    assert_eq!(reopened["data"]["from"], "pending");
    assert_eq!(reopened["data"]["to"], "open");
    assert_eq!(reopened["actor"], "ops@acme.example");

    // Agent actions on a new case go through open.
    let n2 = app.open_case(&w.ops, acme_case("new to pending")).await;
    step(
        &app,
        &w.agent,
        n2,
        "request-info",
        msg("need more"),
        "pending",
    )
    .await;
    let n3 = app.open_case(&w.ops, acme_case("new to solved")).await;
    step(
        &app,
        &w.agent,
        n3,
        "propose-resolution",
        msg("known issue, fixed"),
        "solved",
    )
    .await;
    let n4 = app.open_case(&w.ops, acme_case("new to hold")).await;
    step(
        &app,
        &w.agent,
        n4,
        "hold",
        json!({"reason": "x"}),
        "on_hold",
    )
    .await;

    // A follow-up of a closed case is linked to it; of an open one it is refused.
    let mut f = acme_case("follow-up");
    f["follow_up_of"] = json!(n);
    let a = app.post("/api/v1/cases", &w.ops, f.clone()).await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(a.json["follow_up_of"], n);
    f["follow_up_of"] = json!(n2);
    let a = app.post("/api/v1/cases", &w.ops, f).await;
    assert_eq!(a.status, 422);
    assert_eq!(a.error_fields(), ["follow_up_of"]);
}
both!(every_allowed_transition);

async fn every_forbidden_transition_is_409_naming_the_status(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let reason = json!({"reason": "r"});

    let n = app.open_case(&w.ops, acme_case("new")).await;
    refused(&app, &w.agent, "POST", n, "resume", json!({}), "new").await;
    refused(
        &app,
        &w.ops,
        "POST",
        n,
        "confirm-resolution",
        json!({}),
        "new",
    )
    .await;

    step(&app, &w.agent, n, "replies", msg("hi"), "open").await;
    refused(&app, &w.agent, "POST", n, "resume", json!({}), "open").await;
    refused(
        &app,
        &w.ops,
        "POST",
        n,
        "confirm-resolution",
        json!({}),
        "open",
    )
    .await;

    step(&app, &w.agent, n, "request-info", msg("?"), "pending").await;
    refused(
        &app,
        &w.agent,
        "POST",
        n,
        "request-info",
        msg("again"),
        "pending",
    )
    .await;
    refused(
        &app,
        &w.ops,
        "POST",
        n,
        "confirm-resolution",
        json!({}),
        "pending",
    )
    .await;

    step(&app, &w.agent, n, "hold", reason.clone(), "on_hold").await;
    refused(&app, &w.agent, "POST", n, "hold", reason.clone(), "on_hold").await;

    step(
        &app,
        &w.agent,
        n,
        "propose-resolution",
        msg("done"),
        "solved",
    )
    .await;
    refused(
        &app,
        &w.agent,
        "POST",
        n,
        "propose-resolution",
        msg("again"),
        "solved",
    )
    .await;
    refused(
        &app,
        &w.agent,
        "POST",
        n,
        "request-info",
        msg("?"),
        "solved",
    )
    .await;
    refused(&app, &w.agent, "POST", n, "hold", reason.clone(), "solved").await;
    refused(&app, &w.agent, "POST", n, "resume", json!({}), "solved").await;
    refused(
        &app,
        &w.ops,
        "POST",
        n,
        "escalate",
        reason.clone(),
        "solved",
    )
    .await;

    step(&app, &w.ops, n, "confirm-resolution", json!({}), "closed").await;
    for (who, method, action, body) in [
        (&w.ops, "POST", "replies", msg("x")),
        (&w.agent, "POST", "replies", msg("x")),
        (&w.agent, "POST", "notes", msg("x")),
        (&w.agent, "POST", "request-info", msg("x")),
        (&w.agent, "POST", "hold", reason.clone()),
        (&w.agent, "POST", "resume", json!({})),
        (&w.agent, "POST", "propose-resolution", msg("x")),
        (&w.ops, "POST", "confirm-resolution", json!({})),
        (&w.ops, "POST", "escalate", reason.clone()),
        (
            &w.agent,
            "PUT",
            "assignee",
            json!({"assignee": "ana@support.example"}),
        ),
        (
            &w.agent,
            "PUT",
            "priority",
            json!({"priority": "P1", "reason": "x"}),
        ),
        (
            &w.ops,
            "POST",
            "team-contacts",
            json!({"email": "teammate@acme.example"}),
        ),
        (
            &w.agent,
            "POST",
            "summaries",
            json!({"channel": "call", "conclusions": "x"}),
        ),
    ] {
        refused(&app, who, method, n, action, body, "closed").await;
    }
    let events_before = app
        .get(&format!("/api/v1/cases/{n}/events"), &w.agent)
        .await
        .json["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(status(&app, n, &w.ops).await, "closed");
    let events_after = app
        .get(&format!("/api/v1/cases/{n}/events"), &w.agent)
        .await
        .json["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        events_before, events_after,
        "refused actions record nothing"
    );
}
both!(every_forbidden_transition_is_409_naming_the_status);

async fn escalation_assignment_priority_contacts_summaries_and_notes(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("working a case")).await;
    let base = format!("/api/v1/cases/{n}");

    let e = app
        .post(
            &format!("{base}/escalate"),
            &w.ops,
            json!({"reason": "production customers affected"}),
        )
        .await;
    assert_eq!(e.status, 200);
    assert_eq!(e.json["escalated"], true);
    let again = app
        .post(
            &format!("{base}/escalate"),
            &w.ops,
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(again.status, 409);
    let listed = app.get("/api/v1/cases?escalated=true", &w.manager).await;
    assert_eq!(listed.json["items"][0]["number"], n);
    assert_eq!(listed.json["items"][0]["escalated"], true);
    let not = app.get("/api/v1/cases?escalated=false", &w.manager).await;
    assert_eq!(not.json["items"], serde_json::json!([]));

    let a = app
        .put(
            &format!("{base}/assignee"),
            &w.manager,
            json!({"assignee": "ana@support.example"}),
        )
        .await;
    assert_eq!(a.json["assignee"], "ana@support.example");
    let bad = app
        .put(
            &format!("{base}/assignee"),
            &w.manager,
            json!({"assignee": "ops@acme.example"}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_fields(), ["assignee"]);

    let p = app
        .put(
            &format!("{base}/priority"),
            &w.agent,
            json!({"priority": "P1", "reason": "outage widened"}),
        )
        .await;
    assert_eq!(p.json["priority"], "P1");
    let same = app
        .put(
            &format!("{base}/priority"),
            &w.agent,
            json!({"priority": "P1", "reason": "x"}),
        )
        .await;
    assert_eq!(same.status, 422);
    let no_reason = app
        .put(
            &format!("{base}/priority"),
            &w.agent,
            json!({"priority": "P3", "reason": " "}),
        )
        .await;
    assert_eq!(no_reason.error_fields(), ["reason"]);

    let c = app
        .post(
            &format!("{base}/team-contacts"),
            &w.ops,
            json!({"email": "teammate@acme.example"}),
        )
        .await;
    assert_eq!(c.json["team_contacts"], json!(["teammate@acme.example"]));
    let foreign = app
        .post(
            &format!("{base}/team-contacts"),
            &w.ops,
            json!({"email": "ops@globex.example"}),
        )
        .await;
    assert_eq!(
        foreign.status, 422,
        "team contacts must be admins of the same account"
    );
    let agent_contact = app
        .post(
            &format!("{base}/team-contacts"),
            &w.ops,
            json!({"email": "ana@support.example"}),
        )
        .await;
    assert_eq!(agent_contact.status, 422);
    // The new team contact now sees the case.
    assert_eq!(app.get(&base, &w.teammate).await.status, 200);
    let r = app
        .call(
            "DELETE",
            &format!("{base}/team-contacts/teammate@acme.example"),
            Some(&w.ops),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["team_contacts"], json!([]));
    assert_eq!(app.get(&base, &w.teammate).await.status, 404);

    let s = app
        .post(
            &format!("{base}/summaries"),
            &w.agent,
            json!({"channel": "call", "conclusions": "Cause found", "next_steps": "Deploy fix"}),
        )
        .await;
    assert_eq!(s.status, 200);
    let note = app
        .post(
            &format!("{base}/notes"),
            &w.agent,
            json!({"body": "SECRET internal detail"}),
        )
        .await;
    assert_eq!(note.status, 200);
    let hidden = app
        .post(
            &format!("{base}/summaries"),
            &w.agent,
            json!({"channel": "chat", "conclusions": "internal chat", "internal": true}),
        )
        .await;
    assert_eq!(hidden.status, 200);

    // Internal notes are never visible to customers, anywhere.
    for customer in [&w.ops, &w.secops] {
        let ev = app.get(&format!("{base}/events"), customer).await;
        let text = ev.json.to_string();
        assert!(
            !text.contains("SECRET internal detail"),
            "customer saw an internal note"
        );
        assert!(!text.contains("internal chat"));
        assert!(!text.contains("\"assigned\""), "assignment is internal");
        assert!(text.contains("Cause found"));
        assert!(text.contains("priority_changed"));
        let case = app.get(&base, customer).await.json.to_string();
        assert!(!case.contains("SECRET"));
        let list = app.get("/api/v1/cases?q=SECRET", customer).await;
        assert_eq!(list.json["items"], json!([]));
    }
    let agent_view = app
        .get(&format!("{base}/events"), &w.agent)
        .await
        .json
        .to_string();
    assert!(agent_view.contains("SECRET internal detail"));
    assert!(agent_view.contains("\"visibility\":\"internal\""));

    // Customers cannot use support actions; support cannot use customer actions.
    for (action, body) in [
        ("notes", msg("x")),
        ("request-info", msg("x")),
        ("hold", json!({"reason": "x"})),
        ("propose-resolution", msg("x")),
        ("summaries", json!({"channel": "call", "conclusions": "x"})),
    ] {
        let a = app.post(&format!("{base}/{action}"), &w.ops, body).await;
        assert_eq!(a.status, 403, "customer {action}");
    }
    assert_eq!(
        app.put(
            &format!("{base}/assignee"),
            &w.ops,
            json!({"assignee": null})
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.put(
            &format!("{base}/priority"),
            &w.ops,
            json!({"priority": "P3", "reason": "x"})
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.post(
            &format!("{base}/escalate"),
            &w.agent,
            json!({"reason": "x"})
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.post(&format!("{base}/confirm-resolution"), &w.agent, json!({}))
            .await
            .status,
        403
    );
    assert_eq!(
        app.post("/api/v1/cases", &w.agent, acme_case("agent opening"))
            .await
            .status,
        403
    );
}
both!(escalation_assignment_priority_contacts_summaries_and_notes);
