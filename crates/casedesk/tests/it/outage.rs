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

/// A new PostgreSQL database for a test, reached through a relay the test can cut.
async fn behind_a_relay() -> (casedesk_testkit::TestDb, Arc<Relay>) {
    let mut db = test_db(Backend::Postgres).await;
    let url = url::Url::parse(&db.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = Arc::new(Relay::start(upstream).await);
    let mut through = url.clone();
    through.set_port(Some(relay.port)).unwrap();
    db.url = through.to_string();
    (db, relay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_answered_fast_and_survived_without_a_restart() {
    let (db, relay) = behind_a_relay().await;
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

/// A relay in front of the SMTP server that, when a message's data ends, cuts the database
/// relay as it passes on the server's acceptance, and restores it `for_how_long` later: the
/// message is accepted while its result cannot be written.
async fn smtp_that_blinks_the_database(
    smtp_port: u16,
    db: Arc<Relay>,
    for_how_long: Duration,
) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let Ok(server) = TcpStream::connect(("127.0.0.1", smtp_port)).await else {
                return;
            };
            let db = db.clone();
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let ended = Arc::new(AtomicBool::new(false));
                let seen = ended.clone();
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut tail: Vec<u8> = Vec::new();
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                        tail.extend_from_slice(&buf[..n]);
                        if tail.windows(5).any(|w| w == b"\r\n.\r\n") {
                            seen.store(true, Ordering::SeqCst);
                            tail.clear();
                        } else if tail.len() > 4 {
                            tail.drain(..tail.len() - 4);
                        }
                    }
                });
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if ended.swap(false, Ordering::SeqCst) {
                        db.cut();
                        let db = db.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(for_how_long).await;
                            db.restore();
                        });
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    port
}

/// The database blinks while the relay accepts an acknowledgement: the result is written
/// when the database is back, and the message is not sent a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_blink_after_the_relay_took_a_message_sends_it_once() {
    let (db, relay) = behind_a_relay().await;
    let sink = casedesk_testkit::smtp::SmtpSink::start().await;
    let mut mail = sink.mail_config();
    let blinking = smtp_that_blinks_the_database(
        mail.smtp.port.unwrap(),
        relay.clone(),
        Duration::from_secs(3),
    )
    .await;
    mail.smtp.port = Some(blinking);
    // Short deadlines, so that the attempt's lease (its deadline and the 10 s the test
    // settings give a result to be written) ends within the test: a second copy would be sent
    // by then.
    mail.smtp.timeout_seconds = 1;
    mail.smtp.data_timeout_seconds = 2;
    let app = spawn_with(
        reserve().await,
        Arc::new(db),
        Options {
            mail,
            ..Options::default()
        },
    )
    .await;
    let w = app.world().await;
    let n = app.open_case(&w.ops, acme_case("Sent once")).await;
    let to_ops = |a: &[casedesk_testkit::smtp::Accepted]| {
        a.iter()
            .filter(|m| m.rcpt_tos.contains(&"ops@acme.example".to_owned()))
            .count()
    };
    sink.wait_for("the acknowledgement", |a| to_ops(a) >= 1)
        .await;
    let mut log = serde_json::Value::Null;
    for _ in 0..200 {
        let r = app.get(&format!("/api/v1/cases/{n}/mail"), &w.agent).await;
        if r.status == 200 && r.json["sent"][0]["state"] == "sent" {
            log = r.json;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log["sent"][0]["state"], "sent", "{log}");
    assert_eq!(
        log["sent"][0]["attempts"], 1,
        "one attempt, truthfully: {log}"
    );
    assert_eq!(
        outcomes(&log["sent"][0]),
        ["sent"],
        "the attempt's own result, written once the database was back: {log}"
    );
    // Past the lease of the first attempt (3 + 2 + 10 s from its start): no second copy.
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(
        to_ops(&sink.accepted()),
        1,
        "the acknowledgement went out once"
    );
}

/// The outcomes of a message's attempts, oldest first, from its mail log.
fn outcomes(m: &serde_json::Value) -> Vec<String> {
    m["attempt_log"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["outcome"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A node loses the database for good just as the relay accepts an acknowledgement (for the
/// message, the same as a node that died there). Its attempt was written before the message
/// was handed over, so another node finds it open, waits out the first node's window for
/// writing the result, calls it interrupted and sends again: the relay gets a second copy,
/// and the mail log says so instead of showing one attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_whose_node_died_shows_as_interrupted_and_the_message_goes_again() {
    let (db, relay) = behind_a_relay().await;
    let direct = {
        let mut u = url::Url::parse(&db.url).unwrap();
        u.set_port(Some(
            url::Url::parse(&std::env::var(casedesk_testkit::PG_ENV).unwrap())
                .unwrap()
                .port()
                .unwrap_or(5432),
        ))
        .unwrap();
        u.to_string()
    };
    let second = casedesk_testkit::TestDb {
        url: direct,
        dir: tempfile::tempdir().unwrap(),
        key: db.key.clone(),
    };
    let sink = casedesk_testkit::smtp::SmtpSink::start().await;
    let mut mail = sink.mail_config();
    mail.smtp.timeout_seconds = 1;
    mail.smtp.data_timeout_seconds = 2;
    let mut through_a = mail.clone();
    // The database of the first node goes away as the relay accepts, and never comes back.
    through_a.smtp.port = Some(
        smtp_that_blinks_the_database(
            mail.smtp.port.unwrap(),
            relay.clone(),
            Duration::from_secs(3600),
        )
        .await,
    );
    let a = spawn_with(
        reserve().await,
        Arc::new(db),
        Options {
            mail: through_a,
            ..Options::default()
        },
    )
    .await;
    let w = a.world().await;
    let n = a.open_case(&w.ops, acme_case("Interrupted once")).await;
    let to_ops = |x: &[casedesk_testkit::smtp::Accepted]| {
        x.iter()
            .filter(|m| m.rcpt_tos.contains(&"ops@acme.example".to_owned()))
            .count()
    };
    sink.wait_for("the first copy", |x| to_ops(x) >= 1).await;
    let first = std::time::Instant::now();
    let b = spawn_with(
        reserve().await,
        Arc::new(second),
        Options {
            mail,
            ..Options::default()
        },
    )
    .await;
    // The first node's attempt holds the message for its deadline (3 + 2 s) and its window for
    // the result (10 s), counted from before the first copy: the second node waits that out.
    while to_ops(&sink.accepted()) < 2 {
        assert!(
            first.elapsed() < Duration::from_secs(60),
            "the message was not sent again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        first.elapsed() >= Duration::from_secs(14),
        "sent again only once the first attempt's window was over, not after {:?}",
        first.elapsed()
    );
    let mut log = serde_json::Value::Null;
    for _ in 0..200 {
        let r = b.get(&format!("/api/v1/cases/{n}/mail"), &w.agent).await;
        if r.status == 200 && r.json["sent"][0]["state"] == "sent" {
            log = r.json;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = &log["sent"][0];
    assert_eq!(m["state"], "sent", "{log}");
    assert_eq!(m["attempts"], 2, "both attempts counted: {log}");
    assert_eq!(outcomes(m), ["interrupted", "sent"], "{log}");
    assert_eq!(
        m["attempt_log"][0]["error"],
        casedesk_core::mail::INTERRUPTED,
        "{log}"
    );
    assert!(m["attempt_log"][0]["ended_at"].is_string(), "{log}");
}
