//! WeChat Open Platform third-party platform mode (第三方平台): Official
//! Accounts authorize this deployment with a scan, and from then on it
//! serves them with the platform's keys and tokens derived from the
//! platform's credentials — no AppSecret collected.
//!
//! - `config.rs`: `[open_platform]` ([`OpenPlatformConfig`]).
//! - `ticket.rs`: the durable `component_verify_ticket` (12 h validity).
//! - `component_token.rs`: the `component_access_token`, a
//!   [`Credential`](crate::api::credential::Credential) like the
//!   access_token (single flight across instances, persisted, healed on
//!   40001/42001 by [`Platform::call`]).
//! - `authorizer.rs`: an authorized account, kept as a runtime account
//!   ([`crate::account`]'s store and propagation: it is served on every
//!   instance within a second of its authorization) whose access_token comes
//!   from `api_authorizer_token` with its refresh token (sealed, stored
//!   before it is used) and whose pushes are opened with the platform's keys.
//! - `authorize.rs`: pre_auth_code, the authorization links and the code
//!   exchange (`api_query_auth`), once per code whichever of the redirect
//!   and the `authorized` push arrives first (a claim in the store).
//! - `notify.rs`: `POST /open/notify`, the authorization-event URL;
//!   `routes.rs`: `/open/*` on the callback listener;
//!   `release_test.rs`: the full-network release (全网发布) responder.
//! - `permissions.rs`: the permission sets an account granted, checked
//!   before the APIs that need them.
//! - `recover.rs`: refresh tokens re-seeded from `api_get_authorizer_list`
//!   after a lost store (`wxhost open recover`).

pub mod authorize;
pub mod authorizer;
pub mod component_token;
pub mod config;
pub mod notify;
pub mod permissions;
pub mod recover;
pub mod release_test;
pub mod routes;
pub mod ticket;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::account::SecretsKey;
use crate::api::ApiError;
use crate::api::client::{ApiClient, RetryPolicy, TOKEN_ERRCODES, check, errcode};
use crate::store::Stores;

pub use authorizer::{AuthorizedBy, AuthorizerInfo, AuthorizerState};
pub use component_token::{ComponentToken, ComponentTokenSource};
pub use config::OpenPlatformConfig;

/// The platform: its credentials, its API client and component token, and
/// where its authorizers' refresh tokens and accounts are kept.
pub struct Platform {
    pub config: OpenPlatformConfig,
    client: ApiClient,
    retry: RetryPolicy,
    /// The deployment's store (the default account's scope): the ticket,
    /// the component token, refresh tokens, the authorized accounts' rows.
    stores: Stores,
    /// Seals refresh tokens at rest (`WXHOST_SECRETS_KEY`).
    key: SecretsKey,
    component: ComponentToken,
    /// The origin `/open/authorized` is reached at.
    public_origin: String,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("component_app_id", &self.config.component_app_id)
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// The platform of `config.open_platform` on the deployment's `stores`;
    /// `None` when the config has none. Refused without a secrets key (the
    /// refresh tokens are sealed with it).
    pub fn from_config(
        config: &crate::config::Config,
        stores: &Stores,
    ) -> anyhow::Result<Option<Arc<Platform>>> {
        let Some(open) = &config.open_platform else {
            return Ok(None);
        };
        let key = SecretsKey::from_config(config)
            .map_err(anyhow::Error::msg)?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "[open_platform] needs {} (64 hex characters): authorizers' refresh tokens are sealed with it",
                    crate::account::secrets::ENV
                )
            })?;
        let client = ApiClient::new(&config.wechat.api_base_url, Duration::from_secs(10))?;
        let retry = RetryPolicy::default();
        let component = ComponentToken::new(
            ComponentTokenSource {
                client: client.clone(),
                retry,
                component_app_id: open.component_app_id.clone(),
                component_app_secret: open.component_app_secret.clone(),
                store: stores.tokens.clone(),
                key: format!("open:component_token:{}", open.component_app_id),
            },
            stores.tokens.clone(),
            // "比如1小时50分": refreshed with 10 minutes left.
            Duration::from_secs(600),
        );
        Ok(Some(Arc::new(Platform {
            config: open.clone(),
            client,
            retry,
            stores: stores.clone(),
            key,
            component,
            public_origin: config.public_origin(),
        })))
    }

    /// Its HTTP client (to `wechat.api_base_url`), shared by its authorizers.
    pub fn client(&self) -> &ApiClient {
        &self.client
    }

    pub fn component_app_id(&self) -> &str {
        &self.config.component_app_id
    }

    /// The component_access_token (fetched if none is fresh).
    pub fn component_token(&self) -> &ComponentToken {
        &self.component
    }

    /// Asks WeChat to push a ticket when none valid is stored (at start:
    /// the ticket may have been lost, or never received).
    pub async fn ensure_ticket(&self) {
        match ticket::current(&*self.stores.tokens, self.component_app_id()).await {
            Ok(Some(_)) => {}
            Ok(None) => match self.component.source().start_push_ticket().await {
                Ok(()) => tracing::info!(
                    "no component_verify_ticket stored: asked WeChat to push one (api_start_push_ticket)"
                ),
                Err(e) => tracing::warn!(error = %e, "api_start_push_ticket failed"),
            },
            Err(e) => tracing::warn!(error = %e, "the component_verify_ticket could not be read"),
        }
    }

    /// `POST path?component_access_token=…` with `body`; the answer once
    /// its errcode is 0. A rejected component token (40001/40014/42001) is
    /// dropped and the call retried once with a new one.
    pub async fn call(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let mut retried = false;
        loop {
            let token = self.component.get().await?;
            let query = [("component_access_token", token.as_str())];
            let answer = self
                .retry
                .run(|| self.client.post(path, &query, body))
                .await?;
            let code = errcode(&answer);
            if TOKEN_ERRCODES.contains(&code) && !retried {
                tracing::info!(
                    path,
                    code,
                    "component_access_token rejected; fetching a new one and retrying once"
                );
                self.component.invalidate(&token).await;
                retried = true;
                continue;
            }
            return check(answer);
        }
    }
}
