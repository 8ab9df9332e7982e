//! The default [`Store`]: one SQLite file in the data dir, schema by migrations.
//!
//! Several processes (the server and CLI commands) may open the same file;
//! WAL mode and a busy timeout make that safe, and every multi-statement
//! change is one transaction.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{MenuVersion, QrRecord, Store, StoreError, StoredToken, now_secs};
use crate::api::QrCode;

/// Schema history; each entry runs once, in order, recorded in `user_version`.
const MIGRATIONS: &[&str] = &[
    // 1: plugin key-value entries
    "CREATE TABLE plugin_kv (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (namespace, key)
    );",
    // 2: access_token cache, token fetch counter, menu versions, QR codes
    "CREATE TABLE access_token (
        app_id TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        fetched_at INTEGER NOT NULL
    );
    CREATE TABLE token_fetches (
        app_id TEXT NOT NULL,
        day TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (app_id, day)
    );
    CREATE TABLE menu_version (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        json TEXT NOT NULL,
        note TEXT,
        created_at INTEGER NOT NULL,
        published_at INTEGER,
        current INTEGER NOT NULL DEFAULT 0,
        conditional_menu_ids TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE qrcode (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scene TEXT NOT NULL,
        ticket TEXT NOT NULL,
        url TEXT NOT NULL,
        permanent INTEGER NOT NULL,
        expires_at INTEGER,
        note TEXT,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX qrcode_scene ON qrcode (scene, id);
    CREATE INDEX qrcode_ticket ON qrcode (ticket);",
];

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) `wxhost.db` in `data_dir` and migrates it.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Backend(format!("cannot create {}: {e}", data_dir.display()))
        })?;
        let conn = Connection::open(data_dir.join("wxhost.db")).map_err(backend)?;
        // WAL lets the CLI read while `serve` writes; the busy timeout covers
        // the moments two processes write at once.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(backend)?;
        Self::with_connection(conn)
    }

    /// A private in-memory database (tests, `plugin run`).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Self::with_connection(Connection::open_in_memory().map_err(backend)?)
    }

    fn with_connection(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` with the connection (a poisoned lock only means another
    /// caller panicked mid-call; SQLite's own transaction state is intact).
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(backend)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(backend)?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "database schema version {current} is newer than this wxhost ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        tx.pragma_update(None, "user_version", i + 1)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(())
}

const MENU_COLUMNS: &str =
    "id, json, note, created_at, published_at, current, conditional_menu_ids";

fn menu_row(r: &Row<'_>) -> rusqlite::Result<MenuVersion> {
    let ids: String = r.get(6)?;
    Ok(MenuVersion {
        id: r.get(0)?,
        json: r.get(1)?,
        note: r.get(2)?,
        created_at: r.get(3)?,
        published_at: r.get(4)?,
        current: r.get(5)?,
        conditional_menu_ids: ids
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

const QR_COLUMNS: &str = "id, scene, ticket, url, permanent, expires_at, note, created_at";

fn qr_row(r: &Row<'_>) -> rusqlite::Result<QrRecord> {
    let expires_at: Option<i64> = r.get(5)?;
    let created_at: i64 = r.get(7)?;
    Ok(QrRecord {
        id: r.get(0)?,
        code: QrCode {
            scene: r.get(1)?,
            ticket: r.get(2)?,
            url: r.get(3)?,
            permanent: r.get(4)?,
            expires_at: expires_at.map(|t| t.max(0) as u64),
            note: r.get(6)?,
            created_at: created_at.max(0) as u64,
        },
    })
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store for SqliteStore {
    fn kv_get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT value FROM plugin_kv WHERE namespace = ?1 AND key = ?2",
                params![namespace, key],
                |r| r.get(0),
            )
            .optional()
        })
    }

    fn kv_set(&self, namespace: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO plugin_kv (namespace, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![namespace, key, value, now_secs()],
            )
            .map(|_| ())
        })
    }

    fn kv_delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM plugin_kv WHERE namespace = ?1 AND key = ?2",
                params![namespace, key],
            )
            .map(|_| ())
        })
    }

    fn token_get(&self, app_id: &str) -> Result<Option<StoredToken>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT token, expires_at, fetched_at FROM access_token WHERE app_id = ?1",
                params![app_id],
                |r| {
                    Ok(StoredToken {
                        token: r.get(0)?,
                        expires_at: r.get(1)?,
                        fetched_at: r.get(2)?,
                    })
                },
            )
            .optional()
        })
    }

    fn token_put(&self, app_id: &str, token: &StoredToken, day: &str) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO access_token (app_id, token, expires_at, fetched_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (app_id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at, fetched_at = excluded.fetched_at",
                params![app_id, token.token, token.expires_at, token.fetched_at],
            )?;
            tx.execute(
                "INSERT INTO token_fetches (app_id, day, count) VALUES (?1, ?2, 1)
                 ON CONFLICT (app_id, day) DO UPDATE SET count = count + 1",
                params![app_id, day],
            )?;
            tx.commit()
        })
    }

    fn token_invalidate(&self, app_id: &str, token: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM access_token WHERE app_id = ?1 AND token = ?2",
                params![app_id, token],
            )
            .map(|n| n > 0)
        })
    }

    fn token_fetches(&self, app_id: &str, day: &str) -> Result<u64, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT count FROM token_fetches WHERE app_id = ?1 AND day = ?2",
                params![app_id, day],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|n| n.unwrap_or(0).max(0) as u64)
        })
    }

    fn menu_insert(&self, json: &str, note: Option<&str>) -> Result<i64, StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO menu_version (json, note, created_at) VALUES (?1, ?2, ?3)",
                params![json, note, now_secs()],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    fn menu_mark_published(
        &self,
        id: i64,
        conditional_menu_ids: &[String],
    ) -> Result<(), StoreError> {
        let n = self.with(|c| {
            let tx = c.transaction()?;
            tx.execute("UPDATE menu_version SET current = 0 WHERE current = 1", [])?;
            let n = tx.execute(
                "UPDATE menu_version SET current = 1, published_at = ?2, conditional_menu_ids = ?3 WHERE id = ?1",
                params![id, now_secs(), conditional_menu_ids.join(",")],
            )?;
            tx.commit()?;
            Ok(n)
        })?;
        if n == 0 {
            return Err(StoreError::Backend(format!("no menu version {id}")));
        }
        Ok(())
    }

    fn menu_clear_current(&self) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("UPDATE menu_version SET current = 0 WHERE current = 1", [])
                .map(|_| ())
        })
    }

    fn menu_get(&self, id: i64) -> Result<Option<MenuVersion>, StoreError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {MENU_COLUMNS} FROM menu_version WHERE id = ?1"),
                params![id],
                menu_row,
            )
            .optional()
        })
    }

    fn menu_current(&self) -> Result<Option<MenuVersion>, StoreError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {MENU_COLUMNS} FROM menu_version WHERE current = 1"),
                [],
                menu_row,
            )
            .optional()
        })
    }

    fn menu_history(&self) -> Result<Vec<MenuVersion>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {MENU_COLUMNS} FROM menu_version ORDER BY id DESC"
            ))?;
            stmt.query_map([], menu_row)?.collect()
        })
    }

    fn qrcode_insert(
        &self,
        code: &QrCode,
        permanent_limit: Option<u64>,
    ) -> Result<i64, StoreError> {
        let mut over: Option<(u64, u64)> = None;
        let id = self.with(|c| {
            // IMMEDIATE takes the write lock before counting, so two
            // processes cannot both see "one left" and both insert.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let (true, Some(limit)) = (code.permanent, permanent_limit) {
                let count: i64 = tx.query_row("SELECT COUNT(*) FROM qrcode WHERE permanent = 1", [], |r| r.get(0))?;
                let count = count.max(0) as u64;
                if count >= limit {
                    over = Some((count, limit));
                    return Ok(0);
                }
            }
            tx.execute(
                "INSERT INTO qrcode (scene, ticket, url, permanent, expires_at, note, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![code.scene, code.ticket, code.url, code.permanent, code.expires_at.map(to_i64), code.note, to_i64(code.created_at)],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(id)
        })?;
        match over {
            Some((count, limit)) => Err(StoreError::QuotaReached { count, limit }),
            None => Ok(id),
        }
    }

    fn qrcode_permanent_count(&self) -> Result<u64, StoreError> {
        self.with(|c| {
            c.query_row("SELECT COUNT(*) FROM qrcode WHERE permanent = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
        })
    }

    fn qrcode_by_scene_at(&self, scene: &str, now: i64) -> Result<Option<QrRecord>, StoreError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {QR_COLUMNS} FROM qrcode WHERE scene = ?1 AND (expires_at IS NULL OR expires_at > ?2) ORDER BY id DESC LIMIT 1"),
                params![scene, now],
                qr_row,
            )
            .optional()
        })
    }

    fn qrcode_permanent_by_scene(&self, scene: &str) -> Result<Option<QrRecord>, StoreError> {
        self.with(|c| {
            c.query_row(&format!("SELECT {QR_COLUMNS} FROM qrcode WHERE scene = ?1 AND permanent = 1 ORDER BY id DESC LIMIT 1"), params![scene], qr_row)
                .optional()
        })
    }

    fn qrcode_by_ticket(&self, ticket: &str) -> Result<Option<QrRecord>, StoreError> {
        self.with(|c| {
            c.query_row(
                &format!(
                    "SELECT {QR_COLUMNS} FROM qrcode WHERE ticket = ?1 ORDER BY id DESC LIMIT 1"
                ),
                params![ticket],
                qr_row,
            )
            .optional()
        })
    }

    fn qrcode_by_id(&self, id: i64) -> Result<Option<QrRecord>, StoreError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {QR_COLUMNS} FROM qrcode WHERE id = ?1"),
                params![id],
                qr_row,
            )
            .optional()
        })
    }

    fn qrcode_list(&self, limit: usize) -> Result<Vec<QrRecord>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {QR_COLUMNS} FROM qrcode ORDER BY id DESC LIMIT ?1"
            ))?;
            stmt.query_map(params![to_i64(limit as u64)], qr_row)?
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_is_namespaced_and_persistent() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SqliteStore::open(dir.path()).unwrap();
            s.kv_set("a", "k", b"1").unwrap();
            s.kv_set("b", "k", b"2").unwrap();
            s.kv_set("a", "k", b"3").unwrap();
        }
        let s = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(s.kv_get("a", "k").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(s.kv_get("b", "k").unwrap().as_deref(), Some(&b"2"[..]));
        s.kv_delete("a", "k").unwrap();
        assert_eq!(s.kv_get("a", "k").unwrap(), None);
    }

    #[test]
    fn token_is_compare_and_swap_and_counted() {
        let s = SqliteStore::open_in_memory().unwrap();
        let t1 = StoredToken {
            token: "one".into(),
            expires_at: 100,
            fetched_at: 1,
        };
        let t2 = StoredToken {
            token: "two".into(),
            expires_at: 200,
            fetched_at: 2,
        };
        s.token_put("app", &t1, "2024-01-01").unwrap();
        s.token_put("app", &t2, "2024-01-01").unwrap();
        assert_eq!(s.token_get("app").unwrap(), Some(t2.clone()));
        // A caller that failed with the old token must not drop the new one.
        assert!(!s.token_invalidate("app", "one").unwrap());
        assert_eq!(s.token_get("app").unwrap(), Some(t2));
        assert!(s.token_invalidate("app", "two").unwrap());
        assert_eq!(s.token_get("app").unwrap(), None);
        assert_eq!(s.token_fetches("app", "2024-01-01").unwrap(), 2);
        assert_eq!(s.token_fetches("app", "2024-01-02").unwrap(), 0);
        assert!(!format!("{t1:?}").contains("one"));
    }

    #[test]
    fn menu_versions_have_one_current() {
        let s = SqliteStore::open_in_memory().unwrap();
        let a = s.menu_insert("{\"button\":[]}", Some("first")).unwrap();
        let b = s.menu_insert("{}", None).unwrap();
        assert_eq!(s.menu_current().unwrap(), None);
        s.menu_mark_published(a, &[]).unwrap();
        s.menu_mark_published(b, &["1".into(), "2".into()]).unwrap();
        let cur = s.menu_current().unwrap().unwrap();
        assert_eq!(
            (cur.id, cur.conditional_menu_ids.clone()),
            (b, vec!["1".to_owned(), "2".to_owned()])
        );
        let h = s.menu_history().unwrap();
        assert_eq!(
            h.iter().map(|v| (v.id, v.current)).collect::<Vec<_>>(),
            vec![(b, true), (a, false)]
        );
        assert_eq!(h[1].note.as_deref(), Some("first"));
        assert!(h[1].published_at.is_some());
        s.menu_clear_current().unwrap();
        assert_eq!(s.menu_current().unwrap(), None);
        assert!(s.menu_mark_published(999, &[]).is_err());
    }

    fn qr(scene: &str, permanent: bool, expires_at: Option<u64>) -> QrCode {
        QrCode {
            scene: scene.into(),
            ticket: format!("t-{scene}"),
            url: "u".into(),
            permanent,
            expires_at,
            note: None,
            created_at: 1,
        }
    }

    #[test]
    fn qrcode_scene_lookup_and_quota() {
        let s = SqliteStore::open_in_memory().unwrap();
        s.qrcode_insert(&qr("a", false, Some(50)), None).unwrap();
        let newer = s.qrcode_insert(&qr("a", false, Some(200)), None).unwrap();
        s.qrcode_insert(&qr("a", false, Some(60)), None).unwrap();
        assert_eq!(
            s.qrcode_by_scene_at("a", 100).unwrap().map(|r| r.id),
            Some(newer)
        );
        assert_eq!(s.qrcode_by_scene_at("a", 300).unwrap(), None);
        s.qrcode_insert(&qr("p1", true, None), Some(2)).unwrap();
        s.qrcode_insert(&qr("p2", true, None), Some(2)).unwrap();
        let e = s.qrcode_insert(&qr("p3", true, None), Some(2)).unwrap_err();
        assert!(
            matches!(e, StoreError::QuotaReached { count: 2, limit: 2 }),
            "{e}"
        );
        assert_eq!(s.qrcode_permanent_count().unwrap(), 2);
        assert!(s.qrcode_by_scene_at("p1", i64::MAX).unwrap().is_some());
        assert_eq!(
            s.qrcode_permanent_by_scene("p2")
                .unwrap()
                .unwrap()
                .code
                .ticket,
            "t-p2"
        );
        assert_eq!(
            s.qrcode_by_ticket("t-p1").unwrap().unwrap().code.scene,
            "p1"
        );
        assert_eq!(s.qrcode_list(2).unwrap().len(), 2);
    }
}
