//! Health checks for load balancers, on the callback listener and the admin
//! one: `GET /healthz` answers `ok` while the process serves; `GET /readyz`
//! answers `ready` once the initial plugin load finished and while the
//! store answers a small write within [`PROBE_TIMEOUT`], else 503 with the
//! reason — a short code on the public listener (`not ready: store`), the
//! whole text on the console's.
//!
//! The store is probed at most once per [`PROBE_EVERY`], whoever asks:
//! concurrent requests wait for the probe in flight and share its answer,
//! so anonymous `/readyz` requests cannot turn into store writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::store::SessionStore;

/// Longer than the store's busy timeout, well inside a probe's usual 5 s.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a store probe's answer is reused.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Why the service is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// `plugins` or `store`: what the public listener says.
    pub code: &'static str,
    /// The whole reason, for the log and the console.
    pub detail: String,
}

pub struct Readiness {
    store: Arc<dyn SessionStore>,
    plugins_loaded: AtomicBool,
    /// The last store probe: when, and its answer.
    probed: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Readiness {
    pub fn new(store: Arc<dyn SessionStore>) -> Readiness {
        Readiness {
            store,
            plugins_loaded: AtomicBool::new(false),
            probed: tokio::sync::Mutex::new(None),
        }
    }

    /// The initial load of the plugins directory finished.
    pub fn plugins_loaded(&self) {
        self.plugins_loaded.store(true, Ordering::Release);
    }

    /// `Ok` when ready, else why not.
    pub async fn check(&self) -> Result<(), NotReady> {
        if !self.plugins_loaded.load(Ordering::Acquire) {
            return Err(NotReady {
                code: "plugins",
                detail: "plugins directory not loaded yet".into(),
            });
        }
        let mut probed = self.probed.lock().await;
        let answer = match probed.as_ref() {
            Some((at, answer)) if at.elapsed() < PROBE_EVERY => answer.clone(),
            _ => {
                let answer = self.probe().await;
                *probed = Some((Instant::now(), answer.clone()));
                answer
            }
        };
        answer.map_err(|detail| NotReady {
            code: "store",
            detail,
        })
    }

    async fn probe(&self) -> Result<(), String> {
        // A write, since serving needs one (sessions, kv, counters): a read
        // alone passes on a database another process holds locked.
        let probe = self
            .store
            .put("readyz", "probe", b"", Duration::from_secs(60));
        match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("store unavailable: {e}")),
            Err(_) => Err(format!(
                "store unavailable: no answer within {PROBE_TIMEOUT:?}"
            )),
        }
    }
}

/// How much `/readyz` says of why it is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// A reason code only (the public listener: no internal error text).
    Code,
    /// The whole reason (the console's listener).
    Full,
}

/// `/healthz` and `/readyz`, for any router.
pub fn routes<S: Clone + Send + Sync + 'static>(
    readiness: Arc<Readiness>,
    detail: Detail,
) -> Router<S> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state((readiness, detail))
}

async fn ready(State((r, detail)): State<(Arc<Readiness>, Detail)>) -> Response {
    match r.check().await {
        Ok(()) => "ready".into_response(),
        Err(why) => {
            tracing::warn!(reason = %why.detail, "not ready");
            let text = match detail {
                Detail::Code => format!("not ready: {}\n", why.code),
                Detail::Full => format!("not ready: {}\n", why.detail),
            };
            (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_store_is_probed_at_most_once_a_second_however_many_ask() {
        let stores = crate::store::Stores::in_memory().unwrap();
        let r = Readiness::new(stores.sessions.clone());
        assert_eq!(r.check().await.unwrap_err().code, "plugins");
        r.plugins_loaded();
        for _ in 0..50 {
            r.check().await.unwrap();
        }
        // One probe record, written once: a second probe within the second
        // would have moved its expiry.
        let first = stores.sessions.export().await.unwrap();
        assert_eq!(first.len(), 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        r.check().await.unwrap();
        let again = stores.sessions.export().await.unwrap();
        assert_eq!(first[0].expires_ms, again[0].expires_ms);
    }
}
