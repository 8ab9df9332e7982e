//! Recovery after a lost store: `api_get_authorizer_list` (with the stored
//! ticket, or one pushed since) lists every account that authorized the
//! platform with its current refresh token; each is stored again and its
//! row restored, so every running instance serves it within a second. An
//! entry without a refresh token (its code was never exchanged) is
//! reported: it needs its owner to authorize again.

use serde_json::json;

use super::Platform;
use super::authorizer::AuthorizerState;
use crate::api::ApiError;

/// Entries asked for per call (wechatpy's default; WeChat's maximum).
const PAGE: usize = 500;

/// What a recovery did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Refresh token stored again, served.
    pub restored: Vec<String>,
    /// Listed without a refresh token: must authorize again.
    pub without_token: Vec<String>,
}

impl Platform {
    /// Re-seeds every listed authorizer's refresh token and row.
    pub async fn recover(&self) -> Result<Recovered, ApiError> {
        let mut out = Recovered::default();
        let mut offset = 0usize;
        loop {
            let body = json!({"component_appid": self.component_app_id(), "offset": offset, "count": PAGE});
            let page = self
                .call("/cgi-bin/component/api_get_authorizer_list", &body)
                .await?;
            let list = page["list"].as_array().cloned().unwrap_or_default();
            let total = page["total_count"].as_u64().unwrap_or(0) as usize;
            for entry in &list {
                let Some(app_id) = entry["authorizer_appid"].as_str().filter(|a| !a.is_empty())
                else {
                    continue;
                };
                let refresh = entry["refresh_token"].as_str().unwrap_or("");
                if refresh.is_empty() {
                    out.without_token.push(app_id.to_owned());
                    continue;
                }
                self.save_refresh_token(app_id, refresh).await?;
                let known = self
                    .authorizer(app_id)
                    .await?
                    .and_then(|(_, a)| a.authorizer)
                    .filter(|i| i.state == AuthorizerState::Active);
                if known.is_none() {
                    let auth_time = entry["auth_time"].as_i64().unwrap_or(0);
                    self.describe_and_put(app_id, Vec::new(), auth_time).await?;
                }
                out.restored.push(app_id.to_owned());
            }
            offset += list.len();
            if list.is_empty() || offset >= total {
                return Ok(out);
            }
        }
    }
}
