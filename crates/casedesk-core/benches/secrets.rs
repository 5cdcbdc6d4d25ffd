//! What the secret detector costs on the hot path of case creation: the texts of one case
//! (subject, description, steps, the identifiers and context) scrubbed as `create_case` does,
//! clean and with secrets, on one core.
//!
//! `cargo bench -p casedesk-core --bench secrets` (ROUNDS=… to change the count).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use casedesk_core::diagnostics::secrets::{Found, Tag, scrub};

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let clean: Vec<String> = vec![
        "Sign-in fails after redirect".into(),
        "Users of the portal get invalid_request after the redirect from the authorize endpoint \
         since this morning's deploy (error AUTH-4001, request id req-7f3a9c2e, correlation \
         c0ffee00-1234). It happens for some users, every time, in all browsers; the redirect URI \
         registered is https://app.acme.example/callback and the client id 0oa1b2c3d4e5f6g7h8i9."
            .repeat(2),
        "1. Open the portal\n2. Choose Sign in\n3. Observe the error page after the redirect"
            .into(),
        "org_123".into(),
        "app_abc".into(),
        "https://app.acme.example/callback".into(),
        "redirect_uri_mismatch".into(),
        "corr-1".into(),
        "/oauth2/authorize".into(),
    ];
    let mut dirty = clean.clone();
    dirty[1].push_str(
        "\nOur CI log: export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYzzzzEXAMPLE1 and \
         Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLWJ5dGVz \
         redirect_uri=https%3A%2F%2Fapp%2Fcb%3Ftoken%3DabcdefghijklmnopQRST",
    );
    // The first call compiles the detector; it is not part of a request's cost.
    let _ = scrub("warm", &Tag::Plain, &mut Found::default());
    println!(
        "machine: {} cores; load {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (name, texts) in [("clean case", &clean), ("case with 3 secrets", &dirty)] {
        let bytes: usize = texts.iter().map(String::len).sum();
        let mut per = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            let mut found = Found::default();
            for t in texts.iter() {
                std::hint::black_box(scrub(t, &Tag::Plain, &mut found).unwrap());
            }
            per.push(started.elapsed());
        }
        per.sort();
        let p = |q: f64| per[((per.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e6;
        println!(
            "{name:<20} {bytes:>5} bytes of text: p50 {:>7.1} µs, p99 {:>7.1} µs per case",
            p(0.5),
            p(0.99)
        );
    }
}
