//! `GET /metrics`: the process's counters in the Prometheus text format.
//!
//! The host is instrumented with the `metrics` facade at the places that
//! know (`server/callback.rs`, `server/late.rs`, `plugin/call.rs`,
//! `plugin/runtime.rs`, `plugin/registry.rs`, `api/wechat.rs`,
//! `api/credential.rs`, `outbound/worker.rs`); this module installs the one recorder a process
//! may have (`metrics-exporter-prometheus`), on first use, and renders it.
//! Until it is installed the macros cost a branch and record nothing. Labels
//! are bounded sets (kind, outcome, plugin id, failure class, errcode),
//! never openids or message ids.

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Push latency buckets, in seconds: resolution where pushes are (a few
/// milliseconds) and at WeChat's 5-second limit.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 4.5, 5.0,
];
/// How often histogram samples are folded into their buckets when nobody
/// scrapes (else they would pile up in memory).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus recorder, installed on the first call; `None`
/// if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("wxhost_push_latency_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
                return None;
            }
            describe();
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "metrics upkeep thread not started");
            }
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    crate::outbound::worker::describe_metrics();
    crate::schedule::describe_metrics();
    describe_counter!(
        "wxhost_pushes_total",
        "Pushes answered, by plugin kind and outcome"
    );
    describe_counter!(
        "wxhost_pushes_refused_total",
        "Pushes refused (4xx), by reason"
    );
    describe_histogram!(
        "wxhost_push_latency_seconds",
        metrics::Unit::Seconds,
        "Time from a push's arrival to its answer"
    );
    describe_counter!(
        "wxhost_dedup_replays_total",
        "WeChat retries answered from the first delivery"
    );
    describe_counter!(
        "wxhost_budget_cuts_total",
        "Pushes answered `success` because the budget ran out"
    );
    describe_counter!(
        "wxhost_late_replies_total",
        "Replies that missed the budget, sent as customer-service messages"
    );
    describe_counter!(
        "wxhost_held_pushes_total",
        "Pushes held for WeChat's retries: answered on a retry, or past the last delivery (late)"
    );
    describe_counter!(
        "wxhost_typing_total",
        "Typing statuses sent for slow pushes, by result"
    );
    describe_counter!("wxhost_plugin_calls_total", "Plugin calls, by plugin");
    describe_counter!(
        "wxhost_plugin_failures_total",
        "Failed plugin calls, by plugin and failure class"
    );
    describe_gauge!("wxhost_plugins_loaded", "Plugins serving");
    describe_counter!(
        "wxhost_plugin_reloads_total",
        "Plugin directory changes, by result (rejected: a file that failed to load)"
    );
    describe_counter!(
        "wxhost_token_fetches_total",
        "Credential fetches from WeChat, by credential and result"
    );
    describe_counter!(
        "wxhost_api_errors_total",
        "WeChat API calls answered with an error, by errcode"
    );
    describe_counter!(
        "wxhost_scene_hits_dropped_total",
        "QR scene scans not counted (the counter's queue was full)"
    );
}

/// The handler.
pub async fn render() -> Response {
    match handle() {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no metrics recorder in this process\n",
        )
            .into_response(),
    }
}
