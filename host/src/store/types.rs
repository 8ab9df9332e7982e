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

/// One plugin kv entry (`wxhost store migrate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub namespace: String,
    pub key: String,
    pub value: Vec<u8>,
}

/// A credential's stored value and fetch counts (`wxhost store migrate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub key: String,
    pub token: Option<StoredToken>,
    /// (day, fetches that day), oldest day first.
    pub fetches: Vec<(String, u64)>,
}

/// A permanent-code quota slot taken before calling WeChat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrReservation {
    pub id: i64,
    pub scene: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A short-lived record with its expiry (`wxhost store migrate`).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub realm: String,
    pub id: String,
    pub value: Vec<u8>,
    /// Unix milliseconds.
    pub expires_ms: i64,
}

impl std::fmt::Debug for SessionRecord {
    // Sessions are credentials: never print the value (or the id).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("realm", &self.realm)
            .field("value_bytes", &self.value.len())
            .field("expires_ms", &self.expires_ms)
            .finish()
    }
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
