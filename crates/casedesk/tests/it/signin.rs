//! Local passwords, browser sessions and API-token management.

use casedesk_core::users::Scope;
use casedesk_testkit::{Backend, Options, TestApp, both, spawn_app, spawn_app_with};
use serde_json::json;

use crate::cli::{casedesk, json_of};

pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The CSRF token of the first form of a page.
pub(crate) fn csrf_in(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

pub(crate) async fn csrf_of(c: &reqwest::Client, app: &TestApp) -> String {
    let page = c
        .get(format!("{}/auth/login", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    crate::signin::csrf_in(&page)
}

pub(crate) async fn sign_in(
    c: &reqwest::Client,
    app: &TestApp,
    csrf: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    c.post(format!("{}/auth/login", app.base))
        .form(&[("csrf", csrf), ("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

pub(crate) async fn set_password(app: &TestApp, email: &str, password: &str) {
    let u = app.store.find_user_by_email(email).await.unwrap().unwrap();
    let h = casedesk_auth::password::hash_password(password.into())
        .await
        .unwrap();
    let audit = casedesk_core::audit::AuditRecord::new(
        casedesk_testkit::actor(),
        "user.set_password",
        "test",
    );
    app.store
        .set_password(u.id, Some(&h), &audit)
        .await
        .unwrap();
}

async fn local_sign_in_throttles_without_telling_and_checks_csrf(b: Backend) {
    // A wait long enough to outlast the test, so a held-back attempt is seen as one.
    let mut opts = Options::default();
    opts.auth.throttle.first_wait_seconds = 600;
    let app = spawn_app_with(b, opts).await;
    let _w = app.world().await;
    set_password(&app, "ops@acme.example", "a long enough password").await;
    set_password(&app, "secops@acme.example", "another long password").await;
    let c = browser();
    let csrf = csrf_of(&c, &app).await;

    // Without the form's token, or from another site, nothing is checked.
    let forged = sign_in(
        &c,
        &app,
        "forged",
        "ops@acme.example",
        "a long enough password",
    )
    .await;
    assert_eq!(forged.status(), 403);
    let cross = c
        .post(format!("{}/auth/login", app.base))
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "ops@acme.example"),
            ("password", "a long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);

    // The user's own browser signs in once: casedesk remembers it.
    let own = browser();
    let own_csrf = csrf_of(&own, &app).await;
    let first = sign_in(
        &own,
        &app,
        &own_csrf,
        "ops@acme.example",
        "a long enough password",
    )
    .await;
    assert_eq!(first.status(), 303);
    let device = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("casedesk_device="))
        .expect("a device cookie");
    assert!(
        device.contains("HttpOnly") && device.contains("Path=/auth"),
        "{device}"
    );

    // An unknown email, a wrong password and an email held back after failures all answer
    // the same: no attempt tells whether an account exists or is being attacked.
    let unknown = sign_in(&c, &app, &csrf, "nobody@acme.example", "whatever it is").await;
    assert_eq!(unknown.status(), 401);
    let answer = unknown.text().await.unwrap();
    for email in ["ops@acme.example", "nobody@acme.example"] {
        for i in 0..7 {
            let r = sign_in(&c, &app, &csrf, email, "wrong password!").await;
            assert_eq!(r.status(), 401, "{email} attempt {i}");
            assert!(r.headers().get("retry-after").is_none());
            assert_eq!(r.text().await.unwrap(), answer, "{email} attempt {i}");
        }
    }
    // Held back now: even the right password from another browser gets the same answer...
    let held = sign_in(
        &c,
        &app,
        &csrf,
        "ops@acme.example",
        "a long enough password",
    )
    .await;
    assert_eq!(held.status(), 401);
    assert_eq!(held.text().await.unwrap(), answer);
    // ...while the user's own browser still signs in: nobody can keep them out.
    let own_csrf = csrf_of(&own, &app).await;
    let again = sign_in(
        &own,
        &app,
        &own_csrf,
        "ops@acme.example",
        "a long enough password",
    )
    .await;
    assert_eq!(again.status(), 303);

    // Another user is not affected, and gets a session.
    let ok = sign_in(
        &c,
        &app,
        &csrf,
        "secops@acme.example",
        "another long password",
    )
    .await;
    assert_eq!(ok.status(), 303);
    let cookie = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("casedesk_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let s: serde_json::Value = c
        .get(format!("{}/auth/session", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["email"], "secops@acme.example");
    assert_eq!(s["issuer"], serde_json::Value::Null);
    // The session cookie is stored hashed: its value is not in the database.
    let secret = cookie
        .trim_start_matches("casedesk_session=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        app.store
            .find_session(&secret, casedesk_core::now())
            .await
            .unwrap()
            .is_none()
    );
    // A session is not an API credential.
    let api = c
        .get(format!("{}/api/v1/me", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
}
both!(local_sign_in_throttles_without_telling_and_checks_csrf);

async fn api_tokens_are_listed_created_and_revoked(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    // A token that may manage tokens, and one that may not.
    let manage = app
        .token("ops@acme.example", &[Scope::CasesRead, Scope::Tokens])
        .await;
    let a = app.get("/api/v1/tokens", &w.teammate).await;
    assert_eq!(a.status, 200);
    let a = app
        .get(
            "/api/v1/tokens",
            &app.token("ops@acme.example", &[Scope::CasesRead]).await,
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(a.json["required_scope"], "tokens");

    // A new token never carries more than the credential that asked for it.
    let more = app
        .post(
            "/api/v1/tokens",
            &manage,
            json!({"scopes": ["cases:write"]}),
        )
        .await;
    assert_eq!(more.status, 422, "{}", more.json);
    assert_eq!(more.error_fields(), vec!["scopes"]);
    // Nor more than the user's role allows.
    let admin = app
        .post("/api/v1/tokens", &w.ops, json!({"scopes": ["admin"]}))
        .await;
    assert_eq!(admin.status, 422);
    assert!(
        admin.json["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("managers and super admins")
    );
    let bad = app
        .post(
            "/api/v1/tokens",
            &manage,
            json!({"scopes": ["root"], "label": 5, "extra": 1}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_fields(), vec!["extra", "label", "scopes[0]"]);

    let made = app
        .post(
            "/api/v1/tokens",
            &manage,
            json!({"label": "nightly export"}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.json);
    assert_eq!(made.json["scopes"], json!(["cases:read", "tokens"]));
    let secret = made.json["token"].as_str().unwrap().to_owned();
    let id = made.json["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/me", &secret).await.status, 200);

    let list = app.get("/api/v1/tokens", &manage).await;
    let items = list.json["items"].as_array().unwrap();
    let mine = items.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(mine["label"], "nightly export");
    assert!(
        !list.json.to_string().contains(&secret),
        "secrets are never listed"
    );
    // Last use is recorded (in the background).
    let mut used = serde_json::Value::Null;
    for _ in 0..50 {
        let l = app.get("/api/v1/tokens", &manage).await;
        used = l.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str())
            .unwrap()["last_used_at"]
            .clone();
        if !used.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(used.is_string(), "last use recorded");

    // Another user can neither see nor revoke it; the answer is a plain 404.
    let theirs = app
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            Some(&w.globex),
            None,
        )
        .await;
    assert_eq!(theirs.status, 404);
    let other_list = app.get("/api/v1/tokens", &w.globex).await;
    assert!(!other_list.json.to_string().contains(&id));

    let gone = app
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            Some(&manage),
            None,
        )
        .await;
    assert_eq!(gone.status, 204);
    assert_eq!(
        app.get("/api/v1/me", &secret).await.status,
        401,
        "revoked at once"
    );
    let again = app
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            Some(&manage),
            None,
        )
        .await;
    assert_eq!(again.status, 404);
}
both!(api_tokens_are_listed_created_and_revoked);

async fn cli_bootstraps_once_sets_passwords_and_manages_tokens(b: Backend) {
    let db = casedesk_testkit::test_db(b).await;
    let url = db.url.as_str();
    let boot = json_of(&casedesk(
        &[
            "--database-url",
            url,
            "bootstrap",
            "--email",
            "First@Support.example",
            "--json",
        ],
        &[],
    ));
    assert_eq!(boot["email"], "first@support.example");
    assert!(boot["password"].as_str().unwrap().len() >= 20);
    let twice = casedesk(
        &[
            "--database-url",
            url,
            "bootstrap",
            "--email",
            "second@support.example",
        ],
        &[],
    );
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already exists"));

    let tok = json_of(&casedesk(
        &[
            "--database-url",
            url,
            "token",
            "create",
            "--user",
            "first@support.example",
            "--scope",
            "cases:read",
            "--label",
            "ci",
            "--json",
        ],
        &[],
    ));
    let id = tok["id"].as_str().unwrap().to_owned();
    let list = json_of(&casedesk(
        &["--database-url", url, "token", "list", "--json"],
        &[],
    ));
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["label"], "ci");
    assert!(!list.to_string().contains(tok["token"].as_str().unwrap()));
    let revoked = json_of(&casedesk(
        &["--database-url", url, "token", "revoke", &id, "--json"],
        &[],
    ));
    assert_eq!(revoked["revoked"], true);
    let missing = casedesk(&["--database-url", url, "token", "revoke", &id], &[]);
    assert!(!missing.status.success());

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_casedesk"))
        .args([
            "--database-url",
            url,
            "user",
            "set-password",
            "--email",
            "first@support.example",
            "--password-stdin",
            "--json",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "a short password is refused");
}
both!(cli_bootstraps_once_sets_passwords_and_manages_tokens);

/// The API's budgets: guessed credentials from one address are cut off after a few, before
/// they cost the server any lookup, and one credential cannot take more than its share.
async fn request_budgets_refuse_with_retry_after(b: Backend) {
    let opts = Options {
        rate_limits: casedesk_web::limits::RateLimits {
            enabled: true,
            per_address_per_minute: 6000,
            per_credential_per_minute: 80,
            failed_auth_per_address_per_minute: 40,
        },
        ..Options::default()
    };
    let app = spawn_app_with(b, opts).await;
    let w = app.world().await;
    // One credential: its burst (a quarter of a minute's budget), then 429 with a wait.
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let r = app.get("/api/v1/me", &w.ops).await;
        statuses.push(r.status);
        if r.status == 429 {
            assert_eq!(r.content_type(), "application/problem+json");
            let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&wait), "{wait}");
            assert!(
                r.json["detail"]
                    .as_str()
                    .unwrap()
                    .contains("this credential")
            );
        }
    }
    // The burst is 20; a slow machine may see a token or two refilled meanwhile.
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert!((20..=23).contains(&served), "{statuses:?}");
    assert_eq!(
        app.get("/api/v1/me", &w.teammate).await.status,
        200,
        "another credential has its own"
    );
    // Guessed tokens: a few refusals, then the address is refused outright.
    let mut refused = 0;
    let mut cut = None;
    for i in 0..200 {
        let r = app
            .get("/api/v1/me", &format!("cdk_guess{i:08}aaaaaaaaaaaa"))
            .await;
        match r.status {
            401 => refused += 1,
            429 => {
                cut = Some(r);
                break;
            }
            s => panic!("{s}"),
        }
    }
    let cut = cut.expect("guessing was never cut off");
    assert!(refused <= 12, "{refused} guesses answered before the cut");
    assert!(cut.headers.get("retry-after").is_some());
    assert!(
        cut.json["detail"]
            .as_str()
            .unwrap()
            .contains("refused credentials")
    );
    // From that address, even a good credential waits now.
    assert_eq!(app.get("/api/v1/me", &w.secops).await.status, 429);
}
both!(request_budgets_refuse_with_retry_after);
