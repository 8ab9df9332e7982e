//! [`Runtime`]: owns the engine, the [`Registry`] of loaded plugins, loading
//! and reloading, and dispatch of a message along the plugins.
//!
//! Loading happens off to the side; only a fully compiled, linked and
//! described plugin is ever published.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::broadcast;

use super::account_switches::AccountSwitches;
use super::handler::HandlerInput;
use super::registry::Registry;
use super::rescan::{FileStamp, Seen};
use super::{
    AccountScope, HostServices, Inner, LoadedPlugin, PluginError, PluginOutcome, PluginStats,
    RuntimeConfig, engine, loader,
};
use crate::api::QrCode;
use crate::protocol::Message;
use crate::store::PluginSwitchStore;

/// What changed in the registry (for logs, admin views and tests).
#[derive(Debug, Clone, PartialEq)]
pub enum ReloadEvent {
    Loaded {
        id: String,
        sha256: String,
        from_cache: bool,
    },
    Replaced {
        id: String,
        old_sha256: String,
        new_sha256: String,
    },
    /// The file had the same content as the serving version.
    Unchanged {
        id: String,
    },
    Removed {
        id: String,
    },
    /// Not loaded; a working version, if any, keeps serving.
    Failed {
        id: String,
        path: PathBuf,
        error: String,
    },
    Disabled {
        id: String,
    },
}

impl ReloadEvent {
    /// The metric label of the change.
    fn label(&self) -> &'static str {
        match self {
            ReloadEvent::Loaded { .. } => "loaded",
            ReloadEvent::Replaced { .. } => "replaced",
            ReloadEvent::Unchanged { .. } => "unchanged",
            ReloadEvent::Removed { .. } => "removed",
            ReloadEvent::Failed { .. } => "rejected",
            ReloadEvent::Disabled { .. } => "disabled",
        }
    }
}

/// Why a plugin could not be switched on or off.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SwitchError {
    /// `plugin.<id>.enabled = false` in the config: the config wins.
    #[error(
        "plugin {0} is disabled in the config (plugin.{0}.enabled = false), which wins over the console"
    )]
    DisabledInConfig(String),
    #[error("no plugin {0} in the plugins directory")]
    Unknown(String),
    #[error("{0}")]
    Store(String),
}

/// Plugins switched off by an operator (persisted through the store).
#[derive(Default)]
struct Switches {
    store: Option<Arc<dyn PluginSwitchStore>>,
    off: BTreeSet<String>,
}

/// The result of [`Runtime::dispatch`].
#[derive(Debug, Default)]
pub struct Dispatch {
    /// The first plugin that replied (or chose no-reply), if any.
    pub answer: Option<(String, PluginOutcome)>,
    /// Plugins that failed along the way (already logged).
    pub failures: Vec<(String, PluginError)>,
    /// How many plugins were called (0: none handles this kind).
    pub called: usize,
    /// The deadline passed before every candidate had its turn.
    pub out_of_time: bool,
}

pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
    pub(super) registry: Registry,
    /// Serializes load → publish so two reloads of one file cannot interleave.
    pub(super) load_lock: tokio::sync::Mutex<()>,
    /// Every plugin file as last looked at (see `rescan.rs`).
    pub(crate) seen: Seen,
    events: broadcast::Sender<ReloadEvent>,
    pub(crate) watcher: Mutex<Option<super::watcher::WatchHandle>>,
    switches: Mutex<Switches>,
    /// One change of switches or publications at a time, made here or read
    /// from the store: a read of the store taken before a change made here
    /// must not be applied after it (it would undo it). Taken before
    /// `load_lock`.
    pub(super) store_sync: tokio::sync::Mutex<()>,
    /// What the store publishes (`published.rs`).
    pub(super) published: Mutex<super::published::Published>,
    /// The accounts' own switches, kept in step with the store's.
    account_switches: std::sync::OnceLock<Arc<AccountSwitches>>,
}

impl Runtime {
    /// Builds the engine (pooling allocator when available, epoch ticker)
    /// and linker. Loads nothing yet: see [`Runtime::load_all`].
    pub fn new(cfg: RuntimeConfig, services: HostServices) -> anyhow::Result<Arc<Runtime>> {
        let instances = cfg.max_instances.max(1);
        let parts = engine::build(instances)?;
        tracing::debug!(
            max_instances = instances,
            pooling = parts.pooling,
            "plugin runtime"
        );
        let inner = Arc::new(Inner {
            engine: parts.engine,
            linker: parts.linker,
            compat: parts.compat,
            pooling: parts.pooling,
            permits: tokio::sync::Semaphore::new(instances as usize),
            page_share: tokio::sync::Semaphore::new(super::web::page_share(instances)),
            schedule_share: tokio::sync::Semaphore::new(super::schedule::schedule_share(instances)),
            waiting: Default::default(),
            warm_pools: Default::default(),
            default_account: Arc::new(AccountScope {
                name: cfg.account.name.clone(),
                app_id: cfg.account.app_id.clone(),
                services,
                plugins: None,
                grants: Default::default(),
                switches: Default::default(),
            }),
            cfg,
            stats: PluginStats::default(),
        });
        Ok(Arc::new(Runtime {
            inner,
            registry: Registry::default(),
            load_lock: tokio::sync::Mutex::new(()),
            seen: Seen::default(),
            events: broadcast::channel(256).0,
            watcher: Mutex::new(None),
            switches: Mutex::new(Switches::default()),
            store_sync: tokio::sync::Mutex::new(()),
            published: Mutex::new(Default::default()),
            account_switches: Default::default(),
        }))
    }

    /// Keeps the operator's on/off switches in `store` from now on, and
    /// takes the ones it holds (call before [`Runtime::load_all`]).
    pub async fn use_switches(&self, store: Arc<dyn PluginSwitchStore>) -> anyhow::Result<()> {
        // Kept even when the read fails (a store that is down at start):
        // later switches are still recorded.
        self.switches.lock().unwrap().store = Some(store.clone());
        let off = store.disabled().await?;
        let (off, per_account) = split_switches(off);
        self.switches.lock().unwrap().off = off;
        if let Some(s) = self.account_switches.get() {
            s.replace(per_account.iter().map(String::as_str));
        }
        Ok(())
    }

    /// Keeps `switches` (every account's, shared with the accounts) in step
    /// with the store from now on (call before [`Runtime::use_switches`]).
    pub fn use_account_switches(&self, switches: Arc<AccountSwitches>) {
        let _ = self.account_switches.set(switches);
    }

    /// Switches `id` on or off for `account` only, persistently: it keeps
    /// serving the other accounts (see `account_switches.rs`).
    pub async fn set_enabled_for(
        &self,
        account: &str,
        id: &str,
        enabled: bool,
    ) -> Result<(), SwitchError> {
        self.switchable(id)?;
        let _one = self.store_sync.lock().await;
        let store = self.switches.lock().unwrap().store.clone();
        if let Some(store) = store {
            store
                .set_enabled(&AccountSwitches::key(account, id), enabled)
                .await
                .map_err(|e| SwitchError::Store(e.to_string()))?;
        }
        if let Some(s) = self.account_switches.get() {
            s.set(account, id, enabled);
        }
        Ok(())
    }

    /// The plugins switched off for `account` only.
    pub fn disabled_for(&self, account: &str) -> Vec<String> {
        self.account_switches
            .get()
            .map(|s| s.off_for(account))
            .unwrap_or_default()
    }

    /// Calls and failures per plugin id (kept across reloads).
    pub fn stats(&self) -> &PluginStats {
        &self.inner.stats
    }

    /// Why `id` is not loaded, if it is switched off: `Some(true)` by the
    /// config, `Some(false)` by an operator.
    pub fn disabled_by_config(&self, id: &str) -> Option<bool> {
        if self.inner.cfg.settings.get(id).and_then(|s| s.enabled) == Some(false) {
            return Some(true);
        }
        self.switches
            .lock()
            .unwrap()
            .off
            .contains(id)
            .then_some(false)
    }

    /// Plugins (files in the directory, or published to the store) that are switched off (by the config
    /// or an operator), with whether the config did it.
    pub fn disabled(&self) -> Vec<(String, bool)> {
        let Ok(entries) = std::fs::read_dir(&self.inner.cfg.dir) else {
            return Vec::new();
        };
        let ids: BTreeSet<String> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_plugin_file(p))
            .filter_map(|p| loader::plugin_id(&p).ok())
            .chain(self.published_ids())
            .collect();
        ids.into_iter()
            .filter_map(|id| self.disabled_by_config(&id).map(|c| (id, c)))
            .collect()
    }

    /// Whether `id` names a plugin an operator may switch: a file in the
    /// plugins directory, a loaded or a published one — nothing else.
    fn switchable(&self, id: &str) -> Result<(), SwitchError> {
        let path = self.inner.cfg.dir.join(format!("{id}.wasm"));
        if !loader::valid_id(id)
            || (!path.is_file() && self.get(id).is_none() && !self.is_published(id))
        {
            return Err(SwitchError::Unknown(id.to_owned()));
        }
        Ok(())
    }

    /// Switches `id` on or off, persistently. Off: it stops serving at once
    /// (calls in flight finish). On: its file is loaded again. The config's
    /// `plugin.<id>.enabled = false` wins: such a plugin cannot be switched
    /// on here.
    pub async fn set_enabled(&self, id: &str, enabled: bool) -> Result<(), SwitchError> {
        if self.inner.cfg.settings.get(id).and_then(|s| s.enabled) == Some(false) {
            return Err(SwitchError::DisabledInConfig(id.to_owned()));
        }
        self.switchable(id)?;
        let _one = self.store_sync.lock().await;
        let store = self.switches.lock().unwrap().store.clone();
        if let Some(store) = store {
            store
                .set_enabled(id, enabled)
                .await
                .map_err(|e| SwitchError::Store(e.to_string()))?;
        }
        {
            let mut s = self.switches.lock().unwrap();
            if enabled {
                s.off.remove(id);
            } else {
                s.off.insert(id.to_owned());
            }
        }
        if enabled {
            self.reload_id(id).await;
        } else {
            self.unload_switched_off(id).await;
        }
        Ok(())
    }

    /// The store the switches are kept in, if any.
    pub(super) fn switch_store(&self) -> Option<Arc<dyn PluginSwitchStore>> {
        self.switches.lock().unwrap().store.clone()
    }

    /// Takes the store's per-account switches.
    pub(super) fn take_account_switches(&self, ids: &[String]) {
        if let Some(s) = self.account_switches.get() {
            s.replace(ids.iter().map(String::as_str));
        }
    }

    /// Takes `off` as the switched-off set; returns the ids it switches off
    /// and those it switches back on.
    pub(super) fn take_switches(&self, off: BTreeSet<String>) -> (Vec<String>, Vec<String>) {
        let mut s = self.switches.lock().unwrap();
        let now_off = off.difference(&s.off).cloned().collect();
        let now_on = s.off.difference(&off).cloned().collect();
        s.off = off;
        (now_off, now_on)
    }

    /// Stops serving `id` (switched off; calls in flight finish).
    pub(super) async fn unload_switched_off(&self, id: &str) {
        let _guard = self.load_lock.lock().await;
        if let Some(old) = self.registry.remove(id) {
            tracing::info!(plugin = %id, "plugin {id} switched off (was {} {})", old.info.name, old.info.version);
        }
        self.emit(ReloadEvent::Disabled { id: id.to_owned() });
    }

    /// Compiles (or takes from the cache), checks the WIT version, links and
    /// describes `bytes` as plugin `id` from `path`, without registering it:
    /// the one validation that hot reload and uploads share.
    pub async fn prepare(
        &self,
        id: &str,
        path: &Path,
        bytes: Vec<u8>,
    ) -> anyhow::Result<LoadedPlugin> {
        let started = Instant::now();
        let sha256 = loader::sha256_hex(&bytes);
        loader::load_bytes(
            &self.inner,
            id.to_owned(),
            path.to_owned(),
            bytes,
            sha256,
            started,
        )
        .await
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.cfg
    }

    /// The account a call acts for when its caller names none (`plugin
    /// run`): the runtime's own services.
    pub fn default_scope(&self) -> Arc<AccountScope> {
        self.inner.default_account.clone()
    }

    /// Whether the pooling allocator is in use (else on-demand allocation).
    pub fn pooling(&self) -> bool {
        self.inner.pooling
    }

    /// Plugin instances that may exist at once (calls beyond wait).
    pub fn max_instances(&self) -> u32 {
        self.inner.cfg.max_instances.max(1)
    }

    /// Registry changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ReloadEvent> {
        self.events.subscribe()
    }

    /// The current plugins, by effective priority (high first), then id.
    pub fn plugins(&self) -> Arc<Vec<Arc<LoadedPlugin>>> {
        self.registry.snapshot()
    }

    /// The login plugin `id`'s pages require; `None`: not configured
    /// (`[plugin.<id>.web] login`), so its pages are not served.
    pub fn page_login(&self, id: &str) -> Option<crate::config::WebLogin> {
        self.inner.cfg.settings.get(id).and_then(|s| s.web.login)
    }

    /// A current plugin by id.
    pub fn get(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        self.registry.get(id)
    }

    /// Compiles (or loads from cache), links and describes a file without
    /// registering it. Settings are those of its id.
    pub async fn load_file(&self, path: &Path) -> anyhow::Result<Arc<LoadedPlugin>> {
        loader::load(&self.inner, path).await.map(Arc::new)
    }

    /// Loads every `*.wasm` in the directory (creating it if missing), by
    /// reconciling the registry with it (see [`Runtime::rescan`]). A file
    /// that fails is logged and skipped; the others load.
    pub async fn load_all(&self) -> anyhow::Result<()> {
        let dir = &self.inner.cfg.dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("plugins dir {}: {e}", dir.display()))?;
        self.reconcile(false).await
    }

    /// (Re)loads `path` if it exists, else removes its plugin. Failures keep
    /// the working version and are logged with the reason.
    pub(crate) async fn reload_path(&self, path: &Path) {
        let _guard = self.load_lock.lock().await;
        // Taken before the file is read, so a write that races with the
        // read changes the stamp and the next rescan looks again.
        self.seen.record(path, FileStamp::of(path));
        let id = match loader::plugin_id(path) {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!("ignoring {}: {e}", path.display());
                return;
            }
        };
        if self.is_published(&id) {
            // The store wins over the directory (`published.rs`).
            if path.exists() {
                tracing::info!(plugin = %id, "plugin {id} is published to the store, which wins: {} is not loaded", path.display());
            }
            return;
        }
        if !path.exists() {
            if let Some(old) = self.registry.remove_from(&id, path) {
                tracing::info!(plugin = %id, "plugin {id} removed (was {} {}, sha256 {})", old.info.name, old.info.version, short(old.sha256()));
                self.emit(ReloadEvent::Removed { id });
            }
            return;
        }
        if let Some(by_config) = self.disabled_by_config(&id) {
            let by = if by_config {
                "in the config"
            } else {
                "by an operator"
            };
            tracing::info!(plugin = %id, "plugin {id} is switched off {by}; not loading {}", path.display());
            self.registry.remove(&id);
            self.emit(ReloadEvent::Disabled { id });
            return;
        }
        let old = self.get(&id);
        let bytes = match loader::read_plugin_file(path).await {
            Ok(b) => b,
            Err(e) => return self.failed(&id, path, old.as_deref(), format!("{e:#}")),
        };
        let sha256 = loader::sha256_hex(&bytes);
        if let Some(old) = &old
            && old.path() == path
            && old.sha256() == sha256
        {
            self.emit(ReloadEvent::Unchanged { id });
            return;
        }
        match self.prepare(&id, path, bytes).await {
            Ok(p) => self.publish(&id, Arc::new(p), old),
            Err(e) => self.failed(&id, path, old.as_deref(), format!("{e:#}")),
        }
    }

    /// Registers a prepared plugin (replacing `old`), logs and emits it.
    pub(super) fn publish(&self, id: &str, p: Arc<LoadedPlugin>, old: Option<Arc<LoadedPlugin>>) {
        let id = id.to_owned();
        self.inner.stats.loaded(&id);
        if p.info.handles.is_empty() && !p.serves_web() && !p.runs_schedules() {
            tracing::warn!(plugin = %id, "plugin {id} declares no kinds in describe(); it will never be called");
        }
        self.registry.insert(p.clone());
        let how = if p.from_cache() {
            "from cache"
        } else {
            "compiled"
        };
        let handles: Vec<&str> = p.info.handles.iter().map(|k| k.name()).collect();
        match old {
            Some(old) => {
                tracing::info!(plugin = %id, "plugin {id} replaced: {} {} → {} {} (sha256 {} → {}, {how} in {:?})", old.info.name, old.info.version, p.info.name, p.info.version, short(old.sha256()), short(p.sha256()), p.load_time);
                self.emit(ReloadEvent::Replaced {
                    id,
                    old_sha256: old.sha256().to_owned(),
                    new_sha256: p.sha256().to_owned(),
                });
            }
            None => {
                tracing::info!(plugin = %id, "plugin {id} loaded: {} {} priority {} handles [{}]{} (sha256 {}, {how} in {:?})", p.info.name, p.info.version, p.priority, handles.join(", "), if p.serves_web() { format!(", pages at /app/{id}/") } else { String::new() }, short(p.sha256()), p.load_time);
                self.emit(ReloadEvent::Loaded {
                    id,
                    sha256: p.sha256().to_owned(),
                    from_cache: p.from_cache(),
                });
            }
        }
    }

    pub(super) fn failed(&self, id: &str, path: &Path, old: Option<&LoadedPlugin>, error: String) {
        let keep = match old {
            Some(o) => format!(
                "; still serving {} {} (sha256 {})",
                o.info.name,
                o.info.version,
                short(o.sha256())
            ),
            None => String::new(),
        };
        tracing::warn!(plugin = %id, "plugin {id} not loaded from {}: {error}{keep}", path.display());
        self.emit(ReloadEvent::Failed {
            id: id.to_owned(),
            path: path.to_owned(),
            error,
        });
    }

    pub(super) fn emit(&self, ev: ReloadEvent) {
        metrics::counter!("wxhost_plugin_reloads_total", "result" => ev.label()).increment(1);
        let _ = self.events.send(ev);
    }

    /// Offers `msg` to each plugin that handles its kind, in priority order,
    /// until one replies or chooses no-reply; failures and passes move on.
    /// Each plugin gets its own time limit; `deadline` only ends the chain
    /// (no call starts after it, none runs past it).
    pub async fn dispatch(
        &self,
        msg: &Message,
        qr_code: Option<&QrCode>,
        deadline: Instant,
    ) -> Dispatch {
        let account = self.inner.default_account.clone();
        self.dispatch_observed(&account, msg, qr_code, deadline, |_| {})
            .await
    }

    /// [`Runtime::dispatch`] for `account` (only its plugins, in its
    /// priority order, each call acting for it), telling `calling` the id of
    /// each plugin as its call starts (so whoever waits on the work can say
    /// what is running).
    pub async fn dispatch_observed(
        &self,
        account: &AccountScope,
        msg: &Message,
        qr_code: Option<&QrCode>,
        deadline: Instant,
        mut calling: impl FnMut(&str) + Send,
    ) -> Dispatch {
        let input = HandlerInput::new(msg)
            .with_qr_code(qr_code)
            .with_account(account.info());
        let mut out = Dispatch::default();
        let plugins = account.select(&self.plugins());
        for p in plugins.iter().filter(|p| p.handles(input.kind)) {
            if Instant::now() >= deadline {
                out.out_of_time = true;
                break;
            }
            out.called += 1;
            calling(p.id());
            match p.call_as(account, &input, deadline).await.result {
                Ok(PluginOutcome::Pass) => continue,
                Ok(o) => {
                    out.answer = Some((p.id().to_owned(), o));
                    break;
                }
                Err(e @ PluginError::Shed { .. }) => {
                    out.failures.push((p.id().to_owned(), e));
                    out.out_of_time = true;
                    break;
                }
                Err(e) => out.failures.push((p.id().to_owned(), e)),
            }
        }
        out
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// `*.wasm`, not hidden (editors' and copy tools' temp files are dotfiles or
/// have other extensions such as `.tmp`, `.part`, `~`).
pub(crate) fn is_plugin_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !name.starts_with('.') && name.len() > 5 && name.ends_with(".wasm")
}

/// The store's switched-off ids: the deployment's (plugin ids) and the
/// accounts' own (`@<account>/<plugin>`).
pub(super) fn split_switches(
    ids: impl IntoIterator<Item = String>,
) -> (BTreeSet<String>, Vec<String>) {
    let (per_account, off): (Vec<String>, Vec<String>) = ids
        .into_iter()
        .partition(|id| AccountSwitches::parse(id).is_some());
    (off.into_iter().collect(), per_account)
}
