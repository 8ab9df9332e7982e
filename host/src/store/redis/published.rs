//! [`PublishedPluginStore`] on Redis:
//! - `<p>plugin-blob:<digest>`: the component's bytes;
//! - `<p>plugin-history:<id>`: a list of the id's manifests as JSON, newest
//!   first, trimmed to [`HISTORY_KEPT`];
//! - `<p>plugin-current`: a hash, id → its newest manifest;
//! - `<p>plugin-blob-refs`: a hash, digest → how many kept manifests name it
//!   (a blob goes when the last one is trimmed);
//! - `<p>plugin-gen`: incremented by every publication.
//!
//! A publication is one script, so an instance never reads a manifest whose
//! blob is not there yet.

use std::sync::LazyLock;

use ::redis::Script;
use async_trait::async_trait;

use super::RedisStore;
use crate::store::published::HISTORY_KEPT;
use crate::store::{PluginManifest, PublishedPluginStore, StoreError};

/// KEYS: blob, history, current, gen, refs. ARGV: blob bytes, manifest
/// JSON, id, digest, how many manifests to keep, the blob keys' prefix.
static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[5], ARGV[4], 1)
redis.call('LPUSH', KEYS[2], ARGV[2])
local kept = tonumber(ARGV[5])
local dropped = redis.call('LRANGE', KEYS[2], kept, -1)
redis.call('LTRIM', KEYS[2], 0, kept - 1)
for _, m in ipairs(dropped) do
  local d = cjson.decode(m).digest
  if redis.call('HINCRBY', KEYS[5], d, -1) <= 0 then
    redis.call('HDEL', KEYS[5], d)
    redis.call('DEL', ARGV[6] .. d)
  end
end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[2])
return redis.call('INCR', KEYS[4])
",
    )
});

fn parse(json: &str) -> Result<PluginManifest, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Backend(format!("redis: malformed plugin manifest: {e}")))
}

impl RedisStore {
    fn blob_key(&self, digest: &str) -> String {
        self.key(format_args!("plugin-blob:{digest}"))
    }
}

#[async_trait]
impl PublishedPluginStore for RedisStore {
    async fn publish(&self, m: &PluginManifest, blob: &[u8]) -> Result<(), StoreError> {
        let json = serde_json::to_string(m)
            .map_err(|e| StoreError::Backend(format!("plugin manifest: {e}")))?;
        let keys = [
            self.blob_key(&m.digest),
            self.key(format_args!("plugin-history:{}", m.id)),
            self.key(format_args!("plugin-current")),
            self.key(format_args!("plugin-gen")),
            self.key(format_args!("plugin-blob-refs")),
        ];
        let blob_prefix = self.key(format_args!("plugin-blob:"));
        let _: i64 = self
            .call(|mut c| async move {
                let mut s = PUBLISH.prepare_invoke();
                for k in &keys {
                    s.key(k);
                }
                s.arg(blob)
                    .arg(&json)
                    .arg(&m.id)
                    .arg(&m.digest)
                    .arg(HISTORY_KEPT)
                    .arg(&blob_prefix)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(())
    }

    async fn current(&self) -> Result<Vec<PluginManifest>, StoreError> {
        let k = self.key(format_args!("plugin-current"));
        let all: Vec<(String, String)> = self
            .call(|mut c| async move { ::redis::cmd("HGETALL").arg(k).query_async(&mut c).await })
            .await?;
        let mut out = all
            .iter()
            .map(|(_, json)| parse(json))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn history(&self, id: &str) -> Result<Vec<PluginManifest>, StoreError> {
        let k = self.key(format_args!("plugin-history:{id}"));
        let all: Vec<String> = self
            .call(|mut c| async move {
                ::redis::cmd("LRANGE")
                    .arg(k)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        all.iter().map(|j| parse(j)).collect()
    }

    async fn blob(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let k = self.blob_key(digest);
        self.call(|mut c| async move { ::redis::cmd("GET").arg(k).query_async(&mut c).await })
            .await
    }

    async fn generation(&self) -> Result<u64, StoreError> {
        let k = self.key(format_args!("plugin-gen"));
        let g: Option<u64> = self
            .call(|mut c| async move { ::redis::cmd("GET").arg(k).query_async(&mut c).await })
            .await?;
        Ok(g.unwrap_or(0))
    }
}
