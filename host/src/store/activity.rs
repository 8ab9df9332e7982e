//! What every instance reports of the pushes it served, for the operator's
//! views of the whole deployment: a capped stream of recent pushes, each
//! instance's per-minute counters for the last hour, and when each instance
//! last reported. Only a backend several instances share implements it
//! (Redis); one instance shows its own memory (`server::activity`).
//!
//! Rows and minutes are opaque JSON here (the server owns their shape), so
//! the store knows nothing of pushes.

use async_trait::async_trait;

use super::StoreError;

/// Recent pushes the shared stream keeps (about: trimmed in whole nodes).
pub const STREAM_CAP: usize = 1000;

/// How long an instance's minute counters are kept (the hour the overview
/// draws, and a minute of slack).
pub const MINUTES_KEPT_SECS: u64 = 61 * 60;

#[async_trait]
pub trait ActivityLog: Send + Sync + 'static {
    /// One round trip: appends `rows` to the stream (capped at
    /// [`STREAM_CAP`]), sets `instance`'s counters of each of `minutes`
    /// (unix minute, JSON), and records that `instance` reported at
    /// `now_ms`.
    async fn report(
        &self,
        instance: &str,
        now_ms: u64,
        rows: &[String],
        minutes: &[(u64, String)],
    ) -> Result<(), StoreError>;
    /// The newest `limit` rows, newest first.
    async fn recent(&self, limit: usize) -> Result<Vec<String>, StoreError>;
    /// Each minute of `first..=last` with every instance's counters of it.
    async fn minutes(
        &self,
        first: u64,
        last: u64,
    ) -> Result<Vec<(u64, Vec<(String, String)>)>, StoreError>;
    /// Every instance that ever reported, with when it last did (unix ms).
    async fn instances(&self) -> Result<Vec<(String, u64)>, StoreError>;
}
