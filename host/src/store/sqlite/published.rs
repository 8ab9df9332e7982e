//! SQLite implementation of [`PublishedPluginStore`]: `plugin_blob`
//! (digest → bytes) and `plugin_manifest` (every publication, in `seq`
//! order; `seq` never goes back, so its maximum is the generation).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use crate::store::published::HISTORY_KEPT;
use crate::store::{PluginManifest, PublishedPluginStore, StoreError};

const COLUMNS: &str = "id, version, digest, who, when_ms";

fn manifest(r: &Row<'_>) -> rusqlite::Result<PluginManifest> {
    Ok(PluginManifest {
        id: r.get(0)?,
        version: r.get(1)?,
        digest: r.get(2)?,
        who: r.get(3)?,
        when_ms: r.get::<_, i64>(4)?.max(0) as u64,
    })
}

#[async_trait]
impl PublishedPluginStore for SqliteStore {
    async fn publish(&self, m: &PluginManifest, blob: &[u8]) -> Result<(), StoreError> {
        let (m, blob) = (m.clone(), blob.to_vec());
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT OR IGNORE INTO plugin_blob (digest, bytes) VALUES (?1, ?2)",
                params![m.digest, blob],
            )?;
            tx.execute(
                "INSERT INTO plugin_manifest (id, version, digest, who, when_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![m.id, m.version, m.digest, m.who, m.when_ms as i64],
            )?;
            // Older publications beyond the kept history go, and with them
            // the blobs no kept manifest names.
            tx.execute(
                "DELETE FROM plugin_manifest WHERE id = ?1 AND seq NOT IN
                 (SELECT seq FROM plugin_manifest WHERE id = ?1 ORDER BY seq DESC LIMIT ?2)",
                params![m.id, HISTORY_KEPT as i64],
            )?;
            tx.execute(
                "DELETE FROM plugin_blob WHERE digest NOT IN (SELECT digest FROM plugin_manifest)",
                [],
            )?;
            tx.commit()
        })
        .await
    }

    async fn current(&self) -> Result<Vec<PluginManifest>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM plugin_manifest m
                 WHERE seq = (SELECT MAX(seq) FROM plugin_manifest WHERE id = m.id)
                 ORDER BY id"
            ))?;
            stmt.query_map([], manifest)?.collect()
        })
        .await
    }

    async fn history(&self, id: &str) -> Result<Vec<PluginManifest>, StoreError> {
        let id = id.to_owned();
        self.run(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM plugin_manifest WHERE id = ?1 ORDER BY seq DESC"
            ))?;
            stmt.query_map([id], manifest)?.collect()
        })
        .await
    }

    async fn blob(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let digest = digest.to_owned();
        self.run(move |c| {
            c.query_row(
                "SELECT bytes FROM plugin_blob WHERE digest = ?1",
                [digest],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn generation(&self) -> Result<u64, StoreError> {
        self.run(|c| {
            c.query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM plugin_manifest",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .await
        .map(|g| g.max(0) as u64)
    }
}
