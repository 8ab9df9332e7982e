//! Storage: everything wxhost keeps across restarts, behind one trait.
//!
//! [`Store`] is what the rest of the host uses; [`sqlite::SqliteStore`] is the
//! default backend (one file in the data dir, no server). A shared backend
//! (Redis/Postgres) for several instances implements the same trait.
//!
//! What lives here: plugin key-value entries, the access_token (and a count of
//! token fetches per day), menu versions, and every QR code wxhost created.

pub mod sqlite;

use crate::api::QrCode;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Backend(String),
    /// A permanent QR code would exceed the account's quota.
    #[error("permanent QR code quota reached: {count} of {limit} already created")]
    QuotaReached { count: u64, limit: u64 },
}

impl From<StoreError> for crate::api::ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Backend(m) => crate::api::ApiError::Storage(m),
            q @ StoreError::QuotaReached { .. } => crate::api::ApiError::Invalid(q.to_string()),
        }
    }
}

/// A cached access_token. Shared by every process using the same store, so a
/// restart or a CLI command reuses the server's token instead of fetching.
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
/// included). Every publish creates a version; at most one is current.
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
    /// `menuid`s WeChat gave the conditional menus at the last push.
    pub conditional_menu_ids: Vec<String>,
}

/// A stored QR code with its row id.
#[derive(Debug, Clone, PartialEq)]
pub struct QrRecord {
    pub id: i64,
    pub code: QrCode,
}

/// Persistent state. Methods are blocking and fast (local SQLite); callers on
/// the async runtime may call them directly for single-row operations.
pub trait Store: Send + Sync + 'static {
    /// A plugin's key-value entry; `namespace` is the plugin id.
    fn kv_get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn kv_set(&self, namespace: &str, key: &str, value: &[u8]) -> Result<(), StoreError>;
    fn kv_delete(&self, namespace: &str, key: &str) -> Result<(), StoreError>;

    // --- access_token -----------------------------------------------------

    fn token_get(&self, app_id: &str) -> Result<Option<StoredToken>, StoreError>;
    /// Stores a freshly fetched token and counts the fetch for `day`
    /// (`YYYY-MM-DD`, Beijing time, when WeChat's quotas reset).
    fn token_put(&self, app_id: &str, token: &StoredToken, day: &str) -> Result<(), StoreError>;
    /// Drops the stored token only if it is still `token` (compare-and-swap:
    /// a token another caller or process already replaced stays). Returns
    /// whether it was dropped.
    fn token_invalidate(&self, app_id: &str, token: &str) -> Result<bool, StoreError>;
    /// Token fetches counted for `day`.
    fn token_fetches(&self, app_id: &str, day: &str) -> Result<u64, StoreError>;

    // --- menus ------------------------------------------------------------

    /// Saves a new, not yet published version; returns its id.
    fn menu_insert(&self, json: &str, note: Option<&str>) -> Result<i64, StoreError>;
    /// Records a successful push of version `id`: it becomes the only
    /// current version.
    fn menu_mark_published(
        &self,
        id: i64,
        conditional_menu_ids: &[String],
    ) -> Result<(), StoreError>;
    /// No version is current (the menu was deleted on WeChat).
    fn menu_clear_current(&self) -> Result<(), StoreError>;
    fn menu_get(&self, id: i64) -> Result<Option<MenuVersion>, StoreError>;
    fn menu_current(&self) -> Result<Option<MenuVersion>, StoreError>;
    /// All versions, newest first.
    fn menu_history(&self) -> Result<Vec<MenuVersion>, StoreError>;

    // --- QR codes -----------------------------------------------------------

    /// Stores a created code. For a permanent code with `permanent_limit`
    /// set, the count check and the insert are one transaction, so parallel
    /// creators cannot overshoot the quota.
    fn qrcode_insert(&self, code: &QrCode, permanent_limit: Option<u64>)
    -> Result<i64, StoreError>;
    fn qrcode_permanent_count(&self) -> Result<u64, StoreError>;
    /// The newest code for `scene` that has not expired at `now` (unix
    /// seconds). This is what plugins receive with a subscribe/SCAN event.
    fn qrcode_by_scene_at(&self, scene: &str, now: i64) -> Result<Option<QrRecord>, StoreError>;
    /// The newest permanent code for `scene`, if any.
    fn qrcode_permanent_by_scene(&self, scene: &str) -> Result<Option<QrRecord>, StoreError>;
    fn qrcode_by_ticket(&self, ticket: &str) -> Result<Option<QrRecord>, StoreError>;
    fn qrcode_by_id(&self, id: i64) -> Result<Option<QrRecord>, StoreError>;
    /// Newest first, at most `limit`.
    fn qrcode_list(&self, limit: usize) -> Result<Vec<QrRecord>, StoreError>;

    /// The newest unexpired stored code for `scene` (the event's scene key,
    /// `qrscene_` already stripped).
    fn qrcode_by_scene(&self, scene: &str) -> Result<Option<QrCode>, StoreError> {
        Ok(self.qrcode_by_scene_at(scene, now_secs())?.map(|r| r.code))
    }
}

/// Unix seconds now, as stored (SQLite integers are signed).
pub fn now_secs() -> i64 {
    crate::unix_now() as i64
}

/// The calendar day (`YYYY-MM-DD`) in Beijing time (UTC+8) of unix second
/// `t`: WeChat's daily quotas reset at Beijing midnight.
pub fn quota_day(t: i64) -> String {
    let (y, m, d) = civil_from_days((t + 8 * 3600).div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Unix second `t` as `YYYY-MM-DD HH:MM:SS UTC` (for CLI output).
pub fn format_utc(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's
/// algorithm, proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn quota_day_is_beijing_time() {
        assert_eq!(super::quota_day(0), "1970-01-01");
        // 2024-02-29 15:59:59 UTC = 23:59:59 in Beijing; one second later is March 1st there.
        assert_eq!(super::quota_day(1_709_222_399), "2024-02-29");
        assert_eq!(super::quota_day(1_709_222_400), "2024-03-01");
        assert_eq!(super::format_utc(1_709_222_399), "2024-02-29 15:59:59 UTC");
    }
}
