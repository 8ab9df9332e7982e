//! Thin, typed wrappers over the host imports: log, kv, config, WeChat APIs.

/// Structured logs, attributed to the plugin by the host (which also limits
/// how many lines and bytes one call may log).
pub mod log {
    use crate::bindings::wechat::plugin::host;
    pub use crate::bindings::wechat::plugin::host::Level;

    /// A log line with key/value fields.
    pub fn with_fields(level: Level, message: &str, fields: &[(&str, &str)]) {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        host::log(level, message, &fields);
    }
    pub fn trace(message: &str) {
        host::log(Level::Trace, message, &[]);
    }
    pub fn debug(message: &str) {
        host::log(Level::Debug, message, &[]);
    }
    pub fn info(message: &str) {
        host::log(Level::Info, message, &[]);
    }
    pub fn warn(message: &str) {
        host::log(Level::Warn, message, &[]);
    }
    pub fn error(message: &str) {
        host::log(Level::Error, message, &[]);
    }
}

/// The plugin's own persistent key-value store (keys up to 256 bytes, values
/// up to 64 KiB, within the plugin's quota: writes past it return an error).
pub mod kv {
    use crate::bindings::wechat::plugin::host::{self, KvError};

    /// The value, `None` if absent. A store failure is not absence: it
    /// aborts this call (the host then offers the message to the next
    /// plugin); use [`try_get`] to handle it yourself.
    pub fn get(key: &str) -> Option<Vec<u8>> {
        match host::kv_get(key) {
            Ok(v) => v,
            Err(e) => panic!(
                "kv-get failed for {key:?}, so the call stops before it acts on a missing value: {}",
                message(e)
            ),
        }
    }
    /// The value, `Ok(None)` if absent, `Err` if the store failed or the
    /// key is invalid.
    pub fn try_get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
        host::kv_get(key)
    }
    /// The value as UTF-8 text (`None` if absent or not UTF-8).
    pub fn get_string(key: &str) -> Option<String> {
        get(key).and_then(|v| String::from_utf8(v).ok())
    }
    pub fn set(key: &str, value: &[u8]) -> Result<(), String> {
        host::kv_set(key, value).map_err(message)
    }
    pub fn set_string(key: &str, value: &str) -> Result<(), String> {
        set(key, value.as_bytes())
    }
    pub fn delete(key: &str) -> Result<(), String> {
        host::kv_delete(key).map_err(message)
    }
    /// Adds one to a decimal counter (absent = 0) and returns the new
    /// value; atomic in the host, so concurrent messages never lose a count.
    pub fn incr(key: &str) -> Result<i64, String> {
        incr_by(key, 1)
    }
    /// Adds `delta` (may be negative) to a decimal counter; see [`incr`].
    pub fn incr_by(key: &str, delta: i64) -> Result<i64, String> {
        host::kv_incr(key, delta).map_err(message)
    }

    /// The error's text (the SDK's `Result<_, String>` helpers).
    pub fn message(e: KvError) -> String {
        match e {
            KvError::Refused(m) | KvError::Unavailable(m) => m,
        }
    }
}

/// The plugin's configuration values (`[plugin.<id>.config]` in the host's config).
pub mod config {
    use crate::bindings::wechat::plugin::host;

    pub fn get(key: &str) -> Option<String> {
        host::config_get(key)
    }
    pub fn keys() -> Vec<String> {
        host::config_keys()
    }
}

/// WeChat server APIs, each behind a capability the operator grants
/// (`customer-message`, `user-info`, `qrcode`); without it the call returns
/// an error with code -2.
pub mod wechat {
    pub use crate::bindings::wechat::plugin::wechat::*;

    /// WeChat's "typing" status in `to_user`'s chat (WIT 1.1; capability
    /// `customer-message`): `true` shows it, `false` ends it.
    pub fn set_typing(to_user: &str, on: bool) -> Result<(), ApiError> {
        crate::bindings::wechat::plugin::chat::set_typing(to_user, on)
    }
}

/// Messages through the host's durable queue (WIT 1.1; capability
/// `outbound`): template, subscription, customer-service and mass
/// messages, rate limited, retried without duplicates and joined to their
/// receipts by the host, for the account of the message being handled.
pub mod outbound {
    pub use crate::bindings::wechat::plugin::outbound::JobState;

    /// Queues one job, written as the admin API's job JSON, e.g.
    /// `{"channel": "template", "to": "o…", "template_id": "…", "data": {…}}`.
    /// Returns its id (a job with a `key` seen before: the first job's).
    pub fn enqueue(job: &str) -> Result<i64, String> {
        crate::bindings::wechat::plugin::outbound::enqueue(job)
    }

    /// A job this account queued, if there is one with that id.
    pub fn status(id: i64) -> Result<Option<JobState>, String> {
        crate::bindings::wechat::plugin::outbound::job_status(id)
    }
}
