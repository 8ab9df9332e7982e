//! Connections: the accept loop behind [`crate::server::run`] and the
//! console, and the limits that keep slow, stalled, idle or greedy clients
//! from holding the server.
//!
//! - A connection limit ([`ConnLimits::max_connections`]): past it, new
//!   connections are not accepted and wait in the kernel's listen backlog
//!   until one closes, so a flood of connections costs no task or buffer
//!   here and the connections already served keep working.
//! - Reserved slots ([`ConnLimits::reserved`]): that many of the slots are
//!   used only once the others are taken, and a connection on one serves
//!   one request, to [`ConnLimits::reserved_path`] only (the WeChat
//!   callback), with a short head timeout ([`RESERVED_HEADER_TIMEOUT`]):
//!   WeChat still gets through while pages or health checks are flooded.
//! - A per-client cap ([`ConnLimits::max_per_client`], a client being an
//!   address, an IPv6 one by its /64): a connection past it gets a reserved
//!   slot if one is free (callback path only, as above: WeChat may burst
//!   from one address), else it is closed at once, so a few addresses
//!   cannot take every slot.
//! - A header read timeout (hyper's `header_read_timeout` with a
//!   `TokioTimer`): a request's head must be complete within it, counted
//!   from the accept or, on a kept-alive connection, from the end of the
//!   previous response. So the same timer closes a connection that trickles
//!   or stalls its headers and an idle keep-alive connection (hyper has one
//!   timer for both; it sends no response, it closes).
//! - A write deadline ([`ConnLimits::write_timeout`], [`WriteDeadline`]): a
//!   response that cannot be written for that long (a client that stopped
//!   reading, perhaps after pipelining thousands of requests) closes the
//!   connection; hyper has no write timeout.
//! - A lifetime ([`ConnLimits::max_lifetime`]): a connection is told to
//!   finish (after its request in flight) that long after its accept, so
//!   no client holds a slot for good by keeping it busy.
//! - Keep-alive on or off ([`ConnLimits::keep_alive`]).
//! - The body read deadline is a layer of the router
//!   ([`super::body_deadline`]), since hyper has none.
//!
//! Only HTTP/1 is served (WeChat speaks HTTP/1.1): one request at a time per
//! connection, so the connection limit bounds the requests in flight too,
//! and no protocol sniffing waits on a silent client before the header
//! timer starts.
//!
//! Shutdown: accepting stops, every connection is told to finish
//! (`graceful_shutdown`: an idle one closes at once, one with a request in
//! flight answers it first), and the loop waits for them up to
//! [`ConnLimits::shutdown_grace`]; whatever is still open then is closed.
//! (Hyper counts a connection that has sent part of its first request head
//! as busy, so a stalled client would otherwise hold shutdown up to the
//! header timeout.)

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::rate::client_key;
use crate::config::ServerConfig;

/// The head timeout of a connection on a reserved slot: WeChat sends its
/// request at once.
pub const RESERVED_HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// The connection limits of `[server]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLimits {
    /// Time allowed for a request head, from the accept or from the end of
    /// the previous response on the connection.
    pub header_read_timeout: Duration,
    /// Time allowed for a whole request body once its head has arrived.
    pub body_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Keep connections open between requests.
    pub keep_alive: bool,
    /// How long shutdown waits for open connections: enough for a request
    /// whose head just arrived to send its body and be answered.
    pub shutdown_grace: Duration,
    /// Time a response may go without being able to write a byte.
    pub write_timeout: Duration,
    /// A connection is told to finish this long after its accept.
    pub max_lifetime: Duration,
    /// Connections one client (address; IPv6: /64) may hold; 0: no cap.
    pub max_per_client: usize,
    /// Of `max_connections`, the slots only `reserved_path` may use.
    pub reserved: usize,
    /// The one path served on reserved slots (none: no slot is reserved).
    pub reserved_path: Option<Arc<str>>,
}

impl From<&ServerConfig> for ConnLimits {
    fn from(s: &ServerConfig) -> Self {
        ConnLimits {
            header_read_timeout: Duration::from_millis(s.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(s.body_read_timeout_ms),
            max_connections: s.max_connections,
            keep_alive: s.keep_alive,
            shutdown_grace: Duration::from_millis(s.body_read_timeout_ms + s.budget_ms)
                + Duration::from_secs(1),
            write_timeout: Duration::from_millis(s.write_timeout_ms),
            max_lifetime: Duration::from_secs(s.max_connection_secs),
            max_per_client: s.max_connections_per_client,
            reserved: s
                .reserved_connections
                .min(s.max_connections.saturating_sub(1)),
            reserved_path: Some(Arc::from(s.path.as_str())),
        }
    }
}

/// Which kind of slot a connection holds.
enum Slot {
    General(#[allow(dead_code)] OwnedSemaphorePermit),
    Reserved(#[allow(dead_code)] OwnedSemaphorePermit),
}

/// Open connections per client key, for [`ConnLimits::max_per_client`].
#[derive(Default)]
struct PerClient {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its client; uncounted when dropped.
struct ClientCount {
    table: Arc<PerClient>,
    key: IpAddr,
}

impl PerClient {
    /// Counts a connection from `ip`, unless it has `max` already.
    fn admit(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<ClientCount> {
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientCount {
            table: self.clone(),
            key,
        })
    }
}

impl Drop for ClientCount {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// An I/O stream whose writes fail with `TimedOut` once one has been
/// blocked (the peer not reading) for `timeout`.
pub struct WriteDeadline<T> {
    io: T,
    timeout: Duration,
    /// Armed while a write or flush is blocked.
    blocked: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteDeadline<T> {
    pub fn new(io: T, timeout: Duration) -> WriteDeadline<T> {
        WriteDeadline {
            io,
            timeout,
            blocked: None,
        }
    }

    /// A write, flush or shutdown that could not go on: `TimedOut` once
    /// writing has been blocked for the timeout. Only a write that moves
    /// bytes ends the blocked time (a TCP flush is always ready, so it
    /// says nothing about the peer reading).
    fn blocked(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.timeout;
        let timer = self
            .blocked
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading its response",
            )),
            Poll::Pending => Poll::Pending,
        }
    }

    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(n)) if n > 0 => {
                self.blocked = None;
                Poll::Ready(Ok(n))
            }
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => self.blocked(cx).map(Err),
        }
    }

    fn flushed(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<()>>,
    ) -> Poll<io::Result<()>> {
        match polled {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => self.blocked(cx).map(Err),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.flushed(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        self.flushed(cx, polled)
    }
}

/// What a reserved slot answers any other path: busy, try again.
fn reserved_refusal() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/plain"),
            (header::CONNECTION, "close"),
            (header::RETRY_AFTER, "1"),
        ],
        "busy",
    )
        .into_response()
}

/// Accepts connections on `listener` and serves `router` on each, within
/// `limits`, until `shutdown` resolves; then lets the open connections
/// finish (bounded by [`ConnLimits::shutdown_grace`]). Each request carries
/// its peer's address as axum's `ConnectInfo<SocketAddr>` (the admin
/// console rate-limits failed logins by it). Serves the callback
/// ([`crate::server::run`]) and the admin console alike.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(limits.keep_alive);
    // One request, quickly: a reserved slot is back for the next push soon.
    let mut reserved_builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    reserved_builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(RESERVED_HEADER_TIMEOUT.min(limits.header_read_timeout))
        .keep_alive(false);
    let reserved_path = limits.reserved_path.clone();
    let reserved = if reserved_path.is_some() {
        limits
            .reserved
            .min(limits.max_connections.saturating_sub(1))
    } else {
        0
    };
    let general = Arc::new(Semaphore::new(
        limits
            .max_connections
            .max(1)
            .saturating_sub(reserved)
            .max(1),
    ));
    let spare = Arc::new(Semaphore::new(reserved));
    let per_client = Arc::new(PerClient::default());
    // `stop`: finish what is in flight; `close`: the grace is over.
    let (stop, close) = (CancellationToken::new(), CancellationToken::new());
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        // A slot before accepting: past the limit, connections wait in the
        // listen backlog rather than as tasks here. Reserved slots only
        // once the others are taken.
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = general.clone().acquire_owned() => Slot::General(slot.expect("the slots are never closed")),
            slot = spare.clone().acquire_owned() => Slot::Reserved(slot.expect("the slots are never closed")),
        };
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        let (stream, peer) = stream;
        let (slot, counted) = match per_client.admit(peer.ip(), limits.max_per_client) {
            Some(counted) => (slot, Some(counted)),
            // Past its cap, a client gets a spare slot at most (for the
            // callback path alone, as WeChat may burst from one address),
            // else its connection is closed at once.
            None => {
                drop(slot);
                match spare.clone().try_acquire_owned() {
                    Ok(spare) => (Slot::Reserved(spare), None),
                    Err(_) => {
                        tracing::debug!(client = %peer.ip(), "connection refused: per-client connection cap");
                        continue;
                    }
                }
            }
        };
        let on_reserved = matches!(slot, Slot::Reserved(_));
        let router = router.clone();
        let only = reserved_path.clone().filter(|_| on_reserved);
        let service = TowerToHyperService::new(tower::service_fn(move |r: Request<Incoming>| {
            let router = router.clone();
            let refused = only.as_deref().is_some_and(|p| r.uri().path() != p);
            async move {
                if refused {
                    return Ok::<_, std::convert::Infallible>(reserved_refusal());
                }
                let mut r = r.map(Body::new);
                r.extensions_mut().insert(ConnectInfo(peer));
                router.oneshot(r).await
            }
        }));
        let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
        let conn = if on_reserved {
            reserved_builder.serve_connection(io, service).into_owned()
        } else {
            builder.serve_connection(io, service).into_owned()
        };
        let (stop, close) = (stop.clone(), close.clone());
        let (lifetime, grace) = (limits.max_lifetime, limits.shutdown_grace);
        connections.spawn(async move {
            tokio::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    tokio::select! {
                        ended = conn.as_mut() => ended,
                        // Dropping the connection closes it.
                        () = close.cancelled() => Ok(()),
                    }
                }
                () = tokio::time::sleep(lifetime) => {
                    conn.as_mut().graceful_shutdown();
                    tokio::select! {
                        ended = conn.as_mut() => ended,
                        () = tokio::time::sleep(grace) => Ok(()),
                        () = close.cancelled() => Ok(()),
                    }
                }
            };
            if let Err(e) = ended {
                // A client's own problem (reset, header timeout, bad
                // request, not reading): nothing for the operator.
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(counted);
            drop(slot);
        });
    }
    drop(listener);
    stop.cancel();
    connections.close();
    if tokio::time::timeout(limits.shutdown_grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = connections.len(),
            "shutdown: closing connections still open after the grace period"
        );
        close.cancel();
        connections.wait().await;
    }
}

/// An accept error: a connection that failed before we got it is skipped;
/// anything else (out of file descriptors) is logged and waited out, so the
/// loop neither spins nor stops serving.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn a_write_the_peer_never_reads_fails_after_the_timeout() {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let mut io = WriteDeadline::new(ours, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let written = io.write_all(&[0u8; 64 * 1024]).await;
        let e = written.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_peer_that_reads_slowly_but_steadily_is_not_cut_off() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut io = WriteDeadline::new(ours, Duration::from_millis(300));
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut got = 0;
            while got < 8 * 1024 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                got += tokio::io::AsyncReadExt::read(&mut theirs, &mut buf)
                    .await
                    .unwrap();
            }
        });
        io.write_all(&[0u8; 8 * 1024]).await.unwrap();
        reader.await.unwrap();
    }
}
