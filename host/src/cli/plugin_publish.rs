//! `wxhost plugin publish FILE [--id ID]`: validates a component exactly as
//! `serve` loads it and publishes it to the configured store, from which
//! every instance serves it within seconds (`plugin/published.rs`). Prints
//! the id, the version it declares and its digest. A component that fails
//! validation is refused with the reason and the store is left as it was.
//!
//! Published plugins are the deployment's, like the plugins directory: the
//! global `--account` (which account's `[account.<name>] plugins` list
//! selects it is the config's business) does not scope them.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;

use super::plugin_run::{runtime, runtime_config};
use crate::config::Config;

#[derive(Debug, Clone, clap::Args)]
pub struct PluginPublishCommand {
    /// The plugin component (`.wasm`).
    pub file: PathBuf,
    /// The plugin id (default: the file stem); its `[plugin.<id>]` settings
    /// apply to the validation.
    #[arg(long)]
    pub id: Option<String>,
}

impl PluginPublishCommand {
    pub async fn run(self, config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
        let (cfg, stem) = runtime_config(config, &self.file)?;
        let id = self.id.unwrap_or(stem);
        let bytes = std::fs::read(&self.file)
            .with_context(|| format!("cannot read {}", self.file.display()))?;
        let location = config.store_location(None)?;
        // The deployment's store itself, not an account's scope: published
        // plugins are served to every account that lists them.
        let stores = crate::store::Stores::open(&location)
            .with_context(|| format!("opening the store ({})", location.describe()))?;
        // Validation runs on a private kv: `describe` must not touch the
        // plugins' real data.
        let rt = runtime(cfg, crate::store::Stores::in_memory()?.kv)?;
        rt.use_published(stores.published.clone())
            .await
            .with_context(|| format!("reading the store ({})", location.describe()))?;
        let who = format!("cli@{}", crate::config::host_name());
        let (_, m) = rt
            .publish_upload(&id, bytes, &who)
            .await
            .with_context(|| format!("{} was not published", self.file.display()))?;
        writeln!(out, "id       {}", m.id)?;
        writeln!(out, "version  {}", m.version)?;
        writeln!(out, "digest   {}", m.digest)?;
        writeln!(
            out,
            "every instance on {} serves it within seconds",
            location.describe()
        )?;
        Ok(())
    }
}
