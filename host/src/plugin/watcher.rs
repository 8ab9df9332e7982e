//! Hot reload: one tokio task per runtime that keeps the registry in step
//! with the plugins directory from three sources.
//!
//! - Filesystem events (`notify`, when `watch` is set): debounced per file,
//!   and a file is reloaded only once it is stable (same size and mtime on
//!   two checks [`STABLE_GAP`] apart), so a file still being copied is not
//!   loaded half-written. A half-written file that does get loaded anyway (a
//!   very slow copy) fails to compile and keeps the working version; the next
//!   write event retries.
//! - A periodic rescan (`rescan_interval`), and an immediate one when the
//!   watcher reports an error or lost events (inotify queue overflow): events
//!   are an optimisation, the rescan (`rescan.rs`) is what guarantees that
//!   every change is eventually seen.
//! - The directory's canonical path, checked every [`DIR_CHECK`]: an atomic
//!   deploy swaps a symlink (`ln -sfn releases/v2 plugins.d`), which no
//!   event on the old target reports. When it changes the watcher is
//!   re-pointed at the new target and the directory is rescanned.

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
/// How often the directory's canonical path is checked (one `realpath`).
pub const DIR_CHECK: Duration = Duration::from_secs(1);

/// Keeps the watcher alive (it lives as long as the runtime).
pub(crate) struct WatchHandle {
    _watcher: notify::RecommendedWatcher,
}

/// What the watcher tells the reload task.
enum Signal {
    /// Something happened to this path.
    Path(PathBuf),
    /// Events may have been lost: look at everything.
    Rescan(String),
}

struct Pending {
    last_event: Instant,
    last_check: Option<(Instant, Option<(u64, SystemTime)>)>,
}

impl Runtime {
    /// Starts hot reload of the plugins directory (must be called inside a
    /// tokio runtime): filesystem events when the config's `watch` is set,
    /// a rescan every `rescan_interval` if any, and the directory's symlink
    /// followed either way. Stops when the runtime is dropped.
    pub fn watch(self: &Arc<Self>) -> anyhow::Result<()> {
        let dir = self.inner.cfg.dir.clone();
        std::fs::create_dir_all(&dir)?;
        let (tx, rx) = mpsc::unbounded_channel::<Signal>();
        let tx = match self.inner.cfg.watch.then(|| self.start_watcher(&dir, &tx)) {
            Some(Ok(())) => Some(tx.downgrade()),
            // E.g. a filesystem without inotify, or the watch limit reached:
            // polling still works.
            Some(Err(e)) if self.inner.cfg.rescan_interval.is_some() => {
                tracing::warn!(
                    "cannot watch plugins dir {}: {e}; relying on periodic rescans",
                    dir.display()
                );
                None
            }
            Some(Err(e)) => return Err(e.into()),
            None => None,
        };
        let canonical = std::fs::canonicalize(&dir).ok();
        tokio::spawn(run(Arc::downgrade(self), dir, canonical, tx, rx));
        Ok(())
    }

    /// Watches `dir` (what it resolves to now), replacing any watcher.
    fn start_watcher(&self, dir: &Path, tx: &mpsc::UnboundedSender<Signal>) -> notify::Result<()> {
        let tx = tx.clone();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(ev) if ev.need_rescan() => {
                    let _ = tx.send(Signal::Rescan("the watcher lost events".into()));
                }
                Ok(ev) => {
                    for p in ev.paths {
                        let _ = tx.send(Signal::Path(p));
                    }
                }
                Err(e) => {
                    let _ = tx.send(Signal::Rescan(format!("watcher error: {e}")));
                }
            })?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        *self.watcher.lock().unwrap() = Some(WatchHandle { _watcher: watcher });
        Ok(())
    }
}

/// The reload task. It holds the runtime weakly and ends when it is gone;
/// it holds the event sender weakly too, so the channel closes (and the
/// task wakes to end) when the runtime drops its watcher.
async fn run(
    rt: Weak<Runtime>,
    dir: PathBuf,
    mut canonical: Option<PathBuf>,
    tx: Option<mpsc::WeakUnboundedSender<Signal>>,
    mut rx: mpsc::UnboundedReceiver<Signal>,
) {
    let mut rescan_tick = rt
        .upgrade()
        .and_then(|r| r.inner.cfg.rescan_interval)
        .map(every);
    let mut dir_tick = every(DIR_CHECK);
    let events_open = tx.is_some();
    let mut pending: HashMap<PathBuf, Pending> = HashMap::new();
    loop {
        let mut rescan = None;
        tokio::select! {
            signal = rx.recv(), if events_open => match signal {
                Some(Signal::Path(path)) => {
                    note(&path, &dir, &mut pending);
                    while let Ok(signal) = rx.try_recv() {
                        match signal {
                            Signal::Path(path) => note(&path, &dir, &mut pending),
                            Signal::Rescan(why) => rescan = Some(why),
                        }
                    }
                }
                Some(Signal::Rescan(why)) => rescan = Some(why),
                None => return, // the runtime dropped its watcher
            },
            _ = tokio::time::sleep(Duration::from_millis(25)), if !pending.is_empty() => {}
            _ = tick(&mut rescan_tick) => rescan = Some(String::new()),
            _ = dir_tick.tick() => {
                let now = std::fs::canonicalize(&dir).ok();
                if now.is_some() && now != canonical {
                    let Some(rt) = rt.upgrade() else { return };
                    let to = now.as_deref().unwrap_or(&dir).display().to_string();
                    tracing::info!(
                        "plugins dir {} now resolves to {to} (was {}): rescanning",
                        dir.display(),
                        canonical.as_deref().map_or("nothing".into(), |p| p.display().to_string())
                    );
                    if let Some(tx) = tx.as_ref().and_then(|tx| tx.upgrade())
                        && let Err(e) = rt.start_watcher(&dir, &tx)
                    {
                        tracing::warn!("cannot watch plugins dir {to}: {e}; relying on rescans");
                    }
                    canonical = now;
                    rescan = Some(String::new());
                }
            }
        }
        if rt.strong_count() == 0 {
            return;
        }
        if let Some(why) = rescan {
            if !why.is_empty() {
                tracing::warn!("plugins dir {}: {why}; rescanning", dir.display());
            }
            let Some(rt) = rt.upgrade() else { return };
            if let Err(e) = rt.rescan().await {
                tracing::warn!("rescan failed, plugins unchanged: {e:#}");
            }
            // Pending files stay pending: one still being written was left
            // alone by the rescan, and a reload of one it did reload finds
            // it unchanged.
            continue;
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

/// An interval whose first tick is one period from now (not at once).
fn every(period: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

/// The next tick of `interval`, or never.
async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
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
