//! A fake OpenAI-compatible model server: `POST /v1/chat/completions` on
//! 127.0.0.1, real HTTP and JSON, for the assistant plugin's tests and for
//! `make run-assistant` (the `fake-model` binary), so the assistant can be
//! tried with no account and no key.
//!
//! Its answer to a conversation is derived from the last user message, so a
//! test can steer it from WeChat: the reply is `echo: <message>` and names
//! how many messages it was sent (history included); `delay:<ms> …` waits
//! that long first; `long:<bytes>` answers with a text of that many bytes
//! (sentences of mixed scripts); `fail` answers HTTP 500. Every call is
//! recorded (its messages and the `Authorization` header, to check the key
//! arrives and only where it should). A configured default delay and a
//! number of failures apply to every call.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

/// One recorded call.
#[derive(Debug, Clone)]
pub struct ModelCall {
    pub model: String,
    /// `(role, content)` in order.
    pub messages: Vec<(String, String)>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Inner {
    calls: Mutex<Vec<ModelCall>>,
    delay: Mutex<Duration>,
    failures: Mutex<usize>,
    recorded: Notify,
}

pub struct FakeModel {
    inner: Arc<Inner>,
    addr: SocketAddr,
    _shutdown: oneshot::Sender<()>,
}

impl FakeModel {
    /// Starts on 127.0.0.1 with an ephemeral port.
    pub async fn start() -> FakeModel {
        FakeModel::start_on("127.0.0.1:0".parse().expect("literal address")).await
    }

    pub async fn start_on(addr: SocketAddr) -> FakeModel {
        let inner = Arc::new(Inner::default());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the fake model server");
        let addr = listener.local_addr().expect("local address");
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(inner.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        FakeModel {
            inner,
            addr,
            _shutdown: tx,
        }
    }

    /// `http://127.0.0.1:PORT/v1`: the assistant's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `127.0.0.1:PORT`: the plugin's `http_hosts` entry.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Every call waits this long before answering.
    pub fn set_delay(&self, delay: Duration) {
        *self.inner.delay.lock().unwrap() = delay;
    }

    /// The next `n` calls answer HTTP 500.
    pub fn fail_next(&self, n: usize) {
        *self.inner.failures.lock().unwrap() = n;
    }

    pub fn calls(&self) -> Vec<ModelCall> {
        self.inner.calls.lock().unwrap().clone()
    }

    /// Waits until at least `n` calls were made, up to `timeout`.
    pub async fn wait_for_calls(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.recorded.notified();
            if self.inner.calls.lock().unwrap().len() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.inner.calls.lock().unwrap().len() >= n;
            }
        }
    }
}

/// `n` bytes of text in sentences (Chinese and English), ending on a
/// sentence boundary where it can.
pub fn long_text(n: usize) -> String {
    let sentences = [
        "这是一个很长的回答中的一句话。",
        "The model keeps talking about the weather, tea and trains. ",
        "它还会继续说下去！",
        "Does it ever stop? ",
    ];
    let mut out = String::new();
    for s in sentences.iter().cycle() {
        if out.len() + s.len() > n {
            break;
        }
        out.push_str(s);
    }
    while out.len() < n {
        out.push('x');
    }
    out
}

async fn complete(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let Some(Json(body)) = body else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "invalid JSON"}})),
        )
            .into_response();
    };
    let messages: Vec<(String, String)> = body["messages"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|m| {
                    (
                        m["role"].as_str().unwrap_or_default().to_owned(),
                        m["content"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let call = ModelCall {
        model: body["model"].as_str().unwrap_or_default().to_owned(),
        messages: messages.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    inner.calls.lock().unwrap().push(call);
    inner.recorded.notify_waiters();
    let last = messages
        .iter()
        .rev()
        .find(|(role, _)| role == "user")
        .map(|(_, c)| c.clone())
        .unwrap_or_default();
    let mut delay = *inner.delay.lock().unwrap();
    let mut text = last.as_str();
    if let Some(rest) = text.strip_prefix("delay:") {
        let (ms, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if let Ok(ms) = ms.parse() {
            delay = Duration::from_millis(ms);
        }
        text = rest;
    }
    tokio::time::sleep(delay).await;
    let failing = {
        let mut f = inner.failures.lock().unwrap();
        let failing = *f > 0;
        *f = f.saturating_sub(1);
        failing
    };
    if failing || text == "fail" {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "the model is overloaded", "type": "server_error"}})),
        )
            .into_response();
    }
    let answer = match text.strip_prefix("long:").and_then(|n| n.parse().ok()) {
        Some(n) => long_text(n),
        None => format!("echo: {text} ({} messages)", messages.len()),
    };
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    }))
    .into_response()
}
