//! Service status: the public page follows the incidents, subscribers are told by email and
//! webhook (as jobs), the intake sees incidents of the tenant's region, a matching case is
//! offered the link, and resolving posts to every linked case.

use std::time::Duration;

use casedesk_testkit::hooks::{Behaviour, Receiver};
use casedesk_testkit::{Backend, TestApp, acme_case, both, globex_case, spawn_app};
use serde_json::{Value, json};

async fn public(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn component(page: &Value, region: &str, key: &str) -> String {
    page["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == region)
        .unwrap()["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap()["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn wait_events(app: &TestApp, token: &str, n: i64, kind: &str) -> Vec<Value> {
    for _ in 0..200 {
        let a = app.get(&format!("/api/v1/cases/{n}/events"), token).await;
        let found: Vec<Value> = a.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {kind} event on case {n}");
}

async fn incident_lifecycle_reaches_page_subscribers_and_linked_cases(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;

    // Nothing open: every component operational, readable without signing in.
    let (status, page) = public(&app, "/api/v1/status").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["state"], "operational");
    let regions: Vec<&str> = page["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(regions, ["americas", "eu", "apac"]);
    assert_eq!(component(&page, "eu", "sign-in"), "operational");
    let r = app
        .client
        .get(format!("{}/api/v1/status?history=maybe", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json")
    );

    // Subscribers: Acme's ops by email for the EU, Globex's owner for APAC only, and a
    // webhook endpoint that names the status events (another one that does not).
    let r = app
        .put(
            "/api/v1/status/subscription",
            &w.ops,
            json!({"regions": ["eu"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = app
        .put(
            "/api/v1/status/subscription",
            &w.globex,
            json!({"regions": ["apac"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let bad = app
        .put(
            "/api/v1/status/subscription",
            &w.ops,
            json!({"regions": ["mars"]}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.error_fields()),
        (422, vec!["regions".to_owned()])
    );
    assert_eq!(
        app.get("/api/v1/status/subscription", &w.ops).await.json["regions"],
        json!(["eu"])
    );
    let rx = Receiver::start(0).await;
    let hook = app
        .post(
            "/api/v1/webhooks",
            &w.super_admin,
            json!({"url": rx.url("/status"),
            "event_types": ["status.incident.created", "status.incident.resolved"]}),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.json);
    let other = app
        .post(
            "/api/v1/webhooks",
            &w.super_admin,
            json!({"url": rx.url("/cases-only"), "event_types": []}),
        )
        .await;
    assert_eq!(other.status, 201);
    for (path, h) in [("/status", &hook), ("/cases-only", &other)] {
        rx.configure(
            path,
            &Behaviour {
                secrets: vec![h.json["secret"].as_str().unwrap().to_owned()],
                ..Default::default()
            },
        )
        .await;
    }

    // Only managers open incidents; bad fields are named and nothing is opened.
    let incident = json!({"title": "Sign-in errors in the EU", "impact": "partial_outage",
        "regions": ["eu"], "components": ["sign-in"], "body": "Some sign-ins fail with a server error; we are looking into it."});
    for t in [&w.agent, &w.ops] {
        assert_eq!(
            app.post("/api/v1/status/incidents", t, incident.clone())
                .await
                .status,
            403
        );
    }
    let r = app
        .post("/api/v1/status/incidents", &w.manager,
            json!({"title": "", "impact": "operational", "regions": ["mars"], "components": ["kettle"], "colour": 1}))
        .await;
    assert_eq!(r.status, 422, "{}", r.json);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["body", "colour", "components", "impact", "regions", "title"]
    );
    assert_eq!(
        public(&app, "/api/v1/status").await.1["incidents"],
        json!([])
    );

    let r = app
        .post("/api/v1/status/incidents", &w.manager, incident)
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["state"], "investigating");

    // The page follows: the EU's sign-in is partly down, APAC is not.
    let (_, page) = public(&app, "/api/v1/status").await;
    assert_eq!(component(&page, "eu", "sign-in"), "partial_outage");
    assert_eq!(component(&page, "apac", "sign-in"), "operational");
    assert_eq!(component(&page, "eu", "webhooks"), "operational");
    assert_eq!(page["state"], "partial_outage");
    assert_eq!(
        page["incidents"][0]["updates"][0]["body"],
        "Some sign-ins fail with a server error; we are looking into it."
    );
    assert!(
        !page.to_string().contains("acme"),
        "the public page names no customer"
    );

    // The intake: Acme's EU tenant sees it (matching its issue area), its Americas tenant
    // does not; another account's tenant is not Acme's to ask about.
    let a = app
        .get(
            "/api/v1/status/active?tenant=acme-prod&issue_area=sign-in-and-redirects",
            &w.ops,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["items"][0]["id"], id.as_str());
    assert_eq!(a.json["items"][0]["matches_issue_area"], true);
    let a = app
        .get("/api/v1/status/active?tenant=acme-dev", &w.ops)
        .await;
    assert_eq!(a.json["items"], json!([]));
    let a = app
        .get("/api/v1/status/active?tenant=globex-prod", &w.ops)
        .await;
    assert_eq!(
        (a.status, a.error_fields()),
        (422, vec!["tenant".to_owned()])
    );

    // A new EU sign-in case is offered the link; the customer accepts it. A case elsewhere
    // is not offered it and cannot take it.
    let created = app
        .post(
            "/api/v1/cases",
            &w.ops,
            acme_case("Sign-in fails since 9:00"),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let n = created.json["number"].as_i64().unwrap();
    assert_eq!(created.json["incident_offers"][0]["id"], id.as_str());
    let r = app
        .post(
            &format!("/api/v1/cases/{n}/incidents"),
            &w.ops,
            json!({"incident_id": id}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let mut dev = acme_case("Dev tenant sign-in");
    dev["tenant"] = json!("acme-dev");
    let created = app.post("/api/v1/cases", &w.ops, dev).await;
    let elsewhere = created.json["number"].as_i64().unwrap();
    assert_eq!(created.json["incident_offers"], json!([]));
    let r = app
        .post(
            &format!("/api/v1/cases/{elsewhere}/incidents"),
            &w.ops,
            json!({"incident_id": id}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_fields()),
        (422, vec!["incident_id".to_owned()])
    );
    // Support links any case it sees; another account cannot touch Acme's case.
    let g = app.open_case(&w.globex, globex_case("Also failing")).await;
    let r = app
        .post(
            &format!("/api/v1/cases/{g}/incidents"),
            &w.agent,
            json!({"incident_id": id}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        app.post(
            &format!("/api/v1/cases/{n}/incidents"),
            &w.globex,
            json!({"incident_id": id})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        app.get(&format!("/api/v1/cases/{n}/incidents"), &w.ops)
            .await
            .json["items"][0]["id"],
        id.as_str()
    );
    let linked = app
        .get(&format!("/api/v1/status/incidents/{id}/cases"), &w.agent)
        .await;
    assert_eq!(linked.json["items"], json!([n, g]));
    assert_eq!(
        app.get(&format!("/api/v1/status/incidents/{id}/cases"), &w.ops)
            .await
            .status,
        403
    );

    assert_eq!(
        app.get(&format!("/api/v1/cases/{n}/incidents"), &w.globex)
            .await
            .status,
        404,
        "another account's case does not exist for Globex"
    );

    // An update with bad fields changes nothing; then an update, then the resolution.
    let r = app
        .post(
            &format!("/api/v1/status/incidents/{id}/updates"),
            &w.manager,
            json!({"state": "sleeping", "impact": "operational", "body": ""}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.json);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["body", "impact", "state"]);
    assert_eq!(
        app.post(
            &format!("/api/v1/status/incidents/{id}/updates"),
            &w.agent,
            json!({"body": "x"})
        )
        .await
        .status,
        403
    );
    assert_eq!(
        public(&app, &format!("/api/v1/status/incidents/{id}"))
            .await
            .1["updates"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = app
        .post(&format!("/api/v1/status/incidents/{id}/updates"), &w.manager,
            json!({"state": "identified", "impact": "degraded", "body": "A faulty release; rolling back."}))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        component(&public(&app, "/api/v1/status").await.1, "eu", "sign-in"),
        "degraded"
    );
    let r = app
        .post(&format!("/api/v1/status/incidents/{id}/updates"), &w.manager,
            json!({"state": "resolved", "body": "The rollback is complete and sign-ins succeed again."}))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json["resolved_at"].is_string());
    let (_, page) = public(&app, "/api/v1/status?history=true").await;
    assert_eq!(component(&page, "eu", "sign-in"), "operational");
    assert_eq!(page["incidents"], json!([]));
    assert_eq!(page["resolved"][0]["updates"].as_array().unwrap().len(), 3);
    let again = app
        .post(
            &format!("/api/v1/status/incidents/{id}/updates"),
            &w.manager,
            json!({"body": "more"}),
        )
        .await;
    assert_eq!(again.status, 409);

    // Every linked case gets the resolution on its timeline, once, public.
    for (c, t) in [(n, &w.ops), (g, &w.globex)] {
        let ev = wait_events(&app, t, c, "incident_update").await;
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0]["data"]["body"],
            "The rollback is complete and sign-ins succeed again."
        );
    }
    assert!(wait_events(&app, &w.ops, n, "created").await.len() == 1);
    let events = app
        .get(&format!("/api/v1/cases/{elsewhere}/events"), &w.ops)
        .await;
    assert!(
        !events.json.to_string().contains("incident_update"),
        "an unlinked case hears nothing"
    );

    // Subscribers: the EU subscriber got three messages, the APAC one none; the requester
    // of the linked case was mailed the resolution on the case.
    let outbox = app
        .wait_outbox("status messages", |all| {
            all.iter().filter(|m| m.contains("[Status]")).count() >= 3
                && all
                    .iter()
                    .any(|m| m.contains("The service incident behind your case is resolved"))
        })
        .await;
    let status_mail: Vec<&String> = outbox.iter().filter(|m| m.contains("[Status]")).collect();
    assert_eq!(status_mail.len(), 3, "created, identified, resolved");
    assert!(
        status_mail
            .iter()
            .all(|m| m.contains("To: ops@acme.example"))
    );
    assert!(
        status_mail
            .iter()
            .all(|m| m.contains("Auto-Submitted: auto-generated"))
    );
    assert!(
        !outbox
            .iter()
            .any(|m| m.contains("[Status]") && m.contains("globex"))
    );
    // Webhooks: the endpoint that named the types got created and resolved, signed; the one
    // that takes "every type" got no status event.
    let mut seen = Vec::new();
    for _ in 0..100 {
        let (log, _) = rx.log().await;
        seen = log
            .iter()
            .filter(|r| r.body["type"].as_str().unwrap_or("").starts_with("status."))
            .map(|r| {
                (
                    r.path.clone(),
                    r.body["type"].as_str().unwrap().to_owned(),
                    r.verified,
                )
            })
            .collect();
        if seen.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "/status".to_owned(),
                "status.incident.created".to_owned(),
                true
            ),
            (
                "/status".to_owned(),
                "status.incident.resolved".to_owned(),
                true
            )
        ]
    );

    // Unsubscribing ends the messages; unlinking is for support only.
    assert_eq!(
        app.call("DELETE", "/api/v1/status/subscription", Some(&w.ops), None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.get("/api/v1/status/subscription", &w.ops).await.status,
        404
    );
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/v1/cases/{n}/incidents/{id}"),
            Some(&w.ops),
            None
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/v1/cases/{n}/incidents/{id}"),
            Some(&w.agent),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/cases/{n}/incidents"), &w.ops)
            .await
            .json["items"],
        json!([])
    );
    assert_eq!(
        public(&app, "/api/v1/status/incidents/not-an-id").await.0,
        404
    );
}
both!(incident_lifecycle_reaches_page_subscribers_and_linked_cases);

/// A message of the outbox as (recipient, subject, text, `List-Unsubscribe`), decoded.
pub(crate) fn read_mail(raw: &str) -> (String, String, String, Option<String>) {
    let m = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    let to = m
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or("")
        .to_owned();
    let unsubscribe = m
        .header_raw("List-Unsubscribe")
        .map(|h| h.trim().to_owned());
    (
        to,
        m.subject().unwrap_or("").to_owned(),
        m.body_text(0).unwrap_or_default().into_owned(),
        unsubscribe,
    )
}

/// The first link in `text` to `path`, moved to `base` (messages name the configured
/// address; the test server listens on a random port).
pub(crate) fn link(text: &str, base: &str, path: &str) -> String {
    let word = text
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(path))
        .unwrap_or_else(|| panic!("no link to {path} in {text}"));
    let at = word.find(path).unwrap();
    format!("{base}{}", &word[at..])
}

/// Posts the status page's anonymous form as a browser on this site would.
async fn subscribe(app: &TestApp, form: &[(&str, &str)], origin: &str) -> (u16, String) {
    let r = app
        .client
        .post(format!("{}/status/subscribe", app.base))
        .header("origin", origin)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// People without an account subscribe by address: one confirmation (at most one a day),
/// nothing else until they confirm, every update after with a link that stops them (one click
/// in mail programs), and links that open only their own subscription.
async fn people_without_an_account_subscribe_with_double_opt_in(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let base = app.base.clone();
    // Refused: another site's form, a bad address, an unknown region; nothing is sent.
    let (status, _) = subscribe(
        &app,
        &[("email", "a@outside.example")],
        "https://evil.example",
    )
    .await;
    assert_eq!(status, 403);
    let (status, page) = subscribe(&app, &[("email", "not an address")], &base).await;
    assert_eq!(status, 422);
    assert!(page.contains("email-error"), "{page}");
    let (status, _) = subscribe(
        &app,
        &[("email", "a@outside.example"), ("regions", "mars")],
        &base,
    )
    .await;
    assert_eq!(status, 422);
    assert!(app.outbox().is_empty(), "nothing sent for a refused form");

    // Accepted: one confirmation, and not a second one the same day.
    let (status, page) = subscribe(
        &app,
        &[("email", "watcher@outside.example"), ("regions", "eu")],
        &base,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Check your inbox"));
    let (status, _) = subscribe(&app, &[("email", "lurker@outside.example")], &base).await;
    assert_eq!(status, 200);
    let outbox = app
        .wait_outbox("two confirmations", |all| all.len() >= 2)
        .await;
    let (status, again) = subscribe(
        &app,
        &[("email", "watcher@outside.example"), ("regions", "eu")],
        &base,
    )
    .await;
    assert_eq!(
        (status, again.contains("Check your inbox")),
        (200, true),
        "the same answer"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.outbox().len(), 2, "at most one confirmation a day");
    let confirmation = outbox
        .iter()
        .map(|m| read_mail(m))
        .find(|m| m.0 == "watcher@outside.example")
        .unwrap();
    assert_eq!(confirmation.1, "Confirm your service status emails");
    let confirm = link(&confirmation.2, &base, "/status/confirm?");
    let stop = link(&confirmation.2, &base, "/status/stop?");

    // The links: only the right token opens them, and opening one changes nothing by itself.
    let tampered = format!("{}x", confirm.trim_end_matches(|c: char| c != '='));
    for bad in [
        tampered,
        confirm.replace("/confirm?", "/stop?"),
        stop.replace("/stop?", "/confirm?"),
    ] {
        let r = app.client.get(&bad).send().await.unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }
    let r = app.client.get(&confirm).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Yes, send them"));
    let url = url::Url::parse(&confirm).unwrap();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let r = app
        .client
        .post(format!("{base}/status/confirm"))
        .form(&[("s", q["s"].as_str()), ("t", q["t"].as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Confirmed"));

    // An incident in the EU: the confirmed address hears of it with its stop link; the one
    // that never confirmed does not.
    let r = app
        .post(
            "/api/v1/status/incidents",
            &w.manager,
            json!({"title": "Token errors in the EU", "impact": "degraded", "regions": ["eu"],
                   "components": ["sign-in"], "body": "Some token requests fail; we are on it."}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let outbox = app
        .wait_outbox("the status message", |all| {
            all.iter().any(|m| m.contains("[Status]"))
        })
        .await;
    let told: Vec<_> = outbox
        .iter()
        .map(|m| read_mail(m))
        .filter(|m| m.1.starts_with("[Status]"))
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    let (to, _, text, unsubscribe) = &told[0];
    assert_eq!(to, "watcher@outside.example");
    let stop_here = link(text, &base, "/status/stop?");
    let header = unsubscribe.as_deref().unwrap_or("");
    assert!(
        header.starts_with('<') && header.ends_with(&format!("{}>", &stop_here[base.len()..])),
        "List-Unsubscribe names the stop link: {header}"
    );
    assert!(!text.contains("/api/v1"), "words for people: {text}");

    // One click from the mail program (no page, no origin): the messages stop.
    let r = app
        .client
        .post(&stop_here)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .post(
            &format!("/api/v1/status/incidents/{id}/updates"),
            &w.manager,
            json!({"state": "resolved", "body": "Fixed."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status_mails = app
        .outbox()
        .iter()
        .filter(|m| m.contains("[Status]"))
        .count();
    assert_eq!(status_mails, 1, "no message after stopping");
    // The used stop link no longer opens anything.
    assert_eq!(
        app.client.get(&stop_here).send().await.unwrap().status(),
        404
    );
}
both!(people_without_an_account_subscribe_with_double_opt_in);

/// The subscription form has a budget of its own: a flood of it from one address is cut off,
/// and sign-in from that address still works.
async fn the_subscription_form_has_a_budget_of_its_own(b: Backend) {
    let app = spawn_app(b).await;
    app.world().await;
    let base = app.base.clone();
    let mut statuses = Vec::new();
    for i in 0..11 {
        let email = format!("flood{i}@victim.example");
        statuses.push(subscribe(&app, &[("email", email.as_str())], &base).await.0);
    }
    assert_eq!(&statuses[..10], &[200; 10]);
    assert_eq!(statuses[10], 429, "{statuses:?}");
    crate::signin::set_password(&app, "ops@acme.example", "a long enough password").await;
    let c = crate::signin::browser();
    let csrf = crate::signin::csrf_of(&c, &app).await;
    let r = crate::signin::sign_in(
        &c,
        &app,
        &csrf,
        "ops@acme.example",
        "a long enough password",
    )
    .await;
    assert_eq!(r.status(), 303, "sign-in is not the form's budget");
}
both!(the_subscription_form_has_a_budget_of_its_own);
