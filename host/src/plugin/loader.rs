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
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use super::bindings::{PluginPre, WIT_PACKAGE, WIT_VERSION};
use super::convert::Exports;
use super::state::PluginHost;
use super::{Inner, LoadedPlugin};

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
    if stem.is_empty()
        || stem.len() > 64
        || !stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!(
            "{}: plugin id {stem:?} must be 1 to 64 letters, digits, _ or -",
            path.display()
        );
    }
    Ok(stem.to_owned())
}

pub(crate) async fn load(inner: &Arc<Inner>, path: &Path) -> anyhow::Result<LoadedPlugin> {
    let started = Instant::now();
    let id = plugin_id(path)?;
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    let sha256 = sha256_hex(&bytes);
    load_bytes(inner, id, path.to_owned(), bytes, sha256, started).await
}

/// The content hash that names a plugin version and its cached artifact.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) async fn load_bytes(
    inner: &Arc<Inner>,
    id: String,
    path: PathBuf,
    bytes: Vec<u8>,
    sha256: String,
    started: Instant,
) -> anyhow::Result<LoadedPlugin> {
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
    let handler = check_version(&inner.engine, &component)?;
    let pre = inner
        .linker
        .instantiate_pre(&component)
        .map_err(|e| anyhow!("link error: {e:#}"))?;
    // Type-checks every export against our WIT once, here.
    let pre =
        PluginPre::new(pre).map_err(|e| anyhow!("missing or mistyped handler exports: {e:#}"))?;
    let exports = Exports::resolve(&component, &handler)
        .ok_or_else(|| anyhow!("{handler}: missing handler functions"))?;

    let settings = inner.cfg.settings.get(&id).cloned().unwrap_or_default();
    let memory_limit = settings.memory_mib.unwrap_or(inner.cfg.default_memory_mib) << 20;
    let timeout = settings
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(inner.cfg.default_timeout);
    let host = Arc::new(PluginHost {
        id: id.clone(),
        config: settings.config.clone(),
        capabilities: settings.capabilities.clone(),
        services: inner.services.clone(),
    });
    let mut plugin = LoadedPlugin {
        id,
        info: super::PluginInfo {
            name: String::new(),
            version: String::new(),
            priority: 0,
            handles: vec![],
        },
        sha256,
        path,
        priority: 0,
        memory_limit_bytes: memory_limit,
        timeout,
        from_cache,
        load_time: Duration::ZERO,
        pre: pre.instance_pre().clone(),
        exports,
        host,
        inner: inner.clone(),
    };
    let info = plugin
        .describe()
        .await
        .map_err(|e| anyhow!("describe failed: {e}"))?;
    plugin.priority = settings.priority.unwrap_or(info.priority);
    plugin.info = info;
    plugin.load_time = started.elapsed();
    Ok(plugin)
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
    create_private_dir(dir)?;
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, cache).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// `(major, minor, patch)` of a `wechat:plugin/<iface>@<version>` name.
fn wit_version(name: &str) -> Option<(&str, (u64, u64, u64))> {
    let rest = name.strip_prefix(WIT_PACKAGE)?.strip_prefix('/')?;
    let (iface, version) = rest.split_once('@')?;
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((iface, (parts.next()??, parts.next()??, parts.next()??)))
}

fn compatible(v: (u64, u64, u64)) -> bool {
    let host = WIT_VERSION;
    if host.0 == 0 {
        v.0 == 0 && v.1 == host.1
    } else {
        v.0 == host.0
    }
}

pub(crate) fn supported() -> String {
    let (ma, mi, _) = WIT_VERSION;
    if ma == 0 {
        format!("{WIT_PACKAGE}@0.{mi}.x")
    } else {
        format!("{WIT_PACKAGE}@{ma}.x")
    }
}

/// Refuses components built against another major WIT version, naming both,
/// before linking would fail with a less helpful message. Returns the name of
/// the handler export.
fn check_version(engine: &Engine, component: &Component) -> anyhow::Result<String> {
    let ty = component.component_type();
    let mut handler = None;
    for (name, item) in ty.exports(engine).chain(ty.imports(engine)) {
        if let Some((iface, v)) = wit_version(name) {
            if !compatible(v) {
                bail!(
                    "built against {WIT_PACKAGE}@{}.{}.{} ({name}), this host supports {}",
                    v.0,
                    v.1,
                    v.2,
                    supported()
                );
            }
            if iface == "handler" && matches!(item.ty, ComponentItem::ComponentInstance(_)) {
                handler = Some(name.to_owned());
            }
        }
    }
    handler.ok_or_else(|| {
        let exports: Vec<&str> = ty.exports(engine).map(|(n, _)| n).collect();
        anyhow!(
            "not a wxhost plugin: it does not export {WIT_PACKAGE}/handler ({} expected; exports: [{}])",
            supported(),
            exports.join(", ")
        )
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
        assert!(compatible((0, 1, 7)) && !compatible((0, 2, 0)) && !compatible((1, 0, 0)));
        assert_eq!(supported(), "wechat:plugin@0.1.x");
        assert!(plugin_id(Path::new("/x/echo.wasm")).is_ok());
        assert!(plugin_id(Path::new("/x/e cho.wasm")).is_err());
    }
}
