//! Nothing acknowledged is lost: kill -9 the real binary in the middle of a burst of
//! concurrent creates, restart it, and find every case that was answered 201 exactly once.
//! Also: several server processes on one database hand out unique, increasing numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casedesk_testkit::{Backend, TestDb, acme_case, both, spawn_app_on, test_db};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Server {
    pub child: Child,
    pub base: String,
}

/// Starts the casedesk binary on a random port and waits for its "listening" line.
pub async fn start_binary(url: &str, data: &std::path::Path) -> Server {
    start_binary_with(url, data, None).await
}

/// [`start_binary`] with a configuration file.
pub async fn start_binary_with(
    url: &str,
    data: &std::path::Path,
    config: Option<&std::path::Path>,
) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_casedesk"));
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let mut child = cmd
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            url,
            "--data",
        ])
        .arg(data)
        .env("RUST_LOG", "warn")
        // These tests load one server from one address on purpose; the budgets have tests
        // of their own.
        .env("CASEDESK_RATE_LIMITS__ENABLED", "false")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn casedesk");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(l)) = lines.next_line().await {
            if l.starts_with("casedesk listening on ") {
                return l;
            }
        }
        panic!("casedesk exited before listening");
    })
    .await
    .expect("casedesk did not start in time");
    let base = line
        .trim_start_matches("casedesk listening on ")
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { child, base }
}

async fn all_subjects(client: &reqwest::Client, base: &str, token: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let url = format!("{base}/api/v1/cases?limit=100{cursor}");
        let v: serde_json::Value = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for i in v["items"].as_array().unwrap() {
            out.push((
                i["subject"].as_str().unwrap().to_owned(),
                i["number"].as_i64().unwrap(),
            ));
        }
        match v["next"].as_str() {
            Some(n) => cursor = format!("&cursor={n}"),
            None => return out,
        }
    }
}

async fn kill_9_during_concurrent_creates_loses_no_acknowledged_case(b: Backend) {
    let db = Arc::new(test_db(b).await);
    let (ops, manager) = {
        let app = spawn_app_on(db.clone()).await;
        let w = app.world().await;
        (w.ops, w.manager)
    };
    let data = db.dir.path().join("data");
    let mut server = start_binary(&db.url, &data).await;
    let client = reqwest::Client::new();
    let acked: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (client, base, token, acked) = (
            client.clone(),
            server.base.clone(),
            ops.clone(),
            acked.clone(),
        );
        tasks.spawn(async move {
            for i in 0..10_000 {
                let subject = format!("crash {worker}-{i}");
                let r = client
                    .post(format!("{base}/api/v1/cases"))
                    .bearer_auth(&token)
                    .json(&acme_case(&subject))
                    .send()
                    .await;
                let Ok(r) = r else { return };
                if r.status().as_u16() != 201 {
                    return;
                }
                let Ok(v) = r.json::<serde_json::Value>().await else {
                    return;
                };
                acked
                    .lock()
                    .unwrap()
                    .insert(subject, v["number"].as_i64().unwrap());
            }
        });
    }
    // Let the burst run, then pull the plug mid-flight.
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if acked.lock().unwrap().len() >= 300 {
            break;
        }
    }
    server.child.kill().await.expect("kill -9");
    while tasks.join_next().await.is_some() {}
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300);

    let restarted = start_binary(&db.url, &data).await;
    let stored = all_subjects(&client, &restarted.base, &manager).await;
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (s, _) in &stored {
        *count.entry(s.as_str()).or_default() += 1;
    }
    assert!(count.values().all(|c| *c == 1), "a case was stored twice");
    let by_subject: BTreeMap<&str, i64> = stored.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    for (subject, number) in &acked {
        assert_eq!(
            by_subject.get(subject.as_str()),
            Some(number),
            "acknowledged case {subject} (#{number}) was lost"
        );
    }
    let numbers: BTreeSet<i64> = stored.iter().map(|(_, n)| *n).collect();
    assert_eq!(numbers.len(), stored.len(), "case numbers are unique");
    eprintln!(
        "{} acknowledged before the kill, {} stored after restart",
        acked.len(),
        stored.len()
    );
}
both!(kill_9_during_concurrent_creates_loses_no_acknowledged_case);

async fn several_servers_on_one_database_hand_out_unique_increasing_numbers(b: Backend) {
    let db: Arc<TestDb> = Arc::new(test_db(b).await);
    let first = spawn_app_on(db.clone()).await;
    let w = first.world().await;
    let data = db.dir.path().join("data");
    let second = start_binary(&db.url, &data).await;
    let third = start_binary(&db.url, &data).await;
    let bases = [first.base.clone(), second.base.clone(), third.base.clone()];
    let mut tasks = tokio::task::JoinSet::new();
    for (k, base) in bases.iter().cycle().take(12).enumerate() {
        let (client, base, token) = (first.client.clone(), base.clone(), w.ops.clone());
        tasks.spawn(async move {
            let mut mine = Vec::new();
            for i in 0..15 {
                // Three servers and twelve clients on two cores: a server may answer 503
                // (with Retry-After) when no database connection frees up within its acquire
                // timeout. A client then tries again with the same key, and gets one case.
                let mut tries = 0;
                let r = loop {
                    let r = client
                        .post(format!("{base}/api/v1/cases"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", format!("n-{k}-{i}"))
                        .json(&acme_case(&format!("n {k}-{i}")))
                        .send()
                        .await
                        .unwrap();
                    tries += 1;
                    if r.status().as_u16() != 503 || tries == 10 {
                        break r;
                    }
                    assert!(
                        r.headers().contains_key("retry-after"),
                        "a 503 says when to retry"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                };
                assert_eq!(r.status().as_u16(), 201);
                let v: serde_json::Value = r.json().await.unwrap();
                mine.push(v["number"].as_i64().unwrap());
            }
            mine
        });
    }
    let mut all = BTreeSet::new();
    while let Some(r) = tasks.join_next().await {
        let mine = r.unwrap();
        assert!(
            mine.windows(2).all(|p| p[0] < p[1]),
            "numbers increase for each client: {mine:?}"
        );
        for n in mine {
            assert!(all.insert(n), "number {n} handed out twice");
        }
    }
    assert_eq!(all.len(), 180);
}
both!(several_servers_on_one_database_hand_out_unique_increasing_numbers);
