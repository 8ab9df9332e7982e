//! The overview: pushes per minute and latency over the last hour as SVG
//! charts, outcomes, plugin failures by class, the token's state.

use std::collections::BTreeMap;
use std::time::Duration;

use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Chrome, NoticeQuery, Scoped, html};
use crate::admin::auth::Operator;
use crate::admin::charts;
use crate::server::activity::OutcomeClass;

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    page: Chrome,
    pushes_hour: u64,
    pushes_minute: u64,
    p50: String,
    p99: String,
    plugins_serving: usize,
    plugin_calls: u64,
    plugin_failures: u64,
    token_state: String,
    token_detail: String,
    pushes_chart: String,
    latency_chart: String,
    outcomes: Vec<(&'static str, u64)>,
    failures: Vec<(&'static str, u64)>,
    /// Instances that reported in the last minute.
    instances: Vec<String>,
}

/// `1.2 ms`, `—` for none.
pub fn ms(d: Option<Duration>) -> String {
    match d {
        None => "—".to_owned(),
        Some(d) if d < Duration::from_millis(10) => format!("{:.1} ms", d.as_secs_f64() * 1e3),
        Some(d) => format!("{:.0} ms", d.as_secs_f64() * 1e3),
    }
}

pub async fn page(Scoped(admin): Scoped, op: Operator, Query(q): Query<NoticeQuery>) -> Response {
    let o = admin
        .service
        .activity
        .overview_everywhere(crate::unix_now())
        .await;
    let instances = super::records::live_instances(&admin.service.activity).await;
    let per_minute: Vec<u64> = o.minutes.iter().map(|m| m.pushes).collect();
    let quantile = |q: f64| -> Vec<Option<f64>> {
        o.minutes
            .iter()
            .map(|m| m.quantile(q).map(|d| d.as_secs_f64() * 1e3))
            .collect()
    };
    let plugins = admin.plugin_views();
    let mut failures: BTreeMap<&'static str, u64> = BTreeMap::new();
    for p in &plugins {
        for (class, n) in &p.failures {
            *failures.entry(class).or_default() += n;
        }
    }
    let (token_state, token_detail) = admin.token_summary().await;
    let page = OverviewPage {
        page: Chrome::new("Overview", "overview", &op, &admin).with(q.into()),
        pushes_hour: per_minute.iter().sum(),
        pushes_minute: per_minute.last().copied().unwrap_or(0),
        p50: ms(o.p50),
        p99: ms(o.p99),
        plugins_serving: plugins.iter().filter(|p| p.state == "serving").count(),
        plugin_calls: plugins.iter().map(|p| p.calls).sum(),
        plugin_failures: plugins.iter().map(|p| p.failed).sum(),
        token_state,
        token_detail,
        pushes_chart: charts::bars("pushes per minute", &per_minute, "#07c160"),
        latency_chart: charts::lines(
            "latency per minute",
            &[
                ("p50", "#16a34a", quantile(0.5)),
                ("p99", "#dc2626", quantile(0.99)),
            ],
        ),
        outcomes: OutcomeClass::ALL
            .iter()
            .zip(o.by_class)
            .map(|(c, n)| (label(*c), n))
            .collect(),
        failures: failures.into_iter().collect(),
        instances,
    };
    html(StatusCode::OK, &page)
}

fn label(c: OutcomeClass) -> &'static str {
    match c {
        OutcomeClass::Reply => "replied",
        OutcomeClass::NoReply => "no reply (success)",
        OutcomeClass::Replayed => "replayed retry",
        OutcomeClass::BudgetCut => "budget cut",
        OutcomeClass::Failure => "failed",
    }
}
