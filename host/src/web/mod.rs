//! The web half of an Official Account, served on the same listener as the
//! callback: WeChat OAuth login, sessions, JS-SDK signatures, and plugins
//! that serve pages. [`Web`] is its state and [`routes`] its router, which
//! `server::router` merges with the callback's.
//!
//! - `oauth.rs`: `/oauth/login`, `/oauth/callback`, `/oauth/logout`.
//! - `site.rs` ([`site::Site`]): the account a request acts for, by the
//!   host it names (`[account.<name>.web] public_url`), else the default.
//! - `session.rs` ([`session::Sessions`]): session cookies over the
//!   `SessionStore`, the signing key and where it is kept.
//! - `host_cookies.rs`: the host's own cookies — names, purpose-bound
//!   signatures, strict reading — kept apart from the plugins' pages.
//! - `next.rs`: the relative-path rule that keeps logins from being open
//!   redirects.
//! - `jssdk.rs`: `/jssdk/config`.
//! - `apps.rs`: `/app/<plugin-id>/…`, login enforcement and the identity
//!   headers.
//! - `pages.rs`: the human-readable error pages.

pub mod apps;
pub mod host_cookies;
pub mod jssdk;
pub mod next;
pub mod oauth;
pub mod pages;
pub mod session;
pub mod site;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get, post};

use axum::http::HeaderValue;

use crate::account::Accounts;
use crate::config::{Config, DEFAULT_PAGE_CSP, WebLogin};
use crate::http::rate::ClientRate;
use crate::plugin::Runtime;

/// Everything the web routes need; what differs per account is its
/// [`site::Site`].
pub struct Web {
    /// Each account's web side, found by the request's host.
    pub sites: site::Sites,
    pub authorize_url: String,
    /// How long a login state lives.
    pub state_ttl: Duration,
    pub runtime: Arc<Runtime>,
    /// Per plugin id, from `[plugin.<id>.web]`: only these serve pages.
    pages: BTreeMap<String, PageSettings>,
    pub max_response_bytes: usize,
    /// OAuth callbacks per client that may reach WeChat; `None`: unlimited.
    pub callback_rate: Option<ClientRate>,
    /// Page requests per client; `None`: unlimited.
    pub page_rate: Option<ClientRate>,
}

impl Web {
    pub fn new(
        config: &Config,
        accounts: Arc<Accounts>,
        runtime: Arc<Runtime>,
    ) -> anyhow::Result<Web> {
        let key = session::load_key(config)?;
        Ok(Web {
            sites: site::Sites::new(
                accounts,
                key,
                Duration::from_secs(config.web.session_ttl_secs),
            ),
            authorize_url: config.web.oauth_authorize_url.clone(),
            state_ttl: Duration::from_secs(config.web.oauth_state_ttl_secs),
            runtime,
            pages: config
                .plugin
                .iter()
                .filter_map(|(id, s)| {
                    let login = s.web.login?;
                    let csp = match s.web.content_security_policy.as_deref() {
                        None => Some(HeaderValue::from_static(DEFAULT_PAGE_CSP)),
                        Some("") => None,
                        // Checked with the config.
                        Some(csp) => HeaderValue::from_str(csp).ok(),
                    };
                    Some((id.clone(), PageSettings { login, csp }))
                })
                .collect(),
            max_response_bytes: config.web.max_response_bytes,
            callback_rate: match config.web.oauth_callbacks_per_client_per_min {
                0 => None,
                n => Some(ClientRate::new(n, Duration::from_secs(60) / n)),
            },
            page_rate: match config.web.page_requests_per_client_per_sec {
                0 => None,
                n => Some(ClientRate::per_second(n, n.saturating_mul(2))),
            },
        })
    }

    /// How plugin `id`'s pages are served; `None`: they are not (no
    /// `[plugin.<id>.web] login`).
    pub fn pages_of(&self, id: &str) -> Option<&PageSettings> {
        self.pages.get(id)
    }
}

/// How one plugin's pages are served.
pub struct PageSettings {
    /// What a visitor needs.
    pub login: WebLogin,
    /// Sent with every page, besides the plugin's own.
    pub csp: Option<HeaderValue>,
}

/// The web routes.
pub fn routes(web: Arc<Web>) -> Router {
    Router::new()
        .route("/oauth/login", get(oauth::login))
        .route("/oauth/callback", get(oauth::callback))
        .route("/oauth/logout", post(oauth::logout))
        .route("/jssdk/config", get(jssdk::config))
        .route("/app/{id}", get(apps::slash))
        .route("/app/{id}/", any(apps::serve))
        .route("/app/{id}/{*rest}", any(apps::serve))
        .with_state(web)
}
