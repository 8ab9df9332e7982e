//! [`Registry`]: the loaded plugins as an immutable, priority-sorted
//! snapshot behind an `ArcSwap`. A request takes the current `Arc` once, so a
//! reload that swaps the snapshot never disturbs calls in flight (they
//! finish on the version they started with).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::LoadedPlugin;

#[derive(Default)]
pub(crate) struct Registry {
    snapshot: ArcSwap<Vec<Arc<LoadedPlugin>>>,
    by_id: Mutex<BTreeMap<String, Arc<LoadedPlugin>>>,
}

impl Registry {
    /// The current plugins, by effective priority (high first), then id.
    pub fn snapshot(&self) -> Arc<Vec<Arc<LoadedPlugin>>> {
        self.snapshot.load_full()
    }

    pub fn get(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        self.by_id.lock().unwrap().get(id).cloned()
    }

    /// Publishes `plugin`, replacing any version with its id.
    pub fn insert(&self, plugin: Arc<LoadedPlugin>) {
        let mut by_id = self.by_id.lock().unwrap();
        by_id.insert(plugin.id().to_owned(), plugin);
        self.publish(&by_id);
    }

    /// Removes `id` if its serving version came from `path`.
    pub fn remove_from(&self, id: &str, path: &Path) -> Option<Arc<LoadedPlugin>> {
        let mut by_id = self.by_id.lock().unwrap();
        let removed = match by_id.get(id) {
            Some(p) if p.path() == path => by_id.remove(id),
            _ => None,
        }?;
        self.publish(&by_id);
        Some(removed)
    }

    /// Removes `id` whatever its file (switched off).
    pub fn remove(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        let mut by_id = self.by_id.lock().unwrap();
        let removed = by_id.remove(id)?;
        self.publish(&by_id);
        Some(removed)
    }

    fn publish(&self, by_id: &BTreeMap<String, Arc<LoadedPlugin>>) {
        let mut list: Vec<Arc<LoadedPlugin>> = by_id.values().cloned().collect();
        list.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id().cmp(b.id())));
        metrics::gauge!("wxhost_plugins_loaded").set(list.len() as f64);
        self.snapshot.store(Arc::new(list));
    }
}
