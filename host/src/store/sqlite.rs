//! The default backend: one SQLite file in the data dir, schema by migrations.
//!
//! - Off the async workers: every statement runs on tokio's blocking pool,
//!   behind one connection (SQLite has one writer at a time anyway), so a
//!   slow disk or a lock held by another process never stalls a worker.
//! - Several processes (the server and CLI commands) may open the same file:
//!   WAL mode lets readers run beside the writer, the busy timeout covers the
//!   moments two processes write at once, and every multi-statement change is
//!   one transaction. `synchronous=NORMAL` is WAL's durable-enough setting:
//!   a power cut may lose the last commits, never corrupt the file.
//! - Private: the data dir is created 0700 and the database 0600 (SQLite
//!   gives its `-wal`/`-shm` files the database's mode), because it holds the
//!   live access_token.
//! - An account's scope ([`SqliteStore::open_lazy`]) opens its file on first
//!   use, on the blocking pool: a deployment of many accounts starts without
//!   opening (or creating) a database for each.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

mod accounts;
mod operator;
mod published;
mod schedules;

use super::{
    KvEntry, KvQuota, KvStore, MenuStore, MenuVersion, QrCode, QrRecord, QrReservation, QrStore,
    RESERVATION_TTL_SECS, Reservation, SessionRecord, SessionStore, StoreError, StoredToken,
    TokenRecord, TokenStore, WebUser, WebUserLogin, WebUserStore, now_millis, now_secs,
};

mod export;

/// How long a statement waits for another process's write lock. Writes are
/// single small transactions, so this only has to outlast one of them; it is
/// kept well inside the 5 s push budget.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(1000);

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
    // 3: per-namespace kv usage, kept with every write (quota checks)
    "CREATE TABLE plugin_kv_usage (
        namespace TEXT PRIMARY KEY,
        keys INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    );
    INSERT INTO plugin_kv_usage (namespace, keys, bytes)
        SELECT namespace, COUNT(*), SUM(length(CAST(key AS BLOB)) + length(value)) FROM plugin_kv GROUP BY namespace;",
    // 4: permanent QR code quota slots taken before calling WeChat
    "CREATE TABLE qrcode_reservation (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scene TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    );",
    // 5: what is live after a menu push that stopped halfway
    "ALTER TABLE menu_version ADD COLUMN partial TEXT;",
    // 6: fetch locks (one credential fetch across processes)
    "CREATE TABLE fetch_lock (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_ms INTEGER NOT NULL
    );",
    // 7: short-lived records (sessions, OAuth states)
    "CREATE TABLE session (
        realm TEXT NOT NULL,
        id TEXT NOT NULL,
        value BLOB NOT NULL,
        expires_ms INTEGER NOT NULL,
        PRIMARY KEY (realm, id)
    );
    CREATE INDEX session_expiry ON session (expires_ms);",
    // 8: web users (OAuth logins)
    "CREATE TABLE web_user (
        openid TEXT PRIMARY KEY,
        unionid TEXT,
        nickname TEXT,
        avatar_url TEXT,
        scope TEXT NOT NULL,
        snapshot INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    );",
    // 9: the operator's side: audit log, scans/follows per QR scene,
    // plugins switched off in the admin console
    "CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE TABLE qrcode_scene_stats (
        scene TEXT PRIMARY KEY,
        scans INTEGER NOT NULL,
        follows INTEGER NOT NULL
    );
    CREATE TABLE plugin_switch (
        id TEXT PRIMARY KEY,
        enabled INTEGER NOT NULL,
        changed_at INTEGER NOT NULL
    );",
    // 10: accounts added at runtime (credentials sealed by the caller)
    "CREATE TABLE runtime_account (
        name TEXT PRIMARY KEY,
        settings TEXT NOT NULL,
        secrets BLOB NOT NULL,
        updated_ms INTEGER NOT NULL
    );",
    // 11: plugins published to the store: blobs by digest, and every
    // publication of each id (the newest is served)
    "CREATE TABLE plugin_blob (
        digest TEXT PRIMARY KEY,
        bytes BLOB NOT NULL
    );
    CREATE TABLE plugin_manifest (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        version TEXT NOT NULL,
        digest TEXT NOT NULL,
        who TEXT NOT NULL,
        when_ms INTEGER NOT NULL
    );
    CREATE INDEX plugin_manifest_id ON plugin_manifest (id, seq);",
    // 12: scheduled runs: the last tick each schedule handled, recent runs
    "CREATE TABLE schedule_tick (
        key TEXT PRIMARY KEY,
        tick_ms INTEGER NOT NULL
    );
    CREATE TABLE schedule_run (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        json TEXT NOT NULL
    );",
];

pub struct SqliteStore {
    conn: Arc<Lazy>,
}

/// The connection, opened at once or on first use.
struct Lazy {
    conn: OnceLock<Mutex<Connection>>,
    /// Where to open it on first use (`None`: opened at once).
    data_dir: Option<PathBuf>,
    /// One opener at a time; a failed open is tried again on the next use.
    opening: Mutex<()>,
}

impl Lazy {
    /// The connection, opened now if it is not yet (blocking: call it on
    /// the blocking pool).
    fn get(&self) -> Result<&Mutex<Connection>, StoreError> {
        if let Some(c) = self.conn.get() {
            return Ok(c);
        }
        let _one = self.opening.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = self.conn.get() {
            return Ok(c);
        }
        let dir = self
            .data_dir
            .as_deref()
            .ok_or_else(|| StoreError::Backend("no database to open".into()))?;
        let conn = open_file(dir)?;
        Ok(self.conn.get_or_init(|| Mutex::new(conn)))
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) `wxhost.db` in `data_dir` and migrates it.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        Ok(Self::with_connection(open_file(data_dir)?))
    }

    /// `wxhost.db` in `data_dir`, opened (created, migrated) on first use;
    /// a failure then is that call's error, and the next call tries again.
    pub fn open_lazy(data_dir: &Path) -> SqliteStore {
        SqliteStore {
            conn: Arc::new(Lazy {
                conn: OnceLock::new(),
                data_dir: Some(data_dir.to_owned()),
                opening: Mutex::new(()),
            }),
        }
    }

    /// A private in-memory database (tests, `plugin run`).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let mut conn = Connection::open_in_memory().map_err(backend)?;
        migrate(&mut conn)?;
        Ok(Self::with_connection(conn))
    }

    fn with_connection(conn: Connection) -> SqliteStore {
        SqliteStore {
            conn: Arc::new(Lazy {
                conn: OnceLock::from(Mutex::new(conn)),
                data_dir: None,
                opening: Mutex::new(()),
            }),
        }
    }

    /// Runs `f` with the connection on the blocking pool. (A poisoned lock
    /// only means another caller panicked mid-call; SQLite's own transaction
    /// state is intact.)
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.get()?.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn).map_err(backend)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("storage task failed: {e}")))?
    }

    /// Runs a hot read (a kv or session lookup, once per push or page
    /// view) on this thread when the connection is free, without waiting
    /// for any lock (busy timeout 0): a WAL read needs no writer's lock, so
    /// it takes microseconds, and the two thread hand-offs of
    /// [`SqliteStore::run`] cost more than the read. Busy (another process
    /// checkpointing, a connection in use here) goes the [`SqliteStore::run`]
    /// way, so an async worker never waits.
    async fn read<T: Send + 'static>(
        &self,
        f: impl Fn(&mut Connection) -> rusqlite::Result<T> + Send + Sync + 'static,
    ) -> Result<T, StoreError> {
        if let Some(Ok(mut conn)) = self.conn.conn.get().map(Mutex::try_lock) {
            conn.busy_timeout(Duration::ZERO).map_err(backend)?;
            let r = f(&mut conn);
            conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
            match r {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(
                        e.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) => {}
                r => return r.map_err(backend),
            }
        }
        self.run(move |c| f(c)).await
    }
}

/// Opens (creating if needed) `wxhost.db` in `data_dir`, private, in WAL
/// mode, and migrates it.
fn open_file(data_dir: &Path) -> Result<Connection, StoreError> {
    crate::fsutil::create_private_dir(data_dir)
        .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", data_dir.display())))?;
    let path = data_dir.join("wxhost.db");
    crate::fsutil::make_private_file(&path)
        .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
    let mut conn = Connection::open(&path).map_err(backend)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(backend)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(backend)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    apply_migrations(conn, MIGRATIONS, "database")
}

/// Applies the pending of `migrations` (the schema version is SQLite's
/// `user_version`; `what` names the file in errors). The version is read
/// inside an IMMEDIATE transaction (which takes the write lock first), so
/// two processes starting together on a fresh file never both run
/// migration 1. Every SQLite file of the host migrates this way.
pub(crate) fn apply_migrations(
    conn: &mut Connection,
    migrations: &[&str],
    what: &str,
) -> Result<(), StoreError> {
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let current: usize = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(backend)?;
        if current > migrations.len() {
            return Err(StoreError::Backend(format!(
                "{what} schema version {current} is newer than this wxhost ({})",
                migrations.len()
            )));
        }
        let Some(sql) = migrations.get(current) else {
            return Ok(());
        };
        tx.execute_batch(sql).map_err(backend)?;
        tx.pragma_update(None, "user_version", current + 1)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
}

const MENU_COLUMNS: &str =
    "id, json, note, created_at, published_at, current, conditional_menu_ids, partial";

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
        partial: r.get(7)?,
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

/// Writes `value` at (namespace, key) within `quota`, keeping the usage row
/// in step, in the caller's transaction.
fn kv_write(
    tx: &rusqlite::Transaction<'_>,
    ns: &str,
    key: &str,
    value: &[u8],
    quota: KvQuota,
) -> rusqlite::Result<Result<(), StoreError>> {
    let old: Option<i64> = tx
        .query_row(
            "SELECT length(value) FROM plugin_kv WHERE namespace = ?1 AND key = ?2",
            params![ns, key],
            |r| r.get(0),
        )
        .optional()?;
    let (keys, bytes): (i64, i64) = tx
        .query_row(
            "SELECT keys, bytes FROM plugin_kv_usage WHERE namespace = ?1",
            params![ns],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, 0));
    let entry = |len: i64| key.len() as i64 + len;
    let new_keys = keys + i64::from(old.is_none());
    let new_bytes = bytes - old.map_or(0, entry) + entry(value.len() as i64);
    if new_keys as u64 > quota.max_keys || new_bytes as u64 > quota.max_bytes {
        return Ok(Err(quota.refusal(new_bytes, new_keys)));
    }
    tx.execute(
        "INSERT INTO plugin_kv (namespace, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![ns, key, value, now_secs()],
    )?;
    tx.execute(
        "INSERT INTO plugin_kv_usage (namespace, keys, bytes) VALUES (?1, ?2, ?3)
         ON CONFLICT (namespace) DO UPDATE SET keys = excluded.keys, bytes = excluded.bytes",
        params![ns, new_keys, new_bytes],
    )?;
    Ok(Ok(()))
}

#[async_trait]
impl KvStore for SqliteStore {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (ns, key) = (namespace.to_owned(), key.to_owned());
        self.read(move |c| {
            c.prepare_cached("SELECT value FROM plugin_kv WHERE namespace = ?1 AND key = ?2")?
                .query_row(params![ns, key], |r| r.get(0))
                .optional()
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
        let (ns, key, value) = (namespace.to_owned(), key.to_owned(), value.to_vec());
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let r = kv_write(&tx, &ns, &key, &value, quota)?;
            tx.commit()?;
            Ok(r)
        })
        .await?
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        let (ns, key) = (namespace.to_owned(), key.to_owned());
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let old: Option<i64> = tx
                .query_row(
                    "DELETE FROM plugin_kv WHERE namespace = ?1 AND key = ?2 RETURNING length(value)",
                    params![ns, key],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(len) = old {
                tx.execute(
                    "UPDATE plugin_kv_usage SET keys = keys - 1, bytes = bytes - ?2 WHERE namespace = ?1",
                    params![ns, key.len() as i64 + len],
                )?;
            }
            tx.commit()
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
        let (ns, key) = (namespace.to_owned(), key.to_owned());
        self.run(move |c| {
            // IMMEDIATE: the read and the write are one step for every
            // process, so no increment is lost.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let old: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT value FROM plugin_kv WHERE namespace = ?1 AND key = ?2",
                    params![ns, key],
                    |r| r.get(0),
                )
                .optional()?;
            let current = match old.as_deref().map(parse_counter) {
                None => 0,
                Some(Some(n)) => n,
                Some(None) => {
                    return Ok(Err(StoreError::Invalid(format!(
                        "kv-incr: the value at {key:?} is not a decimal integer"
                    ))));
                }
            };
            let Some(new) = current.checked_add(delta) else {
                return Ok(Err(StoreError::Invalid(format!(
                    "kv-incr: {current} + {delta} overflows"
                ))));
            };
            if let Err(e) = kv_write(&tx, &ns, &key, new.to_string().as_bytes(), quota)? {
                return Ok(Err(e));
            }
            tx.commit()?;
            Ok(Ok(new))
        })
        .await?
    }

    async fn export(&self) -> Result<Vec<KvEntry>, StoreError> {
        self.export_kv().await
    }

    async fn import(&self, entries: &[KvEntry]) -> Result<(), StoreError> {
        self.import_kv(entries).await
    }
}

/// A counter as `kv-incr` stores it: decimal text.
fn parse_counter(v: &[u8]) -> Option<i64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<StoredToken>, StoreError> {
        let key = key.to_owned();
        self.run(move |c| {
            c.query_row(
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
            .optional()
        })
        .await
    }

    async fn put(&self, key: &str, token: &StoredToken, day: &str) -> Result<(), StoreError> {
        let (key, token, day) = (key.to_owned(), token.clone(), day.to_owned());
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO access_token (app_id, token, expires_at, fetched_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (app_id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at, fetched_at = excluded.fetched_at",
                params![key, token.token, token.expires_at, token.fetched_at],
            )?;
            tx.execute(
                "INSERT INTO token_fetches (app_id, day, count) VALUES (?1, ?2, 1)
                 ON CONFLICT (app_id, day) DO UPDATE SET count = count + 1",
                params![key, day],
            )?;
            tx.commit()
        })
        .await
    }

    async fn invalidate(&self, key: &str, token: &str) -> Result<bool, StoreError> {
        let (key, token) = (key.to_owned(), token.to_owned());
        self.run(move |c| {
            c.execute(
                "DELETE FROM access_token WHERE app_id = ?1 AND token = ?2",
                params![key, token],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn fetches(&self, key: &str, day: &str) -> Result<u64, StoreError> {
        let (key, day) = (key.to_owned(), day.to_owned());
        self.run(move |c| {
            c.query_row(
                "SELECT count FROM token_fetches WHERE app_id = ?1 AND day = ?2",
                params![key, day],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|n| n.unwrap_or(0).max(0) as u64)
        })
        .await
    }

    async fn try_lock(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        let now = now_millis();
        let until = now + ttl.as_millis() as i64;
        self.run(move |c| {
            // One statement: taken if free, expired, or already ours.
            c.execute(
                "INSERT INTO fetch_lock (name, holder, expires_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
                 WHERE fetch_lock.expires_ms <= ?4 OR fetch_lock.holder = excluded.holder",
                params![name, holder, until, now],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn unlock(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.run(move |c| {
            c.execute(
                "DELETE FROM fetch_lock WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )
            .map(|_| ())
        })
        .await
    }

    async fn export(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.export_tokens().await
    }

    async fn import(&self, records: &[TokenRecord]) -> Result<(), StoreError> {
        self.import_tokens(records).await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn put(
        &self,
        realm: &str,
        id: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let (realm, id, value) = (realm.to_owned(), id.to_owned(), value.to_vec());
        let now = now_millis();
        let until = now + ttl.as_millis() as i64;
        self.run(move |c| {
            let tx = c.transaction()?;
            // Expired records go as new ones come: the table stays the size
            // of what is live.
            tx.execute("DELETE FROM session WHERE expires_ms <= ?1", params![now])?;
            tx.execute(
                "INSERT INTO session (realm, id, value, expires_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (realm, id) DO UPDATE SET value = excluded.value, expires_ms = excluded.expires_ms",
                params![realm, id, value, until],
            )?;
            tx.commit()
        })
        .await
    }

    async fn get(&self, realm: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (realm, id) = (realm.to_owned(), id.to_owned());
        let now = now_millis();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT value FROM session WHERE realm = ?1 AND id = ?2 AND expires_ms > ?3",
            )?
            .query_row(params![realm, id, now], |r| r.get(0))
            .optional()
        })
        .await
    }

    async fn take(&self, realm: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (realm, id) = (realm.to_owned(), id.to_owned());
        let now = now_millis();
        self.run(move |c| {
            let value: Option<(Vec<u8>, i64)> = c
                .query_row(
                    "DELETE FROM session WHERE realm = ?1 AND id = ?2 RETURNING value, expires_ms",
                    params![realm, id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            Ok(value.filter(|(_, exp)| *exp > now).map(|(v, _)| v))
        })
        .await
    }

    async fn claim(&self, realm: &str, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let (realm, id) = (realm.to_owned(), id.to_owned());
        let now = now_millis();
        let until = now + ttl.as_millis() as i64;
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM session WHERE expires_ms <= ?1", params![now])?;
            let stored = tx.execute(
                "INSERT INTO session (realm, id, value, expires_ms) VALUES (?1, ?2, x'', ?3)
                 ON CONFLICT (realm, id) DO NOTHING",
                params![realm, id, until],
            )?;
            tx.commit()?;
            Ok(stored > 0)
        })
        .await
    }

    async fn delete(&self, realm: &str, id: &str) -> Result<(), StoreError> {
        let (realm, id) = (realm.to_owned(), id.to_owned());
        self.run(move |c| {
            c.execute(
                "DELETE FROM session WHERE realm = ?1 AND id = ?2",
                params![realm, id],
            )
            .map(|_| ())
        })
        .await
    }

    async fn export(&self) -> Result<Vec<SessionRecord>, StoreError> {
        self.export_sessions().await
    }

    async fn import(&self, records: &[SessionRecord]) -> Result<(), StoreError> {
        self.import_sessions(records).await
    }
}

const WEB_USER_COLUMNS: &str =
    "openid, unionid, nickname, avatar_url, scope, snapshot, first_seen, last_seen";

fn web_user_row(r: &Row<'_>) -> rusqlite::Result<WebUser> {
    Ok(WebUser {
        openid: r.get(0)?,
        unionid: r.get(1)?,
        nickname: r.get(2)?,
        avatar_url: r.get(3)?,
        scope: r.get(4)?,
        snapshot: r.get(5)?,
        first_seen: r.get(6)?,
        last_seen: r.get(7)?,
    })
}

#[async_trait]
impl WebUserStore for SqliteStore {
    async fn record_login(&self, login: &WebUserLogin, now: i64) -> Result<WebUser, StoreError> {
        let l = login.clone();
        self.run(move |c| {
            // One statement: the upsert and the read-back are atomic.
            c.query_row(
                &format!(
                    "INSERT INTO web_user ({WEB_USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                     ON CONFLICT (openid) DO UPDATE SET
                        unionid = COALESCE(excluded.unionid, unionid),
                        nickname = COALESCE(excluded.nickname, nickname),
                        avatar_url = COALESCE(excluded.avatar_url, avatar_url),
                        scope = excluded.scope,
                        snapshot = excluded.snapshot,
                        last_seen = excluded.last_seen
                     RETURNING {WEB_USER_COLUMNS}"
                ),
                params![l.openid, l.unionid, l.nickname, l.avatar_url, l.scope, l.snapshot, now],
                web_user_row,
            )
        })
        .await
    }

    async fn get(&self, openid: &str) -> Result<Option<WebUser>, StoreError> {
        let openid = openid.to_owned();
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {WEB_USER_COLUMNS} FROM web_user WHERE openid = ?1"),
                params![openid],
                web_user_row,
            )
            .optional()
        })
        .await
    }

    async fn export(&self) -> Result<Vec<WebUser>, StoreError> {
        self.run(|c| {
            c.prepare(&format!(
                "SELECT {WEB_USER_COLUMNS} FROM web_user ORDER BY openid"
            ))?
            .query_map([], web_user_row)?
            .collect()
        })
        .await
    }

    async fn import(&self, users: &[WebUser]) -> Result<(), StoreError> {
        let users = users.to_vec();
        self.run(move |c| {
            let tx = c.transaction()?;
            for u in &users {
                tx.execute(
                    &format!(
                        "INSERT OR REPLACE INTO web_user ({WEB_USER_COLUMNS})
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    ),
                    params![
                        u.openid,
                        u.unionid,
                        u.nickname,
                        u.avatar_url,
                        u.scope,
                        u.snapshot,
                        u.first_seen,
                        u.last_seen
                    ],
                )?;
            }
            tx.commit()
        })
        .await
    }
}

#[async_trait]
impl MenuStore for SqliteStore {
    async fn insert(&self, json: &str, note: Option<&str>) -> Result<i64, StoreError> {
        let (json, note) = (json.to_owned(), note.map(str::to_owned));
        self.run(move |c| {
            c.execute(
                "INSERT INTO menu_version (json, note, created_at) VALUES (?1, ?2, ?3)",
                params![json, note, now_secs()],
            )?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    async fn mark_published(
        &self,
        id: i64,
        conditional_menu_ids: &[String],
    ) -> Result<(), StoreError> {
        let ids = conditional_menu_ids.join(",");
        let n = self
            .run(move |c| {
                let tx = c.transaction()?;
                tx.execute("UPDATE menu_version SET current = 0 WHERE current = 1", [])?;
                let n = tx.execute(
                    "UPDATE menu_version SET current = 1, published_at = ?2, conditional_menu_ids = ?3, partial = NULL WHERE id = ?1",
                    params![id, now_secs(), ids],
                )?;
                tx.commit()?;
                Ok(n)
            })
            .await?;
        if n == 0 {
            return Err(StoreError::Backend(format!("no menu version {id}")));
        }
        Ok(())
    }

    async fn mark_partial(
        &self,
        id: i64,
        conditional_menu_ids: &[String],
        partial: &str,
    ) -> Result<(), StoreError> {
        let (ids, partial) = (conditional_menu_ids.join(","), partial.to_owned());
        let n = self
            .run(move |c| {
                let tx = c.transaction()?;
                tx.execute("UPDATE menu_version SET current = 0 WHERE current = 1", [])?;
                let n = tx.execute(
                    "UPDATE menu_version SET current = 1, conditional_menu_ids = ?2, partial = ?3 WHERE id = ?1",
                    params![id, ids, partial],
                )?;
                tx.commit()?;
                Ok(n)
            })
            .await?;
        if n == 0 {
            return Err(StoreError::Backend(format!("no menu version {id}")));
        }
        Ok(())
    }

    async fn clear_current(&self) -> Result<(), StoreError> {
        self.run(|c| {
            c.execute("UPDATE menu_version SET current = 0 WHERE current = 1", [])
                .map(|_| ())
        })
        .await
    }

    async fn get(&self, id: i64) -> Result<Option<MenuVersion>, StoreError> {
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {MENU_COLUMNS} FROM menu_version WHERE id = ?1"),
                params![id],
                menu_row,
            )
            .optional()
        })
        .await
    }

    async fn current(&self) -> Result<Option<MenuVersion>, StoreError> {
        self.run(|c| {
            c.query_row(
                &format!("SELECT {MENU_COLUMNS} FROM menu_version WHERE current = 1"),
                [],
                menu_row,
            )
            .optional()
        })
        .await
    }

    async fn history(&self) -> Result<Vec<MenuVersion>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {MENU_COLUMNS} FROM menu_version ORDER BY id DESC"
            ))?;
            stmt.query_map([], menu_row)?.collect()
        })
        .await
    }

    async fn import(&self, versions: &[MenuVersion]) -> Result<(), StoreError> {
        self.import_menus(versions).await
    }
}

#[async_trait]
impl QrStore for SqliteStore {
    async fn insert(&self, code: &QrCode, permanent_limit: Option<u64>) -> Result<i64, StoreError> {
        let code = code.clone();
        let result = self
            .run(move |c| {
                // IMMEDIATE takes the write lock before counting, so two
                // processes cannot both see "one left" and both insert.
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if let (true, Some(limit)) = (code.permanent, permanent_limit) {
                    let count: i64 = tx.query_row(
                        "SELECT COUNT(*) FROM qrcode WHERE permanent = 1",
                        [],
                        |r| r.get(0),
                    )?;
                    let count = count.max(0) as u64;
                    if count >= limit {
                        return Ok(Err((count, limit)));
                    }
                }
                tx.execute(
                    "INSERT INTO qrcode (scene, ticket, url, permanent, expires_at, note, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![code.scene, code.ticket, code.url, code.permanent, code.expires_at.map(to_i64), code.note, to_i64(code.created_at)],
                )?;
                let id = tx.last_insert_rowid();
                tx.commit()?;
                Ok(Ok(id))
            })
            .await?;
        result.map_err(|(count, limit)| StoreError::QuotaReached { count, limit })
    }

    async fn permanent_count(&self) -> Result<u64, StoreError> {
        self.run(|c| {
            c.query_row("SELECT COUNT(*) FROM qrcode WHERE permanent = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
        })
        .await
    }

    async fn reserve_permanent(
        &self,
        scene: &str,
        limit: u64,
        now: i64,
    ) -> Result<Reservation, StoreError> {
        let scene = scene.to_owned();
        self
            .run(move |c| {
                // IMMEDIATE: the count and the reservation are one step for
                // every process sharing the file.
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute(
                    "DELETE FROM qrcode_reservation WHERE created_at <= ?1",
                    params![now - RESERVATION_TTL_SECS],
                )?;
                let existing = tx
                    .query_row(
                        &format!("SELECT {QR_COLUMNS} FROM qrcode WHERE scene = ?1 AND permanent = 1 ORDER BY id DESC LIMIT 1"),
                        params![scene],
                        qr_row,
                    )
                    .optional()?;
                if let Some(record) = existing {
                    return Ok(Ok(Reservation::Exists(record)));
                }
                let held: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM qrcode_reservation WHERE scene = ?1)",
                    params![scene],
                    |r| r.get(0),
                )?;
                if held {
                    return Ok(Ok(Reservation::Busy));
                }
                let taken: i64 = tx.query_row(
                    "SELECT (SELECT COUNT(*) FROM qrcode WHERE permanent = 1) + (SELECT COUNT(*) FROM qrcode_reservation)",
                    [],
                    |r| r.get(0),
                )?;
                let taken = taken.max(0) as u64;
                if taken >= limit {
                    return Ok(Err(StoreError::QuotaReached { count: taken, limit }));
                }
                tx.execute(
                    "INSERT INTO qrcode_reservation (scene, created_at) VALUES (?1, ?2)",
                    params![scene, now],
                )?;
                let id = tx.last_insert_rowid();
                tx.commit()?;
                Ok(Ok(Reservation::Reserved(id)))
            })
            .await?
    }

    async fn complete_permanent(&self, reservation: i64, code: &QrCode) -> Result<i64, StoreError> {
        let code = code.clone();
        self.run(move |c| {
            let tx = c.transaction()?;
            // The code exists on WeChat whatever happened to the
            // reservation (even one expired meanwhile): store it.
            tx.execute(
                "DELETE FROM qrcode_reservation WHERE id = ?1",
                params![reservation],
            )?;
            tx.execute(
                "INSERT INTO qrcode (scene, ticket, url, permanent, expires_at, note, created_at) VALUES (?1, ?2, ?3, 1, NULL, ?4, ?5)",
                params![code.scene, code.ticket, code.url, code.note, to_i64(code.created_at)],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    async fn release_permanent(&self, reservation: i64) -> Result<(), StoreError> {
        self.run(move |c| {
            c.execute(
                "DELETE FROM qrcode_reservation WHERE id = ?1",
                params![reservation],
            )
            .map(|_| ())
        })
        .await
    }

    async fn by_scene_at(&self, scene: &str, now: i64) -> Result<Option<QrRecord>, StoreError> {
        let scene = scene.to_owned();
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {QR_COLUMNS} FROM qrcode WHERE scene = ?1 AND (expires_at IS NULL OR expires_at > ?2) ORDER BY id DESC LIMIT 1"),
                params![scene, now],
                qr_row,
            )
            .optional()
        })
        .await
    }

    async fn permanent_by_scene(&self, scene: &str) -> Result<Option<QrRecord>, StoreError> {
        let scene = scene.to_owned();
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {QR_COLUMNS} FROM qrcode WHERE scene = ?1 AND permanent = 1 ORDER BY id DESC LIMIT 1"),
                params![scene],
                qr_row,
            )
            .optional()
        })
        .await
    }

    async fn by_ticket(&self, ticket: &str) -> Result<Option<QrRecord>, StoreError> {
        let ticket = ticket.to_owned();
        self.run(move |c| {
            c.query_row(
                &format!(
                    "SELECT {QR_COLUMNS} FROM qrcode WHERE ticket = ?1 ORDER BY id DESC LIMIT 1"
                ),
                params![ticket],
                qr_row,
            )
            .optional()
        })
        .await
    }

    async fn by_id(&self, id: i64) -> Result<Option<QrRecord>, StoreError> {
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {QR_COLUMNS} FROM qrcode WHERE id = ?1"),
                params![id],
                qr_row,
            )
            .optional()
        })
        .await
    }

    async fn list(&self, limit: usize) -> Result<Vec<QrRecord>, StoreError> {
        self.run(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {QR_COLUMNS} FROM qrcode ORDER BY id DESC LIMIT ?1"
            ))?;
            stmt.query_map(params![to_i64(limit as u64)], qr_row)?
                .collect()
        })
        .await
    }

    async fn reservations(&self) -> Result<Vec<QrReservation>, StoreError> {
        self.export_reservations().await
    }

    async fn import(
        &self,
        codes: &[QrRecord],
        reservations: &[QrReservation],
    ) -> Result<(), StoreError> {
        self.import_qrcodes(codes, reservations).await
    }
}

#[cfg(test)]
mod tests {
    //! What only the SQLite backend has (persistence in a file, its privacy,
    //! migrations); the behaviour every backend keeps is tested on both in
    //! `tests/tests/store_backends.rs`.
    use super::*;

    const Q: KvQuota = KvQuota::DEFAULT;

    #[tokio::test]
    async fn kv_is_namespaced_and_persistent() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s: &dyn KvStore = &SqliteStore::open(dir.path()).unwrap();
            s.set("a", "k", b"1", Q).await.unwrap();
            s.set("b", "k", b"2", Q).await.unwrap();
            s.set("a", "k", b"3", Q).await.unwrap();
        }
        let s: &dyn KvStore = &SqliteStore::open(dir.path()).unwrap();
        assert_eq!(s.get("a", "k").await.unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(s.get("b", "k").await.unwrap().as_deref(), Some(&b"2"[..]));
        s.delete("a", "k").await.unwrap();
        assert_eq!(s.get("a", "k").await.unwrap(), None);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_data_dir_and_database_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let s: &dyn KvStore = &SqliteStore::open(&data).unwrap();
        s.set("a", "k", b"1", Q).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("wxhost.db")), 0o600);
        assert_eq!(mode(&data.join("wxhost.db-wal")), 0o600);
        // An existing database made readable by others is made private again.
        std::fs::set_permissions(
            data.join("wxhost.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        drop(SqliteStore::open(&data).unwrap());
        assert_eq!(mode(&data.join("wxhost.db")), 0o600);
    }

    #[test]
    fn processes_migrating_a_fresh_database_at_once_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let openers: Vec<_> = (0..8)
            .map(|_| {
                let p = path.clone();
                std::thread::spawn(move || SqliteStore::open(&p).map(|_| ()))
            })
            .collect();
        for o in openers {
            o.join().unwrap().unwrap();
        }
        let c = Connection::open(path.join("wxhost.db")).unwrap();
        let v: usize = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len());
    }
}
