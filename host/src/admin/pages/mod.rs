//! The console's pages: server-rendered HTML from askama templates
//! (`host/templates/admin/`, compiled into the binary and type-checked
//! against these structs; values are HTML-escaped unless marked `safe`,
//! which only the server's own SVG charts are). No script: forms POST and
//! redirect (POST/redirect/GET), and a refused action re-renders its page
//! with the reason.
//!
//! Every page acts for one account, named by `?account=NAME` (absent: the
//! default): the switcher in the frame picks it, and every link and form
//! carries it, so a form always acts for the account its page showed — two
//! tabs on two accounts never cross (a cookie would).
//!
//! - `login.rs`: login, the one-time link, logout.
//! - `accounts.rs`: the accounts served, adding and removing runtime ones.
//! - `overview.rs`, `plugins.rs`, `menus.rs`, `qrcodes.rs`,
//!   `records.rs` (token, recent pushes, audit log), `messages.rs` (the
//!   outbound queue), `schedules.rs` (scheduled runs).

mod accounts;
mod login;
mod menus;
mod messages;
mod overview;
mod plugins;
mod qrcodes;
mod records;
mod schedules;

pub use qrcodes::matching as qr_matching;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::Admin;
use super::auth::Operator;
use super::error::AdminError;
use crate::plugin::MAX_COMPONENT_BYTES;

/// What every page's frame shows.
pub struct Chrome {
    pub title: &'static str,
    /// The active navigation entry.
    pub nav: &'static str,
    pub signed_in: bool,
    pub csrf: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// A refused menu's problems.
    pub problems: Vec<String>,
    /// The account the page acts for, and every account (the switcher).
    pub account: String,
    pub accounts: Vec<String>,
    /// `?account=NAME` for links and form actions (empty for the default),
    /// and the same as `&account=NAME` after a query.
    pub q: String,
    pub amp: String,
}

impl Chrome {
    fn new(title: &'static str, nav: &'static str, op: &Operator, admin: &Admin) -> Chrome {
        let account = admin.account.to_string();
        let (q, amp) = match account_param(admin) {
            Some(p) => (format!("?{p}"), format!("&{p}")),
            None => (String::new(), String::new()),
        };
        Chrome {
            title,
            nav,
            signed_in: true,
            csrf: op.csrf.clone(),
            notice: None,
            error: None,
            problems: Vec::new(),
            account,
            accounts: admin
                .accounts
                .all()
                .iter()
                .map(|a| a.name.to_string())
                .collect(),
            q,
            amp,
        }
    }

    /// With the outcome of the action that led here.
    fn with(mut self, flash: Flash) -> Chrome {
        match flash {
            Flash::Notice(n) => self.notice = Some(n),
            Flash::Error(e) => {
                self.error = Some(e.message);
                self.problems = e.problems;
            }
            Flash::None => {}
        }
        self
    }
}

/// What to tell the user on top of a page.
pub enum Flash {
    None,
    Notice(String),
    Error(AdminError),
}

/// `?notice=` after a redirect.
#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

impl From<NoticeQuery> for Flash {
    fn from(q: NoticeQuery) -> Flash {
        match q.notice {
            Some(n) if !n.is_empty() => Flash::Notice(n.chars().take(300).collect()),
            _ => Flash::None,
        }
    }
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// Renders a page; a template error (a bug) is a 500 without details.
pub fn html<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "admin page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response()
        }
    }
}

/// `account=NAME` when `admin` acts for another account than the default.
fn account_param(admin: &Admin) -> Option<String> {
    (*admin.account != *crate::store::DEFAULT_ACCOUNT).then(|| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("account", &admin.account)
            .finish()
    })
}

/// Back to `path` (of the account `admin` acts for) with a notice.
pub fn done(admin: &Admin, path: &str, notice: &str) -> Response {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("notice", notice);
    if *admin.account != *crate::store::DEFAULT_ACCOUNT {
        q.append_pair("account", &admin.account);
    }
    Redirect::to(&format!("{path}?{}", q.finish())).into_response()
}

/// The console acting for the account a page's `?account=` names (absent:
/// the default); an unknown name is a 404 page.
pub struct Scoped(pub Arc<Admin>);

impl axum::extract::FromRequestParts<Arc<Admin>> for Scoped {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        admin: &Arc<Admin>,
    ) -> Result<Self, Self::Rejection> {
        let named = parts.uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "account")
                .map(|(_, v)| v.into_owned())
        });
        admin
            .for_account(named.as_deref().filter(|a| !a.is_empty()))
            .map(Scoped)
            .map_err(|e| (StatusCode::NOT_FOUND, e.message).into_response())
    }
}

/// Unix seconds as the pages show time.
pub fn when(t: i64) -> String {
    crate::store::format_utc(t)
}

/// The upload route: its body is read after auth (see `admin::router`).
pub fn upload_routes() -> Router<Arc<Admin>> {
    Router::new().route(
        "/plugins/upload",
        post(plugins::upload).layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES + (1 << 20))),
    )
}

pub fn routes() -> Router<Arc<Admin>> {
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/plugins", get(plugins::page))
        .route("/plugins/{id}/enable", post(plugins::enable))
        .route("/plugins/{id}/disable", post(plugins::disable))
        .route("/plugins/{id}/rollback", post(plugins::rollback))
        .route("/menus", get(menus::page))
        .route("/menus/publish", post(menus::publish))
        .route("/menus/rollback/{id}", post(menus::rollback))
        .route("/menus/delete", post(menus::delete))
        .route("/menus/diff", get(menus::diff))
        .route("/qrcodes", get(qrcodes::page).post(qrcodes::create))
        .route("/qrcodes/{file}", get(qrcodes::image))
        .route("/token", get(records::token))
        .route("/token/refresh", post(records::refresh))
        .route("/pushes", get(records::pushes))
        .route("/audit", get(records::audit))
        .route("/messages", get(messages::page))
        .route("/messages/{id}", get(messages::job))
        .route("/schedules", get(schedules::page))
        .route("/accounts", get(accounts::page).post(accounts::add))
        .route("/accounts/{name}/remove", post(accounts::remove))
}
