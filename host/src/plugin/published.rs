//! Plugins published to the store (`store::published`), and the operator's
//! switches, followed by every instance.
//!
//! - [`Runtime::publish_upload`]: an upload (console, API, `wxhost plugin
//!   publish`) is validated here as hot reload validates a file
//!   ([`Runtime::prepare`]), then stored as a blob and a manifest, then
//!   served here at once. A component that fails validation never reaches
//!   the store, so no instance is offered it.
//! - [`Runtime::follow_store`]: every [`SYNC_EVERY`] each instance reads
//!   the store's publication generation (one small read) and, when it moved,
//!   the current manifests; a digest it does not serve yet is fetched,
//!   checked against its digest, validated and swapped in. One that fails
//!   here keeps the previous version serving and is not retried until a
//!   newer publication. The same round reads the switches, so a plugin
//!   switched off through one instance stops on all of them. This is the
//!   accounts' mechanism (`account/runtime.rs`: the store read on a short
//!   period) — one way for every change an operator makes to reach every
//!   instance, whatever the backend.
//! - Which source wins: the store. An id published to the store is served
//!   from it; a file of the same id in the plugins directory is ignored (and
//!   logged) until then. Ids never published come from the directory as
//!   before. The console shows each plugin's source.
//! - [`Runtime::rollback`]: an earlier digest of the id's history (default:
//!   the newest one that differs from the current) published again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{LoadedPlugin, ReloadEvent, Runtime, loader};
use crate::store::{PluginManifest, PublishedPluginStore, StoreError, now_millis};

/// How often every instance reads the store for publications and switches
/// (a change reaches every instance within this plus a load).
pub const SYNC_EVERY: Duration = Duration::from_millis(500);

/// The path a plugin served from the store carries (there is no file): it
/// names the blob, and no directory event or rescan ever matches it.
const STORE_PATH: &str = "store:";

/// What an instance knows of the store's publications.
#[derive(Default)]
pub(crate) struct Published {
    store: Option<Arc<dyn PublishedPluginStore>>,
    /// The generation last read (`None`: never read).
    generation: Option<u64>,
    /// Each published id's current manifest.
    current: BTreeMap<String, PluginManifest>,
    /// A digest that failed to load here, per id: not retried until the
    /// id's current digest changes.
    failed: BTreeMap<String, String>,
}

/// Why a publication or rollback was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PublishError {
    /// The component (or id) is not acceptable; nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// No such plugin or version in the store.
    #[error("{0}")]
    Unknown(String),
    /// The store did not take it; nothing changed.
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for PublishError {
    fn from(e: StoreError) -> Self {
        PublishError::Store(e.to_string())
    }
}

/// Why a published version's blob was not fetched.
enum Fetch {
    /// The store did not answer (tried again next round).
    Unread(String),
    /// It answered with nothing usable (not tried again).
    Bad(String),
}

/// Where a serving plugin came from.
pub fn source_of(p: &LoadedPlugin) -> &'static str {
    if is_store_path(p.path()) {
        "store"
    } else {
        "directory"
    }
}

fn store_path(digest: &str) -> PathBuf {
    PathBuf::from(format!("{STORE_PATH}{digest}"))
}

fn is_store_path(path: &Path) -> bool {
    path.to_str().is_some_and(|p| p.starts_with(STORE_PATH))
}

impl Runtime {
    /// Serves the plugins published in `store` from now on (call before
    /// [`Runtime::load_all`], so an id published there is never loaded from
    /// the directory first). A store that does not answer yet is read again
    /// by [`Runtime::follow_store`].
    pub async fn use_published(&self, store: Arc<dyn PublishedPluginStore>) -> anyhow::Result<()> {
        self.published.lock().unwrap().store = Some(store.clone());
        let generation = store.generation().await?;
        let current = store.current().await?;
        let mut p = self.published.lock().unwrap();
        p.generation = Some(generation);
        p.current = current.into_iter().map(|m| (m.id.clone(), m)).collect();
        Ok(())
    }

    /// Whether `id` is published to the store (then the store's version
    /// wins over the directory's file).
    pub fn is_published(&self, id: &str) -> bool {
        self.published.lock().unwrap().current.contains_key(id)
    }

    /// The ids published to the store.
    pub(crate) fn published_ids(&self) -> Vec<String> {
        self.published
            .lock()
            .unwrap()
            .current
            .keys()
            .cloned()
            .collect()
    }

    /// Loads every published id this instance does not serve at its
    /// current digest (start-up, after [`Runtime::load_all`]).
    pub async fn load_published(&self) {
        let current: Vec<PluginManifest> = self
            .published
            .lock()
            .unwrap()
            .current
            .values()
            .cloned()
            .collect();
        for m in current {
            self.serve_manifest(&m).await;
        }
    }

    /// Reads the store every [`SYNC_EVERY`] until `self` is dropped (see the
    /// module docs). A store that does not answer keeps what is served.
    pub fn follow_store(self: &Arc<Self>) {
        let weak: Weak<Runtime> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SYNC_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(rt) = weak.upgrade() else { return };
                if let Err(e) = rt.sync_switches().await {
                    tracing::debug!(error = %e, "plugin switches not read");
                }
                if let Err(e) = rt.sync_published().await {
                    tracing::debug!(error = %e, "published plugins not read");
                }
            }
        });
    }

    /// Takes the store's switches: a plugin switched off elsewhere stops
    /// here, one switched on loads again.
    pub async fn sync_switches(&self) -> Result<(), StoreError> {
        let Some(store) = self.switch_store() else {
            return Ok(());
        };
        let _one = self.store_sync.lock().await;
        let (off, per_account) = super::runtime::split_switches(store.disabled().await?);
        self.take_account_switches(&per_account);
        let (now_off, now_on) = self.take_switches(off);
        for id in now_off {
            self.unload_switched_off(&id).await;
        }
        for id in now_on {
            self.reload_id(&id).await;
        }
        Ok(())
    }

    /// Takes the store's publications if its generation moved.
    pub async fn sync_published(&self) -> Result<(), StoreError> {
        let Some(store) = self.published.lock().unwrap().store.clone() else {
            return Ok(());
        };
        let _one = self.store_sync.lock().await;
        let generation = store.generation().await?;
        if self.published.lock().unwrap().generation == Some(generation) {
            return Ok(());
        }
        let current = store.current().await?;
        {
            let mut p = self.published.lock().unwrap();
            p.generation = Some(generation);
            for m in &current {
                p.current.insert(m.id.clone(), m.clone());
            }
        }
        for m in &current {
            self.serve_manifest(m).await;
        }
        Ok(())
    }

    /// (Re)loads `id` from its source: the store's current version if it is
    /// published, else its file in the plugins directory.
    pub(crate) async fn reload_id(&self, id: &str) {
        let published = self.published.lock().unwrap().current.get(id).cloned();
        match published {
            Some(m) => {
                // Switched on again: try its digest even if it failed before.
                self.published.lock().unwrap().failed.remove(id);
                self.serve_manifest(&m).await
            }
            None => {
                let path = self.inner.cfg.dir.join(format!("{id}.wasm"));
                self.reload_path(&path).await
            }
        }
    }

    /// Serves `m`'s digest unless it already is, it failed here before, or
    /// the plugin is switched off. A digest that fails keeps the previous
    /// version serving.
    async fn serve_manifest(&self, m: &PluginManifest) {
        let _guard = self.load_lock.lock().await;
        let id = m.id.as_str();
        if self.disabled_by_config(id).is_some() {
            if self.registry.remove(id).is_some() {
                self.emit(ReloadEvent::Disabled { id: id.to_owned() });
            }
            return;
        }
        let old = self.get(id);
        if old
            .as_ref()
            .is_some_and(|o| is_store_path(o.path()) && o.sha256() == m.digest)
        {
            return;
        }
        if self.published.lock().unwrap().failed.get(id) == Some(&m.digest) {
            return;
        }
        let path = store_path(&m.digest);
        let bytes = match self.fetch(m).await {
            Ok(b) => b,
            Err(Fetch::Unread(error)) => {
                // The store did not answer: the next round tries again.
                tracing::warn!(plugin = %id, "plugin {id} {}: {error}; trying again", m.digest);
                return;
            }
            Err(Fetch::Bad(error)) => return self.refuse(m, &path, old.as_deref(), error),
        };
        match self.prepare(id, &path, bytes).await {
            Ok(p) => self.publish(id, Arc::new(p), old),
            Err(e) => self.refuse(m, &path, old.as_deref(), format!("{e:#}")),
        }
    }

    /// `m` fails here: the previous version keeps serving, and `m` is not
    /// tried again until the id's next publication.
    fn refuse(&self, m: &PluginManifest, path: &Path, old: Option<&LoadedPlugin>, error: String) {
        self.published
            .lock()
            .unwrap()
            .failed
            .insert(m.id.clone(), m.digest.clone());
        self.failed(&m.id, path, old, error);
    }

    /// `m`'s blob, checked against its digest.
    async fn fetch(&self, m: &PluginManifest) -> Result<Vec<u8>, Fetch> {
        let store = self.published.lock().unwrap().store.clone();
        let store = store.ok_or_else(|| Fetch::Unread("no store".into()))?;
        let bytes = store
            .blob(&m.digest)
            .await
            .map_err(|e| Fetch::Unread(format!("reading its blob: {e}")))?
            .ok_or_else(|| Fetch::Bad(format!("the store has no blob {}", m.digest)))?;
        // What was read must be what was published (a store written by
        // something else, or damaged, must not run other code).
        let sha256 = loader::sha256_hex(&bytes);
        if sha256 != m.digest {
            return Err(Fetch::Bad(format!(
                "the blob for digest {} has digest {sha256}",
                m.digest
            )));
        }
        Ok(bytes)
    }

    /// Validates `bytes` as plugin `id` (as hot reload does), publishes it
    /// to the store as `who`, and serves it here at once; the other
    /// instances follow within [`SYNC_EVERY`]. A component that fails is
    /// refused with the reason: nothing reaches the store and the working
    /// version keeps serving everywhere.
    pub async fn publish_upload(
        &self,
        id: &str,
        bytes: Vec<u8>,
        who: &str,
    ) -> Result<(Arc<LoadedPlugin>, PluginManifest), PublishError> {
        // Checked before the id is used anywhere.
        if !loader::valid_id(id) {
            return Err(PublishError::Invalid(format!(
                "plugin id {id:?} must be 1 to 64 letters, digits, _ or -"
            )));
        }
        if bytes.len() > super::MAX_COMPONENT_BYTES {
            return Err(PublishError::Invalid(format!(
                "{} bytes is larger than the {} MiB limit",
                bytes.len(),
                super::MAX_COMPONENT_BYTES >> 20
            )));
        }
        let store = self
            .published
            .lock()
            .unwrap()
            .store
            .clone()
            .ok_or_else(|| PublishError::Store("no store to publish to".into()))?;
        let _one = self.store_sync.lock().await;
        let _guard = self.load_lock.lock().await;
        let old = self.get(id);
        let digest = loader::sha256_hex(&bytes);
        let path = store_path(&digest);
        let plugin = match self.prepare(id, &path, bytes.clone()).await {
            Ok(p) => Arc::new(p),
            Err(e) => {
                let error = format!("{e:#}");
                self.failed(id, Path::new("<upload>"), old.as_deref(), error.clone());
                return Err(PublishError::Invalid(error));
            }
        };
        let manifest = PluginManifest {
            id: id.to_owned(),
            version: plugin.info.version.clone(),
            digest,
            who: who.to_owned(),
            when_ms: now_millis().max(0) as u64,
        };
        store.publish(&manifest, &bytes).await?;
        self.take_manifest(&manifest);
        if self.disabled_by_config(id).is_some() {
            tracing::info!(plugin = %id, "plugin {id} published; it is switched off, so not serving");
            self.emit(ReloadEvent::Disabled { id: id.to_owned() });
        } else {
            self.publish(id, plugin.clone(), old);
        }
        Ok((plugin, manifest))
    }

    /// Publishes `digest` of `id` again (default: the newest digest of its
    /// history other than the current one), as `who`; every instance
    /// follows as for an upload. It is validated here first.
    pub async fn rollback(
        &self,
        id: &str,
        digest: Option<&str>,
        who: &str,
    ) -> Result<PluginManifest, PublishError> {
        let store = self
            .published
            .lock()
            .unwrap()
            .store
            .clone()
            .ok_or_else(|| PublishError::Store("no store to publish to".into()))?;
        if !loader::valid_id(id) {
            return Err(PublishError::Unknown(format!("no published plugin {id:?}")));
        }
        let history = store.history(id).await?;
        let Some(current) = history.first() else {
            return Err(PublishError::Unknown(format!(
                "plugin {id} was never published to the store"
            )));
        };
        let target = match digest {
            Some(d) => history.iter().find(|m| m.digest == d).ok_or_else(|| {
                PublishError::Unknown(format!(
                    "plugin {id} has no published version with digest {d}"
                ))
            })?,
            None => history
                .iter()
                .find(|m| m.digest != current.digest)
                .ok_or_else(|| {
                    PublishError::Unknown(format!(
                        "plugin {id} has no earlier version to roll back to"
                    ))
                })?,
        };
        let bytes = store.blob(&target.digest).await?.ok_or_else(|| {
            PublishError::Unknown(format!("the store no longer has {}", target.digest))
        })?;
        let (_, manifest) = self.publish_upload(id, bytes, who).await?;
        Ok(manifest)
    }

    /// Every manifest of `id`, newest (current) first.
    pub async fn history(&self, id: &str) -> Result<Vec<PluginManifest>, PublishError> {
        let store = self
            .published
            .lock()
            .unwrap()
            .store
            .clone()
            .ok_or_else(|| PublishError::Store("no store".into()))?;
        Ok(store.history(id).await?)
    }

    /// Records `m` as its id's current publication (this instance made it).
    fn take_manifest(&self, m: &PluginManifest) {
        let mut p = self.published.lock().unwrap();
        p.failed.remove(&m.id);
        p.current.insert(m.id.clone(), m.clone());
    }
}
