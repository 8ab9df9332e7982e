//! [`AccountStore`] on SQLite: the `runtime_account` table (migration 10).

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::store::{AccountStore, StoreError, StoredAccount};

#[async_trait]
impl AccountStore for SqliteStore {
    async fn list(&self) -> Result<Vec<StoredAccount>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, settings, secrets, updated_ms FROM runtime_account ORDER BY name",
            )?;
            stmt.query_map([], |r| {
                Ok(StoredAccount {
                    name: r.get(0)?,
                    settings: r.get(1)?,
                    secrets: r.get(2)?,
                    updated_ms: r.get(3)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn put(&self, account: &StoredAccount) -> Result<(), StoreError> {
        let a = account.clone();
        self.run(move |c| {
            c.execute(
                "INSERT INTO runtime_account (name, settings, secrets, updated_ms)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET settings = ?2, secrets = ?3, updated_ms = ?4",
                params![a.name, a.settings, a.secrets, a.updated_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.run(move |c| {
            Ok(c.execute("DELETE FROM runtime_account WHERE name = ?1", params![name])? > 0)
        })
        .await
    }
}
