//! `export`/`import` of every SQLite table, for `wxhost store migrate`:
//! reads in one statement per table, writes in one transaction per store,
//! ids kept (so menu and QR ids stay what users have seen).

use rusqlite::{OptionalExtension, params};

use super::{MENU_COLUMNS, QR_COLUMNS, SqliteStore, to_i64};
use crate::store::{
    KvEntry, MenuVersion, QrRecord, QrReservation, SessionRecord, StoreError, StoredToken,
    TokenRecord,
};

impl SqliteStore {
    pub(super) async fn export_kv(&self) -> Result<Vec<KvEntry>, StoreError> {
        self.run(|c| {
            let mut stmt =
                c.prepare("SELECT namespace, key, value FROM plugin_kv ORDER BY namespace, key")?;
            stmt.query_map([], |r| {
                Ok(KvEntry {
                    namespace: r.get(0)?,
                    key: r.get(1)?,
                    value: r.get(2)?,
                })
            })?
            .collect()
        })
        .await
    }

    pub(super) async fn import_kv(&self, entries: &[KvEntry]) -> Result<(), StoreError> {
        let entries = entries.to_vec();
        self.run(move |c| {
            let tx = c.transaction()?;
            for e in &entries {
                tx.execute(
                    "INSERT INTO plugin_kv (namespace, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
                    params![e.namespace, e.key, e.value, crate::store::now_secs()],
                )?;
            }
            // Usage as migration 3 computes it: from what is stored.
            tx.execute_batch(
                "DELETE FROM plugin_kv_usage;
                 INSERT INTO plugin_kv_usage (namespace, keys, bytes)
                    SELECT namespace, COUNT(*), SUM(length(CAST(key AS BLOB)) + length(value)) FROM plugin_kv GROUP BY namespace;",
            )?;
            tx.commit()
        })
        .await
    }

    pub(super) async fn export_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.run(|c| {
            let mut keys: Vec<String> = c
                .prepare("SELECT app_id FROM access_token UNION SELECT app_id FROM token_fetches")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            keys.sort();
            keys.into_iter()
                .map(|key| {
                    let token = c
                        .query_row(
                            "SELECT token, expires_at, fetched_at FROM access_token WHERE app_id = ?1",
                            params![key],
                            |r| {
                                Ok(StoredToken {
                                    token: r.get(0)?,
                                    expires_at: r.get(1)?,
                                    fetched_at: r.get(2)?,
                                })
                            },
                        )
                        .optional()?;
                    let fetches = c
                        .prepare("SELECT day, count FROM token_fetches WHERE app_id = ?1 ORDER BY day")?
                        .query_map(params![key], |r| {
                            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
                        })?
                        .collect::<rusqlite::Result<_>>()?;
                    Ok(TokenRecord { key, token, fetches })
                })
                .collect()
        })
        .await
    }

    pub(super) async fn import_tokens(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        let records = records.to_vec();
        self.run(move |c| {
            let tx = c.transaction()?;
            for r in &records {
                if let Some(t) = &r.token {
                    tx.execute(
                        "INSERT OR REPLACE INTO access_token (app_id, token, expires_at, fetched_at) VALUES (?1, ?2, ?3, ?4)",
                        params![r.key, t.token, t.expires_at, t.fetched_at],
                    )?;
                }
                for (day, n) in &r.fetches {
                    tx.execute(
                        "INSERT OR REPLACE INTO token_fetches (app_id, day, count) VALUES (?1, ?2, ?3)",
                        params![r.key, day, to_i64(*n)],
                    )?;
                }
            }
            tx.commit()
        })
        .await
    }

    pub(super) async fn import_menus(&self, versions: &[MenuVersion]) -> Result<(), StoreError> {
        let versions = versions.to_vec();
        self.run(move |c| {
            let tx = c.transaction()?;
            for v in &versions {
                tx.execute(
                    &format!("INSERT INTO menu_version ({MENU_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                    params![
                        v.id,
                        v.json,
                        v.note,
                        v.created_at,
                        v.published_at,
                        v.current,
                        v.conditional_menu_ids.join(","),
                        v.partial
                    ],
                )?;
            }
            tx.commit()
        })
        .await
    }

    pub(super) async fn export_reservations(&self) -> Result<Vec<QrReservation>, StoreError> {
        self.run(|c| {
            let mut stmt =
                c.prepare("SELECT id, scene, created_at FROM qrcode_reservation ORDER BY id")?;
            stmt.query_map([], |r| {
                Ok(QrReservation {
                    id: r.get(0)?,
                    scene: r.get(1)?,
                    created_at: r.get(2)?,
                })
            })?
            .collect()
        })
        .await
    }

    pub(super) async fn import_qrcodes(
        &self,
        codes: &[QrRecord],
        reservations: &[QrReservation],
    ) -> Result<(), StoreError> {
        let (codes, reservations) = (codes.to_vec(), reservations.to_vec());
        self.run(move |c| {
            let tx = c.transaction()?;
            for r in &codes {
                let q = &r.code;
                tx.execute(
                    &format!(
                        "INSERT INTO qrcode ({QR_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    ),
                    params![
                        r.id,
                        q.scene,
                        q.ticket,
                        q.url,
                        q.permanent,
                        q.expires_at.map(to_i64),
                        q.note,
                        to_i64(q.created_at)
                    ],
                )?;
            }
            for r in &reservations {
                tx.execute(
                    "INSERT INTO qrcode_reservation (id, scene, created_at) VALUES (?1, ?2, ?3)",
                    params![r.id, r.scene, r.created_at],
                )?;
            }
            tx.commit()
        })
        .await
    }

    pub(super) async fn export_sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let now = crate::store::now_millis();
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT realm, id, value, expires_ms FROM session WHERE expires_ms > ?1 ORDER BY realm, id",
            )?;
            stmt.query_map(params![now], |r| {
                Ok(SessionRecord {
                    realm: r.get(0)?,
                    id: r.get(1)?,
                    value: r.get(2)?,
                    expires_ms: r.get(3)?,
                })
            })?
            .collect()
        })
        .await
    }

    pub(super) async fn import_sessions(
        &self,
        records: &[SessionRecord],
    ) -> Result<(), StoreError> {
        let records = records.to_vec();
        self.run(move |c| {
            let tx = c.transaction()?;
            for r in &records {
                tx.execute(
                    "INSERT OR REPLACE INTO session (realm, id, value, expires_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![r.realm, r.id, r.value, r.expires_ms],
                )?;
            }
            tx.commit()
        })
        .await
    }
}
