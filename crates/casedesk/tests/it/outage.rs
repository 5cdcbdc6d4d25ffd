//! A PostgreSQL that stops answering. The test puts a TCP relay between casedesk and the real
//! server and cuts it: every connection drops and new ones are refused. Requests must get a
//! 503 problem with `Retry-After` within about a second; `/healthz` and `/readyz` must say the
//! database is down; and once the relay is back, the same node must serve again without a
//! restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use casedesk_testkit::{Backend, Options, acme_case, reserve, spawn_with, test_db};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A relay to `upstream` that can be cut (open connections dropped, new ones closed at once)
/// and restored.
struct Relay {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (o, l) = (open.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !o.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let up = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&up).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                l.lock().unwrap().push(task);
            }
        });
        Relay { port, open, links }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for t in self.links.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_answered_fast_and_survived_without_a_restart() {
    let mut db = test_db(Backend::Postgres).await;
    let url = url::Url::parse(&db.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = Relay::start(upstream).await;
    let mut through = url.clone();
    through.set_port(Some(relay.port)).unwrap();
    db.url = through.to_string();
    let app = spawn_with(reserve().await, Arc::new(db), Options::default()).await;
    let w = app.world().await;
    let before = app.open_case(&w.ops, acme_case("Before the outage")).await;
    assert_eq!(app.call("GET", "/readyz", None, None).await.status, 200);

    relay.cut();
    let timed = |what: &'static str, started: Instant| {
        let took = started.elapsed();
        // The pool waits a second for a connection; the rest is slack for a busy machine.
        assert!(took < Duration::from_millis(2_500), "{what} took {took:?}");
    };
    let started = Instant::now();
    let created = app
        .call(
            "POST",
            "/api/v1/cases",
            Some(&w.ops),
            Some(&acme_case("During the outage")),
        )
        .await;
    timed("a create", started);
    assert_eq!(created.status, 503, "{}", created.json);
    assert_eq!(created.headers["content-type"], "application/problem+json");
    assert_eq!(created.headers["retry-after"], "5");
    assert_eq!(
        created.json["type"]
            .as_str()
            .map(|t| t.ends_with("unavailable")),
        Some(true),
        "{}",
        created.json
    );
    let started = Instant::now();
    let read = app
        .call(
            "GET",
            &format!("/api/v1/cases/{before}"),
            Some(&w.ops),
            None,
        )
        .await;
    timed("a read", started);
    assert_eq!(read.status, 503, "{}", read.json);
    for path in ["/healthz", "/readyz"] {
        let started = Instant::now();
        let r = app.call("GET", path, None, None).await;
        timed(path, started);
        assert_eq!(r.status, 503, "{path}");
        assert_eq!(r.headers["retry-after"], "5", "{path}");
    }
    let health = app.call("GET", "/healthz", None, None).await;
    assert_eq!(health.json["database_status"], "down");
    // A person gets a page, not JSON.
    let page = app
        .client
        .get(format!("{}/status", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert_eq!(page.headers()["retry-after"], "5");
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("The database is not answering")
    );

    relay.restore();
    let mut ready = false;
    for _ in 0..100 {
        if app.call("GET", "/readyz", None, None).await.status == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the node is ready again without a restart");
    assert_eq!(
        app.call("GET", "/healthz", None, None).await.json["database_status"],
        "up"
    );
    let after = app.open_case(&w.ops, acme_case("After the outage")).await;
    assert!(after > before);
    assert_eq!(
        app.call(
            "GET",
            &format!("/api/v1/cases/{before}"),
            Some(&w.ops),
            None
        )
        .await
        .status,
        200
    );
}
