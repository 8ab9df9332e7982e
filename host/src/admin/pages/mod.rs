//! The console's pages: server-rendered HTML from askama templates
//! (`host/templates/admin/`, compiled into the binary and type-checked
//! against these structs; values are HTML-escaped unless marked `safe`,
//! which only the server's own SVG charts are). No script: forms POST and
//! redirect (POST/redirect/GET), and a refused action re-renders its page
//! with the reason.
//!
//! - `login.rs`: login, the one-time link, logout.
//! - `accounts.rs`: the accounts served, adding and removing runtime ones.
//! - `overview.rs`, `plugins.rs`, `menus.rs`, `qrcodes.rs`,
//!   `records.rs` (token, recent pushes, audit log).

mod accounts;
mod login;
mod menus;
mod overview;
mod plugins;
mod qrcodes;
mod records;

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
}

impl Chrome {
    fn new(title: &'static str, nav: &'static str, op: &Operator) -> Chrome {
        Chrome {
            title,
            nav,
            signed_in: true,
            csrf: op.csrf.clone(),
            notice: None,
            error: None,
            problems: Vec::new(),
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

/// Back to `path` with a notice.
pub fn done(path: &str, notice: &str) -> Response {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("notice", notice)
        .finish();
    Redirect::to(&format!("{path}?{q}")).into_response()
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
        .route("/accounts", get(accounts::page).post(accounts::add))
        .route("/accounts/{name}/remove", post(accounts::remove))
}
