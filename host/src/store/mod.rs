//! Storage: everything wxhost keeps across restarts, behind one trait.
//!
//! [`Store`] is what the rest of the host uses; [`sqlite::SqliteStore`] is the
//! default backend (one file in the data dir, no server). A shared backend
//! (Redis/Postgres) for several instances implements the same trait.

pub mod sqlite;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Backend(String),
}

/// Persistent state. Methods are blocking and fast (local SQLite); callers on
/// the async runtime may call them directly for single-row operations.
pub trait Store: Send + Sync + 'static {
    /// A plugin's key-value entry; `namespace` is the plugin id.
    fn kv_get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn kv_set(&self, namespace: &str, key: &str, value: &[u8]) -> Result<(), StoreError>;
    fn kv_delete(&self, namespace: &str, key: &str) -> Result<(), StoreError>;
}
