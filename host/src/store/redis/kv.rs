//! [`KvStore`] on Redis: a namespace is a hash `<p>kv:<namespace>` (key →
//! value), its byte usage a counter `<p>kv-bytes:<namespace>` (keys + values,
//! as SQLite counts it); writes check the quota in the same script.

use std::sync::LazyLock;

use ::redis::Script;
use async_trait::async_trait;

use super::RedisStore;
use crate::store::{KvEntry, KvQuota, KvStore, StoreError};

/// KEYS: hash, bytes. ARGV: key, value, max_bytes, max_keys.
/// Returns {1} or {0, bytes, keys} (over quota, nothing written).
static SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local h, b, k, v = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local keys = redis.call('HLEN', h)
local bytes = tonumber(redis.call('GET', b) or '0')
if redis.call('HEXISTS', h, k) == 1 then
  bytes = bytes - #k - redis.call('HSTRLEN', h, k)
else
  keys = keys + 1
end
bytes = bytes + #k + #v
if keys > tonumber(ARGV[4]) or bytes > tonumber(ARGV[3]) then return {0, bytes, keys} end
redis.call('HSET', h, k, v)
redis.call('SET', b, bytes)
return {1}
",
    )
});

/// KEYS: hash, bytes. ARGV: key.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local len = redis.call('HSTRLEN', KEYS[1], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2])
  else redis.call('DECRBY', KEYS[2], #ARGV[1] + len) end
end
return 1
",
    )
});

/// KEYS: hash, bytes. ARGV: key, delta, max_bytes, max_keys.
/// Returns {1, new value}, {0, bytes, keys} (over quota, nothing written),
/// {-1, 'integer'} (not a decimal integer) or {-1, 'overflow', old}.
static INCR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local h, b, k = KEYS[1], KEYS[2], ARGV[1]
local old = redis.call('HGET', h, k)
local r = redis.pcall('HINCRBY', h, k, ARGV[2])
if type(r) == 'table' and r.err then
  if string.find(r.err, 'overflow') then return {-1, 'overflow', old} end
  return {-1, 'integer'}
end
local keys = redis.call('HLEN', h)
local bytes = tonumber(redis.call('GET', b) or '0') + redis.call('HSTRLEN', h, k)
if old then bytes = bytes - #old else bytes = bytes + #k end
if keys > tonumber(ARGV[4]) or bytes > tonumber(ARGV[3]) then
  if old then redis.call('HSET', h, k, old) else redis.call('HDEL', h, k) end
  return {0, bytes, keys}
end
redis.call('SET', b, bytes)
return {1, redis.call('HGET', h, k)}
",
    )
});

impl RedisStore {
    fn kv_keys(&self, namespace: &str) -> (String, String) {
        (
            self.key(format_args!("kv:{namespace}")),
            self.key(format_args!("kv-bytes:{namespace}")),
        )
    }
}

#[async_trait]
impl KvStore for RedisStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (h, _) = self.kv_keys(namespace);
        self.call(|mut c| async move {
            ::redis::cmd("HGET")
                .arg(h)
                .arg(key)
                .query_async(&mut c)
                .await
        })
        .await
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        quota: KvQuota,
    ) -> Result<(), StoreError> {
        let (h, b) = self.kv_keys(namespace);
        let r: Vec<String> = self
            .call(|mut c| async move {
                SET.key(h)
                    .key(b)
                    .arg(key)
                    .arg(value)
                    .arg(quota.max_bytes)
                    .arg(quota.max_keys)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        match r.as_slice() {
            [ok] if ok == "1" => Ok(()),
            [_, bytes, keys] => Err(quota.refusal(bytes, keys)),
            _ => Err(StoreError::Backend(
                "redis: unexpected kv-set answer".into(),
            )),
        }
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        let (h, b) = self.kv_keys(namespace);
        self.call(|mut c| async move {
            DELETE
                .key(h)
                .key(b)
                .arg(key)
                .invoke_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn incr(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        quota: KvQuota,
    ) -> Result<i64, StoreError> {
        let (h, b) = self.kv_keys(namespace);
        let r: Vec<String> = self
            .call(|mut c| async move {
                INCR.key(h)
                    .key(b)
                    .arg(key)
                    .arg(delta)
                    .arg(quota.max_bytes)
                    .arg(quota.max_keys)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let r: Vec<&str> = r.iter().map(String::as_str).collect();
        match r.as_slice() {
            ["1", value] => value
                .parse()
                .map_err(|_| StoreError::Backend("redis: malformed counter".into())),
            ["0", bytes, keys] => Err(quota.refusal(bytes, keys)),
            ["-1", "overflow", old] => Err(StoreError::Invalid(format!(
                "kv-incr: {old} + {delta} overflows"
            ))),
            ["-1", ..] => Err(StoreError::Invalid(format!(
                "kv-incr: the value at {key:?} is not a decimal integer"
            ))),
            _ => Err(StoreError::Backend(
                "redis: unexpected kv-incr answer".into(),
            )),
        }
    }

    async fn export(&self) -> Result<Vec<KvEntry>, StoreError> {
        let mut entries = Vec::new();
        for h in self.scan("kv:").await? {
            let namespace = self.name_in(&h, "kv:").to_owned();
            let pairs: Vec<(String, Vec<u8>)> =
                self.call(|mut c| async move {
                    ::redis::cmd("HGETALL").arg(&h).query_async(&mut c).await
                })
                .await?;
            entries.extend(pairs.into_iter().map(|(key, value)| KvEntry {
                namespace: namespace.clone(),
                key,
                value,
            }));
        }
        entries.sort_by(|a, b| (&a.namespace, &a.key).cmp(&(&b.namespace, &b.key)));
        Ok(entries)
    }

    async fn import(&self, entries: &[KvEntry]) -> Result<(), StoreError> {
        let unlimited = KvQuota {
            max_bytes: u64::MAX,
            max_keys: u64::MAX,
        };
        for e in entries {
            self.set(&e.namespace, &e.key, &e.value, unlimited).await?;
        }
        Ok(())
    }
}
