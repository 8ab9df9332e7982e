//! Accounts at runtime: added, changed, disabled and removed through the
//! admin API without a restart. Each is kept in the deployment's store
//! ([`AccountStore`](crate::store::AccountStore)): its settings as JSON with
//! the credentials left out, and the credentials sealed with the
//! [`SecretsKey`](super::SecretsKey). Every instance sharing the store reads
//! the list once a second ([`Accounts::watch`]) and rebuilds only the
//! accounts whose `updated_ms` moved, so a change is live everywhere within
//! about a second and unchanged accounts keep their endpoints and caches.
//!
//! Accounts of the configuration file are listed too but cannot be changed
//! here (the file is their source of truth); a runtime account can take
//! neither a configured name nor a served app id.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Account, Accounts, Origin};
use crate::config::{AccountConfig, validate_account, web_host};
use crate::store::{DEFAULT_ACCOUNT, StoreError, StoredAccount, now_millis};

/// How often every instance reads the runtime accounts.
pub const SYNC_EVERY: Duration = Duration::from_millis(1000);

/// An account as the API and the console list it: never a credential, only
/// whether each is set.
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub name: String,
    pub app_id: String,
    /// `config` or `runtime`.
    pub origin: &'static str,
    /// Served now (a disabled or broken runtime account is not).
    pub serving: bool,
    pub disabled: bool,
    pub plugins: Option<Vec<String>>,
    pub public_url: Option<String>,
    pub api_base_url: String,
    pub require_encryption: bool,
    pub has_app_secret: bool,
    pub has_encoding_aes_key: bool,
    /// Set on an account authorized to the Open Platform component: its
    /// name, `gh_` id, permission sets and state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<crate::open::AuthorizerInfo>,
}

/// Why a change was refused (the API answers 400, 404 or 409).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccountChange {
    #[error("{0}")]
    Invalid(String),
    #[error("no runtime account {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for AccountChange {
    fn from(e: StoreError) -> Self {
        AccountChange::Store(e.to_string())
    }
}

/// The sealed part of a stored account.
#[derive(Serialize, Deserialize, Default)]
struct Credentials {
    app_secret: String,
    token: String,
    encoding_aes_key: String,
    previous_encoding_aes_key: Option<String>,
}

impl Accounts {
    /// Reads the runtime accounts every [`SYNC_EVERY`] until `self` is
    /// dropped. A store that does not answer keeps what is served.
    pub fn watch(self: &Arc<Self>) {
        let weak: Weak<Accounts> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SYNC_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(accounts) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = accounts.sync().await {
                    tracing::debug!(error = %e, "runtime accounts not read");
                }
            }
        });
    }

    /// Serves the config's accounts plus every enabled runtime account in
    /// the store now. An account that cannot be opened or built is logged
    /// and left out; the others are served.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let _one = self.sync_lock.lock().await;
        let stored = self.stores.accounts.list().await?;
        let now = self.current.load();
        let mut next: Vec<Arc<Account>> = now
            .by_name
            .values()
            .filter(|a| a.origin == Origin::Config)
            .cloned()
            .collect();
        // Names and app ids served so far, to the account that has each: a
        // lookup per stored account, not a scan (thousands of authorizers).
        let mut taken: HashMap<Arc<str>, Arc<str>> = HashMap::new();
        for a in &next {
            taken.insert(a.name.clone(), a.name.clone());
            taken.insert(a.app_id.clone(), a.name.clone());
        }
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed.retain(|name, _| stored.iter().any(|s| s.name == *name));
        for s in &stored {
            let current = now
                .by_name
                .get(s.name.as_str())
                .filter(|a| a.origin == Origin::Runtime);
            if let Some(a) = current
                && a.version == s.updated_ms
            {
                taken.insert(a.name.clone(), a.name.clone());
                taken.insert(a.app_id.clone(), a.name.clone());
                next.push(a.clone());
                continue;
            }
            // Reported once per version, not once a second.
            if failed.get(&s.name) == Some(&s.updated_ms) {
                continue;
            }
            match self.build_stored(s, &taken) {
                Ok(Some(a)) => {
                    taken.insert(a.name.clone(), a.name.clone());
                    taken.insert(a.app_id.clone(), a.name.clone());
                    next.push(Arc::new(a));
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(account = %s.name, "runtime account not served: {e}");
                    failed.insert(s.name.clone(), s.updated_ms);
                }
            }
        }
        drop(failed);
        let same = next.len() == now.by_name.len()
            && next
                .iter()
                .all(|a| now.by_name.get(&a.name).is_some_and(|b| Arc::ptr_eq(a, b)));
        if !same {
            drop(now);
            self.replace(next);
        }
        Ok(())
    }

    /// A stored account ready to serve; `None` when it is disabled.
    fn build_stored(
        &self,
        s: &StoredAccount,
        taken: &HashMap<Arc<str>, Arc<str>>,
    ) -> Result<Option<Account>, String> {
        let mut a = self.decode(s)?;
        if a.disabled {
            return Ok(None);
        }
        let authorized = match &a.authorizer {
            None => None,
            Some(_) => {
                let open = self.open.as_ref().ok_or(
                    "it authorized an Open Platform component, but [open_platform] is not configured",
                )?;
                let c = &open.config;
                a.token = c.token.clone();
                a.encoding_aes_key = c.encoding_aes_key.clone();
                a.require_encryption = Some(true);
                Some(crate::open::AuthorizedBy {
                    component_app_id: c.component_app_id.clone(),
                    grant: open.clone(),
                    func_info: a
                        .authorizer
                        .as_ref()
                        .map(|i| i.func_info.clone())
                        .unwrap_or_default()
                        .into(),
                    client: open.client().clone(),
                })
            }
        };
        if let Some(other) = taken
            .get(s.name.as_str())
            .or_else(|| taken.get(a.app_id.as_str()))
        {
            return Err(format!("account {other} already has this name or AppID"));
        }
        validate_account(&self.config, &s.name, &a).map_err(|e| e.to_string())?;
        let mut settings = self.config.resolve_account(&s.name, &a);
        settings.authorized = authorized;
        let mut account = Account::build(
            settings,
            Origin::Runtime,
            &self.config,
            &self.stores,
            &self.outbound,
            &self.switches,
        )
        .map_err(|e| format!("{e:#}"))?;
        account.version = s.updated_ms;
        Ok(Some(account))
    }

    /// The stored account with its credentials opened.
    fn decode(&self, s: &StoredAccount) -> Result<AccountConfig, String> {
        let key = self.key.as_ref().ok_or_else(no_key)?;
        let mut a: AccountConfig = serde_json::from_str(&s.settings)
            .map_err(|e| format!("its stored settings do not parse: {e}"))?;
        if a.authorizer.is_some() {
            // Its credentials are the platform's (`build_stored`).
            return Ok(a);
        }
        let plain = key.open(&s.name, &s.secrets).ok_or_else(|| {
            format!(
                "its credentials do not open with {} (another key?)",
                super::secrets::ENV
            )
        })?;
        let c: Credentials = serde_json::from_slice(&plain)
            .map_err(|e| format!("its credentials do not parse: {e}"))?;
        a.app_secret = c.app_secret;
        a.token = c.token;
        a.encoding_aes_key = c.encoding_aes_key;
        a.previous_encoding_aes_key = c.previous_encoding_aes_key;
        Ok(a)
    }

    /// Whether runtime accounts can be added (a secrets key is set).
    pub fn accepts_runtime_accounts(&self) -> bool {
        self.key.is_some()
    }

    /// Every account: the config's, then the stored ones (served or not).
    pub async fn views(&self) -> Result<Vec<AccountView>, StoreError> {
        let served = self.current.load_full();
        let mut out: Vec<AccountView> = served
            .by_name
            .values()
            .filter(|a| a.origin == Origin::Config)
            .map(|a| view(&a.name, &as_config(a), Origin::Config, true))
            .collect();
        for s in self.stores.accounts.list().await? {
            let serving = served
                .by_name
                .get(s.name.as_str())
                .is_some_and(|a| a.origin == Origin::Runtime);
            // Listed without opening the credentials: only whether set.
            let a: AccountConfig = serde_json::from_str(&s.settings).unwrap_or_default();
            let creds = self
                .key
                .as_ref()
                .and_then(|k| k.open(&s.name, &s.secrets))
                .and_then(|p| serde_json::from_slice::<Credentials>(&p).ok())
                .unwrap_or_default();
            let a = AccountConfig {
                app_secret: creds.app_secret,
                encoding_aes_key: creds.encoding_aes_key,
                ..a
            };
            out.push(view(&s.name, &a, Origin::Runtime, serving));
        }
        Ok(out)
    }

    /// Adds runtime account `name` (refused if the name or app id is
    /// taken), or with `replace` changes it (credentials left empty keep
    /// the stored ones); live here at once, elsewhere within a second.
    pub async fn put(
        &self,
        name: &str,
        mut a: AccountConfig,
        replace: bool,
    ) -> Result<(), AccountChange> {
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| AccountChange::Conflict(no_key()))?;
        if self.config.account.contains_key(name) || name == DEFAULT_ACCOUNT {
            return Err(AccountChange::Conflict(format!(
                "account {name} is defined in the configuration file: change it there"
            )));
        }
        let stored = self.stores.accounts.list().await?;
        let existing = stored.iter().find(|s| s.name == name);
        if existing.is_some_and(|s| {
            serde_json::from_str::<AccountConfig>(&s.settings).is_ok_and(|a| a.authorizer.is_some())
        }) {
            return Err(AccountChange::Conflict(format!(
                "account {name} authorized the Open Platform component: it is managed through the authorization"
            )));
        }
        match (existing, replace) {
            (Some(_), false) => {
                return Err(AccountChange::Conflict(format!(
                    "account {name} exists: PUT /api/v1/accounts/{name} changes it"
                )));
            }
            (None, true) => return Err(AccountChange::NotFound(name.to_owned())),
            (Some(s), true) => {
                let old = self.decode(s).map_err(AccountChange::Conflict)?;
                keep(&mut a.app_secret, old.app_secret);
                keep(&mut a.token, old.token);
                keep(&mut a.encoding_aes_key, old.encoding_aes_key);
                if a.previous_encoding_aes_key.is_none() {
                    a.previous_encoding_aes_key = old.previous_encoding_aes_key;
                }
            }
            (None, false) => {}
        }
        validate_account(&self.config, name, &a)
            .map_err(|e| AccountChange::Invalid(e.to_string()))?;
        let config_ids = self.config.accounts().into_iter().map(|s| s.wechat.app_id);
        let mut taken =
            config_ids.chain(stored.iter().filter(|s| s.name != name).filter_map(|s| {
                serde_json::from_str::<AccountConfig>(&s.settings)
                    .ok()
                    .map(|o| o.app_id)
            }));
        if taken.any(|id| id == a.app_id) {
            return Err(AccountChange::Conflict(format!(
                "AppID {} is already another account's",
                a.app_id
            )));
        }
        if let Some(host) = web_host(&a.web.public_url) {
            let config_hosts = std::iter::once(self.config.web.public_url.clone()).chain(
                self.config
                    .account
                    .values()
                    .map(|c| c.web.public_url.clone()),
            );
            let stored_hosts = stored.iter().filter(|s| s.name != name).filter_map(|s| {
                serde_json::from_str::<AccountConfig>(&s.settings)
                    .ok()
                    .map(|o| o.web.public_url)
            });
            if config_hosts
                .chain(stored_hosts)
                .any(|u| web_host(&u).as_deref() == Some(host.as_str()))
            {
                return Err(AccountChange::Conflict(format!(
                    "web host {host} is already another account's"
                )));
            }
        }
        let credentials = Credentials {
            app_secret: std::mem::take(&mut a.app_secret),
            token: std::mem::take(&mut a.token),
            encoding_aes_key: std::mem::take(&mut a.encoding_aes_key),
            previous_encoding_aes_key: a.previous_encoding_aes_key.take(),
        };
        let sealed = key.seal(
            name,
            &serde_json::to_vec(&credentials).expect("credentials serialize"),
        );
        let settings = serde_json::to_string(&a).expect("settings serialize");
        self.stores
            .accounts
            .put(&StoredAccount {
                name: name.to_owned(),
                settings,
                secrets: sealed,
                // Strictly later than the last version, even within one ms.
                updated_ms: now_millis().max(existing.map_or(0, |s| s.updated_ms) + 1),
            })
            .await?;
        self.sync().await?;
        Ok(())
    }

    /// Removes runtime account `name`: no longer served, here at once,
    /// elsewhere within a second. Its data stays in its store scope (added
    /// again under the same name, it finds it).
    pub async fn remove(&self, name: &str) -> Result<(), AccountChange> {
        if self.config.account.contains_key(name) || name == DEFAULT_ACCOUNT {
            return Err(AccountChange::Conflict(format!(
                "account {name} is defined in the configuration file: remove it there"
            )));
        }
        if !self.stores.accounts.delete(name).await? {
            return Err(AccountChange::NotFound(name.to_owned()));
        }
        self.sync().await?;
        Ok(())
    }
}

/// A config account's settings in the shape the API lists.
fn as_config(a: &Account) -> AccountConfig {
    let s = &a.settings;
    AccountConfig {
        app_id: s.wechat.app_id.clone(),
        app_secret: s.wechat.app_secret.clone(),
        encoding_aes_key: s.wechat.encoding_aes_key.clone(),
        require_encryption: Some(s.require_encryption),
        api_base_url: Some(s.wechat.api_base_url.clone()),
        plugins: s.plugins.as_ref().map(|p| p.iter().cloned().collect()),
        web: crate::config::AccountWebConfig {
            public_url: s.public_url.clone().unwrap_or_default(),
        },
        ..AccountConfig::default()
    }
}

fn view(name: &str, a: &AccountConfig, origin: Origin, serving: bool) -> AccountView {
    AccountView {
        name: name.to_owned(),
        app_id: a.app_id.clone(),
        origin: origin.as_str(),
        serving,
        disabled: a.disabled,
        plugins: a.plugins.clone(),
        public_url: Some(a.web.public_url.clone()).filter(|u| !u.is_empty()),
        api_base_url: a.api_base_url.clone().unwrap_or_default(),
        require_encryption: a
            .require_encryption
            .unwrap_or(!a.encoding_aes_key.is_empty()),
        has_app_secret: !a.app_secret.is_empty(),
        has_encoding_aes_key: !a.encoding_aes_key.is_empty(),
        authorizer: a.authorizer.clone(),
    }
}

/// An omitted credential keeps the stored one.
fn keep(new: &mut String, old: String) {
    if new.is_empty() {
        *new = old;
    }
}

fn no_key() -> String {
    format!(
        "runtime accounts need {} (64 hex characters, the key their credentials are encrypted with); set it on every instance",
        super::secrets::ENV
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::SecretsKey;
    use crate::config::Config;
    use crate::store::Stores;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn shop() -> AccountConfig {
        AccountConfig {
            app_id: "wxshop".into(),
            token: "shoptoken".into(),
            app_secret: "shop-secret".into(),
            ..Default::default()
        }
    }

    fn accounts(stores: &Stores, key: bool) -> Accounts {
        let config = Config::from_toml("t", "", &[]).unwrap();
        let key = key.then(|| SecretsKey::from_hex(KEY).unwrap());
        Accounts::from_config(&config, stores, key).unwrap()
    }

    #[tokio::test]
    async fn a_runtime_account_serves_at_once_on_every_instance_and_its_secrets_are_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let stores = Stores::sqlite(dir.path()).unwrap();
        let (one, two) = (accounts(&stores, true), accounts(&stores, true));
        one.put("shop", shop(), false).await.unwrap();
        assert_eq!(&*one.by_app_id("wxshop").unwrap().name, "shop");
        // The other instance: on its next sync.
        assert!(two.by_app_id("wxshop").is_none());
        two.sync().await.unwrap();
        let built = two.by_app_id("wxshop").unwrap();
        // Unchanged: not rebuilt.
        two.sync().await.unwrap();
        assert!(Arc::ptr_eq(&built, &two.by_app_id("wxshop").unwrap()));
        // Stored sealed.
        let stored = stores.accounts.list().await.unwrap();
        assert_eq!(stored.len(), 1);
        let raw = format!("{:?}{}", stored[0].secrets, stored[0].settings);
        assert!(!raw.contains("shop-secret") && !stored[0].settings.contains("shoptoken"));
        let views = one.views().await.unwrap();
        let v = views.iter().find(|v| v.name == "shop").unwrap();
        assert!(v.serving && v.has_app_secret && v.origin == "runtime");
        assert!(!format!("{views:?}").contains("shop-secret"));

        // A change keeping the secret, then removal.
        let mut changed = shop();
        changed.app_secret.clear();
        changed.plugins = Some(vec!["echo".into()]);
        one.put("shop", changed, true).await.unwrap();
        let a = one.by_name("shop").unwrap();
        assert_eq!(a.settings.wechat.app_secret, "shop-secret");
        assert!(!a.plugins.serves("member"));
        one.remove("shop").await.unwrap();
        two.sync().await.unwrap();
        assert!(one.by_name("shop").is_none() && two.by_name("shop").is_none());
    }

    #[tokio::test]
    async fn runtime_accounts_are_refused_without_a_key_or_with_a_taken_name_or_app_id() {
        let stores = Stores::in_memory().unwrap();
        let without = accounts(&stores, false);
        let e = without.put("shop", shop(), false).await.unwrap_err();
        assert!(e.to_string().contains("WXHOST_SECRETS_KEY"), "{e}");
        let with = accounts(&stores, true);
        let e = with.put("default", shop(), false).await.unwrap_err();
        assert!(matches!(e, AccountChange::Conflict(_)), "{e}");
        let taken = AccountConfig {
            app_id: with.default_account().app_id.to_string(),
            ..shop()
        };
        let e = with.put("shop", taken, false).await.unwrap_err();
        assert!(e.to_string().contains("already another account's"), "{e}");
        with.put("shop", shop(), false).await.unwrap();
        let e = with.put("shop", shop(), false).await.unwrap_err();
        assert!(matches!(e, AccountChange::Conflict(_)), "{e}");
        let e = with
            .put(
                "bad",
                AccountConfig {
                    token: String::new(),
                    ..shop()
                },
                false,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("account.bad.token"), "{e}");
        assert!(matches!(
            with.remove("nope").await.unwrap_err(),
            AccountChange::NotFound(_)
        ));
        assert!(stores.accounts.list().await.unwrap().len() == 1);
    }
}
