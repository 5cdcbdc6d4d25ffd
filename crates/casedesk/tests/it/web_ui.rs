//! The web UI: a real headless Chromium drives the customer portal, the agent console and
//! the manager screens (screenshots under target/test-artifacts/screenshots, axe-core on
//! the main pages); plain HTTP checks that the main paths work without the script and that
//! no page shows another account's case.

use std::time::Duration;

use casedesk_core::kb;
use casedesk_testkit::browser::thirtyfour::prelude::*;
use casedesk_testkit::browser::{Browser, browser};
use casedesk_testkit::{Backend, TestApp, acme_case, actor, both, globex_case, spawn_app};

use crate::signin::set_password;

pub(crate) const PASSWORD: &str = "a long enough password";

pub(crate) async fn people(app: &TestApp) -> casedesk_testkit::World {
    let w = app.world().await;
    kb::import(app.store.as_ref(), &actor(), &kb::starter_files())
        .await
        .unwrap();
    for email in [
        "ops@acme.example",
        "viewer@acme.example",
        "ops@globex.example",
        "ana@support.example",
        "mia@support.example",
    ] {
        set_password(app, email, PASSWORD).await;
    }
    w
}

pub(crate) async fn no_serious_accessibility_problem(b: &Browser, page: &str) {
    let problems = b.accessibility_problems().await;
    assert!(
        problems.is_empty(),
        "axe-core found serious problems on {page}: {problems:#?}"
    );
}

pub(crate) async fn wait_for_text(b: &Browser, css: &str, what: &str) -> String {
    for _ in 0..100 {
        let t = b.el(css).await.text().await.unwrap_or_default();
        if t.contains(what) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {what:?}: {}", b.text().await);
}

pub(crate) async fn open_details(b: &Browser, summary: &str) {
    let found = b
        .driver
        .execute(
            "const s = [...document.querySelectorAll('summary')].find(s => s.textContent.includes(arguments[0]));\
             if (!s) return false; s.parentElement.open = true; return true;",
            vec![serde_json::json!(summary)],
        )
        .await
        .unwrap();
    assert_eq!(
        found.json(),
        &serde_json::json!(true),
        "no section {summary}"
    );
}

async fn submit(b: &Browser, form: &str) {
    b.submit(form).await;
}

// Several threads: a failing step must not leave WebDriver's teardown blocking the only one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_goes_from_the_portal_through_the_console_to_closed_in_a_real_browser() {
    let started = std::time::Instant::now();
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let globex_subject = "Globex private: SCIM token rotation";
    let globex_n = app.open_case(&w.globex, globex_case(globex_subject)).await;
    eprintln!("world ready after {:?}", started.elapsed());
    let b = browser(&app.base).await;
    eprintln!("browser ready after {:?}", started.elapsed());

    // The customer signs in and lands on Get support.
    b.sign_in("ops@acme.example", PASSWORD).await;
    assert_eq!(b.path().await, "/support");
    // Keyboard: the first Tab reaches the skip link, which is visible when focused.
    b.driver
        .action_chain()
        .send_keys(Key::Tab)
        .perform()
        .await
        .unwrap();
    let focused = b
        .driver
        .execute(
            "const a = document.activeElement; return [a.className, getComputedStyle(a).outlineStyle, a.getBoundingClientRect().left >= 0];",
            Vec::<serde_json::Value>::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        focused.json(),
        &serde_json::json!(["skip", "solid", true]),
        "the skip link takes the first Tab and shows its focus"
    );
    b.screenshot("01-get-support").await;
    no_serious_accessibility_problem(&b, "Get support").await;

    // A suggestion appears while the subject is typed.
    b.type_into(
        "#subject",
        "Sign-in fails with redirect_uri_mismatch after login",
    )
    .await;
    let suggestions = wait_for_text(&b, "#suggestions", "redirect_uri_mismatch").await;
    assert!(suggestions.contains("This solved it"), "{suggestions}");
    b.screenshot("02-suggestions").await;

    // Everything but the phone: the form comes back with the error at that field.
    b.type_into(
        "#description",
        "Users get redirect_uri_mismatch (AUTH-4001) after the consent screen.",
    )
    .await;
    for (name, value) in [
        ("priority", "P2"),
        ("tenant", "acme-prod"),
        ("issue_area", "sign-in-and-redirects"),
        ("scope", "some_users"),
        ("contact.timezone", "Europe/Berlin"),
        ("stage", "onboarding"),
        ("identifiers.organization_id", "org_123"),
        ("identifiers.application_key", "app_abc"),
        ("identifiers.client_purpose", "interactive_web"),
        (
            "identifiers.redirect_uri",
            "https://app.acme.example/callback",
        ),
        ("identifiers.error_message", "redirect_uri_mismatch"),
        // A fixed past instant, chosen for the zone conversion checked below (CET, UTC+1);
        // a past time never expires.
        ("identifiers.occurred_at", "2026-11-20T14:03"),
    ] {
        b.set(name, value).await;
    }
    // The production identifiers are hidden while onboarding is chosen.
    let hidden = b
        .driver
        .execute(
            "return document.querySelector('fieldset[data-stage=production]').hidden",
            Vec::<serde_json::Value>::new(),
        )
        .await
        .unwrap();
    assert_eq!(hidden.json(), &serde_json::json!(true));
    b.el("#checklist-tenant_registered")
        .await
        .click()
        .await
        .unwrap();
    submit(&b, "#case-form").await;
    let error = b.el("#contact-phone-error").await.text().await.unwrap();
    assert!(error.contains("Please fill this in"), "{error}");
    let phone = b.el("#contact-phone").await;
    assert_eq!(
        phone.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        phone.attr("aria-describedby").await.unwrap().as_deref(),
        Some("contact-phone-hint contact-phone-error")
    );
    b.screenshot("03-form-error").await;
    no_serious_accessibility_problem(&b, "the form with an error").await;
    // What was typed is kept.
    assert_eq!(
        b.el("#subject").await.value().await.unwrap().as_deref(),
        Some("Sign-in fails with redirect_uri_mismatch after login")
    );
    b.type_into("#contact-phone", "+49 30 1234567").await;
    submit(&b, "#case-form").await;
    let number: i64 = b
        .el("#case-number")
        .await
        .text()
        .await
        .unwrap()
        .trim_start_matches('#')
        .parse()
        .unwrap();
    b.screenshot("04-confirmation").await;
    let stored = app
        .get(&format!("/api/v1/cases/{number}"), &w.ops)
        .await
        .json;
    assert_eq!(stored["contact"]["phone"], "+49 30 1234567");
    assert_eq!(
        stored["identifiers"]["occurred_at"], "2026-11-20T13:03:00Z",
        "the local time is read in the requester's zone"
    );
    assert_eq!(stored["checklist"]["tenant_registered"], true);
    assert_eq!(stored["checklist"]["jwks_validation"], false);

    // My cases: the new case, never Globex's, not even by search.
    b.open("/cases").await;
    let mine = b.text().await;
    assert!(mine.contains(&format!("#{number}")) && !mine.contains(globex_subject));
    b.open("/cases?q=SCIM+token+rotation").await;
    assert!(!b.text().await.contains(globex_subject));
    b.open(&format!("/cases/{globex_n}")).await;
    assert!(
        b.text()
            .await
            .contains("There is no case here that you can see")
    );
    b.open("/cases").await;
    b.screenshot("05-my-cases").await;
    no_serious_accessibility_problem(&b, "My cases").await;
    b.open(&format!("/cases/{number}")).await;
    b.screenshot("06-customer-case").await;
    no_serious_accessibility_problem(&b, "the customer's case page").await;
    for page in ["/kb", "/kb/redirect-uri-mismatch", "/status"] {
        b.open(page).await;
        no_serious_accessibility_problem(&b, page).await;
    }
    b.screenshot("07-status").await;
    b.sign_out().await;

    // The agent finds it among the unassigned cases, replies and proposes a resolution.
    b.sign_in("ana@support.example", PASSWORD).await;
    assert_eq!(b.path().await, "/console");
    b.open("/console?view=unassigned").await;
    let link = b.el(&format!("a[href='/cases/{number}']")).await;
    assert!(
        b.el("time.due")
            .await
            .text()
            .await
            .unwrap()
            .starts_with("in ")
    );
    b.screenshot("08-queue").await;
    no_serious_accessibility_problem(&b, "the queue").await;
    link.click().await.unwrap();
    b.el("main h1").await;
    submit(&b, "form[action$='/act/assign']").await;
    wait_for_text(&b, "#facts", "ana@support.example").await;
    b.open("/console?view=mine").await;
    b.el(&format!("a[href='/cases/{number}']"))
        .await
        .click()
        .await
        .unwrap();
    b.el("main h1").await;
    b.el("#write-body").await;
    b.screenshot("09-workspace").await;
    no_serious_accessibility_problem(&b, "the agent's workspace").await;
    b.el("#write-as-note").await.click().await.unwrap();
    b.type_into(
        "#write-body",
        "Checked the registered URIs; the trailing slash differs.",
    )
    .await;
    submit(&b, "#write-form").await;
    wait_for_text(&b, "ol.timeline", "trailing slash differs").await;
    b.type_into(
        "#write-body",
        "The registered URI ends with a slash; the app sends none.",
    )
    .await;
    submit(&b, "#write-form").await;
    wait_for_text(&b, "ol.timeline", "app sends none").await;
    b.el("#write-as-propose").await.click().await.unwrap();
    b.type_into(
        "#write-body",
        "Register https://app.acme.example/callback without the slash.",
    )
    .await;
    submit(&b, "#write-form").await;
    wait_for_text(&b, "#facts", "solved").await;
    b.screenshot("10-proposed").await;
    b.sign_out().await;

    // The customer sees the reply but not the internal note, and confirms: closed.
    b.sign_in("ops@acme.example", PASSWORD).await;
    b.open(&format!("/cases/{number}")).await;
    let page = b.text().await;
    assert!(page.contains("app sends none") && !page.contains("trailing slash differs"));
    submit(&b, "form[action$='/act/confirm']").await;
    wait_for_text(&b, "#facts", "closed").await;
    assert!(b.text().await.contains("read-only"));
    b.screenshot("11-closed").await;
    assert_eq!(
        app.get(&format!("/api/v1/cases/{number}"), &w.ops)
            .await
            .json["status"],
        "closed"
    );

    // On a phone, the case page fits the screen.
    b.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    let fits = b
        .driver
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth",
            Vec::<serde_json::Value>::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        fits.json(),
        &serde_json::json!(true),
        "no sideways scrolling on a phone"
    );
    b.screenshot("12-phone-case").await;
    b.driver.set_window_rect(0, 0, 1280, 1000).await.unwrap();
    b.sign_out().await;

    // An admin without case-admin is told which permission is missing and who grants it.
    b.sign_in("viewer@acme.example", PASSWORD).await;
    let refused = b.text().await;
    assert!(
        refused.contains("case-admin permission") && refused.contains("super admin"),
        "{refused}"
    );
    b.open(&format!("/cases/{number}")).await;
    assert!(b.text().await.contains("case-admin permission"));
    b.screenshot("13-missing-permission").await;
    b.sign_out().await;

    // Globex's admin never sees Acme's case.
    b.sign_in("ops@globex.example", PASSWORD).await;
    b.open(&format!("/cases/{number}")).await;
    assert!(
        b.text()
            .await
            .contains("There is no case here that you can see")
    );
    b.open("/cases").await;
    assert!(!b.text().await.contains(&format!("#{number}")));
    b.sign_out().await;

    // The manager's screens.
    b.sign_in("mia@support.example", PASSWORD).await;
    for (i, (path, marker)) in [
        ("/manage/users", "Invite a user"),
        ("/manage/sla", "SLA policies by plan and priority"),
        ("/manage/queues", "Routing"),
        ("/manage/kb", "New entry"),
        (
            "/manage/kb/edit?id=redirect-uri-mismatch",
            "Who may read it",
        ),
        ("/manage/incidents", "Open an incident"),
        ("/manage/webhooks", "Add an endpoint"),
        ("/manage/jobs", "By kind and state"),
        ("/manage/audit", "Export this period"),
        ("/manage/reports", "SLA met, by plan"),
    ]
    .into_iter()
    .enumerate()
    {
        b.open(path).await;
        let text = b.text().await;
        assert!(text.contains(marker), "{path}: {text}");
        let name = path
            .trim_start_matches("/manage/")
            .replace(['/', '?', '='], "-");
        b.screenshot(&format!("{:02}-manage-{name}", 14 + i)).await;
        no_serious_accessibility_problem(&b, path).await;
    }
    // The report counts the case and draws its charts.
    b.open("/manage/reports").await;
    b.el("svg.cols-svg rect").await;
    b.el("ul.bar-list svg.bar rect").await;
    b.quit().await;
}

/// The main paths with forms only (no script), and every page route refusing other
/// accounts.
async fn pages_work_without_the_script_and_keep_accounts_apart(be: Backend) {
    let app = spawn_app(be).await;
    let w = people(&app).await;
    let acme_n = app.open_case(&w.ops, acme_case("Acme private")).await;
    let c = crate::signin::browser();
    let csrf = crate::signin::csrf_of(&c, &app).await;
    let r = crate::signin::sign_in(&c, &app, &csrf, "ops@globex.example", PASSWORD).await;
    assert_eq!(r.status(), 303);
    let page = c.get(format!("{}/support", app.base)).send().await.unwrap();
    let html = page.text().await.unwrap();
    let token = crate::signin::csrf_in(&html);
    assert!(html.contains("globex-prod") && !html.contains("acme-prod"));

    // Another account's case: 404 on every page route, and nothing changes.
    for path in [
        format!("/cases/{acme_n}"),
        format!("/cases/{acme_n}/created"),
        format!("/cases/{acme_n}/files/00000000-0000-0000-0000-000000000000"),
    ] {
        let r = c.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(!r.text().await.unwrap().contains("Acme private"));
    }
    for (path, field, value) in [
        ("act/reply", "reply.body", "hello"),
        ("act/escalate", "escalate.reason", "now"),
        ("diagnose/redirect", "used", "https://x.example/cb"),
    ] {
        let r = c
            .post(format!("{}/cases/{acme_n}/{path}", app.base))
            .form(&[
                ("csrf", token.as_str()),
                (field, value),
                ("registered", "https://x.example/cb"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let files = reqwest::multipart::Form::new()
        .text("csrf", token.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"log".to_vec()).file_name("a.log"),
        );
    let r = c
        .post(format!("{}/cases/{acme_n}/files", app.base))
        .multipart(files)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let events = app
        .get(&format!("/api/v1/cases/{acme_n}/events"), &w.ops)
        .await
        .json;
    assert_eq!(
        events["items"].as_array().map(Vec::len),
        Some(1),
        "{events}"
    );
    let list = c
        .get(format!("{}/cases?q=private", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains("Acme private"));

    // Without the form's token, nothing is done.
    let form = reqwest::multipart::Form::new().text("subject", "x");
    let r = c
        .post(format!("{}/support", app.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The form, posted as a browser without the script posts it: every stage's fields are
    // sent, only the chosen stage's count. A missing field comes back at its place.
    let review_needed_by = casedesk_testkit::date_in_days(30);
    let fields = |phone: &str| {
        let mut f = reqwest::multipart::Form::new();
        for (k, v) in [
            ("csrf", token.as_str()),
            ("subject", "Token endpoint answers invalid_client"),
            (
                "description",
                "Client credentials fail with invalid_client since Monday.",
            ),
            ("priority", "P3"),
            ("tenant", "globex-prod"),
            ("issue_area", "sign-in-and-redirects"),
            ("scope", "one_user"),
            ("contact.email", "ops@globex.example"),
            ("contact.phone", phone),
            ("contact.timezone", "America/New_York"),
            ("stage", "production"),
            ("identifiers.organization_id", "ignored for production"),
            ("identifiers.environment", "production"),
            ("identifiers.deployment_model", "cloud"),
            ("identifiers.review_needed_by", review_needed_by.as_str()),
            ("context.frequency", "every_time"),
            ("checklist.jwks_validation", "true"),
        ] {
            f = f.text(k.to_owned(), v.to_owned());
        }
        f.part(
            "file",
            reqwest::multipart::Part::bytes(Vec::new()).file_name(""),
        )
    };
    let r = c
        .post(format!("{}/support", app.base))
        .multipart(fields(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"<span class="field-error" id="contact-phone-error">"#),
        "{html}"
    );
    assert!(
        html.contains("Client credentials fail with invalid_client"),
        "values are kept"
    );
    let incident = app
        .post(
            "/api/v1/status/incidents",
            &w.manager,
            serde_json::json!({"title": "Hosted login slow", "impact": "degraded",
                "body": "Sign-in pages load slowly.", "components": ["sign-in"]}),
        )
        .await;
    assert_eq!(incident.status, 201, "{}", incident.json);
    let r = c
        .post(format!("{}/support", app.base))
        .multipart(fields("+1 212 555 0100"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let n: i64 = to
        .trim_start_matches("/cases/")
        .trim_end_matches("/created")
        .parse()
        .unwrap();
    // The confirmation offers the matching incident; linking it shows on the case.
    let confirmation = c
        .get(format!("{}{to}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        confirmation.contains("This may be a known incident")
            && confirmation.contains("Hosted login slow")
    );
    let r = c
        .post(format!("{}/cases/{n}/incident", app.base))
        .form(&[
            ("csrf", token.as_str()),
            ("incident_id", incident.json["id"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = c
        .get(format!("{}/cases/{n}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Hosted login slow</a> (investigating)"),
        "{page}"
    );
    let r = c
        .post(format!("{}/cases/{acme_n}/incident", app.base))
        .form(&[
            ("csrf", token.as_str()),
            ("incident_id", incident.json["id"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "another account's case cannot be linked");
    let case = app.get(&format!("/api/v1/cases/{n}"), &w.globex).await.json;
    assert_eq!(case["identifiers"]["environment"], "production");
    assert!(case["identifiers"].get("organization_id").is_none());
    assert_eq!(case["context"]["frequency"], "every_time");

    // A reply from the case page, and an upload with its size checked.
    let r = c
        .post(format!("{}/cases/{n}/act/reply", app.base))
        .form(&[("csrf", token.as_str()), ("reply.body", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains(r#"id="reply-body-error""#));
    let big = vec![b'x'; 3 * 1024 * 1024];
    let form = reqwest::multipart::Form::new()
        .text("csrf", token.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(big).file_name("big.log"),
        );
    let r = c
        .post(format!("{}/cases/{n}/files", app.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("big.log is larger than the 2 MB allowed")
    );
    let form = reqwest::multipart::Form::new()
        .text("csrf", token.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"line 1\n".to_vec()).file_name("app.log"),
        );
    let r = c
        .post(format!("{}/cases/{n}/files", app.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // A HAR capture: the agent's page shows its evidence beside the case.
    let har = serde_json::json!({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": [
        {"startedDateTime": "2026-11-20T14:03:00Z", "time": 12,
         "request": {"method": "GET", "url": "https://app.globex.example/callback?error=access_denied&state=s1",
                     "headers": [], "queryString": [], "cookies": []},
         "response": {"status": 400, "statusText": "Bad Request", "headers": [], "cookies": [],
                      "content": {"size": 0, "mimeType": "text/html", "text": ""}}}]}});
    let form = reqwest::multipart::Form::new()
        .text("csrf", token.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(har.to_string().into_bytes()).file_name("login.har"),
        );
    let r = c
        .post(format!("{}/cases/{n}/files", app.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let customer_view = c
        .get(format!("{}/cases/{n}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(customer_view.contains("login.har") && !customer_view.contains("HAR evidence"));
    let agent = crate::signin::browser();
    let agent_csrf = crate::signin::csrf_of(&agent, &app).await;
    crate::signin::sign_in(&agent, &app, &agent_csrf, "ana@support.example", PASSWORD).await;
    let workspace = agent
        .get(format!("{}/cases/{n}", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        workspace.contains("HAR evidence") && workspace.contains("access_denied"),
        "{workspace}"
    );

    let page = c
        .get(format!("{}/cases/{n}", app.base))
        .send()
        .await
        .unwrap();
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let html = page.text().await.unwrap();
    let href = html
        .split("href=\"/cases/")
        .find(|s| s.contains("/files/"))
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let file = c
        .get(format!("{}/cases/{href}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    assert!(
        file.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(file.bytes().await.unwrap().as_ref(), b"line 1\n");

    // Incident emails: subscribe from the status page, for one region.
    let r = c
        .post(format!("{}/status/subscription", app.base))
        .form(&[
            ("csrf", token.as_str()),
            ("regions", "eu"),
            ("do", "subscribe"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let me = app
        .store
        .find_user_by_email("ops@globex.example")
        .await
        .unwrap()
        .unwrap();
    let subs = app.store.subscriptions(Some(me.id)).await.unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].regions, vec!["eu".to_owned()]);

    // Without a session, pages send the browser to sign in and come back after.
    let anon = crate::signin::browser();
    let r = anon
        .get(format!("{}/cases/{n}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        format!("/auth/login?return_to=%2Fcases%2F{n}").as_str()
    );

    // Every page asset together stays small.
    let mut weight = 0;
    for asset in ["/assets/app.css", "/assets/app.js"] {
        let r = anon
            .get(format!("{}{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        weight += r.bytes().await.unwrap().len();
    }
    assert_eq!(weight, casedesk_web::ui::assets::PAGE_ASSET_BYTES);
}

both!(pages_work_without_the_script_and_keep_accounts_apart);

/// Held mail is reviewed in the console: an agent sees why a message was held and the
/// sender checks, releases it with one button, and finds it posted on the case, with the
/// case's mail log on the case page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_mail_is_released_from_the_console_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let n = app
        .open_case(&w.ops, acme_case("Sign-in fails after redirect"))
        .await;
    let gate = app
        .token(
            "mia@support.example",
            &[casedesk_core::users::Scope::MailIngest],
        )
        .await;
    let forged = format!(
        "Authentication-Results: mx.casedesk.test; spf=softfail smtp.mailfrom=acme.example; dkim=none; dmarc=fail header.from=acme.example\r\n\
From: ops@acme.example\r\nTo: support@casedesk.test\r\nSubject: Re: [casedesk #{n}] Sign-in fails after redirect\r\n\
Message-ID: <held-ui@acme.example>\r\nIn-Reply-To: <case-{n}@casedesk.test>\r\n\r\nThe callback now answers 200 on our side.\r\n"
    );
    let r = app.mailgate(&gate, forged.as_bytes()).await;
    assert_eq!(r.json["outcome"], "held", "{}", r.json);

    let b = browser(&app.base).await;
    b.sign_in("ana@support.example", PASSWORD).await;
    b.open("/console").await;
    b.el("a[href='/console/held']").await.click().await.unwrap();
    let page = wait_for_text(&b, "main", "ops@acme.example").await;
    assert!(page.contains("DMARC fail"), "{page}");
    assert!(
        page.contains("did not vouch"),
        "the reason in words: {page}"
    );
    assert!(page.contains("reply on case"), "{page}");
    no_serious_accessibility_problem(&b, "held mail").await;
    b.screenshot("held-mail").await;
    submit(&b, "form[action$='/release']").await;
    wait_for_text(&b, "main", "No mail is held.").await;
    b.open(&format!("/cases/{n}")).await;
    wait_for_text(&b, "main", "The callback now answers 200 on our side.").await;
    open_details(&b, "Mail (").await;
    let log = wait_for_text(&b, "#mail", "posted").await;
    assert!(log.contains("acknowledged"), "{log}");
    b.quit().await;
}

pub(crate) async fn signed_in(app: &TestApp, email: &str) -> (reqwest::Client, String) {
    let c = crate::signin::browser();
    let csrf = crate::signin::csrf_of(&c, app).await;
    let r = crate::signin::sign_in(&c, app, &csrf, email, PASSWORD).await;
    assert_eq!(r.status(), 303, "{email} signs in");
    let html = c
        .get(format!("{}/kb", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = crate::signin::csrf_in(&html);
    (c, token)
}

async fn post_access(
    app: &TestApp,
    c: &reqwest::Client,
    token: &str,
    form: Vec<(&str, &str)>,
) -> (u16, String) {
    let mut all = vec![("csrf", token)];
    all.extend(form);
    let r = c
        .post(format!("{}/manage/users/access", app.base))
        .form(&all)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Access is changed on the users screen only by those who may grant it, within their own
/// account.
async fn access_is_changed_only_by_who_may_grant_it(be: Backend) {
    let app = spawn_app(be).await;
    let w = people(&app).await;
    set_password(&app, "owner@acme.example", PASSWORD).await;
    let (owner, token) = signed_in(&app, "owner@acme.example").await;
    let users = owner
        .get(format!("{}/manage/users", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(users.contains("teammate@acme.example") && !users.contains("ops@globex.example"));
    let (status, page) = post_access(
        &app,
        &owner,
        &token,
        vec![
            ("email", "teammate@acme.example"),
            ("case_admin", "true"),
            ("elevated", "true"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Access of teammate@acme.example saved"));
    let u = app
        .store
        .find_user_by_email("teammate@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert!(u.case_admin && u.elevated);
    // Another account's user does not exist for this super admin.
    let (status, page) =
        post_access(&app, &owner, &token, vec![("email", "ops@globex.example")]).await;
    assert_eq!(status, 422);
    assert!(page.contains("no user has the email ops@globex.example"));
    assert!(
        app.store
            .find_user_by_email("ops@globex.example")
            .await
            .unwrap()
            .unwrap()
            .case_admin
    );
    // An admin is not an administrator; the form of another session is refused too.
    let (admin, admin_token) = signed_in(&app, "ops@acme.example").await;
    let (status, page) = post_access(
        &app,
        &admin,
        &admin_token,
        vec![("email", "teammate@acme.example")],
    )
    .await;
    assert_eq!(status, 403);
    assert!(page.contains("super admin"));
    let (status, _) = post_access(
        &app,
        &owner,
        &admin_token,
        vec![("email", "teammate@acme.example")],
    )
    .await;
    assert_eq!(status, 403, "another session's CSRF token is refused");
    assert!(
        app.store
            .find_user_by_email("teammate@acme.example")
            .await
            .unwrap()
            .unwrap()
            .elevated,
        "nothing changed"
    );
    // Reports are for managers; a manager sees the period's cases counted.
    let (status, _) = {
        let r = owner
            .get(format!("{}/manage/reports", app.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 403);
    app.open_case(&w.ops, acme_case("Counted in the report"))
        .await;
    let (mgr, _) = signed_in(&app, "mia@support.example").await;
    let report = mgr
        .get(format!("{}/manage/reports", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        report.contains("<dt>Cases opened</dt><dd>1</dd>"),
        "{report}"
    );
    // The access change is found in the audit trail by its words, by the manager and by the
    // account's own super admin.
    for c in [&mgr, &owner] {
        let found = c
            .get(format!("{}/manage/audit?q=user.access+teammate", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(found.contains("user:teammate@acme.example"), "{found}");
        assert!(
            !found.contains("signin.success"),
            "only matching entries are listed"
        );
    }
    assert!(report.contains("<svg"));

    // Calendars and settings: JSON that does not parse, or a calendar that is wrong, is
    // shown at its field and changes nothing; a good one is a new version.
    let mgr_token = {
        let html = mgr
            .get(format!("{}/manage/sla", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        crate::signin::csrf_in(&html)
    };
    let save = |form: Vec<(&'static str, String)>| {
        let req = mgr.post(format!("{}/manage/sla/calendar", app.base));
        let token = mgr_token.clone();
        async move {
            let mut all = vec![("csrf", token)];
            all.extend(form);
            let r = req.form(&all).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let holiday = casedesk_core::utc_date_after(casedesk_core::now(), 30).to_string();
    let new = |zone: &str, mon: &str| {
        vec![
            ("form", "new".to_owned()),
            ("new.name", "support-eu".to_owned()),
            ("new.time_zone", zone.to_owned()),
            ("new.mon", mon.to_owned()),
            ("new.holidays", holiday.clone()),
        ]
    };
    let (status, page) = save(new("Europe/Dublin", "9-5")).await;
    assert_eq!(status, 422);
    assert!(
        page.contains(r#"id="new-mon-error">must be written HH:MM-HH:MM"#),
        "{page}"
    );
    let (status, page) = save(new("Mars/Olympus", "09:00-17:00")).await;
    assert_eq!(status, 422);
    assert!(page.contains(r#"id="new-time_zone-error""#), "{page}");
    assert!(
        app.store
            .calendar_versions("support-eu")
            .await
            .unwrap()
            .is_empty()
    );
    let (status, page) = save(new("Europe/Dublin", "09:00-12:00, 13:00-17:00")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Calendar support-eu saved"));
    let versions = app.store.calendar_versions("support-eu").await.unwrap();
    assert_eq!(versions.len(), 1);
    assert!(
        versions[0].1.contains("13:00-17:00") && versions[0].1.contains(&holiday),
        "{versions:?}"
    );
    // A super admin has none of these screens, nor another's webhook deliveries.
    let r = owner
        .post(format!("{}/manage/sla/calendar", app.base))
        .form(&[
            ("csrf", token.as_str()),
            ("form", "new"),
            ("new.name", "x"),
            ("new.time_zone", "UTC"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = owner
        .post(format!(
            "{}/manage/webhooks/{}/redeliver",
            app.base,
            uuid::Uuid::nil()
        ))
        .form(&[("csrf", token.as_str()), ("delivery", "msg_x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

both!(access_is_changed_only_by_who_may_grant_it);

/// The support center around the case in a real browser: the routes page with the CSM and the
/// checks (their answers fill the case form; "this fixed it" is thanked), the Trust Center
/// with the NDA, and on the case page a support access grant and the rating after close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_checks_trust_grants_and_rating_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let a = app
        .call(
            "PATCH",
            "/api/v1/accounts/Acme",
            Some(&w.manager),
            Some(&serde_json::json!({"csm": "ana@support.example"})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let mut body = acme_case("Let support look at the tenant");
    body["team_contacts"] = serde_json::json!(["teammate@acme.example"]);
    let n = app.open_case(&w.ops, body).await;

    let b = browser(&app.base).await;
    b.sign_in("ops@acme.example", PASSWORD).await;
    b.open("/support/routes").await;
    let page = wait_for_text(&b, "main", "Choose the right channel").await;
    assert!(page.contains("ana@support.example"), "the CSM: {page}");
    assert!(page.contains("carries no SLA"), "{page}");
    no_serious_accessibility_problem(&b, "support routes").await;
    b.open("/support/routes?affected=some#checks").await;
    wait_for_text(&b, "#checks", "cleared the cookies").await;
    for check in ["cookies_cleared", "repeats"] {
        b.el(&format!("input[name='checked'][value='{check}']"))
            .await
            .click()
            .await
            .unwrap();
    }
    b.el("input[name='frequency'][value='intermittent']")
        .await
        .click()
        .await
        .unwrap();
    b.screenshot("support-routes-checks").await;
    b.submit("#checks form[method='post']").await;
    assert_eq!(b.path().await, "/support");
    let scope = b
        .el("#scope")
        .await
        .value()
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(scope, "some_users", "the answer fills who is affected");
    let steps = b
        .el("#steps_to_reproduce")
        .await
        .value()
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(steps.contains("cleared the cookies"), "{steps}");
    b.open("/support/routes?affected=all#checks").await;
    wait_for_text(&b, "#checks", "Clocks are in sync").await;
    b.el("button[name='fixed_by'][value='clock_sync']")
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(&b, "main", "Good to hear it is fixed").await;

    // The Trust Center: the NDA document stays closed for an admin until the owner accepts.
    let pdf: &[u8] = b"%PDF-1.7\n%%EOF\n";
    let form = reqwest::multipart::Form::new()
        .text("title", "Penetration test summary")
        .text("summary", "This year's external test.")
        .text("requires_nda", "true")
        .text("topics", "security-review")
        .part(
            "file",
            reqwest::multipart::Part::bytes(pdf.to_vec()).file_name("pentest.pdf"),
        );
    let r = app
        .client
        .post(format!("{}/api/v1/trust/documents", app.base))
        .bearer_auth(&w.manager)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    b.open("/trust").await;
    let page = wait_for_text(&b, "main", "Penetration test summary").await;
    assert!(
        page.contains("Opens once your account has accepted"),
        "{page}"
    );
    no_serious_accessibility_problem(&b, "trust center").await;

    // The case page: let support in, then rate the case once it is closed.
    b.open(&format!("/cases/{n}")).await;
    wait_for_text(&b, "#grants", "Support access").await;
    open_details(&b, "Let support into").await;
    b.set("grant.hours", "4").await;
    b.set("grant.scope", "read").await;
    b.submit("form[action$='/act/grant']").await;
    let grants = wait_for_text(&b, "#grants", "active").await;
    assert!(grants.contains("granted by ops@acme.example"), "{grants}");
    assert!(b.text().await.contains("Customer success manager"));
    no_serious_accessibility_problem(&b, "case with a grant").await;
    let a = app
        .post(
            &format!("/api/v1/cases/{n}/propose-resolution"),
            &w.agent,
            serde_json::json!({"body": "Done."}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    let a = app
        .post(
            &format!("/api/v1/cases/{n}/confirm-resolution"),
            &w.ops,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.json);
    b.open(&format!("/cases/{n}")).await;
    wait_for_text(&b, "#rate", "How did we do?").await;
    let grants = b.el("#grants").await.text().await.unwrap();
    assert!(
        grants.contains("case closed"),
        "the grant ended with the case: {grants}"
    );
    b.el("input[name='rating'][value='5']")
        .await
        .click()
        .await
        .unwrap();
    b.submit("form[action$='/satisfaction']").await;
    let rated = wait_for_text(&b, "#rate", "Rated").await;
    assert!(rated.contains("5 of 5"), "{rated}");
    b.screenshot("case-rated").await;
    b.quit().await;
}

/// The pages around the case keep accounts apart and refuse who may not use them.
async fn support_center_pages_refuse_other_accounts(be: Backend) {
    let app = spawn_app(be).await;
    let w = people(&app).await;
    let n = app.open_case(&w.ops, acme_case("Acme grant")).await;
    let g = app
        .post(
            &format!("/api/v1/cases/{n}/access-grants"),
            &w.ops,
            serde_json::json!({"hours": 2, "scope": "read"}),
        )
        .await;
    assert_eq!(g.status, 201);
    let id = g.json["id"].as_str().unwrap().to_owned();
    let (c, token) = signed_in(&app, "ops@globex.example").await;
    for (path, form) in [
        (
            format!("/cases/{n}/grants/{id}/revoke"),
            vec![("csrf", token.as_str())],
        ),
        (
            format!("/cases/{n}/satisfaction"),
            vec![("csrf", token.as_str()), ("rating", "1")],
        ),
        (
            format!("/cases/{n}/act/grant"),
            vec![
                ("csrf", token.as_str()),
                ("grant.hours", "4"),
                ("grant.scope", "read"),
            ],
        ),
        (
            format!("/cases/{n}/act/contact"),
            vec![
                ("csrf", token.as_str()),
                ("contact.email", "x@globex.example"),
            ],
        ),
    ] {
        let r = c
            .post(format!("{}{path}", app.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(!r.text().await.unwrap().contains("Acme grant"));
    }
    let list = app
        .get(&format!("/api/v1/cases/{n}/access-grants"), &w.ops)
        .await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.json["items"][0]["state"], "active", "nothing changed");
    for path in ["/manage/accounts", "/manage/trust"] {
        let r = c.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    // The routes page is for anyone; signed out it is the general version.
    let r = reqwest::get(format!("{}/support/routes", app.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Sign in"));
    let (agent, _) = signed_in(&app, "ana@support.example").await;
    let r = agent
        .get(format!("{}/trust", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The CSM sees their accounts' P1 cases in the console, and no other account's.
    let a = app
        .call(
            "PATCH",
            "/api/v1/accounts/Acme",
            Some(&w.manager),
            Some(&serde_json::json!({"csm": "ana@support.example"})),
        )
        .await;
    assert_eq!(a.status, 200);
    let mut p1 = acme_case("Acme production down");
    p1["priority"] = serde_json::json!("P1");
    app.open_case(&w.ops, p1).await;
    let mut gp1 = globex_case("Globex production down");
    gp1["priority"] = serde_json::json!("P1");
    app.open_case(&w.globex, gp1).await;
    let console = agent
        .get(format!("{}/console", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let panel = console
        .split("Your accounts")
        .nth(1)
        .and_then(|rest| rest.split("Open cases, the next SLA").next())
        .unwrap_or_default();
    assert!(panel.contains("Acme production down"), "{console}");
    assert!(!panel.contains("Globex production down"), "{panel}");
    let (mgr, mtoken) = signed_in(&app, "mia@support.example").await;
    let r = mgr
        .post(format!("{}/manage/accounts/Acme", app.base))
        .form(&[("csrf", mtoken.as_str()), ("csm-Acme", "ops@acme.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "a customer is no CSM");
    assert!(r.text().await.unwrap().contains("not a support engineer"));
}
both!(support_center_pages_refuse_other_accounts);

/// "This solved it" on the first suggestion records the deflection and opens no case (it once
/// submitted the case form instead: the suggestions sit inside it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_solved_it_on_the_first_suggestion_records_a_deflection_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let b = browser(&app.base).await;
    b.sign_in("ops@acme.example", PASSWORD).await;
    b.open("/support").await;
    b.type_into(
        "#subject",
        "Sign-in fails with redirect_uri_mismatch after login",
    )
    .await;
    wait_for_text(&b, "#suggestions", "This solved it").await;
    // The first "This solved it", whatever it is made of.
    b.el("#suggestions button").await.click().await.unwrap();
    let page = wait_for_text(&b, "main", "Glad that helped").await;
    assert!(
        !page.contains("Nothing was saved or sent"),
        "the case form was not sent: {page}"
    );
    let report = app.get("/api/v1/reports/deflection", &w.manager).await;
    assert_eq!(report.json["deflections"], 1, "{}", report.json);
    assert_eq!(report.json["areas"][0]["deflections"], 1);
    let cases = app.get("/api/v1/cases", &w.ops).await;
    assert!(
        cases.json["items"].as_array().unwrap().is_empty(),
        "no case was opened"
    );
    b.quit().await;
}

/// Editing one SLA target keeps the others: the row's Edit fills the form with the policy as it
/// stands, and a target left empty is removed only when asked (it once set the others to none
/// for every open case of that plan and priority).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_one_sla_target_keeps_the_others_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let policy = |list: &serde_json::Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["plan"] == "gold" && p["priority"] == "P2")
            .unwrap()["policy"]
            .clone()
    };
    let before = policy(&app.get("/api/v1/sla/policies", &w.manager).await.json);
    assert!(
        before["next_response"]["minutes"].is_u64() && before["resolution"]["minutes"].is_u64(),
        "{before}"
    );
    let b = browser(&app.base).await;
    b.sign_in("mia@support.example", PASSWORD).await;
    b.open("/manage/sla").await;
    b.el("a[aria-label='Edit gold P2']")
        .await
        .click()
        .await
        .unwrap();
    let minutes = b
        .el("#first_response-minutes")
        .await
        .value()
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(
        minutes,
        before["first_response"]["minutes"].to_string(),
        "the form starts from the policy"
    );
    b.set("first_response.minutes", "45").await;
    b.submit("form[action='/manage/sla']").await;
    wait_for_text(&b, "main", "saved").await;
    let after = policy(&app.get("/api/v1/sla/policies", &w.manager).await.json);
    assert_eq!(after["first_response"]["minutes"], 45);
    assert_eq!(
        after["next_response"], before["next_response"],
        "the other targets stay"
    );
    assert_eq!(after["resolution"], before["resolution"]);
    // Emptying a target without saying so is refused, at that field, and changes nothing.
    b.el("a[aria-label='Edit gold P2']")
        .await
        .click()
        .await
        .unwrap();
    b.set("next_response.minutes", "").await;
    b.submit("form[action='/manage/sla']").await;
    let page = wait_for_text(&b, "main", "would remove this target").await;
    assert!(page.contains("Remove this target"), "{page}");
    assert_eq!(
        policy(&app.get("/api/v1/sla/policies", &w.manager).await.json),
        after
    );
    no_serious_accessibility_problem(&b, "SLA policies").await;
    b.quit().await;
}

/// Knowledge-base articles read as formatted text, not raw Markdown, and an author's HTML
/// never scripts the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn articles_render_markdown_and_never_run_author_html_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let entry = serde_json::json!({
        "kind": "article", "title": "Formatted article",
        "summary": "Lists, code and emphasis.",
        "body": "Check the **clock** and the `exp` claim:\n\n1. run NTP\n2. allow 60 seconds\n\n<script>document.title = 'owned'</script><img src=x onerror=\"document.title='owned'\">\n\n[bad](javascript:document.title='owned')",
        "issue_areas": ["tokens-and-jwks"], "tags": ["clock"],
        "visibility": "public", "state": "published"
    });
    let r = app
        .put("/api/v1/kb/entries/formatted-article", &w.manager, entry)
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let b = browser(&app.base).await;
    b.open("/kb/formatted-article").await;
    let text = wait_for_text(&b, "main", "run NTP").await;
    assert!(
        !text.contains("**") && !text.contains('`'),
        "no raw Markdown: {text}"
    );
    let shape = b
        .driver
        .execute(
            "const a = document.querySelector('main .article'); return [a.querySelectorAll('ol li').length, a.querySelectorAll('strong').length, a.querySelectorAll('code').length, a.querySelectorAll('script, img[onerror]').length, [...a.querySelectorAll('a')].filter(x => x.href.startsWith('javascript')).length, document.title];",
            Vec::<serde_json::Value>::new(),
        )
        .await
        .unwrap();
    let v = shape.json();
    assert_eq!(&v[0], &serde_json::json!(2), "{v}");
    assert_eq!(&v[1], &serde_json::json!(1));
    assert_eq!(&v[2], &serde_json::json!(1));
    assert_eq!(
        &v[3],
        &serde_json::json!(0),
        "the author's script and handler are gone"
    );
    assert_eq!(&v[4], &serde_json::json!(0), "no javascript: link");
    assert_ne!(&v[5], &serde_json::json!("owned"));
    // A starter article reads the same way.
    b.open("/kb/clock-skew-tokens").await;
    let text = wait_for_text(&b, "main", "NTP").await;
    assert!(!text.contains('`'), "{text}");
    no_serious_accessibility_problem(&b, "knowledge-base article").await;
    b.quit().await;
}

/// An address that names nothing is a page in the browser (it answered raw JSON), and stays
/// problem+json for the API and for clients that do not ask for HTML.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_addresses_are_a_page_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    people(&app).await;
    let b = browser(&app.base).await;
    b.sign_in("ops@acme.example", PASSWORD).await;
    b.open("/no/such/page").await;
    let text = wait_for_text(&b, "main", "Back to the start page").await;
    assert!(!text.contains("\"type\""), "not raw JSON: {text}");
    assert!(
        b.text().await.contains("ops@acme.example"),
        "the frame, signed in"
    );
    b.quit().await;
    let api = app.call("GET", "/api/v1/no-such-thing", None, None).await;
    assert_eq!(
        (api.status, api.content_type()),
        (404, "application/problem+json")
    );
    let r = app
        .client
        .get(format!("{}/api/v1/no-such-thing", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "the API never answers a page"
    );
    let r = app
        .client
        .get(format!("{}/no/such/page", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

/// A diagnostic reads as a verdict in words with the URI part by part, on its page and on the
/// timeline (the timeline entry was empty, the comparison raw JSON, the JWT "Verdict: false").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostic_reports_read_as_words_and_tables_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let n = app.open_case(&w.ops, acme_case("Redirect fails")).await;
    let b = browser(&app.base).await;
    b.sign_in("ops@acme.example", PASSWORD).await;
    b.open(&format!("/cases/{n}")).await;
    open_details(&b, "Compare a redirect URI").await;
    b.set("registered", "https://app.acme.example/callback/")
        .await;
    b.set("used", "https://app.acme.example/callback").await;
    b.submit(&format!("form[action='/cases/{n}/diagnose/redirect']"))
        .await;
    let report = wait_for_text(&b, ".report", "does not match").await;
    assert!(report.contains("path"), "part by part: {report}");
    assert!(!report.contains('{'), "no raw JSON: {report}");
    let bad = b.el(".report .badge.bad").await.text().await.unwrap();
    assert!(bad.contains("differs"), "{bad}");
    // A token that fails says so in words, not "false", here and on the timeline.
    b.open(&format!("/cases/{n}")).await;
    open_details(&b, "Explain a JWT").await;
    b.set("token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.").await;
    b.submit(&format!("form[action='/cases/{n}/diagnose/jwt']"))
        .await;
    let jwt = wait_for_text(&b, ".report", "The token").await;
    assert!(jwt.contains("The token fails"), "{jwt}");
    assert!(!jwt.contains("false"), "{jwt}");
    b.open(&format!("/cases/{n}")).await;
    let timeline = wait_for_text(&b, ".timeline", "JWT explained").await;
    assert!(
        timeline.contains("The token fails"),
        "the timeline entry says what was found: {timeline}"
    );
    no_serious_accessibility_problem(&b, "case with a diagnostic report").await;
    b.quit().await;
}

/// A program uploaded on the case page is refused with words at the files field (it was kept
/// without a word).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_program_is_refused_with_words_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let w = people(&app).await;
    let n = app.open_case(&w.ops, acme_case("Upload a tool")).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("setup.exe");
    std::fs::write(&file, b"MZ\x90\x00\x03\x00\x00\x00").unwrap();
    let b = browser(&app.base).await;
    b.sign_in("ops@acme.example", PASSWORD).await;
    b.open(&format!("/cases/{n}")).await;
    b.el("#upload")
        .await
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    b.submit(&format!("form[action='/cases/{n}/files']")).await;
    let page = wait_for_text(&b, "main", "does not keep programs").await;
    assert!(page.contains("setup.exe"), "{page}");
    let files = app
        .get(&format!("/api/v1/cases/{n}/attachments"), &w.ops)
        .await;
    assert!(
        files.json["items"].as_array().unwrap().is_empty(),
        "{}",
        files.json
    );
    b.quit().await;
}
