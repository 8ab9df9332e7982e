//! The operator's side: a web console, a JSON API, Prometheus metrics and
//! health checks, on a listener of its own (`admin.listen`, loopback by
//! default), served by the same connection layer as the callback
//! ([`crate::http::conn`]).
//!
//! - [`Admin`] (here): what the console works on — the running service's
//!   runtime, stores, activity and WeChat client — and [`router`].
//! - `auth.rs`: the password or one-time link, sessions and CSRF, the API's
//!   bearer token; `login_limit.rs`: failed logins per client address.
//! - `ops.rs`: the operations (menus, QR codes, plugins, token), one way
//!   each for pages and API, each written to the audit log.
//! - `pages/`: the server-rendered pages (askama templates in
//!   `host/templates/admin/`); `charts.rs`: their SVG charts.
//! - `api.rs`: `/api/v1`; `accounts.rs`: `/api/v1/accounts` (runtime
//!   accounts); `messages.rs`: `/api/v1/messages` (the outbound queue)
//!   and `/api/v1/tags`; `error.rs`: [`AdminError`] as JSON.
//! - `metrics.rs`: the process's Prometheus recorder and `GET /metrics`.
//! - `/healthz`, `/readyz`: [`crate::http::health`], as on the callback
//!   listener.
//!
//! Askama over maud: the pages are HTML files a designer can read and edit
//! without knowing Rust macros, and still compiled into the binary and
//! type-checked against their structs; both escape by default.

mod accounts;
mod api;
pub mod auth;
mod charts;
pub mod error;
mod login_limit;
mod mass;
mod messages;
pub mod metrics;
mod open;
pub mod ops;
mod pages;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

pub use error::AdminError;

use crate::api::Wechat;
use crate::config::{Config, TokenEndpoint};
use crate::http::{BodyDeadline, ConnLimits, body_deadline, health};
use crate::plugin::Runtime;
use crate::server::{AppState, Service};
use crate::store::Stores;

/// access_token fetches WeChat allows per account per day.
pub const DAILY_TOKEN_LIMIT: u64 = 2000;
/// What the console reads of a request body: 1 MiB within 10 s, except
/// on the upload routes, and there only once the caller is signed in.
const BODY: BodyDeadline = BodyDeadline {
    timeout: Duration::from_secs(10),
    max_bytes: 1 << 20,
};
/// What an upload route reads (a component of up to 64 MiB), after auth.
const UPLOAD_BODY: BodyDeadline = BodyDeadline {
    timeout: Duration::from_secs(60),
    max_bytes: crate::plugin::MAX_COMPONENT_BYTES + (1 << 20),
};
/// Connections the console serves at once: one operator's browser and a
/// few scripts, not a flood.
pub const MAX_CONNECTIONS: usize = 32;

/// Everything the console and the API work on, for one account (the
/// default one; [`Admin::for_account`] gives another's).
pub struct Admin {
    /// Shared by every account's view: one console, one login.
    pub auth: Arc<auth::Auth>,
    pub runtime: Arc<Runtime>,
    /// `None` without an AppSecret: menus, QR codes and the token are then
    /// read-only (what the store has).
    pub wechat: Option<Arc<Wechat>>,
    /// The account's store scope (its menus, QR codes, audit log, …).
    pub stores: Stores,
    /// The account this view acts for.
    pub account: Arc<str>,
    /// Every account served, and the runtime ones' operations.
    pub accounts: Arc<crate::account::Accounts>,
    /// The callback's state: activity, readiness.
    pub service: Arc<AppState>,
    pub app_id: String,
    pub token_endpoint: &'static str,
    pub permanent_qr_limit: u64,
}

impl Admin {
    /// The console for a built `service`.
    pub fn new(config: &Config, service: &Service) -> Admin {
        // Installed with the console: only it renders them.
        metrics::handle();
        Admin {
            auth: Arc::new(auth::Auth::new(
                &config.admin,
                service.stores.sessions.clone(),
            )),
            runtime: service.runtime.clone(),
            wechat: service.wechat.clone(),
            stores: service.stores.clone(),
            account: Arc::from(crate::store::DEFAULT_ACCOUNT),
            accounts: service.accounts.clone(),
            service: service.state.clone(),
            app_id: config.wechat.app_id.clone(),
            token_endpoint: endpoint_label(config.wechat.token_endpoint),
            permanent_qr_limit: service
                .wechat
                .as_ref()
                .map_or(100_000, |w| w.options().permanent_qr_limit),
        }
    }

    /// This console acting for account `name` (`?account=` on the API;
    /// `None` or `default`: itself): that account's API client and store
    /// scope, so its operations and their audit entries are that account's.
    pub fn for_account(self: &Arc<Self>, name: Option<&str>) -> Result<Arc<Admin>, AdminError> {
        let name = name.unwrap_or(crate::store::DEFAULT_ACCOUNT);
        if *self.account == *name {
            return Ok(self.clone());
        }
        let a = self
            .accounts
            .by_name(name)
            .ok_or_else(|| AdminError::not_found(format!("no account {name} is served")))?;
        Ok(Arc::new(Admin {
            auth: self.auth.clone(),
            runtime: self.runtime.clone(),
            wechat: a.wechat.clone(),
            stores: a.stores.clone(),
            account: a.name.clone(),
            accounts: self.accounts.clone(),
            service: self.service.clone(),
            app_id: a.app_id.to_string(),
            token_endpoint: endpoint_label(a.settings.wechat.token_endpoint),
            permanent_qr_limit: self.permanent_qr_limit,
        }))
    }

    /// The token's state for the overview: a headline and a detail line.
    pub async fn token_summary(&self) -> (String, String) {
        let Some(w) = &self.wechat else {
            return ("API off".into(), "no AppSecret configured".into());
        };
        match w.tokens().status().await {
            Ok(s) => {
                let head = match (s.fingerprint, s.seconds_left) {
                    (Some(f), Some(left)) if left > 0 => format!("{f} · {} min left", left / 60),
                    (Some(f), _) => format!("{f} · expired"),
                    _ => "none fetched yet".into(),
                };
                (
                    head,
                    format!("{} of {DAILY_TOKEN_LIMIT} fetches today", s.fetches_today),
                )
            }
            Err(e) => ("unknown".into(), e.to_string()),
        }
    }
}

/// How the pages and the API name a token endpoint.
fn endpoint_label(e: TokenEndpoint) -> &'static str {
    match e {
        TokenEndpoint::Stable => "stable (/cgi-bin/stable_token)",
        TokenEndpoint::Classic => "classic (/cgi-bin/token)",
    }
}

/// The console's routes: pages, `/api/v1`, `/metrics`, `/healthz`, `/readyz`.
pub fn router(admin: Arc<Admin>) -> Router {
    let small = Router::new()
        .merge(pages::routes())
        .merge(accounts::routes())
        .merge(open::routes())
        .merge(messages::routes())
        .merge(mass::routes())
        .merge(api::routes())
        .route("/metrics", get(metrics::render))
        .merge(health::routes(
            admin.service.readiness.clone(),
            health::Detail::Full,
        ))
        .layer(axum::middleware::from_fn_with_state(
            BODY,
            body_deadline::read_within,
        ));
    let uploads = Router::new()
        .merge(pages::upload_routes())
        .merge(api::upload_routes())
        .merge(messages::upload_routes())
        .layer(axum::middleware::from_fn_with_state(
            admin.clone(),
            upload_after_auth,
        ));
    small
        .merge(uploads)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(admin)
}

/// The upload routes' body is read only once the caller is signed in (a
/// console session, or the API's bearer token): an anonymous client gets
/// its refusal before a byte of a large body is read.
async fn upload_after_auth(
    axum::extract::State(admin): axum::extract::State<Arc<Admin>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::extract::FromRequestParts as _;
    use axum::response::IntoResponse as _;
    let (mut parts, body) = request.into_parts();
    if parts.uri.path().starts_with("/api/") {
        if let Err(refused) = auth::ApiCaller::from_request_parts(&mut parts, &admin).await {
            return refused.into_response();
        }
    } else if let Err(refused) = auth::Operator::from_request_parts(&mut parts, &admin).await {
        return refused;
    }
    let request = axum::extract::Request::from_parts(parts, body);
    body_deadline::read_within(axum::extract::State(UPLOAD_BODY), request, next).await
}

/// Pages are never framed, sniffed, cached by proxies, or given a referrer
/// (login links carry a token).
async fn security_headers(mut res: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let h = res.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// Serves the console on `listener` within `limits` (at most
/// [`MAX_CONNECTIONS`] at once) until `shutdown`.
pub async fn serve(
    admin: Arc<Admin>,
    listener: TcpListener,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = ConnLimits {
        max_connections: limits.max_connections.min(MAX_CONNECTIONS),
        reserved: 0,
        reserved_path: None,
        ..limits
    };
    crate::http::conn::serve(router(admin), listener, limits, shutdown).await;
}
