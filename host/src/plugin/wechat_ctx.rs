//! [`WechatCtx`]: what the `wechat` interface sees of a call — the plugin's
//! id, its granted capabilities, the API client (never its AppSecret or
//! token) and the call's deadline. Every function checks its capability
//! first, then the size of every string and list it was given (what goes on
//! to WeChat, and into storage for QR-code notes, is bounded here; hostcall
//! fuel already bounded the copy out of the guest). Refusals and API
//! failures travel as [`WechatCallError`] and become the WIT `api-error` in
//! one place (`convert_api_error`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use super::account_scope::AccountScope;
use super::bindings::v0_2::wechat::plugin::{types as types_v0_2, wechat as wechat_v0_2};
use super::bindings::v1::wechat::plugin::{chat, types, wechat};
use super::convert::v0_2::{Down, Up};
use super::reply::{MAX_LONG_BYTES, MAX_MEDIA_ID_BYTES, MAX_TEXT_BYTES, MAX_TITLE_BYTES};
use super::state::PluginScope;
use crate::api::{ApiError, PluginApi};
use crate::config::Capability;

/// `api-error` codes the host itself produces.
pub const CODE_SYSTEM: i32 = -1;
pub const CODE_NOT_GRANTED: i32 = -2;
pub const CODE_TRANSPORT: i32 = -3;

/// Longest OpenID accepted (WeChat's are 28 characters).
pub const MAX_OPENID_BYTES: usize = 128;
/// Longest QR-code scene (WeChat's `scene_str` limit).
pub const MAX_SCENE_BYTES: usize = 64;
/// Longest QR-code note (stored with the code).
pub const MAX_NOTE_BYTES: usize = 512;
/// Most articles in a customer-service news message.
pub const MAX_ARTICLES: usize = 8;

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
    /// Set per call (an instance reused across calls gets each call's own).
    pub deadline: Instant,
}

impl WechatCtx {
    /// The account's API client, under the account's grants for the plugin
    /// if it has its own.
    pub fn new(scope: &PluginScope, account: &AccountScope, deadline: Instant) -> WechatCtx {
        let grants = account
            .grants(&scope.id)
            .and_then(|g| g.capabilities.clone());
        WechatCtx {
            plugin: scope.id.clone(),
            grants: grants.unwrap_or_else(|| scope.capabilities.clone()),
            api: account.services.wechat.clone(),
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

/// Refuses `value` longer than `max` bytes.
fn at_most(field: &str, value: &str, max: usize) -> Result<(), WechatCallError> {
    if value.len() > max {
        return Err(WechatCallError::new(
            CODE_SYSTEM,
            format!(
                "invalid request: {field} is {} bytes (limit {max})",
                value.len()
            ),
        ));
    }
    Ok(())
}

fn at_most_opt(field: &str, value: &Option<String>, max: usize) -> Result<(), WechatCallError> {
    value.as_deref().map_or(Ok(()), |v| at_most(field, v, max))
}

fn check_customer_message(m: &wechat::CustomerMessage) -> Result<(), WechatCallError> {
    use wechat::CustomerMessage as M;
    match m {
        M::Text(t) => at_most("text", t, MAX_TEXT_BYTES),
        M::Image(id) | M::Voice(id) => at_most("media id", id, MAX_MEDIA_ID_BYTES),
        M::Video(v) => {
            at_most("media id", &v.media_id, MAX_MEDIA_ID_BYTES)?;
            at_most_opt("thumb media id", &v.thumb_media_id, MAX_MEDIA_ID_BYTES)?;
            at_most_opt("title", &v.title, MAX_TITLE_BYTES)?;
            at_most_opt("description", &v.description, MAX_LONG_BYTES)
        }
        M::Music(m) => {
            at_most("thumb media id", &m.thumb_media_id, MAX_MEDIA_ID_BYTES)?;
            at_most_opt("title", &m.title, MAX_TITLE_BYTES)?;
            at_most_opt("description", &m.description, MAX_LONG_BYTES)?;
            at_most("music url", &m.music_url, MAX_LONG_BYTES)?;
            at_most("hq music url", &m.hq_music_url, MAX_LONG_BYTES)
        }
        M::News(articles) => {
            if articles.len() > MAX_ARTICLES {
                return Err(WechatCallError::new(
                    CODE_SYSTEM,
                    format!(
                        "invalid request: {} articles (limit {MAX_ARTICLES})",
                        articles.len()
                    ),
                ));
            }
            articles.iter().try_for_each(|a| {
                at_most("title", &a.title, MAX_TITLE_BYTES)?;
                at_most("description", &a.description, MAX_LONG_BYTES)?;
                at_most("pic url", &a.pic_url, MAX_LONG_BYTES)?;
                at_most("url", &a.url, MAX_LONG_BYTES)
            })
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
        at_most("openid", &to_user, MAX_OPENID_BYTES)?;
        check_customer_message(&message)?;
        self.bounded(api.send_customer_message(&to_user, message.into()))
            .await
    }

    async fn get_user_info(&mut self, openid: String) -> Result<wechat::UserInfo, WechatCallError> {
        let api = self.granted(Capability::UserInfo)?;
        at_most("openid", &openid, MAX_OPENID_BYTES)?;
        Ok(self.bounded(api.get_user_info(&openid)).await?.into())
    }

    async fn create_qr_code(
        &mut self,
        request: wechat::QrCodeRequest,
    ) -> Result<types::QrCode, WechatCallError> {
        let api = self.granted(Capability::Qrcode)?;
        at_most("scene", &request.scene, MAX_SCENE_BYTES)?;
        at_most_opt("note", &request.note, MAX_NOTE_BYTES)?;
        Ok((&self.bounded(api.create_qr_code(request.into())).await?).into())
    }

    fn convert_api_error(&mut self, e: WechatCallError) -> wasmtime::Result<wechat::ApiError> {
        Ok(e.0)
    }
}

/// WIT 1.1 `chat`: a customer-service API, so under `customer-message`.
impl chat::Host for WechatCtx {
    async fn set_typing(&mut self, to_user: String, on: bool) -> Result<(), WechatCallError> {
        let api = self.granted(Capability::CustomerMessage)?;
        at_most("openid", &to_user, MAX_OPENID_BYTES)?;
        let command = if on {
            crate::api::TypingCommand::Typing
        } else {
            crate::api::TypingCommand::CancelTyping
        };
        self.bounded(api.send_typing(&to_user, command)).await
    }
}

/// WIT 0.2: the same functions on 0.2's types.
impl wechat_v0_2::Host for WechatCtx {
    async fn send_customer_message(
        &mut self,
        to_user: String,
        message: wechat_v0_2::CustomerMessage,
    ) -> Result<(), WechatCallError> {
        wechat::Host::send_customer_message(self, to_user, message.up()).await
    }

    async fn get_user_info(
        &mut self,
        openid: String,
    ) -> Result<wechat_v0_2::UserInfo, WechatCallError> {
        Ok(wechat::Host::get_user_info(self, openid).await?.down())
    }

    async fn create_qr_code(
        &mut self,
        request: wechat_v0_2::QrCodeRequest,
    ) -> Result<types_v0_2::QrCode, WechatCallError> {
        Ok(wechat::Host::create_qr_code(self, request.up())
            .await?
            .down())
    }

    fn convert_api_error(&mut self, e: WechatCallError) -> wasmtime::Result<wechat_v0_2::ApiError> {
        Ok(e.0.down())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_arguments_are_refused_before_they_reach_wechat() {
        let text = |n: usize| wechat::CustomerMessage::Text("字".repeat(n));
        assert!(check_customer_message(&text(MAX_TEXT_BYTES / 3)).is_ok());
        let err = check_customer_message(&text(MAX_TEXT_BYTES)).unwrap_err().0;
        assert_eq!(err.code, CODE_SYSTEM);
        assert!(err.message.contains("limit 2048"), "{}", err.message);
        let article = types::Article {
            title: "t".into(),
            description: String::new(),
            pic_url: String::new(),
            url: "u".repeat(MAX_LONG_BYTES + 1),
        };
        let news = wechat::CustomerMessage::News(vec![article.clone()]);
        assert!(check_customer_message(&news).is_err());
        let many = types::Article {
            url: String::new(),
            ..article
        };
        let news = wechat::CustomerMessage::News(vec![many; MAX_ARTICLES + 1]);
        assert!(check_customer_message(&news).is_err());
        assert!(
            at_most(
                "openid",
                &"o".repeat(MAX_OPENID_BYTES + 1),
                MAX_OPENID_BYTES
            )
            .is_err()
        );
        assert!(at_most_opt("note", &Some("n".repeat(MAX_NOTE_BYTES)), MAX_NOTE_BYTES).is_ok());
    }
}
