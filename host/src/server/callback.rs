//! The callback endpoint: WeChat's GET verification and POST pushes.
//!
//! A push is authenticated and decrypted, de-duplicated against WeChat's
//! retries, dispatched in a detached task, and answered within the budget:
//! with the plugins' reply if it is ready, else with `success`. Client mistakes
//! get a 4xx with a one-word reason and nothing internal.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use super::AppState;
use super::dedup::{self, Pending};
use super::dispatch::Decision;
use super::late;
use crate::protocol::{CallbackQuery, Message, ProtocolError, Reply, SUCCESS};

/// GET: URL verification; echoes `echostr` verbatim.
pub async fn verify(
    State(state): State<Arc<AppState>>,
    Query(query): Query<CallbackQuery>,
) -> Response {
    match state.callback.verify_url(&query, crate::unix_now()) {
        Ok(echo) => ([(header::CONTENT_TYPE, "text/plain")], echo).into_response(),
        Err(e) => {
            tracing::info!(error = e.kind(), "verification refused");
            reject(&e)
        }
    }
}

/// POST: one push.
pub async fn push(
    State(state): State<Arc<AppState>>,
    Query(query): Query<CallbackQuery>,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let request_id = state.next_request_id.fetch_add(1, Ordering::Relaxed);
    let inbound = match state.callback.open(&query, &body, crate::unix_now()) {
        Ok(inbound) => inbound,
        Err(e) => {
            tracing::info!(
                request_id,
                error = e.kind(),
                latency_ms = started.elapsed().as_millis() as u64,
                "push refused"
            );
            return reject(&e);
        }
    };
    let deadline = tokio::time::Instant::from_std(started + state.budget);
    let message = inbound.message.clone();
    let (pending, retry) = state
        .dedup
        .join(dedup::key(&message), || {
            start(&state, message.clone(), started)
        })
        .await;
    let decision = dedup::wait(pending, deadline).await;
    let (body, plugin, outcome) = match &decision {
        Some(d) => match state.callback.seal(&inbound, &d.reply, crate::unix_now()) {
            Ok(body) => (body, d.plugin.as_deref(), d.outcome),
            Err(e) => {
                tracing::warn!(
                    request_id,
                    error = e.kind(),
                    "reply could not be sealed: {e}"
                );
                (SUCCESS.to_owned(), d.plugin.as_deref(), "seal_failed")
            }
        },
        None => (SUCCESS.to_owned(), None, "budget_exceeded"),
    };
    tracing::info!(
        request_id,
        msg_id = message.msg_id,
        kind = %KindLabel(&message),
        mode = inbound.mode.as_str(),
        retry,
        plugin,
        outcome,
        latency_ms = started.elapsed().as_millis() as u64,
        "push"
    );
    let content_type = if body == SUCCESS {
        "text/plain"
    } else {
        "application/xml"
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Starts processing `message` in a detached task: the passive reply is
/// published when ready or, at the budget, `success`; a reply finishing after
/// that goes out as a customer-service message when late replies are on.
fn start(state: &Arc<AppState>, message: Arc<Message>, started: Instant) -> Pending<Decision> {
    let (tx, rx) = watch::channel(None);
    let state = state.clone();
    let budget_deadline = started + state.budget;
    let late_api = state.late_replies.clone();
    // With late replies, each plugin's own time limit applies; without, the
    // budget is everyone's deadline.
    let deadline = if late_api.is_some() {
        started + state.late_limit
    } else {
        budget_deadline
    };
    let tasks = state.tasks.clone();
    tasks.spawn(async move {
        let work = state.dispatcher.dispatch(&message, deadline);
        tokio::pin!(work);
        tokio::select! {
            decision = &mut work => {
                let _ = tx.send(Some(Arc::new(decision)));
            }
            _ = tokio::time::sleep_until(budget_deadline.into()) => {
                let _ = tx.send(Some(Arc::new(Decision { reply: Reply::Success, plugin: None, outcome: "late" })));
                let decision = work.await;
                if let Some(api) = late_api {
                    late::deliver(api.as_ref(), &message.from_user, &decision.reply, decision.plugin.as_deref()).await;
                }
            }
        }
    });
    rx
}

/// `text`, `event:CLICK`, … for the push log line (no allocation).
struct KindLabel<'a>(&'a Message);

impl std::fmt::Display for KindLabel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.event_name() {
            Some(event) => write!(f, "event:{event}"),
            None => f.write_str(&self.0.msg_type),
        }
    }
}

/// The status for a refused request (the protocol's own mapping: a 4xx for
/// anything the client got wrong), with the error's label as the body.
fn reject(e: &ProtocolError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, e.kind()).into_response()
}
