//! The host functions plugins import: `host` (log, kv, config) and `wechat`
//! (capability-checked WeChat API calls). Every one is scoped to the calling
//! plugin: kv namespace = plugin id, config = its own settings, logs carry
//! its id.

use std::time::Instant;

use super::bindings::wechat::plugin::{host, types, wechat};
use super::convert;
use super::state::State;
use super::{LogLevel, LogLine};
use crate::api::{ApiError, CustomerMessage, QrCodeRequest};

/// Per-call log budget: lines, bytes per message, fields per line, and total bytes.
pub const MAX_LOG_LINES: usize = 200;
pub const MAX_LOG_MESSAGE_BYTES: usize = 4096;
pub const MAX_LOG_FIELDS: usize = 32;
pub const MAX_LOG_TOTAL_BYTES: usize = 256 * 1024;
/// kv limits.
pub const MAX_KV_KEY_BYTES: usize = 256;
pub const MAX_KV_VALUE_BYTES: usize = 64 * 1024;

/// `wechat` api-error codes the host itself produces.
pub const CODE_SYSTEM: i32 = -1;
pub const CODE_NOT_GRANTED: i32 = -2;
pub const CODE_TRANSPORT: i32 = -3;

impl types::Host for State {}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

impl host::Host for State {
    async fn log(
        &mut self,
        level: host::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if self.logs.len() >= MAX_LOG_LINES || self.log_bytes + size > MAX_LOG_TOTAL_BYTES {
            self.logs_dropped += 1;
            return Ok(());
        }
        self.log_bytes += size;
        let level = match level {
            host::Level::Trace => LogLevel::Trace,
            host::Level::Debug => LogLevel::Debug,
            host::Level::Info => LogLevel::Info,
            host::Level::Warn => LogLevel::Warn,
            host::Level::Error => LogLevel::Error,
        };
        let line = LogLine {
            level,
            message: truncate(message, MAX_LOG_MESSAGE_BYTES),
            fields: fields
                .into_iter()
                .take(MAX_LOG_FIELDS)
                .map(|(k, v)| (truncate(k, 128), truncate(v, MAX_LOG_MESSAGE_BYTES)))
                .collect(),
        };
        line.emit(&self.host.id);
        self.logs.push(line);
        Ok(())
    }

    async fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        if key.len() > MAX_KV_KEY_BYTES {
            return Ok(None);
        }
        match self.host.services.store.kv_get(&self.host.id, &key) {
            Ok(v) => Ok(v),
            Err(e) => {
                tracing::warn!(target: "wxhost::plugin", plugin = %self.host.id, "kv-get {key:?} failed: {e}");
                Ok(None)
            }
        }
    }

    async fn kv_set(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        if key.is_empty() || key.len() > MAX_KV_KEY_BYTES {
            return Ok(Err(format!("key must be 1 to {MAX_KV_KEY_BYTES} bytes")));
        }
        if value.len() > MAX_KV_VALUE_BYTES {
            return Ok(Err(format!(
                "value is {} bytes (limit {MAX_KV_VALUE_BYTES})",
                value.len()
            )));
        }
        Ok(self
            .host
            .services
            .store
            .kv_set(&self.host.id, &key, &value)
            .map_err(|e| e.to_string()))
    }

    async fn kv_delete(&mut self, key: String) -> wasmtime::Result<Result<(), String>> {
        Ok(self
            .host
            .services
            .store
            .kv_delete(&self.host.id, &key)
            .map_err(|e| e.to_string()))
    }

    async fn config_get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.host.config.get(&key).cloned())
    }

    async fn config_keys(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.host.config.keys().cloned().collect())
    }
}

fn api_error(e: ApiError) -> wechat::ApiError {
    let (code, message) = match e {
        ApiError::Wechat { code, message } => (i32::try_from(code).unwrap_or(CODE_SYSTEM), message),
        ApiError::QuotaExceeded(m) => (45009, m),
        ApiError::Transport(m) => (CODE_TRANSPORT, m),
        ApiError::Invalid(m) => (CODE_SYSTEM, format!("invalid request: {m}")),
        ApiError::Storage(m) => (CODE_SYSTEM, format!("storage: {m}")),
    };
    wechat::ApiError { code, message }
}

impl State {
    /// Checks the capability and returns the API client, or the api-error to return.
    fn api(
        &self,
        capability: &str,
    ) -> Result<std::sync::Arc<dyn crate::api::PluginApi>, wechat::ApiError> {
        if !self.host.capabilities.iter().any(|c| c == capability) {
            tracing::warn!(target: "wxhost::plugin", plugin = %self.host.id, "refused WeChat API call: capability {capability} not granted");
            return Err(wechat::ApiError {
                code: CODE_NOT_GRANTED,
                message: format!(
                    "capability {capability} not granted to plugin {}",
                    self.host.id
                ),
            });
        }
        self.host
            .services
            .wechat
            .clone()
            .ok_or_else(|| wechat::ApiError {
                code: CODE_TRANSPORT,
                message: "WeChat API not available in this host".to_owned(),
            })
    }
}

/// Runs an API call, bounded by the call's deadline (epochs do not
/// interrupt host code).
async fn bounded<T>(
    deadline: Instant,
    fut: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, wechat::ApiError> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(remaining, fut).await {
        Ok(r) => r.map_err(api_error),
        Err(_) => Err(wechat::ApiError {
            code: CODE_TRANSPORT,
            message: "deadline reached".to_owned(),
        }),
    }
}

impl wechat::Host for State {
    async fn send_customer_message(
        &mut self,
        to_user: String,
        message: wechat::CustomerMessage,
    ) -> wasmtime::Result<Result<(), wechat::ApiError>> {
        let api = match self.api("customer-message") {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let message = match message {
            wechat::CustomerMessage::Text(t) => CustomerMessage::Text(t),
            wechat::CustomerMessage::Image(m) => CustomerMessage::Image { media_id: m },
            wechat::CustomerMessage::Voice(m) => CustomerMessage::Voice { media_id: m },
            wechat::CustomerMessage::Video(v) => CustomerMessage::Video {
                media_id: v.media_id,
                thumb_media_id: v.thumb_media_id,
                title: v.title,
                description: v.description,
            },
            wechat::CustomerMessage::Music(m) => CustomerMessage::Music {
                title: m.title,
                description: m.description,
                music_url: m.music_url,
                hq_music_url: m.hq_music_url,
                thumb_media_id: m.thumb_media_id,
            },
            wechat::CustomerMessage::News(a) => {
                CustomerMessage::News(convert::articles_from_wit(a))
            }
        };
        Ok(bounded(self.deadline, api.send_customer_message(&to_user, message)).await)
    }

    async fn get_user_info(
        &mut self,
        openid: String,
    ) -> wasmtime::Result<Result<wechat::UserInfo, wechat::ApiError>> {
        let api = match self.api("user-info") {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        Ok(bounded(self.deadline, api.get_user_info(&openid))
            .await
            .map(|u| wechat::UserInfo {
                subscribed: u.subscribed,
                openid: u.openid,
                unionid: u.unionid,
                language: u.language,
                subscribe_time: u.subscribe_time,
                subscribe_scene: u.subscribe_scene,
                remark: u.remark,
                tag_ids: u.tag_ids,
                qr_scene: u.qr_scene,
                qr_scene_str: u.qr_scene_str,
            }))
    }

    async fn create_qr_code(
        &mut self,
        request: wechat::QrCodeRequest,
    ) -> wasmtime::Result<Result<types::QrCode, wechat::ApiError>> {
        let api = match self.api("qrcode") {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let request = QrCodeRequest {
            scene: request.scene,
            expire_seconds: request.expire_seconds,
            note: request.note,
        };
        Ok(bounded(self.deadline, api.create_qr_code(request))
            .await
            .map(|q| convert::qr_code(&q)))
    }
}
