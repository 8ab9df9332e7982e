//! [`Credential`]: a WeChat credential that expires — the access_token, and
//! the jsapi_ticket that is "managed exactly like" it — obtained once for
//! any number of callers, processes and instances.
//!
//! - One flight per process: the fetch runs in a task of its own, shared by
//!   every caller that arrives meanwhile; a caller that gives up (a plugin's
//!   deadline, a dropped request) only stops waiting. Cancelling a fetch
//!   halfway would waste a fetch of the daily quota and, on the classic
//!   token endpoint, could leave WeChat holding a new token nobody stored.
//! - One fetch across processes and instances: before fetching, a flight
//!   takes the store's fetch lock (with an expiry, so a crashed holder never
//!   blocks the others past it); the others wait for the new value to appear
//!   in the store instead of fetching their own, which would invalidate each
//!   other's (the most reported failure of WeChat SDKs).
//! - Cached in memory and in the [`TokenStore`], refreshed when less than the
//!   refresh margin is left; if a refresh fails, a value that is still valid
//!   beats an error.
//! - A failed fetch backs off ([`Backoff`]: 5 s, doubling to 30 s, with
//!   jitter): until then a caller needing a new value gets the last error
//!   at once, so anonymous requests that need the value (a `/jssdk/config`
//!   during an outage) cannot turn into a fetch each. `refresh` (the
//!   operator's) is not held back.
//! - Dropped compare-and-swap style when WeChat rejects it: a value another
//!   caller, process or instance already replaced stays.
//!
//! What is fetched, and how, is a [`CredentialSource`]. The value never
//! appears in logs, errors or `Debug` output; [`CredentialStatus`] shows a
//! short fingerprint instead.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::store::{StoredToken, TokenStore, now_secs, quota_day};

/// How long a fetch lock is held at most (a fetch is one HTTP call with
/// retries; a holder that crashed frees it after this).
pub const FETCH_LOCK_TTL: Duration = Duration::from_secs(30);
/// How long a store that fails to answer the fetch lock is asked again
/// before fetching without it.
const STORE_PATIENCE: Duration = Duration::from_secs(2);
/// How often a process waiting on another's fetch looks at the store.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// The first wait after a failed fetch.
pub const BACKOFF_MIN: Duration = Duration::from_secs(5);
/// The longest wait after failed fetches.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Failed fetches in a row, and until when no new one is tried.
#[derive(Debug, Clone)]
struct Backoff {
    failures: u32,
    until: Instant,
    error: ApiError,
}

impl Backoff {
    /// The wait after the `failures`-th failure in a row: doubling from
    /// [`BACKOFF_MIN`] to [`BACKOFF_MAX`], ±20 % so that instances that
    /// failed together do not retry together.
    fn wait(failures: u32) -> Duration {
        let base = BACKOFF_MIN.saturating_mul(1 << failures.saturating_sub(1).min(4));
        let jittered = base.mul_f64(0.8 + 0.4 * rand::random::<f64>());
        jittered.clamp(BACKOFF_MIN, BACKOFF_MAX)
    }
}

/// What a flight is for.
#[derive(Clone, Copy)]
enum Want {
    /// A valid value: a fresh stored one will do.
    Fresh,
    /// A newly fetched value (`wxhost token refresh`).
    New { force: bool },
}

/// A freshly fetched value.
pub struct Fetched {
    pub value: String,
    /// Seconds it is valid for, as WeChat said.
    pub expires_in: i64,
}

/// What a credential is and how to get a new one.
#[async_trait]
pub trait CredentialSource: Send + Sync + 'static {
    /// `access_token`, `jsapi_ticket`: for logs and errors.
    fn name(&self) -> &'static str;
    /// Its key in the [`TokenStore`] (for the access_token, the AppID).
    fn key(&self) -> &str;
    /// The account it is the credential of (the `account` metric label).
    fn account(&self) -> &str;
    /// Asks WeChat for a new value. `force`: invalidate the current one
    /// everywhere (the access_token's stable_token force-refresh).
    async fn fetch(&self, force: bool) -> Result<Fetched, ApiError>;
}

/// The state of the stored value, never the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialStatus {
    /// First 8 hex digits of the value's SHA-256: enough to tell two values
    /// apart, useless to call WeChat with.
    pub fingerprint: Option<String>,
    pub expires_at: Option<i64>,
    pub fetched_at: Option<i64>,
    /// Successful fetches today (Beijing day, when the quota resets).
    pub fetches_today: u64,
    pub day: String,
    /// Seconds left at the time of the call (negative: expired).
    pub seconds_left: Option<i64>,
    /// Whether the next use fetches a new value first.
    pub needs_refresh: bool,
}

pub struct Credential<S: CredentialSource> {
    core: Arc<Core<S>>,
    /// The flight in progress, if any; every caller that finds it here
    /// awaits the same result.
    flight: Mutex<Option<Flight>>,
}

/// A fetch running in its own task, awaitable by any number of callers.
type Flight = Shared<BoxFuture<'static, Result<StoredToken, ApiError>>>;

struct Core<S> {
    source: S,
    store: Arc<dyn TokenStore>,
    refresh_margin: Duration,
    /// The last value seen, to skip the store on the hot path.
    cached: Mutex<Option<StoredToken>>,
    /// Set while fetching is backing off after failures.
    backoff: Mutex<Option<Backoff>>,
    /// The last values WeChat rejected: never handed out again, even by a
    /// flight that read one before it was rejected.
    rejected: Mutex<VecDeque<String>>,
}

/// How many rejected values a credential remembers.
const REJECTED_KEPT: usize = 8;

/// A short, non-reversible name for a secret value.
pub fn fingerprint(value: &str) -> String {
    hex::encode(&Sha256::digest(value.as_bytes())[..4])
}

impl<S: CredentialSource> Credential<S> {
    pub fn new(source: S, store: Arc<dyn TokenStore>, refresh_margin: Duration) -> Credential<S> {
        Credential {
            core: Arc::new(Core {
                source,
                store,
                refresh_margin,
                cached: Mutex::new(None),
                backoff: Mutex::new(None),
                rejected: Mutex::new(VecDeque::new()),
            }),
            flight: Mutex::new(None),
        }
    }

    pub fn source(&self) -> &S {
        &self.core.source
    }

    /// A valid value, fetching one only if neither memory nor the store has
    /// one with more than the refresh margin left (see the module docs).
    pub async fn get(&self) -> Result<String, ApiError> {
        if let Some(t) = self
            .core
            .cached()
            .filter(|t| self.core.fresh(t, now_secs()))
        {
            return Ok(t.token);
        }
        let flight = self
            .start_unless_running(|core| core.obtain())
            .unwrap_or_else(|running| running);
        flight.await.map(|t| t.token)
    }

    /// Starts `work` as the flight in its own task (`Ok`), unless a flight
    /// is already running (`Err`, that one; `work` is not started).
    fn start_unless_running<F, Fut>(&self, work: F) -> Result<Flight, Flight>
    where
        F: FnOnce(Arc<Core<S>>) -> Fut,
        Fut: Future<Output = Result<StoredToken, ApiError>> + Send + 'static,
    {
        let mut slot = self.flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(running) = slot.as_ref().filter(|f| f.peek().is_none()) {
            return Err(running.clone());
        }
        let name = self.core.source.name();
        let flight = tokio::spawn(work(self.core.clone()))
            .map(move |joined| {
                joined.unwrap_or_else(|e| {
                    Err(ApiError::Transport(format!(
                        "the {name} fetch task failed: {e}"
                    )))
                })
            })
            .boxed()
            .shared();
        *slot = Some(flight.clone());
        Ok(flight)
    }

    /// Ends a backoff: what the failed fetches lacked has arrived (the
    /// component token's ticket), so the next caller fetches at once.
    pub fn clear_backoff(&self) {
        *self.core.backoff.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// WeChat rejected `failed`: forget it, unless it was already replaced
    /// by a newer value (then that one stays).
    pub async fn invalidate(&self, failed: &str) {
        {
            let mut rejected = self.core.rejected.lock().unwrap_or_else(|p| p.into_inner());
            if !rejected.iter().any(|r| r == failed) {
                if rejected.len() == REJECTED_KEPT {
                    rejected.pop_front();
                }
                rejected.push_back(failed.to_owned());
            }
        }
        // A flight that started before may hand out `failed`: callers from
        // now on start their own.
        *self.flight.lock().unwrap_or_else(|p| p.into_inner()) = None;
        {
            let mut cached = self.core.cached.lock().unwrap_or_else(|p| p.into_inner());
            if cached.as_ref().is_some_and(|t| t.token == failed) {
                *cached = None;
            }
        }
        let name = self.core.source.name();
        match self
            .core
            .store
            .invalidate(self.core.source.key(), failed)
            .await
        {
            Ok(dropped) => {
                tracing::info!(fingerprint = %fingerprint(failed), dropped, "{name} rejected by WeChat")
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not drop the rejected {name} from the store")
            }
        }
    }

    /// Fetches a new value now, whatever is cached (`force`: see
    /// [`CredentialSource::fetch`]).
    pub async fn refresh(&self, force: bool) -> Result<CredentialStatus, ApiError> {
        // After any flight already running, as a flight of its own, so that
        // callers arriving meanwhile share it.
        let mine = loop {
            match self.start_unless_running(|core| async move {
                core.fetch_locked(Want::New { force }).await
            }) {
                Ok(mine) => break mine,
                Err(running) => {
                    let _ = running.await;
                }
            }
        };
        mine.await?;
        self.status().await
    }

    /// The state of the stored value, without calling WeChat.
    pub async fn status(&self) -> Result<CredentialStatus, ApiError> {
        let now = now_secs();
        let day = quota_day(now);
        let key = self.core.source.key();
        let stored = self.core.store.get(key).await?;
        Ok(CredentialStatus {
            fingerprint: stored.as_ref().map(|t| fingerprint(&t.token)),
            expires_at: stored.as_ref().map(|t| t.expires_at),
            fetched_at: stored.as_ref().map(|t| t.fetched_at),
            fetches_today: self.core.store.fetches(key, &day).await?,
            day,
            seconds_left: stored.as_ref().map(|t| t.expires_at - now),
            needs_refresh: stored.as_ref().is_none_or(|t| !self.core.fresh(t, now)),
        })
    }
}

impl<S: CredentialSource> Core<S> {
    fn fresh(&self, t: &StoredToken, now: i64) -> bool {
        let margin = i64::try_from(self.refresh_margin.as_secs()).unwrap_or(i64::MAX);
        t.expires_at.saturating_sub(now) > margin && !self.was_rejected(&t.token)
    }

    fn was_rejected(&self, token: &str) -> bool {
        self.rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|r| r == token)
    }

    fn cached(&self) -> Option<StoredToken> {
        self.cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_cached(&self, t: Option<StoredToken>) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    fn lock_name(&self) -> String {
        format!("fetch:{}", self.source.key())
    }

    /// The stored value if fresh (and remembered), else `None`.
    async fn stored_fresh(&self) -> Result<(Option<StoredToken>, bool), ApiError> {
        let stored = self.store.get(self.source.key()).await?;
        let fresh = stored.as_ref().is_some_and(|t| self.fresh(t, now_secs()));
        if fresh {
            self.set_cached(stored.clone());
        }
        Ok((stored, fresh))
    }

    /// The body of a [`Credential::get`] flight: the cached or stored value
    /// if still fresh, else one fetched under the fetch lock; if fetching
    /// fails, a value that is still valid beats an error.
    async fn obtain(self: Arc<Self>) -> Result<StoredToken, ApiError> {
        let now = now_secs();
        // The flight before this one may have just fetched.
        if let Some(t) = self.cached().filter(|t| self.fresh(t, now)) {
            return Ok(t);
        }
        // Another process or instance may have fetched.
        let (stored, fresh) = self.stored_fresh().await?;
        if fresh {
            return Ok(stored.expect("fresh implies stored"));
        }
        let fallback = [self.cached(), stored]
            .into_iter()
            .flatten()
            .filter(|t| t.expires_at > now + 5 && !self.was_rejected(&t.token))
            .max_by_key(|t| t.expires_at);
        let backing_off = self
            .backoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|b| Instant::now() < b.until)
            .map(|b| b.error.clone());
        let fetched = match backing_off {
            Some(last) => Err(last),
            None => {
                let r = self.fetch_locked(Want::Fresh).await;
                self.note(&r);
                r
            }
        };
        match fetched {
            Ok(t) => Ok(t),
            Err(e) => match fallback {
                Some(t) => {
                    tracing::warn!(error = %e, seconds_left = t.expires_at - now, "{} refresh failed; using the current one until it expires", self.source.name());
                    self.set_cached(Some(t.clone()));
                    Ok(t)
                }
                None => Err(e),
            },
        }
    }

    /// Starts, extends or ends the backoff after a fetch.
    fn note(&self, fetched: &Result<StoredToken, ApiError>) {
        let mut backoff = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        match fetched {
            Ok(_) => *backoff = None,
            Err(e) => {
                let failures = backoff.as_ref().map_or(0, |b| b.failures) + 1;
                let wait = Backoff::wait(failures);
                tracing::warn!(error = %e, failures, retry_in_ms = wait.as_millis() as u64, "{} fetch failed; backing off", self.source.name());
                *backoff = Some(Backoff {
                    failures,
                    until: Instant::now() + wait,
                    error: e.clone(),
                });
            }
        }
    }

    /// Fetches under the store's fetch lock. For [`Want::Fresh`], a value
    /// another process or instance stored meanwhile is taken instead (while
    /// it holds the lock, this waits for that value); [`Want::New`] fetches
    /// itself once the lock is free. A lock whose holder died expires after
    /// [`FETCH_LOCK_TTL`].
    async fn fetch_locked(&self, want: Want) -> Result<StoredToken, ApiError> {
        let (reuse, force) = match want {
            Want::Fresh => (true, false),
            Want::New { force } => (false, force),
        };
        let lock = self.lock_name();
        let holder = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        let give_up = Instant::now() + FETCH_LOCK_TTL + LOCK_POLL * 4;
        let store_patience = Instant::now() + STORE_PATIENCE;
        loop {
            match self.store.try_lock(&lock, &holder, FETCH_LOCK_TTL).await {
                Ok(true) => {
                    // Whoever held the lock before may have just stored one.
                    let result = match self.stored_fresh().await {
                        Ok((Some(t), true)) if reuse => Ok(t),
                        _ => self.fetch(force).await,
                    };
                    if let Err(e) = self.store.unlock(&lock, &holder).await {
                        tracing::warn!(error = %e, "could not release the {} fetch lock (it expires by itself)", self.source.name());
                    }
                    return result;
                }
                Ok(false) => {
                    tokio::time::sleep(LOCK_POLL).await;
                    if reuse && let Ok((Some(t), true)) = self.stored_fresh().await {
                        return Ok(t);
                    }
                    if Instant::now() >= give_up {
                        return Err(ApiError::Transport(format!(
                            "another process holds the {} fetch lock and stored nothing",
                            self.source.name()
                        )));
                    }
                }
                // A store slow to answer (a loaded Redis timing out one
                // call) is asked again for a moment: fetching at once would
                // make a second fetch beside the lock's holder.
                Err(_) if Instant::now() < store_patience => {
                    tokio::time::sleep(LOCK_POLL).await;
                }
                Err(e) => {
                    // Without the store there is nothing to coordinate on:
                    // one fetch per process is still better than none.
                    tracing::warn!(error = %e, "{} fetch lock unavailable; fetching without it", self.source.name());
                    return self.fetch(force).await;
                }
            }
        }
    }

    /// One fetch from WeChat, stored and counted.
    async fn fetch(&self, force: bool) -> Result<StoredToken, ApiError> {
        let fetched = self.source.fetch(force).await;
        let result = if fetched.is_ok() { "ok" } else { "error" };
        metrics::counter!("wxhost_token_fetches_total", "credential" => self.source.name(), "result" => result, "account" => self.source.account().to_owned()).increment(1);
        let fetched = fetched?;
        let now = now_secs();
        let stored = StoredToken {
            token: fetched.value,
            expires_at: now + fetched.expires_in,
            fetched_at: now,
        };
        let name = self.source.name();
        if let Err(e) = self
            .store
            .put(self.source.key(), &stored, &quota_day(now))
            .await
        {
            // Still usable by this process; only sharing is lost.
            tracing::warn!(error = %e, "could not store the {name}");
        }
        // WeChat handed it out again (stable_token answers the same value
        // until it expires): good once more.
        self.rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|r| *r != stored.token);
        tracing::info!(fingerprint = %fingerprint(&stored.token), expires_in = fetched.expires_in, "fetched a new {name}");
        self.set_cached(Some(stored.clone()));
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A source whose fetches all fail, counted.
    struct Failing(Arc<AtomicU32>);

    #[async_trait]
    impl CredentialSource for Failing {
        fn name(&self) -> &'static str {
            "jsapi_ticket"
        }
        fn key(&self) -> &str {
            "ticket:wx1"
        }
        fn account(&self) -> &str {
            "default"
        }
        async fn fetch(&self, _force: bool) -> Result<Fetched, ApiError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(ApiError::Transport("connection refused".into()))
        }
    }

    #[tokio::test]
    async fn a_failed_fetch_backs_off_instead_of_fetching_per_caller() {
        let fetches = Arc::new(AtomicU32::new(0));
        let store = crate::store::Stores::in_memory().unwrap().tokens;
        let c = Credential::new(Failing(fetches.clone()), store, Duration::from_secs(60));
        for _ in 0..20 {
            let e = c.get().await.unwrap_err();
            assert_eq!(e, ApiError::Transport("connection refused".into()));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // The operator's refresh is not held back.
        assert!(c.refresh(false).await.is_err());
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    /// A source that counts its fetches and returns a new value each time.
    struct Counting(Arc<AtomicU32>);

    #[async_trait]
    impl CredentialSource for Counting {
        fn name(&self) -> &'static str {
            "access_token"
        }
        fn key(&self) -> &str {
            "wx1"
        }
        fn account(&self) -> &str {
            "default"
        }
        async fn fetch(&self, _force: bool) -> Result<Fetched, ApiError> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Fetched {
                value: format!("token-{n}"),
                expires_in: 7200,
            })
        }
    }

    /// A token store whose reads take 200 ms (a slow network store).
    struct SlowReads(Arc<dyn TokenStore>);

    #[async_trait]
    impl TokenStore for SlowReads {
        async fn get(&self, key: &str) -> Result<Option<StoredToken>, crate::store::StoreError> {
            let read = self.0.get(key).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            read
        }
        async fn put(
            &self,
            key: &str,
            token: &StoredToken,
            day: &str,
        ) -> Result<(), crate::store::StoreError> {
            self.0.put(key, token, day).await
        }
        async fn invalidate(
            &self,
            key: &str,
            token: &str,
        ) -> Result<bool, crate::store::StoreError> {
            self.0.invalidate(key, token).await
        }
        async fn fetches(&self, key: &str, day: &str) -> Result<u64, crate::store::StoreError> {
            self.0.fetches(key, day).await
        }
        async fn try_lock(
            &self,
            name: &str,
            holder: &str,
            ttl: Duration,
        ) -> Result<bool, crate::store::StoreError> {
            self.0.try_lock(name, holder, ttl).await
        }
        async fn unlock(&self, name: &str, holder: &str) -> Result<(), crate::store::StoreError> {
            self.0.unlock(name, holder).await
        }
        async fn export(&self) -> Result<Vec<crate::store::TokenRecord>, crate::store::StoreError> {
            self.0.export().await
        }
        async fn import(
            &self,
            records: &[crate::store::TokenRecord],
        ) -> Result<(), crate::store::StoreError> {
            self.0.import(records).await
        }
    }

    #[tokio::test]
    async fn a_rejected_value_is_never_handed_out_again_even_by_a_flight_that_read_it_before() {
        let inner = crate::store::Stores::in_memory().unwrap().tokens;
        let now = now_secs();
        let old = StoredToken {
            token: "token-old".into(),
            expires_at: now + 7200,
            fetched_at: now,
        };
        inner.put("wx1", &old, &quota_day(now)).await.unwrap();
        let fetches = Arc::new(AtomicU32::new(0));
        let c = Arc::new(Credential::new(
            Counting(fetches.clone()),
            Arc::new(SlowReads(inner)),
            Duration::from_secs(300),
        ));
        // A flight reads the stored value (slowly)...
        let early = tokio::spawn({
            let c = c.clone();
            async move { c.get().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // ...which WeChat rejects meanwhile (another caller's call).
        c.invalidate("token-old").await;
        // Whoever asks now gets a new value, not the one that flight read.
        assert_eq!(c.get().await.unwrap(), "token-1");
        // Nor does that flight, which checks what it read once it has it.
        assert_eq!(early.await.unwrap().unwrap(), "token-1");
        assert_eq!(c.get().await.unwrap(), "token-1");
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_backoff_doubles_from_5_to_30_seconds_with_jitter() {
        for _ in 0..50 {
            let first = Backoff::wait(1);
            assert!(
                first >= BACKOFF_MIN && first <= Duration::from_secs(6),
                "{first:?}"
            );
            let second = Backoff::wait(2);
            assert!(second >= Duration::from_secs(8) && second <= Duration::from_secs(12));
            assert!(
                Backoff::wait(10) <= BACKOFF_MAX && Backoff::wait(10) >= Duration::from_secs(24)
            );
        }
    }
}
