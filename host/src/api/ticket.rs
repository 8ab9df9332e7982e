//! The jsapi_ticket (JS-SDK 签名用票据): a second [`Credential`], managed
//! exactly like the access_token — one flight per process, one fetch across
//! processes under the store's fetch lock, persisted, refreshed ahead.
//!
//! Its source is `/cgi-bin/ticket/getticket?type=jsapi`, called through
//! [`Wechat::get`], so an access_token WeChat rejects (40001, 42001) is
//! dropped and the call retried once with a new one.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::credential::{Credential, CredentialSource, Fetched};
use super::{ApiError, Wechat};

/// The jsapi_ticket of one Official Account.
pub type JsapiTicket = Credential<JsapiTicketSource>;

pub struct JsapiTicketSource {
    wechat: Arc<Wechat>,
    key: String,
}

impl JsapiTicketSource {
    /// Stored under `<AppID>/jsapi_ticket`, beside the token (`<AppID>`).
    pub fn new(wechat: Arc<Wechat>) -> JsapiTicketSource {
        let key = format!("{}/jsapi_ticket", wechat.tokens().source().app_id);
        JsapiTicketSource { wechat, key }
    }
}

#[async_trait]
impl CredentialSource for JsapiTicketSource {
    fn name(&self) -> &'static str {
        "jsapi_ticket"
    }

    fn key(&self) -> &str {
        &self.key
    }

    fn account(&self) -> &str {
        self.wechat.account()
    }

    async fn fetch(&self, _force: bool) -> Result<Fetched, ApiError> {
        let answer = self
            .wechat
            .get("/cgi-bin/ticket/getticket", &[("type", "jsapi")])
            .await?;
        let Some(ticket) = answer
            .get("ticket")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            return Err(ApiError::Transport("getticket answered no ticket".into()));
        };
        Ok(Fetched {
            value: ticket.to_owned(),
            expires_in: answer
                .get("expires_in")
                .and_then(Value::as_i64)
                .unwrap_or(7200),
        })
    }
}

impl Wechat {
    /// A jsapi_ticket manager on this account's API client and store.
    pub fn jsapi_ticket(self: &Arc<Self>) -> JsapiTicket {
        Credential::new(
            JsapiTicketSource::new(self.clone()),
            self.token_store.clone(),
            self.options.refresh_margin,
        )
    }
}
