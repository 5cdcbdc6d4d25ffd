//! `mail-load`: the email channel's two figures.
//!
//! Inbound: replies handed to `POST /api/v1/inbound/email` of an in-process server, as many
//! at once as `--concurrency`, each read, threaded by `In-Reply-To`, checked against the case
//! and posted as a reply with its original recorded (what an MTA's pipe waits for). The job
//! runner is not started, so the figure is the gate's alone.
//!
//! Outbound: the job runner's `case.event` dispatcher, the code production runs, over the
//! events the inbound run left (each reply is told to the requester's two team contacts; each
//! case created, to its three people) with as many at once as the runner's workers: it reads
//! each event and its case, renders and composes one message per recipient and writes them
//! with their `mail.send` jobs as it ends the job (ends are group-committed).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use casedesk_core::accounts::{Environment, Plan, Region};
use casedesk_core::admin::{self, NewUser};
use casedesk_core::audit::{Actor, Origin};
use casedesk_core::cases::Case;
use casedesk_core::permissions::ElevatedLimits;
use casedesk_core::store::Store;
use casedesk_core::users::{Principal, Role, Scope};
use casedesk_mail::outbound::MailKind;
use serde_json::json;

fn m(e: casedesk_core::DomainError) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

pub(crate) fn case_body(subject: &str) -> serde_json::Value {
    json!({
        "priority": "P2", "subject": subject, "description": "A case the mail benchmark replies to.",
        "steps_to_reproduce": "Sign in", "tenant": "bench-prod", "issue_area": "sign-in-and-redirects",
        "scope": "some_users", "business_impact": "None",
        "contact": {"email": "ops@bench.example", "phone": "+49 30 1234567", "timezone": "Europe/Berlin"},
        "team_contacts": ["mate@bench.example", "lead@bench.example"],
        "stage": "onboarding",
        "identifiers": {"organization_id": "org_1", "application_key": "app_1", "client_purpose": "interactive_web",
            "redirect_uri": "https://app.bench.example/callback", "error_message": "redirect_uri_mismatch",
            "occurred_at": casedesk_bench::error_time()},
        "context": {"correlation_id": "c-1", "token_flow": "authorization_code", "endpoint_path": "/oauth2/authorize",
            "frequency": "intermittent", "affected": "some"},
        "checklist": {"tenant_registered": true, "application_key_verified": true, "redirect_uris_exact": false,
            "credentials_out_of_source": true, "jwks_validation": true, "marketplace_identifiers": false}
    })
}

/// A reply as a mail client writes it: the new text, a signature, the quoted history.
fn reply(n: i64, i: usize, domain: &str, from: &str) -> String {
    format!(
        "From: Olivia Park <{from}>\r\nTo: support@{domain}\r\nSubject: Re: [casedesk #{n}] Bench case\r\n\
         Message-ID: <bench-{i}@mail.bench.example>\r\nIn-Reply-To: <case-{n}.0190@{domain}>\r\n\
         References: <case-{n}@{domain}> <case-{n}.0190@{domain}>\r\n\
         Authentication-Results: mx.{domain}; spf=pass smtp.mailfrom=bench.example; dkim=pass header.d=bench.example; dmarc=pass header.from=bench.example\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
         Reply {i}: the redirect URI now matches, but the token endpoint answers invalid_grant for=\r\n \
         some users since 10:00 UTC. Correlation id c-{i}.\r\n\r\n--\r\nOlivia Park\r\nPlatform team, Bench Inc.\r\n\r\n\
         On Mon, 23 Nov 2026 at 10:15, casedesk support <support@{domain}> wrote:\r\n\
         > Please check the trailing slash of the registered redirect URI.\r\n> {}\r\n",
        "Quoted history that the gate trims away. ".repeat(20)
    )
}

/// The account every in-process benchmark works in: Bench (gold) with the tenant
/// `bench-prod` and three admins, `ops@` (the requester, answered as a principal) and the two
/// team contacts `case_body` names.
pub(crate) async fn bench_account(s: &dyn Store) -> anyhow::Result<(Actor, Principal)> {
    let actor = Actor::system("bench");
    admin::create_account(s, "Bench", Plan::Gold, &actor)
        .await
        .map_err(m)?;
    admin::create_tenant(
        s,
        "Bench",
        "bench-prod",
        Region::Eu,
        Environment::Production,
        &actor,
    )
    .await
    .map_err(m)?;
    for email in [
        "ops@bench.example",
        "mate@bench.example",
        "lead@bench.example",
    ] {
        admin::create_user(
            s,
            &ElevatedLimits::default(),
            NewUser {
                account: Some("Bench".into()),
                email: email.into(),
                role: Role::Admin,
                case_admin: true,
                elevated: false,
                queues: vec![],
            },
            &actor,
        )
        .await
        .map_err(m)?;
    }
    let requester = s
        .find_user_by_email("ops@bench.example")
        .await
        .map_err(m)?
        .context("requester")?;
    let p = Principal {
        user: requester,
        scopes: vec![Scope::CasesRead, Scope::CasesWrite],
        origin: Origin::default(),
    };
    Ok((actor, p))
}

pub async fn mail_load(
    database_url: Option<String>,
    messages: usize,
    concurrency: usize,
    cases: usize,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let store = casedesk_store::connect(&url).await.map_err(m)?;
    let s = store.as_ref();
    let (actor, p) = bench_account(s).await?;
    admin::create_user(
        s,
        &ElevatedLimits::default(),
        NewUser {
            account: None,
            email: "gate@support.example".into(),
            role: Role::Manager,
            case_admin: false,
            elevated: false,
            queues: vec![],
        },
        &actor,
    )
    .await
    .map_err(m)?;
    let gate = casedesk_auth::generate_token().map_err(m)?;
    admin::create_token(
        s,
        "gate@support.example",
        &[Scope::MailIngest],
        None,
        gate.hash,
        &actor,
    )
    .await
    .map_err(m)?;
    // Each case has a team contact of its own who writes its replies, so the flood
    // breaker's counts see one person's pace on one case (25 replies each at the defaults),
    // as in production, rather than one address writing thousands.
    let mut open: Vec<Case> = Vec::with_capacity(cases);
    for i in 0..cases {
        let writer = format!("writer{i}@bench.example");
        admin::create_user(
            s,
            &ElevatedLimits::default(),
            NewUser {
                account: Some("Bench".into()),
                email: writer.clone(),
                role: Role::Admin,
                case_admin: false,
                elevated: false,
                queues: vec![],
            },
            &actor,
        )
        .await
        .map_err(m)?;
        let mut body = case_body(&format!("Bench case {i}"));
        body["team_contacts"] = json!(["mate@bench.example", writer]);
        let (c, _, _, _) = casedesk_core::service::create_case(s, &p, &body, None, None)
            .await
            .map_err(m)?;
        open.push(c);
    }
    let mail_cfg = casedesk_mail::MailConfig {
        from: "casedesk support <support@casedesk.bench>".into(),
        outbox: Some(dir.path().join("outbox")),
        // Every check runs: our border's verdict, the machine-text check and the flood
        // breaker's three queries. Each case gets its replies within seconds, a pace the
        // default limits (8 a sender, 16 a case) would hold, so the limits are set just
        // above the run's (25 a case): the counts read as far as they would in production.
        authserv_id: "mx.casedesk.bench".into(),
        flood: casedesk_mail::config::FloodConfig {
            per_sender: 64,
            per_case: 64,
            ..Default::default()
        },
        ..Default::default()
    };
    let mailer =
        Arc::new(casedesk_mail::Mailer::new(mail_cfg, dir.path()).map_err(anyhow::Error::msg)?);
    let domain = "casedesk.bench";
    println!(
        "machine: {} cores; database: {}; {cases} open cases",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        store.backend()
    );

    // Inbound through the route.
    let base = crate::serve_in_process(store.clone(), Default::default(), mailer.clone()).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let numbers: Arc<Vec<i64>> = Arc::new(open.iter().map(|c| c.number).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, base, token, numbers, next) = (
            client.clone(),
            base.clone(),
            gate.secret.clone(),
            numbers.clone(),
            next.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut bad = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= messages {
                    break;
                }
                let n = numbers[i % numbers.len()];
                let raw = reply(
                    n,
                    i,
                    domain,
                    &format!("writer{}@bench.example", i % numbers.len()),
                );
                let t = Instant::now();
                let r = client
                    .post(format!("{base}/api/v1/inbound/email"))
                    .bearer_auth(&token)
                    .header("content-type", "message/rfc822")
                    .body(raw)
                    .send()
                    .await;
                let ok = match r {
                    Ok(r) if r.status().is_success() => r
                        .json::<serde_json::Value>()
                        .await
                        .is_ok_and(|v| v["outcome"] == "posted"),
                    _ => false,
                };
                lat.push(t.elapsed());
                if !ok {
                    bad += 1;
                }
            }
            (lat, bad)
        }));
    }
    let mut lat = Vec::new();
    let mut bad = 0;
    for w in workers {
        let (l, b) = w.await?;
        lat.extend(l);
        bad += b;
    }
    let took = started.elapsed();
    lat.sort();
    println!(
        "inbound: {messages} replies posted through POST /api/v1/inbound/email in {:.2} s = {:.0} messages/s \
         (concurrency {concurrency}; latency p50 {:.1} ms, p99 {:.1} ms; not posted: {bad})",
        took.as_secs_f64(),
        messages as f64 / took.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    if bad > 0 {
        bail!("{bad} replies were not posted");
    }

    // Outbound through the dispatcher, over the case.event jobs the inbound run queued.
    let events = store
        .job_counts(casedesk_core::now())
        .await
        .map_err(m)?
        .iter()
        .filter(|c| c.kind == casedesk_core::jobs::CASE_EVENT)
        .map(|c| c.count)
        .sum::<u64>();
    // Every case.event job is claimed first, so only the dispatcher's own work is timed (the
    // runner claims up to 64 jobs a write); the mail.send jobs it queues are left alone.
    let mut claims = Vec::new();
    loop {
        let batch = store
            .claim_jobs("bench", casedesk_core::now(), Duration::from_secs(3600), 64)
            .await
            .map_err(m)?;
        if batch.is_empty() {
            break;
        }
        claims.extend(batch);
    }
    let claims: Arc<Vec<casedesk_core::jobs::Claim>> = Arc::new(
        claims
            .into_iter()
            .filter(|c| c.job.kind == casedesk_core::jobs::CASE_EVENT)
            .collect(),
    );
    let dispatcher = Arc::new(casedesk_jobs::Dispatcher::new(
        store.clone(),
        10,
        Some(mailer.clone()),
    ));
    let workers_n = casedesk_jobs::JobsConfig::default().workers;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..workers_n {
        let (d, claims, next) = (dispatcher.clone(), claims.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            use casedesk_jobs::Handler;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(c) = claims.get(i) else { break };
                d.run(c).await.map_err(m)?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let took = started.elapsed();
    let written: u64 = store
        .job_counts(casedesk_core::now())
        .await
        .map_err(m)?
        .iter()
        .filter(|c| c.kind == casedesk_core::mail::SEND)
        .map(|c| c.count)
        .sum();
    println!(
        "outbound through the dispatcher: {events} events fanned out into {written} messages (each event read with \
         its case, its messages rendered, composed and written with their mail.send jobs as the event's job ends) \
         in {:.2} s = {:.0} messages/s ({workers_n} workers, as the runner runs them)",
        took.as_secs_f64(),
        written as f64 / took.as_secs_f64(),
    );

    // Render and compose alone, for scale.
    let t = Instant::now();
    let single = 2000;
    for i in 0..single {
        let c = &open[i % open.len()];
        let _ = mailer.case_mails(
            MailKind::Reply,
            c,
            Some("Please fetch the JWKS again; the key rotated at 09:00 UTC.".into()),
            Some("ana@support.example".into()),
            None,
            &["ops@bench.example".to_owned()],
        );
    }
    let per = t.elapsed().as_secs_f64() / single as f64;
    println!(
        "render + compose alone: {:.1} µs a message on one core = {:.0} messages/s",
        per * 1e6,
        1.0 / per
    );
    Ok(())
}
