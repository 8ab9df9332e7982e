//! The callback endpoint: WeChat's GET verification and POST pushes.
//!
//! A push is authenticated and decrypted, admitted by the push memory
//! ([`PushMemory`](super::memory::PushMemory): the replay guard refuses a
//! forged reuse of a leaked query and never runs plugins again for an exact
//! repeat; WeChat's retries join the first delivery, in this process or on
//! another instance), dispatched in a detached task, and
//! answered with the plugins' reply if it is ready by the budget, else with
//! `success`. Client mistakes get a 4xx with a one-word reason ([`Refused`])
//! and nothing internal.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use super::AppState;
use super::deadlines::Deadlines;
use super::dedup::Pending;
use super::dispatch::Decision;
use super::inflight::Phase;
use super::late;
use super::memory::{Admitted, Arrival};
use super::outcome::Outcome;
use super::refused::Refused;
use crate::protocol::{CallbackQuery, Message, ProtocolError, SUCCESS};

/// GET: URL verification; echoes `echostr` verbatim.
pub async fn verify(
    State(state): State<Arc<AppState>>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, Refused> {
    let now = crate::unix_now();
    let echo = state
        .callback
        .verify_url(&query, now)
        .inspect_err(|e| tracing::info!(error = e.kind(), "verification refused"))
        .map_err(Refused)?;
    // Verified, so both are present and the timestamp is a number.
    if let (Some(ts), Some(nonce)) = (&query.timestamp, &query.nonce)
        && let Ok(ts) = ts.trim().parse()
    {
        state.pushes.verification(ts, nonce, &echo, now).await;
    }
    // The echo is a client-chosen string: never let a browser sniff it as
    // HTML.
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        echo,
    )
        .into_response())
}

/// POST: one push.
pub async fn push(
    State(state): State<Arc<AppState>>,
    Query(query): Query<CallbackQuery>,
    body: Bytes,
) -> Result<Response, Refused> {
    let arrived = Instant::now();
    let request_id = state.next_request_id.fetch_add(1, Ordering::Relaxed);
    let now = crate::unix_now();
    let refuse = |e: ProtocolError| {
        metrics::counter!("wxhost_pushes_refused_total", "reason" => e.kind()).increment(1);
        tracing::info!(
            request_id,
            error = e.kind(),
            latency_ms = arrived.elapsed().as_millis() as u64,
            "push refused"
        );
        Refused(e)
    };
    let inbound = state.callback.open(&query, &body, now).map_err(refuse)?;
    let message = inbound.message.clone();
    let deadlines = Deadlines::new(arrived, state.budget, state.late_window());
    let push = Arrival {
        inbound: &inbound,
        body: &body,
        arrived,
        now,
        deadlines,
    };
    let (decision, retry) = match state
        .pushes
        .admit(&push, &|| start(&state, message.clone(), deadlines))
        .await
    {
        Admitted::Forged => return Err(refuse(ProtocolError::NonceReused)),
        Admitted::Answer { decision, retry } => (decision, retry),
    };
    let (body, plugin, outcome) = match &decision {
        Some(d) => match state.callback.seal(&inbound, &d.reply, crate::unix_now()) {
            Ok(body) => (body, d.plugin.as_deref(), d.outcome),
            Err(e) => {
                tracing::warn!(
                    request_id,
                    error = e.kind(),
                    "reply could not be sealed: {e}"
                );
                (SUCCESS.to_owned(), d.plugin.as_deref(), Outcome::SealFailed)
            }
        },
        None => (SUCCESS.to_owned(), None, Outcome::Lost),
    };
    let latency = arrived.elapsed();
    observe(&state, &message, plugin, outcome, retry, latency);
    tracing::info!(
        request_id,
        msg_id = message.msg_id,
        kind = %KindLabel(&message),
        mode = inbound.mode.as_str(),
        retry,
        plugin,
        outcome = outcome.as_str(),
        latency_ms = latency.as_millis() as u64,
        "push"
    );
    let content_type = if body == SUCCESS {
        "text/plain"
    } else {
        "application/xml"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Starts processing `message` in a detached task (so WeChat dropping the
/// connection never cancels it) and returns where its answer will appear.
fn start(state: &Arc<AppState>, message: Arc<Message>, deadlines: Deadlines) -> Pending<Decision> {
    state.scenes.offer(&message);
    let (tx, rx) = watch::channel(None);
    let state = state.clone();
    let late_api = state
        .late_replies
        .clone()
        .filter(|_| deadlines.allows_late());
    let tasks = state.tasks.clone();
    let record = state.inflight.begin(&message);
    tasks.spawn(async move {
        let work = state
            .dispatcher
            .dispatch(&message, deadlines.work, |id| record.calling(id));
        tokio::pin!(work);
        tokio::select! {
            decision = &mut work => {
                let _ = tx.send(Some(Arc::new(decision)));
            }
            _ = tokio::time::sleep_until(deadlines.reply.into()) => {
                // The worker, not each waiting request, publishes the budget
                // answer: every delivery of this message (the first and any
                // retry of WeChat's) then gets the same `success`, and a reply
                // finishing later goes out once, as a customer-service
                // message, never also as a passive reply. This is the only
                // timer of the push; its requests just wait for the channel.
                let _ = tx.send(Some(Arc::new(Decision::success(Outcome::Late))));
                record.phase(Phase::LateReply);
                let decision = work.await;
                if let Some(api) = late_api {
                    record.phase(Phase::Delivering);
                    late::deliver(api.as_ref(), &message.from_user, &decision.reply, decision.plugin.as_deref()).await;
                }
            }
        }
    });
    rx
}

/// The metrics and the admin console's activity of one answered push
/// (labels bounded: the plugin kind and the outcome, never a user or id).
fn observe(
    state: &AppState,
    message: &Message,
    plugin: Option<&str>,
    outcome: Outcome,
    retry: bool,
    latency: std::time::Duration,
) {
    let kind = crate::plugin::Kind::of(message).name();
    metrics::counter!("wxhost_pushes_total", "kind" => kind, "outcome" => outcome.as_str())
        .increment(1);
    metrics::histogram!("wxhost_push_latency_seconds").record(latency.as_secs_f64());
    if retry {
        metrics::counter!("wxhost_dedup_replays_total").increment(1);
    }
    if matches!(outcome, Outcome::Late | Outcome::Deadline) {
        metrics::counter!("wxhost_budget_cuts_total", "outcome" => outcome.as_str()).increment(1);
    }
    state
        .activity
        .record(crate::unix_now(), message, plugin, outcome, retry, latency);
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
