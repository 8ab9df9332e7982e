//! [`AccountStore`] on Redis: one hash, `<p>runtime-accounts` (name → the
//! account as JSON, its sealed credentials in hex), so a listing is one
//! HGETALL and each change one HSET or HDEL.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::RedisStore;
use crate::store::{AccountStore, StoreError, StoredAccount};

#[derive(Serialize, Deserialize)]
struct Stored {
    settings: String,
    secrets: String,
    updated_ms: i64,
}

impl RedisStore {
    fn accounts_key(&self) -> String {
        self.key(format_args!("runtime-accounts"))
    }
}

#[async_trait]
impl AccountStore for RedisStore {
    async fn list(&self) -> Result<Vec<StoredAccount>, StoreError> {
        let k = self.accounts_key();
        let fields: Vec<String> = self
            .call(|mut c| async move { ::redis::cmd("HGETALL").arg(k).query_async(&mut c).await })
            .await?;
        let mut out = Vec::with_capacity(fields.len() / 2);
        for pair in fields.chunks_exact(2) {
            let s: Stored = serde_json::from_str(&pair[1])
                .map_err(|e| StoreError::Backend(format!("redis: malformed account: {e}")))?;
            out.push(StoredAccount {
                name: pair[0].clone(),
                settings: s.settings,
                secrets: hex::decode(&s.secrets)
                    .map_err(|e| StoreError::Backend(format!("redis: malformed account: {e}")))?,
                updated_ms: s.updated_ms,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn put(&self, account: &StoredAccount) -> Result<(), StoreError> {
        let k = self.accounts_key();
        let value = serde_json::to_string(&Stored {
            settings: account.settings.clone(),
            secrets: hex::encode(&account.secrets),
            updated_ms: account.updated_ms,
        })
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        let name = account.name.clone();
        self.call(|mut c| async move {
            ::redis::cmd("HSET")
                .arg(k)
                .arg(name)
                .arg(value)
                .exec_async(&mut c)
                .await
        })
        .await
    }

    async fn delete(&self, name: &str) -> Result<bool, StoreError> {
        let k = self.accounts_key();
        let removed: i64 = self
            .call(|mut c| async move {
                ::redis::cmd("HDEL")
                    .arg(k)
                    .arg(name)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(removed > 0)
    }
}
