//! The JS-SDK signature (§7.9): what a page passes to `wx.config`, signed
//! with the jsapi_ticket — for the `/jssdk/config` endpoint and for web
//! plugins (`web.jssdk-config`), both through [`JsSdk::config`].
//!
//! Only pages on the server's public origin are signed: a signature is a
//! grant to use the account's JS-SDK on that page, so signing any URL asked
//! for would lend the account to any site.

use rand::Rng;
use serde::Serialize;
use sha1::{Digest, Sha1};

use super::ApiError;
use super::ticket::JsapiTicket;

/// Longest page URL signed.
pub const MAX_URL_BYTES: usize = 2048;

/// The §7.9 signature: SHA-1 (hex) of
/// `jsapi_ticket=…&noncestr=…&timestamp=…&url=…` with raw values; `url`
/// without its `#fragment`.
pub fn signature(ticket: &str, nonce_str: &str, timestamp: u64, url: &str) -> String {
    let plain =
        format!("jsapi_ticket={ticket}&noncestr={nonce_str}&timestamp={timestamp}&url={url}");
    hex::encode(Sha1::digest(plain.as_bytes()))
}

/// What `wx.config` needs, with the JS names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsSdkConfig {
    pub app_id: String,
    pub timestamp: u64,
    pub nonce_str: String,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JsSdkError {
    /// The caller's mistake: not a URL, or not a page of this server.
    #[error("{0}")]
    Refused(String),
    /// No ticket could be had (WeChat, credentials, storage).
    #[error("no jsapi_ticket: {0}")]
    Unavailable(ApiError),
}

/// Signs pages of one public origin.
pub struct JsSdk {
    app_id: String,
    origin: url::Origin,
    ticket: JsapiTicket,
}

impl JsSdk {
    /// `public_origin`: `web.public_url` (or its default), e.g.
    /// `https://wx.example.com`.
    pub fn new(app_id: &str, public_origin: &str, ticket: JsapiTicket) -> anyhow::Result<JsSdk> {
        Ok(JsSdk {
            app_id: app_id.to_owned(),
            origin: url::Url::parse(public_origin)?.origin(),
            ticket,
        })
    }

    pub fn ticket(&self) -> &JsapiTicket {
        &self.ticket
    }

    /// The part of `url` that is signed (without `#…`), if it is a page of
    /// the public origin.
    pub fn page_url<'u>(&self, url: &'u str) -> Result<&'u str, JsSdkError> {
        let page = url.split('#').next().unwrap_or_default();
        if page.len() > MAX_URL_BYTES {
            return Err(JsSdkError::Refused(format!(
                "the URL is longer than {MAX_URL_BYTES} bytes"
            )));
        }
        if page.chars().any(char::is_control) {
            return Err(JsSdkError::Refused(
                "the URL contains control characters".into(),
            ));
        }
        let parsed = url::Url::parse(page)
            .map_err(|e| JsSdkError::Refused(format!("not an absolute URL: {e}")))?;
        if parsed.origin() != self.origin {
            return Err(JsSdkError::Refused(format!(
                "only pages on {} are signed",
                self.origin.ascii_serialization()
            )));
        }
        Ok(page)
    }

    /// The `wx.config` values for the page at `url`: a fresh nonce and
    /// timestamp, signed with the current jsapi_ticket.
    pub async fn config(&self, url: &str) -> Result<JsSdkConfig, JsSdkError> {
        let page = self.page_url(url)?;
        let ticket = self.ticket.get().await.map_err(JsSdkError::Unavailable)?;
        let nonce_str: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(16)
            .map(char::from)
            .collect();
        let timestamp = crate::unix_now();
        Ok(JsSdkConfig {
            app_id: self.app_id.clone(),
            signature: signature(&ticket, &nonce_str, timestamp, page),
            timestamp,
            nonce_str,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    /// The official vector (§7.9), byte for byte.
    #[test]
    fn the_official_jssdk_vector_signs_byte_exact() {
        let ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
        assert_eq!(
            signature(
                ticket,
                "Wm3WZYTPz0wzccnW",
                1414587457,
                "http://mp.weixin.qq.com"
            ),
            "f4d90daf4b3bca3078ab155816175ba34c443a7b"
        );
        assert_eq!(
            signature(
                ticket,
                "Wm3WZYTPz0wzccnW",
                1414587457,
                "http://mp.weixin.qq.com?params=value"
            ),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
    }
}
