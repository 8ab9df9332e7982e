//! [`AccountStore`]: the accounts an operator added at runtime (through the
//! admin API), kept in the deployment's store (the default account's scope)
//! so that every instance sharing it serves them. The store holds what it
//! is given: an account's settings as JSON without its credentials, and its
//! credentials already sealed (encrypted and authenticated) by the caller
//! (`crate::account::secrets`), so no backend ever holds one in clear.

use async_trait::async_trait;

use super::StoreError;

/// One runtime account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccount {
    pub name: String,
    /// Its settings, JSON, credentials left out.
    pub settings: String,
    /// Its credentials, sealed.
    pub secrets: Vec<u8>,
    /// Unix milliseconds of its last change: instances rebuild an account
    /// when this moves.
    pub updated_ms: i64,
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Every stored account, by name.
    async fn list(&self) -> Result<Vec<StoredAccount>, StoreError>;
    /// Creates or replaces `account.name`.
    async fn put(&self, account: &StoredAccount) -> Result<(), StoreError>;
    /// Removes `name`; whether it was there.
    async fn delete(&self, name: &str) -> Result<bool, StoreError>;
}
