//! [`Wechat`]: the one object the rest of the host uses to call WeChat. It
//! holds the client, the token manager and the store, adds the access_token
//! to each call, and applies the errcode rules: a rejected token is dropped
//! and the call retried once (never more), a busy answer is retried with
//! backoff ([`RetryPolicy::run`]), everything else is surfaced.
//!
//! The feature modules ([`super::menu`], [`super::qrcode`], [`super::custom`],
//! [`super::user`]) add their methods to it; it implements [`PluginApi`].

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;

use super::client::{ApiClient, RetryPolicy, TOKEN_ERRCODES, errcode, error_for};
use super::token::{AccessTokenSource, TokenManager};
use super::{ApiError, CustomerMessage, PluginApi, QrCode, QrCodeRequest, UserInfo};
use crate::config::WechatConfig;
use crate::store::{MenuStore, QrStore, Stores, TokenStore};

/// Tunables with production defaults; tests shorten the delays.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    pub retry: RetryPolicy,
    /// Refresh the access_token when less than this is left (WeChat's
    /// stable_token guarantees ≥ 300 s on any token it returns).
    pub refresh_margin: Duration,
    /// Per HTTP request.
    pub http_timeout: Duration,
    /// Permanent QR codes this account may have (WeChat: 100,000).
    pub permanent_qr_limit: u64,
    /// The account it acts for: the `account` label of its metrics.
    pub account: Arc<str>,
    /// An Open Platform authorizer's token source (`None`: the AppSecret).
    pub authorizer: Option<Arc<dyn super::token::AuthorizerGrant>>,
    /// An authorizer's granted permission sets: an API outside them fails
    /// at once (`crate::open::permissions`). `None`: not an authorizer.
    pub permission_sets: Option<Arc<[u32]>>,
    /// An HTTP client to share (the Open Platform's, for its thousands of
    /// authorizers: one connection pool, not one each). `None`: its own.
    pub client: Option<ApiClient>,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            retry: RetryPolicy::default(),
            refresh_margin: Duration::from_secs(300),
            http_timeout: Duration::from_secs(10),
            permanent_qr_limit: 100_000,
            account: Arc::from(crate::store::DEFAULT_ACCOUNT),
            authorizer: None,
            permission_sets: None,
            client: None,
        }
    }
}

/// WeChat's server APIs for one Official Account.
pub struct Wechat {
    pub(crate) client: ApiClient,
    pub(crate) tokens: TokenManager,
    pub(crate) menus: Arc<dyn MenuStore>,
    pub(crate) qrcodes: Arc<dyn QrStore>,
    /// Where the access_token lives; other credentials of the account
    /// (the jsapi_ticket) share it.
    pub(crate) token_store: Arc<dyn TokenStore>,
    pub(crate) options: ApiOptions,
    /// The account it acts for (the `account` label of its metrics).
    account: Arc<str>,
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
}

impl Wechat {
    /// From the config's `[wechat]` section, with default [`ApiOptions`].
    /// Needs no AppSecret until a token must be fetched.
    pub fn new(w: &WechatConfig, stores: &Stores) -> Result<Wechat, ApiError> {
        Wechat::with_options(w, stores, ApiOptions::default())
    }

    pub fn with_options(
        w: &WechatConfig,
        stores: &Stores,
        options: ApiOptions,
    ) -> Result<Wechat, ApiError> {
        let client = match &options.client {
            Some(shared) => shared.clone(),
            None => ApiClient::new(&w.api_base_url, options.http_timeout)?,
        };
        let tokens = TokenManager::new(
            AccessTokenSource {
                client: client.clone(),
                app_id: w.app_id.clone(),
                app_secret: w.app_secret.clone(),
                endpoint: w.token_endpoint,
                retry: options.retry,
                account: options.account.clone(),
                authorizer: options.authorizer.clone(),
            },
            stores.tokens.clone(),
            options.refresh_margin,
        );
        Ok(Wechat {
            client,
            tokens,
            menus: stores.menus.clone(),
            qrcodes: stores.qrcodes.clone(),
            token_store: stores.tokens.clone(),
            account: options.account.clone(),
            options,
        })
    }

    /// The account it acts for.
    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn tokens(&self) -> &TokenManager {
        &self.tokens
    }

    /// The stored menu versions.
    pub fn menus(&self) -> &Arc<dyn MenuStore> {
        &self.menus
    }

    /// The stored QR codes.
    pub fn qrcodes(&self) -> &Arc<dyn QrStore> {
        &self.qrcodes
    }

    pub fn options(&self) -> &ApiOptions {
        &self.options
    }

    /// `GET path` with the access_token added; the answer once errcode is 0.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
        self.call(Method::Get, path, query, None, &self.options.retry)
            .await
    }

    /// `POST path` with the access_token added and a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.call(Method::Post, path, &[], Some(body), &self.options.retry)
            .await
    }

    /// [`Wechat::post`] without the busy (-1) retries: for callers that
    /// own their retries (the outbound queue, whose backoff is recorded
    /// in the job and does not hold a sender while it waits).
    pub async fn post_once(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let once = RetryPolicy {
            busy_attempts: 1,
            ..self.options.retry
        };
        self.call(Method::Post, path, &[], Some(body), &once).await
    }

    /// An authorizer's call outside its granted permission sets, refused
    /// before it leaves.
    pub(crate) fn check_permission(&self, path: &str) -> Result<(), ApiError> {
        match &self.options.permission_sets {
            Some(granted) => match crate::open::permissions::refusal(path, granted) {
                Some(why) => Err(ApiError::Invalid(why)),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        retry: &RetryPolicy,
    ) -> Result<Value, ApiError> {
        self.check_permission(path)?;
        let mut token_retried = false;
        loop {
            let token = self.tokens.get().await?;
            let mut q: Vec<(&str, &str)> = Vec::with_capacity(query.len() + 1);
            q.push(("access_token", &token));
            q.extend_from_slice(query);
            let answer = retry
                .run(|| match (method, body) {
                    (Method::Post, Some(body)) => self.client.post(path, &q, body).boxed(),
                    _ => self.client.get(path, &q).boxed(),
                })
                .await
                .inspect_err(|e| {
                    let label = match e {
                        ApiError::Wechat { code, .. } => code.to_string(),
                        _ => "transport".to_owned(),
                    };
                    metrics::counter!("wxhost_api_errors_total", "errcode" => label, "account" => self.account.to_string()).increment(1);
                })?;
            let code = errcode(&answer);
            if code != 0 {
                metrics::counter!("wxhost_api_errors_total", "errcode" => code.to_string(), "account" => self.account.to_string())
                    .increment(1);
            }
            match code {
                0 => return Ok(answer),
                code if TOKEN_ERRCODES.contains(&code) && !token_retried => {
                    // Once only: a second rejection means something else is
                    // wrong (e.g. another party force-refreshing), and
                    // looping would burn the token quota.
                    tracing::info!(
                        path,
                        code,
                        "access_token rejected; fetching a new one and retrying once"
                    );
                    self.tokens.invalidate(&token).await;
                    token_retried = true;
                }
                code => return Err(error_for(code, &answer)),
            }
        }
    }
}

impl PluginApi for Wechat {
    fn send_customer_message<'a>(
        &'a self,
        to_user: &'a str,
        message: CustomerMessage,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        async move { self.send_custom(to_user, &message).await }.boxed()
    }

    fn get_user_info<'a>(&'a self, openid: &'a str) -> BoxFuture<'a, Result<UserInfo, ApiError>> {
        self.user_info(openid).boxed()
    }

    fn create_qr_code(&self, request: QrCodeRequest) -> BoxFuture<'_, Result<QrCode, ApiError>> {
        async move {
            let create = super::qrcode::QrCreate::from_request(&request)?;
            Ok(self.create_qrcode(&create).await?.code)
        }
        .boxed()
    }

    fn send_typing<'a>(
        &'a self,
        to_user: &'a str,
        command: super::TypingCommand,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        self.send_typing(to_user, command).boxed()
    }
}
