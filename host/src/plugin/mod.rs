//! The plugin runtime: WebAssembly components (WIT `wechat:plugin@1.0.0`,
//! and `@0.2.x` for components built before it; docs/wit-versioning.md)
//! loaded from a directory, run on wasmtime with one fresh instance per call.
//!
//! - [`Runtime`] (`runtime.rs`): engine, registry, loading and hot reload,
//!   [`Runtime::dispatch`] of a message along the plugins.
//! - `registry.rs`: the priority-sorted snapshot behind an `ArcSwap`.
//! - [`LoadedPlugin`] (`loaded.rs`): one compiled, linked, described version,
//!   built from a `PluginCode` by `loader.rs` (read, compile or cache, WIT
//!   version check, link, describe).
//! - `call.rs`: one call — pool permit, fresh store, limits, and
//!   classification into [`PluginError`] (`error.rs`), with a guest's own
//!   account of an abort read from its stderr (`guest_failure.rs`: Rust
//!   panics, JavaScript errors, Python tracebacks); `handler.rs`: the
//!   message as plugins receive it ([`HandlerInput`], with the
//!   [`AccountInfo`] of `account.rs`) and the call of a component's handler
//!   in its WIT version; `reply.rs`: validation of what it answered.
//! - [`Kind`] (`kind.rs`): the WIT `kind` enum itself, with its table
//!   generated from the WIT by `build.rs`.
//! - `schedule.rs`: plugins that run on schedules (the `schedule`
//!   export), called through the same per-call path, on a share of the
//!   pool of their own.
//! - `web.rs`: plugins that serve pages (`wasi:http/incoming-handler`),
//!   called through the same per-call path as messages.
//! - Host interfaces, each on its own narrow context: `host_ctx.rs` (log,
//!   kv, config), `wechat_ctx.rs` (capability-checked WeChat calls),
//!   `web_ctx.rs` (JS-SDK configs for pages); `outgoing_http.rs`: the
//!   WASI-HTTP hooks that deny outgoing requests unless granted; the
//!   per-call `CallState` (`state.rs`) holds them with WASI, the memory
//!   `limiter.rs` and the captured output (`capture.rs`); `log_buffer.rs`
//!   owns a call's log budget; `bounds.rs` caps what the host allocates on
//!   a plugin's behalf (hostcall fuel, resources, random bytes).
//! - [`PluginStats`] (`stats.rs`): calls and failures per plugin id, by
//!   class, with the last error (kept across reloads, for the admin console).
//! - `reuse.rs`: opt-in instance reuse (`plugin.<id>.reuse_calls`): a
//!   bounded pool of idle instances per loaded version, within the pool's
//!   permits.
//! - `convert/`: every host ↔ WIT mapping (1.0, and 1.0 ↔ 0.2);
//!   `bindings.rs`: one bindgen per linked WIT version;
//!   `engine.rs`: Engine, pooling, epochs, linker; `pool.rs`: how many
//!   instances at once; `watcher.rs`: hot reload (events, the periodic
//!   rescan, the directory's symlink); `rescan.rs`: reconciling the
//!   directory with the registry; `published.rs`: plugins published to the
//!   store and the operator's switches, followed by every instance (the
//!   store wins over the directory).

mod account;
mod account_scope;
mod account_switches;
mod bindings;
mod bounds;
mod call;
mod capture;
mod convert;
mod engine;
mod error;
mod guest_failure;
mod handler;
mod host_ctx;
mod kind;
mod limiter;
mod loaded;
mod loader;
mod log_buffer;
mod outbound_ctx;
mod outgoing_http;
mod pool;
mod published;
mod registry;
mod reply;
mod rescan;
mod reuse;
mod runtime;
mod schedule;
mod state;
mod stats;
mod watcher;
mod web;
mod web_ctx;
mod wechat_ctx;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use account::AccountInfo;
pub use account_scope::{AccountGrants, AccountScope};
pub use account_switches::AccountSwitches;
pub use bindings::{V1_MINOR, WitVersion};
pub use bounds::{HOSTCALL_FUEL_BYTES, MAX_COMPONENT_HANDLES, MAX_RANDOM_BYTES, MAX_RESOURCES};
pub use call::{CallReport, PluginOutcome};
pub use engine::EPOCH_TICK;
pub use error::PluginError;
pub use handler::HandlerInput;
pub use host_ctx::{MAX_KV_KEY_BYTES, MAX_KV_VALUE_BYTES};
pub use kind::Kind;
pub use loaded::{LoadedPlugin, PluginInfo};
pub use loader::{MAX_COMPONENT_BYTES, plugin_id, supported as supported_wit};
pub use log_buffer::{LogLevel, LogLine, MAX_LOG_LINES};
pub use outbound_ctx::{JobView, OutboundSlot, PluginOutbound};
pub use pool::{DEFAULT_MAX_INSTANCES, MAX_INSTANCES, default_max_instances};
pub use published::{PublishError, SYNC_EVERY as STORE_SYNC_EVERY, source_of};
pub use reply::{MAX_LONG_BYTES, MAX_MEDIA_ID_BYTES, MAX_TEXT_BYTES, MAX_TITLE_BYTES};
pub use reuse::MAX_REUSE_CALLS;
pub use runtime::{Dispatch, ReloadEvent, Runtime, SwitchError};
pub use schedule::{SCHEDULE_QUEUE_WAIT, ScheduleReport, schedule_share};
pub use stats::{PluginCounters, PluginStats};
pub use web::WebCallReport;
pub use wechat_ctx::{CODE_NOT_GRANTED, CODE_SYSTEM, CODE_TRANSPORT};

use crate::api::PluginApi;
use crate::config::{Config, PluginSettings};
use crate::store::{KvQuota, KvStore};

/// Where plugins come from and their limits.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The plugins directory (`*.wasm`, id = file stem).
    pub dir: PathBuf,
    /// Compiled artifacts (`<sha256>-<engine>.cwasm`), host-owned.
    pub cache_dir: PathBuf,
    pub default_memory_mib: u64,
    pub default_timeout: Duration,
    /// Default kv quota per plugin.
    pub kv_quota: KvQuota,
    /// Per plugin id.
    pub settings: BTreeMap<String, PluginSettings>,
    /// Hot reload from filesystem events once [`Runtime::watch`] runs (the
    /// server calls it when `plugins.watch` is set).
    pub watch: bool,
    /// While watching, reconcile the directory this often (`None`: events
    /// only). Catches what events miss: lost events, a swapped symlink.
    pub rescan_interval: Option<std::time::Duration>,
    /// Plugin instances at once (the pool size): `plugins.max_instances`,
    /// else what fits in memory ([`default_max_instances`]).
    pub max_instances: u32,
    /// The account a call acts for when its caller names none (`plugin
    /// run`, [`Runtime::dispatch`]): `default` and the configured AppID. The
    /// server names each push's own ([`AccountScope`]).
    pub account: AccountInfo,
}

impl RuntimeConfig {
    /// From the host config; `cache_dir` = `<data_dir>/cache`.
    pub fn from_config(config: &Config) -> RuntimeConfig {
        let largest_memory_mib = config
            .plugin
            .values()
            .filter_map(|s| s.memory_mib)
            .fold(config.plugins.memory_mib, u64::max);
        RuntimeConfig {
            dir: config.plugins.dir.clone(),
            cache_dir: config.storage.data_dir.join("cache"),
            default_memory_mib: config.plugins.memory_mib,
            default_timeout: Duration::from_millis(config.plugins.timeout_ms),
            kv_quota: KvQuota {
                max_bytes: config.plugins.kv_max_bytes,
                max_keys: config.plugins.kv_max_keys,
            },
            settings: config.plugin.clone(),
            watch: config.plugins.watch,
            rescan_interval: (config.plugins.rescan_secs > 0)
                .then(|| Duration::from_secs(config.plugins.rescan_secs)),
            max_instances: config
                .plugins
                .max_instances
                .unwrap_or_else(|| default_max_instances(largest_memory_mib)),
            account: AccountInfo::single(&config.wechat.app_id),
        }
    }
}

/// What host functions delegate to, for one account (see [`AccountScope`]).
#[derive(Clone)]
pub struct HostServices {
    /// Backs each plugin's kv (namespace = plugin id) in the account's
    /// store scope.
    pub kv: Arc<dyn KvStore>,
    /// WeChat APIs for plugins granted the capability; `None` → code -3.
    pub wechat: Option<Arc<dyn PluginApi>>,
    /// JS-SDK configs for plugin pages; `None` without API credentials.
    pub jssdk: Option<Arc<crate::api::jssdk::JsSdk>>,
    /// The outbound queue (one for every account), once the service has
    /// opened it.
    pub outbound: OutboundSlot,
}

/// Shared by the runtime and every loaded plugin (a plugin may outlive a
/// reload, or the runtime, while a call is in flight).
pub(crate) struct Inner {
    engine: wasmtime::Engine,
    linker: wasmtime::component::Linker<state::CallState>,
    compat: String,
    pooling: bool,
    permits: tokio::sync::Semaphore,
    /// The share of `permits` page calls may hold at once (`web.rs`), so
    /// pushes always have the rest.
    page_share: tokio::sync::Semaphore,
    /// Instances scheduled runs may hold at once (`schedule.rs`).
    schedule_share: tokio::sync::Semaphore,
    /// Calls waiting for a permit (`reuse.rs`: idle instances then give
    /// theirs up).
    waiting: std::sync::atomic::AtomicUsize,
    /// Every loaded version's pool of reusable instances (`reuse.rs`).
    warm_pools: std::sync::Mutex<Vec<std::sync::Weak<reuse::Reuse>>>,
    cfg: RuntimeConfig,
    /// What a call acts for when its caller names no account (`plugin run`,
    /// load-time `describe`): the services the runtime was built with.
    default_account: Arc<AccountScope>,
    stats: PluginStats,
}
