//! Background work survives crashes and runs once across processes: kill -9 with deliveries
//! pending, two processes on one PostgreSQL, graceful shutdown, and the job controls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use casedesk_core::jobs::NewJob;
use casedesk_testkit::hooks::{Behaviour, Receiver};
use casedesk_testkit::{
    Backend, Options, TestDb, acme_case, both, reserve, spawn_app_on, spawn_with, test_db,
};
use serde_json::{Value, json};

use crate::crash::{Server, start_binary_with};

/// A configuration for the binary: the test database's key, fast polling, short leases,
/// loopback receivers allowed, retries a second apart.
fn config(db: &TestDb, name: &str) -> std::path::PathBuf {
    let path = db.dir.path().join(format!("{name}.toml"));
    let toml = format!(
        "secret_key = \"{}\"\n\n[jobs]\npoll_interval_ms = 100\nlease_seconds = 3\nshutdown_grace_seconds = 1\n\n\
         [webhooks]\nallow_private_networks = true\nrequire_https = false\ntimeout_seconds = 2\nconnect_timeout_seconds = 1\n\
         retry_schedule_seconds = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n",
        db.key
    );
    std::fs::write(&path, toml).unwrap();
    path
}

/// Builds the test world and stops that in-process server's job runner, so only the
/// binaries under test deliver.
async fn world_on(db: &Arc<TestDb>) -> casedesk_testkit::World {
    let mut app = spawn_app_on(db.clone()).await;
    let w = app.world().await;
    app.stop_jobs().await;
    w
}

async fn post(client: &reqwest::Client, s: &Server, path: &str, token: &str, body: Value) -> Value {
    let r = client
        .post(format!("{}{path}", s.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn kill_9_with_deliveries_pending_delivers_all_after_restart(b: Backend) {
    let db = Arc::new(test_db(b).await);
    let w = world_on(&db).await;
    let cfg = config(&db, "node");
    let data = db.dir.path().join("data");
    let mut server = start_binary_with(&db.url, &data, Some(&cfg)).await;
    let client = reqwest::Client::new();
    // The receiver is down while the cases are opened.
    let mut rx = Receiver::start(0).await;
    let port = rx.port;
    rx.stop().await;
    let ep = post(
        &client,
        &server,
        "/api/v1/webhooks",
        &w.manager,
        json!({"url": format!("http://127.0.0.1:{port}/hook"), "event_types": ["case.created"]}),
    )
    .await;
    let secret = ep["secret"].as_str().unwrap().to_owned();
    let mut numbers = BTreeSet::new();
    for i in 0..30 {
        let c = post(
            &client,
            &server,
            "/api/v1/cases",
            &w.ops,
            acme_case(&format!("pending {i}")),
        )
        .await;
        numbers.insert(c["number"].as_i64().unwrap());
    }
    // Let deliveries fail a few times, then pull the plug.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    server.child.kill().await.expect("kill -9");

    let rx = Receiver::start(port).await;
    rx.configure(
        "/hook",
        &Behaviour {
            secrets: vec![secret],
            ..Default::default()
        },
    )
    .await;
    let _restarted = start_binary_with(&db.url, &data, Some(&cfg)).await;
    let log = rx
        .wait_for(90, "every case.created after the restart", |l| {
            let delivered: BTreeSet<i64> = l
                .iter()
                .filter(|r| r.status == 204)
                .filter_map(|r| r.body["data"]["case"]["number"].as_i64())
                .collect();
            delivered == numbers
        })
        .await;
    assert!(log.iter().all(|r| r.verified), "every delivery verifies");
    // Every attempt of one case carried the same id.
    let mut ids: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for r in &log {
        ids.entry(r.body["data"]["case"]["number"].as_i64().unwrap())
            .or_default()
            .insert(r.id.clone());
    }
    assert!(ids.values().all(|s| s.len() == 1), "{ids:?}");
}
both!(kill_9_with_deliveries_pending_delivers_all_after_restart);

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_postgres_never_deliver_a_job_twice_at_once() {
    let db = Arc::new(test_db(Backend::Postgres).await);
    let w = world_on(&db).await;
    let cfg = config(&db, "node");
    let a = start_binary_with(&db.url, &db.dir.path().join("a"), Some(&cfg)).await;
    let b = start_binary_with(&db.url, &db.dir.path().join("b"), Some(&cfg)).await;
    let client = reqwest::Client::new();
    let rx = Receiver::start(0).await;
    let ep = post(
        &client,
        &a,
        "/api/v1/webhooks",
        &w.manager,
        json!({"url": rx.url("/slow")}),
    )
    .await;
    // Every answer takes 150 ms, so deliveries of both processes overlap in time.
    rx.configure(
        "/slow",
        &Behaviour {
            secrets: vec![ep["secret"].as_str().unwrap().to_owned()],
            slow_first: 1_000,
            delay_ms: 150,
            ..Default::default()
        },
    )
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let (client, base, token) = (
            client.clone(),
            if i % 2 == 0 {
                a.base.clone()
            } else {
                b.base.clone()
            },
            w.ops.clone(),
        );
        tasks.spawn(async move {
            let r = client
                .post(format!("{base}/api/v1/cases"))
                .bearer_auth(&token)
                .json(&acme_case(&format!("both {i}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    rx.wait_for(120, "60 deliveries", |l| l.len() >= 60).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let (log_after, overlaps) = rx.log().await;
    assert_eq!(overlaps, 0, "a message was in flight twice at once");
    assert_eq!(
        log_after.len(),
        60,
        "no message was sent twice: {log_after:#?}"
    );
    let ids: BTreeSet<&str> = log_after.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 60);
    assert!(log_after.iter().all(|r| r.attempt == 1 && r.verified));
    // Both processes did part of the work, and say so in /metrics.
    for s in [&a, &b] {
        let text = client
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metric(
                &text,
                "casedesk_jobs_attempts_total{kind=\"webhook.deliver\"}"
            ) > 0.0,
            "{}: {text}",
            s.base
        );
        assert!(text.contains("casedesk_jobs_latency_seconds"), "{text}");
    }
}

async fn graceful_shutdown_finishes_or_releases_running_jobs(b: Backend) {
    let db = Arc::new(test_db(b).await);
    let mut opts = Options::default();
    opts.webhooks.timeout_seconds = 10;
    opts.jobs.shutdown_grace_seconds = 1;
    let mut app = spawn_with(reserve().await, db.clone(), opts.clone()).await;
    let w = app.world().await;
    let rx = Receiver::start(0).await;
    let ep = app
        .post(
            "/api/v1/webhooks",
            &w.manager,
            json!({"url": rx.url("/h"), "event_types": ["case.created"]}),
        )
        .await;
    let secret = ep.json["secret"].as_str().unwrap().to_owned();
    // The first attempt takes 4 s, longer than the 1 s grace: it is released, not lost.
    rx.configure(
        "/h",
        &Behaviour {
            secrets: vec![secret],
            slow_first: 1,
            delay_ms: 4_000,
            ..Default::default()
        },
    )
    .await;
    app.open_case(&w.ops, acme_case("Shutdown")).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.stop_jobs().await;
    let jobs = app
        .get("/api/v1/jobs?kind=webhook.deliver", &w.manager)
        .await;
    assert_eq!(jobs.status, 200, "{}", jobs.json);
    let j = &jobs.json["items"][0];
    assert_eq!(j["state"], "queued", "released at shutdown: {}", jobs.json);
    assert_eq!(j["attempts"], 0, "a released attempt is not counted");
    // Another node picks it up and delivers it.
    let _other = spawn_with(reserve().await, db.clone(), opts).await;
    let log = rx
        .wait_for(30, "the released delivery", |l| {
            l.iter().any(|r| r.attempt == 2)
        })
        .await;
    assert!(log.iter().all(|r| r.verified));
}
both!(graceful_shutdown_finishes_or_releases_running_jobs);

async fn managers_list_retry_and_cancel_jobs(b: Backend) {
    let db = Arc::new(test_db(b).await);
    let app = spawn_app_on(db.clone()).await;
    let w = app.world().await;
    // A job no handler knows goes straight to the dead letter with its reason.
    let job = NewJob::new("no.such.kind", json!({"x": 1}));
    app.store.enqueue_job(&job).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let dead = loop {
        let a = app.get("/api/v1/jobs?state=dead", &w.manager).await;
        assert_eq!(a.status, 200, "{}", a.json);
        if let Some(j) = a.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == job.id.to_string())
        {
            break j.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no dead job: {}",
            a.json
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        dead["last_error"].as_str().unwrap().contains("no handler"),
        "{dead}"
    );
    // Only managers see jobs, and bad filters are named.
    assert_eq!(app.get("/api/v1/jobs", &w.agent).await.status, 403);
    assert_eq!(app.get("/api/v1/jobs", &w.super_admin).await.status, 403);
    let bad = app
        .get("/api/v1/jobs?state=sleeping&limit=0", &w.manager)
        .await;
    assert_eq!(bad.status, 422);
    let mut f = bad.error_fields();
    f.sort();
    assert_eq!(f, vec!["limit", "state"]);
    // Retry queues it with fresh attempts; a queued job cannot be retried.
    let r = app
        .post(
            &format!("/api/v1/jobs/{}/retry", job.id),
            &w.manager,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    // It dies again (still no handler); cancel it then.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let j = app
            .get(&format!("/api/v1/jobs/{}", job.id), &w.manager)
            .await;
        if j.json["state"] == "dead" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", j.json);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = app
        .post(
            &format!("/api/v1/jobs/{}/cancel", job.id),
            &w.manager,
            json!({}),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.json);
    assert_eq!(c.json["state"], "cancelled");
    let again = app
        .post(
            &format!("/api/v1/jobs/{}/cancel", job.id),
            &w.manager,
            json!({}),
        )
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(
        app.get("/api/v1/jobs/not-a-job", &w.manager).await.status,
        404
    );

    // The same controls from the command line.
    let other = NewJob::new("no.such.kind", json!({})).at(casedesk_core::now()
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap());
    app.store.enqueue_job(&other).await.unwrap();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_casedesk"))
            .args(args)
            .args(["--database-url", &db.url, "--data"])
            .arg(db.dir.path().join("data"))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + String::from_utf8_lossy(&out.stderr).as_ref(),
        )
    };
    let (ok, out) = cli(&["jobs", "list", "--state", "queued", "--json"]);
    assert!(ok, "{out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == other.id.to_string()),
        "{out}"
    );
    let (ok, out) = cli(&["jobs", "cancel", &other.id.to_string()]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&["jobs", "retry", &other.id.to_string()]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&["jobs", "cancel", "nonsense"]);
    assert!(!ok && out.contains("not a job id"), "{out}");
    // Each change by hand is in the audit trail, with who made it.
    let trail = crate::audit::export_lines(&app, &w.manager, "").await;
    let actions: Vec<(String, String)> = trail
        .iter()
        .filter(|e| {
            e["target"] == format!("job:{}", job.id) || e["target"] == format!("job:{}", other.id)
        })
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(actions.len(), 4, "{actions:?}");
    assert_eq!(
        actions[0],
        ("job.retry".into(), "mia@support.example".into())
    );
    assert!(
        actions[2].0 == "job.cancel" && actions[2].1.starts_with("cli:"),
        "{actions:?}"
    );
}
both!(managers_list_retry_and_cancel_jobs);
