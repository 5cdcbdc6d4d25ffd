//! `webhook-load`: fan-out throughput. Cases are opened first with the job runner stopped,
//! each event fanning out to every endpoint; then the runner starts and the clock runs until
//! a loopback receiver has answered every delivery.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use casedesk_core::accounts::{Environment, Plan, Region};
use casedesk_core::admin::{self, NewUser};
use casedesk_core::audit::{Actor, AuditRecord};
use casedesk_core::permissions::ElevatedLimits;
use casedesk_core::users::{Principal, Role, Scope};
use casedesk_core::webhooks::{Endpoint, SecretBox, SecretRecord};
use serde_json::json;

#[derive(Default)]
struct Seen {
    count: AtomicU64,
    ids: Mutex<HashSet<String>>,
}

async fn receive(
    axum::extract::State(seen): axum::extract::State<Arc<Seen>>,
    headers: axum::http::HeaderMap,
) -> axum::http::StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if let Ok(mut ids) = seen.ids.lock() {
        ids.insert(id);
    }
    seen.count.fetch_add(1, Ordering::Relaxed);
    axum::http::StatusCode::NO_CONTENT
}

pub async fn webhook_load(
    database_url: Option<String>,
    endpoints: usize,
    cases: usize,
    workers: usize,
) -> anyhow::Result<()> {
    let m = |e: casedesk_core::DomainError| anyhow::anyhow!("{e}");
    let dir = tempfile::tempdir()?;
    let url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("hooks.db").display()));
    let wake = Arc::new(tokio::sync::Notify::new());
    let store = casedesk_store::connect_with(&url, wake.clone(), &Default::default())
        .await
        .map_err(m)?;
    let s = store.as_ref();
    let actor = Actor::system("bench");
    admin::create_account(s, "Hooks", Plan::Gold, &actor)
        .await
        .map_err(m)?;
    admin::create_tenant(
        s,
        "Hooks",
        "hooks-prod",
        Region::Eu,
        Environment::Production,
        &actor,
    )
    .await
    .map_err(m)?;
    let user = admin::create_user(
        s,
        &ElevatedLimits::default(),
        NewUser {
            account: Some("Hooks".into()),
            email: "ops@hooks.example".into(),
            role: Role::Admin,
            case_admin: true,
            elevated: false,
            queues: vec![],
        },
        &actor,
    )
    .await
    .map_err(m)?;
    let p = Principal {
        user,
        scopes: vec![Scope::CasesRead, Scope::CasesWrite],
        origin: Default::default(),
    };

    let seen = Arc::new(Seen::default());
    let app = axum::Router::new()
        .route("/{path}", axum::routing::post(receive))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let recv = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let key = casedesk_auth::sealing::ServerKey::from_base64(
        &casedesk_auth::sealing::ServerKey::generate_base64().map_err(m)?,
    )
    .map_err(m)?;
    let key: Arc<dyn SecretBox> = Arc::new(key);
    for i in 0..endpoints {
        let now = casedesk_core::now();
        let ep = Endpoint {
            id: uuid::Uuid::now_v7(),
            account_id: None,
            url: format!("http://{recv}/e{i}"),
            description: None,
            event_types: vec![],
            enabled: true,
            disabled_reason: None,
            failure_streak: 0,
            created_at: now,
            updated_at: now,
        };
        let secret = SecretRecord {
            id: uuid::Uuid::now_v7(),
            endpoint_id: ep.id,
            sealed: key.seal(&key.generate().map_err(m)?).map_err(m)?,
            created_at: now,
            expires_at: None,
        };
        s.create_endpoint(
            &ep,
            &secret,
            &AuditRecord::new(actor.clone(), "webhook.create", "bench"),
        )
        .await
        .map_err(m)?;
    }
    let body = json!({
        "priority": "P3", "subject": "Fan-out case", "description": "Opened by the fan-out benchmark.",
        "tenant": "hooks-prod", "issue_area": "sign-in-and-redirects", "scope": "some_users",
        "contact": {"email": "ops@hooks.example", "phone": "+49 30 1234567", "timezone": "Europe/Berlin"},
        "stage": "onboarding",
        "identifiers": {"organization_id": "org_1", "application_key": "app_1", "client_purpose": "automation",
            "error_message": "invalid_client", "occurred_at": casedesk_bench::error_time()},
        "checklist": {"tenant_registered": true, "application_key_verified": true, "redirect_uris_exact": true,
            "credentials_out_of_source": true, "jwks_validation": true, "marketplace_identifiers": false}
    });
    for _ in 0..cases {
        casedesk_core::service::create_case(s, &p, &body, None, None)
            .await
            .map_err(m)?;
    }
    let total = (endpoints * cases) as u64;
    let jobs = casedesk_jobs::JobsConfig {
        workers,
        poll_interval_ms: 50,
        ..Default::default()
    };
    let hooks = casedesk_jobs::WebhookConfig {
        allow_private_networks: true,
        require_https: false,
        ..Default::default()
    };
    println!(
        "machine: {} cores; database: {}; {endpoints} endpoints x {cases} case.created events = {total} deliveries; {workers} workers",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        store.backend()
    );
    let started = Instant::now();
    // Mail is off: this measures webhook deliveries alone.
    let runner = casedesk_jobs::standard_runner(
        store.clone(),
        key,
        wake,
        &jobs,
        &hooks,
        casedesk_bench::mail_off(),
    )
    .map_err(m)?
    .start();
    let deadline = started + Duration::from_secs(600);
    while seen.count.load(Ordering::Relaxed) < total {
        if Instant::now() > deadline {
            bail!(
                "only {} of {total} deliveries arrived",
                seen.count.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    runner.shutdown().await;
    let unique = seen.ids.lock().map(|i| i.len()).unwrap_or(0);
    let received = seen.count.load(Ordering::Relaxed);
    println!(
        "{}",
        json!({
            "deliveries": total, "received": received, "distinct_webhook_ids": unique,
            "seconds": (secs * 100.0).round() / 100.0,
            "deliveries_per_second": (total as f64 / secs).round(),
        })
    );
    if unique as u64 != total {
        bail!("expected {total} distinct webhook ids, saw {unique}");
    }
    let _ = dir.path().exists().then_some(()).context("temp dir");
    Ok(())
}
