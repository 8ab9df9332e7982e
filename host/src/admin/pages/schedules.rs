//! The "Schedules" page: the account's schedules with their next run and
//! last outcome, and its recent runs (failures with their error and the
//! plugin's log lines).

use std::sync::Arc;

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Chrome, Flash, Scoped, html, when};
use crate::admin::Admin;
use crate::admin::auth::Operator;
use crate::store::ScheduleRun;

/// Runs the page lists.
const LATEST: usize = 100;

struct Row {
    plugin: String,
    schedule: String,
    cron: String,
    catch_up: &'static str,
    limit: String,
    next: String,
    last: String,
    last_class: &'static str,
}

struct RunRow {
    due: String,
    plugin: String,
    schedule: String,
    catch_up: bool,
    outcome: String,
    class: &'static str,
    duration_ms: u64,
    instance: String,
    error: String,
    logs: Vec<String>,
}

fn class(outcome: &str) -> &'static str {
    match outcome {
        "ok" => "ok",
        "skipped" => "warn",
        _ => "off",
    }
}

fn at(ms: u64) -> String {
    when((ms / 1000) as i64)
}

#[derive(Template)]
#[template(path = "admin/schedules.html")]
struct SchedulesPage {
    page: Chrome,
    timezone: String,
    enabled: bool,
    schedules: Vec<Row>,
    runs: Vec<RunRow>,
}

pub async fn page(Scoped(admin): Scoped, op: Operator) -> Response {
    let (runs, flash) = match admin.stores.schedules.runs(LATEST).await {
        Ok(r) => (r, Flash::None),
        Err(e) => (Vec::new(), Flash::Error(e.into())),
    };
    let page = SchedulesPage {
        page: Chrome::new("Schedules", "schedules", &op, &admin).with(flash),
        timezone: admin.service.schedules.timezone().to_owned(),
        enabled: admin.service.schedules_enabled,
        schedules: rows(&admin, &runs),
        runs: runs
            .into_iter()
            .map(|r| RunRow {
                due: at(r.tick_ms),
                class: class(&r.outcome),
                plugin: r.plugin,
                schedule: r.schedule,
                catch_up: r.catch_up,
                outcome: r.outcome,
                duration_ms: r.duration_ms,
                instance: r.instance,
                error: r.error.unwrap_or_default(),
                logs: r.logs,
            })
            .collect(),
    };
    html(StatusCode::OK, &page)
}

fn rows(admin: &Arc<Admin>, runs: &[ScheduleRun]) -> Vec<Row> {
    admin
        .service
        .schedules
        .list(Some(&admin.account))
        .into_iter()
        .map(|s| {
            let last = runs
                .iter()
                .find(|r| r.plugin == s.plugin && r.schedule == s.schedule);
            Row {
                last: last.map_or_else(
                    || "—".to_owned(),
                    |r| format!("{} at {}", r.outcome, at(r.tick_ms)),
                ),
                last_class: last.map_or("muted", |r| class(&r.outcome)),
                next: s.next_ms.map_or_else(|| "never".to_owned(), at),
                limit: format!("{} ms", s.limit_ms),
                plugin: s.plugin,
                schedule: s.schedule,
                cron: s.cron,
                catch_up: s.catch_up,
            }
        })
        .collect()
}
