//! The default [`Store`]: one SQLite file in the data dir, schema by migrations.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError};

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
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", data_dir.display())))?;
        let conn = Connection::open(data_dir.join("wxhost.db")).map_err(backend)?;
        // WAL lets the CLI read while `serve` writes; the busy timeout covers
        // the moments two processes write at once.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(backend)?;
        Self::with_connection(conn)
    }

    /// A private in-memory database (tests, `plugin run`).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Self::with_connection(Connection::open_in_memory().map_err(backend)?)
    }

    fn with_connection(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        migrate(&mut conn)?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    /// Runs `f` with the connection (a poisoned lock only means another
    /// caller panicked mid-call; SQLite's own transaction state is intact).
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(backend)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(backend)?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!("database schema version {current} is newer than this wxhost ({})", MIGRATIONS.len())));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction().map_err(backend)?;
        tx.execute_batch(sql).map_err(backend)?;
        tx.pragma_update(None, "user_version", i + 1).map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(())
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Store for SqliteStore {
    fn kv_get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| {
            c.query_row("SELECT value FROM plugin_kv WHERE namespace = ?1 AND key = ?2", params![namespace, key], |r| r.get(0))
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
        self.with(|c| c.execute("DELETE FROM plugin_kv WHERE namespace = ?1 AND key = ?2", params![namespace, key]).map(|_| ()))
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
}
