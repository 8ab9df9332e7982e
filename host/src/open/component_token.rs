//! The `component_access_token`: a [`Credential`] (the machinery of the
//! access_token — one flight per process, one fetch across instances under
//! the store's lock, stored, refreshed ahead of its 2 h) whose source is
//! `api_component_token` with the stored `component_verify_ticket`. With no
//! ticket known, it asks WeChat to push one (`api_start_push_ticket`) and
//! says so; 61004/61005/61006 come back with what to do
//! ([`crate::api::client::error_for`]).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::ticket;
use crate::api::ApiError;
use crate::api::client::{ApiClient, RetryPolicy, check};
use crate::api::credential::{Credential, CredentialSource, Fetched};
use crate::store::TokenStore;

/// The platform's component_access_token.
pub type ComponentToken = Credential<ComponentTokenSource>;

pub struct ComponentTokenSource {
    pub client: ApiClient,
    pub retry: RetryPolicy,
    pub component_app_id: String,
    pub component_app_secret: String,
    /// The deployment's token store (where the ticket is).
    pub store: Arc<dyn TokenStore>,
    /// `open:component_token:<component app id>`.
    pub key: String,
}

impl ComponentTokenSource {
    /// `api_start_push_ticket`: WeChat (re)starts pushing tickets.
    pub async fn start_push_ticket(&self) -> Result<(), ApiError> {
        let body = json!({
            "component_appid": self.component_app_id,
            "component_secret": self.component_app_secret,
        });
        let answer = self
            .retry
            .run(|| {
                self.client
                    .post("/cgi-bin/component/api_start_push_ticket", &[], &body)
            })
            .await?;
        check(answer).map(|_| ())
    }
}

#[async_trait]
impl CredentialSource for ComponentTokenSource {
    fn name(&self) -> &'static str {
        "component_access_token"
    }

    fn key(&self) -> &str {
        &self.key
    }

    fn account(&self) -> &str {
        "open_platform"
    }

    async fn fetch(&self, _force: bool) -> Result<Fetched, ApiError> {
        let Some(ticket) = ticket::current(&*self.store, &self.component_app_id).await? else {
            let asked = match self.start_push_ticket().await {
                Ok(()) => "asked WeChat to push one (api_start_push_ticket)".to_owned(),
                Err(e) => format!("api_start_push_ticket failed: {e}"),
            };
            return Err(ApiError::Invalid(format!(
                "no valid component_verify_ticket received at /open/notify yet; {asked}"
            )));
        };
        let body = json!({
            "component_appid": self.component_app_id,
            "component_appsecret": self.component_app_secret,
            "component_verify_ticket": ticket,
        });
        let answer = self
            .retry
            .run(|| {
                self.client
                    .post("/cgi-bin/component/api_component_token", &[], &body)
            })
            .await?;
        let answer = check(answer).map_err(|e| match e {
            ApiError::Wechat { code, message } => ApiError::Wechat {
                code,
                message: format!("fetching the component_access_token: {message}"),
            },
            other => other,
        })?;
        let token = answer
            .get("component_access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Transport("api_component_token answered no component_access_token".into())
            })?;
        Ok(Fetched {
            value: token.to_owned(),
            expires_in: answer
                .get("expires_in")
                .and_then(Value::as_i64)
                .unwrap_or(7200),
        })
    }
}
