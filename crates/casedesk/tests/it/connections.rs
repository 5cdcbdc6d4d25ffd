//! The listener under slow, silent and greedy clients: their connections are closed when
//! their time is up or refused past the caps, and everyone else is still served.
//!
//! Clients bind their sockets to different loopback addresses (127.0.0.2, …), so the
//! per-address cap sees them as different machines.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use casedesk_testkit::{Backend, Options, spawn_app_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn limits() -> casedesk_web::server::HttpLimits {
    casedesk_web::server::HttpLimits {
        idle_timeout_seconds: 2,
        header_timeout_seconds: 1,
        body_timeout_seconds: 2,
        max_connections: 20,
        max_connections_per_address: 6,
    }
}

async fn connect_from(host: u8, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, host), 0)))
        .unwrap();
    s.connect(to).await.unwrap()
}

/// Everything the server sends until it closes the connection, and how long that took
/// (`None`: still open after `wait`).
async fn until_closed(s: &mut TcpStream, wait: Duration) -> (String, Option<Duration>) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + wait).into(), s.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into(), None),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&got).into(), Some(start.elapsed()));
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A plain GET on a connection of its own from `host`: the status line.
async fn get_from(host: u8, to: SocketAddr, path: &str) -> String {
    let mut s = connect_from(host, to).await;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (text, closed) = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "the answer ends the connection");
    text.lines().next().unwrap_or_default().to_owned()
}

async fn slow_and_idle_connections_are_closed_and_others_served(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            http: limits(),
            ..Default::default()
        },
    )
    .await;
    let to = app.addr;
    let w = app.world().await;
    // One client holds its six connections in every slow way there is.
    let mut silent = connect_from(2, to).await;
    let mut half_headers = connect_from(2, to).await;
    half_headers
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .unwrap();
    let mut short_body = connect_from(2, to).await;
    short_body
        .write_all(
            format!(
                "POST /api/v1/cases HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{{\"subject\":",
                w.ops
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut kept_alive = connect_from(2, to).await;
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut dribbling = connect_from(2, to).await;
    let mut sixth = connect_from(2, to).await;
    // Connections are counted once accepted; give the server a moment to take them all.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A seventh from the same address is refused with a problem, not left hanging.
    let mut seventh = connect_from(2, to).await;
    seventh
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = until_closed(&mut seventh, Duration::from_secs(3)).await;
    assert!(closed.is_some(), "the refused connection is closed");
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("too-many-connections"), "{answer}");

    // Meanwhile other clients are served at once.
    let start = Instant::now();
    assert_eq!(get_from(3, to, "/healthz").await, "HTTP/1.1 200 OK");
    let r = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(start.elapsed() < Duration::from_secs(1));

    // A dribbler sends a byte of its headers every 300 ms: the header clock still runs out.
    let drip = tokio::spawn(async move {
        for b in b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: aaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if dribbling.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        until_closed(&mut dribbling, Duration::from_secs(1)).await
    });

    // Each slow connection is closed when its time is up (idle 2 s, headers 1 s, body 2 s),
    // none lingers.
    let (_, t) = until_closed(&mut half_headers, Duration::from_secs(5)).await;
    let t = t.expect("half-sent headers are cut off");
    assert!(t < Duration::from_secs(3), "{t:?}");
    let (answer, t) = until_closed(&mut short_body, Duration::from_secs(6)).await;
    assert!(t.is_some(), "a body that never ends is cut off");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body-timeout"), "{answer}");
    let (answer, t) = until_closed(&mut kept_alive, Duration::from_secs(6)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(t.is_some(), "an idle kept-alive connection is closed");
    let (_, t) = until_closed(&mut silent, Duration::from_secs(6)).await;
    assert!(t.is_some(), "a silent connection is closed");
    let (_, t) = until_closed(&mut sixth, Duration::from_secs(6)).await;
    assert!(t.is_some());
    let (_, t) = drip.await.unwrap();
    assert!(t.is_some(), "a dribbler is cut off by the header clock");

    // Its slots are free again: the same client is served.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get_from(2, to, "/healthz").await, "HTTP/1.1 200 OK");

    // An upload whose body stops short is a 408 too, not a complaint about multipart.
    let mut upload = connect_from(4, to).await;
    upload
        .write_all(
            format!(
                "POST /api/v1/cases HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 4000\r\n\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nabc",
                w.ops
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (answer, t) = until_closed(&mut upload, Duration::from_secs(6)).await;
    assert!(t.is_some());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}
casedesk_testkit::both!(slow_and_idle_connections_are_closed_and_others_served);

async fn clients_that_never_read_are_closed(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            http: limits(),
            ..Default::default()
        },
    )
    .await;
    let to = app.addr;
    // Six connections (the address's cap) ask for the API description again and again with
    // a tiny receive window, and never read: the answers cannot be written.
    let mut stuck = Vec::new();
    for _ in 0..6 {
        let s = TcpSocket::new_v4().unwrap();
        s.set_recv_buffer_size(4096).unwrap();
        s.bind(SocketAddr::from((Ipv4Addr::new(127, 0, 0, 5), 0)))
            .unwrap();
        let mut c = s.connect(to).await.unwrap();
        c.write_all(&b"GET /openapi.json HTTP/1.1\r\nHost: t\r\n\r\n".repeat(25))
            .await
            .unwrap();
        stuck.push(c);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = get_from(5, to, "/healthz").await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    // With no byte moving for the idle time (2 s), the server gives up on them and the
    // address is served again, while the six still have not read a byte.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(get_from(5, to, "/healthz").await, "HTTP/1.1 200 OK");
    drop(stuck);
}
casedesk_testkit::both!(clients_that_never_read_are_closed);

async fn past_the_overall_cap_connections_are_refused_politely(b: Backend) {
    let app = spawn_app_with(
        b,
        Options {
            http: limits(),
            ..Default::default()
        },
    )
    .await;
    let to = app.addr;
    // Twenty connections from four addresses fill the server.
    let mut held = Vec::new();
    for host in 10..14 {
        for _ in 0..5 {
            held.push(connect_from(host, to).await);
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let line = get_from(20, to, "/healthz").await;
    assert_eq!(line, "HTTP/1.1 503 Service Unavailable");
    // As soon as some close, others are served again.
    held.truncate(15);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get_from(20, to, "/healthz").await, "HTTP/1.1 200 OK");
}
casedesk_testkit::both!(past_the_overall_cap_connections_are_refused_politely);
