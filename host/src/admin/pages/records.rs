//! The token page (state and force refresh), the recent pushes and the
//! audit log.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::overview::ms;
use super::{Chrome, Flash, NoticeQuery, Scoped, done, html, when};
use crate::admin::auth::Operator;
use crate::admin::{Admin, DAILY_TOKEN_LIMIT};
use crate::server::activity::{OutcomeClass, RECENT_CAPACITY};

struct TokenRow {
    fingerprint: String,
    expires: String,
    fetched: String,
    fetches: u64,
    day: String,
    state: String,
}

#[derive(Template)]
#[template(path = "admin/token.html")]
struct TokenPage {
    page: Chrome,
    app_id: String,
    endpoint: &'static str,
    status: Option<TokenRow>,
    daily_limit: u64,
}

async fn token_page(admin: &Admin, op: &Operator, status: StatusCode, flash: Flash) -> Response {
    let mut flash = flash;
    let row = match &admin.wechat {
        None => None,
        Some(w) => match w.tokens().status().await {
            Ok(s) => Some(TokenRow {
                fingerprint: s
                    .fingerprint
                    .clone()
                    .unwrap_or_else(|| "none stored".into()),
                expires: s.expires_at.map(when).unwrap_or_else(|| "—".into()),
                fetched: s.fetched_at.map(when).unwrap_or_else(|| "—".into()),
                fetches: s.fetches_today,
                day: s.day.clone(),
                state: match s.seconds_left {
                    None => "no token yet: the first API call fetches one".into(),
                    Some(left) if left <= 0 => {
                        "expired: the next API call fetches a new one".into()
                    }
                    Some(left) if s.needs_refresh => {
                        format!("{left} s left: refreshed on the next API call")
                    }
                    Some(left) => format!("valid, {} min left", left / 60),
                },
            }),
            Err(e) => {
                flash = Flash::Error(e.into());
                None
            }
        },
    };
    let page = TokenPage {
        page: Chrome::new("Access token", "token", op, admin).with(flash),
        app_id: admin.app_id.clone(),
        endpoint: admin.token_endpoint,
        status: row,
        daily_limit: DAILY_TOKEN_LIMIT,
    };
    html(status, &page)
}

pub async fn token(Scoped(admin): Scoped, op: Operator, Query(q): Query<NoticeQuery>) -> Response {
    token_page(&admin, &op, StatusCode::OK, q.into()).await
}

#[derive(Debug, Deserialize)]
pub struct RefreshForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    force: Option<String>,
}

pub async fn refresh(Scoped(admin): Scoped, op: Operator, Form(f): Form<RefreshForm>) -> Response {
    if let Err(e) = op.check_csrf(&f.csrf) {
        return token_page(&admin, &op, e.status, Flash::Error(e)).await;
    }
    let force = f.force.is_some_and(|v| v == "true" || v == "on");
    match admin.refresh_token(&op.actor, force).await {
        Ok(s) => done(
            &admin,
            "/token",
            &format!(
                "Fetched a new token ({}).",
                s.fingerprint.as_deref().unwrap_or("?")
            ),
        ),
        Err(e) => token_page(&admin, &op, e.status, Flash::Error(e)).await,
    }
}

struct PushRow {
    at: String,
    account: String,
    instance: String,
    kind: String,
    user: String,
    plugin: String,
    outcome: &'static str,
    class: &'static str,
    latency: String,
    content: String,
}

#[derive(Template)]
#[template(path = "admin/pushes.html")]
struct PushesPage {
    page: Chrome,
    capacity: usize,
    show_content: bool,
    /// Instances that reported in the last minute.
    instances: Vec<String>,
    pushes: Vec<PushRow>,
}

pub async fn pushes(Scoped(admin): Scoped, op: Operator) -> Response {
    let activity = &admin.service.activity;
    let pushes = activity
        .recent_everywhere(RECENT_CAPACITY)
        .await
        .into_iter()
        .map(|p| PushRow {
            at: when(p.at as i64),
            account: p.account,
            instance: p.instance,
            kind: p.kind,
            user: p.user,
            plugin: p.plugin.unwrap_or_default(),
            outcome: if p.retry { "retry" } else { p.outcome.as_str() },
            class: match OutcomeClass::of(p.outcome, p.retry) {
                OutcomeClass::Reply => "ok",
                OutcomeClass::NoReply | OutcomeClass::Replayed => "",
                OutcomeClass::BudgetCut => "warn",
                OutcomeClass::Failure => "off",
            },
            latency: ms(Some(p.latency)),
            content: p.content.unwrap_or_default(),
        })
        .collect();
    let page = PushesPage {
        page: Chrome::new("Recent pushes", "pushes", &op, &admin),
        capacity: RECENT_CAPACITY,
        show_content: activity.shows_content(),
        instances: live_instances(activity).await,
        pushes,
    };
    html(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    page: Chrome,
    entries: Vec<(String, String, String, String)>,
}

pub async fn audit(Scoped(admin): Scoped, op: Operator) -> Response {
    let (entries, flash) = match admin.stores.audit.recent(500).await {
        Ok(e) => (
            e.into_iter()
                .map(|e| (when(e.at), e.actor, e.action, e.detail))
                .collect(),
            Flash::None,
        ),
        Err(e) => (Vec::new(), Flash::Error(e.into())),
    };
    let page = AuditPage {
        page: Chrome::new("Audit log", "audit", &op, &admin).with(flash),
        entries,
    };
    html(StatusCode::OK, &page)
}

/// The instances that reported in the last minute (this one alone when the
/// store does not answer).
pub async fn live_instances(activity: &crate::server::activity::Activity) -> Vec<String> {
    let now_ms = crate::store::now_millis().max(0) as u64;
    match activity.instances(now_ms).await {
        Ok(all) => all
            .into_iter()
            .filter(|i| i.live)
            .map(|i| i.instance)
            .collect(),
        Err(_) => vec![activity.instance().to_owned()],
    }
}
