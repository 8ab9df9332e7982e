//! [`AccountInfo`]: the Official Account a message was pushed to, as the
//! plugin runtime carries it into every call (the WIT `account` record, with
//! the `gh_` id taken from the message itself).

use std::sync::Arc;

/// The account a [`HandlerInput`](super::HandlerInput) belongs to. Cheap to
/// clone (shared strings): one per account, reused for every message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// The account's name in the config (`default` without `[account.*]`).
    pub name: Arc<str>,
    /// Its AppID.
    pub app_id: Arc<str>,
}

impl AccountInfo {
    /// The name of the single account of a config without named accounts.
    pub const DEFAULT_NAME: &'static str = "default";

    pub fn new(name: &str, app_id: &str) -> AccountInfo {
        AccountInfo {
            name: Arc::from(name),
            app_id: Arc::from(app_id),
        }
    }

    /// The single account of a config without named accounts.
    pub fn single(app_id: &str) -> AccountInfo {
        AccountInfo::new(Self::DEFAULT_NAME, app_id)
    }
}

impl Default for AccountInfo {
    /// `default` with no AppID (tools that run a plugin without a config).
    fn default() -> Self {
        AccountInfo::single("")
    }
}
