//! Added cost of bearer-JWT validation with a warm key cache: parse, header policy, key
//! lookup, signature, claims (`cargo bench -p casedesk-bench --bench jwt`). Besides
//! criterion's estimates it prints p50/p99 of single validations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::time::{Duration, Instant};

use casedesk_auth::Issuer;
use casedesk_auth::oidc::verify_access_token;
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let issuer_url = rt.block_on(casedesk_bench::jwks_server());
    let http = casedesk_auth::net::Outbound::new(
        casedesk_core::outbound::UrlPolicy::operator(),
        casedesk_auth::net::Limits {
            connect: std::time::Duration::from_secs(5),
            total: std::time::Duration::from_secs(5),
        },
        "bench",
        2,
    )
    .unwrap();
    let issuers = vec![Issuer::new(casedesk_bench::issuer_config(&issuer_url), http).unwrap()];
    let mut group = c.benchmark_group("jwt_validation_warm");
    for alg in ["RS256", "ES256", "EdDSA"] {
        let token = casedesk_bench::token(&issuer_url, alg, "ops@bench.example", "Bench");
        // Warm the cache: the first validation fetches discovery and the JWKS.
        rt.block_on(verify_access_token(&issuers, &token))
            .map(|_| ())
            .unwrap();
        let samples = RefCell::new(Vec::with_capacity(1 << 20));
        group.bench_function(alg, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                rt.block_on(async {
                    for _ in 0..iters {
                        let t = Instant::now();
                        let v = verify_access_token(&issuers, &token).await;
                        let d = t.elapsed();
                        assert!(v.is_ok());
                        total += d;
                        samples.borrow_mut().push(d);
                    }
                });
                total
            })
        });
        // The floor: the signature check alone, with the key already in hand.
        let (signed, sig) = token.rsplit_once('.').unwrap();
        let sig =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig).unwrap();
        let a: jsonwebtoken::Algorithm = alg.parse().unwrap();
        let key = rt
            .block_on(
                issuers[0]
                    .keys
                    .key(Some(&format!("bench-{}", alg.to_lowercase())), a),
            )
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        group.bench_function(format!("{alg}_signature_only"), |b| {
            b.iter(|| assert!(key.verify(a, signed.as_bytes(), &sig)))
        });
        let mut s = samples.into_inner();
        s.sort_unstable();
        let pct = |p: f64| s[((s.len() as f64 * p) as usize).min(s.len() - 1)];
        println!(
            "{alg}: {} validations, p50 {:?}, p99 {:?}, max {:?}",
            s.len(),
            pct(0.50),
            pct(0.99),
            s[s.len() - 1]
        );
    }
    group.finish();

    // The whole credential step of a request: JWT (validation + claims → user) against an
    // API token (hash + lookup), both over the caching store the server uses.
    let dir = tempfile::tempdir().unwrap();
    let (auth, api) = rt.block_on(async {
        use casedesk_core::admin::{self, NewUser};
        let store =
            casedesk_store::connect(&format!("sqlite://{}", dir.path().join("b.db").display()))
                .await
                .unwrap();
        let s = store.as_ref();
        admin::create_account(
            s,
            "Bench",
            casedesk_core::accounts::Plan::Gold,
            &casedesk_core::audit::Actor::system("bench"),
        )
        .await
        .unwrap();
        let limits = casedesk_core::permissions::ElevatedLimits::default();
        let user = NewUser {
            account: Some("Bench".into()),
            email: "ops@bench.example".into(),
            role: casedesk_core::users::Role::Admin,
            case_admin: true,
            elevated: false,
            queues: vec![],
        };
        admin::create_user(
            s,
            &limits,
            user,
            &casedesk_core::audit::Actor::system("bench"),
        )
        .await
        .unwrap();
        let t = casedesk_auth::generate_token().unwrap();
        admin::create_token(
            s,
            "ops@bench.example",
            &[],
            None,
            t.hash,
            &casedesk_core::audit::Actor::system("bench"),
        )
        .await
        .unwrap();
        let cfg = casedesk_auth::AuthConfig {
            issuers: vec![casedesk_bench::issuer_config(&issuer_url)],
            ..Default::default()
        };
        (
            casedesk_auth::Authenticator::new(store, cfg, limits).unwrap(),
            t.secret,
        )
    });
    let jwt = casedesk_bench::token(&issuer_url, "RS256", "ops@bench.example", "Bench");
    let mut group = c.benchmark_group("authenticate");
    for (kind, cred) in [("api_token", api), ("jwt_rs256", jwt)] {
        rt.block_on(auth.authenticate(&cred)).unwrap();
        group.bench_function(kind, |b| {
            b.to_async(&rt)
                .iter(|| async { auth.authenticate(&cred).await.unwrap() })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
