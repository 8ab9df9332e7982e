//! Connections: the accept loop behind [`crate::server::run`] and the
//! console, and the limits that keep slow, stalled or idle clients from
//! holding the server.
//!
//! - A connection limit ([`ConnLimits::max_connections`]): past it, new
//!   connections are not accepted and wait in the kernel's listen backlog
//!   until one closes, so a flood of connections costs no task or buffer
//!   here and the connections already served keep working.
//! - A header read timeout (hyper's `header_read_timeout` with a
//!   `TokioTimer`): a request's head must be complete within it, counted
//!   from the accept or, on a kept-alive connection, from the end of the
//!   previous response. So the same timer closes a connection that trickles
//!   or stalls its headers and an idle keep-alive connection (hyper has one
//!   timer for both; it sends no response, it closes).
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

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::ServerConfig;

/// The connection limits of `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        }
    }
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
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // `stop`: finish what is in flight; `close`: the grace is over.
    let (stop, close) = (CancellationToken::new(), CancellationToken::new());
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        // A slot before accepting: past the limit, connections wait in the
        // listen backlog rather than as tasks here.
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the slots are never closed"),
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
        let service =
            TowerToHyperService::new(router.clone().map_request(move |r: Request<Incoming>| {
                let mut r = r.map(Body::new);
                r.extensions_mut().insert(ConnectInfo(peer));
                r
            }));
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let (stop, close) = (stop.clone(), close.clone());
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
            };
            if let Err(e) = ended {
                // A client's own problem (reset, header timeout, bad
                // request): nothing for the operator.
                tracing::debug!(error = %e, "connection closed with an error");
            }
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
