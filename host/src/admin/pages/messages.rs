//! The "Messages" page: the outbound queue at a glance — depth per
//! account, the send rate of the last minute, failures by reason, paused
//! APIs (45009, until WeChat's quota resets) — the latest jobs, and one
//! job's history.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Chrome, Flash, html, when};
use crate::admin::Admin;
use crate::admin::auth::Operator;
use crate::admin::error::AdminError;
use crate::outbound::job::{JobRecord, Status};
use crate::outbound::queue::ListFilter;
use crate::store::now_millis;

/// Jobs the page lists.
const LATEST: usize = 50;

fn at(ms: i64) -> String {
    when(ms.div_euclid(1000))
}

struct JobRow {
    id: i64,
    account: String,
    channel: &'static str,
    status: &'static str,
    class: &'static str,
    reason: String,
    attempts: u32,
    updated: String,
}

fn class(s: Status) -> &'static str {
    match s {
        Status::Queued => "warn",
        Status::Sent | Status::Delivered => "ok",
        Status::Failed => "off",
    }
}

impl From<&JobRecord> for JobRow {
    fn from(j: &JobRecord) -> JobRow {
        JobRow {
            id: j.id,
            account: j.account.clone(),
            channel: j.via.as_str(),
            status: j.status.as_str(),
            class: class(j.status),
            reason: j.reason.clone().unwrap_or_default(),
            attempts: j.attempts,
            updated: at(j.updated_ms),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/messages.html")]
struct MessagesPage {
    page: Chrome,
    /// (account, queued, sent, delivered, failed)
    depth: Vec<(String, u64, u64, u64, u64)>,
    per_second: String,
    failures: Vec<(String, String, u64)>,
    /// (account, api, until, reason)
    pauses: Vec<(String, String, String, String)>,
    jobs: Vec<JobRow>,
    status: String,
    draining: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    status: Option<String>,
}

pub async fn page(
    State(admin): State<Arc<Admin>>,
    op: Operator,
    Query(q): Query<PageQuery>,
) -> Response {
    let outbound = &admin.service.outbound;
    let now = now_millis();
    let status = q.status.as_deref().and_then(Status::parse);
    let mut flash = Flash::None;
    let stats = outbound.queue.stats(now).await.unwrap_or_else(|e| {
        flash = Flash::Error(e.into());
        Default::default()
    });
    let pauses = outbound.queue.pauses(now).await.unwrap_or_default();
    let jobs = outbound
        .queue
        .list(&ListFilter {
            status,
            limit: LATEST,
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    let mut depth: Vec<(String, u64, u64, u64, u64)> = Vec::new();
    for (account, s, n) in &stats.by_status {
        let i = match depth.iter().position(|d| d.0 == *account) {
            Some(i) => i,
            None => {
                depth.push((account.clone(), 0, 0, 0, 0));
                depth.len() - 1
            }
        };
        let row = &mut depth[i];
        match s {
            Status::Queued => row.1 += n,
            Status::Sent => row.2 += n,
            Status::Delivered => row.3 += n,
            Status::Failed => row.4 += n,
        }
    }
    depth.sort();
    let page = MessagesPage {
        page: Chrome::new("Messages", "messages", &op).with(flash),
        depth,
        per_second: format!("{:.1}", stats.sent_last_minute as f64 / 60.0),
        failures: stats.failures,
        pauses: pauses
            .into_iter()
            .map(|p| (p.account, p.api, at(p.until_ms), p.reason))
            .collect(),
        jobs: jobs.iter().map(JobRow::from).collect(),
        status: status.map_or("", Status::as_str).to_owned(),
        draining: outbound.settings.enabled,
    };
    html(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "admin/message.html")]
struct JobPage {
    page: Chrome,
    job: JobRow,
    msgid: String,
    deadline: String,
    spec: String,
    history: Vec<(String, &'static str, &'static str, String)>,
}

pub async fn job(
    State(admin): State<Arc<Admin>>,
    op: Operator,
    Path(id): Path<String>,
) -> Response {
    let found = match id.parse::<i64>() {
        Ok(n) => admin
            .service
            .outbound
            .job(n, None)
            .await
            .map_err(AdminError::from),
        Err(_) => Err(AdminError::bad_request(format!("`{id}` is not a job id"))),
    };
    let j = match found {
        Ok(Some(j)) => j,
        Ok(None) => return (StatusCode::NOT_FOUND, format!("no job {id}")).into_response(),
        Err(e) => return (e.status, e.message).into_response(),
    };
    let page = JobPage {
        page: Chrome::new("Message", "messages", &op),
        job: JobRow::from(&j),
        msgid: j.msgid.map(|m| m.to_string()).unwrap_or_else(|| "—".into()),
        deadline: at(j.deadline_ms),
        spec: serde_json::to_string_pretty(&j.spec).unwrap_or_default(),
        history: j
            .history
            .iter()
            .map(|h| (at(h.at), h.status.as_str(), class(h.status), h.note.clone()))
            .collect(),
    };
    html(StatusCode::OK, &page)
}
