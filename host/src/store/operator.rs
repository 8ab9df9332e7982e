//! What the operator's side (the admin console) keeps: the audit log, scans
//! and follows counted per QR scene, and plugins switched off by an operator.
//! Each trait is as narrow as its one user, and each operation is atomic on
//! its own (a networked backend implements them with single commands).

use std::collections::HashMap;

use async_trait::async_trait;

use super::StoreError;

/// One admin action, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who: `admin@127.0.0.1` (a console session), `api@…` (the bearer token).
    pub actor: String,
    /// What, as a stable snake_case label (`menu_publish`, `plugin_disable`, …).
    pub action: String,
    /// The object and the result, one line (`version 3 "spring menu"`).
    pub detail: String,
}

/// The audit log: append-only, read newest first.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends an entry stamped `at` (unix seconds); returns its id.
    async fn append(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<i64, StoreError>;
    /// Newest first, at most `limit`.
    async fn recent(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// Every entry, oldest first (migration).
    async fn export(&self) -> Result<Vec<AuditEntry>, StoreError>;
    /// Writes `entries` with their ids (migration, into an empty store);
    /// later appends continue after them.
    async fn import(&self, entries: &[AuditEntry]) -> Result<(), StoreError>;
}

/// Scans and follows of one scene.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SceneCounts {
    /// SCAN events: an existing follower scanned the code.
    pub scans: u64,
    /// subscribe events carrying the scene: a new follower came through it.
    pub follows: u64,
}

/// Per-scene counters, fed from the SCAN and subscribe events the server
/// receives (in batches, off the reply's path).
#[async_trait]
pub trait SceneStatsStore: Send + Sync + 'static {
    /// Adds `counts` to `scene`'s counters in one step.
    async fn add(&self, scene: &str, counts: SceneCounts) -> Result<(), StoreError>;
    /// The counters of `scenes` (a scene never seen is left out).
    async fn counts(&self, scenes: &[String]) -> Result<HashMap<String, SceneCounts>, StoreError>;
    /// Every scene's counters, by scene (migration).
    async fn export(&self) -> Result<Vec<(String, SceneCounts)>, StoreError>;
    /// Adds `stats` (migration, into an empty store).
    async fn import(&self, stats: &[(String, SceneCounts)]) -> Result<(), StoreError>;
}

/// Plugins an operator switched off: kept across restarts, honoured at load
/// and on every reload.
#[async_trait]
pub trait PluginSwitchStore: Send + Sync + 'static {
    /// The ids switched off.
    async fn disabled(&self) -> Result<Vec<String>, StoreError>;
    /// Switches `id` on or off.
    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<(), StoreError>;
}
