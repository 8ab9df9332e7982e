//! One account's callback endpoint ([`Endpoint`]): the [`Account`] with
//! what the server keeps per account — its push memory (replay guard and
//! de-duplication: a `(timestamp, nonce)` or message id of one account says
//! nothing about another's), its dispatcher (its plugins, its QR codes), its
//! late-reply client and its scene counter. [`Endpoints`] builds each on
//! first use from the account registry and rebuilds it when the account
//! changed (a runtime edit), so a push always runs on the account value it
//! was looked up with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::task::TaskTracker;

use super::dispatch::Dispatcher;
use super::memory::{LocalMemory, PushMemory};
use super::scene_counter::SceneCounter;
use super::typing::TypingSettings;
use super::{SEEN_CAPACITY, dedup, seen, shared};
use crate::account::{Account, Accounts};
use crate::api::PluginApi;
use crate::plugin::Runtime;

/// One account as the callback serves it.
pub struct Endpoint {
    pub account: Arc<Account>,
    pub dispatcher: Dispatcher,
    /// The replay guard and de-duplication (in process, or shared through
    /// the account's store scope).
    pub pushes: Arc<dyn PushMemory>,
    /// Where late replies go; `None` when late replies are off or the
    /// account has no API credentials.
    pub late_replies: Option<Arc<dyn PluginApi>>,
    /// Scans and follows per QR scene, into the account's store.
    pub scenes: SceneCounter,
    /// The typing status for slow pushes (`server.typing_after_ms`, when
    /// the account has API credentials).
    pub typing: Option<TypingSettings>,
}

/// What every endpoint is built with.
pub struct EndpointSettings {
    pub runtime: Arc<Runtime>,
    pub budget: Duration,
    pub dedup_ttl: Duration,
    pub timestamp_window_secs: u64,
    pub late_replies: bool,
    /// `server.typing_after_ms`; `None`: off.
    pub typing_after: Option<Duration>,
    pub tasks: TaskTracker,
}

/// The endpoints of the accounts served now, built on first use.
pub struct Endpoints {
    pub accounts: Arc<Accounts>,
    settings: EndpointSettings,
    built: Mutex<HashMap<Arc<str>, Arc<Endpoint>>>,
}

impl Endpoints {
    pub fn new(accounts: Arc<Accounts>, settings: EndpointSettings) -> Endpoints {
        Endpoints {
            accounts,
            settings,
            built: Mutex::new(HashMap::new()),
        }
    }

    /// The endpoint of the account with `app_id`, if one is served.
    pub fn by_app_id(&self, app_id: &str) -> Option<Arc<Endpoint>> {
        self.accounts.by_app_id(app_id).map(|a| self.of(a))
    }

    /// The default account's endpoint (at `server.path`).
    pub fn default_endpoint(&self) -> Arc<Endpoint> {
        self.of(self.accounts.default_account())
    }

    /// `account`'s endpoint: the one built for this very account value, or
    /// a new one (the first push, or the account changed since).
    fn of(&self, account: Arc<Account>) -> Arc<Endpoint> {
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = built.get(&account.name)
            && Arc::ptr_eq(&e.account, &account)
        {
            return e.clone();
        }
        let e = Arc::new(self.build(account));
        if let Some(old) = built.insert(e.account.name.clone(), e.clone()) {
            // Its counts still reach the store: flushed off this path.
            tokio::spawn(async move { old.scenes.shutdown(Duration::from_secs(2)).await });
        }
        e
    }

    fn build(&self, account: Arc<Account>) -> Endpoint {
        let s = &self.settings;
        let local = LocalMemory {
            dedup: dedup::Dedup::new(s.dedup_ttl, 200_000),
            seen: seen::SeenRequests::new(s.timestamp_window_secs, SEEN_CAPACITY),
        };
        let pushes: Arc<dyn PushMemory> = match account.stores.pushes.clone() {
            Some(ledger) => Arc::new(shared::SharedMemory::new(
                ledger,
                local,
                s.dedup_ttl,
                s.tasks.clone(),
            )),
            None => Arc::new(local),
        };
        Endpoint {
            dispatcher: Dispatcher::new(
                s.runtime.clone(),
                account.plugins.clone(),
                account.stores.qrcodes.clone(),
            ),
            pushes,
            late_replies: account
                .wechat
                .clone()
                .filter(|_| s.late_replies)
                .map(|w| w as Arc<dyn PluginApi>),
            scenes: SceneCounter::start(account.stores.scene_stats.clone()),
            typing: s
                .typing_after
                .zip(account.wechat.clone())
                .map(|(after, api)| TypingSettings {
                    api: api as Arc<dyn PluginApi>,
                    after,
                }),
            account,
        }
    }

    /// Every endpoint built so far (shutdown flushes their scene counts).
    pub fn built(&self) -> Vec<Arc<Endpoint>> {
        let built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        built.values().cloned().collect()
    }
}
