//! People managed from the users page: an invitation with a one-time link to choose a
//! password, role changes within a side, and deactivation, which ends sign-in, sessions and
//! tokens at once and keeps each administrator to their own account.

use casedesk_testkit::browser::browser as chromium;
use casedesk_testkit::{Backend, TestApp, both, spawn_app};
use serde_json::json;

use crate::audit::export_lines;
use crate::signin::{browser, csrf_of, sign_in};
use crate::status::{link, read_mail};
use crate::web_ui::{PASSWORD, no_serious_accessibility_problem, people, signed_in, wait_for_text};

/// Posts a users-page form as the signed-in `c`.
async fn post(
    app: &TestApp,
    c: &reqwest::Client,
    csrf: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(form);
    let r = c
        .post(format!("{}{path}", app.base))
        .form(&all)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Whether `email` signs in with `password` (a fresh browser each time).
async fn signs_in(app: &TestApp, email: &str, password: &str) -> bool {
    let c = browser();
    let csrf = csrf_of(&c, app).await;
    sign_in(&c, app, &csrf, email, password).await.status() == 303
}

/// The invitations in the outbox for `to` once there are `n`, oldest first: subject, text and
/// `Message-ID` of each.
async fn invitations_of(app: &TestApp, to: &str, n: usize) -> Vec<(String, String, String)> {
    let all = app
        .wait_outbox("the invitation", |all| {
            all.iter().filter(|m| read_mail(m).0 == to).count() >= n
        })
        .await;
    let mut mine: Vec<(String, String, String)> = all
        .iter()
        .filter(|m| read_mail(m).0 == to)
        .map(|raw| {
            let m = read_mail(raw);
            let id = mail_parser::MessageParser::default()
                .parse(raw.as_bytes())
                .and_then(|p| p.message_id().map(str::to_owned))
                .unwrap();
            (m.1, m.2, id)
        })
        .collect();
    // Message-IDs carry a UUIDv7: their order is the order of sending.
    mine.sort_by(|a, b| a.2.cmp(&b.2));
    mine
}

/// The actions of the audit trail, as text.
async fn trail(app: &TestApp, manager: &str) -> String {
    serde_json::to_string(&export_lines(app, manager, "").await).unwrap()
}

async fn an_invited_user_chooses_a_password_once(be: Backend) {
    let app = spawn_app(be).await;
    let _w = people(&app).await;
    let (mgr, csrf) = signed_in(&app, "mia@support.example").await;
    let (status, page) = post(
        &app,
        &mgr,
        &csrf,
        "/manage/users",
        &[
            ("email", "New.Hire@Support.example"),
            ("role", "agent"),
            ("queues", "identity"),
            ("invite", "true"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("an invitation is on its way"), "{page}");
    let (subject, text, message_id) = invitations_of(&app, "new.hire@support.example", 1)
        .await
        .swap_remove(0);
    assert_eq!(subject, "You have been added to the support center");
    assert!(text.contains("mia@support.example added you"), "{text}");
    assert!(text.contains("as a support engineer"), "{text}");
    let welcome = link(&text, &app.base, "/auth/welcome?");

    // A link changed in any part opens nothing.
    let c = browser();
    for bad in [
        format!("{welcome}x"),
        welcome.replace("&x=", "&x=1"),
        welcome.replace("u=", "u=0"),
        format!("{}/auth/welcome", app.base),
    ] {
        let r = c.get(&bad).send().await.unwrap();
        assert_eq!(r.status(), 410, "{bad}");
    }
    let page = c.get(&welcome).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("new.hire@support.example"), "{page}");
    let parts: Vec<(String, String)> = url::Url::parse(&welcome)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let form = |password: &str, repeat: &str| {
        let mut f = parts.clone();
        f.push(("password".into(), password.into()));
        f.push(("repeat".into(), repeat.into()));
        f
    };
    let post_welcome = |f: Vec<(String, String)>, origin: &str| {
        c.post(format!("{}/auth/welcome", app.base))
            .header("origin", origin)
            .form(&f)
            .send()
    };
    let r = post_welcome(form("a long enough password", "another one"), &app.base)
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("The two passwords differ"));
    let r = post_welcome(form("short", "short"), &app.base)
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at least 12"));
    let r = post_welcome(
        form("a long enough password", "a long enough password"),
        "https://evil.example",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403, "another site's form");
    assert!(!signs_in(&app, "new.hire@support.example", "a long enough password").await);

    let r = post_welcome(
        form("a long enough password", "a long enough password"),
        &app.base,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303, "set and signed in");
    let console = c.get(format!("{}/console", app.base)).send().await.unwrap();
    assert_eq!(console.status(), 200, "signed in as the new agent");
    // Used: the link is dead, and setting again is refused.
    assert_eq!(c.get(&welcome).send().await.unwrap().status(), 410);
    let r = post_welcome(
        form("a takeover password", "a takeover password"),
        &app.base,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 410);
    assert!(signs_in(&app, "new.hire@support.example", "a long enough password").await);
    assert!(!signs_in(&app, "new.hire@support.example", "a takeover password").await);

    // The stored copy of a sent invitation no longer holds its link.
    let mut kept = String::new();
    for _ in 0..100 {
        let sent = app
            .store
            .mail_by_message_id(&format!("<{message_id}>"))
            .await
            .unwrap()
            .expect("the invitation is recorded");
        kept = app.store.get_mail(sent.id).await.unwrap().unwrap().1;
        if kept == casedesk_core::mail::INVITATION_KEPT_AS {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(kept, casedesk_core::mail::INVITATION_KEPT_AS);

    // "Invite again" sends a link that sets a new password, once.
    let (status, page) = post(
        &app,
        &mgr,
        &csrf,
        "/manage/users/invite",
        &[("email", "new.hire@support.example")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let (_, text, _) = invitations_of(&app, "new.hire@support.example", 2)
        .await
        .swap_remove(1);
    let again = link(&text, &app.base, "/auth/welcome?");
    assert_ne!(again, welcome);
    assert_eq!(browser().get(&again).send().await.unwrap().status(), 200);
    assert_eq!(browser().get(&welcome).send().await.unwrap().status(), 410);

    // Without the box ticked, nobody is written to.
    let before = app.outbox().len();
    let (status, page) = post(
        &app,
        &mgr,
        &csrf,
        "/manage/users",
        &[("email", "quiet@support.example"), ("role", "agent")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("quiet@support.example was added."), "{page}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.outbox().len(), before);
}
both!(an_invited_user_chooses_a_password_once);

async fn deactivation_ends_sign_in_sessions_and_tokens_at_once(be: Backend) {
    let app = spawn_app(be).await;
    let w = people(&app).await;
    crate::signin::set_password(&app, "owner@acme.example", PASSWORD).await;
    crate::signin::set_password(&app, "teammate@acme.example", PASSWORD).await;
    let (owner, csrf) = signed_in(&app, "owner@acme.example").await;
    let (ops_browser, _) = signed_in(&app, "ops@acme.example").await;
    assert_eq!(app.get("/api/v1/me", &w.ops).await.status, 200);

    let (status, page) = post(
        &app,
        &owner,
        &csrf,
        "/manage/users/active",
        &[("email", "ops@acme.example"), ("active", "false")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("ops@acme.example is deactivated"), "{page}");
    assert!(page.contains("Deactivated"), "the list says so");
    assert_eq!(
        app.get("/api/v1/me", &w.ops).await.status,
        401,
        "the token ended"
    );
    let r = ops_browser
        .get(format!("{}/cases", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the session ended");
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/auth/login"),
    );
    assert!(
        !signs_in(&app, "ops@acme.example", PASSWORD).await,
        "the password no longer signs in"
    );
    let text = trail(&app, &w.manager).await;
    assert!(text.contains("the user is deactivated"), "{text}");
    assert!(text.contains("\"user.deactivate\""), "{text}");
    // Their case stays theirs, readable by support.
    let n = app
        .open_case(&w.teammate, casedesk_testkit::acme_case("Still here"))
        .await;
    assert_eq!(
        app.get(&format!("/api/v1/cases/{n}"), &w.agent)
            .await
            .status,
        200
    );

    // Back again: the password works; the old token stays revoked.
    let (status, page) = post(
        &app,
        &owner,
        &csrf,
        "/manage/users/active",
        &[("email", "ops@acme.example"), ("active", "true")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("ops@acme.example can sign in again."),
        "{page}"
    );
    assert!(signs_in(&app, "ops@acme.example", PASSWORD).await);
    assert_eq!(app.get("/api/v1/me", &w.ops).await.status, 401);

    // A deactivated agent gets no cases.
    let (mgr, mgr_csrf) = signed_in(&app, "mia@support.example").await;
    let (status, _) = post(
        &app,
        &mgr,
        &mgr_csrf,
        "/manage/users/active",
        &[("email", "kai@support.example"), ("active", "false")],
    )
    .await;
    assert_eq!(status, 200);
    let r = app
        .put(
            &format!("/api/v1/cases/{n}/assignee"),
            &w.manager,
            json!({"assignee": "kai@support.example"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.json);
    assert!(r.error_fields().contains(&"assignee".to_owned()));
}
both!(deactivation_ends_sign_in_sessions_and_tokens_at_once);

async fn roles_and_deactivation_keep_to_their_side_and_account(be: Backend) {
    let app = spawn_app(be).await;
    let w = people(&app).await;
    crate::signin::set_password(&app, "owner@acme.example", PASSWORD).await;
    let (owner, csrf) = signed_in(&app, "owner@acme.example").await;
    // A row's refusal reads as words at the top of the page, naming what was not changed.
    let refused = |status: u16, page: &str, words: &str| {
        assert_eq!(status, 422, "{page}");
        assert!(page.contains("Not changed: "), "{page}");
        assert!(page.contains(words), "{words:?} in {page}");
    };

    // Not another account's user, not support staff, not oneself.
    for (path, form) in [
        (
            "/manage/users/active",
            vec![("email", "ops@globex.example"), ("active", "false")],
        ),
        (
            "/manage/users/role",
            vec![("email", "ops@globex.example"), ("role", "super-admin")],
        ),
        (
            "/manage/users/active",
            vec![("email", "ana@support.example"), ("active", "false")],
        ),
    ] {
        let (status, page) = post(&app, &owner, &csrf, path, &form).await;
        refused(status, &page, "no user has the email");
    }
    assert_eq!(app.get("/api/v1/me", &w.globex).await.status, 200);
    assert_eq!(app.get("/api/v1/me", &w.agent).await.status, 200);
    let (status, page) = post(
        &app,
        &owner,
        &csrf,
        "/manage/users/active",
        &[("email", "owner@acme.example"), ("active", "false")],
    )
    .await;
    refused(status, &page, "you cannot deactivate yourself");
    let (status, page) = post(
        &app,
        &owner,
        &csrf,
        "/manage/users/role",
        &[("email", "ops@acme.example"), ("role", "agent")],
    )
    .await;
    refused(status, &page, "add support staff as new users");

    // An admin without administrative authority may not.
    let (ops, ops_csrf) = signed_in(&app, "ops@acme.example").await;
    let (status, _) = post(
        &app,
        &ops,
        &ops_csrf,
        "/manage/users/active",
        &[("email", "viewer@acme.example"), ("active", "false")],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(app.get("/api/v1/me", &w.viewer).await.status, 200);

    // The only super admin stays one, whoever asks.
    let (mgr, mgr_csrf) = signed_in(&app, "mia@support.example").await;
    let (status, page) = post(
        &app,
        &mgr,
        &mgr_csrf,
        "/manage/users/role",
        &[
            ("email", "owner@acme.example"),
            ("role", "admin"),
            ("account", "Acme"),
        ],
    )
    .await;
    refused(status, &page, "only active super admin");
    assert!(
        page.contains("name=\"email\" value=\"owner@acme.example\""),
        "the refusal stays on Acme's list"
    );
    // With a second super admin, the first may step down; a promotion brings case-admin.
    let (status, page) = post(
        &app,
        &owner,
        &csrf,
        "/manage/users/role",
        &[("email", "viewer@acme.example"), ("role", "super-admin")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("viewer@acme.example is now a super admin."),
        "{page}"
    );
    let viewer = app
        .store
        .find_user_by_email("viewer@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert!(viewer.case_admin, "a super admin holds case-admin");
    let (status, page) = post(
        &app,
        &mgr,
        &mgr_csrf,
        "/manage/users/role",
        &[
            ("email", "owner@acme.example"),
            ("role", "admin"),
            ("account", "Acme"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let text = trail(&app, &w.manager).await;
    assert!(
        text.contains("\"user.role\"") && text.contains("\"from\":\"super-admin\""),
        "{text}"
    );
    // Support roles: an agent becomes a manager and keeps their queues.
    let (status, page) = post(
        &app,
        &mgr,
        &mgr_csrf,
        "/manage/users/role",
        &[("email", "ana@support.example"), ("role", "manager")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let ana = app
        .store
        .find_user_by_email("ana@support.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ana.role, casedesk_core::users::Role::Manager);
    assert!(!ana.queues.is_empty());
    // A role that is not one is a field error, not a change.
    let (status, page) = post(
        &app,
        &mgr,
        &mgr_csrf,
        "/manage/users/role",
        &[("email", "kai@support.example"), ("role", "root")],
    )
    .await;
    refused(status, &page, "must be one of");
}
both!(roles_and_deactivation_keep_to_their_side_and_account);

/// In Chromium: a manager invites an agent from the form, the agent opens the link and lands
/// signed in; the manager deactivates and reactivates someone from their row and changes a
/// role, at desktop and phone width, with no accessibility problem on either page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_invited_deactivated_and_moved_in_a_real_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let _w = people(&app).await;
    let b = chromium(&app.base).await;
    b.sign_in("mia@support.example", PASSWORD).await;
    b.open("/manage/users").await;
    assert!(
        b.el("#new-invite").await.is_selected().await.unwrap(),
        "an invitation is the default"
    );
    b.type_into(
        "form[action='/manage/users'][method=post] [name=email]",
        "pat@support.example",
    )
    .await;
    b.driver
        .execute(
            "document.querySelector(`form[action='/manage/users'][method=post] [name=role]`).value = 'agent';",
            Vec::<serde_json::Value>::new(),
        )
        .await
        .unwrap();
    b.submit("form[action='/manage/users'][method=post]").await;
    wait_for_text(
        &b,
        "main",
        "pat@support.example was added and an invitation",
    )
    .await;
    no_serious_accessibility_problem(&b, "the users page").await;

    // Choose another role in Kai's row and send it.
    b.driver
        .execute(
            "const f = document.querySelector(`form[action='/manage/users/role']:has(input[value='kai@support.example'])`); \
             f.querySelector('select').value = 'manager'; f.requestSubmit(); document.body.dataset.leaving = '1';",
            Vec::<serde_json::Value>::new(),
        )
        .await
        .unwrap();
    wait_for_text(&b, "main", "kai@support.example is now a support manager.").await;
    b.submit("form[action='/manage/users/active']:has(input[value='kai@support.example'])")
        .await;
    wait_for_text(&b, "main", "kai@support.example is deactivated").await;
    row_says(&b, "kai@support.example", "Deactivated").await;
    b.driver.set_window_rect(0, 0, 390, 844).await.unwrap();
    no_serious_accessibility_problem(&b, "the users page on a phone").await;
    b.submit("form[action='/manage/users/active']:has(input[value='kai@support.example'])")
        .await;
    wait_for_text(&b, "main", "kai@support.example can sign in again.").await;
    b.sign_out().await;

    let (_, text, _) = invitations_of(&app, "pat@support.example", 1)
        .await
        .swap_remove(0);
    let welcome = link(&text, &app.base, "/auth/welcome?");
    b.open(welcome.trim_start_matches(&app.base)).await;
    wait_for_text(&b, "main", "pat@support.example").await;
    no_serious_accessibility_problem(&b, "the welcome page on a phone").await;
    b.type_into("#password", "pat's own long password").await;
    b.type_into("#repeat", "pat's own long password").await;
    b.submit("form[action='/auth/welcome']").await;
    wait_for_text(&b, "header.top .who", "pat@support.example").await;
    b.driver.set_window_rect(0, 0, 1366, 900).await.unwrap();
    b.open(welcome.trim_start_matches(&app.base)).await;
    wait_for_text(&b, "main", "no longer works").await;
    b.quit().await;
}

/// The row of `email` on the users page reads `what`.
async fn row_says(b: &casedesk_testkit::browser::Browser, email: &str, what: &str) {
    let row = b
        .el(&format!("tr:has(input[value='{email}'])"))
        .await
        .text()
        .await
        .unwrap();
    assert!(row.contains(what), "{row}");
}

/// Changes made at the same moment keep the rules a change made alone keeps: one use of an
/// invitation link, an account with an active super admin, a deactivation that a concurrent
/// save does not undo, and the plan's cap of elevated contacts. Also the page's edges: a form's
/// address opened as a page, an unknown account, a taken address, a value that is not one.
async fn changes_at_once_keep_the_rules(be: Backend) {
    use casedesk_core::users::Role;
    let app = spawn_app(be).await;
    let _w = people(&app).await;
    let (mgr, csrf) = signed_in(&app, "mia@support.example").await;

    // One link, eight posts at once: one sets the password and signs in.
    let (status, _) = post(
        &app,
        &mgr,
        &csrf,
        "/manage/users",
        &[
            ("email", "race@acme.example"),
            ("role", "admin"),
            ("account", "Acme"),
            ("invite", "true"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (_, text, _) = invitations_of(&app, "race@acme.example", 1)
        .await
        .swap_remove(0);
    let welcome = link(&text, &app.base, "/auth/welcome?");
    let mut form: Vec<(String, String)> = url::Url::parse(&welcome)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let posts = (0..8).map(|i| {
        let mut f = form.clone();
        let pw = format!("racing password number {i}");
        f.push(("password".into(), pw.clone()));
        f.push(("repeat".into(), pw));
        let base = app.base.clone();
        async move {
            browser()
                .post(format!("{base}/auth/welcome"))
                .header("origin", &base)
                .form(&f)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let mut statuses = futures_util::future::join_all(posts).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 410, 410, 410, 410, 410, 410, 410]);
    form.clear();

    // Two super admins demoted at once: one stays.
    for email in ["ops@acme.example", "teammate@acme.example"] {
        let (status, page) = post(
            &app,
            &mgr,
            &csrf,
            "/manage/users/role",
            &[
                ("email", email),
                ("role", "super-admin"),
                ("account", "Acme"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{page}");
    }
    let demote = |email: &'static str| {
        let (app, mgr, csrf) = (&app, &mgr, &csrf);
        async move {
            post(
                app,
                mgr,
                csrf,
                "/manage/users/active",
                &[("email", email), ("active", "false"), ("account", "Acme")],
            )
            .await
            .0
        }
    };
    futures_util::future::join3(
        demote("owner@acme.example"),
        demote("ops@acme.example"),
        demote("teammate@acme.example"),
    )
    .await;
    let acme = app.store.find_account("Acme").await.unwrap().unwrap();
    let users = app.store.list_account_users(acme.id).await.unwrap();
    let supers = users
        .iter()
        .filter(|u| u.role == Role::SuperAdmin && u.active())
        .count();
    assert_eq!(supers, 1, "{users:#?}");

    // A deactivation and an access save at once: the deactivation is not undone.
    for _ in 0..4 {
        let target = "viewer@acme.example";
        let (off, save) = futures_util::future::join(
            post(
                &app,
                &mgr,
                &csrf,
                "/manage/users/active",
                &[("email", target), ("active", "false"), ("account", "Acme")],
            ),
            post(
                &app,
                &mgr,
                &csrf,
                "/manage/users/access",
                &[
                    ("email", target),
                    ("case_admin", "true"),
                    ("account", "Acme"),
                ],
            ),
        )
        .await;
        let now = app.store.find_user_by_email(target).await.unwrap().unwrap();
        if off.0 == 200 {
            assert!(!now.active(), "acknowledged, then undone: {}", save.1);
        }
        let (status, _) = post(
            &app,
            &mgr,
            &csrf,
            "/manage/users/active",
            &[("email", target), ("active", "true"), ("account", "Acme")],
        )
        .await;
        assert_eq!(status, 200);
    }

    // Elevated grants at once stay within the plan's cap.
    let cap = casedesk_core::permissions::ElevatedLimits::default().for_plan(acme.plan) as usize;
    let emails: Vec<String> = (0..cap + 2)
        .map(|i| format!("contact{i}@acme.example"))
        .collect();
    for e in &emails {
        app.user_with_token(Some("Acme"), e, Role::Admin, true, false, &[])
            .await;
    }
    let grants = emails.iter().map(|e| {
        let (app, mgr, csrf) = (&app, &mgr, &csrf);
        async move {
            post(
                app,
                mgr,
                csrf,
                "/manage/users/access",
                &[
                    ("email", e.as_str()),
                    ("case_admin", "true"),
                    ("elevated", "true"),
                    ("account", "Acme"),
                ],
            )
            .await
            .0
        }
    });
    futures_util::future::join_all(grants).await;
    let elevated = app
        .store
        .list_account_users(acme.id)
        .await
        .unwrap()
        .iter()
        .filter(|u| u.elevated && u.active())
        .count();
    assert!(elevated <= cap, "{elevated} elevated over a cap of {cap}");

    // The page's edges.
    let r = mgr
        .get(format!("{}/manage/users/role", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "a form's address opened as a page");
    assert_eq!(r.headers()["location"], "/manage/users");
    let page = mgr
        .get(format!("{}/manage/users?account=Nowhere", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("No account is named Nowhere"), "{page}");
    let (status, page) = post(
        &app,
        &mgr,
        &csrf,
        "/manage/users",
        &[
            ("email", "ops@globex.example"),
            ("role", "admin"),
            ("account", "Acme"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("already belongs to a user"), "{page}");
    let (status, page) = post(
        &app,
        &mgr,
        &csrf,
        "/manage/users/active",
        &[("email", "kai@support.example"), ("active", "maybe")],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("Not changed: "), "{page}");
    assert!(
        app.store
            .find_user_by_email("kai@support.example")
            .await
            .unwrap()
            .unwrap()
            .active()
    );
    let (status, page) = post(
        &app,
        &mgr,
        &csrf,
        "/manage/users/role",
        &[("email", "kai@support.example"), ("role", "agent")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("is already a support engineer; nothing changed"),
        "{page}"
    );
    let (status, page) = post(
        &app,
        &mgr,
        &csrf,
        "/manage/users/active",
        &[("email", "kai@support.example"), ("active", "true")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("kai@support.example is already active; nothing changed"),
        "{page}"
    );
    // One after the other, grants fill the cap and then are refused in words.
    let mut refusal = String::new();
    for e in &emails {
        let (status, page) = post(
            &app,
            &mgr,
            &csrf,
            "/manage/users/access",
            &[
                ("email", e.as_str()),
                ("case_admin", "true"),
                ("elevated", "true"),
                ("account", "Acme"),
            ],
        )
        .await;
        if status != 200 {
            assert_eq!(status, 422, "{page}");
            refusal = page;
        }
    }
    assert!(
        refusal.contains("elevated support contacts, and all are in use"),
        "{refusal}"
    );
    let elevated = app
        .store
        .list_account_users(acme.id)
        .await
        .unwrap()
        .iter()
        .filter(|u| u.elevated && u.active())
        .count();
    assert_eq!(elevated, cap);
}
both!(changes_at_once_keep_the_rules);
