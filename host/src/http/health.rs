//! Health checks for load balancers, on the callback listener and the admin
//! one: `GET /healthz` answers `ok` while the process serves; `GET /readyz`
//! answers `ready` once the initial plugin load finished and while the
//! store answers a small write within [`PROBE_TIMEOUT`], else 503 with the
//! reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::store::SessionStore;

/// Longer than the store's busy timeout, well inside a probe's usual 5 s.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Readiness {
    store: Arc<dyn SessionStore>,
    plugins_loaded: AtomicBool,
}

impl Readiness {
    pub fn new(store: Arc<dyn SessionStore>) -> Readiness {
        Readiness {
            store,
            plugins_loaded: AtomicBool::new(false),
        }
    }

    /// The initial load of the plugins directory finished.
    pub fn plugins_loaded(&self) {
        self.plugins_loaded.store(true, Ordering::Release);
    }

    /// `Ok` when ready, else why not.
    pub async fn check(&self) -> Result<(), String> {
        if !self.plugins_loaded.load(Ordering::Acquire) {
            return Err("plugins directory not loaded yet".into());
        }
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

/// `/healthz` and `/readyz`, for any router.
pub fn routes<S: Clone + Send + Sync + 'static>(readiness: Arc<Readiness>) -> Router<S> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(readiness)
}

async fn ready(State(r): State<Arc<Readiness>>) -> Response {
    match r.check().await {
        Ok(()) => "ready".into_response(),
        Err(why) => {
            tracing::warn!(reason = %why, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
            )
                .into_response()
        }
    }
}
