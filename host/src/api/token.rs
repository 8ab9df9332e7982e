//! The access_token: a [`Credential`] whose source is
//! `/cgi-bin/stable_token` (normal mode, the default: independent processes
//! calling it get the same token and never invalidate each other) or
//! `/cgi-bin/token` (each call invalidates the previous token, which the
//! shared store and its fetch lock make rare).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::ApiError;
use super::client::{ApiClient, RetryPolicy, check};
use super::credential::{Credential, CredentialSource, Fetched};
use crate::config::TokenEndpoint;

/// The access_token of one Official Account.
pub type TokenManager = Credential<AccessTokenSource>;

/// Where an account authorized to an Open Platform third-party platform
/// gets its access_token instead of from its AppSecret (it has none):
/// `api_authorizer_token` with its stored refresh token (`crate::open`).
#[async_trait]
pub trait AuthorizerGrant: Send + Sync + std::fmt::Debug + 'static {
    /// A new authorizer access_token for `app_id`.
    async fn authorizer_token(&self, app_id: &str) -> Result<Fetched, ApiError>;
}

/// Where and how to get access_tokens.
pub struct AccessTokenSource {
    pub client: ApiClient,
    pub app_id: String,
    pub app_secret: String,
    pub endpoint: TokenEndpoint,
    pub retry: RetryPolicy,
    /// The account whose token it is (the `account` metric label).
    pub account: Arc<str>,
    /// Set for an account authorized to this deployment's Open Platform
    /// component: its tokens come from there.
    pub authorizer: Option<Arc<dyn AuthorizerGrant>>,
}

impl std::fmt::Debug for AccessTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokenSource")
            .field("app_id", &self.app_id)
            .field("app_secret", &"<redacted>")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

#[async_trait]
impl CredentialSource for AccessTokenSource {
    fn name(&self) -> &'static str {
        "access_token"
    }

    /// The AppID (the key every stored token has had).
    fn key(&self) -> &str {
        &self.app_id
    }

    fn account(&self) -> &str {
        &self.account
    }

    async fn fetch(&self, force: bool) -> Result<Fetched, ApiError> {
        if let Some(grant) = &self.authorizer {
            return grant.authorizer_token(&self.app_id).await;
        }
        if self.app_secret.is_empty() {
            return Err(ApiError::Invalid(
                "wechat.app_secret (WXHOST_APP_SECRET) is not set: cannot fetch an access_token"
                    .into(),
            ));
        }
        let answer = match self.endpoint {
            TokenEndpoint::Stable => {
                let body = json!({"grant_type": "client_credential", "appid": self.app_id, "secret": self.app_secret, "force_refresh": force});
                self.retry
                    .run(|| self.client.post("/cgi-bin/stable_token", &[], &body))
                    .await
            }
            TokenEndpoint::Classic => {
                let query = [
                    ("grant_type", "client_credential"),
                    ("appid", self.app_id.as_str()),
                    ("secret", self.app_secret.as_str()),
                ];
                self.retry
                    .run(|| self.client.get("/cgi-bin/token", &query))
                    .await
            }
        };
        let answer = check(answer?).map_err(|e| match e {
            ApiError::QuotaExceeded(m) => {
                ApiError::QuotaExceeded(format!("access_token endpoint: {m}"))
            }
            ApiError::Wechat { code, message } => ApiError::Wechat {
                code,
                message: format!("fetching the access_token: {message}"),
            },
            other => other,
        })?;
        let Some(token) = answer
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            return Err(ApiError::Transport(
                "token answer has no access_token".into(),
            ));
        };
        Ok(Fetched {
            value: token.to_owned(),
            expires_in: answer
                .get("expires_in")
                .and_then(Value::as_i64)
                .unwrap_or(7200),
        })
    }
}
