//! Hot reload: a `notify` watcher on the plugins directory feeding a tokio
//! task that debounces events per file and waits until the file is stable
//! (same size and mtime on two checks [`STABLE_GAP`] apart) before
//! reloading, so a file still being copied is not loaded half-written. A
//! half-written file that does get loaded anyway (a very slow copy) fails to
//! compile and keeps the working version; the next write event retries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::Runtime;
use super::runtime::is_plugin_file;

/// Quiet time after the last event for a file before looking at it.
pub const DEBOUNCE: Duration = Duration::from_millis(100);
/// Gap between the two size/mtime checks.
pub const STABLE_GAP: Duration = Duration::from_millis(100);

/// Keeps the watcher (and so the reload task) alive.
pub(crate) struct WatchHandle {
    _watcher: notify::RecommendedWatcher,
}

struct Pending {
    last_event: Instant,
    last_check: Option<(Instant, Option<(u64, SystemTime)>)>,
}

impl Runtime {
    /// Starts hot reload of the plugins directory (must be called inside a
    /// tokio runtime). Stops when the runtime is dropped.
    pub fn watch(self: &Arc<Self>) -> anyhow::Result<()> {
        let dir = self.inner.cfg.dir.clone();
        std::fs::create_dir_all(&dir)?;
        let (tx, rx) = mpsc::unbounded_channel::<PathBuf>();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(ev) => {
                    for p in ev.paths {
                        let _ = tx.send(p);
                    }
                }
                Err(e) => tracing::warn!("plugins dir watcher: {e}"),
            })?;
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        *self.watcher.lock().unwrap() = Some(WatchHandle { _watcher: watcher });
        tokio::spawn(run(Arc::downgrade(self), dir, rx));
        Ok(())
    }
}

async fn run(rt: Weak<Runtime>, dir: PathBuf, mut rx: mpsc::UnboundedReceiver<PathBuf>) {
    let mut pending: HashMap<PathBuf, Pending> = HashMap::new();
    loop {
        let ev = if pending.is_empty() {
            rx.recv().await.map(Some)
        } else {
            match tokio::time::timeout(Duration::from_millis(25), rx.recv()).await {
                Ok(ev) => ev.map(Some),
                Err(_) => Some(None),
            }
        };
        let Some(ev) = ev else { return }; // watcher dropped with the runtime
        if let Some(path) = ev {
            note(&path, &dir, &mut pending);
            while let Ok(path) = rx.try_recv() {
                note(&path, &dir, &mut pending);
            }
        }
        let now = Instant::now();
        let mut ready = Vec::new();
        for (path, p) in pending.iter_mut() {
            if now - p.last_event < DEBOUNCE {
                continue;
            }
            if let Some((at, _)) = p.last_check
                && now - at < STABLE_GAP
            {
                continue;
            }
            let sig = signature(path);
            match p.last_check {
                Some((at, prev)) if prev == sig && at >= p.last_event => ready.push(path.clone()),
                _ => p.last_check = Some((now, sig)),
            }
        }
        for path in ready {
            pending.remove(&path);
            let Some(rt) = rt.upgrade() else { return };
            rt.reload_path(&path).await;
        }
    }
}

/// Records an event for a plugin file (the watch is non-recursive, so every
/// event path is the directory itself or one of its entries).
fn note(path: &Path, dir: &Path, pending: &mut HashMap<PathBuf, Pending>) {
    if let (true, Some(name)) = (is_plugin_file(path), path.file_name()) {
        let now = Instant::now();
        pending
            .entry(dir.join(name))
            .or_insert(Pending {
                last_event: now,
                last_check: None,
            })
            .last_event = now;
    }
}

/// Size and mtime, or `None` if the file is gone.
fn signature(path: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}
