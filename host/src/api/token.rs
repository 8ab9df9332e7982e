//! The access_token: fetched once for any number of concurrent callers, in
//! a task of its own that no caller's cancellation stops, cached in memory
//! and in the [`Store`] (so restarts and CLI commands reuse it), refreshed
//! ahead of expiry, dropped compare-and-swap style when WeChat rejects it.
//!
//! `/cgi-bin/stable_token` (normal mode) is the default: independent
//! processes calling it get the same token and never invalidate each other.
//! `/cgi-bin/token` is kept as an option; each call to it invalidates the
//! previous token, which the shared store makes rare.
//!
//! The token never appears in logs, errors or `Debug` output; [`TokenStatus`]
//! shows a short fingerprint instead.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ApiError;
use super::client::{ApiClient, RetryPolicy, check};
use crate::config::TokenEndpoint;
use crate::store::{StoredToken, TokenStore, now_secs, quota_day};

/// Where and how to get tokens.
#[derive(Clone)]
pub struct TokenSettings {
    pub app_id: String,
    pub app_secret: String,
    pub endpoint: TokenEndpoint,
    /// Fetch a new token when the cached one has less than this left.
    pub refresh_margin: Duration,
    pub retry: RetryPolicy,
}

impl std::fmt::Debug for TokenSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSettings")
            .field("app_id", &self.app_id)
            .field("app_secret", &"<redacted>")
            .field("endpoint", &self.endpoint)
            .field("refresh_margin", &self.refresh_margin)
            .finish()
    }
}

/// What `wxhost token status` shows: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStatus {
    pub app_id: String,
    pub endpoint: TokenEndpoint,
    /// First 8 hex digits of the token's SHA-256: enough to tell two tokens
    /// apart, useless to call WeChat with.
    pub fingerprint: Option<String>,
    pub expires_at: Option<i64>,
    pub fetched_at: Option<i64>,
    /// Successful token fetches today (Beijing day, when the quota resets).
    pub fetches_today: u64,
    pub day: String,
    /// Seconds left at the time of the call (negative: expired).
    pub seconds_left: Option<i64>,
    /// Whether the next call would fetch a new token first.
    pub needs_refresh: bool,
}

pub struct TokenManager {
    core: Arc<Core>,
    /// Single flight: the fetch in progress, if any. It runs in its own task
    /// (see [`TokenManager::get`]); every caller that finds it here awaits
    /// the same result.
    flight: Mutex<Option<Flight>>,
}

/// A fetch running in its own task, awaitable by any number of callers.
type Flight = Shared<BoxFuture<'static, Result<StoredToken, ApiError>>>;

/// What a fetch task needs, shared with the manager.
struct Core {
    client: ApiClient,
    store: Arc<dyn TokenStore>,
    settings: TokenSettings,
    /// The last token seen, to skip the store on the hot path.
    cached: Mutex<Option<StoredToken>>,
}

/// A short, non-reversible name for a token.
pub fn fingerprint(token: &str) -> String {
    hex::encode(&Sha256::digest(token.as_bytes())[..4])
}

impl TokenManager {
    pub fn new(
        client: ApiClient,
        store: Arc<dyn TokenStore>,
        settings: TokenSettings,
    ) -> TokenManager {
        TokenManager {
            core: Arc::new(Core {
                client,
                store,
                settings,
                cached: Mutex::new(None),
            }),
            flight: Mutex::new(None),
        }
    }

    /// A valid access_token, fetching one only if neither memory nor the
    /// store has one with more than the refresh margin left.
    ///
    /// The store check and the fetch run in a task of their own, shared by
    /// every caller that arrives meanwhile. A caller that gives up (a
    /// plugin's deadline, a dropped request) only stops waiting: the fetch
    /// still completes and is stored. Cancelling it halfway would waste a
    /// fetch of the daily quota and, on the classic endpoint, could leave
    /// WeChat holding a new token that nobody stored while the old one is
    /// already being retired.
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
        F: FnOnce(Arc<Core>) -> Fut,
        Fut: Future<Output = Result<StoredToken, ApiError>> + Send + 'static,
    {
        let mut slot = self.flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(running) = slot.as_ref().filter(|f| f.peek().is_none()) {
            return Err(running.clone());
        }
        let flight = spawn_flight(work(self.core.clone()));
        *slot = Some(flight.clone());
        Ok(flight)
    }

    /// WeChat rejected `failed` (40001/40014/42001): forget it, unless it
    /// was already replaced by a newer token (then that one stays).
    pub async fn invalidate(&self, failed: &str) {
        {
            let mut cached = self.core.cached.lock().unwrap_or_else(|p| p.into_inner());
            if cached.as_ref().is_some_and(|t| t.token == failed) {
                *cached = None;
            }
        }
        match self
            .core
            .store
            .invalidate(&self.core.settings.app_id, failed)
            .await
        {
            Ok(dropped) => {
                tracing::info!(fingerprint = %fingerprint(failed), dropped, "access_token rejected by WeChat")
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not drop the rejected access_token from the store")
            }
        }
    }

    /// Fetches a token now, whatever is cached. `force` uses stable_token's
    /// force-refresh mode (invalidates the current token everywhere; WeChat
    /// allows 20 a day, 30 s apart): for a leaked token only.
    pub async fn refresh(&self, force: bool) -> Result<TokenStatus, ApiError> {
        // After any flight already running, as a flight of its own, so that
        // callers arriving meanwhile share it.
        let mine = loop {
            match self.start_unless_running(|core| async move { core.fetch(force).await }) {
                Ok(mine) => break mine,
                Err(running) => {
                    let _ = running.await;
                }
            }
        };
        mine.await?;
        self.status().await
    }

    /// The state of the stored token, without calling WeChat.
    pub async fn status(&self) -> Result<TokenStatus, ApiError> {
        let now = now_secs();
        let day = quota_day(now);
        let stored = self.core.store.get(&self.core.settings.app_id).await?;
        Ok(TokenStatus {
            app_id: self.core.settings.app_id.clone(),
            endpoint: self.core.settings.endpoint,
            fingerprint: stored.as_ref().map(|t| fingerprint(&t.token)),
            expires_at: stored.as_ref().map(|t| t.expires_at),
            fetched_at: stored.as_ref().map(|t| t.fetched_at),
            fetches_today: self
                .core
                .store
                .fetches(&self.core.settings.app_id, &day)
                .await?,
            day,
            seconds_left: stored.as_ref().map(|t| t.expires_at - now),
            needs_refresh: stored.as_ref().is_none_or(|t| !self.core.fresh(t, now)),
        })
    }
}

/// Runs `work` in its own task; the returned future is its result, for as
/// many callers as clone it.
fn spawn_flight(
    work: impl Future<Output = Result<StoredToken, ApiError>> + Send + 'static,
) -> Flight {
    tokio::spawn(work)
        .map(|joined| {
            joined.unwrap_or_else(|e| {
                Err(ApiError::Transport(format!(
                    "the access_token fetch task failed: {e}"
                )))
            })
        })
        .boxed()
        .shared()
}

impl Core {
    fn margin(&self) -> i64 {
        i64::try_from(self.settings.refresh_margin.as_secs()).unwrap_or(i64::MAX)
    }

    fn fresh(&self, t: &StoredToken, now: i64) -> bool {
        t.expires_at.saturating_sub(now) > self.margin()
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

    /// The body of a [`TokenManager::get`] flight: the cached or stored
    /// token if still fresh, else a new one; if fetching fails, a token that
    /// is still valid beats an error.
    async fn obtain(self: Arc<Self>) -> Result<StoredToken, ApiError> {
        let now = now_secs();
        // The flight before this one may have just fetched.
        if let Some(t) = self.cached().filter(|t| self.fresh(t, now)) {
            return Ok(t);
        }
        // Another process (the server, a CLI command) may have fetched.
        let stored = self.store.get(&self.settings.app_id).await?;
        if let Some(t) = stored.clone().filter(|t| self.fresh(t, now)) {
            self.set_cached(Some(t.clone()));
            return Ok(t);
        }
        let fallback = [self.cached(), stored]
            .into_iter()
            .flatten()
            .filter(|t| t.expires_at > now + 5)
            .max_by_key(|t| t.expires_at);
        match self.fetch(false).await {
            Ok(t) => Ok(t),
            Err(e) => match fallback {
                Some(t) => {
                    tracing::warn!(error = %e, seconds_left = t.expires_at - now, "access_token refresh failed; using the current token until it expires");
                    self.set_cached(Some(t.clone()));
                    Ok(t)
                }
                None => Err(e),
            },
        }
    }

    async fn fetch(&self, force: bool) -> Result<StoredToken, ApiError> {
        let s = &self.settings;
        if s.app_secret.is_empty() {
            return Err(ApiError::Invalid(
                "wechat.app_secret (WXHOST_APP_SECRET) is not set: cannot fetch an access_token"
                    .into(),
            ));
        }
        let answer = match s.endpoint {
            TokenEndpoint::Stable => {
                let body = json!({"grant_type": "client_credential", "appid": s.app_id, "secret": s.app_secret, "force_refresh": force});
                s.retry
                    .run(|| self.client.post("/cgi-bin/stable_token", &[], &body))
                    .await
            }
            TokenEndpoint::Classic => {
                let query = [
                    ("grant_type", "client_credential"),
                    ("appid", s.app_id.as_str()),
                    ("secret", s.app_secret.as_str()),
                ];
                s.retry
                    .run(|| self.client.get("/cgi-bin/token", &query))
                    .await
            }
        };
        let answer = check(answer?).map_err(|e| match e {
            ApiError::QuotaExceeded(m) => {
                ApiError::QuotaExceeded(format!("access_token endpoint: {m}"))
            }
            ApiError::Wechat { code, message } => ApiError::Wechat {
                code,
                message: format!("fetching the access_token: {message}"),
            },
            other => other,
        })?;
        let token = answer
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(ApiError::Transport(
                "token answer has no access_token".into(),
            ));
        };
        let expires_in = answer
            .get("expires_in")
            .and_then(Value::as_i64)
            .unwrap_or(7200);
        let now = now_secs();
        let stored = StoredToken {
            token: token.to_owned(),
            expires_at: now + expires_in,
            fetched_at: now,
        };
        if let Err(e) = self.store.put(&s.app_id, &stored, &quota_day(now)).await {
            // Still usable by this process; only sharing is lost.
            tracing::warn!(error = %e, "could not store the access_token");
        }
        tracing::info!(fingerprint = %fingerprint(token), expires_in, endpoint = ?s.endpoint, "fetched a new access_token");
        self.set_cached(Some(stored.clone()));
        Ok(stored)
    }
}
