//! Loading a `.wasm` file: read, hash, compile (or load the cached
//! artifact), check the WIT version, link, and call `describe`.
//!
//! Cache: `<cache_dir>/<sha256>-<engine compat>.cwasm`, written atomically
//! (temp file + rename) into a directory only the host writes; a restart or a
//! re-copied identical file deserializes instead of compiling. Artifacts are
//! never taken from the plugins directory (deserializing is `unsafe`: it
//! trusts the bytes to be wasmtime's own output).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use super::Inner;
use super::bindings::{V1_MINOR, WIT_PACKAGE, WitVersion, v0_2, v1};
use super::handler::Exports;
use super::loaded::{LoadedPlugin, PluginCode, PluginInfo};
use super::reuse::Reuse;
use super::schedule::ScheduleExport;
use super::state::PluginScope;
use super::web::{INCOMING_HANDLER, WebExport};
use crate::config::secrets::Secrets;
use crate::store::KvQuota;

/// Largest component accepted.
pub const MAX_COMPONENT_BYTES: usize = 64 << 20;
/// Time allowed for instantiation + `describe` at load.
pub const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A valid plugin id: the file stem, `[A-Za-z0-9_-]{1,64}`.
pub fn plugin_id(path: &Path) -> anyhow::Result<String> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| anyhow!("{}: no file name", path.display()))?;
    if !valid_id(stem) {
        bail!(
            "{}: plugin id {stem:?} must be 1 to 64 letters, digits, _ or -",
            path.display()
        );
    }
    Ok(stem.to_owned())
}

/// `[A-Za-z0-9_-]{1,64}`: safe as a file stem, a kv namespace, a label.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Loads `path` with the settings of its id: read, compile (or cache), check,
/// link, describe. Nothing is registered.
pub(crate) async fn load(inner: &Arc<Inner>, path: &Path) -> anyhow::Result<LoadedPlugin> {
    let started = Instant::now();
    let id = plugin_id(path)?;
    let bytes = read_plugin_file(path).await?;
    let sha256 = sha256_hex(&bytes);
    load_bytes(inner, id, path.to_owned(), bytes, sha256, started).await
}

/// Reads a plugin file, refusing anything but a regular file of at most
/// [`MAX_COMPONENT_BYTES`]: a FIFO or device dropped into the plugins dir
/// must not hang or exhaust the loader. (Opened non-blocking, so opening a
/// FIFO returns at once; the type check is on the opened file.)
pub(crate) async fn read_plugin_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
        use std::io::Read as _;
        let mut o = std::fs::OpenOptions::new();
        o.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut o, libc::O_NONBLOCK);
        let f = o
            .open(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let meta = f.metadata()?;
        if !meta.is_file() {
            bail!("{} is not a regular file", path.display());
        }
        if meta.len() > MAX_COMPONENT_BYTES as u64 {
            bail!(
                "{} bytes is larger than the {} MiB limit",
                meta.len(),
                MAX_COMPONENT_BYTES >> 20
            );
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        // The file may grow while being read: never take more than the cap.
        f.take(MAX_COMPONENT_BYTES as u64 + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() > MAX_COMPONENT_BYTES {
            bail!("larger than the {} MiB limit", MAX_COMPONENT_BYTES >> 20);
        }
        Ok(bytes)
    })
    .await?
}

/// The content hash that names a plugin version, its cached artifact and
/// its blob in the store.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    crate::store::published::digest(bytes)
}

/// Builds the plugin's code (compile or cache, version check, link, limits
/// and grants), then describes it.
pub(crate) async fn load_bytes(
    inner: &Arc<Inner>,
    id: String,
    path: PathBuf,
    bytes: Vec<u8>,
    sha256: String,
    started: Instant,
) -> anyhow::Result<LoadedPlugin> {
    let code = compile(inner, id, path, bytes, sha256).await?;
    // `describe` runs on an instance of its own (`InstanceUse::Fresh`),
    // never kept for reuse: `reuse_calls` counts only messages.
    let info = match code.exports {
        Some(_) => code
            .describe()
            .await
            .map_err(|e| anyhow!("describe failed: {e}"))?,
        None => PluginInfo::web_only(&code.id),
    };
    Ok(LoadedPlugin::new(code, info, started.elapsed()))
}

async fn compile(
    inner: &Arc<Inner>,
    id: String,
    path: PathBuf,
    bytes: Vec<u8>,
    sha256: String,
) -> anyhow::Result<PluginCode> {
    if bytes.len() > MAX_COMPONENT_BYTES {
        bail!(
            "{} bytes is larger than the {} MiB limit",
            bytes.len(),
            MAX_COMPONENT_BYTES >> 20
        );
    }
    let (component, from_cache) = {
        let engine = inner.engine.clone();
        let cache = inner
            .cfg
            .cache_dir
            .join(format!("{sha256}-{}.cwasm", inner.compat));
        tokio::task::spawn_blocking(move || compile_cached(&engine, &bytes, &cache)).await??
    };
    let found = check_version(&inner.engine, &component)?;
    let pre = inner
        .linker
        .instantiate_pre(&component)
        .map_err(|e| anyhow!("link error ({}): {e:#}", found.describe_version()))?;
    // Type-checks every export against its version's WIT (and WASI-HTTP's)
    // once, here.
    let exports = match &found.handler {
        Some(handler) => {
            let checked = match found.version {
                Some(WitVersion::V1) => {
                    v1::exports::wechat::plugin::handler::GuestIndices::new(&pre).map(drop)
                }
                _ => v0_2::PluginPre::new(pre.clone()).map(drop),
            };
            checked.map_err(|e| {
                anyhow!(
                    "missing or mistyped handler exports ({}): {e:#}",
                    found.describe_version()
                )
            })?;
            let version = found.version.unwrap_or(WitVersion::V0_2);
            Some(
                Exports::resolve(&component, handler, version)
                    .ok_or_else(|| anyhow!("{handler}: missing handler functions"))?,
            )
        }
        None => None,
    };
    let schedule = match found.schedule {
        true => Some(ScheduleExport::resolve(&pre, found.version).map_err(|e| anyhow!("{e}"))?),
        false => None,
    };
    let web = match found.web {
        true => Some(
            WebExport::resolve(&pre)
                .map_err(|e| anyhow!("mistyped wasi:http/incoming-handler export: {e:#}"))?,
        ),
        false => None,
    };

    let settings = inner.cfg.settings.get(&id).cloned().unwrap_or_default();
    if settings
        .capabilities
        .contains(&crate::config::Capability::HttpOutgoing)
        && settings.http_hosts.is_empty()
    {
        tracing::warn!(
            plugin = %id,
            "plugin {id} is granted http-outgoing but lists no http_hosts: every request is refused (list hosts, or \"*\" for any host on the internet)"
        );
    }
    if web.is_some() && settings.web.login.is_none() {
        tracing::warn!(
            plugin = %id,
            "plugin {id} serves pages, but they are not served: set [plugin.{id}.web] login = \"none\" (public), \"base\" or \"userinfo\""
        );
    }
    // Schedules without the export to run them would silently never run.
    if !settings.schedules.is_empty() && schedule.is_none() {
        let names: Vec<&str> = settings.schedules.keys().map(String::as_str).collect();
        bail!(
            "[plugin.{id}.schedules] lists {} but the plugin does not export {WIT_PACKAGE}/schedule (build it with the SDK's export_scheduled_plugin!, or remove the schedules)",
            names.join(", ")
        );
    }
    // A secret that cannot be read refuses the plugin: it would otherwise
    // run without what it was configured to have.
    let secrets = Secrets::read(&settings.secrets).map_err(|e| anyhow!("{e}"))?;
    let scope = Arc::new(PluginScope {
        id: Arc::from(id.as_str()),
        config: Arc::new(settings.config),
        secrets,
        capabilities: Arc::new(settings.capabilities),
        kv_quota: KvQuota {
            max_bytes: settings
                .kv_max_bytes
                .unwrap_or(inner.cfg.kv_quota.max_bytes),
            max_keys: settings.kv_max_keys.unwrap_or(inner.cfg.kv_quota.max_keys),
        },
        http_hosts: settings.http_hosts.clone().into(),
    });
    Ok(PluginCode {
        id,
        sha256,
        path,
        from_cache,
        memory_limit_bytes: settings.memory_mib.unwrap_or(inner.cfg.default_memory_mib) << 20,
        timeout: settings
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(inner.cfg.default_timeout),
        priority_override: settings.priority,
        pre,
        wit: found.version,
        exports,
        schedule,
        web,
        scope,
        reuse: settings
            .reuse_calls
            .filter(|&n| n > 1)
            .map(|n| Reuse::new(inner, n)),
        inner: inner.clone(),
    })
}

/// Deserializes the cached artifact if present and valid, else compiles and
/// caches. Returns whether the cache was used.
fn compile_cached(engine: &Engine, wasm: &[u8], cache: &Path) -> anyhow::Result<(Component, bool)> {
    if cache.exists() {
        // SAFETY: files in the cache directory are only ever written by
        // `Component::serialize` below (temp + rename), and wasmtime checks
        // the artifact's engine compatibility before using it.
        match unsafe { Component::deserialize_file(engine, cache) } {
            Ok(c) => return Ok((c, true)),
            Err(e) => {
                tracing::warn!(
                    "discarding unusable cached artifact {}: {e}",
                    cache.display()
                );
                let _ = std::fs::remove_file(cache);
            }
        }
    }
    if wasm.starts_with(b"\0asm") && wasm.get(4..8) == Some(&[0x01, 0, 0, 0]) {
        bail!(
            "this is a core WebAssembly module, not a component: build for wasm32-wasip2 (or run `wasm-tools component new`)"
        );
    }
    let component = Component::new(engine, wasm)
        .map_err(|e| anyhow!("not a valid WebAssembly component: {e:#}"))?;
    if let Err(e) = write_cache(&component, cache) {
        tracing::warn!("cannot write compiled artifact {}: {e:#}", cache.display());
    }
    Ok((component, false))
}

fn write_cache(component: &Component, cache: &Path) -> anyhow::Result<()> {
    let dir = cache.parent().context("cache path has no parent")?;
    crate::fsutil::create_private_dir(dir)?;
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    crate::fsutil::write_private_atomic(cache, &bytes)?;
    Ok(())
}

/// `(major, minor, patch)` of a `wechat:plugin/<iface>@<version>` name.
fn wit_version(name: &str) -> Option<(&str, (u64, u64, u64))> {
    let rest = name.strip_prefix(WIT_PACKAGE)?.strip_prefix('/')?;
    let (iface, version) = rest.split_once('@')?;
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((iface, (parts.next()??, parts.next()??, parts.next()??)))
}

/// The WIT versions this host loads (`wechat:plugin@0.2.x and @1.0.x to @1.1.x`).
pub fn supported() -> String {
    let v1 = match V1_MINOR {
        0 => "@1.0.x".to_owned(),
        m => format!("@1.0.x to @1.{m}.x"),
    };
    format!("{WIT_PACKAGE}@0.2.x and {v1}")
}

/// What a component exports and imports of ours.
struct Found {
    /// The name of its `wechat:plugin/handler@…` export.
    handler: Option<String>,
    /// The WIT version its `wechat:plugin` names carry (`None`: a page-only
    /// component that imports nothing of ours).
    version: Option<WitVersion>,
    /// It exports `wasi:http/incoming-handler@0.2.x`.
    web: bool,
    /// It exports `wechat:plugin/schedule@…`.
    schedule: bool,
}

impl Found {
    fn describe_version(&self) -> String {
        match self.version {
            Some(v) => format!("built for {v}"),
            None => "no wechat:plugin interface".to_owned(),
        }
    }
}

/// Refuses components built against a WIT version this host does not link
/// (another major, or a newer 1.x minor), naming it and the supported range,
/// before linking would fail with a less helpful message; components that
/// mix versions; and components that export neither a message handler nor
/// a page handler.
fn check_version(engine: &Engine, component: &Component) -> anyhow::Result<Found> {
    let ty = component.component_type();
    let mut handler = None;
    let mut schedule = false;
    let mut version: Option<(WitVersion, String)> = None;
    let web = ty.exports(engine).any(|(name, item)| {
        name.starts_with(INCOMING_HANDLER) && matches!(item.ty, ComponentItem::ComponentInstance(_))
    });
    for (name, item) in ty.exports(engine).chain(ty.imports(engine)) {
        if let Some((iface, v)) = wit_version(name) {
            let Some(this) = WitVersion::of(v) else {
                bail!(
                    "built against {WIT_PACKAGE}@{}.{}.{} ({name}), this host supports {}",
                    v.0,
                    v.1,
                    v.2,
                    supported()
                );
            };
            match &version {
                Some((seen, first)) if *seen != this => bail!(
                    "mixes WIT versions ({first} and {name}): build it against one of {}",
                    supported()
                ),
                Some(_) => {}
                None => version = Some((this, name.to_owned())),
            }
            let instance = matches!(item.ty, ComponentItem::ComponentInstance(_));
            if iface == "handler" && instance {
                handler = Some(name.to_owned());
            }
            schedule |= iface == "schedule" && instance;
        }
    }
    if handler.is_none() && !web {
        let exports: Vec<&str> = ty.exports(engine).map(|(n, _)| n).collect();
        bail!(
            "not a wxhost plugin: it exports neither {WIT_PACKAGE}/handler ({} expected) nor wasi:http/incoming-handler (exports: [{}])",
            supported(),
            exports.join(", ")
        );
    }
    Ok(Found {
        handler,
        version: version.map(|(v, _)| v),
        web,
        schedule,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            wit_version("wechat:plugin/handler@0.1.0"),
            Some(("handler", (0, 1, 0)))
        );
        assert_eq!(
            wit_version("wechat:plugin/host@1.0.0-rc1"),
            Some(("host", (1, 0, 0)))
        );
        assert_eq!(wit_version("wasi:cli/env@0.2.0"), None);
        assert_eq!(WitVersion::of((0, 2, 7)), Some(WitVersion::V0_2));
        assert_eq!(WitVersion::of((1, 0, 3)), Some(WitVersion::V1));
        assert_eq!(WitVersion::of((0, 1, 0)), None);
        assert_eq!(WitVersion::of((1, V1_MINOR + 1, 0)), None);
        assert_eq!(WitVersion::of((2, 0, 0)), None);
        assert_eq!(supported(), "wechat:plugin@0.2.x and @1.0.x to @1.1.x");
        assert!(plugin_id(Path::new("/x/echo.wasm")).is_ok());
        assert!(plugin_id(Path::new("/x/e cho.wasm")).is_err());
    }
}
