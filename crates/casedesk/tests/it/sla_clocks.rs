//! SLA clocks on real cases over HTTP: every semantic point, the scanner's warnings and
//! breaches, policy changes reaching open cases, the queue order, and isolation.

use std::time::Duration;

use casedesk_testkit::{Backend, TestApp, World, acme_case, both, globex_case, spawn_app};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

fn t(v: &Value) -> Timestamp {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

fn target<'a>(sla: &'a Value, name: &str) -> &'a Value {
    sla["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["target"] == name)
        .unwrap_or_else(|| panic!("no {name} in {sla}"))
}

fn has_target(sla: &Value, name: &str) -> bool {
    sla["targets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["target"] == name)
}

/// Makes the account's region calendar count every minute, so due times follow from the
/// instants the test sees (business-hours arithmetic has its own hand-worked tests).
async fn around_the_clock(app: &TestApp, w: &World) {
    let r = app
        .put(
            "/api/v1/sla/calendars/eu",
            &w.manager,
            json!({"time_zone": "Europe/Berlin", "hours": "24x7"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
}

async fn sla(app: &TestApp, token: &str, n: i64) -> Value {
    let r = app.get(&format!("/api/v1/cases/{n}/sla"), token).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

async fn explain(app: &TestApp, token: &str, n: i64) -> Value {
    let r = app
        .get(&format!("/api/v1/cases/{n}/sla/explain"), token)
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

fn p1(subject: &str) -> Value {
    let mut c = acme_case(subject);
    c["priority"] = json!("P1");
    c
}

async fn clocks_follow_the_case_through_its_lifecycle(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    around_the_clock(&app, &w).await;

    // Gold P1: first response 60 min, next response 120 min, resolution 48 h, around the clock.
    let a = app
        .post("/api/v1/cases", &w.ops, p1("Nobody can sign in"))
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let n = a.json["number"].as_i64().unwrap();
    let s = &a.json["sla"];
    let fr = target(s, "first_response");
    let t0 = t(&fr["started_at"]);
    assert_eq!(fr["state"], "running");
    assert_eq!(fr["basis"], "24x7");
    assert_eq!(t(&fr["due_at"]), t0 + SignedDuration::from_mins(60));
    let res = target(s, "resolution");
    assert_eq!(t(&res["due_at"]), t0 + SignedDuration::from_hours(48));
    assert!(
        !has_target(s, "next_response"),
        "no customer is waiting yet"
    );
    assert_eq!(t(&s["next_due_at"]), t0 + SignedDuration::from_mins(60));

    // Internal notes, assignment and a call summary are not responses.
    let path = |x: &str| format!("/api/v1/cases/{n}/{x}");
    let r = app
        .post(
            &path("notes"),
            &w.agent,
            json!({"body": "Looking at the logs"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(target(&r.json["sla"], "first_response")["state"], "running");
    app.put(
        &path("assignee"),
        &w.agent,
        json!({"assignee": "ana@support.example"}),
    )
    .await;
    let r = app
        .post(
            &path("summaries"),
            &w.agent,
            json!({"channel": "call", "conclusions": "Called the customer", "internal": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(target(&r.json["sla"], "first_response")["state"], "running");

    // The first public reply of an agent meets the first response.
    let r = app
        .post(&path("replies"), &w.agent, json!({"body": "We are on it."}))
        .await;
    let fr = target(&r.json["sla"], "first_response");
    assert_eq!(fr["state"], "met");
    assert!(fr["stopped_at"].is_string());

    // Waiting on the customer pauses every clock; their reply resumes them and starts a
    // next-response cycle.
    let r = app
        .post(
            &path("request-info"),
            &w.agent,
            json!({"body": "Which client id?"}),
        )
        .await;
    assert_eq!(r.json["status"], "pending");
    let res = target(&r.json["sla"], "resolution");
    assert_eq!(res["state"], "paused");
    assert!(res["due_at"].is_null(), "no due time while paused");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = app
        .post(&path("replies"), &w.ops, json!({"body": "app_abc"}))
        .await;
    assert_eq!(r.json["status"], "open");
    let x = explain(&app, &w.agent, n).await;
    let res_cycle = x["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"] == "resolution")
        .unwrap();
    let pause = &res_cycle["pauses"][0];
    let paused = t(&pause["to"]).duration_since(t(&pause["from"]));
    assert!(paused >= SignedDuration::from_millis(300), "{paused:?}");
    // The pause moves the due time by exactly its length.
    assert_eq!(
        t(&res_cycle["due_at"]),
        t0 + SignedDuration::from_hours(48) + paused
    );
    let nr = target(&r.json["sla"], "next_response");
    assert_eq!(nr["state"], "running");
    assert_eq!(nr["cycle"], 1);
    assert_eq!(
        t(&nr["due_at"]),
        t(&nr["started_at"]) + SignedDuration::from_mins(120)
    );

    // A priority change applies the new goals from each clock's original start.
    let r = app
        .put(
            &path("priority"),
            &w.agent,
            json!({"priority": "P2", "reason": "a workaround exists"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let res = target(&r.json["sla"], "resolution");
    assert_eq!(res["goal_minutes"], 5 * 8 * 60);
    assert_eq!(
        t(&res["due_at"]),
        t0 + SignedDuration::from_hours(40) + paused
    );
    let nr = target(&r.json["sla"], "next_response");
    assert_eq!(
        t(&nr["due_at"]),
        t(&nr["started_at"]) + SignedDuration::from_hours(8)
    );

    // Proposing a resolution answers the customer and meets the resolution.
    let r = app
        .post(
            &path("propose-resolution"),
            &w.agent,
            json!({"body": "Fixed the URI."}),
        )
        .await;
    assert_eq!(target(&r.json["sla"], "resolution")["state"], "met");
    assert_eq!(target(&r.json["sla"], "next_response")["state"], "met");

    // The customer reopens: a new resolution cycle, and a new next-response cycle.
    let r = app
        .post(&path("replies"), &w.ops, json!({"body": "Still failing"}))
        .await;
    assert_eq!(r.json["status"], "open");
    let res = target(&r.json["sla"], "resolution");
    assert_eq!(res["cycle"], 2);
    assert_eq!(res["state"], "running");
    assert_eq!(target(&r.json["sla"], "next_response")["cycle"], 2);

    // Every cycle is reported, with start, stop and figures.
    let x = explain(&app, &w.agent, n).await;
    let cycles: Vec<(String, i64, String)> = x["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["target"].as_str().unwrap().to_owned(),
                c["cycle"].as_i64().unwrap(),
                c["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, i64, String)> = [
        ("first_response", 1, "met"),
        ("next_response", 1, "met"),
        ("next_response", 2, "running"),
        ("resolution", 1, "met"),
        ("resolution", 2, "running"),
    ]
    .iter()
    .map(|(a, b, c)| ((*a).to_owned(), *b, (*c).to_owned()))
    .collect();
    assert_eq!(cycles, want);
    assert_eq!(x["policy"]["plan"], "gold");
    assert_eq!(x["policy"]["priority"], "P2");
    assert_eq!(x["calendar"]["name"], "eu");
    assert_eq!(x["calendar"]["why"], "stored for the account's region");
    let kinds: Vec<&str> = x["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in ["applied", "started", "paused", "resumed", "met"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert!(
        x["cycles"][0]["counted"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );

    // Closing stops whatever still runs.
    app.post(
        &path("propose-resolution"),
        &w.agent,
        json!({"body": "Deployed."}),
    )
    .await;
    let r = app
        .post(&path("confirm-resolution"), &w.ops, json!({}))
        .await;
    assert_eq!(r.json["status"], "closed");
    assert!(r.json["sla"]["next_due_at"].is_null());
}
both!(clocks_follow_the_case_through_its_lifecycle);

async fn on_hold_pauses_only_when_configured(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    around_the_clock(&app, &w).await;
    let n = app.open_case(&w.ops, p1("held")).await;
    let r = app
        .post(
            &format!("/api/v1/cases/{n}/hold"),
            &w.agent,
            json!({"reason": "vendor"}),
        )
        .await;
    assert_eq!(r.json["status"], "on_hold");
    assert_eq!(target(&r.json["sla"], "resolution")["state"], "running");

    // Settings: managers only, every bad field named, nothing changed by a refusal.
    let bad = app
        .put(
            "/api/v1/sla/settings",
            &w.manager,
            json!({"warning_percent": 0, "on_hold_pauses": "yes", "colour": 1}),
        )
        .await;
    assert_eq!(bad.status, 422);
    let mut f = bad.error_fields();
    f.sort();
    assert_eq!(f, ["colour", "on_hold_pauses", "warning_percent"]);
    assert_eq!(
        app.put(
            "/api/v1/sla/settings",
            &w.agent,
            json!({"on_hold_pauses": true})
        )
        .await
        .status,
        403
    );
    let cur = app.get("/api/v1/sla/settings", &w.manager).await;
    assert_eq!(cur.json["on_hold_pauses"], false);
    assert_eq!(cur.json["warning_percent"], 75);

    let ok = app
        .put(
            "/api/v1/sla/settings",
            &w.manager,
            json!({"on_hold_pauses": true}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    let n2 = app.open_case(&w.ops, p1("held too")).await;
    let r = app
        .post(
            &format!("/api/v1/cases/{n2}/hold"),
            &w.agent,
            json!({"reason": "vendor"}),
        )
        .await;
    assert_eq!(target(&r.json["sla"], "resolution")["state"], "paused");
    let r = app
        .post(&format!("/api/v1/cases/{n2}/resume"), &w.agent, json!({}))
        .await;
    assert_eq!(target(&r.json["sla"], "resolution")["state"], "running");
    // Resuming without a message is not a response.
    assert_eq!(target(&r.json["sla"], "first_response")["state"], "running");
}
both!(on_hold_pauses_only_when_configured);

/// Polls the internal timeline until `kind` appears `count` times (or the time is up).
async fn wait_for(
    app: &TestApp,
    token: &str,
    n: i64,
    kind: &str,
    count: usize,
    secs: u64,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let ev = app.get(&format!("/api/v1/cases/{n}/events"), token).await;
        let found: Vec<Value> = ev.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect();
        if found.len() >= count || std::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn the_scanner_warns_then_breaches_once_and_tells_the_right_people(b: Backend) {
    // The notices are sent by email through a real SMTP server.
    let sink = casedesk_testkit::smtp::SmtpSink::start().await;
    let app = casedesk_testkit::spawn_app_with(
        b,
        casedesk_testkit::Options {
            mail: sink.mail_config(),
            ..Default::default()
        },
    )
    .await;
    let w = app.world().await;
    // A one-minute first response, warned at half of it.
    let r = app
        .put(
            "/api/v1/sla/policies/gold/P4",
            &w.manager,
            json!({"first_response": {"minutes": 1, "basis": "calendar"}, "next_response": null,
                "resolution": {"minutes": 600, "basis": "calendar"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    app.put(
        "/api/v1/sla/settings",
        &w.manager,
        json!({"warning_percent": 50}),
    )
    .await;
    let mut body = acme_case("slow");
    body["priority"] = json!("P4");
    let n = app.open_case(&w.ops, body).await;

    let warned = wait_for(&app, &w.agent, n, "sla_warning", 1, 45).await;
    assert_eq!(warned.len(), 1, "one warning");
    assert_eq!(warned[0]["visibility"], "internal");
    assert_eq!(warned[0]["data"]["alerts"][0]["target"], "first_response");
    let breached = wait_for(&app, &w.agent, n, "sla_breached", 1, 60).await;
    assert_eq!(breached.len(), 1, "one breach");
    let fr = target(&sla(&app, &w.agent, n).await, "first_response").clone();
    assert_eq!(fr["state"], "breached");
    assert_eq!(fr["breached_at"], fr["due_at"]);
    assert_eq!(
        t(&breached[0]["data"]["alerts"][0]["at"]),
        t(&fr["due_at"]),
        "recorded at the instant it breached"
    );

    // Meeting it late keeps it breached, and nothing is recorded twice.
    app.post(
        &format!("/api/v1/cases/{n}/replies"),
        &w.agent,
        json!({"body": "Sorry for the wait"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let fr = target(&sla(&app, &w.agent, n).await, "first_response").clone();
    assert_eq!(fr["state"], "breached");
    assert_eq!(
        wait_for(&app, &w.agent, n, "sla_breached", 2, 0)
            .await
            .len(),
        1
    );
    assert_eq!(
        wait_for(&app, &w.agent, n, "sla_warning", 2, 0).await.len(),
        1
    );
    // Customers do not see the internal alerts.
    let theirs = app.get(&format!("/api/v1/cases/{n}/events"), &w.ops).await;
    assert!(
        theirs.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["kind"].as_str().unwrap().starts_with("sla_"))
    );

    // The notices went to the agents of the case's queue (unassigned) and the duty manager.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let notified = loop {
        let lines = crate::audit::export_lines(&app, &w.manager, "").await;
        let found: Vec<Value> = lines
            .into_iter()
            .filter(|l| {
                l["action"]
                    .as_str()
                    .is_some_and(|a| a.ends_with(".notified"))
            })
            .collect();
        if found.len() >= 2 || std::time::Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let actions: Vec<&str> = notified
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["case.sla_warning.notified", "case.sla_breached.notified"]
    );
    for l in &notified {
        assert_eq!(l["summary"]["to"], json!(["ana@support.example"]), "{l}");
        assert_eq!(
            l["summary"]["duty_managers"],
            json!(["mia@support.example"])
        );
    }
    // And by email: a warning and a breach, each to the agent and the duty manager, naming
    // the target and its due time; the customer gets neither.
    let all = sink
        .wait_for("the SLA emails", |a| {
            a.iter()
                .filter(|m| m.rcpt_tos.iter().any(|r| r.ends_with("@support.example")))
                .count()
                >= 4
        })
        .await;
    let marks = casedesk_mail::inbound::Marks {
        message_id_domain: "casedesk.test".into(),
        tag_prefix: "casedesk".into(),
        max_bytes: 1_000_000,
        authserv_id: String::new(),
    };
    let mut seen: Vec<(String, String)> = vec![];
    for m in all
        .iter()
        .filter(|m| m.rcpt_tos.iter().any(|r| r.ends_with("@support.example")))
    {
        let read = casedesk_mail::inbound::read(m.data.as_bytes(), &marks).unwrap();
        let kind = match m.header("X-Casedesk-Kind").as_deref() {
            Some("sla_breached") => "breach",
            Some("sla_warning") => "warning",
            _ => continue,
        };
        assert!(
            read.text.starts_with(if kind == "breach" {
                "SLA target breached"
            } else {
                "SLA target close to its due time"
            }),
            "{}",
            read.text
        );
        assert!(
            read.subject.contains(&format!("[casedesk #{n}]")),
            "{}",
            read.subject
        );
        assert!(read.text.contains("First response (due "), "{}", read.text);
        seen.push((kind.to_owned(), m.rcpt_tos.join(",")));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("breach".to_owned(), "ana@support.example".to_owned()),
            ("breach".to_owned(), "mia@support.example".to_owned()),
            ("warning".to_owned(), "ana@support.example".to_owned()),
            ("warning".to_owned(), "mia@support.example".to_owned()),
        ]
    );
    assert!(
        all.iter()
            .filter(|m| m.rcpt_tos.contains(&"ops@acme.example".to_owned()))
            .all(|m| !m.data.contains("SLA target")),
        "customers are not told of internal alerts"
    );
}
both!(the_scanner_warns_then_breaches_once_and_tells_the_right_people);

async fn policy_changes_reach_open_cases_and_queues_sort_by_due_time(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    around_the_clock(&app, &w).await;
    let mut p3 = acme_case("normal");
    p3["priority"] = json!("P3");
    let slow = app.open_case(&w.ops, p3.clone()).await;
    let urgent = app.open_case(&w.ops, p1("urgent")).await;
    let other = app.open_case(&w.globex, globex_case("theirs")).await;

    // Agents see the most urgent due time first; newest-first remains the default.
    let q = app
        .get("/api/v1/cases?sort=sla_due&status=active", &w.agent)
        .await;
    assert_eq!(q.status, 200, "{}", q.json);
    let order: Vec<i64> = q.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["number"].as_i64().unwrap())
        .collect();
    assert_eq!(order.first(), Some(&urgent), "{order:?}");
    assert!(q.json["items"][0]["sla_due_at"].is_string());
    let pos = |n: i64| order.iter().position(|x| *x == n).unwrap();
    assert!(pos(urgent) < pos(slow));
    // Paged by due time, every case appears once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/cases?sort=sla_due&limit=1&cursor={c}"),
            None => "/api/v1/cases?sort=sla_due&limit=1".into(),
        };
        let page = app.get(&url, &w.manager).await;
        assert_eq!(page.status, 200, "{}", page.json);
        for c in page.json["items"].as_array().unwrap() {
            seen.push(c["number"].as_i64().unwrap());
        }
        match page.json["next"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, {
        let mut v = vec![slow, urgent, other];
        v.sort();
        v
    });
    let bad = app.get("/api/v1/cases?sort=oldest", &w.agent).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_fields(), ["sort"]);

    // A manager shortens Gold P3's resolution: the open case follows without being touched.
    let before = target(&sla(&app, &w.agent, slow).await, "resolution").clone();
    let r = app
        .put(
            "/api/v1/sla/policies/gold/P3",
            &w.manager,
            json!({"first_response": {"minutes": 480, "basis": "business"},
                "next_response": {"minutes": 960, "basis": "business"},
                "resolution": {"minutes": 600, "basis": "business"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let res = target(&sla(&app, &w.agent, slow).await, "resolution").clone();
    assert_eq!(res["goal_minutes"], 600);
    assert_eq!(res["started_at"], before["started_at"]);
    assert_eq!(
        t(&res["due_at"]),
        t(&res["started_at"]) + SignedDuration::from_mins(600)
    );
    // The log records the change (by the reapply job) and the queue order uses it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let x = explain(&app, &w.agent, slow).await;
        let applied = x["log"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "applied" && e["target"] == "resolution")
            .count();
        if applied == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the change was not logged: {x}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let q = app
        .get("/api/v1/cases?sort=sla_due&status=active", &w.agent)
        .await;
    let row = q.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["number"] == slow)
        .unwrap()
        .clone();
    // First response (8 h) is now its earliest running due time.
    assert_eq!(
        t(&row["sla_due_at"]),
        t(&before["started_at"]) + SignedDuration::from_mins(480)
    );

    // Isolation: another account's SLA is not found, and lists never mix accounts.
    for p in [
        format!("/api/v1/cases/{other}/sla"),
        format!("/api/v1/cases/{other}/sla/explain"),
    ] {
        let r = app.get(&p, &w.ops).await;
        assert_eq!(r.status, 404, "{p}");
        assert!(r.content_type().starts_with("application/problem+json"));
    }
    let theirs = app.get("/api/v1/cases?sort=sla_due", &w.ops).await;
    assert!(
        theirs.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["number"] != other)
    );
    assert_eq!(
        app.get(&format!("/api/v1/cases/{other}/sla"), &w.globex)
            .await
            .status,
        200
    );
    // Agents outside the case's queue do not see it either.
    assert_eq!(
        app.get(&format!("/api/v1/cases/{slow}/sla"), &w.other_agent)
            .await
            .status,
        404
    );
}
both!(policy_changes_reach_open_cases_and_queues_sort_by_due_time);
