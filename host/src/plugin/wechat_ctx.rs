//! [`WechatCtx`]: what the `wechat` interface sees of a call — the plugin's
//! id, its granted capabilities, the API client (never its AppSecret or
//! token) and the call's deadline. Every function checks its capability
//! first; refusals and API failures travel as [`WechatCallError`] and become
//! the WIT `api-error` in one place (`convert_api_error`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use super::bindings::wechat::plugin::{types, wechat};
use super::state::PluginScope;
use crate::api::{ApiError, PluginApi};
use crate::config::Capability;

/// `api-error` codes the host itself produces.
pub const CODE_SYSTEM: i32 = -1;
pub const CODE_NOT_GRANTED: i32 = -2;
pub const CODE_TRANSPORT: i32 = -3;

/// A `wechat` call that did not succeed, as the plugin will see it.
#[derive(Debug)]
pub struct WechatCallError(wechat::ApiError);

impl WechatCallError {
    fn new(code: i32, message: impl Into<String>) -> WechatCallError {
        WechatCallError(wechat::ApiError {
            code,
            message: message.into(),
        })
    }
}

impl From<ApiError> for WechatCallError {
    fn from(e: ApiError) -> Self {
        let (code, message) = match e {
            ApiError::Wechat { code, message } => {
                (i32::try_from(code).unwrap_or(CODE_SYSTEM), message)
            }
            ApiError::QuotaExceeded(m) => (45009, m),
            ApiError::Transport(m) => (CODE_TRANSPORT, m),
            ApiError::Invalid(m) => (CODE_SYSTEM, format!("invalid request: {m}")),
            ApiError::Storage(m) => (CODE_SYSTEM, format!("storage: {m}")),
        };
        WechatCallError::new(code, message)
    }
}

pub(crate) struct WechatCtx {
    plugin: Arc<str>,
    grants: Arc<BTreeSet<Capability>>,
    api: Option<Arc<dyn PluginApi>>,
    deadline: Instant,
}

impl WechatCtx {
    pub fn new(scope: &PluginScope, deadline: Instant) -> WechatCtx {
        WechatCtx {
            plugin: scope.id.clone(),
            grants: scope.capabilities.clone(),
            api: scope.wechat.clone(),
            deadline,
        }
    }

    /// The API client, if `capability` is granted (refusals are logged: an
    /// operator wants to know a plugin tried).
    fn granted(&self, capability: Capability) -> Result<Arc<dyn PluginApi>, WechatCallError> {
        if !self.grants.contains(&capability) {
            tracing::warn!(target: "wxhost::plugin", plugin = %self.plugin, "refused WeChat API call: capability {capability} not granted");
            return Err(WechatCallError::new(
                CODE_NOT_GRANTED,
                format!(
                    "capability {capability} not granted to plugin {}",
                    self.plugin
                ),
            ));
        }
        self.api.clone().ok_or_else(|| {
            WechatCallError::new(CODE_TRANSPORT, "WeChat API not available in this host")
        })
    }

    /// Runs an API call, bounded by the call's deadline (epochs do not
    /// interrupt host code).
    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, WechatCallError> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, fut).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(WechatCallError::new(CODE_TRANSPORT, "deadline reached")),
        }
    }
}

impl wechat::Host for WechatCtx {
    async fn send_customer_message(
        &mut self,
        to_user: String,
        message: wechat::CustomerMessage,
    ) -> Result<(), WechatCallError> {
        let api = self.granted(Capability::CustomerMessage)?;
        self.bounded(api.send_customer_message(&to_user, message.into()))
            .await
    }

    async fn get_user_info(&mut self, openid: String) -> Result<wechat::UserInfo, WechatCallError> {
        let api = self.granted(Capability::UserInfo)?;
        Ok(self.bounded(api.get_user_info(&openid)).await?.into())
    }

    async fn create_qr_code(
        &mut self,
        request: wechat::QrCodeRequest,
    ) -> Result<types::QrCode, WechatCallError> {
        let api = self.granted(Capability::Qrcode)?;
        Ok((&self.bounded(api.create_qr_code(request.into())).await?).into())
    }

    fn convert_api_error(&mut self, e: WechatCallError) -> wasmtime::Result<wechat::ApiError> {
        Ok(e.0)
    }
}
