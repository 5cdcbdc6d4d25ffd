//! The listener: HTTP/1.1 connections held to timeouts and caps, so that no client can keep
//! the server's sockets. A connection that sends nothing, idles between requests, dribbles
//! its headers or its body is closed when its time is up; connections past the cap (over
//! all, or from one client address) are answered with a problem and closed, and the
//! connections already open go on being served.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::AppState;
pub use crate::limits::HttpLimits;

/// What a connection is doing, shared by its socket and the requests it carries.
struct Activity {
    in_flight: AtomicUsize,
    marks: Mutex<Marks>,
}

struct Marks {
    /// When bytes last moved either way.
    last: Instant,
    /// When the first byte of a request's headers came, until the request is dispatched.
    head_started: Option<Instant>,
    /// The reader waiting while a request was under way: woken when it ends, so that the
    /// idle clock starts (hyper would otherwise wait for the socket alone).
    reader: Option<std::task::Waker>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            marks: Mutex::new(Marks {
                last: Instant::now(),
                head_started: None,
                reader: None,
            }),
        }
    }

    fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_some(&self) {
        let idle = self.in_flight.load(Ordering::Acquire) == 0;
        let mut m = self.marks();
        m.last = Instant::now();
        if idle && m.head_started.is_none() {
            m.head_started = Some(m.last);
        }
    }

    fn wrote_some(&self) {
        self.marks().last = Instant::now();
    }

    /// When a write that cannot go on (the client reads nothing) is to end the connection.
    fn write_deadline(&self, limits: &HttpLimits) -> Instant {
        self.marks().last + limits.idle()
    }

    /// When the connection is to be closed if nothing more arrives: never while a request
    /// is under way (its body has its own deadline).
    fn deadline(&self, limits: &HttpLimits, cx: &Context<'_>) -> Option<Instant> {
        let mut m = self.marks();
        if self.in_flight.load(Ordering::Acquire) > 0 {
            m.reader = Some(cx.waker().clone());
            return None;
        }
        Some(match m.head_started {
            Some(h) => h + limits.header(),
            None => m.last + limits.idle(),
        })
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.marks().head_started = None;
        InFlight(self.clone())
    }
}

/// A request under way; its end restarts the idle clock.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut m = self.0.marks();
        m.last = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        if let Some(w) = m.reader.take() {
            w.wake();
        }
    }
}

/// A socket that fails its read with `TimedOut` once the connection's deadline passes.
struct Watched {
    io: TcpStream,
    activity: Arc<Activity>,
    limits: HttpLimits,
    sleep: Pin<Box<Sleep>>,
    /// The write side's clock: a client that stops reading holds the answer (and its
    /// pipelined requests) forever otherwise, since nothing is read meanwhile.
    write_sleep: Pin<Box<Sleep>>,
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the client was silent for too long",
    )
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.activity.read_some();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if let Some(deadline) = this.activity.deadline(&this.limits, cx) {
                    if Instant::now() >= deadline {
                        return Poll::Ready(Err(timed_out()));
                    }
                    this.sleep.as_mut().reset(deadline);
                    if this.sleep.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(timed_out()));
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        match r {
            Poll::Ready(Ok(n)) if n > 0 => this.activity.wrote_some(),
            Poll::Pending => {
                let deadline = this.activity.write_deadline(&this.limits);
                if Instant::now() >= deadline {
                    return Poll::Ready(Err(timed_out()));
                }
                this.write_sleep.as_mut().reset(deadline);
                if this.write_sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(timed_out()));
                }
            }
            _ => {}
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Open connections per client address.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

struct AddressSlot(Arc<PerAddress>, IpAddr);

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<AddressSlot> {
        if cap == 0 {
            return Some(AddressSlot(self.clone(), ip));
        }
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = m.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(AddressSlot(self.clone(), ip))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut m = (self.0).0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.1) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// The answer to a connection past a cap: a whole HTTP response, then the connection closes.
fn refusal(status: axum::http::StatusCode, detail: &str) -> Vec<u8> {
    let p = crate::error::problem(
        status,
        "too-many-connections",
        "Too many connections",
        detail.to_owned(),
    );
    let body = serde_json::to_string(&p).unwrap_or_default();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nretry-after: 1\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Refuses a connection politely: answers at once (a silent client gets the answer too),
/// then reads what the client sent for a moment, so that closing does not reset the answer
/// away. At most `REFUSING` refusals run at once, each for at most half a second; past that
/// a connection is simply closed, so refusing costs no more sockets than it frees.
fn refuse(stream: TcpStream, refusing: &Arc<Semaphore>, answer: Vec<u8>) {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            let _ = stream.write_all(&answer).await;
            let _ = stream.shutdown().await;
            let mut buf = [0u8; 4096];
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
        })
        .await;
        drop(permit);
    });
}

const REFUSING: usize = 256;

/// How long shutdown waits for requests under way before it closes their connections.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then lets requests under way end.
pub async fn serve_with(
    listener: TcpListener,
    app: axum::Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(REFUSING));
    let per_address = Arc::new(PerAddress::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The socket watcher keeps the header and idle clocks (hyper's own header clock would
    // also run while a kept-alive connection idles).
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None::<Duration>);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: the
                    // connections already open go on; try again shortly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = open.clone().try_acquire_owned() else {
            refuse(
                stream,
                &refusing,
                refusal(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "casedesk has as many connections open as it serves at once. Retry in a moment.",
                ),
            );
            continue;
        };
        let Some(address_slot) = per_address.take(peer.ip(), limits.max_connections_per_address)
        else {
            refuse(
                stream,
                &refusing,
                refusal(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    "Your address has as many connections open as casedesk allows one client. Reuse them, or close some.",
                ),
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = Watched {
            io: stream,
            activity: activity.clone(),
            limits,
            sleep: Box::pin(tokio::time::sleep(limits.idle())),
            write_sleep: Box::pin(tokio::time::sleep(limits.idle())),
        };
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let in_flight = activity.begin();
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                let answer = app.clone().oneshot(req);
                async move {
                    let res = answer.await;
                    drop(in_flight);
                    res
                }
            });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(io), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(address_slot);
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still under way after {DRAIN:?}; closing their connections");
    }
    Ok(())
}

/// The body of a request must have arrived `body_timeout_seconds` after its headers.
pub async fn body_deadline(State(st): State<AppState>, req: Request, next: Next) -> Response {
    use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
    let h = req.headers();
    let has_body = h.contains_key(TRANSFER_ENCODING)
        || h.get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    if !has_body {
        return next.run(req).await;
    }
    let deadline = Instant::now() + st.http.body();
    let (parts, body) = req.into_parts();
    let data = body.into_data_stream();
    let timed = futures_util::stream::unfold(Some(data), move |data| async move {
        let mut data = data?;
        match tokio::time::timeout_at(deadline, data.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(data))),
            Ok(None) => None,
            Err(_) => Some((Err(axum::Error::new(crate::error::BodyTimedOut)), None)),
        }
    });
    next.run(Request::from_parts(
        parts,
        axum::body::Body::from_stream(timed),
    ))
    .await
}

impl std::error::Error for crate::error::BodyTimedOut {}
