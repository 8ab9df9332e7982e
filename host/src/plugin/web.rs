//! Plugins that serve web pages: a component exporting
//! `wasi:http/incoming-handler` (the standard interface, implemented by
//! `wasmtime-wasi-http`). [`WebExport`] is that export, resolved at load;
//! [`LoadedPlugin::serve_web`] is one page call — through the same
//! per-call path as a message (`PluginCode::with_instance`: pool permit,
//! always a fresh store, memory limit, epoch deadline), so a page has the message
//! handler's sandbox, limits and kv namespace.
//!
//! Pages come after pushes: page calls hold at most [`page_share`] of the
//! instance pool at once, and wait at most [`PAGE_QUEUE_WAIT`] for it
//! (then [`PluginError::Shed`], a 503), so a flood of page requests can
//! neither take the instances WeChat's pushes need nor queue in front of
//! them.
//!
//! The request goes in whole (the server read its body within its limits);
//! the response is collected whole while the guest writes it, up to a
//! bound, so a page can neither hold the store past its call nor make the
//! host buffer without limit.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::future::Either;
use http_body_util::{BodyExt, Full, Limited};
use wasmtime::component::InstancePre;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::exports::wasi::http::incoming_handler::GuestIndices;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use super::call::InstanceUse;
use super::loaded::LoadedPlugin;
use super::state::CallState;
use super::{AccountScope, PluginError};

/// How long a page call waits for its share of the pool.
pub const PAGE_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Instances page calls may hold at once, of `max_instances`: a quarter,
/// at least one.
pub fn page_share(max_instances: u32) -> usize {
    (max_instances as usize / 4).max(1)
}

/// The prefix of the export's name (any `0.2.x`).
pub(crate) const INCOMING_HANDLER: &str = "wasi:http/incoming-handler@0.2.";

/// A component's `wasi:http/incoming-handler` export.
pub(crate) struct WebExport {
    indices: GuestIndices,
}

impl WebExport {
    /// Type-checks the export against WASI-HTTP 0.2 once, at load.
    pub fn resolve(pre: &InstancePre<CallState>) -> anyhow::Result<WebExport> {
        Ok(WebExport {
            indices: GuestIndices::new(pre)?,
        })
    }
}

/// What a page call produced, besides its response.
#[derive(Debug, Clone)]
pub struct WebCallReport {
    pub elapsed: std::time::Duration,
    pub memory_peak_bytes: u64,
}

impl LoadedPlugin {
    /// Whether it serves pages (`/app/<id>/…`).
    pub fn serves_web(&self) -> bool {
        self.code.web.is_some()
    }

    /// Calls the page handler with `request` (its URI absolute, as the
    /// visitor sees the page) under the plugin's own time limit, and
    /// collects a response of at most `max_response_bytes`. A handler that
    /// answers an error code, no response, or an incomplete or larger body
    /// is [`PluginError::InvalidReply`]; traps and timeouts are as for
    /// messages. Failures are logged (one line) here.
    pub async fn serve_web(
        &self,
        account: &Arc<AccountScope>,
        request: http::Request<Bytes>,
        max_response_bytes: usize,
    ) -> (Result<http::Response<Bytes>, PluginError>, WebCallReport) {
        let code = &self.code;
        let Some(web) = &code.web else {
            let e = PluginError::Host(format!("plugin {} serves no web pages", code.id));
            let report = WebCallReport {
                elapsed: Default::default(),
                memory_peak_bytes: 0,
            };
            return (Err(e), report);
        };
        let scheme = match request.uri().scheme_str() {
            Some("https") => Scheme::Https,
            _ => Scheme::Http,
        };
        let path = request.uri().path().to_owned();
        let queued = Instant::now();
        let share = tokio::time::timeout(PAGE_QUEUE_WAIT, code.inner.page_share.acquire()).await;
        let Ok(Ok(_share)) = share else {
            let e = PluginError::Shed {
                waited_ms: queued.elapsed().as_millis() as u64,
            };
            let counted: Result<(), _> = Err(e.clone());
            code.inner.stats.record(&code.id, &counted);
            metrics::counter!("wxhost_plugin_calls_total", "plugin" => code.id.clone(), "kind" => "page", "account" => account.name.to_string()).increment(1);
            metrics::counter!("wxhost_plugin_failures_total", "plugin" => code.id.clone(), "class" => e.kind(), "kind" => "page", "account" => account.name.to_string()).increment(1);
            let report = WebCallReport {
                elapsed: Default::default(),
                memory_peak_bytes: 0,
            };
            return (Err(e), report);
        };
        let deadline = Instant::now() + code.timeout;
        let (r, report) = code
            .with_instance(account, deadline, InstanceUse::Fresh, async |instance, store| {
                let guest = web.indices.load(&mut *store, instance)?;
                let (tx, rx) = tokio::sync::oneshot::channel();
                let (req, out) = {
                    let mut http = store.data_mut().http();
                    let body = Full::new(request.body().clone())
                        .map_err(|never| -> wasmtime_wasi_http::Error { match never {} });
                    let req = http.new_incoming_request(scheme, request.map(|_| body))?;
                    (req, http.new_response_outparam(tx)?)
                };
                // The body is drained while the guest writes it (it may
                // block on a full pipe).
                let collect = async {
                    let response = match rx.await {
                        Ok(Ok(r)) => r,
                        Ok(Err(code)) => return Err(format!("it answered the error {code:?}")),
                        Err(_) => return Err("it returned without setting a response".into()),
                    };
                    let (parts, body) = response.into_parts();
                    match Limited::new(body, max_response_bytes).collect().await {
                        Ok(b) => Ok(http::Response::from_parts(parts, b.to_bytes())),
                        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(format!(
                            "its response is larger than web.max_response_bytes ({max_response_bytes})"
                        )),
                        Err(e) => Err(format!("its response body is incomplete: {e}")),
                    }
                };
                let call = std::pin::pin!(guest.call_handle(&mut *store, req, out));
                let collect = std::pin::pin!(collect);
                // A trap ends the call at once: the response it never set
                // would otherwise be waited for until the time limit.
                match futures::future::select(call, collect).await {
                    Either::Left((called, collect)) => {
                        called?;
                        Ok(collect.await)
                    }
                    Either::Right((collected, call)) => {
                        call.await?;
                        Ok(collected)
                    }
                }
            })
            .await;
        let result = r.and_then(|c| c.map_err(PluginError::InvalidReply));
        // Counted like message calls (the console's plugin stats, /metrics),
        // told apart by the `kind` label of the metrics.
        code.inner.stats.record(&code.id, &result);
        metrics::counter!("wxhost_plugin_calls_total", "plugin" => code.id.clone(), "kind" => "page", "account" => account.name.to_string()).increment(1);
        if let Err(e) = &result {
            metrics::counter!("wxhost_plugin_failures_total", "plugin" => code.id.clone(), "class" => e.kind(), "kind" => "page", "account" => account.name.to_string()).increment(1);
        }
        if let Err(e) = &result {
            tracing::warn!(
                target: "wxhost::plugin",
                plugin = %code.id,
                error.kind = e.kind(),
                sha256 = %&code.sha256[..12],
                "plugin {} failed on page {path} ({}): {e}",
                code.id,
                e.kind()
            );
        }
        let report = WebCallReport {
            elapsed: report.elapsed,
            memory_peak_bytes: report.memory_peak_bytes,
        };
        (result, report)
    }
}
