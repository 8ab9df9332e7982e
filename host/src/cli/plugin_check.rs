//! `wxhost plugin check FILE.wasm`: validates a component exactly as
//! `serve` loads it — the same loader (size, component, WIT version,
//! exports, link, `describe`) under the same config — and prints what it
//! declares. A file `serve` would refuse fails here with the same reason.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;

use super::plugin_run::{ms, runtime, runtime_config};
use crate::config::Config;
use crate::plugin::{V1_MINOR, WitVersion};

#[derive(Debug, Clone, clap::Args)]
pub struct PluginCheckCommand {
    /// The plugin component (`.wasm`); its file stem is the plugin id whose
    /// `[plugin.<id>]` settings apply.
    pub file: PathBuf,
}

impl PluginCheckCommand {
    pub async fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        let (cfg, id) = runtime_config(config, &self.file)?;
        // An in-memory store: checking a file changes nothing anywhere.
        let rt = runtime(cfg, crate::store::Stores::in_memory()?.kv)?;
        let t = Instant::now();
        let p = rt
            .load_file(&self.file)
            .await
            .with_context(|| format!("{} would not load", self.file.display()))?;
        let load = t.elapsed();
        let size = std::fs::metadata(&self.file)?.len();
        let handles: Vec<&str> = p.info.handles.iter().map(|k| k.name()).collect();
        writeln!(
            out,
            "ok       {} loads as plugin {id} ({} supported)",
            self.file.display(),
            crate::plugin::supported_wit()
        )?;
        writeln!(
            out,
            "plugin   {} {} (priority {}{}, handles [{}])",
            p.info.name,
            p.info.version,
            p.priority,
            if p.priority == p.info.priority {
                String::new()
            } else {
                format!(", declared {}", p.info.priority)
            },
            handles.join(", ")
        )?;
        if handles.is_empty() && p.runs_schedules() {
            writeln!(
                out,
                "note     it declares no kinds: it runs on its schedules only ([plugin.{}.schedules])",
                p.id()
            )?;
        } else if handles.is_empty() {
            writeln!(
                out,
                "warning  it declares no kinds in describe(): the server never calls it"
            )?;
        }
        writeln!(out, "wit      {}", wit_line(p.wit_version(), &p.exports()))?;
        writeln!(out, "exports  {}", p.exports().join(", "))?;
        let imports = p.imports();
        let (wasi, own): (Vec<&String>, Vec<&String>) =
            imports.iter().partition(|i| i.starts_with("wasi:"));
        let own: Vec<&str> = own.iter().map(|s| s.as_str()).collect();
        writeln!(out, "imports  {}", own.join(", "))?;
        if !wasi.is_empty() {
            // Every WASI interface links, but the sandbox grants nothing
            // beyond clocks, randomness and captured stdout/stderr.
            let names: Vec<&str> = wasi
                .iter()
                .map(|i| i.trim_start_matches("wasi:").split('@').next().unwrap_or(i))
                .collect();
            let version = wasi[0].split('@').nth(1).unwrap_or("?");
            writeln!(
                out,
                "wasi     {} (@{version}; no files, network or environment are granted)",
                names.join(", ")
            )?;
        }
        if imports
            .iter()
            .any(|i| i.starts_with("wechat:plugin/wechat@"))
        {
            writeln!(
                out,
                "note     it may call WeChat APIs: each needs its capability granted \
                 (plugin.{id}.capabilities: customer-message, user-info, qrcode)"
            )?;
        }
        let granted: Vec<String> = p.capabilities().iter().map(|c| c.to_string()).collect();
        writeln!(
            out,
            "grants   {}",
            if granted.is_empty() {
                "no capabilities granted".to_owned()
            } else {
                granted.join(", ")
            }
        )?;
        writeln!(
            out,
            "load     {} ({:.1} MB, {}; sha256 {})",
            ms(load),
            size as f64 / 1e6,
            if p.from_cache() {
                "compiled artifact from cache"
            } else {
                "compiled"
            },
            &p.sha256()[..16]
        )?;
        writeln!(
            out,
            "limits   {} MiB memory, {} ms per call, {}",
            p.memory_limit_bytes() >> 20,
            p.timeout().as_millis(),
            match p.reuse_calls() {
                1 => "a fresh instance per call".to_owned(),
                n => format!("an instance serves up to {n} calls"),
            }
        )?;
        Ok(())
    }
}

/// The WIT version a component targets (its minor read from its export
/// names), and what that means on this host.
fn wit_line(version: Option<WitVersion>, exports: &[String]) -> String {
    match version {
        Some(WitVersion::V1) => {
            let minor = exports
                .iter()
                .filter_map(|e| e.strip_prefix("wechat:plugin/handler@1."))
                .filter_map(|v| v.split('.').next()?.parse::<u64>().ok())
                .next()
                .unwrap_or(V1_MINOR);
            if minor == V1_MINOR {
                format!(
                    "wechat:plugin@1.{minor} (current; this host runs it, and every 1.x host after it will)"
                )
            } else {
                format!(
                    "wechat:plugin@1.{minor} (this host runs it unchanged; rebuild against 1.{V1_MINOR} \
                     for what later minors added)"
                )
            }
        }
        Some(WitVersion::V0_2) => format!(
            "{} (this host runs it through its 0.2 conversions; rebuild against \
             1.{V1_MINOR} for the account, typed receipts and kv errors)",
            WitVersion::V0_2
        ),
        None => "none of wechat:plugin (a page-only component)".to_owned(),
    }
}
