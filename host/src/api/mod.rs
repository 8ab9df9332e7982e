//! WeChat server APIs: the client, the access_token, menus, QR codes,
//! customer-service messages and user info.
//!
//! [`PluginApi`] is the narrow part plugins reach through host functions; the
//! AppSecret and access_token stay on this side of it.
//!
//! - [`client`]: HTTP + JSON, errcode classification, busy backoff.
//! - [`credential`]: expiring credentials (single flight per process, one
//!   fetch across processes under the store's lock, stored, refreshed ahead);
//!   [`token`]: the access_token as one; [`ticket`]: the jsapi_ticket as
//!   the second, and [`jssdk`]: the JS-SDK signature made with it.
//! - [`oauth`]: the web login's code exchange and user info.
//! - [`Wechat`] ([`wechat`]): the facade the host uses; implements [`PluginApi`].
//! - [`menu`], [`qrcode`], [`custom`], [`user`]: the feature APIs;
//!   [`template`] (template and subscription sends, API quota), [`mass`],
//!   [`media`] (uploads), [`tags`]: the outbound calls `crate::outbound` queues.

pub mod client;
pub mod credential;
pub mod custom;
pub mod jssdk;
pub mod mass;
pub mod media;
pub mod menu;
pub mod oauth;
pub mod qrcode;
pub mod tags;
pub mod template;
pub mod ticket;
pub mod token;
pub mod typing;

pub use typing::TypingCommand;
pub mod user;
pub mod wechat;

pub use wechat::{ApiOptions, Wechat};

use futures::future::BoxFuture;

/// An error from WeChat (its `errcode`) or from getting there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("WeChat error {code}: {message}")]
    Wechat { code: i64, message: String },
    #[error("daily API quota reached (45009): {0}")]
    QuotaExceeded(String),
    #[error("transport: {0}")]
    Transport(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("storage: {0}")]
    Storage(String),
}

/// A customer-service (客服) message.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerMessage {
    Text(String),
    Image {
        media_id: String,
    },
    Voice {
        media_id: String,
    },
    Video {
        media_id: String,
        thumb_media_id: Option<String>,
        title: Option<String>,
        description: Option<String>,
    },
    Music {
        title: Option<String>,
        description: Option<String>,
        music_url: String,
        hq_music_url: String,
        thumb_media_id: String,
    },
    News(Vec<crate::protocol::Article>),
}

/// `/cgi-bin/user/info`, as returned since the 2021 privacy changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserInfo {
    pub subscribed: bool,
    pub openid: String,
    pub unionid: Option<String>,
    pub language: Option<String>,
    pub subscribe_time: Option<u64>,
    pub subscribe_scene: Option<String>,
    pub remark: Option<String>,
    pub tag_ids: Vec<u32>,
    pub qr_scene: Option<u64>,
    pub qr_scene_str: Option<String>,
}

pub use crate::store::QrCode;

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Backend(m) => ApiError::Storage(m),
            e @ crate::store::StoreError::Unavailable(_) => ApiError::Storage(e.to_string()),
            q @ (crate::store::StoreError::QuotaReached { .. }
            | crate::store::StoreError::KvQuota(_)
            | crate::store::StoreError::Invalid(_)) => ApiError::Invalid(q.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct QrCodeRequest {
    /// A positive integer becomes `scene_id`, anything else `scene_str`.
    pub scene: String,
    /// `None` for a permanent code.
    pub expire_seconds: Option<u32>,
    pub note: Option<String>,
}

/// What plugins may ask of WeChat (each call capability-checked by the plugin
/// runtime before it gets here).
pub trait PluginApi: Send + Sync + 'static {
    fn send_customer_message<'a>(
        &'a self,
        to_user: &'a str,
        message: CustomerMessage,
    ) -> BoxFuture<'a, Result<(), ApiError>>;
    fn get_user_info<'a>(&'a self, openid: &'a str) -> BoxFuture<'a, Result<UserInfo, ApiError>>;
    fn create_qr_code(&self, request: QrCodeRequest) -> BoxFuture<'_, Result<QrCode, ApiError>>;
    /// The typing status in `to_user`'s chat (`typing::TypingCommand`).
    fn send_typing<'a>(
        &'a self,
        to_user: &'a str,
        command: TypingCommand,
    ) -> BoxFuture<'a, Result<(), ApiError>>;
}
