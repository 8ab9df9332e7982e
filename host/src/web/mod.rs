//! The web half of an Official Account, served on the same listener as the
//! callback: WeChat OAuth login, sessions, JS-SDK signatures, and plugins
//! that serve pages. [`Web`] is its state and [`routes`] its router, which
//! `server::router` merges with the callback's.
//!
//! - `oauth.rs`: `/oauth/login`, `/oauth/callback`, `/oauth/logout`.
//! - `session.rs` ([`session::Sessions`]): signed session cookies over the
//!   `SessionStore`, the signing key and where it is kept.
//! - `next.rs`: the relative-path rule that keeps logins from being open
//!   redirects.
//! - `jssdk.rs`: `/jssdk/config`.
//! - `apps.rs`: `/app/<plugin-id>/…`, login enforcement and the identity
//!   headers.
//! - `pages.rs`: the human-readable error pages.

pub mod apps;
pub mod jssdk;
pub mod next;
pub mod oauth;
pub mod pages;
pub mod session;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get, post};

use crate::api::Wechat;
use crate::api::jssdk::JsSdk;
use crate::config::{Config, WebLogin};
use crate::plugin::Runtime;
use crate::store::{SessionStore, Stores, WebUserStore};

/// Everything the web routes need.
pub struct Web {
    /// The public origin, no trailing slash (`https://wx.example.com`).
    pub origin: String,
    pub app_id: String,
    pub authorize_url: String,
    pub sessions: session::Sessions,
    /// Login states (and, through `sessions`, sessions).
    pub store: Arc<dyn SessionStore>,
    pub users: Arc<dyn WebUserStore>,
    /// How long a login state lives.
    pub state_ttl: Duration,
    /// `None` without an AppSecret: no login, no JS-SDK.
    pub wechat: Option<Arc<Wechat>>,
    pub jssdk: Option<Arc<JsSdk>>,
    pub runtime: Arc<Runtime>,
    /// Per plugin id, from `[plugin.<id>.web]`.
    logins: BTreeMap<String, WebLogin>,
    pub max_response_bytes: usize,
}

impl Web {
    pub fn new(
        config: &Config,
        stores: &Stores,
        wechat: Option<Arc<Wechat>>,
        jssdk: Option<Arc<JsSdk>>,
        runtime: Arc<Runtime>,
    ) -> anyhow::Result<Web> {
        let origin = config.public_origin();
        let key = session::load_key(config)?;
        Ok(Web {
            sessions: session::Sessions::new(
                key,
                stores.sessions.clone(),
                Duration::from_secs(config.web.session_ttl_secs),
                origin.starts_with("https://"),
            ),
            origin,
            app_id: config.wechat.app_id.clone(),
            authorize_url: config.web.oauth_authorize_url.clone(),
            store: stores.sessions.clone(),
            users: stores.web_users.clone(),
            state_ttl: Duration::from_secs(config.web.oauth_state_ttl_secs),
            wechat,
            jssdk,
            runtime,
            logins: config
                .plugin
                .iter()
                .map(|(id, s)| (id.clone(), s.web.login))
                .collect(),
            max_response_bytes: config.web.max_response_bytes,
        })
    }

    /// The login plugin `id`'s pages require.
    pub fn login_for(&self, id: &str) -> WebLogin {
        self.logins.get(id).copied().unwrap_or_default()
    }
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
