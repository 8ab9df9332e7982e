//! WeChat OAuth2 web login (网页授权), the server side of it: exchanging the
//! `code` WeChat hands the browser for the user's openid
//! (`/sns/oauth2/access_token`), and the profile for the `snsapi_userinfo`
//! scope (`/sns/userinfo`). Both go to the API base URL, so the fake WeChat
//! serves them in tests.
//!
//! The web access_token these return is *not* the account's access_token
//! (§8 of the protocol notes): it is used once, for `sns/userinfo`, and
//! never stored, logged or shown.

use serde_json::Value;

use super::client::check;
use super::{ApiError, Wechat};

/// `invalid code`: not a code WeChat issued (or for another AppID).
pub const INVALID_CODE: i64 = 40029;
/// `code been used`: each code is single use.
pub const CODE_USED: i64 = 40163;
/// `code expired`: a code lives 5 minutes.
pub const CODE_EXPIRED: i64 = 42003;

/// What the code exchange answered.
#[derive(Clone)]
pub struct OAuthGrant {
    pub openid: String,
    /// `snsapi_base` or `snsapi_userinfo`.
    pub scope: String,
    pub unionid: Option<String>,
    /// `is_snapshotuser` = 1: a snapshot-page virtual user.
    pub snapshot: bool,
    /// The web access_token, for `sns/userinfo` only.
    access_token: String,
}

impl std::fmt::Debug for OAuthGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthGrant")
            .field("openid", &self.openid)
            .field("scope", &self.scope)
            .field("unionid", &self.unionid)
            .field("snapshot", &self.snapshot)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

/// `/sns/userinfo`, the fields wxhost keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnsUserInfo {
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub unionid: Option<String>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Wechat {
    /// Exchanges an OAuth `code` (single use, 5 minutes) for the user's
    /// openid and granted scope. WeChat's refusals (40029, 40163, 42003)
    /// come back as [`ApiError::Wechat`] with their code.
    pub async fn oauth_exchange(&self, code: &str) -> Result<OAuthGrant, ApiError> {
        let source = self.tokens.source();
        if source.app_secret.is_empty() {
            return Err(ApiError::Invalid(
                "wechat.app_secret (WXHOST_APP_SECRET) is not set: cannot complete a web login"
                    .into(),
            ));
        }
        let query = [
            ("appid", source.app_id.as_str()),
            ("secret", source.app_secret.as_str()),
            ("code", code),
            ("grant_type", "authorization_code"),
        ];
        let answer = self
            .options
            .retry
            .run(|| self.client.get("/sns/oauth2/access_token", &query))
            .await?;
        let answer = check(answer)?;
        let (Some(openid), Some(access_token)) =
            (text(&answer, "openid"), text(&answer, "access_token"))
        else {
            return Err(ApiError::Transport(
                "sns/oauth2/access_token answered without openid or access_token".into(),
            ));
        };
        Ok(OAuthGrant {
            openid,
            scope: text(&answer, "scope").unwrap_or_else(|| "snsapi_base".into()),
            unionid: text(&answer, "unionid"),
            snapshot: answer.get("is_snapshotuser").and_then(Value::as_i64) == Some(1),
            access_token,
        })
    }

    /// The profile of a `snsapi_userinfo` grant (48001 for a base one).
    pub async fn sns_userinfo(&self, grant: &OAuthGrant) -> Result<SnsUserInfo, ApiError> {
        let query = [
            ("access_token", grant.access_token.as_str()),
            ("openid", grant.openid.as_str()),
            ("lang", "zh_CN"),
        ];
        let answer = self
            .options
            .retry
            .run(|| self.client.get("/sns/userinfo", &query))
            .await?;
        let answer = check(answer)?;
        Ok(SnsUserInfo {
            nickname: text(&answer, "nickname"),
            avatar_url: text(&answer, "headimgurl"),
            unionid: text(&answer, "unionid"),
        })
    }
}
