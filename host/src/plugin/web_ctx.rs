//! [`WebCtx`]: what the `web` interface sees of a call — the JS-SDK signer
//! (which signs only pages on the public origin) and the call's deadline.

use std::sync::Arc;
use std::time::Instant;

use super::account_scope::AccountScope;
use super::bindings::v0_2::wechat::plugin::web as web_v0_2;
use super::bindings::v1::wechat::plugin::web;
use super::convert::v0_2::Down;
use super::state::PluginScope;
use crate::api::jssdk::{JsSdk, JsSdkError, MAX_URL_BYTES};

pub(crate) struct WebCtx {
    plugin: Arc<str>,
    jssdk: Option<Arc<JsSdk>>,
    /// Set per call (an instance reused across calls gets each call's own).
    pub deadline: Instant,
}

impl WebCtx {
    /// The account's JS-SDK signer.
    pub fn new(scope: &PluginScope, account: &AccountScope, deadline: Instant) -> WebCtx {
        WebCtx {
            plugin: scope.id.clone(),
            jssdk: account.services.jssdk.clone(),
            deadline,
        }
    }
}

impl web::Host for WebCtx {
    async fn get_jssdk_config(
        &mut self,
        url: String,
    ) -> wasmtime::Result<Result<web::JssdkConfig, String>> {
        let Some(jssdk) = &self.jssdk else {
            return Ok(Err(
                "the JS-SDK needs the account's API credentials (wechat.app_secret)".into(),
            ));
        };
        if url.len() > MAX_URL_BYTES * 2 {
            return Ok(Err(format!("the URL is longer than {MAX_URL_BYTES} bytes")));
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let result = match tokio::time::timeout(remaining, jssdk.config(&url)).await {
            Err(_) => Err("the call's time limit was reached".to_owned()),
            Ok(Err(e @ JsSdkError::Unavailable(_))) => {
                tracing::warn!(target: "wxhost::plugin", plugin = %self.plugin, "jssdk-config failed: {e}");
                Err(e.to_string())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(c)) => Ok(web::JssdkConfig {
                app_id: c.app_id,
                timestamp: c.timestamp,
                nonce_str: c.nonce_str,
                signature: c.signature,
            }),
        };
        Ok(result)
    }
}

/// WIT 0.2: the same function on 0.2's record.
impl web_v0_2::Host for WebCtx {
    async fn get_jssdk_config(
        &mut self,
        url: String,
    ) -> wasmtime::Result<Result<web_v0_2::JssdkConfig, String>> {
        Ok(web::Host::get_jssdk_config(self, url)
            .await?
            .map(Down::down))
    }
}
