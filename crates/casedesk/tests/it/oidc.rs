//! Bearer JWTs and web sign-in against a real OpenID provider (panva's oidc-provider on
//! loopback, started per test).

use std::sync::Arc;
use std::time::Duration;

use casedesk_auth::AuthConfig;
use casedesk_testkit::op::{self, API, Provider, issuer_config, sign_with};
use casedesk_testkit::{
    Backend, TestApp, acme_case, both, globex_case, reserve, spawn_reserved, test_db,
};
use serde_json::{Value, json};

use crate::permissions::{case_routes, expect_all};

/// A provider and a casedesk that trusts it (users created from tokens).
async fn setup(
    b: Backend,
    tune: impl FnOnce(&mut casedesk_auth::IssuerConfig),
) -> (Provider, TestApp) {
    let reserved = reserve().await;
    let base = format!("http://{}", reserved.addr);
    let provider = Provider::start(&[format!("{base}/auth/oidc/callback")]).await;
    let mut issuer = issuer_config(&provider);
    tune(&mut issuer);
    let auth = AuthConfig {
        issuers: vec![issuer],
        public_url: Some(base),
        local_accounts: Some(true),
        ..AuthConfig::default()
    };
    let app = spawn_reserved(reserved, Arc::new(test_db(b).await), auth).await;
    (provider, app)
}

/// Registers provider users for the test world's accounts.
async fn people(p: &Provider) {
    let users = [
        (
            "owner",
            "jit-owner@acme.example",
            json!(["super-admin"]),
            Some("Acme"),
        ),
        (
            "ops",
            "jit-ops@acme.example",
            json!(["admin", "case-admin"]),
            Some("Acme"),
        ),
        (
            "sec",
            "jit-sec@acme.example",
            json!("admin case-admin elevated"),
            Some("Acme"),
        ),
        (
            "viewer",
            "jit-viewer@acme.example",
            json!(["admin"]),
            Some("Acme"),
        ),
        (
            "globex",
            "jit-ops@globex.example",
            json!(["admin", "case-admin"]),
            Some("Globex"),
        ),
        (
            "agent",
            "jit-agent@casedesk.example",
            json!(["agent"]),
            None,
        ),
        (
            "manager",
            "jit-manager@casedesk.example",
            json!(["manager"]),
            None,
        ),
    ];
    for (login, email, roles, account) in users {
        let mut claims = json!({"email": email, "casedesk_roles": roles});
        if let Some(a) = account {
            claims["casedesk_account"] = json!(a);
        }
        if login == "agent" {
            claims["casedesk_queues"] = json!(["identity"]);
        }
        p.set_user(login, claims).await;
    }
}

async fn token(p: &Provider, login: &str) -> String {
    p.access_token(login, "cases:read cases:write tokens", API)
        .await
}

fn challenge(a: &casedesk_testkit::Answer) -> String {
    a.headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Asserts a 401 whose challenge names `reason` and never echoes the token.
async fn refused(app: &TestApp, token: &str, reason: &str) {
    let a = app.get("/api/v1/me", token).await;
    assert_eq!(a.status, 401, "{reason}: {}", a.json);
    let c = challenge(&a);
    assert!(c.contains("error=\"invalid_token\""), "{c}");
    assert!(c.contains(reason), "expected {reason:?} in {c}");
    assert!(
        a.json["detail"].as_str().unwrap().contains(reason),
        "{}",
        a.json
    );
    for part in token.split('.').filter(|p| p.len() > 8) {
        assert!(
            !a.json.to_string().contains(part) && !c.contains(part),
            "token echoed"
        );
    }
}

async fn every_role_signs_in_with_a_provider_token(b: Backend) {
    let (p, app) = setup(b, |_| {}).await;
    let _w = app.world().await;
    people(&p).await;
    let expect = [
        ("owner", "super-admin", true),
        ("ops", "admin", true),
        ("sec", "admin", true),
        ("viewer", "admin", false),
        ("agent", "agent", true),
        ("manager", "manager", true),
    ];
    for (login, role, case_access) in expect {
        let t = token(&p, login).await;
        let me = app.get("/api/v1/me", &t).await;
        assert_eq!(me.status, 200, "{login}: {}", me.json);
        assert_eq!(me.json["role"], role, "{login}");
        assert_eq!(
            me.json["scopes"],
            json!(["cases:read", "cases:write", "tokens"]),
            "{login}"
        );
        let list = app.get("/api/v1/cases", &t).await;
        assert_eq!(list.status == 200, case_access, "{login}: {}", list.json);
        if !case_access {
            assert_eq!(list.status, 403);
            assert!(list.json["detail"].as_str().unwrap().contains("case-admin"));
        }
    }
    let sec = app.get("/api/v1/me", &token(&p, "sec").await).await;
    assert_eq!(sec.json["elevated"], true);
    let agent = app.get("/api/v1/me", &token(&p, "agent").await).await;
    assert_eq!(agent.json["queues"], json!(["identity"]));

    // A case opened with a JWT belongs to the caller's account and shows to the elevated contact.
    let ops = token(&p, "ops").await;
    let n = app
        .open_case(&ops, acme_case("Opened with a provider token"))
        .await;
    let got = app
        .get(&format!("/api/v1/cases/{n}"), &token(&p, "sec").await)
        .await;
    assert_eq!(got.status, 200);

    // Roles changed at the provider take effect with the next token.
    p.set_user("viewer", json!({"email": "jit-viewer@acme.example", "casedesk_account": "Acme", "casedesk_roles": ["admin", "case-admin"]})).await;
    let list = app.get("/api/v1/cases", &token(&p, "viewer").await).await;
    assert_eq!(list.status, 200, "{}", list.json);
    p.set_user("ops", json!({"email": "jit-ops@acme.example", "casedesk_account": "Acme", "casedesk_roles": ["admin"]})).await;
    let list = app.get("/api/v1/cases", &token(&p, "ops").await).await;
    assert_eq!(list.status, 403, "case-admin was taken away: {}", list.json);

    // An address the provider has not verified stands for no one.
    p.set_user("sec", json!({"email": "jit-sec@acme.example", "email_verified": false, "casedesk_account": "Acme", "casedesk_roles": ["admin"]})).await;
    let unverified = app.get("/api/v1/me", &token(&p, "sec").await).await;
    assert_eq!(unverified.status, 403, "{}", unverified.json);
    assert!(
        unverified.json["detail"]
            .as_str()
            .unwrap()
            .contains("not verified")
    );

    // A token may not move a user to another account.
    p.set_user("globex", json!({"email": "jit-ops@acme.example", "casedesk_account": "Globex", "casedesk_roles": ["admin"]})).await;
    let moved = app.get("/api/v1/me", &token(&p, "globex").await).await;
    assert_eq!(moved.status, 403, "{}", moved.json);
}
both!(every_role_signs_in_with_a_provider_token);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_type_of_the_provider_is_accepted() {
    let (p, app) = setup(Backend::Sqlite, |_| {}).await;
    let _w = app.world().await;
    people(&p).await;
    for resource in [
        API.to_owned(),
        format!("{API}/ps256"),
        format!("{API}/es256"),
        format!("{API}/eddsa"),
    ] {
        let t = p.access_token("ops", "cases:read", &resource).await;
        let me = app.get("/api/v1/me", &t).await;
        assert_eq!(me.status, 200, "{resource}: {}", me.json);
        assert_eq!(me.json["scopes"], json!(["cases:read"]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tokens_name_the_reason() {
    let (p, app) = setup(Backend::Sqlite, |c| c.clock_skew_seconds = 0).await;
    let _w = app.world().await;
    people(&p).await;
    let key = p.rsa_key().await;
    let now = jiff::Timestamp::now().as_second();
    let base = p.claims(
        "jit-ops@acme.example",
        &["admin", "case-admin"],
        Some("Acme"),
    );
    let with = |patch: Value| {
        let mut c = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    // The baseline hand-made token is accepted, so each refusal below is for its one change.
    let good = sign_with(&key, json!({}), base.clone());
    assert_eq!(app.get("/api/v1/me", &good).await.status, 200);

    refused(
        &app,
        &sign_with(&key, json!({}), with(json!({"exp": now - 10}))),
        "expired",
    )
    .await;
    refused(
        &app,
        &sign_with(&key, json!({}), with(json!({"nbf": now + 600}))),
        "not valid yet",
    )
    .await;
    refused(
        &app,
        &sign_with(&key, json!({}), with(json!({"iat": now + 600}))),
        "issued in the future",
    )
    .await;
    refused(
        &app,
        &sign_with(
            &key,
            json!({}),
            with(json!({"iss": "https://evil.example"})),
        ),
        "issuer",
    )
    .await;
    refused(
        &app,
        &sign_with(&key, json!({}), with(json!({"aud": "another-api"}))),
        "audience",
    )
    .await;
    refused(
        &app,
        &sign_with(
            &key,
            json!({}),
            with(json!({"exp": format!("{}", now + 600)})),
        ),
        "exp claim",
    )
    .await;
    refused(
        &app,
        &sign_with(&key, json!({"typ": "JWT"}), base.clone()),
        "typ",
    )
    .await;
    refused(
        &app,
        &sign_with(&key, json!({"kid": "not-published"}), base.clone()),
        "unknown kid",
    )
    .await;

    // alg none, and HS256 with the provider's public key as the HMAC secret.
    refused(&app, &op::unsigned(&base), "alg none").await;
    refused(&app, &op::hmac_with_public_key(&key, &base), "HMAC").await;

    // A real token with its claims changed (a role added), and one with its signature changed.
    let real = token(&p, "ops").await;
    assert_eq!(app.get("/api/v1/me", &real).await.status, 200);
    let parts: Vec<&str> = real.split('.').collect();
    let forged_claims = {
        use base64::Engine;
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut c: Value = serde_json::from_slice(&b.decode(parts[1]).unwrap()).unwrap();
        c["casedesk_roles"] = json!(["super-admin"]);
        b.encode(c.to_string())
    };
    refused(
        &app,
        &format!("{}.{forged_claims}.{}", parts[0], parts[2]),
        "signature",
    )
    .await;
    let mut sig: Vec<char> = parts[2].chars().collect();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
    let sig: String = sig.into_iter().collect();
    refused(
        &app,
        &format!("{}.{}.{sig}", parts[0], parts[1]),
        "signature",
    )
    .await;

    // A real token for another audience, and the ID token used as an access token.
    let other = p
        .access_token("ops", "cases:read", "https://other.test/api")
        .await;
    refused(&app, &other, "audience").await;
    let id = p.code_flow("ops", "cases:read", API).await["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    refused(&app, &id, "typ").await;

    // A real token that expired (one-second lifetime, no skew allowed in this app).
    let short = p
        .access_token("ops", "cases:read", &format!("{API}/short"))
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    refused(&app, &short, "expired").await;

    // Missing scope is a 403, not a 401.
    let read_only = p.access_token("ops", "cases:read", API).await;
    let a = app
        .post("/api/v1/cases", &read_only, acme_case("needs write"))
        .await;
    assert_eq!(a.status, 403, "{}", a.json);
    assert!(challenge(&a).contains("error=\"insufficient_scope\""));
    assert_eq!(a.json["required_scope"], "cases:write");
    // No credential at all: a challenge without an error code.
    let bare = app.call("GET", "/api/v1/me", None, None).await;
    assert_eq!(bare.status, 401);
    assert!(!challenge(&bare).contains("error="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_is_picked_up_with_one_refetch() {
    let (p, app) = setup(Backend::Sqlite, |c| c.refetch_interval_seconds = 1).await;
    let _w = app.world().await;
    people(&p).await;
    let old = token(&p, "ops").await;
    assert_eq!(app.get("/api/v1/me", &old).await.status, 200);
    assert_eq!(p.jwks_fetches().await, 1);

    // New keys, old ones still published: one refetch for the new kid, old tokens still work.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    p.rotate(true).await;
    let new = token(&p, "ops").await;
    assert_eq!(app.get("/api/v1/me", &new).await.status, 200);
    assert_eq!(
        p.jwks_fetches().await,
        2,
        "exactly one refetch for the new kid"
    );
    assert_eq!(app.get("/api/v1/me", &old).await.status, 200);
    assert_eq!(app.get("/api/v1/me", &new).await.status, 200);
    assert_eq!(p.jwks_fetches().await, 2, "known kids need no fetch");

    // Old keys withdrawn: once the new set is fetched, tokens of the withdrawn key fail.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    p.rotate(false).await;
    let newest = token(&p, "ops").await;
    assert_eq!(app.get("/api/v1/me", &newest).await.status, 200);
    assert_eq!(p.jwks_fetches().await, 3);
    refused(&app, &old, "unknown kid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kids_cannot_make_casedesk_hammer_the_provider() {
    let (p, app) = setup(Backend::Sqlite, |_| {}).await;
    let _w = app.world().await;
    people(&p).await;
    let key = p.rsa_key().await;
    let claims = p.claims("jit-ops@acme.example", &["admin"], Some("Acme"));
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let t = sign_with(&key, json!({"kid": format!("random-{i}")}), claims.clone());
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.get("/api/v1/me", &t).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    let fetches = p.jwks_fetches().await;
    assert!(
        fetches <= 2,
        "100 unknown kids caused {fetches} JWKS fetches"
    );
    // A valid token still works without another fetch.
    assert_eq!(
        app.get("/api/v1/me", &token(&p, "ops").await).await.status,
        200
    );
    assert!(p.jwks_fetches().await <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_fetch_the_keys_once() {
    let (p, app) = setup(Backend::Sqlite, |_| {}).await;
    let _w = app.world().await;
    people(&p).await;
    let t = Arc::new(token(&p, "ops").await);
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (app, t) = (app.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..625 {
                assert_eq!(app.get("/api/v1/me", &t).await.status, 200);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(p.jwks_fetches().await, 1, "10,000 requests, one JWKS fetch");
    assert_eq!(app.auth.issuers()[0].keys.jwks_fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_outlive_the_provider_and_no_keys_is_a_503() {
    let (mut p, app) = setup(Backend::Sqlite, |c| c.http_timeout_seconds = 2).await;
    let _w = app.world().await;
    people(&p).await;
    let t = token(&p, "ops").await;
    assert_eq!(app.get("/api/v1/me", &t).await.status, 200);
    let issuer = p.issuer.clone();
    p.stop().await;
    assert_eq!(
        app.get("/api/v1/me", &t).await.status,
        200,
        "cached keys keep working"
    );

    // A second node that never saw the keys cannot check the token: a clear 503, at once.
    let mut cfg = casedesk_auth::IssuerConfig::new("test-op", &issuer, op::AUDIENCE);
    cfg.http_timeout_seconds = 2;
    cfg.link_existing_users = true;
    let auth = AuthConfig {
        issuers: vec![cfg],
        ..AuthConfig::default()
    };
    let node2 = spawn_reserved(reserve().await, app.db.clone(), auth).await;
    let started = std::time::Instant::now();
    let a = node2.get("/api/v1/me", &t).await;
    assert_eq!(a.status, 503, "{}", a.json);
    assert_eq!(a.content_type(), "application/problem+json");
    assert!(a.headers.get("retry-after").is_some());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered in {:?}",
        started.elapsed()
    );
    // API tokens keep working while the provider is away.
    let api = app.token("ops@acme.example", &[]).await;
    assert_eq!(node2.get("/api/v1/me", &api).await.status, 200);
}

async fn jwt_callers_never_see_another_accounts_cases(b: Backend) {
    let (p, app) = setup(b, |_| {}).await;
    let w = app.world().await;
    people(&p).await;
    let globex = token(&p, "globex").await;
    let acme_sec = token(&p, "sec").await;
    let acme_case_n = app.open_case(&w.ops, acme_case("Acme only")).await;
    let globex_case_n = app.open_case(&globex, globex_case("Globex only")).await;
    let theirs = expect_all(
        &app,
        &globex,
        acme_case_n,
        404,
        "globex JWT on an Acme case",
    )
    .await;
    let missing = expect_all(&app, &globex, 999_999, 404, "globex JWT on a missing case").await;
    assert_eq!(
        theirs, missing,
        "another account's case looks exactly like a missing one"
    );
    expect_all(
        &app,
        &acme_sec,
        globex_case_n,
        404,
        "acme JWT on a Globex case",
    )
    .await;
    for (who, t, mine, other) in [
        ("globex", &globex, globex_case_n, acme_case_n),
        ("acme", &acme_sec, acme_case_n, globex_case_n),
    ] {
        let list = app.get("/api/v1/cases?limit=100", t).await;
        let numbers: Vec<i64> = list.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["number"].as_i64().unwrap())
            .collect();
        assert!(
            numbers.contains(&mine) && !numbers.contains(&other),
            "{who}: {numbers:?}"
        );
        let search = app.get("/api/v1/cases?q=only", t).await;
        let found: Vec<i64> = search.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["number"].as_i64().unwrap())
            .collect();
        assert!(!found.contains(&other), "{who} search: {found:?}");
    }
    assert_eq!(case_routes(1).len(), 15);
}
both!(jwt_callers_never_see_another_accounts_cases);

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Follows redirects by hand from `url` until casedesk's own pages are reached again.
async fn browse(c: &reqwest::Client, app: &TestApp, url: &str) -> (reqwest::Response, Vec<String>) {
    let mut next = url.to_owned();
    let mut seen = Vec::new();
    loop {
        let r = c.get(&next).send().await.unwrap();
        let loc = location(&r);
        seen.push(next.clone());
        if !r.status().is_redirection()
            || (next.starts_with(&app.base) && next.contains("/callback"))
        {
            return (r, seen);
        }
        next = if loc.starts_with('/') {
            let origin = reqwest::Url::parse(&next).unwrap();
            format!(
                "{}://{}{loc}",
                origin.scheme(),
                origin.host_str().unwrap().to_owned()
                    + origin
                        .port()
                        .map(|p| format!(":{p}"))
                        .unwrap_or_default()
                        .as_str()
            )
        } else {
            loc
        };
    }
}

async fn session_status(browser: &reqwest::Client, app: &TestApp) -> u16 {
    let r = browser
        .get(format!("{}/auth/session", app.base))
        .send()
        .await;
    r.unwrap().status().as_u16()
}

async fn web_sign_in_through_the_provider(b: Backend) {
    let (p, app) = setup(b, |_| {}).await;
    let _w = app.world().await;
    people(&p).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let start = format!(
        "{}/auth/oidc/test-op/start?login_hint=sec&return_to=/cases",
        app.base
    );
    let first = browser.get(&start).send().await.unwrap();
    assert_eq!(first.status(), 303);
    let authorize = location(&first);
    for needed in [
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "client_id=casedesk-web",
    ] {
        assert!(
            authorize.contains(needed),
            "{needed} missing in {authorize}"
        );
    }
    let state_cookie = first
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        state_cookie.contains("HttpOnly") && state_cookie.contains("SameSite=Lax"),
        "{state_cookie}"
    );
    let (callback, seen) = browse(&browser, &app, &authorize).await;
    let callback_url = seen.last().unwrap().clone();
    assert!(
        callback_url.starts_with(&format!("{}/auth/oidc/callback", app.base)),
        "{seen:?}"
    );
    assert_eq!(callback.status(), 303, "{:?}", callback.text().await);
    assert_eq!(location(&callback), "/cases");
    let cookies: Vec<String> = callback
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("casedesk_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Path=/"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "plain http here; Secure is set when public_url is https"
    );

    let s: Value = browser
        .get(format!("{}/auth/session", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["email"], "jit-sec@acme.example");
    assert_eq!(s["issuer"], "test-op");
    let csrf = s["csrf_token"].as_str().unwrap().to_owned();

    // The callback cannot be replayed: its state was used.
    let again = browser.get(&callback_url).send().await.unwrap();
    assert_eq!(again.status(), 400);
    // A callback in a browser that did not start the login is refused.
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let first = browser.get(&start).send().await.unwrap();
    let (_, seen) = {
        // Walk the provider part with the original browser, then hand the callback to a stranger.
        let mut next = location(&first);
        let mut seen = Vec::new();
        loop {
            if next.starts_with(&app.base) {
                break;
            }
            let r = browser.get(&next).send().await.unwrap();
            let loc = location(&r);
            next = if loc.starts_with('/') {
                format!("{}{loc}", p.issuer)
            } else {
                loc
            };
            seen.push(next.clone());
        }
        (next.clone(), seen)
    };
    let hijack = stranger.get(seen.last().unwrap()).send().await.unwrap();
    assert_eq!(
        hijack.status(),
        400,
        "a callback without the browser's state cookie is refused"
    );

    // Signing out needs the CSRF token.
    let no_token = browser
        .post(format!("{}/auth/logout", app.base))
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 403);
    assert_eq!(session_status(&browser, &app).await, 200);
    let out = browser
        .post(format!("{}/auth/logout", app.base))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(session_status(&browser, &app).await, 401);
}
both!(web_sign_in_through_the_provider);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_headers_are_honoured_within_the_bounded_lifetime() {
    // The provider asks for an hour; casedesk's bound is two seconds.
    let (p, app) = setup(Backend::Sqlite, |c| {
        c.key_cache_seconds = 2;
        c.refetch_interval_seconds = 1;
    })
    .await;
    let _w = app.world().await;
    people(&p).await;
    p.set_jwks_max_age(3600).await;
    let old = token(&p, "ops").await;
    assert_eq!(app.get("/api/v1/me", &old).await.status, 200);
    // The provider withdraws the key; within the bound the cached key still answers...
    p.rotate(false).await;
    assert_eq!(app.get("/api/v1/me", &old).await.status, 200);
    assert_eq!(p.jwks_fetches().await, 1);
    // ...and after it, the keys are fetched again and the withdrawn key stops working.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    refused(&app, &old, "unknown kid").await;
    assert_eq!(p.jwks_fetches().await, 2);

    // A shorter max-age from the provider is honoured too (not below the refetch interval).
    p.set_jwks_max_age(1).await;
    let fresh = token(&p, "ops").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.get("/api/v1/me", &fresh).await.status, 200);
    let after_first = p.jwks_fetches().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.get("/api/v1/me", &fresh).await.status, 200);
    assert_eq!(
        p.jwks_fetches().await,
        after_first + 1,
        "max-age 1 s: fetched again after it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_limits_decide_who_may_sign_in() {
    // This issuer creates no users and may grant customer roles only.
    let (p, app) = setup(Backend::Sqlite, |c| {
        c.provisioning = casedesk_auth::oidc::Provisioning::Existing;
        c.allowed_roles = Some(vec![
            casedesk_core::users::Role::SuperAdmin,
            casedesk_core::users::Role::Admin,
        ]);
    })
    .await;
    let _w = app.world().await;
    people(&p).await;
    // Unknown to casedesk: refused with a 403 that says why, and not created.
    let a = app.get("/api/v1/me", &token(&p, "ops").await).await;
    assert_eq!(a.status, 403, "{}", a.json);
    assert!(
        a.json["detail"]
            .as_str()
            .unwrap()
            .contains("must create the user first")
    );
    assert!(
        app.store
            .find_user_by_email("jit-ops@acme.example")
            .await
            .unwrap()
            .is_none()
    );
    // An existing user (created with the CLI) signs in.
    p.set_user("ops", json!({"email": "ops@acme.example", "casedesk_account": "Acme", "casedesk_roles": ["admin", "case-admin"]})).await;
    assert_eq!(
        app.get("/api/v1/me", &token(&p, "ops").await).await.status,
        200
    );
    // A role this issuer may not grant is refused.
    p.set_user(
        "manager",
        json!({"email": "manager@casedesk.example", "casedesk_roles": ["manager"]}),
    )
    .await;
    let m = app.get("/api/v1/me", &token(&p, "manager").await).await;
    assert_eq!(m.status, 403);
    assert!(
        m.json["detail"]
            .as_str()
            .unwrap()
            .contains("may not grant the manager role")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_hangs_delays_at_most_one_request() {
    let (mut p, app) = setup(Backend::Sqlite, |c| {
        c.key_cache_seconds = 1;
        c.refetch_interval_seconds = 1;
        c.http_timeout_seconds = 2;
    })
    .await;
    let _w = app.world().await;
    people(&p).await;
    let t = token(&p, "ops").await;
    let other = token(&p, "sec").await;
    assert_eq!(app.get("/api/v1/me", &t).await.status, 200);
    // The provider's port now accepts connections and never answers.
    let port: u16 = p.issuer.rsplit(':').next().unwrap().parse().unwrap();
    p.stop().await;
    let silent = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Keys are stale: one request tries the provider; the others are served from the cache.
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (app, t) = (
            app.clone(),
            if i % 2 == 0 { t.clone() } else { other.clone() },
        );
        tasks.push(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let status = app.get("/api/v1/me", &t).await.status;
            (status, started.elapsed())
        }));
    }
    let mut slow = 0;
    for task in tasks {
        let (status, took) = task.await.unwrap();
        assert_eq!(status, 200, "stale keys keep serving");
        if took > Duration::from_millis(1500) {
            slow += 1;
        }
    }
    assert!(slow <= 1, "{slow} requests waited for the provider");
}

/// Two trusted issuers: the support team's own (`test-op`, trusted for everyone) and a
/// customer-run provider limited to customer roles. Identities are bound to their issuer and
/// subject, so no token of one becomes a user of the other by naming the same email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_are_bound_to_their_issuer_and_subject() {
    let reserved = reserve().await;
    let corp = Provider::start(&[]).await;
    let customer = Provider::start(&[]).await;
    let mut theirs =
        casedesk_auth::IssuerConfig::new("customer-op", &customer.issuer, op::AUDIENCE);
    theirs.allowed_roles = Some(vec![
        casedesk_core::users::Role::SuperAdmin,
        casedesk_core::users::Role::Admin,
    ]);
    let auth = AuthConfig {
        issuers: vec![issuer_config(&corp), theirs.clone()],
        ..AuthConfig::default()
    };
    let app = spawn_reserved(reserved, Arc::new(test_db(Backend::Sqlite).await), auth).await;
    let w = app.world().await;
    let (corp_key, their_key) = (corp.rsa_key().await, customer.rsa_key().await);
    let mint = |p: &Provider, key: &op::ProviderKey, sub: &str, email: &str, extra: Value| {
        let mut c = p.claims(email, &[], None);
        c["sub"] = json!(sub);
        if let Some(c) = c.as_object_mut() {
            c.remove("casedesk_roles");
        }
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        op::sign_with(key, json!({"typ": "at+jwt"}), c)
    };

    // The customer's provider names another account's admin, who never signed in with a
    // provider: refused, and the attempt is in that user's audit trail, naming the issuer.
    let t = mint(
        &customer,
        &their_key,
        "x-1",
        "ops@globex.example",
        json!({}),
    );
    let a = app.get("/api/v1/me", &t).await;
    assert_eq!(a.status, 403, "{}", a.json);
    assert!(
        a.json["detail"]
            .as_str()
            .unwrap()
            .contains("not been linked"),
        "{}",
        a.json
    );

    // ops@acme signs in through the support team's provider and is bound to it.
    let t = mint(&corp, &corp_key, "corp-ops", "ops@acme.example", json!({}));
    let me = app.get("/api/v1/me", &t).await;
    assert_eq!(
        (me.status, me.json["email"].as_str()),
        (200, Some("ops@acme.example")),
        "{}",
        me.json
    );
    // Neither the other provider nor another subject of the same provider is that user.
    for t in [
        mint(&customer, &their_key, "x-2", "ops@acme.example", json!({})),
        mint(
            &corp,
            &corp_key,
            "corp-impostor",
            "ops@acme.example",
            json!({}),
        ),
    ] {
        let a = app.get("/api/v1/me", &t).await;
        assert_eq!(a.status, 403, "{}", a.json);
        assert!(
            a.json["detail"]
                .as_str()
                .unwrap()
                .contains("bound to another sign-in"),
            "{}",
            a.json
        );
    }
    let entries = crate::audit::export_lines(&app, &w.manager, "").await;
    let refused: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "signin.identity_refused")
        .collect();
    assert!(
        refused.iter().any(|e| e["target"] == "user:ops@globex.example"
            && e["actor"] == "issuer:customer-op"),
        "{refused:#?}"
    );
    assert_eq!(refused.len(), 3, "{refused:#?}");

    // Every act through a JWT names its issuer beside the actor.
    let t = mint(&corp, &corp_key, "corp-ops", "ops@acme.example", json!({}));
    let created = app
        .post("/api/v1/cases", &t, acme_case("Opened with a JWT"))
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let entries = crate::audit::export_lines(&app, &w.manager, "").await;
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "case.create"
                && e["actor"] == "ops@acme.example via issuer:test-op"),
        "{entries:#?}"
    );

    // A manager links the customer's subject to Globex's admin explicitly; then it works.
    let link = app
        .post(
            "/api/v1/users/ops@globex.example/identities",
            &w.manager,
            json!({"issuer": "customer-op", "subject": "x-1"}),
        )
        .await;
    assert_eq!(link.status, 201, "{}", link.json);
    let t = mint(
        &customer,
        &their_key,
        "x-1",
        "ops@globex.example",
        json!({}),
    );
    assert_eq!(app.get("/api/v1/me", &t).await.status, 200);
    // Nobody else may link, a subject bound to one user is not bound to another, and bad
    // input names its field.
    for who in [&w.super_admin, &w.agent, &w.globex] {
        let a = app
            .post(
                "/api/v1/users/ops@globex.example/identities",
                who,
                json!({"issuer": "customer-op", "subject": "x-9"}),
            )
            .await;
        assert_eq!(a.status, 403, "{}", a.json);
    }
    let a = app
        .post(
            "/api/v1/users/ops@acme.example/identities",
            &w.manager,
            json!({"issuer": "customer-op", "subject": "x-1"}),
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.json);
    let a = app
        .post(
            "/api/v1/users/ops@acme.example/identities",
            &w.manager,
            json!({"issuer": "nope", "subject": "", "colour": 1}),
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.json);
    let mut fields = a.error_fields();
    fields.sort();
    assert_eq!(fields, ["colour", "issuer", "subject"]);
    let listed = app
        .get("/api/v1/users/ops@globex.example/identities", &w.manager)
        .await;
    assert_eq!(
        listed.json["items"][0]["issuer"], "customer-op",
        "{}",
        listed.json
    );
    let gone = app
        .call(
            "DELETE",
            "/api/v1/users/ops@globex.example/identities/customer-op/x-1",
            Some(&w.manager),
            None,
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.json);
    assert_eq!(app.get("/api/v1/me", &t).await.status, 403);

    // email_verified is read as written, a text "false" included.
    let t = mint(
        &corp,
        &corp_key,
        "corp-ops",
        "ops@acme.example",
        json!({"email_verified": "false"}),
    );
    let a = app.get("/api/v1/me", &t).await;
    assert_eq!(a.status, 403, "{}", a.json);
    assert!(a.json["detail"].as_str().unwrap().contains("not verified"));

    // The account claim matters for customer roles only: a manager's token may name none.
    let t = mint(
        &corp,
        &corp_key,
        "corp-mia",
        "mia@support.example",
        json!({"casedesk_roles": ["manager"], "casedesk_account": "no-such-account"}),
    );
    let a = app.get("/api/v1/me", &t).await;
    assert_eq!(
        (a.status, a.json["role"].as_str()),
        (200, Some("manager")),
        "{}",
        a.json
    );
}

/// An issuer trusted for named accounts binds those accounts' users at their first sign-in,
/// and no one else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_for_named_accounts_binds_only_their_users() {
    let (p, app) = setup(Backend::Sqlite, |c| {
        c.link_existing_users = false;
        c.provisioning = casedesk_auth::oidc::Provisioning::Existing;
        c.accounts = Some(vec!["Globex".into()]);
    })
    .await;
    let _w = app.world().await;
    let key = p.rsa_key().await;
    let mint = |sub: &str, email: &str| {
        let mut c = p.claims(email, &[], None);
        c["sub"] = json!(sub);
        if let Some(c) = c.as_object_mut() {
            c.remove("casedesk_roles");
        }
        op::sign_with(&key, json!({"typ": "at+jwt"}), c)
    };
    assert_eq!(
        app.get("/api/v1/me", &mint("g-1", "ops@globex.example"))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get("/api/v1/me", &mint("g-1", "ops@globex.example"))
            .await
            .status,
        200
    );
    let a = app
        .get("/api/v1/me", &mint("a-1", "ops@acme.example"))
        .await;
    assert_eq!(a.status, 403, "{}", a.json);
}
