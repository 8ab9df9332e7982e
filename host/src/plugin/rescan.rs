//! Reconciling the plugins directory with the registry ([`Runtime::rescan`]):
//! new files are loaded, changed ones reloaded (when their content hash
//! differs from the serving version's), removed ones dropped. It is how
//! [`Runtime::load_all`] loads at start, and the hot-reload task runs it
//! periodically and whenever filesystem events cannot be trusted (the
//! watcher reported an error or lost events, or the directory now resolves
//! elsewhere: a symlink swapped by an atomic deploy).
//!
//! A rescan reads only what may have changed: every file's [`FileStamp`]
//! (device, inode, size, mtime, ctime — `stat`, never `open`, so a FIFO
//! cannot block it) is recorded whenever the file is looked at, and a file
//! whose stamp is the recorded one is skipped. Any write changes the ctime
//! and a swapped-in file is another inode, so nothing that changed is
//! skipped; a file that failed to load is not retried (nor logged again)
//! until it changes. Changed files are looked at only once their stamp has
//! held still for [`STABLE_GAP`], as the watcher does, so a copy in
//! progress is left for a later round.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Runtime;
use super::runtime::is_plugin_file;
use super::watcher::STABLE_GAP;

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp of what `path` resolves to now (following symlinks), or
    /// `None` if nothing is there.
    pub fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The stamp of every plugin file as it was last looked at.
#[derive(Default)]
pub(crate) struct Seen(Mutex<HashMap<PathBuf, FileStamp>>);

impl Seen {
    /// Records that `path` was looked at as `stamp` (`None`: it was gone).
    pub fn record(&self, path: &Path, stamp: Option<FileStamp>) {
        let mut seen = self.0.lock().unwrap();
        match stamp {
            Some(s) => seen.insert(path.to_owned(), s),
            None => seen.remove(path),
        };
    }

    fn is_current(&self, path: &Path, stamp: Option<FileStamp>) -> bool {
        self.0.lock().unwrap().get(path).copied() == stamp
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.0.lock().unwrap().keys().cloned().collect()
    }
}

impl Runtime {
    /// Reconciles the registry with the plugins directory (see the module
    /// docs). An unreadable directory changes nothing — a deploy that
    /// briefly leaves a dangling symlink must not unload every plugin.
    pub async fn rescan(&self) -> anyhow::Result<()> {
        self.reconcile(true).await
    }

    /// `settle`: wait [`STABLE_GAP`] and skip files still changing (not
    /// at start-up, where nothing is serving yet and a failed half-written
    /// file is retried by the next event or rescan).
    pub(crate) async fn reconcile(&self, settle: bool) -> anyhow::Result<()> {
        let dir = &self.inner.cfg.dir;
        let mut candidates: BTreeSet<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| anyhow::anyhow!("plugins dir {}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| dir.join(e.file_name())))
            .filter(|p| is_plugin_file(p))
            .collect();
        // Files looked at before (loaded, failed or disabled) that may be gone.
        candidates.extend(
            self.seen
                .paths()
                .into_iter()
                .filter(|p| p.parent() == Some(dir)),
        );
        candidates.extend(
            self.plugins()
                .iter()
                .map(|p| p.path().to_owned())
                .filter(|p| p.parent() == Some(dir.as_path())),
        );
        let changed: Vec<(PathBuf, Option<FileStamp>)> = candidates
            .into_iter()
            .map(|p| {
                let stamp = FileStamp::of(&p);
                (p, stamp)
            })
            .filter(|(p, stamp)| !self.seen.is_current(p, *stamp))
            .collect();
        if settle && !changed.is_empty() {
            tokio::time::sleep(STABLE_GAP).await;
        }
        for (path, stamp) in changed {
            if settle && FileStamp::of(&path) != stamp {
                continue; // still being written: the next round
            }
            self.reload_path(&path).await;
        }
        Ok(())
    }
}
