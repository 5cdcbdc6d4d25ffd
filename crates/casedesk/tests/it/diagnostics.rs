//! Identity diagnostics over HTTP: the redirect-URI explainer.

use casedesk_testkit::{Backend, both, spawn_app};
use serde_json::json;

async fn redirect_uri_explainer_names_the_part_that_differs(b: Backend) {
    let app = spawn_app(b).await;
    let w = app.world().await;
    let path = "/api/v1/diagnostics/redirect-uri";
    let registered = json!([
        "https://app.acme.example/callback",
        "http://127.0.0.1:8400/cb"
    ]);

    let r = app
        .post(
            path,
            &w.ops,
            json!({"registered": registered, "used": "https://app.acme.example/callback"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["verdict"].as_str()),
        (200, Some("match")),
        "{}",
        r.json
    );

    let r = app
        .post(
            path,
            &w.agent,
            json!({"registered": registered, "used": "https://app.acme.example:443/callback/"}),
        )
        .await;
    assert_eq!(r.json["verdict"], "mismatch", "{}", r.json);
    assert_eq!(r.json["closest"], "https://app.acme.example/callback");
    let parts = r.json["parts"].as_array().unwrap();
    let verdict = |name: &str| parts.iter().find(|p| p["part"] == name).unwrap()["verdict"].clone();
    assert_eq!(verdict("port"), "equivalent_not_identical");
    assert_eq!(verdict("path"), "differs");
    assert_eq!(verdict("host"), "same");

    let r = app
        .post(
            path,
            &w.ops,
            json!({"registered": registered, "used": "http://127.0.0.1:53122/cb"}),
        )
        .await;
    assert_eq!(r.json["verdict"], "match_loopback_port", "{}", r.json);

    // Never lenient: what no authorization server accepts is invalid, even when registered,
    // and the advice never says to register an unsafe URI.
    for (used, code) in [
        ("http://127.0.0.1:8400.evil.example/cb", "invalid_port"),
        ("http://127.0.0.1:99999/cb", "invalid_port"),
        ("https://app.acme.example/callback#frag", "fragment"),
        ("https://app.acme.example@evil.example/callback", "userinfo"),
        (
            "https://evil.example\\@app.acme.example/callback",
            "invalid_character",
        ),
    ] {
        let mut reg = registered.as_array().unwrap().clone();
        reg.push(json!(used));
        let r = app
            .post(path, &w.ops, json!({"registered": reg, "used": used}))
            .await;
        assert_eq!(r.json["verdict"], "invalid", "{used}: {}", r.json);
        assert!(
            r.json["problems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["code"] == code),
            "{used}: {}",
            r.json
        );
        assert!(
            !r.json["advice"].as_str().unwrap().contains("Register"),
            "{}",
            r.json
        );
    }
    let r = app
        .post(
            path,
            &w.ops,
            json!({"registered": registered, "used": "https://app.аcme.example/callback"}),
        )
        .await;
    assert_eq!(r.json["verdict"], "mismatch", "{}", r.json);
    assert!(
        r.json["advice"]
            .as_str()
            .unwrap()
            .starts_with("Do not register"),
        "{}",
        r.json
    );
    let r = app
        .post(
            path,
            &w.ops,
            json!({"registered": ["com.acme.app:/oauth2redirect"], "used": "com.acme.app:/oauth2redirect"}),
        )
        .await;
    assert_eq!(
        r.json["verdict"], "match",
        "private-use schemes are valid: {}",
        r.json
    );

    // Bad input names the field; without a credential it is refused.
    for (body, field) in [
        (json!({"used": "https://x.example/cb"}), "registered"),
        (
            json!({"registered": [], "used": "https://x.example/cb"}),
            "registered",
        ),
        (
            json!({"registered": [7], "used": "https://x.example/cb"}),
            "registered[0]",
        ),
        (json!({"registered": ["https://x.example/cb"]}), "used"),
        (
            json!({"registered": ["https://x.example/cb"], "used": "x".repeat(1001)}),
            "used",
        ),
        (
            json!({"registered": ["https://x.example/cb"], "used": "https://x.example/cb", "colour": 1}),
            "colour",
        ),
    ] {
        let r = app.post(path, &w.ops, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.json);
        assert_eq!(r.error_fields(), [field], "{body}");
    }
    let r = app
        .call(
            "POST",
            path,
            None,
            Some(&json!({"registered": registered, "used": "x"})),
        )
        .await;
    assert_eq!(r.status, 401);
}
both!(redirect_uri_explainer_names_the_part_that_differs);

mod jwt {
    use casedesk_testkit::op::{self, API, AUDIENCE, Provider};
    use casedesk_testkit::{Backend, Options, TestApp, acme_case, both, spawn_app, spawn_app_with};
    use serde_json::{Value, json};
    use sha2::{Digest, Sha256};

    const PATH: &str = "/api/v1/diagnostics/jwt";

    fn codes(r: &Value, list: &str) -> Vec<String> {
        r[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn ask(app: &TestApp, token: &str, body: Value) -> Value {
        let r = app.post(PATH, token, body).await;
        assert_eq!(r.status, 200, "{}", r.json);
        r.json
    }

    async fn every_reason_a_token_fails_is_named(b: Backend) {
        let p = Provider::start(&[]).await;
        p.set_user("ops", json!({"email": "ops@acme.example"}))
            .await;
        let app = spawn_app(b).await;
        let w = app.world().await;
        let iss = p.issuer.clone();
        let good = p.access_token("ops", "cases:read", API).await;

        // A real token of the provider: valid, its claims trusted, only its fingerprint kept.
        let r = ask(
            &app,
            &w.ops,
            json!({"token": format!("Bearer {good}"), "issuer": iss, "audience": AUDIENCE}),
        )
        .await;
        assert_eq!(r["valid"], true, "{r}");
        assert_eq!(r["failures"], json!([]));
        assert_eq!(
            (
                r["bearer_prefix_removed"].clone(),
                r["claims_trusted"].clone()
            ),
            (json!(true), json!(true))
        );
        assert_eq!(
            r["token_fingerprint"],
            hex::encode(Sha256::digest(good.as_bytes()))[..12]
        );
        assert!(
            r["times"]["exp"]["relative"]
                .as_str()
                .unwrap()
                .starts_with("in "),
            "{r}"
        );
        assert!(r["keys"]["published"].as_array().unwrap().len() >= 2);
        // The report names no person: the subject and email are keyed hashes.
        assert!(
            r["claims"]["sub"].as_str().unwrap().starts_with("keyed:"),
            "{r}"
        );
        assert!(!r.to_string().contains("ops@acme.example"), "{r}");
        assert!(!r.to_string().contains("\"ops\""), "{r}");

        // Wrong audience, wrong expected issuer (only a trailing slash apart).
        let r = ask(
            &app,
            &w.agent,
            json!({"token": good, "issuer": iss, "audience": "api://default"}),
        )
        .await;
        assert_eq!(codes(&r, "failures"), ["aud_mismatch"], "{r}");
        assert_eq!(r["failures"][0]["details"]["expected"], "api://default");
        let r = ask(
            &app,
            &w.agent,
            json!({"token": good, "issuer": format!("{iss}/")}),
        )
        .await;
        assert_eq!(
            codes(&r, "failures"),
            ["discovery_issuer_mismatch", "iss_mismatch"],
            "{r}"
        );

        // Hand-made tokens signed with the provider's own key.
        let key = p.rsa_key().await;
        let now = jiff::Timestamp::now().as_second();
        let claims = |over: Value| {
            let mut c = p.claims("ops@acme.example", &[], None);
            for (k, v) in over.as_object().unwrap() {
                c[k] = v.clone();
            }
            c
        };
        let cases: Vec<(String, Value, Vec<&str>)> = vec![
            (
                op::sign_with(&key, json!({}), claims(json!({"exp": now - 250}))),
                json!({}),
                vec!["expired"],
            ),
            (
                op::sign_with(&key, json!({}), claims(json!({"nbf": now + 600}))),
                json!({}),
                vec!["not_yet_valid"],
            ),
            (
                op::sign_with(&key, json!({}), claims(json!({"iat": now + 600}))),
                json!({}),
                vec!["iat_in_future"],
            ),
            (
                op::sign_with(&key, json!({}), claims(json!({"exp": "tomorrow"}))),
                json!({}),
                vec!["claim_type_invalid:exp"],
            ),
            (
                op::sign_with(&key, json!({"typ": "JWT"}), claims(json!({"nonce": "n1"}))),
                json!({}),
                vec!["looks_like_id_token"],
            ),
            (
                op::sign_with(&key, json!({"kid": "not-published"}), claims(json!({}))),
                json!({}),
                vec!["kid_not_found"],
            ),
            (
                op::unsigned(&claims(json!({}))),
                json!({}),
                vec!["alg_none"],
            ),
            (
                op::hmac_with_public_key(&key, &claims(json!({}))),
                json!({}),
                vec!["alg_not_allowed"],
            ),
            ("not-a-token".into(), json!({}), vec!["malformed_token"]),
            ("a.b.c.d.e".into(), json!({}), vec!["jwe_not_supported"]),
        ];
        for (token, extra, want) in cases {
            let mut body = json!({"token": token, "issuer": iss, "audience": AUDIENCE});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let r = ask(&app, &w.ops, body).await;
            assert_eq!(codes(&r, "failures"), want, "{r}");
            assert_eq!(r["valid"], false);
        }
        let expired = op::sign_with(&key, json!({}), claims(json!({"exp": now - 250})));
        let r = ask(
            &app,
            &w.ops,
            json!({"token": expired, "issuer": iss, "audience": AUDIENCE}),
        )
        .await;
        assert!(
            r["failures"][0]["message"]
                .as_str()
                .unwrap()
                .contains("expired 4 min"),
            "{r}"
        );
        // The same token within a wider leeway passes.
        let r = ask(
            &app,
            &w.ops,
            json!({"token": expired, "issuer": iss, "audience": AUDIENCE, "leeway_seconds": 300}),
        )
        .await;
        assert_eq!(r["valid"], true, "{r}");
        // An unknown kid names what is published; a key reference in the header is ignored.
        let r = ask(&app, &w.ops, json!({"token": op::sign_with(&key, json!({"kid": "not-published"}), claims(json!({}))), "issuer": iss})).await;
        assert!(
            r["failures"][0]["details"]["published"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == &json!(key.kid)),
            "{r}"
        );
        let r = ask(&app, &w.ops, json!({"token": op::sign_with(&key, json!({"jku": "https://evil.example/jwks"}), claims(json!({}))), "issuer": iss})).await;
        assert_eq!(codes(&r, "warnings"), ["untrusted_key_reference"], "{r}");
        assert_eq!(r["valid"], true);
        // Another key's signature under this kid.
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[2] = op::sign_with(&key, json!({}), claims(json!({})))
            .rsplit('.')
            .next()
            .unwrap()
            .to_owned();
        let r = ask(
            &app,
            &w.ops,
            json!({"token": parts.join("."), "issuer": iss}),
        )
        .await;
        assert_eq!(codes(&r, "failures"), ["signature_invalid"], "{r}");
        assert_eq!(r["claims_trusted"], false);

        // The issuer must be reachable and allowed; bad questions name their field.
        let r = ask(
            &app,
            &w.ops,
            json!({"token": good, "issuer": "ftp://idp.example"}),
        )
        .await;
        assert_eq!(
            codes(&r, "failures"),
            ["discovery_refused", "iss_mismatch"],
            "{r}"
        );
        for (body, field) in [
            (json!({}), "token"),
            (json!({"token": good, "issuer": "not a url"}), "issuer"),
            (
                json!({"token": good, "leeway_seconds": 3600}),
                "leeway_seconds",
            ),
            (json!({"token": good, "extra": 1}), "extra"),
            (json!({"token": "x".repeat(20_000)}), "token"),
        ] {
            let r = app.post(PATH, &w.ops, body).await;
            assert_eq!(
                (r.status, r.error_fields()),
                (422, vec![field.to_owned()]),
                "{}",
                r.json
            );
        }
        assert_eq!(
            app.call("POST", PATH, None, Some(&json!({"token": good})))
                .await
                .status,
            401
        );

        // On a case: only the report is recorded, never the token; others' cases are refused.
        let n = app
            .open_case(&w.ops, acme_case("Token refused by our API"))
            .await;
        let r = ask(
            &app,
            &w.ops,
            json!({"token": expired, "issuer": iss, "case": n}),
        )
        .await;
        assert_eq!(r["valid"], false);
        let r = app
            .post(
                PATH,
                &w.globex,
                json!({"token": expired, "issuer": iss, "case": n}),
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.json);
        let events = app
            .get(&format!("/api/v1/cases/{n}/events"), &w.ops)
            .await
            .json;
        let report = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "diagnostic_report")
            .unwrap()
            .clone();
        assert_eq!(report["data"]["report"]["failures"][0]["code"], "expired");
        let stored = app.everything_stored().await;
        for t in [&good, &expired] {
            let sig = t.rsplit('.').next().unwrap();
            assert!(
                !stored.windows(sig.len()).any(|w| w == sig.as_bytes()),
                "a token's signature was stored"
            );
        }
    }
    both!(every_reason_a_token_fails_is_named);

    async fn keys_follow_rotation_and_a_kid_burst_costs_one_fetch(b: Backend) {
        let p = Provider::start(&[]).await;
        p.set_user("ops", json!({"email": "ops@acme.example"}))
            .await;
        // Keys go stale after 2 s here, so a rotation shows within the test.
        let interval = std::time::Duration::from_secs(2);
        let app = spawn_app_with(
            b,
            Options {
                explainer_keys: casedesk_auth::oidc::keys::CachePolicy {
                    max_age: interval,
                    refetch_interval: interval,
                    unreachable_grace: std::time::Duration::from_secs(3600),
                },
                ..Options::default()
            },
        )
        .await;
        let w = app.world().await;
        let iss = p.issuer.clone();
        let first = p.access_token("ops", "cases:read", API).await;
        let r = ask(&app, &w.ops, json!({"token": first, "issuer": iss})).await;
        assert_eq!(r["valid"], true, "{r}");

        // A burst of made-up key ids: at most one JWKS fetch per interval.
        let key = p.rsa_key().await;
        let before = p.jwks_fetches().await;
        let started = std::time::Instant::now();
        let burst: Vec<_> = (0..100)
            .map(|i| {
                let t = op::sign_with(
                    &key,
                    json!({"kid": format!("random-{i}")}),
                    p.claims("ops@acme.example", &[], None),
                );
                let body = json!({"token": t, "issuer": iss});
                let app = &app;
                let tok = w.ops.clone();
                async move { app.post(PATH, &tok, body).await }
            })
            .collect();
        for r in futures_util::future::join_all(burst).await {
            assert_eq!(r.json["failures"][0]["code"], "kid_not_found", "{}", r.json);
        }
        let fetched = p.jwks_fetches().await - before;
        let windows = 1 + started.elapsed().as_secs() / interval.as_secs();
        assert!(
            fetched <= windows,
            "{fetched} JWKS fetches in {:?}",
            started.elapsed()
        );

        // Rotation keeping the old keys: the new key is found, the old one still works.
        p.rotate(true).await;
        tokio::time::sleep(interval + std::time::Duration::from_millis(300)).await;
        let second = p.access_token("ops", "cases:read", API).await;
        for t in [&second, &first] {
            let r = ask(&app, &w.ops, json!({"token": t, "issuer": iss})).await;
            assert_eq!(r["valid"], true, "{r}");
        }
        // Rotation dropping them: the old token's key is gone once the keys are refetched.
        p.rotate(false).await;
        tokio::time::sleep(interval + std::time::Duration::from_millis(300)).await;
        let r = ask(&app, &w.ops, json!({"token": first, "issuer": iss})).await;
        assert_eq!(codes(&r, "failures"), ["kid_not_found"], "{r}");
        let third = p.access_token("ops", "cases:read", API).await;
        assert_eq!(
            ask(&app, &w.ops, json!({"token": third, "issuer": iss})).await["valid"],
            true
        );
    }
    both!(keys_follow_rotation_and_a_kid_burst_costs_one_fetch);

    async fn private_issuers_are_refused_where_webhooks_may_not_go(b: Backend) {
        let p = Provider::start(&[]).await;
        p.set_user("ops", json!({"email": "ops@acme.example"}))
            .await;
        let mut opts = Options::default();
        opts.webhooks.allow_private_networks = false;
        let app = spawn_app_with(b, opts).await;
        let w = app.world().await;
        let token = p.access_token("ops", "cases:read", API).await;
        let before = p.jwks_fetches().await;
        // The provider listens on 127.0.0.1: a loopback address is not fetched, in any form.
        for issuer in [
            p.issuer.clone(),
            p.issuer.replace("127.0.0.1", "localhost"),
            p.issuer.replace("127.0.0.1", "[::ffff:127.0.0.1]"),
            p.issuer.replace("127.0.0.1", "2130706433"),
        ] {
            let r = ask(&app, &w.ops, json!({"token": token, "issuer": issuer})).await;
            assert_eq!(codes(&r, "failures")[0], "discovery_refused", "{r}");
            assert!(
                r["failures"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("must not point"),
                "{r}"
            );
        }
        assert_eq!(p.jwks_fetches().await, before);
    }
    both!(private_issuers_are_refused_where_webhooks_may_not_go);

    /// Serves a discovery document naming `jwks_uri` for any GET; answers its issuer URL.
    async fn discovery_naming(jwks_uri: String) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", l.local_addr().unwrap());
        let doc = json!({"issuer": issuer, "jwks_uri": jwks_uri}).to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let doc = doc.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let _ = s.read(&mut buf).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        doc.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(doc.as_bytes()).await;
                });
            }
        });
        issuer
    }

    /// The keys' address comes from the issuer's own document, so it passes the same guard:
    /// an issuer allowed by name cannot point casedesk at the metadata service or at a local
    /// port, and the answer is the same whether anything listens there or not.
    async fn the_jwks_uri_of_a_discovery_document_passes_the_guard(b: Backend) {
        let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = trap.local_addr().unwrap().port();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = connections.clone();
        tokio::spawn(async move {
            while let Ok(_c) = trap.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let p = Provider::start(&[]).await;
        p.set_user("ops", json!({"email": "ops@acme.example"}))
            .await;
        let token = p.access_token("ops", "cases:read", API).await;
        let mut messages = Vec::new();
        for jwks in [
            format!("http://127.0.0.1:{port}/jwks"),
            format!("http://[::ffff:127.0.0.1]:{port}/jwks"),
            format!("http://localhost:{port}/jwks"),
            "http://169.254.169.254/latest/meta-data/iam/".to_owned(),
            "http://[::ffff:a9fe:a9fe]/latest/meta-data/".to_owned(),
            format!("http://127.0.0.1:{}/jwks", port.wrapping_add(1).max(1)),
        ] {
            let issuer = discovery_naming(jwks.clone()).await;
            let mut opts = Options::default();
            opts.webhooks.allow_private_networks = false;
            opts.webhooks.allowed_private_hosts =
                vec![issuer.trim_start_matches("http://").to_owned()];
            let app = spawn_app_with(b, opts).await;
            let w = app.world().await;
            let r = ask(&app, &w.ops, json!({"token": token, "issuer": issuer})).await;
            let f = &r["failures"].as_array().unwrap();
            let refused = f.iter().find(|x| x["code"] == "jwks_refused");
            assert!(refused.is_some(), "{jwks}: {r}");
            messages.push(
                refused.unwrap()["message"]
                    .as_str()
                    .unwrap()
                    .replace(&jwks, "URL"),
            );
        }
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0);
        // A listening port and a closed one get the same words.
        assert_eq!(messages[0], messages[5], "{messages:?}");
    }
    both!(the_jwks_uri_of_a_discovery_document_passes_the_guard);
}
