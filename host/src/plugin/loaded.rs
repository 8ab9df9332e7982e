//! One plugin version in two stages: [`PluginCode`] is a file compiled,
//! version-checked and linked, with its limits and grants; calling its
//! `describe` turns it into a [`LoadedPlugin`], the only kind the registry
//! ever publishes. A component that serves only web pages has no
//! `describe`: it is named by its id and handles no message.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::InstancePre;

use super::Inner;
use super::bindings::WitVersion;
use super::handler::Exports;
use super::kind::Kind;
use super::reuse::Reuse;
use super::schedule::ScheduleExport;
use super::state::{CallState, PluginScope};
use super::web::WebExport;

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

impl PluginInfo {
    /// The info of a plugin without a message handler: named by its id,
    /// handling nothing.
    pub(crate) fn web_only(id: &str) -> PluginInfo {
        PluginInfo {
            name: id.to_owned(),
            version: String::new(),
            priority: 0,
            handles: Vec::new(),
        }
    }
}

/// A plugin file ready to instantiate: compiled (or loaded from the cache),
/// checked against our WIT version and linked (`InstancePre`).
pub(crate) struct PluginCode {
    pub id: String,
    /// Of the `.wasm` bytes, hex.
    pub sha256: String,
    pub path: PathBuf,
    /// Loaded from the compiled-artifact cache (no compilation).
    pub from_cache: bool,
    pub memory_limit_bytes: u64,
    pub timeout: Duration,
    /// The config's priority override, if any.
    pub priority_override: Option<i32>,
    pub pre: InstancePre<CallState>,
    /// The WIT version it was built for (`None`: a page-only component
    /// that uses none of our interfaces).
    pub wit: Option<WitVersion>,
    /// The message handler, if it exports one.
    pub exports: Option<Exports>,
    /// The schedule handler, if it exports `wechat:plugin/schedule`.
    pub schedule: Option<ScheduleExport>,
    /// The page handler, if it exports `wasi:http/incoming-handler`.
    pub web: Option<WebExport>,
    pub scope: Arc<PluginScope>,
    /// With `reuse_calls`: this version's idle instances (`reuse.rs`).
    pub reuse: Option<Arc<Reuse>>,
    pub inner: Arc<Inner>,
}

/// One loaded version of a plugin: compiled, linked and described.
pub struct LoadedPlugin {
    pub info: PluginInfo,
    /// Effective priority: the config's override, else the declared one.
    pub priority: i32,
    /// Read + compile/deserialize + link + describe.
    pub load_time: Duration,
    pub(crate) code: PluginCode,
}

impl LoadedPlugin {
    pub(crate) fn new(code: PluginCode, info: PluginInfo, load_time: Duration) -> LoadedPlugin {
        LoadedPlugin {
            priority: code.priority_override.unwrap_or(info.priority),
            info,
            load_time,
            code,
        }
    }

    /// The file stem.
    pub fn id(&self) -> &str {
        &self.code.id
    }

    /// Of the `.wasm` bytes, hex.
    pub fn sha256(&self) -> &str {
        &self.code.sha256
    }

    pub fn path(&self) -> &Path {
        &self.code.path
    }

    /// Loaded from the compiled-artifact cache (no compilation).
    pub fn from_cache(&self) -> bool {
        self.code.from_cache
    }

    pub fn memory_limit_bytes(&self) -> u64 {
        self.code.memory_limit_bytes
    }

    /// Its own time limit per call.
    pub fn timeout(&self) -> Duration {
        self.code.timeout
    }

    /// The host capabilities granted to it (`plugin.<id>.capabilities`).
    pub fn capabilities(&self) -> &std::collections::BTreeSet<crate::config::Capability> {
        &self.code.scope.capabilities
    }

    /// Calls one instance may serve (`plugin.<id>.reuse_calls`; 1: a fresh
    /// instance per call).
    pub fn reuse_calls(&self) -> u32 {
        self.code.reuse.as_ref().map_or(1, |r| r.max_calls)
    }

    /// Instances of this version idle for reuse now.
    pub fn idle_instances(&self) -> usize {
        self.code.reuse.as_ref().map_or(0, |r| r.idle())
    }

    /// The component's imports (WASI and wxhost interfaces, with versions).
    pub fn imports(&self) -> Vec<String> {
        let c = self.code.pre.component();
        c.component_type()
            .imports(c.engine())
            .map(|(n, _)| n.to_owned())
            .collect()
    }

    /// The WIT version it was built for (`None`: a page-only component
    /// that uses none of our interfaces).
    pub fn wit_version(&self) -> Option<WitVersion> {
        self.code.wit
    }

    /// The component's exports.
    pub fn exports(&self) -> Vec<String> {
        let c = self.code.pre.component();
        c.component_type()
            .exports(c.engine())
            .map(|(n, _)| n.to_owned())
            .collect()
    }

    /// Whether the plugin declared `kind` (`event` covers every event kind).
    pub fn handles(&self, kind: Kind) -> bool {
        self.info.handles.contains(&kind)
            || (kind.is_event() && self.info.handles.contains(&Kind::Event))
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("id", &self.code.id)
            .field("info", &self.info)
            .field("sha256", &self.code.sha256)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}
