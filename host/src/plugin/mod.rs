//! The plugin runtime: WebAssembly components (WIT `wechat:plugin@0.1.0`)
//! loaded from a directory, run on wasmtime with one fresh instance per call.
//!
//! - [`Runtime`]: engine, linker, registry snapshot, hot reload, dispatch.
//! - [`LoadedPlugin`]: one compiled, linked, described plugin version;
//!   [`LoadedPlugin::call`] runs it on a message.
//! - [`Kind`]: which handler a message goes to.
//! - [`run_cmd`]: `wxhost plugin run FILE.wasm`.
//!
//! Modules: `bindings` (bindgen), `engine` (Engine, pooling, epochs),
//! `loader` (compile, cache, version check, describe), `call` (per-call store,
//! limits, error classification), `convert` (Message/Reply ↔ WIT, reply
//! validation), `host_impl` (host functions), `state` (store data),
//! `registry` (the snapshot), `watcher` (notify-based reload).

mod bindings;
mod call;
mod convert;
mod engine;
mod host_impl;
mod kind;
mod loader;
mod registry;
pub mod run_cmd;
mod state;
mod watcher;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use convert::{MAX_LONG_BYTES, MAX_MEDIA_ID_BYTES, MAX_TEXT_BYTES, MAX_TITLE_BYTES};
pub use engine::{EPOCH_TICK, POOL_INSTANCES};
pub use host_impl::{
    CODE_NOT_GRANTED, CODE_SYSTEM, CODE_TRANSPORT, MAX_KV_VALUE_BYTES, MAX_LOG_LINES,
};
pub use kind::Kind;
pub use loader::plugin_id;
pub use registry::{Dispatch, ReloadEvent, Runtime};

use crate::config::{Config, PluginSettings};
use crate::protocol::Reply;
use crate::store::Store;

/// Where plugins come from and their limits.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The plugins directory (`*.wasm`, id = file stem).
    pub dir: PathBuf,
    /// Compiled artifacts (`<sha256>-<engine>.cwasm`), host-owned.
    pub cache_dir: PathBuf,
    pub default_memory_mib: u64,
    pub default_timeout: Duration,
    /// Per plugin id.
    pub settings: BTreeMap<String, PluginSettings>,
    /// Hot-reload the directory (the server calls [`Runtime::watch`] when set).
    pub watch: bool,
}

impl RuntimeConfig {
    /// From the host config; `cache_dir` = `<data_dir>/cache`.
    pub fn from_config(config: &Config) -> RuntimeConfig {
        RuntimeConfig {
            dir: config.plugins.dir.clone(),
            cache_dir: config.storage.data_dir.join("cache"),
            default_memory_mib: config.plugins.memory_mib,
            default_timeout: Duration::from_millis(config.plugins.timeout_ms),
            settings: config.plugin.clone(),
            watch: config.plugins.watch,
        }
    }
}

/// What host functions delegate to.
#[derive(Clone)]
pub struct HostServices {
    /// Backs each plugin's kv (namespace = plugin id).
    pub store: Arc<dyn Store>,
    /// WeChat APIs for plugins granted the capability; `None` → code -3.
    pub wechat: Option<Arc<dyn crate::api::PluginApi>>,
}

/// What a plugin's `describe` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    /// Declared priority (the config may override: see [`LoadedPlugin::priority`]).
    pub priority: i32,
    /// Sorted, deduplicated.
    pub handles: Vec<Kind>,
}

/// A successful call.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginOutcome {
    /// A validated passive reply.
    Reply(Reply),
    /// Answer `success`; no later plugin runs.
    NoReply,
    /// Let the next plugin try.
    Pass,
}

/// Why a call failed. `Display` is one line; [`PluginError::kind`] a stable tag.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    #[error("timed out after {elapsed_ms} ms (limit {limit_ms} ms)")]
    Timeout { limit_ms: u64, elapsed_ms: u64 },
    #[error("memory limit of {limit_mib} MiB exceeded (tried to grow to {requested_bytes} bytes)")]
    MemoryLimit {
        limit_mib: u64,
        requested_bytes: u64,
    },
    #[error("{message}")]
    Panic { message: String },
    #[error("invalid reply: {0}")]
    InvalidReply(String),
    #[error("trap: {0}")]
    Trap(String),
    #[error("instantiation failed: {0}")]
    Instantiate(String),
    #[error("host error: {0}")]
    Host(String),
}

impl PluginError {
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Timeout { .. } => "timeout",
            PluginError::MemoryLimit { .. } => "memory-limit",
            PluginError::Panic { .. } => "panic",
            PluginError::InvalidReply(_) => "invalid-reply",
            PluginError::Trap(_) => "trap",
            PluginError::Instantiate(_) => "instantiate",
            PluginError::Host(_) => "host",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// One `log` call of a plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

impl LogLine {
    /// Emits it as a `tracing` event, target `wxhost::plugin`, field `plugin`.
    /// The fields are formatted only if the event is enabled.
    fn emit(&self, plugin: &str) {
        let (m, f) = (&self.message, Fields(&self.fields));
        match self.level {
            LogLevel::Trace => tracing::trace!(target: "wxhost::plugin", plugin, "{m}{f}"),
            LogLevel::Debug => tracing::debug!(target: "wxhost::plugin", plugin, "{m}{f}"),
            LogLevel::Info => tracing::info!(target: "wxhost::plugin", plugin, "{m}{f}"),
            LogLevel::Warn => tracing::warn!(target: "wxhost::plugin", plugin, "{m}{f}"),
            LogLevel::Error => tracing::error!(target: "wxhost::plugin", plugin, "{m}{f}"),
        }
    }
}

/// ` k="v" k2="v2"` for a log line's fields.
struct Fields<'a>(&'a [(String, String)]);

impl std::fmt::Display for Fields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|(k, v)| write!(f, " {k}={v:?}"))
    }
}

/// Everything one call produced.
#[derive(Debug, Clone)]
pub struct CallReport<R = Result<PluginOutcome, PluginError>> {
    pub result: R,
    pub logs: Vec<LogLine>,
    pub stdout: String,
    pub stderr: String,
    /// Store creation + instantiation.
    pub instantiate: Duration,
    /// Instantiation + call.
    pub elapsed: Duration,
    /// Highest total linear memory of the instance.
    pub memory_peak_bytes: u64,
}

/// Shared by the runtime and every loaded plugin (a plugin may outlive a
/// reload, or the runtime, while a call is in flight).
pub(crate) struct Inner {
    engine: wasmtime::Engine,
    linker: wasmtime::component::Linker<state::State>,
    compat: String,
    pooling: bool,
    permits: tokio::sync::Semaphore,
    cfg: RuntimeConfig,
    services: HostServices,
}

/// One loaded version of a plugin: compiled, linked (`InstancePre`) and described.
pub struct LoadedPlugin {
    /// The file stem.
    pub id: String,
    pub info: PluginInfo,
    /// Of the `.wasm` bytes, hex.
    pub sha256: String,
    pub path: PathBuf,
    /// Effective priority: the config's override, else the declared one.
    pub priority: i32,
    pub memory_limit_bytes: u64,
    pub timeout: Duration,
    /// Loaded from the compiled-artifact cache (no compilation).
    pub from_cache: bool,
    /// Read + compile/deserialize + link + describe.
    pub load_time: Duration,
    pre: wasmtime::component::InstancePre<state::State>,
    exports: convert::Exports,
    host: Arc<state::PluginHost>,
    inner: Arc<Inner>,
}

impl LoadedPlugin {
    /// Whether the plugin declared `kind` (`event` covers every event kind).
    pub fn handles(&self, kind: Kind) -> bool {
        self.info.handles.contains(&kind)
            || (kind.is_event() && self.info.handles.contains(&Kind::Event))
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("id", &self.id)
            .field("info", &self.info)
            .field("sha256", &self.sha256)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}
