//! The request body read deadline: a body must arrive whole within
//! `server.body_read_timeout_ms` of its head, else the request is answered
//! `408 body_timeout` and the connection closed; past `body_limit_bytes` it
//! is `413 body_too_large` (at once when its `Content-Length` says so).
//!
//! A total deadline, not an inactivity one: tower-http's
//! `RequestBodyTimeoutLayer` restarts its timer at every frame, so a client
//! trickling a byte at a time would never hit it; its `TimeoutLayer` would
//! also time the handler, whose 5-second budget starts only once the body
//! is in. Hyper has no body timeout of its own.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

/// What the layer enforces.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline {
    pub timeout: Duration,
    pub max_bytes: usize,
}

/// Reads the whole body within the deadline, then hands the request on
/// with the body in memory (the handlers read it whole anyway).
pub async fn read_within(
    State(limit): State<BodyDeadline>,
    request: Request,
    next: Next,
) -> Response {
    // A declared length past the limit is refused before a byte is read.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.max_bytes as u64) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    }
    let (parts, body) = request.into_parts();
    let read = Limited::new(body, limit.max_bytes).collect();
    match tokio::time::timeout(limit.timeout, read).await {
        Ok(Ok(collected)) => {
            let body: Bytes = collected.to_bytes();
            next.run(Request::from_parts(parts, Body::from(body))).await
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            refuse(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
        }
        // The client broke off mid-body: nobody is left to read an answer.
        Ok(Err(_)) => refuse(StatusCode::BAD_REQUEST, "body_incomplete"),
        Err(_) => {
            tracing::info!(
                timeout_ms = limit.timeout.as_millis() as u64,
                "request body not received in time"
            );
            refuse(StatusCode::REQUEST_TIMEOUT, "body_timeout")
        }
    }
}

/// A refusal that also closes the connection: the rest of the body may
/// still be on its way, so the connection cannot carry another request.
fn refuse(status: StatusCode, label: &'static str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain"),
            (header::CONNECTION, "close"),
        ],
        label,
    )
        .into_response()
}
