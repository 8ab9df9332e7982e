//! The operator's stores ([`crate::store::operator`]) on Redis:
//! - the audit log is a sorted set `<p>audit` (score: id, member: the entry
//!   as JSON) with its ids from `<p>audit-seq`, appended by one script;
//! - scene counters are two hashes, `<p>scene-scans` and `<p>scene-follows`
//!   (scene → count), added to in one MULTI;
//! - plugins switched off are a set `<p>plugins-off`.

use std::collections::HashMap;
use std::sync::LazyLock;

use ::redis::Script;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::RedisStore;
use crate::store::{
    AuditEntry, AuditStore, PluginSwitchStore, SceneCounts, SceneStatsStore, StoreError,
};

/// KEYS: log, seq. ARGV: at, actor, action, detail. Returns the new id.
static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local id = redis.call('INCR', KEYS[2])
local entry = cjson.encode({id = id, at = tonumber(ARGV[1]), actor = ARGV[2], action = ARGV[3], detail = ARGV[4]})
redis.call('ZADD', KEYS[1], id, entry)
return id
",
    )
});

/// An audit entry as the sorted set holds it.
#[derive(Serialize, Deserialize)]
struct Stored {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    detail: String,
}

impl RedisStore {
    fn audit_keys(&self) -> (String, String) {
        (
            self.key(format_args!("audit")),
            self.key(format_args!("audit-seq")),
        )
    }

    fn scene_keys(&self) -> (String, String) {
        (
            self.key(format_args!("scene-scans")),
            self.key(format_args!("scene-follows")),
        )
    }

    fn switches_key(&self) -> String {
        self.key(format_args!("plugins-off"))
    }
}

fn entry(json: &str) -> Result<AuditEntry, StoreError> {
    let s: Stored = serde_json::from_str(json)
        .map_err(|e| StoreError::Backend(format!("redis: malformed audit entry: {e}")))?;
    Ok(AuditEntry {
        id: s.id,
        at: s.at,
        actor: s.actor,
        action: s.action,
        detail: s.detail,
    })
}

#[async_trait]
impl AuditStore for RedisStore {
    async fn append(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<i64, StoreError> {
        let (log, seq) = self.audit_keys();
        self.call(|mut c| async move {
            APPEND
                .key(log)
                .key(seq)
                .arg(at)
                .arg(actor)
                .arg(action)
                .arg(detail)
                .invoke_async(&mut c)
                .await
        })
        .await
    }

    async fn recent(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (log, _) = self.audit_keys();
        let stop = limit.min(i64::MAX as usize) as i64 - 1;
        let members: Vec<String> = self
            .call(|mut c| async move {
                ::redis::cmd("ZRANGE")
                    .arg(log)
                    .arg(0)
                    .arg(stop)
                    .arg("REV")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        members.iter().map(|m| entry(m)).collect()
    }

    async fn export(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let mut all = self.recent(usize::MAX).await?;
        all.reverse();
        Ok(all)
    }

    async fn import(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let (log, seq) = self.audit_keys();
        for e in entries {
            let json = serde_json::to_string(&Stored {
                id: e.id,
                at: e.at,
                actor: e.actor.clone(),
                action: e.action.clone(),
                detail: e.detail.clone(),
            })
            .map_err(|e| StoreError::Backend(format!("audit entry: {e}")))?;
            let (log, seq) = (&log, &seq);
            self.call(|mut c| async move {
                ::redis::pipe()
                    .atomic()
                    .cmd("ZADD")
                    .arg(log)
                    .arg(e.id)
                    .arg(json)
                    .ignore()
                    // Later appends continue after the imported ids.
                    .cmd("SET")
                    .arg(seq)
                    .arg(e.id)
                    .ignore()
                    .exec_async(&mut c)
                    .await
            })
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl SceneStatsStore for RedisStore {
    async fn add(&self, scene: &str, counts: SceneCounts) -> Result<(), StoreError> {
        let (scans, follows) = self.scene_keys();
        let (n_scans, n_follows) = (
            counts.scans.min(i64::MAX as u64) as i64,
            counts.follows.min(i64::MAX as u64) as i64,
        );
        self.call(|mut c| async move {
            ::redis::pipe()
                .atomic()
                .cmd("HINCRBY")
                .arg(scans)
                .arg(scene)
                .arg(n_scans)
                .ignore()
                .cmd("HINCRBY")
                .arg(follows)
                .arg(scene)
                .arg(n_follows)
                .ignore()
                .exec_async(&mut c)
                .await
        })
        .await
    }

    async fn counts(&self, scenes: &[String]) -> Result<HashMap<String, SceneCounts>, StoreError> {
        if scenes.is_empty() {
            return Ok(HashMap::new());
        }
        let (scans, follows) = self.scene_keys();
        let (s, f): (Vec<Option<u64>>, Vec<Option<u64>>) = self
            .call(|mut c| async move {
                ::redis::pipe()
                    .cmd("HMGET")
                    .arg(scans)
                    .arg(scenes)
                    .cmd("HMGET")
                    .arg(follows)
                    .arg(scenes)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(scenes
            .iter()
            .zip(s.into_iter().zip(f))
            .filter(|(_, (s, f))| s.is_some() || f.is_some())
            .map(|(scene, (s, f))| {
                let counts = SceneCounts {
                    scans: s.unwrap_or(0),
                    follows: f.unwrap_or(0),
                };
                (scene.clone(), counts)
            })
            .collect())
    }

    async fn export(&self) -> Result<Vec<(String, SceneCounts)>, StoreError> {
        let (scans, follows) = self.scene_keys();
        let scenes: Vec<String> = self
            .call(|mut c| async move {
                ::redis::pipe()
                    .cmd("HKEYS")
                    .arg(scans)
                    .cmd("HKEYS")
                    .arg(follows)
                    .query_async::<(Vec<String>, Vec<String>)>(&mut c)
                    .await
                    .map(|(mut a, b)| {
                        a.extend(b);
                        a
                    })
            })
            .await?;
        let mut scenes = scenes;
        scenes.sort();
        scenes.dedup();
        let counts = self.counts(&scenes).await?;
        Ok(scenes
            .into_iter()
            .filter_map(|s| counts.get(&s).map(|c| (s, *c)))
            .collect())
    }

    async fn import(&self, stats: &[(String, SceneCounts)]) -> Result<(), StoreError> {
        for (scene, counts) in stats {
            self.add(scene, *counts).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl PluginSwitchStore for RedisStore {
    async fn disabled(&self) -> Result<Vec<String>, StoreError> {
        let k = self.switches_key();
        let mut ids: Vec<String> = self
            .call(|mut c| async move { ::redis::cmd("SMEMBERS").arg(k).query_async(&mut c).await })
            .await?;
        ids.sort();
        Ok(ids)
    }

    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<(), StoreError> {
        let k = self.switches_key();
        let command = if enabled { "SREM" } else { "SADD" };
        self.call(|mut c| async move {
            ::redis::cmd(command)
                .arg(k)
                .arg(id)
                .exec_async(&mut c)
                .await
        })
        .await
    }
}
