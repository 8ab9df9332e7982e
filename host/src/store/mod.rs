//! Storage: everything wxhost keeps across restarts, behind one narrow trait
//! per concern, so each part of the host holds only what it uses (plugins an
//! `Arc<dyn KvStore>`, the token manager an `Arc<dyn TokenStore>`, ...).
//!
//! - [`KvStore`]: plugin key-value entries (namespace = plugin id).
//! - [`TokenStore`]: the access_token and the count of fetches per day.
//! - [`MenuStore`]: every menu version, one of them current.
//! - [`QrStore`]: every QR code wxhost created, and the permanent quota.
//! - [`SessionStore`]: short-lived records that expire (sessions, OAuth states).
//! - [`WebUserStore`]: the users who logged in on the web side (OAuth).
//! - [`AuditStore`], [`SceneStatsStore`], [`PluginSwitchStore`]
//!   (`operator.rs`): the admin console's audit log, scans and follows per
//!   QR scene, plugins switched off by an operator.
//! - [`AccountStore`] (`accounts.rs`): accounts added at runtime, their
//!   credentials sealed.
//! - [`PublishedPluginStore`] (`published.rs`): plugins published to the
//!   store (content-addressed blobs and manifests), served by every instance.
//! - [`ScheduleStore`] (`schedules.rs`): scheduled runs — the last tick
//!   each schedule handled, the recent runs.
//! - [`PushLedger`]: what instances sharing a store know of each push (the
//!   replay guard and retry de-duplication across instances).
//! - [`ActivityLog`] (`activity.rs`): what every instance reports of the
//!   pushes it served (recent pushes, per-minute counters, who reported).
//! - [`Stores`]: one account's scope of one backend seen through all of
//!   them ([`Stores::for_account`]: another account's; `scope.rs`: where
//!   each account's data lives), opened from a [`StoreLocation`]: [`sqlite::SqliteStore`] is the default backend (one
//!   file in the data dir, no server, one instance); [`redis::RedisStore`]
//!   is shared by any number of instances.
//!
//! The traits are async so that a networked backend fits behind them and so
//! that no backend blocks a tokio worker. Each has `export`/`import` (or
//! enumerates with what it has) for `wxhost store migrate`. Dependencies
//! point one way: `store` knows nothing of `api`, `plugin` or `server`.

mod accounts;
pub mod activity;
mod operator;
pub mod published;
pub mod redis;
pub mod schedules;
mod scope;
pub mod sqlite;
mod time;
mod types;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use self::redis::{RedisSettings, redacted_url};
pub use accounts::{AccountStore, StoredAccount};
pub use activity::ActivityLog;
pub use operator::{AuditEntry, AuditStore, PluginSwitchStore, SceneCounts, SceneStatsStore};
pub use published::{PluginManifest, PublishedPluginStore};
pub use schedules::{ScheduleRun, ScheduleStore};
pub use scope::{DEFAULT_ACCOUNT, valid_account_name};
pub use time::{format_utc, now_millis, now_secs, quota_day};
pub use types::{
    KvEntry, MenuVersion, QrCode, QrRecord, QrReservation, SessionRecord, StoredToken, TokenRecord,
    WebUser, WebUserLogin,
};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Backend(String),
    /// The backend did not answer (a networked one that is down or out of
    /// reach). The store logs this once when it starts and once when it
    /// ends, so callers need not log it per call.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A permanent QR code would exceed the account's quota.
    #[error("permanent QR code quota reached: {count} of {limit} already created")]
    QuotaReached { count: u64, limit: u64 },
    /// A kv write would exceed the namespace's quota; nothing was written.
    #[error("kv quota exceeded: {0}")]
    KvQuota(String),
    /// The operation does not apply to the stored value (e.g. incrementing
    /// a value that is not a decimal integer).
    #[error("{0}")]
    Invalid(String),
}

/// A kv namespace's quota: bytes of keys and values together, and keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvQuota {
    pub max_bytes: u64,
    pub max_keys: u64,
}

impl KvQuota {
    /// The refusal of a write that would make `bytes` in `keys` (one
    /// message for every backend).
    pub fn refusal(
        self,
        bytes: impl std::fmt::Display,
        keys: impl std::fmt::Display,
    ) -> StoreError {
        StoreError::KvQuota(format!(
            "this write would make {bytes} bytes in {keys} keys (limit {} bytes, {} keys)",
            self.max_bytes, self.max_keys
        ))
    }

    /// 10 MiB in at most 10,000 keys.
    pub const DEFAULT: KvQuota = KvQuota {
        max_bytes: 10 << 20,
        max_keys: 10_000,
    };
}

/// A plugin's persistent key-value entries. Writes check the namespace's
/// [`KvQuota`] atomically with the write.
#[async_trait]
pub trait KvStore: Send + Sync + 'static {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        quota: KvQuota,
    ) -> Result<(), StoreError>;
    async fn delete(&self, namespace: &str, key: &str) -> Result<(), StoreError>;
    /// Adds `delta` to the decimal integer stored at `key` (absent = 0) and
    /// returns the new value; atomic, so concurrent increments all count.
    async fn incr(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        quota: KvQuota,
    ) -> Result<i64, StoreError>;
    /// Every entry of every namespace.
    async fn export(&self) -> Result<Vec<KvEntry>, StoreError>;
    /// Writes `entries` as they are, whatever the quota (migration into an
    /// empty store); usage is counted as for any write.
    async fn import(&self, entries: &[KvEntry]) -> Result<(), StoreError>;
}

/// Expiring credentials (the access_token, the jsapi_ticket), shared by every
/// process and instance using the same store, so a restart, a CLI command
/// or another instance reuses a fetched value instead of fetching its own.
/// `key` names the credential (the AppID for the access_token).
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Result<Option<StoredToken>, StoreError>;
    /// Stores a freshly fetched value and counts the fetch for `day`
    /// (`YYYY-MM-DD`, Beijing time, when WeChat's quotas reset).
    async fn put(&self, key: &str, token: &StoredToken, day: &str) -> Result<(), StoreError>;
    /// Drops the stored value only if it is still `token` (compare-and-swap:
    /// a value another caller or process already replaced stays). Returns
    /// whether it was dropped.
    async fn invalidate(&self, key: &str, token: &str) -> Result<bool, StoreError>;
    /// Fetches counted for `day`.
    async fn fetches(&self, key: &str, day: &str) -> Result<u64, StoreError>;
    /// Takes the lock `name` for `holder` unless someone else holds it and
    /// its `ttl` has not passed (so a holder that died never blocks the
    /// others for longer). Returns whether `holder` now holds it.
    async fn try_lock(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Releases `name` if `holder` still holds it.
    async fn unlock(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// Every credential key with its stored value (if any) and fetch counts.
    async fn export(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Writes `records` as they are (migration into an empty store).
    async fn import(&self, records: &[TokenRecord]) -> Result<(), StoreError>;
}

/// Menu versions: every publish creates one; at most one is current.
#[async_trait]
pub trait MenuStore: Send + Sync + 'static {
    /// Saves a new, not yet published version; returns its id.
    async fn insert(&self, json: &str, note: Option<&str>) -> Result<i64, StoreError>;
    /// Records a successful push of version `id`: it becomes the only
    /// current version.
    async fn mark_published(
        &self,
        id: i64,
        conditional_menu_ids: &[String],
    ) -> Result<(), StoreError>;
    /// Records a push of version `id` that stopped halfway, after WeChat
    /// already took part of it: it becomes the only current version (its
    /// default menu is live), with `conditional_menu_ids` the conditional
    /// menus live on WeChat and `partial` saying what is live.
    async fn mark_partial(
        &self,
        id: i64,
        conditional_menu_ids: &[String],
        partial: &str,
    ) -> Result<(), StoreError>;
    /// No version is current (the menu was deleted on WeChat).
    async fn clear_current(&self) -> Result<(), StoreError>;
    async fn get(&self, id: i64) -> Result<Option<MenuVersion>, StoreError>;
    async fn current(&self) -> Result<Option<MenuVersion>, StoreError>;
    /// All versions, newest first.
    async fn history(&self) -> Result<Vec<MenuVersion>, StoreError>;
    /// Writes `versions` as they are, ids and the current one included
    /// (migration into an empty store); later inserts get higher ids.
    async fn import(&self, versions: &[MenuVersion]) -> Result<(), StoreError>;
}

/// QR codes wxhost created.
///
/// A permanent code takes a slot of the account's quota *before* WeChat is
/// asked for it: [`QrStore::reserve_permanent`], then the call, then
/// [`QrStore::complete_permanent`] (or [`QrStore::release_permanent`] if the
/// call failed). Each is one atomic step, so parallel creators, in this
/// process or another sharing the store, never both take the last slot.
#[async_trait]
pub trait QrStore: Send + Sync + 'static {
    /// Stores a created code. For a permanent code with `permanent_limit`
    /// set, the count check and the insert are atomic, so parallel creators
    /// cannot overshoot the quota.
    async fn insert(&self, code: &QrCode, permanent_limit: Option<u64>) -> Result<i64, StoreError>;
    /// Permanent codes created (reservations not included).
    async fn permanent_count(&self) -> Result<u64, StoreError>;
    /// Takes a quota slot for a permanent code of `scene`, unless created
    /// codes and live reservations already fill `limit`
    /// ([`StoreError::QuotaReached`]), the scene already has a permanent
    /// code ([`Reservation::Exists`]), or another creator holds the scene
    /// ([`Reservation::Busy`]). Reservations older than
    /// [`RESERVATION_TTL_SECS`] (a creator that died mid-call) no longer
    /// count.
    async fn reserve_permanent(
        &self,
        scene: &str,
        limit: u64,
        now: i64,
    ) -> Result<Reservation, StoreError>;
    /// Stores the code WeChat created for `reservation`, which it replaces;
    /// returns the code's id.
    async fn complete_permanent(&self, reservation: i64, code: &QrCode) -> Result<i64, StoreError>;
    /// Gives the slot back (the call failed).
    async fn release_permanent(&self, reservation: i64) -> Result<(), StoreError>;
    /// The newest code for `scene` that has not expired at `now` (unix
    /// seconds). This is what plugins receive with a subscribe/SCAN event.
    async fn by_scene_at(&self, scene: &str, now: i64) -> Result<Option<QrRecord>, StoreError>;
    /// The newest permanent code for `scene`, if any.
    async fn permanent_by_scene(&self, scene: &str) -> Result<Option<QrRecord>, StoreError>;
    async fn by_ticket(&self, ticket: &str) -> Result<Option<QrRecord>, StoreError>;
    async fn by_id(&self, id: i64) -> Result<Option<QrRecord>, StoreError>;
    /// Newest first, at most `limit`.
    async fn list(&self, limit: usize) -> Result<Vec<QrRecord>, StoreError>;
    /// Live permanent-code reservations.
    async fn reservations(&self) -> Result<Vec<QrReservation>, StoreError>;
    /// Writes `codes` and `reservations` as they are, ids included
    /// (migration into an empty store); later ones get higher ids.
    async fn import(
        &self,
        codes: &[QrRecord],
        reservations: &[QrReservation],
    ) -> Result<(), StoreError>;
}

/// How long a permanent-code reservation holds its slot: far longer than one
/// `qrcode/create` call with its retries, so only a creator that died
/// between reserving and completing loses it.
pub const RESERVATION_TTL_SECS: i64 = 600;

/// The answer to [`QrStore::reserve_permanent`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reservation {
    /// A slot is held under this id: call WeChat, then complete or release.
    Reserved(i64),
    /// The scene already has a permanent code; WeChat would return the same.
    Exists(QrRecord),
    /// Another creator holds a reservation for this scene right now.
    Busy,
}

/// Short-lived records that expire by themselves: web and admin sessions,
/// OAuth login states. `realm` keeps their uses apart (`web-session`,
/// `oauth-state`, ...); `id` is a random, unguessable name.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores `value` at (realm, id) until `ttl` passes, replacing any.
    async fn put(
        &self,
        realm: &str,
        id: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// The value, if present and not expired.
    async fn get(&self, realm: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The value, deleted in the same step: of two concurrent takes, one
    /// gets it (single-use records such as an OAuth state).
    async fn take(&self, realm: &str, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores an empty record at (realm, id) until `ttl` passes, unless a
    /// live one is there: true if this call stored it. Of two concurrent
    /// claims, one wins (a spent single-use token).
    async fn claim(&self, realm: &str, id: &str, ttl: Duration) -> Result<bool, StoreError>;
    async fn delete(&self, realm: &str, id: &str) -> Result<(), StoreError>;
    /// Every live record.
    async fn export(&self) -> Result<Vec<SessionRecord>, StoreError>;
    /// Writes `records` as they are, expiries included (migration).
    async fn import(&self, records: &[SessionRecord]) -> Result<(), StoreError>;
}

/// What instances sharing a store know of each push: the replay guard's
/// `(timestamp, nonce)` fingerprints and each message's claim or decision,
/// so that a retry or replay reaching another instance is recognised there.
/// Only a backend several instances share implements it (Redis); one
/// instance keeps this in memory (`server::memory`).
#[async_trait]
pub trait PushLedger: Send + Sync + 'static {
    /// Records the push's fingerprint under its pair and, unless the pair
    /// proves it forged, claims its message for `keys.claimant` if nobody
    /// has (see [`PushState`]). One atomic step.
    async fn begin(&self, keys: &PushKeys<'_>) -> Result<PushState, StoreError>;
    /// For a delivery waiting on another claimant: the message's state now,
    /// claiming it if that claim expired (its instance died).
    async fn recheck(&self, keys: &PushKeys<'_>) -> Result<PushState, StoreError>;
    /// Extends `claimant`'s claim of `message` to `ttl` from now, if it
    /// still holds it (a live claimant keeps a short lease while it runs, so
    /// a dead one's claim frees itself soon). Returns whether it held it.
    async fn renew(
        &self,
        message: &[u8; 16],
        claimant: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Publishes claimants' decisions (message, decision), each kept for
    /// `ttl`; one round trip for the lot.
    async fn decide(
        &self,
        decisions: &[([u8; 16], Vec<u8>)],
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// Records a fingerprint under a pair without claiming anything (a URL
    /// verification: its pair must not authenticate a plaintext push).
    async fn record(
        &self,
        pair: &[u8; 16],
        fingerprint: &[u8; 8],
        pair_expires_at: u64,
    ) -> Result<(), StoreError>;
}

/// One push, as the [`PushLedger`] names it: stable hashes, the same on
/// every instance.
#[derive(Debug, Clone)]
pub struct PushKeys<'a> {
    /// The request's `(timestamp, nonce)`.
    pub pair: [u8; 16],
    /// What the request carried (its verified body signature, or its body).
    pub fingerprint: [u8; 8],
    /// Whether the fingerprint is a verified body signature: then another
    /// fingerprint under the same pair is WeChat's own, not a forgery.
    pub body_signed: bool,
    /// Unix seconds after which the pair is refused anyway (the timestamp
    /// window): it is remembered until then.
    pub pair_expires_at: u64,
    /// The message across WeChat's retries.
    pub message: [u8; 16],
    /// Who claims it (an instance id); unique per process.
    pub claimant: &'a str,
    /// A claim frees itself after this unless its claimant renews it
    /// ([`PushLedger::renew`]): a short lease, so a dead claimant's message
    /// is processed by the next delivery within about that.
    pub claim_ttl: Duration,
    /// A repeat first seen longer ago than this whose decision is gone was
    /// answered and forgotten ([`PushState::Forgotten`]); sooner, its
    /// claimant died and it is claimed again.
    pub remembered: Duration,
    /// Unix milliseconds now.
    pub now_ms: u64,
}

/// What [`PushLedger::begin`] and [`PushLedger::recheck`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushState {
    /// A different plaintext request under a pair that already
    /// authenticated one.
    Forged,
    /// The caller now holds the claim: run the plugins, then
    /// [`PushLedger::decide`]. `repeat`: this exact request was seen before
    /// (its first claimant died).
    Claimed { repeat: bool },
    /// Another delivery holds the claim and has not decided yet.
    Running { repeat: bool },
    /// The decision, as its claimant published it.
    Decided(Vec<u8>),
    /// An exact repeat whose decision is no longer kept: `success`, and the
    /// plugins do not run again.
    Forgotten,
}

/// Where the store is (from `[storage]`, see `Config::store_location`).
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// `wxhost.db` in this directory.
    Sqlite {
        data_dir: std::path::PathBuf,
    },
    Redis(RedisSettings),
}

impl StoreLocation {
    /// For logs: the backend and where it is (a Redis password redacted).
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Sqlite { data_dir } => {
                format!("sqlite {}", data_dir.join("wxhost.db").display())
            }
            StoreLocation::Redis(r) => format!(
                "redis {} (key prefix {:?})",
                redacted_url(&r.url),
                r.key_prefix
            ),
        }
    }
}

/// The users who logged in through WeChat OAuth on the web side. Each call
/// is one atomic step on one user.
#[async_trait]
pub trait WebUserStore: Send + Sync + 'static {
    /// Records a login at `now` (unix seconds): creates the user, or updates
    /// it keeping `first_seen` and any field this login did not bring (a
    /// later `snsapi_base` login keeps the nickname). Returns the user as
    /// stored.
    async fn record_login(&self, login: &WebUserLogin, now: i64) -> Result<WebUser, StoreError>;
    async fn get(&self, openid: &str) -> Result<Option<WebUser>, StoreError>;
    /// Every user, by openid (migration).
    async fn export(&self) -> Result<Vec<WebUser>, StoreError>;
    /// Writes `users` as they are (migration, into an empty store).
    async fn import(&self, users: &[WebUser]) -> Result<(), StoreError>;
}

/// One backend, seen through each narrow trait. Cheap to clone.
#[derive(Clone)]
pub struct Stores {
    pub kv: Arc<dyn KvStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub menus: Arc<dyn MenuStore>,
    pub qrcodes: Arc<dyn QrStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub web_users: Arc<dyn WebUserStore>,
    pub audit: Arc<dyn AuditStore>,
    pub scene_stats: Arc<dyn SceneStatsStore>,
    pub plugin_switches: Arc<dyn PluginSwitchStore>,
    /// Plugins published to the store (served by every instance).
    pub published: Arc<dyn PublishedPluginStore>,
    /// Accounts added at runtime (read from the default account's scope).
    pub accounts: Arc<dyn AccountStore>,
    /// Scheduled runs' last ticks and history.
    pub schedules: Arc<dyn ScheduleStore>,
    /// Push bookkeeping shared with other instances; `None` for a backend
    /// one instance uses alone (SQLite), which keeps it in memory.
    pub pushes: Option<Arc<dyn PushLedger>>,
    /// Activity reported by every instance sharing the store; `None` for a
    /// backend one instance uses alone (it shows its own).
    pub activity: Option<Arc<dyn ActivityLog>>,
    /// The other accounts' scopes of the same backend (`None`: this is one
    /// of them, or a store without accounts).
    scopes: Option<Arc<scope::AccountScopes>>,
}

/// Every trait a backend implements: the one list a new store trait joins.
pub trait Backend:
    KvStore
    + TokenStore
    + MenuStore
    + QrStore
    + SessionStore
    + WebUserStore
    + AuditStore
    + SceneStatsStore
    + PluginSwitchStore
    + PublishedPluginStore
    + AccountStore
    + ScheduleStore
{
}

impl<B> Backend for B where
    B: KvStore
        + TokenStore
        + MenuStore
        + QrStore
        + SessionStore
        + WebUserStore
        + AuditStore
        + SceneStatsStore
        + PluginSwitchStore
        + PublishedPluginStore
        + AccountStore
        + ScheduleStore
{
}

impl Stores {
    /// Every view backed by `backend`, which one instance uses alone.
    fn of<B: Backend>(backend: Arc<B>, scopes: Option<Arc<scope::AccountScopes>>) -> Stores {
        Stores {
            kv: backend.clone(),
            tokens: backend.clone(),
            menus: backend.clone(),
            qrcodes: backend.clone(),
            sessions: backend.clone(),
            web_users: backend.clone(),
            audit: backend.clone(),
            scene_stats: backend.clone(),
            plugin_switches: backend.clone(),
            published: backend.clone(),
            schedules: backend.clone(),
            accounts: backend,
            pushes: None,
            activity: None,
            scopes,
        }
    }

    /// Every view backed by `backend`, shared by instances.
    fn shared<B: Backend + PushLedger + ActivityLog>(
        backend: Arc<B>,
        scopes: Option<Arc<scope::AccountScopes>>,
    ) -> Stores {
        Stores {
            pushes: Some(backend.clone()),
            activity: Some(backend.clone()),
            ..Stores::of(backend, scopes)
        }
    }

    /// Account `name`'s scope of this backend (see `scope.rs`): itself for
    /// [`DEFAULT_ACCOUNT`]. Opened once, then shared.
    pub fn for_account(&self, name: &str) -> Result<Stores, StoreError> {
        if name == DEFAULT_ACCOUNT {
            return Ok(self.clone());
        }
        match &self.scopes {
            Some(scopes) => scopes.open(name),
            None => Err(StoreError::Invalid(format!(
                "this store holds one account's data only, not account {name}'s"
            ))),
        }
    }

    /// The configured store: every command opens it here, whatever the
    /// backend. Opening Redis does not wait for it (the connection is made
    /// on first use and remade whenever it drops).
    pub fn open(location: &StoreLocation) -> Result<Stores, StoreError> {
        Ok(match location {
            StoreLocation::Sqlite { data_dir } => Stores::sqlite(data_dir)?,
            StoreLocation::Redis(settings) => {
                let redis = Arc::new(self::redis::RedisStore::open(settings)?);
                let scopes = scope::AccountScopes::new(scope::Scopes::Redis(redis.clone()));
                Stores::shared(redis, Some(scopes))
            }
        })
    }

    /// The SQLite store in `data_dir` (tests, migration; commands use
    /// [`Stores::open`], which follows the configuration).
    pub fn sqlite(data_dir: &std::path::Path) -> Result<Stores, StoreError> {
        let scopes = scope::AccountScopes::new(scope::Scopes::Sqlite(data_dir.to_owned()));
        Ok(Stores::of(
            Arc::new(sqlite::SqliteStore::open(data_dir)?),
            Some(scopes),
        ))
    }

    /// A private in-memory store (tests); each account's scope is another.
    pub fn in_memory() -> Result<Stores, StoreError> {
        let scopes = scope::AccountScopes::new(scope::Scopes::Memory);
        Ok(Stores::of(
            Arc::new(sqlite::SqliteStore::open_in_memory()?),
            Some(scopes),
        ))
    }
}
