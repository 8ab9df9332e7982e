//! The callback endpoint: WeChat's GET verification and POST pushes, for
//! the default account at `server.path` and for each account at
//! `<server.path>/<app_id>`. The account is looked up once, from the URL, and
//! its [`Endpoint`] serves the whole push: its Token and key authenticate
//! it (a push signed for another account is refused), its plugins answer,
//! its key seals the reply, its credentials send a late reply.
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
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use super::AppState;
use super::activity::Answered;
use super::deadlines::Deadlines;
use super::dedup::Pending;
use super::dispatch::Decision;
use super::endpoint::Endpoint;
use super::hold::{self, Deliveries};
use super::inflight::Phase;
use super::late;
use super::memory::{Admitted, Arrival};
use super::outcome::Outcome;
use super::refused::Refused;
use super::typing;
use crate::protocol::{CallbackQuery, Message, ProtocolError, SUCCESS};

/// GET at `server.path`: the default account's URL verification.
pub async fn verify_default(
    State(state): State<Arc<AppState>>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, Refused> {
    let endpoint = state.endpoints.default_endpoint();
    verify(&endpoint, query).await
}

/// GET at `<server.path>/<app_id>`: that account's URL verification.
pub async fn verify_account(
    State(state): State<Arc<AppState>>,
    Path(app_id): Path<String>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, Response> {
    let endpoint = endpoint_of(&state, &app_id).map_err(IntoResponse::into_response)?;
    verify(&endpoint, query)
        .await
        .map_err(IntoResponse::into_response)
}

/// POST at `server.path`: a push to the default account.
pub async fn push_default(
    State(state): State<Arc<AppState>>,
    Query(query): Query<CallbackQuery>,
    body: Bytes,
) -> Result<Response, Refused> {
    let endpoint = state.endpoints.default_endpoint();
    push(state, endpoint, query, body).await
}

/// POST at `<server.path>/<app_id>`: a push to that account.
pub async fn push_account(
    State(state): State<Arc<AppState>>,
    Path(app_id): Path<String>,
    Query(query): Query<CallbackQuery>,
    body: Bytes,
) -> Result<Response, Response> {
    let endpoint = endpoint_of(&state, &app_id).map_err(IntoResponse::into_response)?;
    push(state, endpoint, query, body)
        .await
        .map_err(IntoResponse::into_response)
}

/// A callback URL whose AppID no account served here has: 404.
pub struct UnknownAccount;

impl IntoResponse for UnknownAccount {
    fn into_response(self) -> Response {
        (
            axum::http::StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            "unknown-account",
        )
            .into_response()
    }
}

/// The served account with `app_id`.
fn endpoint_of(state: &AppState, app_id: &str) -> Result<Arc<Endpoint>, UnknownAccount> {
    state.endpoints.by_app_id(app_id).ok_or_else(|| {
        metrics::counter!("wxhost_pushes_refused_total", "reason" => "unknown-account")
            .increment(1);
        tracing::info!(
            error = "unknown-account",
            "request for an AppID this host does not serve"
        );
        UnknownAccount
    })
}

/// URL verification; echoes `echostr` verbatim.
async fn verify(endpoint: &Endpoint, query: CallbackQuery) -> Result<Response, Refused> {
    let now = crate::unix_now();
    let echo = endpoint
        .account
        .callback
        .verify_url(&query, now)
        .inspect_err(|e| {
            tracing::info!(account = %endpoint.account.name, error = e.kind(), "verification refused")
        })
        .map_err(Refused)?;
    // Verified, so both are present and the timestamp is a number.
    if let (Some(ts), Some(nonce)) = (&query.timestamp, &query.nonce)
        && let Ok(ts) = ts.trim().parse()
    {
        endpoint.pushes.verification(ts, nonce, &echo, now).await;
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

/// One push to `endpoint`'s account.
async fn push(
    state: Arc<AppState>,
    endpoint: Arc<Endpoint>,
    query: CallbackQuery,
    body: Bytes,
) -> Result<Response, Refused> {
    let account = &endpoint.account.name;
    let arrived = Instant::now();
    let request_id = state.next_request_id.fetch_add(1, Ordering::Relaxed);
    let now = crate::unix_now();
    let refuse = |e: ProtocolError| {
        metrics::counter!("wxhost_pushes_refused_total", "reason" => e.kind(), "account" => account.to_string()).increment(1);
        tracing::info!(
            request_id,
            account = %account,
            error = e.kind(),
            latency_ms = arrived.elapsed().as_millis() as u64,
            "push refused"
        );
        Refused(e)
    };
    let inbound = endpoint
        .account
        .callback
        .open(&query, &body, now)
        .map_err(refuse)?;
    let message = inbound.message.clone();
    // Registered before admission, so the worker the first delivery starts
    // sees every later one (`hold`).
    let deliveries = state.holds.arrive(&message, arrived);
    let mut deadlines = Deadlines::new(arrived, state.budget, state.late_window(&endpoint));
    if deliveries.is_some() {
        // A held push's plugins may run past the last delivery, late
        // replies or not (each within its own limit): a plugin can still
        // keep a reply no delivery took (the assistant's "more").
        let window = hold::horizon(state.budget).max(state.late_reply_window);
        deadlines = deadlines.held_until(arrived + window);
    }
    let push = Arrival {
        inbound: &inbound,
        body: &body,
        arrived,
        now,
        deadlines,
    };
    let (decision, retry) = match endpoint
        .pushes
        .admit(&push, &|| {
            start(
                &state,
                &endpoint,
                message.clone(),
                deadlines,
                deliveries.clone(),
            )
        })
        .await
    {
        Admitted::Forged => return Err(refuse(ProtocolError::NonceReused)),
        Admitted::Answer { decision, retry } => (decision, retry),
    };
    let (body, plugin, outcome) = match &decision {
        Some(d) => match endpoint
            .account
            .callback
            .seal(&inbound, &d.reply, crate::unix_now())
        {
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
    observe(&state, account, &message, plugin, outcome, retry, latency);
    tracing::info!(
        request_id,
        account = %account,
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
fn start(
    state: &Arc<AppState>,
    endpoint: &Arc<Endpoint>,
    message: Arc<Message>,
    deadlines: Deadlines,
    deliveries: Option<Arc<Deliveries>>,
) -> Pending<Decision> {
    endpoint.scenes.offer(&message);
    state.outbound.observe(&endpoint.account.name, &message);
    let (tx, rx) = watch::channel(None);
    let state = state.clone();
    let endpoint = endpoint.clone();
    let late_api = endpoint
        .late_replies
        .clone()
        .filter(|_| deadlines.allows_late());
    let tasks = state.tasks.clone();
    let record = state.inflight.begin(&message);
    // Boxed: the worker's future (dispatch, the plugin call, the late
    // reply) is several KiB, and tokio moves an unboxed one into its task
    // cell and again when the task completes — whole-future memcpys showed
    // in the push path's profile (bench/profile.sh); a box moves a pointer.
    tasks.spawn(Box::pin(async move {
        let work = endpoint
            .dispatcher
            .dispatch(&message, deadlines.work, |id| record.calling(id));
        let work = typing::alongside(work, endpoint.typing.clone(), &message);
        tokio::pin!(work);
        tokio::select! {
            decision = &mut work => {
                let _ = tx.send(Some(Arc::new(decision)));
            }
            _ = tokio::time::sleep_until(deadlines.reply.into()) => {
                // The plugin still working holds for WeChat's retries: no
                // answer yet; a reply ready before the last delivery's
                // budget answers whichever delivery is open.
                if let Some(deliveries) = deliveries.filter(|_| state.holds.policy.holds(record.plugin().as_deref())) {
                    record.phase(Phase::Held);
                    tokio::select! {
                        decision = &mut work => {
                            metrics::counter!("wxhost_held_pushes_total", "result" => "answered").increment(1);
                            let _ = tx.send(Some(Arc::new(decision)));
                            return;
                        }
                        _ = deliveries.last_budget(state.budget) => {
                            metrics::counter!("wxhost_held_pushes_total", "result" => "late").increment(1);
                        }
                    }
                }
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
    }));
    rx
}

/// The metrics and the admin console's activity of one answered push
/// (labels bounded: the plugin kind and the outcome, never a user or id).
fn observe(
    state: &AppState,
    account: &Arc<str>,
    message: &Message,
    plugin: Option<&str>,
    outcome: Outcome,
    retry: bool,
    latency: std::time::Duration,
) {
    let kind = crate::plugin::Kind::of(message).name();
    let label = account.to_string();
    metrics::counter!("wxhost_pushes_total", "kind" => kind, "outcome" => outcome.as_str(), "account" => label.clone())
        .increment(1);
    metrics::histogram!("wxhost_push_latency_seconds", "account" => label)
        .record(latency.as_secs_f64());
    if retry {
        metrics::counter!("wxhost_dedup_replays_total").increment(1);
    }
    if matches!(outcome, Outcome::Late | Outcome::Deadline) {
        metrics::counter!("wxhost_budget_cuts_total", "outcome" => outcome.as_str()).increment(1);
    }
    state.activity.record(
        crate::unix_now(),
        Answered {
            account,
            msg: message,
            plugin,
            outcome,
            retry,
            latency,
        },
    );
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
