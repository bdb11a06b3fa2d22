//! The accept loop, in place of `axum::serve`, which sets no per-connection limits: a client that
//! opens a connection and sends its request a byte at a time (slowloris), or sends headers and
//! then never the body, would hold the connection and its task forever. Here every connection is
//! HTTP/1.1 served by hyper (axum's `serve` spoke only HTTP/1 here too) with:
//! - a header deadline: the request line and headers must arrive within `header_timeout`
//!   (hyper's own timer; it also bounds how long a kept-alive connection may sit idle between
//!   requests, and a connection that sends nothing at all);
//! - a body deadline: the whole body within `body_timeout` of the head. The timer runs over the
//!   whole body, not between bytes (tower-http's body timeout resets on every frame, so a byte
//!   every few seconds would never trip it); past it the request is answered 408 and the
//!   connection closed;
//! - a cap on open connections: at the cap the loop stops accepting until one closes (the
//!   kernel's backlog holds the rest), so a flood cannot exhaust file descriptors;
//! - a cap per client address (IPv6 per /64, which one host usually holds whole): a connection
//!   past it is closed at once, so one address holding slow connections cannot fill the global
//!   cap and lock everyone else out. Off behind a proxy (every peer is then the proxy).
//!
//! Graceful shutdown as before: stop accepting, let requests in flight finish, close idle
//! connections, return when every connection is gone.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Sleep;
use tower::ServiceExt;

/// The per-connection limits (`HTTP_HEADER_TIMEOUT_SECS`, `HTTP_BODY_TIMEOUT_SECS`,
/// `HTTP_MAX_CONNECTIONS`, `HTTP_MAX_CONNECTIONS_PER_ADDRESS`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServeLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    /// 0: no cap per address.
    pub max_connections_per_address: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(20),
            max_connections: 1024,
            // A quarter of the whole: an office behind one NAT address still has room for
            // dozens of browsers, and one attacker can take at most a quarter of the slots.
            max_connections_per_address: 256,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains (see the module docs).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address = Arc::new(PerAddress::default());
    // Connections watch `stop` to begin their graceful shutdown; each holds a `gone` receiver,
    // so `gone_tx.closed()` resolves once the last connection has ended.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (gone_tx, gone_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let address_slot = match limits.max_connections_per_address {
            0 => None,
            cap => match per_address.admit(peer.ip(), cap) {
                Some(s) => Some(s),
                None => {
                    tracing::debug!(%peer, cap, "connection refused: too many open from this address");
                    drop(stream);
                    continue;
                }
            },
        };
        let router = router.clone();
        let stop = stop_rx.clone();
        let gone = gone_rx.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, router, limits, stop).await;
            drop(address_slot);
            drop(slot);
            drop(gone);
        });
    }
    drop(listener);
    tracing::debug!("stopped accepting; draining connections");
    let _ = stop_tx.send(true);
    drop(gone_rx);
    gone_tx.closed().await;
    Ok(())
}

/// Open connections per client address.
#[derive(Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection's place in `PerAddress`, given back when dropped.
struct AddressSlot {
    table: Arc<PerAddress>,
    key: IpAddr,
}

impl PerAddress {
    fn admit(self: &Arc<Self>, peer: IpAddr, cap: usize) -> Option<AddressSlot> {
        let key = address_key(peer);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: self.clone(),
            key,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// IPv4 as is (also when mapped into IPv6); IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Per-connection errors (a peer that reset before we accepted) are routine; running out of
/// file descriptors is not, and retrying at once would spin, so that waits a moment.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; pausing");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ServeLimits,
    mut stop: watch::Receiver<bool>,
) {
    // Small JSON answers: send them now rather than waiting for the peer's delayed ACK.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        handle(router.clone(), peer, limits.body_timeout, req)
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let mut conn = pin!(http.serve_connection(TokioIo::new(stream), service));
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    // Timeouts and peers hanging up land here; nothing to answer.
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            changed = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// One request: the peer's address for the extractors (`ConnectInfo`), the body under its
/// deadline, and a 408 that closes the connection when the deadline cut the body short.
async fn handle(
    router: Router,
    peer: SocketAddr,
    body_timeout: Duration,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let expired = Arc::new(AtomicBool::new(false));
    let (mut parts, incoming) = req.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let body = DeadlineBody {
        inner: incoming,
        deadline: Box::pin(tokio::time::sleep(body_timeout)),
        expired: expired.clone(),
    };
    let response = router.oneshot(Request::from_parts(parts, Body::new(body))).await?;
    if expired.load(Ordering::Acquire) {
        tracing::info!(%peer, ?body_timeout, "request body too slow: answered 408, connection closed");
        return Ok(request_timeout());
    }
    Ok(response)
}

/// Whatever the handler made of a cut-off body (a 400 "failed to buffer"), the cause is the
/// client's slowness: 408, and `Connection: close` so hyper does not wait for the rest.
fn request_timeout() -> Response<Body> {
    let mut r = Response::new(Body::from(
        r#"{"error":{"code":"request_timeout","message":"the request body did not arrive in time"}}"#,
    ));
    *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    r
}

/// The request body, failing once `deadline` passes before its end (and saying so in `expired`).
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
