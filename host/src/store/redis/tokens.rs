//! [`TokenStore`] on Redis: a credential is a hash `<p>token:<key>` (token,
//! expires_at, fetched_at), its fetches a hash `<p>token-fetches:<key>`
//! (day → count), a fetch lock a string `<p>lock:<name>` holding its holder
//! with an expiry (`SET PX`), so a holder that died frees it by itself.
//! Release and the 40001 compare-and-swap check the holder / value in a
//! script: another instance's lock or newer token is never dropped.

use std::sync::LazyLock;
use std::time::Duration;

use ::redis::Script;
use async_trait::async_trait;

use super::{RedisStore, field, parse_i64};
use crate::store::{StoreError, StoredToken, TokenRecord, TokenStore};

/// KEYS: token hash. ARGV: the rejected token. Returns 1 if dropped.
static INVALIDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// KEYS: lock. ARGV: holder, ttl ms. Taken if free or already ours.
static TRY_LOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
",
    )
});

/// KEYS: lock. ARGV: holder.
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
",
    )
});

impl RedisStore {
    fn token_keys(&self, key: &str) -> (String, String) {
        (
            self.key(format_args!("token:{key}")),
            self.key(format_args!("token-fetches:{key}")),
        )
    }
}

fn stored(fields: &[String]) -> Result<Option<StoredToken>, StoreError> {
    let Some(token) = field(fields, "token") else {
        return Ok(None);
    };
    Ok(Some(StoredToken {
        token: token.to_owned(),
        expires_at: parse_i64(field(fields, "expires_at"), "token expiry")?,
        fetched_at: parse_i64(field(fields, "fetched_at"), "token fetch time")?,
    }))
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<StoredToken>, StoreError> {
        let (t, _) = self.token_keys(key);
        let fields: Vec<String> = self
            .call(|mut c| async move { ::redis::cmd("HGETALL").arg(t).query_async(&mut c).await })
            .await?;
        stored(&fields)
    }

    async fn put(&self, key: &str, token: &StoredToken, day: &str) -> Result<(), StoreError> {
        let (t, f) = self.token_keys(key);
        self.call(|mut c| async move {
            ::redis::pipe()
                .atomic()
                .hset_multiple(
                    &t,
                    &[
                        ("token", token.token.clone()),
                        ("expires_at", token.expires_at.to_string()),
                        ("fetched_at", token.fetched_at.to_string()),
                    ],
                )
                .ignore()
                .hincr(&f, day, 1)
                .ignore()
                .exec_async(&mut c)
                .await
        })
        .await
    }

    async fn invalidate(&self, key: &str, token: &str) -> Result<bool, StoreError> {
        let (t, _) = self.token_keys(key);
        let dropped: i64 = self
            .call(|mut c| async move { INVALIDATE.key(t).arg(token).invoke_async(&mut c).await })
            .await?;
        Ok(dropped > 0)
    }

    async fn fetches(&self, key: &str, day: &str) -> Result<u64, StoreError> {
        let (_, f) = self.token_keys(key);
        let n: Option<u64> = self
            .call(|mut c| async move {
                ::redis::cmd("HGET")
                    .arg(f)
                    .arg(day)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(n.unwrap_or(0))
    }

    async fn try_lock(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let lock = self.key(format_args!("lock:{name}"));
        let ttl_ms = ttl.as_millis().max(1) as u64;
        let taken: i64 = self
            .call(|mut c| async move {
                TRY_LOCK
                    .key(lock)
                    .arg(holder)
                    .arg(ttl_ms)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(taken == 1)
    }

    async fn unlock(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let lock = self.key(format_args!("lock:{name}"));
        self.call(|mut c| async move {
            UNLOCK
                .key(lock)
                .arg(holder)
                .invoke_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn export(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let mut keys: Vec<String> = self
            .scan("token:")
            .await?
            .iter()
            .map(|k| self.name_in(k, "token:").to_owned())
            .collect();
        keys.extend(
            self.scan("token-fetches:")
                .await?
                .iter()
                .map(|k| self.name_in(k, "token-fetches:").to_owned()),
        );
        keys.sort();
        keys.dedup();
        let mut records = Vec::new();
        for key in keys {
            let token = TokenStore::get(self, &key).await?;
            let (_, f) = self.token_keys(&key);
            let mut fetches: Vec<(String, u64)> = self
                .call(
                    |mut c| async move { ::redis::cmd("HGETALL").arg(f).query_async(&mut c).await },
                )
                .await?;
            fetches.sort();
            records.push(TokenRecord {
                key,
                token,
                fetches,
            });
        }
        Ok(records)
    }

    async fn import(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        for r in records {
            let (t, f) = self.token_keys(&r.key);
            self.call(|mut c| async move {
                let mut p = ::redis::pipe();
                p.atomic();
                if let Some(token) = &r.token {
                    p.hset_multiple(
                        &t,
                        &[
                            ("token", token.token.clone()),
                            ("expires_at", token.expires_at.to_string()),
                            ("fetched_at", token.fetched_at.to_string()),
                        ],
                    )
                    .ignore();
                }
                for (day, n) in &r.fetches {
                    p.hset(&f, day, n).ignore();
                }
                p.exec_async(&mut c).await
            })
            .await?;
        }
        Ok(())
    }
}
