//! The web UI's second pass, in a real Chromium at desktop and phone width: reports that
//! read true, input that survives a refused form, errors in words, the stage sections, Back
//! after signing out, who grants case-admin, and the agent's workspace with its SLA.

use casedesk_core::cases::{
    CaseFields, Contact, EventKind, ImpactScope, NewEvent, Priority, Stage, Status,
};
use casedesk_core::service::{HistoricCase, NewCase};
use casedesk_testkit::browser::{Browser, browser};
use casedesk_testkit::{Backend, TestApp, acme_case, spawn_app};
use serde_json::{Value, json};

use crate::web_ui::{
    PASSWORD, no_serious_accessibility_problem, open_details, people, wait_for_text,
};

async fn js(b: &Browser, script: &str) -> Value {
    b.driver
        .execute(script, Vec::<Value>::new())
        .await
        .unwrap()
        .json()
        .clone()
}

async fn phone(b: &Browser) {
    b.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
}

/// An Acme case of the past: opened `days` ago, answered by the agent after `answer` minutes
/// (never, with `None`), its first response breached when `breached`.
async fn past(
    app: &TestApp,
    area: &str,
    priority: Priority,
    days: i64,
    answer: Option<i64>,
    breached: bool,
) -> HistoricCase {
    let s = app.store.as_ref();
    let account = s.find_account("Acme").await.unwrap().unwrap();
    let tenant = s.find_tenant("acme-prod").await.unwrap().unwrap();
    let ops = s
        .find_user_by_email("ops@acme.example")
        .await
        .unwrap()
        .unwrap();
    let agent = s
        .find_user_by_email("ana@support.example")
        .await
        .unwrap()
        .unwrap();
    let opened = casedesk_core::now() - jiff::SignedDuration::from_hours(24 * days);
    let mut events = Vec::new();
    if breached {
        let due = opened + jiff::SignedDuration::from_mins(60);
        events.push(NewEvent {
            actor_id: None,
            kind: EventKind::SlaBreached,
            public: false,
            data: json!({"alerts": [{"alert": "breach", "target": "first_response", "cycle": 1, "at": due.to_string(), "due_at": due.to_string()}]}),
            at: due,
        });
    }
    if let Some(m) = answer {
        events.push(NewEvent {
            actor_id: Some(agent.id),
            kind: EventKind::Reply,
            public: true,
            data: json!({"body": "We are on it."}),
            at: opened + jiff::SignedDuration::from_mins(m),
        });
    }
    events.sort_by_key(|e| e.at);
    HistoricCase {
        case: NewCase {
            account_id: account.id,
            requester_id: ops.id,
            tenant_id: tenant.id,
            queue: "identity".into(),
            fields: CaseFields {
                priority,
                subject: format!("Past case about {area}"),
                description: "From the history.".into(),
                steps_to_reproduce: None,
                issue_area: area.into(),
                scope: ImpactScope::SomeUsers,
                business_impact: None,
                contact: Contact {
                    email: ops.email.clone(),
                    phone: "+49 30 1234567".into(),
                    timezone: "Europe/Berlin".into(),
                },
                stage: Stage::Onboarding,
                identifiers: Default::default(),
                context: Default::default(),
                checklist: Default::default(),
            },
            team_contacts: vec![],
            follow_up_of: None,
            created_at: opened,
            sla: Default::default(),
        },
        status: if answer.is_some() {
            Status::Solved
        } else {
            Status::Open
        },
        assignee: Some(agent.id),
        events,
        rating: None,
    }
}

/// Reports read true: durations in the unit that fits ("3 min", "2 h 5 min"; bars of
/// different length were all "0 min"), a group without answers says "no data" instead of
/// a zero, labels are whole, and on a phone the text keeps its size. The CSV holds the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_read_true_at_desktop_and_phone_width_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    people(&app).await;
    let history = vec![
        past(
            &app,
            "marketplace-and-licensing",
            Priority::P1,
            3,
            Some(3),
            false,
        )
        .await,
        past(
            &app,
            "sign-in-and-redirects",
            Priority::P3,
            2,
            Some(125),
            true,
        )
        .await,
        past(&app, "webhooks", Priority::P4, 1, None, false).await,
    ];
    app.store.import_history(&history).await.unwrap();
    let b = browser(&app.base).await;
    b.sign_in("mia@support.example", PASSWORD).await;
    b.open("/manage/reports").await;
    let text = wait_for_text(&b, "main", "By issue area").await;
    assert!(text.contains("3 min"), "{text}");
    assert!(text.contains("2 h 5 min"), "{text}");
    assert!(
        !text.contains("0 min"),
        "no zero for a value that is not: {text}"
    );
    let area = b.el("#area-h").await;
    let section = area.parent().await.unwrap().text().await.unwrap();
    assert!(
        section.contains("webhooks") && section.contains("no data"),
        "the area without an answer has no data, not 0: {section}"
    );
    assert!(section.contains("marketplace-and-licensing"), "whole label");
    b.screenshot("reports-desktop").await;
    no_serious_accessibility_problem(&b, "reports").await;
    phone(&b).await;
    b.open("/manage/reports").await;
    wait_for_text(&b, "main", "By issue area").await;
    let fit = js(
        &b,
        "const w = document.documentElement.clientWidth; \
         const labels = [...document.querySelectorAll('.bar-label, .bar-value')]; \
         return [labels.length, labels.filter(l => { const r = l.getBoundingClientRect(); return r.right > w + 1 || l.scrollWidth > l.clientWidth + 1; }).map(l => l.textContent), \
                 Math.min(...labels.map(l => parseFloat(getComputedStyle(l).fontSize)))];",
    )
    .await;
    assert!(fit[0].as_u64().unwrap() > 10, "{fit}");
    assert_eq!(
        fit[1],
        json!([]),
        "every label and value whole on a phone: {fit}"
    );
    assert!(
        fit[2].as_f64().unwrap() >= 12.0,
        "readable text on a phone: {fit}"
    );
    b.screenshot("reports-phone").await;
    let csv = b
        .driver
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch('/manage/reports.csv').then(r => r.text().then(t => done([r.headers.get('content-type'), t])));",
            Vec::<Value>::new(),
        )
        .await
        .unwrap()
        .json()
        .clone();
    assert_eq!(csv[0], "text/csv; charset=utf-8");
    let body = csv[1].as_str().unwrap();
    assert!(
        body.lines()
            .any(|l| l.starts_with("issue_area,marketplace-and-licensing,1,3.0,")),
        "{body}"
    );
    assert!(
        body.lines().any(|l| l == "issue_area,webhooks,1,,,1.0000"),
        "{body}"
    );
    b.quit().await;
}

/// What was typed survives a refused form: the webhook address and its ticked events, a new
/// calendar's name and text; a file the browser cannot keep is named, not dropped without a
/// word. The case form's errors are in words, and its stage sections appear once a stage is
/// chosen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_survives_a_refused_form_and_errors_read_in_words_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    people(&app).await;
    let b = browser(&app.base).await;
    b.sign_in("mia@support.example", PASSWORD).await;
    b.open("/manage/webhooks").await;
    b.set("url", "ftp://hooks.example/in").await;
    b.el("input[name='event_types']")
        .await
        .click()
        .await
        .unwrap();
    let ticked = b
        .el("input[name='event_types']")
        .await
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    b.submit("form[action='/manage/webhooks']").await;
    wait_for_text(&b, "main", "Nothing was saved or sent").await;
    assert_eq!(
        b.el("#url").await.value().await.unwrap().unwrap(),
        "ftp://hooks.example/in"
    );
    let still = js(
        &b,
        &format!("return document.querySelector(\"input[name='event_types'][value='{ticked}']\").checked;"),
    )
    .await;
    assert_eq!(still, json!(true), "the ticked event stays ticked");
    b.open("/manage/sla").await;
    open_details(&b, "New calendar").await;
    b.set("new.name", "emea-support").await;
    b.set("new.time_zone", "Mars/Olympus").await;
    b.set("new.sat", "10:00-14:00").await;
    b.submit("form[action='/manage/sla/calendar']:has(#new-name)")
        .await;
    wait_for_text(&b, "main", "Nothing was saved or sent").await;
    for (id, typed) in [
        ("#new-name", "emea-support"),
        ("#new-time_zone", "Mars/Olympus"),
        ("#new-sat", "10:00-14:00"),
    ] {
        assert_eq!(
            b.el(id).await.value().await.unwrap().unwrap(),
            typed,
            "{id} kept"
        );
    }
    b.sign_out().await;

    b.sign_in("ops@acme.example", PASSWORD).await;
    b.open("/support").await;
    // No stage chosen: no stage's identifiers yet, and a word on where they come from.
    let shown = js(
        &b,
        "return [[...document.querySelectorAll('fieldset[data-stage]')].filter(f => f.offsetParent !== null).length, document.getElementById('stage-first').offsetParent !== null];",
    )
    .await;
    assert_eq!(shown, json!([0, true]), "{shown}");
    b.set("stage", "production").await;
    let shown = js(
        &b,
        "return [...document.querySelectorAll('fieldset[data-stage]')].filter(f => f.offsetParent !== null).map(f => f.dataset.stage);",
    )
    .await;
    assert_eq!(shown, json!(["production"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trace.txt");
    std::fs::write(&file, b"GET /authorize 302").unwrap();
    b.el("#files")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    b.set("contact.timezone", "").await;
    b.submit("#case-form").await;
    let page = wait_for_text(&b, "main", "Nothing was saved or sent").await;
    assert!(page.contains("trace.txt not kept"), "{page}");
    assert!(page.contains("choose the file(s) again"), "{page}");
    assert!(page.contains("Time zone"), "{page}");
    for machine in [
        "contact.timezone",
        "is required:",
        "RFC 3339",
        "identifiers.review",
        "self_hosted",
        "YYYY",
    ] {
        assert!(
            !page.contains(machine),
            "no {machine:?} on the page: {page}"
        );
    }
    no_serious_accessibility_problem(&b, "case form with errors").await;
    b.quit().await;
}

/// Back after signing out asks to sign in again instead of showing the last case; an admin
/// without case-admin is told who can grant it, by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_after_sign_out_and_who_grants_case_admin_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let n = app
        .open_case(&w.ops, acme_case("Private subject of ops"))
        .await;
    let b = browser(&app.base).await;
    b.sign_in("ops@acme.example", PASSWORD).await;
    b.open(&format!("/cases/{n}")).await;
    wait_for_text(&b, "main", "Private subject of ops").await;
    b.sign_out().await;
    b.driver.back().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let text = b.text().await;
    assert!(
        !text.contains("Private subject of ops"),
        "Back shows no case after signing out: {text}"
    );
    b.sign_in("viewer@acme.example", PASSWORD).await;
    b.open("/").await;
    let text = wait_for_text(&b, "main", "case-admin").await;
    assert!(
        text.contains("owner@acme.example"),
        "names the super admin: {text}"
    );
    no_serious_accessibility_problem(&b, "missing case-admin").await;
    b.quit().await;
}

/// The agent's workspace: the customer (account, plan, tier, CSM, their clock) at the top of
/// the case with their other open cases; the console names account and plan and keeps every
/// column on a phone; SLA explains itself step by step and a breach is red with its instant.
/// The customer reads the promise in their own time zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_workspace_and_an_sla_that_explains_itself_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let n = app.open_case(&w.ops, acme_case("Workspace case")).await;
    let other = app.open_case(&w.ops, acme_case("Another open case")).await;
    let globex = app
        .open_case(&w.globex, casedesk_testkit::globex_case("Globex case"))
        .await;
    let breached = app
        .store
        .import_history(&[past(
            &app,
            "sign-in-and-redirects",
            Priority::P2,
            2,
            Some(150),
            true,
        )
        .await])
        .await
        .unwrap()[0];
    let b = browser(&app.base).await;
    b.sign_in("ana@support.example", PASSWORD).await;
    b.open(&format!("/cases/{n}")).await;
    let bar = wait_for_text(&b, ".case-bar", "Account").await;
    for want in [
        "Acme",
        "gold",
        "P2",
        "Customer success manager",
        "Requester's time",
    ] {
        assert!(bar.contains(want), "{want} in {bar}");
    }
    let others = b.el("#others").await.text().await.unwrap();
    assert!(others.contains(&format!("#{other}")), "{others}");
    assert!(
        !others.contains(&format!("#{globex}")),
        "another account's case: {others}"
    );
    assert!(
        !others.contains(&format!("#{n} ")),
        "not the case itself: {others}"
    );
    let sla = b.el("#sla").await.text().await.unwrap();
    assert!(
        sla.contains("requester's time") && sla.contains("goal"),
        "{sla}"
    );
    open_details(&b, "How the due times were computed").await;
    let steps = b.el("#sla-explained").await.text().await.unwrap();
    assert!(steps.contains("open interval(s) counted"), "{steps}");
    assert!(steps.contains("Started"), "{steps}");
    no_serious_accessibility_problem(&b, "case, agent workspace").await;
    b.screenshot("case-agent-desktop").await;
    // A breach: red, with what breached and when.
    b.open(&format!("/cases/{breached}")).await;
    let entry = wait_for_text(&b, ".timeline li.breached", "breached").await;
    assert!(
        entry.contains("SLA breached") && entry.contains("First response breached"),
        "{entry}"
    );
    let colour = js(
        &b,
        "return getComputedStyle(document.querySelector('.timeline li.breached li.breach')).color;",
    )
    .await;
    assert_eq!(colour, json!("rgb(164, 20, 29)"));
    // The console: account and plan columns, every column on a phone.
    b.open("/console?view=queue&queue=identity").await;
    let head = b.el("table.stack thead").await.text().await.unwrap();
    assert!(head.contains("Account") && head.contains("Plan"), "{head}");
    phone(&b).await;
    b.open("/console?view=queue&queue=identity").await;
    let cut = js(
        &b,
        "const w = document.documentElement.clientWidth; const cells = [...document.querySelectorAll(\"table.stack td[data-label='Next SLA due'], table.stack td[data-label='Account']\")]; \
         return [cells.length, cells.filter(c => c.getBoundingClientRect().right > w + 1 || c.offsetParent === null).length];",
    )
    .await;
    assert!(cut[0].as_u64().unwrap() >= 2, "{cut}");
    assert_eq!(cut[1], json!(0), "no column cut off on a phone: {cut}");
    b.screenshot("console-phone").await;
    b.sign_out().await;
    // The customer: the promise in their own time zone, no agent bar.
    b.driver.set_window_rect(0, 0, 1280, 1000).await.unwrap();
    b.sign_in("ops@acme.example", PASSWORD).await;
    b.open(&format!("/cases/{n}")).await;
    let sla = wait_for_text(&b, "#sla", "your time").await;
    assert!(sla.contains("we will answer by"), "{sla}");
    assert!(
        sla.contains("CET") || sla.contains("CEST"),
        "Europe/Berlin: {sla}"
    );
    let times = b.el("ol.timeline").await.text().await.unwrap();
    assert!(
        (times.contains("CET") || times.contains("CEST")) && !times.contains("UTC"),
        "the timeline on the requester's clock: {times}"
    );
    let bars = js(&b, "return document.querySelectorAll('.case-bar').length;").await;
    assert_eq!(bars, json!(0), "the agent's bar is for support");
    b.quit().await;
}

/// The status page reads like a hosted one: a coloured banner, open incidents first with
/// every update and its time, a region × component grid in words and colour, and a
/// subscription for people without an account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_puts_incidents_first_with_their_history_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let r = app
        .post(
            "/api/v1/status/incidents",
            &w.manager,
            json!({"title": "Sign-in errors in the EU", "impact": "partial_outage", "regions": ["eu"],
                   "components": ["sign-in"], "body": "Some sign-ins fail; we are looking into it."}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/status/incidents/{id}/updates"),
            &w.manager,
            json!({"state": "identified", "body": "A faulty deploy; rolling back."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let b = browser(&app.base).await;
    b.open("/status").await;
    let main = wait_for_text(&b, "main", "Open incidents").await;
    let (incidents, grid) = (
        main.find("Open incidents").unwrap(),
        main.find("Components by region").unwrap(),
    );
    assert!(incidents < grid, "incidents before the grid: {main}");
    let card = b.el("article.incident").await.text().await.unwrap();
    assert!(
        card.contains("rolling back") && card.contains("looking into it"),
        "every update: {card}"
    );
    assert!(
        card.matches("UTC").count() >= 3,
        "each update with its time: {card}"
    );
    assert!(
        card.find("rolling back").unwrap() < card.find("looking into it").unwrap(),
        "newest first"
    );
    let colours = js(
        &b,
        "const bg = s => getComputedStyle(document.querySelector(s)).backgroundColor; \
         return [document.querySelector('.status-banner').className, bg('table.status-grid .state-partial'), bg('table.status-grid .state-ok'), document.querySelector('table.status-grid .state-partial').textContent];",
    )
    .await;
    assert!(
        colours[0].as_str().unwrap().contains("state-partial"),
        "{colours}"
    );
    assert_ne!(colours[1], colours[2], "states differ in colour: {colours}");
    assert!(
        colours[3].as_str().unwrap().contains("Partial outage"),
        "and in words: {colours}"
    );
    no_serious_accessibility_problem(&b, "status page").await;
    b.screenshot("status-desktop").await;
    // Without an account: an address and a region, then the promise of a confirmation.
    b.set("email", "watcher@outside.example").await;
    b.el("#anon-eu").await.click().await.unwrap();
    b.submit("form[action='/status/subscribe']").await;
    wait_for_text(&b, "main", "Check your inbox").await;
    let sent = app
        .wait_outbox("the confirmation", |all| {
            all.iter().any(|m| m.contains("watcher@outside.example"))
        })
        .await;
    assert_eq!(sent.len(), 1);
    phone(&b).await;
    b.open("/status").await;
    wait_for_text(&b, "main", "Open incidents").await;
    b.screenshot("status-phone").await;
    b.quit().await;
}

/// Articles by issue area, and from an article the way to a case already in its area.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_knowledge_base_by_area_leads_to_a_case_in_that_area_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    people(&app).await;
    let b = browser(&app.base).await;
    b.sign_in("ops@acme.example", PASSWORD).await;
    b.open("/kb").await;
    let text = wait_for_text(&b, "main", "Tokens and JWKS").await;
    assert!(
        text.contains("Webhooks") && text.contains("Sign-in and redirects"),
        "{text}"
    );
    b.open("/kb?area=tokens-and-jwks").await;
    let area = wait_for_text(&b, "main", "Still stuck?").await;
    assert!(area.contains("JWKS"), "{area}");
    b.open("/kb/clock-skew-tokens").await;
    let href = b
        .el(".still-stuck a")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(href, "/support?issue_area=tokens-and-jwks");
    b.el(".still-stuck a").await.click().await.unwrap();
    wait_for_text(&b, "main", "Describe what is happening").await;
    assert_eq!(
        b.el("#issue_area").await.value().await.unwrap().unwrap(),
        "tokens-and-jwks",
        "the form starts in the article's area"
    );
    no_serious_accessibility_problem(&b, "case form from an article").await;
    b.quit().await;
}

/// The audit trail comes in pages, newest first, with nothing lost or shown twice between
/// pages, and its rows fit a phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_pages_and_fits_a_phone_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    for i in 0..60 {
        app.open_case(&w.ops, acme_case(&format!("Audit filler {i}")))
            .await;
    }
    let b = browser(&app.base).await;
    b.sign_in("mia@support.example", PASSWORD).await;
    b.open("/manage/audit").await;
    let seqs = |b: &Browser| {
        let b = b.driver.clone();
        async move {
            b.execute(
                "return [...document.querySelectorAll(\"table.audit td[data-label='#']\")].map(td => +td.textContent);",
                Vec::<Value>::new(),
            )
            .await
            .unwrap()
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect::<Vec<i64>>()
        }
    };
    let first = seqs(&b).await;
    assert_eq!(first.len(), 50, "a page of 50");
    assert!(
        first.windows(2).all(|w| w[0] > w[1]),
        "newest first: {first:?}"
    );
    b.el("nav.pager a").await.click().await.unwrap();
    wait_for_text(&b, "nav.pager", "Newest entries").await;
    let second = seqs(&b).await;
    assert!(!second.is_empty());
    assert_eq!(
        second[0],
        first[49] - 1,
        "the next page starts where the first ended"
    );
    phone(&b).await;
    b.open("/manage/audit").await;
    let overflow = js(
        &b,
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
    )
    .await;
    assert!(
        overflow.as_i64().unwrap() <= 1,
        "no sideways scrolling on a phone: {overflow}"
    );
    b.screenshot("audit-phone").await;
    b.quit().await;
}

/// A webhook endpoint is edited, disabled and enabled, given a new secret and deleted from
/// its page (these were API-only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_edited_disabled_rotated_and_deleted_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let r = app
        .post(
            "/api/v1/webhooks",
            &w.manager,
            json!({"url": "https://hooks.example/casedesk", "event_types": ["case.assigned"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let b = browser(&app.base).await;
    b.sign_in("mia@support.example", PASSWORD).await;
    b.open(&format!("/manage/webhooks/{id}")).await;
    assert_eq!(
        b.el("#url").await.value().await.unwrap().unwrap(),
        "https://hooks.example/casedesk",
        "the form starts from the endpoint"
    );
    b.set("description", "Our ticket bridge").await;
    b.submit(&format!("form[action='/manage/webhooks/{id}']"))
        .await;
    wait_for_text(&b, "main", "Saved.").await;
    let ep = app.get(&format!("/api/v1/webhooks/{id}"), &w.manager).await;
    assert_eq!(ep.json["description"], "Our ticket bridge");
    assert_eq!(
        ep.json["event_types"],
        json!(["case.assigned"]),
        "the events stay"
    );
    b.submit(&format!("form[action='/manage/webhooks/{id}/enabled']"))
        .await;
    wait_for_text(&b, "main", "Disabled").await;
    assert_eq!(
        app.get(&format!("/api/v1/webhooks/{id}"), &w.manager)
            .await
            .json["enabled"],
        false
    );
    b.submit(&format!("form[action='/manage/webhooks/{id}/enabled']"))
        .await;
    wait_for_text(&b, "main", "Enabled").await;
    b.submit(&format!("form[action='/manage/webhooks/{id}/rotate']"))
        .await;
    let secret = wait_for_text(&b, "main", "shown this once").await;
    assert!(secret.contains("whsec_"), "{secret}");
    no_serious_accessibility_problem(&b, "webhook endpoint").await;
    b.el("#ep-confirm").await.click().await.unwrap();
    b.submit(&format!("form[action='/manage/webhooks/{id}/delete']"))
        .await;
    assert_eq!(b.path().await, "/manage/webhooks");
    assert_eq!(
        app.get(&format!("/api/v1/webhooks/{id}"), &w.manager)
            .await
            .status,
        404
    );
    b.quit().await;
}

/// The agent's composer: one box with a public/internal switch (an internal note looks like
/// one), saved replies written by managers and filled from the case, a searchable article
/// picker; the console counts its views and assigns several cases at once; `/manage` opens on
/// what needs attention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composer_saved_replies_and_bulk_assign_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let n = app.open_case(&w.ops, acme_case("Composer case")).await;
    let second = app.open_case(&w.ops, acme_case("Second unassigned")).await;
    let third = app.open_case(&w.ops, acme_case("Third unassigned")).await;
    let hook = app
        .post(
            "/api/v1/webhooks",
            &w.manager,
            json!({"url": "https://hooks.example/broken", "event_types": ["case.assigned"]}),
        )
        .await;
    let hook_id = hook.json["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/webhooks/{hook_id}"),
            Some(&w.manager),
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);

    let b = browser(&app.base).await;
    b.sign_in("mia@support.example", PASSWORD).await;
    b.open("/manage").await;
    let home = wait_for_text(&b, "main", "Needs attention").await;
    assert!(
        home.contains("hooks.example/broken") && home.contains("disabled"),
        "{home}"
    );
    b.open("/manage/replies").await;
    // Blank to the server (the browser takes spaces as filled in).
    b.set("title", "   ").await;
    b.set(
        "body",
        "Hello {requester}, please attach a HAR capture for {case}. — {agent}",
    )
    .await;
    b.submit("form[action='/manage/replies']:has(#title)").await;
    wait_for_text(&b, "main", "Nothing was saved or sent").await;
    assert!(
        b.el("#body")
            .await
            .value()
            .await
            .unwrap()
            .unwrap()
            .contains("HAR capture"),
        "the text stays after the refusal"
    );
    b.set("title", "Ask for a HAR").await;
    b.submit("form[action='/manage/replies']:has(#title)").await;
    wait_for_text(&b, "main", "Saved: Ask for a HAR").await;
    no_serious_accessibility_problem(&b, "saved replies").await;
    b.sign_out().await;

    b.sign_in("ana@support.example", PASSWORD).await;
    b.open(&format!("/cases/{n}")).await;
    b.el("#insert-saved").await.click().await.unwrap();
    let text = b.el("#write-body").await.value().await.unwrap().unwrap();
    assert_eq!(
        text,
        format!(
            "Hello ops@acme.example, please attach a HAR capture for #{n}. — ana@support.example"
        ),
        "inserted and filled from the case, without leaving the page"
    );
    b.el("#write-as-note").await.click().await.unwrap();
    let bg = js(
        &b,
        "return getComputedStyle(document.getElementById('write-body')).backgroundColor;",
    )
    .await;
    assert_eq!(
        bg,
        json!("rgb(255, 247, 224)"),
        "an internal note looks like one"
    );
    b.el("#write-as-reply").await.click().await.unwrap();
    let title = app
        .get("/api/v1/kb/entries/clock-skew-tokens", &w.agent)
        .await
        .json["title"]
        .as_str()
        .unwrap()
        .to_owned();
    b.driver
        .execute(
            "document.getElementById('article-pick').value = arguments[0];",
            vec![json!(title)],
        )
        .await
        .unwrap();
    b.el("#insert-article").await.click().await.unwrap();
    let text = b.el("#write-body").await.value().await.unwrap().unwrap();
    assert!(text.contains("/kb/clock-skew-tokens"), "{text}");
    no_serious_accessibility_problem(&b, "the composer").await;
    b.submit("#write-form").await;
    let timeline = wait_for_text(&b, "ol.timeline", "HAR capture").await;
    assert!(
        timeline.contains("Reply"),
        "sent as a public reply: {timeline}"
    );

    // The console: counts per view, several cases assigned at once.
    b.open("/console?view=unassigned").await;
    let tabs = b.el("ul.tabs").await.text().await.unwrap();
    assert!(
        tabs.contains("Unassigned (3)") && tabs.contains("Mine (0)"),
        "{tabs}"
    );
    for c in [second, third] {
        b.el(&format!("input[name='case'][value='{c}']"))
            .await
            .click()
            .await
            .unwrap();
    }
    b.submit("#bulk").await;
    let notice = wait_for_text(&b, "main", "assigned").await;
    assert!(notice.contains("2 case(s) assigned"), "{notice}");
    let tabs = b.el("ul.tabs").await.text().await.unwrap();
    assert!(
        tabs.contains("Mine (2)") && tabs.contains("Unassigned (1)"),
        "{tabs}"
    );
    let mine = app
        .get(&format!("/api/v1/cases/{second}"), &w.agent)
        .await
        .json;
    assert_eq!(mine["assignee"], "ana@support.example");
    no_serious_accessibility_problem(&b, "console with bulk assign").await;
    b.screenshot("console-desktop").await;
    // Support only: the replies screen and the composer's inserts are not for others.
    let r = b
        .driver
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch('/manage/replies').then(r => done(r.status));",
            Vec::<Value>::new(),
        )
        .await
        .unwrap()
        .json()
        .clone();
    assert_eq!(
        r,
        json!(403),
        "agents insert saved replies; managers write them"
    );
    b.sign_out().await;
    b.sign_in("ops@acme.example", PASSWORD).await;
    b.open(&format!("/cases/{n}")).await;
    let page = wait_for_text(&b, "main", "HAR capture").await;
    assert!(
        !page.contains("Saved reply") && !page.contains("Who sees it"),
        "{page}"
    );
    b.quit().await;
}

/// Without the script and across accounts: a saved reply comes with the page, bulk assign
/// counts a case the agent may not touch as not assigned (and assigns nothing of another
/// queue), and saved replies and bulk assign are support's alone.
async fn the_workspace_keeps_to_its_people_without_the_script(be: Backend) {
    let app = spawn_app(be).await;
    let w = people(&app).await;
    let n = app.open_case(&w.ops, acme_case("Plain case")).await;
    // A commerce case: outside Ana's queues.
    let mut other = acme_case("Licensing question");
    other["issue_area"] = json!("marketplace-and-licensing");
    other["stage"] = json!("advanced");
    other["identifiers"] =
        json!({"product": "device-trust", "availability": "ga", "entitlement_id": "ent_1"});
    let elsewhere = app.open_case(&w.ops, other).await;
    let (mgr, token) = crate::web_ui::signed_in(&app, "mia@support.example").await;
    let r = mgr
        .post(format!("{}/manage/replies", app.base))
        .form(&[
            ("csrf", token.as_str()),
            ("title", "Greeting"),
            ("body", "Hi {requester}, about {case}."),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = mgr
        .get(format!("{}/manage/replies", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let id = page
        .split("name=\"id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let (ana, ana_token) = crate::web_ui::signed_in(&app, "ana@support.example").await;
    let page = ana
        .get(format!("{}/cases/{n}?saved={id}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Hi ops@acme.example, about #"),
        "the saved reply comes with the page"
    );
    let r = ana
        .post(format!("{}/console/assign", app.base))
        .form(&[
            ("csrf", ana_token.as_str()),
            ("assignee", "me"),
            ("case", &n.to_string()),
            ("case", &elsewhere.to_string()),
            ("back", "/console?view=unassigned"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.ends_with("assigned=1&failed=1"), "{to}");
    assert_eq!(
        app.get(&format!("/api/v1/cases/{n}"), &w.agent).await.json["assignee"],
        "ana@support.example"
    );
    assert!(
        app.get(&format!("/api/v1/cases/{elsewhere}"), &w.manager)
            .await
            .json["assignee"]
            .is_null(),
        "a case of another queue is not assigned"
    );
    // Not another site's address to send people to.
    let r = ana
        .post(format!("{}/console/assign", app.base))
        .form(&[
            ("csrf", ana_token.as_str()),
            ("assignee", "me"),
            ("case", &n.to_string()),
            ("back", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/console?view=mine&"),
        "{:?}",
        r.headers()
    );
    assert_eq!(
        ana.get(format!("{}/manage/replies", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let (ops, ops_token) = crate::web_ui::signed_in(&app, "ops@acme.example").await;
    let r = ops
        .post(format!("{}/console/assign", app.base))
        .form(&[
            ("csrf", ops_token.as_str()),
            ("assignee", "me"),
            ("case", &n.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The same case twice, or already theirs: one change, not two.
    for _ in 0..2 {
        ana.post(format!("{}/console/assign", app.base))
            .form(&[
                ("csrf", ana_token.as_str()),
                ("assignee", "me"),
                ("case", &n.to_string()),
                ("case", &n.to_string()),
            ])
            .send()
            .await
            .unwrap();
    }
    let events = app
        .get(&format!("/api/v1/cases/{n}/events"), &w.agent)
        .await
        .json;
    let assigned = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "assigned")
        .count();
    assert_eq!(assigned, 1, "{events}");
    // As Acme's customer success manager, Ana reads Acme's case of another queue: its page
    // opens (it once answered 404 while her console listed it).
    assert_eq!(
        ana.get(format!("{}/cases/{elsewhere}", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    casedesk_core::admin::set_account(
        app.store.as_ref(),
        "Acme",
        &casedesk_core::admin::AccountChange {
            csm: Some(Some("ana@support.example".into())),
            copy_requester: None,
        },
        &casedesk_testkit::actor(),
    )
    .await
    .unwrap();
    let r = ana
        .get(format!("{}/cases/{elsewhere}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Licensing question"));
    // A refused new secret leaves the endpoint's settings on the page as they are.
    let hook = app
        .post(
            "/api/v1/webhooks",
            &w.manager,
            json!({"url": "https://hooks.example/x", "event_types": ["case.assigned"]}),
        )
        .await;
    let hook = hook.json["id"].as_str().unwrap().to_owned();
    let page = mgr
        .post(format!("{}/manage/webhooks/{hook}/rotate", app.base))
        .form(&[("csrf", token.as_str()), ("overlap_hours", "abc")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"value="https://hooks.example/x""#),
        "the settings stay: {page}"
    );
    // A report period that cannot be read is said at its field, with what was typed.
    let r = mgr
        .get(format!(
            "{}/manage/reports?since=not-a-date&until=2026-01-01",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains(r#"id="since-error""#) && page.contains(r#"value="not-a-date""#),
        "{page}"
    );
    // A queue or an issue area that is not one is not a page.
    assert_eq!(
        ana.get(format!("{}/console?view=queue&queue=<b>x</b>", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.client
            .get(format!("{}/kb?area=Call+us+now", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let page = ops
        .get(format!("{}/cases/{n}?saved={id}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("Hi ops@acme.example, about"),
        "no saved reply for customers"
    );
    let r = ops
        .post(format!("{}/manage/replies", app.base))
        .form(&[
            ("csrf", ops_token.as_str()),
            ("title", "Mine"),
            ("body", "text"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
casedesk_testkit::both!(the_workspace_keeps_to_its_people_without_the_script);

/// SLA administration by fields (it was JSON text): the built-in calendars are listed and
/// can be overridden, a calendar is chosen per account, and the settings are a number, a box
/// and the managers to tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendars_and_sla_settings_are_fields_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let b = browser(&app.base).await;
    b.sign_in("mia@support.example", PASSWORD).await;
    b.open("/manage/sla").await;
    let listed = wait_for_text(&b, "main", "Calendars").await;
    for built_in in ["americas ·", "eu ·", "apac ·"] {
        assert!(listed.contains(built_in), "{built_in} listed: {listed}");
    }
    open_details(&b, "eu ·").await;
    assert_eq!(
        b.el("#eu-mon").await.value().await.unwrap().unwrap(),
        "08:00-18:00",
        "the built-in hours to start from"
    );
    b.set("eu.sat", "10:00-14:00").await;
    b.submit("form[action='/manage/sla/calendar']:has(#eu-sat)")
        .await;
    wait_for_text(&b, "main", "Calendar eu saved").await;
    let versions = app.store.calendar_versions("eu").await.unwrap();
    assert!(versions[0].1.contains("10:00-14:00"), "{versions:?}");
    // Acme counts on the Americas calendar from now on.
    b.set("calendar", "americas").await;
    b.submit("form[action='/manage/sla/account-calendar']")
        .await;
    wait_for_text(&b, "main", "Acme now counts on americas").await;
    let account = app.store.find_account("Acme").await.unwrap().unwrap();
    assert_eq!(
        app.store
            .account_calendar(account.id)
            .await
            .unwrap()
            .as_deref(),
        Some("americas")
    );
    // Settings: a refused number keeps what was ticked; a good one is saved.
    b.set("warning_percent", "150").await;
    b.el("#on_hold_pauses").await.click().await.unwrap();
    b.submit("form[action='/manage/sla/settings']").await;
    wait_for_text(&b, "main", "Nothing was saved or sent").await;
    let ticked = js(
        &b,
        "return document.getElementById('on_hold_pauses').checked;",
    )
    .await;
    assert_eq!(ticked, json!(true));
    b.set("warning_percent", "90").await;
    b.el("input[name='duty_managers'][value='mia@support.example']")
        .await
        .click()
        .await
        .unwrap();
    b.submit("form[action='/manage/sla/settings']").await;
    wait_for_text(&b, "main", "SLA settings saved").await;
    let settings = app.get("/api/v1/sla/settings", &w.manager).await.json;
    assert_eq!(settings["warning_percent"], 90, "{settings}");
    assert_eq!(settings["on_hold_pauses"], true);
    assert_eq!(settings["duty_managers"], json!(["mia@support.example"]));
    // Only managers are duty managers: they hear of every account's warnings and breaches.
    let r = app
        .put(
            "/api/v1/sla/settings",
            &w.manager,
            json!({"duty_managers": ["ops@acme.example"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_fields()),
        (422, vec!["duty_managers".to_owned()])
    );
    // A new calendar never replaces one.
    open_details(&b, "New calendar").await;
    b.set("new.name", "eu").await;
    b.set("new.time_zone", "UTC").await;
    b.set("new.mon", "00:00-01:00").await;
    b.submit("form[action='/manage/sla/calendar']:has(#new-name)")
        .await;
    wait_for_text(&b, "main", "exists already").await;
    assert_eq!(
        app.store.calendar_versions("eu").await.unwrap().len(),
        1,
        "eu kept"
    );
    no_serious_accessibility_problem(&b, "SLA administration").await;
    b.screenshot("sla-admin").await;
    b.quit().await;
}

/// Every main page as each person, at desktop and phone width: no serious axe-core finding,
/// no sideways scrolling on a phone, no raw JSON on a page. Its screenshots make the README's
/// tour (`CASEDESK_TOUR_DIR=docs/tour` writes them there too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_main_page_as_each_person_at_both_widths_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    set_password(&app, "owner@acme.example").await;
    let n = app
        .open_case(&w.ops, acme_case("Sign-in loops after the redirect"))
        .await;
    app.post(
        &format!("/api/v1/cases/{n}/replies"),
        &w.agent,
        json!({"body": "Looking at it now."}),
    )
    .await;
    app.post(
        "/api/v1/status/incidents",
        &w.manager,
        json!({"title": "Slow token issuance in the EU", "impact": "degraded", "regions": ["eu"],
               "components": ["sign-in"], "body": "Token requests take a few seconds; we are on it."}),
    )
    .await;
    let history = vec![
        past(&app, "webhooks", Priority::P2, 5, Some(40), false).await,
        past(&app, "tokens-and-jwks", Priority::P3, 9, Some(300), true).await,
    ];
    app.store.import_history(&history).await.unwrap();
    let tour = std::env::var("CASEDESK_TOUR_DIR").ok();
    let pages: Vec<(Option<&str>, Vec<String>)> = vec![
        (
            None,
            vec![
                "/status".into(),
                "/kb".into(),
                "/kb/clock-skew-tokens".into(),
                "/support/routes".into(),
                "/auth/login".into(),
            ],
        ),
        (
            Some("ops@acme.example"),
            vec![
                "/support".into(),
                "/cases".into(),
                format!("/cases/{n}"),
                "/trust".into(),
            ],
        ),
        (
            Some("ana@support.example"),
            vec![
                "/console".into(),
                "/console?view=unassigned".into(),
                format!("/cases/{n}"),
                "/cases".into(),
                "/console/held".into(),
            ],
        ),
        (
            Some("mia@support.example"),
            vec![
                "/manage".into(),
                "/manage/users".into(),
                "/manage/accounts".into(),
                "/manage/sla".into(),
                "/manage/webhooks".into(),
                "/manage/jobs".into(),
                "/manage/audit".into(),
                "/manage/reports".into(),
                "/manage/replies".into(),
                "/manage/kb".into(),
                "/manage/incidents".into(),
                "/manage/queues".into(),
                "/manage/trust".into(),
            ],
        ),
        (
            Some("owner@acme.example"),
            vec![
                "/manage".into(),
                "/manage/users".into(),
                "/manage/webhooks".into(),
                "/manage/audit".into(),
            ],
        ),
    ];
    let b = browser(&app.base).await;
    for (who, paths) in &pages {
        if let Some(email) = who {
            b.sign_in(email, PASSWORD).await;
        }
        for (width, height, label) in [(1280u32, 1000u32, "desktop"), (390, 844, "phone")] {
            b.driver.set_window_rect(0, 0, width, height).await.unwrap();
            for path in paths {
                b.open(path).await;
                b.el("main h1").await;
                let page = format!("{path} as {} at {label}", who.unwrap_or("a visitor"));
                no_serious_accessibility_problem(&b, &page).await;
                let text = b.text().await;
                assert!(
                    !text.contains("{\"") && !text.contains("\":"),
                    "raw JSON on {page}: {text}"
                );
                if width < 500 {
                    let overflow = js(&b, "return document.documentElement.scrollWidth - document.documentElement.clientWidth;").await;
                    assert!(
                        overflow.as_i64().unwrap() <= 1,
                        "sideways scrolling on {page}: {overflow}"
                    );
                }
                let role = who
                    .map(|e| e.split('@').next().unwrap_or("x"))
                    .unwrap_or("visitor");
                let name = format!(
                    "tour-{role}-{}-{label}",
                    path.trim_start_matches('/')
                        .replace(['/', '?', '='], "-")
                        .trim_end_matches('-')
                );
                b.screenshot(&name).await;
                if let Some(dir) = &tour {
                    let _ = std::fs::create_dir_all(dir);
                    b.driver
                        .screenshot(&std::path::Path::new(dir).join(format!("{name}.png")))
                        .await
                        .unwrap();
                }
            }
        }
        b.driver.set_window_rect(0, 0, 1280, 1000).await.unwrap();
        if who.is_some() {
            b.sign_out().await;
        }
    }
    b.quit().await;
}

async fn set_password(app: &TestApp, email: &str) {
    crate::signin::set_password(app, email, PASSWORD).await;
}
