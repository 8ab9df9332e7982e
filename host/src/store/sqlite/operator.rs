//! SQLite implementations of the operator's stores ([`super::super::operator`]).

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteStore;
use crate::store::{
    AuditEntry, AuditStore, PluginSwitchStore, SceneCounts, SceneStatsStore, StoreError,
};

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<i64, StoreError> {
        let (actor, action, detail) = (actor.to_owned(), action.to_owned(), detail.to_owned());
        self.run(move |c| {
            c.execute(
                "INSERT INTO audit_log (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)",
                params![at, actor, action, detail],
            )?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    async fn recent(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT ?1",
            )?;
            stmt.query_map(params![limit], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn export(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let mut all = AuditStore::recent(self, usize::MAX).await?;
        all.reverse();
        Ok(all)
    }

    async fn import(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let entries = entries.to_vec();
        self.run(move |c| {
            let tx = c.transaction()?;
            for e in &entries {
                tx.execute(
                    "INSERT INTO audit_log (id, at, actor, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![e.id, e.at, e.actor, e.action, e.detail],
                )?;
            }
            tx.commit()
        })
        .await
    }
}

#[async_trait]
impl SceneStatsStore for SqliteStore {
    async fn add(&self, scene: &str, counts: SceneCounts) -> Result<(), StoreError> {
        let scene = scene.to_owned();
        let (scans, follows) = (
            counts.scans.min(i64::MAX as u64) as i64,
            counts.follows.min(i64::MAX as u64) as i64,
        );
        self.run(move |c| {
            c.execute(
                "INSERT INTO qrcode_scene_stats (scene, scans, follows) VALUES (?1, ?2, ?3)
                 ON CONFLICT (scene) DO UPDATE SET scans = scans + excluded.scans, follows = follows + excluded.follows",
                params![scene, scans, follows],
            )
            .map(|_| ())
        })
        .await
    }

    async fn counts(&self, scenes: &[String]) -> Result<HashMap<String, SceneCounts>, StoreError> {
        let scenes = scenes.to_vec();
        self.run(move |c| {
            let mut stmt =
                c.prepare("SELECT scans, follows FROM qrcode_scene_stats WHERE scene = ?1")?;
            let mut out = HashMap::new();
            for scene in scenes {
                let mut rows = stmt.query(params![scene])?;
                if let Some(r) = rows.next()? {
                    let (scans, follows): (i64, i64) = (r.get(0)?, r.get(1)?);
                    out.insert(
                        scene,
                        SceneCounts {
                            scans: scans.max(0) as u64,
                            follows: follows.max(0) as u64,
                        },
                    );
                }
            }
            Ok(out)
        })
        .await
    }

    async fn export(&self) -> Result<Vec<(String, SceneCounts)>, StoreError> {
        self.run(|c| {
            let mut stmt =
                c.prepare("SELECT scene, scans, follows FROM qrcode_scene_stats ORDER BY scene")?;
            stmt.query_map([], |r| {
                let (scans, follows): (i64, i64) = (r.get(1)?, r.get(2)?);
                Ok((
                    r.get(0)?,
                    SceneCounts {
                        scans: scans.max(0) as u64,
                        follows: follows.max(0) as u64,
                    },
                ))
            })?
            .collect()
        })
        .await
    }

    async fn import(&self, stats: &[(String, SceneCounts)]) -> Result<(), StoreError> {
        for (scene, counts) in stats {
            SceneStatsStore::add(self, scene, *counts).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl PluginSwitchStore for SqliteStore {
    async fn disabled(&self) -> Result<Vec<String>, StoreError> {
        self.run(|c| {
            let mut stmt =
                c.prepare("SELECT id FROM plugin_switch WHERE enabled = 0 ORDER BY id")?;
            stmt.query_map([], |r| r.get(0))?.collect()
        })
        .await
    }

    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.run(move |c| {
            c.execute(
                "INSERT INTO plugin_switch (id, enabled, changed_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, changed_at = excluded.changed_at",
                params![id, enabled, crate::store::now_secs()],
            )
            .map(|_| ())
        })
        .await
    }
}
