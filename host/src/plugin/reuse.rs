//! Opt-in instance reuse (`plugin.<id>.reuse_calls = N`): a plugin's
//! instance may serve up to N calls instead of one, which saves a
//! JavaScript or Python plugin most of its per-call cost (their runtimes
//! take 0.3–1 ms to instantiate and warm up; a warm call takes microseconds).
//!
//! The rules, all kept here:
//! - an instance serves one call at a time: it is taken out of its plugin's
//!   [`Reuse`] pool for the call and put back after it;
//! - it serves at most `max_calls` calls, and is thrown away after any
//!   failure (a trap poisons a component instance; a limit hit or a timeout
//!   leaves it in an unknown state);
//! - a pool belongs to one loaded version ([`super::loaded::PluginCode`]):
//!   never shared between plugins or versions, and dropped with it on a
//!   reload;
//! - an idle instance keeps its slot of the instance pool — it holds one of
//!   the runtime's permits — so idle instances count against
//!   `plugins.max_instances`; at most [`Reuse::max_idle`] wait per plugin,
//!   and a call that finds no free permit first evicts an idle instance of
//!   any plugin ([`evict_one`]) so reuse never starves other plugins.
//!
//! Memory and time limits hold per call as for a fresh instance: the epoch
//! deadline and host-call deadlines are set for each call, and the memory
//! limiter stays with the store (memory a guest keeps between calls counts
//! against its limit on every later call).

use std::mem::ManuallyDrop;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use wasmtime::Store;
use wasmtime::component::Instance;

use super::Inner;
use super::state::CallState;

/// Most `reuse_calls` accepts.
pub const MAX_REUSE_CALLS: u32 = 1_000_000;

/// One plugin version's idle instances.
pub(crate) struct Reuse {
    /// Calls one instance may serve.
    pub max_calls: u32,
    /// Idle instances kept at most.
    pub max_idle: usize,
    idle: Mutex<Vec<Warm>>,
}

/// A live instance with its store, holding one of the runtime's permits
/// (returned when it is dropped).
pub(crate) struct Warm {
    store: ManuallyDrop<Store<CallState>>,
    pub instance: Instance,
    /// The account its calls acted for (its `CallState` holds that
    /// account's services): it serves no other.
    account: Arc<str>,
    /// Calls it has served.
    pub calls: u32,
    inner: Arc<Inner>,
}

impl Reuse {
    /// A pool for one loaded version, registered with the runtime so other
    /// plugins' calls can evict from it.
    pub fn new(inner: &Arc<Inner>, max_calls: u32) -> Arc<Reuse> {
        let max_idle = (inner.cfg.max_instances / 4).clamp(1, 4) as usize;
        let reuse = Arc::new(Reuse {
            max_calls,
            max_idle,
            idle: Mutex::new(Vec::new()),
        });
        let mut pools = inner.warm_pools.lock().unwrap();
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(&reuse));
        reuse
    }

    /// An idle instance that served `account`, most recently used first
    /// (its memory is warmest).
    pub fn take(&self, account: &str) -> Option<Warm> {
        let mut idle = self.idle.lock().unwrap();
        let i = idle.iter().rposition(|w| &*w.account == account)?;
        Some(idle.remove(i))
    }

    /// The least recently used idle instance, whatever account it served
    /// (to free its permit).
    fn evict(&self) -> Option<Warm> {
        let mut idle = self.idle.lock().unwrap();
        (!idle.is_empty()).then(|| idle.remove(0))
    }

    /// Puts an instance back after a successful call, unless it has served
    /// its calls or enough instances are idle already (then it is dropped,
    /// which frees its permit).
    pub fn put_back(&self, warm: Warm) {
        if warm.calls >= self.max_calls {
            return;
        }
        let mut idle = self.idle.lock().unwrap();
        // Checked under the lock that `evict_one` takes: a call that started
        // waiting before this either finds the instance there or sees it
        // dropped here — an idle instance never keeps a waiting call waiting.
        if idle.len() < self.max_idle && warm.inner.waiting.load(Ordering::SeqCst) == 0 {
            idle.push(warm);
        }
    }

    /// Idle instances now.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap().len()
    }
}

impl Warm {
    /// Wraps a store whose permit the caller has `forget`-ten: the permit now
    /// belongs to this instance.
    pub fn new(
        store: Store<CallState>,
        instance: Instance,
        account: Arc<str>,
        inner: Arc<Inner>,
    ) -> Warm {
        Warm {
            store: ManuallyDrop::new(store),
            instance,
            account,
            calls: 0,
            inner,
        }
    }

    pub fn store(&mut self) -> &mut Store<CallState> {
        &mut self.store
    }
}

impl Drop for Warm {
    fn drop(&mut self) {
        // The store first: its pool slot must be free before the permit lets
        // another call instantiate (as for a fresh instance, `call.rs`).
        // SAFETY: `store` is never used after this.
        unsafe { ManuallyDrop::drop(&mut self.store) };
        self.inner.permits.add_permits(1);
    }
}

/// A permit for a fresh instance. When none is free, an idle instance of
/// any plugin is evicted for it first; while the call waits, finished
/// instances are dropped instead of kept idle (`Reuse::put_back`).
pub(crate) async fn acquire(inner: &Inner) -> Option<tokio::sync::SemaphorePermit<'_>> {
    if let Ok(p) = inner.permits.try_acquire() {
        return Some(p);
    }
    struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    inner.waiting.fetch_add(1, Ordering::SeqCst);
    let _waiting = Waiting(&inner.waiting);
    evict_one(inner);
    inner.permits.acquire().await.ok()
}

/// Drops one idle instance of any plugin (the first pool that has one),
/// freeing its permit; whether there was one.
pub(crate) fn evict_one(inner: &Inner) -> bool {
    let pools: Vec<Weak<Reuse>> = inner.warm_pools.lock().unwrap().clone();
    for pool in pools.iter().filter_map(Weak::upgrade) {
        // Taken out under the pool's lock, dropped after it.
        let evicted = pool.evict();
        if evicted.is_some() {
            return true;
        }
    }
    false
}
