//! Authorization: a `pre_auth_code` and the link an account's owner opens
//! (PC `componentloginpage`, mobile `bindcomponent`), whose `redirect_uri`
//! is `<public_url>/open/authorized`; and the exchange of the resulting
//! `auth_code` (`api_query_auth`). The code reaches us twice — the redirect
//! and the `authorized` push — and is single use, so whichever arrives
//! first (on any instance) claims it in the store and exchanges it; the
//! other finds it claimed and only waits for the account.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::Platform;
use crate::api::ApiError;
use crate::api::credential::fingerprint;

/// How long a claim on a code is kept (codes live 10 minutes).
const CLAIM_TTL: Duration = Duration::from_secs(3600);

/// `POST /api/v1/open/authorize`'s body.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// 1 Official Accounts only, 2 mini programs only, 3 both.
    pub auth_type: Option<u8>,
    /// One fixed account (excludes `auth_type`).
    pub biz_appid: Option<String>,
    /// The mobile (`bindcomponent`) link instead of the PC one.
    #[serde(default)]
    pub mobile: bool,
}

/// The result of offering a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// Exchanged here: this account is now authorized.
    Done(String),
    /// Another delivery of the code (here or on another instance) has it.
    Claimed,
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Platform {
    /// Where WeChat sends the owner back to.
    pub fn redirect_uri(&self) -> String {
        format!(
            "{}/open/authorized",
            self.public_origin.trim_end_matches('/')
        )
    }

    /// A fresh authorization link.
    pub async fn authorization_link(&self, req: &LinkRequest) -> Result<String, ApiError> {
        if let Some(t) = req.auth_type
            && !(1..=3).contains(&t)
        {
            return Err(ApiError::Invalid(
                "auth_type: 1 (Official Accounts), 2 (mini programs) or 3 (both)".into(),
            ));
        }
        if let Some(b) = &req.biz_appid
            && (b.is_empty() || !b.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(ApiError::Invalid("biz_appid: an app id".into()));
        }
        let body = json!({"component_appid": self.component_app_id()});
        let answer = self
            .call("/cgi-bin/component/api_create_preauthcode", &body)
            .await?;
        let code = answer["pre_auth_code"]
            .as_str()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::Transport("api_create_preauthcode answered no code".into()))?;
        let mut params = format!(
            "component_appid={}&pre_auth_code={}&redirect_uri={}",
            encode(self.component_app_id()),
            encode(code),
            encode(&self.redirect_uri())
        );
        // `biz_appid` names the account, which excludes `auth_type`.
        match (&req.biz_appid, req.auth_type) {
            (Some(b), _) => params.push_str(&format!("&biz_appid={}", encode(b))),
            (None, t) => params.push_str(&format!("&auth_type={}", t.unwrap_or(1))),
        }
        Ok(if req.mobile {
            format!(
                "https://open.weixin.qq.com/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&{params}#wechat_redirect"
            )
        } else {
            format!("https://mp.weixin.qq.com/cgi-bin/componentloginpage?{params}")
        })
    }

    /// Exchanges `code` unless another delivery of it already did (or is):
    /// one `api_query_auth` per code across every instance.
    pub async fn exchange_once(&self, code: &str) -> Result<Exchange, ApiError> {
        if code.is_empty() || code.len() > 512 {
            return Err(ApiError::Invalid("auth_code: missing or too long".into()));
        }
        let claim = format!("open:auth-code:{}", fingerprint(code));
        let holder = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        if !self
            .stores
            .tokens
            .try_lock(&claim, &holder, CLAIM_TTL)
            .await?
        {
            return Ok(Exchange::Claimed);
        }
        match self.exchange(code).await {
            Ok(app_id) => Ok(Exchange::Done(app_id)),
            Err(e) => {
                // Not exchanged: a later delivery may try again.
                let _ = self.stores.tokens.unlock(&claim, &holder).await;
                Err(e)
            }
        }
    }

    async fn exchange(&self, code: &str) -> Result<String, ApiError> {
        let body = json!({"component_appid": self.component_app_id(), "authorization_code": code});
        let answer = self
            .call("/cgi-bin/component/api_query_auth", &body)
            .await?;
        let auth: &Value = &answer["authorization_info"];
        self.store_authorization(auth).await
    }
}
