//! The records the store keeps.

/// A cached access_token.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds.
    pub fetched_at: i64,
}

impl std::fmt::Debug for StoredToken {
    // Never print the token itself (logs, panics, test failures).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("fetched_at", &self.fetched_at)
            .finish()
    }
}

/// One saved menu definition (WeChat's JSON format, conditional menus
/// included).
#[derive(Debug, Clone, PartialEq)]
pub struct MenuVersion {
    pub id: i64,
    /// `{"button":[…],"conditionalmenu":[…]}` as published.
    pub json: String,
    pub note: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Last time this version was pushed to WeChat successfully (a publish
    /// or a rollback); `None` if the push failed.
    pub published_at: Option<i64>,
    /// The version live on WeChat, as far as wxhost knows.
    pub current: bool,
    /// `menuid`s WeChat gave the conditional menus at the last push (after
    /// a partial push: the conditional menus live on WeChat).
    pub conditional_menu_ids: Vec<String>,
    /// Set when the last push of this version stopped halfway: what is live
    /// on WeChat (e.g. "default menu live; conditional menus: 1 of 2
    /// added"). Cleared by a complete push.
    pub partial: Option<String>,
}

/// A parametric QR code created through wxhost, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct QrCode {
    /// `scene_id` as decimal, or `scene_str`.
    pub scene: String,
    pub ticket: String,
    /// The content encoded in the QR code.
    pub url: String,
    pub permanent: bool,
    /// Unix seconds; `None` for permanent codes.
    pub expires_at: Option<u64>,
    pub note: Option<String>,
    pub created_at: u64,
}

/// A stored QR code with its row id.
#[derive(Debug, Clone, PartialEq)]
pub struct QrRecord {
    pub id: i64,
    pub code: QrCode,
}

/// What one OAuth login tells about a web user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebUserLogin {
    pub openid: String,
    /// Only with `snsapi_userinfo`, for an account bound to an Open Platform.
    pub unionid: Option<String>,
    /// Only with `snsapi_userinfo`.
    pub nickname: Option<String>,
    /// `headimgurl`, only with `snsapi_userinfo`.
    pub avatar_url: Option<String>,
    /// `snsapi_base` or `snsapi_userinfo`, as WeChat granted it.
    pub scope: String,
    /// A snapshot-page virtual user (`is_snapshotuser` = 1): never bind an
    /// account to its openid.
    pub snapshot: bool,
}

/// A web user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUser {
    pub openid: String,
    pub unionid: Option<String>,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    /// The scope of the last login.
    pub scope: String,
    pub snapshot: bool,
    /// Unix seconds of the first and the last login.
    pub first_seen: i64,
    pub last_seen: i64,
}
